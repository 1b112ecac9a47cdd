"""`worklist --team` and `plan --team` read only that team's patients from the database (the
database chooses them: store/db_records.py `read_batch(team=…)`), and print exactly what the whole
roster filtered by team gave; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import cli
import store
import store.exporter
from reports import plan_run
from reports.care_context import build_context
from reports.worklist import build_worklist, write_output
from store.counts import count_patients
from store.sources import patients_from
from tests.test_worklist import ROSTER, person

AS_OF = date(2026, 11, 30)

# team A's patients interleaved with others: a team spans several batches (BATCH is 2 below), a
# name that starts with the team's name and a patient of no team are not the team
OTHERS = [
    person("R1", [("2026-08-03", (150, 92))], team="A队x"),
    person("R2", [("2026-08-03", (128, 78))], team=None),
    person("R3", [("2026-09-01", (128, 78))], team="a队"),
]
PEOPLE = [r for pair in zip(ROSTER, OTHERS + [None] * 5, strict=True) for r in pair if r is not None]


@pytest.fixture
def imported(db_url, tmp_path, monkeypatch):
    """The roster imported into `db_url`, read back two patients a batch."""
    roster = tmp_path / "roster.jsonl"
    roster.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in PEOPLE) + "\n", encoding="utf-8")
    args = ["roster", "import", str(roster), "--db", db_url, "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(store.exporter, "BATCH", 2)
    return db_url


def test_a_teams_patients_read_from_the_database_are_the_whole_roster_filtered_by_team(imported):
    everyone = list(store.read_patients(imported))
    team = list(patients_from(None, imported, "A队"))
    assert [p.patient_id for p in team] == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    assert team == [p for p in everyone if p.team == "A队"]
    assert [p.patient_id for p in patients_from(None, imported, "A队x")] == ["R1"]
    assert list(patients_from(None, imported, "没有的队")) == []
    assert count_patients(imported, "A队") == 7 and count_patients(imported) == len(PEOPLE)


def test_worklist_team_prints_what_the_whole_roster_filtered_by_team_gave(imported, tmp_path: Path):
    ctx = build_context("national-default", AS_OF)
    week = (date(2026, 11, 30), date(2026, 12, 6))
    old = build_worklist(store.read_patients(imported), ctx, *week, team="A队")
    assert [r.patient.patient_id for r in old.rows] == ["P4", "P5", "P2", "P3", "P1", "P6"]
    for suffix in (".csv", ".txt"):
        expected, got = tmp_path / f"expected{suffix}", tmp_path / f"got{suffix}"
        write_output(old, expected, suffix == ".csv", Console(file=io.StringIO()), io.StringIO())
        args = ["worklist", "--team", "A队", "--week", "--as-of", "2026-11-30", "--db", imported,
                "--out", str(got)]
        result = CliRunner().invoke(cli.app, args)
        assert result.exit_code == 0, result.output
        assert got.read_bytes() == expected.read_bytes()


def test_plan_team_writes_the_plans_the_whole_roster_filtered_by_team_gave(imported, tmp_path: Path):
    ctx = build_context("national-default", AS_OF)
    chosen = [p for p in store.read_patients(imported) if p.team == "A队"]
    old = plan_run.write_plans(plan_run.new_plans(chosen, ctx, AS_OF, imported), tmp_path / "expected",
                               {"csv", "ics"}, "zh")
    assert old.count == 6  # P7 died: no plan
    args = ["plan", "--team", "A队", "--as-of", "2026-11-30", "--db", imported, "--no-save",
            "--format", "csv", "--format", "ics", "--out", str(tmp_path / "got")]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    expected = {f.name: f.read_bytes() for f in (tmp_path / "expected").iterdir()}
    got = {f.name: f.read_bytes() for f in (tmp_path / "got").iterdir()}
    assert sorted(got) == ["A队.ics", "appointments.csv"] and got == expected
