"""The closed vocabularies of the interchange format (docs/interchange.md).

Enum values are the contract strings. Symptom codes are not here: their vocabulary is guideline
data (guidelines/<set>/vocabulary.yaml), so a county can add one without touching Python.
"""

from enum import StrEnum


class Sex(StrEnum):
    M = "M"
    F = "F"


class Condition(StrEnum):
    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"
    DYSLIPIDEMIA = "dyslipidemia"


class HistoryCode(StrEnum):
    CHD = "chd"
    MI = "mi"
    ACS = "acs"
    PCI_CABG = "pci_cabg"
    STROKE = "stroke"
    HEMORRHAGIC_STROKE = "hemorrhagic_stroke"
    TIA = "tia"
    PAD = "pad"
    PAD_REVASC = "pad_revasc"
    HEART_FAILURE = "heart_failure"
    CKD = "ckd"
    RETINOPATHY = "retinopathy"
    NEUROPATHY = "neuropathy"
    FH = "fh"


class ScreeningKind(StrEnum):
    ECG = "ecg"
    STROKE_RISK = "stroke_risk"
    CAROTID_US = "carotid_us"
    UACR = "uacr"
    EGFR = "egfr"
    FUNDUS = "fundus"
    NEUROPATHY = "neuropathy"
    ABI = "abi"
    FOOT_PULSE = "foot_pulse"
    COGNITIVE = "cognitive"  # added: for sets whose six diseases include 认知障碍 (S37)


class Result(StrEnum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"


class FundusGrade(StrEnum):
    NO_DR = "no_dr"
    MILD_NPDR = "mild_npdr"
    MODERATE_NPDR = "moderate_npdr"
    SEVERE_NPDR = "severe_npdr"
    PDR = "pdr"


class Color(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    BLUE = "blue"


class Tier(StrEnum):
    """Care tier: 三高中心 `county`, 三高基地 `township`, 三高之家 `village`."""

    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


class Control(StrEnum):
    CONTROLLED = "controlled"
    UNCONTROLLED = "uncontrolled"
    NO_DATA = "no_data"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


class AscvdRisk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"
    ULTRA_HIGH = "ultra_high"
    UNKNOWN = "unknown"


class Urgency(StrEnum):
    URGENT = "urgent"
    ROUTINE = "routine"
