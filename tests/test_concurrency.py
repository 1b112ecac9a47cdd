"""Two sangao processes on one database: two imports at once, an import beside `assess --save`, on
SQLite (WAL, busy timeout, BEGIN IMMEDIATE for writers) and PostgreSQL (an advisory lock for
writers). Nothing is lost; when the wait for the other writer runs out the command exits 1 saying
which pid holds the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from roster_files import export
from sqlalchemy import text

from pathways.synthetic import generate_jsonl
from store.db import open_db

AS_OF = "2026-11-30"
ROOT = Path(__file__).resolve().parents[1]


def _roster(path: Path, n: int, prefix: str) -> set[str]:
    """A generated roster whose patient ids start with `prefix` (two rosters share no patient)."""
    ids = set()
    with path.open("w", encoding="utf-8") as f:
        for line in generate_jsonl(n, 3, date.fromisoformat(AS_OF)):
            record = json.loads(line)
            record["patient_id"] = prefix + record["patient_id"]
            ids.add(record["patient_id"])
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return ids


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    """Crash logs (there should be none) in the test's own folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _sangao(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", **(env or {})})


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def test_two_imports_at_once_both_land_in_full(db_url, tmp_path):
    first, second = _roster(tmp_path / "a.jsonl", 1000, "A"), _roster(tmp_path / "b.jsonl", 1000, "B")
    runs = [_sangao("roster", "import", str(tmp_path / name), "--db", db_url, "--as-of", AS_OF)
            for name in ("a.jsonl", "b.jsonl")]
    for code, out in map(_finish, runs):
        assert code == 0, out
    assert {r["patient_id"] for r in export(db_url)} == first | second


def test_an_import_beside_assess_save_loses_nothing(db_url, tmp_path):
    first = _roster(tmp_path / "a.jsonl", 1000, "A")
    code, out = _finish(_sangao("roster", "import", str(tmp_path / "a.jsonl"), "--db", db_url,
                                "--as-of", AS_OF))
    assert code == 0, out
    second = _roster(tmp_path / "b.jsonl", 1000, "B")
    assess = _sangao("assess", "--db", db_url, "--as-of", AS_OF, "--save", "--format", "jsonl",
                     "--provisional-calendar")
    load = _sangao("roster", "import", str(tmp_path / "b.jsonl"), "--db", db_url, "--as-of", AS_OF)
    (assess_code, assess_out), (load_code, load_out) = _finish(assess), _finish(load)
    assert load_code == 0, load_out
    assert assess_code == 0, assess_out
    assert {r["patient_id"] for r in export(db_url)} == first | second
    printed = {json.loads(line)["patient_id"] for line in assess_out.splitlines() if line.startswith("{")}
    db_engine = open_db(db_url)
    with db_engine.connect() as conn:
        saved = {pid for (pid,) in conn.execute(text("SELECT patient_id FROM assessments"))}
    db_engine.dispose()
    assert printed and saved == printed  # every assessment printed was saved


def test_a_writer_waits_for_another_and_then_lands(db_url, tmp_path):
    ids = _roster(tmp_path / "a.jsonl", 50, "A")
    holder = open_db(db_url, writer=True)
    conn = holder.connect()
    conn.begin()  # sangao's write lock, held by this process
    load = _sangao("roster", "import", str(tmp_path / "a.jsonl"), "--db", db_url, "--as-of", AS_OF)
    time.sleep(1.5)
    assert load.poll() is None  # still waiting for the lock
    conn.commit()
    conn.close()
    holder.dispose()
    code, out = _finish(load)
    assert code == 0, out
    assert {r["patient_id"] for r in export(db_url)} == ids


def test_when_the_wait_runs_out_the_command_names_the_pid_holding_the_database(db_url, tmp_path):
    _roster(tmp_path / "a.jsonl", 20, "A")
    holder = open_db(db_url, writer=True)
    conn = holder.connect()
    conn.begin()
    try:
        for env in ({}, {"SANGAO_LANG": "en"}):
            code, out = _finish(_sangao("roster", "import", str(tmp_path / "a.jsonl"), "--db", db_url,
                                        "--as-of", AS_OF, env={"SANGAO_DB_WAIT": "0.5", **env}))
            assert code == 1, out
            assert "R102" in out and f"pid {os.getpid()}" in out, out
            said = "database in use by another sangao" if env else "数据库正被另一个 sangao 使用"
            assert said in out
    finally:
        conn.rollback()
        conn.close()
        holder.dispose()
    assert export(db_url) == []
