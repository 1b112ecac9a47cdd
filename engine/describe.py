"""Reason text: a rule's `explain` sentence with its values, then the threshold half generated from `when`.

The number in a threshold is written once, in the guideline YAML; the text shows it by reading the
compiled (parameter-folded) condition. `reason_text` accepts a compiled rule (engine/ir.py `RuleIR`) or a
schema `Rule` (with the set's parameters, or one that compile_set has seen, e.g. through an
Evaluator).

Two renderings of a condition:
- `condition_text`, for guideline authors: every leaf with its fact name (`visit_sbp ≥ 180`); the
  glossary of names is `sangao guidelines schema`.
- the threshold half of a reason, for clinicians (`threshold_filler`): only the numbers, with the
  fact's unit (`≥180/110 mmHg`); a comparison with another fact reads as the patient's target filled
  from their facts (`目标 <150/90 mmHg`); flags, states and `known` tests say nothing (the `explain`
  sentence states them), except that a disjunction of flags or a `has_any` names what the patient
  has, by the set's vocabulary labels (`Glossary`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.compile import FOLDED_RULES, Unresolved, fold_condition
from engine.ir import COUNT_MAX, COUNT_MIN, RuleIR, Tree
from guidelines.model import GuidelineSet
from guidelines.schema import Rule
from pathways.facts import FACTS

Lang = Literal["zh", "en"]
_OP_TEXT = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}
_WORDS = {
    "zh": {
        "and": " 且 ",
        "or": " 或 ",
        "not": "非",
        "known": "已知",
        "unknown": "未知",
        "has_any": "含",
        "at_least": "以下至少 {n} 项：",
        "sep": "；",
        "list": "、",
        "open": "（",
        "close": "）",
        "true": "恒真",
        "false": "恒假",
        "missing": "缺失",
        "target": "目标 ",
        "day": "天",
        "year": "岁",
        "/min": "次/分",
        "mL/min/1.73m2": "mL/min/1.73m²",
        "kg/m2": "kg/m²",
    },
    "en": {
        "and": " and ",
        "or": " or ",
        "not": "not ",
        "known": "known",
        "unknown": "unknown",
        "has_any": "has any of",
        "at_least": "at least {n} of: ",
        "sep": "; ",
        "list": ", ",
        "open": " (",
        "close": ")",
        "true": "always",
        "false": "never",
        "missing": "missing",
        "target": "target ",
        "day": "days",
        "year": "years",
        "/min": "/min",
        "mL/min/1.73m2": "mL/min/1.73m²",
        "kg/m2": "kg/m²",
    },
}
_FLOAT_TEXT: dict[float, str] = {}  # `format_value` of a float, by value
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def format_value(v: Any, lang: Lang = "zh") -> str:
    """Numbers without a trailing .0, booleans as true/false, sets as sorted lists, None as missing."""
    cls = v.__class__
    if cls is float:  # the most frequent value of a reason (engine/assess.py fills one per miss)
        text = _FLOAT_TEXT.get(v)
        if text is None:
            text = str(int(v)) if v.is_integer() else f"{v:g}"
            if len(_FLOAT_TEXT) < 1 << 16:
                _FLOAT_TEXT[v] = text  # a float key: equal floats are written alike (0.0 and -0.0: "0")
        return text
    if cls is int:
        return str(v)
    if v is None:
        return _WORDS[lang]["missing"]
    if isinstance(v, Unresolved):
        return "{" + str(v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:g}"
    if isinstance(v, frozenset | set | list | tuple):
        return _WORDS[lang]["list"].join(sorted(str(x) for x in v))
    return str(v)


def condition_text(condition: Tree | Any, lang: Lang = "zh", params: Mapping[str, Any] | None = None) -> str:
    """A condition as one line: `visit_sbp ≥ 180 或 visit_dbp ≥ 110`. Accepts a folded IR tree, or a schema
    condition together with the set's `params` (name → Parameter or value) to fold it."""
    tree = condition if isinstance(condition, list) else _fold(condition, params)
    return _text(tree, lang, top=True)


def _fold(condition: Any, params: Mapping[str, Any] | None) -> Tree:
    return fold_condition(condition, params or {}, lenient=params is None)


def _rule_tree(rule: RuleIR | Rule, params: Mapping[str, Any] | None) -> Tree:
    """The folded `when` of a rule: a RuleIR carries it; a schema Rule is folded with `params`, else
    found among the rules compile_set has folded, else folded leaving parameter names in place."""
    if isinstance(rule, RuleIR):
        return rule.when
    if params is None:
        known = FOLDED_RULES.get(id(rule))
        if known is not None and known[0] is rule:
            return known[1]
    return _fold(rule.when, params)


def _text(t: Tree, lang: Lang, top: bool = False) -> str:
    w = _WORDS[lang]
    kind = t[0]
    if kind == "const":
        return w["true"] if t[1] else w["false"]
    if kind in ("all", "any"):
        joined = w["and" if kind == "all" else "or"].join(_text(x, lang) for x in t[1:])
        return joined if top else f"({joined})"
    if kind == "not":
        return f"{w['not']}({_text(t[1], lang, top=True)})"
    if kind == "at_least":
        return w["at_least"].format(n=t[1]) + w["sep"].join(_text(x, lang, top=True) for x in t[2])
    if kind == "known":
        return f"{t[1]} {w['known'] if t[2] else w['unknown']}"
    if kind == "has_any":
        return f"{t[1]} {w['has_any']} {w['list'].join(t[2])}"
    if kind == "in":
        return f"{t[1]} ∈ {{{', '.join(format_value(v, lang) for v in t[2])}}}"
    if kind == "cmpf":
        return f"{t[1]} {_OP_TEXT[t[2]]} {t[3]}"
    # cmp: a boolean fact compared with true reads as the fact's name
    fact, op, v = t[1], t[2], t[3]
    if isinstance(v, bool) and op in ("eq", "ne"):
        return fact if v == (op == "eq") else f"{w['not']}{fact}"
    return f"{fact} {_OP_TEXT[op]} {format_value(v, lang)}"


def fill(template: str, facts: Mapping[str, Any], lang: Lang = "zh") -> str:
    """`{fact}` placeholders replaced by formatted values; an undecided count shows its range `2–3`."""

    def one(m: re.Match) -> str:
        name = m.group(1)
        v = facts.get(name)
        lo, hi = facts.get(name + COUNT_MIN), facts.get(name + COUNT_MAX)
        if v is None and lo is not None and hi is not None:
            return f"{lo}–{hi}"
        return format_value(v, lang)

    return _PLACEHOLDER.sub(one, template)


def template_filler(template: str, lang: Lang = "zh"):
    """`fill` for one template, split once: a function facts → text (engine/assess.py calls it for
    every patient a rule fires for; the split and the parts are the same for all of them)."""
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …, literal
    literals, names = parts[0::2], parts[1::2]
    if not names:
        return lambda facts: template

    def filled(facts: Mapping[str, Any]) -> str:
        out = [literals[0]]
        for name, literal in zip(names, literals[1:], strict=True):
            v = facts.get(name)
            if v is None:
                lo, hi = facts.get(name + COUNT_MIN), facts.get(name + COUNT_MAX)
                out.append(f"{lo}–{hi}" if lo is not None and hi is not None else format_value(v, lang))
            else:
                out.append(format_value(v, lang))
            out.append(literal)
        return "".join(out)

    return filled


@dataclass(frozen=True)
class Glossary:
    """What the clinical rendering needs beyond the tree: each fact's unit (pathways/facts.py FACTS and
    the set's derive outputs) and the labels of codes and flags (the set's vocabulary: a code `pad`
    of list `history` labels the code and the flag fact `history_pad`)."""

    units: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # code or flag → {lang: label}

    def label(self, name: str, lang: Lang) -> str | None:
        known = self.labels.get(name)
        return None if known is None else known[lang]


def glossary(gset: GuidelineSet | None) -> Glossary:
    units = {name: spec.unit for name, spec in FACTS.items() if spec.unit}
    if gset is None:
        return Glossary(units)
    labels: dict[str, dict[str, str]] = {}
    for list_name, codes in gset.vocabulary.items():
        for code, entry in codes.items():
            text = {"zh": entry.zh, "en": entry.en}
            labels.setdefault(code, text)
            labels[f"{list_name}_{code}"] = text
    for entry in gset.derive:
        for name, output in getattr(entry, "outputs", {}).items():
            if output.unit:
                units[name] = output.unit
    return Glossary(units, labels)


_NEGATED = {"gte": "lt", "gt": "lte", "lt": "gte", "lte": "gt", "eq": "ne", "ne": "eq"}


@dataclass(frozen=True)
class _Part:
    """A rendered comparison before it is joined: the text without its unit, the unit, and for a
    target the fact names filled per patient (`{bp_target_sbp}` in `text`)."""

    op: str
    values: tuple[str, ...]
    unit: str | None
    target: bool = False

    def text(self, w: dict[str, str]) -> str:
        head = w["target"] if self.target else ""
        return f"{head}{_OP_TEXT[self.op]}{'/'.join(self.values)}"


def _unit_text(unit: str | None, w: dict[str, str]) -> str:
    if not unit:
        return ""
    text = w.get(unit, unit)
    return text if text.startswith("/") else " " + text  # >100/min, but ≥180 mmHg


def _clinical(t: Tree, lang: Lang, g: Glossary):
    """One item for the tree: a `_Part`, a literal string, a function facts → str, or a group
    `(kind, items)` with kind all, any or at_least:N; None says nothing."""
    kind = t[0]
    w = _WORDS[lang]
    if kind == "cmp":
        fact, op, v = t[1], t[2], t[3]
        if isinstance(v, Unresolved):  # a set never compiled: the parameter's name, not a placeholder
            return _Part(op, (str(v),), g.units.get(fact))
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None  # a flag or a state: the explain sentence says it
        return _Part(op, (format_value(v, lang),), g.units.get(fact))
    if kind == "cmpf":
        fact, op, other = t[1], t[2], t[3]
        unit = g.units.get(fact) or g.units.get(other)
        return _Part(_NEGATED[op], ("{" + other + "}",), unit, target=True)
    if kind == "has_any":
        return _found_codes(t[1], tuple(t[2]), lang, g)
    if kind == "in":
        labels = [g.label(str(c), lang) for c in t[2]]
        return w["list"].join(labels) if all(labels) else None  # codes without labels: the explain says it
    if kind == "any" and len(t) > 2 and all(_is_flag(x) for x in t[1:]):
        flags = tuple(x[1] for x in t[1:])
        # name the flags the patient has when the vocabulary labels them all; else the explain says it
        return _found_flags(flags, lang, g) if all(g.label(f, lang) for f in flags) else None
    if kind in ("all", "any", "at_least"):
        children = t[2] if kind == "at_least" else t[1:]
        items: list = []
        for child in children:
            item = _clinical(child, lang, g)
            if item is None:
                continue
            spliced = item[1] if isinstance(item, tuple) and item[0] == kind != "at_least" else (item,)
            for one in spliced:  # (a 或 b) 或 c reads as a 或 b 或 c
                if kind == "at_least" or one not in items:  # fpg1 ≥ 7 且 fpg2 ≥ 7 says ≥7 once
                    items.append(one)
        if kind == "any":
            items = _merge_pairs(items)
        if kind == "at_least":
            return (f"at_least:{t[1]}", tuple(items)) if items else None
        if not items:
            return None
        return items[0] if len(items) == 1 else (kind, tuple(items))
    return None  # const, known, not: nothing a clinician reads as a threshold


def _is_flag(t: Tree) -> bool:
    return t[0] == "cmp" and t[2] == "eq" and t[3] is True


def _merge_pairs(items: list) -> list:
    """`sbp ≥ 180 或 dbp ≥ 110` → `≥180/110`: neighbouring parts with the same operator and unit."""
    out: list = []
    for item in items:
        last = out[-1] if out else None
        if (
            isinstance(item, _Part)
            and isinstance(last, _Part)
            and (last.op, last.unit, last.target) == (item.op, item.unit, item.target)
        ):
            out[-1] = _Part(last.op, last.values + item.values, last.unit, last.target)
        else:
            out.append(item)
    return out


def _found_codes(fact: str, codes: tuple[str, ...], lang: Lang, g: Glossary):
    listed = {c: g.label(c, lang) or c for c in codes}
    sep = _WORDS[lang]["list"]

    def found(facts: Mapping[str, Any]) -> str:
        have = facts.get(fact) or ()
        return sep.join(text for c, text in listed.items() if c in have)

    return found


def _found_flags(flags: tuple[str, ...], lang: Lang, g: Glossary):
    labelled = tuple((f, g.label(f, lang)) for f in flags)
    sep = _WORDS[lang]["list"]

    def found(facts: Mapping[str, Any]) -> str:
        return sep.join(text for f, text in labelled if facts.get(f) is True)

    return found


def _pieces(item, lang: Lang, within: str | None = None) -> list:
    """An item as text pieces: strings, and functions facts → str for what differs by patient."""
    w = _WORDS[lang]
    if isinstance(item, _Part):
        return _placeholders(item.text(w) + _unit_text(item.unit, w), lang)
    if not isinstance(item, tuple):
        return [item]
    kind, items = item
    prefix: list = []
    if kind.startswith("at_least:"):
        prefix, joiner = [w["at_least"].format(n=kind.split(":")[1])], w["sep"]
    else:
        joiner = w["and"] if kind == "all" else w["or"]
    out: list = []
    i = 0
    while i < len(items):
        if out:
            out.append(joiner)
        run = [items[i]]
        # a run of parts with one unit writes the unit once, at its end: ≥30 且 <60 mL/min/1.73m2
        while isinstance(run[0], _Part) and i + 1 < len(items) and isinstance(items[i + 1], _Part) \
                and items[i + 1].unit == run[0].unit:
            i += 1
            run.append(items[i])
        if isinstance(run[0], _Part):
            out.extend(_placeholders(joiner.join(p.text(w) for p in run) + _unit_text(run[0].unit, w), lang))
        else:
            out.extend(_pieces(run[0], lang, kind))
        i += 1
    if within is not None and not prefix:
        out = ["(", *out, ")"]
    return prefix + out


def _placeholders(text: str, lang: Lang) -> list:
    """`目标 <{bp_target_sbp}/{bp_target_dbp} mmHg` → pieces with a function per fact name."""
    return [text] if _PLACEHOLDER.search(text) is None else [template_filler(text, lang)]


def threshold_filler(
    rule: RuleIR | Rule,
    lang: Lang = "zh",
    params: Mapping[str, Any] | None = None,
    terms: Glossary | None = None,
):
    """The half of a reason that follows `explain`, for a clinician: `（≥180/110 mmHg）`, split once per
    rule into a function facts → text (engine/assess.py calls it for every patient the rule fires
    for). Nothing to state (only flags and states) gives the empty text."""
    w = _WORDS[lang]
    item = _clinical(_rule_tree(rule, params), lang, terms or glossary(None))
    pieces = [] if item is None else _compact(_pieces(item, lang))
    if not pieces:
        return lambda facts: ""
    if len(pieces) == 1 and isinstance(pieces[0], str):
        text = f"{w['open']}{pieces[0]}{w['close']}"
        return lambda facts: text

    def filled(facts: Mapping[str, Any]) -> str:
        body = "".join(p if isinstance(p, str) else p(facts) for p in pieces)
        return f"{w['open']}{body}{w['close']}" if body else ""

    return filled


def _compact(pieces: list) -> list:
    """Neighbouring strings joined into one, so a rule without per-patient parts is one constant."""
    out: list = []
    for p in pieces:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out


def threshold_text(
    rule: RuleIR | Rule,
    facts: Mapping[str, Any] | None = None,
    lang: Lang = "zh",
    params: Mapping[str, Any] | None = None,
    terms: Glossary | None = None,
) -> str:
    """The threshold half for one patient's `facts` (a target or a found code reads from them)."""
    return threshold_filler(rule, lang, params, terms)(facts or {})


def reason_filler(rule: RuleIR | Rule, lang: Lang = "zh", terms: Glossary | None = None,
                  params: Mapping[str, Any] | None = None):
    """`reason_text` for one rule, split once: a function facts → text."""
    template = (rule.explain_en or rule.explain) if lang == "en" else rule.explain
    explain = template_filler(template, lang)
    threshold = threshold_filler(rule, lang, params, terms)
    return lambda facts: explain(facts) + threshold(facts)


def reason_text(
    rule: RuleIR | Rule,
    facts: Mapping[str, Any],
    lang: Lang = "zh",
    params: Mapping[str, Any] | None = None,
    terms: Glossary | None = None,
) -> str:
    """`explain` (or `explain_en`, falling back to `explain`) filled from `facts`, followed by the
    threshold half from `when`: `最近一次随访血压 186/104 mmHg 未达标（目标 <150/90 mmHg）`."""
    return reason_filler(rule, lang, terms, params)(facts)
