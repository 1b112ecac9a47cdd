"""Storage and roster I/O: SQLModel tables (tables.py), the session factory (db.py), roster readers
(readers/), validation (validation.py), import (importer.py) and export (exporter.py).

The only package that imports sqlmodel/sqlalchemy. Entry points for the rest of sangao:
`import_files`, `read_patients(db_url)`, `read_roster(path)`, `export_jsonl`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from pathways.errors import Problem, SangaoError

if TYPE_CHECKING:  # annotations only: `import store` stays light (the import help lists its formats)
    from pathways.models import Patient


def read_roster(
    path: str | Path,
    as_of: date | None = None,
    mapping=None,
    on_problem: Callable[[Problem], None] | None = None,
) -> Iterator[Patient]:
    """Records of a roster file straight to models, without a database (`assess --roster FILE`).
    Any format import understands; a directory means the CSV set of its *.csv files. Rejected rows
    raise SangaoError at the first one, unless `on_problem` is given: then it receives every
    rejecting problem and finding, and rejected rows are skipped."""
    from store.importer import iter_items
    from store.readers import group_sources
    from store.readers.mapping import load_mapping

    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(Path(mapping))
    for source in group_sources([Path(path)]):
        for _item, patient, problems, findings in iter_items(source, mapping, as_of):
            if problems and on_problem is None:
                raise SangaoError(problems)
            if on_problem is not None:
                for p in problems + findings:
                    on_problem(p)
            if patient is not None:
                yield patient
        if on_problem is not None:
            for p in source.findings:
                on_problem(p)


def read_patients(db_url: str, team: str | None = None) -> Iterator[Patient]:
    """Every patient stored at `db_url` (of `team` only, when given), in first-import order."""
    from store.exporter import read_patients as _read

    return _read(db_url, team)


def import_files(*args, **kwargs):
    """See store.importer.import_files."""
    from store.importer import import_files as _import

    return _import(*args, **kwargs)


def save_assessments(db_url: str, assessments, provenance=None):
    """See store.assessments.save_assessments."""
    from store.assessments import save_assessments as _save

    return _save(db_url, assessments, provenance)


__all__ = ["import_files", "read_patients", "read_roster", "save_assessments"]
