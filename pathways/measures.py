"""Derived measures: small pure functions over dates, visits and labs (pathway-defaults.md §1).

Everything here takes its dates as arguments (`as_of`, `on`); nothing reads the clock. Windows and
cut-offs arrive as arguments from the guideline set; the only numbers written here are published
formula coefficients (CKD-EPI) and unit conversions. pathways/facts.py composes these into the
base facts the rules read; engine/assess.py uses `add_months`, `latest_visit_date` and
`last_screening_date` to date follow-ups and screenings.

Conventions, each tested in tests/test_measures.py:

- A window "within N days of as_of" is inclusive at both ends: `as_of - N <= d <= as_of`.
  Records dated after `as_of` never count (a future visit is ignored here; store/ reports it).
- Records may come in any order. "Latest" is the greatest date; of two records on the same date
  the one listed later in the record wins (the later entry is taken as the correction).
  "Earliest" (baseline) is the least date; on a tie the one listed first.
- Rounding is half up on the value's shortest decimal form (`repr`), so 22.45 rounds to 22.5 as a
  clinician rounding by hand would; Python's round() gives 22.4 there (binary 22.4499…).
"""

from __future__ import annotations

import calendar as _calendar
import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import Any, Literal, NamedTuple, TypeVar

from pathways.models import Lab, Patient, Visit

T = TypeVar("T")

Sex = Literal["M", "F"]
EgfrEquation = Literal["ckd_epi_2021", "ckd_epi_2009"]

# Creatinine µmol/L → mg/dL (clinical-reference.md §7.2; some programs use 88.42).
CREATININE_UMOL_PER_MG_DL = 88.4

_TENTH = Decimal("0.1")
_HUNDREDTH = Decimal("0.01")


# ---- rounding -------------------------------------------------------------------------------


def round_half_up(value: float, places: int = 1) -> float:
    """`value` rounded half up (away from zero at .5) to `places` decimals, on its decimal form.

    round_half_up(22.45) == 22.5 (round() gives 22.4); round_half_up(-0.25) == -0.3.

    Why two paths: the decimal form costs a `Decimal` and a `repr` (some 1 µs), and a roster brings a
    new BMI or eGFR for a fifth of its patients. A value whose scaled float lies clearly between two
    halves rounds the same on its decimal form (that form is within half a unit in the last place
    of the float, far below the margin), so it is rounded in floats; a value near a half, a result
    of zero (whose sign the decimal form keeps) or anything large or not finite takes the decimal
    path. tests/test_measures.py holds the two to the same results."""
    number = float(value)
    if 0 <= places <= _FAST_PLACES:
        scale = _SCALES[places]
        scaled = number * scale
        if -_FAST_LIMIT < scaled < _FAST_LIMIT:  # (false for NaN)
            whole = math.floor(scaled + 0.5)
            if whole and abs(scaled - whole) < _FAST_MARGIN:  # not near a half, not zero
                return whole / scale  # the float nearest the decimal whole / 10^places, as float(Decimal)
    return _decimal_round_half_up(number, places)


def _decimal_round_half_up(number: float, places: int) -> float:
    """`round_half_up` on the decimal form, the definition."""
    quantum = _TENTH if places == 1 else Decimal(1).scaleb(-places)
    return float(Decimal(repr(number)).quantize(quantum, rounding=ROUND_HALF_UP))


# The fast path of `round_half_up`: scaled values below 10^6 (a float's error there is some 1e-10)
# at least 1e-6 off a half; `_SCALES[places]` is 10^places, exact in a float.
_FAST_PLACES = 6
_SCALES = tuple(float(10**p) for p in range(_FAST_PLACES + 1))
_FAST_LIMIT = 1e6
_FAST_MARGIN = 0.5 - 1e-6


def exact_difference(a: float, b: float) -> float:
    """a − b computed on the decimal forms, so 6.3 − 1.1 is 5.2 (float subtraction gives
    5.199999…, which would fall on the wrong side of a `gte: 5.2` threshold).

    Lab values have a few decimals: both as whole ten-thousandths (`_ten_thousandths`), the
    difference is those integers' difference over 10^4, which one float division gives exactly as
    the decimal form would (no `Decimal`, a third of the time). Otherwise, and for a zero result
    (whose sign the decimal form keeps), the decimal form."""
    a, b = float(a), float(b)
    ma, mb = _ten_thousandths(a), _ten_thousandths(b)
    if ma is not None and mb is not None and ma != mb:
        return (ma - mb) / 10000.0
    return float(Decimal(repr(a)) - Decimal(repr(b)))


def _ten_thousandths(x: float) -> int | None:
    """`x` as a whole number of ten-thousandths when its decimal form has at most four decimals and
    |x| < 10^9, else None. Exact: the int m nearest x·10^4 with m / 10^4 == x is a decimal of at most
    four decimals that reads back as x, and below 10^9 two such decimals are never one float (their
    distance, 10^-4, is far above the float's spacing), so it is x's decimal form."""
    if -1e9 < x < 1e9:  # (false for NaN and the infinities)
        m = round(x * 10000.0)
        if m / 10000.0 == x:
            return m
    return None


# ---- dates ----------------------------------------------------------------------------------


def age_years(birth: date, on: date) -> int:
    """Whole years from `birth` to `on` (the age goes up on the birthday itself).

    Someone born on 29 February turns a year older on 1 March in common years (their birthday
    has not yet come on 28 February); on 29 February in leap years."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def add_months(d: date, n: int) -> date:
    """`d` plus `n` calendar months (n may be negative); a day past the end of the target month
    becomes its last day: 2026-03-12 + 12 = 2027-03-12, 2024-02-29 + 12 = 2025-02-28,
    2026-01-31 + 1 = 2026-02-28."""
    months = d.year * 12 + (d.month - 1) + n
    year, month = divmod(months, 12)
    month += 1
    day = d.day
    if day > 28:  # every month has 28 days: only a later day needs the month's length
        day = min(day, _calendar.monthrange(year, month)[1])
    return date(year, month, day)


def within(d: date, as_of: date, days: int) -> bool:
    """True when `as_of - days <= d <= as_of` (both ends included; a later date is not within)."""
    return as_of - timedelta(days=days) <= d <= as_of


def days_between(earlier: date, later: date) -> int:
    """Whole days from `earlier` to `later` (negative if `earlier` is after `later`)."""
    return later.toordinal() - earlier.toordinal()


# ---- choosing records -----------------------------------------------------------------------


def newest_first(records: Iterable[T], as_of: date) -> list[T]:
    """Records dated on or before `as_of`, newest first; of one date the later-listed first.

    The one sort the fact computation does per list; the selectors below scan its result."""
    kept = oldest_first(records, as_of)
    kept.reverse()  # same-date records were in their listed order: now the later-listed comes first
    return kept


def oldest_first(records: Iterable[T], as_of: date) -> list[T]:
    """Records dated on or before `as_of`, oldest first; of one date in their listed order (so a
    dict filled from it in order holds the latest of each key, the later-listed of one date)."""
    kept = sorted(records, key=_by_date)  # stable: same-date records keep their listed order
    while kept and kept[-1].date > as_of:  # type: ignore[attr-defined]
        kept.pop()  # records after as_of are the last once sorted (mostly none: no Python loop)
    return kept


_by_date = attrgetter("date")  # the sort key of `newest_first` (in C: no Python call per record)


def _has(record: Any, needs: Sequence[str]) -> bool:
    # a plain loop, not all(<generator>): this runs millions of times per roster
    for name in needs:  # noqa: SIM110
        if getattr(record, name) is None:
            return False
    return True


def first_in_window(
    newest: Sequence[T], as_of: date, within_days: int | None, needs: Sequence[str] = ()
) -> T | None:
    """The first record of a newest-first list that carries every field in `needs` (not None)
    and lies within `within_days` of `as_of` (None: no window). Stops at the window's edge."""
    low = None if within_days is None else as_of - timedelta(days=within_days)
    for record in newest:
        if low is not None and record.date < low:  # type: ignore[attr-defined]
            return None
        if _has(record, needs):
            return record
    return None


def latest_visit(
    visits: Iterable[Visit], as_of: date, within_days: int | None = None, needs: Sequence[str] = ()
) -> Visit | None:
    """The latest visit on or before `as_of` carrying every field in `needs` (e.g. ("sbp", "dbp")),
    within `within_days` of `as_of` (inclusive) when given; None if there is none."""
    return first_in_window(newest_first(visits, as_of), as_of, within_days, needs)


def last_two(
    records: Iterable[T], as_of: date, within_days: int | None = None, needs: Sequence[str] = ()
) -> tuple[T | None, T | None]:
    """The latest two records carrying `needs`, each within `within_days` of `as_of` (inclusive):
    (latest, the one before). A slot is None when no such record lies in the window."""
    return last_two_of(newest_first(records, as_of), as_of, within_days, needs)


def last_two_of(
    newest: Sequence[T], as_of: date, within_days: int | None, needs: Sequence[str] = ()
) -> tuple[T | None, T | None]:
    """`last_two` over a list already in `newest_first` order."""
    low = None if within_days is None else as_of - timedelta(days=within_days)
    found: list[T] = []
    for record in newest:
        if low is not None and record.date < low:  # type: ignore[attr-defined]
            break
        if _has(record, needs):
            found.append(record)
            if len(found) == 2:
                break
    found.extend([None, None])  # type: ignore[list-item]
    return found[0], found[1]


def latest_lab_value(
    labs: Iterable[Lab], analyte: str, as_of: date, within_days: int | None = None
) -> float | None:
    """The value of `analyte` (a Lab field: "ldl_c", "creatinine" …) from the latest lab on or
    before `as_of` that carries it, within `within_days` (inclusive) when given."""
    lab = first_in_window(newest_first(labs, as_of), as_of, within_days, (analyte,))
    return None if lab is None else getattr(lab, analyte)


def baseline_lab_value(labs: Iterable[Lab], analyte: str, as_of: date) -> float | None:
    """The value of `analyte` from the earliest lab on record (on or before `as_of`) carrying it:
    the baseline for LDL-C reduction and risk stratification (pathway-defaults.md §1)."""
    lab = earliest_of(newest_first(labs, as_of), (analyte,))
    return None if lab is None else getattr(lab, analyte)


def earliest_of(newest: Sequence[T], needs: Sequence[str]) -> T | None:
    """The last record of a newest-first list carrying `needs`: the earliest (first listed on a tie)."""
    for record in reversed(newest):
        if _has(record, needs):
            return record
    return None


def latest_visit_date(patient: Patient, as_of: date) -> date | None:
    """Date of the latest visit on or before `as_of` (no window); None without one. Follow-ups
    are counted from it (pathway-defaults.md §6)."""
    best: date | None = None
    for visit in patient.visits:
        d = visit.date
        if d <= as_of and (best is None or d > best):
            best = d
    return best


def last_screening_date(patient: Patient, kind: str, as_of: date) -> date | None:
    """Date of the latest screening of `kind` on or before `as_of`, None if never done.

    A creatinine lab counts as an `egfr` screening and a uacr lab as a `uacr` screening on its
    date (pathway-defaults.md §1); the later of lab and screening record wins."""
    kind = str(kind)
    best: date | None = None
    for screening in patient.screenings:
        d = screening.date
        if screening.kind == kind and d <= as_of and (best is None or d > best):
            best = d
    analyte = LAB_AS_SCREENING.get(kind)
    if analyte is not None:
        for lab in patient.labs:
            d = lab.date
            if d <= as_of and getattr(lab, analyte) is not None and (best is None or d > best):
                best = d
    return best


# Which lab field stands for which screening kind.
LAB_AS_SCREENING = {"egfr": "creatinine", "uacr": "uacr"}


# ---- formulas -------------------------------------------------------------------------------


class _CkdEpi(NamedTuple):
    """The published coefficients of one CKD-EPI creatinine equation (kappa and alpha by sex)."""

    base: float
    kappa: dict[str, float]
    alpha: dict[str, float]
    high_exp: float
    age_factor: float
    female: float


# Module constants, not arguments built per call: an eGFR is computed for most patients of a roster
_CKD_EPI_2021 = _CkdEpi(142.0, {"F": 0.7, "M": 0.9}, {"F": -0.241, "M": -0.302}, -1.200, 0.9938, 1.012)
_CKD_EPI_2009 = _CkdEpi(141.0, {"F": 0.7, "M": 0.9}, {"F": -0.329, "M": -0.411}, -1.209, 0.993, 1.018)


def _ckd_epi(scr_umol: float, age: int, sex: str, c: _CkdEpi) -> float:
    if scr_umol <= 0:
        raise ValueError(f"creatinine must be positive, got {scr_umol} µmol/L")
    ratio = (scr_umol / CREATININE_UMOL_PER_MG_DL) / c.kappa[sex]
    value = c.base * min(ratio, 1.0) ** c.alpha[sex] * max(ratio, 1.0) ** c.high_exp * c.age_factor**age
    return value * c.female if sex == "F" else value


def egfr_ckd_epi_2021(scr_umol: float, age: int, sex: str) -> float:
    """eGFR in mL/min/1.73 m² by the race-free CKD-EPI 2021 creatinine equation (Inker 2021;
    clinical-reference.md §7.1). `scr_umol` serum creatinine in µmol/L (÷ 88.4 → mg/dL), `age`
    whole years at the date of the result, `sex` "M"/"F". Full precision: see `egfr`."""
    return _ckd_epi(scr_umol, age, str(sex), _CKD_EPI_2021)


def egfr_ckd_epi_2009(scr_umol: float, age: int, sex: str) -> float:
    """eGFR in mL/min/1.73 m² by the CKD-EPI 2009 creatinine equation (Levey 2009), race factor 1
    (clinical-reference.md §7.1). Arguments as for `egfr_ckd_epi_2021`."""
    return _ckd_epi(scr_umol, age, str(sex), _CKD_EPI_2009)


EGFR_EQUATIONS = {"ckd_epi_2021": egfr_ckd_epi_2021, "ckd_epi_2009": egfr_ckd_epi_2009}
_EGFR_COEFFICIENTS = {"ckd_epi_2021": _CKD_EPI_2021, "ckd_epi_2009": _CKD_EPI_2009}


def egfr(scr_umol: float, age: int, sex: str, equation: str = "ckd_epi_2021") -> float:
    """eGFR rounded half up to one decimal, the value reported and staged (clinical-reference
    §7.2). `equation` is the guideline parameter `egfr_equation`; an unknown name is a KeyError.
    (`EGFR_EQUATIONS[equation]`, one call less: this runs for most patients.)"""
    return round_half_up(_ckd_epi(scr_umol, age, str(sex), _EGFR_COEFFICIENTS[equation]), 1)


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body-mass index in kg/m², rounded half up to one decimal (WS/T 428 categories are read on
    the one-decimal value, e.g. 24.0 is overweight)."""
    if height_cm <= 0:
        raise ValueError(f"height must be positive, got {height_cm} cm")
    metres = height_cm / 100.0
    return round_half_up(weight_kg / (metres * metres), 1)


def non_hdl_c(tc: float | None, hdl_c: float | None) -> float | None:
    """Non-HDL cholesterol in mmol/L: TC − HDL-C (exact on the decimal values); None if either
    is missing."""
    if tc is None or hdl_c is None:
        return None
    return exact_difference(tc, hdl_c)


def ldl_reduction_pct(baseline: float | None, latest: float | None) -> float | None:
    """Fall of LDL-C from `baseline` to `latest` in percent of the baseline, rounded half up to
    two decimals (so an exact halving is 50.0, never 49.999…); negative when LDL-C rose.
    None if either value is missing or the baseline is not positive."""
    if baseline is None or latest is None or baseline <= 0:
        return None
    mb, ml = _ten_thousandths(float(baseline)), _ten_thousandths(float(latest))
    if mb is not None and ml is not None:
        # both as whole ten-thousandths: the fall in hundredths of a percent is the fraction
        # (mb - ml) * 10^4 / mb, rounded half up exactly in integers. The decimal path rounds the
        # quotient to 28 digits first, which never moves it across a half: a quotient that is not a
        # half is at least 1 / (2 mb) away from one, far more than 28 digits can move it.
        num = (mb - ml) * 10000
        hundredths = (2 * abs(num) + mb) // (2 * mb)
        if hundredths:  # (zero: the decimal form keeps the sign of a small rise)
            return (hundredths if num > 0 else -hundredths) / 100.0
    b = Decimal(repr(float(baseline)))
    fall = (b - Decimal(repr(float(latest)))) * 100 / b
    return float(fall.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP))
