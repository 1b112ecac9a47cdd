"""engine/describe.py: the explain sentence with its values, then the threshold half from `when`."""

from __future__ import annotations

import pytest
from slice import base_facts, slice_set

from engine.compile import compile_set
from engine.describe import condition_text, format_value, reason_text
from engine.evaluate import Evaluator
from guidelines.schema import Compare


@pytest.fixture(scope="module")
def rules():
    return {r.id: r for r in compile_set(slice_set()).rules}


def test_the_urgent_bp_reason_shows_the_values_then_the_thresholds_in_chinese(rules):
    text = reason_text(rules["htn.urgent_bp"], {"visit_sbp": 182.0, "visit_dbp": 96})
    assert text == "最近一次随访血压 182/96 mmHg（in_hypertension 且 (visit_sbp ≥ 180 或 visit_dbp ≥ 110)）"


def test_the_english_reason_uses_explain_en(rules):
    text = reason_text(rules["htn.urgent_bp"], {"visit_sbp": 182, "visit_dbp": 96}, lang="en")
    assert text == ("latest visit BP 182/96 mmHg (in_hypertension and (visit_sbp ≥ 180 or visit_dbp ≥ 110))")


def test_the_english_reason_falls_back_to_the_chinese_sentence_without_explain_en(rules):
    assert reason_text(rules["htn.no_data"], {}, lang="en").startswith("控制窗口内无血压记录 (")


def test_a_schema_rule_reads_its_thresholds_from_the_set_parameters():
    gset = slice_set()
    rule = next(r for r in gset.rules if r.id == "htn.urgent_bp")
    assert reason_text(rule, {"visit_sbp": 182, "visit_dbp": 96}, params=gset.parameters).endswith(
        "visit_sbp ≥ 180 或 visit_dbp ≥ 110)）"
    )


def test_an_undecided_count_shows_its_range_in_the_sentence(rules):
    ev = Evaluator(slice_set()).evaluate(base_facts(smoker=None, latest_hdl_c=0.9, age_years=55))
    assert (
        reason_text(rules["lipid.many_risk_factors"], ev.facts) == "危险因素 2–3 个（risk_factor_count ≥ 2）"
    )


def test_numbers_lose_a_trailing_zero_but_keep_real_decimals():
    assert [format_value(v) for v in (180.0, 7.25, 3, None)] == ["180", "7.25", "3", "缺失"]


def test_condition_text_renders_sets_known_and_fact_comparisons():
    assert (
        condition_text(["has_any", "visit_symptoms", ["chest_pain", "dizziness"]])
        == "visit_symptoms 含 chest_pain、dizziness"
    )
    assert condition_text(["known", "smoker", False], lang="en") == "smoker unknown"
    assert condition_text(["cmpf", "latest_sbp", "lt", "bp_target_sbp"]) == "latest_sbp < bp_target_sbp"
    assert (
        condition_text(Compare(fact="visit_sbp", gte={"param": "x"}), params={"x": 160}) == "visit_sbp ≥ 160"
    )


def test_a_schema_rule_of_a_compiled_set_shows_its_parameter_values_without_being_given_them():
    gset = slice_set()
    Evaluator(gset)
    rule = next(r for r in gset.rules if r.id == "htn.urgent_bp")
    assert reason_text(rule, {"visit_sbp": 182, "visit_dbp": 96}).endswith(
        "visit_sbp ≥ 180 或 visit_dbp ≥ 110)）"
    )


def test_a_schema_rule_never_compiled_keeps_the_parameter_name_rather_than_failing():
    rule = next(r for r in slice_set().rules if r.id == "htn.urgent_bp")
    assert "visit_sbp ≥ {htn_urgent_sbp}" in reason_text(rule, {"visit_sbp": 182, "visit_dbp": 96})
