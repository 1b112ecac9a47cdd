"""The stored per-patient-per-month rows of the monthly report (table `patient_months`,
store/tables.py): which rows a batch of patients already has, saving new ones, and streaming one
month's rows back. A row is reused only while the patient's record hash is the same;
pathways/monthly.py builds the rows, reports/monthly.py decides which to build. Beside them, the
rules' decisions at each patient's latest visits (table `visit_decisions`), kept for the next
month's rows; both are deleted for patients who have left the roster (`forget_patients`). And the
report's own read of the roster, `plain_records`: the records as they are hashed and converted,
without the exporter's general form.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from sqlalchemy import Boolean, Engine, delete, func, insert, select

from pathways.models import Patient
from store.db import param_mark
from store.tables import CHILD_TABLES, PatientMonthRow, PatientRow, VisitDecisionRow

_T = PatientMonthRow.__table__
_D = VisitDecisionRow.__table__
_CHUNK = 500  # ids per IN (…): under SQLite's variable limit


def stored_hashes(
    db_engine: Engine, basis: str, patient_ids: Sequence[str], months: Sequence[str] | None = None
) -> dict[tuple[str, str], str]:
    """{(patient_id, month): record_hash} of the rows stored for these patients (of the months from
    the first to the last of `months` only, when given: a county's older months are not read)."""
    out: dict[tuple[str, str], str] = {}
    with db_engine.connect() as conn:
        for i in range(0, len(patient_ids), _CHUNK):
            ids = patient_ids[i : i + _CHUNK]
            query = select(_T.c.patient_id, _T.c.month, _T.c.record_hash).where(
                _T.c.basis == basis, _T.c.patient_id.in_(ids)
            )
            if months:
                query = query.where(_T.c.month.between(min(months), max(months)))
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
    replacing theirs, in one transaction. Written through the driver's executemany with tuples:
    a batch is thousands of rows, and SQLAlchemy's per-row dicts and bind processing cost more
    than the writing."""
    if not rows and not decisions:
        return
    with db_engine.begin() as conn:
        write_rows(conn, basis, rows, decisions)


def write_rows(
    conn,
    basis: str,
    rows: Sequence[tuple[str, str, str, bytes]],
    decisions: Sequence[tuple[str, str, str, bytes]] = (),
) -> None:
    """`save_rows` on a connection whose transaction the caller holds (reports/monthly.py keeps
    a whole run in one)."""
    m = param_mark(conn.dialect)
    if rows:
        conn.exec_driver_sql(
            f"DELETE FROM patient_months WHERE patient_id = {m} AND month = {m} AND basis = {m}",
            [(pid, month, basis) for pid, month, _h, _p in rows],
        )
        conn.exec_driver_sql(
            "INSERT INTO patient_months (patient_id, month, basis, record_hash, payload) "
            f"VALUES ({m}, {m}, {m}, {m}, {m})",
            [(pid, month, basis, h, p) for pid, month, h, p in rows],
        )
    if decisions:
        conn.exec_driver_sql(
            f"DELETE FROM visit_decisions WHERE patient_id = {m} AND basis = {m}",
            [(pid, basis) for pid, _m, _h, _p in decisions],
        )
        conn.exec_driver_sql(
            "INSERT INTO visit_decisions (patient_id, basis, month, record_hash, payload) "
            f"VALUES ({m}, {m}, {m}, {m}, {m})",
            [(pid, basis, month, h, p) for pid, month, h, p in decisions],
        )


def forget_patients(db_engine: Engine, patient_ids: Sequence[str]) -> None:
    """Delete the stored rows and kept decisions, of every basis, of these patients: those who
    have left the roster (reports/monthly.py finds them among a month's rows; it never counts
    them, and nothing else would ever remove their rows)."""
    with db_engine.begin() as conn:
        for i in range(0, len(patient_ids), _CHUNK):
            ids = patient_ids[i : i + _CHUNK]
            for table in (_T, _D):
                conn.execute(delete(table).where(table.c.patient_id.in_(ids)))


def iter_month(db_engine: Engine, basis: str, month: str) -> Iterator[tuple[str, str, bytes]]:
    """(patient_id, record_hash, payload) of every row stored for `month`, by patient_id."""
    with db_engine.connect() as conn:
        query = (
            select(_T.c.patient_id, _T.c.record_hash, _T.c.payload)
            .where(_T.c.basis == basis, _T.c.month == month)
            .order_by(_T.c.patient_id)
        )
        yield from conn.execution_options(yield_per=2000).execute(query)


def month_rows(db_engine: Engine, basis: str, months: Sequence[str]) -> dict[str, int]:
    """{month: rows stored} of `basis` for the months from the first to the last of `months`."""
    with db_engine.connect() as conn:
        query = (
            select(_T.c.month, func.count())
            .where(_T.c.basis == basis, _T.c.month.between(min(months), max(months)))
            .group_by(_T.c.month)
        )
        return {month: int(n) for month, n in conn.execute(query)}


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


# ---- the roster as the report reads it -------------------------------------------------------

_PATIENT_FIELDS = [c for c in Patient.model_fields if c not in CHILD_TABLES]


def _bools(table, names: Sequence[str]) -> list[str]:
    """The boolean columns among `names` of `table` (SQLite gives 0/1)."""
    return [n for n in names if isinstance(table.c[n].type, Boolean)]


def plain_records(db_engine: Engine, size: int) -> Iterator[list[dict]]:
    """Every stored patient, `size` at a time in first-import order (one query for the patients
    and one per child table per batch, the driver's own values): the dict of store/exporter.py
    `records_after(canonical=False)` with each child item already plain (no None, integral floats
    as ints, no empty symptoms) and dates as the driver gives them (ISO text on SQLite), so
    reports/monthly.py hashes and converts it without another pass. Read-only."""
    patients = PatientRow.__table__
    fields = ["seq", *_PATIENT_FIELDS]
    p_bools = [fields.index(n) for n in _bools(patients, fields)]
    children = []
    for name, model in CHILD_TABLES.items():
        table = model.__table__
        names = [c.name for c in table.columns if c.name not in ("id", "patient_id", "seq")]
        children.append((name, table, names, _bools(table, names), "symptoms" in names))
    last = 0
    with db_engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        mark = param_mark(conn.dialect)

        def rows(table, names, where: str, params) -> list:
            cols = ", ".join(quote(n) for n in names)
            sql = f"SELECT {cols} FROM {quote(table.name)} WHERE {where}"
            return conn.exec_driver_sql(sql, params).fetchall()

        while True:
            batch = rows(patients, fields, f"seq > {mark} ORDER BY seq LIMIT {int(size)}", (last,))
            if not batch:
                return
            last = batch[-1][0]
            ids = tuple(r[1] for r in batch)
            marks = ", ".join([mark] * len(ids))
            items: dict[str, dict[str, list[dict]]] = {}
            for name, table, names, bools, symptoms in children:
                found = rows(
                    table,
                    ["patient_id", *names],
                    f"patient_id IN ({marks}) ORDER BY patient_id, seq",
                    ids,
                )
                for pid, *values in found:
                    item = {
                        n: int(v) if type(v) is float and v.is_integer() else v
                        for n, v in zip(names, values, strict=True)
                        if v is not None
                    }
                    for n in bools:
                        if n in item:
                            item[n] = bool(item[n])
                    if symptoms and "symptoms" in item:
                        codes = json.loads(item["symptoms"])
                        if codes:
                            item["symptoms"] = codes
                        else:
                            del item["symptoms"]
                    items.setdefault(pid, {}).setdefault(name, []).append(item)
            out = []
            for row in batch:
                values = list(row)
                for i in p_bools:
                    if values[i] is not None:
                        values[i] = bool(values[i])
                record = dict(zip(fields[1:], values[1:], strict=True))
                record["conditions"] = record["conditions"].split(",")
                mine = items.get(record["patient_id"], {})
                for name in CHILD_TABLES:
                    record[name] = mine.get(name, [])
                out.append(record)
            yield out
