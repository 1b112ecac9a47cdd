"""store/patient_months.py's writes and reads of the stored rows: saving replaces a patient's row of
the same month and basis and their kept decisions, in bulk; the stored hashes can be read for the
months of one report only."""

from __future__ import annotations

from store.db import open_db
from store.patient_months import iter_month, save_rows, stored_decisions, stored_hashes

BASIS = "national-default@test|ytd|v2"


def test_saving_again_replaces_the_row_of_the_same_patient_month_and_basis_and_keeps_the_others(tmp_path):
    engine = open_db(f"sqlite:///{tmp_path / 'rows.db'}")
    try:
        save_rows(engine, BASIS, [("P1", "2026-10", "h1", b"[1]"), ("P2", "2026-10", "h1", b"[2]")],
                  [("P1", "2026-10", "h1", b"[]")])
        save_rows(engine, "other-basis", [("P1", "2026-10", "h0", b"[0]")])
        save_rows(engine, BASIS, [("P1", "2026-10", "h2", b"[3]"), ("P1", "2026-11", "h2", b"[4]")],
                  [("P1", "2026-11", "h2", b"[9]")])
        assert list(iter_month(engine, BASIS, "2026-10")) == [("P1", "h2", b"[3]"), ("P2", "h1", b"[2]")]
        assert list(iter_month(engine, "other-basis", "2026-10")) == [("P1", "h0", b"[0]")]
        assert stored_hashes(engine, BASIS, ["P1", "P2"]) == {
            ("P1", "2026-10"): "h2", ("P1", "2026-11"): "h2", ("P2", "2026-10"): "h1"}
        assert stored_decisions(engine, BASIS, ["P1", "P2"]) == {"P1": ("2026-11", "h2", b"[9]")}
    finally:
        engine.dispose()


def test_stored_hashes_of_a_reports_months_leave_out_the_older_and_later_months(tmp_path):
    engine = open_db(f"sqlite:///{tmp_path / 'rows.db'}")
    try:
        months = ["2024-06", "2025-11", "2025-12", "2026-05", "2026-11", "2026-12"]
        save_rows(engine, BASIS, [("P1", m, f"h{m}", b"[]") for m in months])
        wanted = ["2025-12", "2026-01", "2026-11"]  # first to last: 2025-12 … 2026-11
        assert stored_hashes(engine, BASIS, ["P1"], wanted) == {
            ("P1", m): f"h{m}" for m in ("2025-12", "2026-05", "2026-11")}
        assert len(stored_hashes(engine, BASIS, ["P1"])) == len(months)
    finally:
        engine.dispose()
