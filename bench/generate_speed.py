"""Synthetic roster generation speed (pathways/synthetic.py): patients per second to JSONL text,
to validated Patient models, and to the CSV tables. Prints numbers; asserts nothing.

    .venv/bin/python bench/generate_speed.py [PATIENTS]   (default 100000)
"""

from __future__ import annotations

import sys
import time
from datetime import date

from pathways.synthetic import generate_csv_rows, generate_jsonl, generate_roster

AS_OF = date(2026, 11, 30)


def _rate(label: str, n: int, stream) -> None:
    start = time.perf_counter()
    size = 0
    for item in stream:
        size += len(item) if isinstance(item, str) else 1
    seconds = time.perf_counter() - start
    print(f"{label:<28} {n:>8} patients {seconds:7.2f} s {n / seconds:9.0f} patients/s")
    return size


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    chars = _rate("jsonl lines", n, generate_jsonl(n, 1, AS_OF))
    print(f"{'':<28} {chars / n:8.0f} characters per patient line")
    _rate("validated Patient models", min(n, 20_000), generate_roster(min(n, 20_000), 1, AS_OF))
    _rate("csv rows", min(n, 20_000), generate_csv_rows(min(n, 20_000), 1, AS_OF))


if __name__ == "__main__":
    main()
