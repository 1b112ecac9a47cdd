"""Every command has help with an example, in Chinese by default and English with SANGAO_LANG=en or
LANG=en…, nothing cut on an 80-column terminal; usage errors exit 2 (docs/architecture.md §2.1)."""

import json
import os
import re
import subprocess
import sys

import pytest
from typer.main import get_command

import cli

ROOT_COMMAND = get_command(cli.app)
CJK = re.compile(r"[\u4e00-\u9fff]")


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = list(_commands(ROOT_COMMAND))
IDS = [" ".join(p) for p, _ in COMMANDS]

# Prints {"command path": [its help, each argument's and option's help …]} as cli.py builds it in
# the language of the environment.
DUMP = """
import json
from typer.main import get_command
import cli

def walk(group, prefix=()):
    yield " ".join(prefix), group
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from walk(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command

print(json.dumps({path: [c.help] + [p.help for p in c.params if getattr(p, "help", None)
                                    and p.name != "help"]
                  for path, c in walk(get_command(cli.app))}))
"""


def _env(lang: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SANGAO_LANG", "LANG", "LC_ALL")}
    env.update(COLUMNS="80", PYTHONIOENCODING="utf-8", TERM="dumb")
    if lang is not None:
        env["SANGAO_LANG"] = lang
    return env


def _help_screen(path, lang: str | None) -> str:
    result = subprocess.run([sys.executable, "-c", "import cli; cli.main()", *path, "--help"],
                            capture_output=True, text=True, encoding="utf-8", env=_env(lang))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def texts():
    """The help texts in each language, keyed by command path."""
    out = {}
    for lang in (None, "en"):
        result = subprocess.run([sys.executable, "-c", DUMP], capture_output=True, text=True,
                                encoding="utf-8", env=_env(lang), check=True)
        out["zh" if lang is None else "en"] = json.loads(result.stdout)
    return out


def _description(screen: str) -> str:
    """The command's own help: between the Usage line and the first panel."""
    usage = "Usage:" if "Usage:" in screen else "用法："
    return screen.split(usage, 1)[1].split("╭", 1)[0].split("\n", 1)[1]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"sangao {' '.join(path)} has no help"
    assert "示例：" in command.help, f"sangao {' '.join(path)} help has no 示例："


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_help_is_chinese_by_default_and_nothing_is_cut_at_80_columns(path, command, texts):
    screen = _help_screen(path, None)
    description = _description(screen)
    assert CJK.search(description.split("示例：")[0]), description
    assert f"示例：sangao {' '.join(path)}" in description
    assert "选项" in screen and "Options" not in screen
    # Typer's own words are Chinese too: the usage line and the --help option.
    assert "用法：sangao" in screen and "[选项]" in screen and "显示本帮助并退出。" in screen
    assert not re.search(r"Usage|OPTIONS|Show this message|Example", screen), screen
    # Rich ends text it cannot fit with "…"; the only ones on the screen are those of the texts.
    written = sum(t.count("…") for t in texts["zh"][" ".join(path)])
    assert screen.count("…") == written, screen


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_help_is_english_with_sangao_lang_en(path, command):
    screen = _help_screen(path, "en")
    description = _description(screen).strip()
    assert re.match(r"[A-Z]", description), description
    assert f"Example: sangao {' '.join(path)}" in description
    assert "Options" in screen and "选项" not in screen
    assert "Usage: sangao" in screen and "用法" not in screen and "示例" not in screen


def test_every_help_text_of_every_command_and_option_is_written_in_both_languages(texts):
    assert texts["zh"].keys() == texts["en"].keys()
    for path, zh_texts in texts["zh"].items():
        en_texts = texts["en"][path]
        assert len(zh_texts) == len(en_texts), path
        for zh, en in zip(zh_texts, en_texts, strict=True):
            assert CJK.search(zh), f"sangao {path}: {zh!r} has no Chinese"
            assert zh != en, f"sangao {path}: {zh!r} is not translated"
            assert re.search(r"[A-Za-z]{3,}", en), f"sangao {path}: {en!r} is not English"


def test_lang_en_in_the_locale_gives_english_help_too():
    env = _env(None)
    env["LANG"] = "en_US.UTF-8"
    result = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "worklist", "--help"],
                            capture_output=True, text=True, encoding="utf-8", env=env)
    assert "Whom a team sees or calls in a period" in result.stdout


def test_a_usage_error_exits_2():
    result = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "assess", "--as-of",
                             "yesterday"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "YYYY-MM-DD" in result.stderr
