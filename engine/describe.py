"""Reason text: a rule's `explain` sentence with its values, then the threshold half generated from `when`.

The number in a threshold is written once, in the guideline YAML; the text shows it by reading the
compiled (parameter-folded) condition. `reason_text` accepts a compiled rule (engine/ir.py `RuleIR`) or a
schema `Rule` (with the set's parameters, or one that compile_set has seen, e.g. through an
Evaluator); `condition_text` renders a folded tree or a schema condition.
Identifiers stay as fact names (`visit_sbp ≥ 180`): the glossary of names is `sangao guidelines schema`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from engine.compile import FOLDED_RULES, Unresolved, fold_condition
from engine.ir import COUNT_MAX, COUNT_MIN, RuleIR, Tree
from guidelines.schema import Rule

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
    },
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def format_value(v: Any, lang: Lang = "zh") -> str:
    """Numbers without a trailing .0, booleans as true/false, sets as sorted lists, None as missing."""
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


def threshold_text(rule: RuleIR | Rule, lang: Lang = "zh", params: Mapping[str, Any] | None = None) -> str:
    """The half of `reason_text` that does not depend on the patient: `（visit_sbp ≥ 180 …）`."""
    w = _WORDS[lang]
    return f"{w['open']}{_text(_rule_tree(rule, params), lang, top=True)}{w['close']}"


def reason_text(
    rule: RuleIR | Rule, facts: Mapping[str, Any], lang: Lang = "zh", params: Mapping[str, Any] | None = None
) -> str:
    """`explain` (or `explain_en`, falling back to `explain`) filled from `facts`, followed by the
    threshold half from `when`: `最近一次随访血压 182/96 mmHg（visit_sbp ≥ 180 或 visit_dbp ≥ 110）`."""
    template = (rule.explain_en or rule.explain) if lang == "en" else rule.explain
    tree = _rule_tree(rule, params)
    w = _WORDS[lang]
    return f"{fill(template, facts, lang)}{w['open']}{_text(tree, lang, top=True)}{w['close']}"
