"""A roster cut into ranges that processes read on their own: the read side of `sangao assess`.

Two kinds: a JSONL file cut into byte ranges (`jsonl_source`) and a database cut into batches of
patients by import order (`db_source`).

`jsonl_source(path)` returns a `JsonlSource` for a UTF-8 JSONL roster (None for anything else: the
caller reads it with `store.read_roster`). One pass over the file checks the encoding and cuts it into
byte ranges of about `chunk_bytes` at line ends, noting the line number each starts at; no record is
parsed. `source.read(r)` then yields the records of one range as `store.read_roster` judges them: a
clean line decoded by store/fast_json.py into a record that reads like its `Patient` (`decode_record`),
any other line validated by pydantic (store/importer.py `validate_item`, so its problems name the
same file, line and field), stopping at the first rejected line. The source is a small picklable
value, so a worker process can be handed it and read its own ranges.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathways.errors import Problem

CHUNK_BYTES = 1 << 22  # about 2,000 generated patients
READ_BUFFER = 1 << 16  # bytes read at a time within a range
# bytes checked at a time in the pass that cuts the ranges: the text a 1 MB block decodes to (2 MB,
# Chinese names making it two bytes a character) is mapped afresh and returned to the system each
# time, a third of the pass in page faults; a quarter of that is reused
SCAN_BLOCK = 1 << 18
# bytes checked as UTF-8 at once within a block: their text (up to 64 kB) comes from the allocator's
# heap, reused; a whole block's (512 kB) was mapped afresh and returned each time, 100,000 page
# faults at 100,000 patients (a third of the pass's CPU)
DECODE_SLICE = 1 << 15
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class Range:
    start: int  # byte offset of its first line
    end: int  # byte offset just past its last line end (or the end of the file)
    first_line: int  # 1-based number of its first line in the file


@dataclass(frozen=True)
class JsonlSource:
    path: str
    ranges: tuple[Range, ...]

    def read(self, r: Range) -> Iterator[tuple[int, Any, list[Problem]]]:
        """(line number, record, []) for every non-blank line of the range, in order; at the first
        line `store.read_roster` would reject, (line number, None, its problems) and nothing more.

        Lines are read one at a time, not the range at once: its 4 MB read and split up front would
        push the records being assessed out of the core's cache. Each is decoded line end and all
        (JSON whitespace around a record changes nothing); only one the decoder refuses is stripped,
        freed of a BOM on line 1 and judged again."""
        from store import fast_json

        decode = fast_json.decode_record
        left = r.end - r.start
        number = r.first_line - 1
        with open(self.path, "rb", buffering=READ_BUFFER) as f:
            f.seek(r.start)
            for raw in f:
                number += 1
                record = decode(raw)
                if record is None:
                    line = raw.strip()
                    if number == 1 and line.startswith(_BOM):
                        line = line[len(_BOM) :].strip()
                    if line and (record := decode(line)) is None:  # not clean: judged as the importer does
                        from store.importer import validate_item  # (brings SQLAlchemy: only when needed)
                        from store.readers.jsonl import line_item

                        record, problems, _ = validate_item(line_item(self.path, number, line), None)
                        if problems:
                            yield number, None, problems
                            return
                if record is not None:  # (None: a blank line)
                    yield number, record, []
                left -= len(raw)
                if left <= 0:
                    return

    def first_line(self, patient_id: str) -> int | None:
        """The line a patient id first appears on (an error path: the file is read again)."""
        import msgspec

        with open(self.path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.strip()
                if number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :].strip()
                if line and _patient_id(msgspec.json.decode(line)) == patient_id:
                    return number
        return None

    def repeated(self, patient_id: str, line: int) -> Problem:
        """D021 for a patient id seen again at `line`, worded as store/importer.py words it."""
        first = f"{self.path}:{self.first_line(patient_id)}"
        return Problem.of("D021", file=self.path, line=line, patient=repr(patient_id), first=first)


def _patient_id(data: Any) -> Any:
    return data.get("patient_id") if isinstance(data, dict) else None


def jsonl_source(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> JsonlSource | None:
    """The ranges of a UTF-8 (with or without BOM) JSONL roster; None when `path` is any other roster
    (a CSV set, a workbook, GB18030 text), which `store.read_roster` reads."""
    path = _jsonl_path(path)
    if path is None:
        return None
    ranges: list[Range] = []
    try:
        ranges.extend(_cut(path, chunk_bytes))
    except NotUtf8:
        return None
    return JsonlSource(str(path), tuple(ranges))


def jsonl_scan(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> JsonlSource | None:
    """`jsonl_source` whose cutting pass runs in a thread while the ranges are assessed: its `ranges`
    are a `Scan`, which gives each range as soon as the pass has checked its bytes, so workers start
    at once instead of after a pass over the whole file (some 3 s at 1,000,000 patients). Whether
    the file is UTF-8 is known only at the pass's end (`Scan.complete` raises NotUtf8): nothing may
    be written before it. None when `path` is not a JSONL roster (a CSV set, a workbook)."""
    path = _jsonl_path(path)
    if path is None:
        return None
    return JsonlSource(str(path), Scan(path, chunk_bytes))  # type: ignore[arg-type]


def _jsonl_path(path: str | Path) -> Path | None:
    from store.readers import group_sources

    path = Path(path)
    sources = group_sources([path])
    if len(sources) != 1 or sources[0].kind != "jsonl":
        return None
    return path


class NotUtf8(Exception):
    """The roster is not UTF-8: `store.read_roster`'s reader finds its encoding."""


def _cut(path: Path, chunk_bytes: int, stopped: Callable[[], bool] = lambda: False) -> Iterator[Range]:
    """The pass that cuts the file into ranges of about `chunk_bytes` at line ends, each given once
    its bytes are checked as UTF-8, with the line it starts at. Raises NotUtf8 where the encoding
    fails (ranges already given stay valid UTF-8); ends early when `stopped()`."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    start = pos = 0
    line = 1  # number of the line at `start`
    newlines = 0  # line ends between `start` and `pos`
    with open(path, "rb") as f:
        while block := f.read(SCAN_BLOCK):
            if stopped():
                return
            try:
                with memoryview(block) as view:
                    for at in range(0, len(block), DECODE_SLICE):
                        decoder.decode(view[at : at + DECODE_SLICE])
            except UnicodeDecodeError:
                raise NotUtf8(str(path)) from None
            cut = 0
            while pos + len(block) - start >= chunk_bytes:
                # cut at the first line end at or after start + chunk_bytes
                at = block.find(b"\n", max(start + chunk_bytes - pos, cut))
                if at < 0:
                    break
                newlines += block.count(b"\n", cut, at + 1)
                end = pos + at + 1
                yield Range(start, end, line)
                line += newlines
                newlines, start, cut = 0, end, at + 1
            newlines += block.count(b"\n", cut)
            pos += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise NotUtf8(str(path)) from None
    if pos > start:
        yield Range(start, pos, line)


class Scan:
    """The ranges of a JSONL file as a thread's cutting pass (`_cut`) finds them.

    Iterating gives them in file order, each as soon as it is found (waiting for the next). `at_least(n)`
    waits until n are found or the pass is over; `complete()` waits for the end and returns them all,
    raising NotUtf8 if the file is not UTF-8 (the ranges given before that point were). `cancel()`
    ends the pass early (a run that stops). Pickled (handed to a worker with its source), it is an
    empty tuple: a worker is given its ranges one by one."""

    def __init__(self, path: Path, chunk_bytes: int) -> None:
        self._found: list[Range] = []
        self._done = False
        self._error: BaseException | None = None  # NotUtf8, or the file unreadable
        self._cancelled = False
        self._change = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(path, chunk_bytes), daemon=True,
                                        name="sangao-range-scan")
        self._thread.start()

    def _run(self, path: Path, chunk_bytes: int) -> None:
        try:
            for r in _cut(path, chunk_bytes, lambda: self._cancelled):
                with self._change:
                    self._found.append(r)
                    self._change.notify_all()
        except BaseException as exc:  # raised where the ranges are waited for (`complete`)
            self._error = exc
        finally:
            with self._change:
                self._done = True
                self._change.notify_all()

    def __iter__(self) -> Iterator[Range]:
        i = 0
        while True:
            with self._change:
                while i >= len(self._found) and not self._done:
                    self._change.wait()
                if i >= len(self._found):
                    return
                r = self._found[i]
            yield r
            i += 1

    def at_least(self, n: int) -> int:
        """The ranges found once there are `n` of them or the pass is over (then perhaps fewer)."""
        with self._change:
            self._change.wait_for(lambda: len(self._found) >= n or self._done)
            return len(self._found)

    @property
    def done(self) -> bool:
        return self._done

    def complete(self) -> tuple[Range, ...]:
        """Every range, once the pass is over; NotUtf8 when the file is not UTF-8."""
        with self._change:
            self._change.wait_for(lambda: self._done)
        if self._error is not None:
            raise self._error
        return tuple(self._found)

    def cancel(self) -> None:
        self._cancelled = True

    def __len__(self) -> int:
        return len(self.complete())

    def __getitem__(self, i):
        return self.complete()[i]

    def __reduce__(self):
        return (tuple, ())


# ---- the database ------------------------------------------------------------------------------

DB_BATCH = 2000  # patients per range: one query for them and one per child table
_ENGINES: dict[str, Any] = {}  # one engine per database per process


def _engine(url: str):
    engine = _ENGINES.get(url)
    if engine is None:
        from store.db import open_db

        engine = _ENGINES[url] = open_db(url)
    return engine


@dataclass(frozen=True)
class DbSource:
    """The patients stored at `url`, as `store.read_patients` gives them (first-import order), in
    ranges of `patients.seq`; each range is read with one query per table into the records of
    store/fast_json.py (store/db_records.py `record_batch`; a range with a row that does not convert
    is read again and each patient validated by pydantic, as read_patients does). Picklable: each
    worker process opens its own engine and reads the ranges it is handed."""

    url: str
    ranges: tuple[tuple[int, int], ...]

    def read(self, r: tuple[int, int]) -> Iterator[tuple[int, Any, list[Problem]]]:
        from store.db_records import record_batch

        with _engine(self.url).connect() as conn:
            batch = record_batch(conn, r[0], upto=r[1])
            if batch is None:  # a row does not convert: the batch is judged patient by patient
                batch = list(self._judged(conn, r))
        for seq, record in batch:
            yield seq, record, []

    @staticmethod
    def _judged(conn, r: tuple[int, int]) -> Iterator[tuple[int, Any]]:
        """The range read by store/exporter.py `records_after`, each patient converted by msgspec
        or else validated by pydantic, as read_patients validates it."""
        import msgspec

        from pathways.models import Patient
        from store import fast_json
        from store.exporter import records_after

        record_type = fast_json.record_type()
        for seq, data in records_after(conn, r[0], upto=r[1], canonical=False):
            try:
                record = msgspec.convert(data, record_type)
            except msgspec.ValidationError:  # judged as read_patients judges it
                record = Patient.model_validate(_canonical(data))
            yield seq, record

    def repeated(self, patient_id: str, line: int) -> Problem:
        """D021 (a database keeps one row per patient id: only a damaged one gets here)."""
        return Problem.of("D021", variant="database", file=self.url, line=line, patient=repr(patient_id))


def _canonical(data: dict) -> dict:
    from store.exporter import _clean, _ordered

    for visit in data.get("visits") or ():
        if visit.get("symptoms") == ():
            visit["symptoms"] = None
    return _clean(_ordered(data))


def db_source(url: str, batch: int = DB_BATCH) -> DbSource:
    """The database at `url` in ranges of `batch` patients."""
    from store.exporter import seq_ranges

    return DbSource(url, tuple(seq_ranges(_engine(url), batch)))
