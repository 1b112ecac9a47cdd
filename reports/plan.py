"""The annual integrated care plan (pathway-defaults §6): built from the assessment at the plan
date, the care state (pathways/care_state.py) and the guideline set, then written as a printable
Chinese A4 page (HTML with print CSS; PDF through reports/pdf.py), a CSV of appointments and an
ICS calendar per team.

Every number and text comes from the guideline set: targets from its parameters and the
assessment, intervals from its rules and schedule.yaml, where each screening is done and the
lifestyle and education items from schedule.yaml's vocabulary. The plan is data (pathways/plan.py)
so a stored plan renders again exactly.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple, TextIO

import jinja2

from engine.assess import Decision
from pathways.care_state import Status, care_state
from pathways.measures import add_months, last_screening_date
from pathways.models import Assessment, Patient
from pathways.plan import Change, FollowUp, Plan, ScreeningPlan, Target, changes_since, input_hash
from pathways.resident_id import mask_name
from reports.care_context import CareContext
from reports.csv_safe import SafeWriter

TEXT = {
    "zh": {
        "title": "年度一体化照护计划",
        "patient": "患者",
        "team": "责任团队",
        "institution": "机构",
        "period": "计划期",
        "color": "分层",
        "reasons": "分层依据",
        "referral": "转诊",
        "targets": "个体化目标",
        "target": "目标",
        "current": "目前",
        "follow_ups": "随访安排",
        "window": "每次随访可提前 {early} 天、推后 {late} 天完成",
        "screenings": "六病筛查日历",
        "complication": "疾病",
        "item": "项目",
        "where": "在哪里做",
        "when": "时间",
        "last": "上次",
        "overdue": "已逾期，尽快完成",
        "triggers": "需要警惕的转诊情况",
        "education": "生活方式与健康教育",
        "changes": "与上次计划相比",
        "none": "无",
        "guideline": "指南版本",
        "hash": "输入校验",
        "made": "制定日期",
        "conditions": {"hypertension": "高血压", "diabetes": "糖尿病", "dyslipidemia": "血脂异常"},
        "bp": "血压",
        "fpg": "空腹血糖",
        "hba1c": "糖化血红蛋白",
        "ldl": "低密度脂蛋白胆固醇",
        "bmi": "体重指数",
        "waist": "腰围",
        "smoking": "吸烟",
        "quit": "戒烟",
        "keep": "保持不吸烟",
        "ask": "询问吸烟情况",
        "follow_up": "随访",
        "screening": "筛查",
        "short": "短周期复查（控制不满意）",
        "csv": (
            "患者编号",
            "姓名",
            "团队",
            "日期",
            "类型",
            "项目",
            "地点",
            "窗口开始",
            "窗口结束",
            "日历提示",
        ),
        "county": "县级",
        "township": "乡镇",
        "village": "村级",
        "urgent": "紧急",
        "routine": "常规",
        "page": "第 {n} 页",
    },
    "en": {
        "title": "Annual integrated care plan",
        "patient": "Patient",
        "team": "Team",
        "institution": "Institution",
        "period": "Plan period",
        "color": "Colour",
        "reasons": "Why",
        "referral": "Referral",
        "targets": "Individual targets",
        "target": "Target",
        "current": "Now",
        "follow_ups": "Follow-ups",
        "window": "each may be done up to {early} days early or {late} days late",
        "screenings": "Six-complication screening calendar",
        "complication": "Disease",
        "item": "Item",
        "where": "Where",
        "when": "When",
        "last": "Last",
        "overdue": "overdue: as soon as possible",
        "triggers": "Referral triggers to watch",
        "education": "Lifestyle and education",
        "changes": "Changes since the last plan",
        "none": "none",
        "guideline": "Guideline version",
        "hash": "Input hash",
        "made": "Plan date",
        "conditions": {
            "hypertension": "hypertension",
            "diabetes": "diabetes",
            "dyslipidemia": "dyslipidaemia",
        },
        "bp": "Blood pressure",
        "fpg": "Fasting glucose",
        "hba1c": "HbA1c",
        "ldl": "LDL-C",
        "bmi": "BMI",
        "waist": "Waist",
        "smoking": "Smoking",
        "quit": "quit",
        "keep": "stay smoke-free",
        "ask": "ask about smoking",
        "follow_up": "follow-up",
        "screening": "screening",
        "short": "short-cycle recheck (not controlled)",
        "csv": (
            "patient_id",
            "name",
            "team",
            "date",
            "type",
            "item",
            "where",
            "window_start",
            "window_end",
            "calendar_warning",
        ),
        "county": "county",
        "township": "township",
        "village": "village",
        "urgent": "urgent",
        "routine": "routine",
        "page": "page {n}",
    },
}


# ---- building ------------------------------------------------------------------------------


def plan_end(ctx: CareContext, start: date) -> date:
    return add_months(start, ctx.rules.plan_months) - timedelta(days=1)


def build_plan(patient: Patient, ctx: CareContext, start: date, previous: Plan | None = None) -> Plan:
    """The plan of `patient` for the plan months from `start` (ctx.as_of is the data cut-off)."""
    text = TEXT[ctx.lang]
    end = plan_end(ctx, start)
    assessed = ctx.assessor.assess(patient, start)
    a, facts = assessed.assessment, assessed.evaluation.facts

    def decided_at(p: Patient, day: date) -> Assessment | Decision:
        # the schedule reads only colour, rules, control and next follow-up: the lean decision
        # gives them at a fraction of an assessment's cost (care_state caches it by day)
        return a if day == start else ctx.assessor.decide(p, day)

    visits = [v.date for v in patient.visits if v.date <= start]
    since = max(visits) + timedelta(days=1) if visits else patient.enrolled_on
    state = care_state(
        patient, decided_at, ctx.rules, ctx.calendar, start, min(since, start), end, project=True,
        history=False,
    )
    follow_ups = _follow_ups(ctx, state.contacts, a, start, text)
    screenings = _screenings(patient, ctx, assessed, start, end, follow_ups, text)
    color_spec = getattr(ctx.gset.colors, a.color.value)
    dates = [f.day for f in follow_ups] + [d for s in screenings for d in s.dates]
    plan = Plan(
        patient_id=patient.patient_id,
        name=mask_name(patient.name),
        team=patient.team or "",
        institution=patient.institution or "",
        conditions=tuple(text["conditions"][c.value] for c in patient.conditions),
        start=start,
        end=end,
        lang=ctx.lang,
        guideline_set=ctx.gset.name,
        guideline_version=ctx.gset.version,
        input_hash=input_hash(patient, ctx.gset.name, ctx.gset.version, start),
        color=a.color.value,
        color_label=color_spec.label if ctx.lang == "zh" and color_spec.label else a.color.value,
        tier=a.tier.value,
        tier_label=text[a.tier.value],
        reasons=tuple(_TECHNICAL.sub("", r.text) for r in a.reasons),
        referral=(
            f"{text[a.referral.urgency.value]} → {text.get(a.referral.to, a.referral.to)}"
            if a.referral
            else ""
        ),
        targets=_targets(patient, ctx, a, facts, text),
        follow_ups=follow_ups,
        early_days=ctx.rules.early_days,
        late_days=ctx.rules.late_days,
        screenings=screenings,
        referral_triggers=_triggers(patient, ctx),
        education=_education(patient, ctx, a, facts),
        previous_start=previous.start if previous else None,
        provisional_years=tuple(ctx.provisional_years(dates)),
        warnings=tuple(ctx.warnings_for(dates)),
    )
    return plan.model_copy(update={"changes": changes_since(previous, plan)})


_SHARED_LIMIT = 1 << 16  # values kept in ctx.memo (a roster's year needs far fewer)


def _shared(ctx: CareContext, make: Callable, *args):
    """`make(ctx, *args)`, made once per run and then shared by every plan that asks for the same:
    patients on the same schedule have the same follow-ups and screening dates (the models are
    frozen), and the same conditions give the same referral triggers."""
    key = (make, *args)
    found = ctx.memo.get(key)
    if found is None:
        if len(ctx.memo) >= _SHARED_LIMIT:
            ctx.memo.clear()
        found = ctx.memo[key] = make(ctx, *args)
    return found


def _follow_ups(ctx: CareContext, contacts, a: Assessment, start: date, text: dict) -> tuple[FollowUp, ...]:
    out: list[FollowUp] = []
    for c in contacts:
        if c.status is not Status.DUE:
            continue
        day = c.due if c.due >= start else a.next_follow_up  # overdue → as soon as possible
        note = text["short"] if c.short_cycle else ""
        out.append(_shared(ctx, _follow_up, day, max(c.window_start, start), c.window_end, note))
    return tuple(out)


def _follow_up(_ctx: CareContext, day: date, window_start: date, window_end: date, note: str) -> FollowUp:
    return FollowUp(day=day, window_start=window_start, window_end=window_end, note=note)


def _screenings(patient, ctx, assessed, start, end, follow_ups, text) -> tuple[ScreeningPlan, ...]:
    out: list[ScreeningPlan] = []
    seen: set[str] = set()
    first_visit = follow_ups[0].day if follow_ups else ctx.calendar.next_working_day(start)
    for complication in ctx.gset.screenings.complications:
        for item in complication.items:
            plan = assessed.evaluation.screening.get(item.kind)
            if item.kind in seen or plan is None or not plan.eligible or not plan.listed:
                continue
            seen.add(item.kind)
            last = last_screening_date(patient, item.kind, start)
            due = (
                patient.enrolled_on + timedelta(days=plan.first_due_days)
                if last is None
                else add_months(last, plan.interval_months)
            )
            overdue = due < start
            first = first_visit if overdue else due  # an overdue screening is done at the next visit
            label = complication.name if ctx.lang == "zh" else (complication.name_en or complication.id)
            screening = _shared(ctx, _screening, label, item.kind, first, plan.interval_months, end, last,
                                overdue)
            if screening.dates:
                out.append(screening)
    return tuple(out)


def _screening(ctx: CareContext, complication: str, kind: str, first: date, interval_months: int, end: date,
               last: date | None, overdue: bool) -> ScreeningPlan:
    """A screening done on `first` and every `interval_months` after it up to `end` (no dates when
    `first` is after `end`), each on a working day."""
    dates: list[date] = []
    day = first
    while day <= end:
        dates.append(ctx.calendar.next_working_day(day))
        day = add_months(day, interval_months)
    place = ctx.gset.vocabulary.get("screening_where", {}).get(kind)
    return ScreeningPlan(
        kind=kind,
        name=ctx.screening_name(kind),
        complication=complication,
        where=(place.zh if ctx.lang == "zh" else place.en) if place else "",
        dates=tuple(d for d in dates if d <= end),
        last=last,
        overdue=overdue,
    )


def _param(ctx: CareContext, name: str):
    return ctx.gset.param(name) if name in ctx.gset.parameters else None


def _num(value) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _targets(
    patient: Patient, ctx: CareContext, a: Assessment, facts: dict, text: dict
) -> tuple[Target, ...]:
    conditions = {c.value for c in patient.conditions}
    out: list[Target] = []
    if a.bp_target:
        current = (
            f"{_num(facts.get('latest_sbp'))}/{_num(facts.get('latest_dbp'))}"
            if facts.get("latest_sbp") is not None
            else ""
        )
        out.append(
            Target(
                key="bp", label=text["bp"], target=f"<{a.bp_target[0]}/{a.bp_target[1]} mmHg", current=current
            )
        )
    if "diabetes" in conditions:
        out.append(
            Target(
                key="fpg",
                label=text["fpg"],
                target=f"<{_num(_param(ctx, 'fpg_target'))} mmol/L",
                current=_num(facts.get("latest_fpg")),
            )
        )
        out.append(
            Target(
                key="hba1c",
                label=text["hba1c"],
                target=f"<{_num(_param(ctx, 'hba1c_target'))}%",
                current=_num(facts.get("latest_hba1c")),
            )
        )
    if a.ldl_target is not None:
        out.append(
            Target(
                key="ldl",
                label=text["ldl"],
                target=f"<{_num(a.ldl_target)} mmol/L",
                current=_num(facts.get("latest_ldl_c")),
            )
        )
    low, high = _param(ctx, "bmi_normal_min"), _param(ctx, "bmi_overweight_min")
    if low is not None and high is not None:
        out.append(
            Target(
                key="bmi",
                label=text["bmi"],
                target=f"{_num(low)}–<{_num(high)} kg/m²",
                current=_num(facts.get("bmi")),
            )
        )
    waist = _param(ctx, "waist_pre_central_men_min" if patient.sex == "M" else "waist_pre_central_women_min")
    if waist is not None:
        out.append(
            Target(
                key="waist",
                label=text["waist"],
                target=f"<{_num(waist)} cm",
                current=_num(facts.get("waist_cm")),
            )
        )
    smoking = {True: text["quit"], False: text["keep"], None: text["ask"]}[patient.smoker]
    out.append(Target(key="smoking", label=text["smoking"], target=smoking))
    return tuple(out)


# the rule's condition in fact names that a reason text ends with (for `explain`, not a patient page)
_TECHNICAL = re.compile(r"（[^（）]*[a-z]_[a-z][^（）]*）$")
# a value slot of a rule's sentence with its unit: "{sbp}/{dbp} mmHg", "{egfr} mL/min/1.73m²"
_PLACEHOLDER = re.compile(
    r"\s*\{[^}]*\}(?:\s*[/，,、]\s*\{[^}]*\})*\s*(?:mmHg|mmol/L|mg/g|mL/min/1\.73m²|%|天前)?"
)
_PREFIX = {"htn.": "hypertension", "dm.": "diabetes", "lipid.": "dyslipidemia"}


def _triggers(patient: Patient, ctx: CareContext) -> tuple[str, ...]:
    """The referring rules that apply to the patient's conditions, as sentences without values
    (worked out once per combination of conditions)."""
    return _shared(ctx, _triggers_of, frozenset(c.value for c in patient.conditions))


def _triggers_of(ctx: CareContext, conditions: frozenset[str]) -> tuple[str, ...]:
    out: list[str] = []
    for rule in ctx.gset.rules:
        if rule.referral is None:
            continue
        needs = next((c for p, c in _PREFIX.items() if rule.id.startswith(p)), None)
        if needs is not None and needs not in conditions:
            continue
        sentence = (rule.explain if ctx.lang == "zh" else rule.explain_en or rule.explain) or rule.id
        sentence = re.sub(r"（\s*）|\(\s*\)", "", _PLACEHOLDER.sub("", sentence))
        sentence = re.sub(r"\s+([，,）)])", r"\1", sentence).strip(" ，,")
        if sentence not in out:
            out.append(sentence)
    return tuple(out)


def _education(patient: Patient, ctx: CareContext, a: Assessment, facts: dict) -> tuple[str, ...]:
    tags = {"all"} | {c.value for c in patient.conditions}
    if patient.smoker:
        tags.add("smoker")
    bmi, over = facts.get("bmi"), _param(ctx, "bmi_overweight_min")
    if bmi is not None and over is not None and bmi >= over:
        tags.add("overweight")
    waist = facts.get("waist_cm")
    limit = _param(ctx, "waist_pre_central_men_min" if patient.sex == "M" else "waist_pre_central_women_min")
    if waist is not None and limit is not None and waist >= limit:
        tags.add("central_obesity")
    if a.color.value == "red":
        tags.add("red")
    if (a.ckd_stage or "G1") not in ("G1", "G2") or (a.albuminuria or "A1") != "A1":
        tags.add("kidney")
    return _shared(ctx, _education_of, frozenset(tags))


def _education_of(ctx: CareContext, tags: frozenset[str]) -> tuple[str, ...]:
    items = ctx.gset.vocabulary.get("education", {})
    return tuple((v.zh if ctx.lang == "zh" else v.en) for k, v in items.items() if k.split(".")[0] in tags)


# ---- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageContext:
    """What the page template reads (jinja2 StrictUndefined: a missing name is an error)."""

    plans: tuple[Plan, ...]
    text: dict
    warnings: tuple[str, ...]
    lang: str


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("reports") / "templates"))
    return jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )


def render_html(plans: Iterable[Plan], lang: str = "zh") -> str:
    """One HTML document, one A4 page per plan, the calendar warnings in a banner on each page."""
    plans = tuple(plans)
    warnings = tuple(dict.fromkeys(w for p in plans for w in p.warnings))
    context = PageContext(plans=plans, text=TEXT[lang], warnings=warnings, lang=lang)
    return _environment().get_template("plan.html.j2").render(page=context)


def render_pdf(plans: Iterable[Plan], lang: str = "zh") -> bytes:
    from reports.pdf import html_to_pdf

    return html_to_pdf(render_html(plans, lang))


def appointments(plan: Plan) -> list[tuple[date, str, str, str, date, date]]:
    """(day, type, item, where, window start, window end) of every dated entry, in date order."""
    text = TEXT[plan.lang]
    rows = [
        (f.day, text["follow_up"], f.note or text["follow_up"], plan.team, f.window_start, f.window_end)
        for f in plan.follow_ups
    ]
    rows += [(d, text["screening"], s.name, s.where, d, d) for s in plan.screenings for d in s.dates]
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


class _Entry(NamedTuple):
    """What an appointment's lines in the plan files hold apart from the patient and the place
    (the team's name, for a follow-up): made once per distinct appointment (`_entry`), which
    every patient on the same schedule shares."""

    before: str  # its CSV cells before the place (date, type, item) and a comma, through SafeWriter
    after: str  # a comma and its CSV cells after the place (window, calendar warning), the line end
    uid: str  # the UID after the patient id, escaped
    kind: str  # the SUMMARY's type, escaped
    item: str  # the SUMMARY's item after a space (none when it is the type), escaped
    dates: bytes  # the DTSTART and DTEND lines
    description: str  # the DESCRIPTION after the place (window, calendar warning), escaped


@lru_cache(maxsize=1 << 14)
def _entry(day: date, kind: str, item: str, lo: date, hi: date, warning: str) -> _Entry:
    window = f"{lo.isoformat()} – {hi.isoformat()}"
    return _Entry(
        before=_csv_text((day.isoformat(), kind, item))[:-2] + ",",
        after="," + _csv_text((lo.isoformat(), hi.isoformat(), warning)),
        uid=_ics_text(f"-{day.isoformat()}-{item}@sangao"),
        kind=_ics_text(kind),
        item=f" {_ics_text(item)}" if item != kind else "",
        dates=_ics_line(f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}")
        + _ics_line(f"DTEND;VALUE=DATE:{(day + timedelta(days=1)).strftime('%Y%m%d')}"),
        description=_ics_text("\n".join(x for x in (window, warning) if x)),
    )


def _entries(plan: Plan) -> list[tuple[str, _Entry]]:
    """The plan's appointments in date order as the plan files write them: (place, entry)."""
    return [(where, _entry(day, kind, item, lo, hi, plan.warning_for(day)))
            for day, kind, item, where, lo, hi in appointments(plan)]


def _csv_text(cells: Iterable) -> str:
    """One CSV row as SafeWriter writes it."""
    out = io.StringIO()
    SafeWriter(out).writerow(cells)
    return out.getvalue()


@lru_cache(maxsize=1 << 12)
def _csv_cell(value: str) -> str:
    """One cell as SafeWriter writes it inside a row: written after an empty cell (a row of one
    empty cell alone would be written as `""`), then that empty cell's comma taken off."""
    return _csv_text(("", value))[1:-2]


def write_appointments_csv(plans: Iterable[Plan], out: TextIO, lang: str = "zh") -> int:
    out.write(_csv_text(TEXT[lang]["csv"]))
    return sum(_write_rows(out, plan, _entries(plan)) for plan in plans)


def _write_rows(out: TextIO, plan: Plan, entries: list[tuple[str, _Entry]]) -> int:
    """The plan's rows of the appointments CSV. A row is written in parts, the plan's own cells
    (patient, name, team), the appointment's (`_Entry`) and its place: csv quotes each cell on
    its own, so the joined parts are the row SafeWriter writes whole."""
    head = _csv_text((plan.patient_id, plan.name, plan.team))[:-2] + ","  # without its line end
    out.write("".join([head + e.before + _csv_cell(where) + e.after for where, e in entries]))
    return len(entries)


def _ics_text(value: str) -> str:
    """RFC 5545 TEXT escaping."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


# A folded line's parts: the longest run of at most 75 octets (74 after the first, for the space
# that begins a continuation line) not followed by a UTF-8 continuation byte.
_FIRST_PART = re.compile(rb"[\s\S]{1,75}(?![\x80-\xbf])")
_NEXT_PARTS = re.compile(rb"[\s\S]{1,74}(?![\x80-\xbf])")


def _ics_line(line: str) -> bytes:
    """One content line in UTF-8 with its CRLF, folded at 75 octets, never inside a UTF-8 sequence
    (RFC 5545 §3.1)."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return data + b"\r\n"
    first = _FIRST_PART.match(data).group()
    return b"\r\n ".join([first, *_NEXT_PARTS.findall(data, len(first))]) + b"\r\n"


def team_calendars(plans: Iterable[Plan]) -> dict[str, bytes]:
    """One ICS calendar per team of its follow-ups and screenings: all-day events, masked names,
    the calendar warning in the description of every event dated in a provisional year. Written
    directly (icalendar's line folding of Chinese text cost more than building the plans); the
    tests parse it back with icalendar."""
    by_team: dict[str, list[Plan]] = {}
    for plan in plans:
        by_team.setdefault(plan.team, []).append(plan)
    return {team: _calendar(team, team_plans) for team, team_plans in by_team.items()}


def team_ics(plans: Iterable[Plan], team: str) -> bytes:
    return _calendar(team, [p for p in plans if p.team == team])


def _calendar(team: str, plans: list[Plan]) -> bytes:
    return _ics_head(team) + b"".join(_ics_events(p, _entries(p)) for p in plans) + _ICS_TAIL


def _ics_head(team: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//sangao//care plan//ZH", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_ics_text(team + ' 随访与筛查')}"]
    return b"".join(_ics_line(line) for line in lines)


_ICS_TAIL = b"END:VCALENDAR\r\n"


def _ics_events(plan: Plan, entries: list[tuple[str, _Entry]]) -> bytes:
    """The VEVENTs of a plan's appointments (`_entries(plan)`). Text is escaped in parts, the
    patient's and the place here, the appointment's in `_entry`: escaping works character by
    character, so the parts joined are the whole escaped."""
    stamp = _ics_line(f"DTSTAMP:{plan.start.strftime('%Y%m%dT000000Z')}")
    patient_id, name = _ics_text(plan.patient_id), _ics_text(plan.name)
    parts: list[bytes] = []
    for where, e in entries:
        place = f"{_ics_text(where)}\\n" if where else ""
        parts += (
            b"BEGIN:VEVENT\r\n",
            _ics_line(f"UID:{patient_id}{e.uid}"),
            stamp,
            e.dates,
            _ics_line(f"SUMMARY:{e.kind} {patient_id} {name}{e.item}"),
            _ics_line(f"DESCRIPTION:{place}{e.description}"),
            b"END:VEVENT\r\n",
        )
    return b"".join(parts)


class PlanFiles:
    """Writes plans as they come, so a whole roster's plans need not be held: the appointments
    CSV row by row, each team's ICS file appended to in blocks of `_FLUSH` bytes. Only the
    HTML/PDF pages need every plan kept (`keep`)."""

    _FLUSH = 64 * 1024

    def __init__(self, out: Path, formats: set[str], lang: str, file_name: Callable[[str], str]) -> None:
        self.out, self.formats, self.lang, self.file_name = out, formats, lang, file_name
        out.mkdir(parents=True, exist_ok=True)
        self.kept: list[Plan] = []
        self.count = 0
        self.warnings: dict[str, None] = {}
        self._events: dict[str, list[bytes]] = {}
        self._pending: dict[str, int] = {}
        self._names: dict[str, str] = {}  # team → its ICS file's name, unique in the run
        self._taken: set[str] = set()
        self._csv = None
        if "csv" in formats:
            self._csv = (out / "appointments.csv").open("w", encoding="utf-8-sig", newline="")
            self._csv.write(_csv_text(TEXT[lang]["csv"]))

    @property
    def keep(self) -> bool:
        return bool({"html", "pdf"} & self.formats)

    def add(self, plan: Plan) -> None:
        self.count += 1
        self.warnings.update(dict.fromkeys(plan.warnings))
        if self.keep:
            self.kept.append(plan)
        entries = _entries(plan)
        if self._csv is not None:
            _write_rows(self._csv, plan, entries)
        if "ics" in self.formats:
            if plan.team not in self._events:
                self._ics(plan.team).write_bytes(_ics_head(plan.team))
                self._events[plan.team], self._pending[plan.team] = [], 0
            events = _ics_events(plan, entries)
            self._events[plan.team].append(events)
            self._pending[plan.team] += len(events)
            if self._pending[plan.team] >= self._FLUSH:
                self._flush(plan.team)

    def add_made(self, made: MadePlans, data: bytes) -> None:
        """What `MadePlans` made elsewhere (a worker process), its bytes `data`: the same files as
        `add` of each of its plans would write, the teams' events appended in the same order."""
        self.count += made.count
        self.warnings.update(dict.fromkeys(made.warnings))
        if self.keep:
            self.kept += made.kept
        if self._csv is not None:
            self._csv.flush()  # the header and any text before: the rows go under it as bytes
            self._csv.buffer.write(data[: made.csv])
        at = made.csv
        for team, size in made.teams:
            if team not in self._events:
                self._ics(team).write_bytes(_ics_head(team))
                self._events[team], self._pending[team] = [], 0
            self._events[team].append(data[at : at + size])
            self._pending[team] += size
            at += size
            if self._pending[team] >= self._FLUSH:
                self._flush(team)

    def _ics(self, team: str) -> Path:
        """The team's ICS file. Two teams whose names make the same file name ("A队/1" and "A队_1")
        get their own files, the later one "-2", "-3"… in the order the teams first come (the
        patients' order, the same with any number of workers)."""
        name = self._names.get(team)
        if name is None:
            base = name = self.file_name(team)
            n = 2
            while name in self._taken:
                name, n = f"{base}-{n}", n + 1
            self._names[team] = name
            self._taken.add(name)
        return self.out / f"{name}.ics"

    def _flush(self, team: str, tail: bytes = b"") -> None:
        with self._ics(team).open("ab") as f:
            f.write(b"".join(self._events[team]) + tail)
        self._events[team], self._pending[team] = [], 0

    def abandon(self) -> None:
        """The run stopped (an error, Ctrl-C): the files begun are removed, none is left half-written."""
        if self._csv is not None:
            self._csv.close()
            (self.out / "appointments.csv").unlink(missing_ok=True)
        for team in self._events:
            self._ics(team).unlink(missing_ok=True)
        self._events, self._pending = {}, {}

    def close(self) -> list[str]:
        """Finish every file; returns their names."""
        written = []
        if "html" in self.formats:
            (self.out / "plans.html").write_text(render_html(self.kept, self.lang), encoding="utf-8")
            written.append("plans.html")
        if "pdf" in self.formats:
            (self.out / "plans.pdf").write_bytes(render_pdf(self.kept, self.lang))
            written.append("plans.pdf")
        if self._csv is not None:
            self._csv.close()
            written.append("appointments.csv")
        for team in sorted(self._events):
            self._flush(team, _ICS_TAIL)
            written.append(self._ics(team).name)
        return written


@dataclass
class MadePlans:
    """What `PlanBytes` made of a run of plans: how many; the byte length of their appointments
    CSV rows and of each team's ICS events (team, length, in the order each team first came), in
    that order in the block of bytes that goes with it; the plans themselves when pages are wanted,
    else the first two; the calendar warnings."""

    count: int
    csv: int
    teams: list[tuple[str, int]]
    kept: list[Plan]
    warnings: list[str]


class PlanBytes:
    """Plans made into the bytes `PlanFiles` writes for them, by a process that writes no file
    (reports/plan_run.py's workers); `PlanFiles.add_made` writes them."""

    def __init__(self, formats: set[str]) -> None:
        self.keep = bool({"html", "pdf"} & formats)
        self.ics = "ics" in formats
        self.rows = io.StringIO() if "csv" in formats else None
        self.events: dict[str, list[bytes]] = {}
        self.kept: list[Plan] = []
        self.warnings: dict[str, None] = {}
        self.count = 0

    def add(self, plan: Plan) -> None:
        self.count += 1
        self.warnings.update(dict.fromkeys(plan.warnings))
        if self.keep or len(self.kept) < 2:
            self.kept.append(plan)
        entries = _entries(plan)
        if self.rows is not None:
            _write_rows(self.rows, plan, entries)
        if self.ics:
            self.events.setdefault(plan.team, []).append(_ics_events(plan, entries))

    def finish(self) -> tuple[MadePlans, bytes]:
        rows = self.rows.getvalue().encode("utf-8") if self.rows is not None else b""
        blocks = {team: b"".join(events) for team, events in self.events.items()}
        made = MadePlans(self.count, len(rows), [(team, len(b)) for team, b in blocks.items()], self.kept,
                         list(self.warnings))
        return made, b"".join([rows, *blocks.values()])


def print_summary(plan: Plan, console) -> None:
    """A few lines for the terminal: colour, follow-up dates, screenings, warnings."""
    from rich.markup import escape

    text = TEXT[plan.lang]
    for warning in plan.warnings:
        console.print(f"[yellow]⚠ {escape(warning)}[/]")
    console.print(
        f"[b]{plan.patient_id}[/] {escape(plan.name)}  {escape(plan.color_label)}  "
        f"{text['team']}: {escape(plan.team)}",
        highlight=False,
    )
    console.print(
        f"  {text['follow_ups']}: " + " ".join(f.day.isoformat() for f in plan.follow_ups), highlight=False
    )
    for s in plan.screenings:
        console.print(f"  {escape(s.name)}: " + " ".join(d.isoformat() for d in s.dates), highlight=False)
    for change in plan.changes:
        before = f"{escape(change.before)} → " if change.before else ""
        console.print(
            f"  {text['changes']}: {escape(change.what)} {before}{escape(change.after)}", highlight=False
        )


__all__ = ["Change", "build_plan", "render_html", "render_pdf", "team_calendars", "team_ics",
           "write_appointments_csv"]
