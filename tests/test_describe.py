"""engine/describe.py: the explain sentence with its values, then the threshold half from `when`,
stated as numbers with their units (the patient's own target for a comparison with a fact)."""

from __future__ import annotations

import re

import pytest
from slice import base_facts, slice_set

from engine.compile import compile_set
from engine.describe import (
    Glossary,
    condition_text,
    format_value,
    glossary,
    reason_filler,
    reason_text,
    threshold_text,
)
from engine.evaluate import Evaluator
from engine.ir import RuleIR
from guidelines.loader import load_default
from guidelines.schema import Compare

UNITS = Glossary(units={"latest_sbp": "mmHg", "latest_dbp": "mmHg", "egfr": "mL/min/1.73m2"})


def rule_ir(when, explain: str, explain_en: str | None = None) -> RuleIR:
    return RuleIR("r", 0, when, (), explain, explain_en, ())


@pytest.fixture(scope="module")
def rules():
    return {r.id: r for r in compile_set(slice_set()).rules}


def test_the_urgent_bp_reason_shows_the_values_then_the_thresholds_in_chinese(rules):
    text = reason_text(rules["htn.urgent_bp"], {"visit_sbp": 182.0, "visit_dbp": 96})
    assert text == "最近一次随访血压 182/96 mmHg（≥180/110 mmHg）"


def test_the_english_reason_uses_explain_en(rules):
    text = reason_text(rules["htn.urgent_bp"], {"visit_sbp": 182, "visit_dbp": 96}, lang="en")
    assert text == "latest visit BP 182/96 mmHg (≥180/110 mmHg)"


def test_the_english_reason_falls_back_to_the_chinese_sentence_without_explain_en(rules):
    assert reason_text(rules["htn.no_data"], {}, lang="en") == "控制窗口内无血压记录"


def test_a_schema_rule_reads_its_thresholds_from_the_set_parameters():
    gset = slice_set()
    rule = next(r for r in gset.rules if r.id == "htn.urgent_bp")
    text = reason_text(rule, {"visit_sbp": 182, "visit_dbp": 96}, params=gset.parameters)
    assert text.endswith("（≥180/110 mmHg）")


def test_an_undecided_count_shows_its_range_in_the_sentence(rules):
    ev = Evaluator(slice_set()).evaluate(base_facts(smoker=None, latest_hdl_c=0.9, age_years=55))
    assert (
        reason_text(rules["lipid.many_risk_factors"], ev.facts) == "危险因素 2–3 个（≥2）"
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
    assert reason_text(rule, {"visit_sbp": 182, "visit_dbp": 96}).endswith("（≥180/110 mmHg）")


def test_a_schema_rule_never_compiled_keeps_the_parameter_name_rather_than_failing():
    rule = next(r for r in slice_set().rules if r.id == "htn.urgent_bp")
    text = reason_text(rule, {"visit_sbp": 182, "visit_dbp": 96})
    assert text.endswith("（≥htn_urgent_sbp/htn_urgent_dbp mmHg）")


def test_a_comparison_with_the_patients_target_states_the_target_from_their_facts():
    sbp, dbp = ["cmpf", "latest_sbp", "gte", "bp_target_sbp"], ["cmpf", "latest_dbp", "gte", "bp_target_dbp"]
    above = ["any", sbp, dbp]
    when = ["all", ["cmp", "in_hypertension", "eq", True], above]
    rule = rule_ir(when, "最近一次随访血压 {latest_sbp}/{latest_dbp} mmHg 未达标",
                   "Latest BP {latest_sbp}/{latest_dbp} mmHg")
    fill, fill_en = reason_filler(rule, terms=UNITS), reason_filler(rule, lang="en", terms=UNITS)
    elderly = {"latest_sbp": 186.0, "latest_dbp": 104.0, "bp_target_sbp": 150.0, "bp_target_dbp": 90.0}
    comorbid = {"latest_sbp": 136.0, "latest_dbp": 78.0, "bp_target_sbp": 130.0, "bp_target_dbp": 80.0}
    assert fill(elderly) == "最近一次随访血压 186/104 mmHg 未达标（目标 <150/90 mmHg）"
    assert fill(comorbid) == "最近一次随访血压 136/78 mmHg 未达标（目标 <130/80 mmHg）"
    assert fill_en(elderly) == "Latest BP 186/104 mmHg (target <150/90 mmHg)"


def test_a_range_writes_its_unit_once_and_a_repeated_threshold_once():
    band = rule_ir(["all", ["cmp", "egfr", "gte", 30], ["cmp", "egfr", "lt", 60]], "eGFR {egfr}")
    assert reason_text(band, {"egfr": 41.5}, terms=UNITS) == "eGFR 41.5（≥30 且 <60 mL/min/1.73m²）"
    twice = rule_ir(["all", ["cmp", "fpg1", "gte", 7.0], ["cmp", "fpg2", "gte", 7.0]], "空腹血糖")
    terms = Glossary(units={"fpg1": "mmol/L", "fpg2": "mmol/L"})
    assert reason_text(twice, {}, terms=terms) == "空腹血糖（≥7 mmol/L）"


def test_a_disjunction_of_history_flags_names_the_codes_the_patient_has_by_their_labels():
    when = ["any", ["cmp", "history_chd", "eq", True], ["cmp", "history_pad", "eq", True]]
    rule = rule_ir(when, "已有并发症", "Established complication")
    labels = {"history_chd": {"zh": "冠心病", "en": "coronary heart disease"},
              "history_pad": {"zh": "外周动脉疾病", "en": "peripheral artery disease"}}
    terms = Glossary(labels=labels)
    pad_only = {"history_pad": True, "history_chd": False}
    assert reason_text(rule, pad_only, terms=terms) == "已有并发症（外周动脉疾病）"
    assert reason_text(rule, {"history_pad": True, "history_chd": True}, lang="en", terms=terms) == (
        "Established complication (coronary heart disease, peripheral artery disease)"
    )
    assert reason_text(rule, {"history_pad": True}) == "已有并发症"  # no labels: the sentence says it


def test_a_symptom_rule_names_the_symptoms_found_and_a_flag_or_state_says_nothing(rules):
    labels = {"dizziness": {"zh": "头晕", "en": "dizziness"},
              "chest_pain": {"zh": "胸痛", "en": "chest pain"}}
    text = reason_text(rules["htn.urgent_symptom"], {"visit_symptoms": frozenset({"chest_pain", "cough"})},
                       terms=Glossary(labels=labels))
    assert text.endswith("（胸痛）")
    assert reason_text(rules["htn.no_data"], {}) == "控制窗口内无血压记录"


def test_no_national_default_reason_spells_out_a_fact_or_parameter_name():
    gset = load_default()
    evaluator, terms = Evaluator(gset), glossary(gset)
    names = set(gset.parameters) | {name for r in evaluator.program.rules for name in r.reads}
    facts = {"bp_target_sbp": 140.0, "bp_target_dbp": 90.0, "history_pad": True,
             "visit_symptoms": frozenset({"vomiting"})}
    for rule in evaluator.program.rules:
        for lang in ("zh", "en"):
            threshold = threshold_text(rule, facts, lang, terms=terms)
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", threshold))
            assert not words & names, (rule.id, threshold)
    complication = next(r for r in evaluator.program.rules if r.id == "care.established_complication")
    assert reason_filler(complication, terms=terms)(facts).endswith("（外周动脉疾病）")


def test_a_float_is_written_the_same_the_first_time_and_when_read_back_from_what_was_kept():
    for value in (186.0, 4.28, -0.0, 0.0, 1e16, 1e-7, 2.5, float("inf"), float("nan")):
        first, again = format_value(value), format_value(value)
        expected = str(int(value)) if value.is_integer() else f"{value:g}"
        assert first == again == expected
    assert format_value(-0.0) == format_value(0.0) == "0"
    assert (format_value(1), format_value(True), format_value(1.0)) == ("1", "true", "1")
