"""The stored per-patient-per-month rows of the monthly report (table `patient_months`,
store/tables.py): which rows a batch of patients already has, saving new ones, and streaming one
month's rows back. A row is reused only while the patient's record hash is the same;
pathways/monthly.py builds the rows, reports/monthly.py decides which to build. Beside them, the
rules' decisions at each patient's latest visits (table `visit_decisions`), kept for the next
month's rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, delete, insert, select

from store.tables import PatientMonthRow, VisitDecisionRow

_T = PatientMonthRow.__table__
_D = VisitDecisionRow.__table__
_CHUNK = 500  # ids per IN (…): under SQLite's variable limit


def stored_hashes(db_engine: Engine, basis: str, patient_ids: Sequence[str]) -> dict[tuple[str, str], str]:
    """{(patient_id, month): record_hash} of the rows stored for these patients."""
    out: dict[tuple[str, str], str] = {}
    with db_engine.connect() as conn:
        for i in range(0, len(patient_ids), _CHUNK):
            ids = patient_ids[i : i + _CHUNK]
            query = select(_T.c.patient_id, _T.c.month, _T.c.record_hash).where(
                _T.c.basis == basis, _T.c.patient_id.in_(ids)
            )
            for pid, month, record_hash in conn.execute(query):
                out[(pid, month)] = record_hash
    return out


def stored_decisions(
    db_engine: Engine, basis: str, patient_ids: Sequence[str]
) -> dict[str, tuple[str, str, bytes]]:
    """{patient_id: (month, record_hash, payload)} of the visit decisions kept for these patients."""
    out: dict[str, tuple[str, str, bytes]] = {}
    with db_engine.connect() as conn:
        for i in range(0, len(patient_ids), _CHUNK):
            query = select(_D.c.patient_id, _D.c.month, _D.c.record_hash, _D.c.payload).where(
                _D.c.basis == basis, _D.c.patient_id.in_(patient_ids[i : i + _CHUNK])
            )
            for pid, month, record_hash, payload in conn.execute(query):
                out[pid] = (month, record_hash, payload)
    return out


def save_rows(
    db_engine: Engine,
    basis: str,
    rows: Sequence[tuple[str, str, str, bytes]],
    decisions: Sequence[tuple[str, str, str, bytes]] = (),
) -> None:
    """Store (patient_id, month, record_hash, payload) rows, replacing those of the same patient,
    month and basis, and the patients' (patient_id, month, record_hash, payload) visit decisions,
    replacing theirs, in one transaction."""
    if not rows and not decisions:
        return
    by_month: dict[str, list[str]] = {}
    for pid, month, _h, _p in rows:
        by_month.setdefault(month, []).append(pid)
    with db_engine.begin() as conn:
        for month, ids in by_month.items():
            for i in range(0, len(ids), _CHUNK):
                conn.execute(
                    delete(_T).where(
                        _T.c.basis == basis, _T.c.month == month, _T.c.patient_id.in_(ids[i : i + _CHUNK])
                    )
                )
        if rows:
            conn.execute(
                insert(_T),
                [
                    dict(patient_id=pid, month=month, basis=basis, record_hash=h, payload=p)
                    for pid, month, h, p in rows
                ],
            )
        if decisions:
            ids = [pid for pid, _m, _h, _p in decisions]
            for i in range(0, len(ids), _CHUNK):
                conn.execute(delete(_D).where(_D.c.basis == basis, _D.c.patient_id.in_(ids[i : i + _CHUNK])))
            conn.execute(
                insert(_D),
                [
                    dict(patient_id=pid, basis=basis, month=month, record_hash=h, payload=p)
                    for pid, month, h, p in decisions
                ],
            )


def iter_month(db_engine: Engine, basis: str, month: str) -> Iterator[tuple[str, str, bytes]]:
    """(patient_id, record_hash, payload) of every row stored for `month`, by patient_id."""
    with db_engine.connect() as conn:
        query = (
            select(_T.c.patient_id, _T.c.record_hash, _T.c.payload)
            .where(_T.c.basis == basis, _T.c.month == month)
            .order_by(_T.c.patient_id)
        )
        yield from conn.execution_options(yield_per=2000).execute(query)


def names_of(db_engine: Engine, patient_ids: Sequence[str]) -> dict[str, str | None]:
    """{patient_id: name} of these patients (the caller masks them)."""
    from store.tables import PatientRow

    table = PatientRow.__table__
    out: dict[str, str | None] = {}
    with db_engine.connect() as conn:
        for i in range(0, len(patient_ids), _CHUNK):
            query = select(table.c.patient_id, table.c.name).where(
                table.c.patient_id.in_(patient_ids[i : i + _CHUNK])
            )
            out.update(dict(conn.execute(query).all()))
    return out


def allow_writing_while_reading(db_engine: Engine) -> None:
    """Let the rows be saved while the roster is still being read from the same SQLite file (the
    report streams patients in batches and stores each batch's rows): SQLite's write-ahead log lets
    one writer commit beside an open reader. The mode is kept by the file; PostgreSQL needs nothing."""
    if db_engine.dialect.name == "sqlite":
        with db_engine.connect() as conn:
            conn.exec_driver_sql("COMMIT")  # the begin listener opened a transaction; the pragma needs none
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")


def load_tally(db_engine: Engine, key: str) -> bytes | None:
    """The stored month tally of `key`, if any."""
    from store.tables import MonthTallyRow

    table = MonthTallyRow.__table__
    with db_engine.connect() as conn:
        return conn.execute(select(table.c.payload).where(table.c.key == key)).scalar_one_or_none()


def save_tally(db_engine: Engine, key: str, month: str, payload: bytes) -> None:
    from store.tables import MonthTallyRow

    table = MonthTallyRow.__table__
    with db_engine.begin() as conn:
        conn.execute(delete(table).where(table.c.key == key))
        conn.execute(insert(table), [dict(key=key, month=month, payload=payload)])
