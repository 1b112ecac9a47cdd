"""Two readings on one day (issue: every reading kept): both are stored, which one is the latest BP
follows the guideline parameter `same_day_reading` (parameters.yaml, docs/pathway-defaults.md §1),
and the same row exported twice is stored once with a located D115 finding."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from roster_files import record

from guidelines.loader import load_set
from pathways.facts import compute_facts
from pathways.models import Patient, Visit
from store.exporter import export_jsonl
from store.importer import import_files

AS_OF = date(2026, 11, 30)


def _exported(url):
    out = io.StringIO()
    export_jsonl(url, out)
    return {r["patient_id"]: r for r in map(json.loads, out.getvalue().splitlines())}


def _jsonl(tmp_path, *records):
    path = tmp_path / "roster.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_two_different_readings_on_one_day_are_both_stored_without_a_finding(tmp_path):
    visits = [{"date": "2026-11-01", "sbp": 118, "dbp": 75}, {"date": "2026-11-01", "sbp": 192, "dbp": 118}]
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([_jsonl(tmp_path, record(visits=visits))], url, AS_OF)
    assert report.ok and report.findings == []
    assert _exported(url)["p1"]["visits"] == visits


def test_the_same_jsonl_visit_twice_is_stored_once_with_a_located_finding(tmp_path):
    visit = {"date": "2026-11-01", "sbp": 150, "dbp": 92, "symptoms": ["dizziness"]}
    other = {"date": "2026-10-01", "sbp": 140, "dbp": 88}
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([_jsonl(tmp_path, record(visits=[visit, other, visit]))], url, AS_OF)
    assert report.ok
    assert sorted(_exported(url)["p1"]["visits"], key=lambda v: v["date"]) == [other, visit]
    [finding] = report.findings
    assert (finding.code, finding.line) == ("D115", 1)
    assert finding.render("en").startswith(
        f"{tmp_path / 'roster.jsonl'}:1: D115 visits[2] repeats visits[0] exactly (2026-11-01, same values)"
    )
    assert "visits[2] 与 visits[0] 完全相同" in finding.render()


def test_the_same_visits_csv_row_twice_is_stored_once_and_the_finding_names_the_row(tmp_path):
    tables = {
        "patients.csv": [
            ["患者编号", "性别", "出生日期", "管理病种", "建档日期"],
            ["p1", "男", "1958-03-02", "高血压", "2021-05-10"],
        ],
        "visits.csv": [
            ["患者编号", "随访日期", "收缩压", "舒张压"],
            ["p1", "2026-11-01", "150", "92"],
            ["p1", "2026-11-01", "150", "92"],
            ["p1", "2026-11-01", "192", "118"],
        ],
    }
    for name, rows in tables.items():
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([tmp_path / "patients.csv", tmp_path / "visits.csv"], url, AS_OF)
    assert report.ok, [p.render("en") for p in report.rejects]
    visits = _exported(url)["p1"]["visits"]
    assert [(v["sbp"], v["dbp"]) for v in visits] == [(150, 92), (192, 118)]
    found = [(p.code, p.file, p.line) for p in report.findings if p.code == "D115"]
    assert found == [("D115", str(tmp_path / "visits.csv"), 3)]


def _facts(same_day_reading: str) -> dict:
    params = {name: p.value for name, p in load_set("national-default").parameters.items()}
    params["same_day_reading"] = same_day_reading
    patient = Patient.model_validate(
        record(visits=[Visit(date=date(2026, 11, 1), sbp=192, dbp=118),
                       Visit(date=date(2026, 11, 1), sbp=118, dbp=75)])
    )
    return compute_facts(patient, AS_OF, params)


def test_the_later_listed_reading_of_a_day_counts_by_default():
    params = {name: p.value for name, p in load_set("national-default").parameters.items()}
    assert params["same_day_reading"] == "last"
    facts = _facts("last")
    assert (facts["latest_sbp"], facts["latest_dbp"]) == (118, 75)


def test_the_highest_reading_of_a_day_counts_when_the_set_says_highest():
    facts = _facts("highest")
    assert (facts["latest_sbp"], facts["latest_dbp"]) == (192, 118)


def _repeats(report) -> list[tuple]:
    return [(p.fields.get("variant"), p.fields.get("n"), p.fields.get("total"), p.file.rsplit("/", 1)[-1])
            for p in report.findings if p.code == "D115"]


def test_an_events_file_imported_again_says_nothing_new_was_added_once_not_per_row(tmp_path):
    from tests.test_site_exports import exported, follow_up_file, person_file

    url = f"sqlite:///{tmp_path / 'site.db'}"
    first = import_files([person_file(tmp_path), follow_up_file(tmp_path)], url, AS_OF)
    assert _repeats(first) == []  # nothing was stored before
    stored = exported(url)
    again = import_files([follow_up_file(tmp_path)], url, AS_OF)
    assert _repeats(again) == [("reimport", 3, 3, "高血压随访.csv")]  # the 3 rows of registered people
    [finding] = [p for p in again.findings if p.code == "D115"]
    assert finding.render("zh").endswith("本文件的 3 行都已保存过，完全相同：没有新增内容"
                                         "（同一文件再次导入）")
    assert "nothing new was added" in finding.render("en")
    assert exported(url) == stored


def test_an_overlapping_events_export_says_how_many_rows_were_stored_already_and_adds_the_rest(tmp_path):
    from tests.test_real_exports import write_csv
    from tests.test_site_exports import (
        FOLLOW_UP_HEADER,
        FOLLOW_UP_ROWS,
        ID_A,
        exported,
        follow_up_file,
        person_file,
    )

    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path), follow_up_file(tmp_path)], url, AS_OF)
    later = tmp_path / "later"
    later.mkdir()
    rows = [*FOLLOW_UP_ROWS, ["张三", "男", ID_A, "2026-09-09", "131", "82", "70"],
            ["张三", "男", ID_A, "2026-06-10", "190", "110", "90"]]  # a second reading of a stored day
    report = import_files([write_csv(later / "高血压随访.csv", [FOLLOW_UP_HEADER, *rows])], url, AS_OF)
    assert _repeats(report) == [("stored", 3, 5, "高血压随访.csv")]
    [zhang] = [r for r in exported(url) if r["id_number"] == ID_A]
    assert [(v["date"], v["sbp"]) for v in zhang["visits"]] == [
        ("2026-03-05", 152), ("2026-06-10", 138), ("2026-06-10", 190), ("2026-09-09", 131)]
