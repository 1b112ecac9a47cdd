"""Domain models of the interchange format: the patient record (input, §1) and the assessment
(output, §2) of docs/interchange.md.

Frozen pydantic models with `extra="forbid"`: an unknown key is an error, never dropped. Types
are strict (a string "150" is not a number, "yes" is not a boolean) because durable_rules
compares loosely and facts must come only from validated values. Units sit in field metadata.
Plausibility (SBP 400) is not checked here: it is a data-quality finding, kept and reported by
store/validation.py, not a reason to refuse the record.
"""

from datetime import date as _date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictStr, field_validator
from pydantic_core import core_schema

from pathways.vocab import (
    AscvdRisk,
    Color,
    Condition,
    Control,
    FundusGrade,
    HistoryCode,
    Result,
    ScreeningKind,
    Sex,
    Tier,
    Urgency,
)


def _iso_date_only(value):
    # lax `date` also accepts Unix timestamps; only ISO strings and dates are dates here.
    if isinstance(value, (bool, int, float)):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


class _IsoDateSchema:
    """A date from JSON is an ISO string, checked natively by pydantic-core (strict: anything else,
    such as a timestamp or a datetime string, fails the JSON fast path of store/importer.py, which
    then validates the parsed dict in Python mode and reports it). From Python: a date, or a string
    lax `date` parses, never a number."""

    def __get_pydantic_core_schema__(self, source, handler):
        return core_schema.json_or_python_schema(
            json_schema=core_schema.date_schema(strict=True),
            python_schema=core_schema.no_info_before_validator_function(_iso_date_only, handler(source)),
        )


# Native strict float (pydantic-core, no Python call per value): ints are accepted where floats are
# meant (150 == 150.0); strings, booleans, NaN and infinities are not.
Num = Annotated[float, Strict(), Field(allow_inf_nan=False)]
IsoDate = Annotated[_date, _IsoDateSchema()]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HistoryItem(_Frozen):
    code: HistoryCode
    date: IsoDate | None = None


class Visit(_Frozen):
    date: IsoDate
    sbp: Num | None = Field(None, json_schema_extra={"unit": "mmHg"})
    dbp: Num | None = Field(None, json_schema_extra={"unit": "mmHg"})
    heart_rate: Num | None = Field(None, json_schema_extra={"unit": "/min"})
    fpg: Num | None = Field(None, json_schema_extra={"unit": "mmol/L"})
    random_glucose: Num | None = Field(None, json_schema_extra={"unit": "mmol/L"})
    temperature: Num | None = Field(None, json_schema_extra={"unit": "°C"})
    weight_kg: Num | None = Field(None, json_schema_extra={"unit": "kg"})
    height_cm: Num | None = Field(None, json_schema_extra={"unit": "cm"})
    waist_cm: Num | None = Field(None, json_schema_extra={"unit": "cm"})
    symptoms: tuple[StrictStr, ...] = ()
    adverse_reaction: StrictBool | None = None
    new_complication: StrictBool | None = None


class Lab(_Frozen):
    date: IsoDate
    tc: Num | None = Field(None, json_schema_extra={"unit": "mmol/L"})
    ldl_c: Num | None = Field(None, json_schema_extra={"unit": "mmol/L"})
    hdl_c: Num | None = Field(None, json_schema_extra={"unit": "mmol/L"})
    tg: Num | None = Field(None, json_schema_extra={"unit": "mmol/L"})
    hba1c: Num | None = Field(None, json_schema_extra={"unit": "%"})
    creatinine: Num | None = Field(None, json_schema_extra={"unit": "µmol/L"})
    uacr: Num | None = Field(None, json_schema_extra={"unit": "mg/g"})


class Screening(_Frozen):
    date: IsoDate
    kind: ScreeningKind
    result: Result
    value: Num | None = None
    grade: FundusGrade | None = None


class Referral(_Frozen):
    date: IsoDate
    to: StrictStr
    reason: StrictStr | None = None
    returned_on: IsoDate | None = None


class Patient(_Frozen):
    """One roster line. Dates are ISO strings in JSON; pydantic's strict mode still parses them
    from JSON input (model_validate_json) but refuses other shapes."""

    patient_id: StrictStr = Field(min_length=1)
    id_number: StrictStr | None = None
    name: StrictStr | None = None
    phone: StrictStr | None = Field(
        None, description="added field: the patient's contact number; masked outside the team's call list"
    )
    sex: Sex
    birth_date: IsoDate
    team: StrictStr | None = None
    institution: StrictStr | None = None
    region: StrictStr | None = Field(None, pattern="^(north|south)$")
    urban: StrictBool | None = None
    conditions: tuple[Condition, ...] = Field(min_length=1)
    enrolled_on: IsoDate
    deceased_on: IsoDate | None = None
    moved_out_on: IsoDate | None = None
    smoker: StrictBool | None = None
    pregnant: StrictBool | None = None
    breastfeeding: StrictBool | None = None
    history: tuple[HistoryItem, ...] = ()
    visits: tuple[Visit, ...] = ()
    labs: tuple[Lab, ...] = ()
    screenings: tuple[Screening, ...] = ()
    referrals: tuple[Referral, ...] = ()

    @field_validator("conditions")
    @classmethod
    def _conditions_once(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each condition may be listed once")
        return value

    @field_validator("history")
    @classmethod
    def _history_once(cls, value: tuple[HistoryItem, ...]) -> tuple[HistoryItem, ...]:
        codes = [item.code for item in value]
        if len(set(codes)) != len(codes):
            raise ValueError("each history code may be listed once")
        return value


# ---- assessment (output) -------------------------------------------------------------------


class Reason(_Frozen):
    rule: str
    color: Color
    text: str
    source: str


class ReferralOut(_Frozen):
    urgency: Urgency
    to: str
    reasons: tuple[str, ...]
    follow_up_within_days: int


class ControlOut(_Frozen):
    bp: Control
    glucose: Control
    ldl: Control
    hba1c: Control = Field(
        Control.NOT_APPLICABLE,
        description="added field: HbA1c control reported beside FPG (pathway-defaults §2); not in the colour "
        "by default",
    )


class ScreeningDue(_Frozen):
    kind: ScreeningKind
    due_by: _date
    overdue: bool


class Assessment(_Frozen):
    """One line of `sangao assess --format jsonl`. Fields are only ever added, never changed."""

    patient_id: str
    as_of: _date
    guideline_set: str
    guideline_version: str
    color: Color
    tier: Tier
    reasons: tuple[Reason, ...]
    referral: ReferralOut | None
    control: ControlOut
    bp_target: tuple[int, int] | None
    ascvd_risk: AscvdRisk
    ldl_target: float | None
    egfr: float | None
    ckd_stage: str | None
    albuminuria: str | None
    screenings_due: tuple[ScreeningDue, ...]
    next_follow_up: _date
    warnings: tuple[str, ...] = Field(
        (), description="added field: e.g. a provisional working-day calendar was used"
    )
