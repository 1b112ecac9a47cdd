"""The python and durable runtimes give the same (definite, possible) for every condition: on the named
slice cases and on Hypothesis facts near every threshold. Under CI (`CI` set) the `ci` profile makes
Hypothesis derandomized."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slice import base_facts, slice_set

from engine.compile import compile_set
from engine.durable_runtime import MAX_RULES, rulesets_for
from engine.evaluate import Evaluator

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SLICE_CASES = {
    "blue_controlled": base_facts(latest_sbp=128, latest_dbp=78, visit_sbp=128, visit_dbp=78),
    "urgent_exactly_at_180": base_facts(visit_sbp=180, visit_dbp=96),
    "not_urgent_at_179_109": base_facts(visit_sbp=179, visit_dbp=109),
    "urgent_dbp_only_sbp_missing": base_facts(visit_sbp=None, visit_dbp=110),
    "no_visit_in_window": base_facts(
        visit_sbp=None, visit_dbp=None, visit_symptoms=None, latest_sbp=None, latest_dbp=None
    ),
    "chest_pain": base_facts(visit_symptoms=frozenset({"chest_pain", "cough"})),
    "pregnant_at_140": base_facts(pregnant=True, visit_sbp=140),
    "breastfeeding_unknown_pregnancy": base_facts(pregnant=None, breastfeeding=True, visit_dbp=90),
    "elderly_target_despite_missing_uacr": base_facts(age_years=65, latest_uacr=None, in_diabetes=None),
    "target_unknown": base_facts(latest_uacr=None),
    "count_range_inside_one_row": base_facts(smoker=None),
    "count_range_across_rows": base_facts(smoker=None, latest_hdl_c=0.9),
    "not_enrolled": base_facts(in_hypertension=False, in_diabetes=False),
    "diabetes_uacr_30": base_facts(in_diabetes=True, latest_uacr=30),
    "everything_missing": {},
}


@pytest.fixture(scope="module")
def both():
    return Evaluator(slice_set(), "both")


@pytest.mark.parametrize("name", sorted(SLICE_CASES))
def test_both_runtimes_agree_on_the_slice_case(both, name):
    ev = both.evaluate(SLICE_CASES[name], patient_id=name)
    assert ev.backend == "both"


def _thresholds() -> dict[str, set]:
    out: dict[str, set] = {}

    def walk(t):
        if t[0] in ("all", "any"):
            for x in t[1:]:
                walk(x)
        elif t[0] == "not":
            walk(t[1])
        elif t[0] == "at_least":
            for x in t[2]:
                walk(x)
        elif t[0] == "cmp" and isinstance(t[3], int | float) and not isinstance(t[3], bool):
            out.setdefault(t[1], set()).add(t[3])

    for layer in compile_set(slice_set()).layers:
        for c in layer.conditions:
            walk(c.tree)
    return out


THRESHOLDS = _thresholds()
STEPS = (-1, -0.1, 0, 0.1, 1)


def near(fact: str):
    values = sorted({t + s for t in THRESHOLDS.get(fact, {100}) for s in STEPS})
    return st.one_of(
        st.none(), st.sampled_from(values), st.floats(0, 250, allow_nan=False).map(lambda v: round(v, 1))
    )


FLAG = st.one_of(st.none(), st.booleans())
facts_strategy = st.fixed_dictionaries(
    {
        "age_years": st.one_of(st.none(), st.sampled_from([40, 44, 45, 54, 55, 64, 65, 66])),
        "sex": st.sampled_from([None, "M", "F"]),
        "in_hypertension": FLAG,
        "in_diabetes": FLAG,
        "in_dyslipidemia": FLAG,
        "smoker": FLAG,
        "pregnant": FLAG,
        "breastfeeding": FLAG,
        "history_chd": FLAG,
        "history_heart_failure": FLAG,
        "visit_sbp": near("visit_sbp"),
        "visit_dbp": near("visit_dbp"),
        "visit_symptoms": st.one_of(
            st.none(),
            st.frozensets(
                st.sampled_from(
                    ["chest_pain", "dizziness", "severe_headache", "altered_consciousness", "cough"]
                ),
                max_size=3,
            ),
        ),
        "latest_sbp": st.one_of(st.none(), st.sampled_from([129, 130, 139, 140, 149, 150, 151])),
        "latest_dbp": st.one_of(st.none(), st.sampled_from([79, 80, 89, 90, 91])),
        "latest_hdl_c": near("latest_hdl_c"),
        "latest_uacr": near("latest_uacr"),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy)
def test_both_runtimes_agree_on_generated_facts_near_thresholds(both, facts):
    both.evaluate(facts)


PYTHON = Evaluator(slice_set())


@settings(max_examples=200, deadline=None)
@given(facts=facts_strategy, rise=st.sampled_from([0.1, 1, 10, 40]))
def test_a_higher_visit_sbp_never_stops_a_rule_from_firing(facts, rise):
    if facts["visit_sbp"] is None:
        facts["visit_sbp"] = 150
    before = set(PYTHON.evaluate(facts).fired)
    after = set(PYTHON.evaluate({**facts, "visit_sbp": facts["visit_sbp"] + rise}).fired)
    assert before <= after


def test_both_runtimes_agree_on_national_default_over_a_synthetic_roster():
    from datetime import date

    from guidelines.loader import load_default
    from pathways.facts import compute_facts
    from pathways.synthetic import generate_roster

    try:
        gset = load_default()
    except Exception as exc:  # noqa: BLE001 - the content has its own tests; this one is about the engine
        pytest.skip(f"national-default does not load right now: {exc}")
    evaluator = Evaluator(gset, "both")
    assert all(len(d) <= MAX_RULES for _, _, d in rulesets_for(evaluator.program))
    params = {k: v.value for k, v in gset.parameters.items()}
    as_of = date(2026, 11, 30)
    fired = set()
    for patient in generate_roster(150, 7, as_of):
        fired.update(evaluator.evaluate(compute_facts(patient, as_of, params), patient.patient_id).fired)
    assert len(fired) >= 5
