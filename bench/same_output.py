"""Behaviour unchanged by a refactoring: the same commands on another revision's code and on this
working tree, their outputs compared byte for byte.

    .venv/bin/python bench/same_output.py main [-n 10000] [--dir D]

The revision is unpacked with `git archive` into D/base; each side runs `python -c "import cli;
cli.main()"` from its own folder (with this .venv's Python). Each side generates its roster
(`sangao roster generate -n N --seed 3 --as-of 2026-11-30`, JSONL and the CSV set), then assesses it
(JSONL on the hot path; JSONL with a filter, CSV and the table on the record path), runs the
guideline cases, imports the roster into SQLite and makes the week's worklist and the monthly
report's CSV and drill-down from it (the HTML page and the database are stamped with the time:
left out). Prints one line a file: identical or DIFFERENT, with its size and hash. Exit 1 when
anything differs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-30"


def unpack(rev: str, folder: Path) -> None:
    """The tree of `rev` into `folder`."""
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "archive", "--format=tar", rev], stdout=archive, check=True, cwd=ROOT)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(folder, filter="data")


def run(code: Path, out: Path, n: int) -> dict[str, float]:
    """Every command's output into `out`; returns the wall seconds of each step."""
    out.mkdir(parents=True, exist_ok=True)
    roster, db = out / "roster.jsonl", out / "sangao.db"
    steps = {
        "generate": ["roster", "generate", "-n", str(n), "--seed", "3", "--as-of", AS_OF,
                     "--out", str(roster)],
        "generate-csv": ["roster", "generate", "-n", str(min(n, 2000)), "--seed", "3", "--as-of", AS_OF,
                         "--format", "csv", "--out", str(out / "csv")],
        "assess-jsonl": ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "jsonl",
                         "--out", str(out / "assess.jsonl")],
        "assess-red-jsonl": ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "jsonl",
                             "--color", "red", "--out", str(out / "assess-red.jsonl")],
        "assess-csv": ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "csv",
                       "--out", str(out / "assess.csv")],
        "assess-table": ["assess", "--roster", str(roster), "--as-of", AS_OF, "--limit", "200",
                         "--format", "table", "--out", str(out / "assess-table.txt")],
        "guidelines-test": ["guidelines", "test"],
        "import": ["roster", "import", str(roster), "--db", str(db), "--as-of", AS_OF],
        "worklist": ["worklist", "--db", str(db), "--as-of", AS_OF, "--week", "--format", "csv",
                     "--out", str(out / "worklist.csv")],
        "report-monthly": ["report", "monthly", "--db", str(db), "--as-of", AS_OF, "--no-pdf",
                           "--out", str(out / "monthly")],
        "report-patients": ["report", "patients", "--db", str(db), "--as-of", AS_OF, "--indicator", "H02"],
    }
    seconds = {}
    for name, args in steps.items():
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=code,
                                capture_output=True, env={**os.environ, "COLUMNS": "1000"})
        seconds[name] = time.perf_counter() - start
        # what a command prints (the paths differ between the sides: each names its own folder)
        (out / f"{name}.stdout").write_bytes(result.stdout.replace(str(out).encode(), b"OUT"))
        (out / f"{name}.stderr").write_bytes(result.stderr.replace(str(out).encode(), b"OUT"))
        (out / f"{name}.rc").write_text(str(result.returncode))
    for page in (out / "monthly").glob("*.html"):
        page.unlink()  # stamped with the time it was made
    db.unlink(missing_ok=True)  # stamped with the time of the import
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="the revision to compare with (main, a commit)")
    ap.add_argument("-n", type=int, default=10000, help="roster size")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="sangao-same-"))
    base = work / "base"
    if not base.exists():
        unpack(args.rev, base)
    # folders of the same length: a message that names one wraps where the other's would
    before = run(base, work / "old", args.n)
    after = run(ROOT, work / "new", args.n)
    differ = 0
    for path in sorted((work / "old").rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(work / "old")
        other = work / "new" / rel
        same = other.exists() and other.read_bytes() == path.read_bytes()
        differ += not same
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        print(f"{'identical' if same else 'DIFFERENT'}  {rel}  {path.stat().st_size:,} bytes  {digest}")
    for name in before:
        print(f"{name}: {before[name]:.2f} s before, {after[name]:.2f} s after (wall)")
    print(f"{differ} file(s) differ; outputs in {work}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
