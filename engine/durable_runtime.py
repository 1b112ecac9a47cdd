"""The durable_rules runtime: the only module importing `durable` (docs/architecture.md §3).

Each layer of a `Program` (engine/ir.py) is split into chunks by programme file, at most `MAX_RULES`
durable rules per ruleset. A condition becomes `<id>#def` (its definite form) and, when it can be
unknown, one more rule: `<id>#unk` (possible and not definite: fires only on unknown), else `<id>#pos`
(its possible form), else `<id>#ref` (the definite form of its negation: possible = not refuted),
whichever first fits; the rule name is the action name. durable 2.0.28 refuses a rule of more than ~15
$and/$or nodes (error 113), and the `missing ∨ cmp` pairs of possible forms multiply them: a larger
form is cut at its top junction into rules `<name>~<k>` that Python joins with that junction
(`_plan`); when a possible form would need pieces that must ALL fire, `#ref` is used instead.
Every action costs a JSON round trip in durable, so the forms chosen are the ones that fire rarely.
A catch-all SEEN rule keeps durable from raising on a fact no rule matches. The interface matches
engine/python_runtime.py `FormInterpreter`: `run(layer_index, facts) -> tuple[(definite, possible),
...]`, aligned with `layer.conditions`.

Traps of durable_rules 2.0.28 and our answers (docs/architecture.md §3):
- an `any` rule fires once per true branch: fired names go into a set, actions only record;
- a rule of only `$nex` matches the state fact and loops: every rule is ANDed with `t: "patient"`;
- `null` counts as present: None values are left out of the asserted fact;
- set facts are flattened to `<fact>__<code>: true` (durable has no sets);
- a fact matching nothing raises: SEEN catch-all; one patient (one session) at a time;
- at most 1,024 live sessions: a fresh session id per call, deleted in `finally`;
- action exceptions land in `state["exception"]`: checked, raised as R001;
- timer threads: `_run` is overridden, so nothing runs outside `assert_fact`;
- ruleset names cannot be re-registered: names carry a per-runtime serial;
- the host deletes `run` from its input: rulesets are deep-copied before registering;
- a fact of more than ~252 properties fails (302) and its cleanup too (309): each ruleset is sent
  only the fields its rules test (MAX_FIELDS checked at build, R003);
- `b < a` with `a` missing fires: fact comparisons keep explicit `$ex` on both sides;
- more than ~15 $and/$or nodes in a rule: error 113 at load; big forms are cut (`_plan`).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from durable import engine as durable_engine  # never durable.lang: it keeps a global host

from engine.compile import _and, _or
from engine.ir import Form, Program
from pathways.errors import SangaoError

SEEN = "__seen__"
MAX_FIELDS = 240  # fact fields per assert (durable fails at ~252 properties with error 302)
MAX_RULES = 100  # per ruleset, SEEN included (durable fails near 140–160 rules of our shape)
_SERIAL = itertools.count(1)
_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


MAX_JUNCTIONS = 14  # $and/$or nodes per durable rule, our `t` wrapper excluded (15+ gives error 113)


def to_durable(f: Form) -> dict | None:
    """One two-valued form as a durable expression; None for constant true (match on `t` alone)."""
    kind = f[0]
    if kind == "true":
        return None
    if kind == "false":
        raise ValueError("a constant-false form has no durable rule")
    if kind in ("and", "or"):
        return {"$" + kind: [to_durable(x) for x in f[1:]]}
    if kind == "present":
        return {"$ex": {f[1]: 1}}
    if kind == "missing":
        return {"$nex": {f[1]: 1}}
    if kind == "cmp":
        return {f[1]: f[3]} if f[2] == "eq" else {_DURABLE_OP[f[2]]: {f[1]: f[3]}}
    if kind == "cmpf":
        ref = {"$m": f[3]}
        return {f[1]: ref} if f[2] == "eq" else {_DURABLE_OP[f[2]]: {f[1]: ref}}
    if kind == "has":
        return {f"{f[1]}__{f[2]}": True}
    if kind == "lacks":
        return {"$nex": {f"{f[1]}__{f[2]}": 1}}
    raise ValueError(f"unknown form {kind!r}")


def _lean(f: Form) -> Form:
    """Drop a `present f` conjunct beside a `cmp`/`has` on the same f: durable finds those false on a
    missing field. Not beside `cmpf`: `b < a` with `a` missing FIRES in durable 2.0.28, so both
    `present` checks of a fact comparison stay."""
    if f[0] == "or":
        return ["or", *[_lean(x) for x in f[1:]]]
    if f[0] != "and":
        return f
    parts = [_lean(x) for x in f[1:]]
    tested = {x[1] for x in parts if x[0] in ("cmp", "has")}
    kept = [x for x in parts if not (x[0] == "present" and x[1] in tested)]
    return kept[0] if len(kept) == 1 else ["and", *kept]


def _junctions(f: Form) -> int:
    return 1 + sum(_junctions(x) for x in f[1:]) if f[0] in ("and", "or") else 0


Plan = str | tuple[str, list]  # a rule name, or ("and" | "or", [plans]) composed after durable fired


def _plan(f: Form, name: str, out: list[tuple[str, Form]]) -> Plan:
    """Rules for `f`, appended to `out`, and how their firing composes back into `f`. A form within
    MAX_JUNCTIONS is one rule. A larger one is cut at its top junction into groups of branches, each
    its own rule (recursively), and `_fired` recombines them with that junction: durable still tests
    every atom, Python only joins the top-level pieces."""
    if _junctions(f) <= MAX_JUNCTIONS:
        out.append((name, f))
        return name
    kind = f[0]
    groups: list[list[Form]] = [[]]
    for x in f[1:]:
        if groups[-1] and 1 + sum(_junctions(y) for y in groups[-1] + [x]) > MAX_JUNCTIONS:
            groups.append([])
        groups[-1].append(x)
    return (
        kind,
        [_plan(g[0] if len(g) == 1 else [kind, *g], f"{name}~{k}", out) for k, g in enumerate(groups)],
    )


def _fired(plan: Plan, fired: set[str]) -> bool:
    if isinstance(plan, str):
        return plan in fired
    kind, parts = plan
    return all(_fired(p, fired) for p in parts) if kind == "and" else any(_fired(p, fired) for p in parts)


def _rule(name: str, f: Form) -> dict:
    expr = to_durable(f)
    match = {"t": "patient"} if expr is None else {"$and": [{"t": "patient"}, expr]}
    return {"all": [{"m": match}], "run": name}


_NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt"}


def _negate(f: Form) -> Form:
    """The two-valued negation of a form, again in NNF (a comparison atom is false on a missing fact,
    so its negation is `missing ∨ the negated comparison`)."""
    kind = f[0]
    if kind in ("true", "false"):
        return ["false"] if kind == "true" else ["true"]
    if kind in ("and", "or"):
        return (_or if kind == "and" else _and)([_negate(x) for x in f[1:]])
    if kind == "present":
        return ["missing", f[1]]
    if kind == "missing":
        return ["present", f[1]]
    if kind == "cmp":
        return _or([["missing", f[1]], ["cmp", f[1], _NEGATE[f[2]], f[3]]])
    if kind == "cmpf":
        return _or([["missing", f[1]], ["missing", f[3]], ["cmpf", f[1], _NEGATE[f[2]], f[3]]])
    if kind == "has":
        return ["lacks", f[1], f[2]]
    return ["has", f[1], f[2]]


def _is_union(plan: Plan) -> bool:
    return isinstance(plan, str) or (plan[0] == "or" and all(isinstance(p, str) for p in plan[1]))


def durable_rules_of(c) -> tuple[list[tuple[str, Form]], Plan | bool, tuple[str, Plan | bool]]:
    """Durable rules for one condition, the plan of its definite form (True/False when constant) and
    how to read "possibly true". `<id>#def` fires when the condition is definitely true. A condition
    that can be unknown gets one more rule, the first that fits durable as one rule or a union of pieces:
    `<id>#unk` (possible and not definite: no action unless unknown), `<id>#pos` (its possible form),
    else `<id>#ref` (the definite form of its negation; possible = not refuted). Every action costs a
    JSON round trip inside durable, hence the preference. Rule name = action name."""
    rules: list[tuple[str, Form]] = []

    def plan_of(form: Form, name: str, out: list) -> Plan | bool:
        if form in (["false"], ["true"]):
            return form == ["true"]
        return _plan(_lean(form), name, out)

    definite = plan_of(c.definite, c.id + "#def", rules)
    if c.possible == c.definite:
        return rules, definite, ("same", definite)
    for how, form in (("unk", _and([c.possible, _negate(c.definite)])), ("pos", c.possible)):
        extra: list[tuple[str, Form]] = []
        plan = plan_of(form, f"{c.id}#{how}", extra)
        if isinstance(plan, bool) or _is_union(plan):
            return rules + extra, definite, (how, plan)
    return rules, definite, ("ref", plan_of(c.refute, c.id + "#ref", rules))


def _keys(f: Form) -> set[tuple[str, str, str | None]]:
    """The durable fact fields a form tests: (field, fact it comes from, set code or None)."""
    kind = f[0]
    if kind in ("and", "or"):
        return set().union(*(_keys(x) for x in f[1:]))
    if kind in ("true", "false"):
        return set()
    if kind == "cmpf":
        return {(f[1], f[1], None), (f[3], f[3], None)}
    if kind in ("has", "lacks"):
        return {(f"{f[1]}__{f[2]}", f[1], f[2])}
    return {(f[1], f[1], None)}


def _chunks(program: Program, prefix: str, by_file: bool) -> list[tuple[int, str, dict, tuple]]:
    out = []
    for layer in program.layers:
        groups: dict[str, list[tuple[str, Form]]] = {}
        for c in layer.conditions:
            groups.setdefault(c.group if by_file else "all", []).extend(durable_rules_of(c)[0])
        for group in sorted(groups):
            rules = groups[group]
            step = MAX_RULES - 1
            for k in range(0, max(len(rules), 1), step):
                part = rules[k : k + step]
                definition = {name: _rule(name, f) for name, f in part}
                definition[SEEN] = {"all": [{"m": {"t": "patient"}}], "run": SEEN}
                keys = tuple(sorted(set().union(*(_keys(f) for _, f in part))))
                out.append((layer.index, f"{prefix}_L{layer.index}_{group}_{k // step}", definition, keys))
    return out


def rulesets_for(
    program: Program, prefix: str = "sangao", by_file: bool = True
) -> list[tuple[int, str, dict]]:
    """(layer index, ruleset name, definition) for every chunk. Pure: the durable JSON of the program.
    `by_file`: one ruleset per (layer, programme file), each cut at MAX_RULES; False: per layer only
    (fewer asserts and SEEN actions per patient, but larger facts; bench/assess_bench.py compares)."""
    return [(index, name, definition) for index, name, definition, _ in _chunks(program, prefix, by_file)]


class _RecordingHost(durable_engine.Host):
    def __init__(self, rulesets: dict[str, dict]) -> None:
        self.fired: set[str] = set()
        super().__init__(copy.deepcopy(rulesets))  # durable deletes "run" from its input

    def _run(self) -> None:  # the default starts repeating Timer threads
        pass

    def get_action(self, action_name: str):  # the rule name is the action name
        fired = self.fired
        return lambda _c: fired.add(action_name)  # a set: `any` fires once per true branch


def durable_fact(facts: Mapping[str, Any], set_codes: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The fact dict durable sees: None left out, sets flattened to `<fact>__<code>: true`."""
    out: dict[str, Any] = {}
    for k, v in facts.items():
        if v is None:
            continue
        if isinstance(v, frozenset | set | tuple | list):
            out[k] = True
            for code in set_codes.get(k, ()):
                if code in v:
                    out[f"{k}__{code}"] = True
        else:
            out[k] = v
    return out


class DurableRuntime:
    """Runs a Program's layers on durable_rules; one fresh host (and ruleset names) per instance."""

    name = "durable"

    def __init__(self, program: Program, by_file: bool = True) -> None:
        self.program = program
        prefix = f"sangao{next(_SERIAL)}"
        chunks = _chunks(program, prefix, by_file)
        # per layer: (ruleset name, the fact fields its rules test); only those are asserted, which
        # keeps every fact far below durable's ~252-property limit (error 302, then 309 on cleanup)
        self._by_layer: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
        for index, name, _, keys in chunks:
            if len(keys) > MAX_FIELDS:
                raise SangaoError.one(
                    "R003",
                    f"durable ruleset {name} tests {len(keys)} fact fields; "
                    f"durable_rules takes at most {MAX_FIELDS} per fact",
                    hint="use --engine python, or split the programme file",
                )
            self._by_layer.setdefault(index, []).append((name, keys))
        self._host = _RecordingHost({name: d for _, name, d, _ in chunks})
        # per layer, per condition: (definite plan, ("same" | "pos" | "ref", plan))
        self._plans = [tuple(durable_rules_of(c)[1:] for c in layer.conditions) for layer in program.layers]
        self._serial = itertools.count(1)

    def run(self, layer_index: int, facts: Mapping[str, Any]) -> Sequence[tuple[bool, bool]]:
        """(definite, possible) per condition of the layer, as durable_rules fires them."""
        sid = f"p{next(self._serial)}"
        get = facts.get
        host = self._host
        host.fired.clear()
        for name, keys in self._by_layer.get(layer_index, ()):
            fact = {"t": "patient", "id": sid, "sid": sid}
            for key, source, code in keys:  # as durable_fact() builds it, for these fields only
                v = get(source)
                if v is None:
                    continue
                if code is None:
                    fact[key] = True if isinstance(v, frozenset | set | tuple | list) else v
                elif code in v:
                    fact[key] = True
            try:
                state = host.assert_fact(name, fact)
            finally:
                host.delete_state(name, sid)
            if isinstance(state, dict) and "exception" in state:
                raise SangaoError.one(
                    "R001", f"durable_rules failed in {name} for fact set {sid}: {state['exception']}"
                )
        fired = host.fired
        out = []
        for definite, (how, plan) in self._plans[layer_index]:
            d = definite if isinstance(definite, bool) else _fired(definite, fired)
            if how == "same":
                out.append((d, d))
            else:
                hit = plan if isinstance(plan, bool) else _fired(plan, fired)
                out.append((d, d or hit if how == "unk" else hit if how == "pos" else not hit))
        return tuple(out)
