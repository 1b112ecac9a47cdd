"""Values checked for sense (C134, C135): every number a guideline set writes as a parameter, a
threshold or a derived value must lie in the plausible range of what it measures, kept as data in
guidelines/data/plausible.yaml (SBP 50–300 mmHg, FPG 1–35 mmol/L, age 0–120 …). A value outside
its range that a known other unit explains (126 as mg/dL glucose in a mmol/L set) says the value
the author most likely meant (7.0).

The range of a value is that of the fact it is compared with (a parameter takes the range of the
first fact it is compared with), else that of its unit. Checks only numbers; names, types and
units are checked by the other passes of guidelines/checks/.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from guidelines.checks.context import Context, conditions
from guidelines.draft import Draft, Entry, derive_outputs
from guidelines.schema import (
    Classification,
    Compare,
    DecisionTable,
    Otherwise,
    ParamRef,
    walk,
)
from guidelines.yaml_source import plain, read_yaml
from pathways.errors import Problem
from pathways.facts import FACTS

DATA = Path(__file__).parents[1] / "data" / "plausible.yaml"
_ORDER = ("eq", "ne", "lt", "lte", "gt", "gte")


@dataclass(frozen=True)
class Plausible:
    """A range of one quantity in one unit, and the units an author might have written instead."""

    zh: str
    en: str
    unit: str
    lo: float
    hi: float
    others: tuple[tuple[str, float, float], ...] = ()  # (unit, factor, offset): v = x * factor + offset

    def holds(self, v: float) -> bool:
        return self.lo <= v <= self.hi

    def likely(self, v: float) -> tuple[str, float] | None:
        """(other unit, value in this unit) when `v` reads as a plausible value in another unit."""
        for unit, factor, offset in self.others:
            x = round((v - offset) / factor, 1)
            if self.holds(x):
                return unit, x
        return None


@cache
def ranges() -> tuple[dict[str, Plausible], dict[str, Plausible]]:
    """(by fact name, by unit) from guidelines/data/plausible.yaml."""
    data = plain(read_yaml(DATA).doc)
    by_fact: dict[str, Plausible] = {}
    for q in data["quantities"].values():
        others = tuple(
            (o["unit"], float(o["factor"]), float(o.get("offset", 0))) for o in q.get("other_units", ())
        )
        p = Plausible(q["zh"], q["en"], q["unit"], float(q["min"]), float(q["max"]), others)
        for fact in q["facts"]:
            by_fact[fact] = p
    by_unit = {
        unit: Plausible(f"以 {unit} 计的数值", f"a value in {unit}", unit, float(r["min"]), float(r["max"]))
        for unit, r in data["units"].items()
    }
    return by_fact, by_unit


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class _Pass:
    def __init__(self, draft: Draft) -> None:
        self.d = draft
        self.by_fact, self.by_unit = ranges()
        self.units = {name: spec.unit for name, spec in FACTS.items()}
        for e in draft.derive:
            for name, info in derive_outputs(e.value).items():
                self.units.setdefault(name, info.unit)
        self.param_range: dict[str, Plausible] = {}
        self.problems: list[Problem] = []

    def range_of(self, fact: str) -> Plausible | None:
        unit = self.units.get(fact)
        return self.by_fact.get(fact) or (self.by_unit.get(unit) if unit else None)

    def value(self, e: Entry, sub: tuple, name: str, v: Any, rng: Plausible | None) -> None:
        x = _number(v)
        if x is None or rng is None or rng.holds(x):
            return
        fields = {
            "name": name, "value": f"{x:g}", "unit": rng.unit, "lo": f"{rng.lo:g}", "hi": f"{rng.hi:g}",
            "quantity_zh": rng.zh, "quantity_en": rng.en,
        }
        guess = rng.likely(x)
        if guess is None:
            self.problems.append(e.problem_of("C134", sub, **fields))
        else:
            likely = f"{guess[1]:.1f}" if abs(guess[1]) < 50 else f"{round(guess[1])}"
            self.problems.append(e.problem_of("C135", sub, other=guess[0], likely=likely, **fields))

    def comparison(self, e: Entry, c: Compare, sub: tuple) -> None:
        if c.fact is None:
            return
        rng = self.range_of(c.fact)
        for op in _ORDER:
            operand = getattr(c, op)
            if isinstance(operand, ParamRef):
                if rng is not None:
                    self.param_range.setdefault(operand.param, rng)
            else:
                self.value(e, (*sub, op), c.fact, operand, rng)
        for i, v in enumerate(c.in_ or ()):
            self.value(e, (*sub, "in", i), c.fact, v, rng)

    def table(self, e: Entry, t: DecisionTable) -> None:
        for r, row in enumerate(t.rows):
            for name, cell in row.when.items():
                inp = t.inputs.get(name)
                if inp is None:
                    continue  # C113 reports it
                rng = self.range_of(inp.fact)
                at = ("rows", r, "when", name)
                if isinstance(cell, Compare):
                    for op in _ORDER:
                        self.value(e, (*at, op), inp.fact, getattr(cell, op), rng)
                elif isinstance(cell, list):
                    for i, v in enumerate(cell):
                        self.value(e, (*at, i), inp.fact, v, rng)
                else:
                    self.value(e, at, inp.fact, cell, rng)
            self.outputs(e, row.then, ("rows", r, "then"))

    def outputs(self, e: Entry, then: dict[str, Any] | None, sub: tuple) -> None:
        for name, v in (then or {}).items():
            self.value(e, (*sub, name), name, v, self.range_of(name))

    def run(self) -> list[Problem]:
        for e, condition, sub in conditions(self.d):
            for node, path in walk(condition):
                if isinstance(node, Compare):
                    self.comparison(e, node, (*sub, *path))
        for e in self.d.derive:
            v = e.value
            if isinstance(v, DecisionTable):
                self.table(e, v)
            elif isinstance(v, Classification):
                for i, case in enumerate(v.cases):
                    then = case.otherwise if isinstance(case, Otherwise) else case.then
                    key = "otherwise" if isinstance(case, Otherwise) else "then"
                    self.outputs(e, then, ("cases", i, key))
            if isinstance(v, Classification | DecisionTable):
                self.outputs(e, v.unknown, ("unknown",))
        for name, e in self.d.parameters.items():
            p = e.value
            rng = self.param_range.get(name)
            if rng is None or (p.unit is not None and p.unit != rng.unit):
                rng = self.by_unit.get(p.unit) if p.unit else None
            values = p.value if isinstance(p.value, list) else [p.value]
            for i, v in enumerate(values):
                self.value(e, ("value", i) if isinstance(p.value, list) else ("value",), name, v, rng)
        return self.problems


def check(ctx: Context) -> None:
    """C134/C135 for every number of the set outside its plausible range."""
    for p in _Pass(ctx.d).run():
        ctx.add(p)
