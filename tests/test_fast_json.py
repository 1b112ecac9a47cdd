"""The JSONL fast path (store/fast_json.py) can only make a clean import faster: a line it takes
is one that pydantic (pathways.models.Patient) reads to the same record and store/validation.py
finds nothing in, with no repeated key; and an import with it stores exactly what an import
without it stores. Checked on mutated generated records (Hypothesis and a seeded count), on
literal hostile lines, on every plausible.yaml limit, and on an upsert."""

from __future__ import annotations

import copy
import json
import math
import random
import re
import sqlite3
from datetime import date, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, field_validator
from roster_files import export, write_jsonl

from pathways import resident_id
from pathways.models import HistoryItem, Lab, Patient, Referral, Screening, Visit
from pathways.synthetic import generate_roster
from store import fast_json, importer, writer
from store.exporter import record_json
from store.importer import import_files, validate_item
from store.readers.jsonl import line_item
from store.validation import check_patient, plausible_limits, symptom_codes

AS_OF = date(2026, 11, 30)
VALID_MALE = "370202195803021236"  # born 1958-03-02, male, check digit right

BASE = {  # every field of every model given once, clean
    "patient_id": "370202-000123",
    "id_number": VALID_MALE,
    "name": "张三",
    "sex": "M",
    "birth_date": "1958-03-02",
    "team": "市北区-家医团队03",
    "institution": "某某社区卫生服务中心",
    "region": "north",
    "urban": True,
    "conditions": ["hypertension", "diabetes", "dyslipidemia"],
    "enrolled_on": "2021-05-10",
    "moved_out_on": "2026-10-01",
    "smoker": True,
    "pregnant": False,
    "breastfeeding": False,
    "history": [{"code": "stroke", "date": "2019-07-01"}, {"code": "ckd"}],
    "visits": [
        {"date": "2026-06-03", "sbp": 148, "dbp": 92, "symptoms": ["chest_pain", "palpitations"]},
        {
            "date": "2026-09-03",
            "sbp": 152.5,
            "dbp": 94,
            "heart_rate": 78,
            "fpg": 7.9,
            "random_glucose": 9.1,
            "temperature": 36.6,
            "weight_kg": 72.5,
            "height_cm": 168,
            "waist_cm": 92,
            "symptoms": [],
            "adverse_reaction": False,
            "new_complication": None,
        },
    ],
    "labs": [
        {"date": "2026-03-12", "tc": 5.9, "ldl_c": 3.8, "hdl_c": 0.9, "tg": 2.1, "hba1c": 7.4},
        {"date": "2026-03-13", "creatinine": 98, "uacr": 45},
    ],
    "screenings": [
        {"date": "2026-03-12", "kind": "fundus", "result": "normal", "grade": "no_dr"},
        {"date": "2026-03-12", "kind": "abi", "result": "abnormal", "value": 0.86},
    ],
    "referrals": [
        {"date": "2026-06-01", "to": "county", "reason": "htn.two_uncontrolled", "returned_on": "2026-06-20"}
    ],
}
ROSTER = [record_json(p) for p in generate_roster(40, 3, AS_OF)]
BASES = [BASE, *ROSTER]

CHILD_MODELS = {
    "history": HistoryItem,
    "visits": Visit,
    "labs": Lab,
    "screenings": Screening,
    "referrals": Referral,
}
LIMITS = plausible_limits()


def taken(line: str, as_of: date | None = AS_OF):
    """The fast path's record of a line, or None when the line goes to pydantic's path."""
    record = fast_json.decode(line)
    return record if record is not None and fast_json.is_clean(record, line, as_of) else None


def _no_repeated_key(pairs):
    keys = [k for k, _ in pairs]
    assert len(set(keys)) == len(keys), f"repeated key among {keys}"
    return dict(pairs)


def _fields_sets(patient: Patient) -> list:
    return [patient.model_fields_set] + [
        [child.model_fields_set for child in getattr(patient, name)] for name in CHILD_MODELS
    ]


def assert_taken_only_if_clean(line: str) -> bool:
    """The property: when the fast path takes the line, pydantic and the validation rules accept
    it without a word, and the fast record is that patient (same fields given). True if taken."""
    record = taken(line)
    if record is None:
        return False
    patient = Patient.model_validate_json(line)
    assert check_patient(patient, AS_OF) == []
    json.loads(line, object_pairs_hook=_no_repeated_key)
    slow, problems, findings = validate_item(line_item("r.jsonl", 1, line), AS_OF)  # the import's slow path
    assert (slow, problems, findings) == (patient, [], [])
    again = Patient.model_validate(fast_json.to_builtins(record))
    assert again == patient
    assert _fields_sets(again) == _fields_sets(patient)
    assert fast_json.keys_given(record) == importer._keys_given(patient)
    return True


# ---- the mutation engine ------------------------------------------------------------------------


class Raw(str):
    """Number text written into the line as it is (1e400, NaN …): json.dumps cannot write it."""


class Pairs(list):
    """A JSON object written from (key, value) pairs, so a key can appear twice."""


def encode(obj, ascii_only: bool, item_sep: str, key_sep: str) -> str:
    def enc(o) -> str:
        if isinstance(o, Raw):
            return str(o)
        if isinstance(o, Pairs):
            return "{" + item_sep.join(f"{enc(k)}{key_sep}{enc(v)}" for k, v in o) + "}"
        if isinstance(o, dict):
            return enc(Pairs(o.items()))
        if isinstance(o, (list, tuple)):
            return "[" + item_sep.join(enc(v) for v in o) + "]"
        return json.dumps(o, ensure_ascii=ascii_only)

    return enc(obj)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_UNIT = re.compile(r"\\u[0-9a-fA-F]{4}|\\.|.", re.S)  # one character of a JSON string's text


def escape_one_char(rnd: random.Random, line: str) -> str:
    """One plain character inside a JSON string (key or value) written as a \\uXXXX escape."""
    spots = [
        m.start() + 1 + u.start()
        for m in _STRING.finditer(line)
        for u in _UNIT.finditer(m.group()[1:-1])
        if len(u.group()) == 1 and ord(u.group()) < 0x10000
    ]
    if not spots:
        return line
    at = rnd.choice(spots)
    return f"{line[:at]}\\u{ord(line[at]):04x}{line[at + 1 :]}"


def _iso(d: date) -> str:
    return d.isoformat()


def _date_or(text, default: date) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        return default


def _bad_dates(rec: dict) -> list:
    born = _date_or(rec.get("birth_date"), date(1958, 3, 2))
    died = _date_or(rec.get("deceased_on"), AS_OF)
    day = timedelta(days=1)
    return [
        "2026-02-30",
        "2026-2-3",
        "2026-01-01T00:00:00",
        "2026-01-01Z",
        "2026-13-01",
        "2024-02-29",
        "2023-02-29",
        "0000-01-01",
        " 2026-01-01",
        "２０２６-01-01",
        20260101,
        1767225600,
        True,
        None,
        _iso(AS_OF),
        _iso(AS_OF + day),
        _iso(born - day),
        _iso(born),
        _iso(born + day),
        _iso(died),
        _iso(died + day),
        "2020-06-15",
    ]


def _numbers(field: str, table: str) -> list:
    limit = LIMITS.get(table, {}).get(field)
    common = [
        "150",
        True,
        False,
        None,
        Raw("1e400"),
        Raw("-1e400"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("1E2"),
        Raw("-0"),
        10**30,
        -1,
        0,
        "2026-01-01",
        [150],
    ]
    if limit is None:
        return [*common, 0.86, 1e308]
    return [
        *common,
        limit.min,
        limit.max,
        math.nextafter(limit.min, -math.inf),
        math.nextafter(limit.max, math.inf),
        limit.min - 0.5,
        limit.max + 0.5,
        (limit.min + limit.max) / 2,
        int(limit.min + limit.max) // 2,
        Raw(f"{limit.max:g}e0"),
    ]


def _id_numbers(rec: dict) -> list:
    born = _date_or(rec.get("birth_date"), date(1958, 3, 2))
    sex = rec.get("sex") if rec.get("sex") in ("M", "F") else "M"
    head = f"370202{born:%Y%m%d}12{3 if sex == 'M' else 4}"
    good = head + resident_id.check_digit(head)
    other_sex = head[:-1] + ("4" if sex == "M" else "3")
    other_day = f"370202{born + timedelta(days=1):%Y%m%d}12{head[-1]}"
    wrong_digit = good[:17] + ("0" if good[17] != "0" else "1")
    legacy = head[:6] + head[8:14] + head[14:]  # the 15-digit form (year without century)
    with_x = next(
        h + "X"
        for h in (f"370202{born:%Y%m%d}{n:03d}" for n in range(1000))
        if resident_id.check_digit(h) == "X"
    )
    return [
        good,
        other_sex + resident_id.check_digit(other_sex),
        other_day + resident_id.check_digit(other_day),
        wrong_digit,
        legacy,
        good[:17],
        with_x,
        with_x.lower(),
        "３" + good[1:],
        int(good[:17]),
        "",
        None,
    ]


CODES = {
    "sex": ["M", "F", "X", "m", "", "男", 1, None],
    "region": ["north", "south", "North", "east", "", " north", "north ", "north\n", 1, None],
    "kind": ["fundus", "abi", "uacr", "ecg", "Fundus", "fundus2", "", None, 3],
    "result": ["normal", "abnormal", "Normal", "pending", None],
    "grade": ["no_dr", "mild_npdr", "pdr2", "", None],
    "code": ["stroke", "ckd", "mi", "fh", "strok", "CKD", "", None],
}
TEXTS = ["p:1", "王: 二", 'a"b', "a\\b", "\u2028", "x\u0000y", "", " ", 5, True, None, ["a"]]
BOOLS = [True, False, 1, 0, "true", "yes", None]
CONDITIONS = [
    [],
    ["hypertension", "hypertension"],
    ["hypertensionn"],
    ["diabetes"],
    ["dyslipidemia", "hypertension"],
    "hypertension",
    None,
    [None],
]
SYMPTOMS = [
    [],
    ["chest_pain"],
    ["chest-pain"],
    ["chest_pain", "chest_pain"],
    ["vomiting", "palpitations"],
    "chest_pain",
    [1],
    None,
]
DATE_FIELDS = {"date", "birth_date", "enrolled_on", "deceased_on", "moved_out_on", "returned_on"}
NUMBER_FIELDS = {n for m in (Visit, Lab) for n in m.model_fields if n != "date"} - {
    "symptoms",
    "adverse_reaction",
    "new_complication",
} | {"value"}
BOOL_FIELDS = {"urban", "smoker", "pregnant", "breastfeeding", "adverse_reaction", "new_complication"}


def values_for(field: str, table: str, rec: dict) -> list:
    if field in DATE_FIELDS:
        return _bad_dates(rec)
    if field in NUMBER_FIELDS:
        return _numbers(field, table)
    if field in BOOL_FIELDS:
        return BOOLS
    if field in CODES:
        return CODES[field]
    if field == "id_number":
        return _id_numbers(rec)
    if field == "conditions":
        return CONDITIONS
    if field == "symptoms":
        return SYMPTOMS
    if field in CHILD_MODELS:
        return [None, [], {}, [{}]]
    return TEXTS


def _levels(rec: dict) -> list[tuple[dict, str, type[BaseModel]]]:
    """(object, table, model) of the record and of each of its child items."""
    out: list = [(rec, "", Patient)]
    for name, model in CHILD_MODELS.items():
        items = rec.get(name)
        if isinstance(items, list):
            out += [(item, name, model) for item in items if isinstance(item, dict)]
    return out


def mutate(rnd: random.Random, base: dict) -> str:
    """One to three random mutations of a valid record, written as one JSONL line."""
    rec = copy.deepcopy(base)
    escapes = 0
    duplicate: tuple | None = None
    for _ in range(rnd.randint(1, 3)):
        obj, table, model = rnd.choice(_levels(rec))
        kind = rnd.choice(
            ["set", "set", "set", "set", "delete", "unknown_key", "repeat", "dup_key", "escape"]
        )
        if kind == "set":
            field = rnd.choice(list(model.model_fields))
            obj[field] = rnd.choice(values_for(field, table, rec))
        elif kind == "delete" and obj:
            del obj[rnd.choice(list(obj))]
        elif kind == "unknown_key":
            obj[rnd.choice(["sbpp", "Sex", "", "patient id", "a:b", "visit"])] = rnd.choice([1, None, "x"])
        elif kind == "repeat":  # a condition, history code or child item listed twice
            name = rnd.choice(["conditions", *CHILD_MODELS])
            if isinstance(rec.get(name), list) and rec[name]:
                rec[name].append(copy.deepcopy(rnd.choice(rec[name])))
        elif kind == "dup_key" and obj:
            key = rnd.choice(list(obj))
            duplicate = (id(obj), key, rnd.choice([obj[key], *values_for(key, table, rec)]))
        elif kind == "escape":
            escapes += 1
    if duplicate is not None:
        target, key, value = duplicate
        rec = _with_duplicate(rec, target, key, value, rnd.random() < 0.5)
    line = encode(
        rec,
        ascii_only=rnd.random() < 0.3,
        item_sep=rnd.choice([", ", ",", ",\t"]),
        key_sep=rnd.choice([": ", ":", " : ", " :"]),
    )
    for _ in range(escapes):
        line = escape_one_char(rnd, line)
    return line


def _with_duplicate(obj, target: int, key: str, value, before: bool):
    if isinstance(obj, dict):
        pairs = Pairs((k, _with_duplicate(v, target, key, value, before)) for k, v in obj.items())
        if id(obj) == target:
            pairs.insert(0 if before else len(pairs), (key, value))
        return pairs
    if isinstance(obj, list):
        return [_with_duplicate(v, target, key, value, before) for v in obj]
    return obj


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


# ---- 1. differential property -------------------------------------------------------------------


def test_the_fast_path_takes_every_unmutated_valid_record():
    lines = [_line(r) for r in BASES]
    assert all(taken(line) is not None for line in lines)
    assert all(assert_taken_only_if_clean(line) for line in lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(0, len(BASES) - 1))
def test_a_mutated_line_the_fast_path_takes_is_one_pydantic_and_validation_accept_unchanged(rnd, which):
    for _ in range(4):
        assert_taken_only_if_clean(mutate(rnd, BASES[which]))


def test_mutated_lines_are_both_taken_and_refused_by_the_fast_path():
    rnd = random.Random(20261130)
    verdicts = [assert_taken_only_if_clean(mutate(rnd, rnd.choice(BASES))) for _ in range(600)]
    took, refused = sum(verdicts), len(verdicts) - sum(verdicts)
    print(f"mutated lines: {took} taken by the fast path, {refused} refused")
    assert took >= 60 and refused >= 300  # not vacuous either way


def _base_line(**changes) -> str:
    record = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is ...:
            del record[key]
        else:
            record[key] = value
    return _line(record)


def _visit_line(**fields) -> str:
    return _base_line(visits=[{"date": "2026-06-03", **fields}])


_BASE_LINE = _line(BASE)
HOSTILE = [  # (what, line, taken by the fast path?)
    ("unmutated", _BASE_LINE, True),
    ("sbp as a string", _visit_line(sbp="150"), False),
    ("sbp as a boolean", _visit_line(sbp=True), False),
    ("sbp as a list", _visit_line(sbp=[150]), False),
    ("sbp 1e400", _visit_line(sbp=1).replace('"sbp": 1', '"sbp": 1e400'), False),
    ("abi value 1e400 (no plausible range)", _BASE_LINE.replace('"value": 0.86', '"value": 1e400'), False),
    ("abi value -1e400", _BASE_LINE.replace('"value": 0.86', '"value": -1e400'), False),
    ("abi value NaN", _BASE_LINE.replace('"value": 0.86', '"value": NaN'), False),
    (
        "abi value 10**30",
        _BASE_LINE.replace('"value": 0.86', '"value": 1000000000000000000000000000000'),
        True,
    ),
    ("birth date as a number", _base_line(birth_date=19580302), False),
    ("name as a number", _base_line(name=5), False),
    ("urban as 1", _base_line(urban=1), False),
    ("2026-02-30", _visit_line(sbp=150).replace("2026-06-03", "2026-02-30"), False),
    ("2026-2-3", _visit_line(sbp=150).replace("2026-06-03", "2026-6-3"), False),
    ("a datetime for a date", _visit_line(sbp=150).replace("2026-06-03", "2026-06-03T00:00:00"), False),
    ("a visit after as_of", _visit_line(sbp=150).replace("2026-06-03", "2026-12-01"), False),
    ("a visit on as_of", _visit_line(sbp=150).replace("2026-06-03", "2026-11-30"), True),
    ("a visit on the birth date", _visit_line(sbp=150).replace("2026-06-03", "1958-03-02"), False),
    ("a visit before birth", _visit_line(sbp=150).replace("2026-06-03", "1958-03-01"), False),
    ("a visit after deceased_on", _base_line(deceased_on="2026-09-02"), False),
    ("a visit on deceased_on", _base_line(deceased_on="2026-09-03", moved_out_on=...), True),
    ("moved out after deceased_on", _base_line(deceased_on="2026-09-30"), False),
    ("enrolled before birth", _base_line(enrolled_on="1958-03-01"), False),
    ("history dated before birth", _base_line(history=[{"code": "mi", "date": "1950-01-01"}]), False),
    ("unknown key", _base_line(sbpp=150), False),
    ("unknown key in a visit", _visit_line(sbpp=150), False),
    ("unknown sex", _base_line(sex="X"), False),
    (
        "unknown screening kind",
        _base_line(screenings=[{"date": "2026-01-01", "kind": "eyes", "result": "normal"}]),
        False,
    ),
    ("unknown condition", _base_line(conditions=["hypertensionn"]), False),
    ("unknown symptom", _visit_line(symptoms=["chest-pain"]), False),
    ("unknown history code", _base_line(history=[{"code": "strok"}]), False),
    ("a condition twice", _base_line(conditions=["diabetes", "diabetes"]), False),
    (
        "a history code twice",
        _base_line(history=[{"code": "ckd"}, {"code": "ckd", "date": "2020-01-01"}]),
        False,
    ),
    ("a repeated top-level key", _BASE_LINE.replace('"sex": "M"', '"sex": "M", "sex": "F"'), False),
    ("a repeated key, same value", _BASE_LINE.replace('"sex": "M"', '"sex": "M", "sex": "M"'), False),
    (
        "a repeated key in a visit",
        _visit_line(sbp=150).replace('"sbp": 150', '"sbp": 150, "sbp": 140'),
        False,
    ),
    ("a repeated key spaced", _visit_line(sbp=150).replace('"sbp": 150', '"sbp" :150,"sbp"\t:\t140'), False),
    ("a colon inside a name", _base_line(name="王: 二"), False),
    ("a colon written as an escape", _base_line(name="王\\u003a 二").replace("\\\\u003a", "\\u003a"), True),
    ("an escaped key", _BASE_LINE.replace('"sex"', '"s\\u0065x"'), True),
    ("an escaped key repeated", _BASE_LINE.replace('"sex": "M"', '"sex": "M", "s\\u0065x": "F"'), False),
    ("an escaped code", _BASE_LINE.replace('"sex": "M"', '"sex": "\\u004d"'), True),
    ("explicit null for an optional field", _base_line(name=None, deceased_on=None), True),
    ("explicit null for a required field", _base_line(birth_date=None), False),
    ("explicit null for a list", _base_line(visits=None), False),
    ("empty conditions", _base_line(conditions=[]), False),
    ("empty child lists", _base_line(history=[], visits=[], labs=[], screenings=[], referrals=[]), True),
    ("a required field missing", _base_line(enrolled_on=...), False),
    ("15-digit resident ID", _base_line(id_number="370202580302123"), False),
    ("wrong check digit", _base_line(id_number=VALID_MALE[:17] + "7"), False),
    ("ID disagreeing with the birth date", _base_line(birth_date="1958-03-03"), False),
    ("ID disagreeing with the sex", _base_line(sex="F"), False),
    ("ID with full-width digit", _base_line(id_number="３" + VALID_MALE[1:]), False),
    ("no ID", _base_line(id_number=...), True),
    ("empty patient id", _base_line(patient_id=""), False),
    ("a lone surrogate escape", _BASE_LINE.replace('"张三"', '"\\ud800"'), False),
    ("a raw control character", _base_line(name="a\tb").replace("\\t", "\t"), False),
    ("trailing characters", _BASE_LINE + " x", False),
    ("region written in capitals", _base_line(region="North"), False),
    ("region padded", _base_line(region="north "), False),
]


@pytest.mark.parametrize(
    ("line", "expected"), [(line, t) for _, line, t in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_line_is_taken_only_when_clean(line, expected):
    assert assert_taken_only_if_clean(line) is expected


# msgspec checks a `pattern` with Python's re.search, where `$` also matches before a final newline;
# pydantic-core's regex does not. fast_json turns the ending `$` into `\Z` (found by this file).
@pytest.mark.parametrize("region", ["north\n", "south\n"])
def test_a_region_with_a_trailing_newline_is_not_taken_by_the_fast_path(region):
    line = _line(
        {
            "patient_id": "p1",
            "sex": "M",
            "birth_date": "1958-03-02",
            "conditions": ["hypertension"],
            "enrolled_on": "2021-05-10",
            "region": region,
        }
    )
    assert taken(line) is None


def test_the_import_rejects_a_region_with_a_trailing_newline_with_or_without_the_fast_path(
    tmp_path, monkeypatch
):
    """Both paths reject it (the fast path once stored it: `$` before a final newline)."""
    record = {**BASE, "region": "north\n"}
    path = write_jsonl(tmp_path / "r.jsonl", [record])
    slow_db, fast_db = tmp_path / "slow.sqlite", tmp_path / "fast.sqlite"
    fast_report = import_files([path], str(fast_db), AS_OF)
    monkeypatch.setattr(fast_json, "decode", lambda text: None)
    slow_report = import_files([path], str(slow_db), AS_OF)
    assert [p.code for p in slow_report.rejects] == ["D012"]
    assert [p.code for p in fast_report.rejects] == ["D012"]
    assert export(str(fast_db)) == []


def test_the_validators_of_the_models_are_the_ones_is_clean_mirrors():
    """A new field or model validator in pathways/models.py would be skipped by the Structs (they
    mirror types and constraints only): this fails so that is_clean gets the rule too."""
    validators = {
        (model.__name__, name)
        for model in (Patient, *CHILD_MODELS.values())
        for kind in ("validators", "field_validators", "model_validators", "root_validators")
        for name in getattr(model.__pydantic_decorators__, kind)
    }
    assert validators == {("Patient", "_conditions_once"), ("Patient", "_history_once")}


# ---- 2. same stored result ----------------------------------------------------------------------


def dump(db_path) -> dict:
    """Every table and index as stored: rows ordered by patient_id, seq (autoincrement ids left
    out), each value with its Python type (150 stored as REAL and as INTEGER differ)."""
    con = sqlite3.connect(db_path)
    try:
        out: dict = {
            "schema": con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        }
        for (table,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall():
            cols = [row[1] for row in con.execute(f'PRAGMA table_info("{table}")') if row[1] != "id"]
            order = ", ".join(c for c in ("patient_id", "seq", "as_of") if c in cols) or "rowid"
            listed = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f'SELECT {listed} FROM "{table}" ORDER BY {order}').fetchall()
            out[table] = [tuple((type(v).__name__, v) for v in row) for row in rows]
        return out
    finally:
        con.close()


class FastPathCounter:
    """Counts the lines store/importer.py hands to fast_json and the ones it took."""

    def __init__(self, monkeypatch) -> None:
        self.decoded = self.taken = 0
        real_decode, real_clean = fast_json.decode, fast_json.is_clean

        def decode(text):
            self.decoded += 1
            return real_decode(text)

        def is_clean(record, line, as_of):
            verdict = real_clean(record, line, as_of)
            self.taken += verdict
            return verdict

        monkeypatch.setattr(fast_json, "decode", decode)
        monkeypatch.setattr(fast_json, "is_clean", is_clean)


def _report_summary(report) -> tuple:
    return (
        [(f.rows_read, f.imported, f.rejected, f.error) for f in report.files],
        [(p.code, p.line, p.column, p.message) for p in report.findings],
        [(p.code, p.line, p.column, p.message) for p in report.rejects],
        report.patients_imported,
    )


def _import_both_ways(tmp_path, monkeypatch, files: list[list[dict]]):
    """Import the files in order into two databases, with and without the fast path:
    (fast db, slow db, fast counters per file, reports of each run)."""
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 64)  # several batches per file
    paths = [write_jsonl(tmp_path / f"r{i}.jsonl", records) for i, records in enumerate(files)]
    fast_db, slow_db = tmp_path / "fast.sqlite", tmp_path / "slow.sqlite"
    counters, fast_reports, slow_reports = [], [], []
    real_decode = fast_json.decode
    for path in paths:
        with monkeypatch.context() as m:
            counters.append(FastPathCounter(m))
            fast_reports.append(import_files([path], str(fast_db), AS_OF))
    for path in paths:
        with monkeypatch.context() as m:
            m.setattr(fast_json, "decode", lambda text: None)
            slow_reports.append(import_files([path], str(slow_db), AS_OF))
    assert fast_json.decode is real_decode
    return fast_db, slow_db, counters, fast_reports, slow_reports


def _some_unclean(records: list[dict]) -> tuple[list[dict], int]:
    """(records, how many the fast path leaves to pydantic): every twentieth record made unclean,
    by an implausible value (kept), an unknown key (rejected) or a colon in a name (clean, but the
    fast path's key count leaves it to pydantic)."""
    out, unclean = [], 0
    top = LIMITS["visits"]["sbp"].max
    for i, r in enumerate(records):
        r = copy.deepcopy(r)
        if i % 20 == 5 and r.get("visits"):
            r["visits"][0]["sbp"] = top + 1
        elif i % 20 == 10:
            r["sbpp"] = 1
        elif i % 20 == 15:
            r["name"] = "李: 四"
        else:
            out.append(_reversed_lists(r) if i % 3 == 0 else r)
            continue
        out.append(r)
        unclean += 1
    return out, unclean


def _reversed_lists(record: dict) -> dict:
    """The record with its child lists in reverse order (still clean; stored in date order)."""
    return {k: v[::-1] if k in CHILD_MODELS else v for k, v in record.items()}


def test_an_import_stores_the_same_rows_with_and_without_the_fast_path(tmp_path, monkeypatch):
    records, unclean = _some_unclean([record_json(p) for p in generate_roster(300, 17, AS_OF)])
    fast_db, slow_db, [counter], [fast], [slow] = _import_both_ways(tmp_path, monkeypatch, [records])
    assert counter.decoded == len(records)
    assert counter.taken == len(records) - unclean > 0
    assert _report_summary(fast) == _report_summary(slow)
    assert [p.code for p in fast.rejects] == ["D011"] * 15 and fast.patients_imported == len(records) - 15
    assert {p.code for p in fast.findings} == {"D101"}
    assert export(str(fast_db)) == export(str(slow_db))
    fast_dump, slow_dump = dump(fast_db), dump(slow_db)
    assert fast_dump == slow_dump
    assert len(fast_dump["patients"]) == len(records) - 15 and len(fast_dump["visits"]) > len(records)


# ---- 3. plausible limits ------------------------------------------------------------------------

_LIMIT_CASES = [
    (table, field, value, inside)
    for table, fields in LIMITS.items()
    for field, limit in fields.items()
    for value, inside in [
        (limit.min, True),
        (limit.max, True),
        (math.nextafter(limit.min, -math.inf), False),
        (math.nextafter(limit.max, math.inf), False),
    ]
]


def _limit_line(table: str, field: str, value: float) -> str:
    return _base_line(**{table: [{"date": "2026-06-03", field: value}]})


@pytest.mark.parametrize(
    ("table", "field", "value", "inside"),
    _LIMIT_CASES,
    ids=[f"{t}.{f}={v!r}" for t, f, v, _ in _LIMIT_CASES],
)
def test_the_fast_path_takes_a_value_on_its_plausible_limit_and_refuses_one_just_past(
    table, field, value, inside
):
    line = _limit_line(table, field, value)
    assert (taken(line) is not None) is inside
    findings = [i.code for i in check_patient(Patient.model_validate_json(line), AS_OF)]
    assert findings == ([] if inside else ["D101"])


@pytest.mark.parametrize("bound", ["min", "max"])
def test_an_sbp_just_past_its_limit_is_imported_with_finding_d101_and_one_on_it_without(tmp_path, bound):
    limit = LIMITS["visits"]["sbp"]
    on = getattr(limit, bound)
    past = math.nextafter(on, -math.inf if bound == "min" else math.inf)
    lines = [_limit_line("visits", "sbp", on), _limit_line("visits", "sbp", past)]
    assert taken(lines[0]) is not None and taken(lines[1]) is None
    for i, (line, findings) in enumerate([(lines[0], []), (lines[1], ["D101"])]):
        path = tmp_path / f"r{i}.jsonl"
        path.write_text(line + "\n", encoding="utf-8")
        db = str(tmp_path / f"db{i}.sqlite")
        report = import_files([path], db, AS_OF)
        assert [p.code for p in report.findings] == findings and report.rejects == []
        [stored] = export(db)
        assert stored["visits"] == [{"date": "2026-06-03", "sbp": json.loads(line)["visits"][0]["sbp"]}]


def test_an_unknown_symptom_is_refused_by_the_fast_path_and_rejected_by_the_import_with_d018(tmp_path):
    assert "chest-pain" not in symptom_codes() and "chest_pain" in symptom_codes()
    line = _visit_line(symptoms=["chest_pain", "chest-pain"])
    assert fast_json.decode(line) is None
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    db = str(tmp_path / "db.sqlite")
    report = import_files([path], db, AS_OF)
    assert [(p.code, p.line) for p in report.rejects] == [("D018", 1)]
    assert report.patients_imported == 0 and export(db) == []


# ---- 4. upsert through the fast path ------------------------------------------------------------


def _updated(records: list[dict]) -> list[dict]:
    """The second file: for every other patient a changed team, a cleared or absent field, a
    replaced and an added visit; every third of those also leaves out optional keys."""
    out = []
    for i, r in enumerate(records[::2]):
        u = copy.deepcopy(r)
        u["team"] = f"团队{i % 7:02d}"
        u["smoker"] = not u.get("smoker", False)
        if i % 3 == 0:
            for key in ("name", "institution", "labs", "screenings"):
                u.pop(key, None)  # absent: the stored value is kept
        if i % 3 == 1:
            u["id_number"] = None  # explicit null: cleared
        visits = u.get("visits", [])
        if visits:
            visits[-1] = {**visits[-1], "sbp": 131, "symptoms": ["dizziness"]}  # same date: replaced
        visits.append({"date": u.get("deceased_on", AS_OF.isoformat()), "sbp": 128, "dbp": 78})
        u["visits"] = visits
        u["history"] = [{"code": "mi", "date": u["enrolled_on"]}]  # a new code: added to the stored ones
        out.append(u)
    return out


def test_an_upsert_of_fast_path_records_merges_like_the_pydantic_path(tmp_path, monkeypatch):
    first = [record_json(p) for p in generate_roster(200, 29, AS_OF)]
    second = [_reversed_lists(u) if i % 2 else u for i, u in enumerate(_updated(first))]
    assert all(taken(_line(u)) is not None for u in second)  # the update is clean: the fast path's
    merged = []  # the records that reached the merge of stored patients
    real_merge = writer.Store._merge
    monkeypatch.setattr(
        writer.Store,
        "_merge",
        lambda store, records, rows: merged.extend(records) or real_merge(store, records, rows),
    )
    fast_db, slow_db, counters, fast_reports, slow_reports = _import_both_ways(
        tmp_path, monkeypatch, [first, second]
    )
    assert [c.taken for c in counters] == [len(first), len(second)]
    # every update reached the merge, the fast path's as its fast_json record
    assert len(merged) == 2 * len(second)
    assert sum(not isinstance(r, Patient) for r in merged) == len(second)
    assert [_report_summary(r) for r in fast_reports] == [_report_summary(r) for r in slow_reports]
    stored = export(str(fast_db))
    assert stored == export(str(slow_db))
    assert dump(fast_db) == dump(slow_db)
    by_id = {r["patient_id"]: r for r in stored}
    u, before = second[0], first[0]
    assert by_id[u["patient_id"]]["team"] == u["team"]
    assert by_id[u["patient_id"]].get("name") == before.get("name")  # absent in the update: kept
    assert by_id[u["patient_id"]]["visits"][-1] == u["visits"][-1]  # added
    assert "id_number" not in by_id[second[1]["patient_id"]]  # explicit null: cleared


# ---- 5. the Struct generator refuses what it cannot mirror --------------------------------------


class _Positive(BaseModel):
    dose: float = Field(gt=0)


class _Short(BaseModel):
    code: str = Field(max_length=3)


class _Counted(BaseModel):
    n: int


class _Checked(BaseModel):
    code: str

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


@pytest.mark.parametrize(
    ("model", "named"),
    [(_Positive, r"Gt\(gt=0\)"), (_Short, r"MaxLen\(max_length=3\)"), (_Counted, r"n: .*int")],
)
def test_the_struct_generator_refuses_a_constraint_it_cannot_mirror(model, named):
    with pytest.raises(TypeError, match=named):
        fast_json._struct(model, "", {}, frozenset())


def test_the_struct_generator_mirrors_the_constraints_it_knows():
    struct = fast_json._struct(Patient, "", {"visits.sbp": (50.0, 300.0)}, frozenset({"chest_pain"}))
    decode = msgspec.json.Decoder(struct).decode
    record = {"sex": "M", "birth_date": "1958-03-02", "conditions": ["diabetes"], "enrolled_on": "2021-05-10"}
    assert decode(_line({"patient_id": "p1", **record})).patient_id == "p1"
    with pytest.raises(msgspec.ValidationError, match="length >= 1"):
        decode(_line({"patient_id": "", **record}))
    visit = {**record, "patient_id": "p1", "visits": [{"date": "2026-01-01", "sbp": 300.5}]}
    with pytest.raises(msgspec.ValidationError, match="<= 300"):
        decode(_line(visit))


def test_the_struct_generator_refuses_a_model_with_a_field_validator():
    with pytest.raises(TypeError):
        fast_json._struct(_Checked, "", {}, frozenset())


def test_a_pattern_ending_in_dollar_is_anchored_at_the_very_end_and_one_with_an_inner_dollar_is_refused():
    assert fast_json._search_pattern("^(north|south)$") == "^(north|south)\\Z"
    assert fast_json._search_pattern("^a\\$") == "^a\\$"  # an escaped dollar is a character
    with pytest.raises(TypeError, match="before its end"):
        fast_json._search_pattern("^a$|^b$")
