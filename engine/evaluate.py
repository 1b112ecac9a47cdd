"""Evaluation of one patient's facts against a compiled guideline set.

`Evaluator(gset, backend)` compiles the set once (engine/compile.py) and picks a runtime
(engine/python_runtime.py or engine/durable_runtime.py; "both" runs the two and stops with R002 when they
disagree). `evaluate(facts)` takes the base facts of pathways/facts.py `compute_facts` (sets as
frozenset, None = missing) and runs, layer by layer:

1. derive entries: a classification takes the first definite case unless an earlier case is possible,
   in which case it is decided only when every possible case up to the first definite one has the same
   outputs, else the entry's `unknown` values; a table likewise (`first`), or with `unique` all possible
   rows must agree; a count is a range [definitely true, possibly true] (`<name>__min`/`__max`), an int
   when the two meet, else None;
2. rules: fired = definitely true;
3. screening items: eligible = definitely true; interval = the first definitely true `shorter` case,
   else `interval_months`.

engine/assess.py composes the Assessment (colour, tier, referral, dates) from the `Evaluation`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.compile import compile_set
from engine.ir import COUNT_MAX, COUNT_MIN, DeriveIR, Layer, Program
from engine.python_runtime import PythonRuntime, eval_form
from guidelines.model import GuidelineSet
from pathways.errors import Problem, SangaoError

Backend = Literal["python", "durable", "both"]
# The brief's default when the set has no `near_miss_margin_pct` parameter: 5 % of the threshold.
DEFAULT_NEAR_MISS_PCT = 5.0


@dataclass(frozen=True)
class ScreeningPlan:
    eligible: bool
    interval_months: int
    first_due_days: int
    listed: bool


@dataclass(frozen=True)
class NearMiss:
    """Rule `rule` would fire if `fact` moved from `value` to `threshold` (within the margin)."""

    rule: str
    fact: str
    value: float
    threshold: float
    op: str


@dataclass(frozen=True)
class Evaluation:
    facts: dict[str, Any]                          # base + derived (counts: int or None, plus __min/__max)
    fired: tuple[str, ...]                         # rule ids, set order
    read: dict[str, dict[str, Any]]                # fired rule id → {fact: value} its `when` reads (+ count ranges)
    undecided: dict[str, tuple[str, ...]]          # derived output left unknown → missing facts behind it
    screening: dict[str, ScreeningPlan]            # kind → plan
    near_misses: tuple[NearMiss, ...]
    backend: str


def _new_runtime(program: Program, name: str):
    if name == "python":
        return PythonRuntime(program)
    if name == "durable":
        from engine.durable_runtime import DurableRuntime  # imported only when asked: durable is heavy

        return DurableRuntime(program)
    raise ValueError(f"unknown backend {name!r}: python, durable or both")


def _missing(layer: Layer, conds: list[int], facts: Mapping[str, Any],
             undecided: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Missing facts the conditions read; an undecided derived fact stands for the facts behind it."""
    out: set[str] = set()
    for i in conds:
        for r in layer.conditions[i].reads:
            if facts.get(r) is None:
                out.update(undecided.get(r, (r,)))
    return tuple(sorted(out))


def _compose(layer: Layer, res, f: dict[str, Any], undecided: dict[str, tuple[str, ...]]) -> None:
    d: DeriveIR
    for d in layer.derives:
        if d.kind == "count":
            lo = hi = 0
            unsure = []
            for i in d.members:
                dd, pp = res[i]
                lo += dd
                hi += pp
                if pp and not dd:
                    unsure.append(i)
            name = d.id
            f[name] = lo if lo == hi else None
            f[name + COUNT_MIN] = lo
            f[name + COUNT_MAX] = hi
            if lo != hi:
                undecided[name] = _missing(layer, unsure, f, undecided)
            continue
        cands = []
        found = False
        for b in d.branches:
            dd, pp = res[b.cond]
            if pp:
                cands.append(b)
            if dd and d.hit_policy == "first":
                found = True
                break
        if d.hit_policy == "unique":
            found = bool(cands)
        if found:
            then = cands[0].then
            for b in cands[1:]:
                if b.then != then:
                    found = False
                    break
        if found:
            f.update(then)
        else:
            f.update(d.unknown)
            missing = _missing(layer, [b.cond for b in (cands or d.branches)], f, undecided)
            for o in d.outputs:
                undecided[o] = missing


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Evaluator:
    """Compile a set once; evaluate many patients' facts."""

    def __init__(self, gset: GuidelineSet, backend: Backend = "python") -> None:
        self.gset = gset
        self.backend = backend
        self.program = compile_set(gset)
        names = ("python", "durable") if backend == "both" else (backend,)
        self._runtimes = tuple(_new_runtime(self.program, n) for n in names)
        pct = self.program.near_miss_margin_pct
        self._margin_pct = DEFAULT_NEAR_MISS_PCT if pct is None else pct
        counts = set(self.program.count_facts)
        # a count fact is read with its range, so a rule fired on [2, 3] still shows what it saw
        self._read_names = {
            r.id: tuple(x for name in r.reads
                        for x in ((name, name + COUNT_MIN, name + COUNT_MAX) if name in counts else (name,)))
            for r in self.program.rules
        }
        self._cond_of_rule = {r.id: self.program.rules_layer.conditions[r.cond] for r in self.program.rules}

    def evaluate(self, facts: Mapping[str, Any], patient_id: str | None = None) -> Evaluation:
        """Evaluate base facts (None = missing; set facts as frozenset). `patient_id` only names errors."""
        program = self.program
        f = dict(facts)
        undecided: dict[str, tuple[str, ...]] = {}
        runtimes = self._runtimes
        res = None
        for layer in program.layers:
            res = runtimes[0].run(layer.index, f)
            if len(runtimes) > 1:
                self._check_agree(layer, res, runtimes[1].run(layer.index, f), f, patient_id)
            if layer.derives:
                _compose(layer, res, f, undecided)
        fired = tuple(r.id for r in program.rules if res[r.cond][0])
        read = {}
        for r in program.rules:
            if res[r.cond][0]:
                read[r.id] = {name: f.get(name) for name in self._read_names[r.id]}
        screening = {}
        for s in program.screenings:
            months = s.interval_months
            for sh in s.shorter:
                if res[sh.cond][0]:
                    months = sh.months
                    break
            screening[s.kind] = ScreeningPlan(res[s.eligible][0], months, s.first_due_days, s.listed)
        return Evaluation(
            facts=f,
            fired=fired,
            read=read,
            undecided=undecided,
            screening=screening,
            near_misses=self._near_misses(f, res),
            backend=self.backend,
        )

    def evaluate_both(self, facts: Mapping[str, Any], patient_id: str | None = None) -> Evaluation:
        """Evaluate on both runtimes; SangaoError R002 when any condition's outcome differs."""
        if self.backend == "both":
            return self.evaluate(facts, patient_id)
        return Evaluator._with_backend(self, "both").evaluate(facts, patient_id)

    def _with_backend(self, backend: Backend) -> Evaluator:
        cached = getattr(self, "_both", None)
        if cached is None:
            cached = Evaluator(self.gset, backend)
            object.__setattr__(self, "_both", cached)
        return cached

    def _check_agree(self, layer: Layer, a, b, f: Mapping[str, Any], patient_id: str | None) -> None:
        if a == b:
            return
        diffs = []
        reads: set[str] = set()
        for c, x, y in zip(layer.conditions, a, b, strict=True):
            if x != y:
                diffs.append(f"{c.id} python={x} durable={y}")
                reads.update(c.reads)
        who = patient_id or "fact set " + hashlib.sha256(
            repr(sorted((k, repr(v)) for k, v in f.items())).encode()
        ).hexdigest()[:12]
        shown = ", ".join(f"{k}={f.get(k)!r}" for k in sorted(reads))
        raise SangaoError(
            [
                Problem(
                    "R002",
                    f"the python and durable runtimes disagree for {who} in layer {layer.index}: "
                    + "; ".join(diffs),
                    hint=f"facts read: {shown}; report this as a bug with the guideline set",
                )
            ]
        )

    def _near_misses(self, f: Mapping[str, Any], res) -> tuple:
        out = []
        pct = self._margin_pct
        count_facts = self.program.count_facts
        for r in self.program.rules:
            if res[r.cond][0] or not r.comparisons:
                continue
            definite = self._cond_of_rule[r.id].definite
            seen = set()
            for fact, op, t in r.comparisons:
                v = f.get(fact)
                if not _is_number(v) or fact in count_facts or (fact, op, t) in seen:
                    continue
                seen.add((fact, op, t))
                margin = abs(t) * pct / 100
                if op == "gt":
                    moved, ok = v + margin, v <= t < v + margin
                elif op == "lt":
                    moved, ok = v - margin, v - margin < t <= v
                elif op == "gte":
                    moved, ok = t, t - margin <= v < t
                elif op == "lte":
                    moved, ok = t, t < v <= t + margin
                else:  # eq
                    moved, ok = t, v != t and abs(v - t) <= margin
                if ok and eval_form(definite, {**f, fact: moved}):
                    out.append(NearMiss(r.id, fact, v, t, op))
        return tuple(out)
