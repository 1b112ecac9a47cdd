"""A guideline set is read within limits (guidelines/yaml_source.py): aliases, nesting depth, size
and expanded size are capped with G114 (T123 in a cases file), a FIFO or device is refused before
it is opened, a NUL byte is a located error."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from guidelines.cases_file import load_case_file
from guidelines.loader import load_set
from guidelines.yaml_source import MAX_ALIASES, MAX_BYTES, MAX_DEPTH
from pathways.errors import SangaoError


def _set(tmp_path: Path, text: str | None, name: str = "county.yaml") -> Path:
    folder = tmp_path / "county"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        'set: county\nversion: "1"\npolicy_status: local-definition\nextends: national-default\n',
            encoding="utf-8"
    )
    if text is not None:
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def _problems(folder: Path) -> list:
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    return exc.value.problems


def test_an_alias_bomb_is_refused_by_its_expanded_size(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (p,) = _problems(_set(tmp_path, "guideline: county\ntitle: t\n" + "\n".join(levels) + "\n"))
    assert (p.code, p.fields["variant"]) == ("G114", "nodes")
    assert p.text("en") == "over 200000 nodes once its aliases are expanded"


def test_more_aliases_than_the_limit_are_refused_at_the_first_one_over(tmp_path: Path) -> None:
    refs = "\n".join(f"  k{i}: *shared" for i in range(MAX_ALIASES + 1))
    text = f"guideline: county\nbase: &shared [1, 2]\nmore:\n{refs}\n"
    (p,) = _problems(_set(tmp_path, text))
    assert (p.code, p.fields["variant"], p.line) == ("G114", "aliases", 4 + MAX_ALIASES)
    assert p.text("zh") == f"别名（*名称）超过 {MAX_ALIASES} 个"


def test_the_alias_limit_itself_is_allowed(tmp_path: Path) -> None:
    refs = "\n".join(f"  k{i}: *shared" for i in range(MAX_ALIASES))
    problems = _problems(_set(tmp_path, f"guideline: county\nbase: &shared [1, 2]\nmore:\n{refs}\n"))
    assert [p.code for p in problems] == ["G103", "G103"]  # unknown keys, read normally


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_deep_nesting_is_refused(depth: int, tmp_path: Path) -> None:
    text = "guideline: county\ntitle: " + "[" * depth + "]" * depth + "\n"
    (p,) = _problems(_set(tmp_path, text))
    assert (p.code, p.fields["variant"]) == ("G114", "depth")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    text = "guideline: county\n" + "# " + "x" * MAX_BYTES + "\n"
    (p,) = _problems(_set(tmp_path, text))
    assert (p.code, p.fields["variant"]) == ("G114", "size")


def test_a_nul_byte_is_located(tmp_path: Path) -> None:
    (p,) = _problems(_set(tmp_path, "guideline: county\ntit\x00le: x\n"))
    assert (p.code, p.fields["variant"], p.line, p.column) == ("G114", "nul", 2, 4)


def test_a_nul_byte_in_a_cases_file_is_a_t_code(tmp_path: Path) -> None:
    path = tmp_path / "a.cases.yaml"
    path.write_bytes(b"guideline: a\n\x00\n")
    with pytest.raises(SangaoError) as exc:
        load_case_file(path)
    assert [(p.code, p.line, p.column) for p in exc.value.problems] == [("T123", 2, 1)]


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_a_fifo_in_a_set_is_refused_without_blocking(tmp_path: Path) -> None:
    folder = _set(tmp_path, None)
    os.mkfifo(folder / "county.yaml")

    def hung(*_):  # a regression would block on open(); fail instead of hanging the suite
        raise AssertionError("reading the FIFO blocked")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        (p,) = _problems(folder)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert (p.code, p.fields["variant"]) == ("G114", "not_regular")
    assert p.file.endswith("county.yaml")
