"""The audit log of unmasking: every output that shows full names, phones or resident IDs (a team's
call list, rejects with raw values) is recorded in the `audit_log` table of the database it read,
with who asked, when, the command and how many patients it showed.

The caller passes `who` and `at` (cli.py reads the user and the clock; nothing here does).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from store.db import open_db
from store.tables import AuditRow


def record_unmasking(db_url: str, *, who: str, at: datetime, command: str, patients: int) -> None:
    """Append one audit entry; committed before the unmasked output is written."""
    db_engine = open_db(db_url, writer=True)
    try:
        with Session(db_engine) as session:
            session.add(AuditRow(at=at.isoformat(), who=who, command=command, patients=patients))
            session.commit()
    finally:
        db_engine.dispose()


def audit_entries(db_url: str) -> list[AuditRow]:
    """Every entry, oldest first."""
    db_engine = open_db(db_url)
    try:
        with Session(db_engine) as session:
            return list(session.exec(select(AuditRow).order_by(AuditRow.id)))
    finally:
        db_engine.dispose()
