"""Temporary files with patient data (members extracted from a zip, child rows parked on disk during
a CSV join) live in sangao's private folder (store/scratch.py): owner-only, removed at exit, and
swept at the next start when the import was killed with `kill -9`. On SQLite and PostgreSQL: the
killed import leaves the database as it was, and importing again lands everything."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest

from store import scratch
from store.generated import write_csv_set

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-30"
# The real command line, paused by this test (not by sangao) once the first patient has been read:
# by then the zip's members are extracted and the CSV join's child rows are on disk (SPILL_MEMORY 0
# sends every parked row there). The process then waits on its stdin until it is killed.
PAUSED_IMPORT = """
import sys
import cli
from store.readers import tabular

tabular.SPILL_MEMORY = 0
original = tabular._join

def paused(*args, **kwargs):
    for number, item in enumerate(original(*args, **kwargs)):
        yield item
        if number == 0:
            print("paused", flush=True)
            sys.stdin.readline()

tabular._join = paused
cli.main()
"""


@pytest.fixture
def env(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    return {**os.environ, "TMPDIR": str(temp), "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"}


def _roster(tmp_path: Path, kind: str) -> tuple[list[Path], str]:
    """A generated CSV set (or the set zipped) and the resident ID of its first patient."""
    paths = write_csv_set(tmp_path / "set", 40, 7, date.fromisoformat(AS_OF))
    first_id = paths[0].read_text(encoding="utf-8-sig").splitlines()[1].split(",")
    resident_id = next(cell for cell in first_id if len(cell) == 18 and cell[:17].isdigit())
    if kind == "csv":
        return paths, resident_id
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in paths:
            z.write(path, path.name)
    return [archive], resident_id


def _count_patients(db_url: str) -> int:
    from sqlalchemy import text

    from store.db import open_db

    engine = open_db(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT COUNT(*) FROM patients")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["zip", "csv"])
def test_an_import_killed_mid_way_leaves_no_patient_file_after_the_next_start(kind, db_url, tmp_path, env):
    files, resident_id = _roster(tmp_path, kind)
    args = ["roster", "import", *map(str, files), "--db", db_url, "--as-of", AS_OF]
    process = subprocess.Popen([sys.executable, "-c", PAUSED_IMPORT, *args], cwd=ROOT, env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in process.stdout:
            if line.strip() == "paused":
                break
        else:
            pytest.fail(f"the import ended before it was paused: {process.stderr.read()}")
        parent = Path(env["TMPDIR"]) / f"sangao-{os.getuid()}"
        mine = parent / str(process.pid)
        held = [p for p in mine.rglob("*") if p.is_file()]
        assert held, "the paused import has nothing in its private folder"
        assert [p.name for p in Path(env["TMPDIR"]).iterdir()] == [parent.name]  # nothing loose in /tmp
        assert stat.S_IMODE(parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(mine.stat().st_mode) == 0o700
        if kind == "zip":  # the extracted member holds the patient's resident ID
            assert any(resident_id.encode() in p.read_bytes() for p in held)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert mine.exists(), "kill -9 left nothing behind: the sweep below would prove nothing"

    again = subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not mine.exists()
    assert list(parent.iterdir()) == []  # the second import removed its own folder at exit
    assert _count_patients(db_url) == 40


def test_a_sweep_keeps_the_folder_of_a_running_process_and_removes_a_dead_ones(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    running = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for pid in (running.pid, dead.pid):
            (scratch.root() / str(pid)).mkdir(parents=True)
            (scratch.root() / str(pid) / "0.csv").write_text("患者编号\n")
        assert scratch.sweep() == [scratch.root() / str(dead.pid)]
        assert (scratch.root() / str(running.pid) / "0.csv").exists()
    finally:
        running.communicate(b"")


def test_a_root_folder_someone_else_could_have_made_is_not_used(tmp_path, monkeypatch):
    """A link planted at the root's name is not followed: the files go to a private folder of a
    random name instead."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    scratch.root().symlink_to(elsewhere)
    monkeypatch.setattr(scratch, "_mine", {})
    folder = scratch.folder()
    try:
        assert elsewhere not in folder.parents and folder.parent == tmp_path
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        folder.rmdir()
