"""The assessment's record decoder (store/fast_json.py `decode_record`) takes exactly the lines its
rules, written the plain way, take: the keys the line wrote (`keys_written`) are the record's
fields holding something other than their default; the resident ID is right; no condition, history
code or child item is listed twice; the birth date is not after enrolment. A line it takes is one
the slow path (store/importer.py `validate_item`, as store/roster_source.py calls it) reads to the
same record with no problem and no finding but those that keep the record as it is (D101 an
implausible value, D107 a date before birth, D103 a date after death), and assesses to the same
line. Checked on every
base record, on the hostile lines and mutated lines of tests/test_fast_json.py, and on a generated
roster. Also the two shortcuts under it: the resident-ID check (store/validation.py `_valid_id`)
against the GB 11643 check digit computed one digit at a time, and a pattern of plain words read
as a Literal."""

from __future__ import annotations

import json
import random
import typing
from datetime import date, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from test_fast_json import AS_OF, BASES, HOSTILE, mutate

from engine.assess import json_line
from engine.parallel import AssessOptions, build_assessor
from pathways import resident_id
from pathways.models import Patient
from pathways.synthetic import generate_jsonl
from reports.assessments import to_json_line
from store import fast_json
from store.importer import validate_item
from store.readers.jsonl import keys_written, line_item
from store.validation import _valid_id


def _set_keys(struct) -> int:
    """Fields of a record and of its children holding something other than None or ()."""
    total = 0
    for value in msgspec.structs.astuple(struct):
        if value is None or value == ():
            continue
        total += 1
        if isinstance(value, tuple):
            total += sum(_set_keys(item) for item in value if isinstance(item, msgspec.Struct))
    return total


def plain_decode_record(line: bytes | str):
    """`decode_record`'s rules, one at a time."""
    try:
        record = fast_json.decoder(True).decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if keys_written(line) != _set_keys(record):
        return None
    if record.id_number is not None and not _gb11643_ok(record.id_number, record.birth_date, record.sex):
        return None
    if len(set(record.conditions)) != len(record.conditions):
        return None
    if len({item.code for item in record.history}) != len(record.history):
        return None
    for name in ("visits", "labs", "screenings", "referrals"):
        items = getattr(record, name)
        if len(set(items)) != len(items):
            return None
    return None if record.birth_date > record.enrolled_on else record


KEPT_FINDINGS = {"D101", "D103", "D107"}  # the record is kept as it was given


def assert_same_verdict(line: str | bytes) -> bool:
    """`decode_record` and the plain rules agree on the line; a record taken is the one the slow
    path reads, with no problem and no finding but KEPT_FINDINGS. True if taken."""
    record = fast_json.decode_record(line)
    assert record == plain_decode_record(line)
    if record is None:
        return False
    text = line if isinstance(line, str) else line.decode()
    patient, problems, findings = validate_item(line_item("r.jsonl", 1, text), None)
    assert problems == []
    assert {f.code for f in findings} <= KEPT_FINDINGS
    assert patient == Patient.model_validate_json(line)
    assert Patient.model_validate(msgspec.to_builtins(record, builtin_types=(date,))) == patient
    return True


def test_every_base_record_gets_the_plain_verdict_as_bytes_and_as_text_and_roster_ones_are_taken():
    verdicts = []
    for base in BASES:
        line = json.dumps(base, ensure_ascii=False)
        verdicts.append(assert_same_verdict(line))
        assert assert_same_verdict(line.encode()) is verdicts[-1]
    # BASE writes `"symptoms": []` and `"new_complication": null`: pydantic's path takes it
    assert verdicts == [False] + [True] * (len(BASES) - 1)


def _without_written_defaults(line: str) -> str:
    """A hostile line of tests/test_fast_json.py without BASE's `"symptoms": []` and
    `"new_complication": null`, which alone would send every one of them to pydantic's path."""
    return line.replace('"symptoms": [], ', "").replace(', "new_complication": null', "")


def test_the_hostile_lines_get_the_verdict_of_the_plain_rules():
    taken = {what for what, line, _ in HOSTILE if assert_same_verdict(_without_written_defaults(line))}
    findings_only = {"a visit after as_of", "a visit before birth", "a visit after deceased_on"}
    assert {"unmutated", "an escaped key", "no ID", *findings_only} <= taken
    assert not taken & {"a repeated key in a visit", "a colon inside a name", "enrolled before birth"}


def test_mutated_lines_get_the_verdict_of_the_plain_rules_both_ways():
    rnd = random.Random(20261201)
    verdicts = [assert_same_verdict(mutate(rnd, rnd.choice(BASES)).encode()) for _ in range(800)]
    assert sum(verdicts) >= 80 and len(verdicts) - sum(verdicts) >= 400  # not vacuous either way


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(0, len(BASES) - 1))
def test_any_mutated_line_gets_the_verdict_of_the_plain_rules(rnd, which):
    for _ in range(4):
        assert_same_verdict(mutate(rnd, BASES[which]))


def _with_repeated(line: bytes, item: bytes) -> bytes:
    """The line with the child item `item` (its JSON text) written twice."""
    assert line.count(item) == 1
    return line.replace(item, item + b"," + item)


def test_a_generated_roster_is_taken_whole_and_each_kind_of_bad_line_is_left_to_pydantic():
    lines = [line.encode() for line in generate_jsonl(300, 5, AS_OF)]
    assert all(assert_same_verdict(line) for line in lines)
    line = next(x for x in lines if b'"screenings":[{' in x and b'"deceased_on"' not in x)
    screening = b"{" + line.split(b'"screenings":[{', 1)[1].split(b"}", 1)[0] + b"}"
    record = json.loads(line)
    enrolled = f'"enrolled_on":"{record["enrolled_on"]}"'.encode()
    born = f'"birth_date":"{record["birth_date"]}"'.encode()
    bad = [
        line.replace(b'"sex":', b'"sex":"M","sex":', 1),  # a repeated key: D002
        line.replace(b"{", b'{"team":null,', 1),  # an explicit null (pydantic's path takes it)
        line.replace(b'"team":"', b'"team":"a:', 1),  # a colon inside a value (likewise)
        _with_repeated(line, screening),  # the same row twice: kept once, D115
        line.replace(enrolled, b'"enrolled_on":"1900-01-01"'),  # enrolled before birth: D023
        line.replace(born, born[:-6] + b'01-01"').replace(b'"id_number":', b'"x":', 1),  # D011
    ]
    for text in bad:
        assert not assert_same_verdict(text)


def test_a_line_with_dates_out_of_order_is_taken_and_assessed_as_the_slow_path_assesses_it():
    assessor = build_assessor(AssessOptions("national-default", AS_OF, provisional_calendar=True))
    lines = [line.encode() for line in generate_jsonl(60, 7, AS_OF)]
    compared = died = 0
    for n, line in enumerate(lines):
        record = json.loads(line)
        if not record.get("visits") or "deceased_on" in record:
            continue
        born = date.fromisoformat(record["birth_date"])
        record["visits"][0]["date"] = (born - timedelta(days=1)).isoformat()  # D107
        record["history"] = [{"code": "mi", "date": "1900-01-01"}]  # D107
        if n % 2:  # died at the last visit, a lab after it: D103 (not assessed: no longer followed)
            record["deceased_on"] = record["visits"][-1]["date"]
            record["labs"] = [{"date": AS_OF.isoformat(), "ldl_c": 3.1}]
        text = json.dumps(record).encode()
        assert assert_same_verdict(text)
        patient, _, findings = validate_item(line_item("r.jsonl", 1, text.decode()), None)
        assert {f.code for f in findings} == ({"D103", "D107"} if n % 2 else {"D107"})
        died += n % 2
        if assessor.is_assessed(patient, AS_OF):
            model_line = to_json_line(assessor.assess(patient, AS_OF).assessment)
            assert json_line(assessor.assess_data(fast_json.decode_record(text), AS_OF)) == model_line
            compared += 1
    assert died >= 5
    assert compared >= 5


# ---- the resident-ID shortcut -------------------------------------------------------------------


def _gb11643_ok(number: str, born: date, sex: str) -> bool:
    """An 18-character resident ID of ASCII digits (and X last) whose check digit, birth date and
    sex are right, checked one rule at a time (pathways/resident_id.py's check digit)."""
    head = number[:17]
    return (
        len(number) == 18
        and number.isascii()
        and head.isdigit()
        and number[17] == resident_id.check_digit(head)
        and head[6:14] == born.strftime("%Y%m%d")
        and sex == ("M" if int(head[16]) % 2 else "F")
    )


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A[0-9]{17}\Z").map(lambda h: h + resident_id.check_digit(h)),
        st.from_regex(r"\A[0-9]{17}[0-9X]\Z"),
        st.text(alphabet="0123456789X x_+-１", min_size=17, max_size=19),
    ),
    st.dates(date(1900, 1, 1), date(2030, 12, 31)),
    st.sampled_from(["M", "F"]),
    st.booleans(),
)
def test_the_resident_id_shortcut_agrees_with_the_check_digit_worked_digit_by_digit(number, born, sex, match):
    if match and len(number) == 18:  # the birth date and sex written in the ID, so it can pass
        number = number[:6] + born.strftime("%Y%m%d") + number[14:]
        if number[:17].isdigit() and number.isascii():
            number = number[:17] + resident_id.check_digit(number[:17])
            sex = "M" if int(number[16]) % 2 else "F"
    assert _valid_id(number, born, sex) is _gb11643_ok(number, born, sex)


def test_the_resident_id_shortcut_takes_a_right_id_and_refuses_each_wrong_part():
    born = date(1958, 3, 2)
    number = "370202195803021236"
    assert _valid_id(number, born, "M")
    assert not _valid_id(number, born, "F")
    assert not _valid_id(number, date(1958, 3, 3), "M")
    assert not _valid_id(number[:17] + "7", born, "M")
    assert not _valid_id("+" + number[1:], born, "M")  # int() would read a sign
    assert not _valid_id(number[:5] + "_" + number[6:], born, "M")  # and an underscore


# ---- a pattern of plain words -------------------------------------------------------------------


class _Words(BaseModel):
    region: str | None = Field(None, pattern="^(north|south)$")
    code: str = Field(pattern="^[a-z]+$")  # not plain words: stays a pattern


def test_a_pattern_of_plain_words_becomes_a_literal_and_any_other_stays_a_pattern():
    struct = fast_json._struct(_Words, "", {}, frozenset(), defaults=True)
    types = {f.name: f.type for f in msgspec.structs.fields(struct)}
    assert types["region"] == typing.Literal["north", "south"] | None
    assert typing.get_origin(types["code"]) is typing.Annotated
    decode = msgspec.json.Decoder(struct).decode
    assert decode(b'{"region":"south","code":"ab"}').region == "south"
    for region in ("north\n", "North", " north", "northsouth", "north|south", ""):
        with pytest.raises(msgspec.ValidationError):
            decode(json.dumps({"region": region, "code": "ab"}).encode())


def test_the_record_types_region_is_the_literal_of_the_models_pattern():
    fields = {f.name: f.type for f in msgspec.structs.fields(fast_json.record_type())}
    assert fields["region"] == typing.Literal["north", "south"] | None
    assert Patient.model_fields["region"].metadata[0].pattern == "^(north|south)$"
