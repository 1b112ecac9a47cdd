"""Assessment output: JSONL (the interchange contract), CSV and a rich table for people.

Formats only; the assessments are decided in engine/assess.py. JSONL keeps the roster's order (the
contract); the table lists the most urgent first. Assessments carry no names or phones: the CSV
and the table take them from `PatientInfo`, masked.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from guidelines.model import GuidelineSet
from guidelines.schema import ParamRef
from pathways.models import Assessment, Patient
from pathways.resident_id import mask_name, mask_phone
from reports.csv_safe import SafeWriter

COLOR_STYLE = {"red": "bold red", "yellow": "yellow", "blue": "blue"}
COLOR_ZH = {"red": "红", "yellow": "黄", "blue": "蓝"}
TIER_ZH = {"county": "三高中心", "township": "三高基地", "village": "三高之家"}

LABEL = {
    "zh": {
        "red": "红",
        "yellow": "黄",
        "blue": "蓝",
        "county": "三高中心",
        "township": "三高基地",
        "village": "三高之家",
        "controlled": "达标",
        "uncontrolled": "未达标",
        "no_data": "无数据",
        "not_applicable": "—",
        "unknown": "未知",
        "urgent": "紧急",
        "routine": "常规",
        "low": "低危",
        "medium": "中危",
        "high": "高危",
        "very_high": "很高危",
        "ultra_high": "超高危",
        "title": "分层结果（截至 {as_of}）",
        "cols": ("患者编号", "色", "层级", "转诊", "血压", "血糖", "LDL-C", "下次随访", "待筛查", "依据"),
        "shown": "（显示最紧急的 {shown} 名，共 {total} 名；--format csv/jsonl --out 文件 可得全部）",
        "summary": "共 {total} 名：{parts}",
        "overdue_mark": "（! = 逾期）",
    },
    "en": {
        "red": "red",
        "yellow": "yellow",
        "blue": "blue",
        "county": "county",
        "township": "township",
        "village": "village",
        "controlled": "ok",
        "uncontrolled": "not ok",
        "no_data": "no data",
        "not_applicable": "—",
        "unknown": "unknown",
        "urgent": "urgent",
        "routine": "routine",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "very_high": "very high",
        "ultra_high": "ultra high",
        "title": "assessments (as of {as_of})",
        "cols": (
            "patient",
            "col",
            "tier",
            "referral",
            "BP",
            "glucose",
            "LDL-C",
            "next visit",
            "screenings",
            "reasons",
        ),
        "shown": "(the {shown} most urgent of {total} shown; --format csv/jsonl --out FILE for all)",
        "summary": "{total} patients: {parts}",
        "overdue_mark": "(! = overdue)",
    },
}

CSV_COLUMNS = (
    "patient_id",
    "as_of",
    "guideline_set",
    "guideline_version",
    "color",
    "tier",
    "referral_urgency",
    "referral_to",
    "bp_control",
    "glucose_control",
    "ldl_control",
    "hba1c_control",
    "bp_target",
    "ascvd_risk",
    "ldl_target",
    "egfr",
    "ckd_stage",
    "albuminuria",
    "screenings_due",
    "screenings_overdue",
    "next_follow_up",
    "reasons",
    "name",
    "team",
    "phone",
    "days_overdue",
    "warnings",
)
CSV_COLUMNS_ZH = (
    "患者编号",
    "评估日期",
    "指南",
    "指南版本",
    "颜色",
    "层级",
    "转诊紧急程度",
    "转诊去向",
    "血压控制",
    "血糖控制",
    "LDL-C控制",
    "糖化血红蛋白控制",
    "血压目标",
    "ASCVD风险",
    "LDL-C目标",
    "eGFR",
    "CKD分期",
    "白蛋白尿",
    "待筛查",
    "逾期筛查",
    "下次随访",
    "分层依据",
    "姓名",
    "团队",
    "电话",
    "逾期天数",
    "提示",
)


@dataclass(frozen=True)
class PatientInfo:
    """What a person needs beside the assessment: masked name and phone, team, days overdue."""

    name: str = ""
    team: str = ""
    phone: str = ""
    days_overdue: int = 0


def follow_up_days(gset: GuidelineSet, a: Assessment) -> int:
    """The interval the assessment's follow-up was counted with: the shortest of its fired rules'
    intervals, else its colour's (the same choice engine/assess.py makes)."""

    def value(v) -> int:
        return int(gset.param(v.param) if isinstance(v, ParamRef) else v)

    rules = {r.id: r for r in gset.rules}
    days = []
    for reason in a.reasons:
        rule = rules.get(reason.rule)
        if rule is not None:
            days.append(
                value(rule.follow_up_days)
                if rule.follow_up_days is not None
                else value(getattr(gset.colors, rule.color).follow_up_days)
            )
    return min(days) if days else value(getattr(gset.colors, a.color.value).follow_up_days)


class InfoBook:
    """Remembers, while the roster streams past, what the output needs of each patient (masked
    name and phone, team, the date follow-ups count from), so the patients need not be kept."""

    def __init__(self, gset: GuidelineSet, as_of: date) -> None:
        self.gset = gset
        self.as_of = as_of
        self._people: dict[str, tuple[str, str, str, date]] = {}

    def record(self, patient: Patient) -> Patient:
        visits = [v.date for v in patient.visits if v.date <= self.as_of]
        base = max(visits) if visits else patient.enrolled_on
        self._people[patient.patient_id] = (
            mask_name(patient.name),
            patient.team or "",
            mask_phone(patient.phone),
            base,
        )
        return patient

    def team(self, patient_id: str) -> str:
        return self._people[patient_id][1]

    def __call__(self, a: Assessment) -> PatientInfo:
        name, team, phone, base = self._people[a.patient_id]
        due = base + timedelta(days=follow_up_days(self.gset, a))
        return PatientInfo(name, team, phone, max(0, (a.as_of - due).days))


def urgency_key(a: Assessment, info: PatientInfo | None = None) -> tuple:
    """Most urgent first: urgent referral, then colour severity, the most days overdue, the
    earliest follow-up, the patient id."""
    urgent = a.referral is not None and a.referral.urgency.value == "urgent"
    severity = {"red": 0, "yellow": 1, "blue": 2}[a.color.value]
    return (not urgent, severity, -(info.days_overdue if info else 0), a.next_follow_up, a.patient_id)


def matches(
    a: Assessment, colors: set[str] | None = None, referral: bool = False, due_by: date | None = None
) -> bool:
    """The `assess` filters: colours, has a referral, next follow-up on or before `due_by`."""
    if colors and a.color.value not in colors:
        return False
    if referral and a.referral is None:
        return False
    return due_by is None or a.next_follow_up <= due_by


def to_json_line(assessment: Assessment) -> str:
    return json.dumps(assessment.model_dump(mode="json"), ensure_ascii=False, separators=(", ", ": "))


def write_jsonl(assessments: Iterable[Assessment], out: IO[str]) -> int:
    n = 0
    for a in assessments:
        out.write(to_json_line(a) + "\n")
        n += 1
    return n


def csv_row(a: Assessment, info: PatientInfo | None = None) -> dict[str, object]:
    info = info or PatientInfo()
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
        "name": info.name,
        "team": info.team,
        "phone": info.phone,
        "days_overdue": info.days_overdue,
        "warnings": " ".join(a.warnings),
    }


def write_csv(
    assessments: Iterable[Assessment],
    out: IO[str],
    lang: str = "zh",
    info: Callable[[Assessment], PatientInfo] | None = None,
) -> int:
    """One row per assessment, in the order given; headers in Chinese (`lang="en"`: the interchange
    field names); every cell through SafeWriter."""
    writer = SafeWriter(out)
    writer.writerow(CSV_COLUMNS_ZH if lang == "zh" else CSV_COLUMNS)
    n = 0
    for a in assessments:
        row = csv_row(a, info(a) if info else None)
        writer.writerow(row[c] for c in CSV_COLUMNS)
        n += 1
    return n


def summary(colors: Counter, lang: str = "zh") -> str:
    text = LABEL[lang]
    sep = "，" if lang == "zh" else ", "
    parts = sep.join(f"{text[c]} {colors[c]}" for c in ("red", "yellow", "blue"))
    return text["summary"].format(total=sum(colors.values()), parts=parts)


def print_table(
    assessments: Iterable[Assessment],
    console: Console,
    limit: int | None = None,
    lang: str = "zh",
    info: Callable[[Assessment], PatientInfo] | None = None,
) -> Counter:
    """The most urgent `limit` patients (all when None), then the colour distribution. Readable at
    80 columns: the patient id never wraps; screenings, reasons, tier, LDL-C and glucose columns
    are dropped, in that order, as the terminal narrows. Returns the colour counts."""
    text = LABEL[lang]
    colors: Counter = Counter()
    rows: list[tuple[tuple, Assessment]] = []
    as_of = None
    for a in assessments:
        colors[a.color.value] += 1
        as_of = a.as_of
        rows.append((urgency_key(a, info(a) if info else None), a))
    rows.sort(key=lambda r: r[0])
    shown_rows = rows[:limit] if limit is not None else rows
    cols = text["cols"]
    width = console.width
    drop = set()
    for threshold, col in ((150, 8), (130, 9), (100, 2), (90, 6), (70, 5)):
        if width < threshold:
            drop.add(cols[col])
    table = Table(title=text["title"].format(as_of=as_of.isoformat() if as_of else ""), title_justify="left")
    keep = [c for c in cols if c not in drop]
    for c in keep:
        no_wrap = c in (cols[0], cols[7])
        table.add_column(c, no_wrap=no_wrap, overflow="fold", min_width=13 if c == cols[0] else None)
    for _, a in shown_rows:
        color = a.color.value
        cells = {
            cols[0]: a.patient_id,
            cols[1]: f"[{COLOR_STYLE[color]}]{text[color]}[/]",
            cols[2]: text[a.tier.value],
            cols[3]: f"{text[a.referral.urgency.value]}" if a.referral else "",
            cols[4]: text[a.control.bp.value],
            cols[5]: text[a.control.glucose.value],
            cols[6]: text[a.control.ldl.value],
            cols[7]: a.next_follow_up.isoformat(),
            cols[8]: " ".join(s.kind.value + ("!" if s.overdue else "") for s in a.screenings_due),
            cols[9]: escape(" ".join(r.rule for r in a.reasons[:3]) + (" …" if len(a.reasons) > 3 else "")),
        }
        table.add_row(*(cells[c] for c in keep))
    console.print(table)
    total = sum(colors.values())
    if len(shown_rows) < total:
        console.print(text["shown"].format(shown=len(shown_rows), total=total), highlight=False)
    console.print(
        summary(colors, lang) + ("  " + text["overdue_mark"] if cols[8] not in drop else ""), highlight=False
    )
    return colors
