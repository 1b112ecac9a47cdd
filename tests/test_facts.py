"""pathways/facts.py compute_facts: the base facts a rule reads (docs/guideline-language.md §4)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from pathways.errors import SangaoError
from pathways.facts import FACTS, compute_facts, last_screening_date, latest_visit_date
from pathways.measures import egfr
from pathways.models import HistoryItem, Lab, Patient, Screening, Visit
from pathways.vocab import FundusGrade, HistoryCode, ScreeningKind

AS_OF = date(2026, 11, 30)
PARAMS = {
    "control_window_days": 90,
    "consecutive_window_days": 180,
    "lab_window_days": 365,
    "egfr_equation": "ckd_epi_2021",
}
SYMPTOMS = frozenset({"chest_pain", "severe_headache", "dizziness"})


def d(text: str) -> date:
    return date.fromisoformat(text)


def patient(**fields) -> Patient:
    base = {
        "patient_id": "p1",
        "sex": "M",
        "birth_date": d("1958-03-02"),
        "conditions": ("hypertension", "diabetes"),
        "enrolled_on": d("2021-05-10"),
    }
    return Patient(**(base | fields))


def visits(*items: tuple[str, dict]) -> tuple[Visit, ...]:
    return tuple(Visit(date=d(day), **fields) for day, fields in items)


def labs(*items: tuple[str, dict]) -> tuple[Lab, ...]:
    return tuple(Lab(date=d(day), **fields) for day, fields in items)


def facts_of(p: Patient, as_of: date = AS_OF, **params) -> dict:
    return compute_facts(p, as_of, PARAMS | params, SYMPTOMS)


# ---- shape ----------------------------------------------------------------------------------


def test_facts_have_exactly_the_names_of_the_vocabulary():
    assert set(facts_of(patient())) == set(FACTS)


def test_a_patient_with_no_records_has_every_record_fact_null_and_no_history():
    f = facts_of(patient())
    assert f["age_years"] == 68
    assert f["sex"] == "M"
    assert (f["in_hypertension"], f["in_diabetes"], f["in_dyslipidemia"]) == (True, True, False)
    assert f["enrolled_days"] == (AS_OF - d("2021-05-10")).days
    assert all(f[f"history_{c.value}"] is False for c in HistoryCode)
    demographic = {"age_years", "sex", "in_hypertension", "in_diabetes", "in_dyslipidemia", "enrolled_days"}
    history = {f"history_{c.value}" for c in HistoryCode}
    assert {k for k, v in f.items() if v is not None} == demographic | history


def test_unknown_smoking_pregnancy_and_breastfeeding_stay_null_not_false():
    f = facts_of(patient())
    assert (f["smoker"], f["pregnant"], f["breastfeeding"]) == (None, None, None)
    f = facts_of(patient(sex="F", smoker=False, pregnant=True, breastfeeding=False))
    assert (f["smoker"], f["pregnant"], f["breastfeeding"]) == (False, True, False)


# ---- the latest visit -----------------------------------------------------------------------


def test_latest_visit_on_the_first_day_of_the_control_window_gives_visit_facts():
    p = patient(
        visits=visits(
            (
                "2026-09-01",
                {
                    "sbp": 182,
                    "dbp": 96,
                    "heart_rate": 101,
                    "fpg": 16.7,
                    "random_glucose": 12.0,
                    "temperature": 39.1,
                    "symptoms": ("chest_pain",),
                    "adverse_reaction": True,
                    "new_complication": False,
                },
            )
        )
    )
    f = facts_of(p)
    assert f["visit_days_ago"] == 90
    assert (f["visit_sbp"], f["visit_dbp"], f["visit_heart_rate"]) == (182, 96, 101)
    assert (f["visit_fpg"], f["visit_random_glucose"], f["visit_temperature"]) == (16.7, 12.0, 39.1)
    assert f["visit_symptoms"] == frozenset({"chest_pain"})
    assert (f["visit_adverse_reaction"], f["visit_new_complication"]) == (True, False)


def test_latest_visit_one_day_before_the_control_window_gives_only_its_age():
    p = patient(visits=visits(("2026-08-31", {"sbp": 182, "dbp": 96, "symptoms": ("chest_pain",)})))
    f = facts_of(p)
    assert f["visit_days_ago"] == 91
    assert f["visit_sbp"] is None
    assert f["visit_symptoms"] is None
    assert f["latest_sbp"] is None


def test_visit_symptoms_is_an_empty_set_when_the_visit_recorded_none():
    f = facts_of(patient(visits=visits(("2026-11-01", {"sbp": 130, "dbp": 80}))))
    assert f["visit_symptoms"] == frozenset()
    assert isinstance(f["visit_symptoms"], frozenset)


def test_a_visit_after_as_of_is_ignored():
    p = patient(
        visits=visits(("2026-11-01", {"sbp": 130, "dbp": 80}), ("2026-12-01", {"sbp": 200, "dbp": 120}))
    )
    f = facts_of(p)
    assert (f["visit_days_ago"], f["visit_sbp"]) == (29, 130)
    assert latest_visit_date(p, AS_OF) == d("2026-11-01")


def test_visit_readings_come_from_the_latest_visit_only_but_latest_bp_looks_further_back():
    p = patient(
        visits=visits(("2026-10-01", {"sbp": 150, "dbp": 92, "fpg": 7.4}), ("2026-11-20", {"weight_kg": 70}))
    )
    f = facts_of(p)
    assert f["visit_sbp"] is None and f["visit_fpg"] is None
    assert (f["latest_sbp"], f["latest_dbp"], f["latest_bp_days_ago"]) == (150, 92, 60)
    assert (f["latest_fpg"], f["latest_fpg_days_ago"]) == (7.4, 60)


def test_latest_bp_needs_both_readings_at_one_visit():
    p = patient(visits=visits(("2026-10-01", {"sbp": 150, "dbp": 92}), ("2026-11-20", {"sbp": 128})))
    assert facts_of(p)["latest_sbp"] == 150


def test_latest_bp_on_the_first_day_of_the_window_counts_and_the_day_before_does_not():
    assert facts_of(patient(visits=visits(("2026-09-01", {"sbp": 150, "dbp": 92}))))["latest_sbp"] == 150
    assert facts_of(patient(visits=visits(("2026-08-31", {"sbp": 150, "dbp": 92}))))["latest_sbp"] is None


def test_control_window_comes_from_the_parameters():
    p = patient(visits=visits(("2026-08-31", {"sbp": 150, "dbp": 92})))
    assert facts_of(p, control_window_days=91)["latest_sbp"] == 150


# ---- consecutive readings -------------------------------------------------------------------


def test_last_two_bp_and_fpg_readings_within_the_consecutive_window():
    p = patient(
        visits=visits(
            ("2026-06-03", {"sbp": 160, "dbp": 100, "fpg": 9.0}),  # 180 days before as_of: included
            ("2026-09-10", {"fpg": 8.1}),
            ("2026-11-10", {"sbp": 152, "dbp": 94}),
        )
    )
    f = facts_of(p)
    assert (f["bp1_sbp"], f["bp1_dbp"], f["bp2_sbp"], f["bp2_dbp"]) == (152, 94, 160, 100)
    assert (f["fpg1"], f["fpg2"]) == (8.1, 9.0)


def test_a_reading_one_day_before_the_consecutive_window_is_not_the_second_reading():
    p = patient(
        visits=visits(("2026-06-02", {"sbp": 160, "dbp": 100}), ("2026-11-10", {"sbp": 152, "dbp": 94}))
    )
    f = facts_of(p)
    assert (f["bp1_sbp"], f["bp2_sbp"], f["bp2_dbp"]) == (152, None, None)


def test_adverse_reactions_of_the_last_two_visits_whatever_they_carry():
    p = patient(
        visits=visits(
            ("2026-07-01", {"adverse_reaction": True}),
            ("2026-08-01", {"sbp": 140, "dbp": 85}),
            ("2026-11-01", {"adverse_reaction": True}),
        )
    )
    f = facts_of(p)
    assert (f["adverse1"], f["adverse2"]) == (True, None)  # the middle visit did not record it
    assert f["visit_adverse_reaction"] is True


# ---- body size ------------------------------------------------------------------------------


def test_bmi_uses_the_latest_weight_in_the_window_and_the_latest_height_on_record():
    p = patient(
        visits=visits(
            ("2019-01-01", {"height_cm": 170}),
            ("2024-01-01", {"height_cm": 168}),
            ("2026-10-01", {"weight_kg": 72.5, "waist_cm": 92}),
        )
    )
    f = facts_of(p)
    assert f["bmi"] == 25.7  # 72.5 / 1.68² = 25.687…
    assert f["waist_cm"] == 92


def test_bmi_without_a_weight_in_the_window_or_without_any_height_is_null():
    assert (
        facts_of(patient(visits=visits(("2026-08-31", {"weight_kg": 70, "height_cm": 170}))))["bmi"] is None
    )
    assert facts_of(patient(visits=visits(("2026-11-01", {"weight_kg": 70}))))["bmi"] is None


def test_a_zero_height_gives_no_bmi_rather_than_a_crash():
    assert facts_of(patient(visits=visits(("2026-11-01", {"weight_kg": 70, "height_cm": 0}))))["bmi"] is None


# ---- labs -----------------------------------------------------------------------------------


def test_latest_lab_on_the_first_day_of_the_lab_window_counts_and_the_day_before_does_not():
    on = facts_of(patient(labs=labs(("2025-11-30", {"ldl_c": 3.1, "hba1c": 7.0}))))
    before = facts_of(patient(labs=labs(("2025-11-29", {"ldl_c": 3.1, "hba1c": 7.0}))))
    assert (on["latest_ldl_c"], on["latest_hba1c"]) == (3.1, 7.0)
    assert (before["latest_ldl_c"], before["latest_hba1c"]) == (None, None)
    assert before["baseline_ldl_c"] == 3.1  # the baseline has no window


def test_every_latest_lab_is_read_from_the_latest_lab_carrying_it():
    p = patient(
        labs=labs(
            (
                "2026-02-01",
                {
                    "tc": 5.9,
                    "ldl_c": 3.8,
                    "hdl_c": 0.9,
                    "tg": 2.1,
                    "hba1c": 7.4,
                    "creatinine": 98,
                    "uacr": 45,
                },
            ),
            ("2026-09-01", {"hba1c": 6.8}),
        )
    )
    f = facts_of(p)
    assert [
        f[k]
        for k in (
            "latest_tc",
            "latest_ldl_c",
            "latest_hdl_c",
            "latest_tg",
            "latest_hba1c",
            "latest_uacr",
            "latest_creatinine",
        )
    ] == [5.9, 3.8, 0.9, 2.1, 6.8, 45, 98]


def test_baseline_lipids_are_the_earliest_and_the_reduction_is_measured_from_them():
    p = patient(
        labs=labs(
            ("2026-06-01", {"tc": 4.2, "ldl_c": 1.8, "hdl_c": 1.2}),
            ("2021-06-01", {"tc": 6.3, "ldl_c": 3.6, "hdl_c": 1.1}),
            ("2023-06-01", {"ldl_c": 2.5}),
        )
    )
    f = facts_of(p)
    assert (f["baseline_tc"], f["baseline_ldl_c"], f["baseline_hdl_c"]) == (6.3, 3.6, 1.1)
    assert f["baseline_non_hdl_c"] == 5.2  # exact, not 5.199999…
    assert f["latest_ldl_c"] == 1.8
    assert f["ldl_reduction_pct"] == 50.0


def test_no_reduction_with_a_single_ldl_value():
    f = facts_of(patient(labs=labs(("2026-06-01", {"ldl_c": 2.9}))))
    assert (f["baseline_ldl_c"], f["latest_ldl_c"], f["ldl_reduction_pct"]) == (2.9, 2.9, None)


def test_no_reduction_when_the_latest_ldl_is_outside_the_lab_window():
    f = facts_of(patient(labs=labs(("2020-06-01", {"ldl_c": 3.9}), ("2025-06-01", {"ldl_c": 2.9}))))
    assert f["latest_ldl_c"] is None
    assert f["ldl_reduction_pct"] is None


def test_non_hdl_needs_both_baseline_tc_and_hdl():
    assert facts_of(patient(labs=labs(("2026-06-01", {"tc": 5.0}))))["baseline_non_hdl_c"] is None


def test_egfr_uses_the_age_at_the_lab_date_not_at_as_of():
    p = patient(birth_date=d("1966-11-15"), labs=labs(("2026-11-01", {"creatinine": 98})))
    f = facts_of(p)
    assert f["age_years"] == 60
    assert f["egfr"] == egfr(98, 59, "M", "ckd_epi_2021")
    assert f["egfr"] != egfr(98, 60, "M", "ckd_epi_2021")


def test_egfr_equation_comes_from_the_parameters():
    p = patient(sex="F", birth_date=d("1960-06-01"), labs=labs(("2026-07-01", {"creatinine": 110})))  # 66
    assert facts_of(p)["egfr"] == 47.8  # worked example C, 2021
    assert facts_of(p, egfr_equation="ckd_epi_2009")["egfr"] == 45.0


def test_no_creatinine_in_the_lab_window_gives_no_egfr():
    assert facts_of(patient())["egfr"] is None
    assert facts_of(patient(labs=labs(("2025-11-29", {"creatinine": 98}))))["egfr"] is None


def test_labs_after_as_of_do_not_count_even_as_baseline():
    f = facts_of(patient(labs=labs(("2026-12-01", {"ldl_c": 3.0, "creatinine": 90}))))
    assert (f["latest_ldl_c"], f["baseline_ldl_c"], f["egfr"], f["screen_egfr_days_ago"]) == (
        None,
        None,
        None,
        None,
    )


# ---- history --------------------------------------------------------------------------------


def test_history_codes_become_booleans_and_a_dated_acs_a_day_count():
    p = patient(
        history=(
            HistoryItem(code="stroke", date=d("2019-07-01")),
            HistoryItem(code="ckd"),
            HistoryItem(code="acs", date=d("2025-12-01")),
        )
    )
    f = facts_of(p)
    assert (f["history_stroke"], f["history_ckd"], f["history_acs"], f["history_mi"]) == (
        True,
        True,
        True,
        False,
    )
    assert f["history_acs_days_ago"] == 364


def test_an_undated_acs_counts_as_history_without_a_day_count():
    f = facts_of(patient(history=(HistoryItem(code="acs"),)))
    assert (f["history_acs"], f["history_acs_days_ago"]) == (True, None)


def test_coronary_event_age_is_the_age_at_the_earliest_dated_chd_mi_or_acs():
    p = patient(
        birth_date=d("1958-03-02"),
        history=(
            HistoryItem(code="acs", date=d("2020-01-01")),
            HistoryItem(code="mi", date=d("2013-03-02")),
            HistoryItem(code="chd"),
            HistoryItem(code="stroke", date=d("2001-01-01")),
        ),
    )
    assert facts_of(p)["coronary_event_age_years"] == 55


def test_undated_coronary_codes_give_no_event_age():
    assert facts_of(patient(history=(HistoryItem(code="chd"),)))["coronary_event_age_years"] is None


def test_a_history_item_dated_after_as_of_does_not_count_yet():
    f = facts_of(patient(history=(HistoryItem(code="mi", date=d("2027-01-05")),)))
    assert (f["history_mi"], f["coronary_event_age_years"]) == (False, None)


# ---- screenings -----------------------------------------------------------------------------


def screening(day: str, kind: str, result: str = "normal", **fields) -> Screening:
    return Screening(date=d(day), kind=kind, result=result, **fields)


def test_the_latest_screening_of_each_kind_gives_days_result_value_and_grade():
    p = patient(
        screenings=(
            screening("2025-03-01", "abi", "abnormal", value=0.86),
            screening("2026-03-01", "abi", "normal", value=1.02),
            screening("2026-05-01", "fundus", "abnormal", grade="severe_npdr"),
            screening("2026-10-01", "ecg", "abnormal"),
        )
    )
    f = facts_of(p)
    assert (f["screen_abi_days_ago"], f["screen_abi_abnormal"], f["screen_abi_value"]) == (274, False, 1.02)
    assert (f["screen_fundus_abnormal"], f["screen_fundus_grade"]) == (True, FundusGrade.SEVERE_NPDR.value)
    assert (f["screen_ecg_days_ago"], f["screen_ecg_abnormal"]) == (60, True)
    assert (f["screen_neuropathy_days_ago"], f["screen_neuropathy_abnormal"]) == (None, None)


def test_a_later_creatinine_lab_supersedes_an_abnormal_egfr_screening_and_is_judged_by_value():
    p = patient(
        birth_date=d("1966-06-01"),
        screenings=(screening("2025-06-01", "egfr", "abnormal", value=41),),
        labs=labs(("2026-06-01", {"creatinine": 98})),
    )
    f = facts_of(p)
    assert f["screen_egfr_days_ago"] == 182
    assert f["screen_egfr_abnormal"] is False
    assert f["screen_egfr_value"] == f["egfr"] == egfr(98, 60, "M")
    assert last_screening_date(p, "egfr", AS_OF) == d("2026-06-01")


def test_a_later_uacr_lab_supersedes_a_uacr_screening_and_its_value_is_the_uacr():
    p = patient(
        screenings=(screening("2025-06-01", "uacr", "abnormal", value=350),),
        labs=labs(("2026-06-01", {"uacr": 25})),
    )
    f = facts_of(p)
    assert (f["screen_uacr_abnormal"], f["screen_uacr_value"], f["screen_uacr_days_ago"]) == (False, 25, 182)


def test_a_later_screening_record_stands_over_an_earlier_lab():
    p = patient(
        screenings=(screening("2026-07-01", "egfr", "abnormal", value=41),),
        labs=labs(("2026-06-01", {"creatinine": 98})),
    )
    f = facts_of(p)
    assert (f["screen_egfr_days_ago"], f["screen_egfr_abnormal"], f["screen_egfr_value"]) == (152, True, 41)


def test_on_the_same_day_the_screening_record_with_its_explicit_result_stands():
    p = patient(
        screenings=(screening("2026-06-01", "uacr", "abnormal", value=40),),
        labs=labs(("2026-06-01", {"uacr": 40})),
    )
    assert facts_of(p)["screen_uacr_abnormal"] is True


def test_an_old_creatinine_lab_still_dates_the_egfr_screening_outside_the_lab_window():
    f = facts_of(patient(labs=labs(("2024-06-01", {"creatinine": 98}))))
    assert f["egfr"] is None
    assert f["screen_egfr_days_ago"] == (AS_OF - d("2024-06-01")).days
    assert f["screen_egfr_value"] is not None


def test_of_two_screenings_of_one_kind_on_one_day_the_later_listed_counts_whatever_order_the_days_come_in():
    p = patient(
        screenings=(
            screening("2026-06-01", "abi", "abnormal", value=0.8),
            screening("2025-01-01", "abi", "normal", value=1.2),
            screening("2026-06-01", "abi", "normal", value=1.1),
            screening("2026-12-01", "abi", "abnormal", value=0.7),
        )
    )
    f = facts_of(p)
    assert (f["screen_abi_days_ago"], f["screen_abi_abnormal"], f["screen_abi_value"]) == (182, False, 1.1)


def test_screenings_after_as_of_are_ignored():
    f = facts_of(patient(screenings=(screening("2026-12-02", "ecg", "abnormal"),)))
    assert f["screen_ecg_days_ago"] is None


# ---- parameters and vocabulary errors -------------------------------------------------------


def test_a_missing_measure_parameter_is_an_r401_error_naming_it():
    params = {k: v for k, v in PARAMS.items() if k != "lab_window_days"}
    with pytest.raises(SangaoError) as caught:
        compute_facts(patient(), AS_OF, params)
    problem = caught.value.problems[0]
    assert problem.code == "R401"
    assert "lab_window_days" in problem.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("control_window_days", "90"),
        ("control_window_days", -1),
        ("consecutive_window_days", True),
        ("egfr_equation", "mdrd"),
    ],
)
def test_a_bad_measure_parameter_is_an_r402_error_naming_it_and_its_value(name, value):
    with pytest.raises(SangaoError) as caught:
        compute_facts(patient(), AS_OF, PARAMS | {name: value})
    problem = caught.value.problems[0]
    assert problem.code == "R402"
    assert name in problem.message and repr(value) in problem.message


def test_an_unknown_symptom_code_at_the_visit_read_is_an_r403_error_with_a_suggestion():
    p = patient(visits=visits(("2026-11-01", {"symptoms": ("chest_pian",)})))
    with pytest.raises(SangaoError) as caught:
        facts_of(p)
    problem = caught.value.problems[0]
    assert problem.code == "R403"
    assert "p1" in problem.message and "2026-11-01" in problem.message and "'chest_pian'" in problem.message
    assert "did you mean 'chest_pain'" in problem.hint


def test_symptom_codes_are_not_checked_without_a_vocabulary():
    p = patient(visits=visits(("2026-11-01", {"symptoms": ("anything",)})))
    assert compute_facts(p, AS_OF, PARAMS)["visit_symptoms"] == frozenset({"anything"})


# ---- every fact has its declared type, on a synthetic roster -------------------------------


def synthetic_patient(rng: random.Random, n: int) -> Patient:
    """A plausible random record (for shape checks and the benchmark, never for thresholds)."""
    start = AS_OF - timedelta(days=rng.randint(30, 3000))
    vs = []
    for i in range(rng.randint(0, 12)):
        vs.append(
            Visit(
                date=start + timedelta(days=90 * i + rng.randint(0, 20)),
                sbp=rng.choice([None, rng.randint(110, 190)]),
                dbp=rng.randint(60, 115),
                fpg=rng.choice([None, round(rng.uniform(4, 17), 1)]),
                weight_kg=round(rng.uniform(45, 100), 1),
                height_cm=rng.choice([None, 160, 172]),
                symptoms=tuple(rng.sample(sorted(SYMPTOMS), rng.randint(0, 2))),
                adverse_reaction=rng.choice([None, False, True]),
            )
        )
    ls = [
        Lab(
            date=start + timedelta(days=365 * i),
            ldl_c=round(rng.uniform(1.2, 5.5), 2),
            tc=round(rng.uniform(3, 8), 2),
            hdl_c=round(rng.uniform(0.7, 2), 2),
            creatinine=rng.choice([None, rng.randint(45, 200)]),
            uacr=rng.choice([None, rng.randint(3, 400)]),
        )
        for i in range(rng.randint(0, 4))
    ]
    ss = [
        Screening(
            date=start + timedelta(days=rng.randint(0, 2000)),
            kind=rng.choice(list(ScreeningKind)),
            result=rng.choice(["normal", "abnormal"]),
        )
        for _ in range(rng.randint(0, 5))
    ]
    return Patient(
        patient_id=f"s{n}",
        sex=rng.choice("MF"),
        birth_date=date(rng.randint(1935, 1990), 1, 1) + timedelta(days=rng.randint(0, 364)),
        conditions=("hypertension",),
        enrolled_on=start,
        smoker=rng.choice([None, True, False]),
        history=tuple(HistoryItem(code=c) for c in rng.sample(list(HistoryCode), rng.randint(0, 2))),
        visits=tuple(vs),
        labs=tuple(ls),
        screenings=tuple(ss),
    )


_PYTHON_TYPES = {
    "number": (int, float),
    "integer": (int,),
    "bool": (bool,),
    "string": (str,),
    "set": (frozenset,),
}


def test_every_fact_of_a_synthetic_roster_is_null_or_of_its_declared_type():
    rng = random.Random(5)
    for n in range(300):
        for name, value in facts_of(synthetic_patient(rng, n)).items():
            if value is None:
                continue
            declared = FACTS[name].type
            assert isinstance(value, _PYTHON_TYPES[declared]), (name, value)
            if declared in ("number", "integer"):
                assert not isinstance(value, bool), (name, value)
