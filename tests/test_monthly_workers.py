"""`report monthly --workers N` (reports/monthly.py `ensure_rows`): the patient-month rows built in
worker processes are stored, and the report files written, byte for byte as by one process; an
error while a worker builds a row stores nothing of the run."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

import cli
import store
from pathways.monthly import Window
from reports import monthly as mr
from tests.roster_files import write_jsonl


def _p(pid, team, visits, **fields):
    base = dict(
        patient_id=pid,
        sex="F",
        birth_date="1961-07-01",
        conditions=["hypertension", "diabetes"],
        enrolled_on="2024-05-10",
        institution="甲卫生院" if team in ("一队", "二队") else "乙卫生院",
        team=team,
        name=f"李{pid}",
        visits=[dict(zip(("date", "sbp", "dbp", "fpg"), v, strict=False)) for v in visits],
    )
    base.update(fields)
    return base


ROSTER = [
    _p("W01", "一队", [("2026-02-10", 132, 82, 6.1), ("2026-05-12", 128, 80, 6.0),
                       ("2026-08-11", 135, 84, 6.3)]),
    _p("W02", "一队", [("2026-03-02", 158, 98, 9.1), ("2026-11-09", 152, 96, 8.0)]),
    _p("W03", "一队", [("2025-08-01", 130, 80, 6.0)]),  # lost to follow-up
    _p("W04", "二队", [("2026-09-01", 150, 92, 8.1), ("2026-10-20", 136, 84, 6.5)], enrolled_on="2026-06-15"),
    _p("W05", "二队", [("2026-02-01", 170, 100, 7.7)], deceased_on="2026-03-15"),
    _p("W06", "二队", [("2026-06-03", 126, 78)], conditions=["hypertension"]),
    _p("W07", "三队", [("2026-04-30", 126, 80), ("2026-08-31", 124, 78)], conditions=["hypertension"]),
    _p("W08", "三队", [("2026-01-15", 144, 90, 7.2), ("2026-07-15", 138, 86, 6.9)],
       moved_out_on="2026-09-20"),
    _p("W09", "三队", [], enrolled_on="2026-10-08"),
    # enrolled in the second quarter (the September cohort), listed out of patient-id order
    _p("W13", "一队", [("2026-05-20", 128, 78, 6.0), ("2026-08-20", 126, 76, 6.1)], enrolled_on="2026-05-20"),
    _p("W12", "三队", [("2026-04-12", 166, 102, 9.9)], enrolled_on="2026-04-12"),
    _p("W10", "二队", [("2026-06-01", 150, 95, 8.5), ("2026-09-02", 131, 79, 6.2)], enrolled_on="2026-06-01"),
    _p("W11", "一队", [], enrolled_on="2026-04-03"),
]


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "base.db"
    report = store.import_files([write_jsonl(tmp_path / "roster.jsonl", ROSTER)], f"sqlite:///{path}",
                                date(2026, 12, 1))
    assert report.ok
    return path


def _copy(db: Path, name: str) -> Path:
    target = db.with_name(name)
    shutil.copyfile(db, target)
    return target


def _dump(path: Path) -> list[str]:
    """Every table's rows as `sqlite3 DB .dump` prints them."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def _report(db: Path, out: Path, month: str, workers: int, monkeypatch) -> None:
    monkeypatch.setattr(
        cli, "_now", lambda: datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    )
    result = CliRunner().invoke(cli.app, [
        "report", "monthly", "--month", month, "--db", str(db), "--out", str(out),
        "--provisional-calendar", "--workers", str(workers),
    ])
    assert result.exit_code == 0, result.output


def test_two_workers_store_the_same_rows_and_write_the_same_files_as_one(db, tmp_path, monkeypatch):
    one, two = _copy(db, "one.db"), _copy(db, "two.db")
    for month in ("2026-10", "2026-11"):  # last month's report (cold), then this month's after it
        _report(one, tmp_path / "out-1", month, 1, monkeypatch)
        _report(two, tmp_path / "out-2", month, 2, monkeypatch)
        assert _dump(one) == _dump(two)
    written = sorted(p.name for p in (tmp_path / "out-1").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "out-2").iterdir())
    assert {Path(n).suffix for n in written} == {".html", ".csv", ".pdf"}
    for name in written:
        assert (tmp_path / "out-1" / name).read_bytes() == (tmp_path / "out-2" / name).read_bytes(), name
    with sqlite3.connect(two) as conn:
        assert conn.execute("SELECT count(*) FROM patient_months").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM visit_decisions").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM month_tallies").fetchone()[0] > 0


@pytest.mark.parametrize("workers", [2, 3])
def test_rows_built_by_workers_in_small_batches_are_stored_in_roster_order(db, workers):
    months = mr.report_months("2026-11")
    alone, shared = _copy(db, "alone.db"), _copy(db, f"shared-{workers}.db")
    built = []
    for path, n in ((alone, 1), (shared, workers)):
        builder = mr.RowBuilder("national-default", months, True, Window.YTD)
        built.append(mr.ensure_rows(f"sqlite:///{path}", builder, months, workers=n, batch_size=2))
    assert built[0].built == built[1].built > 0
    assert built[0].digest == built[1].digest
    assert _dump(alone) == _dump(shared)


def _tallies(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, month, payload FROM month_tallies ORDER BY rowid").fetchall()


def test_the_sums_counted_while_the_rows_are_built_are_those_counted_from_the_stored_rows(db):
    months = mr.report_months("2026-11")
    url = f"sqlite:///{db}"
    builder = mr.RowBuilder("national-default", months, True, Window.YTD)
    inds = mr.indicators(mr.complications_of(builder))
    summary = mr.ensure_rows(url, builder, months, workers=2, batch_size=3, inds=inds)
    assert summary.counted is not None  # every row built: counted while built
    while_built = mr.count_months(url, builder.basis.key, months, summary, inds)
    stored = _tallies(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM month_tallies")
    summary.counted = None
    from_rows = mr.count_months(url, builder.basis.key, months, summary, inds)
    assert _tallies(db) == stored
    assert list(while_built.cohorts.items()) == list(from_rows.cohorts.items())
    assert any(len(states) > 1 for states in from_rows.cohorts.values())
    for month in months:
        scopes = from_rows.tally.scopes(month)
        assert while_built.tally.scopes(month) == scopes
        for scope in scopes:
            assert while_built.tally.vector(month, scope) == from_rows.tally.vector(month, scope)


def test_rows_reused_from_the_store_are_counted_from_the_store(db):
    months = mr.report_months("2026-11")
    url = f"sqlite:///{db}"
    builder = mr.RowBuilder("national-default", months, True, Window.YTD)
    inds = mr.indicators(mr.complications_of(builder))
    mr.ensure_rows(url, builder, months[:-1])
    summary = mr.ensure_rows(url, builder, months, inds=inds)
    assert summary.reused > 0 and summary.counted is None


def _corrupt(path: Path, patient_id: str) -> None:
    """A stored visit whose blood pressure is text: the record no longer reads as a patient."""
    with sqlite3.connect(path) as conn:
        changed = conn.execute("UPDATE visits SET sbp = 'abc' WHERE patient_id = ?", (patient_id,)).rowcount
        assert changed > 0


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_while_building_a_row_stores_nothing_of_the_run(db, workers):
    months = mr.report_months("2026-11")
    path = _copy(db, f"broken-{workers}.db")
    _corrupt(path, "W08")  # in the fourth batch of two: the batches before it are built first
    builder = mr.RowBuilder("national-default", months, True, Window.YTD)
    with pytest.raises(Exception, match="sbp"):
        mr.ensure_rows(f"sqlite:///{path}", builder, months, workers=workers, batch_size=2)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM patient_months").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM visit_decisions").fetchone()[0] == 0
