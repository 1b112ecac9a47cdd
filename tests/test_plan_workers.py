"""`sangao plan --all --workers N` (reports/plan_run.py `write_plans_parallel`): the plan files and
the stored plans are the bytes one process makes, and a patient that fails in a worker leaves
nothing stored."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from pathways.errors import SangaoError

AS_OF = "2026-01-06"
TEAMS = ["A队", "B队", "C/队 二组", "A队", "D, 队"]  # a name that is no file name; CSV and ICS separators


def record(i: int) -> dict:
    """Patients unlike each other: conditions, smoking, control, screenings, teams."""
    conditions = [["hypertension"], ["diabetes"], ["hypertension", "dyslipidemia"],
                  ["hypertension", "diabetes", "dyslipidemia"]][i % 4]
    sbp = 120 + (i * 7) % 50
    visit = dict(sbp=sbp, dbp=70 + (i * 3) % 30)
    if "diabetes" in conditions:
        visit["fpg"] = 5.5 + (i % 5)
    return dict(
        patient_id=f"P{i:03d}",
        name="王小明" if i % 2 else "=李四",
        sex="M" if i % 3 else "F",
        birth_date=f"19{50 + i % 30}-05-01",
        team=TEAMS[i % len(TEAMS)],
        smoker=bool(i % 2),
        conditions=conditions,
        enrolled_on="2025-01-06",
        visits=[dict(date="2025-10-06", **visit), dict(date=f"2025-12-{10 + i % 20:02d}", **visit)],
        screenings=[dict(date=f"2025-0{1 + i % 9}-09", kind="ecg", result="normal")] if i % 3 else [],
    )


def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A database of 40 patients, imported once."""
    folder = tmp_path_factory.mktemp("roster")
    roster = folder / "r.jsonl"
    roster.write_text("".join(json.dumps(record(i), ensure_ascii=False) + "\n" for i in range(40)),
                      encoding="utf-8")
    db = folder / "s.db"
    result = runner().invoke(cli.app, ["roster", "import", str(roster), "--db", str(db), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    return db


def copy_of(db: Path, target: Path) -> Path:
    with sqlite3.connect(db) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def plan_all(db: Path, out: Path, *options: str):
    return runner().invoke(cli.app, ["plan", "--all", "--db", str(db), "--as-of", AS_OF, "--out", str(out),
                                     "--format", "html", "--format", "csv", "--format", "ics", *options])


def stored_rows(db: Path) -> list[tuple]:
    """Every stored plan row but the database it was planned from (each run reads its own copy)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, patient_id, as_of, guideline_set, guideline_version, payload, "
                            "guideline_hashes, input_hash, sangao_version FROM plans ORDER BY id").fetchall()
    conn.close()
    return rows


def files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_two_workers_write_the_files_and_store_the_rows_of_one(stored: Path, tmp_path: Path):
    one, two = copy_of(stored, tmp_path / "one.db"), copy_of(stored, tmp_path / "two.db")
    first = plan_all(one, tmp_path / "one", "--workers", "1")
    second = plan_all(two, tmp_path / "two", "--workers", "2")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    said = first.stdout.replace(str(tmp_path / "one"), str(tmp_path / "two"))
    assert said == second.stdout and "40份计划" in second.stdout
    made = files(tmp_path / "one")
    assert sorted(made) == ["A队.ics", "B队.ics", "C_队_二组.ics", "D__队.ics", "appointments.csv",
                            "plans.html"]
    assert files(tmp_path / "two") == made
    assert len(stored_rows(one)) == 40 and stored_rows(two) == stored_rows(one)


def test_two_workers_planning_a_roster_file_write_what_one_writes(stored: Path, tmp_path: Path):
    roster = stored.parent / "r.jsonl"
    for workers in ("1", "2"):
        result = runner().invoke(cli.app, ["plan", "--all", "--roster", str(roster), "--as-of", AS_OF,
                                           "--db", str(tmp_path / "none.db"), "--format", "csv", "--format",
                                           "ics", "--out", str(tmp_path / workers), "--workers", workers])
        assert result.exit_code == 0, result.output
    assert files(tmp_path / "2") == files(tmp_path / "1")
    assert not (tmp_path / "none.db").exists()


def test_a_patient_that_fails_in_a_worker_stores_no_plan_leaves_no_file_and_says_which(
        stored: Path, tmp_path: Path):
    db = copy_of(stored, tmp_path / "s.db")
    assert plan_all(db, tmp_path / "before", "--workers", "1").exit_code == 0
    before = stored_rows(db)
    with sqlite3.connect(db) as conn:  # a symptom code the guideline set does not know, on a late patient
        conn.execute("UPDATE visits SET symptoms = '[\"no_such_symptom\"]' WHERE patient_id = 'P036'")
    conn.close()
    one = plan_all(db, tmp_path / "one", "--workers", "1")
    two = plan_all(db, tmp_path / "two", "--workers", "2")
    assert isinstance(two.exception, SangaoError) and isinstance(one.exception, SangaoError)
    assert two.exception.problems == one.exception.problems
    assert two.exception.problems[0].code == "R403" and "P036" in two.exception.problems[0].message
    assert stored_rows(db) == before  # nothing of either run stored
    assert files(tmp_path / "one") == {} and files(tmp_path / "two") == {}  # no file left half-written


def test_two_workers_planning_a_team_write_and_store_that_teams_plans_as_one(stored: Path, tmp_path: Path):
    one, two = copy_of(stored, tmp_path / "one.db"), copy_of(stored, tmp_path / "two.db")
    for db, workers in ((one, "1"), (two, "2")):
        result = runner().invoke(cli.app, ["plan", "--team", "A队", "--db", str(db), "--as-of", AS_OF,
                                           "--out", str(tmp_path / workers), "--workers", workers])
        assert result.exit_code == 0, result.output
    assert sorted(files(tmp_path / "1")) == ["A队.ics", "appointments.csv", "plans.html"]
    assert files(tmp_path / "2") == files(tmp_path / "1")
    assert len(stored_rows(one)) == 16 and stored_rows(two) == stored_rows(one)  # A队: i % 5 in (0, 3)
