"""Prints a DiffReport (engine/diff.py) as tables, in Chinese or English, and writes the changed
patients as CSV (through reports/csv_safe.py; patient_id, team and institution only)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from engine.diff import DiffReport
from reports.csv_safe import SafeWriter

COLORS = ("red", "yellow", "blue")
_COLOR_ZH = {"red": "红", "yellow": "黄", "blue": "蓝"}
_URGENCY_ZH = {"urgent": "紧急", "routine": "常规", "none": "无"}

_T = {  # (zh, en)
    "assessed": ("评估患者 {n} 人", "{n} patients assessed"),
    "summary": ("颜色改变：{c}（{pct:.1f} %）   转诊改变：{r}   下次随访日期改变：{f}",
                "colour changes: {c} ({pct:.1f} %)   referral changes: {r}   next follow-up changes: {f}"),
    "matrix": ("颜色 旧 → 新", "colour old → new"),
    "corner": ("旧 \\ 新", "old \\ new"),
    "added": ("只在新版本中触发的规则", "rules firing only in the new set"),
    "dropped": ("只在旧版本中触发的规则", "rules firing only in the old set"),
    "rule_n": ("  {rule}：{n} 人", "  {rule}: {n} patients"),
    "example": ("例：{kind}：{ids}", "e.g. {kind}: {ids}"),
    "by_title": ("按{by}", "by {by}"),
    "team": ("团队", "team"),
    "institution": ("机构", "institution"),
    "unknown": ("（未填）", "(not given)"),
    "patients": ("患者", "patients"),
    "changed_color": ("颜色改变", "colour changed"),
    "moves": ("其中", "of which"),
    "referral": ("转诊改变", "referral changed"),
    "follow_up": ("随访日期改变", "follow-up changed"),
    "csv": ("{n} 名改变的患者已写入 {path}", "{n} changed patients written to {path}"),
}

CSV_COLUMNS = (  # (zh header, en header)
    ("患者编号", "patient_id"),
    ("团队", "team"),
    ("机构", "institution"),
    ("原颜色", "old_color"),
    ("新颜色", "new_color"),
    ("原转诊", "old_referral"),
    ("新转诊", "new_referral"),
    ("原下次随访", "old_next_follow_up"),
    ("新下次随访", "new_next_follow_up"),
    ("新增触发规则", "rules_added"),
    ("不再触发规则", "rules_dropped"),
)


def _t(key: str, lang: str, **fields) -> str:
    zh, en = _T[key]
    return (zh if lang == "zh" else en).format(**fields)


def _color(c: str, lang: str) -> str:
    return _COLOR_ZH.get(c, c) if lang == "zh" else c


def print_diff(report: DiffReport, console: Console, lang: str = "zh") -> None:
    console.print(f"[bold]{report.old}[/] → [bold]{report.new}[/]   as_of {report.as_of}   "
                  + _t("assessed", lang, n=report.patients))
    pct = 100 * report.changed_color / report.patients if report.patients else 0.0
    console.print(_t("summary", lang, c=report.changed_color, pct=pct,
                     r=sum(report.referral_changes.values()), f=report.follow_up_changes))
    table = Table(title=_t("matrix", lang))
    table.add_column(_t("corner", lang))
    for c in COLORS:
        table.add_column(_color(c, lang), justify="right")
    for a in COLORS:
        table.add_row(_color(a, lang), *(str(report.color_changes.get((a, b), 0)) for b in COLORS))
    console.print(table)
    for key, counter in (("added", report.rules_added), ("dropped", report.rules_dropped)):
        if counter:
            console.print(f"[bold]{_t(key, lang)}[/]")
            for rule, n in counter.most_common(15):
                console.print(_t("rule_n", lang, rule=rule, n=n), markup=False, highlight=False)
    for kind, ids in report.examples.items():
        console.print(_t("example", lang, kind=kind, ids=", ".join(ids)), markup=False, highlight=False)
    if report.by:
        print_groups(report, console, lang)


def print_groups(report: DiffReport, console: Console, lang: str = "zh") -> None:
    """One row per team or institution, the most colour changes first."""
    by = _t(report.by, lang)
    table = Table(title=_t("by_title", lang, by=by))
    table.add_column(by)
    for key in ("patients", "changed_color", "moves", "referral", "follow_up"):
        table.add_column(_t(key, lang), justify="left" if key == "moves" else "right")
    rows = sorted(report.groups.items(), key=lambda kv: (-kv[1].changed_color, kv[0]))
    for name, g in rows:
        moves = ", ".join(f"{_color(a, lang)}→{_color(b, lang)} {n}" for (a, b),
                          n in g.color_changes.most_common())
        table.add_row(name or _t("unknown", lang), str(g.patients), str(g.changed_color), moves,
                      str(g.referral_changes), str(g.follow_up_changes))
    console.print(table)


def csv_note(n: int, path: Path, lang: str = "zh") -> str:
    return _t("csv", lang, n=n, path=path)


def write_changes_csv(report: DiffReport, path: Path, lang: str = "zh") -> int:
    """Every changed patient, one row each (patient_id, team and institution: no personal data);
    the number of rows written."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # the BOM: Excel reads Chinese headers
        writer = SafeWriter(f)
        writer.writerow([zh if lang == "zh" else en for zh, en in CSV_COLUMNS])
        for c in report.changes:
            writer.writerow([
                c.patient_id, c.team or "", c.institution or "",
                _color(c.old_color, lang), _color(c.new_color, lang),
                _URGENCY_ZH.get(c.old_referral, c.old_referral) if lang == "zh" else c.old_referral,
                _URGENCY_ZH.get(c.new_referral, c.new_referral) if lang == "zh" else c.new_referral,
                c.old_follow_up.isoformat() if c.old_follow_up else "",
                c.new_follow_up.isoformat() if c.new_follow_up else "",
                " ".join(c.rules_added), " ".join(c.rules_dropped),
            ])
    return len(report.changes)
