"""`import_files`: roster files → validated records → the database, one transaction per source.

A source is one JSONL file, one XLSX workbook, or the CSV files of one directory (store/readers/).
Each unit (a JSONL line; a patients row with its child rows; a child row on its own) is validated
(pathways/models.py for types, store/validation.py for the rest) and then either stored or
written to the reject file with its reasons. Findings that do not make a record unusable
(an implausible value, a date after as_of) are reported and the record is kept.

Upsert by patient_id, "newer wins" meaning:
- patient fields present in the incoming record replace the stored ones; fields the incoming
  record does not carry (an absent JSON key, an empty cell, a column the file lacks) keep the
  stored value; an explicit JSON `null` clears it. `conditions` is required and is replaced.
- child rows merge by key: a visit or lab with the same date, a screening with the same date and
  kind, a history item with the same code, a referral with the same date and destination replaces
  the stored one; stored rows with other keys are kept. Lists are kept in date order (ties in import
  order), which is the order the exporter writes.

Rows are written in batches (one executemany per table per batch) inside the source's single
transaction, so an error or a kill part-way leaves the database as it was before that source.
The file is streamed; memory holds one batch plus the set of patient ids seen (duplicate check).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from pathways import resident_id
from pathways.errors import Problem, SangaoError
from pathways.models import Patient
from store.db import open_db
from store.readers import ENCODING_NAMES, Item, Source, group_sources, read_source
from store.readers.mapping import Mapping, load_mapping
from store.tables import CHILD_TABLES, PatientRow
from store.validation import check_patient, pydantic_issues

BATCH_PATIENTS = 2000

_PATIENTS = PatientRow.__table__
_CHILD = {name: model.__table__ for name, model in CHILD_TABLES.items()}
_SCALARS = [c.name for c in _PATIENTS.columns if c.name not in ("patient_id", "seq")]
_CHILD_FIELDS = {name: [c.name for c in t.columns if c.name not in ("id", "patient_id", "seq")]
                 for name, t in _CHILD.items()}
_MERGE_KEYS: dict[str, Callable[[dict], tuple]] = {
    "history": lambda r: (r["code"],),
    "visits": lambda r: (r["date"],),
    "labs": lambda r: (r["date"],),
    "screenings": lambda r: (r["date"], r["kind"]),
    "referrals": lambda r: (r["date"], r["to"]),
}


@dataclass
class FileReport:
    file: str
    format: str
    encoding: str | None = None
    rows_read: int = 0
    imported: int = 0
    rejected: int = 0
    error: bool = False          # the whole file failed (nothing of it landed)


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    findings: list[Problem] = field(default_factory=list)   # kept records' data-quality findings
    rejects: list[Problem] = field(default_factory=list)    # why rows (or whole files) were rejected
    patients_imported: int = 0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def imported(self) -> int:
        return sum(f.imported for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def ok(self) -> bool:
        """False when anything was rejected (the command then exits 1)."""
        return not self.rejects and not any(f.error for f in self.files)

    def by_code(self, problems: Iterable[Problem]) -> dict[str, list[Problem]]:
        out: dict[str, list[Problem]] = {}
        for p in problems:
            out.setdefault(p.code, []).append(p)
        return dict(sorted(out.items()))


# ---- validation of one item ---------------------------------------------------------------------


def validate_item(item: Item, as_of: date | None) -> tuple[Patient | None, list[Problem], list[Problem]]:
    """(patient or None, rejecting problems, kept findings) for one reader item."""
    if item.problems or item.data is None:
        return None, list(item.problems), list(item.findings)
    data = item.data
    findings = list(item.findings)
    locate = item.locate or (lambda _loc: (item.file, item.line, None))
    context = f"patient {item.patient_id}" if item.patient_id else None
    number = data.get("id_number")
    if isinstance(number, str) and len(number) == 15 and number.isdigit():
        data = {**data, "id_number": resident_id.upgrade15(number)}
        file, line, column = locate(("id_number",))
        findings.append(Problem("D106", f"legacy 15-digit resident ID {resident_id.mask(number)} upgraded to 18 "
                                "characters", file, line, column, context=context))
    try:
        patient = Patient.model_validate(data)
    except ValidationError as exc:
        issues = pydantic_issues(exc)
        patient = None
    else:
        issues = check_patient(patient, as_of)
    problems = []
    for issue in issues:
        file, line, column = locate(issue.loc)
        problem = Problem(issue.code, issue.message, file, line, column, issue.hint, context)
        (problems if issue.rejects else findings).append(problem)
    return (None if problems else patient), problems, findings


def iter_items(source: Source, mapping: Mapping | None, as_of: date | None,
               ) -> Iterator[tuple[Item, Patient | None, list[Problem], list[Problem]]]:
    """Every item of a source with its verdict; a repeated patient_id is rejected (D021)."""
    seen: dict[str, str] = {}
    for item in read_source(source, mapping):
        patient, problems, findings = validate_item(item, as_of)
        if patient is not None:
            first = seen.get(patient.patient_id)
            if first is not None:
                problems.append(Problem("D021", f"patient_id {patient.patient_id!r} appears again (first at "
                                        f"{first}); this row is rejected", item.file, item.line,
                                        item.locate(("patient_id",))[2] if item.locate else None,
                                        hint="merge the two rows, or correct one patient id"))
                patient = None
            else:
                seen[patient.patient_id] = f"{item.file}:{item.line}"
        yield item, patient, problems, findings


# ---- public entry point -------------------------------------------------------------------------


def import_files(paths: Iterable[str | Path], db_url: str, as_of: date | None, mapping: Path | Mapping | None = None,
                 reject_path: str | Path | None = None) -> ImportReport:
    """Import roster files into the database at `db_url` (a path means SQLite). `as_of` is the
    evaluation date for the future-date findings. Returns counts per file, findings and rejects;
    writes the rejected rows with their reasons to `reject_path` (CSV, UTF-8 with BOM for Excel)."""
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(Path(mapping))
    sources = group_sources([Path(p) for p in paths])
    report = ImportReport()
    db_engine = open_db(db_url)
    reject_file = open(reject_path, "w", encoding="utf-8-sig", newline="") if reject_path else None  # noqa: SIM115
    try:
        writer = csv.writer(reject_file) if reject_file else None
        if writer:
            writer.writerow(["file", "row", "patient_id", "code", "column", "message", "hint", "raw"])
        for source in sources:
            _import_source(db_engine, source, mapping, as_of, report, writer)
    finally:
        if reject_file:
            reject_file.close()
        db_engine.dispose()
    return report


def _import_source(db_engine, source: Source, mapping, as_of, report: ImportReport, writer) -> None:
    files: dict[str, FileReport] = {}

    def file_report(name: str) -> FileReport:
        if name not in files:
            files[name] = FileReport(name, source.kind)
        return files[name]

    found: list[Problem] = []
    rejected: list[Problem] = []
    patients = 0
    try:
        with db_engine.begin() as conn:
            store = _Store(conn)
            for item, patient, problems, findings in iter_items(source, mapping, as_of):
                found += findings
                units = [(item.file, item.line), *item.rows]
                if patient is None:
                    for name, _ in units:
                        file_report(name).rejected += 1
                    rejected += problems
                    rejected += [Problem("D025", f"row belongs to patient row {item.file}:{item.line}, which was "
                                         "rejected", name, line, context=_ctx(item))
                                 for name, line in item.rows]
                    if writer:
                        _write_rejects(writer, item, problems)
                    continue
                for name, _ in units:
                    file_report(name).imported += 1
                patients += 1
                store.add(patient)
            store.flush()
    except SangaoError as exc:
        for name in source.rows_read or {str(p): 0 for p in source.paths}:
            fr = file_report(name)
            fr.error, fr.imported, fr.rejected = True, 0, source.rows_read.get(name, 0)
        report.rejects += exc.problems
        if writer:
            for p in exc.problems:
                writer.writerow([p.file, p.line or "", "", p.code, p.column or "", p.message, p.hint or "", ""])
        report.files += [_finish(fr, source) for fr in files.values()]
        return
    report.findings += source.findings + found
    report.rejects += rejected
    report.patients_imported += patients
    for name in source.rows_read:
        file_report(name)
    report.files += [_finish(fr, source) for fr in files.values()]


def _finish(fr: FileReport, source: Source) -> FileReport:
    fr.rows_read = source.rows_read.get(fr.file, fr.rows_read)
    encoding = source.encodings.get(fr.file)
    fr.encoding = ENCODING_NAMES.get(encoding, encoding) if encoding else None
    return fr


def _ctx(item: Item) -> str | None:
    return f"patient {item.patient_id}" if item.patient_id else None


def _write_rejects(writer, item: Item, problems: list[Problem]) -> None:
    for p in problems:
        writer.writerow([p.file, p.line, item.patient_id or "", p.code, p.column or "", p.message, p.hint or "",
                         item.raw])
    for name, line in item.rows:
        writer.writerow([name, line, item.patient_id or "", "D025", "",
                         f"row belongs to patient row {item.file}:{item.line}, which was rejected", "", ""])


# ---- writing ------------------------------------------------------------------------------------


def _value(v):
    return v.value if hasattr(v, "value") and not isinstance(v, (int, float)) else v


def patient_row(patient: Patient) -> dict:
    row = {"patient_id": patient.patient_id}
    for name in _SCALARS:
        value = getattr(patient, name)
        if name == "conditions":
            value = ",".join(c.value for c in value)
        row[name] = _value(value)
    return row


def child_rows(patient: Patient) -> dict[str, list[dict]]:
    """{"visits": [row …], …} in date order (ties in record order), without seq and patient_id."""
    out = {}
    for name, fields in _CHILD_FIELDS.items():
        items = getattr(patient, name)
        if name != "history":
            items = sorted(items, key=lambda i: i.date)
        rows = []
        for item in items:
            row = {f: _value(getattr(item, f)) for f in fields}
            if name == "visits":
                row["symptoms"] = json.dumps(list(item.symptoms), ensure_ascii=False) if item.symptoms else None
            rows.append(row)
        out[name] = rows
    return out


class _Store:
    """Batches validated records and writes them with one executemany per table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch: list[Patient] = []
        self.next_seq = (conn.execute(select(func.max(_PATIENTS.c.seq))).scalar() or 0) + 1

    def add(self, patient: Patient) -> None:
        self.batch.append(patient)
        if len(self.batch) >= BATCH_PATIENTS:
            self.flush()

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        conn = self.conn
        ids = [p.patient_id for p in batch]
        existing = {r["patient_id"]: dict(r) for r in
                    conn.execute(select(_PATIENTS).where(_PATIENTS.c.patient_id.in_(ids))).mappings()}
        new_patients, updated = [], []
        children: dict[str, list[dict]] = {name: [] for name in _CHILD}
        incoming_old: dict[str, dict[str, list[dict]]] = {}
        for patient in batch:
            pid = patient.patient_id
            rows = child_rows(patient)
            if pid in existing:
                merged = existing[pid]
                fresh = patient_row(patient)
                for name in patient.model_fields_set | {"conditions"}:
                    if name in fresh:
                        merged[name] = fresh[name]
                updated.append(merged)
                incoming_old[pid] = rows
                continue
            row = patient_row(patient)
            row["seq"] = self.next_seq
            self.next_seq += 1
            new_patients.append(row)
            for name, items in rows.items():
                for seq, item in enumerate(items):
                    item["patient_id"], item["seq"] = pid, seq
                    children[name].append(item)
        if new_patients:
            conn.execute(insert(_PATIENTS), new_patients)
        if updated:
            self._update(updated, incoming_old, children)
        for name, rows in children.items():
            if rows:
                conn.execute(insert(_CHILD[name]), rows)

    def _update(self, updated: list[dict], incoming: dict[str, dict[str, list[dict]]],
                children: dict[str, list[dict]]) -> None:
        conn = self.conn
        cols = [c for c in _PATIENTS.columns.keys() if c != "patient_id"]
        stmt = (update(_PATIENTS).where(_PATIENTS.c.patient_id == bindparam("_pid"))
                .values({c: bindparam(c) for c in cols}))
        conn.execute(stmt, [{"_pid": r["patient_id"], **{c: r[c] for c in cols}} for r in updated])
        ids = list(incoming)
        for name, table in _CHILD.items():
            stored: dict[str, list[dict]] = {}
            for r in conn.execute(select(table).where(table.c.patient_id.in_(ids))
                                  .order_by(table.c.patient_id, table.c.seq)).mappings():
                row = {f: r[f] for f in _CHILD_FIELDS[name]}
                stored.setdefault(r["patient_id"], []).append(row)
            conn.execute(delete(table).where(table.c.patient_id.in_(ids)))
            key = _MERGE_KEYS[name]
            for pid in ids:
                fresh = incoming[pid][name]
                fresh_keys = {key(r) for r in fresh}
                merged = [r for r in stored.get(pid, []) if key(r) not in fresh_keys] + fresh
                if name != "history":
                    merged.sort(key=lambda r: r["date"])
                for seq, row in enumerate(merged):
                    row["patient_id"], row["seq"] = pid, seq
                    children[name].append(row)
