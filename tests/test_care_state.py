"""pathways/care_state.py: planned follow-ups and their status, with frozen dates, the real
national-default rules and the real 2026 calendar (2027 provisional)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.assess import Assessor
from guidelines.calendar_loader import load_calendar
from guidelines.loader import load_set
from pathways.care_state import (
    ScheduleRules,
    Status,
    care_state,
    contact_days,
    contacts_of,
    is_closed,
    is_lost,
    last_contact,
)
from pathways.models import Patient


def d(text: str) -> date:
    return date.fromisoformat(text)


@pytest.fixture(scope="module")
def assessor() -> Assessor:
    return Assessor(load_set("national-default"), load_calendar({2025, 2026, 2027}, provisional=True))


@pytest.fixture(scope="module")
def rules(assessor) -> ScheduleRules:
    colors = {c: assessor._color_days(c) for c in ("red", "yellow", "blue")}
    return ScheduleRules.from_params(assessor.gset.parameters, colors)


GOOD = (128, 78)  # controlled: blue, 90 days
HIGH = (150, 92)  # uncontrolled: yellow, the 2-week short cycle


def patient(*visits: tuple[str, tuple[int, int]], **extra) -> Patient:
    record = dict(
        patient_id="P1",
        sex="M",
        birth_date="1960-05-01",
        conditions=["hypertension"],
        enrolled_on="2025-01-06",
        visits=[dict(date=day, sbp=bp[0], dbp=bp[1]) for day, bp in visits],
    )
    record.update(extra)
    return Patient.model_validate(record)


def state(assessor, rules, p, as_of, start, end, project=False):
    return care_state(
        p,
        lambda pt, day: assessor.assess(pt, day).assessment,
        rules,
        assessor.calendar,
        d(as_of),
        d(start),
        d(end),
        project=project,
    )


def test_the_schedule_numbers_come_from_the_guideline_set(rules):
    assert (rules.early_days, rules.late_days, rules.lost_days, rules.min_visits_per_year) == (7, 14, 365, 4)
    assert dict(rules.color_days) == {"red": 14, "yellow": 30, "blue": 90}


def test_an_uncontrolled_visit_before_spring_festival_plans_the_short_cycle_after_it(assessor, rules):
    # 2026-02-02 + 14 = 02-16, inside the Spring Festival closure 02-15…02-23 → Tuesday 02-24.
    p = patient(("2025-11-03", GOOD), ("2026-02-02", HIGH))
    s = state(assessor, rules, p, "2026-02-10", "2026-02-03", "2026-03-31")
    (c,) = s.contacts
    assert (c.due, c.status, c.short_cycle, c.interval_days) == (d("2026-02-24"), Status.DUE, True, 22)
    assert "htn.uncontrolled" in c.reasons
    assert (c.window_start, c.window_end) == (d("2026-02-17"), d("2026-03-10"))


def test_a_follow_up_on_a_make_up_saturday_stays_on_that_saturday(assessor, rules):
    # 2026-01-31 + 14 = Saturday 02-14, a make-up working day of the Spring Festival notice.
    s = state(assessor, rules, patient(("2026-01-31", HIGH)), "2026-02-05", "2026-02-01", "2026-02-28")
    assert [c.due for c in s.contacts] == [d("2026-02-14")]


def test_a_follow_up_in_national_day_week_moves_to_the_first_working_day_after_it(assessor, rules):
    # 2026-09-21 + 14 = 10-05, closed 10-01…10-07 → Thursday 10-08.
    s = state(assessor, rules, patient(("2026-09-21", HIGH)), "2026-09-25", "2026-09-22", "2026-10-31")
    assert [c.due for c in s.contacts] == [d("2026-10-08")]


def test_a_provisional_year_takes_the_lunar_spring_festival_from_the_holiday_law(assessor, rules):
    # 2027 is provisional: 2027-01-25 + 14 = 02-08, closed 02-05…02-10 by the law → Thursday 02-11.
    s = state(assessor, rules, patient(("2027-01-25", HIGH)), "2027-01-26", "2027-01-26", "2027-02-28")
    assert [c.due for c in s.contacts] == [d("2027-02-11")]
    assert any("2027" in w for w in s.assessments[d("2027-01-25")].warnings)


def test_visits_in_the_window_are_done_after_it_late_and_without_one_missed(assessor, rules):
    # 2025-06-02 blue → due 09-01 (90 days, a Monday): visit 09-05 done.
    # 09-05 → due 12-04: no visit by 12-18 → missed; the next one due 2026-03-04 (90 days later).
    # Visit 2026-01-05 is after 12-04's window (12-18) and before 2026-03-04's (02-25) → late.
    p = patient(("2025-06-02", GOOD), ("2025-09-05", GOOD), ("2026-01-05", GOOD))
    s = state(assessor, rules, p, "2026-02-01", "2025-08-01", "2026-06-30")
    got = [(c.due, c.status, c.visit) for c in s.contacts]
    assert got == [
        (d("2025-09-01"), Status.DONE, d("2025-09-05")),
        (d("2025-12-04"), Status.LATE, d("2026-01-05")),
        (d("2026-04-07"), Status.DUE, None),  # 01-05 + 90 = 04-05 (清明, closed 04-04…04-06)
    ]


def test_a_missed_follow_up_is_followed_by_the_next_one_an_interval_later(assessor, rules):
    p = patient(("2025-06-02", GOOD))
    s = state(assessor, rules, p, "2025-12-20", "2025-08-01", "2025-12-31")
    got = [(c.due, c.status) for c in s.contacts]
    # 09-01 missed; 09-01 + 90 = 11-30 (Sunday) → 12-01, window open until 12-15 → missed by 12-20.
    assert got == [(d("2025-09-01"), Status.MISSED), (d("2025-12-01"), Status.MISSED)]
    assert s.overdue_since() == d("2025-09-01")
    assert s.contacts[0].days_overdue(d("2025-12-20")) == 110


def test_a_visit_well_before_the_window_replaces_the_plan(assessor, rules):
    # due 09-01 (window from 08-25); a visit on 07-01 re-plans from itself: 07-01 + 90 = 09-29.
    p = patient(("2025-06-02", GOOD), ("2025-07-01", GOOD))
    s = state(assessor, rules, p, "2025-09-10", "2025-06-10", "2025-12-31")
    assert [(c.due, c.status) for c in s.contacts] == [(d("2025-09-29"), Status.DUE)]


def test_no_contact_of_any_kind_for_a_year_is_lost_to_follow_up_and_a_lab_keeps_the_patient(assessor, rules):
    p = patient(("2025-01-06", GOOD))
    s = state(assessor, rules, p, "2026-03-01", "2025-01-01", "2026-03-31")
    statuses = [c.status for c in s.contacts]
    assert statuses[-1] is Status.LOST and Status.LOST not in statuses[:-1]
    assert s.lost and is_lost(p, d("2026-03-01"), rules) and not is_lost(p, d("2026-01-06"), rules)
    with_lab = patient(("2025-01-06", GOOD), labs=[dict(date="2025-12-01", ldl_c=2.5)])
    assert not is_lost(with_lab, d("2026-03-01"), rules)
    assert last_contact(with_lab, d("2026-03-01")).kind == "lab"


def test_a_patient_who_died_is_closed_and_nothing_is_planned_after(assessor, rules):
    p = patient(("2025-06-02", GOOD), deceased_on="2025-08-10")
    s = state(assessor, rules, p, "2025-12-01", "2025-06-10", "2025-12-31")
    assert [(c.due, c.status) for c in s.contacts] == [(d("2025-08-10"), Status.CLOSED)]
    assert s.closed == (d("2025-08-10"), "died") and is_closed(p, d("2025-08-10"))
    assert not s.lost


def test_data_after_as_of_is_never_read(assessor, rules):
    p = patient(("2025-06-02", GOOD), ("2025-09-02", GOOD))
    s = state(assessor, rules, p, "2025-08-20", "2025-08-01", "2025-12-31")
    assert [(c.due, c.status, c.visit) for c in s.contacts] == [(d("2025-09-01"), Status.DUE, None)]
    assert all(day <= d("2025-08-20") for day in s.assessments)


def test_colour_history_keeps_each_change_with_the_rule_that_caused_it(assessor, rules):
    p = patient(("2025-06-02", GOOD), ("2025-12-01", HIGH), ("2025-12-16", GOOD))
    s = state(assessor, rules, p, "2026-01-10", "2025-05-20", "2025-12-31")
    assert [(h.on, h.color_before, h.color) for h in s.history] == [
        (d("2025-05-20"), None, "yellow"),  # the range starts with no reading yet (no data)
        (d("2025-06-02"), "yellow", "blue"),
        (d("2025-12-01"), "blue", "yellow"),
        (d("2025-12-16"), "yellow", "blue"),
    ]
    assert "htn.uncontrolled" in s.history[2].rules and s.history[2].tier == "township"


def test_only_the_anchor_before_the_range_and_the_visits_in_it_are_assessed(assessor, rules):
    visits = [((date(2025, 1, 6) + timedelta(days=90 * i)).isoformat(), GOOD) for i in range(8)]
    p = patient(*visits)
    s = state(assessor, rules, p, "2026-12-31", "2026-09-01", "2026-12-31")
    visit_days = {d(v[0]) for v in visits}
    assessed_visits = sorted(day for day in s.assessments if day in visit_days)
    # the range starts 09-01: 06-30 anchors it, 09-28 is in it; 09-01 gives the starting colour
    assert assessed_visits == [d("2026-06-30"), d("2026-09-28")]
    assert sorted(s.assessments) == [d("2026-06-30"), d("2026-09-01"), d("2026-09-28")]


def test_a_projected_year_has_at_least_four_follow_ups_on_working_days(assessor, rules):
    # 2026-01-05 + 90 → 04-07 (after 清明); 90-day steps would give only 3 by 2027-01-05.
    p = patient(("2025-10-06", GOOD), ("2026-01-05", GOOD))
    s = state(assessor, rules, p, "2026-01-06", "2026-01-06", "2027-01-05", project=True)
    dues = [c.due for c in s.contacts]
    assert dues[0] == d("2026-04-07") and len(dues) >= 4 and dues == sorted(dues)
    assert all(assessor.calendar.is_working_day(day) for day in dues)
    assert all(day <= d("2027-01-05") for day in dues)
    assert [c.projected for c in s.contacts] == [False] + [True] * (len(dues) - 1)


def test_contact_days_are_the_days_of_every_contact_and_a_tie_on_the_last_day_goes_to_the_visit(rules):
    def check(p, at):
        found = contacts_of(p, d(at))
        days, last = contact_days(p, d(at))
        assert days == [c.on for c in found]
        assert last == (found[-1] if found else None)
        return last

    everything = dict(
        labs=[dict(date="2025-03-01", ldl_c=2.5), dict(date="2025-05-02", ldl_c=2.4)],
        screenings=[dict(date="2025-05-02", kind="fundus", result="normal")],
        referrals=[dict(date="2025-04-01", to="county", returned_on="2025-05-02")],
    )
    p = patient(("2025-02-01", GOOD), ("2025-05-02", GOOD), **everything)
    assert check(p, "2025-05-02").kind == "visit"  # visit, return, screening and lab on one day
    q = patient(("2025-02-01", GOOD), **everything)
    assert check(q, "2025-05-02").kind == "referral_return"
    assert check(q, "2025-04-01").kind == "referral"
    assert check(q, "2025-03-15").kind == "lab"
    assert check(q, "2025-01-06").kind == "enrolment"
    assert check(q, "2025-01-05") is None  # before enrolment: no contact


def test_contacts_due_before_the_range_are_planned_but_not_listed(assessor, rules):
    # every 2 weeks from an uncontrolled visit, none kept: the missed ones before 06-01 lead to the
    # ones listed, exactly as a range from the visit lists them from 06-01 on
    p = patient(("2025-03-03", HIGH))
    whole = state(assessor, rules, p, "2025-07-15", "2025-03-03", "2025-07-15")
    part = state(assessor, rules, p, "2025-07-15", "2025-06-01", "2025-07-15")
    assert part.contacts and part.contacts == tuple(c for c in whole.contacts if c.due >= d("2025-06-01"))
    assert {c.status for c in part.contacts} <= {Status.MISSED, Status.DUE}
    assert part.contacts[-1].status is Status.DUE
