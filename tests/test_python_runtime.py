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
