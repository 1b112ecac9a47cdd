"""Assess a roster across processes. Each patient is evaluated independently, so the roster is
cut into chunks and every worker builds its own Assessor once (durable_rules sessions and compiled
closures are not shared between processes). Output order is input order.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice

from engine.assess import Assessor
from guidelines.calendar_loader import load_calendar
from guidelines.loader import load_set
from pathways.models import Assessment, Patient


@dataclass(frozen=True)
class AssessOptions:
    guidelines: str            # a set name (national-default) or a folder
    as_of: date
    backend: str = "python"
    provisional_calendar: bool = False


def build_assessor(options: AssessOptions) -> Assessor:
    gset = load_set(options.guidelines)
    calendar = load_calendar({options.as_of.year, options.as_of.year + 1}, provisional=options.provisional_calendar)
    return Assessor(gset, calendar, backend=options.backend)


_worker: tuple[Assessor, date] | None = None


def _init(options: AssessOptions) -> None:
    global _worker
    _worker = (build_assessor(options), options.as_of)


def _run(chunk: list[Patient]) -> list[Assessment]:
    assessor, as_of = _worker
    return list(assessor.assess_many(chunk, as_of))


def _chunks(patients: Iterable[Patient], size: int) -> Iterator[list[Patient]]:
    it = iter(patients)
    while chunk := list(islice(it, size)):
        yield chunk


def assess_roster(
    patients: Iterable[Patient], options: AssessOptions, workers: int = 1, chunk_size: int = 1000
) -> Iterator[Assessment]:
    """Assessments of every patient still under management at `as_of`, in input order."""
    if workers <= 1:
        assessor = build_assessor(options)
        yield from assessor.assess_many(patients, options.as_of)
        return
    ctx = mp.get_context("spawn")  # fork would copy durable's C state and any open DB handle
    with ctx.Pool(workers, initializer=_init, initargs=(options,)) as pool:
        for result in pool.imap(_run, _chunks(patients, chunk_size)):
            yield from result
