"""The state of a patient's care over time: planned follow-up contacts and colour history.

This is the one state model the worklist, the annual plan and the monthly report build on. It is
pure: no I/O, no clock, no engine import. The caller passes `assess_at(patient, day) ->
Assessment` (the engine's Assessor, usually) and the schedule numbers of the guideline set
(`ScheduleRules.from_params`, read from guideline YAML such as schedule.yaml).

How the contacts are planned (pathway-defaults §6):
- Every visit is an *anchor*: the next follow-up is due at the `next_follow_up` of the assessment
  at that visit (its date + the shortest interval of the fired rules, on a working day). Before
  the first visit, `enrolled_on` is the anchor. A visit that finds BP or glucose uncontrolled
  therefore inserts the short-cycle (2-week) follow-up the rules ask for.
- A planned contact has a window [due − early, due + late]. The first visit after the anchor:
  before the window → it replaces the plan (not listed, the visit is the new anchor); within the
  window → 已访 done; after the window but before the next planned window → 过访 late but done.
  No such visit → 未访 missed, and the next contact is planned one interval after the missed
  due date (the same interval), until a visit comes.
- 失访 lost to follow-up: no contact of any kind (visit, lab, screening, referral, enrolment) for
  more than `lost_days` at the end of a window (or at as_of); the series stops until a visit.
- 结案 closed: died or moved out; the series ends with one closed entry.
- A contact whose window is still open at `as_of` (or lies after it) is 应访 due. With
  `project=True`, the contacts after the first due one are projected at the colour's interval
  (never wider than a year / min_visits_per_year), for the annual plan.

Only what the range asks for is assessed: the visit before `start` that anchors the first
contact in range and the visits from there to min(end, as_of). Data dated after `as_of` is
never read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from pathways.models import Assessment, Patient
from pathways.workdays import WorkCalendar

AssessAt = Callable[[Patient, date], Assessment]


class Status(StrEnum):
    DUE = "due"
    DONE = "done"
    LATE = "late"
    MISSED = "missed"
    LOST = "lost"
    CLOSED = "closed"


STATUS_LABEL = {
    "zh": {
        Status.DUE: "应访",
        Status.DONE: "已访",
        Status.LATE: "过访",
        Status.MISSED: "未访",
        Status.LOST: "失访",
        Status.CLOSED: "结案",
    },
    "en": {
        Status.DUE: "due",
        Status.DONE: "done",
        Status.LATE: "late but done",
        Status.MISSED: "missed",
        Status.LOST: "lost to follow-up",
        Status.CLOSED: "closed",
    },
}

# The parameters of the guideline set this module reads (guidelines/<set>/schedule.yaml and
# stratification.yaml's colour intervals).
PARAMS = {
    "early_days": "follow_up_early_days",
    "late_days": "follow_up_late_days",
    "lost_days": "lost_to_follow_up_days",
    "min_visits_per_year": "min_visits_per_year",
    "referral_return_days": "referral_return_days",
    "plan_months": "plan_months",
}


@dataclass(frozen=True)
class ScheduleRules:
    early_days: int
    late_days: int
    lost_days: int
    min_visits_per_year: int
    referral_return_days: int
    plan_months: int
    color_days: Mapping[str, int]  # colour → default follow-up interval, for projection

    @classmethod
    def from_params(cls, params: Mapping[str, Any], color_days: Mapping[str, int]) -> ScheduleRules:
        """From a guideline set's parameters (name → value, or a Parameter with .value); a missing
        one is a KeyError naming the parameter."""
        values = {}
        for field_name, param in PARAMS.items():
            if param not in params:
                raise KeyError(f"guideline parameter {param!r} is missing (schedule.yaml)")
            values[field_name] = int(getattr(params[param], "value", params[param]))
        return cls(color_days=dict(color_days), **values)

    @property
    def max_interval_days(self) -> int:
        return 365 // self.min_visits_per_year


@dataclass(frozen=True)
class PlannedContact:
    due: date
    window_start: date
    window_end: date
    status: Status
    anchor: date  # the contact (visit or enrolment) it is counted from
    interval_days: int
    reasons: tuple[str, ...]  # rule ids of the assessment at the anchor
    short_cycle: bool  # the anchor visit found BP or glucose uncontrolled
    visit: date | None = None  # the visit that fulfilled it (done / late)
    projected: bool = False  # after the first due contact, for the plan only

    def days_overdue(self, as_of: date) -> int:
        """Days past the due date with no visit yet (0 when not overdue or fulfilled)."""
        if self.status in (Status.DUE, Status.MISSED, Status.LOST) and as_of > self.due:
            return (as_of - self.due).days
        return 0


@dataclass(frozen=True)
class ColourChange:
    on: date
    color_before: str | None  # None for the first assessment in range
    color: str
    tier_before: str | None
    tier: str
    rules: tuple[str, ...]  # the fired rules of the new colour (what caused it)


@dataclass(frozen=True)
class Contact:
    on: date
    kind: str  # visit, lab, screening, referral, referral_return, enrolment


@dataclass(frozen=True)
class CareState:
    patient_id: str
    as_of: date
    start: date
    end: date
    contacts: tuple[PlannedContact, ...]  # due within [start, end], in date order
    history: tuple[ColourChange, ...]  # colour/tier changes on assessed days in range
    assessments: Mapping[date, Assessment]  # every assessment made, by day
    last_contact: Contact | None  # at as_of
    lost: bool  # at as_of
    closed: tuple[date, str] | None  # (date, "died" | "moved_out") on or before as_of

    def first_due(self) -> PlannedContact | None:
        """The contact the team owes now or next (the first 应访 that is not projected)."""
        for c in self.contacts:
            if c.status is Status.DUE and not c.projected:
                return c
        return None

    def overdue_since(self) -> date | None:
        """The earliest unfulfilled due date since the last visit, if it is before as_of."""
        since = None
        for c in self.contacts:
            if c.status in (Status.DONE, Status.LATE, Status.CLOSED):
                since = None
            elif not c.projected and c.due < self.as_of and since is None:
                since = c.due
        return since


# ---- contacts of any kind ------------------------------------------------------------------


def contacts_of(patient: Patient, at: date) -> list[Contact]:
    """Every dated contact on or before `at`, in date order (enrolment included)."""
    found = [Contact(patient.enrolled_on, "enrolment")] if patient.enrolled_on <= at else []
    found += [Contact(v.date, "visit") for v in patient.visits if v.date <= at]
    found += [Contact(lab.date, "lab") for lab in patient.labs if lab.date <= at]
    found += [Contact(s.date, "screening") for s in patient.screenings if s.date <= at]
    for r in patient.referrals:
        if r.date <= at:
            found.append(Contact(r.date, "referral"))
        if r.returned_on is not None and r.returned_on <= at:
            found.append(Contact(r.returned_on, "referral_return"))
    order = {"enrolment": 0, "lab": 1, "screening": 2, "referral": 3, "referral_return": 4, "visit": 5}
    found.sort(key=lambda c: (c.on, order[c.kind]))
    return found


def contact_days(patient: Patient, at: date) -> tuple[list[date], Contact | None]:
    """(the days of `contacts_of(patient, at)`, in order; its last contact): the same, without a
    `Contact` made for each (care_state asks once per patient and month of the monthly report)."""
    days = [patient.enrolled_on] if patient.enrolled_on <= at else []
    days += [v.date for v in patient.visits if v.date <= at]
    days += [lab.date for lab in patient.labs if lab.date <= at]
    days += [s.date for s in patient.screenings if s.date <= at]
    for r in patient.referrals:
        if r.date <= at:
            days.append(r.date)
        if r.returned_on is not None and r.returned_on <= at:
            days.append(r.returned_on)
    if not days:
        return days, None
    days.sort()
    last = days[-1]
    # a tie on the last day goes to the kind contacts_of sorts last
    if any(v.date == last for v in patient.visits):
        kind = "visit"
    elif any(r.returned_on == last for r in patient.referrals):
        kind = "referral_return"
    elif any(r.date == last for r in patient.referrals):
        kind = "referral"
    elif any(s.date == last for s in patient.screenings):
        kind = "screening"
    elif any(lab.date == last for lab in patient.labs):
        kind = "lab"
    else:
        kind = "enrolment"
    return days, Contact(last, kind)


def last_contact(patient: Patient, at: date) -> Contact | None:
    """The latest contact of any kind on or before `at` (a visit wins a tie)."""
    found = contacts_of(patient, at)
    return found[-1] if found else None


def is_lost(patient: Patient, at: date, rules: ScheduleRules) -> bool:
    """No contact of any kind in the `lost_days` up to `at` (a patient enrolled later is not)."""
    last = last_contact(patient, at)
    return last is not None and (at - last.on).days > rules.lost_days


def closed_on(patient: Patient) -> tuple[date, str] | None:
    """(date, "died" | "moved_out"), the earlier if both, or None."""
    left = [(d, why) for d, why in ((patient.deceased_on, "died"), (patient.moved_out_on, "moved_out")) if d]
    return min(left) if left else None


def is_closed(patient: Patient, at: date) -> bool:
    closed = closed_on(patient)
    return closed is not None and closed[0] <= at


# ---- the schedule --------------------------------------------------------------------------


def care_state(
    patient: Patient,
    assess_at: AssessAt,
    rules: ScheduleRules,
    calendar: WorkCalendar,
    as_of: date,
    start: date,
    end: date,
    project: bool = False,
    history_events: bool = True,
    history: bool = True,
) -> CareState:
    """The planned contacts due within [start, end] and the colour history of [start, min(end,
    as_of)] (see the module doc). `history_events` also assesses on lab and screening days in
    range, where a colour can change without a visit; `history=False` leaves the history empty
    and assesses for the contacts only (the annual plan reads nothing else)."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    known_until = min(end, as_of)
    cache: dict[date, Assessment] = {}

    def assess(day: date) -> Assessment:
        if day not in cache:
            cache[day] = assess_at(patient, day)
        return cache[day]

    closed = closed_on(patient)
    closed_at = closed if closed is not None and closed[0] <= as_of else None
    visits = sorted({v.date for v in patient.visits if patient.enrolled_on <= v.date <= as_of})
    threshold = start - timedelta(days=rules.early_days)
    before = [d for d in visits if d < threshold]
    anchor = before[-1] if before else patient.enrolled_on
    upcoming = [d for d in visits if d > anchor]  # visits still to place, in order
    contacts: list[PlannedContact] = []

    known_days, latest_contact = contact_days(patient, as_of)  # once: the lost checks, the last contact

    def lost_at(day: date) -> bool:  # is_lost, with the contact days sorted once
        i = bisect_right(known_days, day)
        return i > 0 and (day - known_days[i - 1]).days > rules.lost_days

    early, late = timedelta(days=rules.early_days), timedelta(days=rules.late_days)

    def planned_from(anchor_day: date) -> tuple[date, int, tuple[str, ...], bool]:
        a = assess(anchor_day)
        due = a.next_follow_up
        short = "uncontrolled" in (str(a.control.bp), str(a.control.glucose))
        return due, (due - anchor_day).days, tuple(r.rule for r in a.reasons), short

    def planned(status: Status, visit: date | None = None) -> PlannedContact:
        return PlannedContact(due, lo, hi, status, anchor, interval, reasons, short, visit)

    done = False
    while not done:
        if closed_at is not None and closed_at[0] <= anchor:
            break
        due, interval, reasons, short = planned_from(anchor)
        step = timedelta(days=interval)
        while True:
            if due > end:
                done = True
                break
            lo, hi = due - early, due + late
            if closed_at is not None and closed_at[0] <= max(due, lo):
                if closed_at[0] <= end:
                    day = closed_at[0]
                    contacts.append(
                        PlannedContact(day, day, day, Status.CLOSED, anchor, interval, reasons, short)
                    )
                done = True
                break
            # a contact due before `start` is placed but not listed: no PlannedContact made for it
            listed = due >= start
            nxt = upcoming[0] if upcoming else None
            if nxt is not None and nxt < lo:  # an earlier visit replaces this plan
                anchor = upcoming.pop(0)
                break
            if nxt is not None and nxt <= hi:
                if listed:
                    contacts.append(planned(Status.DONE, nxt))
                anchor = upcoming.pop(0)
                break
            next_due = calendar.next_working_day(due + step)
            if nxt is not None and nxt < next_due - early:
                if listed:
                    contacts.append(planned(Status.LATE, nxt))
                anchor = upcoming.pop(0)
                break
            checked = min(hi, as_of)
            if lost_at(checked):
                if listed:
                    contacts.append(planned(Status.LOST))
                if nxt is None:
                    done = True
                else:
                    anchor = upcoming.pop(0)
                break
            if hi >= as_of:  # window still open, or in the future
                contacts.append(planned(Status.DUE))
                if project:
                    _project(contacts, rules, calendar, assess(anchor).color, due, end, closed_at, anchor)
                done = True
                break
            if listed:
                contacts.append(planned(Status.MISSED))
            due = next_due

    in_range = tuple(c for c in contacts if start <= c.due <= end)
    changes = (_history(patient, assess, visits, start, known_until, history_events, closed_at)
               if history else ())
    return CareState(
        patient_id=patient.patient_id,
        as_of=as_of,
        start=start,
        end=end,
        contacts=in_range,
        history=changes,
        assessments=dict(cache),
        last_contact=latest_contact,
        lost=lost_at(as_of) and closed_at is None,
        closed=closed_at,
    )


def _project(
    contacts: list[PlannedContact],
    rules: ScheduleRules,
    calendar: WorkCalendar,
    color: str,
    due: date,
    end: date,
    closed: tuple[date, str] | None,
    anchor: date,
) -> None:
    """Projected follow-ups after the first due one, every `color_days` (never wider than
    365 / min_visits_per_year). When that would leave fewer than min_visits_per_year contacts
    from the first due one to `end` but the span has room, they are spread evenly instead; a
    date moved past `end` by the calendar goes to the working day before."""
    interval = min(rules.color_days[color], rules.max_interval_days)
    span = (end - due).days
    needed = rules.min_visits_per_year - 1
    if span // interval < needed and span >= needed * rules.early_days:
        interval = span // needed
    day = due
    while True:
        day = day + timedelta(days=interval)
        if day > end or (closed is not None and closed[0] <= day):
            return
        planned = calendar.next_working_day(day)
        if planned > end:
            planned = _previous_working_day(calendar, day)
        lo, hi = planned - timedelta(days=rules.early_days), planned + timedelta(days=rules.late_days)
        contacts.append(
            PlannedContact(
                due=planned,
                window_start=lo,
                window_end=hi,
                status=Status.DUE,
                anchor=anchor,
                interval_days=interval,
                reasons=(),
                short_cycle=False,
                projected=True,
            )
        )


def _previous_working_day(calendar: WorkCalendar, day: date) -> date:
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


def _history(
    patient: Patient,
    assess: Callable[[date], Assessment],
    visits: list[date],
    start: date,
    until: date,
    events: bool,
    closed_at: tuple[date, str] | None,
) -> tuple[ColourChange, ...]:
    days = {d for d in visits if start <= d <= until}
    if events:
        days |= {lab.date for lab in patient.labs if start <= lab.date <= until}
        days |= {s.date for s in patient.screenings if start <= s.date <= until}
    first = max(start, patient.enrolled_on)
    if first <= until:
        days.add(first)  # the colour the range starts with
    if closed_at is not None:
        days = {d for d in days if d < closed_at[0]}
    changes: list[ColourChange] = []
    color = tier = None
    for day in sorted(d for d in days if d >= patient.enrolled_on):
        a = assess(day)
        if a.color != color or a.tier != tier:
            rules = tuple(r.rule for r in a.reasons if r.color == a.color)
            changes.append(ColourChange(day, color, str(a.color), tier, str(a.tier), rules))
            color, tier = str(a.color), str(a.tier)
    return tuple(changes)
