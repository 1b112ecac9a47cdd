"""`sangao roster import` / `sangao roster export` from the command line: the summary, exit codes,
the round trip through files, and no full resident ID or name on screen."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

import cli

GOOD = {
    "patient_id": "p1",
    "id_number": "370202195803021236",
    "name": "张三",
    "sex": "M",
    "birth_date": "1958-03-02",
    "conditions": ["hypertension"],
    "enrolled_on": "2021-05-10",
    "visits": [{"date": "2026-11-01", "sbp": 400, "dbp": 90}],
}
BAD_ID = {**GOOD, "patient_id": "p2", "id_number": "370202195803021234", "name": "王五"}


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.jsonl"
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in (GOOD, BAD_ID)) + "\n", encoding="utf-8"
    )
    return path


def run_main(monkeypatch, *args) -> int:
    monkeypatch.setattr(sys, "argv", ["sangao", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return exited.value.code


def test_import_prints_counts_findings_and_rejects_without_full_ids_or_names(roster, tmp_path):
    result = CliRunner().invoke(
        cli.app,
        [
            "roster",
            "import",
            str(roster),
            "--db",
            str(tmp_path / "s.db"),
            "--as-of",
            "2026-11-30",
            "--rejects",
            str(tmp_path / "rej.csv"),
            "--lang",
            "en",
        ],
    )
    out = result.output
    assert result.exit_code == 1
    assert "UTF-8" in out and "1 patients imported" in out
    assert "D020 ×1" in out and "D101 ×1" in out
    assert "(patient p2)" in out
    assert "370202195803021234" not in out and "370202195803021236" not in out
    assert "王五" not in out and "张三" not in out
    assert f"rejected rows written to {tmp_path / 'rej.csv'}" in " ".join(out.split())


def test_the_import_report_is_in_chinese_by_default_and_fits_80_columns(roster, tmp_path):
    args = ["roster", "import", str(roster), "--db", str(tmp_path / "s.db"), "--as-of", "2026-11-30"]
    result = CliRunner().invoke(cli.app, args, terminal_width=80)
    out = result.output
    assert "名册导入" in out and "读取行" in out and "1 名患者已导入或更新" in out
    assert "加 --rejects 文件 可把被拒绝的行写入 CSV" in out
    assert max(len(line) for line in out.splitlines() if line.startswith(("┃", "│", "┏"))) <= 80


def test_import_exits_1_when_a_row_is_rejected_and_0_when_none_is(monkeypatch, roster, tmp_path):
    assert (
        run_main(
            monkeypatch,
            "roster",
            "import",
            str(roster),
            "--db",
            str(tmp_path / "a.db"),
            "--as-of",
            "2026-11-30",
        )
        == 1
    )
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert (
        run_main(
            monkeypatch,
            "roster",
            "import",
            str(clean),
            "--db",
            str(tmp_path / "b.db"),
            "--as-of",
            "2026-11-30",
        )
        == 0
    )


def test_export_writes_back_what_was_imported(roster, tmp_path):
    runner = CliRunner()
    runner.invoke(
        cli.app, ["roster", "import", str(roster), "--db", str(tmp_path / "s.db"), "--as-of", "2026-11-30"]
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        cli.app, ["roster", "export", "--db", str(tmp_path / "s.db"), "--format", "jsonl", "--out", str(out)]
    )
    assert result.exit_code == 0
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == [GOOD]


def test_export_to_standard_output(roster, tmp_path):
    runner = CliRunner()
    runner.invoke(
        cli.app, ["roster", "import", str(roster), "--db", str(tmp_path / "s.db"), "--as-of", "2026-11-30"]
    )
    result = runner.invoke(cli.app, ["roster", "export", "--db", str(tmp_path / "s.db")])
    assert [json.loads(line) for line in result.stdout.splitlines()] == [GOOD]


def test_export_of_a_missing_database_is_a_user_error(monkeypatch, tmp_path, capsys):
    assert run_main(monkeypatch, "roster", "export", "--db", str(tmp_path / "none.db")) == 1
    err = " ".join(capsys.readouterr().err.split())  # the console wraps at 80 columns
    assert "D041 没有数据库" in err and "none.db" in err  # Chinese by default, naming the file
    assert not (tmp_path / "none.db").exists()


def test_an_unknown_file_type_is_a_user_error(monkeypatch, tmp_path, capsys):
    path = tmp_path / "roster.txt"
    path.write_text("x", encoding="utf-8")
    assert run_main(monkeypatch, "roster", "import", str(path), "--db", str(tmp_path / "s.db")) == 1
    assert "无法从扩展名判断 'roster.txt' 的格式" in capsys.readouterr().err  # Chinese by default


def test_a_terminal_sees_how_many_records_an_import_has_read_and_a_pipe_sees_nothing():
    import io

    from rich.console import Console

    from reports.progress import reading

    with reading(Console(file=io.StringIO(), force_terminal=False)) as update:
        assert update is None
    out = io.StringIO()
    with reading(Console(file=out, force_terminal=True, width=80)) as update:
        update("roster.jsonl", 25000, 0.25)
    assert "roster.jsonl：已读 25,000 条记录" in out.getvalue()  # Chinese by default
    assert "25%" in out.getvalue() and "剩余" in out.getvalue()  # the share read and the time left
    out = io.StringIO()
    with reading(Console(file=out, force_terminal=True, width=80), "en") as update:
        update("roster.xlsx", 25000)  # a workbook: how far it is cannot be told
    assert "roster.xlsx: 25,000 records read" in out.getvalue()
    assert "%" not in out.getvalue()
