"""store/db_records.py, the roster read from the driver's rows, against the reader it replaced
(store/exporter.py `records_after`, SQLAlchemy Core): the same canonical records and export bytes
(JSONL and Parquet), the same records for `assess --db` in one worker or two, and a batch holding a
value the importer never stores judged as before; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text

import store
from engine.parallel import AssessCounts, AssessOptions, assess_roster, assess_source
from pathways.models import Patient
from pathways.synthetic import generate_jsonl
from reports.assessments import write_jsonl
from store import fast_json
from store.db import open_db
from store.db_records import canonical_batch, record_batch
from store.exporter import export_jsonl, record_line, records_after
from store.roster_source import DbSource, _canonical, db_source

AS_OF = date(2026, 11, 30)

FULL = {  # every field the interchange has, booleans both ways
    "patient_id": "370202-000123",
    "id_number": "370202195803021236",
    "name": "张三",
    "phone": "13800000000",
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
            "date": "2026-09-03", "sbp": 152.5, "dbp": 94, "heart_rate": 78, "fpg": 7.9,
            "random_glucose": 11.2, "temperature": 36.6, "weight_kg": 72.5, "height_cm": 168,
            "waist_cm": 92, "adverse_reaction": False, "new_complication": True,
        },
    ],
    "labs": [
        {"date": "2026-03-12", "tc": 5.9, "ldl_c": 3.8, "hdl_c": 0.9, "tg": 2.1, "hba1c": 7.4,
         "creatinine": 98, "uacr": 45},
    ],
    "screenings": [
        {"date": "2026-03-12", "kind": "fundus", "result": "normal", "grade": "no_dr"},
        {"date": "2026-03-12", "kind": "abi", "result": "abnormal", "value": 0.86},
    ],
    "referrals": [
        {"date": "2026-06-01", "to": "county", "reason": "htn.two_uncontrolled", "returned_on": "2026-06-20"},
        {"date": "2026-10-01", "to": "city"},
    ],
}
LEFT = {  # moved out, then died; the other booleans
    "patient_id": "p-left",
    "sex": "F",
    "birth_date": "1990-01-01",
    "region": "south",
    "urban": False,
    "conditions": ["diabetes"],
    "enrolled_on": "2022-01-01",
    "moved_out_on": "2025-03-01",
    "deceased_on": "2026-02-01",
    "smoker": False,
    "breastfeeding": True,
    "visits": [{"date": "2024-05-05", "fpg": 6.1, "adverse_reaction": True}],
}
OPTIONS = AssessOptions("national-default", AS_OF, provisional_calendar=True)


@pytest.fixture
def stored(db_url, tmp_path) -> str:
    """FULL, LEFT and 150 generated patients, imported into the database `db_url`."""
    path = tmp_path / "roster.jsonl"
    lines = [json.dumps(FULL, ensure_ascii=False), json.dumps(LEFT), *generate_jsonl(150, 11, AS_OF)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert not store.import_files([path], db_url, AS_OF).rejects
    return db_url


def _read(url: str, read):
    db_engine = open_db(url)
    try:
        with db_engine.connect() as conn:
            return read(conn)
    finally:
        db_engine.dispose()


def _old(url: str, canonical: bool = True, **kw) -> list[tuple[int, dict]]:
    return _read(url, lambda conn: list(records_after(conn, 0, canonical=canonical, **kw)))


def test_the_drivers_rows_give_the_canonical_records_of_the_sqlalchemy_reader(stored):
    new = _read(stored, lambda conn: canonical_batch(conn, 0))
    old = _old(stored)
    assert len(new) == 152
    assert new == old
    assert [record_line(r) for _, r in new] == [record_line(r) for _, r in old]  # key order too
    assert new[0][1] == FULL and new[1][1] == LEFT


def test_a_limit_a_range_and_an_institution_read_what_the_sqlalchemy_reader_reads(stored):
    old = _old(stored)
    common, _ = Counter(r["institution"] for _, r in old[2:]).most_common(1)[0]
    shard = [common, FULL["institution"]]
    wanted = [(seq, r) for seq, r in old if r.get("institution") in shard]
    assert len(wanted) > 3
    got = _read(stored, lambda conn: canonical_batch(conn, 0, limit=len(wanted) - 1, institutions=shard))
    assert got == wanted[:-1] == _old(stored, limit=len(wanted) - 1, institutions=shard)
    after, upto = old[9][0], old[40][0]
    assert _read(stored, lambda conn: canonical_batch(conn, after, upto=upto)) == old[10:41]
    assert _read(stored, lambda conn: canonical_batch(conn, 0, institutions=[])) == []


def test_roster_export_writes_the_bytes_the_sqlalchemy_reader_wrote(stored):
    out = io.StringIO()
    assert export_jsonl(stored, out) == 152
    assert out.getvalue() == "".join(record_line(r) + "\n" for _, r in _old(stored))


def test_the_parquet_export_writes_the_rows_the_sqlalchemy_reader_gave(stored, tmp_path):
    import pyarrow.parquet as pq

    from store.parquet import export_parquet, write_buckets

    new = export_parquet(stored, tmp_path / "new", 3)
    old = write_buckets(((r, record_line(r)) for _, r in _old(stored)), tmp_path / "old", 3)
    assert new.patients == old.patients == 152
    for a, b in zip(new.files, old.files, strict=True):
        assert a.rows == b.rows and pq.read_table(a.path).equals(pq.read_table(b.path))


def test_assess_db_reads_the_records_the_sqlalchemy_reader_converted(stored):
    record_type = fast_json.record_type()
    old = [(seq, msgspec.convert(data, record_type)) for seq, data in _old(stored, canonical=False)]
    source = db_source(stored, batch=40)
    assert len(source.ranges) == 4
    new = []
    for r in source.ranges:
        batch = _read(stored, lambda conn, r=r: record_batch(conn, r[0], upto=r[1]))
        assert batch is not None
        new += batch
        assert [(seq, rec) for seq, rec, _ in source.read(r)] == batch
    assert new == old
    assert all(type(rec) is record_type for _, rec in new)
    full = new[0][1]
    assert full.visits[0].symptoms == ("chest_pain", "palpitations")
    assert full.visits[1].new_complication is True
    assert full.history[1].date is None and full.birth_date == date(1958, 3, 2)


def test_assess_db_on_two_workers_writes_the_bytes_of_one_and_of_read_patients(stored):
    expected = io.StringIO()
    write_jsonl(assess_roster(store.read_patients(stored), OPTIONS), expected)
    source = db_source(stored, batch=40)
    outs = []
    for workers in (1, 2):
        out, counts = io.BytesIO(), AssessCounts()
        assess_source(source, OPTIONS, out, workers=workers, counts=counts)
        assert counts.assessed + counts.skipped == 152
        outs.append(out.getvalue())
    assert outs[0] == outs[1] == expected.getvalue().encode()


@dataclass(frozen=True)
class LoggedSource(DbSource):
    """A DbSource that notes which process read which range (a worker imports this module)."""

    log: str = ""

    def read(self, r):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {r[0]} {r[1]}\n")
        yield from super().read(r)


def test_each_worker_reads_the_batches_it_is_handed_and_the_first_process_none(stored, tmp_path):
    plain = db_source(stored, batch=40)
    log = tmp_path / "reads.log"
    source = LoggedSource(plain.url, plain.ranges, str(log))
    out = io.BytesIO()
    assess_source(source, OPTIONS, out, workers=2)
    reads = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    assert sorted((int(a), int(b)) for _, a, b in reads) == list(plain.ranges)  # each range once
    assert str(os.getpid()) not in {pid for pid, _, _ in reads}
    one = io.BytesIO()
    assess_source(plain, OPTIONS, one, workers=1)
    assert out.getvalue() == one.getvalue()


def _damage(url: str, sql: str, **params) -> None:
    db_engine = open_db(url)
    try:
        with db_engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        db_engine.dispose()


def test_a_value_the_record_cannot_hold_is_read_by_pydantic_as_before(stored):
    # a symptom code outside the vocabulary: not a record Struct, still a valid Patient
    _damage(stored, "UPDATE visits SET symptoms = :s WHERE patient_id = :p AND symptoms IS NOT NULL",
            s='["made_up"]', p=FULL["patient_id"])
    source = db_source(stored, batch=40)
    first = source.ranges[0]
    assert _read(stored, lambda conn: record_batch(conn, first[0], upto=first[1])) is None
    got = [rec for _, rec, _ in source.read(first)]
    assert type(got[0]) is Patient and got[0].visits[0].symptoms == ("made_up",)
    record_type = fast_json.record_type()
    old = _old(stored, canonical=False, upto=first[1])
    assert got[1:] == [msgspec.convert(data, record_type) for _, data in old[1:]]
    assert got[0] == Patient.model_validate(_canonical(old[0][1]))


def test_a_value_pydantic_refuses_stops_the_read_with_pydantics_errors(stored):
    _damage(stored, "UPDATE patients SET sex = 'X' WHERE patient_id = :p", p=LEFT["patient_id"])
    _damage(stored, "UPDATE screenings SET kind = 'xray' WHERE patient_id = :p", p=FULL["patient_id"])
    source = db_source(stored, batch=40)
    old = _old(stored, canonical=False, upto=source.ranges[0][1])
    with pytest.raises(ValidationError) as expected:
        Patient.model_validate(_canonical(old[0][1]))
    with pytest.raises(ValidationError) as got:
        list(source.read(source.ranges[0]))
    assert got.value.errors() == expected.value.errors()
    assert [e["loc"] for e in got.value.errors()] == [("screenings", 0, "kind"), ("screenings", 1, "kind")]


def _json_line(record) -> str:
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return re.sub("[\x85\u2028\u2029]", lambda m: f"\\u{ord(m[0]):04x}", line)


@pytest.mark.parametrize(
    "value",
    [0.86, 152.5, 36.6, 1.5e-05, 1e-07, 0.00012, 123456789.123, float("nan"), float("inf"), -0.0, 10**30,
     "3e5", "null", "行\u2028分", "a\x85b", "\x00\x1f\x7f\"\\/\n", "张三", True],
)
def test_a_records_line_is_the_text_json_dumps_writes(value):
    record = {"patient_id": "p1", "visits": [{"date": "2026-01-01", "fpg": value}], "name": value}
    assert record_line(record) == _json_line(record)


_values = st.one_of(st.floats(), st.integers(), st.text(), st.booleans(), st.none())


@given(st.dictionaries(st.text(), st.one_of(_values, st.lists(st.dictionaries(st.text(), _values)))))
def test_any_records_line_is_the_text_json_dumps_writes(record):
    assert record_line(record) == _json_line(record)
