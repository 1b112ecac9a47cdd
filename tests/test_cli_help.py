"""Every command has help with an example, and usage errors exit 2 (docs/architecture.md §2.1)."""

import subprocess
import sys

import pytest
from typer.main import get_command

import cli

ROOT_COMMAND = get_command(cli.app)


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = list(_commands(ROOT_COMMAND))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"sangao {' '.join(path)} has no help"
    assert "Example:" in command.help, f"sangao {' '.join(path)} help has no Example:"


def test_a_usage_error_exits_2():
    result = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "assess", "--as-of", "yesterday"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "YYYY-MM-DD" in result.stderr
