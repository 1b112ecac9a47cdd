"""The import's fast paths give the same verdicts as the full rules they stand in for
(store/validation.py, store/importer.py): the resident-ID shortcut, the all-dates-in-range test,
the compiled plausibility test and the key count that guards against repeated JSON keys; and the
import leaves the garbage collector and the stored values as they were."""

from __future__ import annotations

import gc
import json
import sqlite3
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from roster_files import VALID_MALE, record

from pathways import resident_id
from pathways.models import Patient
from store import validation, writer
from store.importer import _keys_given, import_files, validate_item
from store.readers.jsonl import keys_written, line_item
from store.validation import _implausible, _valid_id, check_dates, check_plausible, check_resident_id

AS_OF = date(2026, 11, 30)
BORN = date(1958, 3, 2)


def patient(**changes) -> Patient:
    return Patient.model_validate(record(**changes))


# ---- resident ID --------------------------------------------------------------------------------


def _reference_ok(number: str, born: date, sex: str) -> bool:
    return (
        resident_id.problem(number) is None
        and resident_id.birth_date(number) == born
        and resident_id.sex(number) == sex
    )


@pytest.mark.parametrize(
    ("number", "sex", "ok"),
    [
        (VALID_MALE, "M", True),
        (VALID_MALE, "F", False),  # sex disagrees
        ("370202195803021237", "M", False),  # check digit off by one
        ("37020219580302123", "M", False),  # 17 characters
        ("370202195802301230", "M", False),  # 30 February inside the ID
        ("37020219580302123x", "M", False),  # lower-case x
    ],
)
def test_the_resident_id_shortcut_accepts_only_what_the_full_check_accepts(number, sex, ok):
    assert _valid_id(number, BORN, sex) is ok
    assert _reference_ok(number, BORN, sex) is ok


def test_a_full_width_digit_is_left_to_the_full_check():
    number = "３70202195803021236"  # str.isdigit() and int() take it; the full check decides
    assert not _valid_id(number, BORN, "M")
    assert (check_resident_id(patient(id_number=number)) == []) is _reference_ok(number, BORN, "M")


def _with_check_digit(first17: str) -> str:
    return first17 + resident_id.check_digit(first17)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A[0-9]{17}\Z").map(_with_check_digit),  # check digit right, X included
        st.from_regex(r"\A[0-9]{17}[0-9X]\Z"),
        st.text(alphabet="0123456789X x１", min_size=15, max_size=19),
    ),
    st.dates(date(1900, 1, 1), date(2030, 12, 31)),
    st.sampled_from(["M", "F"]),
)
def test_the_resident_id_shortcut_agrees_with_the_full_check_on_any_string(number, born, sex):
    if _valid_id(number, born, sex):
        assert _reference_ok(number, born, sex)


def test_a_record_whose_id_passes_the_shortcut_has_no_resident_id_issue():
    assert check_resident_id(patient()) == []
    assert [i.code for i in check_resident_id(patient(sex="F"))] == ["D105"]
    assert [i.code for i in check_resident_id(patient(birth_date="1958-03-03"))] == ["D104"]


# ---- dates --------------------------------------------------------------------------------------

_DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("visit", "died", "expected"),
    [
        (BORN + _DAY, None, []),
        (BORN, None, []),  # on the birth date: not before it
        (BORN - _DAY, None, ["D107"]),
        (AS_OF, None, []),
        (AS_OF + _DAY, None, ["D102"]),
        (date(2024, 1, 1), date(2024, 1, 1), []),  # on the day of death
        (date(2024, 1, 2), date(2024, 1, 1), ["D103"]),
    ],
)
def test_dates_on_each_bound_pass_and_just_past_it_are_reported(visit, died, expected):
    record = patient(visits=[{"date": visit.isoformat()}], deceased_on=died and died.isoformat())
    assert [i.code for i in check_dates(record, AS_OF)] == expected


_dates = st.dates(date(1950, 1, 1), date(2030, 12, 31))


@settings(max_examples=200, deadline=None)
@given(
    birth=_dates,
    enrolled=_dates,
    died=st.none() | _dates,
    moved=st.none() | _dates,
    visits=st.lists(_dates, max_size=3),
    history=st.lists(st.none() | _dates, max_size=2),
    as_of=st.none() | _dates,
)
def test_the_all_dates_in_range_shortcut_never_hides_a_finding(
    birth, enrolled, died, moved, visits, history, as_of
):
    codes = ["stroke", "ckd"]
    record = Patient.model_validate(
        {
            "patient_id": "p1",
            "sex": "F",
            "birth_date": birth,
            "conditions": ["diabetes"],
            "enrolled_on": enrolled,
            "deceased_on": died,
            "moved_out_on": moved,
            "visits": [{"date": d} for d in visits],
            "history": [{"code": c, "date": d} for c, d in zip(codes, history, strict=False)],
        }
    )
    fast = check_dates(record, as_of)
    original = validation._dates_within
    try:
        validation._dates_within = lambda *_: False  # every item through the full rules
        full = check_dates(record, as_of)
    finally:
        validation._dates_within = original
    assert fast == full


# ---- plausibility -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reported"),
    [
        ("sbp", 300, False),
        ("sbp", 300.1, True),
        ("sbp", 50, False),
        ("sbp", 49.9, True),
        ("fpg", None, False),
    ],
)
def test_the_compiled_plausibility_test_reports_just_past_a_limit(field, value, reported):
    record = patient(visits=[{"date": "2026-01-05", field: value}])
    assert [i.code for i in check_plausible(record)] == (["D101"] if reported else [])


_limits = validation.plausible_limits()


def _around(limit):
    """Absent, on either limit, or anywhere from a little below to a little above the range."""
    return st.none() | st.sampled_from([limit.min, limit.max]) | st.floats(limit.min - 5, limit.max + 5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={name: _around(limit) for name, limit in _limits["visits"].items()},
        ),
        max_size=3,
    ),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={name: _around(limit) for name, limit in _limits["labs"].items()},
        ),
        max_size=2,
    ),
)
def test_the_compiled_plausibility_test_agrees_with_the_loop_over_the_limits(visits, labs):
    record = patient(
        visits=[{"date": "2026-01-05", **v} for v in visits],
        labs=[{"date": "2026-01-05", **lab} for lab in labs],
    )
    assert check_plausible(record) == _implausible(record)


# ---- repeated keys ------------------------------------------------------------------------------


def _line(**changes) -> str:
    data = {
        "patient_id": "p1",
        "sex": "M",
        "birth_date": "1958-03-02",
        "conditions": ["hypertension"],
        "enrolled_on": "2021-05-10",
        "visits": [{"date": "2026-11-01", "sbp": 150}],
    }
    data.update(changes)
    return json.dumps(data, ensure_ascii=False)


def test_the_key_count_of_a_plain_line_equals_the_keys_the_record_was_given():
    line = _line()
    assert keys_written(line) == _keys_given(Patient.model_validate_json(line)) == 8


@pytest.mark.parametrize(
    "line",
    [
        _line().replace('"sbp": 150', '"sbp" : 150, "sbp":90'),  # whitespace before one colon
        _line().replace('"sbp": 150', '"sbp":\t150,\n"sbp" :90'),
        _line().replace('"sex": "M"', '"sex" :"M", "sex": "F"'),
    ],
)
def test_a_repeated_key_is_rejected_however_the_colons_are_spaced(line):
    patient_, problems, _ = validate_item(line_item("r.jsonl", 3, line), AS_OF)
    assert patient_ is None and [p.code for p in problems] == ["D002"]


def test_a_colon_inside_a_value_takes_the_slow_path_to_the_same_record():
    line = _line(name="王: 二", team='a":b')
    assert keys_written(line) > _keys_given(Patient.model_validate_json(line))
    patient_, problems, _ = validate_item(line_item("r.jsonl", 3, line), AS_OF)
    assert problems == [] and patient_ == Patient.model_validate_json(line)


# ---- the import leaves the process and the values as they were ---------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_the_import_restores_the_garbage_collector_state(tmp_path, enabled):
    roster = tmp_path / "r.jsonl"
    roster.write_text(_line() + "\n", encoding="utf-8")
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        import_files([roster], str(tmp_path / "db.sqlite"), AS_OF)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_import_restores_the_garbage_collector_after_a_failure(tmp_path, monkeypatch):
    roster = tmp_path / "r.jsonl"
    roster.write_text(_line() + "\n", encoding="utf-8")

    def broken(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer.Store, "flush", broken)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        import_files([roster], str(tmp_path / "db.sqlite"), AS_OF)
    assert gc.isenabled()


def test_absent_values_booleans_and_codes_are_stored_as_null_integer_and_text(tmp_path):
    roster = tmp_path / "r.jsonl"
    visit = {"date": "2026-11-01", "sbp": 150, "adverse_reaction": True, "new_complication": False}
    screening = {"date": "2026-10-01", "kind": "fundus", "result": "abnormal"}
    roster.write_text(_line(visits=[visit], screenings=[screening], smoker=False) + "\n", encoding="utf-8")
    db = tmp_path / "db.sqlite"
    import_files([roster], str(db), AS_OF)
    with sqlite3.connect(db) as con:
        assert con.execute(
            "SELECT typeof(dbp), dbp, typeof(adverse_reaction), adverse_reaction, new_complication, "
            "typeof(date), date FROM visits"
        ).fetchall() == [("null", None, "integer", 1, 0, "text", "2026-11-01")]
        assert con.execute("SELECT typeof(kind), kind, result, grade FROM screenings").fetchall() == [
            ("text", "fundus", "abnormal", None)
        ]
        assert con.execute("SELECT sex, smoker, pregnant, birth_date FROM patients").fetchall() == [
            ("M", 0, None, "1958-03-02")
        ]


# ---- the worker's bookkeeping -------------------------------------------------------------------


@pytest.mark.parametrize("lines", [False, True])
def test_seen_ids_say_where_an_id_was_first_seen_and_nothing_the_first_time(lines):
    from store.importer import SeenIds

    seen = SeenIds(lines=lines)
    try:
        at = (lambda n: n) if lines else (lambda n: f"a.jsonl:{n}")
        assert seen.first("p1", at(1)) is None
        assert seen.first("p2", at(2)) is None
        assert seen.first("p1", at(3)) == at(1)
        assert seen.first("p1", at(4)) == at(1)  # always the first place, not the last
        assert seen.first("p2", at(5)) == at(2)
    finally:
        seen.close()


def test_clean_lines_counted_together_count_as_counted_one_by_one():
    from store.importer import Tally

    one, together = Tally("jsonl"), Tally("jsonl")
    for _ in range(5):
        one.take_clean("a.jsonl")
    together.take_clean("a.jsonl", 2)
    together.take_clean("a.jsonl", 0)
    together.take_clean("a.jsonl", 3)
    assert (together.patients, together.files["a.jsonl"].imported) == (one.patients, 5) == (5, 5)
    empty = Tally("jsonl")
    empty.take_clean("b.jsonl", 0)
    assert empty.files == {} and empty.patients == 0
