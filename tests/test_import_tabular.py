"""CSV sets and XLSX workbooks in the shape real exports have: Chinese headers with units, GB18030
or UTF-8 with BOM, a patients table joined with visits and labs, a site mapping file, and a few bad
rows that are rejected with file, row, column and value while the good rows import."""

from __future__ import annotations

import csv
import json
from datetime import date

import openpyxl
import pytest

from pathways.errors import SangaoError
from store import read_patients
from store.exporter import export_jsonl
from store.importer import import_files

AS_OF = date(2026, 11, 30)


def write_csv(path, rows, encoding):
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)


def exported(db_url):
    import io

    out = io.StringIO()
    export_jsonl(db_url, out)
    return {r["patient_id"]: r for r in map(json.loads, out.getvalue().splitlines())}


@pytest.fixture
def messy_set(tmp_path):
    """患者.csv / 随访.csv / 化验.csv in GB18030 with three bad patient rows and three bad visit rows."""
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(
        folder / "患者.csv",
        [
            ["患者编号", "身份证号", "姓名", "性别", "出生日期", "管理病种", "建档日期", "家医团队："],
            [
                "p1",
                "370202195803021236\t",
                "张三",
                "男",
                "1958/03/02",
                "高血压、糖尿病",
                "2021-05-10",
                "团队01",
            ],
            ["p2", "37020219600101002X", "李四", "女", "19600101", "高血压", "2020年3月1日", "团队01"],
            ["p3", "370202195803021234", "王五", "男", "1958-03-02", "高血压", "2021-05-10", "团队02"],
            ["p4", "", "赵六", "未知", "1970-01-01", "高血压", "2021-05-10", "团队02"],
            ["p5", "", "钱七", "女", "1965-05-05", "糖尿", "2021-05-10", "团队02"],
        ],
        "gb18030",
    )
    write_csv(
        folder / "随访.csv",
        [
            ["患者编号", "随访日期", "收缩压（mmHg）", "舒张压（mmHg）", "空腹血糖(mmol/L)"],
            ["p1", "2026-10-01", "152", "94", "7.9"],
            ["p1", "2026-11-01", "abc", "90", "7.0"],
            ["p2", "2026/09/15", "138", "85", ""],
            ["p9", "2026-10-01", "140", "90", ""],
            ["p3", "2026-10-01", "140", "90", ""],
        ],
        "gb18030",
    )
    write_csv(
        folder / "化验.csv",
        [
            ["患者编号", "检验日期", "低密度脂蛋白胆固醇", "糖化血红蛋白(%)", "肌酐", "尿白蛋白肌酐比"],
            ["p1", "2026-03-12", "3.8", "7.4", "98", "45"],
            ["p2", "2026-03-12", "2.1", "", "70", ""],
        ],
        "gb18030",
    )
    return folder


def test_a_messy_gb18030_set_imports_the_good_rows(messy_set, tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files(sorted(messy_set.iterdir()), url, AS_OF)
    assert {
        f.file.rsplit("/", 1)[-1]: (f.encoding, f.rows_read, f.imported, f.rejected) for f in report.files
    } == {
        "患者.csv": ("GB18030/GBK", 5, 2, 3),
        "随访.csv": ("GB18030/GBK", 5, 2, 3),
        "化验.csv": ("GB18030/GBK", 2, 2, 0),
    }
    assert not report.ok
    records = exported(url)
    assert records["p1"] == {
        "patient_id": "p1",
        "id_number": "370202195803021236",
        "name": "张三",
        "sex": "M",
        "birth_date": "1958-03-02",
        "team": "团队01",
        "conditions": ["hypertension", "diabetes"],
        "enrolled_on": "2021-05-10",
        "visits": [{"date": "2026-10-01", "sbp": 152, "dbp": 94, "fpg": 7.9}],
        "labs": [{"date": "2026-03-12", "ldl_c": 3.8, "hba1c": 7.4, "creatinine": 98, "uacr": 45}],
    }
    assert records["p2"]["enrolled_on"] == "2020-03-01"
    assert records["p2"]["visits"] == [{"date": "2026-09-15", "sbp": 138, "dbp": 85}]
    assert set(records) == {"p1", "p2"}


def test_a_messy_set_reports_file_row_column_and_value_of_each_bad_row(messy_set, tmp_path):
    report = import_files(sorted(messy_set.iterdir()), f"sqlite:///{tmp_path / 'db.sqlite'}", AS_OF)
    got = {(p.file.rsplit("/", 1)[-1], p.line, p.column, p.code): p for p in report.rejects}
    assert set(got) == {
        ("患者.csv", 4, "身份证号", "D020"),
        ("患者.csv", 5, "性别", "D016"),
        ("患者.csv", 6, "管理病种", "D013"),
        ("随访.csv", 3, "收缩压（mmHg）", "D015"),
        ("随访.csv", 5, "患者编号", "D024"),
        ("随访.csv", 6, None, "D025"),
    }
    assert got[("随访.csv", 3, "收缩压（mmHg）", "D015")].message == "visits.sbp: not a number ('abc')"
    assert got[("患者.csv", 5, "性别", "D016")].message == "patients.sex: unknown sex ('未知')"
    assert got[("患者.csv", 6, "管理病种", "D013")].hint == "did you mean '糖尿病'?"
    assert "370202********1234" in got[("患者.csv", 4, "身份证号", "D020")].message


def test_the_reject_file_lists_every_rejected_row_with_its_reason(messy_set, tmp_path):
    rejects = tmp_path / "rejects.csv"
    import_files(
        sorted(messy_set.iterdir()), f"sqlite:///{tmp_path / 'db.sqlite'}", AS_OF, reject_path=rejects
    )
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["file"].rsplit("/", 1)[-1], int(r["row"]), r["code"]) for r in rows) == [
        ("患者.csv", 4, "D020"),
        ("患者.csv", 5, "D016"),
        ("患者.csv", 6, "D013"),
        ("随访.csv", 3, "D015"),
        ("随访.csv", 5, "D024"),
        ("随访.csv", 6, "D025"),
    ]
    sbp = next(r for r in rows if r["code"] == "D015")
    assert sbp["patient_id"] == "p1" and sbp["column"] == "收缩压（mmHg）"
    assert json.loads(sbp["raw"])["收缩压（mmHg）"] == "abc"


def test_a_utf8_file_with_bom_and_interchange_headers_imports(tmp_path):
    write_csv(
        tmp_path / "patients.csv",
        [
            ["patient_id", "sex", "birth_date", "conditions", "enrolled_on", "smoker"],
            ["p1", "F", "1960-01-01", "dyslipidemia", "2022-01-01", "否"],
        ],
        "utf-8-sig",
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([tmp_path / "patients.csv"], url, AS_OF)
    assert report.ok, [p.render() for p in report.rejects]
    assert report.files[0].encoding == "UTF-8 with BOM"
    assert exported(url)["p1"] == {
        "patient_id": "p1",
        "sex": "F",
        "birth_date": "1960-01-01",
        "conditions": ["dyslipidemia"],
        "enrolled_on": "2022-01-01",
        "smoker": False,
    }


def test_an_unrecognised_column_is_reported_and_ignored(tmp_path):
    write_csv(
        tmp_path / "patients.csv",
        [
            ["患者编号", "性别", "出生日期", "管理病种", "建档日期", "工作单位"],
            ["p1", "女", "1960-01-01", "糖尿病", "2022-01-01", "某某公司"],
        ],
        "utf-8",
    )
    report = import_files([tmp_path / "patients.csv"], f"sqlite:///{tmp_path / 'db.sqlite'}", AS_OF)
    assert report.ok
    assert [(p.code, p.line, p.column) for p in report.findings] == [("D108", 1, "工作单位")]


def test_a_contact_number_imports_as_the_phone_with_the_excel_tab_stripped(tmp_path):
    write_csv(
        tmp_path / "patients.csv",
        [
            ["患者编号", "性别", "出生日期", "管理病种", "建档日期", "联系电话"],
            ["p1", "女", "1960-01-01", "糖尿病", "2022-01-01", "13800000000\t"],
        ],
        "utf-8",
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([tmp_path / "patients.csv"], url, AS_OF)
    assert report.ok and not report.findings
    assert [p.phone for p in read_patients(url)] == ["13800000000"]


def test_a_workbook_with_patient_visit_and_note_sheets_imports(tmp_path):
    book = openpyxl.Workbook()
    patients = book.active
    patients.title = "患者信息"
    patients.append(["患者编号", "身份证号", "性别", "出生日期", "管理病种", "建档日期"])
    patients.append(["p1", "37020219600101002X", "女", date(1960, 1, 1), "高血压", date(2020, 3, 1)])
    patients.append(["p2", "", "男", "1950-13-01", "高血压", "2020-03-01"])
    visits = book.create_sheet("随访记录")
    visits.append(["患者编号", "随访日期", "血压", "心率"])
    visits.append(["p1", date(2026, 10, 1), "150/95", 72])
    visits.append(["p1", date(2026, 11, 1), "150-95", 70])
    notes = book.create_sheet("说明")
    notes.append(["本表由系统导出"])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([path], url, AS_OF)
    assert exported(url) == {
        "p1": {
            "patient_id": "p1",
            "id_number": "37020219600101002X",
            "sex": "F",
            "birth_date": "1960-01-01",
            "conditions": ["hypertension"],
            "enrolled_on": "2020-03-01",
            "visits": [{"date": "2026-10-01", "sbp": 150, "dbp": 95, "heart_rate": 72}],
        }
    }
    assert sorted((p.file.rsplit("/", 1)[-1], p.line, p.column, p.code) for p in report.rejects) == [
        ("roster.xlsx[患者信息]", 3, "出生日期", "D014"),
        ("roster.xlsx[随访记录]", 3, "血压", "D015"),
    ]
    assert [(p.file.rsplit("/", 1)[-1], p.code) for p in report.findings] == [("roster.xlsx[说明]", "D108")]
    assert {f.file.rsplit("/", 1)[-1]: (f.rows_read, f.imported, f.rejected) for f in report.files} == {
        "roster.xlsx[患者信息]": (2, 1, 1),
        "roster.xlsx[随访记录]": (2, 1, 1),
    }  # the note sheet is a finding


def test_a_site_mapping_maps_headers_sex_and_yes_no_codes_and_table_names(tmp_path):
    (tmp_path / "site.yaml").write_text(
        "columns:\n  个人档案号: patient_id\n  血压值: visits.bp\n"
        "values:\n  sex: {'2': M, '3': F}\n  bool: {'1': false, '2': true}\n"  # the form's 1 无 2 有
        "tables:\n  fu_export: visits\n",
        encoding="utf-8",
    )
    write_csv(
        tmp_path / "people.csv",
        [
            ["个人档案号", "性别", "出生日期", "管理病种", "建档日期", "吸烟"],
            ["p1", "3", "1960-01-01", "高血压", "2020-03-01", "2"],
        ],
        "utf-8",
    )
    write_csv(
        tmp_path / "fu_export.csv",
        [["个人档案号", "随访日期", "血压值"], ["p1", "2026-10-01", "128/80"]],
        "utf-8",
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files(
        [tmp_path / "people.csv", tmp_path / "fu_export.csv"], url, AS_OF, mapping=tmp_path / "site.yaml"
    )
    assert report.ok, [p.render() for p in report.rejects]
    record = exported(url)["p1"]
    assert record["sex"] == "F"
    assert record["smoker"] is True
    assert record["visits"] == [{"date": "2026-10-01", "sbp": 128, "dbp": 80}]


def test_a_mapping_to_an_unknown_field_names_the_line_and_suggests(tmp_path):
    (tmp_path / "site.yaml").write_text(
        "columns:\n  档案号: patient_id\n  收缩: visits.sbpp\n", encoding="utf-8"
    )
    with pytest.raises(SangaoError) as raised:
        import_files([], f"sqlite:///{tmp_path / 'db.sqlite'}", AS_OF, mapping=tmp_path / "site.yaml")
    problem = raised.value.problems[0]
    assert (problem.code, problem.line, problem.hint) == ("D031", 3, "did you mean 'sbp'?")


def test_a_table_without_a_patient_id_column_fails_that_set_only(tmp_path):
    (tmp_path / "a").mkdir()
    write_csv(
        tmp_path / "a" / "patients.csv", [["姓名", "性别", "出生日期"], ["张三", "男", "1958-03-02"]], "utf-8"
    )
    (tmp_path / "ok.jsonl").write_text(
        json.dumps(
            {
                "patient_id": "p1",
                "sex": "M",
                "birth_date": "1958-03-02",
                "conditions": ["diabetes"],
                "enrolled_on": "2021-05-10",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files([tmp_path / "a" / "patients.csv", tmp_path / "ok.jsonl"], url, AS_OF)
    assert [(p.code, p.line) for p in report.rejects] == [("D030", 1)]
    assert "no patient id column" in report.rejects[0].message
    assert set(exported(url)) == {"p1"}


def test_a_resident_id_that_excel_stored_as_a_number_is_rejected_with_the_reason(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "患者"
    sheet.append(["患者编号", "身份证号", "性别", "出生日期", "管理病种", "建档日期"])
    sheet.append([1001, 370202195803021236, "男", "1958-03-02", "高血压", "2021-05-10"])
    book.save(tmp_path / "r.xlsx")
    report = import_files([tmp_path / "r.xlsx"], f"sqlite:///{tmp_path / 'db.sqlite'}", AS_OF)
    [problem] = report.rejects
    assert (problem.code, problem.line, problem.column) == ("D020", 2, "身份证号")
    assert (
        problem.message == "patients.id_number: resident ID stored as a number, so its last digits are lost"
    )


def test_read_roster_of_a_directory_reads_its_csv_set(tmp_path):
    from store import read_roster

    write_csv(
        tmp_path / "patients.csv",
        [
            ["患者编号", "性别", "出生日期", "管理病种", "建档日期"],
            ["p1", "女", "1960-01-01", "糖尿病", "2022-01-01"],
        ],
        "utf-8",
    )
    write_csv(
        tmp_path / "visits.csv", [["患者编号", "随访日期", "空腹血糖"], ["p1", "2026-10-01", "6.1"]], "utf-8"
    )
    [patient] = read_roster(tmp_path, as_of=AS_OF)
    assert patient.patient_id == "p1" and patient.visits[0].fpg == 6.1


def test_a_reject_file_left_in_the_export_folder_is_skipped(messy_set, tmp_path):
    rejects = messy_set / "rejects.csv"
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    import_files(sorted(messy_set.iterdir()), url, AS_OF, reject_path=rejects)
    again = import_files(sorted(messy_set.iterdir()), url, AS_OF)
    assert ("rejects.csv", "D108") in [(p.file.rsplit("/", 1)[-1], p.code) for p in again.findings]
    assert len(again.rejects) == 6


def test_a_generated_csv_set_imports_the_same_records_as_its_jsonl(tmp_path):
    from pathways.synthetic import CSV_TABLES, generate_csv_rows, generate_jsonl

    folder = tmp_path / "csv"
    folder.mkdir()
    files = {t: open(folder / f"{t}.csv", "w", encoding="utf-8-sig", newline="") for t in CSV_TABLES}  # noqa: SIM115
    writers = {t: csv.writer(f) for t, f in files.items()}
    for table, columns in CSV_TABLES.items():
        writers[table].writerow([header for _, header in columns])
    for table, row in generate_csv_rows(60, 9, AS_OF):
        writers[table].writerow(row)
    for f in files.values():
        f.close()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = import_files(sorted(folder.iterdir()), url, AS_OF)
    assert report.ok, [p.render() for p in report.rejects[:3]]
    assert list(exported(url).values()) == [json.loads(line) for line in generate_jsonl(60, 9, AS_OF)]
