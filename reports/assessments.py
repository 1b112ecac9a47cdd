"""Assessment output: JSONL (the interchange contract), CSV and a rich table for people.

Formats only; the assessments are decided in engine/assess.py. Assessments carry no names or
resident IDs, so nothing here needs masking.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import IO

from rich.console import Console
from rich.table import Table

from pathways.models import Assessment
from reports.csv_safe import SafeWriter

COLOR_STYLE = {"red": "bold red", "yellow": "yellow", "blue": "blue"}
COLOR_ZH = {"red": "红", "yellow": "黄", "blue": "蓝"}
TIER_ZH = {"county": "三高中心", "township": "三高基地", "village": "三高之家"}

CSV_COLUMNS = (
    "patient_id", "as_of", "guideline_set", "guideline_version", "color", "tier", "referral_urgency",
    "referral_to", "bp_control", "glucose_control", "ldl_control", "hba1c_control", "bp_target", "ascvd_risk", "ldl_target",
    "egfr", "ckd_stage", "albuminuria", "screenings_due", "screenings_overdue", "next_follow_up", "reasons",
)


def to_json_line(assessment: Assessment) -> str:
    return json.dumps(assessment.model_dump(mode="json"), ensure_ascii=False, separators=(", ", ": "))


def write_jsonl(assessments: Iterable[Assessment], out: IO[str]) -> int:
    n = 0
    for a in assessments:
        out.write(to_json_line(a) + "\n")
        n += 1
    return n


def csv_row(a: Assessment) -> dict[str, object]:
    return {
        "patient_id": a.patient_id,
        "as_of": a.as_of.isoformat(),
        "guideline_set": a.guideline_set,
        "guideline_version": a.guideline_version,
        "color": a.color.value,
        "tier": a.tier.value,
        "referral_urgency": a.referral.urgency.value if a.referral else "",
        "referral_to": a.referral.to if a.referral else "",
        "bp_control": a.control.bp.value,
        "glucose_control": a.control.glucose.value,
        "ldl_control": a.control.ldl.value,
        "hba1c_control": a.control.hba1c.value,
        "bp_target": f"{a.bp_target[0]}/{a.bp_target[1]}" if a.bp_target else "",
        "ascvd_risk": a.ascvd_risk.value,
        "ldl_target": "" if a.ldl_target is None else a.ldl_target,
        "egfr": "" if a.egfr is None else a.egfr,
        "ckd_stage": a.ckd_stage or "",
        "albuminuria": a.albuminuria or "",
        "screenings_due": " ".join(f"{s.kind.value}:{s.due_by}" for s in a.screenings_due),
        "screenings_overdue": " ".join(s.kind.value for s in a.screenings_due if s.overdue),
        "next_follow_up": a.next_follow_up.isoformat(),
        "reasons": " ".join(r.rule for r in a.reasons),
    }


def write_csv(assessments: Iterable[Assessment], out: IO[str]) -> int:
    writer = SafeWriter(out)  # a cell a spreadsheet would run as a formula is escaped
    writer.writerow(CSV_COLUMNS)
    n = 0
    for a in assessments:
        row = csv_row(a)
        writer.writerow([row[c] for c in CSV_COLUMNS])
        n += 1
    return n


def print_table(assessments: Iterable[Assessment], console: Console, limit: int | None = None) -> Counter:
    """A table of the patients (first `limit` rows), then the colour distribution. Returns colour counts."""
    table = Table(title="分层结果 assessments", show_lines=False)
    for column in ("patient", "colour", "tier", "referral", "BP", "glucose", "LDL-C", "ASCVD", "next visit",
                   "screenings due", "reasons"):
        table.add_column(column)
    colors: Counter = Counter()
    shown = 0
    for a in assessments:
        colors[a.color.value] += 1
        if limit is not None and shown >= limit:
            continue
        shown += 1
        table.add_row(
            a.patient_id,
            f"[{COLOR_STYLE[a.color.value]}]{COLOR_ZH[a.color.value]} {a.color.value}[/]",
            TIER_ZH[a.tier.value],
            f"{a.referral.urgency.value}→{a.referral.to}" if a.referral else "",
            a.control.bp.value,
            a.control.glucose.value,
            a.control.ldl.value,
            a.ascvd_risk.value,
            a.next_follow_up.isoformat(),
            " ".join(s.kind.value + ("!" if s.overdue else "") for s in a.screenings_due),
            " ".join(r.rule for r in a.reasons[:3]) + (" …" if len(a.reasons) > 3 else ""),
        )
    console.print(table)
    total = sum(colors.values())
    if limit is not None and total > shown:
        console.print(f"(first {shown} of {total} patients shown; --format jsonl/csv --out FILE for all)")
    summary = "  ".join(
        f"[{COLOR_STYLE[c]}]{COLOR_ZH[c]} {c}: {colors[c]}[/]" for c in ("red", "yellow", "blue")
    )
    console.print(f"{total} patients  {summary}   (! = overdue)")
    return colors
