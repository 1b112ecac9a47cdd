"""The monthly report's stored rows (store/patient_months.py, reports/monthly.py): a patient who has
left the roster is not counted in a later report and their rows and kept decisions are deleted; rows
and kept decisions built with the provisional calendar are not reused by a run with the strict one
(the calendar is part of the rows' basis)."""

from __future__ import annotations

import sqlite3
from datetime import date

import store
from pathways.monthly import Window
from reports import monthly as mr
from store.tables import CHILD_TABLES
from tests.roster_files import write_jsonl


def _p(pid, visits, **fields):
    base = dict(
        patient_id=pid,
        sex="F",
        birth_date="1956-07-12",
        conditions=["hypertension", "diabetes"],
        enrolled_on="2024-02-01",
        institution="乙卫生院",
        team="二队",
        visits=[dict(zip(("date", "sbp", "dbp", "fpg"), v, strict=True)) for v in visits],
    )
    base.update(fields)
    return base


ROSTER = [
    _p("L1", [("2026-03-02", 132, 82, 6.1), ("2026-06-01", 128, 80, 6.0), ("2026-09-03", 130, 80, 6.2)]),
    _p("L2", [("2026-06-10", 158, 96, 9.0), ("2026-09-15", 162, 98, 9.4)]),  # uncontrolled: red
    _p("L3", [("2026-07-20", 130, 82, 6.2), ("2026-10-28", 128, 80, 6.0)]),
    _p("L4", [("2025-08-11", 136, 86, 6.3)]),  # lost to follow-up
]
NOVEMBER = "2026-11"


def _import(tmp_path, name: str, roster) -> str:
    url = f"sqlite:///{tmp_path / name}"
    assert store.import_files([write_jsonl(tmp_path / f"{name}.jsonl", roster)], url, date(2026, 12, 1)).ok
    return url


def _remove_from_roster(url: str, patient_id: str) -> None:
    """The site deletes a patient from its database (sangao itself only adds and updates)."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        for table in ("patients", *CHILD_TABLES):
            conn.execute(f"DELETE FROM {table} WHERE patient_id = ?", (patient_id,))


def _stored_patients(url: str) -> dict[str, set[str]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return {
            table: {pid for (pid,) in conn.execute(f"SELECT DISTINCT patient_id FROM {table}")}
            for table in ("patient_months", "visit_decisions")
        }


def _tallies(counts: mr.Counts) -> dict:
    tally = counts.tally
    months = sorted({m for (m, _i, _t) in tally._teams})
    return {
        (month, scope, ind.code): tally.get(month, scope, ind.code)
        for month in months
        for scope in tally.scopes(month)
        for ind in tally.inds
    }


def test_a_patient_who_left_the_roster_is_not_counted_and_their_rows_are_deleted(tmp_path):
    url = _import(tmp_path, "monthly.db", ROSTER)
    _, _, before = mr.prepare(url, "national-default", NOVEMBER, Window.YTD, True)
    assert _stored_patients(url) == {"patient_months": {"L1", "L2", "L3", "L4"},
                                     "visit_decisions": {"L1", "L2", "L3", "L4"}}
    assert before.tally.get(NOVEMBER, ("", ""), "C01")[1] == 4

    _remove_from_roster(url, "L2")
    _, summary, after = mr.prepare(url, "national-default", NOVEMBER, Window.YTD, True)
    assert summary.built == 0  # the others' rows are reused
    assert _stored_patients(url) == {"patient_months": {"L1", "L3", "L4"},
                                     "visit_decisions": {"L1", "L3", "L4"}}

    scratch = _import(tmp_path, "scratch.db", [r for r in ROSTER if r["patient_id"] != "L2"])
    _, _, fresh = mr.prepare(scratch, "national-default", NOVEMBER, Window.YTD, True)
    assert _tallies(after) == _tallies(fresh) != _tallies(before)
    assert after.tally.get(NOVEMBER, ("", ""), "C01")[1] == 3


def test_rows_and_kept_decisions_of_the_provisional_calendar_are_not_reused_by_a_strict_run(tmp_path):
    url = _import(tmp_path, "monthly.db", ROSTER)
    months = mr.report_months("2026-06")
    asked = {"provisional": 0, "strict": 0}

    def builder(provisional: bool) -> mr.RowBuilder:
        built = mr.RowBuilder("national-default", months, provisional, Window.YTD)
        decide, name = built.assessor.decide, "provisional" if provisional else "strict"

        def counted(patient, day):
            asked[name] += 1
            return decide(patient, day)

        built.assessor.decide = counted
        return built

    provisional, strict = builder(True), builder(False)
    assert provisional.basis.key != strict.basis.key
    first = mr.ensure_rows(url, provisional, months)
    assert first.built == len(ROSTER) * len(months)
    again = mr.ensure_rows(url, strict, months)
    assert again.reused == 0 and again.built == first.built
    assert asked["strict"] == asked["provisional"] > 0  # nothing kept by the provisional run was used
    assert mr.ensure_rows(url, builder(False), months).reused == first.built  # its own rows are
