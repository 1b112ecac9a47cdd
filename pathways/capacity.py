"""Spreading a team's planned contacts over its working days so no day is over capacity.

Each contact has a due date and a window [earliest, latest]. The days are the calendar's working
days that the team has not closed. Two passes of earliest-deadline-first placement, each optimal
for "does everything fit":

1. never before the due date (only later, within the window): most contacts keep their date;
2. if that leaves any out, from the start of each window (some move a few days early).

Whatever still does not fit is left unplaced and counted, so the caller can say by how much the
period is short. Pure: the calendar and the capacity are values passed in.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from pathways.workdays import WorkCalendar


@dataclass(frozen=True)
class Capacity:
    per_day: int
    closed: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Slot:
    key: Hashable
    due: date
    earliest: date
    latest: date


@dataclass
class Placement:
    placed: dict[Hashable, date] = field(default_factory=dict)
    unplaced: list[Hashable] = field(default_factory=list)
    load: int = 0  # contacts to place
    days: int = 0  # open working days from the first window start to the last window end
    capacity: int = 0  # days × per_day
    start: date | None = None
    end: date | None = None

    def per_day(self) -> dict[date, int]:
        counts: dict[date, int] = {}
        for day in self.placed.values():
            counts[day] = counts.get(day, 0) + 1
        return counts


def open_days(calendar: WorkCalendar, capacity: Capacity, start: date, end: date) -> list[date]:
    days = []
    day = start
    while day <= end:
        if day not in capacity.closed and calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def _edf(slots: list[Slot], days: list[date], per_day: int, release_at_due: bool) -> tuple[dict, list]:
    order = sorted(slots, key=lambda s: (s.due if release_at_due else s.earliest, s.latest, str(s.key)))
    placed: dict[Hashable, date] = {}
    late: list[Hashable] = []
    heap: list[tuple[date, date, str, Slot]] = []
    i = 0
    for day in days:
        while i < len(order) and (order[i].due if release_at_due else order[i].earliest) <= day:
            s = order[i]
            heapq.heappush(heap, (s.latest, s.due, str(s.key), s))
            i += 1
        used = 0
        while heap and used < per_day:
            latest, _due, _k, s = heapq.heappop(heap)
            if latest < day:  # its window closed before a free day came
                late.append(s.key)
                continue
            placed[s.key] = day
            used += 1
    late.extend(s.key for *_, s in heap)
    late.extend(s.key for s in order[i:])
    return placed, late


def spread(slots: Iterable[Slot], capacity: Capacity, calendar: WorkCalendar) -> Placement:
    slots = list(slots)
    if not slots:
        return Placement()
    start = min(s.earliest for s in slots)
    end = max(s.latest for s in slots)
    days = open_days(calendar, capacity, start, end)
    placement = Placement(
        load=len(slots), days=len(days), capacity=len(days) * capacity.per_day, start=start, end=end
    )
    placed, late = _edf(slots, days, capacity.per_day, release_at_due=True)
    if late:
        placed, late = _edf(slots, days, capacity.per_day, release_at_due=False)
    placement.placed = placed
    placement.unplaced = late
    return placement
