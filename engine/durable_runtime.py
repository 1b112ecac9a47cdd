"""The durable_rules runtime: the only module importing `durable` (style guide §3).

Each layer of a `Program` (engine/ir.py) is split into chunks by programme file, at most `MAX_RULES`
durable rules per ruleset. A condition becomes `<id>#def` (its definite form) and, when its possible
form differs, `<id>#pos`; the rule name is also its action name. A catch-all SEEN rule keeps durable
from raising on a fact no rule matches. The interface matches engine/python_runtime.py:
`run(layer_index, facts) -> tuple[(definite, possible), ...]` aligned with `layer.conditions`.

Traps of durable_rules 2.0.28 and our answers (style guide §3 table):
- an `any` rule fires once per true branch: fired names go into a set, actions only record;
- a rule of only `$nex` matches the state fact and loops: every rule is ANDed with `t: "patient"`;
- `null` counts as present: None values are left out of the asserted fact;
- set facts are flattened to `<fact>__<code>: true` (durable has no sets);
- a fact matching nothing raises: SEEN catch-all; one patient (one session) at a time;
- at most 1,024 live sessions: a fresh session id per call, deleted in `finally`;
- action exceptions land in `state["exception"]`: checked, raised as R001;
- timer threads: `_run` is overridden, so nothing runs outside `assert_fact`;
- ruleset names cannot be re-registered: names carry a per-runtime serial;
- the host deletes `run` from its input: rulesets are deep-copied before registering.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from durable import engine as durable_engine  # never durable.lang: it keeps a global host

from engine.ir import Form, Layer, Program
from pathways.errors import SangaoError

SEEN = "__seen__"
MAX_RULES = 100            # per ruleset, SEEN included (durable fails near 140–160 rules of our shape)
_SERIAL = itertools.count(1)
_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


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


def _rule(name: str, f: Form) -> dict:
    expr = to_durable(f)
    match = {"t": "patient"} if expr is None else {"$and": [{"t": "patient"}, expr]}
    return {"all": [{"m": match}], "run": name}


def rulesets_for(program: Program, prefix: str = "sangao") -> list[tuple[int, str, dict]]:
    """(layer index, ruleset name, definition) for every chunk. Pure: the durable JSON of the program."""
    out = []
    for layer in program.layers:
        groups: dict[str, list[tuple[str, Form]]] = {}
        for c in layer.conditions:
            rules = groups.setdefault(c.group, [])
            if c.definite != ["false"]:
                rules.append((c.id + "#def", c.definite))
            if c.possible != c.definite and c.possible != ["false"]:
                rules.append((c.id + "#pos", c.possible))
        for group in sorted(groups):
            rules = groups[group]
            step = MAX_RULES - 1
            for k in range(0, max(len(rules), 1), step):
                definition = {name: _rule(name, f) for name, f in rules[k:k + step]}
                definition[SEEN] = {"all": [{"m": {"t": "patient"}}], "run": SEEN}
                out.append((layer.index, f"{prefix}_L{layer.index}_{group}_{k // step}", definition))
    return out


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

    def __init__(self, program: Program) -> None:
        self.program = program
        prefix = f"sangao{next(_SERIAL)}"
        chunks = rulesets_for(program, prefix)
        self._by_layer: dict[int, list[str]] = {}
        for index, name, _ in chunks:
            self._by_layer.setdefault(index, []).append(name)
        self._host = _RecordingHost({name: d for _, name, d in chunks})
        self._ids = [tuple(c.id for c in layer.conditions) for layer in program.layers]
        self._serial = itertools.count(1)

    def run(self, layer_index: int, facts: Mapping[str, Any]) -> Sequence[tuple[bool, bool]]:
        """(definite, possible) per condition of the layer, as durable_rules fires them."""
        sid = f"p{next(self._serial)}"
        fact = durable_fact(facts, self.program.set_codes)
        fact |= {"t": "patient", "id": sid, "sid": sid}
        host = self._host
        host.fired.clear()
        for name in self._by_layer.get(layer_index, ()):
            try:
                state = host.assert_fact(name, fact)
            finally:
                host.delete_state(name, sid)
            if isinstance(state, dict) and "exception" in state:
                raise SangaoError.one("R001", f"durable_rules failed in {name} for fact set {sid}: "
                                      f"{state['exception']}")
        fired = host.fired
        out = []
        for cid, c in zip(self._ids[layer_index], self.program.layers[layer_index].conditions, strict=True):
            d = cid + "#def" in fired
            p = d if c.possible == c.definite else cid + "#pos" in fired
            out.append((d, p))
        return tuple(out)
