"""engine/evaluate.py on the slice: three-valued rules, classifications, tables, counts, screenings,
facts read, near misses and the `both` backend."""

from __future__ import annotations

import dataclasses

import pytest
from slice import base_facts, build_set, read_slice_dicts, slice_set

from engine.evaluate import Evaluator, NearMiss
from pathways.errors import SangaoError

SRC = {"doc": "PD", "clause": "test", "verification": "PD"}


@pytest.fixture(scope="module")
def slice_evaluator():
    return Evaluator(slice_set())


def fired(evaluator, **facts):
    return evaluator.evaluate(base_facts(**facts)).fired


# ---- rules: both sides of every threshold, and missing data ----------------------------------


def test_visit_sbp_exactly_180_fires_urgent_bp(slice_evaluator):
    assert "htn.urgent_bp" in fired(slice_evaluator, visit_sbp=180)


def test_visit_sbp_179_does_not_fire_urgent_bp(slice_evaluator):
    assert "htn.urgent_bp" not in fired(slice_evaluator, visit_sbp=179)


def test_visit_dbp_exactly_110_fires_urgent_bp_and_109_does_not(slice_evaluator):
    assert "htn.urgent_bp" in fired(slice_evaluator, visit_dbp=110)
    assert "htn.urgent_bp" not in fired(slice_evaluator, visit_dbp=109)


def test_urgent_bp_does_not_fire_for_a_patient_not_in_the_hypertension_programme(slice_evaluator):
    assert "htn.urgent_bp" not in fired(slice_evaluator, visit_sbp=200, in_hypertension=False)


def test_a_missing_visit_bp_never_fires_urgent_bp(slice_evaluator):
    assert "htn.urgent_bp" not in fired(slice_evaluator, visit_sbp=None, visit_dbp=None)


def test_a_missing_sbp_with_dbp_at_110_still_fires_urgent_bp(slice_evaluator):
    assert "htn.urgent_bp" in fired(slice_evaluator, visit_sbp=None, visit_dbp=110)


def test_chest_pain_at_the_latest_visit_fires_urgent_symptom(slice_evaluator):
    assert "htn.urgent_symptom" in fired(slice_evaluator, visit_symptoms=frozenset({"chest_pain"}))


def test_an_unlisted_symptom_or_none_or_no_visit_does_not_fire_urgent_symptom(slice_evaluator):
    assert "htn.urgent_symptom" not in fired(slice_evaluator, visit_symptoms=frozenset({"cough"}))
    assert "htn.urgent_symptom" not in fired(slice_evaluator, visit_symptoms=frozenset())
    assert "htn.urgent_symptom" not in fired(slice_evaluator, visit_symptoms=None)


def test_a_pregnant_patient_at_140_systolic_is_referred_urgently_and_at_139_is_not(slice_evaluator):
    assert "htn.urgent_pregnancy" in fired(slice_evaluator, pregnant=True, visit_sbp=140)
    assert "htn.urgent_pregnancy" not in fired(slice_evaluator, pregnant=True, visit_sbp=139)


def test_unknown_pregnancy_status_does_not_fire_the_pregnancy_rule(slice_evaluator):
    assert "htn.urgent_pregnancy" not in fired(
        slice_evaluator, pregnant=None, breastfeeding=None, visit_sbp=150
    )


def test_a_rule_pruned_by_its_parameter_never_fires(slice_evaluator):
    assert "htn.public_health_recheck" not in fired(slice_evaluator, latest_sbp=200)


def test_fired_ids_come_in_set_order(slice_evaluator):
    ids = fired(slice_evaluator, visit_sbp=185, visit_symptoms=frozenset({"dizziness"}), pregnant=True)
    assert ids == ("htn.urgent_bp", "htn.urgent_symptom", "htn.urgent_pregnancy", "htn.uncontrolled")


def test_read_holds_the_values_each_fired_rule_read(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=182, visit_dbp=96))
    assert ev.read["htn.urgent_bp"] == {"in_hypertension": True, "visit_sbp": 182, "visit_dbp": 96}
    assert "htn.urgent_symptom" not in ev.read


# ---- classifications ------------------------------------------------------------------------


def test_age_65_takes_the_elderly_target_even_with_comorbidity_unknown(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(age_years=65, in_diabetes=None, latest_uacr=None))
    assert (ev.facts["bp_target_sbp"], ev.facts["bp_target_dbp"]) == (150, 90)
    assert "bp_target_sbp" not in ev.undecided


def test_age_64_without_comorbidity_takes_the_default_target(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(age_years=64))
    assert (ev.facts["bp_target_sbp"], ev.facts["bp_target_dbp"]) == (140, 90)


def test_uacr_exactly_30_takes_the_130_target_and_29_9_does_not(slice_evaluator):
    assert slice_evaluator.evaluate(base_facts(latest_uacr=30)).facts["bp_target_sbp"] == 130
    assert slice_evaluator.evaluate(base_facts(latest_uacr=29.9)).facts["bp_target_sbp"] == 140


def test_a_missing_uacr_leaves_the_target_unknown_when_it_could_change_it(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(latest_uacr=None))
    assert ev.facts["bp_target_sbp"] is None and ev.facts["bp_target_dbp"] is None
    assert ev.undecided["bp_target_sbp"] == ("latest_uacr",)


def test_a_missing_uacr_does_not_matter_when_diabetes_already_decides_the_target(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(latest_uacr=None, in_diabetes=True))
    assert ev.facts["bp_target_sbp"] == 130
    assert ev.undecided == {}


def test_classification_is_decided_when_every_possible_case_agrees():
    derive = [
        {
            "classification": "band",
            "outputs": {"band": {"type": "string"}},
            "cases": [
                {"when": {"fact": "visit_sbp", "gte": 160}, "then": {"band": "high"}},
                {"when": {"fact": "visit_dbp", "gte": 100}, "then": {"band": "high"}},
                {"otherwise": {"band": "normal"}},
            ],
        }
    ]
    evaluator = Evaluator(rule_set({"fact": "band", "eq": "high"}, derive=derive))
    ev = evaluator.evaluate(base_facts(visit_sbp=None, visit_dbp=104))
    assert ev.facts["band"] == "high" and ev.fired == ("t.rule",)
    ev = evaluator.evaluate(base_facts(visit_sbp=None, visit_dbp=96))
    assert ev.facts["band"] is None and ev.undecided == {"band": ("visit_sbp",)}
    assert ev.fired == ()


def test_an_undecided_classification_kept_for_one_patient_names_each_patients_own_missing_facts():
    derive = [
        {
            "classification": "band",
            "outputs": {"band": {"type": "string"}},
            "cases": [
                {"when": {"fact": "visit_sbp", "gte": 160}, "then": {"band": "high"}},
                {"when": {"fact": "visit_dbp", "gte": 100}, "then": {"band": "high"}},
                {"when": {"fact": "visit_sbp", "gte": 140}, "then": {"band": "raised"}},
                {"otherwise": {"band": "normal"}},
            ],
        }
    ]
    evaluator = Evaluator(rule_set({"fact": "band", "eq": "high"}, derive=derive))
    for _ in range(2):  # the second round reuses what the first worked out
        ev = evaluator.evaluate(base_facts(visit_sbp=None, visit_dbp=96))
        assert ev.facts["band"] is None and ev.undecided == {"band": ("visit_sbp",)}
        ev = evaluator.evaluate(base_facts(visit_sbp=None, visit_dbp=None))
        assert ev.facts["band"] is None and ev.undecided == {"band": ("visit_dbp", "visit_sbp")}
        ev = evaluator.evaluate(base_facts(visit_sbp=150, visit_dbp=None))
        assert ev.facts["band"] is None and ev.undecided == {"band": ("visit_dbp",)}
        ev = evaluator.evaluate(base_facts(visit_sbp=150, visit_dbp=96))
        assert ev.facts["band"] == "raised" and ev.undecided == {}


def test_a_class_of_flags_and_classes_kept_by_their_values_still_names_each_patients_missing_facts():
    # `grade` reads a flag and a derived class only: the program function keeps it by their values,
    # and what stands behind an undecided `band` must be part of what it is kept by
    derive = [
        {
            "classification": "band",
            "outputs": {"band": {"type": "string"}},
            "cases": [
                {"when": {"fact": "visit_sbp", "gte": 160}, "then": {"band": "high"}},
                {"when": {"fact": "visit_dbp", "gte": 100}, "then": {"band": "high"}},
                {"otherwise": {"band": "normal"}},
            ],
        },
        {
            "classification": "grade",
            "outputs": {"grade": {"type": "string"}},
            "cases": [
                {"when": {"all": [{"fact": "smoker", "eq": True}, {"fact": "band", "eq": "high"}]},
                 "then": {"grade": "red"}},
                {"otherwise": {"grade": "green"}},
            ],
        },
    ]
    gset = rule_set({"fact": "grade", "eq": "red"}, derive=derive)
    evaluator, reference = Evaluator(gset), _layer_by_layer(gset)
    for _ in range(2):  # the second round reuses what the first kept
        for sbp, dbp, smoker, grade, behind in [
            (None, 96, True, None, ("visit_sbp",)),
            (150, None, True, None, ("visit_dbp",)),
            (170, None, True, "red", None),
            (None, 96, False, "green", None),
            (150, 96, True, "green", None),
        ]:
            facts = base_facts(visit_sbp=sbp, visit_dbp=dbp, smoker=smoker)
            ev = evaluator.evaluate(facts)
            assert ev.facts["grade"] == grade and ev.undecided.get("grade") == behind
            assert _observable(ev) == _observable(reference.evaluate(facts))


def test_a_class_of_a_missing_number_and_a_flag_kept_by_the_flag_still_names_each_patients_missing_facts():
    # `waist` reads the sex (few values) and the waist (a number): with the waist missing the program
    # function keeps its outcome by the sex and what stands behind `band`, undecided or not
    derive = [
        {
            "classification": "band",
            "outputs": {"band": {"type": "string"}},
            "cases": [
                {"when": {"fact": "visit_sbp", "gte": 160}, "then": {"band": "high"}},
                {"otherwise": {"band": "normal"}},
            ],
        },
        {
            "classification": "waist",
            "outputs": {"waist": {"type": "string"}},
            "cases": [
                {"when": {"any": [{"all": [{"fact": "sex", "eq": "M"}, {"fact": "waist_cm", "gte": 90}]},
                                  {"all": [{"fact": "sex", "eq": "F"}, {"fact": "waist_cm", "gte": 85}]}]},
                 "then": {"waist": "central"}},
                {"when": {"fact": "band", "eq": "high"}, "then": {"waist": "watch"}},
                {"otherwise": {"waist": "normal"}},
            ],
        },
    ]
    gset = rule_set({"fact": "waist", "eq": "central"}, derive=derive)
    evaluator, reference = Evaluator(gset), _layer_by_layer(gset)
    for _ in range(2):  # the second round reuses what the first kept
        for sex, waist, sbp, outcome, behind in [
            ("M", None, 150, None, ("waist_cm",)),
            ("F", None, 150, None, ("waist_cm",)),
            (None, None, 150, None, ("sex", "waist_cm")),
            ("M", None, None, None, ("visit_sbp", "waist_cm")),
            ("M", 95, None, "central", None),
            ("F", 86, 150, "central", None),
            ("M", 86, 170, "watch", None),
            ("M", 86, None, None, ("visit_sbp",)),
        ]:
            facts = base_facts(sex=sex, waist_cm=waist, visit_sbp=sbp)
            ev = evaluator.evaluate(facts)
            assert ev.facts["waist"] == outcome and ev.undecided.get("waist") == behind, (sex, waist, sbp)
            assert _observable(ev) == _observable(reference.evaluate(facts))
    # what was kept for a missing waist is kept by the sex and the facts behind band: one each
    memos = [m for m in evaluator._run.__globals__.values()
             if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], dict) and m[1] == ("waist",)]
    assert len(memos) == 1 and len(memos[0][0]) == 4


def test_a_classification_unknown_value_is_used_when_undecided():
    derive = [
        {
            "classification": "band",
            "outputs": {"band": {"type": "string"}},
            "cases": [
                {"when": {"fact": "visit_sbp", "gte": 160}, "then": {"band": "high"}},
                {"otherwise": {"band": "normal"}},
            ],
            "unknown": {"band": "unknown"},
        }
    ]
    ev = Evaluator(rule_set({"fact": "band", "eq": "unknown"}, derive=derive)).evaluate(
        base_facts(visit_sbp=None)
    )
    assert ev.facts["band"] == "unknown" and ev.fired == ("t.rule",)


def test_bp_139_against_a_140_target_is_controlled_and_140_is_not(slice_evaluator):
    assert (
        slice_evaluator.evaluate(base_facts(latest_sbp=139, latest_dbp=80)).facts["bp_control"]
        == "controlled"
    )
    ev = slice_evaluator.evaluate(base_facts(latest_sbp=140, latest_dbp=80))
    assert ev.facts["bp_control"] == "uncontrolled" and "htn.uncontrolled" in ev.fired


def test_no_bp_reading_is_no_data_and_never_controlled(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(latest_sbp=None, latest_dbp=None))
    assert ev.facts["bp_control"] == "no_data"
    assert "htn.no_data" in ev.fired and "htn.uncontrolled" not in ev.fired


def test_an_unknown_target_makes_bp_control_unknown_and_names_the_input_behind_the_target(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(latest_uacr=None, latest_sbp=135, latest_dbp=80))
    assert ev.facts["bp_control"] is None
    assert ev.undecided["bp_control"] == ("latest_uacr",)  # through the undecided target
    assert not {"htn.uncontrolled", "htn.no_data"} & set(ev.fired)


# ---- counts and tables ----------------------------------------------------------------------


def test_a_count_with_every_member_known_is_an_integer(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(smoker=True, latest_hdl_c=0.9, age_years=55))
    assert (
        ev.facts["risk_factor_count"],
        ev.facts["risk_factor_count__min"],
        ev.facts["risk_factor_count__max"],
    ) == (3, 3, 3)


def test_a_count_with_an_unknown_member_is_a_range_and_none(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(smoker=None, latest_hdl_c=0.9, age_years=50))
    assert ev.facts["risk_factor_count"] is None
    assert (ev.facts["risk_factor_count__min"], ev.facts["risk_factor_count__max"]) == (1, 2)
    assert ev.undecided["risk_factor_count"] == ("smoker",)


def test_a_count_rule_fires_only_when_the_whole_range_satisfies_it(slice_evaluator):
    assert "lipid.many_risk_factors" not in fired(
        slice_evaluator, smoker=None, latest_hdl_c=0.9, age_years=50
    )
    assert "lipid.many_risk_factors" in fired(slice_evaluator, smoker=None, latest_hdl_c=0.9, age_years=55)


def test_hdl_exactly_1_0_is_not_a_risk_factor_and_0_99_is(slice_evaluator):
    assert slice_evaluator.evaluate(base_facts(latest_hdl_c=1.0)).facts["risk_factor_count"] == 1
    assert slice_evaluator.evaluate(base_facts(latest_hdl_c=0.99)).facts["risk_factor_count"] == 2


def test_a_unique_table_picks_its_one_matching_row(slice_evaluator):
    assert slice_evaluator.evaluate(base_facts(smoker=True, latest_hdl_c=0.9)).facts["risk_band"] == "high"
    assert slice_evaluator.evaluate(base_facts(age_years=40)).facts["risk_band"] == "low"


def test_a_unique_table_is_decided_when_the_count_range_stays_inside_one_row(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(smoker=None))  # count in [1, 2]: row "1 or 2"
    assert ev.facts["risk_band"] == "medium" and "risk_band" not in ev.undecided


def test_a_unique_table_is_unknown_when_the_range_spans_rows_that_disagree(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(smoker=None, latest_hdl_c=0.9))  # count in [2, 3]
    assert ev.facts["risk_band"] == "unknown"
    assert ev.undecided["risk_band"] == ("smoker",)
    assert "lipid.high_risk_band" not in ev.fired


def first_table_set():
    derive = [
        {
            "table": "grade",
            "hit_policy": "first",
            "inputs": {
                "sbp": {"fact": "visit_sbp", "domain": [0]},
                "dm": {"fact": "in_diabetes", "domain": [True, False]},
            },
            "outputs": {"grade": {"type": "string"}},
            "rows": [
                {"when": {"sbp": {"gte": 160}}, "then": {"grade": "3"}},
                {"when": {"dm": True}, "then": {"grade": "2"}},
                {"when": {"sbp": {"gte": 140}}, "then": {"grade": "2"}},
                {"when": {}, "then": {"grade": "1"}},
            ],
        }
    ]
    return rule_set({"fact": "grade", "eq": "3"}, derive=derive)


def test_a_first_table_takes_the_first_matching_row_even_when_later_rows_match():
    ev = Evaluator(first_table_set()).evaluate(base_facts(visit_sbp=165, in_diabetes=True))
    assert ev.facts["grade"] == "3"


def test_a_first_table_is_decided_when_the_possible_rows_before_the_definite_one_agree():
    ev = Evaluator(first_table_set()).evaluate(base_facts(visit_sbp=150, in_diabetes=None))
    assert ev.facts["grade"] == "2"


def test_a_first_table_is_unknown_when_an_earlier_possible_row_disagrees():
    ev = Evaluator(first_table_set()).evaluate(base_facts(visit_sbp=None, in_diabetes=True))
    assert ev.facts["grade"] is None and ev.undecided == {"grade": ("visit_sbp",)}


# ---- screenings ---------------------------------------------------------------------------------


def test_uacr_at_30_shortens_the_uacr_interval_to_6_months_and_29_9_keeps_12(slice_evaluator):
    assert slice_evaluator.evaluate(base_facts(latest_uacr=30)).screening["uacr"].interval_months == 6
    assert slice_evaluator.evaluate(base_facts(latest_uacr=29.9)).screening["uacr"].interval_months == 12


def test_fundus_is_for_diabetes_patients_only(slice_evaluator):
    assert slice_evaluator.evaluate(base_facts(in_diabetes=True)).screening["fundus"].eligible is True
    assert slice_evaluator.evaluate(base_facts()).screening["fundus"].eligible is False


def test_ecg_without_an_eligibility_condition_is_for_every_enrolled_patient_only(slice_evaluator):
    plan = slice_evaluator.evaluate(base_facts()).screening["ecg"]
    assert (plan.eligible, plan.interval_months, plan.first_due_days, plan.listed) == (True, 12, 90, True)
    assert slice_evaluator.evaluate(base_facts(in_hypertension=False)).screening["ecg"].eligible is False


# ---- near misses --------------------------------------------------------------------------------


def test_sbp_172_is_a_near_miss_of_urgent_bp_within_5_percent_of_180(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=172))
    assert NearMiss("htn.urgent_bp", "visit_sbp", 172, 180, "gte") in ev.near_misses


def test_sbp_170_is_not_a_near_miss_of_urgent_bp(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=170))
    assert not [m for m in ev.near_misses if m.rule == "htn.urgent_bp"]


def test_a_fired_rule_is_never_a_near_miss(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=180, visit_dbp=108))
    assert not [m for m in ev.near_misses if m.rule == "htn.urgent_bp"]


def test_a_near_miss_needs_the_rest_of_the_rule_to_hold(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=175, in_hypertension=False))
    assert not [m for m in ev.near_misses if m.rule == "htn.urgent_bp"]


def test_the_near_miss_margin_comes_from_the_set_parameter_when_present():
    files = read_slice_dicts()
    files["hypertension.yaml"]["parameters"]["near_miss_margin_pct"] = {"value": 2, "unit": "%"}
    evaluator = Evaluator(build_set(files))
    assert [m.rule for m in evaluator.evaluate(base_facts(visit_sbp=177)).near_misses] == ["htn.urgent_bp"]
    assert evaluator.evaluate(base_facts(visit_sbp=176)).near_misses == ()


# ---- the evaluation itself, and the both backend ---------------------------------------------


def test_the_evaluation_is_frozen_and_names_its_backend(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts())
    assert ev.backend == "python"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.fired = ()


def test_the_input_facts_are_not_modified(slice_evaluator):
    facts = base_facts()
    before = dict(facts)
    slice_evaluator.evaluate(facts)
    assert facts == before


def test_the_both_backend_gives_the_same_evaluation_as_python():
    facts = base_facts(visit_sbp=181, smoker=None, visit_symptoms=frozenset({"chest_pain"}))
    python_ev = Evaluator(slice_set()).evaluate(facts)
    both_ev = Evaluator(slice_set(), "both").evaluate(facts)
    assert dataclasses.replace(both_ev, backend="python") == python_ev


def test_the_both_backend_raises_r002_naming_the_patient_and_the_differing_condition(monkeypatch):
    evaluator = Evaluator(slice_set(), "both")
    durable = evaluator._runtimes[1]
    real_run = durable.run

    def lying_run(layer_index, facts):
        out = list(real_run(layer_index, facts))
        if layer_index == len(evaluator.program.layers) - 1:
            out[0] = (not out[0][0], out[0][1])
        return tuple(out)

    monkeypatch.setattr(durable, "run", lying_run)
    with pytest.raises(SangaoError) as exc:
        evaluator.evaluate(base_facts(visit_sbp=150), patient_id="370202-000456")
    problem = exc.value.problems[0]
    assert problem.code == "R002"
    assert "370202-000456" in problem.message and "rule:htn.urgent_bp" in problem.message
    assert "visit_sbp=150" in problem.hint


def test_the_both_backend_raises_r002_when_the_program_function_disagrees_with_durable(monkeypatch):
    evaluator = Evaluator(slice_set(), "both")
    real_run = evaluator._run

    def lying_run(f, undecided):
        fired, screening = real_run(f, undecided)
        return (*fired, "htn.invented"), screening

    monkeypatch.setattr(evaluator, "_run", lying_run)
    with pytest.raises(SangaoError) as exc:
        evaluator.evaluate(base_facts(visit_sbp=150), patient_id="370202-000457")
    problem = exc.value.problems[0]
    assert problem.code == "R002"
    assert "370202-000457" in problem.message and "htn.invented" in problem.message
    assert "370202-000457" in problem.render("zh") and "durable" in problem.render("zh")


def rule_set(when, derive=None):
    return build_set(
        {
            "t.yaml": {
                "guideline": "t",
                "derive": derive or [],
                "rules": [{"id": "t.rule", "color": "yellow", "when": when, "explain": "x", "source": SRC}],
            }
        }
    )


def test_a_rule_fired_on_a_count_range_reads_the_range(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(smoker=None, latest_hdl_c=0.9, age_years=55))  # count in [2, 3]
    assert ev.read["lipid.many_risk_factors"] == {
        "risk_factor_count": None,
        "risk_factor_count__min": 2,
        "risk_factor_count__max": 3,
    }


def test_near_misses_are_computed_on_first_access_and_kept(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=172))
    first = ev.near_misses
    assert first is ev.near_misses and first == (NearMiss("htn.urgent_bp", "visit_sbp", 172, 180, "gte"),)


def test_read_is_built_on_first_access_and_kept(slice_evaluator):
    ev = slice_evaluator.evaluate(base_facts(visit_sbp=182))
    first = ev.read
    assert first is ev.read and first["htn.urgent_bp"]["visit_sbp"] == 182


def _layer_by_layer(gset):
    """The evaluator without its fused program function: layer functions, then `_compose`."""
    evaluator = Evaluator(gset)
    evaluator._run = None
    return evaluator


def _observable(ev):
    return (
        list(ev.facts.items()),
        ev.fired,
        ev.read,
        list(ev.undecided.items()),
        list(ev.screening.items()),
        ev.near_misses,
    )


@pytest.mark.parametrize("set_name", ["slice", "national-default"])
def test_the_fused_program_function_gives_what_the_layer_by_layer_composition_gives(set_name):
    from datetime import date

    from guidelines.loader import load_default
    from pathways.facts import compute_facts
    from pathways.synthetic import generate_roster

    gset = slice_set() if set_name == "slice" else load_default()
    as_of = date(2026, 11, 30)
    params = {n: p.value for n, p in gset.parameters.items()}
    fused, reference = Evaluator(gset), _layer_by_layer(gset)
    rosters = [compute_facts(p, as_of, params, None) for p in generate_roster(400, 7, as_of)]
    # with inputs dropped too, so that undecided cases, count ranges and unique tables take every path
    thinned = [
        {k: (None if (i + j) % 3 == 0 else v) for j, (k, v) in enumerate(f.items())}
        for i, f in enumerate(rosters)
    ]
    for facts in [*rosters, *thinned, {}]:
        assert _observable(fused.evaluate(facts)) == _observable(reference.evaluate(facts))
