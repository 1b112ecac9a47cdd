"""Tabular (CSV set) import throughput: a generated roster (pathways.synthetic) written as the CSV
set `sangao roster generate --format csv` writes, then read by the tabular reader alone and imported
into a fresh SQLite file. Prints patients/s, rows/s and peak RSS for each. Not a test.

    .venv/bin/python bench/tabular_bench.py --patients 20000 --repeat 3
    .venv/bin/python bench/tabular_bench.py --patients 20000 --spill-memory 0   # every child row on disk

To compare with an older tree, run it from that tree (`git worktree add /tmp/old <commit>`, then
PYTHONPATH=/tmp/old) and alternate old and new runs: this machine's speed drifts by a third, so
compare the best of a few runs, wall and CPU. --spill-memory sets store.readers.tabular.SPILL_MEMORY
(bytes of parked child rows held in memory before the rest go to a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from pathways.synthetic import CSV_TABLES, generate_csv_rows
from store.importer import import_files
from store.readers import group_sources, tabular


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--repeat", type=int, default=1, help="best and median of N runs of each")
    parser.add_argument("--spill-memory", type=int, help="bytes of parked child rows held in memory")
    args = parser.parse_args()
    if args.spill_memory is not None and hasattr(tabular, "SPILL_MEMORY"):
        tabular.SPILL_MEMORY = args.spill_memory

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "set"
        folder.mkdir()
        rows = 0
        files = {t: (folder / f"{t}.csv").open("w", encoding="utf-8-sig", newline="") for t in CSV_TABLES}
        try:
            writers = {t: csv.writer(f) for t, f in files.items()}
            for t, columns in CSV_TABLES.items():
                writers[t].writerow([header for _, header in columns])
            for t, row in generate_csv_rows(args.patients, args.seed, args.as_of):
                writers[t].writerow(row)
                rows += 1
        finally:
            for f in files.values():
                f.close()
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"roster: {args.patients} patients, {rows} rows in {len(files)} CSV files ({size:.1f} MB)")

        reads = []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            items = 0
            for source in group_sources([folder]):
                for _item in tabular.read_tabular(source, None):
                    items += 1
            reads.append((time.perf_counter() - t0, time.process_time() - c0))
        _print("reader alone", reads, args.patients, rows)
        rss_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        imports = []
        for run in range(args.repeat):
            db = Path(tmp) / f"bench{run}.db"
            t0, c0 = time.perf_counter(), time.process_time()
            report = import_files([folder], str(db), args.as_of)
            imports.append((time.perf_counter() - t0, time.process_time() - c0))
            db.unlink()
        print(f"import: {report.patients_imported} imported, {report.rejected} rejected")
        _print("import", imports, args.patients, rows)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak RSS: {rss_read / 1024:.0f} MB after reading, {rss / 1024:.0f} MB after importing")


def _print(what: str, runs: list[tuple[float, float]], patients: int, rows: int) -> None:
    by_cpu = sorted(runs, key=lambda r: r[1])
    picks = [("best", by_cpu[0])] + ([("median", by_cpu[len(runs) // 2])] if len(runs) > 1 else [])
    for label, (wall, cpu) in picks:
        print(
            f"{what}, {label} of {len(runs)}: {wall:.2f} s wall, {cpu:.2f} s CPU → "
            f"{patients / wall:,.0f} patients/s, {rows / wall:,.0f} rows/s wall"
        )


if __name__ == "__main__":
    main()
