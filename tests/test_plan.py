"""reports/plan.py, store/plans.py and `sangao plan`: the annual plan of a literal patient, with
the real 2026 calendar and a provisional (or file-given) 2027."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from icalendar import Calendar
from typer.testing import CliRunner

import cli
from pathways.errors import SangaoError
from pathways.models import Patient
from reports.care_context import build_context
from reports.plan import build_plan, render_html, team_ics, write_appointments_csv

START = date(2026, 1, 6)
GOOD = dict(sbp=128, dbp=78)


def record(**extra) -> dict:
    r = dict(
        patient_id="P1",
        name="王小明",
        sex="M",
        birth_date="1960-05-01",
        team="A队",
        smoker=True,
        conditions=["hypertension"],
        enrolled_on="2025-01-06",
        visits=[
            dict(date="2025-10-06", **GOOD),
            dict(date="2026-01-05", **GOOD, weight_kg=80, height_cm=170),
        ],
        screenings=[
            dict(date="2025-05-09", kind="ecg", result="normal"),  # due 2026-05-09, a make-up Saturday
            dict(date="2025-02-16", kind="uacr", result="normal"),  # due 2026-02-16, Spring Festival
            dict(date="2025-06-02", kind="stroke_risk", result="normal"),
            dict(date="2025-06-02", kind="egfr", result="normal"),
        ],
    )
    r.update(extra)
    return r


@pytest.fixture(scope="module")
def ctx():
    return build_context("national-default", START)


@pytest.fixture(scope="module")
def plan(ctx):
    return build_plan(Patient.model_validate(record()), ctx, START)


def test_follow_ups_follow_the_rules_through_qingming_national_day_and_a_provisional_new_year(plan):
    # 01-05 + 90 = 04-05 (清明 04-04…06) → 04-07; + 90 = 07-06; + 90 = 10-04 (国庆) → 10-08;
    # + 90 = 2027-01-02, a Saturday of the provisional 2027 → Monday 01-04.
    assert [f.day for f in plan.follow_ups] == [
        date(2026, 4, 7),
        date(2026, 7, 6),
        date(2026, 10, 8),
        date(2027, 1, 4),
    ]
    assert (plan.start, plan.end) == (START, date(2027, 1, 5))
    assert (plan.color, plan.tier) == ("blue", "village")


def test_the_screening_calendar_keeps_a_make_up_saturday_and_skips_spring_festival(plan):
    dates = {s.kind: s.dates for s in plan.screenings}
    assert dates == {
        "ecg": (date(2026, 5, 9),),
        "stroke_risk": (date(2026, 6, 2),),
        "uacr": (date(2026, 2, 24),),
        "egfr": (date(2026, 6, 2),),
    }
    names = {s.kind: (s.name, s.complication, s.where) for s in plan.screenings}
    assert names["ecg"] == ("静息心电图", "冠心病", "三高基地（乡镇/社区）")


def test_targets_triggers_and_education_fit_the_patient(plan):
    targets = {t.key: (t.target, t.current) for t in plan.targets}
    assert targets["bp"][0].startswith("<") and targets["bp"][1] == "128/78"
    assert targets["bmi"] == ("18.5–<24 kg/m²", "27.7")
    assert targets["waist"][0] == "<85 cm" and targets["smoking"][0] == "戒烟"
    assert "fpg" not in targets  # not diabetic
    assert any("戒烟" in item for item in plan.education)
    assert any("减轻体重" in item for item in plan.education)  # BMI 27.7 ≥ 24
    assert not any("血糖" in item for item in plan.education)
    assert plan.referral_triggers and not any("糖" in t for t in plan.referral_triggers)
    assert not any("{" in t for t in plan.referral_triggers)


def test_a_provisional_year_is_flagged_in_the_html_the_csv_and_the_ics(plan):
    assert plan.provisional_years == (2027,) and "2027" in plan.warnings[0]
    html = render_html([plan])
    assert 'class="banner"' in html and plan.warnings[0] in html
    out = io.StringIO()
    write_appointments_csv([plan], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    by_date = {r[3]: r[-1] for r in rows[1:]}
    assert by_date["2027-01-04"] == plan.warnings[0] and by_date["2026-04-07"] == ""
    events = Calendar.from_ical(team_ics([plan], "A队")).walk("VEVENT")
    assert len(events) == 8
    assert sorted(e.decoded("dtstart") for e in events)[0] == date(2026, 2, 24)
    described = {e.decoded("dtstart"): str(e.get("description")) for e in events}
    assert plan.warnings[0] in described[date(2027, 1, 4)]
    assert plan.warnings[0] not in described[date(2026, 4, 7)]
    assert all("王小明" not in str(e.get("summary")) for e in events)  # masked


def test_a_calendar_file_replaces_the_provisional_year(tmp_path: Path):
    (tmp_path / "2027.yaml").write_text("holidays: [2027-01-01, 2027-01-04]\nmakeup_workdays: []\n")
    ctx = build_context("national-default", START, calendar_dirs=[tmp_path])
    plan = build_plan(Patient.model_validate(record()), ctx, START)
    assert plan.follow_ups[-1].day == date(2027, 1, 5) and plan.warnings == ()


def test_the_strict_calendar_makes_a_provisional_year_an_error():
    ctx = build_context("national-default", START, strict_calendar=True)
    with pytest.raises(SangaoError) as caught:
        build_plan(Patient.model_validate(record()), ctx, START)
    assert caught.value.problems[0].code == "R410" and "2027" in caught.value.problems[0].message


def test_stored_plans_list_changes_and_reprint_exactly(tmp_path: Path):
    roster = tmp_path / "r.jsonl"
    roster.write_text(json.dumps(record(), ensure_ascii=False) + "\n", encoding="utf-8")
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    assert (
        runner.invoke(
            cli.app, ["roster", "import", str(roster), "--db", db, "--as-of", "2026-01-06"]
        ).exit_code
        == 0
    )
    first = runner.invoke(
        cli.app, ["plan", "P1", "--db", db, "--as-of", "2026-01-06", "--out", str(tmp_path / "a")]
    )
    assert first.exit_code == 0, first.output
    # a year later, after an uncontrolled visit: yellow now, and the plan says so
    later = record(visits=[*record()["visits"], dict(date="2026-12-28", sbp=150, dbp=95)])
    roster.write_text(json.dumps(later, ensure_ascii=False) + "\n", encoding="utf-8")
    runner.invoke(cli.app, ["roster", "import", str(roster), "--db", db, "--as-of", "2027-01-05"])
    second = runner.invoke(
        cli.app, ["plan", "P1", "--db", db, "--as-of", "2027-01-05", "--out", str(tmp_path / "b")]
    )
    assert second.exit_code == 0, second.output
    assert "颜色" in second.stdout and "蓝标" in second.stdout and "黄标" in second.stdout
    reprint = runner.invoke(
        cli.app, ["plan", "P1", "--db", db, "--from", "2026-01-06", "--reprint", "--out", str(tmp_path / "c")]
    )
    assert reprint.exit_code == 0, reprint.output
    assert (tmp_path / "a" / "plans.html").read_text() == (tmp_path / "c" / "plans.html").read_text()


def test_a_plan_pdf_shows_its_chinese_text(plan):
    import pypdfium2 as pdfium

    from reports.plan import render_pdf

    document = pdfium.PdfDocument(render_pdf([plan]))
    assert len(document) == 1
    text = document[0].get_textpage().get_text_range()
    assert "年度一体化照护计划" in text and "静息心电图" in text and "P1" in text
    image = document[0].render(scale=1).to_pil().convert("L")
    assert sum(image.histogram()[:128]) > 2000  # dark pixels: text was drawn
    document.close()


def test_each_team_gets_its_own_calendar_with_lines_folded_at_75_octets(ctx):
    from reports.plan import team_calendars

    plans = [build_plan(Patient.model_validate(record(patient_id=f"P{i}", team=team)), ctx, START)
             for i, team in enumerate(["A队", "B队", "A队"])]
    calendars = team_calendars(plans)
    assert sorted(calendars) == ["A队", "B队"]
    raw = calendars["A队"]
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    events = Calendar.from_ical(raw).walk("VEVENT")
    assert len(events) == 16 and {str(e.get("summary")).split()[1] for e in events} == {"P0", "P2"}
    assert len({str(e.get("uid")) for e in events}) == 16


def test_plan_all_stores_every_plan_of_the_database_it_reads(tmp_path: Path):
    from store.plans import stored_plans

    roster = tmp_path / "r.jsonl"
    people = [record(patient_id=f"P{i}", team=t) for i, t in enumerate(["A队", "B队", "A队"])]
    roster.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in people) + "\n", encoding="utf-8")
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    imported = runner.invoke(cli.app, ["roster", "import", str(roster), "--db", db, "--as-of", "2026-01-06"])
    assert imported.exit_code == 0
    result = runner.invoke(cli.app, ["plan", "--all", "--db", db, "--as-of", "2026-01-06", "--format", "ics",
                                     "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.patient_id for p in stored_plans(f"sqlite:///{db}", None, START)) == ["P0", "P1", "P2"]
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["A队.ics", "B队.ics"]
    events = Calendar.from_ical((tmp_path / "out" / "A队.ics").read_bytes()).walk("VEVENT")
    assert len(events) == 16 and {str(e.get("summary")).split()[1] for e in events} == {"P0", "P2"}
