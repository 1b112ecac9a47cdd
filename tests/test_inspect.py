"""`sangao roster inspect` proposes a mapping that, accepted as is, imports what the import reads
without it (where headers are standard), and lists every column and coded value it could not
understand with counts, and the decisions only the site can make."""

from __future__ import annotations

import zipfile

import openpyxl
from test_real_exports import (
    HTN_HEADER,
    HTN_ROWS,
    ID_A,
    ID_B,
    expected,
    imported,
    via_jsonl,
    write_csv,
    write_xlsx,
)
from typer.testing import CliRunner

import cli
from store.inspect import inspect_files, proposal_yaml
from store.readers.mapping import load_mapping


def flat_csv(tmp_path):
    return [write_csv(tmp_path / "高血压患者随访记录.csv", [HTN_HEADER, *HTN_ROWS])]


def gb2312_csv(tmp_path):
    return [write_csv(tmp_path / "高血压随访.csv", [HTN_HEADER, *HTN_ROWS], encoding="gb18030")]


def people_and_visits(tmp_path):
    people = [
        ["身份证号", "姓名", "性别", "出生日期", "建档日期", "管理病种"],
        [ID_A, "张三", "男", "1958-03-02", "2026-03-05", "高血压"],
        [ID_B, "李四", "女", "1962-07-15", "2026-04-01", "高血压"],
    ]
    drop = ("姓名", "性别", "出生日期")
    visits = [[h for h in HTN_HEADER if h not in drop]]
    visits += [[c for h, c in zip(HTN_HEADER, r, strict=True) if h not in drop] for r in HTN_ROWS]
    return [write_xlsx(tmp_path / "export.xlsx", {"基本信息": people, "高血压随访": visits})]


def zip_of_parts(tmp_path):
    archive = tmp_path / "高血压随访导出.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i, rows in enumerate((HTN_ROWS[:1], HTN_ROWS[1:]), start=1):
            part = write_xlsx(tmp_path / f"p{i}.xlsx", {"Sheet1": [HTN_HEADER, *rows]})
            z.write(part, f"高血压随访_{i}.xlsx")
    return [archive]


def merged_headers(tmp_path):
    path = tmp_path / "高血压随访.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    top = ["身份证号", "姓名", "性别", "出生日期", "随访日期", "血压", None, "症状", None, None]
    ws.append([*top, "体征", None, "此次随访分类", "药物不良反应", "日吸烟量"])
    sub = [None, None, None, None, None, "收缩压", "舒张压", "头痛头晕", "心悸胸闷", "恶心呕吐"]
    ws.append([*sub, "体重", "心率", None, None, None])
    ws.append([ID_A, "张三", "男", "1958-03-02", "2026-03-05", 152, 94, 1, 0, 0, "72.5/70", 78, "2", "1", 0])
    ws.append([ID_B, "李四", "女", "1962-07-15", "2026-04-01", 165, 100, 0, 1, 1, 60, 88, "4", "2", 5])
    ws.append([ID_A, "张三", "男", "1958-03-02", "2026-06-10", 138, 85, 0, 0, 0, 71, 72, "3", None, 0])
    for cells in ("F1:G1", "H1:J1", "K1:L1", "A1:A2", "M1:M2"):
        ws.merge_cells(cells)
    wb.save(path)
    return [path]


LAYOUTS = [flat_csv, gb2312_csv, people_and_visits, zip_of_parts, merged_headers]


def test_each_layouts_proposal_accepted_as_is_imports_without_loss(tmp_path):
    for build in LAYOUTS:
        folder = tmp_path / build.__name__
        folder.mkdir()
        paths = build(folder)
        result = inspect_files(paths)
        assert result.unmapped == 0, build.__name__
        text = proposal_yaml(result)
        flat = build is not people_and_visits
        assert (": events\n" in text, ": register\n" in text) == (flat, not flat), build.__name__
        # these exports are the site's register here (the tests import them without a person file):
        # the one line a site changes for that
        mapping = folder / "proposed.yaml"
        mapping.write_text(text.replace(": events\n", ": register\n"), encoding="utf-8")
        load_mapping(mapping)  # a valid mapping file
        plain, want = imported(folder, paths, name="plain")
        mapped, got = imported(folder, paths, mapping, name="mapped")
        assert mapped.ok and plain.ok, (build.__name__, [p.render() for p in mapped.rejects])
        assert got == want, build.__name__
        assert mapped.imported == plain.imported == plain.rows_read, build.__name__
    enrolled = {"a": "2026-03-05", "b": "2026-04-01"}
    assert want == via_jsonl(tmp_path, expected(**enrolled))


def test_the_proposal_names_columns_understood_and_not(tmp_path):
    paths = flat_csv(tmp_path)
    text = proposal_yaml(inspect_files(paths))
    assert '  "血压(mmHg)": visits.bp    # recognised\n' in text
    assert '  "身份证号": patients.id_number    # recognised\n' in text
    assert '  "性别": patients.sex    # recognised\n' in text
    assert '  # "随访方式": ?    # a national form field with no interchange field; not imported\n' in text
    assert '  "高血压患者随访记录": visits\n' in text
    assert 'form:\n  "高血压患者随访记录": hypertension\n' in text
    assert '  "高血压患者随访记录": events\n' in text  # a flat visit export is an events file


def test_the_proposal_says_what_each_column_will_do_and_why(tmp_path):
    paths = flat_csv(tmp_path)
    mapping = _write(
        tmp_path / "m.yaml", "columns:\n  心率(次/分钟): ignore\n  随访方式: visits.heart_rate\n"
    )
    text = proposal_yaml(inspect_files(paths, mapping))
    assert '  "心率(次/分钟)": ignore    # ignored: the mapping says so\n' in text
    assert '  "随访方式": visits.heart_rate    # mapped\n' in text
    assert '  "姓名": patients.name    # recognised\n' in text


def test_a_form_guessed_from_headers_alone_is_a_question_not_a_fact(tmp_path):
    header = ["身份证号", "随访日期", "空腹血糖", "足背动脉搏动"]
    paths = [write_csv(tmp_path / "export.csv", [header, [ID_A, "2026-03-05", "7.2", "1"]])]
    text = proposal_yaml(inspect_files(paths))
    assert '#   "export": diabetes    # guessed from its headers alone: say so if right\n' in text
    assert "\nform:" not in text


def test_unmapped_values_are_listed_with_counts_and_a_likely_map(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "血压", "药物不良反应", "症状", "神秘列"]
    rows = [
        [ID_A, "2", "1958-03-02", "2026-03-05", "152/94", "0", "2.头痛头晕", "x"],
        [ID_B, "3", "1962-07-15", "2026-04-01", "165/100", "1", "腿疼", "y"],
        [ID_B, "3", "1962-07-15", "2026-05-01", "150/90", "0", "", ""],
    ]
    paths = [write_csv(tmp_path / "高血压随访.csv", [header, *rows])]
    result = inspect_files(paths)
    text = proposal_yaml(result)
    assert result.unmapped == 3 and result.not_understood == 1
    assert "    # \"3\": ?    # ×2 in '性别'" in text
    assert '    # one system codes 男/女 as 2/3: {"2": M, "3": F}' in text
    assert "    # \"0\": ?    # ×2 in '药物不良反应'" in text
    assert '    # this column looks like 0 无 / 1 有: {"0": false, "1": true}' in text
    assert "    # \"腿疼\": ?    # ×1 in '症状'" in text
    assert "  # \"神秘列\": ?    # column '神秘列' not recognised in the visits table; ignored" in text
    load_mapping(_write(tmp_path / "m.yaml", text))


def test_decisions_only_the_site_can_make_are_left_as_comments(tmp_path):
    header = ["身份证号", "性别", "出生日期", "随访日期", "左侧血压", "右侧血压", "尿微量白蛋白"]
    rows = [[ID_A, "男", "1958-03-02", "2026-03-05", "150/90", "158/88", "30"]]
    paths = [write_csv(tmp_path / "visits.csv", [header, *rows])]
    text = proposal_yaml(inspect_files(paths))
    assert "# bp_arm: higher    # required:" in text
    assert (
        '#   "visits": hypertension | diabetes | health_check    # could not tell from its name or headers'
        in text
    )
    assert "not UACR (mg/g): never mapped to labs.uacr" in text
    load_mapping(_write(tmp_path / "m.yaml", text))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_roster_inspect_writes_the_proposal_and_exits_1_when_values_need_a_map(tmp_path):
    paths = flat_csv(tmp_path)
    out = tmp_path / "site.yaml"
    result = CliRunner().invoke(cli.app, ["roster", "inspect", str(paths[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == proposal_yaml(inspect_files(paths), "zh")
    assert "# 以 # 开头的行是 inspect 无法决定的内容" in out.read_text(encoding="utf-8")
    (tmp_path / "b").mkdir()
    rows = [
        ["身份证号", "性别", "出生日期", "随访日期", "血压"],
        [ID_A, "9", "1958-03-02", "2026-03-05", "150/90"],
    ]
    bad = write_csv(tmp_path / "b" / "高血压随访.csv", rows)
    result = CliRunner().invoke(cli.app, ["roster", "inspect", str(bad)])
    assert result.exit_code == 1
    assert "# \"9\": ?    # ×1，见 '性别'" in result.stdout


def test_workbooks_whose_only_sheet_is_sheet1_are_told_apart_by_their_file_names(tmp_path):
    people = [["身份证号", "姓名", "性别", "出生日期", "建档日期", "管理病种"],
              [ID_A, "张三", "男", "1958-03-02", "2020-05-01", "高血压"]]
    visits = [["身份证号", "随访日期", "血压"], [ID_A, "2026-03-05", "150/90"]]
    paths = [write_xlsx(tmp_path / "人员.xlsx", {"Sheet1": people}),
             write_xlsx(tmp_path / "高血压随访.xlsx", {"Sheet1": visits})]
    text = proposal_yaml(inspect_files(paths))
    assert 'tables:\n  "人员": patients\n  "高血压随访": visits\n' in text
    mapping = _write(tmp_path / "m.yaml", text)
    report, got = imported(tmp_path, paths, mapping)
    assert report.ok and [v["sbp"] for r in got.values() for v in r["visits"]] == [150]
