"""The compiler: `GuidelineSet` → `Program` (engine/ir.py). Pure and deterministic.

Steps, per docs/guideline-language.md §2–§3:
- fold parameters (`{param: x}` operands become literals, `param:` conditions become constants that prune);
- sort `derive` entries into dependency layers (a cycle is a C302 error, whatever the checker said);
- give every classification case, table row, count member, rule and screening condition a name;
- emit each condition in its *definite* and *possible* forms, in negation normal form (see engine/ir.py).

Count facts compare as ranges over `<count>__min`/`<count>__max`; set facts (`visit_symptoms`) test codes
with `has`/`lacks` atoms that durable_runtime flattens to `visit_symptoms__<code>` booleans.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from engine.ir import (
    COUNT_MAX,
    COUNT_MIN,
    Branch,
    CondIR,
    DeriveIR,
    Form,
    Layer,
    Program,
    RuleIR,
    ScreeningIR,
    ShorterIR,
    Tree,
)
from guidelines.model import GuidelineSet
from guidelines.schema import (
    Classification,
    Compare,
    ConditionFolder,
    Count,
    DecisionTable,
    FactRef,
    Otherwise,
    Parameter,
    ParamRef,
)
from pathways.errors import SangaoError
from pathways.facts import FACTS

OPS = ("eq", "ne", "lt", "lte", "gt", "gte")
NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt"}
ENROLMENT_FACTS = ("in_hypertension", "in_diabetes", "in_dyslipidemia")  # "omitted = every enrolled patient"
_PY_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


# Every rule compile_set has folded, by object identity: lets engine/describe.py render a schema
# `Rule` with its parameter values without being handed the set. Holds the rule, so ids stay unique.
FOLDED_RULES: dict[int, tuple[Any, Tree]] = {}


class Unresolved(str):
    """A parameter name standing in for its value when no value is known (describe only)."""


def fold_condition(condition: Any, parameters: Mapping[str, Any], lenient: bool = False) -> Tree:
    """A schema condition folded with `parameters` (name → Parameter or plain value): an engine/ir.py tree.
    `lenient`: an unknown parameter stays as its name (`Unresolved`) instead of raising C301."""
    comp = _Compiler(None, parameters)
    comp.lenient = lenient
    return comp.fold(condition)


def _error(code: str, where: str, gset: GuidelineSet | None, **fields: Any) -> SangaoError:
    """A registered problem placed at `where`'s origin in the guideline files."""
    origin = gset.origin.get(where) if gset is not None else None
    return SangaoError.of(
        code,
        file=origin.file if origin else None,
        line=origin.line if origin else None,
        column=origin.column if origin else None,
        context=where,
        **fields,
    )


def _derive_id(entry) -> str:
    if isinstance(entry, Classification):
        return entry.classification
    if isinstance(entry, DecisionTable):
        return entry.table
    return entry.count


def _derive_outputs(entry) -> tuple[str, ...]:
    if isinstance(entry, Count):
        return (entry.count,)
    return tuple(entry.outputs)


class _Compiler(ConditionFolder[Tree]):
    """Folds schema conditions into IR trees (the visitor of guidelines/schema.py), parameters
    resolved and constants folded."""

    def __init__(self, gset: GuidelineSet | None, parameters: Mapping[str, Any] | None = None) -> None:
        self.gset = gset
        self.parameters = gset.parameters if gset is not None else dict(parameters or {})
        self.count_facts: set[str] = {e.count for e in gset.derive if isinstance(e, Count)} if gset else set()
        self.set_facts: set[str] = {name for name, spec in FACTS.items() if spec.type == "set"}
        self.set_codes: dict[str, set[str]] = {}
        self.where = ""

    # ---- parameters ---------------------------------------------------------------------------

    lenient = False

    def param(self, name: str) -> Any:
        if name not in self.parameters and self.lenient:
            return Unresolved(name)
        if name not in self.parameters:
            close = sorted(p for p in self.parameters if p[:4] == name[:4])[:3]
            raise _error(
                "C301",
                self.where,
                self.gset,
                name=name,
                **({"variant": "close", "close": ", ".join(close)} if close else {}),
            )
        p = self.parameters[name]
        return p.value if isinstance(p, Parameter) else p

    def value(self, v: Any) -> Any:
        return self.param(v.param) if isinstance(v, ParamRef) else v

    # ---- folding: schema condition → folded tree ------------------------------------------------

    def all_of(self, parts: list[Tree]) -> Tree:
        return self._junction("all", parts)

    def any_of(self, parts: list[Tree]) -> Tree:
        return self._junction("any", parts)

    def negation(self, part: Tree) -> Tree:
        return ["const", not part[1]] if part[0] == "const" else ["not", part]

    def at_least(self, n: int, parts: list[Tree]) -> Tree:
        return self._at_least(n, parts)

    def compare(self, condition: Compare) -> Tree:
        return self._compare(condition)

    @staticmethod
    def _junction(kind: str, parts: list[Tree]) -> Tree:
        unit, zero = (True, False) if kind == "all" else (False, True)
        kept = []
        for p in parts:
            if p[0] == "const":
                if p[1] == zero:
                    return ["const", zero]
                continue
            kept.append(p)
        if not kept:
            return ["const", unit]
        return kept[0] if len(kept) == 1 else [kind, *kept]

    @staticmethod
    def _at_least(n: int, members: list[Tree]) -> Tree:
        n -= sum(1 for m in members if m == ["const", True])
        rest = [m for m in members if m[0] != "const"]
        if n <= 0:
            return ["const", True]
        if n > len(rest):
            return ["const", False]
        return ["at_least", n, rest]

    def _compare(self, c: Compare) -> Tree:
        ops = [op for op in OPS if getattr(c, op) is not None]
        ops += ["in"] if c.in_ is not None else []
        ops += ["known"] if c.known is not None else []
        ops += ["has_any"] if c.has_any is not None else []
        if len(ops) != 1 or (c.fact is None) == (c.param is None):
            raise _error(
                "C303",
                self.where,
                self.gset,
                variant="shape",
                ops=f"{', '.join(OPS)}, in, known, has_any",
            )
        op = ops[0]
        if c.param is not None:  # parameter on the left: a constant
            left = self.param(c.param)
            if op == "in":
                return ["const", left in c.in_]
            if op == "known":
                return ["const", (left is not None) == c.known]
            if op == "has_any":
                return ["const", bool(set(left if isinstance(left, list) else [left]) & set(c.has_any))]
            right = self.value(getattr(c, op))
            if isinstance(right, FactRef):
                raise _error(
                    "C303",
                    self.where,
                    self.gset,
                    variant="param_vs_fact",
                )
            return ["const", bool(_PY_OPS[op](left, right))]
        fact = c.fact
        if op == "known":
            return ["known", fact, c.known]
        if op == "in":
            return ["in", fact, list(c.in_)]
        if op == "has_any":
            if fact not in self.set_facts:
                raise _error(
                    "C303",
                    self.where,
                    self.gset,
                    variant="has_any",
                    fact=fact,
                    set_facts=", ".join(sorted(self.set_facts)),
                )
            codes = sorted(set(c.has_any))
            self.set_codes.setdefault(fact, set()).update(codes)
            return ["has_any", fact, codes]
        right = self.value(getattr(c, op))
        if isinstance(right, FactRef):
            if fact in self.count_facts or right.fact in self.count_facts:
                raise _error(
                    "C303",
                    self.where,
                    self.gset,
                    variant="count_vs_fact",
                    fact=fact,
                    op=op,
                    other=right.fact,
                )
            return ["cmpf", fact, op, right.fact]
        return ["cmp", fact, op, right]

    # ---- forms: folded tree → (definite, possible) in NNF ---------------------------------------

    def forms(self, t: Tree, neg: bool = False) -> tuple[Form, Form]:
        kind = t[0]
        if kind == "const":
            v = t[1] != neg
            f = ["true"] if v else ["false"]
            return f, f
        if kind in ("all", "any"):
            parts = [self.forms(x, neg) for x in t[1:]]
            conj = (kind == "all") != neg
            j = _and if conj else _or
            return j([d for d, _ in parts]), j([p for _, p in parts])
        if kind == "not":
            return self.forms(t[1], not neg)
        if kind == "at_least":
            n, members = t[1], t[2]
            if neg:  # at most n-1 true = at least len-n+1 false
                n, neg_members = len(members) - n + 1, True
            else:
                neg_members = False
            parts = [self.forms(m, neg_members) for m in members]
            combos = list(itertools.combinations(range(len(members)), n))
            d = _or([_and([parts[i][0] for i in combo]) for combo in combos])
            p = _or([_and([parts[i][1] for i in combo]) for combo in combos])
            return d, p
        if kind == "known":
            fact, want = t[1], t[2] != neg
            if fact in self.count_facts:
                f = ["cmpf", fact + COUNT_MIN, "eq" if want else "ne", fact + COUNT_MAX]
            else:
                f = ["present", fact] if want else ["missing", fact]
            return f, f
        if kind == "in":
            fact, values = t[1], t[2]
            if fact in self.count_facts and values and all(type(v) is int for v in values):
                return _count_in_forms(fact, values, neg)
            return self.forms(
                self._junction("any", [["cmp", fact, "eq", v] for v in values])
                if values
                else ["const", False],
                neg,
            )
        if kind == "has_any":
            fact, codes = t[1], t[2]
            if not neg:
                return _or([["has", fact, c] for c in codes]), _or(
                    [["missing", fact]] + [["has", fact, c] for c in codes]
                )
            lacks = [["lacks", fact, c] for c in codes]
            return _and([["present", fact], *lacks]), _or([["missing", fact], _and(lacks)])
        if kind == "cmpf":
            fact, op, other = t[1], (NEGATE[t[2]] if neg else t[2]), t[3]
            atom = ["cmpf", fact, op, other]
            return (
                _and([["present", fact], ["present", other], atom]),
                _or([["missing", fact], ["missing", other], atom]),
            )
        # cmp
        fact, op, v = t[1], (NEGATE[t[2]] if neg else t[2]), t[3]
        if fact in self.count_facts:
            return _count_forms(fact, op, v)
        atom = ["cmp", fact, op, v]
        return _and([["present", fact], atom]), _or([["missing", fact], atom])


def _count_forms(fact: str, op: str, v: Any) -> tuple[Form, Form]:
    """A count is a range [min, max]: definite when every value in it satisfies op, possible when one does."""
    lo, hi = fact + COUNT_MIN, fact + COUNT_MAX
    if op in ("gte", "gt"):
        return ["cmp", lo, op, v], ["cmp", hi, op, v]
    if op in ("lte", "lt"):
        return ["cmp", hi, op, v], ["cmp", lo, op, v]
    if op == "eq":
        return _and([["cmp", lo, "eq", v], ["cmp", hi, "eq", v]]), _and(
            [["cmp", lo, "lte", v], ["cmp", hi, "gte", v]]
        )
    # ne
    return _or([["cmp", lo, "gt", v], ["cmp", hi, "lt", v]]), _or(
        [["cmp", lo, "ne", v], ["cmp", hi, "ne", v]]
    )


def _count_in_forms(fact: str, values: list[int], neg: bool) -> tuple[Form, Form]:
    """`count in [values]` over the range [min, max]: definite when the whole range lies in one run of
    consecutive values, possible when some value of the range is listed (negated: the complement)."""
    lo, hi = fact + COUNT_MIN, fact + COUNT_MAX
    vs = sorted(set(values))
    runs: list[list[int]] = []
    for v in vs:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    inside_run = [_and([["cmp", lo, "gte", a], ["cmp", hi, "lte", b]]) for a, b in runs]
    touches = [_and([["cmp", lo, "lte", v], ["cmp", hi, "gte", v]]) for v in vs]
    if not neg:
        return _or(inside_run), _or(touches)
    # not in: definite when no listed value lies in the range; possible when the range is not inside a run
    definite = _and([_or([["cmp", lo, "gt", v], ["cmp", hi, "lt", v]]) for v in vs])
    possible = _and([_or([["cmp", lo, "lt", a], ["cmp", hi, "gt", b]]) for a, b in runs])
    return definite, possible


def _and(parts: list[Form]) -> Form:
    out: list[Form] = []
    for p in parts:
        if p == ["false"]:
            return ["false"]
        if p == ["true"]:
            continue
        for q in p[1:] if p[0] == "and" else [p]:
            if q not in out:
                out.append(q)
    if not out:
        return ["true"]
    return out[0] if len(out) == 1 else ["and", *out]


def _or(parts: list[Form]) -> Form:
    out: list[Form] = []
    for p in parts:
        if p == ["true"]:
            return ["true"]
        if p == ["false"]:
            continue
        for q in p[1:] if p[0] == "or" else [p]:
            if q not in out:
                out.append(q)
    if not out:
        return ["false"]
    return out[0] if len(out) == 1 else ["or", *out]


def tree_reads(t: Tree) -> set[str]:
    """Fact names a folded tree reads (count facts by their own name)."""
    kind = t[0]
    if kind == "const":
        return set()
    if kind in ("all", "any"):
        return set().union(*(tree_reads(x) for x in t[1:]))
    if kind == "not":
        return tree_reads(t[1])
    if kind == "at_least":
        return set().union(*(tree_reads(x) for x in t[2]))
    if kind == "cmpf":
        return {t[1], t[3]}
    return {t[1]}


def _numeric_leaves(t: Tree) -> list[tuple[str, str, float]]:
    kind = t[0]
    if kind in ("all", "any"):
        return [x for s in t[1:] for x in _numeric_leaves(s)]
    if kind == "not":
        return [(f, NEGATE[op], v) for f, op, v in _numeric_leaves(t[1])]
    if kind == "at_least":
        return [x for s in t[2] for x in _numeric_leaves(s)]
    if kind == "cmp" and t[2] != "ne" and isinstance(t[3], int | float) and not isinstance(t[3], bool):
        return [(t[1], t[2], t[3])]
    return []


def _layered(gset: GuidelineSet) -> list[list[Any]]:
    """Derive entries in dependency layers, set order within a layer."""
    producer: dict[str, str] = {}
    entries = {}
    for e in gset.derive:
        eid = _derive_id(e)
        entries[eid] = e
        for out in _derive_outputs(e):
            if out in producer:
                raise _error(
                    "C304",
                    f"derive.{eid}",
                    gset,
                    fact=out,
                    first=producer[out],
                    second=eid,
                )
            producer[out] = eid
    deps: dict[str, set[str]] = {}
    for eid, e in entries.items():
        reads: set[str] = set()
        if isinstance(e, Classification):
            for case in e.cases:
                if not isinstance(case, Otherwise):
                    reads |= _schema_reads(case.when)
        elif isinstance(e, Count):
            for m in e.of:
                reads |= _schema_reads(m)
        else:
            reads |= {i.fact for i in e.inputs.values()}
            for row in e.rows:
                for v in row.when.values():
                    if isinstance(v, FactRef):
                        reads.add(v.fact)
        deps[eid] = {producer[r] for r in reads if r in producer}
    level: dict[str, int] = {}
    visiting: list[str] = []

    def visit(eid: str) -> int:
        if eid in level:
            return level[eid]
        if eid in visiting:
            cycle = visiting[visiting.index(eid) :] + [eid]
            raise _error(
                "C302",
                f"derive.{eid}",
                gset,
                cycle=" → ".join(cycle),
            )
        visiting.append(eid)
        lv = 1 + max((visit(d) for d in sorted(deps[eid])), default=-1)
        visiting.pop()
        level[eid] = lv
        return lv

    for eid in entries:
        visit(eid)
    n = 1 + max(level.values(), default=-1)
    return [[e for eid, e in entries.items() if level[eid] == k] for k in range(n)]


def _schema_reads(c) -> set[str]:
    """The facts a condition reads (the one reading the set's checks use; loaded with the set)."""
    from guidelines.checks.context import reads

    return reads(c)


def _group(gset: GuidelineSet, key: str, fallback: str) -> str:
    origin = gset.origin.get(key)
    if origin is not None:
        return origin.file.rsplit("/", 1)[-1].removesuffix(".yaml")
    return fallback


def _table_row_tree(comp: _Compiler, table: DecisionTable, row) -> Tree:
    parts: list[Tree] = []
    for name, spec in row.when.items():
        if name not in table.inputs:
            raise _error(
                "C305",
                f"derive.{table.table}",
                comp.gset,
                name=name,
                inputs=", ".join(table.inputs),
            )
        fact = table.inputs[name].fact
        if isinstance(spec, list):
            parts.append(comp.fold(Compare(fact=fact, **{"in": spec})))
        elif isinstance(spec, Compare):
            if (
                spec.fact is not None
                and all(getattr(spec, op) is None for op in OPS)
                and spec.in_ is None
                and spec.known is None
                and spec.has_any is None
            ):
                parts.append(comp.fold(Compare(fact=fact, eq=FactRef(fact=spec.fact))))
            else:
                parts.append(comp.fold(spec.model_copy(update={"fact": fact, "param": None})))
        else:
            parts.append(comp.fold(Compare(fact=fact, eq=spec)))
    return comp._junction("all", parts)


def compile_set(gset: GuidelineSet) -> Program:
    """Compile a validated set into its `Program`. Same set → byte-identical `Program.to_json()`."""
    comp = _Compiler(gset)
    layers: list[Layer] = []

    def cond(cid: str, group: str, tree: Tree) -> CondIR:
        d, p = comp.forms(tree)
        refute = comp.forms(tree, neg=True)[0]
        return CondIR(cid, group, tree, d, p, refute, tuple(sorted(tree_reads(tree))))

    for k, entries in enumerate(_layered(gset)):
        conds: list[CondIR] = []
        derives: list[DeriveIR] = []
        for e in entries:
            eid = _derive_id(e)
            comp.where = f"derive.{eid}"
            group = _group(gset, comp.where, "derive")
            if isinstance(e, Count):
                members = []
                for i, m in enumerate(e.of):
                    conds.append(cond(f"count:{eid}:{i}", group, comp.fold(m)))
                    members.append(len(conds) - 1)
                derives.append(DeriveIR(eid, "count", (eid,), "first", (), {}, tuple(members)))
                continue
            outputs = tuple(e.outputs)
            unknown = {o: comp.value((e.unknown or {}).get(o)) for o in outputs}
            branches = []
            if isinstance(e, Classification):
                for i, case in enumerate(e.cases):
                    tree = ["const", True] if isinstance(case, Otherwise) else comp.fold(case.when)
                    then = case.otherwise if isinstance(case, Otherwise) else case.then
                    conds.append(cond(f"derive:{eid}:{i}", group, tree))
                    branches.append(Branch(len(conds) - 1, {o: comp.value(then.get(o)) for o in outputs}))
                derives.append(
                    DeriveIR(eid, "classification", outputs, "first", tuple(branches), unknown, ())
                )
            else:
                for i, row in enumerate(e.rows):
                    conds.append(cond(f"table:{eid}:{i}", group, _table_row_tree(comp, e, row)))
                    branches.append(Branch(len(conds) - 1, {o: comp.value(row.then.get(o)) for o in outputs}))
                derives.append(DeriveIR(eid, "table", outputs, e.hit_policy, tuple(branches), unknown, ()))
        layers.append(Layer(k, tuple(conds), tuple(derives)))

    conds = []
    rules: list[RuleIR] = []
    for r in gset.rules:
        comp.where = f"rules.{r.id}"
        tree = comp.fold(r.when)
        c = cond(f"rule:{r.id}", _group(gset, comp.where, r.id.split(".", 1)[0]), tree)
        conds.append(c)
        FOLDED_RULES[id(r)] = (r, tree)
        rules.append(
            RuleIR(r.id, len(conds) - 1, tree, c.reads, r.explain, r.explain_en, tuple(_numeric_leaves(tree)))
        )
    screenings: list[ScreeningIR] = []
    for comp_ in gset.screenings.complications if gset.screenings else []:
        for item in comp_.items:
            comp.where = f"screenings.{item.kind}"
            group = _group(gset, comp.where, "screenings")
            eligible = (
                comp.fold(item.eligible)
                if item.eligible is not None
                else ["any", *[["cmp", f, "eq", True] for f in ENROLMENT_FACTS]]
            )
            conds.append(cond(f"screen:{item.kind}:eligible", group, eligible))
            elig = len(conds) - 1
            shorter = []
            for i, case in enumerate(item.shorter):
                conds.append(cond(f"screen:{item.kind}:shorter{i}", group, comp.fold(case.when)))
                shorter.append(ShorterIR(len(conds) - 1, int(comp.value(case.months))))
            screenings.append(
                ScreeningIR(
                    item.kind,
                    elig,
                    int(comp.value(item.interval_months)),
                    tuple(shorter),
                    int(comp.value(item.first_due_days)),
                    item.listed,
                )
            )
    layers.append(Layer(len(layers), tuple(conds), ()))
    margin = gset.parameters.get("near_miss_margin_pct")
    return Program(
        set_name=gset.name,
        version=gset.version,
        layers=tuple(layers),
        rules=tuple(rules),
        screenings=tuple(screenings),
        set_codes={k: tuple(sorted(v)) for k, v in sorted(comp.set_codes.items())},
        count_facts=tuple(sorted(comp.count_facts)),
        near_miss_margin_pct=float(margin.value) if margin is not None else None,
    )
