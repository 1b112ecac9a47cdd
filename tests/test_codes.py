"""Every error, finding and warning code the source raises is registered once in pathways/codes/,
with a meaning in Chinese and English (issue: one registry of codes)."""

import re
import string
from pathlib import Path

import pytest

from pathways.codes import registry

ROOT = Path(__file__).resolve().parent.parent
_CODE = re.compile(r"[\"']([DGCTR]\d{3})[\"']")
_SOURCES = [p for folder in ("pathways", "store", "engine", "guidelines", "reports")
            for p in (ROOT / folder).rglob("*.py") if "codes" not in p.parts] + [ROOT / "cli.py"]


def _used() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in _SOURCES:
        for m in _CODE.finditer(path.read_text(encoding="utf-8")):
            used.setdefault(m.group(1), []).append(str(path.relative_to(ROOT)))
    return used


def test_every_code_the_source_uses_is_registered():
    missing = {code: files for code, files in _used().items() if code not in registry()}
    assert not missing, f"codes used but not registered in pathways/codes/: {missing}"


@pytest.mark.parametrize("entry", list(registry().values()), ids=lambda e: e.code)
def test_each_registered_code_has_both_languages_with_the_same_fields(entry):
    assert entry.zh and entry.en
    fields = {name for _, name, _, _ in string.Formatter().parse(entry.zh) if name}
    assert fields == {name for _, name, _, _ in string.Formatter().parse(entry.en) if name}


def test_a_code_letter_names_its_stage():
    stage_of = {"D": "roster", "G": "guideline-file", "C": "guideline-set", "T": "cases", "R": "run"}
    assert [e.code for e in registry().values() if stage_of[e.code[0]] != e.stage] == []
