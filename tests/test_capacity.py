"""pathways/capacity.py and reports/capacity.py: a team's daily capacity is never exceeded, dates
stay within their windows, closed days stay empty, and a period too small says so with numbers."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli
from pathways.capacity import Capacity, Slot, spread
from pathways.errors import SangaoError
from pathways.workdays import WorkCalendar
from reports.capacity import load_capacity, shortage

# A made-up 2030: 05-01…05-03 closed, Saturday 05-04 a make-up working day.
CAL = WorkCalendar(
    holidays={date(2030, 5, 1), date(2030, 5, 2), date(2030, 5, 3)}, workdays={date(2030, 5, 4)}, years={2030}
)
D0 = date(2030, 4, 22)  # a Monday


def slot(key, due: date, early=3, late=5) -> Slot:
    return Slot(key, due, due - timedelta(days=early), due + timedelta(days=late))


def test_contacts_that_fit_keep_their_due_dates():
    slots = [slot(i, D0 + timedelta(days=i % 3)) for i in range(6)]
    placement = spread(slots, Capacity(per_day=2), CAL)
    assert placement.unplaced == [] and placement.placed == {s.key: s.due for s in slots}


def test_a_crowded_day_spills_into_the_window_and_no_day_is_over_capacity():
    slots = [slot(i, D0) for i in range(7)]  # seven due on one Monday, three a day
    placement = spread(slots, Capacity(per_day=3), CAL)
    assert placement.unplaced == []
    assert placement.per_day() == {D0: 3, D0 + timedelta(days=1): 3, D0 + timedelta(days=2): 1}


def test_holidays_and_closed_days_get_nothing_and_a_make_up_saturday_is_used():
    due = date(2030, 5, 1)  # a holiday
    slots = [slot(i, due, early=0, late=6) for i in range(4)]
    placement = spread(slots, Capacity(per_day=2, closed=frozenset({date(2030, 5, 6)})), CAL)
    assert placement.unplaced == []
    # Saturday 05-04 is worked; Sunday 05-05 is not; Monday 05-06 the team has closed
    assert placement.per_day() == {date(2030, 5, 4): 2, date(2030, 5, 7): 2}


def test_when_late_days_run_out_contacts_move_early_within_their_windows():
    slots = [slot(i, D0 + timedelta(days=2), early=2, late=0) for i in range(3)]
    placement = spread(slots, Capacity(per_day=1), CAL)
    assert placement.unplaced == []
    assert sorted(placement.placed.values()) == [D0, D0 + timedelta(days=1), D0 + timedelta(days=2)]


def test_a_period_too_small_is_counted_and_said_with_numbers():
    slots = [slot(i, D0, early=0, late=1) for i in range(5)]  # Mon + Tue, 2 a day = 4 places
    placement = spread(slots, Capacity(per_day=2), CAL)
    assert (placement.load, placement.days, placement.capacity, len(placement.unplaced)) == (5, 2, 4, 1)
    assert max(placement.per_day().values()) == 2
    text = shortage("A队", placement, 2).render("zh")
    assert "R420" in text and "需安排 5 人次" in text and "共 4 人次" in text and "1 人次排不进" in text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 4), st.integers(0, 6)), min_size=1, max_size=40),
    st.integers(1, 4),
)
def test_capacity_is_never_exceeded_and_every_date_stays_in_its_window(specs, per_day):
    slots = [slot(i, D0 + timedelta(days=d), early=e, late=lt) for i, (d, e, lt) in enumerate(specs)]
    placement = spread(slots, Capacity(per_day=per_day), CAL)
    assert all(n <= per_day for n in placement.per_day().values())
    by_key = {s.key: s for s in slots}
    for key, day in placement.placed.items():
        assert by_key[key].earliest <= day <= by_key[key].latest and CAL.is_working_day(day)
    assert len(placement.placed) + len(placement.unplaced) == len(slots)


def test_a_capacity_file_with_a_bad_value_names_the_file_line_and_field(tmp_path: Path):
    path = tmp_path / "cap.yaml"
    path.write_text("per_day: 20\nteams:\n  A队: {per_day: zero}\n", encoding="utf-8")
    try:
        load_capacity(path)
    except SangaoError as exc:
        problem = exc.problems[0]
        assert (problem.code, problem.line) == ("D040", 3) and "per_day" in problem.render("zh")
    else:
        raise AssertionError("a bad per_day was accepted")


def test_sangao_plan_spreads_a_teams_follow_ups_under_its_capacity(tmp_path: Path):
    # twelve patients all seen on 2026-09-01: their follow-ups all fall due on 11-30
    roster = tmp_path / "r.jsonl"
    lines = [
        dict(
            patient_id=f"P{i:02d}",
            sex="M",
            birth_date="1960-05-01",
            team="A队",
            conditions=["hypertension"],
            enrolled_on="2025-01-06",
            visits=[dict(date="2026-09-01", sbp=128, dbp=78)],
        )
        for i in range(12)
    ]
    roster.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n", encoding="utf-8")
    cap = tmp_path / "cap.yaml"
    cap.write_text("per_day: 20\nteams:\n  A队: {per_day: 3, closed: [2026-12-01]}\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [
        "plan",
        "--team",
        "A队",
        "--roster",
        str(roster),
        "--db",
        str(tmp_path / "none.db"),
        "--as-of",
        "2026-11-20",
        "--capacity",
        str(cap),
        "--format",
        "csv",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    rows = [
        line.split(",")
        for line in (out / "appointments.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    ]
    follow_ups = [r[3] for r in rows if r[4] == "随访"]
    per_day: dict[str, int] = {}
    for day in follow_ups:
        per_day[day] = per_day.get(day, 0) + 1
    assert max(per_day.values()) <= 3 and "2026-12-01" not in per_day
    first = sorted(follow_ups)[:12]
    assert first[:3] == ["2026-11-30"] * 3 and first[3:6] == ["2026-12-02"] * 3
