"""Byte-identity guard for the assessment output while the hot path changes.

    .venv/bin/python bench/assess_golden.py save  [--dir D] [-n 10000]   # write the reference JSONL
    .venv/bin/python bench/assess_golden.py check [--dir D] [--workers N] # assess again, compare

Generates a roster (`sangao roster generate -n N --seed 3 --as-of 2026-11-30`) once into --dir, runs
`sangao assess --format jsonl` on it and saves (or compares with) the JSONL, line by line: the first
differing line is printed. Exit 1 when anything differs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANGAO = [sys.executable, "-c", "import cli; cli.main()"]
AS_OF = "2026-11-30"


def roster(folder: Path, n: int) -> Path:
    path = folder / f"roster-{n}.jsonl"
    if not path.exists():
        subprocess.run([*SANGAO, "roster", "generate", "-n", str(n), "--seed", "3", "--as-of", AS_OF,
                        "--out", str(path)], check=True, cwd=ROOT)
    return path


def assess(path: Path, out: Path, extra: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*SANGAO, "assess", "--roster", str(path), "--as-of", AS_OF, "--format", "jsonl",
                    "--provisional-calendar", "--out", str(out), *extra], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("save", "check"))
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sangao-golden"))
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = roster(args.dir, args.n)
    reference = args.dir / f"assessed-{args.n}.jsonl"
    extra = [] if args.workers is None else ["--workers", str(args.workers)]
    if args.mode == "save":
        seconds = assess(path, reference, extra)
        print(f"saved {reference} in {seconds:.1f} s")
        return 0
    fresh = args.dir / f"assessed-{args.n}.new.jsonl"
    seconds = assess(path, fresh, extra)
    old, new = reference.read_bytes().splitlines(), fresh.read_bytes().splitlines()
    for i, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            print(f"line {i} differs:\n- {a.decode()[:600]}\n+ {b.decode()[:600]}")
            return 1
    if len(old) != len(new):
        print(f"line counts differ: {len(old)} saved, {len(new)} now")
        return 1
    print(f"identical: {len(new)} lines ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
