"""Assessments kept in the database with the guideline set and version that produced them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from sqlalchemy import delete, insert

from pathways.models import Assessment
from store.db import open_db
from store.tables import AssessmentRow

BATCH = 5000


def save_assessments(db_url: str, assessments: Iterable[Assessment]) -> Iterator[Assessment]:
    """Pass `assessments` through while storing them, in batches, one transaction per batch. A patient's
    earlier assessment at the same as_of with the same set and version is replaced, not duplicated."""
    db_engine = open_db(db_url, writer=True)
    batch: list[Assessment] = []

    def flush() -> None:
        if not batch:
            return
        with db_engine.begin() as conn:
            first = batch[0]
            conn.execute(
                delete(AssessmentRow).where(
                    AssessmentRow.patient_id.in_([a.patient_id for a in batch]),
                    AssessmentRow.as_of == first.as_of,
                    AssessmentRow.guideline_set == first.guideline_set,
                    AssessmentRow.guideline_version == first.guideline_version,
                )
            )
            conn.execute(
                insert(AssessmentRow),
                [
                    {
                        "patient_id": a.patient_id,
                        "as_of": a.as_of,
                        "guideline_set": a.guideline_set,
                        "guideline_version": a.guideline_version,
                        "color": a.color.value,
                        "tier": a.tier.value,
                        "payload": json.dumps(a.model_dump(mode="json"), ensure_ascii=False),
                    }
                    for a in batch
                ],
            )
        batch.clear()

    try:
        for a in assessments:
            batch.append(a)
            yield a
            if len(batch) >= BATCH:
                flush()
        flush()
    finally:
        db_engine.dispose()


def load_assessments(db_url: str) -> Iterator[Assessment]:
    db_engine = open_db(db_url)
    try:
        with db_engine.connect() as conn:
            for (payload,) in conn.execute(
                AssessmentRow.__table__.select()
                .with_only_columns(AssessmentRow.payload)
                .order_by(AssessmentRow.id)
            ):
                yield Assessment.model_validate_json(payload)
    finally:
        db_engine.dispose()
