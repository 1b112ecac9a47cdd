"""engine/assess_json.py writes, for any input, the line the stdlib encoder writes for the composed
assessment (`json_line(Assessor._compose(...))`), as str (`line`) and as UTF-8 (`line_bytes`): for
patients with any id and readings, and for derived values of any type (strings with quotes, commas,
colons, backslashes, line ends, U+2028, Chinese and emoji; 1, 1.0 and True; NaN, infinities, -0.0, 1e16,
1e-7; unhashable lists), where both give the same text or fail the same way. One assessor serves all
examples, so texts kept from one example are read back in the others."""

import copy
import json
import marshal
from datetime import date
from functools import cache

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.assess import json_line
from engine.assess_json import _BLOCK_FACTS
from engine.parallel import AssessOptions, build_assessor
from pathways.synthetic import generate_jsonl
from store import fast_json

AS_OF = date(2026, 11, 30)
_TRICKY = ',:"\\\n\r\t\b\f\x00\x1f\x7f\u2028\u2029 中文三高😀/{}[]'
TEXT = st.text(alphabet=st.sampled_from(_TRICKY) | st.characters(exclude_categories=("Cs",)), max_size=30)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e16, 1e-7, 1e15, 123456789012345680.0, 2.5, 1.0]
)
VALUES = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | FLOATS | TEXT
    | st.sampled_from(["controlled", "uncontrolled", "unknown", "G2", "A1", ""])
    | st.lists(st.integers(0, 3), max_size=2)
)
NUMBERS = (
    st.none() | st.booleans() | st.integers(0, 400) | st.floats(0, 400) | st.sampled_from([140, 90, 140.0])
)


@cache
def assessor():
    return build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))


@cache
def roster() -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in generate_jsonl(120, 5, AS_OF))


@cache
def outcomes() -> tuple:
    """(record, outcome) of each assessed patient of `roster`."""
    a = assessor()
    found = []
    for data in roster():
        record = fast_json.decode_record(json.dumps(data, ensure_ascii=False))
        if a.is_assessed(record, AS_OF):
            found.append((record, a.evaluator.outcome(a.facts(record, AS_OF))))
    return tuple(found)


def _result(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the same failure is the same result
        return type(exc)


def assert_same_line(record, as_of, facts, fired, undecided, screening):
    a = assessor()
    args = (record, as_of, facts, fired, undecided, screening)
    expected = _result(lambda: json_line(a._compose(*args)))
    assert _result(lambda: a.line(*args)) == expected
    if isinstance(expected, str):
        assert a.line_bytes(*args) == expected.encode()
    else:
        assert _result(lambda: a.line_bytes(*args)) == expected


def test_every_patient_of_a_generated_roster_gets_the_encoders_line_at_several_dates():
    compared = 0
    for as_of in (AS_OF, date(2026, 3, 1), date(2027, 6, 30)):
        a = build_assessor(AssessOptions("national-default", as_of, provisional_calendar=True))
        for data in roster():
            record = fast_json.decode_record(json.dumps(data, ensure_ascii=False))
            if not a.is_assessed(record, as_of):
                continue
            outcome = a.evaluator.outcome(a.facts(record, as_of))
            for _ in range(2):  # written, then read back from what was kept
                line = a.line(record, as_of, *outcome)
                assert line == json_line(a._compose(record, as_of, *outcome))
                assert a.line_bytes(record, as_of, *outcome) == line.encode()
            compared += 1
    assert compared > 300


@settings(max_examples=150, deadline=None)
@given(
    place=st.integers(0, 119),
    patient_id=TEXT.filter(str.strip),
    sbp=st.floats(1e-7, 1e16),
    dbp=st.integers(0, 10**6) | st.floats(1e-7, 1e16),
    ldl=st.floats(1e-7, 1e16),
    creatinine=st.floats(1e-7, 1e16) | st.integers(1, 10**9),
)
def test_a_patient_with_any_id_and_readings_gets_the_encoders_line(
    place, patient_id, sbp, dbp, ldl, creatinine
):
    data = copy.deepcopy(roster()[place])
    data["patient_id"] = patient_id
    if data.get("visits"):
        data["visits"][-1].update(sbp=sbp, dbp=dbp)
    data.setdefault("labs", []).append({"date": "2026-11-01", "ldl_c": ldl, "creatinine": creatinine})
    record = fast_json.decode_record(json.dumps(data, ensure_ascii=False))
    assume(record is not None and assessor().is_assessed(record, AS_OF))
    a = assessor()
    try:
        outcome = a.evaluator.outcome(a.facts(record, AS_OF))
    except Exception:  # noqa: BLE001 - readings the facts refuse never reach a line
        assume(False)
    assert_same_line(record, AS_OF, *outcome)
    written = json.dumps(patient_id, ensure_ascii=False)
    assert a.line(record, AS_OF, *outcome).startswith('{"patient_id": ' + written)


@settings(max_examples=300, deadline=None)
@given(
    place=st.integers(0, 60),
    block=st.fixed_dictionaries({name: VALUES for name in _BLOCK_FACTS}),
    targets=st.fixed_dictionaries({"bp_target_sbp": NUMBERS, "bp_target_dbp": NUMBERS}),
    floats=st.fixed_dictionaries(
        {"ldl_target": st.none() | FLOATS | st.integers(-5, 5), "egfr": st.none() | FLOATS}
    ),
    use_targets=st.booleans(),
)
def test_derived_values_of_any_type_are_written_as_the_encoder_writes_them(
    place, block, targets, floats, use_targets
):
    record, (facts, fired, undecided, screening) = outcomes()[place % len(outcomes())]
    facts = {**facts, **block, **floats, **(targets if use_targets else {})}
    assert_same_line(record, AS_OF, facts, fired, undecided, screening)


@settings(max_examples=200, deadline=None)
@given(place=st.integers(0, 60), value=NUMBERS | FLOATS | st.sampled_from([1, True, 1.0, 0, False, -0.0]))
def test_a_reason_is_filled_from_values_of_any_type_as_the_composed_one(place, value):
    record, (facts, fired, undecided, screening) = outcomes()[place % len(outcomes())]
    a = assessor()
    names = [n for rule in fired for n in (a._texts[rule][0] or ())]
    assume(names)
    facts = {**facts, **dict.fromkeys(names, value)}
    assert_same_line(record, AS_OF, facts, fired, undecided, screening)


def test_facts_without_the_days_since_the_latest_visit_or_screening_are_searched_as_the_composed_line():
    a = assessor()
    for record, (facts, fired, undecided, screening) in outcomes()[:40]:
        bare = {k: v for k, v in facts.items() if not k.endswith("_days_ago")}
        assert_same_line(record, AS_OF, bare, fired, undecided, screening)
        assert a.line(record, AS_OF, bare, fired, undecided, screening) == a.line(
            record, AS_OF, facts, fired, undecided, screening
        )


def test_a_reason_is_kept_apart_for_1_true_and_1_0_and_for_0_0_and_minus_0_0():
    # the keys differ; the texts differ where the filler writes the values otherwise (True, not 1)
    keys = {marshal.dumps(v, 2) for v in ((1,), (True,), (1.0,), (0.0,), (-0.0,), (0,), (False,), (None,))}
    assert len(keys) == 8
    a = assessor()
    first = next(r for r, o in outcomes() if "care.new_patient" not in o[1])
    facts, fired, undecided, screening = next(o for r, o in outcomes() if r is first)
    lines = []
    for days in (1, True, 1.0, 1):
        facts = {**facts, "enrolled_days": days}
        line = a.line(first, AS_OF, facts, ("care.new_patient",), {}, screening)
        assert line == json_line(a._compose(first, AS_OF, facts, ("care.new_patient",), {}, screening))
        lines.append(line)
    assert lines[1] != lines[0] == lines[3]  # True is written otherwise than 1, kept apart


def test_control_values_equal_but_written_otherwise_are_kept_apart():
    a = assessor()
    record, (facts, fired, undecided, screening) = outcomes()[1]
    lines = []
    for value in ("1", 1, True, 1.0, 1, None, "", 0, False, 0.0, -0.0):
        for target in (140, 140.0, True, 1):
            changed = {**facts, "bp_control": value, "ckd_stage": value, "bp_target_sbp": target}
            changed["bp_target_dbp"] = 90
            assert_same_line(record, AS_OF, changed, fired, undecided, screening)
            lines.append(a.line(record, AS_OF, changed, fired, undecided, screening))
    # ckd_stage "1", 1, true, 1.0, null, "", 0, false, 0.0, -0.0; the bp target [140, 90] or [1, 90]
    assert len(set(lines)) == 10 * 2


def test_a_value_marshal_refuses_is_filled_and_not_kept():
    class Days(int):
        pass

    a = assessor()
    record, (facts, fired, undecided, screening) = outcomes()[0]
    kept = a.line.__self__._reasons["care.new_patient"][1]
    before = dict(kept)
    facts = {**facts, "enrolled_days": Days(5)}
    assert_same_line(record, AS_OF, facts, ("care.new_patient",), {}, screening)
    assert kept == before


def test_patients_with_the_same_screening_plans_share_one_dict_equal_to_the_interpreters():
    a = assessor()
    reference = build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))
    by_plans: dict = {}
    for record, (_facts, _fired, _undecided, screening) in outcomes():
        plans = tuple((kind, p.eligible, p.interval_months) for kind, p in screening.items())
        assert by_plans.setdefault(plans, screening) is screening  # one dict per combination of plans
        # the layer-by-layer evaluation (the form interpreter beside durable) gives equal plans
        both = reference.evaluator.evaluate_both(a.facts(record, AS_OF))
        assert both.screening == screening and both.screening is not screening
    assert 1 < len(by_plans) < len(outcomes())


def test_the_line_of_a_screening_dict_not_shared_or_at_another_date_is_the_composed_line():
    a = assessor()
    later = date(2027, 6, 30)
    again = 0
    for record, (facts, fired, undecided, screening) in outcomes()[:30]:
        assert_same_line(record, AS_OF, facts, fired, undecided, screening)
        # the same shared dict at another date: what was kept at the first date is not read back
        outcome = a.evaluator.outcome(a.facts(record, later))
        again += outcome[3] is screening
        assert_same_line(record, later, *outcome)
        # a copy (another backend gives a new dict a patient) and a copy with other plans
        assert_same_line(record, AS_OF, facts, fired, undecided, dict(screening))
        others = [s for _, (*_, s) in outcomes() if s != screening]
        flipped = {**screening, **{k: p for k, p in others[0].items() if p != screening[k]}}
        assert_same_line(record, AS_OF, facts, fired, undecided, flipped)
    assert again > 5
