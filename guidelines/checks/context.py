"""What every whole-set check shares: the draft, the facts a condition may read (base facts and
derive outputs), the problems of the pass being run, the references every pass resolves the same
way (a fact, a parameter, a source, a `{param: …}` used as a value) and the folding of parameter
conditions at load time."""

from __future__ import annotations

import operator
import typing
from collections.abc import Iterator
from typing import Any

from guidelines.draft import Draft, Entry, FactInfo, derive_outputs
from guidelines.schema import (
    Classification,
    Compare,
    Condition,
    Count,
    FactRef,
    Otherwise,
    Parameter,
    ParamRef,
    Source,
    walk,
)
from guidelines.yaml_source import Loc, did_you_mean
from pathways.errors import Problem
from pathways.facts import FACTS
from pathways.measures import EgfrEquation
from pathways.vocab import Tier

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "known", "has_any")
ORDER_OPS = ("lt", "lte", "gt", "gte")
TIERS = tuple(t.value for t in Tier)
EGFR_EQUATIONS = typing.get_args(EgfrEquation)  # the equations pathways/measures.py implements


class Context:
    def __init__(self, draft: Draft) -> None:
        self.d = draft
        self.problems: list[Problem] = []
        self.facts: dict[str, FactInfo] = {n: FactInfo(s.type, s.unit) for n, s in FACTS.items()}
        for e in draft.derive:  # the first producer wins: a duplicate is reported once (C101), not cascaded
            for name, info in derive_outputs(e.value).items():
                self.facts.setdefault(name, info)
        self.symptoms = set(draft.vocabulary.get("symptoms", {}))

    def add(self, p: Problem) -> None:
        self.problems.append(p)

    # ---- references ---------------------------------------------------------------------------

    def fact_ref(self, e: Entry, name: str, sub: Loc) -> FactInfo | None:
        if name in self.facts:
            return self.facts[name]
        self.add(e.problem_of("C102", sub, name=name, **close(did_you_mean(name, self.facts))))
        return None

    def param_ref(self, e: Entry, name: str, sub: Loc) -> Parameter | None:
        if name in self.d.parameters:
            return self.d.parameters[name].value
        self.add(e.problem_of("C103", sub, name=name, **close(did_you_mean(name, self.d.parameters))))
        return None

    def value_refs(self, e: Entry, value: Any, sub: Loc, unit: str | None = None) -> None:
        """A `{param: …}` used as a value: it must exist and, when both say, be in `unit`."""
        if isinstance(value, ParamRef):
            p = self.param_ref(e, value.param, (*sub, "param"))
            if p is not None and unit and p.unit and p.unit != unit:
                self.add(
                    e.problem_of(
                        "C105", (*sub, "param"), variant="value", field=sub[-1], unit=unit,
                        param=value.param, runit=p.unit,
                    )
                )

    def source(self, e: Entry, src: Source | None, sub: Loc) -> None:
        if src is None or src.doc in self.d.sources:
            return
        near = did_you_mean(src.doc, self.d.sources)
        known = ", ".join(sorted(self.d.sources)) or "none"
        self.add(e.problem_of("C120", (*sub, "source", "doc"), doc=src.doc, known=known, **close(near)))

    # ---- parameter conditions, folded -----------------------------------------------------------

    def fold(self, c: Compare, left: Any = None) -> bool | None:
        """A parameter condition's value at load time (None: not foldable); `left` replaces the
        parameter's value (to try its documented options)."""
        ops = op_of(c)
        if c.param is None or len(ops) != 1 or c.param not in self.d.parameters:
            return None
        op = ops[0]
        if left is None:
            left = self.d.parameters[c.param].value.value
        right = operand(c, op)
        if isinstance(right, ParamRef):
            if right.param not in self.d.parameters:
                return None
            right = self.d.parameters[right.param].value.value
        if isinstance(right, FactRef):
            return None
        if op == "in":
            return any(same(left, v) for v in right)
        if op not in FOLD:
            return None
        if op in ORDER_OPS and not (kind(left) == kind(right) == "number"):
            return None
        return FOLD[op](left, right)

    def fold_all(self, c: Compare) -> bool | None:
        """The condition's value if it is the same under the parameter's value and every one of its
        documented `options` (a site may select another option: that is a switch, not a dead rule)."""
        param = self.d.parameters.get(c.param or "")
        if param is None:
            return None
        results = {self.fold(c, v) for v in [param.value.value, *(param.value.options or [])]}
        return results.pop() if len(results) == 1 else None

    def number(self, v: Any) -> float | None:
        if isinstance(v, ParamRef):
            p = self.d.parameters.get(v.param)
            v = p.value.value if p else None
        return v if kind(v) == "number" else None


def kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "other"


def same(a: Any, b: Any) -> bool:
    """Equality that keeps true apart from 1."""
    return kind(a) == kind(b) and a == b


FOLD = {
    "eq": same,
    "ne": lambda a, b: not same(a, b),
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def op_of(c: Compare) -> list[str]:
    return [op for op in OPERATORS if getattr(c, "in_" if op == "in" else op) is not None]


def operand(c: Compare, op: str) -> Any:
    return getattr(c, "in_" if op == "in" else op)


def render(v: Any) -> str:
    if isinstance(v, ParamRef):
        return f"{{param: {v.param}}}"
    if isinstance(v, FactRef):
        return f"{{fact: {v.fact}}}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(render(x) for x in v) + "]"
    return str(v)


def type_hint(fact_type: str) -> dict[str, str]:
    """The type hint fields (type_hint_zh, type_hint_en) of C106."""
    zh, en = {
        "bool": ("写 true 或 false", "write true or false"),
        "number": ("写一个数", "write a number"),
        "integer": ("写一个数", "write a number"),
        "string": ("写文字", "write text"),
    }.get(fact_type, (f"该事实是 {fact_type}", f"the fact is {fact_type}"))
    return {"type_hint_zh": zh, "type_hint_en": en}


def close(name: str | None) -> dict[str, str]:
    """Fields of the `close` variant (a hint 'did you mean …?') when there is a close name."""
    return {"variant": "close", "close": name} if name else {}


def conditions(d: Draft) -> Iterator[tuple[Entry, Condition, Loc]]:
    """(entry, condition, its path below the entry) for every condition of the set: counts and
    classification cases, rules, screening eligibility and shorter intervals."""
    for e in d.derive:
        v = e.value
        if isinstance(v, Count):
            for i, c in enumerate(v.of):
                yield e, c, ("of", i)
        elif isinstance(v, Classification):
            for i, case in enumerate(v.cases):
                if not isinstance(case, Otherwise):
                    yield e, case.when, ("cases", i, "when")
    for e in d.rules:
        yield e, e.value.when, ("when",)
    if d.screenings is not None:
        for ci, comp in enumerate(d.screenings.value.complications):
            for ii, item in enumerate(comp.items):
                at = ("complications", ci, "items", ii)
                if item.eligible is not None:
                    yield d.screenings, item.eligible, (*at, "eligible")
                for k, case in enumerate(item.shorter):
                    yield d.screenings, case.when, (*at, "shorter", k, "when")


def reads(condition: Condition, well_formed: bool = False) -> set[str]:
    """The facts a condition reads: each comparison's fact and the facts it compares with. With
    `well_formed`, only comparisons with one left side and one operator (what a rule's explain
    template may show: the others are reported, G111/G112)."""
    out: set[str] = set()
    for node, _ in walk(condition):
        if not isinstance(node, Compare):
            continue
        ops = op_of(node)
        if well_formed:
            if (node.fact is None) == (node.param is None) or len(ops) != 1 or node.param is not None:
                continue
            out.add(node.fact)
            right = operand(node, ops[0])
            if isinstance(right, FactRef):
                out.add(right.fact)
            continue
        if node.fact:
            out.add(node.fact)
        for op in OPERATORS:
            v = operand(node, op)
            if isinstance(v, FactRef):
                out.add(v.fact)
    return out
