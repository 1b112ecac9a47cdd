"""Evaluation of one patient's facts against a compiled guideline set.

`Evaluator(gset, backend)` compiles the set once (engine/compile.py). The python backend runs it one
way: one generated function per set (`_fused`, written with engine/python_runtime.py `FormSource`).
durable runs it layer by layer (engine/durable_runtime.py), composed here (`_compose`); "both" runs
durable beside the form interpreter (engine/python_runtime.py `FormInterpreter`, R002 naming the
condition they disagree on) and the generated function (R002 naming the facts or rules). `evaluate(facts)`
takes the base facts of pathways/facts.py `compute_facts` (sets as frozenset, None = missing) and
runs, layer by layer:

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

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Literal

from engine.compile import compile_set
from engine.ir import COUNT_MAX, COUNT_MIN, Layer, Program
from engine.python_runtime import FormInterpreter, FormSource, eval_form, form_facts
from guidelines.model import GuidelineSet
from pathways.errors import Problem, SangaoError
from pathways.facts import FACTS

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
    facts: dict[str, Any]  # base + derived (counts: int or None, plus __min/__max)
    fired: tuple[str, ...]  # rule ids, set order
    # fired rule id → {fact: value} its `when` reads (+ count ranges), or how to build it: see `read`
    _read: dict[str, dict[str, Any]] | Callable[[], dict[str, dict[str, Any]]] = field(
        repr=False, compare=False
    )
    undecided: dict[str, tuple[str, ...]]  # derived output left unknown → missing facts behind it
    screening: dict[str, ScreeningPlan]  # kind → plan
    backend: str
    # the near misses, or how to find them: computed on first access (explain needs them, assess not)
    _near: tuple[NearMiss, ...] | Callable[[], tuple[NearMiss, ...]] = field(
        default=(), repr=False, compare=False
    )

    @property
    def read(self) -> dict[str, dict[str, Any]]:
        """Fired rule id → {fact: value} its `when` reads (+ count ranges); built on first access (assess
        and explain need it, evaluation alone not). A function of `facts` and `fired`, so not compared."""
        read = self._read
        if callable(read):
            read = read()
            object.__setattr__(self, "_read", read)  # a cache, as `near_misses`
        return read

    @property
    def near_misses(self) -> tuple[NearMiss, ...]:
        """Rules not fired that one numeric fact moved by at most the margin would fire (set order)."""
        near = self._near
        if callable(near):
            near = near()
            object.__setattr__(self, "_near", near)  # a cache: the value is a function of the fields
        return near


def _new_runtime(program: Program, name: str, durable_by_file: bool = True):
    if name == "python":
        return FormInterpreter(program)
    if name == "durable":
        from engine.durable_runtime import DurableRuntime  # imported only when asked: durable is heavy

        return DurableRuntime(program, by_file=durable_by_file)
    raise ValueError(f"unknown backend {name!r}: python, durable or both")


def _missing(
    layer: Layer, conds: list[int], facts: Mapping[str, Any], undecided: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Missing facts the conditions read; an undecided derived fact stands for the facts behind it."""
    out: set[str] = set()
    for i in conds:
        for r in layer.conditions[i].reads:
            if facts.get(r) is None:
                out.update(undecided.get(r, (r,)))
    return tuple(sorted(out))


def _steps(layer: Layer) -> tuple:
    """The layer's derive entries as plain tuples, read by `_compose` once per patient."""
    steps = []
    for d in layer.derives:
        if d.kind == "count":
            steps.append(("count", d.id, d.id + COUNT_MIN, d.id + COUNT_MAX, d.members))
        else:
            branches = tuple((b.cond, b.then) for b in d.branches)
            steps.append((d.hit_policy, branches, d.unknown, d.outputs))
    return tuple(steps)


def _compose(layer: Layer, steps: tuple, res, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """Add the outputs of the layer's derive entries to `f`, from the (definite, possible) results."""
    for step in steps:
        _compose_step(layer, step, res, f, undecided)


def _compose_step(layer: Layer, step: tuple, res, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """One derive entry of `_compose`; `res` maps condition positions to (definite, possible)."""
    kind = step[0]
    if kind == "count":
        _, name, name_min, name_max, members = step
        lo = hi = 0
        for i in members:
            dd, pp = res[i]
            lo += dd
            hi += pp
        f[name] = lo if lo == hi else None
        f[name_min] = lo
        f[name_max] = hi
        if lo != hi:
            unsure = [i for i in members if res[i][1] and not res[i][0]]
            undecided[name] = _missing(layer, unsure, f, undecided)
        return
    _, branches, unknown, outputs = step
    then = None
    decided = True
    cands = []
    for cond, t in branches:
        dd, pp = res[cond]
        if pp:
            cands.append(cond)
            if then is None:
                then = t
            elif t != then:
                decided = False
            if dd and kind == "first":
                break
    else:  # no definite case: `first` stays undecided; `unique` decides if some row is possible
        decided = decided and kind == "unique" and then is not None
    if decided:
        f.update(then)
    else:
        f.update(unknown)
        missing = _missing(layer, cands or [cond for cond, _ in branches], f, undecided)
        for o in outputs:
            undecided[o] = missing


def _compile(source: str, filename: str) -> CodeType:
    return compile(source, filename, "exec")


def _fused(
    program: Program, plan: Callable[[str, bool, int], ScreeningPlan], compile_source: Callable = _compile
) -> Callable:
    """One generated function `run(f, undecided) -> (fired, screening)` for the python backend, the derive
    entries composed inline into `f` and `undecided` with the semantics of `_compose`, from forms written
    as engine/python_runtime.py writes them: a `first` entry tests its cases' forms in order and stops at
    the first possible one (decided at once when it is definite); a `unique` table is decided at once
    when exactly one row is possible; a count adds its members. Every other case goes to `_compose_step`
    with the (definite, possible) of the entry's conditions, evaluated where it is called (all of a
    layer's facts are fetched before its entries run, as the layer function does), through the entry's
    memo when it has one (`_memo_step`, `_memo_count`: the key written out over the locals). An entry
    reading only few-valued facts is kept whole by their values (`_value_memo`). Then the fired rule
    ids and the screening plans (`plan(kind, eligible, months)`, bound as constants); rules-layer
    conditions only need their definite form. `compile_source(source, filename)` gives the code object
    (engine/set_cache.py keeps it on disk: compiling is most of a small run's set-up)."""
    ns: dict[str, Any] = {
        "_step": _slow_step, "_mstep": _memo_step, "_count": _slow_count, "_mcount": _memo_count,
        "_vkeep": _keep_values, "_MEMO_SIZE": _MEMO_SIZE,
    }
    lines = ["def run(f, undecided):", "    g = f.get"]

    def const(value: Any) -> str:
        name = f"_k{len(ns)}"
        ns[name] = value
        return name

    last = program.rules_layer
    used_last = {r.cond for r in program.rules} | {
        c for s in program.screenings for c in (s.eligible, *(sh.cond for sh in s.shorter))
    }
    # a fact fetched in a layer keeps its value unless a derive entry of that layer or a later one writes it:
    # fetched once, reused by the later layers
    writes = []
    for layer in program.layers:
        w: set[str] = set()
        for dr in layer.derives:
            w.update(dr.outputs, dr.unknown, (dr.id, dr.id + COUNT_MIN, dr.id + COUNT_MAX))
            w.update(o for b in dr.branches for o in b.then)
        writes.append(w)
    derived = set().union(*writes)  # only these can be undecided (`run` starts with no undecided fact)
    discrete = _discrete_facts(program)
    have: dict[str, str] = {}
    for layer in program.layers:
        L = layer.index
        src = FormSource(f"l{L}")
        src.names.update(have)
        body: list[str] = []
        conds = layer.conditions

        def local(i: int, possible: bool, L=L, src=src, conds=conds, body=body) -> str:
            """A local holding condition i's definite (or possible) value, computed here."""
            c = conds[i]
            if possible and c.possible != c.definite:
                body.append(f"    p{L}_{i} = {src.expr(c.possible)}")
                return f"p{L}_{i}"
            body.append(f"    d{L}_{i} = {src.expr(c.definite)}")
            return f"d{L}_{i}"

        if layer is last:
            for i in sorted(used_last):
                local(i, False)
        for step in _steps(layer):
            k = const((layer, step, *_memo_of(layer, step)))
            if step[0] == "count":
                _, name, name_min, name_max, members = step
                ds, ps = [], []
                for i in members:
                    ds.append(local(i, False))
                    ps.append(local(i, True) if conds[i].possible != conds[i].definite else ds[-1])
                body += [
                    f"    lo = 0 + {' + '.join(ds) or '0'}",
                    f"    hi = 0 + {' + '.join(ps) or '0'}",
                    f"    f[{name!r}] = lo if lo == hi else None",
                    f"    f[{name_min!r}] = lo",
                    f"    f[{name_max!r}] = hi",
                    "    if lo != hi:",
                ]
                reads = ns[k][2]
                members_source = f"{_tuple_source(ds)}, {_tuple_source(ps)}"
                if reads is None:
                    body.append(f"        _count({k}, {members_source}, f, undecided)")
                else:  # its memo's key written out, as for `_mstep`
                    key = f"({members_source}, {_memo_key_source(reads, src, derived)})"
                    body.append(f"        _mcount({k}, {key}, f, undecided)")
                continue
            kind, branches = step[0], step[1]
            start = len(body)
            ps = {c: local(c, True) for c, _ in branches} if kind == "unique" else {}
            # the slow case gets every case's (definite, possible), written out where it is called
            pairs = [
                (src.expr(conds[c].definite), ps.get(c) or src.expr(conds[c].possible)) for c, _ in branches
            ]
            reads = ns[k][2]
            if reads is None:
                res = "".join(f"{c}: ({d}, {p}), " for (c, _), (d, p) in zip(branches, pairs, strict=True))
                slow = f"_step({k}, {{{res}}}, f, undecided)"
            else:  # its memo's key written out: the pairs, which facts it reads are missing, what is behind
                res = "".join(f"({d}, {p}), " for d, p in pairs)
                slow = f"_mstep({k}, (({res}), {_memo_key_source(reads, src, derived)}), f, undecided)"
            slow_lines = _missing_memo(
                slow, [conds[c] for c, _ in branches], reads, src, discrete, derived, const, step
            )
            if not branches:
                body += [f"    {x}" for x in slow_lines]
                continue
            if kind == "unique":  # decided at once when exactly one row is possible
                body.append(f"    if {' + '.join(ps[c] for c, _ in branches)} == 1:")
            for j, (c, then) in enumerate(branches):
                cond = conds[c]
                sets = [f"f[{o!r}] = {const(v)}" for o, v in then.items()] or ["pass"]
                if kind == "unique":
                    body.append(f"        {'if' if j == 0 else 'elif'} {ps[c]}:")
                    body += [f"            {x}" for x in sets]
                    continue
                body.append(f"    {'if' if j == 0 else 'elif'} {src.expr(cond.possible)}:")
                if cond.possible != cond.definite:  # possible: decided now only if definite
                    body += [f"        if {src.expr(cond.definite)}:", *(f"            {x}" for x in sets)]
                    body += ["        else:", *(f"            {x}" for x in slow_lines)]
                else:
                    body += [f"        {x}" for x in sets]
            body += ["    else:", *(f"        {x}" for x in slow_lines)]
            if ns[k][2] is not None:
                _value_memo(step, [conds[c] for c, _ in branches], src, body, start, discrete, derived, const)
        fetch = src.fetches(have=have)
        if fetch:
            lines.append(fetch)
        lines.extend(body)
        written = set().union(*writes[L:])
        have = {fact: v for fact, v in src.names.items() if fact not in written}
    lines += ["    fired = []", "    ap = fired.append"]
    for r in program.rules:
        lines.append(f"    if d{last.index}_{r.cond}: ap({r.id!r})")
    screening = []
    chosen_by: dict[str, None] = {}  # the conditions that choose the plans, in order
    for s in program.screenings:
        by_elig = []
        for eligible in (True, False):
            expr = const(plan(s.kind, eligible, s.interval_months))
            for sh in reversed(s.shorter):
                expr = f"{const(plan(s.kind, eligible, sh.months))} if d{last.index}_{sh.cond} else {expr}"
                chosen_by[f"d{last.index}_{sh.cond}"] = None
            by_elig.append(f"({expr})")
        screening.append(f"{s.kind!r}: {by_elig[0]} if d{last.index}_{s.eligible} else {by_elig[1]}")
        chosen_by[f"d{last.index}_{s.eligible}"] = None
    # The plans are a function of those conditions' values: the dict is made once per combination
    # and shared by the patients with it (read it, do not change it). Sharing is what lets the line
    # (engine/assess_json.py `_screenings`) find what it keeps for the plans by the dict alone.
    plans = const({})
    lines += [
        f"    chosen = {_tuple_source(list(chosen_by))}",
        f"    screening = {plans}.get(chosen)",
        "    if screening is None:",
        f"        screening = {{{', '.join(screening)}}}",
        f"        if len({plans}) < _MEMO_SIZE:",
        f"            {plans}[chosen] = screening",
        "    return tuple(fired), screening",
    ]
    exec(compile_source("\n".join(lines) + "\n", f"<sangao program {program.set_name}>"), ns)  # noqa: S102
    return ns["run"]


def _discrete_facts(program: Program) -> set[str]:
    """Facts with few values: the bool and string base facts, the counts and their ranges, and the
    derived outputs whose every value is a plain constant of the set."""
    out = {name for name, spec in FACTS.items() if spec.type in ("bool", "string")}
    plain = (str, int, float, bool, type(None))
    for layer in program.layers:
        for d in layer.derives:
            if d.kind == "count":
                out.update((d.id, d.id + COUNT_MIN, d.id + COUNT_MAX))
                continue
            values = [*d.unknown.values(), *(v for b in d.branches for v in b.then.values())]
            if all(isinstance(v, plain) for v in values):
                out.update(d.outputs)
    return out


def _value_memo(
    step: tuple,
    conds: list,
    src: FormSource,
    body: list[str],
    start: int,
    discrete: set[str],
    derived: set[str],
    const: Callable[[Any], str],
) -> None:
    """Wrap the entry's code, `body[start:]`, in a memo keyed by the values of the facts it reads, when
    they all have few values (`_discrete_facts`: a table over programme flags, counts and derived
    classes): a hit writes the outputs (and what is undecided behind them) it gave before, a miss runs
    the code and keeps what it wrote. Its effect is a function of those values and of what is
    undecided behind the derived ones, which the key holds too."""
    facts = sorted(set().union(*(form_facts(c.definite) | form_facts(c.possible) for c in conds)))
    if not facts or not discrete.issuperset(facts):
        return
    reads = sorted({r for c in conds for r in c.reads})
    key = "(" + "".join(f"{src.var(x)}, " for x in facts) + ")"
    behind = "".join(f"undecided.get({r!r}), " for r in reads if r in derived)
    if behind:
        key = f"({key}, ({behind}))"
    memo = const(({}, step[3]))  # (the memo, the entry's outputs)
    code = body[start:]
    del body[start:]
    body += [
        f"    _v = {memo}[0].get({key})",
        "    if _v is not None:",
        "        f.update(_v[0])",
        "        if _v[1]:",
        "            undecided.update(_v[1])",
        "    else:",
        *(f"    {x}" for x in code),
        f"        _vkeep({memo}, {key}, f, undecided)",
    ]


def _missing_memo(
    slow: str,
    conds: list,
    reads: tuple[str, ...] | None,
    src: FormSource,
    discrete: set[str],
    derived: set[str],
    const: Callable[[Any], str],
    step: tuple,
) -> list[str]:
    """The lines of an entry's slow case (`slow`, a `_mstep` call): for an entry reading facts of many
    values (a number), alone or beside few-valued ones, its effect kept by the values it reads while every
    many-valued one is missing, as `_value_memo` keeps a few-valued entry's. Why: a missing number is
    what sends most patients to the slow case (no waist measured: the waist category unknown, three
    patients in four), whose memo key is every case's (definite, possible), some twenty comparisons
    written out; missing, the number has one value, and the few-valued facts beside it make a short
    key. Any other patient, and any other entry, takes `slow` as it is."""
    if reads is None:
        return [slow]
    facts = sorted(set().union(*(form_facts(c.definite) | form_facts(c.possible) for c in conds), reads))
    wide = [x for x in facts if x not in discrete]
    if not wide:  # all few-valued: the whole entry is kept by their values (`_value_memo`)
        return [slow]
    key = "(" + "".join(f"{src.var(x)}, " for x in facts) + ")"
    behind = "".join(f"undecided.get({r!r}), " for r in reads if r in derived)
    if behind:
        key = f"({key}, ({behind}))"
    memo = const(({}, step[3]))  # (the memo, the entry's outputs), as `_value_memo`'s
    missing = " and ".join(f"{src.var(x)} is None" for x in wide)
    return [
        f"_v = {memo}[0].get({key}) if {missing} else None",
        "if _v is not None:",
        "    f.update(_v[0])",
        "    if _v[1]:",
        "        undecided.update(_v[1])",
        "else:",
        f"    {slow}",
        f"    if {missing}:",
        f"        _vkeep({memo}, {key}, f, undecided)",
    ]


def _keep_values(memo: tuple, key: tuple, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """What an entry of `_value_memo` wrote (its outputs, and what is undecided behind them), kept."""
    known, outputs = memo
    if len(known) < _MEMO_SIZE:
        known[key] = ({o: f[o] for o in outputs}, {o: undecided[o] for o in outputs if o in undecided})


def _tuple_source(names: list[str]) -> str:
    return "(" + "".join(f"{x}, " for x in names) + ")"


# The slow case of a derive entry (a case possible but not definite, a count's range open) recurs
# for most patients with the same inputs (a waist not measured: the waist category unknown, missing
# `waist_cm`): its effect is kept per entry, keyed by everything it depends on: the conditions'
# (definite, possible) values, which facts they read are missing, and what is undecided behind them.
# The program function writes the key out over its locals (`_memo_key_source`).
_MEMO_SIZE = 4096


def _memo_of(layer: Layer, step: tuple) -> tuple[tuple[str, ...] | None, dict | None]:
    """(facts the entry's conditions read, its memo) for `_memo_step` / `_memo_count`; (None, None)
    when a condition reads what the entry itself writes (its effect would depend on the order: then
    `_slow_step` / `_slow_count` compose it afresh each time)."""
    if step[0] == "count":
        _, name, name_min, name_max, conds = step
        writes = {name, name_min, name_max}
    else:
        _, branches, unknown, outputs = step
        conds = [c for c, _ in branches]
        writes = {*unknown, *outputs, *(o for _, then in branches for o in then)}
    reads = tuple(sorted({r for c in conds for r in layer.conditions[c].reads}))
    if writes.intersection(reads):
        return None, None
    return reads, {}


def _memo_key_source(reads: tuple[str, ...], src: FormSource, derived: set[str]) -> str:
    """Source of the part of a memo key `_missing` reads: which of `reads` are missing (read from the
    layer's locals) and what stands behind each in `undecided` (only a derived fact can be undecided:
    `run` starts with none, so a base fact's part is always None and left out)."""
    missing = "".join(f"{src.var(r)} is None, " for r in reads)
    behind = "".join(f"undecided.get({r!r}), " for r in reads if r in derived)
    return f"({missing}), ({behind})"


def _slow_step(k: tuple, res: dict, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """The slow case of an entry without a memo: `res` maps its conditions to (definite, possible)."""
    layer, step, _reads, _memo = k
    _compose_step(layer, step, res, f, undecided)


def _memo_step(k: tuple, key: tuple, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """The slow case of an entry with a memo; `key` (written out by `_fused`): (the conditions'
    (definite, possible) in branch order, which of the facts they read are missing, what is undecided
    behind the derived ones)."""
    layer, step, _reads, memo = k
    effect = memo.get(key)
    if effect is None:
        # `_compose_step` on empty dicts gives what it sets; what it reads of f and undecided (through
        # `_missing`: the facts `reads`, which the entry does not write) is in the key
        res = dict(zip([c for c, _ in step[1]], key[0], strict=True))
        sets: dict[str, Any] = {}
        left: dict[str, tuple] = {}
        _compose_step(layer, step, res, _Reading(sets, f), _Reading(left, undecided))
        effect = (sets, left)
        if len(memo) < _MEMO_SIZE:
            memo[key] = effect
    f.update(effect[0])
    if effect[1]:
        undecided.update(effect[1])


class _Reading(dict):
    """A dict that is written into and read from another: what `_compose_step` writes lands here,
    what it reads it finds in `behind` unless written here (so writes are captured, reads are real)."""

    def __init__(self, into: dict, behind: dict) -> None:
        super().__init__()
        self.into = into
        self.behind = behind

    def get(self, name: str, default: Any = None) -> Any:
        into = self.into
        return into[name] if name in into else self.behind.get(name, default)

    def __setitem__(self, name: str, value: Any) -> None:
        self.into[name] = value

    def update(self, values) -> None:
        self.into.update(values)


def _slow_count(k: tuple, ds: tuple, ps: tuple, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """A count without a memo whose range is open: the missing facts behind its unsure members."""
    layer, (_, name, _, _, members), _reads, _memo = k
    unsure = [i for i, dd, pp in zip(members, ds, ps, strict=True) if pp and not dd]
    undecided[name] = _missing(layer, unsure, f, undecided)


def _memo_count(k: tuple, key: tuple, f: dict[str, Any], undecided: dict[str, tuple]) -> None:
    """`_slow_count` for a count with a memo; `key` (written out by `_fused`): (definite and possible
    of each member, which of the facts they read are missing, what is undecided behind them)."""
    layer, (_, name, _, _, members), _reads, memo = k
    missing = memo.get(key)
    if missing is None:
        unsure = [i for i, dd, pp in zip(members, key[0], key[1], strict=True) if pp and not dd]
        missing = _missing(layer, unsure, f, undecided)
        if len(memo) < _MEMO_SIZE:
            memo[key] = missing
    undecided[name] = missing


class Evaluator:
    """Compile a set once; evaluate many patients' facts."""

    def __init__(
        self,
        gset: GuidelineSet,
        backend: Backend = "python",
        durable_by_file: bool = True,
        compile_source: Callable[[str, str], CodeType] = _compile,
        program: Program | None = None,
    ) -> None:
        """`backend`: python (default), durable, or both (cross-check, R002 on disagreement).
        `compile_source(source, filename)`: how the program function's source becomes code (`_fused`).
        `program`: `compile_set(gset)` when the caller has it (engine/set_cache.py keeps it on disk).
        `durable_by_file`: durable rulesets per (layer, programme file); False: one per layer (fewer
        asserts and catch-all actions, larger facts each); bench/assess_bench.py compares the two."""
        self.gset = gset
        self.backend = backend
        self.program = compile_set(gset) if program is None else program
        self._both: Evaluator | None = None
        self._durable_by_file = durable_by_file
        pct = self.program.near_miss_margin_pct
        self._margin_pct = DEFAULT_NEAR_MISS_PCT if pct is None else pct
        counts = set(self.program.count_facts)
        # a count fact is read with its range, so a rule fired on [2, 3] still shows what it saw
        self._read_names = {
            r.id: tuple(
                x
                for name in r.reads
                for x in ((name, name + COUNT_MIN, name + COUNT_MAX) if name in counts else (name,))
            )
            for r in self.program.rules
        }
        rules_layer = self.program.rules_layer
        self._rule_slots = tuple((r.id, r.cond, self._read_names[r.id]) for r in self.program.rules)
        self._screen_slots = tuple(
            (
                s.kind,
                s.eligible,
                s.interval_months,
                tuple((sh.cond, sh.months) for sh in s.shorter),
                s.first_due_days,
                s.listed,
            )
            for s in self.program.screenings
        )
        self._plans: dict[tuple[str, bool, int], ScreeningPlan] = {}  # frozen, so shared between patients
        self._probes = self._near_miss_probes()
        self._rules_definite = {r.id: rules_layer.conditions[r.cond].definite for r in self.program.rules}
        # the python backend runs the whole program as one generated function (see `_fused`), its one
        # way to run the rules; durable runs layer by layer, composed by `_compose`; both runs durable
        # beside the form interpreter (which names a condition they disagree on) and the function
        fused = backend in ("python", "both")
        self._run = _fused(self.program, self._plan, compile_source) if fused else None
        if backend != "python":
            self._layered  # noqa: B018 - built now: a durable error shows before any patient

    @property
    def _runtimes(self) -> tuple:
        """The layer by layer runtimes (python and/or durable)."""
        return self._layered[0]

    @functools.cached_property
    def _layered(self) -> tuple[tuple, tuple, tuple]:
        """(runtimes, layer functions, (function, layer, steps) per layer): durable's, or for both the
        form interpreter's (engine/python_runtime.py `FormInterpreter`) and durable's."""
        names = ("python", "durable") if self.backend == "both" else (self.backend,)
        runtimes = tuple(_new_runtime(self.program, n, self._durable_by_file) for n in names)
        first = runtimes[0]
        layer_fns = tuple(functools.partial(first.run, layer.index) for layer in self.program.layers)
        layers = tuple(
            (fn, layer, _steps(layer)) for fn, layer in zip(layer_fns, self.program.layers, strict=True)
        )
        return runtimes, layer_fns, layers

    def _plan(self, kind: str, eligible: bool, months: int) -> ScreeningPlan:
        """The shared (frozen) plan of a screening kind with this outcome."""
        key = (kind, eligible, months)
        plan = self._plans.get(key)
        if plan is None:
            first_due, listed = next(
                (s.first_due_days, s.listed) for s in self.program.screenings if s.kind == kind
            )
            plan = self._plans[key] = ScreeningPlan(eligible, months, first_due, listed)
        return plan

    def _near_miss_probes(self) -> tuple:
        """Per numeric comparison of each rule: (rule cond, rule id, fact, op, threshold, low, high), where
        [low, high] is the widest window of values that could be a near miss (checked exactly later)."""
        probes = []
        counts = set(self.program.count_facts)
        for r in self.program.rules:
            for fact, op, t in dict.fromkeys(r.comparisons):
                if fact in counts or op == "ne":  # `not eq`: any move off the value fires it, none is near
                    continue
                margin = abs(t) * self._margin_pct / 100
                low, high = {
                    "gte": (t - margin, t),
                    "gt": (t - margin, t),
                    "lt": (t, t + margin),
                    "lte": (t, t + margin),
                    "eq": (t - margin, t + margin),
                }[op]
                probes.append((r.cond, r.id, fact, op, t, margin, low, high))
        return tuple(probes)

    def evaluate(self, facts: Mapping[str, Any], patient_id: str | None = None) -> Evaluation:
        """Evaluate base facts (None = missing; set facts as frozenset). `patient_id` only names errors."""
        f = dict(facts)
        undecided: dict[str, tuple[str, ...]] = {}
        if self._run is not None and self.backend == "python":
            fired, screening = self._run(f, undecided)
            return Evaluation(
                facts=f,
                fired=fired,
                _read=functools.partial(self._read, f, fired),
                undecided=undecided,
                screening=screening,
                backend=self.backend,
                _near=functools.partial(self._near_misses, f, fired),
            )
        res = None
        runtimes, _, layers = self._layered
        if len(runtimes) == 1:
            for fn, layer, steps in layers:
                res = fn(f)
                if steps:
                    _compose(layer, steps, res, f, undecided)
        else:
            python, durable = runtimes
            for _, layer, steps in layers:
                res = python.run(layer.index, f)
                self._check_agree(layer, res, durable.run(layer.index, f), f, patient_id)
                if steps:
                    _compose(layer, steps, res, f, undecided)
        fired = tuple(rule_id for rule_id, cond, _ in self._rule_slots if res[cond][0])
        screening = {}
        plans = self._plans
        for kind, eligible, months, shorter, first_due, listed in self._screen_slots:
            for cond, m in shorter:
                if res[cond][0]:
                    months = m
                    break
            key = (kind, res[eligible][0], months)
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = ScreeningPlan(key[1], months, first_due, listed)
            screening[kind] = plan
        if self.backend == "both" and self._run is not None:
            self._check_program(facts, f, fired, undecided, screening, patient_id)
        return Evaluation(
            facts=f,
            fired=fired,
            _read=self._read(f, fired),
            undecided=undecided,
            screening=screening,
            backend=self.backend,
            _near=functools.partial(self._near_misses, f, fired),
        )

    def outcome(self, facts: dict[str, Any]) -> tuple[dict, tuple[str, ...], dict, dict]:
        """(facts with the derived ones, fired, undecided, screening) of `evaluate`, without its record:
        engine/assess.py's hot path. `facts` (a fresh dict) is completed in place."""
        if self._run is not None and self.backend == "python":
            undecided: dict[str, tuple[str, ...]] = {}
            fired, screening = self._run(facts, undecided)
            return facts, fired, undecided, screening
        ev = self.evaluate(facts)
        return ev.facts, ev.fired, ev.undecided, ev.screening

    def _read(self, f: Mapping[str, Any], fired: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Fired rule id → {fact: value} of what its `when` reads."""
        get = f.get
        names = self._read_names
        return {rule_id: {name: get(name) for name in names[rule_id]} for rule_id in fired}

    def _check_program(
        self,
        base: Mapping[str, Any],
        f: dict[str, Any],
        fired: tuple[str, ...],
        undecided: dict,
        screening: dict,
        patient_id: str | None,
    ) -> None:
        """For `both`: the generated program function (the python backend) gives what durable, checked
        condition by condition against the form interpreter, gave; R002 naming what differs."""
        mine: dict[str, Any] = dict(base)
        mine_undecided: dict[str, tuple[str, ...]] = {}
        mine_fired, mine_screening = self._run(mine, mine_undecided)
        if (mine, mine_fired, mine_undecided, mine_screening) == (f, fired, undecided, screening):
            return
        diffs = [f"{k} python={mine.get(k)!r} durable={f.get(k)!r}" for k in sorted(set(mine) | set(f))
                 if mine.get(k) != f.get(k)]
        if mine_fired != fired:
            diffs.append(f"fired python={list(mine_fired)} durable={list(fired)}")
        if mine_screening != screening:
            diffs.append("screening plans")
        if mine_undecided != undecided:
            diffs.append("missing inputs behind unknown outcomes")
        who = patient_id or "fact set " + hashlib.sha256(
            repr(sorted((k, repr(v)) for k, v in base.items())).encode()
        ).hexdigest()[:12]
        raise SangaoError([Problem.of("R002", variant="program", who=who, diffs="; ".join(diffs))])

    def evaluate_both(self, facts: Mapping[str, Any], patient_id: str | None = None) -> Evaluation:
        """Evaluate on both runtimes; SangaoError R002 when any condition's outcome differs."""
        if self.backend == "both":
            return self.evaluate(facts, patient_id)
        if self._both is None:
            self._both = Evaluator(self.gset, "both")
        return self._both.evaluate(facts, patient_id)

    def _check_agree(self, layer: Layer, a, b, f: Mapping[str, Any], patient_id: str | None) -> None:
        if a == b:
            return
        diffs = []
        reads: set[str] = set()
        for c, x, y in zip(layer.conditions, a, b, strict=True):
            if x != y:
                diffs.append(f"{c.id} python={x} durable={y}")
                reads.update(c.reads)
        who = (
            patient_id
            or "fact set "
            + hashlib.sha256(repr(sorted((k, repr(v)) for k, v in f.items())).encode()).hexdigest()[:12]
        )
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

    def _near_misses(self, f: Mapping[str, Any], fired: tuple[str, ...]) -> tuple:
        """Rules not fired that one numeric fact, moved by at most the margin, would fire. Other facts
        (derived ones included) stay as they are."""
        fired_ids = set(fired)
        out = []
        get = f.get
        for _cond, rule_id, fact, op, t, margin, low, high in self._probes:
            v = get(fact)
            if v is None or v.__class__ is bool or not (low <= v <= high) or rule_id in fired_ids:
                continue
            if not isinstance(v, int | float):
                continue
            if op == "gt":
                moved, ok = v + margin, v <= t < v + margin
            elif op == "lt":
                moved, ok = v - margin, v - margin < t <= v
            elif op == "gte":
                moved, ok = t, t - margin <= v < t
            elif op == "lte":
                moved, ok = t, t < v <= t + margin
            else:  # eq
                moved, ok = t, v != t
            if ok and eval_form(self._rules_definite[rule_id], {**f, fact: moved}):
                miss = NearMiss(rule_id, fact, v, t, op)
                if miss not in out:
                    out.append(miss)
        return tuple(out)
