"""A run of `sangao plan`: which plans (new ones for the chosen patients, each with its stored
previous plan; or the stored plans of a date, reprinted), the teams' capacity applied, and the
plans written to the plan files (reports/plan.py) and stored in the database.

A roster's plans may be made by several processes (`write_plans_parallel`): each patient's plan
is independent of the others', so each worker makes the plans of its own slices of patients (a
range of the database, or a list of patients read by the parent) into the bytes of the plan files
and the rows to store, left in a file; the parent writes them in patient order (the files are
those one process writes, byte for byte) and stores every row in one transaction at the end, once
every slice is made: an error or Ctrl-C before then stores nothing.
"""

from __future__ import annotations

import gc
import io
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import chain, islice
from pathlib import Path
from typing import Any

from pathways.errors import Problem, SangaoError
from pathways.plan import Plan


def new_plans(patients: Iterable, ctx, start: date, url: str | None, batch: int = 500,
              reader=None) -> Iterator[Plan]:
    """Each open patient's plan from `start`, with the previous stored plans (when there is a
    database at `url`) looked up a batch of patients at a time (through `reader`, an engine of
    `url` the caller keeps open, else one opened for the run)."""
    import store.plans
    from pathways.care_state import is_closed
    from reports.plan import build_plan

    own = store.plans.open_db(url) if url and reader is None else None
    try:
        it = (p for p in patients if not is_closed(p, start))
        while chunk := list(islice(it, batch)):
            ids = [p.patient_id for p in chunk]
            previous = store.plans.previous_plans(url, ids, start, reader or own) if url else {}
            for p in chunk:
                yield build_plan(p, ctx, start, previous.get(p.patient_id))
    finally:
        if own is not None:
            own.dispose()


def stored_plans(url: str, ids: list[str] | None, start: date, team: str | None) -> Iterator[Plan]:
    """The plans stored for `start` exactly as they were made (of `ids`, or of `team`, or all)."""
    import store.plans

    return iter(p for p in store.plans.stored_plans(url, ids, start) if team is None or p.team == team)


def with_capacity(plans: Iterable[Plan], capacity: Path, ctx,
                  warn: Callable[[object], None]) -> Iterator[Plan]:
    """The plans with follow-ups spread to fit each team's daily capacity (a team's dates depend on
    all its plans: they are held); `warn(problem)` for each team short of capacity."""
    from reports.capacity import apply_capacity, load_capacity, shortage

    capacity_file = load_capacity(capacity)
    held, placements = apply_capacity(list(plans), capacity_file, ctx.calendar)
    for team_name, placement in placements.items():
        problem = shortage(team_name, placement, capacity_file.for_team(team_name).per_day)
        if problem is not None:
            warn(problem)
    return iter(held)


def safe_file_name(name: str) -> str:
    """A team's name as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "team"


@dataclass
class PlansWritten:
    count: int = 0
    first: list[Plan] = field(default_factory=list)  # the first two plans (one: a summary is shown)
    written: list[str] = field(default_factory=list)  # the files' names
    warnings: list[str] = field(default_factory=list)

    def closing_line(self, out: Path, lang: str) -> str:
        """"12份计划 → plans/: a.html, a.csv, … …": how many, where, the first six files."""
        label = "份计划" if lang == "zh" else " plans"
        return (f"{self.count}{label} → {out}/: {', '.join(self.written[:6])}"
                + (" …" if len(self.written) > 6 else ""))


def write_plans(plans: Iterable[Plan], out: Path, formats: set[str], lang: str, save_to: str | None = None,
                tick: Callable[[], None] | None = None, provenance=None) -> PlansWritten:
    """Every plan into the plan files of `formats` in `out`, and into the database at `save_to`
    when given, each row with `provenance` (store/assessments.py); nothing is written when there is
    no plan (count 0), and no file is left and no plan stored when the run stops (an error,
    Ctrl-C)."""
    import store.plans
    from reports.plan import PlanFiles

    files = PlanFiles(out, formats, lang, safe_file_name)
    result = PlansWritten()
    # Plans to store wait in a spool file, as the rows they are stored as: SQLite cannot commit
    # while the roster is still being read from the same file, and a whole roster's plans are too
    # many to hold.
    spool = tempfile.TemporaryFile() if save_to else None  # noqa: SIM115 (closed below)
    # What exists now (modules, the guideline set, the care context) lives as long as the run:
    # frozen, the collector's full passes no longer walk it (a tenth of the run's CPU otherwise).
    gc.freeze()
    try:
        for built in plans:
            files.add(built)
            if len(result.first) < 2:
                result.first.append(built)
            if spool is not None:
                spool.write(pickle.dumps(store.plans.plan_key(built)))  # dumps: dump to a file is slower
            if tick:
                tick()
    except BaseException:
        _abandon(files, spool)
        raise
    finally:
        gc.unfreeze()
    return _finish(files, result, spool, save_to, provenance)


def _abandon(files, spool) -> None:
    """The run stopped: no plan file left, nothing spooled to store."""
    files.abandon()
    if spool is not None:
        spool.close()


def _finish(files, result: PlansWritten, spool, save_to: str | None, provenance,
            unspooled: Callable[[Any], Iterator] | None = None) -> PlansWritten:
    """Store the spooled rows (one transaction; `unspooled` reads them back) and close the files."""
    import store.plans

    if spool is not None:
        with spool:
            spool.seek(0)
            try:
                store.plans.save_plan_rows(save_to, (unspooled or _unspooled)(spool), provenance)
            except BaseException:
                files.abandon()
                raise
    result.count = files.count
    if files.count:
        result.written = files.close()
        result.warnings = list(files.warnings)
    return result


def _unspooled_blocks(spool) -> Iterator:
    """The rows `write_plans_parallel` spooled, in order: blocks of pickled rows, each compressed
    and after its length."""
    while size := int.from_bytes(spool.read(8), "little"):
        yield from _unspooled(io.BytesIO(zlib.decompress(spool.read(size))))


def _unspooled(spool) -> Iterator:
    """The rows `write_plans` spooled, in order."""
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


# ---- several processes -------------------------------------------------------------------------

SLICE = 500  # patients a worker plans at a time (some 0.7 s of work)
AHEAD = 3  # slices a worker may be handed ahead of the writer (each a file of some 10 MB)
SMALL = 4000  # patients below which one process is faster than starting more


@dataclass(frozen=True)
class PlanJob:
    """What a worker process needs to plan its slices (picklable): the care context's options
    (reports/care_context.py `build_context`), the plan date, the formats, the database the
    patients are read from (None: the parent sends them) and of the previous plans, whether the
    plans are stored."""

    guidelines: str
    as_of: date
    strict_calendar: bool
    calendar_dirs: tuple[str, ...]
    lang: str
    start: date
    formats: frozenset[str]
    patients_url: str | None = None
    team: str | None = None
    previous_url: str | None = None
    save: bool = False
    spill: str = ""  # the folder of the workers' files (set by write_plans_parallel)


def plan_slices(roster: Path | None, db: str, team: str | None, workers: int | None) -> tuple[int, Iterable]:
    """(processes, what they plan) for `workers` (None: the cores, one for a small roster): for
    one process, the patients (of `team`, when given); for more, the slices of the patients: ranges
    of the database (`SLICE` patients each, fewer for a small roster so every worker has a few;
    a worker keeps those of `team`), or lists of `SLICE` patients read here from a roster file."""
    from engine.parallel import default_workers, in_lists
    from store.counts import count_patients
    from store.sources import check_db, patients_from

    count = workers or default_workers()
    if roster is None:
        url = check_db(db)
        if count == 1 or (workers is None and count_patients(url, team) < SMALL):  # (a team's, for --team)
            return 1, patients_from(roster, db, team)
        size = max(1, min(SLICE, -(-count_patients(url) // (4 * count))))
        import store.plans

        return count, store.plans.patient_ranges(url, size)
    slices = in_lists(patients_from(roster, db, team), SLICE)
    head = list(islice(slices, SMALL // SLICE))
    if count == 1 or (workers is None and len(head) < SMALL // SLICE):
        return 1, chain.from_iterable(chain(head, slices))
    return count, chain(head, slices)


_job: tuple[PlanJob, Any] | None = None


def _init(job: PlanJob) -> None:
    from reports.care_context import build_context

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    global _job
    ctx = build_context(job.guidelines, job.as_of, strict_calendar=job.strict_calendar,
                        calendar_dirs=job.calendar_dirs, lang=job.lang)
    _job = (job, ctx)
    gc.freeze()  # the set, the calendar, the modules: never garbage, never walked again


def _make(task) -> tuple[Any, str | None, int, list[Problem] | None]:
    """A slice's plans (`task`: a range of the database or a list of patients): (what was made,
    the file holding its bytes and then its pickled rows, the rows' length, None), or the problems
    of the patient it stopped at (SangaoError does not survive pickling)."""
    import store.plans
    from reports.plan import PlanBytes

    job, ctx = _job
    patients = store.plans.patients_in(job.patients_url, task, job.team) if job.patients_url else task
    made = PlanBytes(set(job.formats))
    rows: list[bytes] = []
    try:
        reader = store.plans.reader(job.previous_url) if job.previous_url else None
        for built in new_plans(patients, ctx, job.start, job.previous_url, reader=reader):
            made.add(built)
            if job.save:
                rows.append(pickle.dumps(store.plans.plan_key(built)))
    except SangaoError as exc:
        return None, None, 0, exc.problems
    summary, data = made.finish()
    # compressed (zlib's fastest level): a plan's row is some 5 KB of JSON, 0.6 KB so, and a
    # province's rows wait on disk until the end (5 GB for a million plans otherwise)
    stored = zlib.compress(b"".join(rows), 1)
    fd, path = tempfile.mkstemp(dir=job.spill)
    with open(fd, "wb", buffering=0) as f:
        f.write(data)
        f.write(stored)
    return summary, path, len(stored), None


def write_plans_parallel(tasks: Iterable, job: PlanJob, workers: int, out: Path, lang: str,
                         save_to: str | None = None, tick: Callable[[], None] | None = None,
                         provenance=None) -> PlansWritten:
    """`write_plans` of the plans `workers` processes make of `tasks` (`plan_slices`: ranges of
    `job.patients_url`, or lists of patients): the same files, the same rows stored (`save_to`)."""
    from engine.parallel import fed_when_room
    from reports.plan import PlanFiles

    files = PlanFiles(out, set(job.formats), lang, safe_file_name)
    result = PlansWritten()
    spool = tempfile.TemporaryFile() if save_to else None  # noqa: SIM115 (closed below)
    spill = tempfile.mkdtemp(prefix="sangao-plan-")  # private (0700): the slices' bytes until written
    room, stop = threading.Semaphore(AHEAD * workers), threading.Event()
    try:
        pool = mp.get_context("spawn").Pool(workers, initializer=_init,
                                            initargs=(replace(job, save=save_to is not None, spill=spill),))
        try:
            for made, path, stored, problems in pool.imap(_make, fed_when_room(tasks, room, stop)):
                room.release()
                if problems:
                    raise SangaoError(problems)
                with open(path, "rb") as f:
                    data = f.read()
                os.unlink(path)
                files.add_made(made, data[: len(data) - stored])
                result.first += made.kept[: 2 - len(result.first)]
                if spool is not None:
                    spool.write(stored.to_bytes(8, "little"))
                    spool.write(memoryview(data)[len(data) - stored :])
                if tick:
                    for _ in range(made.count):
                        tick()
        finally:
            # no more slices; the workers finish the few they hold and stop (engine/parallel.py
            # says why not `terminate`)
            stop.set()
            room.release()
            pool.close()
            pool.join()
    except BaseException:
        _abandon(files, spool)
        raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return _finish(files, result, spool, save_to, provenance, _unspooled_blocks)

