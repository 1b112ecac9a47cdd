"""A run of `sangao plan`: which plans (new ones for the chosen patients, each with its stored
previous plan; or the stored plans of a date, reprinted), the teams' capacity applied, and the
plans written to the plan files (reports/plan.py) and stored in the database.
"""

from __future__ import annotations

import gc
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path

from pathways.plan import Plan


def new_plans(patients: Iterable, ctx, start: date, url: str | None, batch: int = 500) -> Iterator[Plan]:
    """Each open patient's plan from `start`, with the previous stored plans (when there is a
    database at `url`) looked up a batch of patients at a time."""
    import store.plans
    from pathways.care_state import is_closed
    from reports.plan import build_plan

    it = (p for p in patients if not is_closed(p, start))
    while chunk := list(islice(it, batch)):
        previous = store.plans.previous_plans(url, [p.patient_id for p in chunk], start) if url else {}
        for p in chunk:
            yield build_plan(p, ctx, start, previous.get(p.patient_id))


def stored_plans(url: str, ids: list[str] | None, start: date, team: str | None) -> Iterator[Plan]:
    """The plans stored for `start` exactly as they were made (of `ids`, or of `team`, or all)."""
    import store.plans

    return iter(p for p in store.plans.stored_plans(url, ids, start) if team is None or p.team == team)


def with_capacity(plans: Iterable[Plan], capacity: Path, ctx,
                  warn: Callable[[object], None]) -> Iterator[Plan]:
    """The plans with follow-ups spread to fit each team's daily capacity (a team's dates depend on
    all its plans: they are held); `warn(problem)` for each team short of capacity."""
    from reports.capacity import apply_capacity, load_capacity, shortage

    capacity_file = load_capacity(capacity)
    held, placements = apply_capacity(list(plans), capacity_file, ctx.calendar)
    for team_name, placement in placements.items():
        problem = shortage(team_name, placement, capacity_file.for_team(team_name).per_day)
        if problem is not None:
            warn(problem)
    return iter(held)


def safe_file_name(name: str) -> str:
    """A team's name as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "team"


@dataclass
class PlansWritten:
    count: int = 0
    first: list[Plan] = field(default_factory=list)  # the first two plans (one: a summary is shown)
    written: list[str] = field(default_factory=list)  # the files' names
    warnings: list[str] = field(default_factory=list)

    def closing_line(self, out: Path, lang: str) -> str:
        """"12份计划 → plans/: a.html, a.csv, … …": how many, where, the first six files."""
        label = "份计划" if lang == "zh" else " plans"
        return (f"{self.count}{label} → {out}/: {', '.join(self.written[:6])}"
                + (" …" if len(self.written) > 6 else ""))


def write_plans(plans: Iterable[Plan], out: Path, formats: set[str], lang: str, save_to: str | None = None,
                tick: Callable[[], None] | None = None, provenance=None) -> PlansWritten:
    """Every plan into the plan files of `formats` in `out`, and into the database at `save_to`
    when given, each row with `provenance` (store/assessments.py); nothing is written when there is
    no plan (count 0)."""
    import store.plans
    from reports.plan import PlanFiles

    files = PlanFiles(out, formats, lang, safe_file_name)
    result = PlansWritten()
    # Plans to store wait in a spool file, as the rows they are stored as: SQLite cannot commit
    # while the roster is still being read from the same file, and a whole roster's plans are too
    # many to hold.
    spool = tempfile.TemporaryFile() if save_to else None  # noqa: SIM115 (closed below)
    # What exists now (modules, the guideline set, the care context) lives as long as the run:
    # frozen, the collector's full passes no longer walk it (a tenth of the run's CPU otherwise).
    gc.freeze()
    try:
        for built in plans:
            files.add(built)
            if len(result.first) < 2:
                result.first.append(built)
            if spool is not None:
                spool.write(pickle.dumps(store.plans.plan_key(built)))  # dumps: dump to a file is slower
            if tick:
                tick()
    finally:
        gc.unfreeze()
    if spool is not None:
        spool.seek(0)
        store.plans.save_plan_rows(save_to, _unspooled(spool), provenance)
        spool.close()
    result.count = files.count
    if files.count:
        result.written = files.close()
        result.warnings = list(files.warnings)
    return result


def _unspooled(spool) -> Iterator:
    """The rows `write_plans` spooled, in order."""
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return
