"""Click's and Typer's own usage errors read in the user's language (reports/cli_errors.py): the usage
line, where the help is, the panel's title and the message are Chinese by default and English with
--lang en (or SANGAO_LANG=en), on stderr with exit 2; the help, typer.Exit, an abort and Ctrl-C
keep their exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import cli

ROOT = Path(__file__).resolve().parents[1]


def _sangao(*args: str, lang: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SANGAO_LANG", "LANG", "LC_ALL")}
    env.update(COLUMNS="200", PYTHONIOENCODING="utf-8", TERM="dumb", PYTHONPATH=str(ROOT))
    if lang is not None:
        env["SANGAO_LANG"] = lang
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=cwd)


def _shown(stderr: str) -> tuple[list[str], str, str]:
    """(the lines above the panel, the panel's title, the message inside it)."""
    lines = stderr.rstrip("\n").split("\n")
    top = next(i for i, line in enumerate(lines) if line.startswith("╭"))
    title = lines[top].strip("╭╮─ ")
    body = " ".join(line.strip("│ ") for line in lines[top + 1 : -1])
    return lines[:top], title, body


CASES = [
    pytest.param(
        ["assess", "--as-of", "yesterday"],
        ["用法：sangao assess [选项]", "运行 'sangao assess --help' 查看帮助。"],
        "'--as-of' 的值无效：'yesterday' 不是日期；请写成 YYYY-MM-DD",
        ["Usage: sangao assess [OPTIONS]", "Try 'sangao assess --help' for help."],
        "Invalid value for '--as-of': 'yesterday' is not a date; write YYYY-MM-DD",
        id="a value our parser refuses",
    ),
    pytest.param(
        ["assess", "--as-off", "2026-11-30"],
        ["用法：sangao assess [选项]", "运行 'sangao assess --help' 查看帮助。"],
        "没有选项 --as-off（可用的选项：--as-of）",
        ["Usage: sangao assess [OPTIONS]", "Try 'sangao assess --help' for help."],
        "No such option: --as-off (Possible options: --as-of)",
        id="no such option",
    ),
    pytest.param(
        ["roster", "import"],
        ["用法：sangao roster import [选项] {FILE}...", "运行 'sangao roster import --help' 查看帮助。"],
        "缺少参数 'FILE'。",
        ["Usage: sangao roster import [OPTIONS] {FILE}...", "Try 'sangao roster import --help' for help."],
        "Missing argument 'FILE'.",
        id="missing argument",
    ),
    pytest.param(
        ["guidelines", "diff", "a", "b"],
        ["用法：sangao guidelines diff [选项] {old} {new}",
         "运行 'sangao guidelines diff --help' 查看帮助。"],
        "缺少选项 '--roster'。",
        ["Usage: sangao guidelines diff [OPTIONS] {old} {new}",
         "Try 'sangao guidelines diff --help' for help."],
        "Missing option '--roster'.",
        id="missing option",
    ),
    pytest.param(
        ["explain", "P1", "P2"],
        ["用法：sangao explain [选项] {PATIENT}", "运行 'sangao explain --help' 查看帮助。"],
        "多余的参数：P2",
        ["Usage: sangao explain [OPTIONS] {PATIENT}", "Try 'sangao explain --help' for help."],
        "Got unexpected extra argument(s) (P2)",
        id="an extra argument",
    ),
    pytest.param(
        ["assess", "--workers", "two"],
        ["用法：sangao assess [选项]", "运行 'sangao assess --help' 查看帮助。"],
        "'--workers' 的值无效：'two' 不是整数",
        ["Usage: sangao assess [OPTIONS]", "Try 'sangao assess --help' for help."],
        "Invalid value for '--workers': 'two' is not an integer",
        id="not a number",
    ),
    pytest.param(
        ["assess", "--workers", "0"],
        ["用法：sangao assess [选项]", "运行 'sangao assess --help' 查看帮助。"],
        "'--workers' 的值无效：须不小于 1（给出的是 0）",
        ["Usage: sangao assess [OPTIONS]", "Try 'sangao assess --help' for help."],
        "Invalid value for '--workers': must be at least 1 (got 0)",
        id="below the minimum",
    ),
    pytest.param(
        ["assess", "--format", "xml"],
        ["用法：sangao assess [选项]", "运行 'sangao assess --help' 查看帮助。"],
        "'--format' 的值无效：'xml' 不是可选值之一（'table', 'jsonl', 'csv', 'parquet'）",
        ["Usage: sangao assess [OPTIONS]", "Try 'sangao assess --help' for help."],
        "Invalid value for '--format': 'xml' is not one of 'table', 'jsonl', 'csv', 'parquet'.",
        id="not a choice",
    ),
    pytest.param(
        ["roster", "import", "no-such-file.csv"],
        ["用法：sangao roster import [选项] {FILE}...", "运行 'sangao roster import --help' 查看帮助。"],
        "'FILE' 的值无效：路径 'no-such-file.csv' 不存在。",
        ["Usage: sangao roster import [OPTIONS] {FILE}...", "Try 'sangao roster import --help' for help."],
        "Invalid value for 'FILE': path 'no-such-file.csv' does not exist.",
        id="a file that does not exist",
    ),
    pytest.param(
        ["asess"],
        ["用法：sangao [选项] 命令 [参数]...", "运行 'sangao --help' 查看帮助。"],
        "没有命令 'asess'。是否想用 'assess'？",
        ["Usage: sangao [OPTIONS] COMMAND [ARGS]...", "Try 'sangao --help' for help."],
        "No such command 'asess'. Did you mean 'assess'?",
        id="a misspelt command",
    ),
]


@pytest.mark.parametrize(("args", "zh_top", "zh_message", "en_top", "en_message"), CASES)
def test_a_usage_error_is_chinese_by_default_and_english_with_lang_en(
    tmp_path, args, zh_top, zh_message, en_top, en_message
):
    chinese = _sangao(*args, cwd=tmp_path)
    assert chinese.returncode == 2, chinese.stderr
    assert chinese.stdout == ""
    assert _shown(chinese.stderr) == (zh_top, "错误", zh_message)

    english = _sangao(*args, "--lang", "en", cwd=tmp_path)
    assert english.returncode == 2, english.stderr
    assert _shown(english.stderr) == (en_top, "Error", en_message)
    assert _shown(_sangao(*args, lang="en", cwd=tmp_path).stderr) == (en_top, "Error", en_message)


def test_a_long_usage_error_wraps_inside_its_panel_at_80_columns_between_words_not_inside_a_path(tmp_path):
    folder = "county-hospital-roster-export-2026-11"
    (tmp_path / folder).mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SANGAO_LANG", "LANG", "LC_ALL")}
    env.update(COLUMNS="80", PYTHONIOENCODING="utf-8", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", "import cli; cli.main()", "roster", "export", "--out", folder]
    done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", env=env, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[2:] == [
        "╭─ 错误 ───────────────────────────────────────────────────────────────────────╮",
        f"│ --out 的值无效：{folder} 是文件夹；             │",
        f"│ 请给出文件名，如 {folder}/roster.jsonl          │",
        "╰──────────────────────────────────────────────────────────────────────────────╯",
    ]


def test_help_and_a_group_without_its_command_print_the_help_as_before():
    help_screen = _sangao("assess", "--help")
    assert help_screen.returncode == 0 and help_screen.stderr == ""
    assert "用法：sangao assess [选项]" in help_screen.stdout and "选项" in help_screen.stdout
    group = _sangao("roster")
    assert group.returncode == 2 and group.stderr == ""  # Click's no_args_is_help: the help, exit 2
    assert "用法：sangao roster [选项] 命令 [参数]..." in group.stdout


def _run(monkeypatch, capsys, command, lang="zh"):
    """cli._run_app on a one-command app: (exit code, stderr)."""
    small = typer.Typer()
    small.command()(command)
    small.command("other")(lambda: None)  # two commands: the app is a group, as sangao's
    monkeypatch.setattr(cli, "app", small)
    monkeypatch.setattr(sys, "argv", ["sangao", "run"])
    with pytest.raises(SystemExit) as exited:  # as Typer's standalone mode: always SystemExit
        cli._run_app(lang)
    return exited.value.code, capsys.readouterr().err


def test_our_exit_codes_an_abort_and_ctrl_c_keep_their_exit_codes(monkeypatch, capsys):
    def run_exit() -> None:
        raise typer.Exit(1)

    def run_abort() -> None:
        raise typer.Abort()

    def run_interrupted() -> None:
        raise KeyboardInterrupt

    def run_done() -> None:
        print("done")

    run_exit.__name__ = run_abort.__name__ = run_interrupted.__name__ = run_done.__name__ = "run"
    assert _run(monkeypatch, capsys, run_exit) == (1, "")
    assert _run(monkeypatch, capsys, run_interrupted) == (130, "")
    assert _run(monkeypatch, capsys, run_abort) == (1, "已中止。\n")
    assert _run(monkeypatch, capsys, run_abort, "en") == (1, "Aborted.\n")
    assert _run(monkeypatch, capsys, run_done) == (0, "")


def test_a_problem_the_user_can_fix_wraps_under_its_own_start_at_80_columns(tmp_path):
    database = "data/county-hospital-2026-11-roster-of-every-team.db"  # beside the working folder
    env = {k: v for k, v in os.environ.items() if k not in ("SANGAO_LANG", "LANG", "LC_ALL")}
    env.update(COLUMNS="80", PYTHONIOENCODING="utf-8", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", "import cli; cli.main()", "explain", "P1", "--db", database]
    done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", env=env, cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"{database}: D041 没有数据库"
    assert lines[1] == f"  {database}：请先导入花名册"
    assert lines[2].startswith("  提示: sangao roster import 花名册文件 --db")
    assert all(line.startswith("    ") for line in lines[3:]) and len(lines) > 3
    from rich.cells import cell_len

    assert all(cell_len(line) <= 80 for line in lines)
    assert " ".join(line.strip() for line in lines[2:]) == (
        f"提示: sangao roster import 花名册文件 --db {database}（或用 --roster 文件 直接读取）")
