"""The monthly quality-control report as files and tables, made once for `sangao report monthly`,
`sangao report patients` and the demo: the rows prepared (reports/monthly.py), the page context
(reports/monthly_output.py), the HTML, CSV and PDF written owner-only, the check that a named
institution or team exists, and the drill-down table of the patients behind an indicator value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pathways.errors import SangaoError


@dataclass
class MonthlyFiles:
    """What `write_monthly_report` made: the page's context and the files, in the order written."""

    ctx: object  # reports.monthly_output.MonthlyContext
    written: list[Path]


def check_scope(name: str, known: list[str], what: str, what_en: str, month: str) -> None:
    """R460 when `name` (an institution or team) is not among those of the month's rows."""
    if name not in known:
        shown = "、".join(known[:20]) + (" …" if len(known) > 20 else "")
        raise SangaoError.of("R460", what=what, what_en=what_en, name=name, month=month, known=shown)


def write_monthly_report(url: str, guidelines: str, month: str, window, provisional: bool, out: Path,
                         generated_at: str, *, by: str = "institution", institution: str | None = None,
                         team: str | None = None, external: bool = False, lang: str = "zh",
                         pdf: bool = True, progress: Callable[[int], None] | None = None,
                         workers: int | None = 1) -> MonthlyFiles:
    """The report of `month` at `url` into `out`: monthly-MONTH[-INSTITUTION][-TEAM][-external]
    .html and .csv, and .pdf when `pdf`. A named institution or team must have rows in the month.
    `workers`: the processes that build the missing rows (reports/monthly.py `ensure_rows`)."""
    from reports import monthly as mr
    from reports import monthly_output as mo
    from store.privacy import open_private

    builder, summary, counts = mr.prepare(url, guidelines, month, window, provisional, progress, workers)
    months = mr.report_months(month)
    if institution is not None:
        known = sorted({i for i, _t in counts.tally.scopes(month) if i})
        check_scope(institution, known, "机构", "institution", month)
    if team is not None:
        known = sorted({t for i, t in counts.tally.scopes(month) if t and institution in (None, i)})
        check_scope(team, known, "团队", "team", month)
    gset = builder.gset
    ctx = mo.build_context(counts.tally, counts.cohorts, month, months, builder.policy, gset.name,
                           gset.version, summary.digest, summary.patients, generated_at, window,
                           by=by, institution=institution, team=team, external=external, lang=lang)
    out.mkdir(parents=True, exist_ok=True)
    safe = {ord(c): "_" for c in '\\/:*?"<>|'}  # a team name is not a path
    stem = (f"monthly-{month}" + (f"-{institution}" if institution else "") + (f"-{team}" if team else "")
            + ("-external" if external else "")).translate(safe)
    html_path, csv_path = out / f"{stem}.html", out / f"{stem}.csv"
    with open_private(html_path, "w", encoding="utf-8") as f:
        f.write(mo.render_html(ctx))
    with open_private(csv_path, "w", encoding="utf-8-sig", newline="") as f:
        mo.write_csv(counts.tally, months, f, window, gset.name, gset.version, builder.policy.small_cell,
                     external=external, lang=lang)
    written = [html_path, csv_path]
    if pdf:
        pdf_path = out / f"{stem}.pdf"
        mo.write_pdf(ctx, pdf_path)
        written.append(pdf_path)
    return MonthlyFiles(ctx, written)


def indicator_codes() -> set[str]:
    """The codes of the monthly report's indicators (H02 …)."""
    from reports.indicators import indicators

    return {i.code for i in indicators([(f"c{i}", "", "") for i in range(1, 10)])}


def patients_behind(url: str, guidelines: str, month: str, window, provisional: bool, code: str, which: str,
                    team: str | None = None, institution: str | None = None) -> list:
    """The drill-down lines of indicator `code` (reports/monthly.py drill_down); when none, a named
    team or institution must exist in the month (R460 otherwise)."""
    from reports.monthly import drill_down, known_scopes

    lines = drill_down(url, guidelines, month, window, provisional, code, which, team=team,
                       institution=institution)
    if not lines and (team or institution):
        institutions, teams = known_scopes(url, guidelines, month, window, provisional)
        if institution is not None:
            check_scope(institution, institutions, "机构", "institution", month)
        if team is not None:
            check_scope(team, teams, "团队", "team", month)
    return lines


def print_patients_behind(lines: list, console, lang: str) -> None:
    """The drill-down as a table: patient id, masked name, institution, team, reason."""
    from rich.table import Table

    from reports.indicators import reason_text

    heads = ("患者编号", "姓名", "机构", "团队", "原因") if lang == "zh" else (
        "patient_id", "name", "institution", "team", "reason")
    table = Table(show_edge=False, pad_edge=False)
    for h in heads:
        table.add_column(h, overflow="fold")
    for line in lines:
        table.add_row(line.patient_id, line.name, line.institution, line.team, reason_text(line.reason, lang))
    console.print(table)
