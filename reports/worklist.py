"""A team's worklist for a period: whom to see or call, and why (interchange §3 `worklist`).

Per patient still under management, from the care state (pathways/care_state.py) and the
assessment at as_of, the items that need the team:

  rank 0  新红标 new red: turned red within `new_red_days` before as_of, with its referral
  rank 1  转诊未返回 referral with no return after `referral_return_days`
  rank 2  逾期未访 overdue: a follow-up due before as_of with no visit since (days, last contact)
  rank 3  失访 lost to follow-up (replaces "overdue")
  rank 4  本期应访 due: a follow-up due within the period
  rank 5  无读数 no BP/glucose reading within the control window
  rank 6  筛查逾期 / 筛查到期 screenings overdue / due by the period's end (Chinese names)

One row per patient, sorted by its most urgent item (rank), then that item's date, then the
patient id. Names are masked here; only the call list (`call_rows(unmasked=True)`) shows them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pathways.care_state import Contact, Status, care_state, closed_on
from pathways.models import Assessment, Patient
from pathways.resident_id import mask_name, mask_phone
from reports.assessments import COLOR_STYLE
from reports.care_context import CareContext
from reports.csv_safe import SafeWriter

KINDS = (
    "new_red",
    "referral_open",
    "overdue",
    "lost",
    "due",
    "no_reading",
    "screening_overdue",
    "screening_due",
)
RANK = {kind: i for i, kind in enumerate(KINDS)}
RANK["screening_due"] = RANK["screening_overdue"]

LABEL = {
    "zh": {
        "new_red": "新红标",
        "referral_open": "转诊未返回",
        "overdue": "逾期未访",
        "lost": "失访",
        "due": "本期应访",
        "no_reading": "无读数",
        "screening_overdue": "筛查逾期",
        "screening_due": "筛查到期",
        "visit": "随访",
        "lab": "化验",
        "screening": "筛查",
        "referral": "转诊",
        "referral_return": "转诊返回",
        "enrolment": "建档",
        "red": "红",
        "yellow": "黄",
        "blue": "蓝",
        "days": "{n}天",
        "short": "短周期复查",
        "window": "窗口 {lo}～{hi}",
        "refer": "转诊{to}（{urgency}）",
        "urgent": "紧急",
        "routine": "常规",
        "ref_open": "{day} 转{to}，{n}天未返回",
        "bp": "血压",
        "glucose": "血糖",
        "no_reading_text": "{what}：{days}天内无读数",
        "title": "工作清单 {team}{start}～{end}（截至 {as_of}）",
        "cols": ("患者编号", "姓名", "团队", "色", "事项", "日期", "末次联系"),
        "call_cols": ("姓名", "电话", "原因", "末次随访"),
        "call_title": "电话随访清单 {team}{start}～{end}",
        "summary": "{n} 名患者：",
        "none": "本期无待办事项",
        "county": "县级",
        "township": "乡镇",
        "village": "村级",
    },
    "en": {
        "new_red": "new red",
        "referral_open": "referral not back",
        "overdue": "overdue",
        "lost": "lost to follow-up",
        "due": "due",
        "no_reading": "no reading",
        "screening_overdue": "screening overdue",
        "screening_due": "screening due",
        "visit": "visit",
        "lab": "lab",
        "screening": "screening",
        "referral": "referral",
        "referral_return": "referral return",
        "enrolment": "enrolment",
        "red": "red",
        "yellow": "yellow",
        "blue": "blue",
        "days": "{n} d",
        "short": "short-cycle recheck",
        "window": "window {lo}–{hi}",
        "refer": "refer to {to} ({urgency})",
        "urgent": "urgent",
        "routine": "routine",
        "ref_open": "{day} to {to}, not back after {n} d",
        "bp": "BP",
        "glucose": "glucose",
        "no_reading_text": "{what}: no reading in {days} d",
        "title": "worklist {team}{start} to {end} (as of {as_of})",
        "cols": ("patient", "name", "team", "col", "items", "date", "last contact"),
        "call_cols": ("name", "phone", "reason", "last visit"),
        "call_title": "call list {team}{start} to {end}",
        "summary": "{n} patients: ",
        "none": "nothing to do in this period",
        "county": "county",
        "township": "township",
        "village": "village",
    },
}


@dataclass(frozen=True)
class Item:
    kind: str
    on: date | None
    detail: str

    @property
    def rank(self) -> int:
        return RANK[self.kind]


@dataclass(frozen=True)
class Person:
    """What a row keeps of the patient (not the whole record: a roster-wide list stays small)."""

    patient_id: str
    name: str | None
    phone: str | None
    team: str | None


@dataclass(frozen=True)
class Row:
    patient: Person
    color: str
    items: tuple[Item, ...]
    last_contact: Contact | None
    last_visit: date | None

    @property
    def key(self) -> tuple:
        first = self.items[0]
        return (first.rank, first.on or date.max, self.patient.patient_id)


@dataclass(frozen=True)
class Worklist:
    team: str | None
    start: date
    end: date
    as_of: date
    rows: tuple[Row, ...]
    warnings: tuple[str, ...]


def period(as_of: date, week: bool, month: bool, start: date | None, end: date | None) -> tuple[date, date]:
    """--week: Monday–Sunday of as_of's week; --month: its calendar month; else --from/--to
    (a missing end is the start's week end)."""
    if week:
        monday = as_of - timedelta(days=as_of.weekday())
        return monday, monday + timedelta(days=6)
    if month:
        first = as_of.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)
    begin = start or as_of
    return begin, end or begin + timedelta(days=6)


def build_worklist(
    patients: Iterable[Patient],
    ctx: CareContext,
    start: date,
    end: date,
    team: str | None = None,
    new_red_days: int | None = None,
    progress=None,
) -> Worklist:
    as_of = ctx.as_of
    new_red_days = new_red_days if new_red_days is not None else int(ctx.gset.param("new_red_days"))
    rows: list[Row] = []
    dates: list[date] = []
    for patient in patients:
        if progress is not None:
            progress()
        if team is not None and patient.team != team:
            continue
        closed = closed_on(patient)
        if closed is not None and closed[0] <= as_of:
            continue
        row = _row(patient, ctx, start, end, new_red_days)
        if row is not None:
            rows.append(row)
            dates.extend(i.on for i in row.items if i.on is not None)
    rows.sort(key=lambda r: r.key)
    return Worklist(team, start, end, as_of, tuple(rows), tuple(ctx.warnings_for(dates + [end])))


def _row(patient: Patient, ctx: CareContext, start: date, end: date, new_red_days: int) -> Row | None:
    as_of, text = ctx.as_of, LABEL[ctx.lang]
    cache: dict[date, Assessment] = {}

    def assess_at(p: Patient, day: date) -> Assessment:
        if day not in cache:
            cache[day] = ctx.assess_at(p, day)
        return cache[day]

    visits = [v.date for v in patient.visits if v.date <= as_of]
    last_visit = max(visits) if visits else None
    since = (last_visit + timedelta(days=1)) if last_visit else patient.enrolled_on
    range_start = min(start, as_of - timedelta(days=new_red_days), since)
    state = care_state(patient, assess_at, ctx.rules, ctx.calendar, as_of, range_start, max(end, as_of))
    now = assess_at(patient, as_of)
    items: list[Item] = []

    # new red, with its referral
    if now.color == "red":
        turned = next((h for h in reversed(state.history) if h.color == "red"), None)
        recent = as_of - timedelta(days=new_red_days)
        if turned is not None and turned.color_before not in (None, "red") and turned.on > recent:
            reasons = state.assessments[turned.on].reasons
            detail = "；".join(r.text for r in reasons if r.rule in turned.rules) or "、".join(turned.rules)
            if now.referral is not None:
                detail += "；" + text["refer"].format(
                    to=text.get(now.referral.to, now.referral.to), urgency=text[now.referral.urgency.value]
                )
            items.append(Item("new_red", turned.on, detail))

    # referrals not back
    limit = as_of - timedelta(days=ctx.rules.referral_return_days)
    for ref in patient.referrals:
        if ref.returned_on is None and as_of - timedelta(days=ctx.rules.lost_days) <= ref.date <= limit:
            items.append(
                Item(
                    "referral_open",
                    ref.date,
                    text["ref_open"].format(
                        day=ref.date.isoformat(), to=text.get(ref.to, ref.to), n=(as_of - ref.date).days
                    ),
                )
            )

    # overdue / lost; else a follow-up due within the period
    last = state.last_contact
    overdue = state.overdue_since()
    if state.lost:
        items.append(Item("lost", last.on if last else None, f"{last.on.isoformat()} {text[last.kind]}"))
    elif overdue is not None:
        items.append(Item("overdue", overdue, text["days"].format(n=(as_of - overdue).days)))
    else:
        for c in state.contacts:
            if c.status is Status.DUE and not c.projected and start <= c.due <= end:
                lo, hi = c.window_start.isoformat()[5:], c.window_end.isoformat()[5:]
                detail = text["window"].format(lo=lo, hi=hi)
                items.append(Item("due", c.due, text["short"] + "；" + detail if c.short_cycle else detail))

    # no reading within the control window
    controls = (("bp", now.control.bp), ("glucose", now.control.glucose))
    missing = [text[k] for k, v in controls if v == "no_data"]
    if missing:
        days = int(ctx.gset.param("control_window_days"))
        detail = text["no_reading_text"].format(what="、".join(missing), days=days)
        items.append(Item("no_reading", None, detail))

    # screenings overdue / due by the period's end
    overdue_s = [s for s in now.screenings_due if s.overdue]
    due_s = [s for s in now.screenings_due if not s.overdue and s.due_by <= end]
    for kind, group in (("screening_overdue", overdue_s), ("screening_due", due_s)):
        if group:
            names = "、".join(dict.fromkeys(ctx.screening_name(s.kind.value) for s in group))
            items.append(Item(kind, min(s.due_by for s in group), names))

    if not items:
        return None
    items.sort(key=lambda i: (i.rank, i.on or date.max))
    person = Person(patient.patient_id, patient.name, patient.phone, patient.team)
    return Row(person, now.color.value, tuple(items), last, last_visit)


# ---- output ----------------------------------------------------------------------------------


def _title(wl: Worklist, lang: str, key: str = "title") -> str:
    team = f"{wl.team} " if wl.team else ""
    return LABEL[lang][key].format(
        team=team, start=wl.start.isoformat(), end=wl.end.isoformat(), as_of=wl.as_of.isoformat()
    )


def _items_text(row: Row, lang: str, sep: str = "\n") -> str:
    text = LABEL[lang]
    return sep.join(f"{text[i.kind]} {i.detail}".strip() for i in row.items)


def _last_text(row: Row, lang: str) -> str:
    if row.last_contact is None:
        return ""
    return f"{row.last_contact.on.isoformat()} {LABEL[lang][row.last_contact.kind]}"


def print_worklist(wl: Worklist, console: Console, lang: str = "zh", limit: int | None = None) -> None:
    """A table that stays readable at 80 columns: the items wrap, the patient id never does; on a
    narrow terminal the team, then the name, then the last-contact columns are dropped."""
    text = LABEL[lang]
    for warning in wl.warnings:
        console.print(f"[yellow]⚠ {escape(warning)}[/]")
    cols = list(text["cols"])
    width = console.width
    drop = set()
    if wl.team is not None or width < 120:
        drop.add(cols[2])
    if width < 100:
        drop.add(cols[1])
    if width < 70:
        drop.add(cols[6])
    table = Table(title=_title(wl, lang), title_justify="left", show_lines=True, expand=False)
    shown = [c for c in cols if c not in drop]
    for c in shown:
        if c == cols[0]:
            table.add_column(c, no_wrap=True, min_width=13)
        elif c == cols[4]:
            table.add_column(c, ratio=1, overflow="fold", min_width=16)
        elif c in (cols[5],):
            table.add_column(c, no_wrap=True)
        else:
            table.add_column(c, overflow="fold")
    for row in wl.rows[:limit] if limit else wl.rows:
        first = row.items[0]
        cells = {
            cols[0]: row.patient.patient_id,
            cols[1]: mask_name(row.patient.name),
            cols[2]: row.patient.team or "",
            cols[3]: f"[{COLOR_STYLE[row.color]}]{text[row.color]}[/]",
            cols[4]: escape(_items_text(row, lang)),
            cols[5]: first.on.isoformat() if first.on else "",
            cols[6]: _last_text(row, lang),
        }
        table.add_row(*(cells[c] for c in shown))
    if wl.rows:
        console.print(table)
    else:
        console.print(text["none"])
    console.print(summary_line(wl, lang), highlight=False)


def summary_line(wl: Worklist, lang: str = "zh") -> str:
    text = LABEL[lang]
    counts = Counter(i.kind for r in wl.rows for i in r.items)
    parts = [f"{text[k]} {counts[k]}" for k in KINDS if counts[k]]
    return (
        text["summary"].format(n=len(wl.rows)) + "，".join(parts)
        if lang == "zh"
        else text["summary"].format(n=len(wl.rows)) + ", ".join(parts)
    )


CSV_HEADER = {
    "zh": (
        "患者编号",
        "姓名",
        "团队",
        "颜色",
        "事项",
        "说明",
        "日期",
        "逾期天数",
        "末次联系日期",
        "末次联系方式",
        "日历提示",
    ),
    "en": (
        "patient_id",
        "name",
        "team",
        "color",
        "item",
        "detail",
        "date",
        "days_overdue",
        "last_contact",
        "last_contact_kind",
        "calendar_warning",
    ),
}


def write_worklist_csv(wl: Worklist, out: TextIO, lang: str = "zh") -> int:
    """One line per item (a patient with three items has three lines, in urgency order); names
    masked; the calendar warning in its own column of every line when a date is provisional."""
    text = LABEL[lang]
    writer = SafeWriter(out)
    writer.writerow(CSV_HEADER[lang])
    warning = " ".join(wl.warnings)
    n = 0
    for row in wl.rows:
        for item in row.items:
            overdue = (wl.as_of - item.on).days if item.kind == "overdue" and item.on else ""
            writer.writerow(
                (
                    row.patient.patient_id,
                    mask_name(row.patient.name),
                    row.patient.team or "",
                    text[row.color],
                    text[item.kind],
                    item.detail,
                    item.on.isoformat() if item.on else "",
                    overdue,
                    row.last_contact.on.isoformat() if row.last_contact else "",
                    text[row.last_contact.kind] if row.last_contact else "",
                    warning,
                )
            )
            n += 1
    return n


def call_rows(wl: Worklist, lang: str = "zh", unmasked: bool = False) -> list[tuple[str, str, str, str]]:
    """(name, phone, reason, last visit) per patient, in worklist order; masked unless `unmasked`."""
    rows = []
    for row in wl.rows:
        name = row.patient.name or row.patient.patient_id
        phone = row.patient.phone or ""
        rows.append(
            (
                name if unmasked else mask_name(name) if row.patient.name else name,
                phone if unmasked else mask_phone(phone),
                _items_text(row, lang, sep="；"),
                row.last_visit.isoformat() if row.last_visit else "",
            )
        )
    return rows


def print_call_list(wl: Worklist, console: Console, lang: str = "zh", unmasked: bool = False) -> None:
    text = LABEL[lang]
    for warning in wl.warnings:
        console.print(f"[yellow]⚠ {escape(warning)}[/]")
    table = Table(title=_title(wl, lang, "call_title"), title_justify="left", show_lines=True)
    name, phone, reason, last = text["call_cols"]
    table.add_column(name, no_wrap=True)
    table.add_column(phone, no_wrap=True)
    table.add_column(reason, ratio=1, overflow="fold")
    table.add_column(last, no_wrap=True)
    for cells in call_rows(wl, lang, unmasked):
        table.add_row(*(escape(c) for c in cells))
    console.print(table)


def write_call_list_csv(wl: Worklist, out: TextIO, lang: str = "zh", unmasked: bool = False) -> int:
    writer = SafeWriter(out)
    writer.writerow(LABEL[lang]["call_cols"])
    rows = call_rows(wl, lang, unmasked)
    writer.writerows(rows)
    return len(rows)


def write_output(wl: Worklist, out: Path | None, as_csv: bool, console: Console, stdout: TextIO,
                 lang: str = "zh", call_list: bool = False, unmasked: bool = False,
                 limit: int | None = None) -> None:
    """The worklist (or the call list) as CSV or as the printed table, into the file `out` or else
    to `stdout` (CSV) or `console` (the table; a file gets it 100 columns wide)."""
    if as_csv:
        target = open(out, "w", encoding="utf-8-sig", newline="") if out else stdout  # noqa: SIM115
        try:
            if call_list:
                write_call_list_csv(wl, target, lang, unmasked)
            else:
                write_worklist_csv(wl, target, lang)
        finally:
            if out:
                target.close()
        return
    if out is not None:
        with open(out, "w", encoding="utf-8") as f:
            console = Console(file=f, width=100, force_terminal=False)
            write_output(wl, None, False, console, stdout, lang, call_list, unmasked, limit)
        return
    if call_list:
        print_call_list(wl, console, lang, unmasked)
    else:
        print_worklist(wl, console, lang, limit=limit)
