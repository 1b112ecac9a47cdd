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


def test_coverage_names_the_rules_table_rows_and_thresholds_left_without_cases():
    set_path = ROOT / "national-default"
    assessor = build_assessor(AssessOptions(str(set_path), date(2026, 1, 1), "python"))
    without_lipids = [cf for cf in load_case_files(set_path) if not cf.path.endswith("lipids.cases.yaml")]
    codes = {(p.code, p.message.split(" ")[2] if p.code == "T102" else "") for p in
             run_cases(assessor, without_lipids).coverage}
    assert ("T102", "ten_year_risk") in codes
    messages = [p.message for p in run_cases(assessor, without_lipids).coverage]
    assert any(m.startswith("rule lipid.") for m in messages)
    assert any(p.code == "T103" for p in run_cases(assessor, without_lipids[:1]).coverage)
