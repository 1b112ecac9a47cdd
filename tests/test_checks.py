"""Whole-set checks (guidelines/checks/) and file-level errors, pinned word for word.

Every folder of tests/invalid_guidelines/ is a broken set (most extend the valid `_base` set) with
the exact output of loading it in `expected.txt`. The tests below it check each rule on both sides
of its edge with small sets written to tmp_path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from guidelines.loader import load_set
from pathways.errors import SangaoError

INVALID = Path(__file__).parent / "invalid_guidelines"
BASE = INVALID / "_base"
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir() and not p.name.startswith("_"))


def problems_of(folder: Path | str) -> str:
    try:
        load_set(folder)
    except SangaoError as exc:
        return exc.render("en")
    return "LOADED"


@pytest.mark.parametrize("case", CASES)
def test_broken_set_reports_exactly_its_expected_message(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID / case)
    expected = (INVALID / case / "expected.txt").read_text(encoding="utf-8").rstrip("\n")
    assert problems_of(".") == expected


def test_every_broken_example_fails_to_load() -> None:
    for case in CASES:
        assert (INVALID / case / "expected.txt").read_text(encoding="utf-8") != "LOADED\n", case


def test_the_base_of_the_broken_examples_is_itself_valid() -> None:
    assert load_set(BASE).name == "test-base"


# ---- helpers ---------------------------------------------------------------------------------


def overlay(tmp_path: Path, county_yaml: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An overlay of the base set with one file, county.yaml; returns the codes it raises."""
    folder = tmp_path / "county"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        f'set: county\nversion: "2026.2"\npolicy_status: local-definition\nextends: {BASE}\n',
        encoding="utf-8",
    )
    (folder / "county.yaml").write_text(textwrap.dedent(county_yaml), encoding="utf-8")
    monkeypatch.chdir(folder)
    try:
        load_set(".")
    except SangaoError as exc:
        return " ".join(p.code for p in exc.problems)
    return ""


def rule_when(when: str) -> str:
    body = textwrap.indent(textwrap.dedent(when).strip(), "      ")
    return f"""
guideline: county
parameters:
  county_limit: {{value: 150, unit: mmHg}}
  county_scheme: {{value: strict, options: [strict, relaxed]}}
rules:
  - id: county.rule
    color: yellow
    when:
{body}
    explain: 规则
    source: {{doc: PD, clause: local, verification: PD}}
"""


# ---- rules that can never fire: both sides of each bound ----------------------------------------


@pytest.mark.parametrize(
    ("lower", "upper", "codes"),
    [
        ("gte: 150", "lt: 150", "C115"),  # empty: [150, 150)
        ("gte: 150", "lte: 150", ""),  # exactly 150
        ("gt: 150", "lte: 150", "C115"),  # empty: (150, 150]
        ("gte: 150", "lt: 150.1", ""),  # just past: [150, 150.1)
        ("gte: 180", "lt: 150", "C115"),
        ("gte: {param: county_limit}", "lt: 150", "C115"),  # the parameter's value is the bound
        ("gte: {param: county_limit}", "lte: 150", ""),
    ],
)
def test_bounds_on_one_fact_in_an_all_are_contradictory_only_when_no_value_fits(
    lower: str, upper: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = f"""
    all:
      - {{fact: latest_sbp, {lower}}}
      - {{fact: latest_sbp, {upper}}}
    """
    assert overlay(tmp_path, rule_when(when), monkeypatch) == codes


def test_contradictory_bounds_under_any_are_not_reported_while_another_branch_can_fire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = """
    any:
      - all: [{fact: latest_sbp, gte: 180}, {fact: latest_sbp, lt: 150}]
      - {fact: latest_dbp, gte: 110}
    """
    assert overlay(tmp_path, rule_when(when), monkeypatch) == ""


def test_a_fact_required_missing_and_compared_in_one_all_can_never_fire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = """
    all:
      - {fact: latest_sbp, known: false}
      - {fact: latest_sbp, gte: 140}
    """
    assert overlay(tmp_path, rule_when(when), monkeypatch) == "C115"


def test_two_different_equalities_on_one_fact_can_never_fire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = """
    all:
      - {fact: sex, eq: M}
      - {fact: sex, eq: F}
    """
    assert overlay(tmp_path, rule_when(when), monkeypatch) == "C115"


@pytest.mark.parametrize(
    ("condition", "codes"),
    [
        ("{param: county_scheme, eq: strict}", ""),  # the current value
        ("{param: county_scheme, eq: relaxed}", ""),  # a documented option a site may select: a switch
        ("{param: county_scheme, eq: lenient}", "C116"),  # no option makes it true
        ("{param: county_limit, gte: 150}", ""),
        ("{param: county_limit, gt: 150}", "C116"),  # 150 is not > 150, and there are no options
    ],
)
def test_a_parameter_condition_false_under_every_option_makes_the_rule_dead(
    condition: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = f"""
    all:
      - {condition}
      - {{fact: latest_sbp, gte: 140}}
    """
    assert overlay(tmp_path, rule_when(when), monkeypatch) == codes


# ---- facts, parameters, units, types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparison", "codes"),
    [
        ("{fact: latest_sbp, gte: {param: county_limit}}", ""),  # mmHg with mmHg
        ("{fact: latest_sbp, gte: {param: lab_window_days}}", "C105"),  # mmHg with day
        ("{fact: latest_sbp, lt: {fact: latest_dbp}}", ""),
        ("{fact: latest_sbp, lt: {fact: latest_ldl_c}}", "C105"),
        ("{fact: latest_sbp, gte: 140}", ""),  # a literal carries no unit
        ("{fact: smoker, eq: true}", ""),
        ("{fact: smoker, eq: 1}", "C106"),  # 1 is not true
        ("{fact: smoker, lt: 1}", "C106"),
        ("{fact: latest_sbp, eq: high}", "C106"),
        ("{fact: sex, in: [M, F]}", ""),
        ("{fact: sex, in: [M, 1]}", "C106"),
        ("{fact: visit_symptoms, has_any: [chest_pain, severe_headache]}", ""),
        ("{fact: visit_symptoms, has_any: [chest_pains]}", "C108"),
        ("{fact: smoker, has_any: [chest_pain]}", "C107"),
        ("{fact: visit_symptoms, eq: chest_pain}", "C106"),
        ("{fact: bp_control, eq: controlled}", ""),
        ("{fact: bp_control, eq: controled}", "C124"),
        ("{fact: latset_sbp, gte: 140}", "C102"),
        ("{fact: latest_sbp, gte: {param: county_limt}}", "C103"),
        ("{fact: latest_sbp, gte: {fact: latset_dbp}}", "C102"),
        ("{fact: latest_sbp}", "G112"),
        ("{fact: latest_sbp, gte: 140, lt: 150}", "G112"),
        ("{gte: 140}", "G111"),
        ("{fact: smoker, eq: null}", "G112"),
    ],
)
def test_each_comparison_is_checked_for_names_units_and_types(
    comparison: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert overlay(tmp_path, rule_when(comparison), monkeypatch) == codes


def test_unknown_fact_suggests_the_latest_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        f'set: x\nversion: "1"\npolicy_status: local-definition\nextends: {BASE}\n', encoding="utf-8"
    )
    (folder / "c.yaml").write_text(rule_when("{fact: dbp, gte: 90}"), encoding="utf-8")
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    (problem,) = exc.value.problems
    assert (problem.code, problem.message) == ("C102", "unknown fact 'dbp'")
    assert problem.hint == "did you mean 'latest_dbp'? `sangao guidelines schema` lists every fact"


def test_explain_may_show_facts_read_on_either_side_of_a_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = rule_when("{fact: latest_sbp, gte: {fact: bp_target_sbp}}").replace(
        "explain: 规则", "explain: 血压 {latest_sbp}，目标 <{bp_target_sbp:.0f}"
    )
    assert overlay(tmp_path, yaml, monkeypatch) == ""


# ---- decision tables: on and past the edge ------------------------------------------------------------


def table(hit_policy: str, rows: str) -> str:
    return f"""
guideline: county
derive:
  - table: grid
    hit_policy: {hit_policy}
    inputs:
      n: {{fact: age_years, domain: [0, 1, 2, 3]}}
    outputs: {{band: {{type: string}}}}
    rows:
{textwrap.indent(textwrap.dedent(rows).strip(), "      ")}
"""


@pytest.mark.parametrize(
    ("hit_policy", "rows", "codes"),
    [
        (
            "unique",
            "- {when: {n: {lt: 2}}, then: {band: low}}\n- {when: {n: {gte: 2}}, then: {band: high}}",
            "",
        ),
        (
            "unique",
            "- {when: {n: {lt: 2}}, then: {band: low}}\n- {when: {n: {gte: 3}}, then: {band: high}}",
            "C111",
        ),
        (
            "unique",
            "- {when: {n: {lte: 2}}, then: {band: low}}\n- {when: {n: {gte: 2}}, then: {band: high}}",
            "C112",
        ),
        (
            "first",
            "- {when: {n: {lte: 2}}, then: {band: low}}\n- {when: {n: {gte: 2}}, then: {band: high}}",
            "",
        ),
        ("first", "- {when: {n: [0, 1]}, then: {band: low}}\n- {when: {n: 3}, then: {band: high}}", "C111"),
        ("first", "- {when: {}, then: {band: any}}", ""),
    ],
)
def test_table_domains_are_enumerated_for_gaps_and_overlaps(
    hit_policy: str, rows: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert overlay(tmp_path, table(hit_policy, rows), monkeypatch) == codes


def test_a_gap_names_the_combination_without_a_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        f'set: x\nversion: "1"\npolicy_status: local-definition\nextends: {BASE}\n', encoding="utf-8"
    )
    (folder / "c.yaml").write_text(
        table("first", "- {when: {n: [0, 1, 2]}, then: {band: low}}"), encoding="utf-8"
    )
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    assert [p.message for p in exc.value.problems] == ["table 'grid' has no row for n=3"]


# ---- duplicates and overlays ------------------------------------------------------------------------


def test_a_rule_id_reused_as_another_rules_alias_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = (
        rule_when("{fact: latest_sbp, gte: 150}").replace(
            "    color: yellow", "    aliases: [county.other]\n    color: yellow"
        )
        + """
  - id: county.other
    color: red
    when: {fact: latest_sbp, gte: 200}
    explain: 规则
    source: {doc: PD, clause: local, verification: PD}
"""
    )
    assert overlay(tmp_path, yaml, monkeypatch) == "C101"


def test_an_overlay_may_replace_a_base_rule_with_the_same_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = """
    guideline: county
    rules:
      - id: htn.uncontrolled
        color: yellow
        when: {fact: bp_control, eq: uncontrolled}
        explain: 血压未达标
        source: {doc: PD, clause: local, verification: PD}
    """
    assert overlay(tmp_path, yaml, monkeypatch) == ""


def test_an_overlay_unit_equal_to_the_base_unit_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = "guideline: county\nparameters:\n  htn_urgent_sbp: {value: 170, unit: mmHg}\n"
    assert overlay(tmp_path, yaml, monkeypatch) == ""


def test_remove_rules_in_a_set_that_extends_nothing_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    for p in BASE.iterdir():
        (folder / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "extra.yaml").write_text("guideline: extra\nremove_rules: [htn.urgent_bp]\n", encoding="utf-8")
    with pytest.raises(SangaoError) as exc:
        load_set(folder)
    assert [p.code for p in exc.value.problems] == ["C123"]


@pytest.mark.parametrize(
    ("explain", "codes"),
    [
        ("'血压 {latest_sbp}'", ""),
        ("'血压 {{latest_sbp}}'", ""),  # a literal brace, no placeholder
        ("'血压 {latest_sbp'", "C128"),
        ("'血压 {}'", "C119"),
        ("'血压 {0}'", "C119"),
        ("'血压 {latest_dbp}'", "C118"),
    ],
)
def test_explain_templates_name_facts_the_rule_reads(
    explain: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = rule_when("{fact: latest_sbp, gte: 150}").replace("explain: 规则", f"explain: {explain}")
    assert overlay(tmp_path, yaml, monkeypatch) == codes


def test_a_key_that_is_not_text_says_quote_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yaml = "guideline: county\nparameters:\n  140: {value: 1}\n"
    assert overlay(tmp_path, yaml, monkeypatch) == "G104"
    with pytest.raises(SangaoError) as exc:
        load_set(".")
    (problem,) = exc.value.problems
    assert (problem.message, problem.hint, problem.line, problem.column) == (
        "key 140 is not text",
        'quote it: "140"',
        3,
        3,
    )


def test_the_packaged_national_default_set_passes_every_check() -> None:
    gset = load_set("national-default")
    assert gset.name == "national-default"
    assert gset.rules


@pytest.mark.parametrize(
    ("derive", "codes"),
    [
        ("- {count: n_risks, of: [{fact: smoker, eq: true}]}", ""),
        ("- {count: egfr, of: [{fact: smoker, eq: true}]}", "C101"),  # shadows a base fact
        ("- {count: bp_control, of: [{fact: smoker, eq: true}]}", "C101"),  # the base set derives it
        ("- {count: htn_urgent_sbp, of: [{fact: smoker, eq: true}]}", "C101"),  # a parameter's name
    ],
)
def test_a_derived_fact_has_one_producer_and_its_own_name(
    derive: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert overlay(tmp_path, f"guideline: county\nderive:\n  {derive}\n", monkeypatch) == codes


@pytest.mark.parametrize(
    ("inputs", "rows", "codes"),
    [
        (
            "{s: {fact: smoker, domain: [true, false]}}",
            "- {when: {s: true}, then: {b: x}}\n- {when: {s: false}, then: {b: y}}",
            "",
        ),
        (
            "{s: {fact: smoker, domain: [yes, no]}}",
            "- {when: {s: yes}, then: {b: x}}\n- {when: {s: no}, then: {b: y}}",
            "C131 C106 C106",
        ),
        (
            "{s: {fact: smoker, domain: [true, false]}}",
            "- {when: {s: [true, 1]}, then: {b: x}}\n- {when: {s: false}, then: {b: y}}",
            "C129",
        ),
    ],
)
def test_table_domains_and_row_values_agree_with_the_input_fact(
    inputs: str, rows: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = f"""
guideline: county
derive:
  - table: t
    hit_policy: unique
    inputs: {inputs}
    outputs: {{b: {{type: string}}}}
    rows:
{textwrap.indent(rows, "      ")}
"""
    assert overlay(tmp_path, yaml, monkeypatch) == codes


@pytest.mark.parametrize(
    ("extra", "codes"),
    [
        ("    follow_up_days: {param: control_window_days}\n", ""),  # day
        ("    follow_up_days: {param: county_limit}\n", "C105"),  # mmHg is not a number of days
        ("    referral: {urgency: urgent, to: county}\n", ""),
        ("    referral: {urgency: urgent, to: countyy}\n", "C130"),
    ],
)
def test_rule_follow_up_and_referral_take_days_and_a_care_tier(
    extra: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = rule_when("{fact: latest_sbp, gte: 150}").replace(
        "    color: yellow\n", "    color: yellow\n" + extra
    )
    assert overlay(tmp_path, yaml, monkeypatch) == codes


@pytest.mark.parametrize(
    ("domain", "rows", "codes"),
    [
        ("[0, 1, 2]", "- {when: {n: 0}, then: {b: x}}\n- {when: {n: {gte: 1}}, then: {b: y}}", ""),
        (
            "[0, 1]",
            "- {when: {n: 0}, then: {b: x}}\n- {when: {n: {gte: 1}}, then: {b: y}}",
            "C131",
        ),  # 2 of 2 is possible
    ],
)
def test_a_count_input_domain_covers_every_count_from_zero_to_all(
    domain: str, rows: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml = f"""
guideline: county
derive:
  - count: n
    of: [{{fact: smoker, eq: true}}, {{fact: latest_sbp, gte: 140}}]
  - table: t
    hit_policy: unique
    inputs: {{n: {{fact: n, domain: {domain}}}}}
    outputs: {{b: {{type: string}}}}
    rows:
{textwrap.indent(rows, "      ")}
"""
    assert overlay(tmp_path, yaml, monkeypatch) == codes


@pytest.mark.parametrize(
    ("parameters", "codes"),
    [
        ("  county_scheme: {value: relaxed, options: [strict, relaxed]}\n", ""),
        ("  county_scheme: {value: relaxd, options: [strict, relaxed]}\n", "C132"),
        ("  control_window_days: {value: 60}\n", ""),
        ("  control_window_days: {value: 0}\n", "C133"),  # a window must hold at least a day
        ("  control_window_days: {value: 1}\n", ""),
        ("  control_window_days: {value: 90.5}\n", "C133"),
        ("  egfr_equation: {value: ckd_epi_2009}\n", ""),
        ("  egfr_equation: {value: mdrd}\n", "C132 C133"),  # not an option, and not implemented
    ],
)
def test_parameters_hold_one_of_their_options_and_measure_parameters_python_can_use(
    parameters: str, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert overlay(tmp_path, "guideline: county\nparameters:\n" + parameters, monkeypatch) == codes


@pytest.mark.parametrize(
    ("n", "codes"),
    [(2, ""), (3, "C115")],  # two conditions: at_least 2 can hold, at_least 3 never
)
def test_at_least_more_than_its_conditions_is_reported_once(
    n: int, codes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = f"{{at_least: {n}, of: [{{fact: smoker, eq: true}}, {{fact: latest_sbp, gte: 140}}]}}"
    assert overlay(tmp_path, rule_when(when), monkeypatch) == codes


@pytest.mark.parametrize(
    "folder",
    sorted(
        p.parent.name
        for p in (Path(__file__).parent.parent / "guidelines" / "overlays-examples").glob("*/set.yaml")
    ),
)
def test_every_packaged_overlay_example_passes_every_check(folder: str) -> None:
    root = Path(__file__).parent.parent / "guidelines" / "overlays-examples" / folder
    gset = load_set(root)
    assert gset.manifest.extends  # an overlay, and something in it came from its own files:
    assert any(o.file.endswith(f"{folder}/{Path(o.file).name}") for o in gset.origin.values())


# ---- values checked for sense (guidelines/checks/plausible.py, guidelines/data/plausible.yaml) -----------


def _slip_overlay(tmp_path: Path, parameters: str, rules: str = "") -> list:
    folder = tmp_path / "slip"
    folder.mkdir()
    (folder / "set.yaml").write_text(
        'set: slip\nversion: "1"\npolicy_status: local-definition\nextends: national-default\n',
        encoding="utf-8",
    )
    (folder / "county.yaml").write_text(
        "guideline: county\nparameters:\n" + textwrap.indent(textwrap.dedent(parameters), "  ") + rules,
        encoding="utf-8",
    )
    try:
        load_set(folder)
    except SangaoError as exc:
        return exc.problems
    return []


def test_a_glucose_target_written_in_mg_dl_is_caught_with_the_mmol_l_value(tmp_path: Path) -> None:
    (p,) = _slip_overlay(tmp_path, "fpg_target: {value: 126}\n")
    assert (p.code, p.line) == ("C135", 3)
    assert p.text("en") == (
        "fpg_target = 126 is outside the plausible range of glucose (1–35 mmol/L); "
        "it looks like a value in mg/dL"
    )
    assert p.hint_text("en") == "in mmol/L that is 7.0: write 7.0"
    assert p.text("zh") == "fpg_target = 126 超出血糖的合理范围（1–35 mmol/L），像是以 mg/dL 为单位的数值"
    assert p.hint_text("zh") == "换算为 mmol/L 是 7.0：请写 7.0"


def test_an_age_of_200_and_an_sbp_of_400_are_outside_their_ranges(tmp_path: Path) -> None:
    problems = _slip_overlay(tmp_path, "bp_target_elderly_age: {value: 200}\nhtn_urgent_sbp: {value: 400}\n")
    assert [(p.code, p.text("en")) for p in problems] == [
        ("C134", "bp_target_elderly_age = 200 is outside the plausible range of age (0–120 year)"),
        ("C134", "htn_urgent_sbp = 400 is outside the plausible range of systolic BP (50–300 mmHg)"),
    ]


def test_the_limits_of_a_plausible_range_are_themselves_plausible(tmp_path: Path) -> None:
    limits = "htn_urgent_sbp: {value: 300}\nbp_target_elderly_age: {value: 120}\n"
    assert _slip_overlay(tmp_path, limits) == []


def test_a_threshold_literal_in_kpa_says_the_mmhg_value(tmp_path: Path) -> None:
    rules = textwrap.dedent("""\
        rules:
          - id: county.low_dbp
            color: yellow
            when: {fact: latest_dbp, lt: 8}
            explain: 舒张压低
            source: {doc: PD, clause: local, verification: PD}
        """)
    (p,) = _slip_overlay(tmp_path, "htn_urgent_sbp: {value: 180}\n", rules)
    assert (p.code, p.line, p.column) == ("C135", 7, 34)
    assert p.hint_text("en") == "in mmHg that is 60: write 60"


# ---- one catalogue, two languages ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_every_problem_of_a_broken_set_comes_from_the_catalogue_in_both_languages(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathways.codes import lookup

    monkeypatch.chdir(INVALID / case)
    with pytest.raises(SangaoError) as exc:
        load_set(".")
    for p in exc.value.problems:
        assert lookup(p.code) is not None, p.code
        assert p.fields is not None, p.render("en")
        assert p.text("en") == p.message


def test_a_broken_set_reads_in_chinese_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID / "units_and_types")
    with pytest.raises(SangaoError) as exc:
        load_set(".")
    rendered = exc.value.render()
    assert "C105 单位不一致：'latest_sbp' 的单位是 mmHg，参数 'lab_window_days' 的是 day" in rendered
    assert "  提示: 是不是 'chest_pain'？" in rendered


def test_every_g_c_and_t_code_the_guideline_code_raises_is_registered_with_both_languages() -> None:
    import re

    from pathways.codes import lookup

    root = Path(__file__).resolve().parents[1]
    files = [*root.glob("guidelines/**/*.py"), root / "engine" / "cases_runner.py",
             root / "engine" / "compile.py", root / "reports" / "guideline_explain.py"]
    used = {code for f in files for code in re.findall(r'"([GCT]\d{3})"', f.read_text(encoding="utf-8"))}
    assert len(used) > 40
    for code in sorted(used):
        entry = lookup(code)
        assert entry is not None, code
        assert entry.zh and entry.en, code
        for name, (zh, en, _, _) in entry.variants.items():
            assert zh and en, (code, name)
