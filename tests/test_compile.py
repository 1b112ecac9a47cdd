"""engine/compile.py: determinism, parameter folding, NNF forms, counts, sets, layering, errors."""

from __future__ import annotations

import pytest
from slice import build_set, read_slice_dicts, slice_set

from engine.compile import compile_set
from pathways.errors import SangaoError

SRC = {"doc": "PD", "clause": "test", "verification": "PD"}


def one_rule_set(when, parameters=None, derive=None, rule_id="t.rule"):
    return build_set(
        {
            "t.yaml": {
                "guideline": "t",
                "parameters": parameters or {},
                "derive": derive or [],
                "rules": [{"id": rule_id, "color": "yellow", "when": when, "explain": "x", "source": SRC}],
            }
        }
    )


def rule_cond(program, rule_id="t.rule"):
    rule = next(r for r in program.rules if r.id == rule_id)
    return program.rules_layer.conditions[rule.cond]


def test_compiling_the_same_set_twice_gives_byte_identical_ir_json():
    gset = slice_set()
    assert compile_set(gset).to_json() == compile_set(gset).to_json()


def test_compiling_two_separately_loaded_copies_gives_byte_identical_ir_json():
    assert compile_set(slice_set()).to_json() == compile_set(slice_set()).to_json()


def test_a_param_operand_is_folded_to_its_literal_value():
    program = compile_set(slice_set())
    tree = next(r for r in program.rules if r.id == "htn.urgent_bp").when
    assert tree == [
        "all",
        ["cmp", "in_hypertension", "eq", True],
        ["any", ["cmp", "visit_sbp", "gte", 180], ["cmp", "visit_dbp", "gte", 110]],
    ]
    assert "param" not in program.to_json()


def test_a_false_param_condition_prunes_the_rule_to_constant_false():
    cond = rule_cond(compile_set(slice_set()), "htn.public_health_recheck")
    assert cond.tree == ["const", False]
    assert cond.definite == ["false"] and cond.possible == ["false"]


def test_a_true_param_condition_drops_out_of_its_conjunction():
    files = read_slice_dicts()
    files["hypertension.yaml"]["parameters"]["bp_target_scheme"]["value"] = "public_health"
    cond = rule_cond(compile_set(build_set(files)), "htn.public_health_recheck")
    assert cond.tree == ["cmp", "latest_sbp", "gte", 140]


def test_a_changed_parameter_value_changes_the_compiled_threshold():
    files = read_slice_dicts()
    files["hypertension.yaml"]["parameters"]["htn_urgent_sbp"]["value"] = 170
    tree = next(r for r in compile_set(build_set(files)).rules if r.id == "htn.urgent_bp").when
    assert ["cmp", "visit_sbp", "gte", 170] in tree[2]


def test_a_leaf_is_definite_when_present_and_true_and_possible_when_missing_or_true():
    cond = rule_cond(compile_set(one_rule_set({"fact": "visit_sbp", "gte": 180})))
    assert cond.definite == ["and", ["present", "visit_sbp"], ["cmp", "visit_sbp", "gte", 180]]
    assert cond.possible == ["or", ["missing", "visit_sbp"], ["cmp", "visit_sbp", "gte", 180]]


def test_negation_is_pushed_to_the_leaves_with_operators_negated():
    when = {"not": {"all": [{"fact": "visit_sbp", "gte": 140}, {"fact": "visit_dbp", "lt": 90}]}}
    cond = rule_cond(compile_set(one_rule_set(when)))
    assert cond.definite == [
        "or",
        ["and", ["present", "visit_sbp"], ["cmp", "visit_sbp", "lt", 140]],
        ["and", ["present", "visit_dbp"], ["cmp", "visit_dbp", "gte", 90]],
    ]
    assert cond.possible == [
        "or",
        ["missing", "visit_sbp"],
        ["cmp", "visit_sbp", "lt", 140],
        ["missing", "visit_dbp"],
        ["cmp", "visit_dbp", "gte", 90],
    ]
    assert '"not"' not in str(cond.definite) + str(cond.possible)


def test_double_negation_gives_the_original_forms():
    plain = rule_cond(compile_set(one_rule_set({"fact": "visit_sbp", "gte": 180})))
    double = rule_cond(compile_set(one_rule_set({"not": {"not": {"fact": "visit_sbp", "gte": 180}}})))
    assert (double.definite, double.possible) == (plain.definite, plain.possible)


def test_known_is_two_valued_and_not_known_swaps_present_for_missing():
    known = rule_cond(compile_set(one_rule_set({"fact": "smoker", "known": True})))
    not_known = rule_cond(compile_set(one_rule_set({"not": {"fact": "smoker", "known": True}})))
    assert known.definite == known.possible == ["present", "smoker"]
    assert not_known.definite == not_known.possible == ["missing", "smoker"]


def test_at_least_two_of_three_expands_to_the_three_pairs():
    when = {
        "at_least": 2,
        "of": [
            {"fact": "smoker", "eq": True},
            {"fact": "pregnant", "eq": True},
            {"fact": "breastfeeding", "eq": True},
        ],
    }
    cond = rule_cond(compile_set(one_rule_set(when)))
    assert cond.definite[0] == "or" and len(cond.definite) == 4
    pairs = [sorted(a[1] for a in conj[1:] if a[0] == "present") for conj in cond.definite[1:]]
    assert pairs == [["pregnant", "smoker"], ["breastfeeding", "smoker"], ["breastfeeding", "pregnant"]]


def test_at_least_more_than_its_members_is_constant_false():
    when = {"at_least": 3, "of": [{"fact": "smoker", "eq": True}, {"fact": "pregnant", "eq": True}]}
    assert rule_cond(compile_set(one_rule_set(when))).definite == ["false"]


def test_fact_against_fact_is_possible_when_either_side_is_missing():
    cond = rule_cond(compile_set(one_rule_set({"fact": "latest_sbp", "lt": {"fact": "visit_sbp"}})))
    assert cond.definite == [
        "and",
        ["present", "latest_sbp"],
        ["present", "visit_sbp"],
        ["cmpf", "latest_sbp", "lt", "visit_sbp"],
    ]
    assert cond.possible == [
        "or",
        ["missing", "latest_sbp"],
        ["missing", "visit_sbp"],
        ["cmpf", "latest_sbp", "lt", "visit_sbp"],
    ]


def test_has_any_becomes_per_code_atoms_and_records_the_codes():
    program = compile_set(one_rule_set({"fact": "visit_symptoms", "has_any": ["dizziness", "chest_pain"]}))
    cond = rule_cond(program)
    assert cond.definite == [
        "or",
        ["has", "visit_symptoms", "chest_pain"],
        ["has", "visit_symptoms", "dizziness"],
    ]
    assert program.set_codes == {"visit_symptoms": ("chest_pain", "dizziness")}


def test_has_any_on_a_fact_that_is_not_a_set_is_a_c303_error():
    with pytest.raises(SangaoError) as exc:
        compile_set(one_rule_set({"fact": "visit_sbp", "has_any": ["chest_pain"]}))
    assert exc.value.problems[0].code == "C303"
    assert "visit_sbp" in exc.value.problems[0].message
    assert exc.value.problems[0].file == "t.yaml"


def test_a_count_comparison_reads_the_range_bounds():
    cond = rule_cond(compile_set(slice_set()), "lipid.many_risk_factors")
    assert cond.definite == ["cmp", "risk_factor_count__min", "gte", 2]
    assert cond.possible == ["cmp", "risk_factor_count__max", "gte", 2]


def test_derive_entries_are_layered_by_dependency_not_by_file_order():
    files = read_slice_dicts()
    files["hypertension.yaml"]["derive"].reverse()  # bp_control_class now comes before bp_target
    program = compile_set(build_set(files))
    layer_ids = [[d.id for d in layer.derives] for layer in program.layers]
    assert layer_ids == [["bp_target", "risk_factor_count"], ["bp_control_class", "risk_cell"], []]


def test_a_derive_cycle_is_a_c302_error_naming_the_entries():
    derive = [
        {
            "classification": "a",
            "outputs": {"fa": {"type": "bool"}},
            "cases": [
                {"when": {"fact": "fb", "eq": True}, "then": {"fa": True}},
                {"otherwise": {"fa": False}},
            ],
        },
        {
            "classification": "b",
            "outputs": {"fb": {"type": "bool"}},
            "cases": [
                {"when": {"fact": "fa", "eq": True}, "then": {"fb": True}},
                {"otherwise": {"fb": False}},
            ],
        },
    ]
    with pytest.raises(SangaoError) as exc:
        compile_set(one_rule_set({"fact": "fa", "eq": True}, derive=derive))
    problem = exc.value.problems[0]
    assert problem.code == "C302"
    assert "a → b → a" in problem.message
    assert "C302 派生事实相互依赖成环：a → b → a" in problem.render()
    assert "C302 derived facts depend on each other in a cycle: a → b → a" in problem.render("en")


def test_an_unknown_parameter_is_a_c301_error_with_a_did_you_mean_hint():
    with pytest.raises(SangaoError) as exc:
        compile_set(
            one_rule_set(
                {"fact": "visit_sbp", "gte": {"param": "htn_urgnt_sbp"}},
                parameters={"htn_urgent_sbp": {"value": 180, "unit": "mmHg"}},
            )
        )
    problem = exc.value.problems[0]
    assert (problem.code, problem.file, problem.context) == ("C301", "t.yaml", "rules.t.rule")
    assert "htn_urgnt_sbp" in problem.message
    assert problem.hint == "did you mean htn_urgent_sbp?"
    assert "C301 未知参数 'htn_urgnt_sbp'" in problem.render()
    assert "提示: 是不是 htn_urgent_sbp？" in problem.render()
    assert "C301 unknown parameter 'htn_urgnt_sbp'" in problem.render("en")


def test_every_classification_case_table_row_count_member_rule_and_screening_is_a_named_condition():
    ids = [c.id for layer in compile_set(slice_set()).layers for c in layer.conditions]
    assert "derive:bp_target:0" in ids and "derive:bp_target:2" in ids
    assert "table:risk_cell:4" in ids and "count:risk_factor_count:2" in ids
    assert "rule:htn.urgent_bp" in ids
    assert {"screen:ecg:eligible", "screen:uacr:shorter0", "screen:fundus:eligible"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_an_omitted_screening_eligibility_means_enrolled_in_any_programme():
    program = compile_set(slice_set())
    ecg = next(c for c in program.rules_layer.conditions if c.id == "screen:ecg:eligible")
    assert ecg.tree == [
        "any",
        ["cmp", "in_hypertension", "eq", True],
        ["cmp", "in_diabetes", "eq", True],
        ["cmp", "in_dyslipidemia", "eq", True],
    ]


COUNT_CONDITIONS = {
    "gte_2": ({"fact": "n", "gte": 2}, lambda n: n >= 2),
    "gt_2": ({"fact": "n", "gt": 2}, lambda n: n > 2),
    "lt_2": ({"fact": "n", "lt": 2}, lambda n: n < 2),
    "lte_2": ({"fact": "n", "lte": 2}, lambda n: n <= 2),
    "eq_2": ({"fact": "n", "eq": 2}, lambda n: n == 2),
    "ne_2": ({"fact": "n", "ne": 2}, lambda n: n != 2),
    "in_1_2": ({"fact": "n", "in": [1, 2]}, lambda n: n in (1, 2)),
    "in_0_3": ({"fact": "n", "in": [0, 3]}, lambda n: n in (0, 3)),
    "not_in_1_2": ({"not": {"fact": "n", "in": [1, 2]}}, lambda n: n not in (1, 2)),
    "not_in_0_3": ({"not": {"fact": "n", "in": [0, 3]}}, lambda n: n not in (0, 3)),
    "not_gte_2": ({"not": {"fact": "n", "gte": 2}}, lambda n: not n >= 2),
}


@pytest.mark.parametrize("name", sorted(COUNT_CONDITIONS))
def test_a_count_condition_is_definite_when_every_value_of_the_range_holds_and_possible_when_one_does(name):
    from engine.python_runtime import eval_form

    when, holds = COUNT_CONDITIONS[name]
    members = [{"fact": f, "eq": True} for f in ("smoker", "pregnant", "breastfeeding", "history_chd")]
    gset = one_rule_set(when, derive=[{"count": "n", "of": members}])
    cond = rule_cond(compile_set(gset))
    for lo in range(5):
        for hi in range(lo, 5):
            facts = {"n__min": lo, "n__max": hi}
            values = [holds(n) for n in range(lo, hi + 1)]
            assert eval_form(cond.definite, facts) == all(values), (lo, hi)
            assert eval_form(cond.possible, facts) == any(values), (lo, hi)
            assert eval_form(cond.refute, facts) == (not any(values)), (lo, hi)


# ---- NNF against a reference Kleene evaluation, on generated condition trees ----------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}
_leaf = st.one_of(
    st.builds(
        lambda f, op, v: {"fact": f, op: v},
        st.sampled_from(["visit_sbp", "visit_dbp"]),
        st.sampled_from(sorted(_OPS)),
        st.sampled_from([139, 140, 141]),
    ),
    st.builds(lambda op: {"fact": "visit_sbp", op: {"fact": "visit_dbp"}}, st.sampled_from(sorted(_OPS))),
    st.builds(lambda b: {"fact": "smoker", "known": b}, st.booleans()),
    st.builds(
        lambda codes: {"fact": "visit_symptoms", "has_any": codes},
        st.lists(st.sampled_from(["chest_pain", "dizziness"]), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda vs: {"fact": "visit_sbp", "in": vs},
        st.lists(st.sampled_from([139, 140]), min_size=1, max_size=2, unique=True),
    ),
)
_tree = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
        st.builds(
            lambda xs, n: {"at_least": min(n, len(xs)), "of": xs},
            st.lists(inner, min_size=1, max_size=3),
            st.integers(1, 3),
        ),
    ),
    max_leaves=6,
)
_facts = st.fixed_dictionaries(
    {
        "visit_sbp": st.sampled_from([None, 139, 140, 141]),
        "visit_dbp": st.sampled_from([None, 139, 140, 141]),
        "smoker": st.sampled_from([None, True, False]),
        "visit_symptoms": st.sampled_from(
            [None, frozenset(), frozenset({"chest_pain"}), frozenset({"cough"})]
        ),
    }
)


def kleene(c, f):
    """Reference three-valued value of a schema-shaped condition dict: True, False or None (unknown)."""
    if "all" in c:
        vs = [kleene(x, f) for x in c["all"]]
        return False if False in vs else None if None in vs else True
    if "any" in c:
        vs = [kleene(x, f) for x in c["any"]]
        return True if True in vs else None if None in vs else False
    if "not" in c:
        v = kleene(c["not"], f)
        return None if v is None else not v
    if "at_least" in c:
        vs = [kleene(x, f) for x in c["of"]]
        return (
            True
            if vs.count(True) >= c["at_least"]
            else (False if vs.count(True) + vs.count(None) < c["at_least"] else None)
        )
    v = f[c["fact"]]
    if "known" in c:
        return (v is not None) == c["known"]
    if v is None:
        return None
    if "has_any" in c:
        return bool(v & set(c["has_any"]))
    if "in" in c:
        return v in c["in"]
    op = next(k for k in _OPS if k in c)
    right = c[op]
    if isinstance(right, dict):
        right = f[right["fact"]]
        if right is None:
            return None
    return _OPS[op](v, right)


@settings(max_examples=300, deadline=None)
@given(when=_tree, facts=_facts)
def test_the_definite_possible_and_refuting_forms_match_kleene_logic(when, facts):
    from engine.evaluate import Evaluator
    from engine.python_runtime import FormSource, eval_form

    gset = one_rule_set(when)
    program = compile_set(gset)
    cond = rule_cond(program)
    expected = kleene(when, facts)
    assert eval_form(cond.definite, facts) == (expected is True)
    assert eval_form(cond.possible, facts) == (expected is not False)
    assert eval_form(cond.refute, facts) == (expected is False)

    def generated(form) -> bool:  # the Python the program function is written in, for one form
        src = FormSource()
        body = f"    return {src.expr(form)}"
        namespace: dict = {}
        exec(f"def run(g):\n{src.fetches()}\n{body}\n", namespace)  # noqa: S102
        return namespace["run"](facts.get)

    assert generated(cond.definite) == (expected is True)
    assert generated(cond.possible) == (expected is not False)
    # the generated program function (the python backend) fires the rule exactly when it is true
    assert ("t.rule" in Evaluator(gset).evaluate(facts).fired) == (expected is True)
