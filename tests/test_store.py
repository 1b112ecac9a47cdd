"""The storage layer against SQLite and a real PostgreSQL (the `db_url` fixture): round trip,
upsert ("newer wins"), one transaction per file, and reading records back."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roster_files import export, write_jsonl
from sqlalchemy import func, inspect, select

from pathways.models import Patient
from pathways.synthetic import generate_roster
from store import importer, read_patients, writer
from store.db import open_db, to_url
from store.exporter import record_json
from store.importer import import_files
from store.tables import PatientRow, VisitRow

AS_OF = date(2026, 11, 30)

FULL = {  # the interchange example, with a valid check digit
    "patient_id": "370202-000123",
    "id_number": "370202195803021236",
    "name": "张三",
    "sex": "M",
    "birth_date": "1958-03-02",
    "team": "市北区-家医团队03",
    "institution": "某某社区卫生服务中心",
    "region": "north",
    "urban": True,
    "conditions": ["hypertension", "diabetes", "dyslipidemia"],
    "enrolled_on": "2021-05-10",
    "smoker": True,
    "pregnant": False,
    "history": [{"code": "stroke", "date": "2019-07-01"}, {"code": "ckd"}],
    "visits": [
        {"date": "2026-06-03", "sbp": 148, "dbp": 92, "symptoms": ["chest_pain", "palpitations"]},
        {
            "date": "2026-09-03",
            "sbp": 152,
            "dbp": 94,
            "heart_rate": 78,
            "fpg": 7.9,
            "weight_kg": 72.5,
            "height_cm": 168,
            "waist_cm": 92,
            "adverse_reaction": False,
            "new_complication": False,
        },
    ],
    "labs": [
        {
            "date": "2026-03-12",
            "tc": 5.9,
            "ldl_c": 3.8,
            "hdl_c": 0.9,
            "tg": 2.1,
            "hba1c": 7.4,
            "creatinine": 98,
            "uacr": 45,
        }
    ],
    "screenings": [
        {"date": "2026-03-12", "kind": "fundus", "result": "normal", "grade": "no_dr"},
        {"date": "2026-03-12", "kind": "abi", "result": "abnormal", "value": 0.86},
    ],
    "referrals": [
        {"date": "2026-06-01", "to": "county", "reason": "htn.two_uncontrolled", "returned_on": "2026-06-20"}
    ],
}
MINIMAL = {
    "patient_id": "p2",
    "sex": "F",
    "birth_date": "1960-01-01",
    "conditions": ["dyslipidemia"],
    "enrolled_on": "2022-01-01",
}


def count(db_url, table) -> int:
    db_engine = open_db(db_url)
    try:
        with db_engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar()
    finally:
        db_engine.dispose()


def test_import_then_export_gives_back_the_same_objects(db_url, tmp_path):
    report = import_files([write_jsonl(tmp_path / "r.jsonl", [FULL, MINIMAL])], db_url, AS_OF)
    assert report.ok and report.patients_imported == 2
    assert export(db_url) == [FULL, MINIMAL]


def test_a_generated_roster_round_trips_exactly(db_url, tmp_path):
    records = [record_json(p) for p in generate_roster(40, 11, AS_OF)]
    report = import_files([write_jsonl(tmp_path / "r.jsonl", records)], db_url, AS_OF)
    assert report.rejected == 0
    assert export(db_url) == records


def test_read_patients_gives_the_validated_records_in_import_order(db_url, tmp_path):
    import_files([write_jsonl(tmp_path / "r.jsonl", [FULL, MINIMAL])], db_url, AS_OF)
    assert list(read_patients(db_url)) == [Patient.model_validate(FULL), Patient.model_validate(MINIMAL)]


def test_importing_the_same_file_twice_leaves_no_duplicates(db_url, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [FULL, MINIMAL])
    import_files([path], db_url, AS_OF)
    second = import_files([path], db_url, AS_OF)
    assert second.ok and second.patients_imported == 2
    assert export(db_url) == [FULL, MINIMAL]
    assert count(db_url, PatientRow) == 2
    assert count(db_url, VisitRow) == 2


def test_a_reimport_rewrites_only_the_lists_that_changed(db_url, tmp_path, monkeypatch):
    rewritten: list[str] = []  # the child tables whose rows an import deleted to write them again
    real_delete = writer.delete

    def recording_delete(table):
        rewritten.append(table.name)
        return real_delete(table)

    monkeypatch.setattr(writer, "delete", recording_delete)
    import_files([write_jsonl(tmp_path / "r.jsonl", [FULL, MINIMAL])], db_url, AS_OF)
    import_files([write_jsonl(tmp_path / "same.jsonl", [FULL, MINIMAL])], db_url, AS_OF)
    assert rewritten == []
    newer = {**FULL, "visits": [*FULL["visits"], {"date": "2026-11-20", "sbp": 130, "dbp": 80}]}
    import_files([write_jsonl(tmp_path / "newer.jsonl", [newer])], db_url, AS_OF)
    assert rewritten == ["visits"]
    assert export(db_url) == [newer, MINIMAL]
    assert count(db_url, VisitRow) == 3


def test_an_updated_file_wins_where_it_speaks_and_keeps_everything_else(db_url, tmp_path):
    import_files([write_jsonl(tmp_path / "r1.jsonl", [{**FULL, "deceased_on": "2026-10-01"}])], db_url, AS_OF)
    update = {
        "patient_id": FULL["patient_id"],
        "sex": "M",
        "birth_date": "1958-03-02",
        "enrolled_on": "2021-05-10",
        "conditions": ["hypertension"],  # replaced (required, always complete)
        "team": "市北区-家医团队05",  # changed
        "deceased_on": None,  # explicit null clears
        "visits": [
            {"date": "2026-09-03", "sbp": 138, "dbp": 84},  # same date: replaces
            {"date": "2026-11-20", "sbp": 130, "dbp": 80},
        ],  # new date: added
        "history": [{"code": "ckd", "date": "2025-01-01"}],  # same code: replaces
    }  # name, labs, screenings … absent: kept
    report = import_files([write_jsonl(tmp_path / "r2.jsonl", [update])], db_url, AS_OF)
    assert report.ok
    [record] = export(db_url)
    assert record == {
        **FULL,
        "conditions": ["hypertension"],
        "team": "市北区-家医团队05",
        "history": [{"code": "stroke", "date": "2019-07-01"}, {"code": "ckd", "date": "2025-01-01"}],
        "visits": [
            FULL["visits"][0],
            {"date": "2026-09-03", "sbp": 138, "dbp": 84},
            {"date": "2026-11-20", "sbp": 130, "dbp": 80},
        ],
    }


def test_a_failure_mid_file_leaves_the_database_as_it_was(db_url, tmp_path, monkeypatch):
    import_files([write_jsonl(tmp_path / "before.jsonl", [MINIMAL])], db_url, AS_OF)
    records = [record_json(p) for p in generate_roster(30, 5, AS_OF)]
    path = write_jsonl(tmp_path / "r.jsonl", [*records, {**MINIMAL, "team": "changed"}])
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 10)
    flushes = []
    real_flush = writer.Store.flush

    def failing_flush(self):
        flushes.append(len(self.batch))
        if len(flushes) == 3:  # two batches written inside the transaction, then the "kill"
            raise RuntimeError("killed mid-file")
        real_flush(self)

    monkeypatch.setattr(writer.Store, "flush", failing_flush)
    with pytest.raises(RuntimeError, match="killed mid-file"):
        import_files([path], db_url, AS_OF)
    assert export(db_url) == [MINIMAL]
    assert count(db_url, VisitRow) == 0


def indexes(db_url) -> set[str]:
    """The roster tables' indexes and foreign keys (an import into empty tables drops and rebuilds them)."""
    db_engine = open_db(db_url)
    try:
        found = inspect(db_engine)
        tables = ("patients", "visits", "labs", "screenings", "history", "referrals")
        return {i["name"] for t in tables for i in found.get_indexes(t)} | {
            f"{t}.{','.join(fk['constrained_columns'])} → {fk['referred_table']}"
            for t in tables
            for fk in found.get_foreign_keys(t)
        }
    finally:
        db_engine.dispose()


def test_a_failure_mid_file_into_an_empty_database_leaves_it_empty_with_its_indexes(
    db_url, tmp_path, monkeypatch
):
    empty = indexes(db_url)  # the import into empty tables drops these and builds them at the end
    assert {"ix_visits_patient_date", "visits.patient_id → patients"} <= empty
    path = write_jsonl(tmp_path / "r.jsonl", [record_json(p) for p in generate_roster(30, 5, AS_OF)])
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 10)
    real_flush = writer.Store.flush
    flushes = []

    def failing_flush(self):
        flushes.append(1)
        if len(flushes) == 3:
            raise RuntimeError("killed mid-file")
        real_flush(self)

    monkeypatch.setattr(writer.Store, "flush", failing_flush)
    with pytest.raises(RuntimeError, match="killed mid-file"):
        import_files([path], db_url, AS_OF)
    assert count(db_url, PatientRow) == 0
    assert indexes(db_url) == empty


def test_an_import_into_an_empty_database_ends_with_every_index(db_url, tmp_path):
    before = indexes(db_url)
    path = write_jsonl(tmp_path / "r.jsonl", [record_json(p) for p in generate_roster(30, 5, AS_OF)])
    import_files([path], db_url, AS_OF)
    assert count(db_url, PatientRow) == 30
    assert indexes(db_url) == before


_KILLED_IMPORT = """
import sys, time
from datetime import date
from pathlib import Path
from store import importer, writer
writer.BATCH_PATIENTS = 10
real_flush, flushes = writer.Store.flush, []
def flush(self):
    real_flush(self)
    flushes.append(1)
    if len(flushes) == 3:  # three batches written inside the transaction: now wait for the kill
        Path(sys.argv[3]).write_text("ready")
        time.sleep(60)
writer.Store.flush = flush
importer.import_files([sys.argv[1]], sys.argv[2], date(2026, 11, 30))
"""


@pytest.mark.parametrize("stored", [[MINIMAL], []], ids=["stored-patient", "empty-file"])
def test_a_process_killed_mid_import_leaves_the_sqlite_file_as_it_was(tmp_path, stored):
    db = tmp_path / "killed.db"
    if stored:
        import_files([write_jsonl(tmp_path / "before.jsonl", stored)], str(db), AS_OF)
    before = indexes(str(db))  # opening creates the tables and indexes
    path = write_jsonl(tmp_path / "r.jsonl", [record_json(p) for p in generate_roster(60, 5, AS_OF)])
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IMPORT, str(path), str(db), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import never reached its third batch"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert export(str(db)) == stored  # the next open rolls the hot journal back
    assert count(str(db), VisitRow) == 0
    assert indexes(str(db)) == before


def test_each_file_is_its_own_transaction(db_url, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [MINIMAL])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "notes.csv").write_text("备注\n无\n", encoding="utf-8")
    report = import_files([good, tmp_path / "bad" / "notes.csv"], db_url, AS_OF)
    assert [p.code for p in report.rejects] == ["D030"]
    assert export(db_url) == [MINIMAL]


def test_a_bare_path_means_a_sqlite_file():
    assert to_url("data/sangao.db") == "sqlite:///data/sangao.db"
    assert to_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


# ---- property: store-then-read is the identity ------------------------------------------------

_dates = st.dates(date(2000, 1, 1), date(2026, 11, 30))
_num = st.one_of(st.none(), st.integers(0, 400), st.floats(0, 400, allow_nan=False, allow_infinity=False))
_visits = st.lists(
    st.builds(
        lambda d, s, f, sym: {"date": d.isoformat(), "sbp": s, "fpg": f, "symptoms": sym},
        _dates,
        _num,
        _num,
        st.lists(st.sampled_from(["chest_pain", "vomiting"]), max_size=2, unique=True),
    ),
    max_size=4,
)
_records = st.lists(
    st.builds(
        lambda i, name, team, visits, smoker: {
            "patient_id": f"p{i}",
            "name": name,
            "team": team,
            "sex": "F",
            "birth_date": "1950-01-01",
            "conditions": ["diabetes"],
            "enrolled_on": "2020-01-01",
            "smoker": smoker,
            "visits": visits,
        },
        st.integers(0, 10**6),
        st.one_of(st.none(), st.text(min_size=1, max_size=6)),
        st.one_of(st.none(), st.text(min_size=1, max_size=8)),
        _visits,
        st.one_of(st.none(), st.booleans()),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda r: r["patient_id"],
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_records)
def test_storing_then_reading_any_records_is_the_identity(tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("prop")
    canonical = [record_json(Patient.model_validate(r)) for r in records]
    url = f"sqlite:///{folder / 'db.sqlite'}"
    import_files([write_jsonl(folder / "r.jsonl", records)], url, None)
    assert export(url) == canonical
    assert list(read_patients(url)) == [Patient.model_validate(r) for r in canonical]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf-8", "utf-8-bom"])
def test_a_rejected_jsonl_line_reaches_the_reject_file_as_written(tmp_path, bom):
    bad = json.dumps({**MINIMAL, "patient_id": "p3", "name": "李四", "hieght": 170}, ensure_ascii=False)
    good = [json.dumps(FULL, ensure_ascii=False), json.dumps(MINIMAL, ensure_ascii=False)]
    path = tmp_path / "r.jsonl"
    path.write_bytes(bom + "\n".join([good[0], bad, good[1]]).encode("utf-8") + b"\n")
    rejects = tmp_path / "rejects.csv"
    report = import_files([path], str(tmp_path / "db.sqlite"), AS_OF, reject_path=rejects, unmasked=True)
    assert report.patients_imported == 2
    assert [(p.code, p.line) for p in report.rejects] == [("D011", 2)]
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert rows[0]["raw"] == bad


def test_an_import_reports_its_progress_every_so_many_records(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "r.jsonl", [record_json(p) for p in generate_roster(12, 5, AS_OF)])
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 5)
    calls = []
    report = import_files([path], str(tmp_path / "db.sqlite"), AS_OF, progress=lambda *a: calls.append(a))
    assert report.patients_imported == 12
    assert [(name, done) for name, done, _ in calls] == [("r.jsonl", 5), ("r.jsonl", 10)]
    assert 0 < calls[0][2] < calls[1][2] < 1  # the share of the file read, for the bar's ETA
