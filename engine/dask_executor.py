"""`sangao assess --executor dask`: assess a bucketed Parquet roster (store/parquet.py `Manifest`,
handed in by the caller: engine/ does not import store/) on a Dask cluster, one partition per bucket
file, with the per-range function of the local run (engine/parallel.py `assess_range`).

- The client loads the guideline set and calendar once (engine/parallel.py `build_assessor`'s
  cache), builds an assessor to stop at a guideline error before anything starts, and ships the
  loaded pair to the workers as one pickled value of the graph: workers need sangao installed, not
  the guideline files. Each worker process builds its assessor once and keeps it (`_assessor`).
- `dask.dataframe.from_map` makes one partition per bucket file (rows in export order, each a whole
  patient: no shuffle) holding only its path; `map_partitions` assesses it, its worker reading the
  file's `seq` and `patient_id` columns whole and its records a row group at a time (at most
  store/parquet.py `ROW_GROUP` rows), so a worker's memory stays flat however large a bucket is.
  A partition's result is a frame of `seq` (the patient's place in export order), `patient_id`,
  `color` and `assessment` (the line `sangao assess --format jsonl` writes, without its line end).
- `assess_jsonl` brings the results back and writes them in `seq` order: the bytes of the local run
  over the JSONL export. `assess_to_parquet` has every worker write its partitions' results as
  Parquet files into a shared folder, a piece at a time, and send back only counts: nothing goes
  through the client.
- A record that is not clean is judged by pydantic exactly as the JSONL path judges it (the roster's
  `bucket_sources`), and the run stops with its problems, naming the bucket file and row; a patient id
  twice in one file is D021 (a repeated id always lands in the same bucket). A worker that cannot read
  a bucket file or write a results file stops the run with R122 (the folders must be at the same
  path on every worker: the caller names them by absolute path).

Dask is imported here only, and only when a run starts: other commands never pay for it.
"""

from __future__ import annotations

import logging
import pickle
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import IO, Any, Protocol

from engine.parallel import AssessCounts, AssessOptions, RangedSource, build_assessor, default_workers
from pathways.errors import Problem, SangaoError

COLORS = ("red", "yellow", "blue")
RESULT_COLUMNS = ("seq", "patient_id", "color", "assessment")


def _dask():
    """dask.dataframe and distributed, or R120 when the `dask` extra is not installed."""
    try:
        import dask.dataframe as dd
        import distributed
        import pyarrow.parquet  # noqa: F401 - the bucket files' reader
    except ImportError as exc:
        raise SangaoError.of("R120", reason=str(exc)) from None
    return dd, distributed


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A client of the scheduler at `scheduler`, or of a cluster of `workers` processes (default: the
    cores) started on this machine and stopped afterwards."""
    _, distributed = _dask()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SangaoError.of("R121", address=scheduler, reason=str(exc) or type(exc).__name__) from None
        with client:
            yield client
        return
    cluster = distributed.LocalCluster(
        n_workers=workers or default_workers(),
        threads_per_worker=1,  # the work is pure Python: one thread per process
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


# ---- on a worker ------------------------------------------------------------------------------

_ASSESSORS: dict[tuple[str, str], Any] = {}  # (set key, backend) → assessor, kept between runs
KEPT_ASSESSORS = 4  # a long-lived worker keeps the sets of the last few runs, not every one


def _assessor(loaded: tuple[str, bytes], backend: str):
    """The assessor of the shipped set: (its engine/set_cache.py key, the pickled set and calendar)."""
    from engine.assess import Assessor

    key = (loaded[0], backend)
    assessor = _ASSESSORS.get(key)
    if assessor is None:
        gset, calendar = pickle.loads(loaded[1])  # noqa: S301 - sent by our own client
        while len(_ASSESSORS) >= KEPT_ASSESSORS:
            del _ASSESSORS[next(iter(_ASSESSORS))]
        assessor = _ASSESSORS[key] = Assessor(gset, calendar, backend=backend)
    return assessor


def _worker() -> str:
    """The address of the worker running this task (for a message)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:  # not on a worker
        return "?"


def read_bucket(read: Callable[[str], Any], path: str):
    """`read(path)` on a worker; a file it cannot read is R122: the roster folder must be at the same
    path on every worker (a shared file system), and is named by its absolute path."""
    try:
        return read(path)
    except OSError as exc:
        raise SangaoError.of("R122", file=path, worker=_worker(),
                             reason=exc.strerror or type(exc).__name__) from None


class BucketedRoster(Protocol):
    """A roster in bucket files (store/parquet.py `Manifest`): the files holding patients, and plain
    functions that a worker calls (sent by name): one reads a file's `seq` and `patient_id` columns,
    one gives its records as ranged sources a piece at a time, one writes a file's results into the
    results folder."""

    patients: int

    @property
    def paths(self) -> list[str]: ...

    @staticmethod
    def bucket_index(path: str) -> tuple[list[int], list[str]]: ...

    @staticmethod
    def bucket_sources(path: str) -> Iterator[RangedSource]: ...

    @staticmethod
    def results_writer(folder: str, bucket_path: str) -> AbstractContextManager[Callable[[Any], None]]: ...


def bucket_index(path: str, roster: BucketedRoster) -> tuple[list[int], list[str]]:
    """(`seq`, `patient_id`) of every row of a bucket file; D021 at a patient id given twice (a
    repeated id always lands in the same bucket: found here, before any record is read)."""
    seqs, ids = read_bucket(roster.bucket_index, path)
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        for row, patient_id in enumerate(ids, start=1):
            if patient_id in seen:
                first = f"{path}:{ids.index(patient_id) + 1}"
                raise SangaoError([Problem.of("D021", file=path, line=row, patient=repr(patient_id),
                                              first=first)])
            seen.add(patient_id)
    return seqs, ids


def bucket_results(path: str, index: tuple[list[int], list[str]], roster: BucketedRoster,
                   loaded: tuple[str, bytes], backend: str, as_of: date):
    """The assessments of one bucket file (`index`: its `bucket_index`), as frames of RESULT_COLUMNS,
    a piece of the file at a time (a worker's memory does not grow with the file)."""
    from engine.parallel import assess_range

    seqs, ids = index
    assessor = _assessor(loaded, backend)
    pieces = read_bucket(roster.bucket_sources, path)
    # each piece is read from the file as it is asked for: a read failing there is R122 too
    while (source := read_bucket(lambda _: next(pieces, None), path)) is not None:
        kept: list[int] = []
        colors: list[str] = []
        lines: list[str] = []
        for r in source.ranges:
            chunk = assess_range(assessor, as_of, source, r)
            if chunk.problems:
                raise SangaoError(chunk.problems)
            # rows whose record was assessed: where the count of lines written grows
            before = [0, *chunk.ends]
            kept += [row - 1 for i, (row, end) in enumerate(zip(chunk.numbers, chunk.ends, strict=True))
                     if end > before[i]]
            colors += chunk.colors
            text = chunk.data.decode("utf-8")
            lines += text.split("\n")[:-1] if text else []
        yield _frame([seqs[i] for i in kept], [ids[i] for i in kept], colors, lines)


def assess_frame(frame, roster: BucketedRoster, loaded: tuple[str, bytes], backend: str, as_of: date):
    """The assessments of one partition (a frame of one bucket file's path), as a frame of
    RESULT_COLUMNS."""
    import pandas as pd

    parts = [part for path in frame["file"]
             for part in bucket_results(path, bucket_index(path, roster), roster, loaded, backend, as_of)]
    return pd.concat(parts, ignore_index=True) if parts else _frame([], [], [], [])


def _frame(seqs: list[int], ids: list[str], colors: list[str], lines: list[str]):
    import pandas as pd

    return pd.DataFrame(
        {
            "seq": pd.Series(seqs, dtype="int64"),
            "patient_id": pd.Series(ids, dtype=object),
            "color": pd.Series(colors, dtype=object),
            "assessment": pd.Series(lines, dtype=object),
        }
    )


def assess_to_file(
    frame, roster: BucketedRoster, loaded: tuple[str, bytes], backend: str, as_of: date, folder: str
):
    """Assess one partition (a frame of one bucket file's path) and have the roster write its results
    into `folder` (`results_writer`) a piece at a time; a one-row frame of counts comes back."""
    import pandas as pd

    rows = 0
    colors: Counter = Counter()
    for path in frame["file"]:
        index = bucket_index(path, roster)
        rows += len(index[0])
        try:
            with roster.results_writer(folder, path) as write:
                for part in bucket_results(path, index, roster, loaded, backend, as_of):
                    write(part)
                    colors.update(part["color"])
        except OSError as exc:
            raise SangaoError.of("R122", variant="write", file=exc.filename or folder, worker=_worker(),
                                 reason=exc.strerror or type(exc).__name__) from None
    return pd.DataFrame({"rows": [rows], **{c: [colors.get(c, 0)] for c in COLORS}})


# ---- on the client -----------------------------------------------------------------------------


def _partitions(roster: BucketedRoster, options: AssessOptions):
    """(a dask frame of the roster's bucket files, one partition each, or None when no file holds a
    patient; the loaded guideline set and calendar as one value of the graph, fetched once per worker)."""
    import dask

    from engine.set_cache import cache_key, load_cached

    dd, _ = _dask()
    build_assessor(options)  # a guideline error stops the run here, before any worker
    years = (options.as_of.year, options.as_of.year + 1)
    pair = load_cached(options.guidelines, years, options.provisional_calendar, options.cache_dir)
    # keyed by the set's and calendar's sources (the same across runs), not by the pickle's bytes
    key = cache_key(options.guidelines, years, options.provisional_calendar)
    loaded = (key, pickle.dumps(pair, protocol=pickle.HIGHEST_PROTOCOL))
    paths = roster.paths
    if not paths:
        return None, None
    # a partition is a bucket file's path: its worker reads the file a piece at a time
    frame = dd.from_map(_path_frame, paths, meta=_path_frame(None).iloc[:0], enforce_metadata=False)
    return frame, dask.delayed(loaded, pure=True)


def _path_frame(path: str | None):
    import pandas as pd

    return pd.DataFrame({"file": pd.Series([path], dtype=object)})


def _finished(client: Any, result: Any, progress: Callable[[], None] | None) -> Iterator[Any]:
    """Each partition's result as soon as a worker finishes it (any order), `progress()` after each
    (a bar on a terminal); the cluster forgets a result once it is handed over."""
    _, distributed = _dask()
    for future in distributed.as_completed(client.compute(result.to_delayed())):
        part = future.result()
        future.release()
        yield part
        if progress is not None:
            progress()


def _assessed(roster: BucketedRoster, options: AssessOptions) -> Any:
    """The lazy frame of every bucket's assessments (RESULT_COLUMNS), or None for no patients."""
    frame, loaded = _partitions(roster, options)
    if frame is None:
        return None
    return frame.map_partitions(
        assess_frame, roster, loaded, options.backend, options.as_of,
        meta=_frame([], [], [], []),
    )


def assess_lines(
    roster: BucketedRoster,
    options: AssessOptions,
    client: Any,
    counts: AssessCounts | None = None,
    progress: Callable[[], None] | None = None,
) -> Iterator[str]:
    """The assessment lines of a bucketed roster, bucket by bucket as the workers finish them (in
    export order within a bucket): what `--save` stores, holding a few buckets' results at a time.
    `progress()` is called once a bucket (`len(roster.paths)` in all)."""
    counts = counts if counts is not None else AssessCounts()
    result = _assessed(roster, options)
    assessed = 0
    for part in _finished(client, result, progress) if result is not None else ():
        assessed += len(part)
        counts.assessed += len(part)
        counts.colors.update(part["color"].tolist())
        yield from part["assessment"].tolist()
    counts.skipped += roster.patients - assessed


def assess_jsonl(
    roster: BucketedRoster,
    options: AssessOptions,
    client: Any,
    out: IO[bytes] | None = None,
    counts: AssessCounts | None = None,
    progress: Callable[[], None] | None = None,
) -> list[str]:
    """Assess a bucketed roster on `client`'s cluster; the assessment lines in export order (also
    written to `out`, one a line, when given): the bytes `sangao assess --format jsonl` writes for the
    same roster exported as JSONL. Every line comes back to this process before the first is written."""
    import pandas as pd

    counts = counts if counts is not None else AssessCounts()
    result = _assessed(roster, options)
    if result is None:
        counts.skipped += roster.patients
        return []
    done = pd.concat(list(_finished(client, result, progress)), ignore_index=True)
    done = done.sort_values("seq", kind="stable")
    lines = done["assessment"].tolist()
    if out is not None:
        for line in lines:
            out.write(line.encode("utf-8") + b"\n")
    counts.assessed += len(lines)
    counts.skipped += roster.patients - len(lines)
    counts.colors.update(done["color"].tolist())
    return lines


def assess_to_parquet(
    roster: BucketedRoster,
    options: AssessOptions,
    client: Any,
    folder: str | Path,
    counts: AssessCounts | None = None,
    progress: Callable[[], None] | None = None,
) -> int:
    """Assess a bucketed roster, every worker writing its buckets' results into `folder`
    (`assessments-bucket-NNNNN.parquet`, columns RESULT_COLUMNS, rows in export order; a folder all
    workers can write); only counts come back. Returns the assessments written."""
    import pandas as pd

    counts = counts if counts is not None else AssessCounts()
    folder = Path(folder).absolute()  # as the workers must write it, wherever they run
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("assessments-bucket-*.parquet"):
        old.unlink()
    frame, loaded = _partitions(roster, options)
    if frame is None:
        counts.skipped += roster.patients
        return 0
    meta = pd.DataFrame({"rows": pd.Series([], dtype="int64"),
                         **{c: pd.Series([], dtype="int64") for c in COLORS}})
    result = frame.map_partitions(
        assess_to_file, roster, loaded, options.backend, options.as_of,
        str(folder), meta=meta,
    )
    totals = pd.concat(list(_finished(client, result, progress))).sum()
    assessed = int(sum(totals[c] for c in COLORS))
    counts.assessed += assessed
    counts.skipped += int(totals["rows"]) - assessed
    counts.colors.update({c: int(totals[c]) for c in COLORS if totals[c]})
    return assessed
