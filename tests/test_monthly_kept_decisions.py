"""The monthly report's fast paths (reports/monthly.py): a month's rows built with the decisions
kept from last month's run (table visit_decisions) are the rows built from scratch, byte for byte,
and a record corrected before the kept month's end is not served from them; a report after last
month's counts what a report from scratch counts (its first month's sums kept by last month's)."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from msgspec.structs import replace as msgspec_replace

import store
from pathways.monthly import Window
from reports import monthly as mr
from tests.roster_files import write_jsonl


def _p(pid, visits, **fields):
    base = dict(
        patient_id=pid,
        sex="M",
        birth_date="1958-04-02",
        conditions=["hypertension", "diabetes"],
        enrolled_on="2024-03-01",
        institution="甲卫生院",
        team="一队",
        visits=[dict(zip(("date", "sbp", "dbp", "fpg"), v, strict=False)) for v in visits],
    )
    base.update(fields)
    return base


ROSTER = [
    _p("K1", [("2026-03-02", 132, 82, 6.1), ("2026-06-01", 128, 80, 6.0), ("2026-09-03", 130, 80, 6.2)]),
    # uncontrolled in September: the short cycle, missed since
    _p("K2", [("2026-06-10", 138, 84, 6.5), ("2026-09-15", 162, 98, 9.4)]),
    # a visit in November after one in late October (inside the early window of its plan)
    _p("K3", [("2026-07-20", 130, 82, 6.2), ("2026-10-28", 128, 80, 6.0), ("2026-11-06", 126, 78, 5.9)]),
    # a November visit after a plan missed in the summer
    _p("K4", [("2026-02-05", 150, 95, 8.8), ("2026-11-20", 134, 84, 6.6)]),
    # lost to follow-up: nothing for more than a year
    _p("K5", [("2025-08-11", 136, 86, 6.3)]),
    # died in November
    _p("K6", [("2026-05-05", 140, 90, 7.0), ("2026-08-06", 138, 88, 7.1)], deceased_on="2026-11-12"),
    # enrolled in October, no visit yet
    _p("K7", [], enrolled_on="2026-10-08", conditions=["hypertension"]),
    # hypertension only, visits on working days around the national holiday
    _p("K8", [("2026-04-30", 126, 80), ("2026-08-31", 124, 78)], conditions=["hypertension"]),
]
OCTOBER, NOVEMBER = "2026-10", "2026-11"


def _import(tmp_path, name: str, roster) -> str:
    url = f"sqlite:///{tmp_path / name}"
    assert store.import_files([write_jsonl(tmp_path / f"{name}.jsonl", roster)], url, date(2026, 12, 1)).ok
    return url


def _build(url: str, month: str) -> tuple[mr.InputSummary, int]:
    """Build the rows of the 12 months ending with `month`; (summary, rules asked)."""
    months = mr.report_months(month)
    builder = mr.RowBuilder("national-default", months, True, Window.YTD)
    asked = 0
    decide = builder.assessor.decide

    def counted(patient, day):
        nonlocal asked
        asked += 1
        return decide(patient, day)

    builder.assessor.decide = counted
    return mr.ensure_rows(url, builder, months), asked


def _stored(url: str, month: str) -> dict[tuple[str, str], bytes]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT patient_id, month, payload FROM patient_months WHERE month = ?", (month,))
        return {(pid, m): payload for pid, m, payload in rows}


@pytest.mark.parametrize("changed", [False, True], ids=["same record", "September's reading corrected"])
def test_next_months_rows_from_kept_decisions_are_the_rows_built_from_scratch(tmp_path, changed):
    monthly = _import(tmp_path, "monthly.db", ROSTER)
    _build(monthly, OCTOBER)  # last month's report: keeps the decisions at the latest visits
    if changed:  # K2's September visit was controlled after all: the decision kept for it is wrong
        roster = [
            dict(r, visits=r["visits"][:1] + [dict(date="2026-09-15", sbp=128, dbp=78, fpg=5.8)])
            if r["patient_id"] == "K2"
            else r
            for r in ROSTER
        ]
        store.import_files([write_jsonl(tmp_path / "changed.jsonl", roster)], monthly, date(2026, 12, 1))
    else:
        roster = ROSTER
    summary, asked_monthly = _build(monthly, NOVEMBER)
    assert summary.built == len(ROSTER) + 2 * changed  # November, and K2's September and October

    scratch = _import(tmp_path, "scratch.db", roster)
    _, asked_scratch = _build(scratch, NOVEMBER)
    for month in (OCTOBER, NOVEMBER):
        assert _stored(monthly, month) == _stored(scratch, month)
    assert len(_stored(monthly, NOVEMBER)) == len(ROSTER)

    # the kept decisions were used: November alone asks the rules less than a row from scratch
    # needs for November (the month end, the latest visit and the visit before it)
    november_only = mr.RowBuilder("national-default", [NOVEMBER], True, Window.YTD)
    from_scratch = 0
    decide = november_only.assessor.decide

    def counted(patient, day):
        nonlocal from_scratch
        from_scratch += 1
        return decide(patient, day)

    november_only.assessor.decide = counted
    for patient in store.read_patients(scratch):
        list(november_only.rows(patient, [NOVEMBER]))
    assert asked_monthly < from_scratch <= asked_scratch


def _tallies(counts: mr.Counts) -> dict:
    tally = counts.tally
    months = sorted({m for (m, _i, _t) in tally._teams})
    return {
        (month, scope, ind.code): tally.get(month, scope, ind.code)
        for month in months
        for scope in tally.scopes(month)
        for ind in tally.inds
    }


def test_a_report_after_last_months_counts_what_a_report_from_scratch_counts(tmp_path):
    monthly = _import(tmp_path, "monthly.db", ROSTER)
    mr.prepare(monthly, "national-default", OCTOBER, Window.YTD, True)
    _, _, after = mr.prepare(monthly, "national-default", NOVEMBER, Window.YTD, True)
    scratch = _import(tmp_path, "scratch.db", ROSTER)
    _, _, fresh = mr.prepare(scratch, "national-default", NOVEMBER, Window.YTD, True)
    assert _tallies(after) == _tallies(fresh)
    assert after.cohorts == fresh.cohorts
    # the first month has no previous one: no colour changes counted in it, as from scratch
    assert after.tally.get("2025-12", ("", ""), "C04") == (0, 0)
    assert after.tally.get("2026-01", ("", ""), "C04")[1] > 0


def test_only_the_indicators_marked_as_reading_last_month_change_with_it():
    from reports.indicators import indicators

    months = mr.report_months(NOVEMBER)
    builder = mr.RowBuilder("national-default", months, True, Window.YTD)
    inds = indicators(mr.complications_of(builder))
    marked = {ind.code for ind in inds if ind.previous}
    assert marked == {"C04"}
    patients = [mr._patient(r) for r in ROSTER]
    for patient in patients:
        rows = list(builder.rows(patient, months))
        for before, row in zip(rows, rows[1:], strict=False):
            other = msgspec_replace(before, color="red" if before.color != "red" else "blue")
            for ind in inds:
                if ind.previous:
                    continue
                for prev in (before, other):
                    assert ind.numerator(row, prev) == ind.numerator(row, None), ind.code
                    if ind.denominator is not None:
                        assert ind.denominator(row, prev) == ind.denominator(row, None), ind.code
