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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from operator import itemgetter
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Connection, Date, delete, func, select

from pathways import resident_id
from pathways.errors import Problem, SangaoError
from pathways.models import Patient
from store.db import open_db
from store.readers import ENCODING_NAMES, Item, Source, group_sources, read_source
from store.readers.jsonl import count_keys, parse_line, record_keys
from store.readers.mapping import Mapping, load_mapping
from store.readers.tabular import REJECT_HEADER
from store.tables import CHILD_TABLES, PatientRow
from store.validation import check_patient, pydantic_issues

BATCH_PATIENTS = 2000

_PATIENTS = PatientRow.__table__
_CHILD = {name: model.__table__ for name, model in CHILD_TABLES.items()}
_CHILD_FIELDS = {
    name: [c.name for c in t.columns if c.name not in ("id", "patient_id", "seq")]
    for name, t in _CHILD.items()
}


@dataclass
class FileReport:
    file: str
    format: str
    encoding: str | None = None
    rows_read: int = 0
    imported: int = 0
    rejected: int = 0
    error: bool = False  # the whole file failed (nothing of it landed)


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    findings: list[Problem] = field(default_factory=list)  # kept records' data-quality findings
    rejects: list[Problem] = field(default_factory=list)  # why rows (or whole files) were rejected
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
    if item.json_text is not None:
        patient = _fast_json(item)
        if patient is not None:
            return _checked(item, patient, as_of)
        parse_line(item)
    if item.problems or item.data is None:
        context = _ctx(item)
        problems = [p if p.context or not context else replace(p, context=context) for p in item.problems]
        return None, problems, list(item.findings)
    findings = list(item.findings)
    try:
        patient = Patient.model_validate(item.data)
    except ValidationError as exc:
        return None, _problems(item, pydantic_issues(exc), findings), findings
    return _checked(item, patient, as_of, findings)


def _fast_json(item: Item) -> Patient | None:
    """The record of a JSONL line validated straight from the text, or None to take the slow path
    (invalid, or possibly a repeated key)."""
    try:
        patient = Patient.model_validate_json(item.json_text)
    except ValidationError:
        return None
    written = count_keys(item.json_text)
    if written is None or written != record_keys(patient):
        return None
    item.patient_id = patient.patient_id
    return patient


def _checked(item: Item, patient: Patient, as_of: date | None, findings: list[Problem] | None = None):
    findings = list(item.findings) if findings is None else findings
    number = patient.id_number
    if number is not None and len(number) == 15 and number.isdigit():
        patient = patient.model_copy(update={"id_number": resident_id.upgrade15(number)})
        file, line, column = (item.locate or _here(item))(("id_number",))
        findings.append(
            Problem(
                "D106",
                f"legacy 15-digit resident ID {resident_id.mask(number)} upgraded to 18 characters",
                file,
                line,
                column,
                context=_ctx(item),
            )
        )
    problems = _problems(item, check_patient(patient, as_of), findings)
    return (None if problems else patient), problems, findings


def _here(item: Item):
    return lambda _loc: (item.file, item.line, None)


def _problems(item: Item, issues, findings: list[Problem]) -> list[Problem]:
    """Issues located in the file; kept findings go to `findings`, rejecting ones are returned."""
    locate = item.locate or _here(item)
    problems = []
    for issue in issues:
        file, line, column = locate(issue.loc)
        problem = Problem(issue.code, issue.message, file, line, column, issue.hint, _ctx(item))
        (problems if issue.rejects else findings).append(problem)
    return problems


def iter_items(
    source: Source,
    mapping: Mapping | None,
    as_of: date | None,
) -> Iterator[tuple[Item, Patient | None, list[Problem], list[Problem]]]:
    """Every item of a source with its verdict; a repeated patient_id is rejected (D021)."""
    seen: dict[str, str] = {}
    for item in read_source(source, mapping):
        patient, problems, findings = validate_item(item, as_of)
        if patient is not None:
            first = seen.get(patient.patient_id)
            if first is not None:
                problems.append(
                    Problem(
                        "D021",
                        f"patient_id {patient.patient_id!r} appears again (first at "
                        f"{first}); this row is rejected",
                        item.file,
                        item.line,
                        item.locate(("patient_id",))[2] if item.locate else None,
                        hint="merge the two rows, or correct one patient id",
                    )
                )
                patient = None
            else:
                seen[patient.patient_id] = f"{item.file}:{item.line}"
        yield item, patient, problems, findings


# ---- public entry point -------------------------------------------------------------------------


def import_files(
    paths: Iterable[str | Path],
    db_url: str,
    as_of: date | None,
    mapping: Path | Mapping | None = None,
    reject_path: str | Path | None = None,
) -> ImportReport:
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
            writer.writerow(REJECT_HEADER)
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
                units = [(item.file, item.line), *item.rows]
                if patient is None:
                    for name, _ in units:
                        file_report(name).rejected += 1
                    rejected += problems
                    rejected += [
                        Problem(
                            "D025",
                            f"row belongs to patient row {item.file}:{item.line}, which was rejected",
                            name,
                            line,
                            context=_ctx(item),
                        )
                        for name, line in item.rows
                    ]
                    if writer:
                        _write_rejects(writer, item, problems)
                    continue
                for name, _ in units:
                    file_report(name).imported += 1
                found += findings  # a rejected record's findings are moot: its rejection says what to fix
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
                writer.writerow(
                    [p.file, p.line or "", "", p.code, p.column or "", p.message, p.hint or "", ""]
                )
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
        writer.writerow(
            [p.file, p.line, item.patient_id or "", p.code, p.column or "", p.message, p.hint or "", item.raw]
        )
    for name, line in item.rows:
        writer.writerow(
            [
                name,
                line,
                item.patient_id or "",
                "D025",
                "",
                f"row belongs to patient row {item.file}:{item.line}, which was rejected",
                "",
                "",
            ]
        )


# ---- writing ------------------------------------------------------------------------------------
# Rows go to the DBAPI's executemany as tuples in table column order (SQLAlchemy's per-row
# parameter processing cost more than the insert itself). SQLite receives dates as ISO text, the
# form SQLAlchemy's Date type stores (and sqlite3's default date adapter is deprecated from 3.12).
# Child rows are tuples of their fields (no patient_id, seq) in that DB-ready form.

_PATIENT_FIELDS = [c.name for c in _PATIENTS.columns if c.name not in ("patient_id", "seq")]
_PATIENT_GET = itemgetter(*[f for f in _PATIENT_FIELDS if f != "conditions"])
_PATIENT_DATES = [i for i, f in enumerate(_PATIENT_FIELDS) if isinstance(_PATIENTS.c[f].type, Date)]
_CONDITIONS_AT = _PATIENT_FIELDS.index("conditions")
_CHILD_GET = {name: itemgetter(*fields) for name, fields in _CHILD_FIELDS.items()}
_CHILD_DATES = {
    name: [i for i, f in enumerate(fields) if isinstance(_CHILD[name].c[f].type, Date)]
    for name, fields in _CHILD_FIELDS.items()
}
_SYMPTOMS_AT = _CHILD_FIELDS["visits"].index("symptoms")
_KEY_AT = {
    "history": (_CHILD_FIELDS["history"].index("code"),),
    "visits": (_CHILD_FIELDS["visits"].index("date"),),
    "labs": (_CHILD_FIELDS["labs"].index("date"),),
    "screenings": (_CHILD_FIELDS["screenings"].index("date"), _CHILD_FIELDS["screenings"].index("kind")),
    "referrals": (_CHILD_FIELDS["referrals"].index("date"), _CHILD_FIELDS["referrals"].index("to")),
}


class _Store:
    """Batches validated records and writes them with one executemany per table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch: list[Patient] = []
        self.next_seq = (conn.execute(select(func.max(_PATIENTS.c.seq))).scalar() or 0) + 1
        dialect = conn.dialect
        self.iso_dates = dialect.name == "sqlite"
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        quote = dialect.identifier_preparer.quote

        def insert_sql(table, cols):
            return (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
                f"VALUES ({', '.join([mark] * len(cols))})"
            )

        self.insert_sql = {
            "patients": insert_sql(_PATIENTS, ["patient_id", "seq", *_PATIENT_FIELDS]),
            **{
                name: insert_sql(t, ["patient_id", "seq", *_CHILD_FIELDS[name]]) for name, t in _CHILD.items()
            },
        }
        self.update_sql = (
            f"UPDATE {quote(_PATIENTS.name)} SET "
            + ", ".join(f"{quote(c)} = {mark}" for c in _PATIENT_FIELDS)
            + f" WHERE {quote('patient_id')} = {mark}"
        )

    def add(self, patient: Patient) -> None:
        self.batch.append(patient)
        if len(self.batch) >= BATCH_PATIENTS:
            self.flush()

    # -- record → tuples

    def _dates(self, values: list, positions: list[int]) -> None:
        if self.iso_dates:
            for i in positions:
                v = values[i]
                if v is not None:
                    values[i] = v.isoformat()

    def patient_values(self, patient: Patient) -> list:
        values = list(_PATIENT_GET(patient.__dict__))
        values.insert(_CONDITIONS_AT, ",".join(c.value for c in patient.conditions))
        self._dates(values, _PATIENT_DATES)
        return values

    def child_values(self, patient: Patient) -> dict[str, list[tuple]]:
        """{"visits": [fields tuple …], …} in date order (ties in record order)."""
        out = {}
        for name, get in _CHILD_GET.items():
            items = getattr(patient, name)
            if not items:
                out[name] = []
                continue
            if name != "history":
                items = sorted(items, key=_by_date)
            rows = []
            dates = _CHILD_DATES[name]
            for item in items:
                values = list(get(item.__dict__))
                self._dates(values, dates)
                if name == "visits":
                    symptoms = values[_SYMPTOMS_AT]
                    values[_SYMPTOMS_AT] = (
                        json.dumps(list(symptoms), ensure_ascii=False) if symptoms else None
                    )
                rows.append(tuple(values))
            out[name] = rows
        return out

    # -- writing

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        conn = self.conn
        ids = [p.patient_id for p in batch]
        existing = {
            r[0]: r
            for r in conn.execute(select(_PATIENTS.c.patient_id).where(_PATIENTS.c.patient_id.in_(ids)))
        }
        new_patients: list[tuple] = []
        old: list[Patient] = []
        children: dict[str, list[tuple]] = {name: [] for name in _CHILD}
        for patient in batch:
            pid = patient.patient_id
            if pid in existing:
                old.append(patient)
                continue
            new_patients.append((pid, self.next_seq, *self.patient_values(patient)))
            self.next_seq += 1
            for name, rows in self.child_values(patient).items():
                children[name] += [(pid, seq, *row) for seq, row in enumerate(rows)]
        if new_patients:
            conn.exec_driver_sql(self.insert_sql["patients"], new_patients)
        if old:
            self._merge(old, children)
        for name, rows in children.items():
            if rows:
                conn.exec_driver_sql(self.insert_sql[name], rows)

    def _merge(self, patients: list[Patient], children: dict[str, list[tuple]]) -> None:
        """Upsert of already stored patients (the "newer wins" rules of the module docstring)."""
        conn = self.conn
        ids = [p.patient_id for p in patients]
        stored = {
            r["patient_id"]: r
            for r in conn.execute(select(_PATIENTS).where(_PATIENTS.c.patient_id.in_(ids))).mappings()
        }
        updates = []
        for patient in patients:
            row = stored[patient.patient_id]
            values = [row[f] for f in _PATIENT_FIELDS]
            self._dates(values, _PATIENT_DATES)
            fresh = self.patient_values(patient)
            for i, f in enumerate(_PATIENT_FIELDS):
                if f in patient.model_fields_set or f == "conditions":
                    values[i] = fresh[i]
            updates.append((*values, patient.patient_id))
        conn.exec_driver_sql(self.update_sql, updates)
        incoming = {p.patient_id: self.child_values(p) for p in patients}
        for name, table in _CHILD.items():
            fields = _CHILD_FIELDS[name]
            kept: dict[str, list[tuple]] = {}
            for r in conn.execute(
                select(table).where(table.c.patient_id.in_(ids)).order_by(table.c.patient_id, table.c.seq)
            ).mappings():
                values = [r[f] for f in fields]
                self._dates(values, _CHILD_DATES[name])
                kept.setdefault(r["patient_id"], []).append(tuple(values))
            conn.execute(delete(table).where(table.c.patient_id.in_(ids)))
            key_at = _KEY_AT[name]
            date_at = fields.index("date")
            for pid in ids:
                fresh = incoming[pid][name]
                fresh_keys = {tuple(row[i] for i in key_at) for row in fresh}
                merged = [row for row in kept.get(pid, []) if tuple(row[i] for i in key_at) not in fresh_keys]
                merged += fresh
                if name != "history":
                    merged.sort(key=lambda row, at=date_at: row[at])
                children[name] += [(pid, seq, *row) for seq, row in enumerate(merged)]


def _by_date(item):
    return item.date
