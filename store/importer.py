"""`import_files`: roster files → validated records → the database, one transaction per source.

A source is one JSONL file, one XLSX workbook, or the CSV files of one directory (store/readers/).
Each unit (a JSONL line; a patients row with its child rows; a child row on its own) is validated
(pathways/models.py for types, store/validation.py for the rest) and then either stored
(store/writer.py: batches, upsert by patient_id, "newer wins") or written to the reject file with
its reasons. Findings that do not make a record unusable (an implausible value, a date after
as_of) are reported and the record is kept.

Everything of a source is written inside one transaction, so an error or a kill part-way leaves
the database as it was before that source. The file is streamed; memory holds one batch, SQLite's
page cache and a few pages of cache for the patient ids seen (duplicate check).

Throughput (bench/import_bench.py): on SQLite a clean JSONL line (no finding, no rejection) is
decoded by store/fast_json.py's msgspec decoder; any other line is validated by pydantic-core from
its text and checked by the shortcuts of store/validation.py. The cyclic garbage collector is
paused for the source (`_gc_paused`). A large source into empty tables is read and checked by a
worker process while this one writes (store/import_pipeline.py); both keep a source's counts,
findings and rejections with `Tally`.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from pathways import resident_id
from pathways.csv_safe import SafeWriter
from pathways.errors import Problem, SangaoError
from pathways.models import Patient
from store import fast_json, import_pipeline
from store.db import IMPORT_PAGE_SIZE, DatabaseProblem, as_writer, bulk_import, open_db
from store.privacy import mask_raw, open_private
from store.readers import ENCODING_NAMES, Item, Source, group_sources, read_source
from store.readers.jsonl import keys_written, parse_line, raw_text
from store.readers.mapping import Mapping, load_mapping
from store.readers.tabular import REJECT_HEADER
from store.validation import check_patient, drop_repeated_rows, pydantic_issues
from store.writer import EventRecord, Store

PROGRESS_EVERY = 5000  # records between two progress calls


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


def validate_item(
    item: Item, as_of: date | None, fast: bool = False
) -> tuple[Patient | None, list[Problem], list[Problem]]:
    """(patient or None, rejecting problems, kept findings) for one reader item. With `fast`, a
    clean JSONL line comes back as store/fast_json.py's Struct instead of a Patient (same field
    names; only Store reads it)."""
    if item.json_text is not None:
        if fast:
            record = fast_json.decode(item.json_text)
            if record is not None and fast_json.is_clean(record, item.json_text, as_of):
                item.patient_id = record.patient_id
                return record, [], []
        patient = _fast_json(item)
        if patient is not None:
            return _checked(item, patient, as_of)
        parse_line(item)
    if item.events is not None and not item.problems:
        return _events(item, as_of)
    if item.problems or item.data is None:
        context = _ctx(item)
        problems = [p if p.context or not context else replace(p, context=context) for p in item.problems]
        return None, problems, list(item.findings)
    findings = list(item.findings)
    try:
        patient = Patient.model_validate(item.data)
    except ValidationError as exc:
        return None, _problems(item, pydantic_issues(exc), findings), findings
    if item.derived:
        # not "given": store/writer.py then keeps a stored patient's value (a new one takes these)
        object.__setattr__(patient, "__pydantic_fields_set__", patient.model_fields_set - item.derived)
    return _checked(item, patient, as_of, findings)


_PERSON_CHECKED = ("sex", "birth_date", "enrolled_on", "conditions", "deceased_on", "moved_out_on")


def _events(item: Item, as_of: date | None):
    """An events file's rows for a stored patient: validated and checked (plausibility, dates after
    as_of or before birth) as part of the stored person, stored as an EventRecord that never
    rewrites the person."""
    findings = list(item.findings)
    person = {k: v for k in _PERSON_CHECKED if (v := item.events.get(k)) is not None}
    data = {**person, **item.data}
    smoker = data.pop("smoker", None)
    try:
        patient = Patient.model_validate(data)
    except ValidationError as exc:
        return None, _problems(item, pydantic_issues(exc), findings), findings
    patient, issues = drop_repeated_rows(patient, check_patient(patient, as_of))
    problems = _problems(item, issues, findings)
    if problems:
        return None, problems, findings
    record = EventRecord(
        patient.patient_id,
        visits=patient.visits,
        labs=patient.labs,
        screenings=patient.screenings,
        referrals=patient.referrals,
        smoker=smoker,
    )
    return record, [], findings


_validate_json = Patient.__pydantic_validator__.validate_json
_CHILD_LISTS = ("history", "visits", "labs", "screenings", "referrals")


def _fast_json(item: Item) -> Patient | None:
    """The record of a JSONL line validated straight from the text, or None to take the slow path
    (invalid, or possibly a repeated key)."""
    text = item.json_text
    try:
        patient = _validate_json(text)
    except ValidationError:
        return None
    if keys_written(text) != _keys_given(patient):
        return None
    item.patient_id = patient.patient_id
    return patient


def _keys_given(patient: Patient) -> int:
    """Keys the validated record was given, nested (to compare with `keys_written`)."""
    fields = patient.__dict__
    total = len(patient.__pydantic_fields_set__)
    for name in _CHILD_LISTS:
        for child in fields[name]:
            total += len(child.__pydantic_fields_set__)
    return total


def _checked(item: Item, patient: Patient, as_of: date | None, findings: list[Problem] | None = None):
    findings = list(item.findings) if findings is None else findings
    number = patient.id_number
    if number is not None and len(number) == 15 and number.isdigit():
        patient = patient.model_copy(update={"id_number": resident_id.upgrade15(number)})
        file, line, column = (item.locate or _here(item))(("id_number",))
        findings.append(
            Problem.of(
                "D106", file=file, line=line, column=column, context=_ctx(item), id=resident_id.mask(number)
            )
        )
    patient, issues = drop_repeated_rows(patient, check_patient(patient, as_of))
    if not issues:
        return patient, [], findings
    problems = _problems(item, issues, findings)
    return (None if problems else patient), problems, findings


def _here(item: Item):
    return lambda _loc: (item.file, item.line, None)


def _problems(item: Item, issues, findings: list[Problem]) -> list[Problem]:
    """Issues located in the file; kept findings go to `findings`, rejecting ones are returned."""
    locate = item.locate or _here(item)
    problems = []
    context = _ctx(item)
    for issue in issues:
        problem = issue.problem(*locate(issue.loc), context=context)
        (problems if issue.rejects else findings).append(problem)
    return problems


def iter_items(
    source: Source,
    mapping: Mapping | None,
    as_of: date | None,
    fast: bool = False,
    register=None,
) -> Iterator[tuple[Item, Patient | None, list[Problem], list[Problem]]]:
    """Every item of a source with its verdict; a repeated patient_id is rejected (D021).
    `register(patient_id)`: the stored patient, for an events file (see read_source)."""
    seen = SeenIds()
    try:
        for item in read_source(source, mapping, register):
            patient, problems, findings = validate_item(item, as_of, fast)
            if patient is not None:
                first = seen.first(patient.patient_id, f"{item.file}:{item.line}")
                if first is not None:
                    problems.append(repeated_id(item, patient.patient_id, first))
                    patient = None
            yield item, patient, problems, findings
    finally:
        seen.close()


def repeated_id(item: Item, patient_id: str, first: str) -> Problem:
    """D021: `item` repeats the patient id first seen at `first` (file:line)."""
    return Problem.of(
        "D021",
        file=item.file,
        line=item.line,
        column=item.locate(("patient_id",))[2] if item.locate else None,
        patient=repr(patient_id),
        first=first,
    )


class SeenIds:
    """The patient ids taken from one source, with where each was first seen, for D021. Kept in a
    private temporary SQLite database (on disk past its small page cache), not a dict: a dict grew
    by some 230 bytes per patient, which a province-sized file would feel; this costs some 3 µs
    per patient and keeps the import's memory flat."""

    def __init__(self, lines: bool = False) -> None:
        """With `lines`, where an id was first seen is a line number of the one file of a source (the
        import pipeline's JSONL worker: an int costs less to bind and store than "file:line")."""
        self.db = sqlite3.connect("", isolation_level=None)  # "": a temporary on-disk database
        at = "INTEGER" if lines else "TEXT"
        self.db.execute(f"CREATE TABLE seen (patient_id TEXT PRIMARY KEY, at {at} NOT NULL) WITHOUT ROWID")
        self.db.execute("BEGIN")  # never committed: nothing of it needs to last
        self.cursor = self.db.cursor()

    def first(self, patient_id: str, at: str | int) -> str | int | None:
        """None the first time `patient_id` is offered (and remember `at`); else where it was first."""
        cursor = self.cursor
        cursor.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (patient_id, at))
        if cursor.rowcount:
            return None
        return cursor.execute("SELECT at FROM seen WHERE patient_id = ?", (patient_id,)).fetchone()[0]

    def close(self) -> None:
        self.db.close()


# ---- public entry point -------------------------------------------------------------------------


def import_files(
    paths: Iterable[str | Path],
    db_url: str,
    as_of: date | None,
    mapping: Path | Mapping | None = None,
    reject_path: str | Path | None = None,
    progress: Callable[[str, int, float | None], None] | None = None,
    unmasked: bool = False,
) -> ImportReport:
    """Import roster files into the database at `db_url` (a path means SQLite). `as_of` is the
    evaluation date for the future-date findings. Returns counts per file, findings and rejects;
    writes the rejected rows with their reasons to `reject_path` (CSV, UTF-8 with BOM for Excel).
    `progress(source name, records read so far, fraction of the source read or None)` is called
    about every PROGRESS_EVERY records.
    The reject file is created 0600, its cells formula-escaped, and its raw column masked
    (store/privacy.py) unless `unmasked` (the caller records that in the audit log)."""
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(Path(mapping))
    sources = sorted(group_sources([Path(p) for p in paths]), key=lambda s: _looks_like_events(s, mapping))
    report = ImportReport()
    db_engine = as_writer(open_db(db_url, page_size=IMPORT_PAGE_SIZE))
    reject_file = open_private(reject_path, "w", encoding="utf-8-sig", newline="") if reject_path else None
    try:
        writer = SafeWriter(reject_file) if reject_file else None
        if writer and not unmasked:
            writer = _MaskingWriter(writer)
        if writer:
            writer.writerow(REJECT_HEADER)
        for source in sources:
            _import_source(db_engine, source, mapping, as_of, report, writer, progress)
    finally:
        if reject_file:
            reject_file.close()
        db_engine.dispose()
    return report


def _import_source(
    db_engine, source: Source, mapping, as_of, report: ImportReport, writer, progress=None
) -> None:
    tally = Tally(source.kind, writer)
    try:
        with _gc_paused(), db_engine.connect() as conn, bulk_import(conn), conn.begin():
            store = Store(conn)
            if not import_pipeline.run(store, source, mapping, as_of, tally, progress):
                store.drop_indexes()
                # SQLite: its adapters bind the Structs' UNSET and tuples in the upsert's merge
                fast = store.copy_sql is None
                for done, (item, patient, problems, findings) in enumerate(
                    iter_items(source, mapping, as_of, fast, store.stored_person), start=1
                ):
                    if progress and done % PROGRESS_EVERY == 0:
                        progress(source.name, done, source.fraction())
                    record = tally.take(item, patient, problems, findings)
                    if record is not None:
                        store.add(record)
            store.finish()
            tally.found += _repeated_events(source, store)
    except DatabaseProblem:
        raise  # busy or unavailable: not this file's fault, and the next would fail the same way
    except SangaoError as exc:
        if source.kind in ("jsonl", "csv"):  # a failed file counts its rows, however far it was read
            for path in source.paths:
                name = str(path)
                source.rows_read[name] = max(source.rows_read.get(name, 0), _rows_in(path, source.kind))
        for name in source.rows_read or {str(p): 0 for p in source.paths}:
            fr = tally.file(name)
            fr.error, fr.imported, fr.rejected = True, 0, source.rows_read.get(name, 0)
        report.rejects += exc.problems
        if writer:
            for p in exc.problems:
                writer.writerow(
                    [p.file, p.line or "", "", p.code, p.column or "", p.message, p.hint or "", ""]
                )
        report.files += [_finish(fr, source) for fr in tally.files.values()]
        return
    report.findings += source.findings + tally.found
    report.rejects += tally.rejected
    report.patients_imported += tally.patients
    for name in source.rows_read:
        tally.file(name)
    report.files += [_finish(fr, source) for fr in tally.files.values()]


class Tally:
    """What a source's items came to: counts per file, kept findings, rejections (written to the
    reject file's `writer` as they come), patients taken. The in-process loop and the pipeline's
    worker (store/import_pipeline.py) keep it the same way."""

    def __init__(self, kind: str, writer=None) -> None:
        self.kind = kind
        self.writer = writer
        self.files: dict[str, FileReport] = {}
        self.found: list[Problem] = []
        self.rejected: list[Problem] = []
        self.patients = 0
        self._last: tuple[str | None, FileReport | None] = (None, None)

    def file(self, name: str) -> FileReport:
        report = self.files.get(name)
        if report is None:
            report = self.files[name] = FileReport(name, self.kind)
        return report

    def take_clean(self, file: str, lines: int = 1) -> None:
        """`take` of `lines` clean JSONL lines of `file` (records with no finding), as the pipeline's
        worker reads them without making an `Item`."""
        if not lines:
            return
        last_file, last_report = self._last
        if file is not last_file:
            last_report = self.file(file)
            self._last = (file, last_report)
        last_report.imported += lines
        self.patients += lines

    def take(self, item: Item, patient, problems: list[Problem], findings: list[Problem]):
        """The record to store, or None when the item was rejected (counted and reported)."""
        if patient is not None and not item.rows:  # a JSONL line or a lone patients row
            last_file, last_report = self._last
            if item.file is not last_file:
                last_report = self.file(item.file)
                self._last = (item.file, last_report)
            last_report.imported += 1
            if findings:
                self.found += findings
            self.patients += 1
            return patient
        units = [(item.file, item.line), *item.rows]
        if patient is None:
            for name, _ in units:
                self.file(name).rejected += 1
            self.rejected += problems
            self.rejected += [
                Problem.of(
                    "D025", file=name, line=line, context=_ctx(item), patient_row=f"{item.file}:{item.line}"
                )
                for name, line in item.rows
            ]
            if self.writer:
                _write_rejects(self.writer, item, problems)
            return None
        for name, _ in units:
            self.file(name).imported += 1
        self.found += findings  # a rejected record's findings are moot: its rejection says what to fix
        self.patients += 1
        return patient


def _repeated_events(source: Source, store: Store) -> list[Problem]:
    """One D115 for the rows of an events file that were already stored exactly: "nothing new"
    when that is every row (the same file imported again), else how many (an export overlapping an
    earlier one). One finding per file, not one per row: a monthly export that repeats last month's
    rows would otherwise bury the findings that matter. A row repeated within the file still gets
    its own located D115 (store/readers/complete.py)."""
    if not store.event_repeats:
        return []
    variant = "reimport" if store.event_repeats == store.event_rows else "stored"
    return [Problem.of("D115", variant=variant, file=str(source.paths[0]) if len(source.paths) == 1
                       else source.name, n=store.event_repeats, total=store.event_rows)]


class _MaskingWriter:
    """The reject file's writer with the raw column (the last) masked."""

    def __init__(self, writer: SafeWriter) -> None:
        self.writer = writer

    def writerow(self, row: list) -> None:
        self.writer.writerow([*row[:-1], mask_raw(row[-1])] if row and row[-1] else row)


def _rows_in(path: Path, kind: str) -> int:
    """Data rows of a text file that failed as a whole: its non-blank lines (a CSV's first is its
    header; a quoted cell over several lines counts each)."""
    try:
        with open(path, "rb") as f:
            lines = sum(1 for line in f if line.strip(b" \t\r\n,;\xef\xbb\xbf"))
    except OSError:
        return 0
    return max(0, lines - 1) if kind == "csv" else lines


def _looks_like_events(source: Source, mapping: Mapping | None) -> bool:
    """Register files go first (a stable sort on this), so events files of the same run find their
    people: a file the mapping calls an events file, or one named like a follow-up or a health
    check (随访, 体检, visit) that the mapping does not call a register. Opening every file twice to
    be sure would cost a second pass over large exports."""
    if source.kind == "jsonl":
        return False
    from store.readers.aliases import normalize_header

    for path in source.paths:
        role = mapping.role_for(path.stem) if mapping else None
        if role is not None:
            return role == "events"
        key = normalize_header(path.stem)
        if any(hint in key for hint in ("随访", "体检", "visit", "followup", "check")):
            return True
    return False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one source. Every record allocates some sixty
    tracked objects (models, tuples) that die with their batch but would first trigger collections
    scanning everything alive: a third of the import time. Records make no reference cycles (a
    20,000-patient import leaves some 400 cyclic objects), so memory stays flat without it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
            [
                p.file,
                p.line,
                item.patient_id or "",
                p.code,
                p.column or "",
                p.message,
                p.hint or "",
                raw_text(item),
            ]
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
