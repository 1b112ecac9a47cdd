"""What bench/suite.py's measures run on besides the generated JSONL roster, made in its --dir
before the timing starts (never timed): the roster imported into SQLite, the roster as Parquet
buckets for Dask, the monthly report's stored history, fresh PostgreSQL databases.

Files are made once per run of the suite (`MADE`): a file left in --dir by an earlier run may hold
the tables of older code, so it is made again rather than trusted.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANGAO = [sys.executable, "-c", "import cli; cli.main()"]
AS_OF = "2026-11-30"
REPORT_MONTH = AS_OF[:7]  # the report timed: this month's, after last month's was made (its history)
BUCKETS = 8  # Parquet buckets for Dask: four per worker process of the 2-worker cluster

MADE: set[Path] = set()


def sangao(*args: str, env: dict | None = None) -> None:
    """Run a sangao command to make a file (output discarded, the error shown when it fails)."""
    proc = subprocess.run([*SANGAO, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"sangao {' '.join(args[:3])}… failed: {proc.stderr[-2000:]}")


def remove_db(path: Path) -> None:
    """A SQLite file and its WAL and shared-memory files."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


def import_target(out_dir: Path, size: int) -> Path:
    """Where the timed import into SQLite writes: the stored database the other measures read.
    Emptied before each round; counted as made (the import measure makes it)."""
    path = out_dir / f"stored-{size}.db"
    remove_db(path)
    MADE.add(path)
    return path


def stored_db(roster: Path, out_dir: Path, size: int) -> Path:
    """The roster imported into SQLite (by the import measure of this run, else here)."""
    path = out_dir / f"stored-{size}.db"
    if path not in MADE:
        print(f"importing {size:,} patients → {path}", file=sys.stderr)
        remove_db(path)
        sangao("roster", "import", str(roster), "--db", str(path), "--as-of", AS_OF)
        MADE.add(path)
    return path


def copy_db(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (the backup API, not a file copy)."""
    remove_db(target)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def report_history(roster: Path, out_dir: Path, size: int) -> Path:
    """The stored database after last month's report was made (12 months of patient-month rows):
    what a county has when it makes this month's report."""
    path = out_dir / f"report-history-{size}.db"
    if path not in MADE:
        stored = stored_db(roster, out_dir, size)
        print(f"last month's report on {size:,} patients (the stored history) → {path}", file=sys.stderr)
        copy_db(stored, path)
        started = time.perf_counter()
        sangao("report", "monthly", "--month", month_before(REPORT_MONTH), "--db", str(path), "--no-pdf",
               "--out", str(out_dir / f"report-history-{size}"))
        print(f"  made in {time.perf_counter() - started:.1f} s (workers: the cores)", file=sys.stderr)
        MADE.add(path)
    return path


def month_before(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def report_db(roster: Path, out_dir: Path, size: int) -> Path:
    """A fresh copy of the report history for one timed round (a report stores its month's rows:
    the next round would only read them back)."""
    path = out_dir / f"report-{size}.db"
    copy_db(report_history(roster, out_dir, size), path)
    return path


def buckets(roster: Path, out_dir: Path, size: int) -> Path:
    """The roster as Parquet buckets (store/parquet.py `write_buckets`, the writer of `roster export
    --format parquet`), written from the generated JSONL: exporting from the database would take
    longer than the run it feeds."""
    folder = out_dir / f"buckets-{size}"
    if folder not in MADE:
        from store.parquet import write_buckets

        print(f"{size:,} patients → {BUCKETS} Parquet buckets in {folder}", file=sys.stderr)
        with open(roster, encoding="utf-8") as f:
            write_buckets(((json.loads(line), line.rstrip("\n")) for line in f if line.strip()), folder,
                          BUCKETS)
        MADE.add(folder)
    return folder


def largest_team(db: Path) -> tuple[str, int]:
    """The team with the most patients in a stored SQLite database, and how many it has."""
    with sqlite3.connect(db) as conn:
        team, count = conn.execute(
            "select team, count(*) from patients where team is not null group by team "
            "order by count(*) desc, team limit 1").fetchone()
    conn.close()
    return team, count


def pg_url(server_url: str, name: str) -> str:
    """The SQLAlchemy URL of the database `name` on the PostgreSQL server of `server_url`."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def fresh_pg_database(server_url: str, name: str) -> None:
    """A new empty database `name` on the PostgreSQL server of `server_url` (an old one of that
    name dropped first)."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
