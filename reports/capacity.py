"""A team's daily capacity from a YAML file, applied to its plans' follow-up dates.

```yaml
per_day: 20                  # contacts a team can see on one working day
closed: [2026-12-24]         # days the team does not work (training, a clinic closure)
teams:                       # optional, per team: overrides per_day / adds closed days
  市北区-家医团队12: {per_day: 12, closed: [2026-12-31]}
```

Errors name the file, line and what would be right (D040). Follow-ups are moved within their
windows (pathways/capacity.py); a period that cannot hold the load is an R420 warning with the
numbers, and its left-over follow-ups keep their planned dates.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from guidelines.yaml_source import load_yaml
from pathways.capacity import Capacity, Placement, Slot, spread
from pathways.errors import Problem, SangaoError
from pathways.plan import FollowUp, Plan
from pathways.workdays import WorkCalendar


class CapacityFile:
    def __init__(self, default: Capacity, teams: dict[str, Capacity]) -> None:
        self.default = default
        self.teams = teams

    def for_team(self, team: str) -> Capacity:
        return self.teams.get(team, self.default)


def _bad(path: Path, node, key, message: str, hint: str) -> SangaoError:
    line = column = None
    if node is not None and hasattr(node, "lc"):
        try:
            line, column = (x + 1 for x in node.lc.value(key))
        except (KeyError, TypeError, AttributeError):
            line, column = node.lc.line + 1, node.lc.col + 1
    return SangaoError.of(
        "D040", file=str(path), line=line, column=column, field=key, problem=message, hint=hint
    )


def _dates(path: Path, node, key) -> frozenset[date]:
    items = node.get(key, []) if node is not None else []
    out = set()
    for item in items or []:
        try:
            out.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise _bad(path, node, key, f"{item!r} is not a date", "write YYYY-MM-DD") from None
    return frozenset(out)


def _per_day(path: Path, node, default: int | None) -> int:
    value = node.get("per_day", default) if node is not None else default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(path, node, "per_day", f"per_day is {value!r}", "a whole number of contacts, at least 1")
    return value


def load_capacity(path: Path) -> CapacityFile:
    try:
        doc = load_yaml(YAML(typ="rt"), path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise SangaoError(
            [
                Problem.of(
                    "D040",
                    file=str(path),
                    field="",
                    problem=str(exc).splitlines()[0],
                    hint="a YAML mapping with per_day: and closed:",
                )
            ]
        ) from None
    if not hasattr(doc, "get"):
        raise _bad(path, None, "per_day", "not a mapping", "write per_day: 20")
    default = Capacity(_per_day(path, doc, None), _dates(path, doc, "closed"))
    teams = {}
    for team, node in (doc.get("teams") or {}).items():
        teams[str(team)] = Capacity(
            _per_day(path, node, default.per_day), default.closed | _dates(path, node, "closed")
        )
    return CapacityFile(default, teams)


def apply_capacity(
    plans: list[Plan],
    capacity: CapacityFile,
    calendar: WorkCalendar,
) -> tuple[list[Plan], dict[str, Placement]]:
    """The plans with follow-up dates spread under each team's capacity, and each team's
    placement (load, capacity and what did not fit)."""
    by_team: dict[str, list[int]] = defaultdict(list)
    for i, plan in enumerate(plans):
        by_team[plan.team].append(i)
    out = list(plans)
    placements: dict[str, Placement] = {}
    for team, indexes in by_team.items():
        slots = [
            Slot((i, k), f.day, f.window_start, max(f.window_end, f.window_start))
            for i in indexes
            for k, f in enumerate(plans[i].follow_ups)
        ]
        placement = spread(slots, capacity.for_team(team), calendar)
        placements[team] = placement
        for i in indexes:
            plan = plans[i]
            moved = {f.day: placement.placed.get((i, k), f.day) for k, f in enumerate(plan.follow_ups)}
            follow_ups = tuple(
                FollowUp(
                    day=placement.placed.get((i, k), f.day),
                    window_start=f.window_start,
                    window_end=f.window_end,
                    note=f.note,
                )
                for k, f in enumerate(plan.follow_ups)
            )
            # a screening planned for the first visit goes with it
            screenings = tuple(
                s.model_copy(update={"dates": (moved.get(s.dates[0], s.dates[0]), *s.dates[1:])})
                if s.overdue and s.dates
                else s
                for s in plan.screenings
            )
            out[i] = plan.model_copy(update={"follow_ups": follow_ups, "screenings": screenings})
    return out, placements


def shortage(team: str, placement: Placement, per_day: int) -> Problem | None:
    """R420 with the numbers when a team's period could not hold its load."""
    if not placement.unplaced:
        return None
    return Problem.of(
        "R420",
        team=f"{team} " if team else "",
        start=placement.start.isoformat(),
        end=placement.end.isoformat(),
        load=placement.load,
        days=placement.days,
        per_day=per_day,
        capacity=placement.capacity,
        over=len(placement.unplaced),
    )
