"""`Facts`: the closed vocabulary a guideline rule may read (docs/guideline-language.md §4).

FACTS names every base fact with its type, unit and meaning; the guideline checker rejects any
other name (derived facts are declared by the guideline's own `derive` entries). compute_facts()
turns one validated patient record into these values at `as_of`; null means unknown/missing. The
record is a `Patient` or anything that reads like one: store/fast_json.py's `decode_record` Struct
(enums as plain strings), which is how `sangao assess` reads a roster.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pathways.errors import SangaoError
from pathways.measures import (
    EGFR_EQUATIONS,
    age_years,
    bmi,
    egfr,
    last_screening_date,
    latest_visit_date,
    ldl_reduction_pct,
    newest_first,
    non_hdl_c,
)
from pathways.models import Patient
from pathways.vocab import Condition, HistoryCode, ScreeningKind

FactType = Literal["number", "integer", "bool", "string", "set"]


@dataclass(frozen=True)
class FactSpec:
    type: FactType
    unit: str | None
    description: str


def _f(type_: FactType, unit: str | None, description: str) -> FactSpec:
    return FactSpec(type_, unit, description)


FACTS: dict[str, FactSpec] = {
    "age_years": _f("integer", "year", "whole years of age at as_of"),
    "sex": _f("string", None, "M or F"),
    "in_hypertension": _f("bool", None, "enrolled in the hypertension programme"),
    "in_diabetes": _f("bool", None, "enrolled in the diabetes programme"),
    "in_dyslipidemia": _f("bool", None, "enrolled in the dyslipidaemia programme"),
    "enrolled_days": _f("integer", "day", "days from enrolled_on to as_of"),
    "smoker": _f("bool", None, "current smoker; null = unknown"),
    "pregnant": _f("bool", None, "pregnant; null = unknown"),
    "breastfeeding": _f("bool", None, "breastfeeding; null = unknown"),
    **{f"history_{c.value}": _f("bool", None, f"history code {c.value} recorded") for c in HistoryCode},
    "history_acs_days_ago": _f("integer", "day", "days since a dated acs; null if none or undated"),
    "coronary_event_age_years": _f(
        "integer", "year", "age at the earliest dated chd/mi/acs; null if none dated"),
    "visit_days_ago": _f("integer", "day", "days since the latest visit on or before as_of (no window)"),
    "visit_sbp": _f("number", "mmHg", "SBP of the latest visit, if within the control window"),
    "visit_dbp": _f("number", "mmHg", "DBP of the latest visit, if within the control window"),
    "visit_heart_rate": _f("number", "/min", "heart rate of the latest visit, if within the control window"),
    "visit_fpg": _f("number", "mmol/L", "FPG of the latest visit, if within the control window"),
    "visit_random_glucose": _f(
        "number", "mmol/L", "random glucose of the latest visit, if within the control window"),
    "visit_temperature": _f("number", "°C", "temperature of the latest visit, if within the control window"),
    "visit_symptoms": _f("set", None, "symptom codes of the latest visit within the control window"),
    "visit_adverse_reaction": _f(
        "bool", None, "adverse reaction at the latest visit within the control window"),
    "visit_new_complication": _f(
        "bool", None, "new complication at the latest visit within the control window"),
    "latest_sbp": _f(
        "number", "mmHg", "SBP of the latest visit carrying SBP and DBP, within the control window"),
    "latest_dbp": _f("number", "mmHg", "DBP of that visit"),
    "latest_bp_days_ago": _f("integer", "day", "days since that visit"),
    "latest_fpg": _f("number", "mmol/L", "FPG of the latest visit carrying FPG, within the control window"),
    "latest_fpg_days_ago": _f("integer", "day", "days since that visit"),
    "bp1_sbp": _f("number", "mmHg", "latest BP reading within the consecutive window: SBP"),
    "bp1_dbp": _f("number", "mmHg", "latest BP reading within the consecutive window: DBP"),
    "bp2_sbp": _f("number", "mmHg", "the BP reading before bp1, within the consecutive window: SBP"),
    "bp2_dbp": _f("number", "mmHg", "the BP reading before bp1, within the consecutive window: DBP"),
    "fpg1": _f("number", "mmol/L", "latest FPG within the consecutive window"),
    "fpg2": _f("number", "mmol/L", "the FPG before fpg1, within the consecutive window"),
    "adverse1": _f("bool", None, "adverse_reaction of the latest visit within the consecutive window"),
    "adverse2": _f("bool", None, "adverse_reaction of the visit before, within the consecutive window"),
    "bmi": _f("number", "kg/m2", "latest weight in the control window / (latest height on record)^2"),
    "waist_cm": _f("number", "cm", "latest waist within the control window"),
    "latest_ldl_c": _f("number", "mmol/L", "latest LDL-C within the lab window"),
    "latest_tc": _f("number", "mmol/L", "latest TC within the lab window"),
    "latest_hdl_c": _f("number", "mmol/L", "latest HDL-C within the lab window"),
    "latest_tg": _f("number", "mmol/L", "latest TG within the lab window"),
    "latest_hba1c": _f("number", "%", "latest HbA1c within the lab window"),
    "latest_uacr": _f("number", "mg/g", "latest UACR within the lab window"),
    "latest_creatinine": _f("number", "µmol/L", "latest creatinine within the lab window"),
    "baseline_ldl_c": _f("number", "mmol/L", "earliest LDL-C on record"),
    "baseline_tc": _f("number", "mmol/L", "earliest TC on record"),
    "baseline_hdl_c": _f("number", "mmol/L", "earliest HDL-C on record"),
    "baseline_non_hdl_c": _f("number", "mmol/L", "baseline TC minus baseline HDL-C"),
    "ldl_reduction_pct": _f(
        "number", "%", "fall from baseline to latest LDL-C; null without an earlier LDL-C"),
    "egfr": _f("number", "mL/min/1.73m2", "eGFR from the latest creatinine in the lab window, one decimal"),
    **{
        name: spec
        for k in ScreeningKind
        for name, spec in {
            f"screen_{k.value}_days_ago": _f("integer", "day", f"days since the latest {k.value} screening"),
            f"screen_{k.value}_abnormal": _f("bool", None, f"the latest {k.value} screening is abnormal"),
            f"screen_{k.value}_value": _f("number", None, f"value of the latest {k.value} screening"),
        }.items()
    },
    "screen_fundus_grade": _f("string", None, "grade of the latest fundus screening"),
}

# Parameters pathways/facts.py reads; every set must define them.
MEASURE_PARAMETERS = ("control_window_days", "consecutive_window_days", "lab_window_days", "egfr_equation")


# ---- compute_facts --------------------------------------------------------------------------
# Hot path: it runs for every patient of a roster (100,000+ in the benchmark). Each record list is
# sorted once (measures.newest_first) and scanned from the newest end; no pydantic calls.

_HISTORY = {c.value: f"history_{c.value}" for c in HistoryCode}
_CORONARY_EVENTS = frozenset({HistoryCode.CHD.value, HistoryCode.MI.value, HistoryCode.ACS.value})
_SCREEN_FACTS = {
    k.value: (f"screen_{k.value}_days_ago", f"screen_{k.value}_abnormal", f"screen_{k.value}_value")
    for k in ScreeningKind
}
_NO_SYMPTOMS: frozenset[str] = frozenset()
_SCREEN_EGFR, _SCREEN_UACR = _SCREEN_FACTS["egfr"], _SCREEN_FACTS["uacr"]  # a kidney lab dates these
# the programmes as plain strings: a record's conditions are Condition members (Patient) or strings
_HYPERTENSION = Condition.HYPERTENSION.value
_DIABETES = Condition.DIABETES.value
_DYSLIPIDEMIA = Condition.DYSLIPIDEMIA.value

# Every fact starts as null (unknown) except the history flags, which are plain booleans.
_TEMPLATE: dict[str, Any] = dict.fromkeys(FACTS)
_TEMPLATE.update(dict.fromkeys(_HISTORY.values(), False))


def compute_facts(
    patient: Patient,
    as_of: date,
    params: Mapping[str, Any],
    symptom_codes: Collection[str] | None = None,
    measures: tuple[int, int, int, str] | None = None,
) -> dict[str, Any]:
    """The base facts of `patient` at `as_of`: exactly the keys of FACTS, None where unknown.

    `params` holds the guideline set's parameter values; this reads MEASURE_PARAMETERS from it
    (windows in days, inclusive at both ends; `egfr_equation`). Only records dated on or before
    `as_of` count: a visit, lab, screening or dated history item after it is ignored (store/
    reports it as a data-quality finding). `symptom_codes`, when given, is the set's symptom
    vocabulary: a code outside it at the visit the rules read is an R403 error, never dropped,
    since a misspelt danger symptom would otherwise silently miss an urgent referral.
    Values are plain Python (str, int, float, bool, frozenset), ready for either runtime.
    `measures`: `measure_params(params)`, checked once by a caller that computes many patients.
    """
    control_days, consecutive_days, lab_days, equation = measures or measure_params(params)
    today = as_of.toordinal()
    facts = dict(_TEMPLATE)
    sex = str(patient.sex)  # a StrEnum (Patient) or its plain string (store/fast_json.py's record)
    birth = patient.birth_date

    facts["age_years"] = age_years(birth, as_of)
    facts["sex"] = sex
    conditions = patient.conditions
    facts["in_hypertension"] = _HYPERTENSION in conditions
    facts["in_diabetes"] = _DIABETES in conditions
    facts["in_dyslipidemia"] = _DYSLIPIDEMIA in conditions
    facts["enrolled_days"] = today - patient.enrolled_on.toordinal()
    facts["smoker"] = patient.smoker
    facts["pregnant"] = patient.pregnant
    facts["breastfeeding"] = patient.breastfeeding

    # history: a dated item after as_of had not happened yet; an undated one always counts
    coronary: date | None = None
    for item in patient.history:
        when = item.date
        if when is not None and when > as_of:
            continue
        code = item.code  # a StrEnum: hashes and compares as its string
        facts[_HISTORY[code]] = True
        if when is not None:
            if code == "acs":
                facts["history_acs_days_ago"] = today - when.toordinal()
            if code in _CORONARY_EVENTS and (coronary is None or when < coronary):
                coronary = when
    if coronary is not None:
        facts["coronary_event_age_years"] = age_years(birth, coronary)

    # visits
    visits = newest_first(patient.visits, as_of)
    if visits:
        latest = visits[0]
        ago = today - latest.date.toordinal()
        facts["visit_days_ago"] = ago
        if ago <= control_days:
            facts["visit_sbp"] = latest.sbp
            facts["visit_dbp"] = latest.dbp
            facts["visit_heart_rate"] = latest.heart_rate
            facts["visit_fpg"] = latest.fpg
            facts["visit_random_glucose"] = latest.random_glucose
            facts["visit_temperature"] = latest.temperature
            facts["visit_adverse_reaction"] = latest.adverse_reaction
            facts["visit_new_complication"] = latest.new_complication
            symptoms = latest.symptoms
            if symptoms:
                if symptom_codes is not None:
                    _check_symptoms(patient, latest, symptom_codes)
                facts["visit_symptoms"] = frozenset(symptoms)
            else:  # most visits: no symptom
                facts["visit_symptoms"] = _NO_SYMPTOMS

        # one pass, newest first, for every visit fact below (each is the first visit carrying its
        # fields within its window; the height has no window); it stops when nothing more can be found
        control_low, consecutive_low = today - control_days, today - consecutive_days
        past = min(control_low, consecutive_low)
        bp = fpg = weight = waist = height = None
        bps: list = []
        fpgs: list = []
        recent: list = []
        newer = iter(visits)
        for visit in newer:
            day = visit.date.toordinal()
            if day < past:
                # past both windows only the height is left to find, and only for a weight's BMI:
                # this visit and the older ones, tested for a height alone
                if height is None and weight is not None:
                    if visit.height_cm is not None:
                        height = visit
                    else:
                        for older in newer:
                            if older.height_cm is not None:
                                height = older
                                break
                break
            has_bp = visit.sbp is not None and visit.dbp is not None
            if day >= consecutive_low:
                if len(recent) < 2:
                    recent.append(visit)
                if has_bp and len(bps) < 2:
                    bps.append(visit)
                if visit.fpg is not None and len(fpgs) < 2:
                    fpgs.append(visit)
            if day >= control_low:
                if bp is None and has_bp:
                    bp = visit
                if fpg is None and visit.fpg is not None:
                    fpg = visit
                if weight is None and visit.weight_kg is not None:
                    weight = visit
                if waist is None and visit.waist_cm is not None:
                    waist = visit
            if height is None and visit.height_cm is not None:
                height = visit
        if bp is not None:
            if params.get("same_day_reading") == "highest":
                bp = _highest_same_day(visits, bp)
            facts["latest_sbp"] = bp.sbp
            facts["latest_dbp"] = bp.dbp
            facts["latest_bp_days_ago"] = today - bp.date.toordinal()
        if fpg is not None:
            facts["latest_fpg"] = fpg.fpg
            facts["latest_fpg_days_ago"] = today - fpg.date.toordinal()
        if bps:
            facts["bp1_sbp"], facts["bp1_dbp"] = bps[0].sbp, bps[0].dbp
            if len(bps) > 1:
                facts["bp2_sbp"], facts["bp2_dbp"] = bps[1].sbp, bps[1].dbp
        if fpgs:
            facts["fpg1"] = fpgs[0].fpg
            if len(fpgs) > 1:
                facts["fpg2"] = fpgs[1].fpg
        if recent:
            facts["adverse1"] = recent[0].adverse_reaction
            if len(recent) > 1:
                facts["adverse2"] = recent[1].adverse_reaction
        if weight is not None and height is not None and height.height_cm > 0:  # 0 cm: implausible (store/)
            facts["bmi"] = bmi(weight.weight_kg, height.height_cm)
        if waist is not None:
            facts["waist_cm"] = waist.waist_cm

    # labs
    labs = newest_first(patient.labs, as_of)
    creatinine_lab = uacr_lab = None
    egfr_of_creatinine = None
    if labs:
        # one pass, newest first: each analyte's latest value in the lab window, and the latest
        # creatinine and UACR labs of any date (they date the kidney screenings)
        lab_low = today - lab_days
        last_ldl = ldl = tc = hdl = tg = hba1c = uacr = creatinine = None
        for lab in labs:
            if creatinine_lab is None and lab.creatinine is not None:
                creatinine_lab = lab
            if uacr_lab is None and lab.uacr is not None:
                uacr_lab = lab
            if lab.date.toordinal() >= lab_low:
                if ldl is None:
                    ldl = lab.ldl_c
                    if ldl is not None:
                        last_ldl = lab
                if tc is None:
                    tc = lab.tc
                if hdl is None:
                    hdl = lab.hdl_c
                if tg is None:
                    tg = lab.tg
                if hba1c is None:
                    hba1c = lab.hba1c
                if uacr is None:
                    uacr = lab.uacr
                if creatinine is None:
                    creatinine = lab.creatinine
            elif creatinine_lab is not None and uacr_lab is not None:
                break
        facts["latest_ldl_c"] = ldl
        facts["latest_tc"] = tc
        facts["latest_hdl_c"] = hdl
        facts["latest_tg"] = tg
        facts["latest_hba1c"] = hba1c
        facts["latest_uacr"] = uacr
        facts["latest_creatinine"] = creatinine
        if creatinine_lab is not None and creatinine_lab.date.toordinal() >= lab_low:
            facts["egfr"] = egfr_of_creatinine = _lab_egfr(creatinine_lab, birth, sex, equation)

        # the earliest lab carrying each (the first listed of a date): one pass, oldest first, that
        # stops when all three are found (mostly at the first lab)
        first_ldl = first_tc = first_hdl = None
        for lab in reversed(labs):
            if first_ldl is None and lab.ldl_c is not None:
                first_ldl = lab
            if first_tc is None and lab.tc is not None:
                first_tc = lab
            if first_hdl is None and lab.hdl_c is not None:
                first_hdl = lab
            if first_ldl is not None and first_tc is not None and first_hdl is not None:
                break
        if first_ldl is not None:
            facts["baseline_ldl_c"] = first_ldl.ldl_c
            if last_ldl is not None and first_ldl.date < last_ldl.date:
                facts["ldl_reduction_pct"] = ldl_reduction_pct(first_ldl.ldl_c, last_ldl.ldl_c)
        if first_tc is not None:
            facts["baseline_tc"] = first_tc.tc
        if first_hdl is not None:
            facts["baseline_hdl_c"] = first_hdl.hdl_c
        if first_tc is not None and first_hdl is not None:
            facts["baseline_non_hdl_c"] = non_hdl_c(first_tc.tc, first_hdl.hdl_c)

    # screenings: the latest of each kind; on one date the later-listed record wins (one pass in the
    # listed order: no sort, a few records)
    latest_by_kind: dict[str, Any] = {}
    for screening in patient.screenings:
        when = screening.date
        if when > as_of:
            continue
        kind = screening.kind  # a StrEnum: hashes and compares as its string
        held = latest_by_kind.get(kind)
        if held is None or when >= held.date:
            latest_by_kind[kind] = screening
    for kind, screening in latest_by_kind.items():
        days_name, abnormal_name, value_name = _SCREEN_FACTS[kind]
        facts[days_name] = today - screening.date.toordinal()
        facts[abnormal_name] = screening.result == "abnormal"
        facts[value_name] = screening.value
    # A lab strictly later than the screening record supersedes it and is judged by its value
    # (pathway-defaults §8); on the same date the screening record, with its explicit result, stays.
    if creatinine_lab is not None:
        held = latest_by_kind.get("egfr")
        if held is None or creatinine_lab.date > held.date:
            days_name, abnormal_name, value_name = _SCREEN_EGFR
            facts[days_name] = today - creatinine_lab.date.toordinal()
            facts[abnormal_name] = False
            # the same lab as the `egfr` fact's when that one is in the lab window: same value
            facts[value_name] = (
                egfr_of_creatinine
                if egfr_of_creatinine is not None
                else _lab_egfr(creatinine_lab, birth, sex, equation)
            )
    if uacr_lab is not None:
        held = latest_by_kind.get("uacr")
        if held is None or uacr_lab.date > held.date:
            days_name, abnormal_name, value_name = _SCREEN_UACR
            facts[days_name] = today - uacr_lab.date.toordinal()
            facts[abnormal_name] = False
            facts[value_name] = uacr_lab.uacr
    fundus = latest_by_kind.get("fundus")
    if fundus is not None and fundus.grade is not None:
        facts["screen_fundus_grade"] = str(fundus.grade)
    return facts


def _lab_egfr(lab: Any, birth: date, sex: str, equation: str) -> float | None:
    """eGFR of a creatinine lab, age taken at the lab date; None for a non-positive creatinine.

    Computed afresh for every patient, as are the BMI, the LDL-C reduction and non-HDL-C: their
    roundings take the float path (pathways/measures.py `round_half_up`), cheaper than a memo of
    them over a roster's hundred thousand value pairs, whose tables outgrew the core's cache (a
    first pass over 100,000 patients ran 3 µs a patient slower with them)."""
    creatinine = lab.creatinine
    if creatinine <= 0:  # store/ reports it as implausible
        return None
    return egfr(creatinine, age_years(birth, lab.date), sex, equation)


def _highest_same_day(visits: list, bp: Any) -> Any:
    """Of the BP readings on `bp`'s day, the one with the highest SBP (then DBP): the guideline
    parameter `same_day_reading: highest` (parameters.yaml; docs/pathway-defaults.md §1). Without
    it the later-listed reading of the day counts (`last`, the order newest_first keeps)."""
    day = bp.date
    for visit in visits:
        if visit.date == day and visit.sbp is not None and visit.dbp is not None:
            if (visit.sbp, visit.dbp) > (bp.sbp, bp.dbp):
                bp = visit
        elif visit.date < day:
            break
    return bp


def measure_params(params: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """The measure parameters (control, consecutive and lab windows in days, eGFR equation), checked."""
    values: list[Any] = []
    for name in MEASURE_PARAMETERS:
        if name not in params:
            raise SangaoError.one(
                "R401",
                f"measure parameter '{name}' is missing from the guideline set",
                hint=f"define `{name}` under `parameters:` (national-default: parameters.yaml)",
            )
        values.append(params[name])
    *windows, equation = values
    for name, value in zip(MEASURE_PARAMETERS, windows, strict=False):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SangaoError.one(
                "R402",
                f"measure parameter '{name}' is {value!r}",
                hint="write a whole number of days, 0 or more (e.g. 90)",
            )
    if equation not in EGFR_EQUATIONS:
        raise SangaoError.one(
            "R402",
            f"measure parameter 'egfr_equation' is {equation!r}",
            hint="write one of: " + ", ".join(EGFR_EQUATIONS),
        )
    return windows[0], windows[1], windows[2], equation


def _check_symptoms(patient: Patient, visit: Any, symptom_codes: Collection[str]) -> None:
    for code in visit.symptoms:
        if code not in symptom_codes:
            close = difflib.get_close_matches(code, sorted(symptom_codes), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise SangaoError.one(
                "R403",
                f"patient {patient.patient_id}: visit {visit.date.isoformat()}: "
                f"unknown symptom code {code!r}",
                column="symptoms",
                hint=hint + "the guideline set's vocabulary.yaml lists the symptom codes",
            )


# Helpers the composition step (engine/assess.py) reads beside the facts.
__all__ = [
    "FACTS",
    "MEASURE_PARAMETERS",
    "FactSpec",
    "compute_facts",
    "last_screening_date",
    "measure_params",
    "latest_visit_date",
]
