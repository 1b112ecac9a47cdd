"""Whole-set checks (C codes) on a merged guideline set, before it becomes a `GuidelineSet`.

guidelines/loader.py reads and validates each file (G codes), merges overlays into a `Draft` whose
entries remember the file and node they came from, and calls `check_draft()`; every problem found
here names the file:line:col of the node at fault (the overlay's, when an overlay brought it).

Codes (never reuse one):
  C101 duplicate name or id          C102 unknown fact            C103 unknown parameter
  C104 measure parameter missing     C105 unit mismatch           C106 type mismatch
  C107 has_any on a non-set fact     C108 code not in vocabulary  C109 derive cycle
  C110 classification `otherwise`    C111 decision-table gap      C112 decision-table overlap
  C113 row names an undeclared input C114 output not declared     C115 condition never true
  C116 parameter folds to false      C117 contradicting colours   C118 explain shows an unread fact
  C119 explain names an unknown fact C120 unknown source.doc      C121 required output missing
  C122 overlay changes a unit        C123 remove_rules: no such id C124 value not among the declared values
  C125 no colors                     C126 no screenings           C127 unknown screening kind
  C128 explain is not a valid template  C129 table row value outside the input's domain
  C130 referral to an unknown tier      C131 a table input's domain lacks values its fact can take
  C132 parameter value not among its options  C133 a measure parameter Python cannot use
  G111 comparison without exactly one left side   G112 comparison without exactly one operator
"""

from __future__ import annotations

import itertools
import operator
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from guidelines.schema import (
    All,
    AnyOf,
    AtLeast,
    Case,
    Classification,
    Colors,
    Compare,
    Count,
    DecisionTable,
    FactRef,
    Manifest,
    Not,
    Otherwise,
    Parameter,
    ParamRef,
    Rule,
    Screenings,
    Source,
    SourceDoc,
    SymptomCode,
)
from guidelines.yaml_source import Loc, SourceFile, did_you_mean, placeholders, render_path
from pathways.errors import Problem
from pathways.facts import FACTS, MEASURE_PARAMETERS
from pathways.measures import EgfrEquation
from pathways.vocab import ScreeningKind, Tier

T = TypeVar("T")

# Derived facts the assessment reads (docs/guideline-language.md §3, step 4).
REQUIRED_OUTPUTS = (
    "bp_control",
    "glucose_control",
    "ldl_control",
    "hba1c_control",
    "bp_target_sbp",
    "bp_target_dbp",
    "ascvd_risk",
    "ldl_target",
    "ckd_stage",
    "albuminuria",
)
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "known", "has_any")
_ORDER_OPS = ("lt", "lte", "gt", "gte")
_NUMERIC = ("number", "integer")
TIERS = tuple(t.value for t in Tier)
EGFR_EQUATIONS = typing.get_args(EgfrEquation)  # the equations pathways/measures.py implements
_MAX_COMBINATIONS = 20_000
_MAX_TABLE_REPORTS = 10


@dataclass
class Entry(Generic[T]):
    """A value of the set and the node it was read from."""

    value: T
    src: SourceFile
    loc: Loc  # path of the node inside src.doc
    label: str  # "Rule(id='htn.urgent_bp')": how messages name it

    def problem(
        self, code: str, message: str, sub: Loc = (), *, hint: str | None = None, at_key: bool = False
    ) -> Problem:
        context = "at " + render_path(list(sub), self.label)
        return self.src.problem(
            code, message, self.loc + tuple(sub), hint=hint, at_key=at_key, context=context
        )

    def problem_of(self, code: str, sub: Loc = (), *, at_key: bool = False, **fields: Any) -> Problem:
        """A registered problem (`Problem.of`) at `sub` below this entry."""
        context = "at " + render_path(list(sub), self.label)
        return self.src.problem_of(code, self.loc + tuple(sub), at_key=at_key, context=context, **fields)

    @property
    def line(self) -> tuple[str, int, int]:
        from guidelines.yaml_source import locate

        line, col = locate(self.src.doc, self.loc, at_key=True)
        return self.src.display, line, col


@dataclass
class Draft:
    """A merged set before the whole-set checks."""

    manifest: Manifest
    manifest_src: SourceFile
    sources: dict[str, Entry[SourceDoc]] = field(default_factory=dict)
    parameters: dict[str, Entry[Parameter]] = field(default_factory=dict)
    vocabulary: dict[str, dict[str, Entry[SymptomCode]]] = field(default_factory=dict)
    derive: list[Entry[Any]] = field(default_factory=list)
    rules: list[Entry[Rule]] = field(default_factory=list)
    screenings: Entry[Screenings] | None = None
    colors: Entry[Colors] | None = None
    file_count: int = 0


def derive_id(d: Classification | Count | DecisionTable) -> str:
    if isinstance(d, Classification):
        return d.classification
    if isinstance(d, DecisionTable):
        return d.table
    return d.count


@dataclass(frozen=True)
class FactInfo:
    type: str
    unit: str | None
    values: tuple | None = None


def derive_outputs(d: Classification | Count | DecisionTable) -> dict[str, FactInfo]:
    if isinstance(d, Count):
        return {d.count: FactInfo("integer", None)}
    return {
        name: FactInfo(o.type, o.unit, tuple(o.values) if o.values is not None else None)
        for name, o in d.outputs.items()
    }


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "other"


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps true apart from 1."""
    return _kind(a) == _kind(b) and a == b


_FOLD = {
    "eq": _same,
    "ne": lambda a, b: not _same(a, b),
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _op_of(c: Compare) -> list[str]:
    return [op for op in OPERATORS if getattr(c, "in_" if op == "in" else op) is not None]


def _operand(c: Compare, op: str) -> Any:
    return getattr(c, "in_" if op == "in" else op)


class _Checker:
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
        close = did_you_mean(name, self.facts)
        tail = "`sangao guidelines schema` lists every fact"
        self.add(
            e.problem(
                "C102",
                f"unknown fact '{name}'",
                sub,
                hint=f"did you mean '{close}'? {tail}" if close else tail,
            )
        )
        return None

    def param_ref(self, e: Entry, name: str, sub: Loc) -> Parameter | None:
        if name in self.d.parameters:
            return self.d.parameters[name].value
        close = did_you_mean(name, self.d.parameters)
        tail = "parameters are defined under `parameters:`"
        self.add(
            e.problem(
                "C103",
                f"unknown parameter '{name}'",
                sub,
                hint=f"did you mean '{close}'? {tail}" if close else tail,
            )
        )
        return None

    def value_refs(self, e: Entry, value: Any, sub: Loc, unit: str | None = None) -> None:
        """A `{param: …}` used as a value: it must exist and, when both say, be in `unit`."""
        if isinstance(value, ParamRef):
            p = self.param_ref(e, value.param, (*sub, "param"))
            if p is not None and unit and p.unit and p.unit != unit:
                self.add(
                    e.problem(
                        "C105",
                        f"unit mismatch: '{sub[-1]}' is in {unit}, parameter '{value.param}' in {p.unit}",
                        (*sub, "param"),
                        hint=f"use a parameter in {unit}",
                    )
                )

    def source(self, e: Entry, src: Source | None, sub: Loc) -> None:
        if src is None or src.doc in self.d.sources:
            return
        close = did_you_mean(src.doc, self.d.sources)
        known = ", ".join(sorted(self.d.sources)) or "none"
        self.add(
            e.problem(
                "C120",
                f"unknown source.doc '{src.doc}'",
                (*sub, "source", "doc"),
                hint=f"did you mean '{close}'?" if close else f"add it to `sources:` (known: {known})",
            )
        )

    # ---- conditions ---------------------------------------------------------------------------

    def condition(self, e: Entry, c: Any, sub: Loc, read: set[str]) -> None:
        """Check every comparison below `c`; collect the facts it reads into `read`."""
        if isinstance(c, All):
            for i, m in enumerate(c.all):
                self.condition(e, m, (*sub, "all", i), read)
        elif isinstance(c, AnyOf):
            for i, m in enumerate(c.any):
                self.condition(e, m, (*sub, "any", i), read)
        elif isinstance(c, Not):
            self.condition(e, c.not_, (*sub, "not"), read)
        elif isinstance(c, AtLeast):
            for i, m in enumerate(c.of):
                self.condition(e, m, (*sub, "of", i), read)
            if c.at_least > len(c.of):
                self.add(
                    e.problem(
                        "C115",
                        f"at_least: {c.at_least} of {len(c.of)} conditions can never hold",
                        (*sub, "at_least"),
                        hint=f"use a number from 1 to {len(c.of)}",
                    )
                )
        elif isinstance(c, Compare):
            self.compare(e, c, sub, read)

    def compare(self, e: Entry, c: Compare, sub: Loc, read: set[str]) -> None:
        if (c.fact is None) == (c.param is None):
            self.add(
                e.problem(
                    "G111",
                    "a comparison needs exactly one of `fact:` or `param:` on the left",
                    sub,
                    hint="e.g. {fact: latest_sbp, gte: 140} or {param: bp_target_scheme, eq: x}",
                )
            )
            return
        ops = _op_of(c)
        if len(ops) != 1:
            found = ", ".join(ops) or "none"
            nulls = [
                op for op in OPERATORS if op != "in" and op in c.model_fields_set and getattr(c, op) is None
            ]
            hint = "one of eq ne lt lte gt gte in known has_any; combine with all: [...]"
            if nulls and not ops:
                found, hint = (
                    f"`{nulls[0]}: null`",
                    "a missing value is tested with known: false (or known: true)",
                )
            self.add(
                e.problem("G112", f"a comparison needs exactly one operator; found: {found}", sub, hint=hint)
            )
            return
        op = ops[0]
        right = _operand(c, op)
        if c.param is not None:
            left = self.param_ref(e, c.param, (*sub, "param"))
            if isinstance(right, FactRef):
                self.add(
                    e.problem(
                        "C106",
                        "a parameter condition is folded when the set loads; it cannot compare with a fact",
                        (*sub, op),
                        hint="put the fact on the left",
                    )
                )
            elif isinstance(right, ParamRef):
                self.param_ref(e, right.param, (*sub, op, "param"))
            if op in ("known", "has_any") and left is not None:
                self.add(e.problem("C106", f"`{op}` does not apply to a parameter", (*sub, op)))
            return
        read.add(c.fact)
        info = self.fact_ref(e, c.fact, (*sub, "fact"))
        rinfo: FactInfo | None = None
        runit: str | None = None
        rkind: str | None = None
        rname = ""
        if isinstance(right, FactRef):
            read.add(right.fact)
            rinfo = self.fact_ref(e, right.fact, (*sub, op, "fact"))
            if rinfo is None:
                return
            runit, rname = rinfo.unit, f"fact '{right.fact}'"
            rkind = {"integer": "number", "number": "number"}.get(rinfo.type, rinfo.type)
        elif isinstance(right, ParamRef):
            p = self.param_ref(e, right.param, (*sub, op, "param"))
            if p is None:
                return
            runit, rname = p.unit, f"parameter '{right.param}'"
            rkind = _kind(p.value) if not isinstance(p.value, list) else "other"
        if info is None:
            return
        fkind = {"integer": "number", "number": "number"}.get(info.type, info.type)
        where = (*sub, op)
        if op == "has_any":
            if info.type != "set":
                self.add(
                    e.problem(
                        "C107",
                        f"has_any on '{c.fact}', which is {info.type}, not a set",
                        where,
                        hint="has_any applies to set facts such as visit_symptoms; use eq or in",
                    )
                )
            else:
                for i, code in enumerate(right):
                    if code not in self.symptoms:
                        close = did_you_mean(code, self.symptoms)
                        self.add(
                            e.problem(
                                "C108",
                                f"'{code}' is not in the symptoms vocabulary",
                                (*where, i),
                                hint=f"did you mean '{close}'?"
                                if close
                                else "add it under vocabulary: symptoms:",
                            )
                        )
            return
        if op == "known":
            return
        if info.type == "set":
            self.add(
                e.problem(
                    "C106", f"`{op}` on set fact '{c.fact}'", where, hint="set facts take has_any: [codes]"
                )
            )
            return
        if op in _ORDER_OPS and fkind != "number":
            self.add(
                e.problem(
                    "C106",
                    f"`{op}` on {info.type} fact '{c.fact}'",
                    where,
                    hint="lt/lte/gt/gte compare numbers; use eq, ne or in",
                )
            )
            return
        literals = right if op == "in" else ([] if rkind is not None else [right])
        for i, lit in enumerate(literals):
            lwhere = (*where, i) if op == "in" else where
            if _kind(lit) != fkind:
                self.add(
                    e.problem(
                        "C106",
                        f"{info.type} fact '{c.fact}' compared with {_kind(lit)} {lit!r}",
                        lwhere,
                        hint=_type_hint(info.type),
                    )
                )
            elif info.values is not None and not any(_same(lit, v) for v in info.values):
                close = did_you_mean(str(lit), [str(v) for v in info.values])
                self.add(
                    e.problem(
                        "C124",
                        f"{lit!r} is not a value of '{c.fact}'",
                        lwhere,
                        hint=f"did you mean '{close}'?"
                        if close
                        else f"values: {', '.join(map(str, info.values))}",
                    )
                )
        if rkind is not None:
            if rkind != fkind:
                self.add(
                    e.problem(
                        "C106",
                        f"{info.type} fact '{c.fact}' compared with {rname} ({rkind})",
                        where,
                        hint=_type_hint(info.type),
                    )
                )
            elif info.unit and runit and info.unit != runit:
                self.add(
                    e.problem(
                        "C105",
                        f"unit mismatch: '{c.fact}' is in {info.unit}, {rname} in {runit}",
                        where,
                        hint=f"compare with a value in {info.unit}",
                    )
                )

    # ---- never true ---------------------------------------------------------------------------

    def fold(self, c: Compare, left: Any = None) -> bool | None:
        """A parameter condition's value at load time (None: not foldable); `left` replaces the
        parameter's value (to try its documented options)."""
        ops = _op_of(c)
        if c.param is None or len(ops) != 1 or c.param not in self.d.parameters:
            return None
        op = ops[0]
        if left is None:
            left = self.d.parameters[c.param].value.value
        right = _operand(c, op)
        if isinstance(right, ParamRef):
            if right.param not in self.d.parameters:
                return None
            right = self.d.parameters[right.param].value.value
        if isinstance(right, FactRef):
            return None
        if op == "in":
            return any(_same(left, v) for v in right)
        if op not in _FOLD:
            return None
        if op in _ORDER_OPS and not (_kind(left) == _kind(right) == "number"):
            return None
        return _FOLD[op](left, right)

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
        return v if _kind(v) == "number" else None

    def unsat(self, c: Any, sub: Loc) -> tuple[str, str, Loc] | None:
        """(code, why, where) when `c` can never be definitely true."""
        if isinstance(c, Compare):
            ops = _op_of(c)
            if c.param is not None:
                if self.fold_all(c) is False:
                    op = ops[0]
                    param = self.d.parameters[c.param].value
                    values = f"is {_render(param.value)}" + (
                        f" (options: {', '.join(_render(o) for o in param.options)})" if param.options else ""
                    )
                    return (
                        "C116",
                        f"parameter '{c.param}' {values}, so `{op}: {_render(_operand(c, op))}` "
                        "is always false",
                        sub,
                    )
                return None
            if ops == ["in"] and not c.in_:
                return ("C115", f"`in: []` on '{c.fact}' never holds", sub)
            return None
        if isinstance(c, Not):
            inner = c.not_
            if isinstance(inner, Compare) and self.fold_all(inner) is True:
                return ("C116", f"parameter '{inner.param}' makes the condition under `not` always true", sub)
            return None
        if isinstance(c, AnyOf):
            reasons = [self.unsat(m, (*sub, "any", i)) for i, m in enumerate(c.any)]
            return reasons[0] if all(reasons) else None
        if isinstance(c, AtLeast):
            if c.at_least > len(c.of):
                return None  # condition() reports it (C115) where it is written
            reasons = [self.unsat(m, (*sub, "of", i)) for i, m in enumerate(c.of)]
            possible = sum(r is None for r in reasons)
            if possible < c.at_least:
                first = next((r for r in reasons if r), None)
                return first or ("C115", f"at_least {c.at_least} of {len(c.of)}", sub)
            return None
        if isinstance(c, All):
            for i, m in enumerate(c.all):
                r = self.unsat(m, (*sub, "all", i))
                if r:
                    return r
            return self.contradiction(c, sub)
        return None

    def contradiction(self, c: All, sub: Loc) -> tuple[str, str, Loc] | None:
        per_fact: dict[str, list[tuple[str, Any, int]]] = {}
        for i, m in enumerate(c.all):
            if isinstance(m, Compare) and m.fact is not None and len(_op_of(m)) == 1:
                op = _op_of(m)[0]
                per_fact.setdefault(m.fact, []).append((op, _operand(m, op), i))
        for fact, conds in per_fact.items():
            knowns = [v for op, v, _ in conds if op == "known"]
            others = [(op, v, i) for op, v, i in conds if op != "known"]
            if False in knowns and (True in knowns or others):
                what = "known: true" if True in knowns else f"{others[0][0]}: {_render(others[0][1])}"
                return ("C115", f"'{fact}' is required missing (known: false) and {what} in one `all`", sub)
            lo: tuple[float, bool, str] | None = None  # (value, inclusive, text)
            hi: tuple[float, bool, str] | None = None
            eqs: list[tuple[Any, str]] = []
            nes: list[tuple[Any, str]] = []
            for op, v, _ in others:
                text = f"{op} {_render(v)}"
                if op in ("eq", "ne"):
                    val = self.number(v) if isinstance(v, ParamRef) else v
                    if val is None or isinstance(val, FactRef):
                        continue
                    (eqs if op == "eq" else nes).append((val, text))
                    continue
                if op not in _ORDER_OPS:
                    continue
                n = self.number(v)
                if n is None:
                    continue
                if op in ("gt", "gte"):
                    cand = (n, op == "gte", text)
                    if lo is None or n > lo[0] or (n == lo[0] and not cand[1]):
                        lo = cand
                else:
                    cand = (n, op == "lte", text)
                    if hi is None or n < hi[0] or (n == hi[0] and not cand[1]):
                        hi = cand
            if lo and hi and (lo[0] > hi[0] or (lo[0] == hi[0] and not (lo[1] and hi[1]))):
                return ("C115", f"'{fact}' {lo[2]} and {hi[2]} in one `all`", sub)
            for val, text in eqs:
                for other, otext in eqs:
                    if not _same(val, other):
                        return ("C115", f"'{fact}' {text} and {otext} in one `all`", sub)
                for other, otext in nes:
                    if _same(val, other):
                        return ("C115", f"'{fact}' {text} and {otext} in one `all`", sub)
                if _kind(val) == "number":
                    if lo and (val < lo[0] or (val == lo[0] and not lo[1])):
                        return ("C115", f"'{fact}' {text} and {lo[2]} in one `all`", sub)
                    if hi and (val > hi[0] or (val == hi[0] and not hi[1])):
                        return ("C115", f"'{fact}' {text} and {hi[2]} in one `all`", sub)
        return None

    # ---- the whole set ------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        d = self.d
        missing = [p for p in MEASURE_PARAMETERS if p not in d.parameters]
        if missing:
            self.add(
                d.manifest_src.problem(
                    "C104",
                    f"measure parameters missing: {', '.join(missing)}",
                    (),
                    hint="pathways/facts.py reads them; define each under `parameters:` "
                    "(docs/guideline-language.md §4)",
                )
            )
        absent = [o for o in REQUIRED_OUTPUTS if o not in self.facts]
        if absent:
            self.add(
                d.manifest_src.problem(
                    "C121",
                    f"required output facts missing: {', '.join(absent)}",
                    (),
                    hint="the assessment reads them; add derive entries whose outputs include them "
                    "(docs/guideline-language.md §3)",
                )
            )
        if d.colors is None:
            self.add(
                d.manifest_src.problem(
                    "C125",
                    "no file of the set defines `colors:`",
                    (),
                    hint="add a colors section (red/yellow/blue → tier, severity, follow_up_days)",
                )
            )
        if d.screenings is None:
            self.add(
                d.manifest_src.problem(
                    "C126",
                    "no file of the set defines `screenings:`",
                    (),
                    hint="add a screenings section (look_ahead_days, complications)",
                )
            )
        for name, e in d.parameters.items():
            self.source(e, e.value.source, ())
            self.parameter(name, e)
        for e in d.derive:
            self.derive_entry(e)
        self.derived_names()
        self.cycles()
        self.rules()
        if d.screenings is not None:
            self.screenings(d.screenings)
        if d.colors is not None:
            for name in ("red", "yellow", "blue"):
                self.value_refs(
                    d.colors, getattr(d.colors.value, name).follow_up_days, (name, "follow_up_days"), "day"
                )
        return self.problems

    def parameter(self, name: str, e: Entry[Parameter]) -> None:
        p = e.value
        if p.options is not None:
            values = p.value if isinstance(p.value, list) else [p.value]
            for v in values:
                if not any(_same(v, o) for o in p.options):
                    close = did_you_mean(str(v), [str(o) for o in p.options])
                    self.add(
                        e.problem(
                            "C132",
                            f"parameter '{name}' is {_render(v)}, not one of its options "
                            f"{_render(list(p.options))}",
                            ("value",),
                            hint=f"did you mean '{close}'?" if close else "choose one of the options",
                        )
                    )
        if name in MEASURE_PARAMETERS:
            if name == "egfr_equation":
                if p.value not in EGFR_EQUATIONS:
                    self.add(
                        e.problem(
                            "C133",
                            f"egfr_equation is {_render(p.value)}",
                            ("value",),
                            hint=f"pathways/facts.py knows {', '.join(EGFR_EQUATIONS)}",
                        )
                    )
            elif _kind(p.value) != "number" or isinstance(p.value, float) or p.value < 1:
                self.add(
                    e.problem(
                        "C133",
                        f"'{name}' is {_render(p.value)}, not a whole number of days",
                        ("value",),
                        hint="write a positive integer, e.g. 90",
                    )
                )
            elif p.unit not in (None, "day"):
                self.add(
                    e.problem(
                        "C105",
                        f"'{name}' is read as days, not {p.unit}",
                        ("unit",),
                        hint="give it in days (unit: day)",
                    )
                )

    def derive_entry(self, e: Entry) -> None:
        d = e.value
        self.source(e, d.source, ())
        read: set[str] = set()
        if isinstance(d, Count):
            for i, c in enumerate(d.of):
                self.condition(e, c, ("of", i), read)
            return
        outputs = set(d.outputs)

        def then_keys(then: dict, sub: Loc) -> None:
            for k, v in then.items():
                if k not in outputs:
                    close = did_you_mean(k, outputs)
                    self.add(
                        e.problem(
                            "C114",
                            f"'{k}' is not a declared output of '{derive_id(d)}'",
                            (*sub, k),
                            at_key=True,
                            hint=f"did you mean '{close}'?"
                            if close
                            else f"declare it under outputs: (declared: {', '.join(sorted(outputs))})",
                        )
                    )
                else:
                    self.output_value(e, d.outputs[k], v, (*sub, k))
                self.value_refs(e, v, (*sub, k), d.outputs[k].unit if k in outputs else None)

        if d.unknown:
            then_keys(d.unknown, ("unknown",))
        if isinstance(d, Classification):
            for i, case in enumerate(d.cases):
                if isinstance(case, Otherwise):
                    then_keys(case.otherwise, ("cases", i, "otherwise"))
                    self.source(e, case.source, ("cases", i))
                    if i != len(d.cases) - 1:
                        self.add(
                            e.problem(
                                "C110",
                                "`otherwise` must be the last case; the cases after it never apply",
                                ("cases", i),
                                hint="move it to the end",
                            )
                        )
                else:
                    self.condition(e, case.when, ("cases", i, "when"), read)
                    then_keys(case.then, ("cases", i, "then"))
                    self.source(e, case.source, ("cases", i))
                    r = self.unsat(case.when, ("cases", i, "when"))
                    if r:
                        self.add(
                            e.problem(r[0], f"case {i} of '{d.classification}' can never match: {r[1]}", r[2])
                        )
            if not isinstance(d.cases[-1], Otherwise):
                self.add(
                    e.problem(
                        "C110",
                        f"classification '{d.classification}' does not end in `otherwise`",
                        ("cases", len(d.cases) - 1),
                        hint="add `- otherwise: {...}` as the last case so every patient gets a value",
                    )
                )
        else:
            self.table(e, d, then_keys)

    def output_value(self, e: Entry, out: Any, v: Any, sub: Loc) -> None:
        if v is None or isinstance(v, ParamRef):
            return
        want = {"integer": "number", "number": "number"}.get(out.type, out.type)
        if _kind(v) != want:
            self.add(e.problem("C106", f"{v!r} is not {out.type}", sub, hint=_type_hint(out.type)))
        elif out.values is not None and not any(_same(v, x) for x in out.values):
            close = did_you_mean(str(v), [str(x) for x in out.values])
            self.add(
                e.problem(
                    "C124",
                    f"{v!r} is not among the declared values",
                    sub,
                    hint=f"did you mean '{close}'?"
                    if close
                    else f"values: {', '.join(map(str, out.values))}",
                )
            )

    def table(self, e: Entry, t: DecisionTable, then_keys) -> None:
        for name, inp in t.inputs.items():
            info = self.fact_ref(e, inp.fact, ("inputs", name, "fact"))
            if info is None or info.type == "set":
                continue
            want = {"integer": "number"}.get(info.type, info.type)
            possible = self.possible_values(inp.fact, info)
            lacking = [v for v in possible if not any(_same(v, x) for x in inp.domain)]
            if lacking:
                self.add(
                    e.problem(
                        "C131",
                        f"the domain of input '{name}' lacks {_render(lacking)}, which '{inp.fact}' can take",
                        ("inputs", name, "domain"),
                        hint="add them to the domain (and rows for them), or patients with them match no row",
                    )
                )
            for i, v in enumerate(inp.domain):
                if _kind(v) != want:
                    self.add(
                        e.problem(
                            "C106",
                            f"domain value {_render(v)} of input '{name}' is not {info.type} "
                            f"like fact '{inp.fact}'",
                            ("inputs", name, "domain", i),
                            hint=_type_hint(info.type),
                        )
                    )
        names = list(t.inputs)
        bad = False
        for r, row in enumerate(t.rows):
            for key, test in row.when.items():
                if key in t.inputs and isinstance(test, (list, bool, int, float, str)):
                    domain = t.inputs[key].domain
                    for k, v in enumerate(test if isinstance(test, list) else [test]):
                        if not any(_same(v, x) for x in domain):
                            sub = (
                                ("rows", r, "when", key, k)
                                if isinstance(test, list)
                                else ("rows", r, "when", key)
                            )
                            self.add(
                                e.problem(
                                    "C129",
                                    f"row {r} of table '{t.table}': {key}={_render(v)} is not "
                                    f"in the input's domain {_render(list(domain))}",
                                    sub,
                                    hint="use a domain value, or add it to the domain",
                                )
                            )
                if key not in t.inputs:
                    bad = True
                    close = did_you_mean(key, names)
                    self.add(
                        e.problem(
                            "C113",
                            f"row {r} of table '{t.table}' names '{key}', which is not an input",
                            ("rows", r, "when", key),
                            at_key=True,
                            hint=f"did you mean '{close}'?" if close else f"inputs: {', '.join(names)}",
                        )
                    )
            then_keys(row.then, ("rows", r, "then"))
        if bad:
            return
        domains = [t.inputs[n].domain for n in names]
        total = 1
        for dom in domains:
            total *= len(dom)
        if total > _MAX_COMBINATIONS:
            return
        gaps: list[str] = []
        overlaps: list[tuple[str, list[int]]] = []
        for combo in itertools.product(*domains):
            values = dict(zip(names, combo, strict=True))
            hits = [r for r, row in enumerate(t.rows) if self.row_matches(row.when, values)]
            text = ", ".join(f"{n}={_render(v)}" for n, v in values.items())
            if not hits:
                gaps.append(text)
            elif len(hits) > 1 and t.hit_policy == "unique":
                overlaps.append((text, hits))
        for text in gaps[:_MAX_TABLE_REPORTS]:
            self.add(
                e.problem(
                    "C111",
                    f"table '{t.table}' has no row for {text}",
                    ("rows",),
                    hint="add a row for it, or narrow the input's domain",
                )
            )
        if len(gaps) > _MAX_TABLE_REPORTS:
            self.add(
                e.problem(
                    "C111",
                    f"table '{t.table}': {len(gaps) - _MAX_TABLE_REPORTS} more combinations have no row",
                    ("rows",),
                )
            )
        for text, hits in overlaps[:_MAX_TABLE_REPORTS]:
            rows = " and ".join(f"rows[{h}]" for h in hits)
            self.add(
                e.problem(
                    "C112",
                    f"table '{t.table}' (hit policy unique) has {len(hits)} rows for {text}: {rows}",
                    ("rows", hits[1]),
                    hint="make the rows exclusive, or use hit_policy: first",
                )
            )
        if len(overlaps) > _MAX_TABLE_REPORTS:
            self.add(
                e.problem(
                    "C112",
                    f"table '{t.table}': {len(overlaps) - _MAX_TABLE_REPORTS} more "
                    "combinations match more than one row",
                    ("rows",),
                )
            )

    def possible_values(self, fact: str, info: FactInfo) -> list:
        """Every value a fact can take, when the set says: bool, a count's 0…n, declared string values."""
        if info.type == "bool":
            return [True, False]
        if info.values is not None:
            return list(info.values)
        for e in self.d.derive:
            if isinstance(e.value, Count) and e.value.count == fact:
                return list(range(len(e.value.of) + 1))
        return []

    def row_matches(self, when: dict, values: dict) -> bool:
        for name, test in when.items():
            v = values[name]
            if isinstance(test, list):
                if not any(_same(v, x) for x in test):
                    return False
            elif isinstance(test, Compare):
                ops = _op_of(test)
                if len(ops) != 1:
                    continue
                op = ops[0]
                right = _operand(test, op)
                if op == "in":
                    if not any(_same(v, x) for x in right):
                        return False
                    continue
                if op not in _FOLD or isinstance(right, FactRef):
                    continue
                r = self.number(right) if isinstance(right, ParamRef) else right
                if r is None:
                    continue
                if op in _ORDER_OPS and not (_kind(v) == _kind(r) == "number"):
                    return False
                if not _FOLD[op](v, r):
                    return False
            elif isinstance(test, ParamRef):
                p = self.d.parameters.get(test.param)
                if p is not None and not _same(v, p.value.value):
                    return False
            elif isinstance(test, FactRef):
                continue
            elif not _same(v, test):
                return False
        return True

    def derived_names(self) -> None:
        """A derived fact has one producer and does not shadow a base fact or a parameter."""
        producer: dict[str, Entry] = {}
        for e in self.d.derive:
            for name in derive_outputs(e.value):
                sub = ("outputs", name) if not isinstance(e.value, Count) else ("count",)
                if name in FACTS:
                    self.add(
                        e.problem(
                            "C101",
                            f"derived fact '{name}' has the name of a base fact",
                            sub,
                            at_key=True,
                            hint="choose another name; base facts come from pathways/facts.py",
                        )
                    )
                elif name in producer:
                    file, line, _ = producer[name].line
                    self.add(
                        e.problem(
                            "C101",
                            f"derived fact '{name}' is already derived at {file}:{line}",
                            sub,
                            at_key=True,
                            hint="one derive entry produces each fact",
                        )
                    )
                elif name in self.d.parameters:
                    file, line, _ = self.d.parameters[name].line
                    self.add(
                        e.problem(
                            "C101",
                            f"derived fact '{name}' has the name of the parameter at {file}:{line}",
                            sub,
                            at_key=True,
                            hint="rename one of them",
                        )
                    )
                producer.setdefault(name, e)

    def cycles(self) -> None:
        producer: dict[str, int] = {}
        for i, e in enumerate(self.d.derive):
            for name in derive_outputs(e.value):
                producer.setdefault(name, i)
        deps: dict[int, list[int]] = {}
        for i, e in enumerate(self.d.derive):
            read = _reads(e.value)
            deps[i] = sorted({producer[f] for f in read if f in producer})
        state: dict[int, int] = {}
        reported: set[frozenset[int]] = set()

        def visit(i: int, path: list[int]) -> None:
            state[i] = 1
            for j in deps[i]:
                if state.get(j) == 1:
                    cycle = path[path.index(j) :] + [j]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        names = " → ".join(derive_id(self.d.derive[k].value) for k in cycle)
                        e = self.d.derive[j]
                        self.add(
                            e.problem(
                                "C109",
                                f"derive cycle: {names}",
                                (),
                                hint="a derived fact cannot depend on itself; break the loop",
                            )
                        )
                elif state.get(j) is None:
                    visit(j, [*path, j])
            state[i] = 2

        for i in deps:
            if i not in state:
                visit(i, [i])

    def rules(self) -> None:
        by_when: dict[str, Entry[Rule]] = {}
        for e in self.d.rules:
            rule = e.value
            read: set[str] = set()
            self.condition(e, rule.when, ("when",), read)
            self.source(e, rule.source, ())
            self.value_refs(e, rule.follow_up_days, ("follow_up_days",), "day")
            if rule.referral is not None and rule.referral.to not in TIERS:
                close = did_you_mean(rule.referral.to, TIERS)
                self.add(
                    e.problem(
                        "C130",
                        f"referral to '{rule.referral.to}', which is not a care tier",
                        ("referral", "to"),
                        hint=f"did you mean '{close}'?" if close else f"tiers: {', '.join(TIERS)}",
                    )
                )
            r = self.unsat(rule.when, ("when",))
            if r:
                self.add(
                    e.problem(
                        r[0],
                        f"rule '{rule.id}' can never fire: {r[1]}",
                        r[2],
                        hint="check the thresholds and parameters of this condition",
                    )
                )
            for field_name in ("explain", "explain_en"):
                text = getattr(rule, field_name)
                try:
                    names = placeholders(text or "")
                except ValueError:
                    self.add(
                        e.problem(
                            "C128",
                            f"{field_name} is not a valid template: a lone brace",
                            (field_name,),
                            hint="placeholders are {fact_name}; write {{ or }} for a literal brace",
                        )
                    )
                    continue
                for name in names:
                    if not name or name.isdigit():
                        self.add(
                            e.problem(
                                "C119",
                                f"{field_name} has a placeholder without a fact name: '{{{name}}}'",
                                (field_name,),
                                hint="name the fact: {latest_sbp}",
                            )
                        )
                    elif name not in self.facts:
                        close = did_you_mean(name, read) or did_you_mean(name, self.facts)
                        self.add(
                            e.problem(
                                "C119",
                                f"{field_name} names unknown fact '{{{name}}}'",
                                (field_name,),
                                hint=f"did you mean '{{{close}}}'?"
                                if close
                                else "placeholders name facts the rule reads",
                            )
                        )
                    elif name not in read:
                        reads = ", ".join(sorted(read)) or "nothing"
                        self.add(
                            e.problem(
                                "C118",
                                f"{field_name} shows '{{{name}}}', which the rule does not read",
                                (field_name,),
                                hint=f"the rule reads: {reads}",
                            )
                        )
            key = rule.when.model_dump_json(by_alias=True, exclude_none=True)
            first = by_when.get(key)
            if first is None:
                by_when[key] = e
            elif first.value.color != rule.color:
                self.add(
                    e.problem(
                        "C117",
                        f"rules '{first.value.id}' ({first.value.color}) and '{rule.id}' "
                        f"({rule.color}) have the same `when` but different colours",
                        ("color",),
                        hint="keep one rule, or make their conditions differ",
                    )
                )

    def screenings(self, e: Entry[Screenings]) -> None:
        s = e.value
        self.value_refs(e, s.look_ahead_days, ("look_ahead_days",), "day")
        kinds = [k.value for k in ScreeningKind]
        for ci, comp in enumerate(s.complications):
            for ii, item in enumerate(comp.items):
                sub = ("complications", ci, "items", ii)
                if item.kind not in kinds:
                    close = did_you_mean(item.kind, kinds)
                    self.add(
                        e.problem(
                            "C127",
                            f"unknown screening kind '{item.kind}'",
                            (*sub, "kind"),
                            hint=f"did you mean '{close}'?" if close else f"kinds: {', '.join(kinds)}",
                        )
                    )
                read: set[str] = set()
                if item.eligible is not None:
                    self.condition(e, item.eligible, (*sub, "eligible"), read)
                for k, case in enumerate(item.shorter):
                    self.condition(e, case.when, (*sub, "shorter", k, "when"), read)
                    self.value_refs(e, case.months, (*sub, "shorter", k, "months"), "month")
                self.value_refs(e, item.interval_months, (*sub, "interval_months"), "month")
                self.value_refs(e, item.first_due_days, (*sub, "first_due_days"), "day")
                self.source(e, item.source, sub)


def _reads(d: Any) -> set[str]:
    out: set[str] = set()

    def walk(c: Any) -> None:
        if isinstance(c, All):
            for m in c.all:
                walk(m)
        elif isinstance(c, AnyOf):
            for m in c.any:
                walk(m)
        elif isinstance(c, Not):
            walk(c.not_)
        elif isinstance(c, AtLeast):
            for m in c.of:
                walk(m)
        elif isinstance(c, Compare):
            if c.fact:
                out.add(c.fact)
            for op in OPERATORS:
                v = _operand(c, op)
                if isinstance(v, FactRef):
                    out.add(v.fact)

    if isinstance(d, Count):
        for c in d.of:
            walk(c)
    elif isinstance(d, Classification):
        for case in d.cases:
            if isinstance(case, Case):
                walk(case.when)
    elif isinstance(d, DecisionTable):
        out.update(i.fact for i in d.inputs.values())
    return out


def _render(v: Any) -> str:
    if isinstance(v, ParamRef):
        return f"{{param: {v.param}}}"
    if isinstance(v, FactRef):
        return f"{{fact: {v.fact}}}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_render(x) for x in v) + "]"
    return str(v)


def _type_hint(fact_type: str) -> str:
    return {
        "bool": "write true or false",
        "number": "write a number",
        "integer": "write a number",
        "string": "write text",
    }.get(fact_type, f"the fact is {fact_type}")


def check_draft(draft: Draft) -> list[Problem]:
    """Every whole-set problem, in file/line order."""
    problems = _Checker(draft).run()
    return sorted(
        problems, key=lambda p: (p.file or "", p.line or 0, p.column if isinstance(p.column, int) else 0)
    )
