"""The roster read straight from the database driver: what `sangao assess --db`
(store/roster_source.py `DbSource`), `sangao roster export` (JSONL and Parquet) and
`store.read_patients` read (store/exporter.py `iter_records`).

A batch of patients is one query for the patients and one per child table (history, visits, labs,
screenings, referrals), sent with `exec_driver_sql` on SQLAlchemy's connection (its transaction,
its error handling) and read from the driver's cursor as plain tuples: no statement is compiled and
no value goes through SQLAlchemy's type processing, which cost most of the time of
store/exporter.py `records_after`. sqlite3 gives a date as its ISO text and a boolean as 0 or 1;
psycopg gives dates and booleans. From the rows, two forms:
- `canonical_batch`: (seq, the canonical interchange dict of store/exporter.py: no None, no empty
  list, integral floats as ints, dates as ISO text), what `roster export` writes (JSONL, Parquet)
  and `store.read_patients` validates;
- `record_batch`: (seq, record), the record being store/fast_json.py's `record_type()` Struct (the
  record `assess` reads from a JSONL line). Each table's rows are checked by one msgspec.convert a
  batch against a tuple of the Struct's field types (dates parsed from ISO text there), then built
  into Structs by keyword. A batch with a row that does not convert (a value the importer never
  stores: a database written by hand or by another program) gives None: the caller reads it again
  with `records_after` and judges it patient by patient as it always has (msgspec, else pydantic,
  whose error names the field).
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

import msgspec
from sqlalchemy import Boolean, Date, Float

from pathways.models import Patient
from store import fast_json
from store.db import param_mark
from store.tables import CHILD_TABLES, PatientRow

# Patient columns in the model's field order (the interchange key order); `conditions` is their
# comma-joined text. Child columns in the table's order, which the exporter has always written.
_SCALARS = [c for c in Patient.model_fields if c not in CHILD_TABLES]
_CHILD_COLUMNS = {
    name: [c.name for c in model.__table__.columns if c.name not in ("id", "patient_id", "seq")]
    for name, model in CHILD_TABLES.items()
}

# How a column's driver value becomes its interchange value.
_TEXT, _FLOAT, _BOOL, _DATE, _SYMPTOMS = range(5)


def _kind(column) -> int:
    if column.name == "symptoms":
        return _SYMPTOMS  # JSON text of the codes; NULL when there are none
    for sql_type, kind in ((Boolean, _BOOL), (Date, _DATE), (Float, _FLOAT)):
        if isinstance(column.type, sql_type):
            return kind
    return _TEXT


def _kinds(table, names: list[str]) -> tuple[int, ...]:
    return tuple(_kind(table.c[n]) for n in names)


_PATIENT_KINDS = _kinds(PatientRow.__table__, _SCALARS)
_CHILD_KINDS = {name: _kinds(model.__table__, _CHILD_COLUMNS[name]) for name, model in CHILD_TABLES.items()}


def read_batch(
    conn, after: int, upto: int | None = None, limit: int | None = None,
    institutions: Sequence[str] | None = None, team: str | None = None,
) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """(patient rows, {child table: rows}) of the patients with `after` < seq (≤ `upto`), at most
    `limit`, of these institutions only and of this team only when given, in seq order. A patient
    row is (seq, *the `_SCALARS` columns); a child row (patient_id, *its columns), a patient's rows
    together and in their list order."""
    quote = conn.dialect.identifier_preparer.quote
    mark = param_mark(conn.dialect)

    def rows(sql: str, params: tuple) -> list[tuple]:
        # SQLAlchemy runs the statement (its transaction, its error handling); the rows are taken
        # from the driver's cursor as the driver's tuples (a SQLAlchemy Row each cost a third more)
        result = conn.exec_driver_sql(sql, params)
        try:
            return result.cursor.fetchall()
        finally:
            result.close()

    where, params = [f"seq > {mark}"], [after]
    if upto is not None:
        where.append(f"seq <= {mark}")
        params.append(upto)
    if institutions is not None:  # a shard (roster export --format parquet --institution)
        names = list(institutions)
        if not names:
            return [], {name: [] for name in CHILD_TABLES}
        where.append(f"institution IN ({', '.join([mark] * len(names))})")
        params += names
    if team is not None:  # one team's patients (worklist --team, plan --team)
        where.append(f"team = {mark}")
        params.append(team)
    columns = ", ".join(quote(n) for n in ["seq", *_SCALARS])
    sql = f"SELECT {columns} FROM patients WHERE {' AND '.join(where)} ORDER BY seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    patients = rows(sql, tuple(params))
    if not patients:
        return patients, {name: [] for name in CHILD_TABLES}
    ids = tuple(r[1] for r in patients)
    marks = ", ".join([mark] * len(ids))
    children = {}
    for name, model in CHILD_TABLES.items():
        columns = ", ".join(quote(n) for n in ["patient_id", *_CHILD_COLUMNS[name]])
        children[name] = rows(
            f"SELECT {columns} FROM {quote(model.__tablename__)} WHERE patient_id IN ({marks}) "
            "ORDER BY patient_id, seq",
            ids,
        )
    return patients, children


_first = itemgetter(0)


def _by_patient(rows: list[tuple], make, kind: type = list) -> dict[str, Any]:
    """{patient_id: kind(make(row) for each of their rows)}: rows come a patient's together."""
    return {pid: kind(map(make, group)) for pid, group in groupby(rows, _first)}


# Each row is turned into its dict or Struct by a function written for its table's columns
# (`_compile`): a row holds 5 to 14 values and a roster has some 17 rows a patient, and the per-value
# loop of one general function was most of the time spent.


def _compile(name: str, lines: list[str], **scope) -> Any:
    """The function `name` defined by `lines` (Python source made from our own column names)."""
    names = {"__builtins__": {}, **scope}
    exec("\n".join(lines), names)  # noqa: S102
    return names[name]


# ---- the canonical interchange dict (roster export, read_patients) ---------------------------


def _canonical_maker(names: list[str], kinds: tuple[int, ...], offset: int):
    """A function of a row giving the canonical JSON form of its values from `offset` on
    (store/exporter.py `_clean`: no None, integral floats as ints, ISO dates, booleans, symptom
    codes as a list, left out when there are none)."""
    lines = ["def canonical(r):", " d = {}"]
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        lines.append(f" v = r[{i + offset}]")
        lines.append(" if v is not None:")
        value = {
            _TEXT: "v",
            _FLOAT: "int(v) if type(v) is float and v.is_integer() else v",
            _DATE: "v if type(v) is str else v.isoformat()",
            _BOOL: "bool(v)",
            _SYMPTOMS: "loads(v)",
        }[kind]
        lines.append(f"  v = {value}")
        lines.append(f"  if v: d[{name!r}] = v" if kind == _SYMPTOMS else f"  d[{name!r}] = v")
    lines.append(" return d")
    return _compile("canonical", lines, int=int, float=float, str=str, type=type, bool=bool, loads=json.loads)


@functools.cache
def _canonical_makers():
    return _canonical_maker(_SCALARS, _PATIENT_KINDS, 1), {
        name: _canonical_maker(_CHILD_COLUMNS[name], _CHILD_KINDS[name], 1) for name in CHILD_TABLES
    }


def canonical_batch(
    conn, after: int, upto: int | None = None, limit: int | None = None,
    institutions: Sequence[str] | None = None, team: str | None = None,
) -> list[tuple[int, dict]]:
    """(seq, canonical interchange dict) of the patients `read_batch` reads, in seq order."""
    patients, children = read_batch(conn, after, upto, limit, institutions, team)
    patient, makers = _canonical_makers()
    lists = [(name, _by_patient(children[name], makers[name])) for name in CHILD_TABLES]
    out = []
    for row in patients:
        record = patient(row)
        record["conditions"] = record["conditions"].split(",")
        pid = row[1]
        for name, found in lists:
            items = found.get(pid)
            if items:
                record[name] = items
        out.append((row[0], record))
    return out


# ---- the record Struct (assess --db) ---------------------------------------------------------


class _Bools(dict):
    """sqlite3's 0/1 as booleans (any other number as Python's bool() of it, as SQLAlchemy reads it)."""

    def __missing__(self, value):
        return bool(value)


_BOOLS = _Bools({None: None, 0: False, 1: True})


def _fields(struct) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(struct)}


@functools.cache
def _record_spec(sqlite: bool):
    """(the row type and Struct maker of the patients, and of each child table). A row type is the
    tuple msgspec.convert checks a batch's rows against (one call a table): each column holds its
    Struct field's type, except sqlite3's booleans (0 or 1: an int) and a visit's symptoms (JSON
    text; the maker decodes it against the field's type)."""
    record_type = fast_json.record_type()
    fields = _fields(record_type)

    def spec(struct, names: list[str], kinds: tuple[int, ...], first: type, lists: tuple[str, ...] = ()):
        types = _fields(struct)
        columns, args = [first], []
        scope = {"cls": struct, "b": _BOOLS.__getitem__}
        for i, (name, kind) in enumerate(zip(names, kinds, strict=True), start=1):
            if kind == _BOOL and sqlite:
                columns.append(int | None)
                args.append(f"{name}=b(r[{i}])")
            elif kind == _SYMPTOMS:
                columns.append(str | None)
                scope["codes"] = msgspec.json.Decoder(types[name]).decode
                args.append(f"{name}=codes(r[{i}]) if r[{i}] is not None else ()")
            else:
                columns.append(types[name])
                args.append(f"{name}=r[{i}]")
        args += [f"{name}={name}" for name in lists]  # a patient's child lists, made before
        lines = [f"def make(r{''.join(', ' + n for n in lists)}):", f" return cls({', '.join(args)})"]
        return list[tuple[tuple(columns)]], _compile("make", lines, **scope)

    children = {
        name: spec(typing.get_args(fields[name])[0], _CHILD_COLUMNS[name], _CHILD_KINDS[name], str)
        for name in CHILD_TABLES
    }
    patient = spec(record_type, _SCALARS, _PATIENT_KINDS, int, tuple(CHILD_TABLES))
    return patient, children


_CONDITIONS_AT = _SCALARS.index("conditions") + 1  # in a patient row (after seq)
_NONE: tuple = ()


def record_batch(conn, after: int, upto: int | None = None) -> list[tuple[int, Any]] | None:
    """(seq, store/fast_json.py record) of the patients `read_batch` reads, in seq order; None when
    any row of the batch does not convert (the caller judges the batch as before)."""
    patients, children = read_batch(conn, after, upto)
    (patient_type, patient), makers = _record_spec(conn.dialect.name == "sqlite")
    at = _CONDITIONS_AT
    try:
        lists = []
        for name in CHILD_TABLES:
            row_type, make = makers[name]
            lists.append(_by_patient(msgspec.convert(children[name], row_type), make, tuple))
        rows = msgspec.convert(
            [(*r[:at], r[at].split(",") if type(r[at]) is str else r[at], *r[at + 1 :]) for r in patients],
            patient_type,
        )
        records = []
        history, visits, labs, screenings, referrals = lists
        for row in rows:
            pid = row[1]
            records.append((row[0], patient(
                row,
                history.get(pid, _NONE),
                visits.get(pid, _NONE),
                labs.get(pid, _NONE),
                screenings.get(pid, _NONE),
                referrals.get(pid, _NONE),
            )))
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return records
