"""Bad input ends in exit 1 with a message naming the file (and line where there is one), never the
internal-error exit 3: missing files, unopenable databases, broken JSONL lines, CSV files without a
header or with a huge cell, broken zip archives and workbooks. A bad JSONL line is rejected alone."""

from __future__ import annotations

import io
import json
import sys
from datetime import date
from pathlib import Path

import bad_inputs as bad
import pytest

import cli

AS_OF = "2026-11-30"
INTERNAL = "R104"  # the internal-error message (exit 3)


def run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """cli.main() in this process (as the console script runs it): exit code and stdout + stderr."""
    monkeypatch.setattr(sys, "argv", ["sangao", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out + out.err


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    """Crash logs of these tests go to a folder of their own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_assess_of_a_missing_roster_file_exits_1_naming_it(monkeypatch, capsys, tmp_path):
    missing = str(tmp_path / "missing.jsonl")
    code, out = run(monkeypatch, capsys, "assess", "--roster", missing, "--as-of", AS_OF)
    assert code == 1, out
    assert "missing.jsonl" in out and INTERNAL not in out


def test_a_database_in_a_missing_folder_exits_1_naming_it(monkeypatch, capsys, tmp_path):
    roster = bad.write(tmp_path / "r.jsonl", "\n".join(bad.good_lines(2)) + "\n")
    for args in (["assess", "--db", "/no/dir/x.db", "--as-of", AS_OF],
                 ["roster", "import", str(roster), "--db", "/no/dir/x.db", "--as-of", AS_OF]):
        code, out = run(monkeypatch, capsys, *args)
        assert code == 1, out
        assert "/no/dir/x.db" in out and INTERNAL not in out


@pytest.mark.parametrize("bad_line", ['{"patient_id": "x\\ud800"}', "[" * 1000 + "]" * 1000,
                                      '{"patient_id": "p9", "name": "\\udfff\\ud800"}',
                                      '{"a":' * 1000 + "1" + "}" * 1000])
def test_a_jsonl_line_with_a_lone_surrogate_or_deep_nesting_is_rejected_alone(
        monkeypatch, capsys, tmp_path, bad_line):
    lines = bad.good_lines(4)
    roster = bad.write(tmp_path / "r.jsonl", "\n".join([*lines[:2], bad_line, *lines[2:]]) + "\n")
    db = tmp_path / "x.db"
    code, out = run(monkeypatch, capsys, "roster", "import", str(roster), "--db", str(db), "--as-of", AS_OF)
    assert code == 1, out
    assert INTERNAL not in out
    assert "r.jsonl:3" in out
    from roster_files import export

    assert [r["patient_id"] for r in export(f"sqlite:///{db}")] == ["p0", "p1", "p2", "p3"]


@pytest.mark.parametrize("name,data", [
    ("empty.csv", b""),
    ("bom.csv", b"\xef\xbb\xbf"),
    ("blank.csv", b"\n  \n,,\n"),
])
def test_a_csv_file_with_no_header_row_exits_1_naming_it(monkeypatch, capsys, tmp_path, name, data):
    path = bad.write(tmp_path / name, data)
    code, out = run(monkeypatch, capsys, "roster", "import", str(path), "--db", str(tmp_path / "x.db"))
    assert code == 1, out
    assert name in out and INTERNAL not in out


def test_a_csv_cell_over_the_field_limit_exits_1_naming_file_and_line(monkeypatch, capsys, tmp_path):
    rows = bad.PATIENTS_CSV + "p2,370202195803021236,男,1958-03-02,高血压," + "x" * 140_000 + "\n"
    path = bad.write(tmp_path / "patients.csv", rows)
    code, out = run(monkeypatch, capsys, "roster", "import", str(path), "--db", str(tmp_path / "x.db"))
    assert code == 1, out
    assert "patients.csv:3" in out and INTERNAL not in out


@pytest.mark.parametrize("maker", [bad.encrypted_zip, bad.aes_zip, bad.corrupt_member_zip, bad.duplicate_zip])
def test_a_broken_zip_member_exits_1_naming_the_archive_and_member(monkeypatch, capsys, tmp_path, maker):
    path = bad.write(tmp_path / "export.zip", maker())
    code, out = run(monkeypatch, capsys, "roster", "import", str(path), "--db", str(tmp_path / "x.db"))
    assert code == 1, out
    assert "export.zip" in out and INTERNAL not in out


def test_a_workbook_with_damaged_sheet_xml_exits_1_naming_it(monkeypatch, capsys, tmp_path):
    path = bad.write(tmp_path / "roster.xlsx", bad.damaged_sheet_xlsx())
    code, out = run(monkeypatch, capsys, "roster", "import", str(path), "--db", str(tmp_path / "x.db"))
    assert code == 1, out
    assert "roster.xlsx" in out and INTERNAL not in out


def test_a_failed_file_still_counts_its_rows(tmp_path):
    from store.importer import import_files

    huge = bad.PATIENTS_CSV + "p2,370202195803021236,男,1958-03-02,高血压," + "x" * 140_000 + "\n\n"
    not_text = b"\xff\xfe\xff\n" * 3  # neither UTF-8 nor GB18030
    for name, data, rows in (("patients.csv", huge, 2), ("r.jsonl", not_text, 3)):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        path = bad.write(folder / name, data)
        report = import_files([path], f"sqlite:///{folder / 'x.db'}", None)
        counts = [(f.error, f.rows_read, f.imported, f.rejected) for f in report.files]
        assert counts == [(True, rows, 0, rows)]


def test_an_archive_member_that_is_not_text_is_named_by_archive_and_member(tmp_path):
    from store.importer import import_files

    path = bad.write(tmp_path / "export.zip", bad.zip_bytes([("患者.csv", b"\x80")]))
    report = import_files([path], f"sqlite:///{tmp_path / 'x.db'}", None)
    assert [p.file for p in report.rejects] == [f"{path}!患者.csv"]  # not its temporary copy


@pytest.mark.parametrize("method", [12, 14])  # bzip2, LZMA: a damaged stream raises OSError / LZMAError
def test_a_damaged_bzip2_or_lzma_member_is_a_located_error(tmp_path, method):
    from store.importer import import_files

    data = bytearray(bad.zip_bytes([("患者.csv", bad.PATIENTS_CSV.encode())]))
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(sig)
        data[at + offset : at + offset + 2] = method.to_bytes(2, "little")
    path = bad.write(tmp_path / "export.zip", bytes(data))
    report = import_files([path], f"sqlite:///{tmp_path / 'x.db'}", None)
    assert report.files[0].error and report.rejects[0].file == str(path)


def test_a_mapping_file_nested_too_deeply_is_a_located_error(monkeypatch, capsys, tmp_path):
    roster = bad.write(tmp_path / "r.jsonl", "\n".join(bad.good_lines(1)) + "\n")
    mapping = bad.write(tmp_path / "site.yaml", "columns: " + "[" * 700 + "]" * 700 + "\n")
    code, out = run(monkeypatch, capsys, "roster", "import", str(roster), "--mapping", str(mapping),
                    "--db", str(tmp_path / "x.db"))
    assert code == 1, out
    assert "site.yaml" in out and "D031" in out and INTERNAL not in out


@pytest.mark.parametrize("body", ["title: a\x9bb\n", "[[]]: x\n", "title: " + "[" * 700 + "]" * 700 + "\n"],
                         ids=["control-character", "list-as-key", "deep-nesting"])
def test_a_guideline_file_yaml_cannot_hold_is_a_located_error(monkeypatch, capsys, tmp_path, body):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "set.yaml").write_text('set: x\nversion: "1"\npolicy_status: local-definition\n',
                                     encoding="utf-8")
    (folder / "body.yaml").write_text("guideline: body\n" + body, encoding="utf-8")
    code, out = run(monkeypatch, capsys, "guidelines", "check", str(folder))
    assert code == 1, out
    assert "body.yaml" in out and INTERNAL not in out


@pytest.mark.parametrize("text", ["tables: [visits]\n", "values:\n  smoker: [1]\n  sex: 3\n",
                                  "defaults:\n  conditions: [[hypertension]]\n", "bp_arm: [left]\n",
                                  "form: {a: [1]}\n"])
def test_a_mapping_section_of_the_wrong_shape_is_a_located_error(tmp_path, text):
    from pathways.errors import SangaoError
    from store.readers.mapping import load_mapping

    path = bad.write(tmp_path / "site.yaml", text)
    with pytest.raises(SangaoError) as error:
        load_mapping(path)
    assert all(p.code == "D031" and p.file == str(path) and p.line for p in error.value.problems)


def test_a_wrong_mapping_section_and_a_damaged_workbook_are_told_in_chinese_and_in_english(tmp_path):
    from pathways.errors import SangaoError
    from store.importer import import_files
    from store.readers.mapping import load_mapping

    mapping = bad.write(tmp_path / "site.yaml", "colums:\n  收缩压: sbp\n")
    with pytest.raises(SangaoError) as error:
        load_mapping(mapping)
    [section] = error.value.problems
    assert section.render() == f"{mapping}:1:1: D031 未知的段 'colums'\n  提示: did you mean 'columns'?"
    assert section.render("en") == (f"{mapping}:1:1: D031 unknown section 'colums'\n"
                                    "  hint: did you mean 'columns'?")

    workbook = bad.write(tmp_path / "roster.xlsx", b"not a workbook")
    [damaged] = import_files([workbook], f"sqlite:///{tmp_path / 'x.db'}", None).rejects
    assert damaged.render() == (f"{workbook}: D030 无法打开工作簿：File is not a zip file\n"
                                "  提示: 请在 Excel 中另存为 .xlsx")
    assert damaged.render("en") == (f"{workbook}: D030 cannot open the workbook: File is not a zip file\n"
                                    "  hint: save it from Excel as .xlsx")


def test_output_piped_into_a_reader_that_stops_early_is_not_an_internal_error(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    command = (f"'{sys.executable}' -c 'import cli; cli.main()' roster generate -n 3000 --as-of {AS_OF}"
               " | head -c 10 > /dev/null; echo ${PIPESTATUS[0]}")
    run = subprocess.run(command, shell=True, executable="/bin/bash", capture_output=True, text=True, env=env,
                         cwd=Path(cli.__file__).parent)
    assert run.stdout.strip() in ("0", "1"), run.stdout + run.stderr
    assert INTERNAL not in run.stderr
    assert not (tmp_path / "state" / "sangao" / "crash").exists()


def test_a_damaged_legacy_workbook_is_a_located_error_and_prints_no_reader_warnings(tmp_path):
    """xlrd wrote "WARNING *** File is truncated …" to the user's stdout (found by
    tests/test_fuzz_xls.py); a sheet damaged past the workbook's header raised struct.error (exit 3)."""
    import subprocess

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("患者")
    for c, header in enumerate(["患者编号", "性别", "出生日期"]):
        sheet.write(0, c, header)
    whole = tmp_path / "whole.xls"
    book.save(str(whole))
    path = tmp_path / "患者.xls"
    path.write_bytes(whole.read_bytes()[:-700])
    done = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "roster", "import", str(path),
                           "--db", str(tmp_path / "x.db"), "--as-of", AS_OF],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                          env={**__import__("os").environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "患者.xls" in done.stderr + done.stdout
    assert "WARNING" not in done.stdout + done.stderr and INTERNAL not in done.stdout + done.stderr


@pytest.mark.parametrize(("lang", "reason", "foreign"), [
    ([], "没有这个文件或文件夹", "No such file"),
    (["--lang", "en"], "No such file or directory", "没有这个文件"),
])
def test_a_file_the_system_cannot_open_is_told_why_in_chinese_by_default(monkeypatch, capsys, tmp_path, lang,
                                                                        reason, foreign):
    roster = tmp_path / "roster.jsonl"
    roster.write_text(bad.good_lines(1)[0] + "\n", encoding="utf-8")
    rejects = tmp_path / "no-such-folder" / "rejects.csv"
    code, out = run(monkeypatch, capsys, "roster", "import", str(roster), "--db", str(tmp_path / "x.db"),
                    "--rejects", str(rejects), *lang)
    text = "".join(out.split())  # the console wraps long paths at 80 columns
    assert code == 1, out
    assert "R103" in text and str(rejects) in text
    assert reason.replace(" ", "") in text and foreign.replace(" ", "") not in text


def test_every_common_os_error_has_a_chinese_reason_and_keeps_the_systems_english():
    import errno
    import os

    from pathways.codes.runtime import os_reason

    for number in (errno.ENOENT, errno.EACCES, errno.EISDIR, errno.ENOSPC, errno.EROFS, errno.ENOTDIR):
        reason = os_reason(OSError(number, os.strerror(number)))
        assert reason["en"] == os.strerror(number)
        assert reason["zh"] != reason["en"] and all(not c.isascii() or c in "（）/" for c in reason["zh"][:2])
    unlisted = os_reason(OSError(errno.EXDEV, os.strerror(errno.EXDEV)))
    assert unlisted == {"zh": os.strerror(errno.EXDEV), "en": os.strerror(errno.EXDEV)}


def test_a_number_in_a_yes_no_column_is_refused_not_read_as_code_1(tmp_path):
    """吸烟 `1e309` was read as code 1 with the label "e309": a smoker. `1.是` and `1是` stay a code
    with its label."""
    import csv

    from store.exporter import export_jsonl
    from store.importer import import_files

    path = tmp_path / "患者.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["患者编号", "性别", "出生日期", "管理病种", "建档日期", "吸烟"],
                                 ["p1", "男", "1958-03-02", "高血压", "2021-05-10", "1e309"],
                                 ["p2", "男", "1958-03-02", "高血压", "2021-05-10", "2b"],
                                 ["p3", "男", "1958-03-02", "高血压", "2021-05-10", "1.是"],
                                 ["p4", "男", "1958-03-02", "高血压", "2021-05-10", "0否"]])
    url = f"sqlite:///{tmp_path / 'x.db'}"
    report = import_files([path], url, date.fromisoformat(AS_OF))
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D017", 2, "吸烟"), ("D017", 3, "吸烟")]
    out = io.StringIO()
    export_jsonl(url, out)
    assert [(r["patient_id"], r["smoker"]) for r in map(json.loads, out.getvalue().splitlines())] == [
        ("p3", True), ("p4", False)]


def test_an_empty_or_formula_programme_cell_is_refused_never_guessed(tmp_path):
    """An empty or formula 管理病种 cell once made a hypertensive patient diabetic."""
    import csv

    from store.importer import import_files

    path = tmp_path / "患者.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["患者编号", "性别", "出生日期", "管理病种", "建档日期"],
                                 ["p1", "男", "1958-03-02", "", "2021-05-10"],
                                 ["p2", "男", "1958-03-02", "=A1", "2021-05-10"],
                                 ["p3", "男", "1958-03-02", "高血压", "2021-05-10"]])
    report = import_files([path], f"sqlite:///{tmp_path / 'x.db'}", date.fromisoformat(AS_OF))
    assert [(p.code, p.line, p.column) for p in report.rejects] == [("D010", 2, "管理病种"),
                                                                     ("D013", 3, "管理病种")]
    assert report.patients_imported == 1
