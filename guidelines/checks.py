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
        self.add(e.problem_of("C102", sub, name=name, **_close(did_you_mean(name, self.facts))))
        return None

    def param_ref(self, e: Entry, name: str, sub: Loc) -> Parameter | None:
        if name in self.d.parameters:
            return self.d.parameters[name].value
        self.add(e.problem_of("C103", sub, name=name, **_close(did_you_mean(name, self.d.parameters))))
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
        close = did_you_mean(src.doc, self.d.sources)
        known = ", ".join(sorted(self.d.sources)) or "none"
        self.add(e.problem_of("C120", (*sub, "source", "doc"), doc=src.doc, known=known, **_close(close)))

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
                self.add(e.problem_of("C115", (*sub, "at_least"), n=c.at_least, m=len(c.of)))
        elif isinstance(c, Compare):
            self.compare(e, c, sub, read)

    def compare(self, e: Entry, c: Compare, sub: Loc, read: set[str]) -> None:
        if (c.fact is None) == (c.param is None):
            self.add(e.problem_of("G111", sub))
            return
        ops = _op_of(c)
        if len(ops) != 1:
            nulls = [
                op for op in OPERATORS if op != "in" and op in c.model_fields_set and getattr(c, op) is None
            ]
            if nulls and not ops:
                self.add(e.problem_of("G112", sub, variant="null", found=f"`{nulls[0]}: null`"))
            else:
                self.add(e.problem_of("G112", sub, found=", ".join(ops) or "none"))
            return
        op = ops[0]
        right = _operand(c, op)
        if c.param is not None:
            left = self.param_ref(e, c.param, (*sub, "param"))
            if isinstance(right, FactRef):
                self.add(e.problem_of("C106", (*sub, op), variant="param_fact"))
            elif isinstance(right, ParamRef):
                self.param_ref(e, right.param, (*sub, op, "param"))
            if op in ("known", "has_any") and left is not None:
                self.add(e.problem_of("C106", (*sub, op), variant="param_op", op=op))
            return
        read.add(c.fact)
        info = self.fact_ref(e, c.fact, (*sub, "fact"))
        rinfo: FactInfo | None = None
        runit: str | None = None
        rkind: str | None = None
        rname = rname_zh = ""
        if isinstance(right, FactRef):
            read.add(right.fact)
            rinfo = self.fact_ref(e, right.fact, (*sub, op, "fact"))
            if rinfo is None:
                return
            runit, rname, rname_zh = rinfo.unit, f"fact '{right.fact}'", f"事实 '{right.fact}'"
            rkind = {"integer": "number", "number": "number"}.get(rinfo.type, rinfo.type)
        elif isinstance(right, ParamRef):
            p = self.param_ref(e, right.param, (*sub, op, "param"))
            if p is None:
                return
            runit, rname, rname_zh = p.unit, f"parameter '{right.param}'", f"参数 '{right.param}'"
            rkind = _kind(p.value) if not isinstance(p.value, list) else "other"
        if info is None:
            return
        fkind = {"integer": "number", "number": "number"}.get(info.type, info.type)
        where = (*sub, op)
        if op == "has_any":
            if info.type != "set":
                self.add(e.problem_of("C107", where, fact=c.fact, type=info.type))
            else:
                for i, code in enumerate(right):
                    if code not in self.symptoms:
                        close = did_you_mean(code, self.symptoms)
                        self.add(e.problem_of("C108", (*where, i), symptom=code, **_close(close)))
            return
        if op == "known":
            return
        if info.type == "set":
            self.add(e.problem_of("C106", where, variant="set_op", op=op, fact=c.fact))
            return
        if op in _ORDER_OPS and fkind != "number":
            self.add(e.problem_of("C106", where, variant="order_op", op=op, type=info.type, fact=c.fact))
            return
        literals = right if op == "in" else ([] if rkind is not None else [right])
        for i, lit in enumerate(literals):
            lwhere = (*where, i) if op == "in" else where
            if _kind(lit) != fkind:
                self.add(
                    e.problem_of(
                        "C106", lwhere, type=info.type, fact=c.fact, kind=_kind(lit), value=repr(lit),
                        **_type_hint(info.type),
                    )
                )
            elif info.values is not None and not any(_same(lit, v) for v in info.values):
                close = did_you_mean(str(lit), [str(v) for v in info.values])
                self.add(
                    e.problem_of(
                        "C124", lwhere, value=repr(lit), fact=c.fact,
                        values=", ".join(map(str, info.values)), **_close(close),
                    )
                )
        if rkind is not None:
            if rkind != fkind:
                self.add(
                    e.problem_of(
                        "C106", where, variant="ref", type=info.type, fact=c.fact, right=rname,
                        right_zh=rname_zh, rkind=rkind, **_type_hint(info.type),
                    )
                )
            elif info.unit and runit and info.unit != runit:
                self.add(
                    e.problem_of(
                        "C105", where, fact=c.fact, unit=info.unit, right=rname, right_zh=rname_zh,
                            runit=runit
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

    def unsat(self, c: Any, sub: Loc) -> tuple[str, str, dict[str, Any], Loc] | None:
        """(code, reason, its fields, where) when `c` can never be definitely true (the reasons of
        C115 and C116 in pathways/codes/guideline.py)."""
        if isinstance(c, Compare):
            ops = _op_of(c)
            if c.param is not None:
                if self.fold_all(c) is False:
                    op = ops[0]
                    param = self.d.parameters[c.param].value
                    fields = {"param": c.param, "now": _render(param.value), "op": op,
                              "value": _render(_operand(c, op))}
                    if param.options:
                        fields["options"] = ", ".join(_render(o) for o in param.options)
                        return ("C116", "param_false_options", fields, sub)
                    return ("C116", "param_false", fields, sub)
                return None
            if ops == ["in"] and not c.in_:
                return ("C115", "in_empty", {"fact": c.fact}, sub)
            return None
        if isinstance(c, Not):
            inner = c.not_
            if isinstance(inner, Compare) and self.fold_all(inner) is True:
                return ("C116", "not_true", {"param": inner.param}, sub)
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
                return first or ("C115", "at_least", {"n": c.at_least, "m": len(c.of)}, sub)
            return None
        if isinstance(c, All):
            for i, m in enumerate(c.all):
                r = self.unsat(m, (*sub, "all", i))
                if r:
                    return r
            return self.contradiction(c, sub)
        return None

    def contradiction(self, c: All, sub: Loc) -> tuple[str, str, dict[str, Any], Loc] | None:
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
                return ("C115", "known_false", {"fact": fact, "what": what}, sub)
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
                return ("C115", "pair", {"fact": fact, "a": lo[2], "b": hi[2]}, sub)
            for val, text in eqs:
                for other, otext in eqs:
                    if not _same(val, other):
                        return ("C115", "pair", {"fact": fact, "a": text, "b": otext}, sub)
                for other, otext in nes:
                    if _same(val, other):
                        return ("C115", "pair", {"fact": fact, "a": text, "b": otext}, sub)
                if _kind(val) == "number":
                    if lo and (val < lo[0] or (val == lo[0] and not lo[1])):
                        return ("C115", "pair", {"fact": fact, "a": text, "b": lo[2]}, sub)
                    if hi and (val > hi[0] or (val == hi[0] and not hi[1])):
                        return ("C115", "pair", {"fact": fact, "a": text, "b": hi[2]}, sub)
        return None

    # ---- the whole set ------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        d = self.d
        missing = [p for p in MEASURE_PARAMETERS if p not in d.parameters]
        if missing:
            self.add(d.manifest_src.problem_of("C104", names=", ".join(missing)))
        absent = [o for o in REQUIRED_OUTPUTS if o not in self.facts]
        if absent:
            self.add(d.manifest_src.problem_of("C121", names=", ".join(absent)))
        if d.colors is None:
            self.add(d.manifest_src.problem_of("C125"))
        if d.screenings is None:
            self.add(d.manifest_src.problem_of("C126"))
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
                        e.problem_of(
                            "C132", ("value",), name=name, value=_render(v), options=_render(list(p.options)),
                            **_close(close),
                        )
                    )
        if name in MEASURE_PARAMETERS:
            if name == "egfr_equation":
                if p.value not in EGFR_EQUATIONS:
                    self.add(
                        e.problem_of("C133", ("value",), value=_render(p.value),
                                     known=", ".join(EGFR_EQUATIONS))
                    )
            elif _kind(p.value) != "number" or isinstance(p.value, float) or p.value < 1:
                self.add(e.problem_of("C133", ("value",), variant="days", name=name, value=_render(p.value)))
            elif p.unit not in (None, "day"):
                self.add(e.problem_of("C105", ("unit",), variant="days", name=name, unit=p.unit))

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
                        e.problem_of(
                            "C114", (*sub, k), at_key=True, key=k, id=derive_id(d),
                            declared=", ".join(sorted(outputs)), **_close(close),
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
                        self.add(e.problem_of("C110", ("cases", i)))
                else:
                    self.condition(e, case.when, ("cases", i, "when"), read)
                    then_keys(case.then, ("cases", i, "then"))
                    self.source(e, case.source, ("cases", i))
                    r = self.unsat(case.when, ("cases", i, "when"))
                    if r:
                        code, reason, fields, where = r
                        self.add(
                            e.problem_of(
                                code, where, variant=f"case.{reason}", case=i, entry=d.classification,
                                    **fields
                            )
                        )
            if not isinstance(d.cases[-1], Otherwise):
                self.add(
                    e.problem_of("C110", ("cases", len(d.cases) - 1), variant="no_otherwise",
                                 id=d.classification)
                )
        else:
            self.table(e, d, then_keys)

    def output_value(self, e: Entry, out: Any, v: Any, sub: Loc) -> None:
        if v is None or isinstance(v, ParamRef):
            return
        want = {"integer": "number", "number": "number"}.get(out.type, out.type)
        if _kind(v) != want:
            self.add(
                e.problem_of("C106", sub, variant="output", value=repr(v), type=out.type,
                             **_type_hint(out.type))
            )
        elif out.values is not None and not any(_same(v, x) for x in out.values):
            close = did_you_mean(str(v), [str(x) for x in out.values])
            self.add(
                e.problem_of(
                    "C124", sub, variant="output_close" if close else "output", value=repr(v), close=close,
                    values=", ".join(map(str, out.values)),
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
                    e.problem_of(
                        "C131", ("inputs", name, "domain"), name=name, lacking=_render(lacking), fact=inp.fact
                    )
                )
            for i, v in enumerate(inp.domain):
                if _kind(v) != want:
                    self.add(
                        e.problem_of(
                            "C106", ("inputs", name, "domain", i), variant="domain", value=_render(v),
                                name=name,
                            type=info.type, fact=inp.fact, **_type_hint(info.type),
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
                                e.problem_of(
                                    "C129", sub, row=r, table=t.table, key=key, value=_render(v),
                                    domain=_render(list(domain)),
                                )
                            )
                if key not in t.inputs:
                    bad = True
                    close = did_you_mean(key, names)
                    self.add(
                        e.problem_of(
                            "C113", ("rows", r, "when", key), at_key=True, row=r, table=t.table, key=key,
                            inputs=", ".join(names), **_close(close),
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
            self.add(e.problem_of("C111", ("rows",), table=t.table, combo=text))
        if len(gaps) > _MAX_TABLE_REPORTS:
            self.add(e.problem_of("C111", ("rows",), variant="more", table=t.table,
                                  n=len(gaps) - _MAX_TABLE_REPORTS))
        for text, hits in overlaps[:_MAX_TABLE_REPORTS]:
            rows = " and ".join(f"rows[{h}]" for h in hits)
            self.add(e.problem_of("C112", ("rows", hits[1]), table=t.table, n=len(hits), combo=text,
                                  rows=rows))
        if len(overlaps) > _MAX_TABLE_REPORTS:
            self.add(
                e.problem_of("C112", ("rows",), variant="more", table=t.table,
                             n=len(overlaps) - _MAX_TABLE_REPORTS)
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
                    self.add(e.problem_of("C101", sub, at_key=True, variant="base_fact", name=name))
                elif name in producer:
                    file, line, _ = producer[name].line
                    self.add(
                        e.problem_of("C101", sub, at_key=True, variant="derived_twice", name=name,
                                     at=f"{file}:{line}")
                    )
                elif name in self.d.parameters:
                    file, line, _ = self.d.parameters[name].line
                    self.add(
                        e.problem_of("C101", sub, at_key=True, variant="parameter", name=name,
                                     at=f"{file}:{line}")
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
                        self.add(e.problem_of("C109", names=names))
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
                    e.problem_of(
                        "C130", ("referral", "to"), to=rule.referral.to, tiers=", ".join(TIERS),
                            **_close(close)
                    )
                )
            r = self.unsat(rule.when, ("when",))
            if r:
                code, reason, fields, where = r
                self.add(e.problem_of(code, where, variant=f"rule.{reason}", rule=rule.id, **fields))
            for field_name in ("explain", "explain_en"):
                text = getattr(rule, field_name)
                try:
                    names = placeholders(text or "")
                except ValueError:
                    self.add(e.problem_of("C128", (field_name,), field=field_name))
                    continue
                for name in names:
                    if not name or name.isdigit():
                        self.add(e.problem_of("C119", (field_name,), variant="unnamed", field=field_name,
                                              name=name))
                    elif name not in self.facts:
                        close = did_you_mean(name, read) or did_you_mean(name, self.facts)
                        self.add(e.problem_of("C119", (field_name,), field=field_name, name=name,
                                              **_close(close)))
                    elif name not in read:
                        reads = ", ".join(sorted(read)) or "nothing"
                        self.add(e.problem_of("C118", (field_name,), field=field_name, name=name,
                                              reads=reads))
            key = rule.when.model_dump_json(by_alias=True, exclude_none=True)
            first = by_when.get(key)
            if first is None:
                by_when[key] = e
            elif first.value.color != rule.color:
                self.add(
                    e.problem_of(
                        "C117", ("color",), first=first.value.id, first_color=first.value.color, rule=rule.id,
                        color=rule.color,
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
                        e.problem_of("C127", (*sub, "kind"), kind=item.kind, kinds=", ".join(kinds),
                                     **_close(close))
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


def _type_hint(fact_type: str) -> dict[str, str]:
    """The type hint fields (type_hint_zh, type_hint_en) of C106."""
    zh, en = {
        "bool": ("写 true 或 false", "write true or false"),
        "number": ("写一个数", "write a number"),
        "integer": ("写一个数", "write a number"),
        "string": ("写文字", "write text"),
    }.get(fact_type, (f"该事实是 {fact_type}", f"the fact is {fact_type}"))
    return {"type_hint_zh": zh, "type_hint_en": en}


def _close(close: str | None) -> dict[str, str]:
    """Fields of the `close` variant (a hint 'did you mean …?') when there is a close name."""
    return {"variant": "close", "close": close} if close else {}


def check_draft(draft: Draft) -> list[Problem]:
    """Every whole-set problem, in file/line order."""
    problems = _Checker(draft).run()
    return sorted(
        problems, key=lambda p: (p.file or "", p.line or 0, p.column if isinstance(p.column, int) else 0)
    )
