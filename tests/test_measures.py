"""pathways/measures.py: dates, windows, record selection and the published formulas."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathways.measures import (
    _decimal_round_half_up,
    add_months,
    age_years,
    baseline_lab_value,
    bmi,
    egfr,
    egfr_ckd_epi_2009,
    egfr_ckd_epi_2021,
    exact_difference,
    last_screening_date,
    last_two,
    latest_lab_value,
    latest_visit,
    latest_visit_date,
    ldl_reduction_pct,
    newest_first,
    non_hdl_c,
    oldest_first,
    round_half_up,
    within,
)
from pathways.models import Lab, Patient, Screening, Visit

AS_OF = date(2026, 11, 30)


def visit(d: str, **fields) -> Visit:
    return Visit(date=date.fromisoformat(d), **fields)


def lab(d: str, **fields) -> Lab:
    return Lab(date=date.fromisoformat(d), **fields)


def patient(**fields) -> Patient:
    base = {
        "patient_id": "p1",
        "sex": "F",
        "birth_date": date(1960, 5, 1),
        "conditions": ("hypertension",),
        "enrolled_on": date(2023, 1, 1),
    }
    return Patient(**(base | fields))


# ---- age ------------------------------------------------------------------------------------


def test_age_is_one_less_the_day_before_the_birthday():
    assert age_years(date(1960, 5, 1), date(2026, 4, 30)) == 65


def test_age_goes_up_on_the_birthday_itself():
    assert age_years(date(1960, 5, 1), date(2026, 5, 1)) == 66


def test_age_on_the_day_of_birth_is_zero():
    assert age_years(date(1960, 5, 1), date(1960, 5, 1)) == 0


def test_a_29_february_birthday_is_not_reached_on_28_february_of_a_common_year():
    assert age_years(date(1960, 2, 29), date(2027, 2, 28)) == 66


def test_a_29_february_birthday_is_reached_on_1_march_of_a_common_year():
    assert age_years(date(1960, 2, 29), date(2027, 3, 1)) == 67


def test_a_29_february_birthday_is_reached_on_29_february_of_a_leap_year():
    assert age_years(date(1960, 2, 29), date(2028, 2, 28)) == 67
    assert age_years(date(1960, 2, 29), date(2028, 2, 29)) == 68


# ---- calendar months ------------------------------------------------------------------------


def test_twelve_months_after_12_march_is_12_march_next_year():
    assert add_months(date(2026, 3, 12), 12) == date(2027, 3, 12)


def test_twelve_months_after_29_february_is_28_february():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_one_month_after_31_january_is_the_last_day_of_february():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)


def test_six_months_after_31_august_is_28_february():
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


def test_adding_months_crosses_the_year_end_and_can_go_back():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), -1) == date(2025, 12, 15)


# ---- windows --------------------------------------------------------------------------------


def test_window_includes_its_first_day_and_excludes_the_day_before():
    assert within(date(2026, 9, 1), AS_OF, 90)  # 2026-11-30 − 90 days
    assert not within(date(2026, 8, 31), AS_OF, 90)


def test_window_includes_as_of_and_excludes_the_day_after():
    assert within(AS_OF, AS_OF, 90)
    assert not within(date(2026, 12, 1), AS_OF, 90)


def test_zero_day_window_is_as_of_alone():
    assert within(AS_OF, AS_OF, 0)
    assert not within(date(2026, 11, 29), AS_OF, 0)


# ---- latest visit ---------------------------------------------------------------------------


def test_latest_visit_is_the_most_recent_whatever_the_listed_order():
    visits = [
        visit("2026-10-01", sbp=150, dbp=90),
        visit("2026-11-20", sbp=130, dbp=80),
        visit("2026-06-01", sbp=170, dbp=100),
    ]
    assert latest_visit(visits, AS_OF).date == date(2026, 11, 20)


def test_latest_visit_ignores_visits_after_as_of():
    visits = [visit("2026-11-20", sbp=130, dbp=80), visit("2026-12-05", sbp=190, dbp=120)]
    assert latest_visit(visits, AS_OF).date == date(2026, 11, 20)


def test_of_two_visits_on_one_date_the_later_listed_counts_as_latest():
    visits = [visit("2026-11-20", sbp=150, dbp=95), visit("2026-11-20", sbp=132, dbp=82)]
    assert latest_visit(visits, AS_OF).sbp == 132


def test_oldest_first_keeps_the_listed_order_within_a_date_and_leaves_out_records_after_as_of():
    a, b, c = visit("2026-05-01", sbp=1), visit("2026-03-01", sbp=2), visit("2026-05-01", sbp=3)
    later = visit("2026-12-01", sbp=4)
    assert [v.sbp for v in oldest_first([later, a, b, later, c], AS_OF)] == [2, 1, 3]
    assert [v.sbp for v in newest_first([later, a, b, later, c], AS_OF)] == [3, 1, 2]
    assert oldest_first([later], AS_OF) == [] and oldest_first([], AS_OF) == []


def test_latest_visit_carrying_bp_skips_a_later_visit_without_both_readings():
    visits = [
        visit("2026-10-01", sbp=150, dbp=90),
        visit("2026-11-20", sbp=130),
        visit("2026-11-25", fpg=6.1),
    ]
    assert latest_visit(visits, AS_OF, 90, ("sbp", "dbp")).date == date(2026, 10, 1)


def test_latest_visit_carrying_bp_on_the_first_day_of_the_window_counts():
    assert latest_visit([visit("2026-09-01", sbp=150, dbp=90)], AS_OF, 90, ("sbp", "dbp")) is not None


def test_latest_visit_carrying_bp_one_day_before_the_window_is_none():
    assert latest_visit([visit("2026-08-31", sbp=150, dbp=90)], AS_OF, 90, ("sbp", "dbp")) is None


def test_no_visits_gives_no_latest_visit():
    assert latest_visit([], AS_OF, 90) is None
    assert latest_visit_date(patient(), AS_OF) is None


def test_latest_visit_date_ignores_future_visits_and_has_no_window():
    p = patient(visits=(visit("2024-01-05"), visit("2025-03-01"), visit("2027-01-01")))
    assert latest_visit_date(p, AS_OF) == date(2025, 3, 1)


# ---- last two readings ----------------------------------------------------------------------


def test_last_two_readings_are_the_latest_pair_carrying_the_measure():
    visits = [
        visit("2026-06-10", fpg=8.0),
        visit("2026-09-10", fpg=7.5),
        visit("2026-10-10"),
        visit("2026-11-10", fpg=7.1),
    ]
    first, second = last_two(visits, AS_OF, 180, ("fpg",))
    assert (first.fpg, second.fpg) == (7.1, 7.5)


def test_second_reading_on_the_first_day_of_the_consecutive_window_counts():
    visits = [visit("2026-06-03", sbp=150, dbp=95), visit("2026-11-01", sbp=152, dbp=96)]  # 180 days before
    first, second = last_two(visits, AS_OF, 180, ("sbp", "dbp"))
    assert first.date == date(2026, 11, 1)
    assert second.date == date(2026, 6, 3)


def test_second_reading_one_day_before_the_consecutive_window_is_none():
    visits = [visit("2026-06-02", sbp=150, dbp=95), visit("2026-11-01", sbp=152, dbp=96)]
    first, second = last_two(visits, AS_OF, 180, ("sbp", "dbp"))
    assert first.date == date(2026, 11, 1)
    assert second is None


def test_last_two_with_nothing_in_the_window_are_both_none():
    assert last_two([visit("2025-01-01", sbp=150, dbp=95)], AS_OF, 180, ("sbp", "dbp")) == (None, None)


# ---- labs -----------------------------------------------------------------------------------


def test_latest_lab_value_skips_labs_without_that_analyte():
    labs = [lab("2026-03-01", ldl_c=3.1), lab("2026-09-01", hba1c=7.2)]
    assert latest_lab_value(labs, "ldl_c", AS_OF, 365) == 3.1


def test_latest_lab_on_the_first_day_of_the_lab_window_counts_and_the_day_before_does_not():
    assert latest_lab_value([lab("2025-11-30", ldl_c=3.1)], "ldl_c", AS_OF, 365) == 3.1
    assert latest_lab_value([lab("2025-11-29", ldl_c=3.1)], "ldl_c", AS_OF, 365) is None


def test_baseline_is_the_earliest_value_on_record_and_latest_the_most_recent():
    labs = [lab("2026-06-01", ldl_c=2.4), lab("2019-02-01", ldl_c=4.6), lab("2023-05-01", ldl_c=3.0)]
    assert baseline_lab_value(labs, "ldl_c", AS_OF) == 4.6
    assert latest_lab_value(labs, "ldl_c", AS_OF, 365) == 2.4


def test_baseline_ignores_labs_after_as_of():
    labs = [lab("2026-06-01", ldl_c=2.4)]
    assert baseline_lab_value(labs, "ldl_c", date(2026, 5, 31)) is None


def test_missing_lab_gives_none():
    assert latest_lab_value([], "creatinine", AS_OF, 365) is None
    assert baseline_lab_value([], "tc", AS_OF) is None


# ---- screenings -----------------------------------------------------------------------------


def test_a_later_creatinine_lab_counts_as_the_latest_egfr_screening():
    p = patient(
        screenings=(Screening(date=date(2025, 6, 1), kind="egfr", result="normal"),),
        labs=(lab("2026-02-01", creatinine=80),),
    )
    assert last_screening_date(p, "egfr", AS_OF) == date(2026, 2, 1)


def test_a_later_egfr_screening_record_wins_over_an_earlier_creatinine_lab():
    p = patient(
        screenings=(Screening(date=date(2026, 6, 1), kind="egfr", result="normal"),),
        labs=(lab("2026-02-01", creatinine=80),),
    )
    assert last_screening_date(p, "egfr", AS_OF) == date(2026, 6, 1)


def test_a_uacr_lab_counts_as_a_uacr_screening_but_not_as_an_egfr_one():
    p = patient(labs=(lab("2026-02-01", uacr=12),))
    assert last_screening_date(p, "uacr", AS_OF) == date(2026, 2, 1)
    assert last_screening_date(p, "egfr", AS_OF) is None


def test_labs_do_not_count_as_other_screenings_and_future_records_do_not_count():
    p = patient(
        screenings=(Screening(date=date(2027, 1, 1), kind="ecg", result="normal"),),
        labs=(lab("2026-02-01", creatinine=80, uacr=12, ldl_c=3.0),),
    )
    assert last_screening_date(p, "ecg", AS_OF) is None
    assert last_screening_date(p, "fundus", AS_OF) is None


# ---- eGFR (clinical-reference.md §7.3 worked examples) --------------------------------------

WORKED = [  # id, sex, age, Scr µmol/L, CKD-EPI 2021, CKD-EPI 2009
    ("A", "M", 60, 98, 76.1, 71.9),
    ("B", "F", 72, 55, 94.5, 90.0),
    ("C", "F", 66, 110, 47.8, 45.0),
    ("D", "M", 48, 160, 45.6, 43.2),
]


@pytest.mark.parametrize(
    ("example", "sex", "age", "scr", "expected", "_"), WORKED, ids=[w[0] for w in WORKED]
)
def test_ckd_epi_2021_matches_the_worked_example(example, sex, age, scr, expected, _):
    assert egfr(scr, age, sex, "ckd_epi_2021") == expected


@pytest.mark.parametrize(
    ("example", "sex", "age", "scr", "_", "expected"), WORKED, ids=[w[0] for w in WORKED]
)
def test_ckd_epi_2009_matches_the_worked_example(example, sex, age, scr, _, expected):
    assert egfr(scr, age, sex, "ckd_epi_2009") == expected


def test_ckd_epi_2021_unrounded_matches_the_debugging_factors():
    assert egfr_ckd_epi_2021(98, 60, "M") == pytest.approx(76.136, abs=5e-4)
    assert egfr_ckd_epi_2021(55, 72, "F") == pytest.approx(94.478, abs=5e-4)
    assert egfr_ckd_epi_2021(110, 66, "F") == pytest.approx(47.796, abs=5e-4)
    assert egfr_ckd_epi_2021(160, 48, "M") == pytest.approx(45.554, abs=5e-4)


def test_ckd_epi_2009_example_b_is_just_under_90_and_reports_as_90_0():
    assert egfr_ckd_epi_2009(55, 72, "F") == pytest.approx(89.98, abs=5e-3)
    assert egfr_ckd_epi_2009(55, 72, "F") < 90
    assert egfr(55, 72, "F", "ckd_epi_2009") == 90.0


def test_egfr_women_get_the_female_factor():
    # Same creatinine ratio to κ and age: only the sex factor differs.
    male = egfr_ckd_epi_2021(0.9 * 88.4, 50, "M")
    female = egfr_ckd_epi_2021(0.7 * 88.4, 50, "F")
    assert female / male == pytest.approx(1.012)


def test_egfr_unknown_equation_is_refused():
    with pytest.raises(KeyError):
        egfr(98, 60, "M", "mdrd")


def test_egfr_non_positive_creatinine_is_refused():
    with pytest.raises(ValueError, match="creatinine must be positive"):
        egfr_ckd_epi_2021(0, 60, "M")


# ---- rounding, BMI, lipids ------------------------------------------------------------------


def test_rounding_is_half_up_on_the_decimal_value_not_bankers_on_the_binary_one():
    assert round(22.45, 1) == 22.4  # what Python's round() does: why we do not use it
    assert round_half_up(22.45) == 22.5
    assert round_half_up(22.44) == 22.4
    assert round_half_up(0.25) == 0.3
    assert round_half_up(-0.25) == -0.3


def test_bmi_is_weight_over_height_squared_to_one_decimal():
    assert bmi(72.5, 168) == 25.7  # 25.6873…
    assert bmi(22.45, 100) == 22.5  # exactly on a half: up


def test_bmi_just_below_a_cut_off_rounds_onto_it():
    # 65.2 / 1.65² = 23.948… → 23.9; 65.3 / 1.65² = 23.985… → 24.0 (the overweight cut-off)
    assert bmi(65.2, 165) == 23.9
    assert bmi(65.3, 165) == 24.0


def test_bmi_refuses_a_zero_height():
    with pytest.raises(ValueError, match="height must be positive"):
        bmi(70, 0)


def test_non_hdl_c_is_exact_on_the_decimal_values():
    assert 6.3 - 1.1 < 5.2  # float subtraction falls below the 5.2 threshold
    assert non_hdl_c(6.3, 1.1) == 5.2
    assert exact_difference(5.9, 0.9) == 5.0


def test_non_hdl_c_without_either_value_is_none():
    assert non_hdl_c(None, 1.1) is None
    assert non_hdl_c(5.0, None) is None


def test_ldl_reduction_of_an_exact_halving_is_exactly_50():
    assert ldl_reduction_pct(3.6, 1.8) == 50.0
    assert ldl_reduction_pct(3.0, 1.49) == 50.33
    assert ldl_reduction_pct(3.0, 1.51) == 49.67


def test_ldl_reduction_is_negative_when_ldl_rose_and_none_without_values():
    assert ldl_reduction_pct(2.0, 2.5) == -25.0
    assert ldl_reduction_pct(None, 2.5) is None
    assert ldl_reduction_pct(2.0, None) is None
    assert ldl_reduction_pct(0.0, 1.0) is None


# ---- invariants (Hypothesis) ----------------------------------------------------------------

DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=300, derandomize=True)
@given(birth=DATES, on=DATES)
def test_age_never_falls_as_the_date_advances_and_goes_up_by_one_a_year_later(birth, on):
    if on < birth or on.year >= 2100:
        return
    age = age_years(birth, on)
    assert age >= 0
    assert age_years(birth, on + timedelta(days=1)) >= age
    assert age_years(birth, add_months(on, 12)) == age + 1 or (birth.month, birth.day) == (2, 29)


@settings(max_examples=300, derandomize=True)
@given(d=DATES, n=st.integers(min_value=-240, max_value=240))
def test_adding_months_lands_n_months_on_never_past_the_original_day(d, n):
    if not date(1921, 1, 1) <= d <= date(2079, 12, 31):
        return
    moved = add_months(d, n)
    assert (moved.year * 12 + moved.month) - (d.year * 12 + d.month) == n
    assert moved.day <= d.day
    assert moved.day == d.day or add_months(moved, 0) == moved and (moved + timedelta(days=1)).day == 1


@settings(max_examples=300, derandomize=True)
@given(d=DATES, as_of=DATES, days=st.integers(min_value=0, max_value=3650))
def test_within_is_exactly_the_inclusive_day_count(d, as_of, days):
    assert within(d, as_of, days) == (0 <= (as_of - d).days <= days)


# The float fast paths of round_half_up, exact_difference and ldl_reduction_pct give what the
# decimal definitions give, bit for bit (the sign of a zero included: JSON writes -0.0 apart).
def _decimal_difference(a: float, b: float) -> float:
    return float(Decimal(repr(float(a))) - Decimal(repr(float(b))))


def _decimal_reduction(baseline: float, latest: float) -> float:
    b = Decimal(repr(float(baseline)))
    fall = (b - Decimal(repr(float(latest)))) * 100 / b
    return float(fall.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _same(x: float, y: float) -> bool:
    return repr(x) == repr(y)  # -0.0 and 0.0 differ; NaN equals NaN


def _outcome(fn, *args) -> str:
    """What `fn(*args)` gives, the sign of a zero included, or the error it raises."""
    try:
        return repr(fn(*args))
    except ArithmeticError as exc:  # a decimal too long for its context, NaN and the infinities
        return type(exc).__name__


_DECIMALS = st.integers(-2_000_000, 2_000_000).flatmap(
    lambda n: st.sampled_from([n / 10, n / 100, n / 1000, n / 10000, n / 100000])
)
_ANY_FLOAT = st.one_of(_DECIMALS, st.floats(allow_nan=True, allow_infinity=True), st.just(-0.0))


@settings(max_examples=3000)
@given(_ANY_FLOAT, st.integers(0, 3))
def test_round_half_up_gives_the_decimal_rounding_of_any_float(value, places):
    assert _outcome(round_half_up, value, places) == _outcome(_decimal_round_half_up, value, places)


def test_round_half_up_keeps_the_decimal_rounding_at_halves_small_values_and_zeros():
    for value, places, expected in [
        (22.45, 1, 22.5), (-22.45, 1, -22.5), (0.05, 1, 0.1), (-0.04, 1, -0.0), (0.04, 1, 0.0),
        (1.005, 2, 1.01), (2.675, 2, 2.68), (-0.0, 1, -0.0), (24.95, 1, 25.0), (1e7 + 0.05, 1, 1e7 + 0.1),
    ]:
        assert _same(round_half_up(value, places), expected), (value, places)
        assert _same(_decimal_round_half_up(value, places), expected), (value, places)


@settings(max_examples=3000)
@given(_ANY_FLOAT, _ANY_FLOAT)
def test_exact_difference_is_the_difference_of_the_decimal_forms(a, b):
    assert _outcome(exact_difference, a, b) == _outcome(_decimal_difference, a, b)


def test_exact_difference_keeps_signed_zeros_and_many_decimals():
    assert _same(exact_difference(-0.0, 0.0), -0.0)
    assert _same(exact_difference(1.1, 1.1), 0.0)
    assert exact_difference(6.3, 1.1) == 5.2
    assert exact_difference(0.123456, 0.1) == _decimal_difference(0.123456, 0.1)
    assert exact_difference(1e12 + 0.5, 0.25) == _decimal_difference(1e12 + 0.5, 0.25)


@settings(max_examples=3000)
@given(_ANY_FLOAT, _ANY_FLOAT)
def test_ldl_reduction_is_the_decimal_quotient_rounded_half_up(baseline, latest):
    if baseline > 0:  # (else None, tested above)
        assert _outcome(ldl_reduction_pct, baseline, latest) == _outcome(_decimal_reduction, baseline, latest)


def test_ldl_reduction_rounds_exact_halves_up_and_keeps_the_sign_of_a_small_rise():
    assert ldl_reduction_pct(2.0, 1.9999) == 0.01  # 0.005 %: a half, rounded up
    assert ldl_reduction_pct(2.0, 2.0001) == -0.01  # -0.005 %: away from zero
    assert _same(ldl_reduction_pct(3.0, 3.0001), -0.0)  # -0.0033 %: the decimal form's -0.00
    assert _same(ldl_reduction_pct(3.0, 3.0), 0.0)
    assert ldl_reduction_pct(3.0, 1.49) == 50.33
