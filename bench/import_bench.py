"""Import throughput: a generated roster (pathways.synthetic) written as JSONL, then imported into a
fresh SQLite file (or --db URL). Prints patients/s, child rows/s and peak RSS. Not a test.

    .venv/bin/python bench/import_bench.py --patients 100000
    .venv/bin/python bench/import_bench.py --patients 20000 --db postgresql+psycopg://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from pathways.synthetic import generate_roster
from store.exporter import record_json
from store.importer import import_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--db", help="database URL to import into (default: a fresh temporary SQLite file)")
    args = parser.parse_args()

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
        t0, c0 = time.perf_counter(), time.process_time()
        report = import_files([roster], args.db or str(db), args.as_of)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"roster: {args.patients} patients, {children} child rows "
            f"({roster.stat().st_size / 1e6:.1f} MB JSONL, generated in {generated:.1f} s)"
        )
        print(
            f"import: {report.patients_imported} imported, {report.rejected} rejected, "
            f"{len(report.findings)} findings in {elapsed:.2f} s"
        )
        print(
            f"throughput: {report.patients_imported / elapsed:,.0f} patients/s wall, "
            f"{report.patients_imported / cpu:,.0f} patients/s per CPU second ({cpu:.2f} s CPU), "
            f"{children / elapsed:,.0f} child rows/s wall"
        )
        size = f"database {db.stat().st_size / 1e6:.1f} MB" if db.exists() else args.db.split("@")[-1]
        print(f"peak RSS: {rss_before / 1024:.0f} MB before import, {rss_after / 1024:.0f} MB after ({size})")


if __name__ == "__main__":
    main()
