"""Fuzzing the JSONL reader: records with any JSON in any field, text that is not JSON, deep
nesting, escaped lone surrogates, bytes that are not text. Every line is imported or rejected
alone (a good line beside bad ones is imported), or the whole file fails with a located error."""

from __future__ import annotations

import json

from fuzz_support import AS_OF, assert_located, assert_nothing_dropped, fuzz_settings, scratch, tried
from hypothesis import given
from hypothesis import strategies as st
from roster_files import record

from pathways.errors import SangaoError
from pathways.models import Lab, Patient, Visit

FOLDER = scratch("jsonl")
PATIENT_FIELDS = list(Patient.model_fields)
CHILD_FIELDS = {"visits": list(Visit.model_fields), "labs": list(Lab.model_fields)}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["2026-02-30", "1958-03-02", "1e309", "150/90", "370202195803021236", "M", "F",
                       "hypertension", "", " ", "0", "-1", "NaN", "=1+1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_records(draw) -> str:
    """A valid record with a few fields set to any JSON value, removed, or children garbled."""
    data = record(patient_id=draw(st.text(min_size=1, max_size=12)))
    data["visits"] = [{"date": "2026-03-05", "sbp": 150, "dbp": 90}]
    data["labs"] = [{"date": "2026-03-05", "ldl_c": 3.1}]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            data[draw(st.sampled_from(PATIENT_FIELDS + ["unknown_key"]))] = draw(json_values)
        else:
            child = draw(st.sampled_from(list(CHILD_FIELDS)))
            if isinstance(data.get(child), list) and data[child] and isinstance(data[child][0], dict):
                data[child][0][draw(st.sampled_from(CHILD_FIELDS[child]))] = draw(json_values)
    return json.dumps(data, ensure_ascii=draw(st.booleans()), allow_nan=True)


nasty_text = st.one_of(
    st.text(max_size=60),
    st.integers(1, 1200).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 1200).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(['{"patient_id": "x\\ud800"}', '{"name": "\\udfff"}', '{"a": 1, "a": 2}', "{}",
                     "[]", "null", '"text"', "{\"patient_id\": \"p\"", "\x00", "\ufeff{}",
                     '{"patient_id": 1e999}']),
)
lines = st.one_of(mutated_records(), nasty_text, st.binary(max_size=40).map(lambda b: b.decode("latin-1")))


@fuzz_settings(1900)
@given(st.lists(lines, max_size=4), st.integers(0, 4), st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_every_jsonl_line_is_imported_or_rejected_alone(bad_lines, at, encoding):
    tried("jsonl")
    good = json.dumps(record(patient_id="good-0f3a"))
    text = "\n".join([*bad_lines[:at], good, *bad_lines[at:]]) + "\n"
    path = FOLDER / "roster.jsonl"
    path.write_bytes(text.encode(encoding, errors="surrogatepass"))
    assert_nothing_dropped([path])


@fuzz_settings(8000)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_jsonl_file_end_in_rows_or_a_located_error(data):
    tried("jsonl")
    path = FOLDER / "bytes.jsonl"
    path.write_bytes(data)
    assert_nothing_dropped([path])


@fuzz_settings(100)
@given(st.lists(lines, min_size=1, max_size=4))
def test_importing_fuzzed_jsonl_keeps_the_good_line_and_counts_every_row(bad_lines):
    """Through the database (the lone-surrogate line once broke the whole file's transaction)."""
    from store.importer import import_files

    tried("jsonl")
    good = json.dumps(record(patient_id="good-0f3a"))
    path = FOLDER / "import.jsonl"
    path.write_bytes(("\n".join([good, *bad_lines]) + "\n").encode("utf-8", errors="surrogatepass"))
    db = FOLDER / "import.db"
    db.unlink(missing_ok=True)
    try:
        report = import_files([path], f"sqlite:///{db}", AS_OF)
    except SangaoError as error:  # only the database could fail as a whole here
        assert_located(error, db.name)
        return
    for f in report.files:
        assert f.rows_read == f.imported + f.rejected, f
    if not any(f.error for f in report.files):
        assert report.imported >= 1  # the good line
