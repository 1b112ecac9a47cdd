"""`sangao assess`, `explain`, `guidelines diff`, `guidelines test` and `demo` end to end, through the
real CLI on a generated roster and a real SQLite file."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from pathways.models import Assessment
from pathways.synthetic import generate_jsonl

AS_OF = "2026-11-23"
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def roster(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("roster") / "roster.jsonl"
    path.write_text("".join(line + "\n" for line in generate_jsonl(300, 5, date.fromisoformat(AS_OF))),
                    encoding="utf-8")
    return path


def _assess(roster: Path, *extra: str) -> list[dict]:
    result = runner.invoke(cli.app, ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "jsonl",
                                     "--provisional-calendar", *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_assess_jsonl_writes_one_interchange_line_per_patient_under_management(roster):
    lines = _assess(roster)
    records = [json.loads(line) for line in roster.read_text(encoding="utf-8").splitlines()]
    gone = {r["patient_id"] for r in records
            if any(r.get(k) and r[k] <= AS_OF for k in ("deceased_on", "moved_out_on"))}
    assert gone, "the generated roster has patients who died or moved out"
    kept = [r["patient_id"] for r in records if r["patient_id"] not in gone]
    assert [a["patient_id"] for a in lines] == kept
    for line in lines:
        a = Assessment.model_validate(line)
        assert a.as_of == date.fromisoformat(AS_OF)
        assert a.guideline_set == "national-default"
        assert set(line) >= {"patient_id", "as_of", "guideline_set", "guideline_version", "color",
                             "tier", "reasons", "referral", "control", "bp_target", "ascvd_risk",
                             "ldl_target", "egfr", "ckd_stage", "albuminuria", "screenings_due",
                             "next_follow_up"}
    assert {a["color"] for a in lines} == {"red", "yellow", "blue"}


def test_colour_and_tier_always_go_together(roster):
    tiers = {(a["color"], a["tier"]) for a in _assess(roster)}
    assert tiers <= {("red", "county"), ("yellow", "township"), ("blue", "village")}


def test_every_reason_cites_its_clause_and_every_red_patient_is_referred(roster):
    for a in _assess(roster):
        assert all(r["source"] and r["text"] for r in a["reasons"])
        if a["color"] == "red":
            assert a["referral"] is not None and a["referral"]["to"] == "county"


def test_both_backends_give_identical_assessments(roster):
    assert _assess(roster, "--engine", "durable") == _assess(roster, "--engine", "python")


def test_two_worker_processes_give_the_same_assessments_in_the_same_order(roster):
    assert _assess(roster, "--workers", "2") == _assess(roster)


def test_next_follow_up_is_never_before_as_of_and_never_a_weekend_or_holiday(roster):
    from guidelines.calendar_loader import load_calendar

    calendar = load_calendar({2026, 2027}, provisional=True)
    for a in _assess(roster):
        day = date.fromisoformat(a["next_follow_up"])
        assert day >= date.fromisoformat(AS_OF)
        assert calendar.is_working_day(day)


def test_with_the_strict_calendar_a_2027_follow_up_is_an_error_naming_the_year(roster):
    result = runner.invoke(cli.app, ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "jsonl",
                                     "--strict-calendar"])
    assert result.exit_code != 0
    assert "2027" in str(result.exception) + result.output


def test_by_default_a_2027_follow_up_uses_the_provisional_calendar_and_says_so(roster):
    args = ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "jsonl"]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    late = [json.loads(line) for line in result.stdout.splitlines() if '"next_follow_up": "2027' in line]
    assert late and all(any("2027" in w for w in a["warnings"]) for a in late)


def test_csv_output_has_a_header_and_one_row_per_assessment(roster, tmp_path):
    out = tmp_path / "a.csv"
    result = runner.invoke(cli.app, ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "csv",
                                     "--out", str(out), "--provisional-calendar", "--lang", "en"])
    assert result.exit_code == 0, result.output
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("patient_id,as_of,guideline_set")
    assert len(rows) - 1 == len(_assess(roster))


def test_saved_assessments_are_kept_once_with_the_guideline_version(roster, tmp_path):
    from store import import_files
    from store.assessments import load_assessments

    db = tmp_path / "s.db"
    import_files([roster], f"sqlite:///{db}", date.fromisoformat(AS_OF))
    for _ in range(2):  # saving twice replaces, never duplicates
        result = runner.invoke(cli.app, ["assess", "--db", str(db), "--as-of", AS_OF, "--format", "jsonl",
                                         "--save", "--provisional-calendar"])
        assert result.exit_code == 0, result.output
    saved = list(load_assessments(f"sqlite:///{db}"))
    assert len(saved) == len(_assess(roster))
    assert {(a.guideline_set, a.guideline_version) for a in saved} == {("national-default", "2026.1")}


def test_explain_prints_every_fired_rule_with_values_and_clause(roster):
    red = next(a for a in _assess(roster) if a["color"] == "red")
    result = runner.invoke(cli.app, ["explain", red["patient_id"], "--roster", str(roster), "--as-of", AS_OF,
                                     "--provisional-calendar"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for reason in red["reasons"]:
        assert reason["rule"] in result.output
    assert "local-definition" in result.output
    assert "source:" in result.output and "读取" in result.output


def test_explain_in_english_and_for_an_unknown_patient(roster):
    pid = _assess(roster)[0]["patient_id"]
    result = runner.invoke(cli.app, ["explain", pid, "--roster", str(roster), "--as-of", AS_OF, "--lang",
                                     "en", "--provisional-calendar"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "rules fired" in result.output or "no rule fired" in result.output
    missing = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "explain", "nobody", "--roster",
                              str(roster), "--as-of", AS_OF], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1
    assert "D900" in missing.stderr and "nobody" in missing.stderr


def test_guidelines_diff_counts_the_patients_a_county_overlay_moves(roster):
    county = ROOT / "guidelines" / "overlays-examples" / "example-county"
    same = runner.invoke(cli.app, ["guidelines", "diff", "national-default", "national-default", "--roster",
                                   str(roster), "--as-of", AS_OF, "--provisional-calendar", "--lang", "en"],
                         terminal_width=200)
    assert same.exit_code == 0, same.output
    assert "colour changes: 0 " in same.output and "next follow-up changes: 0" in same.output
    changed = runner.invoke(cli.app, ["guidelines", "diff", "national-default", str(county), "--roster",
                                      str(roster), "--as-of", AS_OF, "--provisional-calendar",
                                      "--lang", "en"], terminal_width=200)
    assert changed.exit_code == 0, changed.output
    assert "next follow-up changes: 0" not in changed.output  # the overlay shortens yellow follow-ups


def test_guidelines_test_runs_every_case_of_the_default_set():
    result = runner.invoke(cli.app, ["guidelines", "test", "--lang", "en"], terminal_width=200)
    assert "0 failed" in result.output, result.output
    assert result.exit_code == 0, result.output


def test_demo_runs_the_whole_pipeline_and_names_its_outputs(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(cli.app, ["demo", "--patients", "120", "--as-of", AS_OF, "--out", str(out)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("roster.jsonl", "sangao.db", "assessments.jsonl", "assessments.csv", "worklist.csv",
                 "plan.html",
                 "plan.pdf"):
        assert (out / name).exists() and name in result.output
    assert "6. 工作清单" in result.output and "7. 照护计划" in result.output  # Chinese by default
    assert (out / "plan.pdf").read_bytes().startswith(b"%PDF")
    text = (out / "assessments.jsonl").read_text(encoding="utf-8")
    assessed = [json.loads(line) for line in text.splitlines()]
    assert 0 < len(assessed) <= 120
    assert "2027年使用临时工作日日历" in result.output  # 2027 follow-ups, visibly warned


def test_the_demo_speaks_english_when_asked(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(cli.app, ["demo", "--patients", "60", "--as-of", AS_OF, "--out", str(out),
                                     "--lang", "en"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "6. worklist" in result.output and "7. plan" in result.output
    assert "8. monthly report" in result.output
    assert "provisional working-day calendar for 2027" in result.output


def test_assessment_json_schema_only_ever_gains_optional_fields():
    """interchange.md: the assessment changes only by adding optional fields. A deliberate addition
    updates tests/contract/assessment.schema.json in the same commit."""
    current = Assessment.model_json_schema()
    contract = ROOT / "tests" / "contract" / "assessment.schema.json"
    committed = json.loads(contract.read_text(encoding="utf-8"))
    assert current == committed


def test_guidelines_explain_shows_a_rule_with_its_threshold_source_and_the_local_definition_note():
    result = runner.invoke(cli.app, ["guidelines", "explain", "htn.urgent_bp"], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "visit_sbp ≥ 180" in result.output and "visit_dbp ≥ 110" in result.output
    assert "verification: V1" in result.output and "local-definition" in result.output
    overview = runner.invoke(cli.app, ["guidelines", "explain"], terminal_width=300)
    assert overview.exit_code == 0
    assert "htn.urgent_bp" in overview.output and "kidney.no_creatinine" in overview.output


def _explain_in_a_subprocess(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SANGAO_LANG", "LANG")}
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", "guidelines", "explain", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def test_guidelines_explain_of_an_unknown_rule_suggests_the_closest():
    result = _explain_in_a_subprocess("htn.urgnt_bp", "--lang", "en")
    assert result.returncode == 1
    assert "C900 no rule 'htn.urgnt_bp' in national-default" in result.stderr
    assert "did you mean 'htn.urgent_bp'" in result.stderr


def test_guidelines_explain_of_an_unknown_rule_is_reported_in_chinese_by_default():
    result = _explain_in_a_subprocess("no.such_rule")
    assert result.returncode == 1
    assert "C900 national-default" in result.stderr and "中没有规则 'no.such_rule'" in result.stderr
    assert "提示: `sangao guidelines explain` 列出全部规则" in result.stderr
    english = _explain_in_a_subprocess("no.such_rule", "--lang", "en")
    assert "C900 no rule 'no.such_rule' in national-default" in english.stderr
    assert "hint: `sangao guidelines explain` lists them" in english.stderr


def test_hba1c_control_is_reported_beside_glucose_for_diabetes_patients_only(roster):
    for a in _assess(roster):
        in_dm = a["control"]["glucose"] != "not_applicable"
        assert (a["control"]["hba1c"] == "not_applicable") is not in_dm


# ---- assess for people: filters, order, labels, summary (reports/assessments.py) ----------------


def test_filters_keep_only_the_chosen_colour_referrals_team_and_due_window(roster):
    everyone = _assess(roster)
    team = json.loads(roster.read_text(encoding="utf-8").splitlines()[0])["team"]
    got = _assess(roster, "--color", "red", "--color", "yellow", "--referral", "--due-within", "7",
                  "--team", team)
    records = {json.loads(line)["patient_id"]: json.loads(line) for line in roster.read_text().splitlines()}
    limit = date.fromisoformat(AS_OF).toordinal() + 7
    expected = [a for a in everyone
                if a["color"] in ("red", "yellow") and a["referral"]
                and records[a["patient_id"]]["team"] == team
                and date.fromisoformat(a["next_follow_up"]).toordinal() <= limit]
    assert got == expected and got


def test_the_table_at_80_columns_shows_whole_patient_ids_most_urgent_first_in_chinese(roster):
    result = runner.invoke(cli.app, ["assess", "--roster", str(roster), "--as-of", AS_OF, "--limit", "400"],
                           terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    cells = [line.split("│") for line in lines if line.startswith("│")]
    ids = [c[1].strip() for c in cells if c[1].strip()]
    everyone = _assess(roster)
    assert sorted(ids) == sorted(a["patient_id"] for a in everyone)
    colours = [line.split("│")[2].strip() for line in lines if line.startswith("│")]
    order = {"红": 0, "黄": 1, "蓝": 2}
    assert [order[c] for c in colours] == sorted(order[c] for c in colours)
    assert "患者编号" in result.stdout and "共 " in lines[-1] and "红 " in lines[-1]
    # follow-ups reach the provisional 2027
    assert "2027年工作日为临时日历" in result.stdout.replace("\n", "")


def test_the_colour_summary_ends_the_run_even_when_writing_a_file(roster, tmp_path):
    out = tmp_path / "a.csv"
    result = runner.invoke(cli.app, ["assess", "--roster", str(roster), "--as-of", AS_OF, "--format", "csv",
                                     "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("患者编号,评估日期") and "逾期天数" in header
    reds = sum(1 for a in _assess(roster) if a["color"] == "red")
    assert f"红 {reds}" in result.output


def test_assess_in_a_folder_without_a_database_asks_for_a_roster_import(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "assess"], capture_output=True,
                            text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert "请先导入花名册" in result.stderr and "D041" in result.stderr


def test_explain_finds_a_patient_by_name_or_resident_id(roster):
    first = json.loads(roster.read_text(encoding="utf-8").splitlines()[0])
    args = ["--roster", str(roster), "--as-of", AS_OF]
    by_id = runner.invoke(cli.app, ["explain", first["patient_id"], *args], terminal_width=200)
    for query in (first["id_number"], first["name"]):
        names = [json.loads(line)["name"] for line in roster.read_text(encoding="utf-8").splitlines()]
        if query == first["name"] and names.count(query) > 1:
            continue
        found = runner.invoke(cli.app, ["explain", query, "--roster", str(roster), "--as-of", AS_OF],
                              terminal_width=200)
        assert found.exit_code == 0, found.output
        assert found.stdout == by_id.stdout
