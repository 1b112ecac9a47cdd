"""A mapping written as a key that holds another mapping (`? {smoker: {吸烟: true}}`) is a located
YAML error in every YAML file sangao reads (guideline, calendar, column-mapping and capacity files),
not a crash: the round-trip loader cannot hash such a key (guidelines/yaml_source.py `load_yaml`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelines.calendar_loader import read_calendar_file
from guidelines.loader import load_set
from pathways.errors import SangaoError
from reports.capacity import load_capacity
from store.readers.mapping import load_mapping

NESTED_KEY = "? {smoker: {吸烟: true, 不吸烟: false}}\n: x\n"


def _problem(call) -> object:
    with pytest.raises(SangaoError) as caught:
        call()
    return caught.value.problems[0]


def test_a_guideline_file_with_a_nested_mapping_key_is_a_syntax_error_at_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "county"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        'set: county\nversion: "1"\npolicy_status: local-definition\nextends: national-default\n',
        encoding="utf-8")
    (folder / "county.yaml").write_text("parameters:\n  a: 1\n" + NESTED_KEY, encoding="utf-8")
    problem = _problem(lambda: load_set(folder))
    assert problem.code == "G101"
    assert problem.file.endswith("county.yaml") and problem.line == 3
    assert "unhashable key" in problem.render("en")


def test_a_calendar_file_with_a_nested_mapping_key_is_g901_at_the_key() -> None:
    problem = _problem(lambda: read_calendar_file(NESTED_KEY, "2027.yaml", 2027))
    assert (problem.code, problem.file, problem.line, problem.column) == ("G901", "2027.yaml", 1, 3)


def test_a_mapping_file_with_a_nested_mapping_key_cannot_be_read_as_d031(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(NESTED_KEY, encoding="utf-8")
    problem = _problem(lambda: load_mapping(path))
    assert (problem.code, problem.file) == ("D031", str(path))
    assert "unhashable key" in problem.render("en")


def test_a_capacity_file_with_a_nested_mapping_key_is_d040(tmp_path: Path) -> None:
    path = tmp_path / "capacity.yaml"
    path.write_text(NESTED_KEY, encoding="utf-8")
    problem = _problem(lambda: load_capacity(path))
    assert (problem.code, problem.file) == ("D040", str(path))
