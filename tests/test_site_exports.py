"""A site's files about one register of people (real-exports, how a site's files fit together): the
person file is the register; a follow-up export and a health-check export are events files that
add dated visits, labs and screenings to registered people, never rewrite them, and report people
outside the register. Every fixture is built here, for one small cohort:

- 张三 (A): hypertension since 2020; two follow-ups; a health check with two-arm readings that
  cross (left arm higher systolic, right arm higher diastolic) and a code-suffix pair;
- 李四 (B): diabetes; the person file says 男 though her ID is a woman's, and the follow-up
  export says 女 (a disagreement with the register, which wins);
- 王五 (C): a wrong-digit ID in the person file (rejected there, so his follow-up is unknown);
- 赵六 (D): in the follow-up export only (outside the register).
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from store.exporter import export_jsonl
from store.importer import import_files
from store.readers.tabular import derive_patient_id
from tests.test_real_exports import AS_OF, write_csv, write_xlsx

ID_A = "370202195803021236"  # 张三, male
ID_B = "370202196207151047"  # 李四, female by the ID
ID_C = "370202194509090018"  # 王五: the check digit should be 7
ID_D = "370202195001011239"  # 赵六, not in the register

PERSON_HEADER = ["姓名", "性别", "出生日期", "身份证号", "本人电话", "管理病种", "建档日期"]
PERSON_ROWS = [
    ["张三", "男", "1958-03-02", ID_A + "\t", "138 0000 1111\t", "高血压", "2020-05-01"],
    ["李四", "男", "1962-07-15", ID_B + "\t", "", "糖尿病", "2021-03-10"],
    ["王五", "男", "1945-09-09", ID_C + "\t", "", "高血压", "2019-01-01"],
]

FOLLOW_UP_HEADER = ["姓名", "性别", "身份证号", "随访日期", "收缩压", "舒张压", "心率"]
FOLLOW_UP_ROWS = [
    ["张三", "男", ID_A, "2026-03-05", "152", "94", "78"],
    ["李四", "女", ID_B, "2026-04-01", "128", "80", "70"],
    ["赵六", "男", ID_D, "2026-04-02", "160", "95", "80"],
    ["张三", "男", ID_A, "2026-06-10", "138", "85", "72"],
    ["王五", "男", ID_C, "2026-06-11", "140", "90", "75"],
]


def person_file(tmp_path):
    return write_xlsx(tmp_path / "个人档案.xlsx", {"个人档案": [PERSON_HEADER, *PERSON_ROWS]})


def follow_up_file(tmp_path):
    folder = tmp_path / "visits"
    folder.mkdir(exist_ok=True)
    return write_csv(folder / "高血压随访.csv", [FOLLOW_UP_HEADER, *FOLLOW_UP_ROWS])


EXPECTED_AFTER_FOLLOW_UP = [
    {
        "patient_id": derive_patient_id(ID_A),
        "id_number": ID_A,
        "name": "张三",
        "phone": "13800001111",
        "sex": "M",
        "birth_date": "1958-03-02",
        "conditions": ["hypertension"],
        "enrolled_on": "2020-05-01",
        "visits": [
            {"date": "2026-03-05", "sbp": 152, "dbp": 94, "heart_rate": 78},
            {"date": "2026-06-10", "sbp": 138, "dbp": 85, "heart_rate": 72},
        ],
    },
    {
        "patient_id": derive_patient_id(ID_B),
        "id_number": ID_B,
        "name": "李四",
        "sex": "M",
        "birth_date": "1962-07-15",
        "conditions": ["diabetes"],
        "enrolled_on": "2021-03-10",
        "visits": [{"date": "2026-04-01", "sbp": 128, "dbp": 80, "heart_rate": 70}],
    },
]


def exported(url: str) -> list[dict]:
    out = io.StringIO()
    export_jsonl(url, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def expected_jsonl(tmp_path, records) -> list[dict]:
    """The hand-written records, through an interchange JSONL import and export (so absent fields
    come out as the exporter writes them)."""
    path = tmp_path / "expected.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'expected.db'}"
    assert import_files([path], url, AS_OF).ok
    return exported(url)


def located(problems, code):
    return sorted((p.file.rsplit("/", 1)[-1], p.line, p.column) for p in problems if p.code == code)


def test_a_follow_up_export_adds_visits_to_the_register_and_never_rewrites_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    # the follow-up file named first: the person file still goes first
    report = import_files([follow_up_file(tmp_path), person_file(tmp_path)], url, AS_OF)
    assert exported(url) == expected_jsonl(tmp_path, EXPECTED_AFTER_FOLLOW_UP)
    for f in report.files:
        assert f.rows_read == f.imported + f.rejected, f
    by_file = {f.file.rsplit("/", 1)[-1]: (f.rows_read, f.imported, f.rejected) for f in report.files}
    assert by_file == {"个人档案.xlsx[个人档案]": (3, 2, 1), "高血压随访.csv": (5, 3, 2)}
    # the wrong-digit ID is refused in the person file; his follow-up and 赵六's are unknown people
    assert located(report.rejects, "D020") == [("个人档案.xlsx[个人档案]", 4, "身份证号")]
    assert located(report.rejects, "D027") == [
        ("高血压随访.csv", 4, "身份证号"),
        ("高血压随访.csv", 6, "身份证号"),
    ]
    assert ID_D not in " ".join(p.render() for p in report.rejects)  # IDs are masked
    unknown = [p for p in report.findings if p.code == "D112"]
    assert [(p.fields["people"], p.fields["rows"], p.fields["first"]) for p in unknown] == [(2, 2, 4)]
    # 李四: the ID says female (kept, reported in the register); the follow-up says 女 (reported)
    assert located(report.findings, "D105") == [("个人档案.xlsx[个人档案]", 3, "性别")]
    [sex] = [p for p in report.findings if p.code == "D105"]
    assert (sex.text(), sex.text("en")) == (
        "性别 M 与身份证号不符（F）",
        "sex M disagrees with the resident ID (F)",
    )
    [wrong_digit] = [p for p in report.rejects if p.code == "D020"]
    assert wrong_digit.text().startswith("身份证号 '370202********0018' 有误：")
    assert wrong_digit.hint_text() == "请按居民身份证更正，或留空"
    disagreement = [p for p in report.findings if p.code == "D111"]
    assert located(disagreement, "D111") == [("高血压随访.csv", 3, "性别")]
    assert disagreement[0].text("en") == (
        "sex: F in this file, M in the register; the register's value is kept"
    )
    assert disagreement[0].text("zh") == "性别：本文件为 F，登记册为 M；保留登记册的值"


def test_importing_the_same_files_again_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    files = [person_file(tmp_path), follow_up_file(tmp_path)]
    import_files(files, url, AS_OF)
    first = exported(url)
    again = import_files(files, url, AS_OF)
    assert exported(url) == first
    assert [(f.rows_read, f.imported, f.rejected) for f in again.files] == [(3, 2, 1), (5, 3, 2)]


def test_an_events_file_whose_people_are_all_unknown_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    report = import_files([follow_up_file(tmp_path)], url, AS_OF)
    assert (report.rows_read, report.imported, report.rejected) == (5, 0, 5)
    assert [p.code for p in report.findings if p.code in ("D112", "D113")] == ["D113"]
    assert report.patients_imported == 0
    assert exported(url) == []


def test_a_flat_export_the_mapping_calls_a_register_creates_its_people(tmp_path):
    mapping = tmp_path / "site.yaml"
    mapping.write_text(
        "role: {高血压随访: register}\ndefaults: {enrolled_on: 2020-01-01}\n", encoding="utf-8"
    )
    url = f"sqlite:///{tmp_path / 'site.db'}"
    report = import_files([follow_up_file(tmp_path)], url, AS_OF, mapping=mapping)
    assert report.rejected == 1  # 王五's wrong-digit ID
    people = {r["name"]: r for r in exported(url)}
    assert sorted(people) == ["张三", "李四", "赵六"]
    assert people["张三"]["conditions"] == ["hypertension"]  # the file's name says 高血压


@pytest.mark.parametrize("role", ["registr", "both"])
def test_an_unknown_role_is_refused_at_its_line(tmp_path, role):
    from pathways.errors import SangaoError
    from store.readers.mapping import load_mapping

    mapping = tmp_path / "site.yaml"
    mapping.write_text(f"bp_arm: higher\nrole: {role}\n", encoding="utf-8")
    with pytest.raises(SangaoError) as caught:
        load_mapping(mapping)
    assert [(p.code, p.line) for p in caught.value.problems] == [("D031", 2)]


def test_the_rejected_rows_of_unknown_people_are_in_the_reject_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    rejects = tmp_path / "rejects.csv"
    import_files([person_file(tmp_path), follow_up_file(tmp_path)], url, AS_OF, reject_path=rejects)
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        rows = [(r["file"].rsplit("/", 1)[-1], r["row"], r["code"]) for r in csv.DictReader(f)]
    assert rows == [
        ("个人档案.xlsx[个人档案]", "4", "D020"),
        ("高血压随访.csv", "4", "D027"),
        ("高血压随访.csv", "6", "D027"),
    ]


# ---- the health check (健康体检表) --------------------------------------------------------------

CHECK_HEADER = [
    "体检日期-CHECKDATE",
    "姓名-NAME",
    "性别-SEX",
    "身份证号-IDCARD",
    "血压-左侧-LEFTHEIGHT",
    "血压-左侧-LEFTPRE",
    "血压-右侧-RIGHTHEIGHT",
    "血压-右侧-RIGHTPRE",
    "身高-HEIGHT",
    "体重-WEIGHT",
    "腰围-WAIST",
    "脉率-PULSE",
    "吸烟状况-SMOKESTATUS",
    "眼底-FUNDUS",
    "足背动脉搏动-DORSALIS",
    "空腹血糖-FPG",
    "心电图-ECG",
    "尿微量白蛋白-MALB",
    "糖化血红蛋白-HBA1C",
    "血清肌酐-SCR",
    "总胆固醇-TC",
    "甘油三酯-TG",
    "血清低密度脂蛋白胆固醇-LDLC",
    "血清高密度脂蛋白胆固醇-HDLC",
]
CHECK_ROWS = [
    # 张三: left 150/88, right 146/92 cross (the higher systolic is the left arm's); 2 已戒烟;
    # 1 正常 fundus; foot pulse 1 未触及 (abnormal on this form); ECG 2 异常
    ["2026-05-20", "张三", "男", ID_A, 150, 88, 146, 92, 170, 72, 90, 76, "2", "1", "1", 5.6, "2", 12,
     5.9, 88, 5.2, 1.7, 3.1, 1.2],
    # 李四: the right arm is higher; 1 从不吸烟; foot pulse 2 触及双侧对称 (normal); 女 (the register
    # says 男); no blood tests this year
    ["2026-05-21", "李四", "女", ID_B, 128, 80, 132, 78, 158, 61, 80, 70, "1", "1", "2", 6.8, "1", None,
     None, None, None, None, None, None],
    # 赵六: outside the register
    ["2026-05-22", "赵六", "男", ID_D, 170, 100, 168, 98, 165, 80, 95, 88, "3", "2", "3", 7.2, "2", 30,
     7.1, 110, 6.0, 2.2, 4.0, 0.9],
]
CHECK_MAPPING = """\
columns:
  血压-左侧-LEFTHEIGHT: visits.sbp_left
  血压-左侧-LEFTPRE: visits.dbp_left
  血压-右侧-RIGHTHEIGHT: visits.sbp_right
  血压-右侧-RIGHTPRE: visits.dbp_right
bp_arm: higher
"""


def health_check_file(tmp_path, rows=CHECK_ROWS):
    return write_xlsx(tmp_path / "健康体检.xlsx", {"Sheet1": [CHECK_HEADER, *rows]})


def split_follow_up_zip(tmp_path):
    """The follow-up export as a zip of two GB18030 CSV parts, each with its header row."""
    import zipfile

    archive = tmp_path / "高血压随访导出.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for n, part in enumerate((FOLLOW_UP_ROWS[:3], FOLLOW_UP_ROWS[3:]), start=1):
            text = "\r\n".join(",".join(r) for r in [FOLLOW_UP_HEADER, *part])
            z.writestr(f"高血压随访_{n}.csv", text.encode("gb18030"))
    return archive


EXPECTED_REGISTER = [
    {
        "patient_id": derive_patient_id(ID_A),
        "id_number": ID_A,
        "name": "张三",
        "phone": "13800001111",
        "sex": "M",
        "birth_date": "1958-03-02",
        "conditions": ["hypertension"],
        "enrolled_on": "2020-05-01",
        "smoker": False,
        "visits": [
            {"date": "2026-03-05", "sbp": 152, "dbp": 94, "heart_rate": 78},
            {
                "date": "2026-05-20",
                "sbp": 150,
                "dbp": 88,
                "heart_rate": 76,
                "fpg": 5.6,
                "weight_kg": 72,
                "height_cm": 170,
                "waist_cm": 90,
            },
            {"date": "2026-06-10", "sbp": 138, "dbp": 85, "heart_rate": 72},
        ],
        "labs": [
            {"date": "2026-05-20", "tc": 5.2, "ldl_c": 3.1, "hdl_c": 1.2, "tg": 1.7, "hba1c": 5.9,
             "creatinine": 88},
        ],
        "screenings": [
            {"date": "2026-05-20", "kind": "fundus", "result": "normal"},
            {"date": "2026-05-20", "kind": "foot_pulse", "result": "abnormal"},
            {"date": "2026-05-20", "kind": "ecg", "result": "abnormal"},
        ],
    },
    {
        "patient_id": derive_patient_id(ID_B),
        "id_number": ID_B,
        "name": "李四",
        "sex": "M",
        "birth_date": "1962-07-15",
        "conditions": ["diabetes"],
        "enrolled_on": "2021-03-10",
        "smoker": False,
        "visits": [
            {"date": "2026-04-01", "sbp": 128, "dbp": 80, "heart_rate": 70},
            {
                "date": "2026-05-21",
                "sbp": 132,
                "dbp": 78,
                "heart_rate": 70,
                "fpg": 6.8,
                "weight_kg": 61,
                "height_cm": 158,
                "waist_cm": 80,
            },
        ],
        "screenings": [
            {"date": "2026-05-21", "kind": "fundus", "result": "normal"},
            {"date": "2026-05-21", "kind": "foot_pulse", "result": "normal"},
            {"date": "2026-05-21", "kind": "ecg", "result": "normal"},
        ],
    },
]


def site_mapping(tmp_path, text=CHECK_MAPPING):
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_sites_person_follow_up_and_health_check_files_make_one_correct_register(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    files = [health_check_file(tmp_path), split_follow_up_zip(tmp_path), person_file(tmp_path)]
    report = import_files(files, url, AS_OF, mapping=site_mapping(tmp_path))
    assert exported(url) == expected_jsonl(tmp_path, EXPECTED_REGISTER)
    counts = {f.file.rsplit("/", 1)[-1]: (f.rows_read, f.imported, f.rejected) for f in report.files}
    assert counts == {
        "个人档案.xlsx[个人档案]": (3, 2, 1),
        "高血压随访导出.zip!高血压随访_1.csv": (3, 2, 1),
        "高血压随访导出.zip!高血压随访_2.csv": (2, 1, 1),
        "健康体检.xlsx[Sheet1]": (3, 2, 1),
    }
    assert located(report.rejects, "D027") == [
        ("健康体检.xlsx[Sheet1]", 4, "身份证号-IDCARD"),
        ("高血压随访导出.zip!高血压随访_1.csv", 4, "身份证号"),
        ("高血压随访导出.zip!高血压随访_2.csv", 3, "身份证号"),
    ]
    assert located(report.findings, "D111") == [
        ("健康体检.xlsx[Sheet1]", 3, "性别-SEX"),
        ("高血压随访导出.zip!高血压随访_1.csv", 3, "性别"),
    ]
    # 尿微量白蛋白 is a concentration, never UACR; the choice of arm is stated
    assert [p.column for p in report.findings if p.code == "D108"] == ["尿微量白蛋白-MALB"]
    assert "blood pressure: the arm with the higher systolic reading used" in [
        p.message for p in report.findings
    ]
    again = import_files(files, url, AS_OF, mapping=site_mapping(tmp_path))
    assert exported(url) == expected_jsonl(tmp_path, EXPECTED_REGISTER)
    assert again.rejected == report.rejected


def test_a_code_suffix_pair_is_not_read_until_the_mapping_names_each_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    report = import_files([health_check_file(tmp_path)], url, AS_OF)
    assert located(report.findings, "D114") == [
        ("健康体检.xlsx[Sheet1]", 1, h) for h in sorted(CHECK_HEADER[4:8])
    ]
    visit = [v for v in exported(url)[0]["visits"] if v["date"] == "2026-05-20"][0]
    assert "sbp" not in visit and visit["height_cm"] == 170


def test_health_check_codes_are_the_forms_own_and_an_unknown_code_is_refused_where_it_is(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    row = list(CHECK_ROWS[0])
    row[12] = "9"  # 吸烟状况 has codes 1–3 only
    report = import_files([health_check_file(tmp_path, [row])], url, AS_OF, mapping=site_mapping(tmp_path))
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D017", 2, "吸烟状况-SMOKESTATUS")]
    [refused] = report.rejects
    assert refused.text() == "patients.smoking_status：未知的吸烟状况（'9'）"
    assert refused.text("en") == "patients.smoking_status: unknown smoking status ('9')"
    assert refused.hint_text().startswith("体检表为 1 从不吸烟 2 已戒烟 3 吸烟")
    unmapped = [p for p in report.findings if p.code == "D109"]
    assert [(p.column, "'9' ×1" in p.message) for p in unmapped] == [("吸烟状况-SMOKESTATUS", True)]
    assert "smoker" not in exported(url)[0]


def test_a_smoking_status_one_in_a_follow_up_file_is_refused_not_read_as_yes(tmp_path):
    header = ["身份证号", "随访日期", "收缩压", "舒张压", "吸烟状况"]
    path = write_csv(tmp_path / "高血压随访.csv", [header, [ID_A, "2026-03-05", "150", "90", "1"]])
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    report = import_files([path], url, AS_OF)
    assert [(p.code, p.column) for p in report.rejects] == [("D017", "吸烟状况")]


# ---- headers ------------------------------------------------------------------------------------


def three_row_header_workbook(tmp_path):
    """A title row over three merged header rows (openpyxl merges, read-only reading sees blanks):
    基本信息 over 姓名 / 性别 / 身份证号; 高血压患者 over 最后一次随访日期 and 最后一次随访血压, which
    is over 收缩压 and 舒张压."""
    import openpyxl

    path = tmp_path / "慢病花名册.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["高血压患者随访花名册"] + [None] * 6)
    ws.append(["基本信息", None, None, "高血压患者", None, None, None])
    ws.append(["姓名", "性别", "身份证号", "最后一次随访日期", "最后一次随访血压", None, "心率"])
    ws.append([None, None, None, None, "收缩压", "舒张压", None])
    ws.append(["张三", "男", ID_A, "2026-03-05", 152, 94, 78])
    ws.append(["李四", "男", ID_B, "2026-04-01", 128, 80, 70])
    for cells in ("A1:G1", "A2:C2", "D2:G2", "E3:F3", "A3:A4", "B3:B4", "C3:C4", "D3:D4", "G3:G4"):
        ws.merge_cells(cells)
    wb.save(path)
    return path


def test_a_three_row_merged_header_under_a_title_is_read_as_paths(tmp_path):
    from store.inspect import inspect_files

    path = three_row_header_workbook(tmp_path)
    [table] = inspect_files([path]).tables
    assert [c.header for c in table.columns] == [
        "基本信息/姓名",
        "基本信息/性别",
        "基本信息/身份证号",
        "高血压患者/最后一次随访日期",
        "高血压患者/最后一次随访血压/收缩压",
        "高血压患者/最后一次随访血压/舒张压",
        "高血压患者/心率",
    ]
    assert [c.target for c in table.columns] == [
        "patients.name", "patients.sex", "patients.id_number", None, "visits.sbp", "visits.dbp",
        "visits.heart_rate",
    ]
    assert table.form == "hypertension" and not table.form_guessed  # the title names the form
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    mapping = site_mapping(tmp_path, "columns:\n  高血压患者/最后一次随访日期: visits.date\n")
    report = import_files([path], url, AS_OF, mapping=mapping)
    assert (report.rows_read, report.imported, report.rejected) == (2, 2, 0)
    visits = {r["name"]: r["visits"] for r in exported(url)}
    assert visits == {
        "张三": [{"date": "2026-03-05", "sbp": 152, "dbp": 94, "heart_rate": 78}],
        "李四": [{"date": "2026-04-01", "sbp": 128, "dbp": 80, "heart_rate": 70}],
    }


def test_roster_inspect_of_a_file_it_cannot_read_exits_1_and_says_why(tmp_path):
    from typer.testing import CliRunner

    import cli

    broken = tmp_path / "体检.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    result = CliRunner().invoke(cli.app, ["roster", "inspect", str(broken)])
    assert result.exit_code == 1
    assert "D030" in result.output and "体检.xlsx" in result.output
    nothing = write_xlsx(tmp_path / "说明.xlsx", {"说明": [["本表说明"], ["导出时间", "2026-11-30"]]})
    result = CliRunner().invoke(cli.app, ["roster", "inspect", str(nothing)])
    assert result.exit_code == 1
    assert "D030" in result.output and "说明.xlsx" in result.output


def test_the_proposal_for_the_sites_files_needs_five_edited_lines_to_import_them_right(tmp_path):
    """The worked example of docs/importing.md: inspect, uncomment the two arms' four columns and
    bp_arm, import."""
    import difflib

    from store.inspect import inspect_files, proposal_yaml

    files = [person_file(tmp_path), split_follow_up_zip(tmp_path), health_check_file(tmp_path)]
    result = inspect_files(files)
    assert result.undecided  # `roster inspect` exits 1 until the arms are mapped
    proposed = proposal_yaml(result)
    choices = {
        "血压-左侧-LEFTHEIGHT": "visits.sbp_left",
        "血压-左侧-LEFTPRE": "visits.dbp_left",
        "血压-右侧-RIGHTHEIGHT": "visits.sbp_right",
        "血压-右侧-RIGHTPRE": "visits.dbp_right",
    }
    edited = []
    for line in proposed.splitlines():
        header = line.split('"')[1] if line.startswith('  # "') else None
        if header in choices:
            line = f'  "{header}": {choices[header]}'
        elif line.startswith("# bp_arm: higher"):
            line = "bp_arm: higher"
        edited.append(line)
    changed = [d for d in difflib.ndiff(proposed.splitlines(), edited) if d.startswith("+ ")]
    assert len(changed) == 5
    mapping = site_mapping(tmp_path, "\n".join(edited) + "\n")
    assert not inspect_files(files, mapping).undecided
    url = f"sqlite:///{tmp_path / 'site.db'}"
    report = import_files(files, url, AS_OF, mapping=mapping)
    assert exported(url) == expected_jsonl(tmp_path, EXPECTED_REGISTER)
    assert report.rows_read == report.imported + report.rejected == 3 + 5 + 3


# ---- the mapping file ---------------------------------------------------------------------------


def test_a_mapping_ignores_a_recognised_column_maps_a_label_to_nothing_and_overrides_a_header(tmp_path):
    header = ["身份证号", "姓名", "性别", "出生日期", "服务类型", "建档日期", "联系电话", "备用电话"]
    rows = [
        [ID_A, "张三", "男", "1958-03-02", "高血压,老年人", "2020-05-01", "138 0000 1111", "0532\t8888 7777"],
    ]
    path = write_csv(tmp_path / "个人档案.csv", [header, *rows])
    url = f"sqlite:///{tmp_path / 'site.db'}"
    plain = import_files([path], url, AS_OF)
    assert [(p.code, p.column) for p in plain.rejects] == [("D013", "服务类型")]  # 老年人 is no programme
    mapping = site_mapping(
        tmp_path,
        "columns:\n  联系电话: ignore\n  备用电话: patients.phone\n"
        "values:\n  conditions: {老年人: null}\n",
    )
    report = import_files([path], url, AS_OF, mapping=mapping)
    assert report.ok, [p.render() for p in report.rejects]
    [person] = exported(url)
    assert (person["conditions"], person["phone"]) == (["hypertension"], "053288887777")
    dropped = [p for p in report.findings if p.code == "D109"]
    assert [(p.column, "'老年人' ×1" in p.message) for p in dropped] == [("服务类型", True)]


def test_findings_read_in_chinese_by_default_and_in_english_on_request(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    report = import_files([health_check_file(tmp_path)], url, AS_OF, mapping=site_mapping(tmp_path))
    [albumin] = [p for p in report.findings if p.code == "D108"]
    assert albumin.text() == (
        "列 尿微量白蛋白-MALB 是尿微量白蛋白浓度（mg/L），不是尿白蛋白/肌酐比值（UACR，mg/g）；未导入"
    )
    assert albumin.text("en").startswith("column '尿微量白蛋白-MALB' is a urine albumin concentration")
    arm = [p for p in report.findings if p.code == "D110"]
    assert [p.text() for p in arm] == ["血压：采用收缩压较高一侧的读数"]
    [unknown] = [p for p in report.rejects if p.code == "D027"]
    assert unknown.text() == "随访：居民 370202********1239 不在登记册中（事件文件不新建患者）"


def test_a_health_check_on_a_follow_up_day_adds_to_that_visit_and_erases_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    row = list(CHECK_ROWS[0])
    row[0] = "2026-06-10"  # 张三's second follow-up day: 138/85, heart rate 72
    row[4:8] = [None, None, None, None]  # no blood pressure taken at this check, nor pulse
    row[11] = None
    files = [person_file(tmp_path), follow_up_file(tmp_path), health_check_file(tmp_path, [row])]
    import_files(files, url, AS_OF, mapping=site_mapping(tmp_path))
    visit = exported(url)[0]["visits"][-1]
    assert visit == {
        "date": "2026-06-10",
        "sbp": 138,
        "dbp": 85,
        "heart_rate": 72,
        "fpg": 5.6,
        "weight_kg": 72,
        "height_cm": 170,
        "waist_cm": 90,
    }
    first = exported(url)
    import_files(files, url, AS_OF, mapping=site_mapping(tmp_path))
    assert exported(url) == first


def test_a_flat_file_called_a_register_never_replaces_stored_values_with_derived_ones(tmp_path):
    """The follow-up export as a second register: its enrolment date would be the first visit, 李四's
    programme the file's form (高血压) and her sex the ID's; none replaces what the person file says."""
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    header = ["姓名", "身份证号", "随访日期", "收缩压", "舒张压", "心率"]  # no 性别: sex from the ID
    rows = [[r[0], r[2], r[3], r[4], r[5], r[6]] for r in FOLLOW_UP_ROWS]
    path = write_csv(tmp_path / "高血压随访.csv", [header, *rows])
    mapping = site_mapping(tmp_path, "role: register\n")
    report = import_files([path], url, AS_OF, mapping=mapping)
    people = {r["name"]: r for r in exported(url)}
    kept = [(people[n]["enrolled_on"], people[n]["conditions"], people[n]["sex"]) for n in ("张三", "李四")]
    assert kept == [
        ("2020-05-01", ["hypertension"], "M"),
        ("2021-03-10", ["diabetes"], "M"),
    ]
    assert people["赵六"]["enrolled_on"] == "2026-04-02"  # a new person takes them (and they are said)
    assert people["赵六"]["sex"] == "M"
    assert any(p.code == "D110" and "first visit" in p.message for p in report.findings)


def test_two_readings_of_one_day_are_both_kept_in_a_file_and_across_files(tmp_path):
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    rows = [
        ["张三", "男", ID_A, "2026-03-05", "118", "75", "70"],
        ["张三", "男", ID_A, "2026-03-05", "192", "118", "96"],  # the same day, taken again
        ["张三", "男", ID_A, "2026-03-05", "", "", "70"],  # agrees with the first: completes it
    ]
    visits = write_csv(tmp_path / "高血压随访.csv", [FOLLOW_UP_HEADER, *rows])
    report = import_files([visits], url, AS_OF)
    assert (report.rows_read, report.imported, report.rejected) == (3, 3, 0)
    readings = [(v["sbp"], v["dbp"]) for v in exported(url)[0]["visits"]]
    assert readings == [(118, 75), (192, 118)]
    row = list(CHECK_ROWS[0])
    row[0] = "2026-03-05"  # a health check that day: a third reading (the left arm's 150/88)
    import_files([health_check_file(tmp_path, [row])], url, AS_OF, mapping=site_mapping(tmp_path))
    after = [(v["sbp"], v["dbp"]) for v in exported(url)[0]["visits"]]
    assert after == [(118, 75), (192, 118), (150, 88)]
    import_files([visits], url, AS_OF)
    import_files([health_check_file(tmp_path, [row])], url, AS_OF, mapping=site_mapping(tmp_path))
    assert [(v["sbp"], v["dbp"]) for v in exported(url)[0]["visits"]] == after


def test_a_cell_that_is_no_valid_value_is_refused_where_it_is_never_guessed(tmp_path):
    """`1,200` or `1.5` in a coded column is not code 1 with a label; an infinite or NaN number
    (a workbook cell of 1e309) is no number."""
    from store.readers.aliases import CellError, parse_number

    header = ["身份证号", "随访日期", "收缩压", "舒张压", "药物不良反应"]
    rows = [
        [ID_A, "2026-03-05", "150", "90", "1,200"],
        [ID_A, "2026-04-05", "150", "90", "1.5"],
        [ID_A, "2026-05-05", "150", "90", "1.无"],
    ]
    path = write_csv(tmp_path / "高血压随访.csv", [header, *rows])
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_files([person_file(tmp_path)], url, AS_OF)
    report = import_files([path], url, AS_OF)
    assert sorted((p.line, p.code, p.column) for p in report.rejects) == [
        (2, "D017", "药物不良反应"),
        (3, "D017", "药物不良反应"),
    ]
    assert [v["date"] for v in exported(url)[0]["visits"]] == ["2026-05-05"]
    for number in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(CellError):
            parse_number(number, "cigarettes/day", pair=True)
