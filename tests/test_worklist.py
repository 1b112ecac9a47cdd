"""reports/worklist.py and `sangao worklist`: a team's week on a literal roster equals the list
made by hand from the rules (blue 90 days, red 14, window −7/+14 days, lost after 365 days,
referral back within 14 days, new red within 14 days)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from pathways.models import Patient
from reports.care_context import build_context
from reports.worklist import build_worklist, call_rows, period, write_worklist_csv

AS_OF = date(2026, 11, 30)  # a Monday
GOOD, HIGH = (128, 78), (150, 92)
SCREENED = [dict(date="2026-06-01", kind=k, result="normal") for k in ("ecg", "stroke_risk", "uacr", "egfr")]


def person(pid: str, visits, team="A队", **extra) -> dict:
    record = dict(
        patient_id=pid,
        name="张" + pid[-1] + "明",
        phone="1380000000" + pid[-1],
        sex="M",
        birth_date="1960-05-01",
        team=team,
        conditions=["hypertension"],
        enrolled_on="2025-01-06",
        visits=[
            dict(date=day, sbp=bp[0], dbp=bp[1]) if bp else dict(date=day, weight_kg=70) for day, bp in visits
        ],
        screenings=SCREENED,
    )
    record.update(extra)
    return record


ROSTER = [
    # due this week: 09-01 + 90 = 11-30
    person("P1", [("2026-09-01", GOOD)]),
    # overdue: 08-03 + 90 = 11-01 (Sunday) → 11-02, no visit since: 28 days
    person("P2", [("2026-08-03", GOOD)]),
    # lost: no contact of any kind since 2025-10-01
    person("P3", [("2025-10-01", GOOD)], screenings=[dict(date="2025-10-01", kind="ecg", result="normal")]),
    # new red: two uncontrolled readings, the second on 11-24 → refer; next follow-up 12-08
    person("P4", [("2026-09-01", GOOD), ("2026-11-10", HIGH), ("2026-11-24", HIGH)]),
    # referral of 11-05 not back after 25 days; follow-up due 2027-02
    person("P5", [("2026-11-02", GOOD)], referrals=[dict(date="2026-11-05", to="county")]),
    # no BP reading within 90 days (the 11-16 visit took weight only); due 12-16
    person("P6", [("2026-08-20", GOOD), ("2026-11-16", None)]),
    # another team's patient, due today: not on team A's list
    person("Q1", [("2026-09-01", GOOD)], team="B队"),
    # died: never listed
    person("P7", [("2026-08-03", GOOD)], deceased_on="2026-10-01"),
]


@pytest.fixture(scope="module")
def ctx():
    return build_context("national-default", AS_OF)


@pytest.fixture(scope="module")
def patients():
    return [Patient.model_validate(r) for r in ROSTER]


def test_a_week_is_monday_to_sunday_and_a_month_is_the_calendar_month():
    assert period(AS_OF, True, False, None, None) == (date(2026, 11, 30), date(2026, 12, 6))
    assert period(date(2026, 12, 3), True, False, None, None) == (date(2026, 11, 30), date(2026, 12, 6))
    assert period(AS_OF, False, True, None, None) == (date(2026, 11, 1), date(2026, 11, 30))


def test_a_teams_week_equals_the_hand_made_list(ctx, patients):
    wl = build_worklist(patients, ctx, date(2026, 11, 30), date(2026, 12, 6), team="A队")
    got = [(r.patient.patient_id, r.color, [(i.kind, i.on) for i in r.items]) for r in wl.rows]
    assert got == [
        ("P4", "red", [("new_red", date(2026, 11, 24))]),
        ("P5", "blue", [("referral_open", date(2026, 11, 5))]),
        # P2 and P3: their last reading is older than the 90-day control window too
        ("P2", "yellow", [("overdue", date(2026, 11, 2)), ("no_reading", None)]),
        (
            "P3",
            "yellow",
            [("lost", date(2025, 10, 1)), ("no_reading", None), ("screening_overdue", date(2025, 4, 6))],
        ),
        ("P1", "blue", [("due", date(2026, 11, 30))]),
        ("P6", "yellow", [("no_reading", None)]),
    ]
    details = {r.patient.patient_id: r.items[0].detail for r in wl.rows}
    assert details["P2"] == "28天"
    assert details["P5"] == "2026-11-05 转县级，25天未返回"
    assert "两次" in details["P4"] and "150/92" in details["P4"] and "转诊县级（常规）" in details["P4"]
    assert details["P6"].startswith("血压：90天内无读数")
    # ECG done 2025-10-01 (due again 2026-10-01); the others never, due 90 days after enrolment
    assert wl.rows[3].items[2].detail == "静息心电图、卒中病史与危险因素评估、尿白蛋白/肌酐比、血肌酐/eGFR"
    assert wl.warnings == ()


def test_without_a_team_every_teams_patients_are_listed(ctx, patients):
    wl = build_worklist(patients, ctx, date(2026, 11, 30), date(2026, 12, 6))
    assert {r.patient.patient_id for r in wl.rows} == {"P1", "P2", "P3", "P4", "P5", "P6", "Q1"}


def test_the_csv_has_one_line_per_item_with_days_overdue_and_masked_names(ctx, patients):
    wl = build_worklist(patients, ctx, date(2026, 11, 30), date(2026, 12, 6), team="A队")
    out = io.StringIO()
    write_worklist_csv(wl, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:4] == ["患者编号", "姓名", "团队", "颜色"]
    overdue = next(r for r in rows if r[0] == "P2")
    assert overdue[4] == "逾期未访" and overdue[7] == "28" and overdue[1] == "张**"
    assert len(rows) == 1 + 9


def test_the_call_list_masks_names_and_phones_unless_unmasked(ctx, patients):
    wl = build_worklist(patients, ctx, date(2026, 11, 30), date(2026, 12, 6), team="A队")
    masked = call_rows(wl)
    assert masked[0][:2] == ("张**", "138****0004")
    assert masked[0][3] == "2026-11-24"
    assert call_rows(wl, unmasked=True)[0][:2] == ("张4明", "13800000004")


def test_the_cli_call_list_unmasked_is_recorded_in_the_audit_log(tmp_path: Path):
    from store.audit import audit_entries

    roster = tmp_path / "roster.jsonl"
    roster.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROSTER) + "\n", encoding="utf-8")
    db = tmp_path / "s.db"
    runner = CliRunner()
    args = ["roster", "import", str(roster), "--db", str(db), "--as-of", "2026-11-30"]
    imported = runner.invoke(cli.app, args)
    assert imported.exit_code == 0
    result = runner.invoke(
        cli.app,
        [
            "worklist",
            "--team",
            "A队",
            "--week",
            "--as-of",
            "2026-11-30",
            "--db",
            str(db),
            "--call-list",
            "--unmasked",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "张4明,13800000004" in result.stdout
    (entry,) = audit_entries(f"sqlite:///{db}")
    assert entry.command == "worklist --call-list --unmasked" and entry.patients == 6


def test_the_cli_table_at_80_columns_shows_whole_patient_ids_and_wraps_items(tmp_path: Path):
    roster = tmp_path / "roster.jsonl"
    long_id = dict(ROSTER[1], patient_id="370202-000456789")
    roster.write_text(json.dumps(long_id, ensure_ascii=False) + "\n", encoding="utf-8")
    args = ["worklist", "--week", "--as-of", "2026-11-30", "--roster", str(roster)]
    result = CliRunner().invoke(cli.app, args, terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "370202-000456789" in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "逾期未访" in result.stdout
