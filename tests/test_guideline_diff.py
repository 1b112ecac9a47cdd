"""`guidelines diff`: the changes a guideline edit makes, per team or institution, and the changed
patients as CSV with no personal data (engine/diff.py, reports/diff.py)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from engine.diff import diff_sets
from engine.parallel import AssessOptions, build_assessor
from pathways.models import Patient
from pathways.resident_id import check_digit
from reports.diff import write_changes_csv

AS_OF = date(2026, 11, 30)
ID_NUMBER = "37020219710412002" + check_digit("37020219710412002")


def _patient(pid: str, team: str, institution: str, sbp: int) -> Patient:
    return Patient.model_validate({
        "patient_id": pid, "name": "张三丰", "id_number": ID_NUMBER, "phone": "13800138000",
        "sex": "F", "birth_date": "1971-04-12", "team": team, "institution": institution,
        "conditions": ["hypertension"], "enrolled_on": "2023-02-01",
        "visits": [{"date": "2026-11-20", "sbp": sbp, "dbp": 96}],
    })


PATIENTS = [
    _patient("P1", "北区-家医团队01", "北区卫生院", 182),  # red (urgent ≥180) → yellow under ≥185
    _patient("P2", "北区-家医团队01", "北区卫生院", 150),  # yellow either way
    _patient("P3", "南区-家医团队02", "南区卫生院", 181),  # red → yellow
    _patient("P4", "南区-家医团队02", "南区卫生院", 186),  # red either way
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets") / "county"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        'set: county\nversion: "1"\npolicy_status: local-definition\nextends: national-default\n',
            encoding="utf-8"
    )
    (folder / "county.yaml").write_text("guideline: county\nparameters:\n  htn_urgent_sbp: {value: 185}\n",
                                        encoding="utf-8")
    old = build_assessor(AssessOptions("national-default", AS_OF, "python"))
    new = build_assessor(AssessOptions(str(folder), AS_OF, "python"))
    return diff_sets(old, new, PATIENTS, AS_OF, by="team")


def test_the_diff_counts_changes_per_team(report) -> None:
    assert report.changed_color == 2
    north, south = report.groups["北区-家医团队01"], report.groups["南区-家医团队02"]
    assert (north.patients, north.changed_color, dict(north.color_changes)) == (2, 1, {("red", "yellow"): 1})
    assert (south.patients, south.changed_color, south.referral_changes) == (2, 1, 1)
    assert report.rules_dropped["htn.urgent_bp"] == 2


def test_every_changed_patient_is_listed_in_the_csv_without_personal_data(report, tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    assert write_changes_csv(report, path) == 2
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    assert rows[0][:5] == ["患者编号", "团队", "机构", "原颜色", "新颜色"]
    assert [(r[0], r[1], r[3], r[4], r[5], r[6], r[10]) for r in rows[1:]] == [
        ("P1", "北区-家医团队01", "红", "黄", "紧急", "无", "htn.urgent_bp"),
        ("P3", "南区-家医团队02", "红", "黄", "紧急", "无", "htn.urgent_bp"),
    ]
    for secret in ("张三丰", ID_NUMBER, "13800138000"):
        assert secret not in text
    write_changes_csv(report, path, lang="en")
    assert path.read_text(encoding="utf-8-sig").startswith("patient_id,team,institution,old_color,new_color,")


def test_diff_by_institution_groups_by_the_institution(report) -> None:
    from engine.diff import diff_sets as again

    old = build_assessor(AssessOptions("national-default", AS_OF, "python"))
    by_inst = again(old, old, PATIENTS, AS_OF, by="institution")
    assert sorted(by_inst.groups) == ["北区卫生院", "南区卫生院"]
    assert by_inst.changes == [] and all(g.changed_color == 0 for g in by_inst.groups.values())


def test_the_cli_prints_the_teams_and_writes_the_csv(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import cli

    roster = tmp_path / "roster.jsonl"
    roster.write_text("".join(p.model_dump_json() + "\n" for p in PATIENTS), encoding="utf-8")
    county = Path(__file__).resolve().parents[1] / "guidelines" / "overlays-examples" / "example-county"
    out = tmp_path / "changes.csv"
    result = CliRunner().invoke(
        cli.app,
        ["guidelines", "diff", "national-default", str(county), "--roster", str(roster), "--as-of",
         "2026-11-30",
         "--by", "institution", "--changes-csv", str(out)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "按机构" in result.output and "北区卫生院" in result.output and "南区卫生院" in result.output
    lines = result.output.splitlines()
    written = len(out.read_text(encoding="utf-8-sig").splitlines()) - 1
    assert lines[-1] == f"{written} 名改变的患者已写入 {out}"
