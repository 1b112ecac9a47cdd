"""Prints a DiffReport (engine/diff.py) as tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from engine.diff import DiffReport


def print_diff(report: DiffReport, console: Console) -> None:
    console.print(f"[bold]{report.old}[/] → [bold]{report.new}[/]   as_of {report.as_of}   "
                  f"{report.patients} patients assessed")
    pct = 100 * report.changed_color / report.patients if report.patients else 0.0
    console.print(f"colour changes: {report.changed_color} ({pct:.1f} %)   "
                  f"referral changes: {sum(report.referral_changes.values())}   "
                  f"next follow-up changes: {report.follow_up_changes}")
    table = Table(title="colour old → new")
    table.add_column("old \\ new")
    for c in ("red", "yellow", "blue"):
        table.add_column(c, justify="right")
    for a in ("red", "yellow", "blue"):
        table.add_row(a, *(str(report.color_changes.get((a, b), 0)) for b in ("red", "yellow", "blue")))
    console.print(table)
    for title, counter in (("rules firing only in the new set", report.rules_added),
                           ("rules firing only in the old set", report.rules_dropped)):
        if counter:
            console.print(f"[bold]{title}[/]")
            for rule, n in counter.most_common(15):
                console.print(f"  {rule}: {n} patients")
    for kind, ids in report.examples.items():
        console.print(f"e.g. {kind}: {', '.join(ids)}")
