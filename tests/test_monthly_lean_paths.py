"""The lean paths of the monthly report (reports/monthly.py) give what the full ones give: the
rules' `Decision` agrees with the full assessment on every field the rows read, and a record read
with the database's own values hashes to the same bytes as its canonical form."""

from __future__ import annotations

from datetime import date

import pytest

import store
from engine.assess import Assessor
from guidelines.calendar_loader import load_calendar
from guidelines.loader import load_set
from reports import monthly as mr
from store.db import open_db
from store.exporter import records_after
from store.patient_months import plain_records
from tests.roster_files import write_jsonl

ROSTER = [
    # uncontrolled BP and glucose, a lab with a float LDL-C and an integral creatinine, symptoms
    dict(
        patient_id="A1", sex="M", birth_date="1955-03-02", conditions=["hypertension", "diabetes"],
        enrolled_on="2024-02-01", team="一队", institution="甲卫生院",
        visits=[
            dict(date="2026-03-05", sbp=168, dbp=96, fpg=9.1, symptoms=["severe_headache"]),
            dict(date="2026-09-20", sbp=150.0, dbp=88, fpg=7.4),
        ],
        labs=[dict(date="2026-06-01", ldl_c=3.4, creatinine=80.0)],
        referrals=[dict(date="2026-03-05", to="county", returned_on="2026-03-20")],
    ),
    # controlled, no lab, a screening
    dict(
        patient_id="A2", sex="F", birth_date="1970-06-01", conditions=["hypertension"],
        enrolled_on="2025-11-15", team="二队", institution="甲卫生院",
        visits=[dict(date="2026-01-10", sbp=128, dbp=78), dict(date="2026-10-02", sbp=126, dbp=80)],
        screenings=[dict(date="2026-05-05", kind="fundus", result="normal")],
    ),
    # died in the year
    dict(
        patient_id="A3", sex="M", birth_date="1948-01-20", conditions=["dyslipidemia"],
        enrolled_on="2023-05-05", deceased_on="2026-07-01",
        visits=[dict(date="2026-02-02", sbp=140, dbp=90)],
        labs=[dict(date="2026-02-02", ldl_c=4.1)],
    ),
]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("lean")
    url = f"sqlite:///{tmp / 'sangao.db'}"
    assert store.import_files([write_jsonl(tmp / "roster.jsonl", ROSTER)], url, date(2026, 12, 1)).ok
    return url


def _records(url: str, canonical: bool) -> list[dict]:
    engine = open_db(url)
    try:
        with engine.connect() as conn:
            return [record for _, record in records_after(conn, 0, canonical=canonical)]
    finally:
        engine.dispose()


def test_a_record_read_with_the_databases_own_values_hashes_as_its_canonical_form(db_url):
    months = mr.report_months("2026-11")
    canonical, plain = _records(db_url, True), _records(db_url, False)
    assert [r["patient_id"] for r in plain] == ["A1", "A2", "A3"]
    for c, p in zip(canonical, plain, strict=True):
        assert mr.record_hashes(p, months) == mr.record_hashes(c, months)
    # and the hash still sees a change: a visit added in November changes November's hash only
    changed = _records(db_url, False)[0]
    changed["visits"].append(dict(changed["visits"][-1], date=date(2026, 11, 3)))
    before, after = mr.record_hashes(plain[0], months)[0], mr.record_hashes(changed, months)[0]
    assert before[: 8 * 11] == after[: 8 * 11] and before[8 * 11 :] != after[8 * 11 :]


def test_the_reports_own_read_of_the_roster_hashes_and_converts_as_the_exporters(db_url):
    months = mr.report_months("2026-11")
    engine = open_db(db_url)
    try:
        batches = list(plain_records(engine, 2))
    finally:
        engine.dispose()
    assert [[r["patient_id"] for r in b] for b in batches] == [["A1", "A2"], ["A3"]]
    plain = [r for b in batches for r in b]
    for mine, theirs in zip(plain, _records(db_url, False), strict=True):
        assert mr.record_hashes(mine, months, plain_items=True) == mr.record_hashes(theirs, months)
        assert mr._patient(mine) == mr._patient(theirs)
    # its items are plain already: integral floats as ints, no nulls, symptoms as a list
    a1 = plain[0]
    assert a1["labs"] == [dict(date="2026-06-01", ldl_c=3.4, creatinine=80)]
    assert a1["visits"][0]["symptoms"] == ["severe_headache"] and a1["visits"][1]["sbp"] == 150


def test_the_lean_decision_agrees_with_the_full_assessment_on_what_the_rows_read(db_url):
    gset = load_set("national-default")
    assessor = Assessor(gset, load_calendar(range(2006, 2028), provisional=True))
    days = [date(2026, m, d) for m, d in ((1, 31), (3, 5), (6, 30), (9, 20), (11, 30))]
    for record in _records(db_url, False):
        patient = mr._patient(record)
        for day in days:
            full = assessor.assess(patient, day)
            lean = assessor.decide(patient, day)
            a = full.assessment
            assert lean.color == str(a.color) and lean.tier == str(a.tier)
            assert [(r.rule, r.color) for r in lean.reasons] == [(r.rule, str(r.color)) for r in a.reasons]
            assert tuple(lean.control) == tuple(
                str(getattr(a.control, k)) for k in ("bp", "glucose", "ldl", "hba1c")
            )
            assert lean.next_follow_up == a.next_follow_up
            assert lean.screening == full.evaluation.screening


def test_the_month_end_standing_is_the_decisions_colour_tier_ldl_control_and_screening(db_url):
    assessor = Assessor(load_set("national-default"), load_calendar(range(2006, 2028), provisional=True))
    days = [date(2026, m, d) for m, d in ((1, 31), (3, 5), (6, 30), (9, 20), (11, 30))]
    for record in _records(db_url, False):
        patient = mr._patient(record)
        for day in days:
            decision = assessor.decide(patient, day)
            assert assessor.standing(patient, day) == (
                decision.color, decision.tier, decision.control.ldl, decision.screening
            )
