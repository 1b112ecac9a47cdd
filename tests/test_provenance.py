"""Every saved assessment records what made it: guideline set, version and the sha256 of its files,
as_of, the input file and its sha256, the sangao version; an older database gets the new columns."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

import cli
from pathways.synthetic import generate_jsonl
from store.db import open_db

AS_OF = "2026-11-30"
ROOT = Path(__file__).resolve().parents[1]


def _saved(db_url: str) -> list[dict]:
    db_engine = open_db(db_url)
    with db_engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(
            "SELECT patient_id, as_of, guideline_set, guideline_version, guideline_hashes, input_file, "
            "input_hash, sangao_version FROM assessments"))]
    db_engine.dispose()
    return rows


def _roster(path: Path) -> Path:
    path.write_text("".join(line + "\n" for line in generate_jsonl(30, 4, date.fromisoformat(AS_OF))),
                    encoding="utf-8")
    return path


def test_a_saved_assessment_records_the_guideline_files_the_input_and_the_version(db_url, tmp_path):
    roster = _roster(tmp_path / "r.jsonl")
    result = CliRunner().invoke(cli.app, ["assess", "--roster", str(roster), "--db", db_url, "--as-of", AS_OF,
                                          "--save", "--format", "jsonl", "--provisional-calendar"])
    assert result.exit_code == 0, result.output
    rows = _saved(db_url)
    assert len(rows) > 20
    folder = ROOT / "guidelines" / "national-default"
    expected = {f"national-default/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                for p in folder.glob("*.yaml") if not p.name.endswith(".cases.yaml")}
    for row in rows:
        assert str(row["as_of"]) == AS_OF and row["guideline_set"] == "national-default"
        assert json.loads(row["guideline_hashes"]) == expected
        assert row["input_file"] == str(roster)
        assert row["input_hash"] == hashlib.sha256(roster.read_bytes()).hexdigest()
        assert row["sangao_version"] == version("sangao")


def test_an_overlay_records_its_own_files_and_those_of_the_set_it_extends(tmp_path):
    roster = _roster(tmp_path / "r.jsonl")
    overlay = ROOT / "guidelines" / "overlays-examples" / "example-county"
    db = tmp_path / "x.db"
    result = CliRunner().invoke(cli.app, ["assess", "--roster", str(roster), "--db", str(db),
                                          "--as-of", AS_OF, "--save", "-g", str(overlay),
                                          "--format", "jsonl", "--provisional-calendar"])
    assert result.exit_code == 0, result.output
    hashes = json.loads(_saved(f"sqlite:///{db}")[0]["guideline_hashes"])
    assert "example-county/set.yaml" in hashes
    assert "national-default/hypertension.yaml" in hashes


def test_an_older_database_gets_the_provenance_columns(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the assessments table as the first version created it
        conn.execute("CREATE TABLE assessments (id INTEGER PRIMARY KEY, patient_id VARCHAR NOT NULL, "
                     "as_of DATE NOT NULL, guideline_set VARCHAR NOT NULL, "
                     "guideline_version VARCHAR NOT NULL, color VARCHAR NOT NULL, tier VARCHAR NOT NULL, "
                     "payload TEXT NOT NULL)")
        conn.execute("INSERT INTO assessments VALUES "
                     "(1, 'old', '2026-01-01', 's', 'v', 'red', 'county', '{}')")
    roster = _roster(tmp_path / "r.jsonl")
    result = CliRunner().invoke(cli.app, ["assess", "--roster", str(roster), "--db", str(db),
                                          "--as-of", AS_OF, "--save", "--format", "jsonl",
                                          "--provisional-calendar"])
    assert result.exit_code == 0, result.output
    rows = _saved(f"sqlite:///{db}")
    assert rows[0]["patient_id"] == "old" and rows[0]["input_hash"] is None
    assert all(r["input_hash"] for r in rows[1:]) and len(rows) > 20


def _plans(db_url: str) -> list[dict]:
    db_engine = open_db(db_url)
    with db_engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(
            "SELECT patient_id, as_of, guideline_set, guideline_version, guideline_hashes, input_file, "
            "input_hash, sangao_version FROM plans"))]
    db_engine.dispose()
    return rows


def test_saved_plans_record_the_guideline_files_the_input_and_the_version(db_url, tmp_path):
    roster = _roster(tmp_path / "r.jsonl")
    runner = CliRunner()
    imported = runner.invoke(cli.app, ["roster", "import", str(roster), "--db", db_url, "--as-of", AS_OF])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(cli.app, ["plan", "--all", "--roster", str(roster), "--db", db_url,
                                     "--as-of", AS_OF, "--out", str(tmp_path / "plans"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _plans(db_url)
    assert len(rows) > 20
    folder = ROOT / "guidelines" / "national-default"
    expected = {f"national-default/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                for p in folder.glob("*.yaml") if not p.name.endswith(".cases.yaml")}
    for row in rows:
        assert str(row["as_of"]) == AS_OF and row["guideline_set"] == "national-default"
        assert json.loads(row["guideline_hashes"]) == expected
        assert row["input_file"] == str(roster)
        assert row["input_hash"] == hashlib.sha256(roster.read_bytes()).hexdigest()
        assert row["sangao_version"] == version("sangao")


def test_plans_made_from_the_database_name_it_without_its_password(tmp_path):
    roster = _roster(tmp_path / "r.jsonl")
    db = tmp_path / "x.db"
    runner = CliRunner()
    imported = runner.invoke(cli.app, ["roster", "import", str(roster), "--db", str(db), "--as-of", AS_OF])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(cli.app, ["plan", "--all", "--db", str(db), "--as-of", AS_OF,
                                     "--out", str(tmp_path / "plans"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _plans(f"sqlite:///{db}")
    assert rows and {r["input_file"] for r in rows} == {f"sqlite:///{db}"}
    assert {r["input_hash"] for r in rows} == {None}
    assert {r["sangao_version"] for r in rows} == {version("sangao")}


def test_the_monthly_report_states_the_sangao_version_that_made_it(tmp_path):
    roster = _roster(tmp_path / "r.jsonl")
    db = tmp_path / "x.db"
    runner = CliRunner()
    imported = runner.invoke(cli.app, ["roster", "import", str(roster), "--db", str(db), "--as-of", AS_OF])
    assert imported.exit_code == 0, imported.output
    for lang, label in (("zh", "sangao 版本"), ("en", "sangao version")):
        out = tmp_path / lang
        result = runner.invoke(cli.app, ["report", "monthly", "--month", "2026-10", "--db", str(db),
                                         "--out", str(out), "--no-pdf", "--lang", lang])
        assert result.exit_code == 0, result.output
        page = (out / "monthly-2026-10.html").read_text(encoding="utf-8")
        assert f"{label} {version('sangao')}" in page
