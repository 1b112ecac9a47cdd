"""The assessment's hot path (engine/assess.py `assess_data` on store/fast_json.py records, encoded by
`json_line`, or written from pieces by `Assessor.line`) gives, byte for byte, the line the pydantic
path gives (`assess` → `Assessment` → reports/assessments.py `to_json_line`), for every patient of a
generated roster and at several dates."""

import json
from datetime import date

import pytest

from engine.assess import json_line
from engine.parallel import AssessOptions, build_assessor
from pathways.models import Patient
from pathways.synthetic import generate_jsonl
from reports.assessments import to_json_line
from store import fast_json

AS_OF = date(2026, 11, 30)


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return [line.encode() for line in generate_jsonl(400, 11, AS_OF)]


def test_a_generated_roster_line_decodes_to_a_record_that_reads_like_its_patient(lines):
    for line in lines[:50]:
        record = fast_json.decode_record(line)
        patient = Patient.model_validate_json(line)
        assert record is not None
        for name in Patient.model_fields:
            mine, theirs = getattr(record, name), getattr(patient, name)
            if name in fast_json.CHILD_LISTS:
                assert [fast_json.astuple(c) for c in mine] == [tuple(c.__dict__.values()) for c in theirs]
            else:
                assert mine == theirs, name


@pytest.mark.parametrize("as_of", [AS_OF, date(2026, 3, 1), date(2026, 7, 15)])
def test_the_record_path_and_the_model_path_write_the_same_bytes(lines, as_of):
    assessor = build_assessor(AssessOptions("national-default", as_of, provisional_calendar=True))
    compared = warned = 0
    for line in lines:
        patient = Patient.model_validate_json(line)
        if not assessor.is_assessed(patient, as_of):
            continue
        record = fast_json.decode_record(line)
        model_line = to_json_line(assessor.assess(patient, as_of).assessment)
        assert json_line(assessor.assess_data(record, as_of)) == model_line
        assert json_line(assessor.assess_data(patient, as_of)) == model_line
        line, color = assessor.assess_line(record, as_of)
        assert line == model_line
        assert color == json.loads(model_line)["color"]
        warned += '"warnings": []' not in line
        compared += 1
    assert compared > 250
    if as_of == AS_OF:  # follow-ups in 2027, a provisional year: lines with warnings are compared too
        assert warned > 0


def test_a_line_with_a_repeated_key_or_an_explicit_null_is_left_to_pydantic(lines):
    line = lines[0]
    assert fast_json.decode_record(line) is not None
    assert fast_json.decode_record(line.replace(b'{"patient_id"', b'{"team":"x","patient_id"', 1)) is None
    assert fast_json.decode_record(line.replace(b'{"patient_id"', b'{"team":null,"patient_id"', 1)) is None
    assert fast_json.decode_record(line.replace(b'"sex":"', b'"sex":"X', 1)) is None


def test_an_implausible_value_keeps_the_record_on_the_hot_path_as_read_roster_keeps_it(lines):
    assessor = build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))
    line = next(x for x in lines if b'"sbp":' in x)
    before = line.split(b'"sbp":', 1)[1].split(b",", 1)[0]
    implausible = line.replace(b'"sbp":' + before, b'"sbp":400', 1)
    record = fast_json.decode_record(implausible)
    assert record is not None and 400.0 in [v.sbp for v in record.visits]
    assert fast_json.decode(implausible) is None  # the importer's clean test still refuses it (D101)
    patient = Patient.model_validate_json(implausible)
    model_line = to_json_line(assessor.assess(patient, AS_OF).assessment)
    assert json_line(assessor.assess_data(record, AS_OF)) == model_line


def test_a_reason_text_kept_for_one_patient_is_reused_only_for_values_of_the_same_type():
    assessor = build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))
    order = ("care.new_patient",)  # its text reads enrolled_days
    first = assessor._reason_texts(order, {"enrolled_days": 1}, {})
    again = assessor._reason_texts(order, {"enrolled_days": 1}, {})
    flag = assessor._reason_texts(order, {"enrolled_days": True}, {})  # equal to 1, written otherwise
    assert first == again and "1" in first[0]
    assert flag != first and "true" in flag[0]
    assert assessor._texts["care.new_patient"][0] == ("enrolled_days",)


def test_a_reason_text_filled_from_an_unhashable_value_is_filled_and_not_kept():
    assessor = build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))
    order = ("care.new_patient",)
    kept = len(assessor._texts["care.new_patient"][1])
    texts = assessor._reason_texts(order, {"enrolled_days": [3]}, {})
    assert "3" in texts[0]
    assert len(assessor._texts["care.new_patient"][1]) == kept
