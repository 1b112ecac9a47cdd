"""Time and peak memory of `sangao report monthly` on a generated roster with years of history.

    .venv/bin/python bench/report_bench.py                     # 100,000 patients
    .venv/bin/python bench/report_bench.py --patients 5000 --skip-cold
    .venv/bin/python bench/report_bench.py --workers 2             # rows built in 2 processes

Phases, each in a fresh process so its peak RSS is its own (one core, or --workers processes building
the rows; their CPU is counted, their memory is not), as a county runs them:
  cold     no stored rows: last month's report (the month before the report month) builds its
           12 months of patient-month rows, then counts them
  monthly  the steady state, this month's report after last month's: the report month's rows are
           built (with the decisions kept at the latest visits), the 11 earlier months' rows are
           reused; the first month and the report month are counted, the others' sums reused
  warm     everything stored: a re-run reads and hashes the records, takes the 12 months' sums
           from the stored tallies
  count-N  counting the rows of N stored months alone, stored sums dropped (N = 1, 3, 12):
           memory should not grow with N
Wall and CPU seconds are both printed: on a shared machine the CPU time of the one process is
the steadier number. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process and of the workers it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def phase(db: str, month: str, name: str, workers: int = 1) -> None:
    """Run one phase in this process and print a JSON line of its numbers."""
    from pathways.monthly import Window
    from reports import monthly as mr
    from reports.indicators import indicators

    url = f"sqlite:///{db}"
    started, cpu = time.perf_counter(), _cpu()
    if name.startswith("count-"):
        n = int(name.split("-")[1])
        months = mr.report_months(month)
        builder = mr.RowBuilder("national-default", months, True, Window.YTD)
        summary = mr.ensure_rows(url, builder, months)
        import sqlite3

        with sqlite3.connect(db) as conn:  # count the rows, not the stored tallies
            conn.execute("DELETE FROM month_tallies")
        counted, cpu = time.perf_counter(), _cpu()
        mr.count_months(
            url, builder.basis.key, months[-n:], summary, indicators(mr.complications_of(builder))
        )
        print(
            json.dumps(
                {
                    "phase": name,
                    "seconds": round(time.perf_counter() - counted, 2),
                    "cpu_seconds": round(_cpu() - cpu, 2),
                    "peak_mb": round(_peak_mb(), 1),
                }
            )
        )
        return
    if name == "cold":  # last month's report, on an empty store
        month = mr.shift_month(month, -1)
    builder, summary, _counts = mr.prepare(url, "national-default", month, Window.YTD, True,
                                           workers=workers)
    print(
        json.dumps(
            {
                "phase": name,
                "seconds": round(time.perf_counter() - started, 2),
                "cpu_seconds": round(_cpu() - cpu, 2),
                "peak_mb": round(_peak_mb(), 1),
                "rows_built": summary.built,
                "rows_reused": summary.reused,
                "patients": summary.patients,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default="2026-11-30", help="roster date; the report month is its month")
    parser.add_argument("--skip-cold", action="store_true", help="build the stored rows without timing them")
    parser.add_argument("--workers", type=int, default=1, help="processes that build the rows")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    month = args.as_of[:7]
    if args.phase:
        phase(args.db, month, args.phase, args.workers)
        return

    import store
    from pathways.synthetic import generate_jsonl

    with tempfile.TemporaryDirectory(prefix="sangao-report-bench-") as tmp:
        roster, db = Path(tmp) / "roster.jsonl", Path(tmp) / "bench.db"
        started = time.perf_counter()
        with roster.open("w", encoding="utf-8") as f:
            for line in generate_jsonl(args.patients, args.seed, date.fromisoformat(args.as_of)):
                f.write(line + "\n")
        store.import_files([roster], f"sqlite:///{db}", date.fromisoformat(args.as_of))
        took = time.perf_counter() - started
        print(f"roster: {args.patients:,} patients generated and imported in {took:.1f} s")

        def run(name: str) -> dict:
            out = subprocess.run(
                [sys.executable, __file__, "--phase", name, "--db", str(db), "--as-of", args.as_of,
                 "--workers", str(args.workers)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            per = ""
            if result.get("rows_built"):
                per = f"  ({1e3 * result['cpu_seconds'] / result['rows_built']:.2f} cpu ms per built row)"
            print(
                f"{name:>9}: {result['seconds']:8.1f} s (cpu {result['cpu_seconds']:7.1f} s)  "
                f"peak {result['peak_mb']:7.1f} MB  "
                + (
                    f"built {result.get('rows_built', 0):,} reused {result.get('rows_reused', 0):,}"
                    if "rows_built" in result
                    else ""
                )
                + per
            )
            return result

        if args.skip_cold:
            subprocess.run(
                [sys.executable, __file__, "--phase", "cold", "--db", str(db), "--as-of", args.as_of,
                 "--workers", str(args.workers)],
                capture_output=True,
                check=True,
            )
        else:
            run("cold")
        run("monthly")
        run("warm")
        for n in (1, 3, 12):
            run(f"count-{n}")


if __name__ == "__main__":
    main()
