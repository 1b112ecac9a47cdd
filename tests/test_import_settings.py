"""The settings an import runs under on SQLite (store/db.py `bulk_import`): foreign-key checks off
only while the importer writes every row itself (empty tables), the keys holding afterwards all
the same, and the connection's usual settings back once the import's transaction has ended."""

from __future__ import annotations

import json
from datetime import date

import pytest
from roster_files import record, write_jsonl
from sqlalchemy import text

from pathways.synthetic import generate_roster
from store import import_pipeline, writer
from store.db import IMPORT_PAGE_SIZE, bulk_import, open_db
from store.exporter import record_json
from store.importer import import_files

AS_OF = date(2026, 11, 30)


def pragmas(conn) -> tuple[int, int]:
    raw = conn.connection.driver_connection
    return raw.execute("PRAGMA foreign_keys").fetchone()[0], raw.execute("PRAGMA cache_size").fetchone()[0]


def roster(tmp_path, patients: int = 30):
    lines = [json.dumps(record_json(p), ensure_ascii=False) for p in generate_roster(patients, 3, AS_OF)]
    path = tmp_path / "roster.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_foreign_key_checks_are_off_only_while_importing_into_empty_tables_and_come_back(tmp_path):
    db_engine = open_db(str(tmp_path / "db.sqlite"), writer=True)
    try:
        with db_engine.connect() as conn:
            assert pragmas(conn) == (1, -65536)
            with bulk_import(conn), conn.begin():
                assert pragmas(conn) == (0, -262144)
                conn.execute(text(
                    "INSERT INTO patients (patient_id, seq, sex, birth_date, conditions, enrolled_on) "
                    "VALUES ('p1', 1, 'F', '1960-01-01', 'diabetes', '2020-01-01')"
                ))
            assert pragmas(conn) == (1, -65536)
            with bulk_import(conn), conn.begin():
                assert pragmas(conn) == (1, -262144)  # tables not empty: every key is checked
            assert pragmas(conn) == (1, -65536)
    finally:
        db_engine.dispose()


@pytest.mark.parametrize("pipeline", [False, True])
def test_every_child_row_of_a_fresh_import_has_its_patient(tmp_path, monkeypatch, pipeline):
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 7)
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0 if pipeline else 10**12)
    monkeypatch.setattr(import_pipeline, "_cores", lambda: 2)
    db = tmp_path / "db.sqlite"
    report = import_files([roster(tmp_path)], str(db), AS_OF)
    assert report.patients_imported == 30
    with open_db(str(db)).connect() as conn:
        raw = conn.connection.driver_connection
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        children = raw.execute("SELECT count(*) FROM visits").fetchone()[0]
        assert children > 30
        joined = raw.execute("SELECT count(*) FROM visits JOIN patients USING (patient_id)").fetchone()[0]
        assert joined == children


def test_a_second_file_of_the_same_import_is_written_with_its_keys_checked(tmp_path, monkeypatch):
    seen = []
    real_init = writer.Store.__init__

    def init(store, conn):
        real_init(store, conn)
        seen.append(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())

    monkeypatch.setattr(writer.Store, "__init__", init)
    first = write_jsonl(tmp_path / "a.jsonl", [record(patient_id="p1")])
    second = write_jsonl(tmp_path / "b.jsonl", [record(patient_id="p2")])
    report = import_files([first, second], str(tmp_path / "db.sqlite"), AS_OF)
    assert report.patients_imported == 2
    assert seen == [0, 1]


def test_an_import_finding_a_child_row_without_its_patient_after_unchecked_writes_rolls_back(tmp_path):
    """Checks were turned off on empty tables and another import filled them before this one took
    the write lock: the keys are checked before the commit, and a broken one undoes the import."""
    db = str(tmp_path / "db.sqlite")
    import_files([write_jsonl(tmp_path / "a.jsonl", [record(patient_id="p1")])], db, AS_OF)
    db_engine = open_db(db, writer=True)
    try:
        with db_engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            with pytest.raises(AssertionError, match="without their patient"), conn.begin():
                store = writer.Store(conn)
                assert store.check_keys
                orphan = "INSERT INTO visits (patient_id, seq, date) VALUES ('nobody', 0, '2025-01-01')"
                conn.execute(text(orphan))
                store.finish()
            assert conn.execute(text("SELECT patient_id FROM visits WHERE patient_id = 'nobody'")).all() == []
    finally:
        db_engine.dispose()


def page_size(db) -> int:
    with open_db(str(db)).connect() as conn:
        return conn.connection.driver_connection.execute("PRAGMA page_size").fetchone()[0]


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_database_file_that_an_import_creates_has_the_import_page_size(tmp_path, monkeypatch, pipeline):
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0 if pipeline else 10**12)
    monkeypatch.setattr(import_pipeline, "_cores", lambda: 2)
    db = tmp_path / "db.sqlite"
    report = import_files([roster(tmp_path)], str(db), AS_OF)
    assert report.patients_imported == 30
    assert IMPORT_PAGE_SIZE == 16384
    assert page_size(db) == IMPORT_PAGE_SIZE
    with open_db(str(db)).connect() as conn:
        raw = conn.connection.driver_connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("SELECT count(*) FROM patients").fetchone()[0] == 30


def test_a_database_made_before_keeps_its_page_size_and_takes_an_import(tmp_path):
    db = tmp_path / "db.sqlite"
    open_db(str(db)).dispose()  # made by another command: SQLite's 4 KB pages
    assert page_size(db) == 4096
    report = import_files([roster(tmp_path)], str(db), AS_OF)
    assert report.patients_imported == 30
    assert page_size(db) == 4096
    more = write_jsonl(tmp_path / "more.jsonl", [record(patient_id="p-more")])
    again = import_files([more], str(db), AS_OF)
    assert again.patients_imported == 1
    with open_db(str(db)).connect() as conn:
        raw = conn.connection.driver_connection
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("SELECT count(*) FROM patients").fetchone()[0] == 31
