"""engine/python_runtime.py: the form interpreter gives the two-valued forms' values, and the Python
source of forms (what the generated program function of engine/evaluate.py is written in) agrees."""

from __future__ import annotations

import pytest
from slice import base_facts, slice_set

from engine.compile import compile_set
from engine.python_runtime import FormInterpreter, FormSource, eval_form


@pytest.fixture(scope="module")
def program():
    return compile_set(slice_set())


def pair(program, runtime, cond_id, facts):
    layer = next(layer for layer in program.layers if any(c.id == cond_id for c in layer.conditions))
    i = next(i for i, c in enumerate(layer.conditions) if c.id == cond_id)
    return runtime.run(layer.index, facts)[i]


def test_a_layer_returns_one_definite_possible_pair_per_condition(program):
    runtime = FormInterpreter(program)
    for layer in program.layers:
        out = runtime.run(layer.index, base_facts())
        assert len(out) == len(layer.conditions)
        assert all(isinstance(d, bool) and isinstance(p, bool) for d, p in out)


def test_a_true_comparison_is_definite_and_possible(program):
    assert pair(program, FormInterpreter(program), "rule:htn.urgent_bp", base_facts(visit_sbp=180)) == (
        True,
        True,
    )


def test_a_false_comparison_is_neither(program):
    assert pair(program, FormInterpreter(program), "rule:htn.urgent_bp", base_facts(visit_sbp=179)) == (
        False,
        False,
    )


def test_a_comparison_on_a_missing_fact_is_possible_but_not_definite(program):
    facts = base_facts(visit_sbp=None, visit_dbp=None)
    assert pair(program, FormInterpreter(program), "rule:htn.urgent_bp", facts) == (False, True)


def test_a_has_any_on_a_missing_set_is_possible_and_on_an_empty_set_is_false(program):
    runtime = FormInterpreter(program)
    assert pair(program, runtime, "rule:htn.urgent_symptom", base_facts(visit_symptoms=None)) == (False, True)
    assert pair(program, runtime, "rule:htn.urgent_symptom", base_facts(visit_symptoms=frozenset())) == (
        False,
        False,
    )


def generated(form, facts) -> bool:
    """One form as the program function writes it (FormSource), run on `facts`."""
    src = FormSource()
    body = f"    return {src.expr(form)}"
    namespace: dict = {}
    exec(f"def run(g):\n{src.fetches()}\n{body}\n", namespace)  # noqa: S102
    return namespace["run"](facts.get)


def test_the_generated_source_agrees_with_the_form_interpreter_on_every_condition(program):
    for facts in (
        base_facts(),
        base_facts(visit_sbp=None, smoker=None, latest_uacr=30, age_years=None),
        base_facts(visit_symptoms=frozenset({"dizziness"}), pregnant=True, latest_sbp=None),
        {"risk_factor_count__min": 1, "risk_factor_count__max": 3, "bp_control": "no_data"},
    ):
        for layer in program.layers:
            for c in layer.conditions:
                assert generated(c.definite, facts) == eval_form(c.definite, facts)
                assert generated(c.possible, facts) == eval_form(c.possible, facts)


def test_each_fact_is_fetched_once_per_expression_source():
    src = FormSource()
    src.expr(["or", ["cmp", "visit_sbp", "gte", 180], ["cmp", "visit_dbp", "gte", 110]])
    src.expr(["and", ["cmp", "visit_sbp", "gte", 140], ["present", "visit_dbp"]])
    assert src.fetches().count("g('visit_sbp')") == 1


def test_a_run_of_code_tests_on_one_fact_shares_one_none_check():
    src = FormSource()
    form = ["or", ["has", "s", "a"], ["has", "s", "b"], ["cmp", "x", "gte", 1]]
    assert (
        src.expr(form)
        == "((v0 is not None and (('a' in v0) or ('b' in v0))) or (v1 is not None and v1 >= 1))"
    )
    lacks = ["and", ["lacks", "s", "a"], ["lacks", "s", "b"]]
    assert FormSource().expr(lacks) == "((v0 is None or (('a' not in v0) and ('b' not in v0))))"


def test_a_comparison_conjunct_proves_its_fact_present_for_the_later_ones():
    form = ["and", ["cmp", "x", "gte", 1], ["cmp", "x", "lt", 5]]
    assert FormSource().expr(form) == "((v0 is not None and v0 >= 1) and (v0 < 5))"
