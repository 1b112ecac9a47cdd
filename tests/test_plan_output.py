"""The plan files and rows of many plans: the appointments CSV written in parts per plan and per
appointment, the ICS lines shared by patients on the same schedule, the plans stored a batch at a
time, and the schedule the plan asks for without the colour history."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from icalendar import Calendar

from pathways.care_state import care_state
from pathways.models import Patient
from pathways.plan import ScreeningPlan
from reports.care_context import build_context
from reports.csv_safe import SafeWriter
from reports.plan import TEXT, appointments, build_plan, team_ics, write_appointments_csv

START = date(2026, 1, 6)


def record(patient_id: str, **extra) -> dict:
    r = dict(
        patient_id=patient_id,
        name="王小明",
        sex="M",
        birth_date="1960-05-01",
        team="A队",
        conditions=["hypertension"],
        enrolled_on="2025-01-06",
        visits=[dict(date="2025-10-06", sbp=128, dbp=78), dict(date="2026-01-05", sbp=128, dbp=78)],
        screenings=[dict(date="2025-05-09", kind="ecg", result="normal")],
    )
    r.update(extra)
    return r


@pytest.fixture(scope="module")
def ctx():
    return build_context("national-default", START)


@pytest.fixture(scope="module")
def plans(ctx):
    """Three plans on one schedule (the same visits), with cells a spreadsheet or a calendar must
    be kept from reading as formulas or separators."""
    built = [build_plan(Patient.model_validate(record(f"P{i}")), ctx, START) for i in range(3)]
    odd = built[1].model_copy(update={"name": '=HYPERLINK("x")', "team": "B队, 二组"})
    place = [s.model_copy(update={"where": "乡镇; 卫生院, 二楼"}) for s in built[2].screenings]
    return [built[0], odd, built[2].model_copy(update={"screenings": tuple(place), "name": "王;小,明\\"})]


def one_row_at_a_time(plans) -> str:
    """The appointments CSV as SafeWriter writes it a whole row at a time."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(TEXT["zh"]["csv"])
    for plan in plans:
        for day, kind, item, where, lo, hi in appointments(plan):
            writer.writerow((plan.patient_id, plan.name, plan.team, day.isoformat(), kind, item, where,
                             lo.isoformat(), hi.isoformat(), plan.warning_for(day)))
    return out.getvalue()


def test_the_appointments_csv_is_the_one_safewriter_writes_row_by_row(plans):
    out = io.StringIO()
    count = write_appointments_csv(plans, out)
    assert out.getvalue() == one_row_at_a_time(plans)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert count == len(rows) - 1 == sum(len(appointments(p)) for p in plans)
    odd = [r for r in rows if r[0] == "P1"]
    assert odd and all(r[1] == '\'=HYPERLINK("x")' and r[2] == "B队, 二组" for r in odd)
    assert any(r[6] == "乡镇; 卫生院, 二楼" for r in rows if r[0] == "P2")
    warned = [r for r in rows[1:] if r[3].startswith("2027")]
    assert warned and all("2027" in r[-1] for r in warned)


def test_patients_on_one_schedule_get_the_same_event_lines_with_their_own_uid_and_summary(plans):
    raw = team_ics(plans, "A队")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    unfolded = raw.replace(b"\r\n ", b"").decode()
    assert unfolded.count("P2 王\\;小\\,明\\\\") == len(appointments(plans[2]))  # RFC 5545 escapes
    events = Calendar.from_ical(raw).walk("VEVENT")
    assert len(events) == len(appointments(plans[0])) + len(appointments(plans[2]))
    by_patient: dict[str, list] = {}
    for e in events:
        by_patient.setdefault(str(e.get("summary")).split()[1], []).append(e)
    assert sorted(by_patient) == ["P0", "P2"]
    for e in by_patient["P2"]:
        assert str(e.get("summary")).split(" ", 2)[2].startswith("王;小,明\\")
        if "筛查" in str(e.get("summary")):
            assert str(e.get("description")).startswith("乡镇; 卫生院, 二楼\n")  # escaped, read back
    first = [(e.decoded("dtstart"), e.decoded("dtend")) for e in by_patient["P0"]]
    assert first == [(e.decoded("dtstart"), e.decoded("dtend")) for e in by_patient["P2"]]
    uids = {str(e.get("uid")) for e in events}
    assert len(uids) == len(events) and all(u.startswith(("P0-", "P2-")) for u in uids)
    late = [e for e in events if e.decoded("dtstart").year == 2027]
    assert late and all(plans[0].warnings[0] in str(e.get("description")) for e in late)


def test_plans_are_stored_a_batch_at_a_time_and_saving_again_replaces_them(plans, tmp_path: Path,
                                                                          monkeypatch):
    import sqlite3

    import store.plans

    monkeypatch.setattr(store.plans, "BATCH", 2)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert store.plans.save_plans(url, plans) == 3
    later = [p.model_copy(update={"color_label": "再次"}) for p in plans]
    assert store.plans.save_plans(url, later) == 3
    with sqlite3.connect(tmp_path / "p.db") as conn:
        rows = conn.execute("select patient_id, as_of from plans order by id").fetchall()
    conn.close()
    assert rows == [("P0", "2026-01-06"), ("P1", "2026-01-06"), ("P2", "2026-01-06")]
    stored = store.plans.stored_plans(url, None, START)
    assert [p.color_label for p in stored] == ["再次"] * 3 and stored[1] == later[1]
    other = plans[0].model_copy(update={"guideline_version": "9"})
    store.plans.save_plans(url, [other])
    assert len(store.plans.stored_plans(url, ["P0"], START)) == 1  # the later row wins a reprint
    with sqlite3.connect(tmp_path / "p.db") as conn:
        assert conn.execute("select count(*) from plans where patient_id = 'P0'").fetchone() == (2,)
    conn.close()


def test_the_plan_schedule_without_the_history_keeps_the_contacts_and_assesses_less(ctx):
    patient = Patient.model_validate(record("P0"))
    asked: list[date] = []

    def decide(p, day):
        asked.append(day)
        return ctx.assessor.decide(p, day)

    def schedule(history: bool):
        asked.clear()
        state = care_state(patient, decide, ctx.rules, ctx.calendar, START, date(2026, 1, 6),
                           date(2027, 1, 5), project=True, history_events=False, history=history)
        return state, sorted(asked)

    full, full_days = schedule(True)
    lean, lean_days = schedule(False)
    assert lean.contacts == full.contacts and len(lean.contacts) >= 4
    assert full.history and lean.history == ()
    assert START in full_days and START not in lean_days  # the history's first day
    assert set(lean_days) < set(full_days)


def test_screening_dates_shared_by_plans_keep_each_plans_own_dates(ctx):
    # the cached lines are keyed by the dates: two schedules must not borrow each other's
    a = build_plan(Patient.model_validate(record("P0")), ctx, START)
    b = build_plan(Patient.model_validate(record("P1", screenings=[
        dict(date="2025-07-01", kind="ecg", result="normal")])), ctx, START)
    ecg = {p.patient_id: next(s for s in p.screenings if s.kind == "ecg") for p in (a, b)}
    assert isinstance(ecg["P0"], ScreeningPlan) and ecg["P0"].dates != ecg["P1"].dates
    events = Calendar.from_ical(team_ics([a, b], "A队")).walk("VEVENT")
    starts = {(str(e.get("summary")).split()[1], e.decoded("dtstart")) for e in events
              if str(e.get("summary")).endswith(ecg["P0"].name)}
    assert starts == {(p, d) for p in ("P0", "P1") for d in ecg[p].dates}


@pytest.mark.parametrize("text", ["DESCRIPTION:" + "乡镇卫生院，" * 40, "SUMMARY:" + "a" * 200,
                                  "X:" + "é😀中a" * 60, "UID:" + "a" * 73])
def test_a_long_line_is_folded_into_the_longest_parts_that_end_between_characters(text):
    from reports.plan import _ics_line

    folded = _ics_line(text)
    assert folded.endswith(b"\r\n") and folded[:-2].replace(b"\r\n ", b"").decode() == text
    lines = folded[:-2].split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)
    parts = [lines[0]] + [line[1:] for line in lines[1:]]
    assert all(p.decode() for p in parts)  # each part is whole characters
    for i, part in enumerate(parts[:-1]):  # a part is as long as it can be: the next character
        following = parts[i + 1].decode()[0].encode()  # would not have fitted
        assert len(part) + len(following) > (75 if i == 0 else 74)
    assert (len(lines) == 1) == (len(text.encode()) <= 75)


def test_teams_whose_names_make_one_file_name_each_get_their_own_calendar(plans, tmp_path: Path):
    from reports.plan import PlanFiles
    from reports.plan_run import safe_file_name

    slash = plans[0].model_copy(update={"team": "A队/1"})
    underscore = plans[1].model_copy(update={"team": "A队_1"})
    files = PlanFiles(tmp_path, {"ics"}, "zh", safe_file_name)
    files._FLUSH = 1  # each team's events written as they come, so a shared file would lose some
    for plan in (slash, underscore, slash.model_copy(update={"patient_id": "P9"})):
        files.add(plan)
    assert files.close() == ["A队_1.ics", "A队_1-2.ics"]
    teams = {}
    for name in ("A队_1.ics", "A队_1-2.ics"):
        cal = Calendar.from_ical((tmp_path / name).read_bytes())
        teams[name] = (str(cal["X-WR-CALNAME"]), {str(e["UID"]).split("-")[0] for e in cal.walk("VEVENT")})
    assert teams["A队_1.ics"][0].startswith("A队/1") and teams["A队_1-2.ics"][0].startswith("A队_1")
    assert teams["A队_1.ics"][1] == {"P0", "P9"} and teams["A队_1-2.ics"][1] == {"P1"}
