"""The upsert of stored patients (store/writer.py `Store._merge`, "newer wins") on SQLite and
PostgreSQL, by both paths a JSONL line takes to it: a fast_json Struct (clean lines on SQLite) and a
pydantic Patient. The merge compares the stored rows in the driver's form (SQLite: dates as ISO
text, booleans as 0/1; symptoms as JSON text, absent values NULL) with the file's values, so a
stored value meeting the same value from the file must leave its row alone, and a value that
differs at all must be written."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from roster_files import export, write_jsonl
from sqlalchemy import event, text

from store import fast_json, importer, writer
from store.db import open_db
from store.importer import import_files
from store.tables import CHILD_TABLES

AS_OF = date(2026, 11, 30)

STORED = {
    "patient_id": "370202-000123",
    "id_number": "370202195803021236",
    "name": "张三",
    "sex": "M",
    "birth_date": "1958-03-02",
    "team": "市北区-家医团队03",
    "region": "north",
    "urban": True,
    "conditions": ["hypertension", "diabetes"],
    "enrolled_on": "2021-05-10",
    "smoker": True,
    "pregnant": False,
    "history": [{"code": "stroke", "date": "2019-07-01"}, {"code": "ckd"}],
    "visits": [
        {"date": "2026-06-03", "sbp": 148, "dbp": 92, "symptoms": ["chest_pain", "palpitations"]},
        {"date": "2026-09-03", "sbp": 152.5, "dbp": 94, "adverse_reaction": False, "new_complication": True},
    ],
    "labs": [{"date": "2026-03-12", "ldl_c": 3.8, "creatinine": 98}],
    "screenings": [
        {"date": "2026-03-12", "kind": "fundus", "result": "normal", "grade": "no_dr"},
        {"date": "2026-03-12", "kind": "abi", "result": "abnormal", "value": 0.86},
    ],
    "referrals": [
        {"date": "2026-06-01", "to": "county", "reason": "htn.urgent_bp", "returned_on": "2026-06-20"}
    ],
}
OTHER = {
    "patient_id": "p2",
    "sex": "F",
    "birth_date": "1960-01-01",
    "conditions": ["dyslipidemia"],
    "enrolled_on": "2022-01-01",
}


def child_row_ids(db_url) -> dict[str, list[int]]:
    """The autoincrement ids of every child row: a list written again gets new ones."""
    db_engine = open_db(db_url)
    try:
        with db_engine.connect() as conn:
            return {
                name: [r[0] for r in conn.execute(text(f"SELECT id FROM {name} ORDER BY id"))]
                for name in CHILD_TABLES
            }
    finally:
        db_engine.dispose()


@pytest.fixture(params=["fast_json", "pydantic"])
def line_path(request, monkeypatch):
    """The path a clean line takes: fast_json's Struct (SQLite only; PostgreSQL always takes
    pydantic's) or, with the fast decoder switched off, pydantic's Patient."""
    if request.param == "pydantic":
        monkeypatch.setattr(fast_json, "decode", lambda _text: None)
    return request.param


@pytest.fixture
def merged(monkeypatch):
    """The type names of the records that reached the merge of stored patients."""
    seen: list[str] = []
    real_merge = writer.Store._merge

    def recording_merge(store, records, rows):
        seen.extend(type(r).__name__ for r in records)
        return real_merge(store, records, rows)

    monkeypatch.setattr(writer.Store, "_merge", recording_merge)
    return seen


@pytest.fixture
def writes(monkeypatch):
    """The UPDATE and DELETE statements the imports run: ("UPDATE", table, patient ids updated) and
    ("DELETE", table). (Rows of a rewritten child list go in by the DBAPI cursor after its DELETE;
    child_row_ids sees them.)"""
    seen: list[tuple] = []
    real_open_db = importer.open_db

    def recording_open_db(url, **options):
        db_engine = real_open_db(url, **options)

        def record(_conn, _cursor, statement, parameters, _context, executemany):
            words = statement.split()
            if words[0] == "UPDATE":  # … WHERE patient_id = ?: the id is each row's last parameter
                rows = parameters if executemany else [parameters]
                seen.append(("UPDATE", words[1].strip('"'), [row[-1] for row in rows]))
            elif words[0] == "DELETE":
                seen.append(("DELETE", words[2].strip('"')))

        event.listen(db_engine, "before_cursor_execute", record)
        return db_engine

    monkeypatch.setattr(importer, "open_db", recording_open_db)
    return seen


def expected_record_type(db_url, line_path) -> str:
    return "CleanPatient" if line_path == "fast_json" and db_url.startswith("sqlite") else "Patient"


def test_stored_booleans_dates_and_symptoms_meeting_the_same_values_rewrite_nothing(
    db_url, line_path, merged, writes, tmp_path
):
    import_files([write_jsonl(tmp_path / "r.jsonl", [STORED, OTHER])], db_url, AS_OF)
    ids_before = child_row_ids(db_url)
    writes.clear()
    report = import_files([write_jsonl(tmp_path / "again.jsonl", [STORED, OTHER])], db_url, AS_OF)
    assert report.ok and report.patients_imported == 2
    assert merged == [expected_record_type(db_url, line_path)] * 2
    assert writes == []
    assert child_row_ids(db_url) == ids_before
    assert export(db_url) == [STORED, OTHER]


def test_explicit_nulls_meeting_stored_nulls_rewrite_nothing(db_url, line_path, writes, tmp_path):
    import_files([write_jsonl(tmp_path / "r.jsonl", [STORED])], db_url, AS_OF)
    ids_before = child_row_ids(db_url)
    writes.clear()
    nulls = copy.deepcopy(STORED)
    nulls["deceased_on"] = None  # stored NULL
    nulls["visits"][0]["heart_rate"] = None
    nulls["visits"][0]["adverse_reaction"] = None
    nulls["history"][1]["date"] = None
    nulls["referrals"][0]["returned_on"] = "2026-06-20"
    report = import_files([write_jsonl(tmp_path / "nulls.jsonl", [nulls])], db_url, AS_OF)
    assert report.ok
    assert writes == []
    assert child_row_ids(db_url) == ids_before
    assert export(db_url) == [STORED]


def test_a_boolean_flipped_a_symptom_dropped_or_a_date_moved_by_a_day_is_written(
    db_url, line_path, writes, tmp_path
):
    import_files([write_jsonl(tmp_path / "r.jsonl", [STORED])], db_url, AS_OF)
    newer = copy.deepcopy(STORED)
    newer["smoker"] = False  # True → False
    newer["visits"][1]["adverse_reaction"] = True  # False → True
    newer["visits"][0]["symptoms"] = ["chest_pain"]  # one of two dropped
    newer["referrals"][0]["returned_on"] = "2026-06-21"  # a day later (the key is date + to)
    writes.clear()
    report = import_files([write_jsonl(tmp_path / "newer.jsonl", [newer])], db_url, AS_OF)
    assert report.ok
    assert writes == [
        ("UPDATE", "patients", [STORED["patient_id"]]),
        ("DELETE", "visits"),
        ("DELETE", "referrals"),
    ]
    assert export(db_url) == [newer]


def test_a_visit_before_every_stored_one_goes_first_and_a_same_day_screening_after_the_stored_ones(
    db_url, line_path, tmp_path
):
    import_files([write_jsonl(tmp_path / "r.jsonl", [STORED])], db_url, AS_OF)
    earlier = {"date": "2025-12-31", "sbp": 139, "dbp": 89}
    ecg = {"date": "2026-03-12", "kind": "ecg", "result": "normal"}
    update = {
        **{k: STORED[k] for k in ("patient_id", "sex", "birth_date", "conditions", "enrolled_on")},
        "visits": [STORED["visits"][1], earlier],  # the stored 2026-09-03 visit again, and an earlier one
        "screenings": [ecg],
    }
    report = import_files([write_jsonl(tmp_path / "update.jsonl", [update])], db_url, AS_OF)
    assert report.ok
    [record] = export(db_url)
    assert record == {
        **STORED,
        "visits": [earlier, *STORED["visits"]],
        "screenings": [*STORED["screenings"], ecg],
    }


def test_an_unchanged_patient_row_is_not_updated_while_a_changed_one_in_the_same_batch_is(
    db_url, line_path, writes, tmp_path
):
    import_files([write_jsonl(tmp_path / "r.jsonl", [STORED, OTHER])], db_url, AS_OF)
    writes.clear()
    moved = {**OTHER, "moved_out_on": "2026-10-01"}
    report = import_files([write_jsonl(tmp_path / "moved.jsonl", [STORED, moved])], db_url, AS_OF)
    assert report.ok
    assert writes == [("UPDATE", "patients", ["p2"])]
    assert export(db_url) == [STORED, moved]
