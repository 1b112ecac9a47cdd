"""Independent audit of the national-default set against pathway-defaults.md (issue 5, "Done means").

Every case is a literal interchange record (interchange.md §1) assessed at a literal `as_of`; every
expected value was worked out by hand from the spec text (pathway-defaults.md, clinical-reference.md
§3.3, §3.5, §5, §6, §7), not from the guideline YAML or its `*.cases.yaml`. The arithmetic is in a
comment wherever it is not obvious. Working days are the 2026 statutory calendar as the
`chinese_calendar` package has it: holidays on weekdays 1–2 Jan, 16–20 and 23 Feb, 6 Apr, 1/4/5 May,
19 Jun, 25 Sep, 1–2 and 5–7 Oct; make-up working days 4 Jan, 14 Feb, 28 Feb, 9 May, 20 Sep, 10 Oct.

Reference dates for AS_OF = 2026-06-10 (a Wednesday):
  −89 d 2026-03-13 · −90 d 2026-03-12 · −91 d 2026-03-11 · −180 d 2025-12-12 · −181 d 2025-12-11
  −365 d 2025-06-10 · −366 d 2025-06-09 · +90 d (screening look-ahead) 2026-09-08
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import pytest

from engine.assess import Assessor
from engine.parallel import AssessOptions, build_assessor
from pathways.errors import SangaoError
from pathways.models import Assessment, Patient

AS_OF = date(2026, 6, 10)


@cache
def _assessor(as_of: date, provisional: bool) -> Assessor:
    return build_assessor(
        AssessOptions("national-default", as_of, "python", provisional_calendar=provisional)
    )


def assess(record: dict[str, Any], as_of: date = AS_OF, provisional: bool = False) -> Assessment:
    patient = Patient.model_validate(record)
    return _assessor(as_of, provisional).assess(patient, as_of).assessment


def rules(a: Assessment) -> set[str]:
    return {r.rule for r in a.reasons}


def colored(a: Assessment, color: str) -> set[str]:
    return {r.rule for r in a.reasons if r.color == color}


def due(a: Assessment) -> dict[str, tuple[str, bool]]:
    return {s.kind: (s.due_by.isoformat(), s.overdue) for s in a.screenings_due}


# A quiet hypertension patient: man, 56 at AS_OF, controlled, medium risk, nothing due.
# Risk: no ASCVD; step 2 no (LDL 2.4 <4.9, TC 4.5 <7.2, no diabetes, eGFR 99.6 ≥60);
# step 3: factors = age ≥45 (1), smoker False, HDL 1.3 ≥1.0 → 1; hypertension → row 5;
# column: TC 4.5 → col 2, LDL 2.4 → col 1, the higher → col 2 → medium. Step 4: age 56 ≥55, no upgrade.
# eGFR (CKD-EPI 2021): 80/88.4 = 0.9050 mg/dL, /0.9 = 1.0055; 142 × 1.0055^−1.2 × 0.9938^56 = 99.6 → G1.
QUIET: dict[str, Any] = {
    "patient_id": "audit-quiet",
    "sex": "M",
    "birth_date": "1970-01-15",
    "conditions": ["hypertension"],
    "enrolled_on": "2024-01-10",
    "smoker": False,
    "visits": [
        {"date": "2026-05-20", "sbp": 128, "dbp": 78, "heart_rate": 72, "weight_kg": 70, "height_cm": 175}
    ],
    "labs": [{"date": "2026-03-02", "tc": 4.5, "ldl_c": 2.4, "hdl_c": 1.3, "creatinine": 80, "uacr": 10}],
    "screenings": [
        {"date": "2026-03-02", "kind": "ecg", "result": "normal"},
        {"date": "2026-03-02", "kind": "stroke_risk", "result": "normal"},
    ],
}

# A quiet diabetes-only patient: man, 56; risk high by step 2 (diabetes at ≥40) → diabetes target 1.8;
# LDL 1.6 controlled; FPG 6.1 <7.0; every screening done 2026-03-02 (egfr/uacr by the lab).
QUIET_DM: dict[str, Any] = {
    "patient_id": "audit-quiet-dm",
    "sex": "M",
    "birth_date": "1970-01-15",
    "conditions": ["diabetes"],
    "enrolled_on": "2024-01-10",
    "smoker": False,
    "visits": [
        {
            "date": "2026-05-20",
            "sbp": 124,
            "dbp": 76,
            "heart_rate": 72,
            "fpg": 6.1,
            "temperature": 36.6,
            "weight_kg": 70,
            "height_cm": 175,
        }
    ],
    "labs": [{"date": "2026-03-02", "tc": 3.6, "ldl_c": 1.6, "hdl_c": 1.3, "creatinine": 80, "uacr": 10}],
    "screenings": [
        {"date": "2026-03-02", "kind": kind, "result": "normal"}
        for kind in ("ecg", "stroke_risk", "carotid_us", "fundus", "neuropathy", "abi")
    ],
}

# A quiet young woman with hypertension: 30 at AS_OF; factors 0 → row 4 → low; target 3.4.
QUIET_F: dict[str, Any] = {
    "patient_id": "audit-quiet-f",
    "sex": "F",
    "birth_date": "1996-03-01",
    "conditions": ["hypertension"],
    "enrolled_on": "2024-01-10",
    "smoker": False,
    "visits": [{"date": "2026-05-20", "sbp": 128, "dbp": 78, "weight_kg": 58, "height_cm": 162}],
    "labs": [{"date": "2026-03-02", "tc": 4.5, "ldl_c": 2.4, "hdl_c": 1.3, "creatinine": 60, "uacr": 10}],
    "screenings": [
        {"date": "2026-03-02", "kind": "ecg", "result": "normal"},
        {"date": "2026-03-02", "kind": "stroke_risk", "result": "normal"},
    ],
}


def visit(day: str, sbp: float | None = 128, dbp: float | None = 78, **more: Any) -> dict[str, Any]:
    v: dict[str, Any] = {"date": day, **more}
    if sbp is not None:
        v["sbp"] = sbp
    if dbp is not None:
        v["dbp"] = dbp
    return v


def lab(day: str = "2026-03-02", **values: Any) -> dict[str, Any]:
    return {"date": day, **values}


STD_LAB = {"tc": 4.5, "ldl_c": 2.4, "hdl_c": 1.3, "creatinine": 80, "uacr": 10}


# ---------------------------------------------------------------- the quiet baselines


def test_a_quiet_controlled_hypertension_patient_is_blue_with_every_field_as_the_spec_fixes() -> None:
    a = assess(QUIET)
    assert (a.color, a.tier, a.referral) == ("blue", "village", None)
    assert not colored(a, "red") and not colored(a, "yellow")
    assert (a.control.bp, a.control.glucose, a.control.ldl) == ("controlled", "not_applicable", "controlled")
    assert a.bp_target == (140, 90)
    assert (a.ascvd_risk, a.ldl_target) == ("medium", 2.6)
    assert (a.egfr, a.ckd_stage, a.albuminuria) == (99.6, "G1", "A1")
    assert a.screenings_due == ()
    assert a.next_follow_up == date(2026, 8, 18)  # 2026-05-20 + 90 d, a Tuesday


def test_a_quiet_diabetes_only_patient_is_blue_without_a_bp_target() -> None:
    a = assess(QUIET_DM)
    assert (a.color, a.tier) == ("blue", "village")
    assert (a.control.bp, a.control.glucose, a.control.ldl) == ("not_applicable", "controlled", "controlled")
    assert a.bp_target is None
    assert (a.ascvd_risk, a.ldl_target) == ("high", 1.8)
    assert a.screenings_due == ()


# ---------------------------------------------------------------- who is assessed


def test_died_or_moved_out_on_or_before_as_of_is_not_assessed_and_the_day_after_is() -> None:
    assert not Assessor.is_assessed(Patient.model_validate({**QUIET, "deceased_on": "2026-06-10"}), AS_OF)
    assert not Assessor.is_assessed(Patient.model_validate({**QUIET, "moved_out_on": "2026-06-10"}), AS_OF)
    assert Assessor.is_assessed(Patient.model_validate({**QUIET, "deceased_on": "2026-06-11"}), AS_OF)


def test_assess_many_skips_the_dead_and_keeps_the_living() -> None:
    patients = [
        Patient.model_validate({**QUIET, "patient_id": "alive"}),
        Patient.model_validate({**QUIET, "patient_id": "dead", "deceased_on": "2026-01-01"}),
    ]
    assert [a.patient_id for a in _assessor(AS_OF, False).assess_many(patients, AS_OF)] == ["alive"]


# ---------------------------------------------------------------- control window (90 days, inclusive)


def test_a_bp_reading_on_day_90_of_the_control_window_counts_and_on_day_91_is_no_data() -> None:
    a = assess({**QUIET, "visits": [visit("2026-03-12")]})
    assert a.control.bp == "controlled"
    assert a.color == "blue"
    assert a.next_follow_up == date(2026, 6, 10)  # 2026-03-12 + 90 = as_of itself, a Wednesday
    a = assess({**QUIET, "visits": [visit("2026-03-11")]})
    assert a.control.bp == "no_data"
    assert a.color == "yellow"
    assert "care.no_data_bp" in rules(a)
    assert a.next_follow_up == date(2026, 6, 10)  # 2026-03-11 + 30 is past → as_of


def test_the_latest_bp_reading_skips_a_later_visit_without_dbp() -> None:
    # "The latest reading of BP is the latest visit that carries both SBP and DBP."
    a = assess({**QUIET, "visits": [visit("2026-05-01", 150, 95), visit("2026-05-20", 120, None)]})
    assert a.control.bp == "uncontrolled"


# ---------------------------------------------------------------- BP target and control


def test_bp_is_controlled_only_strictly_below_140_90_and_uncontrolled_is_yellow_for_14_days() -> None:
    assert assess({**QUIET, "visits": [visit("2026-05-20", 139, 89)]}).control.bp == "controlled"
    a = assess({**QUIET, "visits": [visit("2026-06-05", 140, 80)]})
    assert a.control.bp == "uncontrolled"
    assert (a.color, a.tier, a.referral) == ("yellow", "township", None)
    assert "htn.uncontrolled" in rules(a)
    assert a.next_follow_up == date(2026, 6, 22)  # 06-05 + 14 = 06-19 Dragon Boat holiday → Mon 06-22
    assert assess({**QUIET, "visits": [visit("2026-05-20", 130, 90)]}).control.bp == "uncontrolled"


def _dm_htn(birth: str, sbp: float, dbp: float) -> dict[str, Any]:
    return {
        **QUIET_DM,
        "birth_date": birth,
        "conditions": ["hypertension", "diabetes"],
        "visits": [visit("2026-05-20", sbp, dbp, fpg=6.0)],
    }


def test_age_65_on_as_of_takes_150_90_before_diabetes_and_age_64_takes_130_80() -> None:
    a = assess(_dm_htn("1961-06-10", 148, 88))
    assert a.bp_target == (150, 90)
    assert a.control.bp == "controlled"
    a = assess(_dm_htn("1961-06-11", 148, 88))
    assert a.bp_target == (130, 80)
    assert a.control.bp == "uncontrolled"


def test_a_ckd_history_or_egfr_below_60_alone_does_not_lower_the_bp_target() -> None:
    a = assess({**QUIET, "history": [{"code": "ckd"}]})
    assert a.bp_target == (140, 90)
    # 122.2 µmol/L, man, 56 → eGFR 59.9 (G3a)
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 122.2})]})
    assert (a.egfr, a.ckd_stage) == (59.9, "G3a")
    assert a.bp_target == (140, 90)


def test_latest_uacr_30_lowers_the_bp_target_to_130_80_and_29_9_does_not() -> None:
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "uacr": 30})]}).bp_target == (130, 80)
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "uacr": 29.9})]}).bp_target == (140, 90)


def test_an_earlier_uacr_above_30_does_not_count_when_the_latest_is_below() -> None:
    labs = [lab("2025-09-01", uacr=45), lab(**STD_LAB)]
    assert assess({**QUIET, "labs": labs}).bp_target == (140, 90)


@pytest.mark.parametrize("code", ["chd", "mi", "acs", "pci_cabg", "heart_failure"])
def test_chd_codes_and_heart_failure_lower_the_bp_target_to_130_80(code: str) -> None:
    assert assess({**QUIET, "history": [{"code": code}]}).bp_target == (130, 80)


def test_a_stroke_history_does_not_lower_the_bp_target_and_outside_the_programme_bp_is_not_applicable() -> (
    None
):
    assert assess({**QUIET, "history": [{"code": "stroke"}]}).bp_target == (140, 90)
    a = assess(QUIET_DM)
    assert (a.bp_target, a.control.bp) == (None, "not_applicable")


# ---------------------------------------------------------------- hypertension urgent criteria


def test_sbp_180_is_an_urgent_county_referral_with_a_14_day_follow_up() -> None:
    a = assess({**QUIET, "visits": [visit("2026-06-05", 180, 100)]})
    assert (a.color, a.tier) == ("red", "county")
    assert a.referral is not None and a.referral.urgency == "urgent" and a.referral.to == "county"
    assert "htn.urgent_bp" in a.referral.reasons
    assert a.referral.follow_up_within_days == 14
    assert a.next_follow_up == date(2026, 6, 22)  # 06-05 + 14 = 06-19 holiday → 06-22


def test_dbp_110_is_urgent_and_179_109_is_not() -> None:
    a = assess({**QUIET, "visits": [visit("2026-05-20", 150, 110)]})
    assert a.color == "red" and a.referral is not None and a.referral.urgency == "urgent"
    a = assess({**QUIET, "visits": [visit("2026-05-20", 179, 109)]})
    assert (a.color, a.referral) == ("yellow", None)


def test_a_chest_pain_symptom_with_controlled_bp_is_urgent() -> None:
    a = assess({**QUIET, "visits": [visit("2026-05-20", symptoms=["chest_pain"])]})
    assert a.color == "red"
    assert a.referral is not None and a.referral.urgency == "urgent"
    assert "htn.urgent_symptom" in a.referral.reasons


@pytest.mark.parametrize(
    "symptom",
    [
        "altered_consciousness",
        "severe_headache",
        "dizziness",
        "nausea",
        "vomiting",
        "blurred_vision",
        "eye_pain",
        "palpitations",
        "chest_tightness",
        "dyspnea",
        "orthopnea",
        "clinician_urgent",
    ],
)
def test_every_hypertension_urgent_symptom_makes_a_hypertension_patient_red(symptom: str) -> None:
    a = assess({**QUIET, "visits": [visit("2026-05-20", symptoms=[symptom])]})
    assert a.color == "red" and "htn.urgent_symptom" in rules(a)


def test_diabetes_only_criteria_do_not_make_a_hypertension_patient_red() -> None:
    a = assess({**QUIET, "visits": [visit("2026-05-20", symptoms=["sweating"])]})
    assert a.color == "blue"
    assert (
        assess({**QUIET, "visits": [visit("2026-05-20", heart_rate=120, temperature=39.5)]}).color == "blue"
    )


def test_urgent_readings_are_read_only_from_a_latest_visit_within_the_control_window() -> None:
    a = assess({**QUIET, "visits": [visit("2026-03-11", symptoms=["severe_headache"])]})
    assert "htn.urgent_symptom" not in rules(a)
    assert a.color == "yellow"  # no_data
    a = assess({**QUIET, "visits": [visit("2026-03-11", 185, 100)]})
    assert "htn.urgent_bp" not in rules(a) and a.color == "yellow"
    a = assess({**QUIET, "visits": [visit("2026-03-12", 185, 100)]})
    assert a.color == "red" and "htn.urgent_bp" in rules(a)


def test_urgent_criteria_of_an_earlier_visit_are_not_read_when_a_later_one_is_calm() -> None:
    visits = [visit("2026-05-01", 185, 100, symptoms=["chest_pain"]), visit("2026-05-20")]
    a = assess({**QUIET, "visits": visits})
    assert (a.color, a.referral) == ("blue", None)


def test_a_pregnant_woman_with_sbp_140_is_an_urgent_referral_and_at_139_89_is_not() -> None:
    a = assess({**QUIET_F, "pregnant": True, "visits": [visit("2026-05-20", 140, 85)]})
    assert a.color == "red"
    assert a.referral is not None and a.referral.urgency == "urgent"
    assert "htn.pregnancy_bp" in a.referral.reasons
    a = assess({**QUIET_F, "pregnant": True, "visits": [visit("2026-05-20", 139, 89)]})
    assert (a.color, a.referral) == ("blue", None)


def test_breastfeeding_with_dbp_90_is_urgent_and_140_85_without_pregnancy_is_only_yellow() -> None:
    a = assess({**QUIET_F, "breastfeeding": True, "visits": [visit("2026-05-20", 130, 90)]})
    assert a.color == "red" and "htn.pregnancy_bp" in rules(a)
    a = assess({**QUIET_F, "visits": [visit("2026-05-20", 140, 85)]})
    assert (a.color, a.referral) == ("yellow", None)


# ---------------------------------------------------------------- diabetes urgent criteria


def _dm_visit(**fields: Any) -> dict[str, Any]:
    base = {
        "date": "2026-05-20",
        "sbp": 124,
        "dbp": 76,
        "heart_rate": 72,
        "fpg": 6.1,
        "temperature": 36.6,
        "weight_kg": 70,
        "height_cm": 175,
    }
    return {**QUIET_DM, "visits": [{**base, **fields}]}


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"fpg": 3.9}, "dm.urgent_glucose"),
        ({"fpg": 16.7}, "dm.urgent_glucose"),
        ({"random_glucose": 16.7}, "dm.urgent_glucose"),
        ({"random_glucose": 3.9}, "dm.urgent_glucose"),
        ({"heart_rate": 101}, "dm.urgent_heart_rate"),
        ({"temperature": 39.1}, "dm.urgent_temperature"),
        ({"sbp": 180, "dbp": 90}, "dm.urgent_bp"),
        ({"sbp": 150, "dbp": 110}, "dm.urgent_bp"),
    ],
)
def test_a_diabetes_urgent_measurement_is_an_urgent_referral(fields: dict[str, Any], rule: str) -> None:
    a = assess(_dm_visit(**fields))
    assert (a.color, a.tier) == ("red", "county")
    assert a.referral is not None and a.referral.urgency == "urgent"
    assert rule in a.referral.reasons


@pytest.mark.parametrize(
    "fields",
    [
        {"fpg": 4.0},
        {"random_glucose": 4.0},
        {"random_glucose": 16.6},
        {"heart_rate": 100},
        {"temperature": 39.0},
        {"sbp": 179, "dbp": 109},
    ],
)
def test_a_diabetes_measurement_just_inside_the_urgent_line_stays_blue(fields: dict[str, Any]) -> None:
    a = assess(_dm_visit(**fields))
    assert (a.color, a.referral) == ("blue", None)


@pytest.mark.parametrize(
    "symptom",
    [
        "altered_consciousness",
        "altered_behaviour",
        "acetone_breath",
        "palpitations",
        "sweating",
        "nausea",
        "vomiting",
        "poor_appetite",
        "polyuria_polydipsia",
        "abdominal_pain",
        "kussmaul_breathing",
        "flushed_skin",
        "ketoacidosis_signs",
        "sudden_vision_loss",
        "clinician_urgent",
    ],
)
def test_every_diabetes_urgent_symptom_makes_a_diabetes_patient_red(symptom: str) -> None:
    a = assess(_dm_visit(symptoms=[symptom]))
    assert a.color == "red" and "dm.urgent_symptom" in rules(a)


def test_dizziness_is_not_on_the_diabetes_urgent_list() -> None:
    assert assess(_dm_visit(symptoms=["dizziness"])).color == "blue"


def test_fpg_7_0_is_uncontrolled_6_99_controlled_and_16_6_not_urgent() -> None:
    assert assess(_dm_visit(fpg=7.0)).control.glucose == "uncontrolled"
    assert assess(_dm_visit(fpg=6.99)).control.glucose == "controlled"
    a = assess(_dm_visit(fpg=16.6))
    assert (a.color, a.referral, a.control.glucose) == ("yellow", None, "uncontrolled")


def test_glucose_without_fpg_is_no_data_and_yellow_and_outside_the_programme_not_applicable() -> None:
    a = assess({**QUIET_DM, "visits": [visit("2026-05-20", 124, 76, weight_kg=70, height_cm=175)]})
    assert a.control.glucose == "no_data"
    assert a.color == "yellow" and "care.no_data_glucose" in rules(a)
    a = assess(QUIET)
    assert (a.control.glucose, a.color) == ("not_applicable", "blue")


# ---------------------------------------------------------------- two consecutive uncontrolled readings


def test_two_uncontrolled_bp_readings_refer_with_the_earlier_on_day_180_not_on_day_181() -> None:
    a = assess({**QUIET, "visits": [visit("2025-12-12", 150, 92), visit("2026-05-20", 150, 92)]})
    assert (a.color, a.tier) == ("red", "county")
    assert a.referral is not None
    assert (a.referral.urgency, a.referral.reasons) == ("routine", ("htn.two_uncontrolled",))
    assert a.next_follow_up == date(2026, 6, 10)  # 05-20 + 14 = 06-03 is past → as_of
    a = assess({**QUIET, "visits": [visit("2025-12-11", 150, 92), visit("2026-05-20", 150, 92)]})
    assert (a.color, a.referral) == ("yellow", None)


def test_a_visit_without_bp_between_two_uncontrolled_bp_readings_does_not_break_them() -> None:
    visits = [
        visit("2026-02-01", 150, 92, fpg=6.0),
        visit("2026-04-01", None, None, fpg=6.0),
        visit("2026-05-20", 150, 92, fpg=6.0),
    ]
    a = assess({**QUIET_DM, "conditions": ["hypertension", "diabetes"], "visits": visits})
    assert a.color == "red" and "htn.two_uncontrolled" in rules(a)


def test_an_uncontrolled_reading_then_a_controlled_or_other_programme_one_is_not_two_in_a_row() -> None:
    a = assess({**QUIET, "visits": [visit("2026-04-01", 150, 92), visit("2026-05-20")]})
    assert (a.color, a.referral) == ("blue", None)
    visits = [visit("2026-04-01", 150, 92, fpg=6.0), visit("2026-05-20", 120, 70, fpg=8.0)]
    a = assess({**QUIET_DM, "conditions": ["hypertension", "diabetes"], "visits": visits})
    assert a.color == "yellow"
    assert not {"htn.two_uncontrolled", "dm.two_uncontrolled"} & rules(a)


def test_two_uncontrolled_fpg_readings_are_a_routine_referral() -> None:
    visits = [visit("2026-02-01", fpg=7.5), visit("2026-05-20", fpg=7.5)]
    a = assess({**QUIET_DM, "visits": visits})
    assert a.color == "red"
    assert a.referral is not None and a.referral.urgency == "routine"
    assert "dm.two_uncontrolled" in a.referral.reasons


def test_two_uncontrolled_readings_within_180_days_count_though_past_the_control_window() -> None:
    # Literal reading of §3: "the last two visits that carry BP, both within 180 days"; the control
    # window (90 days) is not part of that sentence. (Listed as a judgement call in the report.)
    a = assess({**QUIET, "visits": [visit("2026-01-10", 150, 92), visit("2026-03-01", 150, 92)]})
    assert a.control.bp == "no_data"
    assert a.color == "red" and "htn.two_uncontrolled" in rules(a)


# ---------------------------------------------------------------- adverse reactions and new complications


def test_an_adverse_reaction_at_the_latest_visit_is_yellow_for_14_days() -> None:
    a = assess({**QUIET, "visits": [visit("2026-06-05", adverse_reaction=True)]})
    assert (a.color, a.referral) == ("yellow", None)
    assert "care.adverse_reaction" in rules(a)
    assert a.next_follow_up == date(2026, 6, 22)  # 06-05 + 14 = 06-19 holiday → 06-22


def test_adverse_reactions_at_the_last_two_visits_refer_with_the_earlier_on_day_180_not_181() -> None:
    visits = [visit("2025-12-12", adverse_reaction=True), visit("2026-05-20", adverse_reaction=True)]
    a = assess({**QUIET, "visits": visits})
    assert a.color == "red"
    assert a.referral is not None and a.referral.urgency == "routine"
    assert "care.adverse_twice" in a.referral.reasons
    visits = [visit("2025-12-11", adverse_reaction=True), visit("2026-05-20", adverse_reaction=True)]
    a = assess({**QUIET, "visits": visits})
    assert (a.color, a.referral) == ("yellow", None)


def test_an_adverse_reaction_two_visits_back_or_past_the_control_window_is_not_read() -> None:
    visits = [visit("2026-04-01", adverse_reaction=True), visit("2026-05-20", adverse_reaction=False)]
    assert assess({**QUIET, "visits": visits}).color == "blue"
    a = assess({**QUIET, "visits": [visit("2026-03-11", adverse_reaction=True)]})
    assert "care.adverse_reaction" not in rules(a)


def test_a_new_complication_at_the_latest_visit_is_a_routine_referral() -> None:
    a = assess({**QUIET, "visits": [visit("2026-05-20", new_complication=True)]})
    assert a.color == "red"
    assert a.referral is not None and a.referral.urgency == "routine"
    assert "care.new_complication" in a.referral.reasons


def test_a_new_complication_flag_is_not_read_past_the_control_window_or_at_an_earlier_visit() -> None:
    a = assess({**QUIET, "visits": [visit("2026-03-11", new_complication=True)]})
    assert "care.new_complication" not in rules(a)
    visits = [visit("2026-05-01", new_complication=True), visit("2026-05-20")]
    assert assess({**QUIET, "visits": visits}).color == "blue"


# ---------------------------------------------------------------- LDL-C control and targets


def test_ldl_2_6_at_the_medium_target_is_yellow_for_30_days_and_2_59_is_controlled() -> None:
    # LDL 2.6 → col 2, TC 4.5 → col 2: still medium, target 2.6
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "ldl_c": 2.6})]})
    assert (a.ascvd_risk, a.control.ldl) == ("medium", "uncontrolled")
    assert a.color == "yellow" and "lipid.ldl_above_target" in rules(a)
    assert a.next_follow_up == date(2026, 6, 22)  # 05-20 + 30 = 06-19 holiday → 06-22
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "ldl_c": 2.59})]})
    assert (a.control.ldl, a.color) == ("controlled", "blue")


def test_low_risk_ldl_3_39_is_controlled_and_3_4_is_not() -> None:
    # woman 30, hypertension, 0 factors → row 4: low in every column; target 3.4
    a = assess({**QUIET_F, "labs": [lab(tc=5.1, ldl_c=3.39, hdl_c=1.3, creatinine=60, uacr=10)]})
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("low", 3.4, "controlled")
    a = assess({**QUIET_F, "labs": [lab(tc=5.1, ldl_c=3.4, hdl_c=1.3, creatinine=60, uacr=10)]})
    assert (a.ascvd_risk, a.control.ldl) == ("low", "uncontrolled")


def _tia_labs(baseline_ldl: float, latest_ldl: float) -> dict[str, Any]:
    # TIA = established ASCVD, no severe event → very high, target 1.8 and >50 % fall
    labs = [
        lab("2024-05-01", tc=4.8, ldl_c=baseline_ldl, hdl_c=1.3),
        lab(tc=3.2, ldl_c=latest_ldl, hdl_c=1.3, creatinine=80, uacr=10),
    ]
    return {**QUIET, "history": [{"code": "tia"}], "labs": labs}


def test_very_high_needs_a_fall_of_more_than_50_percent_from_the_earliest_ldl_on_record() -> None:
    a = assess(_tia_labs(3.0, 1.5))  # (3.0 − 1.5) / 3.0 = 50 %, not > 50 %
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("very_high", 1.8, "uncontrolled")
    assert "lipid.ldl_above_target" in rules(a)
    a = assess(_tia_labs(3.0, 1.49))  # 1.51 / 3.0 = 50.3 %; the baseline (2024) is the earliest on record
    assert a.control.ldl == "controlled"
    # earliest 1.2, latest 1.5 <1.8: the fall is −25 %, not >50 %
    assert assess(_tia_labs(1.2, 1.5)).control.ldl == "uncontrolled"


def test_very_high_with_a_single_ldl_uses_the_absolute_target_alone() -> None:
    record = {
        **QUIET,
        "history": [{"code": "tia"}],
        "labs": [lab(tc=3.2, ldl_c=1.7, hdl_c=1.3, creatinine=80, uacr=10)],
    }
    assert assess(record).control.ldl == "controlled"
    record = {**record, "labs": [lab(tc=3.2, ldl_c=1.8, hdl_c=1.3, creatinine=80, uacr=10)]}
    assert assess(record).control.ldl == "uncontrolled"


def test_ultra_high_target_is_1_4() -> None:
    record = {
        **QUIET,
        "history": [{"code": "mi"}, {"code": "stroke"}],
        "labs": [lab(tc=3.0, ldl_c=1.39, hdl_c=1.3, creatinine=80, uacr=10)],
    }
    a = assess(record)
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("ultra_high", 1.4, "controlled")


def test_diabetes_with_ascvd_takes_the_special_target_1_4_even_at_very_high() -> None:
    # diabetes + TIA: no severe event → very_high; diabetes special population → 1.4
    record = {
        **QUIET_DM,
        "history": [{"code": "tia"}],
        "labs": [lab(tc=3.2, ldl_c=1.5, hdl_c=1.3, creatinine=80, uacr=10)],
    }
    a = assess(record)
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("very_high", 1.4, "uncontrolled")


def test_diabetes_at_low_risk_takes_the_special_target_2_6_not_3_4() -> None:
    # woman 30, diabetes only, non-smoker, HDL 1.3, no TOD → step 3: no hypertension, 0 factors → low
    record = {
        **QUIET_DM,
        "sex": "F",
        "birth_date": "1996-03-01",
        "labs": [lab(tc=4.5, ldl_c=2.7, hdl_c=1.3, creatinine=60, uacr=10)],
    }
    a = assess(record)
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("low", 2.6, "uncontrolled")


def test_no_ldl_and_unknown_risk_is_no_data_and_yellow_only_in_the_dyslipidaemia_programme() -> None:
    a = assess({**QUIET, "labs": [lab(creatinine=80, uacr=10)]})
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("unknown", None, "no_data")
    assert a.color == "blue"
    a = assess(
        {**QUIET, "conditions": ["hypertension", "dyslipidemia"], "labs": [lab(creatinine=80, uacr=10)]}
    )
    assert a.control.ldl == "no_data"
    assert a.color == "yellow"
    assert {"care.no_data_ldl", "lipid.unknown_risk"} <= rules(a)


def test_an_ldl_on_day_365_counts_and_on_day_366_is_no_data_while_it_still_sets_the_risk() -> None:
    a = assess({**QUIET, "labs": [lab("2025-06-10", **STD_LAB)]})
    assert a.control.ldl == "controlled"
    a = assess(
        {**QUIET, "conditions": ["hypertension", "dyslipidemia"], "labs": [lab("2025-06-09", **STD_LAB)]}
    )
    assert (a.control.ldl, a.ascvd_risk, a.ldl_target) == ("no_data", "medium", 2.6)
    assert "care.no_data_ldl" in rules(a)
    assert a.egfr is None


def test_unknown_risk_with_an_ldl_makes_ldl_control_unknown() -> None:
    # man 56, hypertension, smoker missing, col 2: 1 factor → medium, 2 → high: unknown
    a = assess({**QUIET, "smoker": None})
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("unknown", None, "unknown")


# ---------------------------------------------------------------- ASCVD step 1 (established ASCVD)


def _ascvd(history: list[dict[str, Any]], **more: Any) -> Assessment:
    return assess({**QUIET, "history": history, **more})


def test_a_stroke_with_hypertension_is_very_high_and_with_smoking_too_ultra_high() -> None:
    assert _ascvd([{"code": "stroke"}]).ascvd_risk == "very_high"  # 1 severe + 1 factor
    assert _ascvd([{"code": "stroke"}], smoker=True).ascvd_risk == "ultra_high"  # 1 severe + 2 factors


def test_two_severe_events_are_ultra_high() -> None:
    assert _ascvd([{"code": "mi"}, {"code": "stroke"}]).ascvd_risk == "ultra_high"
    assert _ascvd([{"code": "pad_revasc"}, {"code": "mi"}]).ascvd_risk == "ultra_high"


def test_an_acs_is_a_severe_event_when_dated_within_365_days_and_not_on_day_366() -> None:
    # acs on 2025-06-10 at age 55: not premature (men <55)
    assert _ascvd([{"code": "acs", "date": "2025-06-10"}, {"code": "stroke"}]).ascvd_risk == "ultra_high"
    assert _ascvd([{"code": "acs", "date": "2025-06-09"}, {"code": "stroke"}]).ascvd_risk == "very_high"


def test_an_undated_acs_is_ascvd_but_not_a_severe_event() -> None:
    assert _ascvd([{"code": "acs"}, {"code": "stroke"}]).ascvd_risk == "very_high"
    assert _ascvd([{"code": "acs"}]).ascvd_risk == "very_high"


def test_a_hemorrhagic_stroke_is_not_ascvd() -> None:
    a = _ascvd([{"code": "hemorrhagic_stroke"}])
    assert a.ascvd_risk == "medium"
    assert "care.established_complication" in rules(a)


@pytest.mark.parametrize("code", ["chd", "tia", "pad", "pci_cabg"])
def test_ascvd_without_a_severe_event_is_very_high(code: str) -> None:
    assert _ascvd([{"code": code}]).ascvd_risk == "very_high"


def test_premature_chd_is_a_dated_chd_before_55_in_a_man_and_never_an_undated_one() -> None:
    # born 1970-01-15; 2025-01-14 → 54. Factors: hypertension + premature CHD = 2; severe: mi
    assert _ascvd([{"code": "mi"}, {"code": "chd", "date": "2025-01-14"}]).ascvd_risk == "ultra_high"
    assert _ascvd([{"code": "mi"}, {"code": "chd", "date": "2025-01-15"}]).ascvd_risk == "very_high"
    assert _ascvd([{"code": "mi"}, {"code": "chd"}]).ascvd_risk == "very_high"


def test_premature_chd_is_a_dated_chd_before_65_in_a_woman() -> None:
    # born 1961-03-01; 2026-02-28 → 64 (<65 for women)
    a = _ascvd([{"code": "mi"}, {"code": "chd", "date": "2026-02-28"}], sex="F", birth_date="1961-03-01")
    assert a.ascvd_risk == "ultra_high"
    a = _ascvd([{"code": "mi"}, {"code": "chd", "date": "2026-03-01"}], sex="F", birth_date="1961-03-01")
    assert a.ascvd_risk == "very_high"


def test_missing_smoking_leaves_established_ascvd_unknown_only_when_it_could_make_ultra_high() -> None:
    # mi (1 severe) + hypertension (1 factor); smoking would be the 2nd factor
    a = _ascvd([{"code": "mi"}], smoker=None)
    assert (a.ascvd_risk, a.ldl_target) == ("unknown", None)
    a = _ascvd(
        [{"code": "mi"}],
        smoker=None,
        conditions=["hypertension", "diabetes"],
        visits=[visit("2026-05-20", 124, 76, fpg=6.0)],
    )
    assert a.ascvd_risk == "ultra_high"


def test_egfr_59_9_is_a_high_risk_factor_in_established_ascvd_and_60_0_or_a_ckd_history_is_not() -> None:
    a = _ascvd([{"code": "mi"}], labs=[lab(**{**STD_LAB, "creatinine": 122.2})])  # eGFR 59.9
    assert a.ascvd_risk == "ultra_high"
    a = _ascvd([{"code": "mi"}], labs=[lab(**{**STD_LAB, "creatinine": 122.0})])  # eGFR 60.0
    assert (a.egfr, a.ascvd_risk) == (60.0, "very_high")
    # mi + hypertension + ckd history with eGFR 99.6: the risk criterion stays eGFR <60 (§8)
    assert _ascvd([{"code": "mi"}, {"code": "ckd"}]).ascvd_risk == "very_high"


def test_a_baseline_ldl_of_4_9_is_a_high_risk_factor_though_the_latest_is_low_and_4_89_is_not() -> None:
    labs = [
        lab("2023-01-10", tc=7.0, ldl_c=4.9, hdl_c=1.3),
        lab(tc=3.0, ldl_c=1.2, hdl_c=1.3, creatinine=80, uacr=10),
    ]
    assert _ascvd([{"code": "mi"}], labs=labs).ascvd_risk == "ultra_high"
    labs = [
        lab("2023-01-10", tc=7.0, ldl_c=4.89, hdl_c=1.3),
        lab(tc=3.0, ldl_c=1.2, hdl_c=1.3, creatinine=80, uacr=10),
    ]
    assert _ascvd([{"code": "mi"}], labs=labs).ascvd_risk == "very_high"


def test_fh_and_pci_cabg_are_high_risk_factors() -> None:
    assert _ascvd([{"code": "mi"}, {"code": "fh"}]).ascvd_risk == "ultra_high"
    assert _ascvd([{"code": "mi"}, {"code": "pci_cabg"}]).ascvd_risk == "ultra_high"


def test_established_ascvd_with_two_known_factors_is_ultra_high_without_any_lipids() -> None:
    a = _ascvd([{"code": "stroke"}], smoker=True, labs=[lab(creatinine=80, uacr=10)])
    assert a.ascvd_risk == "ultra_high"


# ---------------------------------------------------------------- ASCVD step 2 (high without scoring)


def test_a_baseline_ldl_of_4_9_or_tc_of_7_2_is_high_and_just_below_goes_to_the_table() -> None:
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "tc": 6.5, "ldl_c": 4.9})]}).ascvd_risk == "high"
    # col 3; hypertension with 1 factor (age) → row 5 col 3 → medium
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "tc": 6.5, "ldl_c": 4.89})]}).ascvd_risk == "medium"
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "tc": 7.2, "ldl_c": 4.0})]}).ascvd_risk == "high"
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "tc": 7.19, "ldl_c": 4.0})]}).ascvd_risk == "medium"


def test_diabetes_at_exactly_40_is_high_and_at_39_without_other_factors_goes_to_the_table() -> None:
    assert assess({**QUIET_DM, "birth_date": "1986-06-10"}).ascvd_risk == "high"
    # no hypertension, factors: age 39 <45, non-smoker, HDL 1.3 → 0 → row 1 → low
    assert assess({**QUIET_DM, "birth_date": "1986-06-11"}).ascvd_risk == "low"
    a = assess({**QUIET_DM, "labs": []})
    assert (a.ascvd_risk, a.ldl_target, a.control.ldl) == ("high", 1.8, "no_data")


def test_diabetes_at_39_is_high_with_all_three_of_smoking_low_hdl_and_hypertension_only() -> None:
    record = {
        **QUIET_DM,
        "birth_date": "1986-06-11",
        "smoker": True,
        "conditions": ["hypertension", "diabetes"],
        "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=0.9, creatinine=80, uacr=10)],
    }
    assert assess(record).ascvd_risk == "high"
    # table: no hypertension, 2 factors, col 2 (TC 4.5) → row 2 col 2 → low
    record = {
        **QUIET_DM,
        "birth_date": "1986-06-11",
        "smoker": True,
        "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=0.9, creatinine=80, uacr=10)],
    }
    assert assess(record).ascvd_risk == "low"


def test_diabetes_at_39_with_target_organ_damage_is_high() -> None:
    record = {
        **QUIET_DM,
        "birth_date": "1986-06-11",
        "labs": [lab(tc=3.6, ldl_c=1.6, hdl_c=1.3, creatinine=80, uacr=30)],
    }
    assert assess(record).ascvd_risk == "high"
    assert (
        assess({**QUIET_DM, "birth_date": "1986-06-11", "history": [{"code": "retinopathy"}]}).ascvd_risk
        == "high"
    )


def test_egfr_59_9_without_ascvd_is_high_and_60_0_is_not() -> None:
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 122.2})]}).ascvd_risk == "high"
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 122.0})]}).ascvd_risk == "medium"


# ---------------------------------------------------------------- ASCVD step 3 (the table) and step 4


def test_only_one_of_ldl_and_tc_recorded_is_unknown_at_the_table_step() -> None:
    a = assess({**QUIET, "labs": [lab(ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=10)]})
    assert a.ascvd_risk == "unknown"
    a = assess({**QUIET, "labs": [lab(tc=4.5, hdl_c=1.3, creatinine=80, uacr=10)]})
    assert a.ascvd_risk == "unknown"


def test_missing_smoking_that_cannot_move_the_row_leaves_low() -> None:
    # woman 40, no hypertension: factors HDL no, age no, smoking 0 or 1 → row 1 either way → low
    record = {**QUIET, "sex": "F", "birth_date": "1986-01-01", "conditions": ["dyslipidemia"], "smoker": None}
    assert assess(record).ascvd_risk == "low"


def test_hypertension_in_column_1_is_medium_with_two_factors_and_high_with_three() -> None:
    # smoker + age 56 → 2 → row 6; TC 3.5 col 1, LDL 2.0 col 1 → medium
    record = {**QUIET, "smoker": True, "labs": [lab(tc=3.5, ldl_c=2.0, hdl_c=1.3, creatinine=80, uacr=10)]}
    assert assess(record).ascvd_risk == "medium"
    record = {**QUIET, "smoker": True, "labs": [lab(tc=3.5, ldl_c=2.0, hdl_c=0.9, creatinine=80, uacr=10)]}
    assert assess(record).ascvd_risk == "high"
    record = {**QUIET, "smoker": True, "labs": [lab(tc=3.0, ldl_c=1.7, hdl_c=0.9, creatinine=80, uacr=10)]}
    assert assess(record).ascvd_risk == "low"


def test_no_hypertension_is_medium_with_three_factors_in_column_2_and_with_two_only_in_column_3() -> None:
    record = {
        **QUIET,
        "conditions": ["dyslipidemia"],
        "smoker": True,
        "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=0.9, creatinine=80, uacr=10)],
    }
    assert assess(record).ascvd_risk == "medium"
    base = {**QUIET, "conditions": ["dyslipidemia"], "smoker": True}  # smoking + age
    assert (
        assess({**base, "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=10)]}).ascvd_risk
        == "low"
    )
    assert (
        assess({**base, "labs": [lab(tc=5.2, ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=10)]}).ascvd_risk
        == "medium"
    )


def test_ldl_in_column_3_wins_over_tc_in_column_1() -> None:
    # hypertension, 1 factor → row 5: col 1 low, col 3 medium
    record = {**QUIET, "labs": [lab(tc=3.5, ldl_c=3.5, hdl_c=1.3, creatinine=80, uacr=10)]}
    assert assess(record).ascvd_risk == "medium"


def _lifetime(birth: str, *visits: dict[str, Any], tc: float = 4.5) -> Assessment:
    # hypertension, non-smoker, 1 factor (age ≥45) → row 5; TC col 2 or 3 → medium before step 4
    return assess(
        {
            **QUIET,
            "birth_date": birth,
            "visits": list(visits),
            "labs": [lab(tc=tc, ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=10)],
        }
    )


def test_medium_at_54_with_sbp_160_and_bmi_28_is_upgraded_to_high_and_at_55_is_not() -> None:
    # BMI 86 / 1.75² = 28.08
    a = _lifetime("1972-01-15", visit("2026-05-20", 160, 95, weight_kg=86, height_cm=175))
    assert a.ascvd_risk == "high"
    a = _lifetime("1971-01-15", visit("2026-05-20", 160, 95, weight_kg=86, height_cm=175))
    assert a.ascvd_risk == "medium"


def test_one_lifetime_item_is_not_enough_and_sbp_160_with_dbp_100_is_one_item() -> None:
    a = _lifetime("1972-01-15", visit("2026-05-20", 160, 95, weight_kg=70, height_cm=175))  # BMI 22.9
    assert a.ascvd_risk == "medium"
    a = _lifetime("1972-01-15", visit("2026-05-20", 165, 105, weight_kg=70, height_cm=175))
    assert a.ascvd_risk == "medium"


def test_medium_at_54_with_dbp_100_and_non_hdl_5_3_is_high() -> None:
    # TC 6.6 (col 3) − HDL 1.3 = non-HDL 5.3 ≥5.2; DBP 100
    a = _lifetime("1972-01-15", visit("2026-05-20", 150, 100, weight_kg=70, height_cm=175), tc=6.6)
    assert a.ascvd_risk == "high"


def test_missing_bp_or_bmi_makes_the_lifetime_step_unknown_only_when_it_could_reach_two() -> None:
    # BP and BMI are both missing inputs; together they could reach 2
    a = _lifetime("1972-01-15", visit("2026-03-11", 120, 75, weight_kg=70, height_cm=175))
    assert a.ascvd_risk == "unknown"
    a = _lifetime("1972-01-15", visit("2026-05-20", 165, 85))
    assert a.ascvd_risk == "unknown"
    # known items 0; BMI alone can add at most 1 → cannot reach 2
    a = _lifetime("1972-01-15", visit("2026-05-20", 120, 75))
    assert a.ascvd_risk == "medium"


# ---------------------------------------------------------------- kidney: eGFR, stages, albuminuria


@pytest.mark.parametrize(
    ("sex", "birth", "creatinine", "egfr", "stage"),
    [
        ("M", "1966-01-15", 98, 76.1, "G2"),  # worked example A: man 60
        ("F", "1954-01-15", 55, 94.5, "G1"),  # example B: woman 72, Scr < κ
        ("F", "1960-01-15", 110, 47.8, "G3a"),  # example C: woman 66
        ("M", "1978-01-15", 160, 45.6, "G3a"),  # example D: man 48
    ],
)
def test_egfr_matches_the_ckd_epi_2021_worked_examples(
    sex: str, birth: str, creatinine: float, egfr: float, stage: str
) -> None:
    a = assess(
        {**QUIET, "sex": sex, "birth_date": birth, "labs": [lab(**{**STD_LAB, "creatinine": creatinine})]}
    )
    assert (a.egfr, a.ckd_stage) == (egfr, stage)


def test_egfr_uses_the_age_at_the_creatinine_date_not_at_as_of() -> None:
    # born 1965-04-01: 60 on 2026-03-02 (→ 76.1), 61 at as_of (would give 75.7)
    a = assess({**QUIET, "birth_date": "1965-04-01", "labs": [lab(**{**STD_LAB, "creatinine": 98})]})
    assert a.egfr == 76.1


def test_egfr_59_987_is_staged_as_60_0_g2_and_59_9_is_g3a_and_yellow() -> None:
    # man 70, Scr 113.5: 142 × (1.2839/0.9)^−1.2 × 0.9938^70 = 59.987 → 60.0
    a = assess({**QUIET, "birth_date": "1956-01-15", "labs": [lab(**{**STD_LAB, "creatinine": 113.5})]})
    assert (a.egfr, a.ckd_stage) == (60.0, "G2")
    assert "kidney.egfr_30_60" not in rules(a)
    a = assess({**QUIET, "birth_date": "1956-01-15", "labs": [lab(**{**STD_LAB, "creatinine": 113.6})]})
    assert (a.egfr, a.ckd_stage) == (59.9, "G3a")
    assert a.color == "yellow" and "kidney.egfr_30_60" in rules(a)


def test_egfr_30_0_is_g3b_and_yellow_and_29_9_is_g4_and_a_routine_referral() -> None:
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 217.2})]})  # 30.04 → 30.0
    assert (a.egfr, a.ckd_stage, a.color) == (30.0, "G3b", "yellow")
    assert "kidney.egfr_30_60" in rules(a)
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 217.8})]})  # 29.94 → 29.9
    assert (a.egfr, a.ckd_stage, a.color) == (29.9, "G4", "red")
    assert a.referral is not None and a.referral.urgency == "routine"
    assert "kidney.egfr_below_30" in a.referral.reasons


def test_without_creatinine_in_the_lab_window_egfr_is_null_and_a_reason_says_so() -> None:
    a = assess({**QUIET, "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=1.3, uacr=10)]})
    assert (a.egfr, a.ckd_stage) == (None, None)
    assert "kidney.no_creatinine" in rules(a)
    assert a.color == "blue"
    labs = [lab("2025-06-09", creatinine=80), lab(tc=4.5, ldl_c=2.4, hdl_c=1.3, uacr=10)]
    assert assess({**QUIET, "labs": labs}).egfr is None


@pytest.mark.parametrize(
    ("uacr", "albuminuria", "color", "rule"),
    [
        (29.9, "A1", "blue", None),
        (30, "A2", "yellow", "kidney.uacr_30_300"),
        (300, "A2", "yellow", "kidney.uacr_30_300"),
        (300.1, "A3", "red", "kidney.uacr_above_300"),
    ],
)
def test_uacr_boundaries(uacr: float, albuminuria: str, color: str, rule: str | None) -> None:
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "uacr": uacr})]})
    assert (a.albuminuria, a.color) == (albuminuria, color)
    if rule:
        assert rule in rules(a)


def test_a_ckd_history_without_labs_is_an_established_complication() -> None:
    a = assess({**QUIET, "history": [{"code": "ckd"}]})
    assert a.color == "yellow" and "care.established_complication" in rules(a)


# ---------------------------------------------------------------- established complications


@pytest.mark.parametrize("code", ["retinopathy", "neuropathy", "heart_failure", "hemorrhagic_stroke", "ckd"])
def test_a_history_code_other_than_fh_is_yellow(code: str) -> None:
    a = assess({**QUIET, "history": [{"code": code}]})
    assert a.color == "yellow" and "care.established_complication" in rules(a)


def test_fh_alone_is_not_an_established_complication() -> None:
    a = assess({**QUIET, "history": [{"code": "fh"}]})
    assert "care.established_complication" not in rules(a)
    assert a.color == "blue"


# ---------------------------------------------------------------- screening results in the colour


def _screen(*screenings: dict[str, Any]) -> Assessment:
    return assess({**QUIET, "screenings": [*QUIET["screenings"], *screenings]})


def test_an_abi_of_0_49_is_a_routine_referral_and_0_50_only_yellow() -> None:
    a = _screen({"date": "2026-03-02", "kind": "abi", "result": "abnormal", "value": 0.49})
    assert a.color == "red"
    assert a.referral is not None and "pad.abi_below_050" in a.referral.reasons
    a = _screen({"date": "2026-03-02", "kind": "abi", "result": "abnormal", "value": 0.50})
    assert (a.color, a.referral) == ("yellow", None)
    assert "care.abnormal_screening" in rules(a)


def test_a_low_abi_older_than_365_days_or_superseded_by_a_later_abi_is_ignored() -> None:
    a = _screen({"date": "2025-06-09", "kind": "abi", "result": "abnormal", "value": 0.45})
    assert a.color == "blue"
    a = _screen(
        {"date": "2026-01-05", "kind": "abi", "result": "abnormal", "value": 0.45},
        {"date": "2026-03-02", "kind": "abi", "result": "normal", "value": 1.05},
    )
    assert a.color == "blue"


@pytest.mark.parametrize("grade", ["severe_npdr", "pdr"])
def test_a_sight_threatening_fundus_grade_is_a_routine_referral(grade: str) -> None:
    a = _screen({"date": "2026-03-02", "kind": "fundus", "result": "abnormal", "grade": grade})
    assert a.color == "red" and "fundus.severe_dr" in rules(a)


def test_moderate_npdr_is_an_abnormal_screening_and_yellow() -> None:
    a = _screen({"date": "2026-03-02", "kind": "fundus", "result": "abnormal", "grade": "moderate_npdr"})
    assert a.color == "yellow" and "care.abnormal_screening" in rules(a)


def test_an_abnormal_uacr_or_egfr_screening_superseded_by_a_later_lab_is_ignored() -> None:
    a = _screen({"date": "2026-01-10", "kind": "uacr", "result": "abnormal"})
    assert a.color == "blue"
    a = _screen({"date": "2026-01-10", "kind": "egfr", "result": "abnormal"})
    assert a.color == "blue"


def test_an_abnormal_uacr_screening_after_the_latest_uacr_lab_is_yellow() -> None:
    a = _screen({"date": "2026-04-01", "kind": "uacr", "result": "abnormal"})
    assert a.color == "yellow" and "care.abnormal_screening" in rules(a)


def test_an_abnormal_foot_pulse_is_yellow_but_never_listed_as_due() -> None:
    a = _screen(
        {"date": "2025-03-02", "kind": "foot_pulse", "result": "abnormal"},
        {"date": "2026-03-02", "kind": "foot_pulse", "result": "abnormal"},
    )
    assert a.color == "yellow" and "care.abnormal_screening" in rules(a)
    assert "foot_pulse" not in due(a)


def test_an_abnormal_ecg_is_read_on_day_365_and_not_on_day_366() -> None:
    a = assess(
        {
            **QUIET,
            "screenings": [
                {"date": "2025-06-10", "kind": "ecg", "result": "abnormal"},
                {"date": "2026-03-02", "kind": "stroke_risk", "result": "normal"},
            ],
        }
    )
    assert a.color == "yellow" and "care.abnormal_screening" in rules(a)
    assert due(a) == {"ecg": ("2026-06-10", False)}
    a = assess(
        {
            **QUIET,
            "screenings": [
                {"date": "2025-06-09", "kind": "ecg", "result": "abnormal"},
                {"date": "2026-03-02", "kind": "stroke_risk", "result": "normal"},
            ],
        }
    )
    assert a.color == "blue"
    assert due(a) == {"ecg": ("2026-06-09", True)}


# ---------------------------------------------------------------- new patients


def test_a_patient_enrolled_89_days_ago_is_new_and_yellow_for_30_days_and_at_90_days_is_not() -> None:
    a = assess({**QUIET, "enrolled_on": "2026-03-13"})
    assert a.color == "yellow" and "care.new_patient" in rules(a)
    assert a.next_follow_up == date(2026, 6, 22)  # 05-20 + 30 = 06-19 holiday → 06-22
    a = assess({**QUIET, "enrolled_on": "2026-03-12"})
    assert "care.new_patient" not in rules(a)
    assert a.color == "blue"


def test_a_new_patient_without_visits_is_followed_up_from_enrolment_with_screenings_due_at_90_days() -> None:
    # enrolled 2026-06-01: follow-up 06-01 + 30 = 07-01 (Wed). Never done → 06-01 + 90 = 08-30 (a Sunday:
    # due dates are not moved). Risk unknown (no lipids) → carotid and ABI not eligible.
    record = {**QUIET, "enrolled_on": "2026-06-01", "visits": [], "labs": [], "screenings": []}
    a = assess(record)
    assert a.color == "yellow" and {"care.no_data_bp", "care.new_patient"} <= rules(a)
    assert a.next_follow_up == date(2026, 7, 1)
    assert due(a) == {k: ("2026-08-30", False) for k in ("ecg", "stroke_risk", "uacr", "egfr")}


# ---------------------------------------------------------------- screening calendar


def test_a_screening_due_exactly_at_the_look_ahead_is_listed_and_a_day_later_is_not() -> None:
    a = assess(
        {
            **QUIET,
            "screenings": [
                {"date": "2025-09-08", "kind": "ecg", "result": "normal"},
                {"date": "2026-03-02", "kind": "stroke_risk", "result": "normal"},
            ],
        }
    )
    assert due(a) == {"ecg": ("2026-09-08", False)}
    a = assess(
        {
            **QUIET,
            "screenings": [
                {"date": "2025-09-09", "kind": "ecg", "result": "normal"},
                {"date": "2026-03-02", "kind": "stroke_risk", "result": "normal"},
            ],
        }
    )
    assert due(a) == {}


def test_29_february_plus_12_months_is_28_february() -> None:
    as_of = date(2025, 2, 20)
    record = {
        **QUIET,
        "visits": [visit("2025-02-10")],
        "labs": [lab("2024-12-01", **STD_LAB)],
        "screenings": [
            {"date": "2024-02-29", "kind": "ecg", "result": "normal"},
            {"date": "2024-12-01", "kind": "stroke_risk", "result": "normal"},
        ],
    }
    a = assess(record, as_of)
    assert due(a) == {"ecg": ("2025-02-28", False)}


def test_kidney_screening_is_every_6_months_at_g3a_or_a2_and_12_months_at_g1_a1() -> None:
    # man 55 on 2025-12-31, Scr 130: 142 × (1.4706/0.9)^−1.2 × 0.9938^55 = 55.95 → 56.0, G3a
    labs = [lab("2025-12-31", tc=4.5, ldl_c=2.4, hdl_c=1.3, creatinine=130, uacr=10)]
    a = assess({**QUIET, "labs": labs})
    assert a.ckd_stage == "G3a"
    assert due(a)["egfr"] == ("2026-06-30", False)  # 2025-12-31 + 6 months = 2026-06-30
    assert due(a)["uacr"] == ("2026-06-30", False)
    labs = [lab("2025-12-31", tc=4.5, ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=45)]
    a = assess({**QUIET, "labs": labs})
    assert a.albuminuria == "A2"
    assert due(a)["egfr"] == ("2026-06-30", False)
    assert due(a)["uacr"] == ("2026-06-30", False)
    labs = [lab("2025-12-31", tc=4.5, ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=10)]
    a = assess({**QUIET, "labs": labs})
    assert "egfr" not in due(a) and "uacr" not in due(a)  # 2026-12-31 > 2026-09-08


def test_a_diabetes_patient_never_screened_for_fundus_and_neuropathy_is_overdue_from_enrolment() -> None:
    record = {
        **QUIET_DM,
        "screenings": [
            {"date": "2026-03-02", "kind": k, "result": "normal"}
            for k in ("ecg", "stroke_risk", "carotid_us", "abi")
        ],
    }
    a = assess(record)
    # enrolled 2024-01-10 + 90 d = 2024-04-09
    assert due(a) == {"fundus": ("2024-04-09", True), "neuropathy": ("2024-04-09", True)}


def test_high_or_very_high_risk_makes_carotid_and_abi_due_and_unknown_risk_does_not() -> None:
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 122.2})]})  # eGFR 59.9 → high
    assert a.ascvd_risk == "high"
    # G3a also shortens the kidney items to 6 months: 2026-03-02 + 6 months = 2026-09-02 (listed)
    assert due(a) == {
        "carotid_us": ("2024-04-09", True),
        "abi": ("2024-04-09", True),
        "egfr": ("2026-09-02", False),
        "uacr": ("2026-09-02", False),
    }
    a = assess({**QUIET, "history": [{"code": "tia"}]})
    assert due(a) == {"carotid_us": ("2024-04-09", True), "abi": ("2024-04-09", True)}
    a = assess({**QUIET, "smoker": None})
    assert a.ascvd_risk == "unknown"
    assert due(a) == {}


def test_foot_pulse_is_never_listed_for_a_diabetes_patient_who_never_had_it() -> None:
    assert "foot_pulse" not in due(assess(QUIET_DM))


# ---------------------------------------------------------------- next follow-up on a working day


def test_a_follow_up_on_a_holiday_or_sunday_moves_to_the_next_working_day_and_a_make_up_saturday_stays() -> (
    None
):
    a = assess({**QUIET, "visits": [visit("2026-07-03")]}, date(2026, 7, 10))
    assert a.color == "blue"
    assert a.next_follow_up == date(2026, 10, 8)  # 07-03 + 90 = 10-01, holiday to 10-07
    a = assess({**QUIET, "visits": [visit("2026-07-12")]}, date(2026, 7, 15))
    assert a.next_follow_up == date(2026, 10, 10)  # 07-12 + 90 = 10-10, a make-up working Saturday
    a = assess({**QUIET, "visits": [visit("2026-05-25")]})
    assert a.next_follow_up == date(2026, 8, 24)  # 05-25 + 90 = 08-23 Sunday → 08-24


def test_an_overdue_follow_up_is_as_of_moved_past_spring_festival_but_kept_on_a_make_up_saturday() -> None:
    # as_of Mon 2026-02-16 (holiday); visit 2025-10-01 is outside the window → no_data, 30 d → overdue
    a = assess(
        {**QUIET, "visits": [visit("2025-10-01")], "labs": [lab("2025-10-01", **STD_LAB)]}, date(2026, 2, 16)
    )
    assert a.color == "yellow"
    assert a.next_follow_up == date(2026, 2, 24)  # holidays 15–23 Feb
    # as_of Sat 2026-02-28 (make-up working day); the visit of 2025-10-01 is outside the window
    a = assess(
        {**QUIET, "visits": [visit("2025-10-01")], "labs": [lab("2025-10-01", **STD_LAB)]}, date(2026, 2, 28)
    )
    assert a.next_follow_up == date(2026, 2, 28)
    a = assess({**QUIET, "visits": []})  # enrolled 2024-01-10 + 30 is long past
    assert a.next_follow_up == date(2026, 6, 10)


def test_the_shortest_interval_among_fired_reasons_wins() -> None:
    a = assess(
        {**QUIET, "visits": [visit("2026-06-05", 185, 100)], "labs": [lab(**{**STD_LAB, "ldl_c": 3.0})]}
    )
    assert a.color == "red" and "lipid.ldl_above_target" in rules(a)
    assert a.next_follow_up == date(2026, 6, 22)  # min(14, 30) = 14: 06-19 → 06-22
    a = assess(
        {**QUIET, "visits": [visit("2026-06-01", 150, 85)], "labs": [lab(**{**STD_LAB, "ldl_c": 3.0})]}
    )
    assert a.color == "yellow"
    assert a.next_follow_up == date(2026, 6, 15)  # 06-01 + 14 = 06-15 Monday
    a = assess({**QUIET, "visits": [visit("2026-06-01")], "labs": [lab(**{**STD_LAB, "ldl_c": 3.0})]})
    assert a.next_follow_up == date(2026, 7, 1)  # 06-01 + 30 = 07-01 Wednesday


def test_a_referral_lists_every_referring_rule_and_is_urgent_when_one_is() -> None:
    visits = [visit("2026-04-01", 150, 92), visit("2026-05-20", 185, 100)]
    a = assess({**QUIET, "visits": visits})
    assert a.referral is not None
    assert a.referral.urgency == "urgent"
    assert set(a.referral.reasons) == {"htn.urgent_bp", "htn.two_uncontrolled"}


def test_a_2027_follow_up_is_an_error_naming_the_year_unless_the_provisional_calendar_is_asked_for() -> None:
    record = {**QUIET, "visits": [visit("2026-12-01")]}
    with pytest.raises(SangaoError, match="2027"):
        assess(record, date(2026, 12, 10))
    record = {**QUIET, "visits": [visit("2026-12-01")]}
    a = assess(record, date(2026, 12, 10), provisional=True)
    assert a.next_follow_up == date(2027, 3, 1)  # 12-01 + 90 = 2027-03-01, a Monday
    assert any("2027" in w for w in a.warnings)


# ---------------------------------------------------------------- second pass: subtler readings


def test_visits_labs_and_screenings_after_as_of_are_ignored() -> None:
    record = {
        **QUIET,
        "visits": [visit("2026-05-20"), visit("2026-06-11", 185, 100, symptoms=["chest_pain"])],
        "labs": [lab(**STD_LAB), lab("2026-06-11", tc=4.5, ldl_c=3.3, hdl_c=1.3, creatinine=300, uacr=500)],
        "screenings": [
            *QUIET["screenings"],
            {"date": "2026-06-11", "kind": "abi", "result": "abnormal", "value": 0.3},
        ],
    }
    a = assess(record)
    assert (a.color, a.egfr, a.albuminuria, a.control.ldl) == ("blue", 99.6, "A1", "controlled")
    assert a.next_follow_up == date(2026, 8, 18)


def test_the_latest_ldl_is_the_latest_lab_that_carries_ldl() -> None:
    # a later creatinine-only lab does not hide the LDL 3.0 of January (medium target 2.6)
    labs = [lab("2026-01-10", tc=4.5, ldl_c=3.0, hdl_c=1.3), lab(creatinine=80, uacr=10)]
    assert assess({**QUIET, "labs": labs}).control.ldl == "uncontrolled"


def test_baseline_hdl_and_tc_for_the_risk_are_the_earliest_on_record() -> None:
    # baseline HDL 0.9 (2023) → factors age + low HDL = 2; hypertension → row 6; TC 4.5 col 2 → high
    labs = [lab("2023-05-01", hdl_c=0.9), lab(**STD_LAB)]
    assert assess({**QUIET, "labs": labs}).ascvd_risk == "high"
    # baseline TC 5.5 (col 3) with LDL 2.4 (col 1) → col 3; row 5 col 3 → medium; the latest TC 3.5
    # alone would give col 1 → low
    labs = [
        lab("2023-05-01", tc=5.5, ldl_c=2.4, hdl_c=1.3),
        lab(tc=3.5, ldl_c=2.0, hdl_c=1.3, creatinine=80, uacr=10),
    ]
    assert assess({**QUIET, "labs": labs}).ascvd_risk == "medium"


def test_diabetes_with_ascvd_needs_the_50_percent_fall_as_well() -> None:
    # DM + TIA → very_high, diabetes target 1.4; 1.3 <1.4 but (2.0 − 1.3)/2.0 = 35 % ≤50 %
    labs = [
        lab("2024-05-01", tc=4.0, ldl_c=2.0, hdl_c=1.3),
        lab(tc=3.0, ldl_c=1.3, hdl_c=1.3, creatinine=80, uacr=10),
    ]
    a = assess({**QUIET_DM, "history": [{"code": "tia"}], "labs": labs})
    assert (a.ldl_target, a.control.ldl) == (1.4, "uncontrolled")


def test_diabetes_at_20_with_uacr_30_is_high_and_at_19_is_not() -> None:
    record = {**QUIET_DM, "labs": [lab(tc=3.6, ldl_c=1.6, hdl_c=1.3, creatinine=80, uacr=30)]}
    assert assess({**record, "birth_date": "2006-06-10"}).ascvd_risk == "high"
    # 19: table, no hypertension, 0 factors → low
    assert assess({**record, "birth_date": "2006-06-11"}).ascvd_risk == "low"


def test_hdl_1_0_is_not_low_and_a_woman_counts_age_from_55() -> None:
    # man 56 hypertension TC 4.5 col 2: age only → row 5 medium; age + HDL → row 6 high
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "hdl_c": 1.0})]}).ascvd_risk == "medium"
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "hdl_c": 0.99})]}).ascvd_risk == "high"
    # hypertension, HDL 1.3, non-smoker; TC 4.5 col 2: 1 factor → row 5 → medium, 0 → row 4 → low
    base = {**QUIET_F, "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=1.3, creatinine=60, uacr=10)]}
    assert assess({**base, "birth_date": "1971-06-10"}).ascvd_risk == "medium"
    assert assess({**base, "birth_date": "1971-06-11"}).ascvd_risk == "low"


def test_column_boundaries_tc_4_1_and_3_1_or_ldl_1_8() -> None:
    # row 5 (hypertension, 1 factor): col 1 low, col 2 medium; LDL 1.9 is col 1
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "tc": 4.1, "ldl_c": 1.9})]}).ascvd_risk == "medium"
    assert assess({**QUIET, "labs": [lab(**{**STD_LAB, "tc": 4.09, "ldl_c": 1.9})]}).ascvd_risk == "low"
    # row 7 (hypertension, smoking, HDL 0.9, age): col 1 high, below col 1 low
    base = {**QUIET, "smoker": True}
    assert (
        assess({**base, "labs": [lab(tc=3.1, ldl_c=1.7, hdl_c=0.9, creatinine=80, uacr=10)]}).ascvd_risk
        == "high"
    )
    assert (
        assess({**base, "labs": [lab(tc=3.0, ldl_c=1.8, hdl_c=0.9, creatinine=80, uacr=10)]}).ascvd_risk
        == "high"
    )
    assert (
        assess({**base, "labs": [lab(tc=3.09, ldl_c=1.79, hdl_c=0.9, creatinine=80, uacr=10)]}).ascvd_risk
        == "low"
    )


def test_bmi_exactly_28_counts_for_the_lifetime_upgrade_and_27_9_does_not() -> None:
    # 85.75 / 1.75² = 28.0 exactly; 85.4 / 3.0625 = 27.89; with SBP 160 as the second item
    a = _lifetime("1972-01-15", visit("2026-05-20", 160, 95, weight_kg=85.75, height_cm=175))
    assert a.ascvd_risk == "high"
    a = _lifetime("1972-01-15", visit("2026-05-20", 160, 95, weight_kg=85.4, height_cm=175))
    assert a.ascvd_risk == "medium"


def test_missing_smoking_is_a_missing_lifetime_item_when_it_could_reach_two() -> None:
    # man 50, dyslipidaemia only, HDL 0.9, TC 5.5 (col 3): factors age + HDL = 2, smoking unknown →
    # row 2 or row 3, both medium in col 3: the table decides medium. Step 4 (age <55): HDL <1.0 is one
    # item; non-HDL 4.6, SBP 120, BMI 22.9 are not; smoking would be the second → unknown.
    record = {
        **QUIET,
        "birth_date": "1976-01-15",
        "conditions": ["dyslipidemia"],
        "labs": [lab(tc=5.5, ldl_c=3.5, hdl_c=0.9, creatinine=80, uacr=10)],
        "visits": [visit("2026-05-20", 120, 75, weight_kg=70, height_cm=175)],
    }
    assert assess({**record, "smoker": False}).ascvd_risk == "medium"
    assert assess({**record, "smoker": True}).ascvd_risk == "high"
    assert assess({**record, "smoker": None}).ascvd_risk == "unknown"


def test_urgent_bp_is_read_from_the_latest_visit_even_when_that_visit_carries_no_bp() -> None:
    # Literal §3: urgent criteria come from the latest visit; the 185/100 of 05-01 is not it.
    # BP control reads the latest BP reading (05-01): uncontrolled → yellow.
    record = {
        **QUIET_DM,
        "conditions": ["hypertension", "diabetes"],
        "visits": [visit("2026-05-01", 185, 100, fpg=6.0), visit("2026-05-20", None, None, fpg=6.0)],
    }
    a = assess(record)
    assert a.control.bp == "uncontrolled"
    assert "htn.urgent_bp" not in rules(a) and "dm.urgent_bp" not in rules(a)


def test_the_stroke_risk_review_and_a_later_egfr_screening_record_set_their_own_due_dates() -> None:
    record = {**QUIET, "screenings": [{"date": "2026-03-02", "kind": "ecg", "result": "normal"}]}
    assert due(assess(record)) == {"stroke_risk": ("2024-04-09", True)}
    # creatinine/uacr lab 2025-07-01; egfr screening record 2026-01-05 → egfr due 2027-01-05 (not listed);
    # uacr due 2025-07-01 + 12 months = 2026-07-01 (listed)
    record = {
        **QUIET,
        "labs": [lab("2025-07-01", **STD_LAB)],
        "screenings": [*QUIET["screenings"], {"date": "2026-01-05", "kind": "egfr", "result": "normal"}],
    }
    assert due(assess(record)) == {"uacr": ("2026-07-01", False)}


def test_the_provisional_option_adds_no_warning_when_the_follow_up_stays_in_2026() -> None:
    a = assess({**QUIET, "visits": [visit("2026-12-01")]}, date(2026, 12, 10), provisional=True)
    assert a.color == "blue" and a.next_follow_up == date(2027, 3, 1)
    a = assess({**QUIET, "visits": [visit("2026-12-01", 150, 95)]}, date(2026, 12, 10), provisional=True)
    assert a.next_follow_up == date(2026, 12, 15)  # 12-01 + 14, a Tuesday
    assert a.warnings == ()


def test_the_elderly_target_is_uncontrolled_at_150_and_holds_with_proteinuria() -> None:
    base = {**QUIET, "birth_date": "1956-01-15"}
    assert assess({**base, "visits": [visit("2026-05-20", 150, 80)]}).control.bp == "uncontrolled"
    assert assess({**base, "visits": [visit("2026-05-20", 149, 89)]}).control.bp == "controlled"
    a = assess({**QUIET, "birth_date": "1956-01-15", "labs": [lab(**{**STD_LAB, "uacr": 45})]})
    assert a.bp_target == (150, 90)


def test_missing_kidney_labs_count_as_not_met_not_as_unknown() -> None:
    # §8: no UACR / no creatinine → the kidney criteria count as not met; table: 0 factors → low
    record = {**QUIET_DM, "birth_date": "1986-06-11", "labs": [lab(tc=3.6, ldl_c=1.6, hdl_c=1.3)]}
    assert assess(record).ascvd_risk == "low"
    assert assess({**QUIET, "history": [{"code": "ckd"}]}).ascvd_risk == "medium"
    labs = [lab("2025-06-09", uacr=400), lab(tc=4.5, ldl_c=2.4, hdl_c=1.3, creatinine=80)]
    a = assess({**QUIET, "labs": labs})
    assert a.albuminuria is None
    assert a.color == "blue"


def test_a_young_diabetes_patient_with_low_hdl_and_hypertension_but_unknown_smoking_is_unknown() -> None:
    # smoker → step 2 high; non-smoker → table: hypertension, 1 factor (HDL), col 2 → medium
    record = {
        **QUIET_DM,
        "birth_date": "1986-06-11",
        "smoker": None,
        "conditions": ["hypertension", "diabetes"],
        "labs": [lab(tc=4.5, ldl_c=2.4, hdl_c=0.9, creatinine=80, uacr=10)],
    }
    assert assess(record).ascvd_risk == "unknown"


def test_a_no_data_yellow_takes_30_days_from_the_latest_visit() -> None:
    # 06-01 visit without BP; the BP of 01-10 is out of the window → no_data; 06-01 + 30 = 07-01
    a = assess({**QUIET, "visits": [visit("2026-01-10"), visit("2026-06-01", None, None, heart_rate=70)]})
    assert a.control.bp == "no_data"
    assert a.next_follow_up == date(2026, 7, 1)


def test_a_diabetes_patient_aged_50_with_unknown_risk_is_due_abi_but_not_carotid() -> None:
    # mi + diabetes (1 factor), smoking unknown → ultra_high or very_high: unknown. ABI by age ≥50 only.
    record = {
        **QUIET_DM,
        "smoker": None,
        "history": [{"code": "mi"}],
        "screenings": [
            {"date": "2026-03-02", "kind": k, "result": "normal"}
            for k in ("ecg", "stroke_risk", "fundus", "neuropathy")
        ],
    }
    a = assess(record)
    assert a.ascvd_risk == "unknown"
    assert due(a) == {"abi": ("2024-04-09", True)}


def test_egfr_is_from_the_latest_creatinine_and_below_15_is_g5() -> None:
    labs = [lab("2025-09-01", creatinine=300), lab(**STD_LAB)]
    assert assess({**QUIET, "labs": labs}).egfr == 99.6
    a = assess({**QUIET, "labs": [lab(**{**STD_LAB, "creatinine": 500})]})  # 11.04 → 11.0
    assert (a.egfr, a.ckd_stage, a.color) == (11.0, "G5", "red")


def test_a_reason_shows_the_values_it_read_and_its_source() -> None:
    a = assess({**QUIET, "visits": [visit("2026-05-20", 152, 94)]})
    (reason,) = [r for r in a.reasons if r.rule == "htn.uncontrolled"]
    assert "152" in reason.text and "94" in reason.text
    assert reason.color == "yellow" and reason.source


def test_sangao_assess_jsonl_on_a_roster_agrees_and_skips_the_dead(tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    import cli

    records = [
        {**QUIET, "patient_id": "p-blue"},
        {**QUIET, "patient_id": "p-red", "visits": [visit("2026-06-05", 180, 100)]},
        {**QUIET, "patient_id": "p-dead", "deceased_on": "2026-06-10"},
        {**QUIET, "patient_id": "p-moved", "moved_out_on": "2026-05-01"},
        {**QUIET_DM, "patient_id": "p-dm-yellow", "visits": [visit("2026-05-20", fpg=7.0)]},
    ]
    roster = tmp_path / "roster.jsonl"
    roster.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    result = CliRunner().invoke(
        cli.app, ["assess", "--roster", str(roster), "--as-of", "2026-06-10", "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    got = {a["patient_id"]: (a["color"], a["tier"], a["next_follow_up"]) for a in lines}
    assert got == {
        "p-blue": ("blue", "village", "2026-08-18"),
        "p-red": ("red", "county", "2026-06-22"),
        "p-dm-yellow": ("yellow", "township", "2026-06-10"),  # 05-20 + 14 = 06-03 is past → as_of
    }


def test_sangao_assess_reports_how_many_patients_were_skipped(tmp_path: Any) -> None:
    # §1: "Patients who died or moved out on or before as_of are not assessed; the command reports how
    # many were skipped."
    import json
    import re

    from typer.testing import CliRunner

    import cli

    records = [
        {**QUIET, "patient_id": "p-alive"},
        {**QUIET, "patient_id": "p-dead", "deceased_on": "2026-06-10"},
        {**QUIET, "patient_id": "p-moved", "moved_out_on": "2026-05-01"},
    ]
    roster = tmp_path / "roster.jsonl"
    roster.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    result = CliRunner().invoke(
        cli.app,
        [
            "assess",
            "--roster",
            str(roster),
            "--as-of",
            "2026-06-10",
            "--format",
            "jsonl",
            "--out",
            str(tmp_path / "out.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    # Chinese by default ("2 名未评估"), English with --lang en
    assert re.search(r"\b2\b[^\n]*skipped|skipped[^\n]*\b2\b|2 名未评估", result.output)


def test_an_unknown_risk_comes_with_a_reason_naming_the_missing_input() -> None:
    # §1: "A category that a missing input could change is unknown, with a reason naming the input."
    a = assess({**QUIET, "smoker": None})
    assert a.color == "blue"
    assert [r.color for r in a.reasons if "smoker" in r.text] == ["blue"]
    a = assess(
        {
            **QUIET,
            "conditions": ["hypertension", "dyslipidemia"],
            "labs": [lab(ldl_c=2.4, hdl_c=1.3, creatinine=80, uacr=10)],
        }
    )
    (reason,) = [r for r in a.reasons if r.rule == "lipid.unknown_risk"]
    assert reason.color == "yellow" and "baseline_tc" in reason.text


def test_hba1c_is_judged_beside_fpg_without_changing_the_colour() -> None:
    # §2: HbA1c <7.0 % is reported beside FPG (hba1c_control); the default colour uses FPG
    def hba1c(value: float) -> tuple[str, str]:
        record = {
            **QUIET_DM,
            "labs": [lab(tc=3.6, ldl_c=1.6, hdl_c=1.3, creatinine=80, uacr=10, hba1c=value)],
        }
        assessed = _assessor(AS_OF, False).assess(Patient.model_validate(record), AS_OF)
        return assessed.evaluation.facts["hba1c_control"], assessed.assessment.color

    assert hba1c(7.0) == ("uncontrolled", "blue")
    assert hba1c(6.9) == ("controlled", "blue")


@pytest.mark.parametrize(
    ("seen", "due_day", "expected"),
    [
        # visit (= as_of), visit + 90 days (blue), the working day expected (chinese_calendar 2026 data)
        ("2025-10-03", "2026-01-01", "2026-01-04"),  # Thu, New Year → make-up Sunday 01-04
        ("2025-10-04", "2026-01-02", "2026-01-04"),  # Fri
        ("2025-10-06", "2026-01-04", "2026-01-04"),  # Sun, a make-up working day
        ("2025-11-16", "2026-02-14", "2026-02-14"),  # Sat, make-up working day
        ("2025-11-18", "2026-02-16", "2026-02-24"),  # Mon, Spring Festival 15–23 Feb
        ("2025-11-22", "2026-02-20", "2026-02-24"),  # Fri
        ("2025-11-25", "2026-02-23", "2026-02-24"),  # Mon
        ("2025-11-30", "2026-02-28", "2026-02-28"),  # Sat, make-up working day
        ("2026-01-06", "2026-04-06", "2026-04-07"),  # Mon, Qingming
        ("2026-01-31", "2026-05-01", "2026-05-06"),  # Fri, Labour Day 1–5 May
        ("2026-02-04", "2026-05-05", "2026-05-06"),  # Tue
        ("2026-02-08", "2026-05-09", "2026-05-09"),  # Sat, make-up working day
        ("2026-03-21", "2026-06-19", "2026-06-22"),  # Fri, Dragon Boat
        ("2026-06-22", "2026-09-20", "2026-09-20"),  # Sun, make-up working day
        ("2026-06-27", "2026-09-25", "2026-09-28"),  # Fri, Mid-Autumn
        ("2026-07-03", "2026-10-01", "2026-10-08"),  # Thu, National Day 1–7 Oct
        ("2026-07-09", "2026-10-07", "2026-10-08"),  # Wed
        ("2026-07-12", "2026-10-10", "2026-10-10"),  # Sat, make-up working day
        ("2026-09-27", "2026-12-26", "2026-12-28"),  # Sat, an ordinary weekend
    ],
)
def test_every_2026_holiday_and_make_up_day_moves_or_keeps_a_blue_follow_up(
    seen: str, due_day: str, expected: str
) -> None:
    record = {
        **QUIET,
        "visits": [visit(seen)],
        "labs": [lab(seen, **STD_LAB)],
        "screenings": [{"date": seen, "kind": k, "result": "normal"} for k in ("ecg", "stroke_risk")],
    }
    a = assess(record, date.fromisoformat(seen))
    assert a.color == "blue"
    assert a.next_follow_up == date.fromisoformat(expected)


def test_a_provisional_2027_follow_up_on_spring_festival_eve_moves_past_the_statutory_days() -> None:
    # visit 2026-11-07 + 90 = 2027-02-05, 除夕. The holiday-law days as the `holidays` package has them:
    # 5–8 Feb (eve, 1st–3rd day) and 9–10 Feb in lieu of the weekend days; no make-up working days → Thu 02-11
    record = {**QUIET, "visits": [visit("2026-11-07")], "labs": [lab("2026-09-01", **STD_LAB)]}
    a = assess(record, date(2026, 11, 10), provisional=True)
    assert a.next_follow_up == date(2027, 2, 11)
    assert len(a.warnings) == 1 and "2027" in a.warnings[0]


def test_a_dated_mi_or_an_old_acs_before_55_is_premature_chd() -> None:
    # mi on 2024-01-14 at 53: severe event + factors hypertension and premature CHD → ultra_high
    assert _ascvd([{"code": "mi", "date": "2024-01-14"}]).ascvd_risk == "ultra_high"
    # acs of 2020 (age 49) is no recent severe event, but it is premature CHD; stroke is the severe event
    assert _ascvd([{"code": "acs", "date": "2020-01-01"}, {"code": "stroke"}]).ascvd_risk == "ultra_high"


def test_established_ascvd_without_lipids_is_decided_only_when_the_lipids_cannot_change_it() -> None:
    # TIA: no severe event, so very_high whatever the lipids
    assert _ascvd([{"code": "tia"}], labs=[lab(creatinine=80, uacr=10)]).ascvd_risk == "very_high"
    # mi + hypertension: a baseline LDL-C ≥4.9 would be the 2nd high-risk factor → ultra_high or very_high
    # (literal §1: "a category that a missing input could change is unknown")
    assert _ascvd([{"code": "mi"}], labs=[lab(creatinine=80, uacr=10)]).ascvd_risk == "unknown"


def test_a_tc_of_7_2_alone_is_high_without_an_ldl() -> None:
    # step 2 decides before the table needs the missing LDL-C
    assert assess({**QUIET, "labs": [lab(tc=7.5, hdl_c=1.3, creatinine=80, uacr=10)]}).ascvd_risk == "high"
