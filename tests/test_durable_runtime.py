"""engine/durable_runtime.py: the durable_rules traps of docs/architecture.md §3, guarded and tested."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from slice import base_facts, build_set, slice_set
from test_compile import _facts, _tree, kleene, one_rule_set, rule_cond

from engine import durable_runtime
from engine.compile import compile_set
from engine.durable_runtime import MAX_RULES, SEEN, DurableRuntime, durable_fact, rulesets_for
from engine.python_runtime import FormInterpreter
from pathways.errors import SangaoError

SRC = {"doc": "PD", "clause": "test", "verification": "PD"}


@pytest.fixture(scope="module")
def program():
    return compile_set(slice_set())


@pytest.fixture(scope="module")
def runtime(program):
    return DurableRuntime(program)


def rules_pair(program, runtime, rule_id, facts):
    layer = program.rules_layer
    i = next(i for i, c in enumerate(layer.conditions) if c.id == f"rule:{rule_id}")
    return runtime.run(layer.index, facts)[i]


def test_an_or_rule_true_on_both_branches_is_reported_once_as_definite(program, runtime):
    assert rules_pair(program, runtime, "htn.urgent_bp", base_facts(visit_sbp=190, visit_dbp=120)) == (
        True,
        True,
    )


def test_a_none_value_is_left_out_so_durable_treats_it_as_missing(program, runtime):
    facts = base_facts(visit_sbp=None, visit_dbp=None)
    assert "visit_sbp" not in durable_fact(facts, program.set_codes)
    assert rules_pair(program, runtime, "htn.urgent_bp", facts) == (False, True)


def test_string_values_compare_by_equality(program, runtime):
    layer0 = program.layers[0]
    i = next(i for i, c in enumerate(layer0.conditions) if c.id == "count:risk_factor_count:2")
    assert runtime.run(0, base_facts(sex="F", age_years=55))[i] == (True, True)
    assert runtime.run(0, base_facts(sex="M", age_years=44))[i] == (False, False)
    assert runtime.run(0, base_facts(sex=None, age_years=50))[i] == (False, True)


def test_set_facts_are_flattened_to_one_boolean_per_tested_code(program):
    fact = durable_fact(base_facts(visit_symptoms=frozenset({"chest_pain", "cough"})), program.set_codes)
    assert fact["visit_symptoms__chest_pain"] is True
    assert "visit_symptoms__cough" not in fact and fact["visit_symptoms"] is True


def test_a_fact_that_matches_no_rule_is_caught_by_the_seen_rule(program, runtime):
    out = runtime.run(program.rules_layer.index, {"in_hypertension": False})
    assert len(out) == len(program.rules_layer.conditions)
    assert all(SEEN in definition for _, _, definition in rulesets_for(program))


def test_a_rule_of_only_missing_facts_is_anded_with_the_patient_type_and_ends(runtime, program):
    layer = program.layers[1]
    i = next(i for i, c in enumerate(layer.conditions) if c.id == "derive:bp_control_class:1")
    assert runtime.run(1, {})[i] == (True, True)
    for _, _, definition in rulesets_for(program):
        for name, rule in definition.items():
            match = rule["all"][0]["m"]
            assert match == {"t": "patient"} or match["$and"][0] == {"t": "patient"}, name


def test_sessions_are_deleted_so_more_than_1024_patients_run(program, runtime):
    for n in range(1100):
        runtime.run(program.rules_layer.index, base_facts(visit_sbp=120 + n % 80))
    assert rules_pair(program, runtime, "htn.urgent_bp", base_facts(visit_sbp=199)) == (True, True)


def test_an_exception_inside_durable_surfaces_as_r001(program, monkeypatch):
    def raising_action(self, name):
        def act(_c):
            raise ValueError("boom")

        return act

    monkeypatch.setattr(durable_runtime._RecordingHost, "get_action", raising_action)
    broken = DurableRuntime(program)
    with pytest.raises(SangaoError) as exc:
        broken.run(0, base_facts())
    assert exc.value.problems[0].code == "R001"
    assert "boom" in exc.value.problems[0].message


def test_two_runtimes_of_one_program_coexist_and_the_definitions_keep_their_run_names(program):
    chunks = rulesets_for(program)
    before = json.dumps(chunks, sort_keys=True)
    a, b = DurableRuntime(program), DurableRuntime(program)
    assert a.run(0, base_facts()) == b.run(0, base_facts())
    assert json.dumps(rulesets_for(program), sort_keys=True) == before


def test_the_durable_json_is_byte_identical_between_compilations():
    one = json.dumps(rulesets_for(compile_set(slice_set())), sort_keys=True)
    two = json.dumps(rulesets_for(compile_set(slice_set())), sort_keys=True)
    assert one == two


def test_a_second_rule_is_emitted_only_for_a_condition_that_can_be_unknown(program):
    names = {n for _, _, d in rulesets_for(program) for n in d}
    assert "rule:htn.urgent_bp#unk" in names
    assert "derive:bp_control_class:1#def" in names
    assert not {f"derive:bp_control_class:1#{how}" for how in ("unk", "pos", "ref")} & names


def test_a_large_programme_file_is_split_into_rulesets_of_at_most_100_rules():
    rules = [
        {
            "id": f"t.sbp_{k}",
            "color": "yellow",
            "when": {"fact": "visit_sbp", "gte": 100 + k},
            "explain": "x",
            "source": SRC,
        }
        for k in range(120)
    ]
    program = compile_set(build_set({"t.yaml": {"guideline": "t", "rules": rules}}))
    chunks = rulesets_for(program)
    rule_layer = [d for index, _, d in chunks if index == program.rules_layer.index]
    assert len(rule_layer) >= 3
    assert all(len(d) <= MAX_RULES for _, _, d in chunks)
    got = DurableRuntime(program).run(program.rules_layer.index, {"visit_sbp": 150})
    assert got == FormInterpreter(program).run(program.rules_layer.index, {"visit_sbp": 150})
    assert sum(d for d, _ in got) == 51


def test_a_fact_comparison_with_the_right_side_missing_is_not_definite_in_durable():
    program = compile_set(
        build_set(
            {
                "t.yaml": {
                    "guideline": "t",
                    "rules": [
                        {
                            "id": "t.below_target",
                            "color": "yellow",
                            "when": {"fact": "latest_sbp", "lt": {"fact": "visit_sbp"}},
                            "explain": "x",
                            "source": SRC,
                        }
                    ],
                }
            }
        )
    )
    layer = program.rules_layer.index
    assert DurableRuntime(program).run(layer, {"latest_sbp": 120})[0] == (False, True)
    assert DurableRuntime(program).run(layer, {"latest_sbp": 120, "visit_sbp": 130})[0] == (True, True)


def test_a_condition_too_large_for_one_durable_rule_is_split_and_still_agrees():
    branches = [
        {
            "all": [
                {"fact": "visit_sbp", "gte": 100 + k},
                {"fact": "visit_dbp", "lt": 60 + k},
                {"any": [{"fact": "smoker", "eq": True}, {"fact": "age_years", "gte": 40 + k}]},
            ]
        }
        for k in range(12)
    ]
    program = compile_set(
        build_set(
            {
                "t.yaml": {
                    "guideline": "t",
                    "rules": [
                        {
                            "id": "t.big",
                            "color": "yellow",
                            "when": {"any": branches},
                            "explain": "x",
                            "source": SRC,
                        }
                    ],
                }
            }
        )
    )
    names = {name for _, _, d in rulesets_for(program) for name in d}
    assert "rule:t.big#def~0" in names and "rule:t.big#pos~0" in names  # unknown-only would not fit
    durable, python = DurableRuntime(program), FormInterpreter(program)
    layer = program.rules_layer.index
    for facts in (
        {"visit_sbp": 105, "visit_dbp": 64, "smoker": True},
        {"visit_sbp": 105, "visit_dbp": 70},
        {"visit_sbp": 99},
        {"visit_dbp": 62, "age_years": 45},
        {},
    ):
        assert durable.run(layer, facts) == python.run(layer, facts)


def test_a_large_conjunction_reads_possible_from_its_refuting_rule_and_still_agrees():
    leaves = [{"fact": "visit_sbp", "gte": 100 + k} for k in range(8)] + [
        {"fact": "visit_dbp", "lt": 90 + k} for k in range(8)
    ]
    program = compile_set(
        build_set(
            {
                "t.yaml": {
                    "guideline": "t",
                    "rules": [
                        {
                            "id": "t.wide",
                            "color": "yellow",
                            "when": {"all": leaves},
                            "explain": "x",
                            "source": SRC,
                        }
                    ],
                }
            }
        )
    )
    names = {n for _, _, d in rulesets_for(program) for n in d}
    assert "rule:t.wide#ref" in names
    assert not any(n.startswith(("rule:t.wide#pos", "rule:t.wide#unk")) for n in names)
    durable, python = DurableRuntime(program), FormInterpreter(program)
    layer = program.rules_layer.index
    for facts in (
        {"visit_sbp": 110, "visit_dbp": 80},
        {"visit_sbp": 103},
        {"visit_dbp": 95},
        {"visit_sbp": 99},
        {},
    ):
        assert durable.run(layer, facts) == python.run(layer, facts)


def test_building_and_running_a_runtime_starts_no_timer_threads(program):
    import threading

    before = threading.active_count()
    fresh = DurableRuntime(program)
    fresh.run(0, base_facts())
    assert threading.active_count() == before


def test_rulesets_per_layer_instead_of_per_file_give_the_same_answers(program):
    per_layer = DurableRuntime(program, by_file=False)
    assert len(rulesets_for(program, by_file=False)) == len(program.layers)
    for facts in (base_facts(), base_facts(visit_sbp=None, smoker=None), base_facts(visit_sbp=185)):
        f = dict(facts)
        for layer in program.layers:
            assert per_layer.run(layer.index, f) == FormInterpreter(program).run(layer.index, f)


@settings(max_examples=150, deadline=None)
@given(when=_tree, facts=_facts)
def test_durable_gives_the_kleene_value_of_generated_conditions(when, facts):
    program = compile_set(one_rule_set(when))
    cond = rule_cond(program)
    layer = program.rules_layer
    expected = kleene(when, facts)
    got = DurableRuntime(program).run(layer.index, facts)[layer.conditions.index(cond)]
    assert got == (expected is True, expected is not False)


def test_each_ruleset_is_sent_only_the_fields_its_rules_test(program, runtime):
    keys = {k for chunks in runtime._by_layer.values() for _, ks in chunks for k, _, _ in ks}
    assert "visit_symptoms__chest_pain" in keys and "history_mi" not in keys
    many = base_facts(**{f"unrelated_{i}": i for i in range(300)})  # durable alone fails past ~252
    assert runtime.run(program.rules_layer.index, many) == FormInterpreter(program).run(
        program.rules_layer.index, many
    )
