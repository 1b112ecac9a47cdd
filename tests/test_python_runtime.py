"""engine/python_runtime.py: generated layer functions give the two-valued forms' values."""

from __future__ import annotations

import pytest
from slice import base_facts, slice_set

from engine.compile import compile_set
from engine.python_runtime import PythonRuntime, eval_form, layer_source


@pytest.fixture(scope="module")
def program():
    return compile_set(slice_set())


def pair(program, runtime, cond_id, facts):
    layer = next(layer for layer in program.layers if any(c.id == cond_id for c in layer.conditions))
    i = next(i for i, c in enumerate(layer.conditions) if c.id == cond_id)
    return runtime.run(layer.index, facts)[i]


def test_a_layer_returns_one_definite_possible_pair_per_condition(program):
    runtime = PythonRuntime(program)
    for layer in program.layers:
        out = runtime.run(layer.index, base_facts())
        assert len(out) == len(layer.conditions)
        assert all(isinstance(d, bool) and isinstance(p, bool) for d, p in out)


def test_a_true_comparison_is_definite_and_possible(program):
    assert pair(program, PythonRuntime(program), "rule:htn.urgent_bp", base_facts(visit_sbp=180)) == (
        True,
        True,
    )


def test_a_false_comparison_is_neither(program):
    assert pair(program, PythonRuntime(program), "rule:htn.urgent_bp", base_facts(visit_sbp=179)) == (
        False,
        False,
    )


def test_a_comparison_on_a_missing_fact_is_possible_but_not_definite(program):
    facts = base_facts(visit_sbp=None, visit_dbp=None)
    assert pair(program, PythonRuntime(program), "rule:htn.urgent_bp", facts) == (False, True)


def test_a_has_any_on_a_missing_set_is_possible_and_on_an_empty_set_is_false(program):
    runtime = PythonRuntime(program)
    assert pair(program, runtime, "rule:htn.urgent_symptom", base_facts(visit_symptoms=None)) == (False, True)
    assert pair(program, runtime, "rule:htn.urgent_symptom", base_facts(visit_symptoms=frozenset())) == (
        False,
        False,
    )


def test_the_generated_code_agrees_with_the_form_interpreter_on_every_condition(program):
    runtime = PythonRuntime(program)
    for facts in (
        base_facts(),
        base_facts(visit_sbp=None, smoker=None, latest_uacr=30, age_years=None),
        base_facts(visit_symptoms=frozenset({"dizziness"}), pregnant=True, latest_sbp=None),
        {"risk_factor_count__min": 1, "risk_factor_count__max": 3, "bp_control": "no_data"},
    ):
        for layer in program.layers:
            got = runtime.run(layer.index, facts)
            want = tuple(
                (eval_form(c.definite, facts), eval_form(c.possible, facts)) for c in layer.conditions
            )
            assert got == want


def test_each_fact_is_read_once_per_layer_function(program):
    source = layer_source(program.rules_layer)
    assert source.count("g('visit_sbp')") == 1
    compile(source, "<test>", "exec")


def test_a_run_of_code_tests_on_one_fact_shares_one_none_check():
    from engine.python_runtime import FormSource

    src = FormSource()
    form = ["or", ["has", "s", "a"], ["has", "s", "b"], ["cmp", "x", "gte", 1]]
    assert (
        src.expr(form)
        == "((v0 is not None and (('a' in v0) or ('b' in v0))) or (v1 is not None and v1 >= 1))"
    )
    lacks = ["and", ["lacks", "s", "a"], ["lacks", "s", "b"]]
    assert FormSource().expr(lacks) == "((v0 is None or (('a' not in v0) and ('b' not in v0))))"


def test_a_comparison_conjunct_proves_its_fact_present_for_the_later_ones():
    from engine.python_runtime import FormSource

    form = ["and", ["cmp", "x", "gte", 1], ["cmp", "x", "lt", 5]]
    assert FormSource().expr(form) == "((v0 is not None and v0 >= 1) and (v0 < 5))"


@pytest.mark.parametrize("set_name", ["slice", "national-default"])
def test_every_generated_layer_function_agrees_with_the_form_interpreter(set_name):
    from datetime import date

    from engine.evaluate import Evaluator
    from guidelines.loader import load_default
    from pathways.facts import compute_facts
    from pathways.synthetic import generate_roster

    gset = slice_set() if set_name == "slice" else load_default()
    as_of = date(2026, 11, 30)
    params = {n: p.value for n, p in gset.parameters.items()}
    evaluator = Evaluator(gset)
    program, runtime = evaluator.program, PythonRuntime(evaluator.program)
    base = [compute_facts(p, as_of, params, None) for p in generate_roster(300, 11, as_of)]
    thinned = [
        {k: (None if (i + j) % 3 == 0 else v) for j, (k, v) in enumerate(f.items())}
        for i, f in enumerate(base)
    ]
    for facts in [*base, *thinned, {}]:
        full = evaluator.evaluate(facts).facts  # base and derived facts, as the later layers read them
        for layer in program.layers:
            want = tuple((eval_form(c.definite, full), eval_form(c.possible, full)) for c in layer.conditions)
            assert runtime.run(layer.index, full) == want
