"""Database → interchange records (interchange.md §1): `iter_records` yields JSON-ready dicts in
first-import order, `read_patients` the same as validated `Patient`s, `export_jsonl` writes JSONL.

The written form is canonical, so import → export round-trips exactly: absent optional fields and
nulls are left out, empty lists are left out, integral floats are written as integers (152, not
152.0), child lists are in date order (ties in import order). `record_json` gives the same form for
an in-memory `Patient`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import TextIO

from sqlalchemy import Engine, func, select

from pathways.models import Patient
from store.db import open_db
from store.tables import CHILD_TABLES, PatientRow

BATCH = 1000
_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")

_PATIENTS = PatientRow.__table__
_SCALARS = [c for c in Patient.model_fields if c not in CHILD_TABLES]
_CHILD = {name: model.__table__ for name, model in CHILD_TABLES.items()}
_ITEM_FIELDS = {
    name: [c.name for c in t.columns if c.name not in ("id", "patient_id", "seq")]
    for name, t in _CHILD.items()
}


def _plain(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _clean(obj):
    """Canonical JSON form: no None, no empty lists, integral floats as ints."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = _clean(v)
            if v is None or v == [] or v == ():
                continue
            out[k] = v
        return out
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _plain(obj)


def record_json(patient: Patient) -> dict:
    """The canonical interchange dict of a record (child lists in date order, as stored)."""
    data = patient.model_dump(mode="python")
    for name in CHILD_TABLES:
        if name != "history":
            data[name] = sorted(data[name], key=lambda i: i["date"])
    return _clean(data)


def iter_records(
    db_engine: Engine, institutions: Sequence[str] | None = None, team: str | None = None,
) -> Iterator[dict]:
    """Every stored patient (of these institutions only, of this team only, when given) as a
    canonical interchange dict, in first-import order, read by store/db_records.py (the driver's
    rows, a batch at a time)."""
    from store.db_records import canonical_batch

    last = 0
    with db_engine.connect() as conn:
        while True:
            batch = canonical_batch(conn, last, limit=BATCH, institutions=institutions, team=team)
            if not batch:
                return
            last = batch[-1][0]
            for _, record in batch:
                yield record


def records_after(
    conn, after: int, limit: int | None = None, upto: int | None = None, canonical: bool = True,
    institutions: Sequence[str] | None = None,
) -> Iterator[tuple[int, dict]]:
    """(seq, canonical dict) of the patients with `after` < seq (≤ `upto`), at most `limit`, in seq
    order: one query for the patients and one per child table, through SQLAlchemy Core (its types
    make the values). `canonical=False`: the values as SQLAlchemy gives them (dates as dates, None
    kept, no symptoms as []), for a reader that validates them into a record itself. The fast
    readers are store/db_records.py's; this one judges a batch they cannot convert
    (store/roster_source.py) and is what tests compare them with."""
    query = select(_PATIENTS).where(_PATIENTS.c.seq > after)
    if upto is not None:
        query = query.where(_PATIENTS.c.seq <= upto)
    if institutions is not None:  # a shard (roster export --format parquet --institution)
        query = query.where(_PATIENTS.c.institution.in_(list(institutions)))
    query = query.order_by(_PATIENTS.c.seq)
    if limit is not None:
        query = query.limit(limit)
    rows = conn.execute(query).mappings().all()
    if not rows:
        return
    ids = [r["patient_id"] for r in rows]
    children: dict[str, dict[str, list[dict]]] = {}
    for name, table in _CHILD.items():
        fields = _ITEM_FIELDS[name]
        for r in conn.execute(
            select(table).where(table.c.patient_id.in_(ids)).order_by(table.c.patient_id, table.c.seq)
        ).mappings():
            item = {f: r[f] for f in fields}
            if name == "visits":
                symptoms = item["symptoms"]
                item["symptoms"] = json.loads(symptoms) if symptoms else (None if canonical else ())
            children.setdefault(r["patient_id"], {}).setdefault(name, []).append(item)
    for r in rows:
        record = {f: r[f] for f in _SCALARS}
        record["conditions"] = r["conditions"].split(",")
        mine = children.get(r["patient_id"], {})
        for name in CHILD_TABLES:
            record[name] = mine.get(name, [])
        yield r["seq"], _clean(_ordered(record)) if canonical else record


def seq_ranges(db_engine: Engine, size: int) -> list[tuple[int, int]]:
    """(after, upto] ranges of `patients.seq` holding `size` patients each (the last fewer)."""
    ranges = []
    last = 0
    with db_engine.connect() as conn:
        while True:
            upto = conn.execute(
                select(_PATIENTS.c.seq).where(_PATIENTS.c.seq > last).order_by(_PATIENTS.c.seq)
                .limit(1).offset(size - 1)
            ).scalar()
            if upto is None:
                upto = conn.execute(select(func.max(_PATIENTS.c.seq))).scalar()
                if upto is not None and upto > last:
                    ranges.append((last, upto))
                return ranges
            ranges.append((last, upto))
            last = upto


def _ordered(record: dict) -> dict:
    """Keys in the model's field order (the interchange example's order)."""
    return {k: record[k] for k in Patient.model_fields if k in record}


def read_patients(db_url: str, team: str | None = None) -> Iterator[Patient]:
    """Every stored patient (of `team` only, when given: chosen by the database, so the others are
    neither read nor validated) as a validated record, in first-import order."""
    db_engine = open_db(db_url)
    try:
        for record in iter_records(db_engine, team=team):
            yield Patient.model_validate(record)
    finally:
        db_engine.dispose()


def record_line(record: dict) -> str:
    """A canonical interchange dict as its JSONL line (no line end), as `export_jsonl` writes it."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # raw U+0085/U+2028/U+2029 split lines in many readers. Three `in` tests, not one regular
    # expression: the search took longer than the json.dumps (49 against 33 µs for 4 KB of text).
    if "\u2028" in line or "\u2029" in line or "\x85" in line:
        line = _LINE_BREAKS.sub(lambda m: f"\\u{ord(m[0]):04x}", line)
    return line


def export_jsonl(db_url: str, out: TextIO) -> int:
    """Write every stored patient as one JSON line; returns the number written."""
    db_engine = open_db(db_url)
    count = 0
    try:
        for record in iter_records(db_engine):
            out.write(record_line(record) + "\n")
            count += 1
    finally:
        db_engine.dispose()
    return count
