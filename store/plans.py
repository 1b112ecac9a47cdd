"""Annual care plans kept in the database (`plans` table, store/tables.py PlanRow): the plan's
JSON (pathways/plan.py, which holds the input hash) with its patient, plan date and guideline
version, so a plan is printed again exactly and the next plan says what changed; and the run's
provenance as assessments have it (guideline file hashes, input file and hash, sangao version).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice
from typing import NamedTuple

from sqlalchemy import bindparam, delete, insert, select

from pathways.models import Patient
from pathways.plan import Plan
from store.assessments import Provenance
from store.db import open_db
from store.tables import PlanRow

BATCH = 1000  # plans deleted and inserted per statement
_ENGINES: dict = {}  # `reader`: an engine per database, kept by a process that plans slice after slice


class PlanKey(NamedTuple):
    """A stored plan's row: what identifies it (a patient's plan of one date and guideline
    version) and its JSON."""

    patient_id: str
    as_of: date
    guideline_set: str
    guideline_version: str
    payload: str


def plan_key(plan: Plan) -> PlanKey:
    return PlanKey(plan.patient_id, plan.start, plan.guideline_set, plan.guideline_version,
                   plan.model_dump_json())


def save_plans(db_url: str, plans: Iterable[Plan], provenance: Provenance | None = None) -> int:
    """Store `plans` in one transaction; a patient's plan of the same date and guideline version
    is replaced, not duplicated. `provenance` (store/assessments.py) is recorded on each row: the
    guideline files' sha256, the input file and its sha256, the sangao version."""
    return save_plan_rows(db_url, (plan_key(p) for p in plans), provenance)


# One statement of each, run for a batch of rows at a time (executemany): building a statement per
# plan cost more than the database's work.
_DELETE = delete(PlanRow).where(
    PlanRow.patient_id == bindparam("patient_id"),
    PlanRow.as_of == bindparam("as_of"),
    PlanRow.guideline_set == bindparam("guideline_set"),
    PlanRow.guideline_version == bindparam("guideline_version"),
)


def save_plan_rows(db_url: str, rows: Iterable[PlanKey], provenance: Provenance | None = None) -> int:
    """`save_plans` for plans already as rows (`plan_key`), in one transaction, a batch at a time."""
    stamp = provenance.columns() if provenance is not None else {}
    it = iter(rows)
    count = 0
    db_engine = open_db(db_url)
    try:
        with db_engine.begin() as conn:
            while batch := [row._asdict() for row in islice(it, BATCH)]:
                conn.execute(_DELETE, [{k: v for k, v in row.items() if k != "payload"} for row in batch])
                conn.execute(insert(PlanRow), [{**row, **stamp} for row in batch])
                count += len(batch)
    finally:
        db_engine.dispose()
    return count


def previous_plans(db_url: str, patient_ids: Iterable[str], before: date, engine=None) -> dict[str, Plan]:
    """The latest stored plan dated before `before` of each patient that has one; `engine`: one of
    `db_url` the caller keeps open (`reader`), else one is opened for the call."""
    ids = list(patient_ids)
    found: dict[str, Plan] = {}
    db_engine = engine or open_db(db_url)
    try:
        with db_engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    select(PlanRow.patient_id, PlanRow.as_of, PlanRow.payload)
                    .where(PlanRow.patient_id.in_(ids[start : start + 500]), PlanRow.as_of < before)
                    .order_by(PlanRow.patient_id, PlanRow.as_of, PlanRow.id)
                )
                for patient_id, _as_of, payload in rows:
                    found[patient_id] = Plan.model_validate_json(payload)  # later rows win
    finally:
        if engine is None:
            db_engine.dispose()
    return found


def reader(db_url: str):
    """An engine of `db_url` for this process's reads (`patients_in`, `previous_plans`), opened
    once: opening one costs some 5 ms, a tenth of a millisecond a patient when a batch of them
    opened its own."""
    return _ENGINES.get(db_url) or _ENGINES.setdefault(db_url, open_db(db_url))


def stored_plans(db_url: str, patient_ids: Iterable[str] | None, on: date) -> list[Plan]:
    """The stored plans dated `on` (of `patient_ids`, or all), in patient order: a reprint."""
    db_engine = open_db(db_url)
    try:
        with db_engine.connect() as conn:
            query = (
                select(PlanRow.payload).where(PlanRow.as_of == on).order_by(PlanRow.patient_id, PlanRow.id)
            )
            if patient_ids is not None:
                query = query.where(PlanRow.patient_id.in_(list(patient_ids)))
            latest: dict[str, Plan] = {}
            for (payload,) in conn.execute(query):
                plan = Plan.model_validate_json(payload)
                latest[plan.patient_id] = plan
    finally:
        db_engine.dispose()
    return list(latest.values())


def patient_ranges(db_url: str, size: int) -> list[tuple[int, int]]:
    """The stored patients in (after, upto] ranges of import order of `size` patients each, for
    the processes that plan them (reports/plan_run.py)."""
    from store.exporter import seq_ranges

    db_engine = open_db(db_url)
    try:
        return seq_ranges(db_engine, size)
    finally:
        db_engine.dispose()


def patients_in(db_url: str, r: tuple[int, int], team: str | None = None) -> Iterator[Patient]:
    """The stored patients of range `r` (`patient_ranges`; of `team` only, when given) as
    `store.read_patients` gives them: validated, in import order."""
    from store.db_records import canonical_batch

    with reader(db_url).connect() as conn:
        batch = canonical_batch(conn, r[0], upto=r[1], team=team)
    return (Patient.model_validate(record) for _, record in batch)
