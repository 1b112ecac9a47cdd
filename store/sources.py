"""Where a command's patients come from: a database (a bare path is a SQLite file; a SQLite file
that does not exist is D041, "import a roster first") or a roster file read straight; one patient
found by patient id, name or resident ID; and the provenance of a run of saved assessments.

Light to import (the command line reads it at every start): each function imports what it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pathways.errors import SangaoError

if TYPE_CHECKING:
    from pathways.models import Patient
    from store.assessments import Provenance


def db_url(db: str) -> str:
    """A bare path means a SQLite file."""
    return db if "://" in db else f"sqlite:///{db}"


def has_db(db: str) -> bool:
    """False for a SQLite file that does not exist (any other URL is taken to exist)."""
    url = db_url(db)
    return not (url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists())


def check_db(db: str) -> str:
    """The URL of `db`; a SQLite file that does not exist is D041 ("import a roster first")."""
    url = db_url(db)
    if not has_db(db):
        raise SangaoError.of("D041", file=url.removeprefix("sqlite:///"))
    return url


def patients_from(roster: Path | None, db: str, team: str | None = None) -> Iterator[Patient]:
    """The patients of a roster file (read straight, nothing stored) or else of the database; of
    `team` only when given (the database chooses them: a team's worklist does not read and
    validate the whole roster)."""
    import store

    if roster is not None:
        patients = store.read_roster(roster)
        return patients if team is None else (p for p in patients if p.team == team)
    return store.read_patients(check_db(db), team)


def patients_of(roster_or_db: str) -> Iterator[Patient]:
    """The patients of a roster file or of a database, named by one option: a URL or a .db,
    .sqlite or .sqlite3 path is a database (`guidelines diff --roster`)."""
    is_db = "://" in roster_or_db or Path(roster_or_db).suffix.lower() in (".db", ".sqlite", ".sqlite3")
    return patients_from(None, roster_or_db) if is_db else patients_from(Path(roster_or_db), "")


def find_patients(query: str, patients: Iterable[Patient]) -> list[Patient]:
    """Patients whose patient id, resident ID or name is `query` (id matches win)."""
    by_id, by_other = [], []
    for p in patients:
        if p.patient_id == query:
            by_id.append(p)
        elif query in (p.id_number, p.name):
            by_other.append(p)
    return by_id or by_other


def one_patient(query: str, patients: Iterable[Patient]) -> Patient:
    """The one patient `query` names: D900 when none, D902 when several (the query's resident ID
    masked in both)."""
    from pathways.resident_id import mask

    found = find_patients(query, patients)
    shown = mask(query) if query.isdigit() and len(query) >= 15 else query  # never echo a full resident ID
    if not found:
        raise SangaoError.of("D900", query=shown)
    if len(found) > 1:
        ids = ", ".join(p.patient_id for p in found[:10])
        raise SangaoError.of("D902", query=shown, n=len(found), ids=ids)
    return found[0]


def provenance(gset_or_name, roster: Path | None, db: str) -> Provenance:
    """What made a run of saved assessments: the guideline files' hashes, the input (the roster
    file and its hash, or the database URL without user or password), sangao's version."""
    import re
    from importlib.metadata import version

    from store.assessments import Provenance, file_sha256, guideline_hashes

    if isinstance(gset_or_name, str):
        from guidelines.loader import load_set

        gset_or_name = load_set(gset_or_name)
    shown_db = re.sub(r"//[^/@]*@", "//", db_url(db))  # no user or password
    return Provenance(version("sangao"), guideline_hashes(gset_or_name),
                      str(roster) if roster is not None else shown_db,
                      file_sha256(roster) if roster is not None else None)
