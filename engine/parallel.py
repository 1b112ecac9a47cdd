"""Assess a roster, in one process or several. Each patient is evaluated independently, so the work is
cut into chunks and every worker builds its own Assessor once (durable_rules sessions and compiled
functions are not shared between processes). Output order is input order.

Two entry points:
- `assess_source(source, options, out)`: the `sangao assess --format jsonl` path. The roster comes cut
  into ranges (store/roster_source.py: byte ranges of a JSONL file); a worker reads its own ranges
  into records that read like `Patient`s, assesses them (engine/assess.py `Assessor.line`) and sends
  back the encoded lines of each range as bytes. The parent only checks patient ids for repeats
  (D021) and writes, in input order.
- `assess_roster(patients, options)`: `Assessment` models of an iterable of `Patient` (tables, CSV,
  `--save`, other code), chunked over worker processes when `workers` > 1.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import IO, Any, Protocol

from engine.assess import Assessor
from pathways.errors import Problem, SangaoError
from pathways.models import Assessment, Patient


@dataclass(frozen=True)
class AssessOptions:
    guidelines: str  # a set name (national-default) or a folder
    as_of: date
    backend: str = "python"
    provisional_calendar: bool = False
    cache_dir: str | None = None  # where compiled guideline sets are kept between runs (None: not kept)


def build_assessor(options: AssessOptions) -> Assessor:
    """An Assessor for the options' set and the calendar of as_of's year and the next; the loaded set,
    calendar and compiled program come from `options.cache_dir` when an earlier run left them there
    (engine/set_cache.py)."""
    from engine.set_cache import code_cache, load_cached, load_program

    years = (options.as_of.year, options.as_of.year + 1)
    gset, calendar = load_cached(options.guidelines, years, options.provisional_calendar, options.cache_dir)
    if options.cache_dir is None:
        return Assessor(gset, calendar, backend=options.backend)
    program = load_program(gset, options.guidelines, options.cache_dir)
    return Assessor(gset, calendar, backend=options.backend, compile_source=code_cache(options.cache_dir),
                    program=program)


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class AssessCounts:
    """Filled while the assessments are consumed."""

    assessed: int = 0
    skipped: int = 0  # died or moved out on or before as_of
    colors: Counter = field(default_factory=Counter)  # colour → patients written (the summary line)


# ---- Patient models ---------------------------------------------------------------------------

_worker: tuple[Assessor, date] | None = None


def _init(options: AssessOptions) -> None:
    global _worker
    _worker = (build_assessor(options), options.as_of)


def _run(chunk: list[Patient]) -> tuple[list[Assessment], int]:
    assessor, as_of = _worker
    results = list(assessor.assess_many(chunk, as_of))
    return results, len(chunk) - len(results)


def in_lists(items: Iterable, size: int) -> Iterator[list]:
    """`items` as lists of `size` (the last one shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def assess_roster(
    patients: Iterable[Patient],
    options: AssessOptions,
    workers: int = 1,
    chunk_size: int = 1000,
    counts: AssessCounts | None = None,
) -> Iterator[Assessment]:
    """Assessments of every patient still under management at `as_of`, in input order; `counts`
    (if given) learns how many were assessed and skipped."""
    counts = counts if counts is not None else AssessCounts()
    if workers <= 1:
        assessor = build_assessor(options)
        for patient in patients:
            if assessor.is_assessed(patient, options.as_of):
                counts.assessed += 1
                yield assessor.assess(patient, options.as_of).assessment
            else:
                counts.skipped += 1
        return
    ctx = mp.get_context("spawn")  # fork would copy durable's C state and any open DB handle
    with ctx.Pool(workers, initializer=_init, initargs=(options,)) as pool:
        for results, skipped in pool.imap(_run, in_lists(patients, chunk_size)):
            counts.assessed += len(results)
            counts.skipped += skipped
            yield from results


# ---- a roster cut into ranges -------------------------------------------------------------------

# records staged at once: the decoded records, facts and outcomes of a batch stay in the core's cache
# (L2: 2 MB a core here) between stages; the whole range of some 2,000 records at once is a fifth
# slower for going to memory at every stage
BATCH = 128
AHEAD = 3  # ranges a worker may be handed ahead of the writer (each a 4 MB chunk file at most)
SMALL_SOURCE = 8  # ranges (some 16,000 patients) below which one process is faster than starting more


class RangedSource(Protocol):
    """A roster cut into ranges each process reads on its own (store/roster_source.py `JsonlSource`):
    picklable, so a worker is handed it once."""

    ranges: Sequence[Any]

    def read(self, r: Any) -> Iterable[tuple[int, Any, list[Problem]]]:
        """(line, record, []) per record of range `r`, or (line, None, problems) at a rejected one, last."""

    def repeated(self, patient_id: str, line: int) -> Problem:
        """The problem of a patient id seen again at `line` (D021)."""


@dataclass
class Chunk:
    """What a worker sends back for one range: the encoded lines; the patient ids in input order
    (every valid record's, assessed or not: D021 is checked on all of them) with their line numbers
    and the output lines written up to each; the colour of each line written; counts; the problems
    of the line the range stopped at."""

    data: bytes
    ids: list[str]
    numbers: list[int]
    ends: list[int]
    assessed: int
    skipped: int
    problems: list[Problem] | None = None
    colors: list[str] = field(default_factory=list)
    spilled: str | None = None  # a worker's chunk: the file holding `data` (which is then empty)

    def text(self) -> bytes:
        """The encoded lines, wherever they are."""
        if self.spilled is None:
            return self.data
        with open(self.spilled, "rb") as f:
            return f.read()


def assess_range(assessor: Assessor, as_of: date, source: RangedSource, r: Any) -> Chunk:
    """Assess the records of one range: the line of each (engine/assess.py `Assessor.line`).

    The records go stage by stage (facts of a batch, rules for all of it, then the lines): a fifth
    faster than patient by patient (bench/suite.py), the interpreter keeping one stage's code hot,
    in batches of `BATCH` so that their data stays in the core's cache too. A stage that stops with
    an error (an unknown symptom code, the backends disagreeing) is run again patient by patient,
    so the lines before the patient at fault are kept, as one patient at a time would have written
    them."""
    collecting = gc.isenabled()
    gc.disable()  # next to no cycles here (a rejected line's traceback): collected when the range ends
    try:
        return _assess_range(assessor, as_of, source, r)
    finally:
        # on again only now that the range's records are freed: turned on while they were alive, the
        # collector's next pass would walk them all (a fortieth of the run)
        if collecting:
            gc.enable()


def _assess_range(assessor: Assessor, as_of: date, source: RangedSource, r: Any) -> Chunk:
    ids: list[str] = []
    numbers: list[int] = []
    places: list[int] = []  # the place among `ids` of each record assessed (not died or moved out)
    batch: list[Any] = []  # records assessed, not yet staged
    out: list[bytes] = []  # the lines in UTF-8 (engine/assess.py `line_bytes`): joined with no encoding pass
    colors: list[str] = []
    stopped = None  # the problems the range stops at: a rejected line's, a record's that fails
    is_assessed = assessor.is_assessed
    for number, record, problems in source.read(r):
        if problems:
            stopped = problems
            break
        if is_assessed(record, as_of):
            places.append(len(ids))
            batch.append(record)
        ids.append(record.patient_id)
        numbers.append(number)
        if len(batch) == BATCH:
            stopped = _stage(assessor, as_of, batch, out, colors)
            batch = []
            if stopped:
                break
    if batch:  # (a record that failed left none)
        stopped = _stage(assessor, as_of, batch, out, colors) or stopped
    assessed = len(out)
    ends, k = [], 0
    for i in range(len(ids)):  # output lines written up to and including each record
        while k < assessed and places[k] <= i:
            k += 1
        ends.append(k)
    if assessed < len(places):  # stopped at the record of places[assessed]: it and those after, not counted
        ids, numbers, ends = ids[: places[assessed]], numbers[: places[assessed]], ends[: places[assessed]]
    if out:
        out.append(b"")  # the last line's end, written by the join (no second copy of the text)
    return Chunk(
        b"\n".join(out), ids, numbers, ends, assessed, len(ids) - assessed, stopped or None, colors
    )


def _stage(assessor: Assessor, as_of: date, records: list[Any], out: list[bytes], colors: list[str]):
    """Add the lines of `records` and their colours to `out` and `colors`; the problems of the first
    record that fails (those before it added), else None."""
    try:
        lines, their_colors = _staged(assessor, as_of, records)
        problems = None
    except SangaoError:
        lines, their_colors, problems = _one_by_one(assessor, as_of, records)
    out += lines
    colors += their_colors
    return problems


def _staged(assessor: Assessor, as_of: date, records: list[Any]) -> tuple[list[bytes], list[str]]:
    """(lines in UTF-8, their colours) of the records, stage by stage."""
    facts = [assessor.facts(record, as_of) for record in records]
    outcome = assessor.evaluator.outcome
    outcomes = [outcome(f) for f in facts]
    line = assessor.line_bytes
    lines = [line(record, as_of, *o) for record, o in zip(records, outcomes, strict=True)]
    decided_by = assessor._decided_by
    return lines, [decided_by(o[1])[0] for o in outcomes]


def _one_by_one(
    assessor: Assessor, as_of: date, records: list[Any]
) -> tuple[list[bytes], list[str], list[Problem]]:
    """(lines in UTF-8, their colours, problems) up to the first record that fails."""
    out: list[bytes] = []
    colors: list[str] = []
    for record in records:
        try:
            line, color = assessor.assess_line(record, as_of)
        except SangaoError as exc:
            return out, colors, exc.problems
        out.append(line.encode())
        colors.append(color)
    raise AssertionError("a stage failed but no patient does on their own")


_range_worker: tuple[Assessor, date, RangedSource, str] | None = None


def _init_range(options: AssessOptions, source: RangedSource, spill: str) -> None:
    global _range_worker
    _range_worker = (build_assessor(options), options.as_of, source, spill)
    gc.freeze()  # the set, its compiled code and the modules: never garbage, never walked again


def _run_range(r: Any) -> Chunk:
    """The chunk of range `r`, its lines left in a file of the folder `spill` for the parent to copy
    to the output: piped back and unpickled, some 4 MB a range cost the parent (which shares the
    cores with the workers) five times the CPU of a copy the kernel makes from file to file."""
    assessor, as_of, source, spill = _range_worker
    chunk = assess_range(assessor, as_of, source, r)
    if chunk.data:
        fd, chunk.spilled = tempfile.mkstemp(dir=spill)
        with open(fd, "wb", buffering=0) as f:
            f.write(chunk.data)
        chunk.data = b""
    return chunk


def assess_source(
    source: RangedSource,
    options: AssessOptions,
    out: IO[bytes],
    workers: int | None = None,
    counts: AssessCounts | None = None,
) -> int:
    """Write the JSONL assessment (one `Assessment` a line) of every patient of `source` still under
    management at `as_of` to `out` (binary), in input order; returns the lines written. `workers`: processes
    (None: `default_workers()`, one for a small roster), each reading its own ranges and sending back
    encoded lines. The bytes, and the error at a rejected line or a repeated patient id, are those of
    `assess_roster` over `store.read_roster` + reports/assessments.py `write_jsonl`, whatever `workers`."""
    counts = counts if counts is not None else AssessCounts()
    assessor = build_assessor(options)  # here first: a guideline error stops the run before any worker
    ranges = source.ranges
    scan = ranges if hasattr(ranges, "complete") else None  # a JSONL file's ranges found as workers run
    # (ranges found up to what decides the number of processes: a scan need not be over)
    wanted = max(SMALL_SOURCE, workers or default_workers())
    found = scan.at_least(wanted) if scan is not None else len(ranges)
    if workers is None:
        workers = 1 if found < SMALL_SOURCE else default_workers()
    workers = min(workers, max(found, 1))
    if workers <= 1:
        if scan is not None:
            ranges = scan.complete()  # NotUtf8 before anything is written
        gc.freeze()
        chunks = (assess_range(assessor, options.as_of, source, r) for r in ranges)
        return _collect(chunks, source, out, counts)
    del assessor
    ctx = mp.get_context("spawn")  # fork would copy durable's C state
    spill = tempfile.mkdtemp(prefix="sangao-assess-")  # private (0700); the chunks' lines until written
    room, stop = threading.Semaphore(AHEAD * workers), threading.Event()
    try:
        pool = ctx.Pool(workers, initializer=_init_range, initargs=(options, source, spill))
        try:
            chunks = pool.imap(_run_range, fed_when_room(ranges, room, stop))
            return _collect(chunks, source, out, counts, room.release, scan)
        finally:
            # no more ranges; the workers finish the few they hold and stop. (Not `terminate`: killing
            # them while the pool still hands out ranges can leave it waiting forever, CPython #96995.)
            stop.set()
            if scan is not None:
                scan.cancel()
            room.release()
            pool.close()
            pool.join()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def fed_when_room(tasks: Iterable[Any], room: threading.Semaphore, stop: threading.Event) -> Iterator[Any]:
    """The tasks (ranges, slices), each once there is room for it (the pool would otherwise hand all
    of them out at once), until `stop`."""
    for task in tasks:
        room.acquire()
        if stop.is_set():
            return
        yield task


def _collect(chunks: Iterable[Chunk], source: RangedSource, out: IO[bytes], counts: AssessCounts,
             done: Callable[[], Any] | None = None, scan: Any = None) -> int:
    """Write the chunks in order; stop at the first repeated patient id (D021) or rejected line.
    `done` is called as each chunk arrives (room for another range). With a `scan` still cutting
    the file (store/roster_source.py `Scan`), the chunks that arrive before it is over are kept
    (in their files) and nothing is written or raised until it says the whole file is UTF-8, as
    when the pass ran before the workers."""
    seen: set[str] = set()
    written = 0
    kept: list[Chunk] | None = [] if scan is not None else None
    for chunk in chunks:
        if done is not None:
            done()
        if kept is not None:
            kept.append(chunk)
            if not scan.done:
                continue
            scan.complete()  # NotUtf8: nothing written
            held, kept = kept, None
            for c in held:
                written += _write(c, source, out, counts, seen)
            continue
        written += _write(chunk, source, out, counts, seen)
    if kept is not None:
        scan.complete()
        for c in kept:
            written += _write(c, source, out, counts, seen)
    return written


def _write(chunk: Chunk, source: RangedSource, out: IO[bytes], counts: AssessCounts, seen: set[str]) -> int:
    """Write one chunk's lines (its ids added to `seen`); raise at its repeated id or rejected line."""
    ids = chunk.ids
    if not seen.isdisjoint(ids) or len(set(ids)) != len(ids):
        _repeated(chunk, source, out, seen, counts)
    seen.update(ids)
    if chunk.spilled is None:
        out.write(chunk.data)
    else:
        _copy(chunk.spilled, out)
    counts.colors.update(chunk.colors)
    counts.assessed += chunk.assessed
    counts.skipped += chunk.skipped
    if chunk.problems:
        raise SangaoError(chunk.problems)
    return chunk.assessed


def _repeated(
    chunk: Chunk, source: RangedSource, out: IO[bytes], seen: set[str], counts: AssessCounts
) -> None:
    """A patient id of `chunk` was seen before: write the chunk's lines before it, raise D021."""
    j = 0
    while chunk.ids[j] not in seen:
        seen.add(chunk.ids[j])
        j += 1
    kept = chunk.ends[j - 1] if j else 0
    if kept:
        out.write(b"".join(line + b"\n" for line in chunk.text().split(b"\n")[:kept]))
    counts.assessed += kept
    counts.colors.update(chunk.colors[:kept])
    counts.skipped += j - kept
    raise SangaoError([source.repeated(chunk.ids[j], chunk.numbers[j])])


def _copy(path: str, out: IO[bytes]) -> None:
    """Append the file at `path` to `out` and remove it: by the kernel (sendfile) when `out` is a file
    descriptor's, else read and written."""
    try:
        with open(path, "rb") as f:
            size, done = os.fstat(f.fileno()).st_size, 0
            try:
                fd = out.fileno()
                out.flush()
                while done < size and (sent := os.sendfile(fd, f.fileno(), done, size - done)):
                    done += sent
            except (OSError, ValueError):  # no descriptor (an in-memory file), or sendfile refused
                pass
            if done < size:
                f.seek(done)
                shutil.copyfileobj(f, out)
    finally:
        os.unlink(path)
