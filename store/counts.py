"""How many patients a database holds, so a long job's progress bar can show an ETA without
reading the roster twice."""

from __future__ import annotations

from sqlalchemy import func, select

from store.db import open_db
from store.tables import PatientRow


def count_patients(db_url: str, team: str | None = None) -> int:
    """How many patients are stored (of `team` only, when given)."""
    query = select(func.count()).select_from(PatientRow.__table__)
    if team is not None:
        query = query.where(PatientRow.__table__.c.team == team)
    db_engine = open_db(db_url)
    try:
        with db_engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        db_engine.dispose()
