"""Every *.cases.yaml of the shipped sets runs as a pytest case (id: `hypertension::case@as_of`), on
both backends for national-default, and each set's coverage is complete."""

from datetime import date
from functools import cache
from pathlib import Path

import pytest

from engine.cases_runner import run_cases
from engine.parallel import AssessOptions, build_assessor
from guidelines.cases_file import load_case_files

ROOT = Path(__file__).resolve().parents[1] / "guidelines"
SETS = [ROOT / "national-default", *sorted(p for p in (ROOT / "overlays-examples").iterdir() if p.is_dir())]


@cache
def _report(set_path: Path, backend: str):
    assessor = build_assessor(AssessOptions(str(set_path), date(2026, 1, 1), backend))
    return run_cases(assessor, load_case_files(set_path))


def _params():
    for set_path in SETS:
        for backend in ("python", "durable") if set_path.name == "national-default" else ("python",):
            for run in _report(set_path, backend).runs:
                yield pytest.param(set_path, backend, run.id, id=f"{set_path.name}:{backend}:{run.id}")


@pytest.mark.parametrize(("set_path", "backend", "run_id"), list(_params()))
def test_guideline_case(set_path, backend, run_id):
    run = next(r for r in _report(set_path, backend).runs if r.id == run_id)
    assert run.failures == [], f"{run.file}:{run.line}: " + "; ".join(run.failures)


@pytest.mark.parametrize("set_path", SETS, ids=lambda p: p.name)
def test_cases_cover_every_rule_table_row_and_threshold(set_path):
    problems = _report(set_path, "python").coverage
    assert [p.render() for p in problems] == []
