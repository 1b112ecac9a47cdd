"""The benchmark suite: one command, a table on the terminal and rows appended to a CSV.

    .venv/bin/python bench/suite.py                                # 10,000 and 100,000 patients
    .venv/bin/python bench/suite.py --sizes 10000,100000,1000000 --repeat 3
    .venv/bin/python bench/suite.py --only assess --sizes 1000000 --repeat 1

For each roster size (generated once into --dir by `sangao roster generate --seed 3`), every measure of
MEASURES runs --repeat times, each in a fresh process: wall time, patients/s and peak resident memory
(of the process and, for worker pools, of its largest worker). Beside `sangao assess`, the national-
default pipeline written by hand with stdlib json (bench/hand_written.py) runs on the same roster in
the same round, so `× hand` (its time over the measure's) holds on a machine whose speed drifts; best
and median of the rounds are printed, and `cpu×` (the same ratio with the CPU seconds of all the
processes, steadier on a shared machine; for N workers it shows the cost of parallelism, not its
gain). Numbers are printed and recorded, never asserted.

To add a measure (import, plan, worklist, the monthly report): append a `Measure` to MEASURES whose
`command(ctx)` returns the argv to time (or whose `run(ctx)` does the work in-process) and the number
of patients it handled.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-30"
SANGAO = [sys.executable, "-c", "import cli; cli.main()"]


@dataclass
class Context:
    roster: Path
    size: int
    workers: int
    out_dir: Path
    durable_patients: int
    cache_dir: Path


@dataclass
class Measure:
    name: str
    workers: Callable[[Context], int] = lambda ctx: 1
    command: Callable[[Context], list[str]] | None = None  # timed as a child process
    run: Callable[[Context], int] | None = None  # timed in a child `bench/suite.py --one` process
    patients: Callable[[Context], int] = lambda ctx: ctx.size
    max_size: int | None = None  # skipped above this roster size
    tags: tuple[str, ...] = field(default=())


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


MEASURES: list[Measure] = [
    Measure("hand-written", run=hand_written, tags=("assess", "hand")),
    Measure("assess python", command=_assess("python", lambda ctx: 1), tags=("assess",)),
    Measure("assess python", workers=lambda ctx: ctx.workers,
            command=_assess("python", lambda ctx: ctx.workers), tags=("assess",)),
    Measure("assess durable", command=_assess("durable", lambda ctx: 1, _head),
            patients=lambda ctx: min(ctx.size, ctx.durable_patients), tags=("assess", "durable")),
    Measure("assess durable", workers=lambda ctx: ctx.workers,
            command=_assess("durable", lambda ctx: ctx.workers, _head),
            patients=lambda ctx: min(ctx.size, ctx.durable_patients), tags=("assess", "durable")),
]


def roster(folder: Path, size: int) -> Path:
    path = folder / f"roster-{size}.jsonl"
    if not path.exists():
        print(f"generating {size:,} patients → {path}", file=sys.stderr)
        subprocess.run([*SANGAO, "roster", "generate", "-n", str(size), "--seed", "3", "--as-of", AS_OF,
                        "--out", str(path)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return path


def _peak_mb(usage: resource.struct_rusage) -> float:
    return usage.ru_maxrss / 1024  # Linux: kilobytes


def time_child(argv: list[str], env: dict) -> tuple[float, float, float]:
    """(wall seconds, peak MB of the largest process, CPU seconds of it and its workers) of one child."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}… failed: {proc.stderr.read().decode()[-2000:]}")
    # a pool's workers are grandchildren: the child reports theirs when it runs `--one`; for a CLI
    # command the worker peak is not visible from here, so the largest of child and grandchildren
    # that wait4 saw is reported
    return seconds, _peak_mb(usage), usage.ru_utime + usage.ru_stime


def run_one(measure: Measure, ctx: Context, env: dict) -> tuple[float, float, float]:
    if measure.command is not None:
        return time_child(measure.command(ctx), env)
    argv = [sys.executable, __file__, "--one", str(MEASURES.index(measure)), "--context", json.dumps(
        {k: str(v) if isinstance(v, Path) else v for k, v in ctx.__dict__.items()})]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{measure.name} failed: {proc.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"], cpu


def _one(index: int, context: str) -> None:
    raw = json.loads(context)
    ctx = Context(**{k: Path(v) if k in ("roster", "out_dir", "cache_dir") else v for k, v in raw.items()})
    MEASURES[index].run(ctx)
    peak = max(_peak_mb(resource.getrusage(resource.RUSAGE_SELF)),
               _peak_mb(resource.getrusage(resource.RUSAGE_CHILDREN)))
    print(json.dumps({"peak_mb": peak}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="roster sizes, comma-separated")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="N of the N-worker run")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; best and median are printed")
    ap.add_argument("--durable-patients", type=int, default=2000, help="patients the durable runs assess")
    ap.add_argument("--only", default=None, help="only measures with this tag (assess, durable, hand)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sangao-bench"), help="rosters and outputs")
    ap.add_argument("--csv", type=Path, default=ROOT / "bench" / "results.csv", help="rows appended here")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--context", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        _one(args.one, args.context)
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(args.dir / "cache")}
    # as a user's runs: bytecode written once and read back (with it off, every run compiles sangao's
    # own modules again, a tenth of a second of each start-up)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    measures = [m for m in MEASURES if args.only is None or args.only in m.tags or "hand" in m.tags]
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        ctx = Context(
            roster(args.dir, size), size, args.workers, args.dir, args.durable_patients, args.dir / "cache"
        )
        subprocess.run(_assess("python", lambda c: 1)(Context(_head(ctx), 1, 1, args.dir, 1, ctx.cache_dir)),
                       cwd=ROOT, env=env, check=True, capture_output=True)  # warms the set cache
        times: dict[int, list[tuple[float, float, float]]] = {i: [] for i in range(len(measures))}
        for _ in range(args.repeat):  # rounds: every measure once per round, so drift hits all alike
            for i, m in enumerate(measures):
                if m.max_size is None or size <= m.max_size:
                    times[i].append(run_one(m, ctx, env))
        hand = [s for s, _, _ in times[0]]
        hand_cpu = [c for _, _, c in times[0]]
        for i, m in enumerate(measures):
            if not times[i]:
                continue
            secs = [s for s, _, _ in times[i]]
            cpus = [c for _, _, c in times[i]]
            n = m.patients(ctx)
            # the ratio per round (hand-written time scaled to this measure's patients / its time)
            ratios = [h * n / size / s for h, s in zip(hand, secs, strict=True)]
            # the same with CPU seconds (all processes): steadier when other work shares the cores
            cpu_ratios = [h * n / size / c for h, c in zip(hand_cpu, cpus, strict=True)]
            rows.append({
                "when": stamp, "size": size, "measure": m.name, "workers": m.workers(ctx), "patients": n,
                "best_s": round(min(secs), 3), "median_s": round(statistics.median(secs), 3),
                "best_per_s": round(n / min(secs)), "median_per_s": round(n / statistics.median(secs)),
                "x_hand_best": round(max(ratios), 2), "x_hand_median": round(statistics.median(ratios), 2),
                "cpu_s": round(statistics.median(cpus), 3),
                "x_hand_cpu": round(statistics.median(cpu_ratios), 2),
                "peak_mb": round(max(p for _, p, _ in times[i])), "rounds": len(secs),
            })
    _print(rows)
    new = not args.csv.exists()
    with open(args.csv, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


def _print(rows: list[dict]) -> None:
    head = (f"{'size':>9} {'measure':<15} {'w':>1} {'best s':>7} {'med s':>7} {'best/s':>7} {'×hand':>5} "
            f"{'med×':>5} {'cpu×':>5} {'MB':>5}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:>9,} {r['measure']:<15} {r['workers']:>1} {r['best_s']:>7.2f} "
              f"{r['median_s']:>7.2f} {r['best_per_s']:>7,} {r['x_hand_best']:>5.2f} "
              f"{r['x_hand_median']:>5.2f} {r['x_hand_cpu']:>5.2f} {r['peak_mb']:>5}")


if __name__ == "__main__":
    sys.exit(main())
