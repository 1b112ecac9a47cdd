"""Every CSV sangao writes escapes cells a spreadsheet would run as a formula: the assessment CSV
and the reject file (a patient id, a file name or a value read from the roster can begin with =, +,
-, @, TAB or CR)."""

from __future__ import annotations

import csv
import io
import json

from roster_files import record
from typer.testing import CliRunner

import cli
from store.importer import import_files

AS_OF = "2026-11-30"
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_the_assessment_csv_escapes_formula_patient_ids(tmp_path):
    roster = tmp_path / "r.jsonl"
    roster.write_text("".join(json.dumps(record(patient_id=p), ensure_ascii=False) + "\n" for p in FORMULAS),
                      encoding="utf-8")
    result = CliRunner().invoke(cli.app, ["assess", "--roster", str(roster), "--as-of", AS_OF,
                                          "--format", "csv", "--out", str(tmp_path / "a.csv"),
                                          "--provisional-calendar", "--lang", "en"])
    assert result.exit_code == 0, result.output
    rows = _rows((tmp_path / "a.csv").read_bytes().decode("utf-8"))
    assert [r["patient_id"] for r in rows] == ["'" + p for p in FORMULAS]
    assert all(not r["as_of"].startswith("'") for r in rows)  # ordinary cells untouched


def test_the_reject_file_escapes_formula_cells(tmp_path):
    roster = tmp_path / "r.jsonl"
    roster.write_text("".join(json.dumps(record(patient_id=p, sex="?"), ensure_ascii=False) + "\n"
                              for p in FORMULAS), encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    report = import_files([roster], f"sqlite:///{tmp_path / 'x.db'}", None, reject_path=rejects)
    assert report.rejected == len(FORMULAS)
    rows = _rows(rejects.read_bytes().decode("utf-8-sig"))
    assert [r["patient_id"] for r in rows] == ["'" + p for p in FORMULAS]
    assert all(r["raw"].startswith("{") for r in rows)
