"""The per-patient-month state (pathways/monthly.py) and the indicators counted from it
(reports/indicators.py), on small literal rosters whose values are worked out by hand here."""

from __future__ import annotations

from datetime import date

import pytest

from guidelines.loader import load_set
from pathways.models import Patient
from pathways.monthly import (
    CARE_STATES,
    CareFacts,
    MonthEnd,
    QcPolicy,
    Window,
    build_patient_month,
    category_shares,
    window_bounds,
)
from reports.indicators import ALL, Tally, explain, indicators, rate

MONTH = "2026-11"


@pytest.fixture(scope="module")
def policy() -> QcPolicy:
    gset = load_set("national-default")
    params = {name: p.value for name, p in gset.parameters.items()}
    return QcPolicy.from_params(params, {"sbp": (50, 300), "dbp": (20, 200), "fpg": (1.0, 50.0)})


def patient(pid: str, visits=(), **fields) -> Patient:
    base = dict(
        patient_id=pid,
        sex="F",
        birth_date="1970-06-01",
        conditions=["hypertension"],
        enrolled_on="2020-01-01",
        team="一队",
        institution="甲卫生院",
        visits=[dict(zip(("date", "sbp", "dbp", "fpg"), v, strict=False)) for v in visits],
    )
    base.update(fields)
    return Patient.model_validate(base)


BLUE = MonthEnd(color="blue", tier="village", ldl_control="no_data", eligible={})
ON_TIME = CareFacts(follow_up="done", overdue=False, lost=False)


def row(
    p: Patient, policy: QcPolicy, month: str = MONTH, window: Window = Window.YTD, state=BLUE, care=ON_TIME
):
    return build_patient_month(p, month, policy, state, care, window)


# P1: 66 at the window end (elderly target <150/90), four visits this year: standard, controlled.
P1 = patient(
    "P1",
    birth_date="1960-01-01",
    visits=[
        ("2026-02-10", 148, 88),
        ("2026-05-10", 150, 90),
        ("2026-08-10", 152, 92),
        ("2026-11-10", 148, 86),
    ],
)
# P2: enrolled mid-year, two visits: not standard (needs ceil(11/3) = 4), latest 138/85 controlled.
P2 = patient("P2", enrolled_on="2026-07-15", visits=[("2026-08-01", 150, 95), ("2026-10-01", 138, 85)])
# P3: died in April: still in this year's denominator, latest reading 160/100 uncontrolled.
P3 = patient("P3", deceased_on="2026-04-01", visits=[("2026-02-01", 160, 100)])
# P4: moved out before the window began: not managed.
P4 = patient("P4", moved_out_on="2025-12-15", visits=[("2025-11-01", 130, 80)])
# P5: hypertension and diabetes, last reading in 2025: no reading in the window.
P5 = patient("P5", conditions=["hypertension", "diabetes"], visits=[("2025-10-01", 130, 80, 6.0)])
# P6: 34 at the window end: not counted.
P6 = patient("P6", birth_date="1992-12-01", visits=[("2026-11-01", 130, 80)])
ROSTER = (P1, P2, P3, P4, P5, P6)


def tally(policy, patients=ROSTER, month=MONTH, window=Window.YTD) -> Tally:
    t = Tally(indicators())
    for p in patients:
        t.add(row(p, policy, month, window), None)
    return t


def test_the_year_to_date_window_of_november_is_january_to_november_30(policy):
    assert window_bounds(MONTH, Window.YTD) == (date(2026, 1, 1), date(2026, 11, 30), 11)
    assert window_bounds(MONTH, Window.ROLLING12) == (date(2025, 12, 1), date(2026, 11, 30), 12)


def test_managed_count_keeps_the_dead_of_this_year_and_drops_the_young_and_the_moved_before(policy):
    rows = {p.patient_id: row(p, policy) for p in ROSTER}
    assert [pid for pid, r in rows.items() if r.managed] == ["P1", "P2", "P3", "P5"]
    assert tally(policy).get(MONTH, ALL, "M01") == (4, 4)


def test_bp_control_counts_no_reading_in_the_window_as_not_controlled(policy):
    # numerator P1 (148/86 <150/90 at 66) and P2 (138/85); denominator P1, P2, P3, P5
    num, den = tally(policy).get(MONTH, ALL, "H02")
    assert (num, den) == (2, 4)
    assert explain(indicators()[7], num, den) == "H02 血压控制率 = 分子/分母 = 2/4 = 50.0 %"
    assert row(P5, policy).bp == "no_data"
    assert row(P3, policy).bp == "uncontrolled"


def test_the_elderly_public_health_target_is_150_90_whatever_the_clinical_one(policy):
    assert row(P1, policy).bp == "controlled"  # 148/86 at 66
    younger = patient("Y", visits=[("2026-11-10", 148, 86)])
    assert row(younger, policy).bp == "uncontrolled"  # 148/86 at 56


def test_standard_management_needs_a_visit_per_three_months_of_the_window(policy):
    rows = {p.patient_id: row(p, policy) for p in (P1, P2)}
    assert rows["P1"].visits_required == 4 and rows["P1"].standard
    assert rows["P2"].visits_window == 2 and not rows["P2"].standard
    assert tally(policy).get(MONTH, ALL, "H01") == (1, 4)


def test_glucose_control_of_a_diabetic_without_a_reading_this_year_is_zero_of_one(policy):
    assert tally(policy).get(MONTH, ALL, "D02") == (0, 1)


def test_at_the_year_boundary_last_years_readings_no_longer_count(policy):
    january = row(P1, policy, "2027-01")
    assert (january.bp, january.visits_required, january.visits_window) == ("no_data", 1, 0)
    # P3 died in April 2026: out of the 2027 denominator
    assert not row(P3, policy, "2027-01").managed
    rolling = row(P1, policy, "2027-01", Window.ROLLING12)
    assert (rolling.bp, rolling.visits_window, rolling.visits_required) == ("controlled", 4, 4)


def test_care_states_sum_to_every_enrolled_patient(policy):
    lost = CareFacts(follow_up="lost", overdue=True, lost=True)
    rows = [
        row(P1, policy),
        row(P2, policy),
        row(P3, policy),
        row(P4, policy),
        row(P5, policy),
        row(P6, policy),
        row(patient("L", visits=[("2025-06-01", 130, 80)]), policy, care=lost),
    ]
    shares = category_shares(rows)
    assert sum(shares.values()) == len(rows)
    assert shares == {
        "died": 1,
        "moved_out": 1,
        "new": 0,
        "lost": 1,
        "no_reading": 1,
        "controlled": 3,
        "uncontrolled": 0,
    }
    t = Tally(indicators())
    for r in rows:
        t.add(r, None)
    care = [i.code for i in t.inds if i.group == "care"]
    assert len(care) == len(CARE_STATES)
    assert sum(t.get(MONTH, ALL, c)[0] for c in care) == t.get(MONTH, ALL, care[0])[1] == len(rows)
    assert sum(rate(*t.get(MONTH, ALL, c)) for c in care) == pytest.approx(100, abs=0.3)


def test_a_patient_enrolled_in_the_last_three_months_is_new(policy):
    new = patient("N", enrolled_on="2026-09-20", visits=[("2026-10-01", 130, 80)])
    assert row(new, policy).care_state == "new"


def test_screening_rate_counts_eligible_patients_screened_in_the_last_365_days(policy):
    eligible = MonthEnd(
        color="yellow",
        tier="township",
        ldl_control="no_data",
        eligible={"chd": ("ecg",), "kidney": ("uacr", "egfr")},
    )
    done = patient(
        "S",
        visits=[("2026-11-10", 130, 80)],
        screenings=[
            {"date": "2025-12-01", "kind": "ecg", "result": "normal"},
            {"date": "2026-03-01", "kind": "uacr", "result": "normal"},
        ],
    )
    r = row(done, policy, state=eligible)
    # ECG 364 days ago counts; kidney needs both items and eGFR was never done
    assert r.screenings == (("chd", True), ("kidney", False))
    old = row(done, policy, "2026-12", state=eligible)  # 2025-12-01 is 395 days before 2026-12-31
    assert old.screenings == (("chd", False), ("kidney", False))


def test_a_creatinine_or_uacr_lab_counts_as_the_kidney_screening_and_a_lab_after_death_does_not(policy):
    eligible = MonthEnd(
        color="yellow", tier="township", ldl_control="no_data", eligible={"kidney": ("uacr", "egfr")}
    )
    labs = [
        {"date": "2025-12-01", "creatinine": 80},  # egfr, 395 days before 2026-12-31
        {"date": "2026-06-01", "uacr": 12},
        {"date": "2026-12-05", "creatinine": 75, "ldl_c": None},
    ]
    p = patient("L", visits=[("2026-11-10", 130, 80)], labs=labs)
    assert row(p, policy, "2026-11", state=eligible).screenings == (("kidney", True),)  # 2025-12-01 counts
    assert row(p, policy, "2026-12", state=eligible).screenings == (("kidney", True),)  # 2026-12-05 does
    died = patient("D", visits=[("2026-11-10", 130, 80)], labs=labs[1:], deceased_on="2026-12-01")
    # the last managed day is 11-30: the December creatinine is after it, so no eGFR
    assert row(died, policy, "2026-12", state=eligible).screenings == (("kidney", False),)
    no_egfr = patient("E", visits=[("2026-11-10", 130, 80)], labs=labs[1:2])
    assert row(no_egfr, policy, "2026-11", state=eligible).screenings == (("kidney", False),)


def test_a_referral_is_closed_by_a_visit_within_14_days_and_a_pending_one_is_not_counted(policy):
    p = patient(
        "R",
        visits=[("2026-03-10", 150, 95), ("2026-06-20", 150, 95)],
        referrals=[
            {"date": "2026-03-01", "to": "县医院"},  # visit 9 days later: closed
            {"date": "2026-06-01", "to": "县医院"},  # visit 19 days later: open
            {"date": "2026-11-25", "to": "县医院"},
        ],
    )  # deadline after Nov 30
    r = row(p, policy)
    assert (r.referrals, r.referrals_closed) == (2, 1)


def test_data_quality_counts_copied_visits_end_digits_and_visits_after_death(policy):
    p = patient(
        "Q",
        deceased_on="2026-11-05",
        visits=[("2026-10-01", 145, 85, 6.1), ("2026-11-02", 145, 85, 6.1), ("2026-11-20", 400, 85)],
    )
    r = row(p, policy)
    assert (r.dq_visits, r.dq_copied, r.dq_after_death, r.dq_implausible) == (2, 1, 1, 1)
    assert (r.dq_bp_digits, r.dq_bp_zero_five) == (4, 4)


def test_colour_transitions_count_patients_whose_colour_changed_since_last_month(policy):
    t = Tally(indicators())
    before = row(P1, policy, "2026-10")
    after = row(P1, policy, state=MonthEnd(color="red", tier="county", ldl_control="no_data", eligible={}))
    t.add(after, before)
    assert t.get(MONTH, ALL, "C04") == (1, 1)
    assert t.get(MONTH, ALL, "C01") == (1, 1)


def test_every_indicator_has_a_unique_code_and_names_in_both_languages():
    inds = indicators([("chd", "冠心病", "CHD"), ("stroke", "脑卒中", "stroke")])
    codes = [i.code for i in inds]
    assert len(codes) == len(set(codes))
    assert all(i.zh and i.en and i.clause for i in inds)


def test_a_scopes_vector_holds_every_indicators_sums_in_order_and_zeros_for_an_unknown_scope(policy):
    t = Tally(indicators())
    for p in (P1, P2, P3, P4):
        t.add(row(p, policy), None)
    inst = ("甲卫生院", "")
    vec = t.vector(MONTH, inst)
    assert [(vec[2 * i], vec[2 * i + 1]) for i in range(len(t.inds))] == [
        t.get(MONTH, inst, ind.code) for ind in t.inds
    ]
    assert t.get(MONTH, inst, "M01") == (3, 3)  # P4 moved out before the window
    assert t.vector(MONTH, ("乙卫生院", "")) == [0] * (2 * len(t.inds))
