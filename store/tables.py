"""SQLModel tables of the roster store: one row per patient, one per visit/lab/screening/history
item/referral, plus `assessments` and `plans` for later stages.

The domain models live in pathways/models.py; conversion between the two happens in
store/writer.py (records → rows) and store/exporter.py (rows → records). Column names are the
interchange names. Child rows carry `seq`, their position in the patient's list (date order, ties
in import order), so an export writes the lists back as they were imported. `patients.seq` is the
order in which patients were first imported (the export order).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel


class PatientRow(SQLModel, table=True):
    __tablename__ = "patients"

    patient_id: str = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    id_number: str | None = None
    name: str | None = None
    phone: str | None = None
    sex: str
    birth_date: dt.date
    team: str | None = Field(default=None, index=True)
    institution: str | None = None
    region: str | None = None
    urban: bool | None = None
    conditions: str  # comma-joined Condition values, in the record's order
    enrolled_on: dt.date
    deceased_on: dt.date | None = None
    moved_out_on: dt.date | None = None
    smoker: bool | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None


class VisitRow(SQLModel, table=True):
    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_patient_date", "patient_id", "date"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(foreign_key="patients.patient_id")
    seq: int
    date: dt.date
    sbp: float | None = None
    dbp: float | None = None
    heart_rate: float | None = None
    fpg: float | None = None
    random_glucose: float | None = None
    temperature: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    waist_cm: float | None = None
    symptoms: str | None = Field(default=None, sa_column=Column(Text))  # JSON list; NULL when empty
    adverse_reaction: bool | None = None
    new_complication: bool | None = None


class LabRow(SQLModel, table=True):
    __tablename__ = "labs"
    __table_args__ = (Index("ix_labs_patient_date", "patient_id", "date"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(foreign_key="patients.patient_id")
    seq: int
    date: dt.date
    tc: float | None = None
    ldl_c: float | None = None
    hdl_c: float | None = None
    tg: float | None = None
    hba1c: float | None = None
    creatinine: float | None = None
    uacr: float | None = None


class ScreeningRow(SQLModel, table=True):
    __tablename__ = "screenings"
    __table_args__ = (Index("ix_screenings_patient_date", "patient_id", "date"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(foreign_key="patients.patient_id")
    seq: int
    date: dt.date
    kind: str
    result: str
    value: float | None = None
    grade: str | None = None


class HistoryRow(SQLModel, table=True):
    __tablename__ = "history"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(foreign_key="patients.patient_id", index=True)
    seq: int
    code: str
    date: dt.date | None = None


class ReferralRow(SQLModel, table=True):
    __tablename__ = "referrals"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(foreign_key="patients.patient_id", index=True)
    seq: int
    date: dt.date
    to: str
    reason: str | None = None
    returned_on: dt.date | None = None


class AssessmentRow(SQLModel, table=True):
    """One stored assessment (interchange §2); `payload` is the full JSON line."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_patient_as_of", "patient_id", "as_of"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str
    as_of: dt.date
    guideline_set: str
    guideline_version: str
    color: str
    tier: str
    payload: str = Field(sa_column=Column(Text, nullable=False))
    # Provenance (store/assessments.py), added later: nullable, added to older databases by open_db.
    guideline_hashes: str | None = Field(default=None, sa_column=Column(Text))  # JSON {file: sha256}
    input_file: str | None = None  # the roster file or database assessed
    input_hash: str | None = None  # sha256 of the roster file (none for a database)
    sangao_version: str | None = None


class PlanRow(SQLModel, table=True):
    """One stored annual care plan; `payload` is its JSON (shape owned by the plan stage)."""

    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_patient_as_of", "patient_id", "as_of"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str
    as_of: dt.date
    guideline_set: str
    guideline_version: str
    payload: str = Field(sa_column=Column(Text, nullable=False))
    # Provenance (store/plans.py), added later: nullable, added to older databases by open_db. The
    # payload holds the plan's own input hash (the patient record); these say what made the run.
    guideline_hashes: str | None = Field(default=None, sa_column=Column(Text))  # JSON {file: sha256}
    input_file: str | None = None  # the roster file or database planned from
    input_hash: str | None = None  # sha256 of the roster file (none for a database)
    sangao_version: str | None = None


# Child tables in the order the exporter reads them; their record field name in Patient.
CHILD_TABLES = {
    "history": HistoryRow,
    "visits": VisitRow,
    "labs": LabRow,
    "screenings": ScreeningRow,
    "referrals": ReferralRow,
}


class AuditRow(SQLModel, table=True):
    """One use of an unmasking option: who showed full names, phones or IDs, when, with which
    command, for how many patients (store/audit.py)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: str  # ISO 8601 with the UTC offset, as cli.py read the clock
    who: str
    command: str
    patients: int


class PatientMonthRow(SQLModel, table=True):
    """One stored row of the monthly report's per-patient-per-month table (pathways/monthly.py),
    kept so a 12-month trend reuses the months already computed (store/patient_months.py).
    `basis` names what the row was computed with (guideline set@version, row version, window);
    `record_hash` is the hash of the patient's record: a changed record is recomputed."""

    __tablename__ = "patient_months"

    patient_id: str = Field(primary_key=True)
    month: str = Field(primary_key=True)  # "2026-11"
    basis: str = Field(primary_key=True)
    record_hash: str
    payload: bytes  # msgspec JSON of PatientMonth (array form)


class MonthTallyRow(SQLModel, table=True):
    """The indicator sums of one month of the monthly report, per team (reports/monthly.py), kept
    so a report re-counts only the months whose patient-month rows changed. `key` hashes the
    basis, the month, the indicator list and the record hashes of every patient for that month
    and the one before."""

    __tablename__ = "month_tallies"

    key: str = Field(primary_key=True)
    month: str = Field(index=True)  # "2026-11", for housekeeping
    payload: bytes  # msgspec JSON: team vectors and cohorts
