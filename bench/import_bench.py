"""Import throughput: a generated roster (pathways.synthetic) written as JSONL, then imported into a
fresh SQLite file (or a fresh database on the --db PostgreSQL server). Prints patients/s, child
rows/s and peak RSS for the in-process import and the two-process pipeline. Not a test.

    .venv/bin/python bench/import_bench.py --patients 100000
    .venv/bin/python bench/import_bench.py --patients 20000 --db postgresql+psycopg://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/import_bench.py --patients 20000 --profile 20   # where the time goes
    .venv/bin/python bench/import_bench.py --patients 100000 --repeat 3    # best and median of 3
    .venv/bin/python bench/import_bench.py --patients 20000 --phases       # µs per patient per stage
    .venv/bin/python bench/import_bench.py --patients 100000 --mode pipeline --timeline  # who waits when
    .venv/bin/python bench/import_bench.py --patients 20000 --mode pipeline   # or in-process; default both
    .venv/bin/python bench/import_bench.py --floor                          # what parts cost on their own
    .venv/bin/python bench/import_bench.py --roster roster.jsonl --repeat 3  # an existing roster file

--db names a PostgreSQL server (any database on it): each run imports into a new database created
there and dropped after. Times are wall and CPU of the import call alone: CPU of this process
(the importer, which writes), of the worker process (the pipeline's reader and checker), and on
PostgreSQL of the server's backend; on a shared machine the CPU figures are the steadier ones, and
--repeat N imports the same file N times into fresh databases and reports the best and the median
(this machine's speed drifts by a third from minute to minute). The load average is printed with
the results: other processes share the cores. --floor measures what the parts cost on their own:
decoding and checking alone, building the rows, and inserting ready rows (the importer's share in
the pipeline), also into tables without their secondary indexes (what the indexes cost).
--profile runs the import under cProfile (slower) and prints the functions
with the most time of their own. --phases times the stages of the import with plain timers (a
few percent of overhead, unlike a profiler) and prints µs per patient for each: reading, decoding
and checking the records; building the rows; binding and inserting them (sqlite3 or COPY); and
building the indexes dropped at the start. --timeline prints, for each pipeline run, when the
worker started, sent its first and last batch and how long it was blocked sending; how long the
importer waited for batches and wrote them; and how long the end (indexes, commit, closing) took:
where the wall time that neither process's CPU covers goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from pathways.synthetic import generate_roster
from store import import_pipeline, writer
from store.db import IMPORT_PAGE_SIZE, as_writer, bulk_import, open_db
from store.exporter import record_json
from store.importer import import_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--roster", type=Path, help="import this JSONL file instead of generating one")
    parser.add_argument("--db", help="a PostgreSQL server's URL (default: fresh temporary SQLite files)")
    parser.add_argument("--profile", type=int, metavar="N", help="profile; print the top N functions")
    parser.add_argument(
        "--repeat", type=int, default=1, help="import N times (fresh database each) and report best/median"
    )
    parser.add_argument("--phases", action="store_true", help="print µs per patient for each stage")
    parser.add_argument("--timeline", action="store_true", help="print when each pipeline process waits")
    parser.add_argument("--mode", choices=["in-process", "pipeline", "both"], default="both")
    parser.add_argument("--floor", action="store_true", help="time the parts on their own (SQLite)")
    args = parser.parse_args()
    phases = _time_phases() if args.phases else None
    timeline = _Timeline(Path(tempfile.mkdtemp()) / "worker.json") if args.timeline else None
    modes = ["in-process", "pipeline"] if args.mode == "both" else [args.mode]

    with tempfile.TemporaryDirectory() as tmp:
        if args.roster:
            roster = args.roster
            args.patients, children = _counts(roster)
            print(f"roster: {roster}, {args.patients} lines, {children} child rows")
        else:
            roster, children = _generate(args, Path(tmp))
        if args.floor:
            _floor(roster, args.as_of, args.patients, Path(tmp))
            return
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        profiler = cProfile.Profile() if args.profile else None
        server = _ServerCpu() if args.db else None
        results = {}
        for mode in modes:
            import_pipeline.PIPELINE_MIN_BYTES = 0 if mode == "pipeline" else 10**15
            runs = []
            for run in range(args.repeat):
                url, drop = _fresh_database(args.db, Path(tmp), f"{mode}-{run}")
                t0, c0, w0 = time.perf_counter(), time.process_time(), _children_cpu()
                if server:
                    server.start()
                if profiler:
                    profiler.enable()
                if timeline:
                    timeline.start()
                report = import_files([roster], url, args.as_of)
                if timeline and mode == "pipeline":
                    timeline.show()
                if profiler:
                    profiler.disable()
                runs.append(
                    (
                        time.perf_counter() - t0,
                        time.process_time() - c0,
                        _children_cpu() - w0,
                        server.spent() if server else 0.0,
                    )
                )
                drop()
            results[mode] = (report, runs)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        where = "PostgreSQL " + args.db.split("@")[-1] if args.db else "SQLite"
        print(f"into {where}; load average after the runs: {load} (on {os.cpu_count()} cores)")
        for mode, (report, runs) in results.items():
            print(
                f"{mode}: {report.patients_imported} imported, {report.rejected} rejected, "
                f"{len(report.findings)} findings"
            )
            for label, (elapsed, cpu, worker, backend) in _summary(runs):
                n = report.patients_imported
                parts = f"{cpu:.2f} s importer" + (f" + {worker:.2f} s worker" if worker else "")
                parts += f" + {backend:.2f} s server" if backend else ""
                print(
                    f"  {label}: {elapsed:.2f} s wall → {n / elapsed:,.0f} patients/s wall, "
                    f"{children / elapsed:,.0f} child rows/s\n"
                    f"    CPU {parts} → {n / cpu:,.0f} patients per importer CPU second, "
                    f"{n / (cpu + worker + backend):,.0f} per CPU second in all"
                )
        print(f"peak RSS: {rss_before / 1024:.0f} MB before import, {rss_after / 1024:.0f} MB after")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        if phases:
            report, runs = results[modes[0]]
            _print_phases(phases, sum(r[0] for r in runs), report.patients_imported * len(runs))


def _generate(args, tmp: Path) -> tuple[Path, int]:
    """A generated roster written as JSONL; (its path, its child rows)."""
    roster = tmp / "roster.jsonl"
    children = 0
    t0 = time.perf_counter()
    with open(roster, "w", encoding="utf-8") as f:
        for patient in generate_roster(args.patients, args.seed, args.as_of):
            children += sum(len(getattr(patient, n)) for n in _CHILD_LISTS)
            f.write(json.dumps(record_json(patient), ensure_ascii=False) + "\n")
    generated = time.perf_counter() - t0
    print(
        f"roster: {args.patients} patients, {children} child rows "
        f"({roster.stat().st_size / 1e6:.1f} MB JSONL, generated in {generated:.1f} s)"
    )
    return roster, children


_CHILD_LISTS = ("visits", "labs", "screenings", "history", "referrals")


def _counts(roster: Path) -> tuple[int, int]:
    """(lines, child rows) of a JSONL roster (a line that does not decode counts no child row)."""
    lines = children = 0
    with open(roster, encoding="utf-8-sig") as f:
        for line in f:
            lines += 1
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                children += sum(len(record.get(n) or ()) for n in _CHILD_LISTS)
    return lines, children


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the pipeline's worker, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _fresh_database(server: str | None, tmp: Path, name: str):
    """(URL of an empty database, a function that drops it): a SQLite file, or a new database on
    the PostgreSQL `server`."""
    if not server:
        path = tmp / f"bench-{name}.db"
        return str(path), lambda: [Path(f"{path}{s}").unlink(missing_ok=True) for s in ("", "-wal", "-shm")]
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    database = f"sangao_bench_{os.getpid()}_{name.replace('-', '_')}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    return url.set(database=database).render_as_string(hide_password=False), drop


class _ServerCpu:
    """CPU seconds of the PostgreSQL backend that served the import (read from /proc when the
    server runs on this machine; 0 otherwise): from the writer's first query to its last."""

    def __init__(self) -> None:
        self.pid, self.begin, self.end = None, 0.0, 0.0
        init, finish = writer.Store.__init__, writer.Store.finish
        bench = self

        def timed_init(store, conn):
            bench.pid = conn.connection.driver_connection.info.backend_pid
            bench.begin = bench._ticks()
            init(store, conn)

        def timed_finish(store):
            finish(store)
            store.conn.exec_driver_sql("SELECT 1")  # the last COPY's rows are in
            bench.end = bench._ticks()

        writer.Store.__init__, writer.Store.finish = timed_init, timed_finish

    def _ticks(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.pid, self.begin, self.end = None, 0.0, 0.0

    def spent(self) -> float:
        return max(0.0, self.end - self.begin)


class _Timeline:
    """Timestamps of both sides of the pipeline (time.perf_counter, the same clock in both
    processes; the worker, forked, writes its own to `path` as it ends)."""

    def __init__(self, path: Path) -> None:
        import queue

        self.path, self.t = path, {}
        timeline = self
        work, add_rows, finish = import_pipeline._work, writer.Store.add_rows, writer.Store.finish

        def timed_work(sender, *args, **kwargs):
            seen = {"start": time.perf_counter(), "blocked": 0.0}
            send = sender.send_bytes

            class Sender:  # the worker's end of the pipe, timed
                close = sender.close

                @staticmethod
                def send_bytes(message):
                    t0 = time.perf_counter()
                    seen.setdefault("first", t0)
                    send(message)
                    seen["last"] = time.perf_counter()
                    seen["blocked"] += seen["last"] - t0

            try:
                work(Sender(), *args, **kwargs)
            finally:
                seen["end"] = time.perf_counter()
                path.write_text(json.dumps(seen))

        class TimedQueue(queue.Queue):  # the importer's queue of received batches
            def get(self, *args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return super().get(*args, **kwargs)
                finally:
                    timeline.t.setdefault("first", time.perf_counter())
                    timeline.t["waited"] += time.perf_counter() - t0

        def timed_add_rows(store, *args):
            t0 = time.perf_counter()
            add_rows(store, *args)
            timeline.t["wrote"] += time.perf_counter() - t0

        def timed_finish(store):
            timeline.t["finish"] = time.perf_counter()
            finish(store)
            timeline.t["finished"] = time.perf_counter()

        import_pipeline._work = timed_work
        writer.Store.add_rows, writer.Store.finish = timed_add_rows, timed_finish
        import_pipeline.queue = type("queue", (), {"Queue": TimedQueue, "Empty": queue.Empty})

    def start(self) -> None:
        self.t = {"start": time.perf_counter(), "waited": 0.0, "wrote": 0.0}

    def show(self) -> None:
        t, w = self.t, json.loads(self.path.read_text())
        end = time.perf_counter()

        def at(x):
            return f"{x - t['start']:.2f}"

        print(f"  timeline, s from the start: worker started {at(w['start'])}, sent its first batch "
              f"{at(w['first'])}, its last {at(w['last'])} (blocked sending {w['blocked']:.2f} s)\n"
              f"    importer: first batch in hand {at(t['first'])}; waited for batches {t['waited']:.2f} s, "
              f"wrote them {t['wrote']:.2f} s; the end {at(t['finish'])}–{at(t['finished'])} (indexes), "
              f"commit and close until {at(end)}")


def _floor(roster: Path, as_of: date, patients: int, tmp: Path) -> None:
    """What each part costs alone (CPU, best of 3), µs per patient: the worker's share (its whole
    loop with the pipe replaced by a list; packing alone) and the importer's (unpack; insert ready
    rows and build the indexes)."""
    import marshal

    from store.readers import Source, detect_encoding

    def best(fn) -> float:
        times = []
        for _ in range(3):
            c0 = time.process_time()
            fn()
            times.append(time.process_time() - c0)
        return min(times) / patients * 1e6

    packed: list[bytes] = []

    class _Pipe:  # the worker's end of the pipe, keeping what it is sent
        def send_bytes(self, message: bytes) -> None:
            packed.append(message)

        def close(self) -> None:
            pass

    def worker():
        packed.clear()
        import_pipeline._work(_Pipe(), Source("jsonl", [roster]), None, as_of, True, 1, utf8="utf-8")

    gc.disable()
    whole = best(worker)
    batches = [marshal.loads(m[1:]) for m in packed if m[:1] == import_pipeline._ROWS]
    pack_cost = best(lambda: [import_pipeline.pack(b) for b in batches])

    def unpack():
        for m in packed:
            if m[:1] == import_pipeline._ROWS:
                marshal.loads(m[1:])

    def insert(indexes: bool = True):
        url, drop = _fresh_database(None, tmp, "floor")
        db_engine = as_writer(open_db(url, page_size=IMPORT_PAGE_SIZE))
        with db_engine.connect() as conn, bulk_import(conn), conn.begin():
            store = writer.Store(conn)
            if not indexes:  # the same rows into tables without their secondary indexes (not rebuilt)
                store.drop_indexes()
                store.rebuild = []
            for n, tables, *_ in batches:
                store.add_rows(n, tables)
            store.finish()
        db_engine.dispose()
        drop()

    unpack_cost = best(unpack)
    insert_cost = best(insert)
    bare_cost = best(lambda: insert(indexes=False))
    check_cost = best(lambda: detect_encoding(roster))
    gc.enable()
    print(f"floor, CPU µs per patient (best of 3; load average {os.getloadavg()[0]:.2f}):")
    print(f"  worker:   read, decode, check, build the rows {whole - pack_cost:5.1f}   pack {pack_cost:4.1f}"
          f"   = {whole:5.1f} → {1e6 / whole:,.0f} patients/s")
    importer = check_cost + unpack_cost + insert_cost
    print(f"  importer: check the encoding {check_cost:4.1f}   unpack {unpack_cost:4.1f}"
          f"   insert ready rows and index {insert_cost:5.1f}   = {importer:5.1f}"
          f" → {1e6 / importer:,.0f} patients/s")
    print(f"            of the insert, the secondary indexes' share {insert_cost - bare_cost:4.1f}"
          f" (the same rows into tables without them, commit included: {bare_cost:5.1f})")


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


def _summary(runs: list[tuple]) -> list[tuple[str, tuple]]:
    if len(runs) == 1:
        return [("throughput", runs[0])]
    by_cpu = sorted(runs, key=lambda r: r[0])  # by wall: the pipeline's point is wall time
    return [(f"best of {len(runs)}", by_cpu[0]), (f"median of {len(runs)}", by_cpu[len(runs) // 2])]


if __name__ == "__main__":
    main()
