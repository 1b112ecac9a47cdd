"""Writing validated records into the roster tables: `Store` batches them inside the import's
transaction (store/importer.py opens it, one per source) and writes each batch.

Upsert by patient_id, "newer wins" meaning:
- patient fields present in the incoming record replace the stored ones; fields the incoming
  record does not carry (an absent JSON key, an empty cell, a column the file lacks) keep the
  stored value; an explicit JSON `null` clears it. `conditions` is required and is replaced.
- child rows merge by key: a visit or lab with the same date, a screening with the same date and
  kind, a history item with the same code, a referral with the same date and destination replaces
  the stored one; stored rows with other keys are kept. Lists are kept in date order (ties in import
  order), which is the order the exporter writes. A patient row or child list that the merge leaves
  as it was is not written again.

An `EventRecord` (a row of an events file: follow-ups, health checks) carries only dated child
rows for a patient already stored, plus an observed smoking status: the child rows merge as above,
the patient row is never rewritten (smoking status only fills a stored blank).

Rows are written in batches: multi-row INSERT statements per table on SQLite, one COPY per table
on PostgreSQL. Into empty tables the secondary indexes are dropped and rebuilt at the end of the
transaction (`drop_indexes`: not by the import pipeline's SQLite importer). A clean JSONL record
(store/fast_json.py's Struct) gives its rows straight from its values; a pydantic Patient from
its fields. A re-import (`Store._merge`) reads the stored rows of a batch's known patients with
one DBAPI query per table and merges the incoming records as they come; only what changes is
written. sqlite3 gets C-level adapters for the values it would otherwise probe per parameter (see
below).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import chain, groupby
from operator import attrgetter, itemgetter

import msgspec
from msgspec import UNSET
from pydantic import BaseModel
from sqlalchemy import Connection, Date, delete, func, select

from pathways import vocab
from pathways.models import Patient
from store import fast_json
from store.db import param_mark
from store.tables import CHILD_TABLES, PatientRow

BATCH_PATIENTS = 2000

_PATIENTS = PatientRow.__table__
_CHILD = {name: model.__table__ for name, model in CHILD_TABLES.items()}


# ---- writing ------------------------------------------------------------------------------------
# Rows go to the DBAPI as tuples (SQLAlchemy's per-row parameter processing cost more than the
# insert itself) in *bind form*: plain str, int, float, bool and None, built straight from the
# validated records' field values (`new_rows`); patients.conditions, the one computed column, comes
# last. Dates are bound as ISO text (`msgspec.to_builtins` turns a whole row's dates and codes into
# text in one C call), the form SQLAlchemy's Date type stores on SQLite and reads back, and text
# PostgreSQL casts on COPY. Plain rows also travel between processes as they are (marshal), which
# store/import_pipeline.py relies on.

sqlite3.register_adapter(date, date.isoformat)  # the upsert's merge rows (sqlite3's own is deprecated)
# sqlite3 binds exact int/float/str at once but sends every other value (None, bool) through its
# adapter protocol, whose miss path builds and discards an AttributeError per value: half the
# insert time of a visit row (4.2 → 2.2 µs). Registered C-level adapters that return the same
# value (NULL, 0/1) hit on the first dict lookup instead. Process-wide, and the stored values are
# the ones sqlite3 stores without them.
sqlite3.register_adapter(type(None), {}.get)  # {}.get(None) is None
sqlite3.register_adapter(bool, int)
for _enum in vars(vocab).values():  # codes (sex, screening kind …): the text of their value
    if isinstance(_enum, type) and issubclass(_enum, StrEnum) and _enum is not StrEnum:
        sqlite3.register_adapter(_enum, str.__str__)

_PATIENT_FIELDS = [c.name for c in _PATIENTS.columns if c.name not in ("patient_id", "seq", "conditions")]
_PATIENT_GET = itemgetter(*_PATIENT_FIELDS)
_PATIENT_COLS = [*_PATIENT_FIELDS, "conditions"]  # after patient_id, seq
# A child row is (patient_id, seq, *values) with the values in the model's field order
# (fast_json.FIELDS, which is also a fast_json Struct's astuple order), from either kind of record.
_FIELDS = fast_json.FIELDS
_FIELDS_GET = {name: itemgetter(*fields) for name, fields in _FIELDS.items()}
_SYMPTOMS_AT = _FIELDS["visits"].index("symptoms")
_by_date = attrgetter("date")
_plain = msgspec.to_builtins  # dates → ISO text, codes → their text; tuples, floats (NaN too) kept
_json_row_text = msgspec.json.Encoder().encode  # the same, and NaN → null
_json_rows = msgspec.json.Decoder(list[list]).decode
_json_values = msgspec.json.Decoder(list).decode


def _symptoms(symptoms: tuple[str, ...]) -> str | None:
    return json.dumps(list(symptoms), ensure_ascii=False) if symptoms else None


@functools.lru_cache(maxsize=4096)
def _symptoms_text(symptoms: tuple[str, ...]) -> str | None:
    """`_symptoms` of a visit's symptom codes, once per combination (there are few)."""
    return _symptoms(symptoms)


def _child_values(name: str, items, get=None) -> list[tuple]:
    """The values of a child list's items as tuples (a Patient's through `get`, a Struct's as
    astuple): the dated lists in date order (ties in record order), history in record order, a
    visit's symptoms as JSON text (`new_rows`, `clean_rows`)."""
    if name != "history" and len(items) > 1:
        items = sorted(items, key=_by_date)
    rows = [get(i.__dict__) for i in items] if get else list(map(_astuple, items))
    if name == "visits":
        at = _SYMPTOMS_AT
        for k, r in enumerate(rows):
            if type(r[at]) is tuple:
                rows[k] = (*r[:at], _symptoms_text(r[at]), *r[at + 1 :])
    return rows


def new_rows(record, seq: int, children: dict[str, list], absent=None, flat: bool = False) -> tuple:
    """The patients row of a new patient in bind form, its child rows appended to `children`:
    history in record order, the dated lists in date order (ties in record order), a visit's
    symptoms as JSON text. `record` is a pydantic Patient or a store/fast_json.py Struct (whose
    absent fields, UNSET and ABSENT, are stored as NULL). `absent`: the value of an absent field,
    None or, on SQLite, fast_json.ABSENT (a NaN, which SQLite stores as NULL and binds without
    sqlite3's adapter lookup that None costs). With `flat`, child rows are appended value after
    value (`Store._sqlite_insert_flat` binds them so; no tuple per row)."""
    pid = record.patient_id
    if type(record) is Patient:
        fields = record.__dict__
        values = _PATIENT_GET(fields)
        conditions = ",".join([c.value for c in fields["conditions"]])
        lists = [(name, get, fields[name]) for name, get in _FIELDS_GET.items()]
    else:
        values = [absent if v is UNSET else v for v in _CLEAN_PATIENT_GET(record)]
        conditions = ",".join(record.conditions)
        lists = [(name, None, getattr(record, name)) for name in _FIELDS]
    for name, get, items in lists:
        if not items:
            continue
        rows = _child_values(name, items, get)
        # A Struct's ABSENT is a NaN, which PostgreSQL would store: JSON has no NaN, null comes back.
        rows = _plain(rows) if get or absent is not None else _json_rows(_json_row_text(rows))
        if flat:
            out = children[name]
            for s, r in enumerate(rows):
                out += (pid, s)
                out += r
        else:
            children[name] += [(pid, s, *r) for s, r in enumerate(rows)]
    return (pid, seq, *_plain(values), conditions)


def clean_rows(record, seq: int, absent) -> tuple[tuple, list[tuple[str, list]], int]:
    """`new_rows(…, flat=True)` of a store/fast_json.py Struct, counting on the way the keys the
    line gave it (`fast_json.keys_given`, from the same one astuple per child): (patients row,
    [(table, its child rows' values one after another)], keys given). A child's absent value is
    ABSENT (counted in C), or with `absent` None, NULL as in new_rows. The import pipeline's
    worker (store/import_pipeline.py) appends the rows once the record has passed its other
    checks."""
    pid = record.patient_id
    top = _astuple(record)
    given = len(top) - top.count(UNSET)
    values = [absent if v is UNSET else v for v in _CLEAN_PATIENT_GET(record)]
    tables = []
    for name in _FIELDS:
        items = getattr(record, name)
        if not items:
            continue
        rows = _child_values(name, items)
        out: list = []
        for s, r in enumerate(_plain(rows)):  # ABSENT stays itself
            out += (pid, s)
            out += r
        given += len(out) - 2 * len(rows) - out.count(_ABSENT)
        tables.append((name, out if absent is not None else _json_values(_json_row_text(out))))
    return (pid, seq, *_plain(values), ",".join(record.conditions)), tables, given


def merge_input(record) -> tuple:
    """What `Store._merge` needs of a Patient or fast_json Struct, built ahead (the import
    pipeline's worker does, and marshal carries it), in SQLite's form (dates as ISO text, codes as
    text): (patient id, its patients row values after patient_id and seq, which of them the record
    gives (a value it does not give keeps the stored one), {table: the merge rows of each list it
    gives})."""
    pid = record.patient_id
    if type(record) is Patient:
        fields = record.model_fields_set
        values = _patient_tuple(record)
        given = tuple(c in fields for c in _PATIENT_COLS)
    else:
        fresh = _CLEAN_PATIENT_GET(record)
        values = [*(None if f is UNSET else f for f in fresh), ",".join(record.conditions)]
        given = (*(f is not UNSET for f in fresh), True)
    lists = {n: _merge_rows(n, items, pid, True) for n in _FIELDS if (items := getattr(record, n))}
    if type(record) is Patient:  # its codes are enums: as text, in tuples (merge rows compare so)
        lists = {n: list(map(tuple, _plain(rows))) for n, rows in lists.items()}
    return pid, _plain(values), given, lists


def _patient_tuple(patient: Patient) -> tuple:
    """A Patient's patients row values (after patient_id, seq) as the upsert compares them."""
    return (*_PATIENT_GET(patient.__dict__), ",".join([c.value for c in patient.__dict__["conditions"]]))


# Records from store/fast_json.py: rows straight from the Struct's values.
_CLEAN_PATIENT_GET = attrgetter(*_PATIENT_FIELDS)
_astuple = fast_json.astuple
_ABSENT = fast_json.ABSENT


_DATED = ("visits", "labs", "screenings", "referrals")


@dataclass(frozen=True)
class EventRecord:
    """Dated rows of an events file for one stored patient (store/readers/tabular.py builds it)."""

    patient_id: str
    visits: tuple = ()
    labs: tuple = ()
    screenings: tuple = ()
    referrals: tuple = ()
    history: tuple = ()
    smoker: bool | None = None


_SMOKER_AT = _PATIENT_COLS.index("smoker")


class Store:
    """Batches validated records and writes them with one executemany per table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch: list[Patient] = []
        # Rows of events files merged, and how many of them a stored row already had exactly
        # (store/importer.py turns these into one D115 per source, not one per row).
        self.event_rows = 0
        self.event_repeats = 0
        last_seq = conn.execute(select(func.max(_PATIENTS.c.seq))).scalar()
        self.next_seq = (last_seq or 0) + 1
        # An empty table at the start of the source's transaction: every patient is new (a repeat
        # within the source is rejected before it gets here), so no batch asks which are stored.
        self.all_new = last_seq is None
        # SQLite with its foreign-key checks off (store/db.py bulk_import, which found the tables
        # empty) into tables that are not (another import filled them meanwhile): checked at finish.
        self.check_keys = (
            conn.dialect.name == "sqlite"
            and not self.all_new
            and not conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        )
        # Secondary indexes dropped by `drop_indexes`, to be built again by `finish`.
        self.rebuild: list = []
        dialect = conn.dialect
        mark = param_mark(dialect)
        quote = dialect.identifier_preparer.quote
        # PostgreSQL checks a foreign key row by row (a trigger per child row: half the import time);
        # into empty tables they are dropped and added back at the end, which checks every row in
        # one join. (SQLite's checks cost little, and its constraints cannot be dropped.)
        self.foreign_keys: list[str] = []
        if self.all_new and dialect.name == "postgresql":
            for table in _CHILD.values():
                for name, definition in conn.exec_driver_sql(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    (table.name,),
                ):
                    conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} DROP CONSTRAINT {quote(name)}")
                    self.foreign_keys.append(
                        f"ALTER TABLE {quote(table.name)} ADD CONSTRAINT {quote(name)} {definition}"
                    )

        def insert_sql(table, cols):
            return (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
                f"VALUES ({', '.join([mark] * len(cols))})"
            )

        columns = {
            "patients": (_PATIENTS, ["patient_id", "seq", *_PATIENT_COLS]),
            **{name: (t, ["patient_id", "seq", *_FIELDS[name]]) for name, t in _CHILD.items()},
        }
        self.insert_sql = {name: insert_sql(t, cols) for name, (t, cols) in columns.items()}
        # PostgreSQL: COPY … FROM STDIN inside the same transaction, some five times cheaper on the
        # client than executemany (psycopg formats rows in C; no per-statement round trip).
        self.copy_sql = (
            {
                name: f"COPY {quote(t.name)} ({', '.join(quote(c) for c in cols)}) FROM STDIN"
                for name, (t, cols) in columns.items()
            }
            if dialect.name == "postgresql"
            else None
        )
        self.absent = _ABSENT if self.copy_sql is None else None  # see new_rows
        self.max_variables = (
            min(conn.connection.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER), 32766)
            if self.copy_sql is None
            else 0
        )
        self.update_sql = (
            f"UPDATE {quote(_PATIENTS.name)} SET "
            + ", ".join(f"{quote(c)} = {mark}" for c in _PATIENT_COLS)
            + f" WHERE {quote('patient_id')} = {mark}"
        )
        # The upsert (_merge): stored rows by patient id ("{}": the ids' placeholders, see _stored),
        # child rows in merge-row form (patient_id, seq, *fast_json.FIELDS), and their COPY.
        pid = quote("patient_id")
        self.stored_sql = {
            "patients": f"SELECT {pid}, {', '.join(quote(c) for c in _PATIENT_COLS)} "
            f"FROM {quote(_PATIENTS.name)} WHERE {pid} IN ({{}})",
            **{
                name: f"SELECT {pid}, {quote('seq')}, {', '.join(quote(c) for c in _FIELDS[name])} "
                f"FROM {quote(t.name)} WHERE {pid} IN ({{}}) ORDER BY {pid}, {quote('seq')}"
                for name, t in _CHILD.items()
            },
        }

    def drop_indexes(self) -> None:
        """Into empty tables, drop the secondary indexes; `finish` builds them again in the same
        transaction: one sort per index (6–8 µs a patient) instead of a B-tree insert per row
        (some 12 µs). The in-process import, where every µs is on the one core, does; the import
        pipeline on SQLite does not, as its importer would otherwise wait for the worker while
        rows come and then build them alone after the worker has ended."""
        if self.all_new and not self.rebuild:
            self.rebuild = [i for t in (_PATIENTS, *_CHILD.values()) for i in t.indexes]
            for index in self.rebuild:
                index.drop(self.conn)

    def stored_person(self, patient_id: str) -> dict | None:
        """The stored patient row of `patient_id` as a dict (conditions a list), or None."""
        rows = self._stored(self.stored_sql["patients"], [patient_id])
        if not rows:
            return None
        person = dict(zip(_PATIENT_COLS, rows[0][1:], strict=True))
        person["conditions"] = [c for c in (person["conditions"] or "").split(",") if c]
        return person

    def add(self, patient: Patient) -> None:
        self.batch.append(patient)
        if len(self.batch) >= BATCH_PATIENTS:
            self.flush()

    def finish(self) -> None:
        """Write what is batched and build the indexes (and foreign keys) dropped at the start."""
        self.flush()
        for index in self.rebuild:
            index.create(self.conn)
        for statement in self.foreign_keys:
            self.conn.exec_driver_sql(statement)
        if self.check_keys and self.conn.exec_driver_sql("PRAGMA foreign_key_check").first():
            raise AssertionError("child rows without their patient: the import is rolled back")

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        existing: dict[str, tuple] = {}  # stored patients rows of the batch's known patients
        if not self.all_new:
            ids = [p.patient_id for p in batch]
            existing = {row[0]: row for row in self._stored(self.stored_sql["patients"], ids)}
        new_patients: list[tuple] = []
        old: list = []  # Patients and fast_json Structs of stored patients
        children: dict[str, list] = {name: [] for name in _CHILD}  # SQLite: values one after another
        flat = self.copy_sql is None
        for patient in batch:
            pid = patient.patient_id
            if pid in existing:
                old.append(patient)
                continue
            if type(patient) is EventRecord:  # the reader checked it is stored; never created here
                raise AssertionError(f"events for {pid!r}, who is not stored")
            new_patients.append(new_rows(patient, self.next_seq, children, self.absent, flat))
            self.next_seq += 1
        if new_patients:
            self._insert("patients", new_patients)
        if old:
            self._merge(old, existing)
        for name, rows in children.items():
            if rows and flat:
                self._sqlite_insert_flat(self.insert_sql[name], rows, 2 + len(_FIELDS[name]))
            elif rows:
                self._insert(name, rows)

    def _insert(self, name: str, rows: list[tuple]) -> None:
        if self.copy_sql is None:
            self._sqlite_insert(self.insert_sql[name], rows)
            return
        with self.conn.connection.cursor() as cursor, cursor.copy(self.copy_sql[name]) as copy:
            write = copy.write_row
            for row in rows:
                write(row)

    def add_rows(self, patients: int, tables: dict[str, tuple[int, list[list]] | bytes]) -> None:
        """Write rows of new patients built elsewhere (store/import_pipeline.py's worker) with
        `new_rows(…, flat=True)`, numbered from `next_seq`: {table: (row width, [the rows' values
        one after another, in pieces])}, or on PostgreSQL {table: the COPY data}. On SQLite a piece
        of exactly one INSERT's values (`max_variables // width` rows) is bound as it is. The caller
        has checked that the tables were empty (`all_new`)."""
        self.flush()
        self.next_seq += patients
        for name in ("patients", *_CHILD):  # parents first: SQLite checks the foreign keys per row
            if name not in tables:
                continue
            if type(tables[name]) is bytes:  # PostgreSQL: the COPY data itself
                with self.conn.connection.cursor() as cursor, cursor.copy(self.copy_sql[name]) as copy:
                    copy.write(tables[name])
                continue
            width, pieces = tables[name]
            if self.copy_sql is None:
                for values in pieces:
                    self._sqlite_insert_flat(self.insert_sql[name], values, width)
                continue
            with self.conn.connection.cursor() as cursor, cursor.copy(self.copy_sql[name]) as copy:
                write = copy.write_row
                for values in pieces:
                    for start in range(0, len(values), width):
                        write(values[start : start + width])

    def add_merged(self, batch: list[tuple]) -> None:
        """Upsert a batch of records given as their `merge_input`s (built elsewhere: the import
        pipeline's worker; SQLite): new patients are numbered and inserted, stored ones merged, as
        `flush` does with the records themselves."""
        self.flush()
        if not batch:
            return
        existing = {row[0]: row for row in self._stored(self.stored_sql["patients"], [m[0] for m in batch])}
        new_patients: list[tuple] = []
        old: list[tuple] = []
        children: dict[str, list] = {name: [] for name in _CHILD}
        for merging in batch:
            pid, values, _, lists = merging
            if pid in existing:
                old.append(merging)
                continue
            new_patients.append((pid, self.next_seq, *values))
            self.next_seq += 1
            for name, rows in lists.items():
                children[name] += rows
        if new_patients:
            self._insert("patients", new_patients)
        if old:
            self._merge(old, existing)
        for name, rows in children.items():
            if rows:
                self._insert(name, rows)

    def _sqlite_insert(self, sql: str, rows: list[tuple]) -> None:
        self._sqlite_insert_flat(sql, list(chain.from_iterable(rows)), len(rows[0]))

    def _sqlite_insert_flat(self, sql: str, values: list, width: int) -> None:
        """executemany of `sql` (one row's INSERT … VALUES (?, …)) for rows of `width` values given
        one after another in `values`, as statements of many rows each (VALUES (…), (…), …):
        sqlite3 then binds and steps once per statement, not once per row."""
        cursor = self.conn.connection.driver_connection.cursor()
        per = self.max_variables // width
        step = per * width
        whole = len(values) - len(values) % step
        if whole:
            head, one = sql.split(" VALUES ")
            many = f"{head} VALUES {', '.join([one] * per)}"
            if whole == len(values) == step:  # one statement's worth: no copy of it
                cursor.execute(many, values)
                return
            for start in range(0, whole, step):
                cursor.execute(many, values[start : start + step])
        if whole < len(values):
            cursor.executemany(sql, [values[i : i + width] for i in range(whole, len(values), width)])

    def _stored(self, sql: str, ids: list[str]) -> list[tuple]:
        """The rows of `sql` (a SELECT ending in `WHERE patient_id IN ({})` plus its ORDER BY, if any)
        for `ids`, through the DBAPI cursor: tuples in the driver's own form (see _merge)."""
        cursor = self.conn.connection.driver_connection.cursor()
        if self.copy_sql is not None:  # PostgreSQL: one array parameter
            cursor.execute(sql.replace("IN ({})", "= ANY(%s)"), (ids,))
            return cursor.fetchall()
        rows: list[tuple] = []
        per = self.max_variables
        for start in range(0, len(ids), per):
            part = ids[start : start + per]
            cursor.execute(sql.format(", ".join(["?"] * len(part))), part)
            rows += cursor.fetchall()
        return rows

    def _merge(self, records: list, stored_patients: dict[str, tuple]) -> None:
        """Upsert of already stored patients (the "newer wins" rules of the module docstring).
        `records` are Patients, fast_json Structs, EventRecords or (SQLite) `merge_input`s;
        `stored_patients` their stored patients rows.

        Stored rows are compared in the form the driver returns them (on SQLite a date is its ISO
        text and a boolean 0 or 1; psycopg gives dates and bools), and the incoming values are
        brought to that form (`_merge_rows`), not the other way round: an unchanged list then equals
        its stored rows with no Python work per stored row, and ISO dates sort as dates do. A
        changed list is deleted and written again, its kept rows as they were read."""
        text_dates = self.copy_sql is None
        updates = []
        for record in records:
            if type(record) is tuple:  # merge_input's, in the driver's form already (SQLite)
                pid, fresh, given, _ = record
                row = stored_patients[pid]
                values = [f if g else s for f, g, s in zip(fresh, given, row[1:], strict=True)]
                if values != list(row[1:]):
                    updates.append((*values, pid))
                continue
            row = stored_patients[record.patient_id]
            if type(record) is EventRecord:  # never rewrites the register; fills a blank smoker
                values = list(row[1:])
                if values[_SMOKER_AT] is None and record.smoker is not None:
                    values[_SMOKER_AT] = record.smoker if not text_dates else int(record.smoker)
            elif type(record) is Patient:
                fresh = _patient_tuple(record)
                given = record.model_fields_set
                values = [
                    f if c in given else s for c, f, s in zip(_PATIENT_COLS, fresh, row[1:], strict=True)
                ]
            else:  # a fast_json Struct: an absent field is UNSET
                fresh = (*_CLEAN_PATIENT_GET(record), ",".join(record.conditions))
                values = [s if f is UNSET else f for f, s in zip(fresh, row[1:], strict=True)]
            if text_dates:
                for at in _PATIENT_DATES_AT:
                    value = values[at]
                    if type(value) is date:
                        values[at] = value.isoformat()
            if values != list(row[1:]):
                updates.append((*values, record.patient_id))
        if updates:
            self.conn.exec_driver_sql(self.update_sql, updates)
        for name, table in _CHILD.items():
            incoming = []  # (patient id, merge rows, from an events file?)
            for r in records:
                if type(r) is tuple:
                    if rows := r[3].get(name):
                        incoming.append((r[0], rows, False))
                elif items := getattr(r, name):
                    incoming.append((r.patient_id, _merge_rows(name, items, r.patient_id, text_dates),
                                     type(r) is EventRecord))
            if not incoming:  # absent (UNSET) or empty lists: the stored ones stay
                continue
            ids = [pid for pid, _, _ in incoming]
            stored = {
                pid: list(rows) for pid, rows in groupby(self._stored(self.stored_sql[name], ids), _first)
            }
            changed: list[str] = []
            written: list[tuple] = []
            for pid, fresh, events in incoming:
                before = stored.get(pid, [])
                if events:
                    self.event_rows += len(fresh)
                    self.event_repeats += _repeats(before, fresh)
                if fresh == before:
                    continue  # a re-imported, unchanged list: its rows (and index entries) stay
                merged = _merged(name, before, fresh, pid, fill=events)
                if merged == before:
                    continue
                changed.append(pid)
                written += merged
            if changed:
                self.conn.execute(delete(table).where(table.c.patient_id.in_(changed)))
                self._insert(name, written)


# ---- upsert helpers -----------------------------------------------------------------------------
# A merge row is a child row as written (above); the stored rows are selected in the same order.

_first = itemgetter(0)
# A fast_json child's absent field (ABSENT) and an empty symptoms tuple are stored as NULL.
_as_stored = {fast_json.ABSENT: None, (): None}.get
_CHILD_DATES_AT = {
    name: tuple(i for i, f in enumerate(fields) if isinstance(_CHILD[name].c[f].type, Date))
    for name, fields in _FIELDS.items()
}
_PATIENT_DATES_AT = tuple(i for i, c in enumerate(_PATIENT_COLS) if isinstance(_PATIENTS.c[c].type, Date))
_MERGE_KEY = {  # the key of a merge row: a stored row with the key of an incoming one is replaced
    name: itemgetter(*(2 + _FIELDS[name].index(f) for f in key))
    for name, key in {
        "history": ("code",),
        "visits": ("date",),
        "labs": ("date",),
        "screenings": ("date", "kind"),
        "referrals": ("date", "to"),
    }.items()
}
def _agree(new: tuple, old: tuple) -> bool:
    """No field has two different values (a blank agrees with anything)."""
    return all(n is None or o is None or n == o for n, o in zip(new, old, strict=True))


_MERGE_DATE = {name: itemgetter(_FIELDS[name].index("date")) for name in _DATED}


def _merge_rows(name: str, items, pid: str, text_dates: bool) -> list[tuple]:
    """The merge rows of an incoming child list (Patient items or fast_json Structs), in date
    order (ties in record order; history keeps record order), valued as the driver returns them:
    NULL for an absent field, a visit's symptoms as JSON text, and with `text_dates` (SQLite) dates
    as ISO text."""
    if name != "history" and len(items) > 1:
        items = sorted(items, key=_by_date)
    if isinstance(items[0], BaseModel):
        get = _FIELDS_GET[name]
        rows = [[*map(_as_stored, t, t)] for t in [get(i.__dict__) for i in items]]
    else:
        rows = [[*map(_as_stored, t, t)] for t in map(_astuple, items)]
    if text_dates:
        for at in _CHILD_DATES_AT[name]:
            for row in rows:
                value = row[at]
                if value is not None:
                    row[at] = value.isoformat()
    if name == "visits":
        for row in rows:
            if row[_SYMPTOMS_AT] is not None:
                row[_SYMPTOMS_AT] = _symptoms(row[_SYMPTOMS_AT])
    return [(pid, seq, *row) for seq, row in enumerate(rows)]


def _repeats(before: list[tuple], fresh: list[tuple]) -> int:
    """How many incoming rows a stored row already has with exactly the same values (each stored
    row matched once)."""
    left = Counter(row[2:] for row in before)
    found = 0
    for row in fresh:
        if left[row[2:]] > 0:
            left[row[2:]] -= 1
            found += 1
    return found


def _merged(name: str, before: list[tuple], fresh: list[tuple], pid: str, fill: bool = False) -> list[tuple]:
    """The stored rows `before` merged with the incoming `fresh` (both merge rows): a stored row
    with an incoming row's key is replaced, the others kept; date order, ties stored first.

    With `fill` (an events file), nothing stored is replaced: an incoming row fills a stored row of
    its key whose values it does not contradict (a health check and a follow-up of one day make one
    visit), and is added beside it when it does (two readings of one day are both kept)."""
    key = _MERGE_KEY[name]
    if fill:
        values = [row[2:] for row in before]
        keys = [key(row) for row in before]
        used: set[int] = set()
        for row in fresh:
            new, at = row[2:], None
            for i, old in enumerate(values):
                if i not in used and keys[i] == key(row) and _agree(new, old):
                    at = i
                    break
            if at is None:
                values.append(new)
                keys.append(key(row))
                used.add(len(values) - 1)
            else:
                values[at] = tuple(n if n is not None else o for n, o in zip(new, values[at], strict=True))
                used.add(at)
    else:
        fresh_keys = set(map(key, fresh))
        values = [row[2:] for row in before if key(row) not in fresh_keys]
        values += [row[2:] for row in fresh]
    if name != "history":
        values.sort(key=_MERGE_DATE[name])
    return [(pid, seq, *v) for seq, v in enumerate(values)]
