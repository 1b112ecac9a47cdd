"""The import on two cores (store/import_pipeline.py): a worker process reads and checks, the
importer's process writes. It must store exactly what the in-process import stores, report the
same rejections and findings, and leave the database as it was when either side fails."""

from __future__ import annotations

import csv
import json
import multiprocessing
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import pytest
from roster_files import export, record, write_jsonl
from sqlalchemy import select, text

from pathways.models import Patient
from pathways.synthetic import generate_roster
from store import fast_json, import_pipeline, writer
from store.db import open_db
from store.exporter import record_json
from store.importer import import_files
from store.tables import CHILD_TABLES, PatientRow

AS_OF = date(2026, 11, 30)
TABLES = [PatientRow.__table__, *(m.__table__ for m in CHILD_TABLES.values())]


def roster_with_problems(tmp_path, patients: int = 45):
    """Generated records with, between them, lines the import rejects and records it keeps with a
    finding (so the worker's accounting, not only its rows, is compared)."""
    lines = [json.dumps(record_json(p), ensure_ascii=False) for p in generate_roster(patients, 7, AS_OF)]
    first = json.loads(lines[0])
    lines[3:3] = [
        "{not json",  # D001
        json.dumps(record(patient_id="x-unknown", colour="red")),  # D011
        json.dumps({**first, "name": "重复"}, ensure_ascii=False),  # D021: the first line's id again
        json.dumps(record(patient_id="x-tall", visits=[{"date": "2025-01-02", "height_cm": 260}])),  # D101
        json.dumps(record(patient_id="x-future", visits=[{"date": "2027-01-02", "sbp": 120}])),  # D102
        json.dumps(record(patient_id="x-15", id_number="370202580302123")),  # D106: 15 digits
        json.dumps(record(patient_id="x-twice"))[:-1] + ', "sex": "F"}',  # D002: a key twice
        "",  # a blank line: not a record
        json.dumps(record(patient_id="x-colon", name="王:五"), ensure_ascii=False),  # clean, slow path
        json.dumps(  # clean: lists out of date order, symptoms (empty too), an explicit null
            {
                **record(patient_id="x-lists", team=None),
                "team": None,
                "visits": [
                    {"date": "2025-03-01", "sbp": 130, "symptoms": []},
                    {"date": "2025-02-01", "symptoms": ["dizziness", "chest_pain"], "dbp": None},
                    {"date": "2025-02-01", "sbp": 128, "symptoms": ["dizziness", "chest_pain"]},
                ],
                "history": [{"code": "pad"}, {"code": "stroke", "date": "2020-01-01"}],
                "labs": [{"date": "2025-01-05", "hba1c": 6.5}, {"date": "2024-12-01", "tc": None}],
            }
        ),
    ]
    path = tmp_path / "roster.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def dump(db_url) -> dict[str, list[tuple]]:
    """Every roster table's rows, as SQLAlchemy reads them back (dates as dates), in key order."""
    db_engine = open_db(db_url)
    try:
        with db_engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in TABLES
            }
    finally:
        db_engine.dispose()


def summary(report) -> tuple:
    return (
        [(f.file, f.format, f.encoding, f.rows_read, f.imported, f.rejected, f.error) for f in report.files],
        [(p.code, p.file, p.line, p.column, p.context) for p in report.rejects],
        [(p.code, p.file, p.line, p.column, p.context) for p in report.findings],
        report.patients_imported,
    )


def import_with(monkeypatch, pipeline: bool, path, db_url, rejects):
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0 if pipeline else 10**12)
    monkeypatch.setattr(import_pipeline, "_cores", lambda: 2)  # a one-core CI machine too
    used = []
    real_run = import_pipeline.run
    monkeypatch.setattr(import_pipeline, "run", lambda *a, **k: used.append(real_run(*a, **k)) or used[-1])
    report = import_files([path], db_url, AS_OF, reject_path=rejects)
    assert used == [pipeline]
    return report


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_the_pipeline_stores_and_reports_exactly_what_the_in_process_import_does(
    tmp_path, monkeypatch, start_method
):
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 8)  # several batches (fork: the worker sees it too)
    monkeypatch.setattr(import_pipeline, "START_METHOD", start_method)
    path = roster_with_problems(tmp_path)
    alone = import_with(monkeypatch, False, path, str(tmp_path / "alone.db"), tmp_path / "alone.csv")
    piped = import_with(monkeypatch, True, path, str(tmp_path / "piped.db"), tmp_path / "piped.csv")
    assert summary(piped) == summary(alone)
    assert {p.code for p in piped.rejects} == {"D001", "D002", "D011", "D021"}
    assert {p.code for p in piped.findings} == {"D101", "D102", "D106"}
    assert piped.rows_read == piped.imported + piped.rejected == 54
    assert dump(str(tmp_path / "piped.db")) == dump(str(tmp_path / "alone.db"))
    assert len(dump(str(tmp_path / "piped.db"))["visits"]) > 100
    lists = [line for line in path.read_bytes().splitlines() if b'"x-lists"' in line]
    assert fast_json.is_clean(fast_json.decode(lists[0]), lists[0], AS_OF)  # the worker's own rows
    assert (tmp_path / "piped.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()
    with open(tmp_path / "piped.csv", encoding="utf-8-sig", newline="") as f:
        assert [(r["file"], r["row"], r["code"]) for r in csv.DictReader(f)] == [
            (str(path), "4", "D001"),
            (str(path), "5", "D011"),
            (str(path), "6", "D021"),
            (str(path), "10", "D002"),
        ]


def test_rows_sent_in_pieces_of_one_statement_each_are_stored_as_the_in_process_import_stores_them(
    tmp_path, monkeypatch
):
    """A small statement (40 values: two visits) so that every table of every batch comes in
    several pieces, whole statements and a shorter last one."""
    real_init = writer.Store.__init__

    def init(store, conn):
        real_init(store, conn)
        store.max_variables = 40

    monkeypatch.setattr(writer.Store, "__init__", init)
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 8)
    pieces = []  # the lengths of the pieces of visits the importer was sent
    real_add = writer.Store.add_rows

    def add_rows(store, patients, tables):
        pieces.append([len(p) for p in tables["visits"][1]] if "visits" in tables else [])
        real_add(store, patients, tables)

    monkeypatch.setattr(writer.Store, "add_rows", add_rows)
    path = roster_with_problems(tmp_path)
    alone = import_with(monkeypatch, False, path, str(tmp_path / "alone.db"), tmp_path / "alone.csv")
    piped = import_with(monkeypatch, True, path, str(tmp_path / "piped.db"), tmp_path / "piped.csv")
    assert summary(piped) == summary(alone)
    assert dump(str(tmp_path / "piped.db")) == dump(str(tmp_path / "alone.db"))
    step = 40 // import_pipeline._WIDTH["visits"] * import_pipeline._WIDTH["visits"]  # two visits
    assert max(map(len, pieces)) > 2 and all(n == step for p in pieces for n in p[:-1])
    batch = import_pipeline.Batch(True, 1, statement=40)
    for rows in ([1] * 32, [1] * 33, [1] * 64, [1] * 70):
        pieces = batch._cut(rows, 16)
        assert [len(p) for p in pieces[:-1]] == [32] * (len(pieces) - 1)  # whole statements
        assert 0 < len(pieces[-1]) <= 32 and sum(map(len, pieces)) == len(rows)
    assert batch._cut([1] * 70, 16) == [[1] * 32, [1] * 32, [1] * 6]
    assert import_pipeline.Batch(True, 1)._cut([1] * 70, 16) == [[1] * 70]  # no statement size


def test_the_pipeline_reports_the_records_read_at_each_batch_and_all_of_them_at_the_end(
    tmp_path, monkeypatch
):
    from store import importer

    monkeypatch.setattr(writer, "BATCH_PATIENTS", 8)
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0)
    monkeypatch.setattr(import_pipeline, "_cores", lambda: 2)
    path = roster_with_problems(tmp_path)
    calls = []
    report = import_files([path], str(tmp_path / "db.sqlite"), AS_OF, progress=lambda *a: calls.append(a))
    read = [done for _, done, _ in calls]
    assert report.rows_read == 54  # the blank line is not a record
    assert read == sorted(set(read))  # one call a batch, each further on
    assert read[0] >= 8 and read[-1] == 54
    assert calls[-1][2] == 1.0  # the whole file read


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_a_gb18030_or_bom_jsonl_file_goes_through_the_pipeline_as_in_process(tmp_path, monkeypatch, encoding):
    path = roster_with_problems(tmp_path)
    path.write_text(path.read_text(encoding="utf-8"), encoding=encoding)
    alone = import_with(monkeypatch, False, path, str(tmp_path / "alone.db"), tmp_path / "alone.csv")
    started = []  # the encoding each worker was told (None: it finds it itself)
    real_start = import_pipeline._start
    monkeypatch.setattr(import_pipeline, "_start", lambda *a: started.append(a[-1]) or real_start(*a))
    piped = import_with(monkeypatch, True, path, str(tmp_path / "piped.db"), tmp_path / "piped.csv")
    # GB18030: the worker that read it as UTF-8 was stopped once the importer's check said otherwise
    assert started == {"gb18030": ["utf-8", None], "utf-8-sig": ["utf-8-sig"]}[encoding]
    assert summary(piped) == summary(alone)
    assert piped.files[0].encoding == {"gb18030": "GB18030/GBK", "utf-8-sig": "UTF-8 with BOM"}[encoding]
    assert piped.patients_imported == 50
    assert dump(str(tmp_path / "piped.db")) == dump(str(tmp_path / "alone.db"))
    assert (tmp_path / "piped.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()


def test_a_file_in_no_encoding_fails_in_the_pipeline_as_in_process_writing_nothing(tmp_path, monkeypatch):
    """The importer checks the encoding while the worker already reads the file as UTF-8: a file
    that is neither UTF-8 nor GB18030 (a lone 0xFF byte on its last line) stops both, D030."""
    path = roster_with_problems(tmp_path)
    path.write_bytes(path.read_bytes() + b'{"patient_id": "\xff"}\n')
    monkeypatch.setattr(import_pipeline, "_cores", lambda: 2)
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 10**12)
    alone = import_files([path], str(tmp_path / "alone.db"), AS_OF, reject_path=tmp_path / "alone.csv")
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0)
    started = []
    real_start = import_pipeline._start
    monkeypatch.setattr(import_pipeline, "_start", lambda *a: started.append(a[-1]) or real_start(*a))
    piped = import_files([path], str(tmp_path / "piped.db"), AS_OF, reject_path=tmp_path / "piped.csv")
    assert started == ["utf-8"]  # a worker read it as UTF-8 until the importer found it was not
    assert summary(piped) == summary(alone)
    assert [(p.code, p.file) for p in piped.rejects] == [("D030", str(path))]
    assert piped.files[0].error and piped.patients_imported == 0
    assert all(rows == [] for rows in dump(str(tmp_path / "piped.db")).values())
    assert (tmp_path / "piped.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()


@pytest.mark.parametrize("formatter", ["the worker's", "the importer's"])
def test_postgresql_copy_through_the_pipeline_stores_the_rows_sqlite_stores(
    tmp_path, monkeypatch, db_url, formatter
):
    if formatter == "the importer's":  # psycopg without the formatter the worker uses
        monkeypatch.setattr(import_pipeline, "_copy_formatter", lambda: None)
    path = roster_with_problems(tmp_path)
    sqlite_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference = import_with(monkeypatch, False, path, sqlite_url, None)
    report = import_with(monkeypatch, True, path, db_url, None)
    assert summary(report) == summary(reference)
    assert dump(db_url) == dump(sqlite_url)
    assert export(db_url) == export(sqlite_url)


def test_sqlite_keeps_dates_as_iso_text_and_reads_them_back_as_dates(tmp_path, monkeypatch):
    db = str(tmp_path / "piped.db")
    import_with(monkeypatch, True, roster_with_problems(tmp_path), db, None)
    db_engine = open_db(db)
    try:
        with db_engine.connect() as conn:
            stored = conn.execute(text("SELECT DISTINCT typeof(date), length(date) FROM visits")).all()
            born = conn.execute(select(PatientRow.birth_date, PatientRow.deceased_on)).all()
    finally:
        db_engine.dispose()
    assert stored == [("text", 10)]
    assert all(type(b) is date and (d is None or type(d) is date) for b, d in born)


def test_a_csv_set_through_the_pipeline_stores_what_it_stores_in_process(tmp_path, monkeypatch):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "patients.csv").write_text(
        "patient_id,sex,birth_date,conditions,enrolled_on\n"
        "c1,M,1958-03-02,hypertension,2021-05-10\n"
        "c2,F,1960-01-01,diabetes;dyslipidemia,2022-01-01\n"
        "c3,X,1960-01-01,diabetes,2022-01-01\n",
        encoding="utf-8",
    )
    (tables / "visits.csv").write_text(
        "patient_id,date,sbp,dbp\nc1,2026-06-03,148,92\nc1,2026-03-01,150,95\nc2,2026-06-04,128,80\n"
        "c3,2026-06-04,128,80\n",
        encoding="utf-8",
    )
    alone = import_with(monkeypatch, False, tables, str(tmp_path / "alone.db"), None)
    piped = import_with(monkeypatch, True, tables, str(tmp_path / "piped.db"), None)
    assert summary(piped) == summary(alone)
    assert [(p.code, p.line) for p in piped.rejects] == [("D016", 4), ("D025", 5)]
    assert dump(str(tmp_path / "piped.db")) == dump(str(tmp_path / "alone.db"))
    assert [v[3] for v in dump(str(tmp_path / "piped.db"))["visits"]] == [
        date(2026, 3, 1), date(2026, 6, 3), date(2026, 6, 4)
    ]
    (tables / "visits.csv").write_text(  # next month: a new visit, a changed one, a new patient's
        "patient_id,date,sbp,dbp\nc1,2026-06-03,140,90\nc1,2026-09-01,150,95\nc2,2026-06-04,128,80\n"
        "c4,2026-07-01,120,80\n",
        encoding="utf-8",
    )
    with open(tables / "patients.csv", "a", encoding="utf-8") as f:
        f.write("c4,F,1961-01-01,hypertension,2023-01-01\n")
    again_alone = import_with(monkeypatch, False, tables, str(tmp_path / "alone.db"), None)
    again_piped = import_with(monkeypatch, True, tables, str(tmp_path / "piped.db"), None)  # a re-import
    assert summary(again_piped) == summary(again_alone)
    assert dump(str(tmp_path / "piped.db")) == dump(str(tmp_path / "alone.db"))
    assert len(dump(str(tmp_path / "piped.db"))["visits"]) == 5


def changed_roster(tmp_path, path):
    """`path`'s roster again, as a county's next monthly export: most records as they were, some
    changed (a value, a replaced visit, an added lab), some leaving fields out (stored values
    stay) or clearing them (explicit null), a new patient, and the rejected lines again."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = {i: json.loads(line) for i, line in enumerate(lines) if i >= 20}  # generated ones
    changes = {
        20: lambda r: {**r, "team": "团队新"},
        21: lambda r: {**r, "visits": [{**r["visits"][0], "sbp": 133}, *r["visits"][1:]]},
        22: lambda r: {**r, "labs": [*r.get("labs", []), {"date": "2026-11-20", "tc": 5.1}]},
        23: lambda r: {k: v for k, v in r.items() if k not in ("phone", "visits")},
        24: lambda r: {**r, "team": None, "screenings": []},
        25: lambda r: {  # a finding (D101): validated by pydantic, codes as enums
            **r,
            "visits": [*r["visits"], {"date": "2026-11-22", "height_cm": 260}],
            "screenings": [{"date": "2026-11-21", "kind": "ecg", "result": "abnormal"}],
        },
    }
    for i, change in changes.items():
        lines[i] = json.dumps(change(records[i]), ensure_ascii=False)
    lines.append(json.dumps(record(patient_id="x-new", visits=[{"date": "2026-01-02", "sbp": 150}])))
    changed = tmp_path / "next-month.jsonl"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def test_a_reimport_through_the_pipeline_merges_as_the_in_process_import_does(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 8)
    path = roster_with_problems(tmp_path)
    import_with(monkeypatch, True, path, str(tmp_path / "first.db"), None)
    stored = dump(str(tmp_path / "first.db"))
    for name in ("alone", "piped", "same"):
        shutil.copy(tmp_path / "first.db", tmp_path / f"{name}.db")
    changed = changed_roster(tmp_path, path)
    alone = import_with(monkeypatch, False, changed, str(tmp_path / "alone.db"), tmp_path / "alone.csv")
    piped = import_with(monkeypatch, True, changed, str(tmp_path / "piped.db"), tmp_path / "piped.csv")
    assert summary(piped) == summary(alone)
    assert piped.patients_imported == 51 and "D101" in {p.code for p in piped.findings}
    assert dump(str(tmp_path / "piped.db")) == dump(str(tmp_path / "alone.db")) != stored
    assert (tmp_path / "piped.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()
    after = {r["patient_id"]: r for r in export(str(tmp_path / "piped.db"))}
    before = {r["patient_id"]: r for r in export(str(tmp_path / "first.db"))}
    lines = [json.loads(line) for line in changed.read_text(encoding="utf-8").splitlines()[20:25]]
    team, visit, lab, left_out, cleared = (line["patient_id"] for line in lines)
    assert after[team]["team"] == "团队新" and after[visit]["visits"][0]["sbp"] == 133
    assert after[lab]["labs"][-1] == {"date": "2026-11-20", "tc": 5.1}
    assert after[left_out]["phone"] == before[left_out]["phone"]  # left out: the stored value stays
    assert after[left_out]["visits"] == before[left_out]["visits"]
    assert "team" not in after[cleared] and after[cleared]["screenings"] == before[cleared]["screenings"]
    assert after["x-new"]["visits"] == [{"date": "2026-01-02", "sbp": 150.0}]
    again = import_with(monkeypatch, True, path, str(tmp_path / "same.db"), None)  # the same file again
    assert again.patients_imported == 50 and dump(str(tmp_path / "same.db")) == stored


def test_merge_inputs_store_what_the_records_themselves_store_new_or_stored(tmp_path):
    """The importer's side of a re-import (Store.add_merged) against the in-process upsert, for the
    kinds of record a source gives: a Patient with fields a reader filled in (derived: they never
    replace a stored value, yet a new patient gets them) and a clean-decoded Struct."""
    first = write_jsonl(tmp_path / "first.jsonl", [record(patient_id="p1", team="A", region="north")])
    for name in ("records", "inputs"):
        import_files([first], str(tmp_path / f"{name}.db"), AS_OF)

    def derived(patient):  # as store/importer.py marks fields a tabular reader filled in
        given = patient.model_fields_set - {"enrolled_on", "team"}
        object.__setattr__(patient, "__pydantic_fields_set__", given)
        return patient

    def incoming():
        return [
            derived(Patient.model_validate(record(patient_id="p1", team="B", enrolled_on="2020-01-01"))),
            derived(Patient.model_validate(record(patient_id="p2", team="C", enrolled_on="2020-02-02"))),
            fast_json.decode(json.dumps(record(patient_id="p3", visits=[{"date": "2026-01-02", "dbp": 90}]))),
        ]

    for name in ("records", "inputs"):
        db_engine = open_db(str(tmp_path / f"{name}.db"))
        with db_engine.begin() as conn:
            store = writer.Store(conn)
            if name == "records":  # as the in-process import does
                for r in incoming():
                    store.add(r)
            else:  # as the pipeline's importer does with what its worker built
                store.add_merged([writer.merge_input(r) for r in incoming()])
            store.finish()
        db_engine.dispose()
    assert dump(str(tmp_path / "inputs.db")) == dump(str(tmp_path / "records.db"))
    people = {r["patient_id"]: r for r in export(str(tmp_path / "inputs.db"))}
    assert people["p1"]["team"] == "A" and people["p1"]["enrolled_on"] == "2021-05-10"  # stored stays
    assert people["p2"]["team"] == "C" and people["p2"]["enrolled_on"] == "2020-02-02"  # new: taken
    assert people["p3"]["visits"] == [{"date": "2026-01-02", "dbp": 90.0}] and "team" not in people["p3"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_reimport_into_postgresql_runs_in_process(tmp_path, monkeypatch, db_url):
    path = write_jsonl(tmp_path / "r.jsonl", [record(patient_id="p1")])
    import_with(monkeypatch, True, path, db_url, None)
    newer = write_jsonl(tmp_path / "newer.jsonl", [record(patient_id="p1", team="团队2")])
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0)
    used = []
    real_run = import_pipeline.run
    monkeypatch.setattr(import_pipeline, "run", lambda *a, **k: used.append(real_run(*a, **k)) or used[-1])
    import_files([newer], db_url, AS_OF)
    assert used == [False]
    assert export(db_url)[0]["team"] == "团队2"


def test_the_importer_reads_each_message_of_the_pipe_whole_into_its_reused_buffers():
    receiver, sender = multiprocessing.Pipe(duplex=False)
    sizes = [10, 5 << 20, 3, 70_000, 1, 2, 3, 4, 9 << 20, 5]  # larger than a buffer; the ring goes round
    messages = [bytes([i]) * size for i, size in enumerate(sizes)]

    def send():
        for message in messages:
            sender.send_bytes(message)
        sender.close()

    writer_thread = threading.Thread(target=send)
    writer_thread.start()
    frames = import_pipeline._Frames(receiver.fileno())
    try:
        for message in messages:
            assert bytes(frames.read()) == message
        with pytest.raises(EOFError):
            frames.read()
    finally:
        writer_thread.join()
        receiver.close()


def test_a_worker_that_fails_mid_file_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "BATCH_PATIENTS", 5)
    db = str(tmp_path / "db.sqlite")
    first = write_jsonl(tmp_path / "first.jsonl", [record(patient_id="p1")])
    import_with(monkeypatch, False, first, db, None)
    before = dump(db)
    real_clean_rows = import_pipeline.clean_rows
    built = []

    def failing_clean_rows(record, *args, **kwargs):  # runs in the worker (forked: it inherits this patch)
        built.append(1)
        if len(built) == 23:  # four batches sent, then a bug that quotes the patient
            raise ValueError(f"a bug in the worker at {record.name} ({record.id_number})")
        return real_clean_rows(record, *args, **kwargs)

    monkeypatch.setattr(import_pipeline, "clean_rows", failing_clean_rows)
    monkeypatch.setattr(import_pipeline, "START_METHOD", "fork")
    monkeypatch.setattr(import_pipeline, "PIPELINE_MIN_BYTES", 0)
    monkeypatch.setattr(import_pipeline, "_cores", lambda: 2)
    empty = tmp_path / "empty.db"
    path = write_jsonl(tmp_path / "r.jsonl", [record_json(p) for p in generate_roster(40, 5, AS_OF)])
    with pytest.raises(RuntimeError, match="a bug in the worker") as failure:
        import_files([path], str(empty), AS_OF)
    assert "failing_clean_rows" in str(failure.value)  # where it happened, without the values
    assert not any(p.name in str(failure.value) or p.id_number in str(failure.value)
                   for p in generate_roster(40, 5, AS_OF))
    assert all(rows == [] for rows in dump(str(empty)).values())
    assert dump(db) == before


_KILLED_IMPORT = """
import sys, time
from datetime import date
from pathlib import Path
from store import import_pipeline, importer, writer
import_pipeline.PIPELINE_MIN_BYTES = 0
import_pipeline._cores = lambda: 2
writer.BATCH_PATIENTS = 10
real_add, batches = writer.Store.add_rows, []
def add_rows(self, *args, **kwargs):
    real_add(self, *args, **kwargs)
    batches.append(1)
    if len(batches) == 3:  # three batches written inside the transaction: now wait for the kill
        Path(sys.argv[3]).write_text("ready")
        time.sleep(60)
writer.Store.add_rows = add_rows
importer.import_files([sys.argv[1]], sys.argv[2], date(2026, 11, 30))
"""


def test_a_process_killed_mid_pipeline_leaves_the_sqlite_file_empty_with_its_indexes(tmp_path):
    db = tmp_path / "killed.db"
    before = dump(str(db))  # opening creates the tables and indexes
    with open_db(str(db)).connect() as conn:
        indexes = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).all()
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
    assert dump(str(db)) == before  # the next open rolls the hot journal back
    with open_db(str(db)).connect() as conn:
        assert conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).all() == indexes


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_memory_freed_by_a_batch_is_used_again_by_the_next_without_page_faults():
    code = (
        "import resource\n"
        "from store import import_pipeline\n"
        "def faults():\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    buffer = bytearray(16 << 20)  # zero-filled: every page touched\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
        "assert import_pipeline.keep_freed_memory()\n"
        "print(faults(), faults(), faults())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, *again = map(int, out.split())
    assert first > 2000  # 16 MB of fresh 4 kB pages
    assert max(again) < first // 10  # the freed 16 MB taken again (glibc alone maps it afresh once more)
