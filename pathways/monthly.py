"""The per-patient-per-month state of the monthly quality-control report: one `PatientMonth` per
patient and month, built from the patient record alone (no stored assessment needed), from which
reports/indicators.py counts every indicator. store/patient_months.py keeps the rows for trends.

What a row says, for month M and its window (year to date, or the 12 months ending with M):
whether the patient is in the denominator (age, enrolment, death, move-out), visits in the month
and in the window, the latest BP/FPG/LDL-C in the window and their quality-control control (the
public-health definitions of guidelines/<set>/quality.yaml, kept apart from clinical targets),
colour and tier at the month end, the six screenings, referrals and their closure, follow-up
timeliness and lost-to-follow-up (from pathways/care_state.py, the shared state model), a care
state in the manner of the HEARTS/Simple reports, and data-quality counts of the month's visits.

The clinical values that need the rules (colour, tier, LDL-C control against the risk-based
target, screening eligibility) arrive as a `MonthEnd` computed by the engine at the month end;
this module never runs rules. Every number comes from `QcPolicy`, read from the guideline set.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from math import ceil
from operator import attrgetter
from typing import Any

import msgspec

from pathways.measures import LAB_AS_SCREENING, add_months, age_years, newest_first
from pathways.models import Patient

# Bump when the fields or their meaning change: stored rows of another version are recomputed.
ROW_VERSION = 2


class Window(StrEnum):
    YTD = "ytd"  # 1 January of M's year to the last day of M
    ROLLING12 = "rolling12"  # the first day of M-11 to the last day of M


class CareState(StrEnum):
    """One state per patient per month, assigned in this order (first match wins); every patient
    enrolled by the month end has exactly one, so the shares sum to 100 %."""

    DIED = "died"
    MOVED_OUT = "moved_out"
    NEW = "new"  # enrolled in the last `qc_recent_months` months
    LOST = "lost"  # no contact for 12 months (care_state)
    NO_READING = "no_reading"  # no reading of the patient's programmes in the recent months
    CONTROLLED = "controlled"  # every programme's latest recent reading controlled
    UNCONTROLLED = "uncontrolled"


CARE_STATES = tuple(CareState)

# Quality-control control of one measure in the window.
CONTROLLED, UNCONTROLLED, NO_DATA, NOT_APPLICABLE = "controlled", "uncontrolled", "no_data", "not_applicable"


@dataclass(frozen=True)
class QcPolicy:
    """The quality-control numbers of a guideline set (quality.yaml), plus the data-quality
    limits of store/data/plausible.yaml ({field: (min, max)}, both inclusive)."""

    min_age: int
    bp_sbp: float
    bp_dbp: float
    elderly_age: int
    elderly_sbp: float
    elderly_dbp: float
    fpg: float
    months_per_visit: int
    referral_return_days: int
    small_cell: int
    target_managed_pct: float
    window: Window
    recent_months: int
    screening_days: int
    score_targets: tuple[tuple[str, float], ...]
    grades: tuple[tuple[str, float], ...]
    plausible: Mapping[str, tuple[float, float]]

    @classmethod
    def from_params(cls, params: Mapping[str, Any], plausible: Mapping[str, tuple[float, float]]) -> QcPolicy:
        def pairs(name: str) -> tuple[tuple[str, float], ...]:
            return tuple((k.strip(), float(v)) for k, v in (str(x).split("=", 1) for x in params[name]))

        return cls(
            min_age=int(params["qc_min_age"]),
            bp_sbp=float(params["qc_bp_sbp"]),
            bp_dbp=float(params["qc_bp_dbp"]),
            elderly_age=int(params["qc_elderly_age"]),
            elderly_sbp=float(params["qc_elderly_sbp"]),
            elderly_dbp=float(params["qc_elderly_dbp"]),
            fpg=float(params["qc_fpg"]),
            months_per_visit=int(params["qc_months_per_visit"]),
            referral_return_days=int(params["qc_referral_return_days"]),
            small_cell=int(params["qc_small_cell"]),
            target_managed_pct=float(params["qc_target_managed_pct"]),
            window=Window(params["qc_window"]),
            recent_months=int(params["qc_recent_months"]),
            screening_days=int(params["qc_screening_days"]),
            score_targets=pairs("qc_score_targets"),
            grades=pairs("qc_score_grades"),
            plausible=dict(plausible),
        )


@dataclass(frozen=True)
class MonthEnd:
    """What the rules say at the last day the patient was under management in the window (the
    month end, or the day before death or move-out): colour and tier (None when the patient is
    no longer under management at the month end), LDL-C control against the risk-based target,
    and the screening kinds the patient is eligible for, grouped by complication id."""

    color: str | None
    tier: str | None
    ldl_control: str
    eligible: Mapping[str, tuple[str, ...]]  # complication id → eligible screening kinds


@dataclass(frozen=True)
class CareFacts:
    """Follow-up timeliness and lost-to-follow-up at the month end, from pathways/care_state.py."""

    follow_up: str | None  # the care-state status of the planned contact (due, done, late, missed …)
    overdue: bool  # the next follow-up date has passed without a visit
    lost: bool  # no contact for 12 months


class PatientMonth(msgspec.Struct, frozen=True, array_like=True):
    """One patient in one month (see the module docstring). Dates are ISO strings."""

    patient_id: str
    month: str  # "2026-11"
    window: str  # Window value
    institution: str
    team: str
    enrolled_on: str
    enrolled: bool  # enrolled on or before the month end
    managed: bool  # in the 管理人数 denominator
    programmes: tuple[str, ...]  # hypertension, diabetes, dyslipidemia (the record's order)
    age: int  # whole years at the window end
    visits_month: int
    visits_window: int
    visits_required: int  # ceil(months in the window ÷ qc_months_per_visit)
    bp: str  # controlled / uncontrolled / no_data / not_applicable
    bp_reading: str  # "2026-11-02 146/88", "" without one
    glucose: str
    fpg_reading: str
    ldl: str
    ldl_reading: str
    color: str | None
    tier: str | None
    screenings: tuple[tuple[str, bool], ...]  # (complication id, done) for eligible complications
    referrals: int  # referrals made in the window whose closure is decided
    referrals_closed: int
    follow_up: str | None
    overdue: bool
    care_state: str | None  # CareState value; None when not enrolled by the month end
    dq_values: int  # visit values in the month checked for plausibility
    dq_implausible: int
    dq_visits: int  # visits dated in the month
    dq_copied: int  # visits repeating the previous visit's readings exactly
    dq_bp_digits: int  # SBP and DBP values in the month
    dq_bp_zero_five: int  # of which ending in 0 or 5
    dq_after_death: int  # visits dated after deceased_on

    @property
    def standard(self) -> bool:
        """规范管理: enough face-to-face visits in the window."""
        return self.visits_window >= self.visits_required

    @property
    def all_controlled(self) -> bool:
        """三高共管达标: every programme of the patient controlled."""
        return all(getattr(self, _MEASURE[p]) == CONTROLLED for p in self.programmes)

    def in_programme(self, programme: str) -> bool:
        return programme in self.programmes


_MEASURE = {"hypertension": "bp", "diabetes": "glucose", "dyslipidemia": "ldl"}


# ---- months and windows ----------------------------------------------------------------------


# The month helpers are pure and asked a few times per row with a dozen distinct months: cached.
@lru_cache(maxsize=1024)
def month_end(month: str) -> date:
    """ "2026-02" → 2026-02-28."""
    year, mon = (int(x) for x in month.split("-"))
    return date(year, mon, _calendar.monthrange(year, mon)[1])


@lru_cache(maxsize=1024)
def month_start(month: str) -> date:
    year, mon = (int(x) for x in month.split("-"))
    return date(year, mon, 1)


@lru_cache(maxsize=1024)
def shift_month(month: str, n: int) -> str:
    d = add_months(month_start(month), n)
    return f"{d.year:04d}-{d.month:02d}"


@lru_cache(maxsize=1024)
def window_bounds(month: str, window: Window) -> tuple[date, date, int]:
    """(first day, last day, number of months) of month M's window, both days included."""
    end = month_end(month)
    if window is Window.YTD:
        return date(end.year, 1, 1), end, end.month
    return month_start(shift_month(month, -11)), end, 12


def is_managed(patient: Patient, month: str, window: Window, min_age: int) -> bool:
    """管理人数: aged ≥ min_age at the window end, enrolled on or before it, and not deceased or
    moved out before the window start."""
    start, end, _ = window_bounds(month, window)
    if age_years(patient.birth_date, end) < min_age or patient.enrolled_on > end:
        return False
    return not any(d is not None and d < start for d in (patient.deceased_on, patient.moved_out_on))


def left_on(patient: Patient) -> date | None:
    """The first day the patient is no longer under management (death or move-out), if any."""
    days = [d for d in (patient.deceased_on, patient.moved_out_on) if d is not None]
    return min(days) if days else None


# ---- the row ---------------------------------------------------------------------------------


def build_patient_month(
    patient: Patient,
    month: str,
    policy: QcPolicy,
    month_end_state: MonthEnd | None,
    care: CareFacts | None,
    window: Window | None = None,
) -> PatientMonth:
    """The row of `patient` for `month` ("YYYY-MM") over `window` (the policy's by default).
    `month_end_state` is None when the rules were not asked (the patient left before the window
    or was not enrolled); `care` is None when the patient is not under management at the month end."""
    window = window or policy.window
    start, end, months = window_bounds(month, window)
    m_start = month_start(month)
    gone = left_on(patient)
    last_day = end if gone is None else min(end, gone - timedelta(days=1))
    enrolled = patient.enrolled_on <= end
    managed = is_managed(patient, month, window, policy.min_age)
    age = age_years(patient.birth_date, end)
    programmes = tuple(str(c) for c in patient.conditions)

    visits = newest_first(patient.visits, last_day)
    in_window = [v for v in visits if v.date >= start]
    # the latest readings on or before the last managed day; the window and the recent months
    # each keep them only when dated inside
    bp_visit = next((v for v in visits if v.sbp is not None and v.dbp is not None), None)
    fpg_visit = next((v for v in visits if v.fpg is not None), None)
    ldl_lab = next((lab for lab in newest_first(patient.labs, last_day) if lab.ldl_c is not None), None)
    latest = {
        "hypertension": (bp_visit, _bp_control(bp_visit, age, policy)),
        "diabetes": (
            fpg_visit,
            None if fpg_visit is None else (CONTROLLED if fpg_visit.fpg < policy.fpg else UNCONTROLLED),
        ),
        # LDL-C is judged against the risk-based target the rules derived at the last managed day
        "dyslipidemia": (
            ldl_lab,
            None
            if ldl_lab is None or month_end_state is None
            else (CONTROLLED if month_end_state.ldl_control == CONTROLLED else UNCONTROLLED),
        ),
    }

    def in_window_control(programme: str, applies: bool) -> tuple[str, str]:
        record, control = latest[programme]
        if not applies:
            return NOT_APPLICABLE, ""
        if record is None or record.date < start or control is None:
            return NO_DATA, ""
        return control, _reading(record, _READS[programme])

    bp, bp_reading = in_window_control("hypertension", "hypertension" in programmes)
    glucose, fpg_reading = in_window_control("diabetes", "diabetes" in programmes)
    ldl, ldl_reading = in_window_control("dyslipidemia", True)  # 血脂达标率 counts every managed patient

    screenings: list[tuple[str, bool]] = []
    if month_end_state is not None:
        screened = None
        since = last_day - timedelta(days=policy.screening_days)
        for complication, kinds in month_end_state.eligible.items():
            if kinds:
                if screened is None:
                    screened = _kinds_screened(patient, since, last_day)
                screenings.append((complication, all(kind in screened for kind in kinds)))

    referrals, closed = _referrals(patient, start, last_day, end, policy.referral_return_days)
    present_at_end = gone is None or gone > end
    dq = _data_quality(patient, m_start, month_end(month), policy)
    return PatientMonth(
        patient_id=patient.patient_id,
        month=month,
        window=str(window),
        institution=patient.institution or "",
        team=patient.team or "",
        enrolled_on=patient.enrolled_on.isoformat(),
        enrolled=enrolled,
        managed=managed,
        programmes=programmes,
        age=age,
        visits_month=sum(1 for v in in_window if v.date >= m_start),
        visits_window=len(in_window),
        visits_required=ceil(months / policy.months_per_visit),
        bp=bp,
        bp_reading=bp_reading,
        glucose=glucose,
        fpg_reading=fpg_reading,
        ldl=ldl,
        ldl_reading=ldl_reading,
        color=month_end_state.color if month_end_state and present_at_end else None,
        tier=month_end_state.tier if month_end_state and present_at_end else None,
        screenings=tuple(screenings),
        referrals=referrals,
        referrals_closed=closed,
        follow_up=care.follow_up if care and present_at_end else None,
        overdue=bool(care and present_at_end and care.overdue),
        care_state=care_state_of(patient, month, programmes, latest, care, policy) if enrolled else None,
        **dq,
    )


def care_state_of(
    patient: Patient,
    month: str,
    programmes: Sequence[str],
    latest: Mapping[str, tuple[Any, str | None]],
    care: CareFacts | None,
    policy: QcPolicy,
) -> CareState:
    """The HEARTS-style state at the month end, first match wins (see CareState)."""
    end = month_end(month)
    if patient.deceased_on is not None and patient.deceased_on <= end:
        return CareState.DIED
    if patient.moved_out_on is not None and patient.moved_out_on <= end:
        return CareState.MOVED_OUT
    recent_start = month_start(shift_month(month, -(policy.recent_months - 1)))
    if patient.enrolled_on >= recent_start:
        return CareState.NEW
    if care is not None and care.lost:
        return CareState.LOST
    controls = []
    for programme in programmes:
        record, control = latest[programme]
        recent = record is not None and record.date >= recent_start and control is not None
        controls.append(control if recent else NO_DATA)
    if all(c == NO_DATA for c in controls):
        return CareState.NO_READING
    return CareState.CONTROLLED if all(c == CONTROLLED for c in controls) else CareState.UNCONTROLLED


def _kinds_screened(patient: Patient, first: date, day: date) -> set[str]:
    """The screening kinds done in [first, day], a creatinine or UACR lab counting as an egfr or
    uacr screening (as pathways/measures.py `last_screening_date` counts them)."""
    kinds = {str(s.kind) for s in patient.screenings if first <= s.date <= day}
    for kind, analyte in LAB_AS_SCREENING.items():
        if any(first <= lab.date <= day and getattr(lab, analyte) is not None for lab in patient.labs):
            kinds.add(kind)
    return kinds


def _referrals(patient: Patient, start: date, last_day: date, end: date, return_days: int) -> tuple[int, int]:
    """(referrals made in the window whose closure is decided by the window end, of which closed).
    Closed: a return (`returned_on`) or a visit within `return_days` after the referral (inclusive).
    A referral still inside its `return_days` and not yet closed is left out: not yet failed."""
    made = closed = 0
    for ref in patient.referrals:
        if not start <= ref.date <= last_day:
            continue
        deadline = ref.date + timedelta(days=return_days)
        is_closed = (ref.returned_on is not None and ref.returned_on <= end) or any(
            ref.date < v.date <= min(deadline, end) for v in patient.visits
        )
        if is_closed or deadline <= end:
            made += 1
            closed += is_closed
    return made, closed


_READING_FIELDS = ("sbp", "dbp", "heart_rate", "fpg", "weight_kg", "waist_cm")
_readings = attrgetter(*_READING_FIELDS)
_by_date = attrgetter("date")


def _data_quality(patient: Patient, first: date, last: date, policy: QcPolicy) -> dict[str, int]:
    """Counts over the visits dated in the month [first, last]: plausibility of each value
    (policy.plausible), visits repeating the previous visit's readings, BP end digits, visits
    after death."""
    values = implausible = visits = copied = bp_digits = zero_five = after_death = 0
    ordered = sorted(patient.visits, key=_by_date)
    before = None  # the visit before, whose readings a copied visit repeats
    died = patient.deceased_on
    for visit in ordered:
        if visit.date < first:
            before = visit
            continue
        if visit.date > last:
            break
        readings = _readings(visit)
        visits += 1
        for name, (low, high) in policy.plausible.items():
            value = getattr(visit, name, None)
            if value is not None:
                values += 1
                implausible += not low <= value <= high
        if before is not None and sum(r is not None for r in readings) >= 2 and readings == _readings(before):
            copied += 1
        for value in (visit.sbp, visit.dbp):
            if value is not None:
                bp_digits += 1
                zero_five += value % 5 == 0
        if died is not None and visit.date > died:
            after_death += 1
        before = visit
    return dict(
        dq_values=values,
        dq_implausible=implausible,
        dq_visits=visits,
        dq_copied=copied,
        dq_bp_digits=bp_digits,
        dq_bp_zero_five=zero_five,
        dq_after_death=after_death,
    )


def _bp_control(visit: Any, age: int, policy: QcPolicy) -> str | None:
    """The public-health BP definition: below the elderly targets from `elderly_age` (age at the
    window end), else below the general ones; both SBP and DBP."""
    if visit is None:
        return None
    sbp_below, dbp_below = (
        (policy.elderly_sbp, policy.elderly_dbp)
        if age >= policy.elderly_age
        else (policy.bp_sbp, policy.bp_dbp)
    )
    return CONTROLLED if visit.sbp < sbp_below and visit.dbp < dbp_below else UNCONTROLLED


_READS = {"hypertension": ("sbp", "dbp"), "diabetes": ("fpg",), "dyslipidemia": ("ldl_c",)}


def _reading(record: Any, fields: Sequence[str]) -> str:
    if record is None:
        return ""
    values = "/".join(_num(getattr(record, f)) for f in fields)
    return f"{record.date.isoformat()} {values}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def category_shares(rows: Sequence[PatientMonth]) -> dict[str, int]:
    """Count of each care state among the rows of patients enrolled by the month end."""
    counts = dict.fromkeys((s.value for s in CARE_STATES), 0)
    for row in rows:
        if row.care_state is not None:
            counts[row.care_state] += 1
    return counts
