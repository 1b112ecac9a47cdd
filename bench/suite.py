"""The benchmark suite: one command, a table on the terminal and rows appended to a CSV.

    .venv/bin/python bench/suite.py                                # 10,000 and 100,000 patients
    .venv/bin/python bench/suite.py --sizes 10000,100000,1000000 --repeat 3
    .venv/bin/python bench/suite.py --only assess --sizes 1000000 --repeat 1
    .venv/bin/python bench/suite.py --only import,report --pg postgresql+psycopg://u@host/postgres

For each roster size (generated once into --dir by `sangao roster generate --seed 3`), every measure of
MEASURES runs --repeat times, each in a fresh process: wall time, patients/s, CPU seconds and peak
resident memory of the largest process (the command or any worker it started and waited for, from
GNU time; a PostgreSQL server's own processes are not counted). The measures:

- import: `sangao roster import` into a new SQLite file (the stored database the later measures
  read), and into a new PostgreSQL database when --pg names a server;
- assess: `sangao assess` from the JSONL roster, python and durable backends, 1 and N workers;
  from the stored database (`--db`), 1 and N workers; `--executor dask` on a local cluster of 2
  worker processes, over the roster as 8 Parquet buckets, the workers writing Parquet results;
- plan: `sangao plan --all` from the stored database, 1 and N workers (appointments CSV and each
  team's ICS: the files a whole roster's plans are written to; the plans stored); above 100,000
  patients N workers and the CSV only (`plan --all csv`: the ICS files of a million patients'
  plans do not fit beside the rest on the development VM's disk); the plan files are removed after
  each round;
- worklist: `sangao worklist --team T --week` of the largest team (it reads the whole roster);
- report: `sangao report monthly` of the roster's month after last month's was made (the steady
  state of a county; bench/report_bench.py times the other phases), 1 and N workers.

What they read (the stored database, the buckets, the report's history) is made before the timing
(bench/suite_data.py), once per run of the suite; the report's history (last month's report, its
12 months of rows built in as many processes as the cores) prints how long it took. Above 100,000
patients plan runs with N workers and the CSV only (see above). `--only TAG[,TAG]` runs the
measures of those tags.

Beside `sangao assess`, the national-
default pipeline written by hand with stdlib json (bench/hand_written.py) runs on the same roster in
the same round, so `× hand` (its time over the measure's) holds on a machine whose speed drifts; best
and median of the rounds are printed, and `cpu×` (the same ratio with the CPU seconds of all the
processes, steadier on a shared machine; for N workers it shows the cost of parallelism, not its
gain). Numbers are printed and recorded, never asserted.

To add a measure: append a `Measure` to MEASURES whose `command(ctx)` returns the argv to time (or
whose `run(ctx)` does the work in-process), `setup(ctx)` what must be made before each round
untimed, and `patients(ctx)` the number of patients it handled.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import suite_data as data
from suite_data import AS_OF, ROOT, SANGAO


@dataclass
class Context:
    roster: Path
    size: int
    workers: int
    out_dir: Path
    durable_patients: int
    cache_dir: Path
    pg: str | None = None  # a PostgreSQL server's URL (--pg)


PATHS = ("roster", "out_dir", "cache_dir")


@dataclass
class Measure:
    name: str
    workers: Callable[[Context], int] = lambda ctx: 1
    command: Callable[[Context], list[str]] | None = None  # timed as a child process
    run: Callable[[Context], int] | None = None  # timed in a child `bench/suite.py --one` process
    patients: Callable[[Context], int] = lambda ctx: ctx.size
    max_size: int | None = None  # skipped above this roster size
    tags: tuple[str, ...] = field(default=())
    setup: Callable[[Context], None] | None = None  # before each round, untimed
    when: Callable[[Context], bool] = lambda ctx: True  # skipped when false (PostgreSQL not given)
    cleanup: Callable[[Context], None] | None = None  # after each round, untimed


def _assess(engine: str, workers: Callable[[Context], int], roster: Callable[[Context], Path] | None = None):
    def command(ctx: Context) -> list[str]:
        path = roster(ctx) if roster else ctx.roster
        return [*SANGAO, "assess", "--roster", str(path), "--as-of", AS_OF, "--format", "jsonl",
                "--provisional-calendar", "--engine", engine, "--workers", str(workers(ctx)),
                "--out", str(ctx.out_dir / f"assessed-{engine}.jsonl")]

    return command


def _head(ctx: Context) -> Path:
    """The first `durable_patients` lines of the roster (durable is too slow for the whole)."""
    path = ctx.out_dir / f"head-{ctx.durable_patients}.jsonl"
    if not path.exists():
        with open(ctx.roster, "rb") as src, open(path, "wb") as dst:
            for _, line in zip(range(ctx.durable_patients), src, strict=False):
                dst.write(line)
    return path


def hand_written(ctx: Context) -> int:
    """bench/hand_written.py over the roster, stdlib json in and out, one process."""
    sys.path.insert(0, str(ROOT / "bench"))
    from hand_written import assess_line

    from guidelines.calendar_loader import load_calendar

    as_of = date.fromisoformat(AS_OF)
    calendar = load_calendar({as_of.year, as_of.year + 1}, provisional=True)
    n = 0
    target = ctx.out_dir / "hand.jsonl"
    with open(ctx.roster, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as out:
        for line in src:
            n += 1
            text = assess_line(line, as_of, calendar.next_working_day)
            if text is not None:
                out.write(text + "\n")
    return n


def _stored(ctx: Context) -> Path:
    return data.stored_db(ctx.roster, ctx.out_dir, ctx.size)


def _import(target: Callable[[Context], str]):
    def command(ctx: Context) -> list[str]:
        return [*SANGAO, "roster", "import", str(ctx.roster), "--db", target(ctx), "--as-of", AS_OF]

    return command


def _assess_db(workers: Callable[[Context], int]):
    def command(ctx: Context) -> list[str]:
        return [*SANGAO, "assess", "--db", str(_stored(ctx)), "--as-of", AS_OF, "--format", "jsonl",
                "--workers", str(workers(ctx)), "--out", str(ctx.out_dir / "assessed-db.jsonl")]

    return command


def _dask(ctx: Context) -> list[str]:
    return [*SANGAO, "assess", "--executor", "dask", "--workers", "2",
            "--roster", str(data.buckets(ctx.roster, ctx.out_dir, ctx.size)), "--as-of", AS_OF,
            "--format", "parquet", "--out", str(ctx.out_dir / f"assessed-dask-{ctx.size}")]


def _plan(workers: Callable[[Context], int], formats: tuple[str, ...] = ("csv", "ics")):
    def command(ctx: Context) -> list[str]:
        return [*SANGAO, "plan", "--all", "--db", str(_stored(ctx)), "--as-of", AS_OF,
                "--workers", str(workers(ctx)), *(f for name in formats for f in ("--format", name)),
                "--out", str(_plans_out(ctx))]

    return command


def _plans_out(ctx: Context) -> Path:
    return ctx.out_dir / f"plans-{ctx.size}"


def _plans_removed(ctx: Context) -> None:
    """The plan files, once timed: a million patients' ICS alone would take some 9 GB of disk."""
    shutil.rmtree(_plans_out(ctx), ignore_errors=True)


def _worklist(ctx: Context) -> list[str]:
    stored = _stored(ctx)
    team, _ = data.largest_team(stored)
    return [*SANGAO, "worklist", "--team", team, "--week", "--db", str(stored), "--as-of", AS_OF]


def _report(workers: Callable[[Context], int]):
    def command(ctx: Context) -> list[str]:
        return [*SANGAO, "report", "monthly", "--month", data.REPORT_MONTH, "--as-of", AS_OF,
                "--db", str(ctx.out_dir / f"report-{ctx.size}.db"), "--workers", str(workers(ctx)),
                "--out", str(ctx.out_dir / f"report-{ctx.size}")]

    return command


PG_IMPORT = "sangao_bench_import"

MEASURES: list[Measure] = [
    Measure("hand-written", run=hand_written, tags=("assess", "hand")),
    Measure("import SQLite", command=_import(lambda ctx: str(ctx.out_dir / f"stored-{ctx.size}.db")),
            setup=lambda ctx: data.import_target(ctx.out_dir, ctx.size), tags=("import",)),
    Measure("import PG", command=_import(lambda ctx: data.pg_url(ctx.pg, PG_IMPORT)),
            setup=lambda ctx: data.fresh_pg_database(ctx.pg, PG_IMPORT), when=lambda ctx: ctx.pg is not None,
            tags=("import", "pg")),
    Measure("assess python", command=_assess("python", lambda ctx: 1), tags=("assess",)),
    Measure("assess python", workers=lambda ctx: ctx.workers,
            command=_assess("python", lambda ctx: ctx.workers), tags=("assess",)),
    Measure("assess durable", command=_assess("durable", lambda ctx: 1, _head),
            patients=lambda ctx: min(ctx.size, ctx.durable_patients), tags=("assess", "durable")),
    Measure("assess durable", workers=lambda ctx: ctx.workers,
            command=_assess("durable", lambda ctx: ctx.workers, _head),
            patients=lambda ctx: min(ctx.size, ctx.durable_patients), tags=("assess", "durable")),
    Measure("assess --db", command=_assess_db(lambda ctx: 1), setup=_stored, tags=("assess", "db")),
    Measure("assess --db", workers=lambda ctx: ctx.workers, command=_assess_db(lambda ctx: ctx.workers),
            setup=_stored, tags=("assess", "db")),
    Measure("assess dask", workers=lambda ctx: 2, command=_dask,
            setup=lambda ctx: data.buckets(ctx.roster, ctx.out_dir, ctx.size), tags=("assess", "dask")),
    Measure("plan --all", command=_plan(lambda ctx: 1), setup=_stored, max_size=100_000, tags=("plan",),
            cleanup=_plans_removed),
    Measure("plan --all", workers=lambda ctx: ctx.workers, command=_plan(lambda ctx: ctx.workers),
            setup=_stored, max_size=100_000, tags=("plan",), cleanup=_plans_removed),
    # above 100,000 patients the appointments CSV only (and the plans stored): with the teams' ICS
    # files a million patients' plans need some 15 GB of disk at once
    Measure("plan --all csv", workers=lambda ctx: ctx.workers,
            command=_plan(lambda ctx: ctx.workers, ("csv",)), setup=_stored,
            when=lambda ctx: ctx.size > 100_000, tags=("plan",), cleanup=_plans_removed),
    Measure("worklist team", command=_worklist, setup=_stored, tags=("worklist",)),
    Measure("report monthly", command=_report(lambda ctx: 1), tags=("report",),
            setup=lambda ctx: data.report_db(ctx.roster, ctx.out_dir, ctx.size)),
    Measure("report monthly", workers=lambda ctx: ctx.workers, command=_report(lambda ctx: ctx.workers),
            tags=("report",), setup=lambda ctx: data.report_db(ctx.roster, ctx.out_dir, ctx.size)),
]


def roster(folder: Path, size: int) -> Path:
    path = folder / f"roster-{size}.jsonl"
    if not path.exists():
        print(f"generating {size:,} patients → {path}", file=sys.stderr)
        subprocess.run([*SANGAO, "roster", "generate", "-n", str(size), "--seed", "3", "--as-of", AS_OF,
                        "--out", str(path)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return path


# GNU time reports the peak of the command it starts. The kernel counts in a child's peak the peak of
# the process that started it (its memory until the child's exec), so this process, which grows
# while it writes the buckets, would put a floor under every child's figure.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def time_child(argv: list[str], env: dict) -> tuple[float, float, float]:
    """(wall seconds, peak MB of the largest process, CPU seconds of it and its workers) of one child.
    Linux counts in a process's usage every descendant it waited for: its workers."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
        wrapped = [GNU_TIME, "-f", "%M", "-o", peak.name, *argv] if GNU_TIME else argv
        start = time.perf_counter()  # a file for stderr, not a pipe: a chatty child never blocks on it
        proc = subprocess.Popen(wrapped, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            said = err.read().decode(errors="replace")
            raise RuntimeError(f"{' '.join(argv[3:7])}… failed: {said[-2000:]}")
        kilobytes = int(peak.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    return seconds, kilobytes / 1024, usage.ru_utime + usage.ru_stime


def run_one(measure: Measure, ctx: Context, env: dict) -> tuple[float, float, float]:
    if measure.command is not None:
        return time_child(measure.command(ctx), env)
    context = json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in ctx.__dict__.items()})
    index = str(MEASURES.index(measure))
    return time_child([sys.executable, __file__, "--one", index, "--context", context], env)


def _one(index: int, context: str) -> None:
    raw = json.loads(context)
    MEASURES[index].run(Context(**{k: Path(v) if k in PATHS else v for k, v in raw.items()}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="roster sizes, comma-separated")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="N of the N-worker run")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; best and median are printed")
    ap.add_argument("--durable-patients", type=int, default=2000, help="patients the durable runs assess")
    ap.add_argument("--only", default=None,
                    help="only measures of these tags, comma-separated (import, pg, assess, durable, db, "
                         "dask, plan, worklist, report)")
    ap.add_argument("--pg", metavar="URL", help="a PostgreSQL server (SQLAlchemy URL) to import into too")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sangao-bench"), help="rosters and outputs")
    ap.add_argument("--csv", type=Path, default=ROOT / "bench" / "results.csv", help="rows appended here")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--context", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        _one(args.one, args.context)
        return 0
    if GNU_TIME is None:
        print("no /usr/bin/time (Debian: apt-get install time): peak MB includes this process's own peak",
              file=sys.stderr)
    os.umask(0o077)  # rosters, databases and outputs hold patient data: owner-only, as sangao writes them
    args.dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(args.dir / "cache")}
    # as a user's runs: bytecode written once and read back (with it off, every run compiles sangao's
    # own modules again, a tenth of a second of each start-up)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    tags = set(args.only.split(",")) if args.only else None
    measures = [m for m in MEASURES if tags is None or tags & set(m.tags)]
    if not any("assess" in m.tags and "hand" not in m.tags for m in measures):  # nothing to compare with it
        measures = [m for m in measures if "hand" not in m.tags]
    elif not any("hand" in m.tags for m in measures):
        measures.insert(0, MEASURES[0])
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for size in (int(s) for s in args.sizes.split(",")):
        ctx = Context(roster(args.dir, size), size, args.workers, args.dir, args.durable_patients,
                      args.dir / "cache", args.pg)
        subprocess.run(_assess("python", lambda c: 1)(Context(_head(ctx), 1, 1, args.dir, 1, ctx.cache_dir)),
                       cwd=ROOT, env=env, check=True, capture_output=True)  # warms the set cache
        chosen = [m for m in measures if (m.max_size is None or size <= m.max_size) and m.when(ctx)]
        times: dict[int, list[tuple[float, float, float]]] = {i: [] for i in range(len(chosen))}
        for _ in range(args.repeat):  # rounds: every measure once per round, so drift hits all alike
            for i, m in enumerate(chosen):
                if m.setup is not None:
                    m.setup(ctx)
                times[i].append(run_one(m, ctx, env))
                if m.cleanup is not None:
                    m.cleanup(ctx)
        rows = _rows(chosen, times, ctx, stamp)
        _print(rows, os.getloadavg())
        _append(args.csv, rows)
    return 0


def _rows(chosen: list[Measure], times: dict[int, list[tuple[float, float, float]]], ctx: Context,
          stamp: str) -> list[dict]:
    hand = next((times[i] for i, m in enumerate(chosen) if "hand" in m.tags), None)
    rows = []
    for i, m in enumerate(chosen):
        secs = [s for s, _, _ in times[i]]
        cpus = [c for _, _, c in times[i]]
        n = m.patients(ctx)
        row = {
            "when": stamp, "size": ctx.size, "measure": m.name, "workers": m.workers(ctx), "patients": n,
            "best_s": round(min(secs), 3), "median_s": round(statistics.median(secs), 3),
            "best_per_s": round(n / min(secs)), "median_per_s": round(n / statistics.median(secs)),
            "x_hand_best": "", "x_hand_median": "", "cpu_s": round(statistics.median(cpus), 3),
            "x_hand_cpu": "",
            "peak_mb": round(max(p for _, p, _ in times[i])), "rounds": len(secs),
        }
        if hand is not None and "assess" in m.tags:
            # the ratio per round (hand-written time scaled to this measure's patients / its time)
            ratios = [h * n / ctx.size / s for (h, _, _), s in zip(hand, secs, strict=True)]
            # the same with CPU seconds (all processes): steadier when other work shares the cores
            cpu_ratios = [h * n / ctx.size / c for (_, _, h), c in zip(hand, cpus, strict=True)]
            row.update(x_hand_best=round(max(ratios), 2), x_hand_median=round(statistics.median(ratios), 2),
                       x_hand_cpu=round(statistics.median(cpu_ratios), 2))
        rows.append(row)
    return rows


def _append(path: Path, rows: list[dict]) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
    print(f"appended {len(rows)} rows to {path}")


def _print(rows: list[dict], load: tuple[float, float, float]) -> None:
    """The table (80 columns): `×hand` and `cpu×` only for the assess measures."""
    head = (f"{'size':>9} {'measure':<14} {'w':>1} {'best s':>7} {'med s':>7} {'cpu s':>7} {'best/s':>7} "
            f"{'×hand':>5} {'cpu×':>5} {'MB':>5}")
    print(head)
    print("-" * len(head))

    def ratio(value) -> str:
        return f"{value:>5.2f}" if value != "" else f"{'-':>5}"

    for r in rows:
        print(f"{r['size']:>9,} {r['measure']:<14} {r['workers']:>1} {r['best_s']:>7.2f} "
              f"{r['median_s']:>7.2f} {r['cpu_s']:>7.2f} {r['best_per_s']:>7,} {ratio(r['x_hand_best'])} "
              f"{ratio(r['x_hand_cpu'])} {r['peak_mb']:>5}")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          "cpu s: median of the rounds, all processes")


if __name__ == "__main__":
    sys.exit(main())
