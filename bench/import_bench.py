"""Import throughput: a generated roster (pathways.synthetic) written as JSONL, then imported into a
fresh SQLite file (or --db URL). Prints patients/s, child rows/s and peak RSS. Not a test.

    .venv/bin/python bench/import_bench.py --patients 100000
    .venv/bin/python bench/import_bench.py --patients 20000 --db postgresql+psycopg://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/import_bench.py --patients 20000 --profile 20   # where the time goes
    .venv/bin/python bench/import_bench.py --patients 100000 --repeat 3    # best and median of 3
    .venv/bin/python bench/import_bench.py --patients 20000 --phases       # µs per patient per stage

--db must name an empty database (the import upserts: a second run into the same one measures the
merge path). Times are wall and CPU of the import call alone; on a shared machine the CPU figure
is the steadier one, and --repeat N imports the same file N times into fresh databases and reports
the best and the median (this machine's speed drifts by a third from minute to minute).
--profile runs the import under cProfile (slower) and prints the functions
with the most time of their own. --phases times the stages of the import with plain timers (a
few percent of overhead, unlike a profiler) and prints µs per patient for each: reading, decoding
and checking the records; building the rows; binding and inserting them (sqlite3 or COPY); and
building the indexes dropped at the start.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from pathways.synthetic import generate_roster
from store import writer
from store.exporter import record_json
from store.importer import import_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--db", help="database URL to import into (default: a fresh temporary SQLite file)")
    parser.add_argument("--profile", type=int, metavar="N", help="profile; print the top N functions")
    parser.add_argument(
        "--repeat", type=int, default=1, help="import N times (fresh SQLite file each) and report best/median"
    )
    parser.add_argument("--phases", action="store_true", help="print µs per patient for each stage")
    args = parser.parse_args()
    phases = _time_phases() if args.phases else None

    with tempfile.TemporaryDirectory() as tmp:
        roster, db = Path(tmp) / "roster.jsonl", Path(tmp) / "bench.db"
        children = 0
        t0 = time.perf_counter()
        with open(roster, "w", encoding="utf-8") as f:
            for patient in generate_roster(args.patients, args.seed, args.as_of):
                children += sum(
                    len(getattr(patient, n)) for n in ("visits", "labs", "screenings", "history", "referrals")
                )
                f.write(json.dumps(record_json(patient), ensure_ascii=False) + "\n")
        generated = time.perf_counter() - t0
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        profiler = cProfile.Profile() if args.profile else None
        runs = []
        for run in range(args.repeat):
            if run and not args.db:
                db.unlink()
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            report = import_files([roster], args.db or str(db), args.as_of)
            if profiler:
                profiler.disable()
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"roster: {args.patients} patients, {children} child rows "
            f"({roster.stat().st_size / 1e6:.1f} MB JSONL, generated in {generated:.1f} s)"
        )
        print(
            f"import: {report.patients_imported} imported, {report.rejected} rejected, "
            f"{len(report.findings)} findings"
        )
        for label, (elapsed, cpu) in _summary(runs):
            print(
                f"{label}: {elapsed:.2f} s wall, {cpu:.2f} s CPU → "
                f"{report.patients_imported / elapsed:,.0f} patients/s wall, "
                f"{report.patients_imported / cpu:,.0f} patients/s per CPU second, "
                f"{children / elapsed:,.0f} child rows/s wall"
            )
        size = f"database {db.stat().st_size / 1e6:.1f} MB" if db.exists() else args.db.split("@")[-1]
        print(f"peak RSS: {rss_before / 1024:.0f} MB before import, {rss_after / 1024:.0f} MB after ({size})")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        if phases:
            _print_phases(phases, sum(wall for wall, _ in runs), report.patients_imported * len(runs))


def _time_phases() -> dict[str, float]:
    """Wrap the writer's stages in timers; returns the dict of seconds they fill in."""
    spent = {"flush": 0.0, "insert": 0.0, "indexes": 0.0}

    def timed(name, method):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0

        return wrapper

    finish = writer.Store.finish

    def timed_finish(store):  # the last flush (timed as a flush), then the indexes
        t0, flushed = time.perf_counter(), spent["flush"]
        finish(store)
        spent["indexes"] += time.perf_counter() - t0 - (spent["flush"] - flushed)

    writer.Store.flush = timed("flush", writer.Store.flush)
    writer.Store._insert = timed("insert", writer.Store._insert)
    writer.Store.finish = timed_finish
    return spent


def _print_phases(spent: dict[str, float], wall: float, patients: int) -> None:
    stages = {
        "read, decode and check the records": wall - spent["flush"] - spent["indexes"],
        "build the rows": spent["flush"] - spent["insert"],
        "bind and insert the rows": spent["insert"],
        "build the indexes (and foreign keys)": spent["indexes"],
    }
    print(f"where the time goes, µs per patient (wall, all runs: {wall / patients * 1e6:.1f}):")
    for stage, seconds in stages.items():
        print(f"  {stage:38s} {seconds / patients * 1e6:6.1f}")


def _summary(runs: list[tuple[float, float]]) -> list[tuple[str, tuple[float, float]]]:
    if len(runs) == 1:
        return [("throughput", runs[0])]
    by_cpu = sorted(runs, key=lambda r: r[1])
    return [(f"best of {len(runs)}", by_cpu[0]), (f"median of {len(runs)}", by_cpu[len(runs) // 2])]


if __name__ == "__main__":
    main()
