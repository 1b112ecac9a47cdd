"""The intermediate representation (IR) the compiler emits and both runtimes run.

engine/compile.py builds a `Program` from a `GuidelineSet`; engine/evaluate.py writes it as one Python
function (the python backend) and composes durable's layers (engine/durable_runtime.py; the form
interpreter of engine/python_runtime.py is their reference); engine/describe.py
turns the folded conditions back into text. The IR is the contract: a runtime only has to say, for every
condition of a layer, whether it is *definitely* true and whether it is *possibly* true.

Two kinds of expression tree live here, both plain nested lists so the IR serialises to JSON as is:

Folded three-valued trees (`CondIR.tree`, `RuleIR.when`): parameters are folded to literals, `in` is kept.
    ["const", bool] · ["all", t…] · ["any", t…] · ["not", t] · ["at_least", n, [t…]]
    ["cmp", fact, op, literal]           op ∈ eq ne lt lte gt gte
    ["cmpf", fact, op, other_fact]       fact against fact
    ["in", fact, [literal…]]
    ["known", fact, bool]
    ["has_any", fact, [code…]]           set facts only

Two-valued forms (`CondIR.definite`, `CondIR.possible`, and `CondIR.refute` = definitely false = not possible,
which durable_runtime may fire instead of `possible`), in negation normal form, over atoms that are plain
booleans of the fact dict (a missing fact makes every comparison atom false, as in durable_rules):
    ["true"] · ["false"] · ["and", f…] · ["or", f…]
    ["present", fact] · ["missing", fact]
    ["cmp", fact, op, literal]           fact present and fact op literal
    ["cmpf", fact, op, other]            both present and fact op other
    ["has", fact, code]                  set fact present and holds code
    ["lacks", fact, code]                not ["has", fact, code]
Count facts are ranges: the compiler rewrites comparisons on them into atoms over `<count>__min` and
`<count>__max`, which are always present once the count is derived.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

Tree = list[Any]
Form = list[Any]
COUNT_MIN = "__min"
COUNT_MAX = "__max"
SET_CODE_SEP = "__"


@dataclass(frozen=True)
class CondIR:
    """One named condition: its folded tree, its two forms and the facts it reads."""

    id: str  # "rule:htn.urgent_bp", "derive:bp_target:0", "screen:ecg:eligible" …
    group: str  # the programme file it comes from (durable chunks by it)
    tree: Tree
    definite: Form
    possible: Form
    refute: Form  # definitely false: the definite form of the negation, = not possible
    reads: tuple[str, ...]  # fact names, sorted (count facts by their own name)


@dataclass(frozen=True)
class Branch:
    """A classification case or a table row: its condition (position in the layer) and outputs."""

    cond: int
    then: dict[str, Any]


@dataclass(frozen=True)
class DeriveIR:
    id: str
    kind: Literal["classification", "table", "count"]
    outputs: tuple[str, ...]
    hit_policy: Literal["first", "unique"]  # classifications are "first"
    branches: tuple[Branch, ...]  # classification / table
    unknown: dict[str, Any]  # outputs when undecided (default None each)
    members: tuple[int, ...]  # count: condition positions in the layer


@dataclass(frozen=True)
class RuleIR:
    id: str
    cond: int  # position in the final layer
    when: Tree
    reads: tuple[str, ...]
    explain: str
    explain_en: str | None
    comparisons: tuple[tuple[str, str, float], ...]  # numeric (fact, op, threshold) leaves, near misses


@dataclass(frozen=True)
class ShorterIR:
    cond: int
    months: int


@dataclass(frozen=True)
class ScreeningIR:
    kind: str
    eligible: int  # condition position in the final layer
    interval_months: int
    shorter: tuple[ShorterIR, ...]
    first_due_days: int
    listed: bool


@dataclass(frozen=True)
class Layer:
    index: int
    conditions: tuple[CondIR, ...]
    derives: tuple[DeriveIR, ...]  # empty in the final layer


@dataclass(frozen=True)
class Program:
    set_name: str
    version: str
    layers: tuple[Layer, ...]  # derive layers in dependency order, then the rules layer
    rules: tuple[RuleIR, ...]  # set order
    screenings: tuple[ScreeningIR, ...]
    set_codes: dict[str, tuple[str, ...]]  # set fact → the codes conditions test (durable flattens them)
    count_facts: tuple[str, ...]
    near_miss_margin_pct: float | None

    @property
    def rules_layer(self) -> Layer:
        return self.layers[-1]

    def to_json(self) -> str:
        """Canonical JSON of the whole program (sorted keys, no whitespace variance)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
