"""Every *.cases.yaml of the shipped sets runs as a pytest case (id: `hypertension::case@as_of`), on
both backends for national-default, and each set's coverage is complete. An overlay runs its base
set's cases too: the ones it changes must be confirmed in its `expected_changes`."""

from datetime import date
from functools import cache
from pathlib import Path

import pytest

from engine.cases_runner import confirmation_block, run_cases, run_set_cases
from engine.parallel import AssessOptions, build_assessor
from guidelines.cases_file import load_case_files

ROOT = Path(__file__).resolve().parents[1] / "guidelines"
SETS = [ROOT / "national-default", *sorted(p for p in (ROOT / "overlays-examples").iterdir() if p.is_dir())]


@cache
def _report(set_path: Path, backend: str):
    assessor = build_assessor(AssessOptions(str(set_path), date(2026, 1, 1), backend))
    return run_set_cases(assessor)


def _params():
    for set_path in SETS:
        for backend in ("python", "durable") if set_path.name == "national-default" else ("python",):
            for run in _report(set_path, backend).runs:
                if run.base is None:
                    yield pytest.param(set_path, backend, run.id, id=f"{set_path.name}:{backend}:{run.id}")


@pytest.mark.parametrize(("set_path", "backend", "run_id"), list(_params()))
def test_guideline_case(set_path, backend, run_id):
    run = next(r for r in _report(set_path, backend).runs if r.id == run_id and r.base is None)
    assert run.failures == [], f"{run.file}:{run.line}: " + "; ".join(p.message for p in run.failures)


@pytest.mark.parametrize("set_path", SETS[1:], ids=lambda p: p.name)
def test_an_overlay_changes_only_the_base_cases_it_confirms(set_path):
    report = _report(set_path, "python")
    assert [r.id for r in report.failed] == []
    assert [p.render() for p in report.stale] == []
    assert any(r.base == "national-default" for r in report.runs)


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


# ---- overlays run the base set's cases ------------------------------------------------------------


def _overlay(tmp_path: Path, urgent_sbp: int, cases: str) -> Path:
    folder = tmp_path / "county"
    folder.mkdir(parents=True)
    (folder / "set.yaml").write_text(
        'set: county\nversion: "1"\npolicy_status: local-definition\nextends: national-default\n',
        encoding="utf-8",
    )
    (folder / "county.yaml").write_text(
        f"guideline: county\nparameters:\n  htn_urgent_sbp: {{value: {urgent_sbp}}}\n", encoding="utf-8"
    )
    (folder / "county.cases.yaml").write_text(cases, encoding="utf-8")
    return folder


_OWN_CASE = """guideline: county
as_of: 2026-11-30
patient: {sex: F, birth_date: 1971-04-12, conditions: [hypertension], enrolled_on: 2023-02-01}
cases:
  sbp_185_is_urgent:
    given: {visits: [{date: 2026-11-20, sbp: 185, dbp: 96}]}
    expect: {referral: {urgency: urgent}}
"""


def _run(folder: Path):
    return run_set_cases(build_assessor(AssessOptions(str(folder), date(2026, 1, 1), "python")))


def test_an_overlay_raising_a_threshold_makes_the_base_cases_on_it_fail_until_confirmed(tmp_path):
    report = _run(_overlay(tmp_path, 185, _OWN_CASE))
    failed = {r.key for r in report.failed}
    assert "hypertension::urgent_sbp_exactly_180" in failed
    assert all(r.base == "national-default" for r in report.failed)
    run = next(r for r in report.failed if r.key == "hypertension::urgent_sbp_exactly_180")
    assert "color: expected 'red', got 'yellow'" in [p.message for p in run.failures]
    own = [r for r in report.runs if r.base is None]
    assert [(r.key, r.failures) for r in own] == [("county::sbp_185_is_urgent", [])]
    block = confirmation_block(report, "county: urgent from 185")
    assert block[0] == "expected_changes:"
    assert '  hypertension::urgent_sbp_exactly_180: "county: urgent from 185"' in block


def test_confirmed_changes_are_reported_as_changed_not_failed(tmp_path):
    first = _run(_overlay(tmp_path / "a", 185, _OWN_CASE))
    block = "\n".join(confirmation_block(first, "county: urgent from 185"))
    report = _run(_overlay(tmp_path / "b", 185, _OWN_CASE + block + "\n"))
    assert report.failed == []
    assert report.stale == []
    changed = {r.key: r.change for r in report.changed}
    assert changed["hypertension::urgent_sbp_exactly_180"] == "county: urgent from 185"


def test_a_confirmed_change_that_does_not_happen_or_names_no_base_case_is_reported(tmp_path):
    cases = _OWN_CASE + (
        "expected_changes:\n"
        "  hypertension::urgent_sbp_exactly_180: not changed at 180\n"
        "  hypertension::no_such_case: typo\n"
    )
    report = _run(_overlay(tmp_path, 180, cases.replace("sbp: 185", "sbp: 180")))
    assert [(p.code, p.line) for p in report.stale] == [("T122", 9), ("T121", 10)]
    assert "T121 expected_changes names hypertension::no_such_case" in report.stale[1].render("en")
    assert "不存在" in report.stale[1].render("zh")


def test_coverage_of_an_overlay_is_of_the_effective_set(tmp_path):
    report = _run(_overlay(tmp_path, 185, _OWN_CASE))
    gaps = [p.message for p in report.coverage]
    assert "rules.htn.urgent_bp: threshold visit_sbp gte 185 has no case just past it" in gaps


def test_a_failing_base_case_names_its_file_line_values_and_the_rules_that_fired_differently(tmp_path):
    report = _run(_overlay(tmp_path, 185, _OWN_CASE))
    run = next(r for r in report.failed if r.key == "hypertension::urgent_sbp_exactly_180")
    color = next(p for p in run.failures if p.fields["key"] == "color")
    lines = (ROOT / "national-default" / "hypertension.cases.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[color.line - 1].strip() == "urgent_sbp_exactly_180:"
    assert color.file.endswith("national-default/hypertension.cases.yaml")
    assert (color.fields["expected"], color.fields["actual"]) == ("'red'", "'yellow'")
    assert color.text("zh") == "color：应为 'red'，实际为 'yellow'"
    assert "htn.urgent_bp (red)" in run.fired_base
    assert "htn.urgent_bp (red)" not in run.fired
    assert run.read["htn.uncontrolled"]["latest_sbp"] == 180
    assert "htn.urgent_bp (visit_sbp 180, gte 185)" in run.near


def test_guidelines_test_prints_the_failure_with_its_place_and_trace_in_both_languages(tmp_path):
    from typer.testing import CliRunner

    import cli

    folder = _overlay(tmp_path, 185, _OWN_CASE.replace("sbp: 185", "sbp: 182"))
    en = CliRunner().invoke(cli.app, ["guidelines", "test", str(folder), "--lang", "en"], terminal_width=300)
    assert en.exit_code == 1
    lines = en.output.splitlines()
    fail = lines.index(next(line for line in lines if line.startswith("FAIL county::sbp_185_is_urgent")))
    assert lines[fail].endswith("county.cases.yaml:5")
    assert lines[fail + 1] == "    referral: expected {'urgency': 'urgent'}, got null"
    assert "    almost fired: htn.urgent_bp (visit_sbp 182, gte 185)" in lines
    zh = CliRunner().invoke(cli.app, ["guidelines", "test", str(folder), "--lang", "zh"], terminal_width=300)
    assert "    referral：应为 {'urgency': 'urgent'}，实际为 null" in zh.output.splitlines()
    assert "    在基础集下触发、此处不再触发: htn.urgent_bp (red)" in zh.output.splitlines()
