"""`Facts`: the closed vocabulary a guideline rule may read (docs/guideline-language.md §4).

FACTS names every base fact with its type, unit and meaning; the guideline checker rejects any
other name (derived facts are declared by the guideline's own `derive` entries). compute_facts()
turns one validated patient record into these values at `as_of`; null means unknown/missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pathways.vocab import HistoryCode, ScreeningKind

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
    "coronary_event_age_years": _f("integer", "year", "age at the earliest dated chd/mi/acs; null if none dated"),
    "visit_days_ago": _f("integer", "day", "days since the latest visit on or before as_of (no window)"),
    "visit_sbp": _f("number", "mmHg", "SBP of the latest visit, if within the control window"),
    "visit_dbp": _f("number", "mmHg", "DBP of the latest visit, if within the control window"),
    "visit_heart_rate": _f("number", "/min", "heart rate of the latest visit, if within the control window"),
    "visit_fpg": _f("number", "mmol/L", "FPG of the latest visit, if within the control window"),
    "visit_random_glucose": _f("number", "mmol/L", "random glucose of the latest visit, if within the control window"),
    "visit_temperature": _f("number", "°C", "temperature of the latest visit, if within the control window"),
    "visit_symptoms": _f("set", None, "symptom codes of the latest visit within the control window"),
    "visit_adverse_reaction": _f("bool", None, "adverse reaction at the latest visit within the control window"),
    "visit_new_complication": _f("bool", None, "new complication at the latest visit within the control window"),
    "latest_sbp": _f("number", "mmHg", "SBP of the latest visit carrying SBP and DBP, within the control window"),
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
    "ldl_reduction_pct": _f("number", "%", "fall from baseline to latest LDL-C; null without an earlier LDL-C"),
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
