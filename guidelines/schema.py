"""The guideline language: pydantic models of the YAML files in guidelines/<set>/.

A set is a folder: `set.yaml` (manifest) plus any number of guideline files, each holding any of
`parameters`, `derive`, `rules`, `screenings`, `colors`, `vocabulary`, `sources`. `*.cases.yaml`
files beside them are authors' examples (guidelines/cases.py). docs/guideline-language.md walks
through the language; the loader (guidelines/loader.py) turns these models into a validated
`GuidelineSet` or every error with file:line:col.

Semantics in brief:
- A condition compares a *fact* (the closed vocabulary in pathways/facts.py, plus every fact a
  `derive` entry outputs) or a *parameter* (folded at compile time) with a literal, a parameter
  (`{param: name}`) or another fact (`{fact: name}`). Operators: eq ne lt lte gt gte in known
  has_any. Comparisons are three-valued: a missing fact makes the comparison unknown, not false.
- `derive` entries add facts, in dependency order: a `classification` (ordered cases, first match
  wins, ends in `otherwise`), a `table` (decision table with a hit policy and finite input domains),
  a `count` (how many of its conditions hold; an interval when some are unknown).
  When unknown inputs leave more than one possible outcome, the entry yields its `unknown` values.
- `rules` fire when their `when` is definitely true; each implies a colour and optionally a
  referral and a follow-up interval; the patient's colour is the most severe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- references and values -----------------------------------------------------------------


class ParamRef(_Strict):
    """The value of a named parameter: `{param: htn_urgent_sbp}`."""

    param: StrictStr


class FactRef(_Strict):
    """The value of another fact of the same patient: `{fact: bp_target_sbp}`."""

    fact: StrictStr


Operand = Scalar | ParamRef | FactRef
Value = Scalar | ParamRef | None


class Source(_Strict):
    """Where a number or rule comes from: a key of the set's `sources`, the clause, how checked."""

    doc: StrictStr = Field(description="key in the set's sources (S1 … S47, or PD for project default)")
    clause: StrictStr = Field(description="section, table or item in that document")
    verification: Literal["V1", "V2", "U", "PD"] = Field(
        description="V1 official text, V2 secondary text, U unverified (loads "
        "only on request), PD project default"
    )


# ---- conditions ------------------------------------------------------------------------------


class Compare(_Strict):
    """One comparison. Exactly one operator. `fact` or `param` on the left."""

    fact: StrictStr | None = None
    param: StrictStr | None = None
    eq: Operand | None = None
    ne: Operand | None = None
    lt: Operand | None = None
    lte: Operand | None = None
    gt: Operand | None = None
    gte: Operand | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    known: StrictBool | None = Field(None, description="true: the fact has a value; false: it is missing")
    has_any: list[StrictStr] | None = Field(
        None, description="for set facts (visit_symptoms): any of these codes"
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class All(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class Not(_Strict):
    not_: Condition = Field(alias="not")
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AtLeast(_Strict):
    """At least `n` of the conditions hold (expanded to combinations by the compiler)."""

    at_least: int = Field(ge=1)
    of: list[Condition] = Field(min_length=1)


Condition = Compare | All | AnyOf | Not | AtLeast
for _model in (All, AnyOf, Not, AtLeast):
    _model.model_rebuild()


# ---- parameters ------------------------------------------------------------------------------


class Parameter(_Strict):
    value: Scalar | list[Scalar]
    unit: StrictStr | None = Field(
        None, description="mmHg, mmol/L, %, day, month, year, kg/m2, mL/min/1.73m2 …"
    )
    description: StrictStr | None = None
    options: list[Scalar] | None = Field(None, description="the documented alternatives a site may select")
    source: Source | None = None


# ---- derived facts ---------------------------------------------------------------------------


class Output(_Strict):
    """A fact a derive entry produces."""

    type: Literal["number", "integer", "bool", "string"]
    unit: StrictStr | None = None
    values: list[Scalar] | None = Field(None, description="the closed set of values, for strings")
    description: StrictStr | None = None


class Case(_Strict):
    when: Condition
    then: dict[str, Value]
    source: Source | None = None
    note: StrictStr | None = None


class Otherwise(_Strict):
    otherwise: dict[str, Value]
    source: Source | None = None


class Classification(_Strict):
    """Ordered cases, first definite match wins; the last entry is `otherwise`."""

    classification: StrictStr = Field(description="id, unique in the set")
    description: StrictStr | None = None
    outputs: dict[str, Output]
    cases: list[Case | Otherwise] = Field(min_length=1)
    unknown: dict[str, Value] | None = Field(
        None, description="outputs when missing inputs leave more than one case possible (default: null)"
    )
    source: Source | None = None


class Count(_Strict):
    """How many of `of` hold. Output integer fact named by `count`; unknown members widen it to a range."""

    count: StrictStr
    description: StrictStr | None = None
    of: list[Condition] = Field(min_length=1)
    source: Source | None = None


class TableInput(_Strict):
    fact: StrictStr
    domain: list[Scalar] = Field(
        min_length=1, description="every value the input can take, for the gap/overlap check"
    )


class TableRow(_Strict):
    when: dict[str, Operand | Compare | list[Scalar]] = Field(
        description="per input: a literal (equals), a list (any of), or an operator map {gte: 2}"
    )
    then: dict[str, Value]


class DecisionTable(_Strict):
    table: StrictStr
    description: StrictStr | None = None
    hit_policy: Literal["unique", "first"]
    inputs: dict[str, TableInput]
    outputs: dict[str, Output]
    rows: list[TableRow] = Field(min_length=1)
    unknown: dict[str, Value] | None = None
    source: Source | None = None


Derive = Classification | Count | DecisionTable


# ---- rules -----------------------------------------------------------------------------------


class RuleReferral(_Strict):
    urgency: Literal["urgent", "routine"]
    to: StrictStr = "county"


class Rule(_Strict):
    id: StrictStr = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", description="<programme>.<finding>")
    aliases: list[StrictStr] = Field(default_factory=list, description="retired ids of this rule")
    when: Condition
    color: Literal["red", "yellow", "blue"]
    referral: RuleReferral | None = None
    follow_up_days: StrictInt | ParamRef | None = Field(
        None, description="interval to the next follow-up this reason asks for; default: the colour's"
    )
    explain: StrictStr = Field(description="Chinese sentence; {fact} placeholders show the values read")
    explain_en: StrictStr | None = None
    source: Source
    tags: list[StrictStr] = Field(default_factory=list)


# ---- screenings ------------------------------------------------------------------------------


class IntervalCase(_Strict):
    when: Condition
    months: StrictInt | ParamRef


class ScreeningItem(_Strict):
    kind: StrictStr = Field(description="interchange screening kind (ecg, uacr, fundus …)")
    name: StrictStr | None = None
    eligible: Condition | None = Field(None, description="who is eligible; omitted = every enrolled patient")
    interval_months: StrictInt | ParamRef
    shorter: list[IntervalCase] = Field(default_factory=list, description="first match replaces the interval")
    first_due_days: StrictInt | ParamRef = Field(
        description="never done: due this many days after enrolled_on"
    )
    listed: StrictBool = Field(True, description="false: never listed as due (foot pulse: a per-visit item)")
    source: Source


class Complication(_Strict):
    id: StrictStr
    name: StrictStr = Field(description="Chinese name, e.g. 冠心病")
    name_en: StrictStr | None = None
    items: list[ScreeningItem] = Field(min_length=1)


class Screenings(_Strict):
    look_ahead_days: StrictInt | ParamRef
    complications: list[Complication] = Field(min_length=1)


# ---- colours, vocabulary, sources, manifest ---------------------------------------------------


class ColorSpec(_Strict):
    tier: Literal["county", "township", "village"]
    severity: StrictInt = Field(description="higher is more severe; the patient gets the most severe colour")
    follow_up_days: StrictInt | ParamRef
    label: StrictStr | None = None


class Colors(_Strict):
    red: ColorSpec
    yellow: ColorSpec
    blue: ColorSpec
    default: Literal["red", "yellow", "blue"] = "blue"


class SymptomCode(_Strict):
    zh: StrictStr
    en: StrictStr


class SourceDoc(_Strict):
    title: StrictStr
    url: StrictStr | None = None
    verification: Literal["V1", "V2", "U", "NF", "PD"]


class GuidelineFile(_Strict):
    """One `*.yaml` of a set (other than set.yaml and *.cases.yaml)."""

    guideline: StrictStr = Field(description="short id of this file's programme: htn, dm, lipid, screening …")
    title: StrictStr | None = None
    sources: dict[str, SourceDoc] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    vocabulary: dict[str, dict[str, SymptomCode]] = Field(
        default_factory=dict,
        description="named code lists, e.g. symptoms: {chest_pain: {zh: 胸痛, en: chest pain}}"
    )
    derive: list[Annotated[Derive, Field(union_mode="left_to_right")]] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    remove_rules: list[StrictStr] = Field(
        default_factory=list, description="overlays: drop these base rule ids"
    )
    screenings: Screenings | None = None
    colors: Colors | None = None


class Manifest(_Strict):
    """set.yaml."""

    set: StrictStr
    version: StrictStr = Field(description='quoted: "2026.1" (unquoted it would load as a float)')
    policy_status: Literal["local-definition", "official"] = Field(
        description="local-definition: the colour scheme is this project's derivation from national rules"
    )
    description: StrictStr | None = None
    extends: StrictStr | None = Field(None, description="overlay: the base set's name or relative folder")
    files: list[StrictStr] | None = Field(
        None, description="default: every *.yaml but set.yaml and *.cases.yaml"
    )
    include_unverified: StrictBool = Field(False, description="load rules whose source is verification U")


# ---- walking conditions ------------------------------------------------------------------------

T = TypeVar("T")


def walk(condition: Condition, path: tuple = ()) -> Iterator[tuple[Condition, tuple]]:
    """Every node of a condition tree, each parent before its children, with its path below the
    tree as YAML keys (`("all", 1, "not")`): the one walk every pass over conditions uses."""
    yield condition, path
    for key, child in _children(condition):
        yield from walk(child, (*path, *key))


def _children(condition: Condition) -> list[tuple[tuple, Condition]]:
    """The direct sub-conditions of a node, each with its YAML keys; none for a comparison."""
    if isinstance(condition, All):
        return [(("all", i), c) for i, c in enumerate(condition.all)]
    if isinstance(condition, AnyOf):
        return [(("any", i), c) for i, c in enumerate(condition.any)]
    if isinstance(condition, Not):
        return [(("not",), condition.not_)]
    if isinstance(condition, AtLeast):
        return [(("of", i), c) for i, c in enumerate(condition.of)]
    return []


def comparisons(condition: Condition) -> Iterator[Compare]:
    """The comparisons (the leaves) of a condition tree, left to right."""
    return (node for node, _ in walk(condition) if isinstance(node, Compare))


class ConditionFolder(Generic[T]):
    """The visitor of a condition tree, bottom up: `fold` gives each node a value made from its
    children's values (a compiler's output, for one). Subclasses define the five cases; children
    are folded left to right before their parent."""

    def fold(self, condition: Condition) -> T:
        parts = [self.fold(child) for _, child in _children(condition)]
        if isinstance(condition, All):
            return self.all_of(parts)
        if isinstance(condition, AnyOf):
            return self.any_of(parts)
        if isinstance(condition, Not):
            return self.negation(parts[0])
        if isinstance(condition, AtLeast):
            return self.at_least(condition.at_least, parts)
        return self.compare(condition)

    def all_of(self, parts: list[T]) -> T:
        raise NotImplementedError

    def any_of(self, parts: list[T]) -> T:
        raise NotImplementedError

    def negation(self, part: T) -> T:
        raise NotImplementedError

    def at_least(self, n: int, parts: list[T]) -> T:
        raise NotImplementedError

    def compare(self, condition: Compare) -> T:
        raise NotImplementedError
