"""guidelines/loader.py: strict YAML, positions, overlays with origins, unverified rules, the CLI
commands `guidelines check|schema|effective`, and cases files (guidelines/cases_file.py)."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli
from guidelines.cases_file import load_case_file, load_case_files
from guidelines.jsonschema import guideline_file_schema
from guidelines.loader import load_set, package_sets_dir, resolve_set
from guidelines.model import Origin
from pathways.errors import SangaoError
from pathways.facts import FACTS

BASE = Path(__file__).parent / "invalid_guidelines" / "_base"


def make_set(
    root: Path,
    files: dict[str, str],
    *,
    extends: Path | str | None = BASE,
    name: str = "county",
    manifest_extra: str = "",
) -> Path:
    folder = root / name
    folder.mkdir()
    head = f'set: {name}\nversion: "2026.2"\npolicy_status: local-definition\n'
    if extends is not None:
        head += f"extends: {extends}\n"
    (folder / "set.yaml").write_text(head + manifest_extra, encoding="utf-8")
    for file, text in files.items():
        (folder / file).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


def load_problems(folder: Path) -> list:
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    return exc.value.problems


# ---- a valid set ---------------------------------------------------------------------------


def test_a_valid_set_loads_with_its_rules_parameters_and_origins() -> None:
    gset = load_set(BASE)
    assert (gset.name, gset.version, gset.policy_status) == ("test-base", "2026.1", "local-definition")
    assert [r.id for r in gset.rules] == ["htn.urgent_bp", "htn.uncontrolled"]
    assert gset.param("htn_urgent_sbp") == 180
    assert gset.parameters["htn_urgent_sbp"].unit == "mmHg"
    assert gset.origin["rules.htn.urgent_bp"].file.endswith("_base/hypertension.yaml")
    assert gset.origin["rules.htn.urgent_bp"].line == 25
    assert gset.origin["parameters.control_window_days"].line == 3
    assert gset.origin["screenings.ecg"].file.endswith("_base/stratification.yaml")
    assert set(gset.vocabulary["symptoms"]) == {"chest_pain", "severe_headache"}


def test_unverified_rules_load_only_when_asked(tmp_path: Path) -> None:
    assert "htn.chest_pain" not in [r.id for r in load_set(BASE).rules]
    assert "htn.chest_pain" in [r.id for r in load_set(BASE, include_unverified=True).rules]
    folder = make_set(tmp_path, {}, manifest_extra="include_unverified: true\n")
    assert "htn.chest_pain" in [r.id for r in load_set(folder).rules]
    assert "htn.chest_pain" not in [r.id for r in load_set(folder, include_unverified=False).rules]


def test_a_packaged_set_name_resolves_to_package_data() -> None:
    assert resolve_set("national-default") == package_sets_dir() / "national-default"
    assert (package_sets_dir() / "national-default").parent.name == "guidelines"


def test_a_missing_set_says_which_sets_are_packaged(tmp_path: Path) -> None:
    (problem,) = load_problems(tmp_path / "nowhere")
    assert problem.code == "G100"
    assert "national-default" in problem.hint


# ---- overlays ----------------------------------------------------------------------------------


def test_an_overlay_parameter_changes_the_value_keeps_the_unit_and_points_at_the_overlay(
    tmp_path: Path, monkeypatch
) -> None:
    folder = make_set(
        tmp_path,
        {
            "county.yaml": """
        guideline: county
        parameters:
          htn_urgent_sbp: {value: 170}
        """
        },
    )
    monkeypatch.chdir(folder)
    gset = load_set(".")
    assert gset.param("htn_urgent_sbp") == 170
    assert gset.parameters["htn_urgent_sbp"].unit == "mmHg"
    assert gset.origin["parameters.htn_urgent_sbp"] == Origin("county.yaml", 3, 3)
    assert gset.origin["parameters.htn_urgent_dbp"].file.endswith("_base/hypertension.yaml")
    assert gset.name == "county" and gset.path == Path(".")


def test_an_overlay_rule_with_an_existing_id_replaces_it_in_place(tmp_path: Path) -> None:
    folder = make_set(
        tmp_path,
        {
            "county.yaml": """
        guideline: county
        rules:
          - id: htn.urgent_bp
            color: red
            when: {fact: latest_sbp, gte: {param: htn_urgent_sbp}}
            explain: 收缩压 {latest_sbp}
            source: {doc: PD, clause: county rule, verification: PD}
          - id: county.new_rule
            color: yellow
            when: {fact: latest_dbp, gte: 100}
            explain: 舒张压 {latest_dbp}
            source: {doc: PD, clause: county rule, verification: PD}
        """
        },
    )
    gset = load_set(folder)
    assert [r.id for r in gset.rules] == ["htn.urgent_bp", "htn.uncontrolled", "county.new_rule"]
    assert gset.rules[0].source.clause == "county rule"
    assert gset.origin["rules.htn.urgent_bp"].file.endswith("county/county.yaml")
    assert gset.origin["rules.htn.urgent_bp"].line == 3


def test_remove_rules_drops_a_base_rule(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {"county.yaml": "guideline: county\nremove_rules: [htn.uncontrolled]\n"})
    gset = load_set(folder)
    assert [r.id for r in gset.rules] == ["htn.urgent_bp"]
    assert "rules.htn.uncontrolled" not in gset.origin


def test_overlay_derive_entries_replace_by_id_and_sections_replace_whole(tmp_path: Path) -> None:
    base = (BASE / "hypertension.yaml").read_text(encoding="utf-8")
    derive = base[base.index("derive:") : base.index("rules:")]
    folder = make_set(
        tmp_path,
        {
            "county.yaml": "guideline: county\n"
            + derive.replace("bp_control: controlled}", "bp_control: uncontrolled}")
            + """
colors:
  red: {tier: county, severity: 3, follow_up_days: 7}
  yellow: {tier: township, severity: 2, follow_up_days: 21}
  blue: {tier: village, severity: 1, follow_up_days: 60}
screenings:
  look_ahead_days: 14
  complications:
    - id: ckd
      name: 慢性肾脏病
      items:
        - {kind: uacr, interval_months: 12, first_due_days: 30,
           source: {doc: PD, clause: x, verification: PD}}
"""
        },
    )
    gset = load_set(folder)
    (entry,) = gset.derive
    assert entry.cases[-1].otherwise["bp_control"] == "uncontrolled"
    assert gset.origin["derive.outputs"].file.endswith("county/county.yaml")
    assert gset.colors.red.follow_up_days == 7
    assert [i.kind for c in gset.screenings.complications for i in c.items] == ["uacr"]
    assert set(k for k in gset.origin if k.startswith("screenings.")) == {"screenings.uacr"}


def test_an_overlay_may_extend_a_folder_relative_to_itself(tmp_path: Path) -> None:
    shutil_copy = {p.name: p.read_text(encoding="utf-8") for p in BASE.iterdir()}
    base = tmp_path / "base"
    base.mkdir()
    for name, text in shutil_copy.items():
        (base / name).write_text(text, encoding="utf-8")
    folder = make_set(tmp_path, {}, extends="../base")
    assert load_set(folder).name == "county"


def test_a_set_extending_itself_is_reported(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {}, extends=".")
    (problem,) = load_problems(folder)
    assert problem.code == "G108"


# ---- strict YAML -----------------------------------------------------------------------------


def test_yes_stays_a_string_and_the_hint_says_write_true_or_false(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {}, manifest_extra="include_unverified: yes\n")
    (problem,) = load_problems(folder)
    assert (problem.code, problem.message) == ("G104", "'yes' is not true or false")
    assert problem.hint == "write true or false (YAML 1.2 reads yes/no/on/off as text)"
    assert (problem.line, problem.column) == (5, 21)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("2026.1", "2026.1 is read as a number (2026.1), not text"),
        ("0123", "0123 is read as a number (123), not text"),
        ("2026-01-02", "2026-01-02 is read as a date (datetime.date(2026, 1, 2)), not text"),
    ],
)
def test_unquoted_versions_that_are_not_text_say_quote_it(written: str, message: str, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        f"set: s\nversion: {written}\npolicy_status: local-definition\nextends: {BASE}\n", encoding="utf-8"
    )
    (problem,) = load_problems(folder)
    assert (problem.code, problem.message, problem.hint) == ("G104", message, f'quote it: "{written}"')
    assert (problem.line, problem.column) == (2, 10)


def test_a_quoted_version_loads(tmp_path: Path) -> None:
    assert load_set(make_set(tmp_path, {})).version == "2026.2"


def test_duplicate_keys_name_both_lines_and_every_duplicate_is_reported(tmp_path: Path) -> None:
    folder = make_set(
        tmp_path,
        {
            "county.yaml": """
        guideline: county
        parameters:
          a: {value: 1}
          a: {value: 2}
        guideline: again
        """
        },
    )
    problems = load_problems(folder)
    assert [(p.code, p.line, p.message) for p in problems] == [
        ("G102", 4, "duplicate key 'a': line 4 repeats line 3"),
        ("G102", 5, "duplicate key 'guideline': line 5 repeats line 1"),
    ]


def test_an_unknown_key_suggests_the_closest_field(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {"county.yaml": "guideline: county\nparamters: {}\n"})
    (problem,) = load_problems(folder)
    assert (problem.code, problem.message, problem.hint) == (
        "G103",
        "unknown key 'paramters'",
        "did you mean 'parameters'?",
    )
    assert (problem.line, problem.column) == (2, 1)


def test_a_union_error_is_reported_once_for_the_branch_the_author_meant(tmp_path: Path) -> None:
    folder = make_set(
        tmp_path,
        {
            "county.yaml": """
        guideline: county
        rules:
          - id: county.x
            color: red
            when:
              all:
                - any:
                    - {fact: latest_sbp, gte: 1, colour: red}
            explain: x
            source: {doc: PD, clause: x, verification: PD}
        """
        },
    )
    (problem,) = load_problems(folder)
    assert problem.message == "unknown key 'colour'"
    assert problem.context.splitlines()[0] == "at Rule(id='county.x') > when > all[0] > any[0] > colour"
    assert problem.context.splitlines()[2] == "> 8 |             - {fact: latest_sbp, gte: 1, colour: red}"


def test_problems_of_every_file_come_in_one_run(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {"a.yaml": "guideline: a\ncolour: red\n", "b.yaml": "guideline: 3\n"})
    problems = load_problems(folder)
    assert [(Path(p.file).name, p.code) for p in problems] == [("a.yaml", "G103"), ("b.yaml", "G104")]


def test_syntax_errors_and_empty_files_are_located(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {"a.yaml": "guideline: [a\n", "b.yaml": "# nothing\n"})
    problems = load_problems(folder)
    assert [(Path(p.file).name, p.code) for p in problems] == [("a.yaml", "G101"), ("b.yaml", "G110")]


def test_a_file_listed_in_the_manifest_must_exist(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {}, manifest_extra="files: [county.yaml]\n")
    (problem,) = load_problems(folder)
    assert (problem.code, problem.message) == ("G109", "file 'county.yaml' listed in `files:` does not exist")


# ---- CLI -------------------------------------------------------------------------------------


runner = CliRunner()


def test_check_prints_a_one_line_summary_for_a_valid_set() -> None:
    result = runner.invoke(cli.app, ["guidelines", "check", str(BASE), "--lang", "en"])
    assert result.exit_code == 0
    assert result.output == (
        "ok: test-base 2026.1: 2 rules (1 unverified left out), 1 derive entries, 8 parameters, 4 files\n"
    )


def test_check_speaks_chinese_unless_the_locale_is_english(monkeypatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    result = runner.invoke(cli.app, ["guidelines", "check", str(BASE)])
    assert result.output == (
        "通过：test-base 2026.1：2 条规则（1 条未核实规则未载入），1 个派生项，8 个参数，4 个文件\n"
    )
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert runner.invoke(cli.app, ["guidelines", "check", str(BASE)]).output.startswith("ok: test-base")


def test_a_yaml_indentation_error_is_explained_in_plain_words_in_both_languages(tmp_path: Path) -> None:
    folder = make_set(tmp_path, {"a.yaml": "guideline: a\nparameters:\n  x:\n    value: 1\n   unit: day\n"})
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    (p,) = exc.value.problems
    assert (p.code, p.line, p.column) == ("G101", 5, 4)
    assert p.text("en") == (
        "YAML syntax: the indentation does not match the lines above: keys or list items (-) of one "
        "level start in the same column (parser: while parsing a block mapping expected <block end>, "
        "but found '<block mapping start>')"
    )
    assert p.hint_text("en") == (
        "line this line up with the lines of its level above it (the same number of spaces)"
    )
    assert p.text("zh").startswith("YAML 语法错误：缩进与上面的行不一致")
    assert p.hint_text("zh") == "让这一行与上面同一层的行对齐（空格数相同）"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("guideline: a\nparameters:\n\tx: {value: 1}\n", "replace the tab with spaces"),
        ('guideline: "a\nparameters: {}\n', "close the quote on the same line"),
        (
            "guideline: a\nparameters: {x: {value: 1}\n",
            "close it with `}` on the same line; separate items with `, `",
        ),
        ("guideline：a\nparameters: {}\n", "write an ASCII colon and a space after the key (key: value)"),
    ],
)
def test_common_yaml_slips_get_their_likely_fix(text: str, hint: str, tmp_path: Path) -> None:
    folder = make_set(tmp_path, {"a.yaml": text})
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    assert [p.hint_text("en") for p in exc.value.problems if p.code == "G101"] == [hint]


def test_check_prints_every_problem_and_exits_1(tmp_path: Path, monkeypatch) -> None:
    folder = make_set(tmp_path, {"a.yaml": "guideline: a\ncolour: red\n", "b.yaml": "guideline: 3\n"})
    monkeypatch.chdir(folder)
    result = runner.invoke(cli.app, ["guidelines", "check", ".", "--lang", "en"])
    assert result.exit_code == 1
    assert result.output.startswith("a.yaml:2:1: G103 unknown key 'colour'\n")
    assert "b.yaml:1:12: G104 3 is read as a number (3), not text\n" in result.output
    assert result.output.endswith("2 problem(s) in .\n")


def test_check_exits_1_through_main(tmp_path: Path, monkeypatch) -> None:
    folder = make_set(tmp_path, {"a.yaml": "guideline: a\ncolour: red\n"})
    monkeypatch.setattr("sys.argv", ["sangao", "guidelines", "check", str(folder)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 1


def test_effective_lists_parameters_and_rules_with_their_origin(tmp_path: Path, monkeypatch) -> None:
    folder = make_set(
        tmp_path, {"county.yaml": "guideline: county\nparameters:\n  htn_urgent_sbp: {value: 170}\n"}
    )
    monkeypatch.chdir(folder)
    result = runner.invoke(cli.app, ["guidelines", "effective", ".", "--lang", "en"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "county 2026.2 (extends " + str(BASE) + "): local-definition"
    zh = runner.invoke(cli.app, ["guidelines", "effective", ".", "--lang", "zh"]).output.splitlines()
    assert zh[0] == "county 2026.2（继承 " + str(BASE) + "）：local-definition"
    assert zh[1].startswith("参数（") and "  htn_urgent_sbp           170           mmHg  county.yaml:3" in zh
    assert "  htn_urgent_sbp           170           mmHg  county.yaml:3" in lines
    assert any(
        line.startswith("  htn.urgent_bp     red     V1  ") and line.endswith("_base/hypertension.yaml:25")
        for line in lines
    )


def test_schema_is_draft_07_with_fact_names_as_an_enum() -> None:
    result = runner.invoke(cli.app, ["guidelines", "schema", str(BASE)])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in json.dumps(schema)
    fact = schema["definitions"]["Compare"]["properties"]["fact"]
    enum = next(alt["enum"] for alt in fact["anyOf"] if "enum" in alt)
    assert set(FACTS) < set(enum) and "bp_control" in enum
    assert schema["definitions"]["Compare"]["properties"]["in"]
    assert schema["definitions"]["Rule"]["additionalProperties"] is False


def test_schema_without_derived_facts_lists_only_base_facts() -> None:
    fact = guideline_file_schema()["definitions"]["FactRef"]["properties"]["fact"]
    assert fact["enum"] == sorted(FACTS)


# ---- cases files -------------------------------------------------------------------------------


CASES = """
guideline: htn
as_of: 2026-11-30
patient: {sex: F, birth_date: 1971-04-12, conditions: [hypertension], enrolled_on: 2023-02-01}
cases:
  urgent_exactly_at_180:
    given: {visits: [{date: 2026-11-20, sbp: 180, dbp: 96}]}
    expect: {color: red, referral: {urgency: urgent}, reasons_include: [htn.urgent_bp]}
  ecg_overdue_the_day_after_due_by:
    given: {screenings: [{date: 2025-11-28, kind: ecg, result: normal}]}
    steps:
      - {as_of: 2026-11-28, expect: {overdue_exclude: [ecg]}}
      - {as_of: 2026-11-29, expect: {overdue_include: [ecg]}}
"""


def test_a_cases_file_loads_into_plain_models(tmp_path: Path) -> None:
    (tmp_path / "hypertension.yaml").write_text("guideline: htn\n", encoding="utf-8")
    (tmp_path / "hypertension.cases.yaml").write_text(CASES, encoding="utf-8")
    (cf,) = load_case_files(tmp_path)
    assert (cf.guideline, cf.as_of) == ("htn", date(2026, 11, 30))
    assert cf.patient["birth_date"] == date(1971, 4, 12)
    urgent = cf.cases["urgent_exactly_at_180"]
    assert urgent.expect == {
        "color": "red",
        "referral": {"urgency": "urgent"},
        "reasons_include": ["htn.urgent_bp"],
    }
    steps = cf.cases["ecg_overdue_the_day_after_due_by"].steps
    assert [s.as_of for s in steps] == [date(2026, 11, 28), date(2026, 11, 29)]
    assert cf.case_lines == {"urgent_exactly_at_180": 6, "ecg_overdue_the_day_after_due_by": 9}


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (("expect: {color: red,", "expect: {colour: red,"), "T117", "unknown expect key 'colour'"),
        (("referral: {urgency:", "referral: {urgancy:"), "T117", "unknown expect key 'referral.urgancy'"),
        (
            ("reasons_include: [htn.urgent_bp]", "reasons_include: htn.urgent_bp"),
            "T120",
            "`reasons_include` takes a list of ids or kinds",
        ),
        (("    given: {screenings", "    gvien: {screenings"), "T113", "unknown key 'gvien'"),
        (("guideline: htn", "guideline: dm"), "T119", "guideline 'dm' but the file beside it is 'htn'"),
        (("as_of: 2026-11-29", "as_of: 2026-11-31"), "T111", "'2026-11-31' is not a date"),
        (("as_of: 2026-11-30", "as_of: soon"), "T116", None),
    ],
)
def test_a_malformed_cases_file_gives_a_t_error_at_its_place(
    change: tuple[str, str], code: str, message: str | None, tmp_path: Path
) -> None:
    (tmp_path / "hypertension.yaml").write_text("guideline: htn\n", encoding="utf-8")
    path = tmp_path / "hypertension.cases.yaml"
    path.write_text(CASES.replace(*change), encoding="utf-8")
    with pytest.raises(SangaoError) as exc:
        load_case_file(path, "htn")
    (problem,) = exc.value.problems
    assert problem.code == code
    if message is not None:
        assert problem.message == message
    assert problem.line is not None and problem.column is not None


def test_a_case_without_expect_or_steps_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "x.cases.yaml"
    path.write_text(
        CASES.replace(
            "    given: {visits: [{date: 2026-11-20, sbp: 180, dbp: 96}]}\n"
            "    expect: {color: red, referral: {urgency: urgent}, reasons_include: [htn.urgent_bp]}",
            "    given: {}",
        ),
        encoding="utf-8",
    )
    with pytest.raises(SangaoError) as exc:
        load_case_file(path)
    (problem,) = exc.value.problems
    assert (problem.code, problem.line, problem.column) == ("T118", 6, 3)


def test_a_bad_record_in_given_is_located_in_the_case_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "x.cases.yaml"
    path.write_text(
        CASES.replace("sbp: 180, dbp: 96", "sbpp: 180, dbp: 96").replace("sex: F", "sex: X"), encoding="utf-8"
    )
    with pytest.raises(SangaoError) as exc:
        load_case_file(path)
    sex, sbpp = exc.value.problems  # the file's `patient` is reported once, not once per case
    assert (sex.code, sex.line, sex.column, sex.message) == ("T116", 4, 16, "'X' is not one of 'M' or 'F'")
    assert (sbpp.code, sbpp.line, sbpp.column, sbpp.message) == ("T113", 7, 41, "unknown key 'sbpp'")
    assert (
        sbpp.context.splitlines()[0] == "at CaseSpec(name='urgent_exactly_at_180') > given > visits[0] > sbpp"
    )
    assert sbpp.hint == "did you mean 'sbp'?"


def test_check_and_effective_take_include_unverified() -> None:
    args = ["guidelines", "check", str(BASE), "--include-unverified", "--lang", "en"]
    result = runner.invoke(cli.app, args)
    assert result.output == "ok: test-base 2026.1: 3 rules, 1 derive entries, 8 parameters, 4 files\n"
    result = runner.invoke(cli.app, ["guidelines", "effective", str(BASE), "--include-unverified"])
    assert any(line.startswith("  htn.chest_pain") and " U " in line for line in result.output.splitlines())


def test_check_without_a_path_checks_the_packaged_national_default_set() -> None:
    result = runner.invoke(cli.app, ["guidelines", "check", "--lang", "en"])
    assert result.exit_code == 0
    assert result.output.startswith("ok: national-default ")


# ---- any edit gives a set or located problems, never a crash ----------------------------------

SNIPPETS = [
    "",
    "yes",
    "2026.1",
    "0123",
    "[",
    "{",
    "}",
    "- ",
    ": ",
    "null",
    "{fact: x}",
    "{param: y}",
    "[1, [2]]",
    "2026-13-40",
    "  ",
    "\t",
    "&a 1",
    "*a",
    "? x",
    "gte: 1",
    "all: []",
    "'{'",
    "'{}'",
    "colour: red",
    "when: 3",
    "id: X.Y",
    "0",
    "-1",
    "1e999",
    ".nan",
    "~",
]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 40), st.sampled_from(SNIPPETS)), min_size=1, max_size=3
    )
)
def test_any_edit_of_a_valid_set_loads_or_gives_located_problems(
    edits: list[tuple[int, int, str]], tmp_path_factory
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    for p in BASE.iterdir():
        (folder / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    path = folder / "hypertension.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    for line, col, snippet in edits:
        i = line % len(lines)
        lines[i] = lines[i][:col] + snippet + lines[i][col:]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_set(folder)
    except SangaoError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file and problem.code[0] in "GC" and problem.message
            assert problem.line is not None or problem.code == "G100"
