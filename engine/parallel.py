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


@dataclass
class AssessCounts:
    """Filled while the assessments are consumed."""

    assessed: int = 0
    skipped: int = 0  # died or moved out on or before as_of


def _run(chunk: list[Patient]) -> tuple[list[Assessment], int]:
    assessor, as_of = _worker
    results = list(assessor.assess_many(chunk, as_of))
    return results, len(chunk) - len(results)


def _chunks(patients: Iterable[Patient], size: int) -> Iterator[list[Patient]]:
    it = iter(patients)
    while chunk := list(islice(it, size)):
        yield chunk


def assess_roster(
    patients: Iterable[Patient], options: AssessOptions, workers: int = 1, chunk_size: int = 1000,
    counts: AssessCounts | None = None,
) -> Iterator[Assessment]:
    """Assessments of every patient still under management at `as_of`, in input order; `counts`
    (if given) learns how many were assessed and skipped."""
    counts = counts if counts is not None else AssessCounts()
    if workers <= 1:
        assessor = build_assessor(options)
        for patient in patients:
            if assessor.is_assessed(patient, options.as_of):
                counts.assessed += 1
                yield assessor.assess(patient, options.as_of).assessment
            else:
                counts.skipped += 1
        return
    ctx = mp.get_context("spawn")  # fork would copy durable's C state and any open DB handle
    with ctx.Pool(workers, initializer=_init, initargs=(options,)) as pool:
        for results, skipped in pool.imap(_run, _chunks(patients, chunk_size)):
            counts.assessed += len(results)
            counts.skipped += skipped
            yield from results
