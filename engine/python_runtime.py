"""The two-valued forms of a `Program` (engine/ir.py) in plain Python.

`FormSource` writes a form as one Python boolean expression over locals, each fact fetched once: the
source of engine/evaluate.py's generated program function, the one way the python backend runs the
rules. `eval_form` interprets a single form directly (near misses move one fact and ask again), and
`FormInterpreter` runs a layer with it, with engine/durable_runtime.py's interface: the reference for
`--engine both`, the cases runner and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.ir import Form, Program

_PY_OP = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def form_facts(f: Form) -> set[str]:
    kind = f[0]
    if kind in ("true", "false"):
        return set()
    if kind in ("and", "or"):
        return set().union(*(form_facts(x) for x in f[1:]))
    if kind == "cmpf":
        return {f[1], f[3]}
    return {f[1]}


class FormSource:
    """Python source of forms over locals: each fact read becomes a local `<prefix>v<n>`, fetched once
    (`fetches()`) before the expressions run. engine/evaluate.py uses it for its fused program function."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.names: dict[str, str] = {}

    def var(self, fact: str) -> str:
        if fact not in self.names:
            self.names[fact] = f"{self.prefix}v{len(self.names)}"
        return self.names[fact]

    def fetches(self, indent: str = "    ", getter: str = "g", have: Mapping[str, str] = {}) -> str:  # noqa: B006
        """The lines fetching every fact the expressions so far read into its local, except the facts
        in `have` (already fetched into the local the caller seeded `names` with)."""
        return "\n".join(
            f"{indent}{v} = {getter}({fact!r})" for fact, v in self.names.items() if fact not in have
        )

    def expr(self, f: Form, known: frozenset[str] = frozenset()) -> str:
        """Source of one form. `known`: facts already proven present by the short-circuit so far (an
        earlier conjunct true only with the fact present, e.g. `present f` or a comparison on f; an
        earlier disjunct false only with it present, e.g. `missing f`), so their None checks go. In an
        `or`, a run of comparisons / code tests on one fact shares one None check (in an `and`, a run of
        `lacks` likewise)."""
        kind = f[0]
        if kind == "true":
            return "True"
        if kind == "false":
            return "False"
        if kind in ("and", "or"):
            parts = []
            proven = set(known)
            xs = f[1:]
            run_kinds = ("cmp", "has") if kind == "or" else ("lacks",)
            i = 0
            while i < len(xs):
                x = xs[i]
                j = i + 1
                if kind == "and" and x[0] == "present" and any(_eq_proves(y, x[1]) for y in xs[j:]):
                    i = j  # a later `f == literal` conjunct is false when f is missing: the check can go
                    continue
                if x[0] in run_kinds and x[1] not in proven:
                    while j < len(xs) and xs[j][0] in run_kinds and xs[j][1] == x[1]:
                        j += 1
                if j - i > 1:  # the run's truth (and) / falsity (or) proves nothing: `proven` stays
                    v = self.var(x[1])
                    inner = frozenset({*proven, x[1]})
                    tests = f" {kind} ".join(self.expr(y, inner) for y in xs[i:j])
                    guard = f"{v} is not None and" if kind == "or" else f"{v} is None or"
                    parts.append(f"({guard} ({tests}))")
                else:
                    parts.append(self.expr(x, frozenset(proven)))
                    proven |= _proves(x, kind == "and")
                i = j
            return "(" + f" {kind} ".join(parts) + ")"
        v = self.var(f[1])
        guard = f[1] not in known
        if kind == "present":
            return f"({v} is not None)" if guard else "True"
        if kind == "missing":
            return f"({v} is None)" if guard else "False"
        if kind == "cmp":
            test = f"{v} {_PY_OP[f[2]]} {f[3]!r}"
            return f"({v} is not None and {test})" if guard and not _eq_proves(f, f[1]) else f"({test})"
        if kind == "cmpf":
            w = self.var(f[3])
            checks = [f"{x} is not None" for x, name in ((v, f[1]), (w, f[3])) if name not in known]
            return "(" + " and ".join([*checks, f"{v} {_PY_OP[f[2]]} {w}"]) + ")"
        if kind == "has":
            return f"({v} is not None and {f[2]!r} in {v})" if guard else f"({f[2]!r} in {v})"
        if kind == "lacks":
            return f"({v} is None or {f[2]!r} not in {v})" if guard else f"({f[2]!r} not in {v})"
        raise ValueError(f"unknown form {kind!r}")


def _eq_proves(f: Form, fact: str) -> bool:
    """`f` is `fact == literal` with a literal that None never equals, so it needs no None check."""
    return f[0] == "cmp" and f[1] == fact and f[2] == "eq" and type(f[3]) in (bool, int, float, str)


def _proves(f: Form, truth: bool) -> set[str]:
    """Facts that are present whenever form `f` evaluates to `truth` (a missing fact makes every
    comparison and code test false)."""
    kind = f[0]
    if kind in ("and", "or"):
        subs = [_proves(x, truth) for x in f[1:]]
        if (kind == "and") == truth:  # a true `and` / false `or`: every part has that value
            return set().union(*subs)
        return set.intersection(*subs) if subs else set()  # one part has it, which one is unknown
    if kind in ("cmp", "has", "present"):
        return {f[1]} if truth else set()
    if kind == "cmpf":
        return {f[1], f[3]} if truth else set()
    if kind in ("missing", "lacks"):
        return set() if truth else {f[1]}
    return set()


class FormInterpreter:
    """A Program's layers interpreted form by form (`eval_form`): (definite, possible) per condition,
    the interface of engine/durable_runtime.py. Not how the python backend runs (that is the one
    generated function of engine/evaluate.py); the reference beside it: `--engine both` finds the
    condition where durable disagrees with it, the cases runner reads table rows with it, and tests
    hold the generated function and durable to it."""

    name = "python"

    def __init__(self, program: Program) -> None:
        self.program = program
        self._conditions = tuple(
            tuple((c.definite, c.possible) for c in layer.conditions) for layer in program.layers
        )

    def run(self, layer_index: int, facts: Mapping[str, Any]) -> Sequence[tuple[bool, bool]]:
        """(definite, possible) per condition of the layer; `facts` maps names to values (None = missing)."""
        return tuple(
            (eval_form(d, facts), eval_form(p, facts)) for d, p in self._conditions[layer_index]
        )


def eval_form(f: Form, facts: Mapping[str, Any]) -> bool:
    """Interpret one two-valued form over a fact dict (same semantics as the generated code)."""
    kind = f[0]
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind == "and":
        return all(eval_form(x, facts) for x in f[1:])
    if kind == "or":
        return any(eval_form(x, facts) for x in f[1:])
    v = facts.get(f[1])
    if kind == "present":
        return v is not None
    if kind == "missing":
        return v is None
    if kind == "cmp":
        return v is not None and _cmp(v, f[2], f[3])
    if kind == "cmpf":
        w = facts.get(f[3])
        return v is not None and w is not None and _cmp(v, f[2], w)
    if kind == "has":
        return v is not None and f[2] in v
    if kind == "lacks":
        return v is None or f[2] not in v
    raise ValueError(f"unknown form {kind!r}")


def _cmp(a: Any, op: str, b: Any) -> bool:
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if op == "lt":
        return a < b
    if op == "lte":
        return a <= b
    if op == "gt":
        return a > b
    return a >= b
