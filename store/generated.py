"""Files of a generated roster (pathways/synthetic.py makes the records; this module writes them):
the interchange JSONL, or the Chinese-header CSV set a team's export resembles (one file a table).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import BinaryIO

from pathways.csv_safe import SafeWriter
from pathways.synthetic import CSV_TABLES, generate_csv_rows, generate_jsonl
from store.privacy import open_private


def write_jsonl(stream: BinaryIO, patients: int, seed: int, as_of: date) -> int:
    """One JSON object per line, UTF-8; returns how many were written."""
    for line in generate_jsonl(patients, seed, as_of):
        stream.write(line.encode() + b"\n")
    return patients


def write_jsonl_file(path: Path, patients: int, seed: int, as_of: date) -> int:
    """The roster as a JSONL file (owner-only; its folder made if missing); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(path, "wb") as f:
        return write_jsonl(f, patients, seed, as_of)


def write_csv_set(folder: Path, patients: int, seed: int, as_of: date) -> list[Path]:
    """The roster as one UTF-8 (BOM) CSV per table of CSV_TABLES in `folder`; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{table}.csv" for table in CSV_TABLES]
    files = {table: open_private(path, "w", encoding="utf-8-sig", newline="")
             for table, path in zip(CSV_TABLES, paths, strict=True)}
    try:
        writers = {table: SafeWriter(f) for table, f in files.items()}
        for table, columns in CSV_TABLES.items():
            writers[table].writerow([header for _, header in columns])
        rows: Iterable[tuple[str, list]] = generate_csv_rows(patients, seed, as_of)
        for table, row in rows:
            writers[table].writerow(row)
    finally:
        for f in files.values():
            f.close()
    return paths
