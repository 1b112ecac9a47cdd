"""`sangao report monthly` and `sangao report patients` end to end on a literal roster: the files
it writes (HTML opened in headless Chromium, CSV against a golden file, PDF rendered to an image),
small-cell suppression, byte-stable re-runs, reuse of stored rows, the drill-down."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

import cli
import store
from pathways.monthly import Window
from reports.monthly import prepare
from tests.roster_files import write_jsonl

GOLDEN = Path(__file__).parent / "golden" / "monthly-2026-11.csv"
MONTH = "2026-11"


def _p(pid, team, visits, **fields):
    base = dict(
        patient_id=pid,
        sex="F",
        birth_date="1965-03-01",
        conditions=["hypertension"],
        enrolled_on="2024-01-10",
        institution="甲卫生院",
        team=team,
        name=f"王{pid}",
        visits=[dict(zip(("date", "sbp", "dbp", "fpg"), v, strict=False)) for v in visits],
    )
    base.update(fields)
    return base


QUARTERLY = [
    ("2026-02-10", 132, 82),
    ("2026-05-12", 128, 80),
    ("2026-08-11", 135, 84),
    ("2026-11-09", 130, 80),
]
ROSTER = [
    # 一队: six patients
    _p("A1", "一队", QUARTERLY),
    _p("A2", "一队", QUARTERLY[:3] + [("2026-11-09", 152, 96)]),  # uncontrolled in November
    _p("A3", "一队", [("2026-03-02", 138, 86)], conditions=["hypertension", "diabetes"]),  # no FPG, 1 visit
    _p(
        "A4",
        "一队",
        [("2026-09-01", 150, 92, 8.1), ("2026-10-20", 136, 84, 6.5)],
        conditions=["hypertension", "diabetes"],
        enrolled_on="2026-06-15",
    ),  # enrolled mid-year
    _p("A5", "一队", [("2026-02-01", 170, 100)], deceased_on="2026-03-15"),  # died this year
    _p("A6", "一队", [("2025-10-01", 130, 80)], moved_out_on="2025-12-20"),  # moved out last year
    # 二队: a team of three
    _p("B1", "二队", QUARTERLY),
    _p("B2", "二队", [("2025-08-01", 130, 80)]),  # no reading this year
    _p("B3", "二队", [("2026-11-02", 145, 85)], birth_date="1956-01-01"),  # 70: <150/90 counts
]


@pytest.fixture
def db(tmp_path) -> str:
    roster = write_jsonl(tmp_path / "roster.jsonl", ROSTER)
    url = f"sqlite:///{tmp_path / 'sangao.db'}"
    report = store.import_files([roster], url, date(2026, 12, 1))
    assert report.ok
    return str(tmp_path / "sangao.db")


def _run(args, now="2026-12-07T09:00:00", monkeypatch=None):
    if monkeypatch is not None:
        monkeypatch.setattr(
            cli, "_now", lambda: datetime.fromisoformat(now).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        )
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    return result.output


def _report(db, out, monkeypatch, *extra, now="2026-12-07T09:00:00"):
    return _run(
        [
            "report",
            "monthly",
            "--month",
            MONTH,
            "--db",
            db,
            "--out",
            str(out),
            "--provisional-calendar",
            *extra,
        ],
        now,
        monkeypatch,
    )


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_the_november_report_counts_the_hand_worked_roster(db, tmp_path, monkeypatch):
    output = _report(db, tmp_path / "out", monkeypatch, "--no-pdf")
    rows = {
        (r["指标代码"], r["机构"], r["团队"]): r
        for r in _csv(tmp_path / "out" / "monthly-2026-11.csv")
        if r["月份"] == MONTH
    }
    # managed: all but A6 (moved out before January) = 8
    assert rows[("M01", "", "")]["分子"] == "8"
    # BP controlled: A1 130/80, A3 138/86 (March, in the window), A4 136/84, B1 130/80, B3 145/85 at 70
    # not: A2 152/96, A5 170/100 (died, still counted), B2 no reading → 5/8
    assert (rows[("H02", "", "")]["分子"], rows[("H02", "", "")]["分母"], rows[("H02", "", "")]["值(%)"]) == (
        "5",
        "8",
        "62.5",
    )
    # standard management needs ceil(11/3) = 4 visits: A1, A2, B1 → 3/8
    assert rows[("H01", "", "")]["值(%)"] == "37.5"
    # glucose: A3 has no FPG, A4's latest 6.5 < 7.0 → 1/2
    assert (rows[("D02", "", "")]["分子"], rows[("D02", "", "")]["分母"]) == ("1", "2")
    # the team of three
    assert (rows[("H02", "甲卫生院", "二队")]["分子"], rows[("H02", "甲卫生院", "二队")]["分母"]) == (
        "2",
        "3",
    )
    assert "H02" in output and "血压控制率" in output
    assert all(len(line) <= 80 for line in output.splitlines())


def test_the_indicator_csv_matches_its_golden_file(db, tmp_path, monkeypatch):
    _report(db, tmp_path / "out", monkeypatch, "--no-pdf")
    text = (tmp_path / "out" / "monthly-2026-11.csv").read_text(encoding="utf-8-sig")
    if os.environ.get("SANGAO_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "no golden file: run with SANGAO_UPDATE_GOLDEN=1 once and review it"
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "the CSV changed; if that is intended, rerun with SANGAO_UPDATE_GOLDEN=1 and commit the file"
    )


def test_two_runs_on_the_same_data_differ_only_in_the_run_time(db, tmp_path, monkeypatch):
    _report(db, tmp_path / "one", monkeypatch, "--no-pdf", now="2026-12-07T09:00:00")
    _report(db, tmp_path / "two", monkeypatch, "--no-pdf", now="2026-12-08T17:30:00")
    one, two = (tmp_path / d / "monthly-2026-11.html" for d in ("one", "two"))
    a, b = one.read_text(encoding="utf-8"), two.read_text(encoding="utf-8")
    assert a != b
    assert a.replace("2026-12-07T09:00:00", "T") == b.replace("2026-12-08T17:30:00", "T")
    assert (tmp_path / "one" / "monthly-2026-11.csv").read_bytes() == (
        tmp_path / "two" / "monthly-2026-11.csv"
    ).read_bytes()


def test_every_report_states_guideline_set_as_of_window_and_input_hash(db, tmp_path, monkeypatch):
    _report(db, tmp_path / "out", monkeypatch, "--no-pdf", "--window", "rolling12")
    page = (tmp_path / "out" / "monthly-2026-11.html").read_text(encoding="utf-8")
    for text in ("national-default", "2026-11-30", "滚动12个月", "输入数据哈希"):
        assert text in page
    assert re.search(r"<code>[0-9a-f]{64}</code>", page)
    assert "王" not in page  # no patient names


def test_the_external_report_shows_the_team_of_three_as_under_five(db, tmp_path, monkeypatch):
    _report(db, tmp_path / "out", monkeypatch, "--no-pdf", "--external")
    rows = {
        (r["指标代码"], r["团队"]): r
        for r in _csv(tmp_path / "out" / "monthly-2026-11-external.csv")
        if r["月份"] == MONTH
    }
    assert (rows[("H02", "二队")]["分子"], rows[("H02", "二队")]["分母"], rows[("H02", "二队")]["值(%)"]) == (
        "<5",
        "<5",
        "",
    )
    assert rows[("M01", "")]["分子"] == "8"  # the whole roster is not small
    page = (tmp_path / "out" / "monthly-2026-11-external.html").read_text(encoding="utf-8")
    assert "&lt;5" in page


def test_stored_rows_are_reused_and_a_changed_record_is_recomputed(db, tmp_path):
    url = f"sqlite:///{db}"
    _, first, counted = prepare(url, "national-default", MONTH, Window.YTD, True)
    assert (first.built, first.reused) == (9 * 12, 0)
    _, second, stored = prepare(url, "national-default", MONTH, Window.YTD, True)
    assert (second.built, second.reused, second.digest) == (0, 9 * 12, first.digest)
    # the second run takes every month's sums from the stored tallies: the same numbers
    months = sorted({m for (m, _i, _t) in counted.tally._teams})
    assert len(months) == 12
    for month in months:
        assert stored.tally.scopes(month) == counted.tally.scopes(month)
        for scope in counted.tally.scopes(month):
            for ind in counted.tally.inds:
                assert stored.tally.get(month, scope, ind.code) == counted.tally.get(month, scope, ind.code)
    assert stored.cohorts == counted.cohorts and counted.cohorts
    changed = [
        dict(r, visits=r["visits"] + [{"date": "2026-11-20", "sbp": 120, "dbp": 70}])
        if r["patient_id"] == "B2"
        else r
        for r in ROSTER
    ]
    store.import_files([write_jsonl(tmp_path / "r2.jsonl", changed)], url, date(2026, 12, 1))
    _, third, counts = prepare(url, "national-default", MONTH, Window.YTD, True)
    assert (third.built, third.reused) == (1, 8 * 12 + 11)  # only November knows the new visit
    assert third.digest != first.digest
    assert counts.tally.get(MONTH, ("甲卫生院", "二队"), "H02") == (3, 3)


def test_drill_down_lists_the_patients_not_controlled_with_a_reason_and_masked_names(db, monkeypatch):
    output = _run(
        [
            "report",
            "patients",
            "--indicator",
            "H02",
            "--month",
            MONTH,
            "--db",
            db,
            "--provisional-calendar",
            "--in",
            "not-numerator",
        ]
    )
    lines = {line.split()[0]: line for line in output.splitlines() if line.strip()[:2] in ("A2", "A5", "B2")}
    assert set(lines) == {"A2", "A5", "B2"}
    assert "未控制 2026-11-09 152/96" in lines["A2"] and "无读数" in lines["B2"]
    assert "王*" in output and "王A2" not in output
    standard = _run(
        [
            "report",
            "patients",
            "--indicator",
            "H01",
            "--team",
            "二队",
            "--month",
            MONTH,
            "--db",
            db,
            "--provisional-calendar",
        ]
    )
    assert "不规范: 0/4 次随访" in standard and "不规范: 1/4 次随访" in standard and "B1" not in standard


def test_an_unknown_indicator_code_is_a_usage_error(db):
    result = CliRunner().invoke(cli.app, ["report", "patients", "--indicator", "X99", "--db", db])
    assert result.exit_code == 2
    assert "H02" in result.output


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("no chromium (apt-get install chromium fonts-noto-cjk)")
    return found


def test_the_html_opens_offline_in_headless_chromium_without_console_errors_and_draws_its_charts(
    db, tmp_path, monkeypatch
):
    from PIL import Image

    browser = _chromium()
    _report(db, tmp_path / "out", monkeypatch, "--no-pdf")
    page = tmp_path / "out" / "monthly-2026-11.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"https?:", text)  # nothing to fetch: opens offline
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert console == []
    image = Image.open(shot).convert("RGB")
    colours = {rgb for _count, rgb in image.getcolors(maxcolors=1 << 20)}
    assert (0x1F, 0x5F, 0xA8) in colours  # the trend lines
    assert (0xD6, 0x27, 0x28) in colours  # the 2030 target line
    assert (0x3C, 0x9A, 0x5F) in colours  # the care-state bars (controlled)


def test_the_pdf_shows_the_chinese_title_and_indicators(db, tmp_path, monkeypatch):
    import pypdfium2 as pdfium

    _report(db, tmp_path / "out", monkeypatch)
    pdf = pdfium.PdfDocument((tmp_path / "out" / "monthly-2026-11.pdf").read_bytes())
    try:
        page = pdf[0]
        text = page.get_textpage().get_text_range()
        image = page.render(scale=1).to_pil().convert("L")
    finally:
        pdf.close()
    assert "三高共管质控月报" in text and "血压控制率" in text
    title = image.crop((30, 30, 500, 90))
    assert sum(title.histogram()[:128]) > 300  # the title is drawn in dark ink, not blank
    _report(db, tmp_path / "again", monkeypatch)  # same data, same run time: the same bytes
    assert (tmp_path / "again" / "monthly-2026-11.pdf").read_bytes() == (
        tmp_path / "out" / "monthly-2026-11.pdf"
    ).read_bytes()


def test_every_context_field_is_described_and_the_template_reads_only_context_fields():
    from jinja2 import meta

    from reports import monthly_output as mo

    for model in (mo.MonthlyContext, mo.ReportHeader, mo.IndicatorRow, mo.ChildRow, mo.CohortRow, mo.Chart):
        assert all(f.description for f in model.model_fields.values()), model.__name__
    source = mo._env.loader.get_source(mo._env, "monthly.html.j2")[0]
    assert meta.find_undeclared_variables(mo._env.parse(source)) <= set(mo.MonthlyContext.model_fields)


def test_the_english_report_has_english_headers(db, tmp_path, monkeypatch):
    output = _report(db, tmp_path / "out", monkeypatch, "--no-pdf", "--lang", "en")
    header = (tmp_path / "out" / "monthly-2026-11.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("code,indicator,institution,team,month,numerator,denominator")
    assert "BP control" in output
    assert "Monthly quality-control report" in (tmp_path / "out" / "monthly-2026-11.html").read_text(
        encoding="utf-8"
    )


def test_the_demo_ends_with_the_report_of_the_last_complete_month(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        cli.app, ["demo", "--patients", "60", "--as-of", "2026-12-01", "--out", str(out)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "8. 质控月报" in result.output and "H02 血压控制率 = 分子/分母 = " in result.output
    assert (out / "monthly-2026-11.html").exists() and (out / "monthly-2026-11.csv").exists()


def test_an_institution_or_team_not_in_the_roster_is_an_error_naming_the_known_ones(db, tmp_path):
    for args in (
        [
            "report",
            "monthly",
            "--month",
            MONTH,
            "--db",
            db,
            "--out",
            str(tmp_path),
            "--no-pdf",
            "--provisional-calendar",
            "--institution",
            "乙卫生院",
        ],
        [
            "report",
            "patients",
            "--indicator",
            "H02",
            "--month",
            MONTH,
            "--db",
            db,
            "--provisional-calendar",
            "--team",
            "三队",
        ],
    ):
        result = CliRunner().invoke(cli.app, args)
        assert result.exit_code == 1
        assert result.exception.problems[0].code == "R460"
        rendered = result.exception.render("zh")
        assert ("乙卫生院" in rendered and "甲卫生院" in rendered) or (
            "三队" in rendered and "一队、二队" in rendered
        )


def test_a_follow_up_missed_months_ago_is_still_overdue_at_the_month_end():
    from pathways.models import Patient
    from reports.indicators import ALL, Tally, indicators
    from reports.monthly import RowBuilder

    builder = RowBuilder("national-default", ["2026-10"], True, Window.YTD)
    gone_quiet = Patient.model_validate(_p("O1", "一队", [("2026-03-02", 120, 75), ("2026-06-01", 120, 75)]))
    seen = Patient.model_validate(_p("O2", "一队", [("2026-06-01", 120, 75), ("2026-10-20", 120, 75)]))
    rows = [next(builder.rows(p, ["2026-10"])) for p in (gone_quiet, seen)]
    assert [r.overdue for r in rows] == [True, False]
    assert rows[0].follow_up == "missed"
    tally = Tally(indicators())
    for r in rows:
        tally.add(r, None)
    assert tally.get("2026-10", ALL, "F01") == (1, 2)


def test_a_team_report_has_the_teams_values_and_no_children(db, tmp_path, monkeypatch):
    _report(db, tmp_path / "out", monkeypatch, "--no-pdf", "--team", "二队", "--external")
    page = (tmp_path / "out" / "monthly-2026-11-二队-external.html").read_text(encoding="utf-8")
    assert "全部" not in page.split("<h2>")[0] and "甲卫生院 / 二队" in page
    indicators = page.split('id="indicators"')[1].split("</table>")[0]
    assert '<td>H02</td><td>血压控制率</td><td class="n">&lt;5</td>' in indicators
    children = page.split('id="children"')[1].split("</table>")[0]
    assert children.count("<tr>") == 1  # the header only


def test_the_english_drill_down_gives_english_reasons(db):
    output = (
        CliRunner()
        .invoke(
            cli.app,
            [
                "report",
                "patients",
                "--indicator",
                "H01",
                "--team",
                "二队",
                "--month",
                MONTH,
                "--db",
                db,
                "--provisional-calendar",
                "--lang",
                "en",
            ],
            terminal_width=200,
        )
        .output
    )
    assert "not standard: 0/4 visits" in output and "不规范" not in output


def test_the_report_from_postgresql_equals_the_report_from_sqlite(db, db_url, tmp_path, monkeypatch):
    """The report reads the roster with the driver's own values (store/patient_months.py
    plain_records): PostgreSQL gives dates and JSON as objects where SQLite gives text."""
    assert store.import_files([write_jsonl(tmp_path / "again.jsonl", ROSTER)], db_url, date(2026, 12, 1)).ok
    for _ in range(2):  # the second run reads the rows and kept decisions the first one stored
        _report(db, tmp_path / "sqlite", monkeypatch, "--no-pdf")
        _report(db_url, tmp_path / "other", monkeypatch, "--no-pdf")
        for name in ("monthly-2026-11.csv", "monthly-2026-11.html"):
            assert (tmp_path / "other" / name).read_bytes() == (tmp_path / "sqlite" / name).read_bytes()
