"""Each roster validation rule on both sides: what rejects a record (D0xx), what is kept and
reported (D1xx), with the place, the value and the hint (store/validation.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from roster_files import VALID_MALE, record

from pathways.errors import SangaoError
from store import read_roster
from store.importer import validate_item
from store.readers.jsonl import line_item
from store.validation import plausible_limits

AS_OF = date(2026, 11, 30)


def run(tmp_path, *records, as_of=AS_OF, raw_lines=()):
    path = tmp_path / "roster.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = []
    patients = list(read_roster(path, as_of=as_of, on_problem=problems.append))
    return patients, problems


def codes(problems):
    return [p.code for p in problems]


def test_a_clean_record_is_kept_without_findings(tmp_path):
    patients, problems = run(tmp_path, record())
    assert [p.patient_id for p in patients] == ["p1"]
    assert problems == []


# ---- resident ID ------------------------------------------------------------------------------


def test_a_one_digit_change_in_the_resident_id_rejects_the_record_with_the_id_masked(tmp_path):
    patients, problems = run(tmp_path, record(id_number="370202195803021336"))
    assert patients == []
    assert codes(problems) == ["D020"]
    assert problems[0].message.startswith("id_number '370202********1336' check digit is 6 but should be")
    assert "195803021" not in problems[0].render()


def test_a_resident_id_disagreeing_with_the_birth_date_is_kept_and_reported(tmp_path):
    patients, problems = run(tmp_path, record(birth_date="1958-03-03"))
    assert len(patients) == 1
    assert codes(problems) == ["D104"]
    assert problems[0].message == "birth_date 1958-03-03 disagrees with the resident ID (1958-03-02)"


def test_a_resident_id_disagreeing_with_the_sex_is_kept_and_reported(tmp_path):
    patients, problems = run(tmp_path, record(sex="F"))
    assert len(patients) == 1
    assert codes(problems) == ["D105"]


def test_a_legacy_15_digit_id_is_upgraded_and_reported(tmp_path):
    patients, problems = run(tmp_path, record(id_number="370202580302123"))
    assert patients[0].id_number == VALID_MALE
    assert codes(problems) == ["D106"]


# ---- plausible ranges ---------------------------------------------------------------------------

LIMITS = {  # literal copy of store/data/plausible.yaml: a change there must be made here too
    ("visits", "sbp"): (50, 300),
    ("visits", "dbp"): (20, 200),
    ("visits", "heart_rate"): (20, 250),
    ("visits", "fpg"): (1.0, 50.0),
    ("visits", "random_glucose"): (1.0, 60.0),
    ("visits", "temperature"): (30.0, 45.0),
    ("visits", "weight_kg"): (20, 300),
    ("visits", "height_cm"): (100, 230),
    ("visits", "waist_cm"): (40, 200),
    ("labs", "tc"): (0.5, 30.0),
    ("labs", "ldl_c"): (0.1, 20.0),
    ("labs", "hdl_c"): (0.1, 10.0),
    ("labs", "tg"): (0.1, 50.0),
    ("labs", "hba1c"): (3.0, 20.0),
    ("labs", "creatinine"): (10, 3000),
    ("labs", "uacr"): (0, 10000),
}


def test_the_literal_limits_here_are_the_shipped_limits():
    shipped = {
        (t, f): (lim.min, lim.max) for t, fields in plausible_limits().items() for f, lim in fields.items()
    }
    assert shipped == LIMITS


CASES = []
for (table, field), (low, high) in LIMITS.items():
    step = 0.1 if isinstance(low, float) or isinstance(high, float) or low < 1 else 1
    CASES += [
        (table, field, low, False),
        (table, field, round(low - step, 1), True),
        (table, field, high, False),
        (table, field, round(high + step, 1), True),
    ]


@pytest.mark.parametrize(
    ("table", "field", "value", "implausible"),
    CASES,
    ids=[f"{t}.{f}={v}-{'implausible' if i else 'plausible'}" for t, f, v, i in CASES],
)
def test_values_on_the_limit_are_plausible_and_just_past_it_are_kept_but_reported(
    tmp_path, table, field, value, implausible
):
    patients, problems = run(tmp_path, record(**{table: [{"date": "2026-11-01", field: value}]}))
    assert len(patients) == 1  # kept either way
    assert codes(problems) == (["D101"] if implausible else [])
    if implausible:
        assert problems[0].message.startswith(f"{table}[0].{field} {value:g} ")
        assert "outside the plausible range" in problems[0].message


# ---- dates --------------------------------------------------------------------------------------


def test_a_visit_on_the_evaluation_date_is_fine_and_the_day_after_is_kept_but_reported(tmp_path):
    _, on_day = run(tmp_path, record(visits=[{"date": "2026-11-30", "sbp": 140, "dbp": 90}]))
    patients, after = run(tmp_path, record(visits=[{"date": "2026-12-01", "sbp": 140, "dbp": 90}]))
    assert on_day == []
    assert len(patients) == 1
    assert codes(after) == ["D102"]
    assert (
        after[0].message == "visits[0].date 2026-12-01 is after the evaluation date 2026-11-30 (record kept)"
    )


def test_a_visit_on_the_day_of_death_is_fine_and_the_day_after_is_kept_but_reported(tmp_path):
    _, on_day = run(tmp_path, record(deceased_on="2026-05-01", visits=[{"date": "2026-05-01"}]))
    patients, after = run(tmp_path, record(deceased_on="2026-05-01", visits=[{"date": "2026-05-02"}]))
    assert on_day == []
    assert len(patients) == 1
    assert codes(after) == ["D103"]


def test_a_birth_date_on_the_evaluation_date_is_accepted_and_the_day_after_is_rejected(tmp_path):
    newborn = dict(id_number=None, birth_date="2026-11-30", enrolled_on="2026-11-30")
    kept, _ = run(tmp_path, record(**newborn))
    rejected, problems = run(
        tmp_path, record(id_number=None, birth_date="2026-12-01", enrolled_on="2026-12-01")
    )
    assert len(kept) == 1
    assert rejected == []
    assert "D022" in codes(problems)


def test_a_birth_date_on_the_enrolment_date_is_accepted_and_after_it_is_rejected(tmp_path):
    kept, ok = run(tmp_path, record(id_number=None, birth_date="2021-05-10"))
    rejected, problems = run(tmp_path, record(id_number=None, birth_date="2021-05-11"))
    assert len(kept) == 1 and ok == []
    assert rejected == []
    assert codes(problems) == ["D023"]


def test_a_malformed_date_rejects_the_record_and_says_how_to_write_it(tmp_path):
    patients, problems = run(tmp_path, record(visits=[{"date": "2026-02-30", "sbp": 150, "dbp": 90}]))
    assert patients == []
    assert codes(problems) == ["D014"]
    where = f"{tmp_path / 'roster.jsonl'}:1: D014 visits[0].date"
    assert problems[0].render("en").startswith(f"{where}: not a date ('2026-02-30')")
    assert problems[0].hint == "write the date as YYYY-MM-DD, e.g. 2026-03-12"
    assert problems[0].render().startswith(f"{where}：不是日期（'2026-02-30'）")
    assert "提示: 日期请写成 YYYY-MM-DD，如 2026-03-12" in problems[0].render()


# ---- identity and vocabulary --------------------------------------------------------------------


def test_a_repeated_patient_id_rejects_the_second_row_and_keeps_the_first(tmp_path):
    patients, problems = run(tmp_path, record(), record(name="李四"))
    assert [p.name for p in patients] == [None]
    assert codes(problems) == ["D021"]
    assert problems[0].line == 2
    assert f"first at {tmp_path / 'roster.jsonl'}:1" in problems[0].message


def test_different_patient_ids_are_both_kept(tmp_path):
    patients, problems = run(tmp_path, record(), record(patient_id="p2"))
    assert len(patients) == 2 and problems == []


def test_an_unknown_condition_is_rejected_with_a_did_you_mean(tmp_path):
    patients, problems = run(tmp_path, record(conditions=["diabetis"]))
    assert patients == []
    assert codes(problems) == ["D013"]
    assert problems[0].message == "conditions[0]: unknown condition 'diabetis'"
    assert problems[0].hint == "did you mean 'diabetes'?"


def test_an_unknown_field_is_rejected_with_a_did_you_mean(tmp_path):
    patients, problems = run(tmp_path, record(visits=[{"date": "2026-11-01", "spb": 150}]))
    assert codes(problems) == ["D011"]
    assert problems[0].message == "visits[0].spb: unknown field 'spb'"
    assert problems[0].hint == "did you mean 'sbp'?"


def test_a_number_written_as_text_is_rejected_in_the_documented_format(tmp_path):
    _, problems = run(tmp_path, record(visits=[{"date": "2026-11-01", "sbp": "150"}]))
    path = tmp_path / "roster.jsonl"
    assert problems[0].render("en").splitlines()[0] == f"{path}:1: D015 visits[0].sbp: not a number ('150')"
    assert problems[0].render().splitlines()[0] == f"{path}:1: D015 visits[0].sbp：不是数字（'150'）"


def test_a_missing_required_field_is_rejected(tmp_path):
    _, problems = run(tmp_path, record(enrolled_on=None))
    assert codes(problems) == ["D010"]
    assert problems[0].message == "enrolled_on: required field missing"


def test_unparseable_lines_and_repeated_keys_are_rejected_with_their_line_numbers(tmp_path):
    patients, problems = run(
        tmp_path,
        record(),
        raw_lines=['{"patient_id": "p2",', "[1, 2]", '{"patient_id": "p3", "sex": "M", "sex": "F"}'],
    )
    assert len(patients) == 1
    assert [(p.code, p.line) for p in problems] == [("D001", 2), ("D003", 3), ("D002", 4)]
    assert problems[2].message == "key 'sex' appears twice in one object"


def test_a_repeated_key_inside_a_visit_is_found_too(tmp_path):
    line = json.dumps(record(visits=[{"date": "2026-11-01", "sbp": 150}])).replace(
        '"sbp": 150', '"sbp": 150, "sbp": 90'
    )
    _, problems = run(tmp_path, raw_lines=[line])
    assert codes(problems) == ["D002"]


def test_a_string_value_that_looks_like_a_key_is_not_a_repeated_key(tmp_path):
    patients, problems = run(tmp_path, record(name='x": 1, "y'))
    assert len(patients) == 1 and problems == []


def test_without_a_callback_the_first_rejected_record_raises(tmp_path):
    path = tmp_path / "roster.jsonl"
    path.write_text(json.dumps(record(conditions=["diabetis"])) + "\n", encoding="utf-8")
    with pytest.raises(SangaoError) as raised:
        list(read_roster(path, as_of=AS_OF))
    assert raised.value.problems[0].code == "D013"


# ---- property: any line gives a record or located D problems, never a crash ----------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_field_names = st.sampled_from(
    [
        "patient_id",
        "sex",
        "birth_date",
        "conditions",
        "enrolled_on",
        "visits",
        "labs",
        "id_number",
        "name",
        "history",
        "screenings",
        "smoker",
        "deceased_on",
    ]
)
_near_records = st.builds(
    lambda base, extra: {**base, **extra},
    st.just(record()),
    st.dictionaries(_field_names, _json_values, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_near_records.map(json.dumps), _json_values.map(json.dumps), st.text(max_size=40)))
def test_any_line_gives_a_record_or_located_d_problems(line):
    item = line_item("r.jsonl", 7, line.replace("\n", " ").strip() or "x")
    patient, problems, findings = validate_item(item, AS_OF)
    assert (patient is None) == bool(problems)
    for problem in problems + findings:
        assert problem.code.startswith("D") and (problem.file, problem.line) == ("r.jsonl", 7)
        assert VALID_MALE not in problem.render()


# ---- symptom codes ------------------------------------------------------------------------------


def test_a_known_symptom_code_is_kept(tmp_path):
    patients, problems = run(tmp_path, record(visits=[{"date": "2026-11-02", "symptoms": ["chest_pain"]}]))
    assert [p.patient_id for p in patients] == ["p1"] and problems == []


def test_a_misspelt_symptom_code_rejects_the_record_with_a_did_you_mean(tmp_path):
    patients, problems = run(tmp_path, record(visits=[{"date": "2026-11-02", "symptoms": ["chest_pian"]}]))
    assert patients == []
    assert codes(problems) == ["D018"]
    assert "chest_pian" in problems[0].message and "did you mean 'chest_pain'" in problems[0].hint
    assert problems[0].line == 1
