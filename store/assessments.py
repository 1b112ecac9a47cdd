"""Assessments kept in the database with their provenance: the guideline set, its version and the
sha256 of every guideline file it was loaded from, as_of, the input (a roster file with its sha256,
or the database) and the sangao version, so a stored colour can be traced to exactly what made it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, insert

from pathways.models import Assessment
from store.db import open_db
from store.tables import AssessmentRow

BATCH = 5000


@dataclass(frozen=True)
class Provenance:
    """What produced a run of assessments (the set name, version and as_of are on each one)."""

    sangao_version: str
    guideline_hashes: dict[str, str] = field(default_factory=dict)  # file → sha256
    input_file: str | None = None
    input_hash: str | None = None

    def columns(self) -> dict[str, str | None]:
        """The provenance columns of a stored row (assessments, plans)."""
        return {"guideline_hashes": json.dumps(self.guideline_hashes, sort_keys=True),
                "input_file": self.input_file, "input_hash": self.input_hash,
                "sangao_version": self.sangao_version}


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def guideline_hashes(gset) -> dict[str, str]:
    """sha256 of every file of a loaded guideline set: the YAML files of its folder and of the sets
    it extends (the folders its values came from), cases files left out (they test, not decide)."""
    folders = {Path(gset.path)} | {Path(origin.file).parent for origin in gset.origin.values()}
    files = {p.resolve() for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")
             if not p.name.endswith(".cases.yaml")}
    return {_shown(p): file_sha256(p) for p in sorted(files)}


def _shown(path: Path) -> str:
    """`set/file.yaml`: the file's set folder and name (the same on every machine)."""
    return f"{path.parent.name}/{path.name}"


def save_assessments(db_url: str, assessments: Iterable[Assessment],
                     provenance: Provenance | None = None) -> Iterator[Assessment]:
    """Pass `assessments` through while storing them, in batches, one transaction per batch. A patient's
    earlier assessment at the same as_of with the same set and version is replaced, not duplicated."""
    db_engine = open_db(db_url, writer=True)
    batch: list[Assessment] = []
    stamp = {} if provenance is None else provenance.columns()

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
                        **stamp,
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
