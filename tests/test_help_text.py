"""Every help text of the command line is defined once, in reports/help_text.py: a Chinese and an
English text for each command and option, the example written once, and no entry that no command
uses."""

import re
from pathlib import Path

import pytest

from reports.help_text import COMMANDS, GROUPS, OPTIONS, command_help, option_help

CLI = Path(__file__).resolve().parents[1] / "cli.py"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_a_command_help_is_chinese_by_default_english_on_request_and_ends_with_one_example(path):
    zh, en = command_help(path, "zh"), command_help(path, "en")
    assert CJK.search(zh.split("\n\n示例：")[0])
    first = en.split("\n\n")[0]  # English words, Chinese terms at most in brackets
    assert re.search(r"\b[a-z]{3,} [a-z]{2,} [a-z]{3,}\b", first) and len(CJK.findall(first)) < len(first) / 4
    example = COMMANDS[path][2]
    assert example.startswith("sangao ") and "Example" not in COMMANDS[path][0] + COMMANDS[path][1]
    assert zh.endswith(f"\n\n示例：{example}") and en.endswith(f"\n\nExample: {example}")


def test_every_option_help_has_both_languages_and_the_chinese_one_is_chinese():
    for key, (zh, en) in OPTIONS.items():
        assert zh and en and zh != en, key
        assert option_help(key, "zh") == zh and option_help(key, "en") == en
    assert all(CJK.search(zh) for zh, _ in list(OPTIONS.values()) + list(GROUPS.values()))


def test_every_help_entry_is_used_by_the_command_line_and_every_one_it_uses_exists():
    source = CLI.read_text(encoding="utf-8")
    used_options = set(re.findall(r'_opt\("([^"]+)"\)', source))
    used_commands = set(re.findall(r'_help\("([^"]+)"\)', source))
    used_groups = set(re.findall(r'group_help\("([^"]*)"', source))
    assert used_options == set(OPTIONS)
    assert used_commands == set(COMMANDS)
    assert used_groups == set(GROUPS)


def test_every_message_of_the_command_line_is_used_has_both_languages_and_the_same_fields():
    from reports.cli_errors import PATH_KINDS, WORDINGS
    from reports.help_text import MESSAGES

    errors = CLI.parent / "reports" / "cli_errors.py"
    source = CLI.read_text(encoding="utf-8") + errors.read_text(encoding="utf-8")
    used = set(re.findall(r'(?:_usage|message)\("([^"]+)"', source))
    used |= {key for _, key in WORDINGS} | set(PATH_KINDS.values())
    assert used == set(MESSAGES)
    field = re.compile(r"\{(\w+)")
    for key, (zh, en) in MESSAGES.items():
        assert CJK.search(zh) and not CJK.search(en), key
        assert set(field.findall(zh)) == set(field.findall(en)), key


@pytest.mark.parametrize(("args", "zh", "en"), [
    (["worklist", "--week", "--month"], "只能给出 --week、--month 或 --from 之一",
     "give one of --week, --month or --from"),
    (["report", "monthly", "--month", "2026-13"], "'2026-13' 不是月份", "'2026-13' is not a month"),
    (["plan"], "请只给出一个：PATIENT、--team T 或 --all", "give one PATIENT, --team T or --all"),
])
def test_a_usage_error_is_chinese_by_default_and_english_on_request(tmp_path, args, zh, en):
    from typer.testing import CliRunner

    import cli

    db = ["--db", str(tmp_path / "none.db")]
    chinese = CliRunner().invoke(cli.app, [*args, *db])
    english = CliRunner().invoke(cli.app, [*args, *db, "--lang", "en"], env={"SANGAO_LANG": "en"})
    assert chinese.exit_code == english.exit_code == 2
    assert zh in " ".join(chinese.output.replace("│", " ").split())
    assert en in " ".join(english.output.replace("│", " ").split())


def test_a_wait_that_is_not_seconds_is_a_usage_error_not_an_internal_one(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SANGAO_DB_WAIT": "abc", "XDG_STATE_HOME": str(tmp_path)}
    env.pop("SANGAO_LANG", None)
    env.pop("LANG", None)
    command = [sys.executable, "-c", "import cli; cli.main()", "assess", "--db", str(tmp_path / "x.db")]
    done = subprocess.run(command, cwd=CLI.parent, capture_output=True, text=True, env=env)
    assert done.returncode == 2, done.stderr
    assert "SANGAO_DB_WAIT='abc' 不是秒数" in done.stderr
