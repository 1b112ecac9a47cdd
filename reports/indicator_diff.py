"""The indicator view of `sangao guidelines diff --indicators`: how 血压控制率 and the other
quality-control indicators of one month would change if the new guideline set replaced the old,
for the whole roster and by team. Both sets build the month's patient-month rows
(reports/monthly.py) and the same indicator list (reports/indicators.py) counts them; nothing is
stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pathways.models import Patient
from pathways.monthly import Window
from reports.indicators import ALL, Tally, indicators, rate
from reports.monthly import RowBuilder, complications_of

# the indicators the view compares (codes of reports/indicators.py)
CODES = ("M01", "H01", "D01", "H02", "D02", "L02", "A01", "C01", "C02", "C03", "F01")


@dataclass(frozen=True)
class IndicatorChange:
    scope: tuple[str, str]  # ("", "") the roster, (institution, team) a team
    code: str
    name: str
    old: tuple[int, int]  # numerator, denominator
    new: tuple[int, int]

    @property
    def old_value(self) -> float | None:
        return rate(*self.old) if self.code != "M01" else float(self.old[0])

    @property
    def new_value(self) -> float | None:
        return rate(*self.new) if self.code != "M01" else float(self.new[0])

    @property
    def change(self) -> float | None:
        if self.old_value is None or self.new_value is None:
            return None
        return round(self.new_value - self.old_value, 1)


def indicator_diff(
    patients: Iterable[Patient],
    old: str,
    new: str,
    month: str,
    provisional_calendar: bool,
    window: Window = Window.YTD,
    lang: str = "zh",
) -> list[IndicatorChange]:
    """Every compared indicator of `month` for the roster and each team, under both sets."""
    builders = [RowBuilder(g, [month], provisional_calendar, window) for g in (old, new)]
    tallies = [Tally(indicators(complications_of(b))) for b in builders]
    for patient in patients:
        for builder, tally in zip(builders, tallies, strict=True):
            for row in builder.rows(patient, [month]):
                tally.add(row, None)
    names = {i.code: i.name(lang) for i in tallies[0].inds}
    scopes = [ALL] + [
        s for s in sorted(set(tallies[0].scopes(month)) | set(tallies[1].scopes(month))) if s[1]
    ]
    return [
        IndicatorChange(
            scope, code, names[code], tallies[0].get(month, scope, code), tallies[1].get(month, scope, code)
        )
        for scope in scopes
        for code in CODES
    ]


TEAM_CODES = ("H02", "D02", "L02", "A01", "C01")


def _pct(v: float | None, code: str) -> str:
    if v is None:
        return "—"
    return f"{v:.0f}" if code == "M01" else f"{v:.1f}%"


def print_indicator_diff(changes: list[IndicatorChange], month: str, console, lang: str = "zh") -> None:
    """The roster's indicators old → new with the change in points, then one line per team whose
    indicators change (old→new of TEAM_CODES)."""
    from rich.table import Table

    heads = (
        ("代码", "指标", "旧", "新", "变化")
        if lang == "zh"
        else ("code", "indicator", "old", "new", "change")
    )
    roster = [c for c in changes if c.scope == ALL]
    table = Table(
        title=f"{month} {'质控指标' if lang == 'zh' else 'indicators'}",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for i, h in enumerate(heads):
        table.add_column(h, justify="right" if i >= 2 else "left", no_wrap=True)
    for c in roster:
        change = "" if c.change is None else (f"{c.change:+.0f}" if c.code == "M01" else f"{c.change:+.1f}")
        table.add_row(c.code, c.name, _pct(c.old_value, c.code), _pct(c.new_value, c.code), change)
    console.print(table)

    teams: dict[tuple[str, str], dict[str, IndicatorChange]] = {}
    for c in changes:
        if c.scope != ALL:
            teams.setdefault(c.scope, {})[c.code] = c
    moved = {s: cs for s, cs in teams.items() if any(cs[k].change for k in TEAM_CODES)}
    names = {c.code: c.name for c in roster}
    by_team = Table(
        title=("按团队（有变化的团队）" if lang == "zh" else "by team (teams that change)"),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    by_team.add_column("团队" if lang == "zh" else "team", overflow="fold")
    for code in TEAM_CODES:
        by_team.add_column(code, justify="right", no_wrap=True)
    for scope, cs in sorted(moved.items()):
        by_team.add_row(
            scope[1],
            *(
                f"{_pct(cs[k].old_value, k)}→{_pct(cs[k].new_value, k)}" if cs[k].change else ""
                for k in TEAM_CODES
            ),
        )
    if moved:
        console.print(by_team)
        console.print("  ".join(f"{k} {names[k]}" for k in TEAM_CODES), highlight=False)
    console.print(
        f"{len(moved)} / {len(teams)} " + ("个团队的指标有变化" if lang == "zh" else "teams change"),
        highlight=False,
    )
