"""What family-doctor teams really export (docs/real-exports.md) imports into the same
patients and visits as the equivalent interchange JSONL: flat visit rows with the person repeated
and no patient number, coded cells of the national forms, cells with units and pairs, several
encodings, workbooks, two-row merged headers and zip archives of split parts. Every fixture is
built here."""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
from dataclasses import replace
from datetime import date

import openpyxl
import pytest

from pathways.errors import SangaoError
from store.exporter import export_jsonl
from store.importer import import_files
from store.readers.mapping import Mapping, load_mapping
from store.readers.tabular import derive_patient_id

AS_OF = date(2026, 11, 30)
ID_A = "370202195803021236"  # 张三, male
ID_B = "370202196207151047"  # 李四, female
ID_C15 = "370202600101002"  # 王芳, legacy 15-digit ID
ID_C = "37020219600101002X"

HTN_HEADER = [
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "随访日期",
    "随访方式",
    "症状",
    "血压(mmHg)",
    "体重(kg)",
    "心率(次/分钟)",
    "日吸烟量(支)",
    "药物不良反应",
    "此次随访分类",
    "下次随访日期",
]
HTN_ROWS = [
    [
        "张三",
        "1.男",
        "1958/03/02",
        ID_A + "\t",
        "2026/03/05",
        "1.门诊",
        "2.头痛头晕",
        "152/94",
        "72.5/70",
        "78",
        "0/0",
        "1.无",
        "2.控制不满意",
        "2026/04/05",
    ],
    [
        "李四",
        "2.女",
        "1962-07-15",
        ID_B + "\t",
        "2026-04-01",
        "2",
        "6.心悸胸闷;3.恶心呕吐",
        "165/100",
        "60",
        "88",
        "5/0",
        "2.有",
        "4.并发症",
        "",
    ],
    [
        "张三",
        "男",
        "19580302",
        ID_A + "\t",
        "2026年06月10日",
        "门诊",
        "1.无症状",
        "138/85",
        "71kg/70kg",
        "72",
        "0",
        "",
        "3.不良反应",
        "2026-09-10",
    ],
]


def expected(**enrolled: str) -> list[dict]:
    """The interchange records the hypertension export above stands for."""
    return [
        {
            "patient_id": derive_patient_id(ID_A),
            "id_number": ID_A,
            "name": "张三",
            "sex": "M",
            "birth_date": "1958-03-02",
            "conditions": ["hypertension"],
            "enrolled_on": enrolled.get("a", "2026-03-05"),
            "smoker": False,
            "visits": [
                {
                    "date": "2026-03-05",
                    "sbp": 152,
                    "dbp": 94,
                    "heart_rate": 78,
                    "weight_kg": 72.5,
                    "symptoms": ["dizziness"],
                    "adverse_reaction": False,
                },
                {
                    "date": "2026-06-10",
                    "sbp": 138,
                    "dbp": 85,
                    "heart_rate": 72,
                    "weight_kg": 71,
                    "adverse_reaction": True,
                },
            ],
        },
        {
            "patient_id": derive_patient_id(ID_B),
            "id_number": ID_B,
            "name": "李四",
            "sex": "F",
            "birth_date": "1962-07-15",
            "conditions": ["hypertension"],
            "enrolled_on": enrolled.get("b", "2026-04-01"),
            "smoker": True,
            "visits": [
                {
                    "date": "2026-04-01",
                    "sbp": 165,
                    "dbp": 100,
                    "heart_rate": 88,
                    "weight_kg": 60,
                    "symptoms": ["palpitations", "chest_tightness", "nausea", "vomiting"],
                    "adverse_reaction": True,
                    "new_complication": True,
                },
            ],
        },
    ]


def write_csv(path, rows, encoding="utf-8-sig"):
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def write_xlsx(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def exported(url: str) -> dict[str, dict]:
    out = io.StringIO()
    export_jsonl(url, out)
    return {r["patient_id"]: r for r in map(json.loads, out.getvalue().splitlines())}


def via_jsonl(tmp_path, records) -> dict[str, dict]:
    path = tmp_path / "expected.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'expected.db'}"
    report = import_files([path], url, AS_OF)
    assert report.ok, [p.render() for p in report.rejects]
    return exported(url)


def as_register(mapping):
    """The tests of this section read a flat export as a register (the file says who is enrolled);
    an events file (the default for a flat export) adds rows to registered people only (section 4)."""
    mapping = load_mapping(mapping) if mapping is not None and not isinstance(mapping, Mapping) else mapping
    mapping = mapping or Mapping()
    return mapping if mapping.role else replace(mapping, role="register")


def imported(tmp_path, paths, mapping=None, name="got"):
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    report = import_files(paths, url, AS_OF, mapping=as_register(mapping))
    assert report.rows_read == report.imported + report.rejected
    return report, exported(url)


# ---- 1. flat visit exports ----------------------------------------------------------------------


def test_a_flat_hypertension_visit_export_imports_as_the_equivalent_jsonl(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    path = write_csv(folder / "高血压患者随访记录.csv", [HTN_HEADER, *HTN_ROWS])
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())
    assert [(f.encoding, f.rows_read, f.imported, f.rejected) for f in report.files] == [
        ("UTF-8 with BOM", 3, 3, 0)
    ]
    notes = sorted(p.message for p in report.findings if p.code == "D110")
    assert notes == [
        "conditions from the form of the visit export (高血压/糖尿病) (2 patients)",
        "enrolled_on is the first visit's date (no enrolment column, none in --mapping) (2 patients)",
    ]


def test_the_derived_patient_id_is_stable_hides_the_id_and_joins_legacy_and_new_ids():
    pid = derive_patient_id(ID_C)
    assert pid == derive_patient_id(ID_C15) == derive_patient_id(ID_C.lower())
    assert pid.startswith("370202-") and len(pid) == 19
    assert ID_C[6:] not in pid and ID_C15[6:] not in pid
    assert derive_patient_id(ID_C, salt="county") != pid


def test_a_gb2312_export_with_bare_codes_and_diastolic_first_imports_the_same(tmp_path):
    folder = tmp_path / "gb"
    folder.mkdir()
    header = [
        "姓 名",
        "性别：",
        "出生日期",
        "身份证号码",
        "随访日期-FUDATE",
        "舒张压（mmHg）",
        "收缩压（mmHg）",
        "症状",
        "体重（kg）",
        "心率",
        "日吸烟量",
        "药物不良反应",
        "此次随访分类",
    ]
    rows = [
        ["张三", "1", "1958-03-02", ID_A, "2026-03-05", "94", "152", "2", "72.5/70", "78", "0", "1", "2"],
        ["李四", "2", "1962-07-15", ID_B, "2026-04-01", "100", "165", "6;3", "60", "88", "5", "2", "4"],
        ["张三", "1", "1958-03-02", ID_A, "2026-06-10", "85", "１３８", "1", "71", "72", "0", "", "3"],
    ]
    path = write_csv(folder / "高血压随访.csv", [header, *rows], encoding="gb2312")
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    assert report.files[0].encoding == "GB18030/GBK"
    assert got == via_jsonl(tmp_path, expected())


def test_a_people_sheet_and_a_visits_sheet_join_on_the_resident_id(tmp_path):
    people = [
        ["身份证号", "姓名", "性别", "出生日期", "建档日期", "管理病种", "既往史"],
        [ID_A, "张三", "男", "1958-03-02", "2021/05/10至2026/12/31", "高血压", "4,7"],
        [ID_B, "李四", "女", "1962-07-15", "2020-01-02", "高血压", "1.无"],
    ]
    visits = [[h for h in HTN_HEADER if h not in ("姓名", "性别", "出生日期")]]
    for row in HTN_ROWS:
        visits.append(
            [c for h, c in zip(HTN_HEADER, row, strict=True) if h not in ("姓名", "性别", "出生日期")]
        )
    path = write_xlsx(tmp_path / "export.xlsx", {"基本信息": people, "高血压随访": visits})
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    want = expected(a="2021-05-10", b="2020-01-02")
    want[0]["history"] = [{"code": "chd"}, {"code": "stroke"}]
    assert got == via_jsonl(tmp_path, want)
    assert [(f.file.rsplit("/", 1)[-1], f.rows_read, f.imported) for f in report.files] == [
        ("export.xlsx[基本信息]", 2, 2),
        ("export.xlsx[高血压随访]", 3, 3),
    ]
    assert not [p for p in report.findings if p.code == "D110" and "enrolled_on" in p.message]


def test_a_patient_in_the_hypertension_and_the_diabetes_export_gets_both_and_one_visit_a_day(tmp_path):
    folder = tmp_path / "both"
    folder.mkdir()
    write_csv(folder / "高血压随访.csv", [HTN_HEADER, *HTN_ROWS])
    write_csv(
        folder / "糖尿病随访.csv",
        [
            [
                "身份证号",
                "姓名",
                "性别",
                "出生日期",
                "随访日期",
                "症状",
                "血压",
                "空腹血糖值(mmol/L)",
                "糖化血红蛋白(%)",
                "足背动脉搏动",
                "此次随访分类",
                "低血糖反应",
            ],
            [
                ID_A,
                "张三",
                "男",
                "1958-03-02",
                "2026-06-10",
                "1",
                "138/85",
                "6.1",
                "6.5%",
                "1.触及正常",
                "1",
                "1",
            ],
            [
                ID_C15 + "\t",
                "王芳",
                "2",
                "19600101",
                "2026-05-20",
                "2,4",
                "130/80",
                "7.9",
                "7.4",
                "2.减弱(左侧)",
                "2",
                "1",
            ],
        ],
        encoding="gb18030",
    )
    report, got = imported(tmp_path, [folder])
    assert report.ok, [p.render() for p in report.rejects]
    want = expected()
    want[0]["conditions"] = ["hypertension", "diabetes"]
    want[0]["visits"][1]["fpg"] = 6.1
    want[0]["labs"] = [{"date": "2026-06-10", "hba1c": 6.5}]
    want[0]["screenings"] = [{"date": "2026-06-10", "kind": "foot_pulse", "result": "normal"}]
    want.append(
        {
            "patient_id": derive_patient_id(ID_C),
            "id_number": ID_C,
            "name": "王芳",
            "sex": "F",
            "birth_date": "1960-01-01",
            "conditions": ["diabetes"],
            "enrolled_on": "2026-05-20",
            "visits": [
                {"date": "2026-05-20", "sbp": 130, "dbp": 80, "fpg": 7.9, "symptoms": ["polyuria_polydipsia"]}
            ],
            "labs": [{"date": "2026-05-20", "hba1c": 7.4}],
            "screenings": [{"date": "2026-05-20", "kind": "foot_pulse", "result": "abnormal"}],
        }
    )
    assert got == via_jsonl(tmp_path, want)
    assert any(p.code == "D106" for p in report.findings)  # the legacy ID was upgraded, and said so
    assert sum(f.rows_read for f in report.files) == 5 == report.imported


def test_enrolled_on_and_conditions_can_come_from_the_mapping(tmp_path):
    path = write_csv(tmp_path / "visits.csv", [HTN_HEADER, *HTN_ROWS])
    mapping = tmp_path / "site.yaml"
    mapping.write_text(
        "defaults:\n  conditions: [hypertension, dyslipidemia]\n  enrolled_on: 2020-01-01\n", encoding="utf-8"
    )
    report, got = imported(tmp_path, [path], mapping)
    assert report.ok
    assert {r["enrolled_on"] for r in got.values()} == {"2020-01-01"}
    assert {tuple(r["conditions"]) for r in got.values()} == {("hypertension", "dyslipidemia")}
    assert "enrolled_on 2020-01-01 from --mapping defaults (2 patients)" in [
        p.message for p in report.findings
    ]


def test_a_flat_export_of_unknown_form_without_conditions_is_refused_by_patient(tmp_path):
    header = [h for h in HTN_HEADER if h not in ("症状", "此次随访分类")]
    rows = [[c for h, c in zip(HTN_HEADER, r, strict=True) if h in header] for r in HTN_ROWS]
    path = write_csv(tmp_path / "visits.csv", [header, *rows])
    report, got = imported(tmp_path, [path])
    assert got == {}
    assert [(p.code, p.line) for p in report.rejects if p.code == "D010"] == [("D010", 2), ("D010", 3)]
    assert "form: hypertension" in report.rejects[0].hint
    assert report.rejected == 3


def test_a_flat_export_with_a_patient_number_groups_rows_by_it(tmp_path):
    header = ["档案编号", "性别", "出生日期", "随访日期", "血压"]
    rows = [
        ["0001", "男", "1958-03-02", "2026-03-05", "152/94"],
        ["0002", "女", "1962-07-15", "2026-04-01", "165/100"],
        ["0001", "男", "1958-03-02", "2026-06-10", "138/85"],
    ]
    report, got = imported(tmp_path, [write_csv(tmp_path / "高血压随访.csv", [header, *rows])])
    assert report.ok, [p.render() for p in report.rejects]
    assert [(pid, [v["date"] for v in r["visits"]]) for pid, r in sorted(got.items())] == [
        ("0001", ["2026-03-05", "2026-06-10"]),
        ("0002", ["2026-04-01"]),
    ]


def test_sex_and_birth_date_come_from_the_resident_id_when_the_export_has_no_columns(tmp_path):
    header = [h for h in HTN_HEADER if h not in ("性别", "出生日期")]
    rows = [[c for h, c in zip(HTN_HEADER, r, strict=True) if h in header] for r in HTN_ROWS]
    report, got = imported(tmp_path, [write_csv(tmp_path / "高血压随访.csv", [header, *rows])])
    assert report.ok
    assert got == via_jsonl(tmp_path, expected())
    assert "sex read from the resident ID (no sex column) (2 patients)" in [
        p.message for p in report.findings
    ]


def test_a_referral_on_the_follow_up_form_becomes_a_referral_dated_by_the_visit(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "转诊原因", "转诊机构及科别"]
    rows = [
        [ID_A, "男", "1958-03-02", "2026-03-05", "182/112", "血压控制不满意", "县医院心内科"],
        [ID_A, "男", "1958-03-02", "2026-04-05", "150/90", "复查", ""],
    ]
    report, got = imported(tmp_path, [write_csv(tmp_path / "高血压随访.csv", [header, *rows])])
    assert report.ok
    assert got[derive_patient_id(ID_A)]["referrals"] == [
        {"date": "2026-03-05", "to": "县医院心内科", "reason": "血压控制不满意"}
    ]
    assert "'复查 (no 转诊机构)' ×1" in " ".join(p.message for p in report.findings if p.code == "D109")


def test_the_reject_file_shows_a_rejected_flat_patients_first_row_and_its_other_rows(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压"]
    rows = [
        [ID_A, "男", "2030-03-02", "2026-03-05", "152/94"],
        [ID_A, "男", "2030-03-02", "2026-04-05", "150/90"],
    ]
    path = write_csv(tmp_path / "高血压随访.csv", [header, *rows])
    rejects = tmp_path / "rejects.csv"
    report = import_files([path], f"sqlite:///{tmp_path / 'db.sqlite'}", AS_OF, mapping=as_register(None),
                          reject_path=rejects, unmasked=True)  # the raw column as read (masked by default)
    assert (report.rows_read, report.imported, report.rejected) == (2, 0, 2)
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        got = [(r["row"], r["code"], r["column"], r["raw"]) for r in csv.DictReader(f)]
    assert got[0][:3] == ("2", "D022", "出生日期")
    assert json.loads(got[0][3]) == dict(zip(header, rows[0], strict=True))
    assert got[-1][:2] == ("3", "D025")


# ---- 2. value maps ------------------------------------------------------------------------------


def test_a_two_three_sex_system_is_refused_with_counts_until_the_mapping_says_so(tmp_path):
    header = ["身份证号", "姓名", "性别", "出生日期", "随访日期", "血压"]
    rows = [
        [ID_A, "张三", "2", "1958-03-02", "2026-03-05", "152/94"],
        [ID_B, "李四", "3", "1962-07-15", "2026-04-01", "165/100"],
        [ID_B, "李四", "3", "1962-07-15", "2026-05-01", "150/90"],
    ]
    path = write_csv(tmp_path / "高血压随访.csv", [header, *rows])
    report, _ = imported(tmp_path, [path], name="before")
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D016", 3, "性别"), ("D016", 4, "性别")]
    (summary,) = [p for p in report.findings if p.code == "D109"]
    assert summary.column == "性别" and summary.message == "column '性别': values no value map knows: '3' ×2"
    assert "values: sex:" in summary.hint
    mapping = tmp_path / "site.yaml"
    mapping.write_text('values:\n  sex: {"2": M, "3": F}\n', encoding="utf-8")
    report, got = imported(tmp_path, [path], mapping, name="after")
    assert report.ok
    assert sorted(r["sex"] for r in got.values()) == ["F", "M"]


def test_a_zero_one_adverse_reaction_column_is_not_read_as_the_forms_one_two(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "药物不良反应"]
    rows = [
        [ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "0"],
        [ID_A, "男", "1958-03-02", "2026-04-05", "140/90", "0"],
    ]
    path = write_csv(tmp_path / "高血压随访.csv", [header, *rows])
    report, _ = imported(tmp_path, [path], name="before")
    assert [(p.code, p.line, p.column) for p in report.rejects] == [
        ("D017", 2, "药物不良反应"),
        ("D017", 3, "药物不良反应"),
    ]
    mapping = tmp_path / "site.yaml"
    mapping.write_text('values:\n  adverse_reaction: {"0": false, "1": true}\n', encoding="utf-8")
    report, got = imported(tmp_path, [path], mapping, name="after")
    assert report.ok
    assert [v["adverse_reaction"] for v in got[derive_patient_id(ID_A)]["visits"]] == [False, False]


def test_symptoms_without_an_interchange_code_are_dropped_and_counted_unknown_ones_refused(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "症状"]
    rows = [
        [ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "4.眼花耳鸣,9.下肢水肿"],
        [ID_A, "男", "1958-03-02", "2026-04-05", "150/94", "眼花耳鸣"],
        [ID_A, "男", "1958-03-02", "2026-05-05", "140/90", "腿疼"],
    ]
    report, got = imported(tmp_path, [write_csv(tmp_path / "高血压随访.csv", [header, *rows])])
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D016", 4, "症状")]
    assert [v.get("symptoms") for v in got[derive_patient_id(ID_A)]["visits"]] == [["leg_edema"], None]
    messages = sorted(p.message for p in report.findings if p.code == "D109")
    assert messages == [
        "column '症状': values no value map knows: '腿疼' ×1",
        "column '症状': values with no interchange field, not imported: '4.眼花耳鸣' ×1, '眼花耳鸣' ×1",
    ]


def test_coded_symptoms_of_a_file_of_unknown_form_are_refused_not_guessed(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "症状", "管理病种"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "2", "高血压"]]
    report, _ = imported(tmp_path, [write_csv(tmp_path / "visits.csv", [header, *rows])])
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D016", 2, "症状")]


def test_a_site_mapping_may_set_the_form_of_a_file(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "症状"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "2"]]
    mapping = tmp_path / "site.yaml"
    mapping.write_text("form: {visits: diabetes}\n", encoding="utf-8")
    report, got = imported(tmp_path, [write_csv(tmp_path / "visits.csv", [header, *rows])], mapping)
    assert report.ok
    (record,) = got.values()
    assert record["conditions"] == ["diabetes"] and record["visits"][0]["symptoms"] == ["polyuria_polydipsia"]


# ---- 3. cell shapes -----------------------------------------------------------------------------


def test_blank_cigarettes_is_unknown_and_zero_is_a_non_smoker(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "日吸烟量"]
    rows = [
        [ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "0"],
        [ID_B, "女", "1962-07-15", "2026-03-05", "152/94", "\t"],
    ]
    report, got = imported(tmp_path, [write_csv(tmp_path / "高血压随访.csv", [header, *rows])])
    assert report.ok
    assert got[derive_patient_id(ID_A)]["smoker"] is False
    assert "smoker" not in got[derive_patient_id(ID_B)]


def test_a_unit_that_is_not_the_fields_is_refused_not_converted(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "空腹血糖"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "126mg/dl"]]
    report, _ = imported(tmp_path, [write_csv(tmp_path / "糖尿病随访.csv", [header, *rows])])
    (problem,) = report.rejects
    assert (problem.code, problem.line, problem.column) == ("D015", 2, "空腹血糖")
    assert problem.message == "visits.fpg: unit 'mg/dl' is not the field's unit ('126mg/dl')"
    assert problem.hint == "give the value in mmol/L"


def test_glucose_in_mg_dl_by_the_unit_column_is_refused_not_converted(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "空腹血糖", "血糖单位"]
    rows = [
        [ID_A, "男", "1958-03-02", "2026-03-05", "152/94", "7.0", "1"],
        [ID_A, "男", "1958-03-02", "2026-04-05", "150/94", "126", "2"],
    ]
    report, got = imported(tmp_path, [write_csv(tmp_path / "糖尿病随访.csv", [header, *rows])])
    (problem,) = report.rejects
    assert (problem.code, problem.line, problem.column) == ("D015", 3, "空腹血糖")
    assert "mg/dL" in problem.message and "÷ 18" in problem.hint
    assert [v["fpg"] for v in got[derive_patient_id(ID_A)]["visits"]] == [7.0]


def test_a_pair_in_a_field_that_is_not_current_target_is_refused(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "收缩压", "舒张压"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "152/140", "90"]]
    report, _ = imported(tmp_path, [write_csv(tmp_path / "高血压随访.csv", [header, *rows])])
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D015", 2, "收缩压")]


# ---- 4. file shapes -----------------------------------------------------------------------------


def test_a_zip_of_split_xlsx_parts_imports_as_one_export(tmp_path):
    for i, rows in enumerate((HTN_ROWS[:2], HTN_ROWS[2:]), start=1):
        write_xlsx(tmp_path / f"part{i}.xlsx", {"Sheet1": [HTN_HEADER, *rows]})
    archive = tmp_path / "高血压随访导出.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in (1, 2):
            z.write(tmp_path / f"part{i}.xlsx", f"高血压随访_{i}.xlsx")
    report, got = imported(tmp_path, [archive])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())
    assert [(f.file.rsplit("/", 1)[-1], f.rows_read, f.imported) for f in report.files] == [
        ("高血压随访导出.zip!高血压随访_1.xlsx[Sheet1]", 2, 2),
        ("高血压随访导出.zip!高血压随访_2.xlsx[Sheet1]", 1, 1),
    ]


def test_a_title_row_above_the_headers_is_read_as_their_merged_parent(tmp_path):
    title = ["高血压患者随访服务记录表"] + [None] * (len(HTN_HEADER) - 1)
    path = write_xlsx(tmp_path / "随访.xlsx", {"Sheet1": [title, HTN_HEADER, *HTN_ROWS]})
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())
    assert [(f.rows_read, f.imported) for f in report.files] == [(3, 3)]


def test_a_zip_of_gb18030_csv_parts_of_a_people_and_a_visits_file_imports(tmp_path):
    drop = ("姓名", "性别", "出生日期")
    visits = [[h for h in HTN_HEADER if h not in drop]]
    visits += [[c for h, c in zip(HTN_HEADER, r, strict=True) if h not in drop] for r in HTN_ROWS]
    people = [["身份证号", "姓名", "性别", "出生日期"], [ID_A, "张三", "男", "1958-03-02"]]
    people_2 = [people[0], [ID_B, "李四", "女", "1962-07-15"]]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, rows in (
            ("居民档案_1.csv", people),
            ("居民档案_2.csv", people_2),
            ("高血压随访.csv", visits),
        ):
            z.writestr(name, "\r\n".join(",".join(r) for r in rows).encode("gb18030"))
    report, got = imported(tmp_path, [archive])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())
    assert {f.encoding for f in report.files} == {"GB18030/GBK"}


def test_zip_member_names_written_in_gbk_are_read_as_chinese(tmp_path):
    from store.readers.sheets import member_name

    info = zipfile.ZipInfo("高血压随访.csv".encode("gbk").decode("cp437"))
    assert member_name(info) == "高血压随访.csv"


def test_merged_two_row_headers_name_leaves_by_their_parent(tmp_path):
    top = [
        "身份证号",
        "姓名",
        "性别",
        "出生日期",
        "随访日期",
        "血压",
        None,
        "症状",
        None,
        None,
        None,
        "体征",
        None,
        "此次随访分类",
        "药物不良反应",
        "日吸烟量",
    ]
    sub = [
        None,
        None,
        None,
        None,
        None,
        "收缩压",
        "舒张压",
        "头痛头晕",
        "心悸胸闷",
        "恶心呕吐",
        "其他",
        "体重",
        "心率",
        None,
        None,
        None,
    ]
    rows = [
        [ID_A, "张三", "男", "1958-03-02", "2026-03-05", 152, 94, 1, 0, 0, None, "72.5/70", 78, "2", "1", 0],
        [ID_B, "李四", "女", "1962-07-15", "2026-04-01", 165, 100, 0, 1, 1, None, 60, 88, "4", "2", 5],
        [ID_A, "张三", "男", "1958-03-02", "2026-06-10", 138, 85, 0, 0, 0, "偶尔", 71, 72, "3", None, 0],
    ]
    path = tmp_path / "高血压随访.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "随访"
    for row in (top, sub, *rows):
        ws.append(row)
    for cols in ("F1:G1", "H1:K1", "L1:M1"):
        ws.merge_cells(cols)
    for col in "ABCDENOP":
        ws.merge_cells(f"{col}1:{col}2")
    wb.save(path)
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())
    assert [(f.rows_read, f.imported) for f in report.files] == [(3, 3)]
    unknown = [(p.line, p.column) for p in report.findings if p.code == "D108"]
    assert unknown == [(1, "症状/其他")]


def test_two_parents_with_the_same_leaves_are_told_apart(tmp_path):
    top = ["身份证号", "性别", "出生日期", "随访日期", "左侧", None, "右侧", None]
    sub = [None, None, None, None, "收缩压", "舒张压", "收缩压", "舒张压"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "150", "90", "158", "88"]]
    path = write_csv(tmp_path / "高血压随访.csv", [top, sub, *rows])
    mapping = tmp_path / "site.yaml"
    mapping.write_text("bp_arm: higher\n", encoding="utf-8")
    report, got = imported(tmp_path, [path], mapping)
    assert report.ok, [p.render() for p in report.rejects]
    visit = got[derive_patient_id(ID_A)]["visits"][0]
    assert (visit["sbp"], visit["dbp"]) == (158, 88)
    assert report.rejects == [] and report.files[0].rows_read == 1
    assert "blood pressure: the arm with the higher systolic reading used" in [
        p.message for p in report.findings
    ]


def _biff_record(op: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", op, len(data)) + data


def _biff_text(text: str, lenlen: int) -> bytes:
    return struct.pack("<H" if lenlen == 2 else "<B", len(text)) + b"\x01" + text.encode("utf-16-le")


def write_xls(path, sheets: dict[str, list[list]]):
    """A legacy Excel workbook as a raw BIFF8 stream of text cells (LABEL records). xlwt is not
    installed; real .xls files wrap this stream in an OLE2 container, which xlrd unwraps itself."""

    def bof(kind: int) -> bytes:
        return _biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))

    bodies = [
        bof(0x0010)
        + b"".join(
            _biff_record(0x0204, struct.pack("<HHH", r, c, 0) + _biff_text(str(v), 2))
            for r, row in enumerate(rows)
            for c, v in enumerate(row)
            if v not in (None, "")
        )
        + _biff_record(0x000A)
        for rows in sheets.values()
    ]
    offset = len(bof(0x0005)) + sum(10 + len(_biff_text(n, 1)) for n in sheets) + 4
    workbook = bof(0x0005)
    for name, body in zip(sheets, bodies, strict=True):
        workbook += _biff_record(0x0085, struct.pack("<IBB", offset, 0, 0) + _biff_text(name, 1))
        offset += len(body)
    path.write_bytes(workbook + _biff_record(0x000A) + b"".join(bodies))
    return path


def test_a_legacy_xls_workbook_imports_the_same(tmp_path):
    path = write_xls(tmp_path / "高血压随访.xls", {"随访记录": [HTN_HEADER, *HTN_ROWS]})
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())
    assert [(f.file.rsplit("/", 1)[-1], f.encoding, f.rows_read) for f in report.files] == [
        ("高血压随访.xls[随访记录]", "xls", 3)
    ]


def test_a_legacy_xls_written_by_excel_s_own_format_library_imports_the_same(tmp_path):
    """A real OLE2-wrapped .xls (xlwt writes the compound-document container Excel 97–2003 uses)."""
    import xlwt  # a test extra
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("随访记录")
    for r, row in enumerate([HTN_HEADER, *HTN_ROWS]):
        for c, value in enumerate(row):
            if value not in (None, ""):
                sheet.write(r, c, str(value))
    path = tmp_path / "高血压随访.xls"
    book.save(str(path))
    assert path.read_bytes()[:8] == bytes.fromhex("D0CF11E0A1B11AE1")  # the OLE2 signature
    report, got = imported(tmp_path, [path])
    assert report.ok, [p.render() for p in report.rejects]
    assert got == via_jsonl(tmp_path, expected())


def test_an_unreadable_xls_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "随访.xls"
    path.write_bytes(b"not a workbook")
    report, _ = imported(tmp_path, [path])
    assert [(p.code, p.file) for p in report.rejects] == [("D030", str(path))]
    assert report.rejects[0].message.startswith("cannot open the .xls workbook")


# ---- 6. traps of meaning ------------------------------------------------------------------------


def test_urine_microalbumin_is_never_taken_as_uacr(tmp_path):
    header = ["患者编号", "检验日期", "尿微量白蛋白(mg/L)", "肌酐"]
    folder = tmp_path / "labs"
    folder.mkdir()
    write_csv(
        folder / "患者.csv",
        [
            ["患者编号", "性别", "出生日期", "管理病种", "建档日期"],
            ["p1", "男", "1958-03-02", "高血压", "2021-01-01"],
        ],
    )
    write_csv(folder / "化验.csv", [header, ["p1", "2026-03-12", "45", "98"]])
    report, got = imported(tmp_path, [folder])
    assert got["p1"]["labs"] == [{"date": "2026-03-12", "creatinine": 98}]
    (trap,) = [p for p in report.findings if p.column == "尿微量白蛋白(mg/L)"]
    assert "not the albumin/creatinine ratio" in trap.message
    mapping = tmp_path / "site.yaml"
    mapping.write_text("columns:\n  尿微量白蛋白: labs.uacr\n", encoding="utf-8")
    with pytest.raises(SangaoError) as caught:
        load_mapping(mapping)
    (problem,) = caught.value.problems
    assert (problem.code, problem.line, problem.column) == ("D031", 2, 3)
    assert "concentration" in problem.message


def test_two_arm_blood_pressure_needs_the_mapping_to_say_which_arm(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "左侧血压", "右侧血压"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "150/90", "158/88"]]
    path = write_csv(tmp_path / "高血压随访.csv", [header, *rows])
    report, got = imported(tmp_path, [path], name="none")
    assert got == {}
    (problem,) = report.rejects
    assert (problem.code, problem.line) == ("D030", 1) and "bp_arm:" in problem.hint
    for arm, want in (("left", (150, 90)), ("right", (158, 88)), ("higher", (158, 88))):
        mapping = tmp_path / f"{arm}.yaml"
        mapping.write_text(f"bp_arm: {arm}\n", encoding="utf-8")
        report, got = imported(tmp_path, [path], mapping, name=arm)
        visit = got[derive_patient_id(ID_A)]["visits"][0]
        assert (visit["sbp"], visit["dbp"]) == want
        assert any(p.code == "D110" and "reading used" in p.message for p in report.findings)


def test_a_bad_mapping_arm_or_form_is_refused_at_its_line(tmp_path):
    mapping = tmp_path / "site.yaml"
    mapping.write_text("bp_arm: both\nform: hypertensive\n", encoding="utf-8")
    with pytest.raises(SangaoError) as caught:
        load_mapping(mapping)
    assert [(p.code, p.line, p.hint.split(" ")[0]) for p in caught.value.problems] == [
        ("D031", 2, "did"),
        ("D031", 1, "left,"),
    ]
