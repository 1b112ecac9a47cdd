"""Conditions that can never be definitely true (C115, C116): a rule that can never fire or a
classification case that can never match, because of an empty `in`, contradictory bounds or
equalities on one fact in one `all`, a fact required both missing and present, too few possible
members of an `at_least`, or a parameter condition false (or, under `not`, true) under the
parameter's value and every one of its options. Evaluated on the condition's structure."""

from __future__ import annotations

from typing import Any

from guidelines.checks.context import ORDER_OPS, Context, kind, op_of, operand, render, same
from guidelines.schema import All, AnyOf, AtLeast, Classification, Compare, FactRef, Not, Otherwise, ParamRef
from guidelines.yaml_source import Loc


def check(ctx: Context) -> None:
    for e in ctx.d.derive:
        d = e.value
        if isinstance(d, Classification):
            for i, case in enumerate(d.cases):
                if isinstance(case, Otherwise):
                    continue
                r = unsat(ctx, case.when, ("cases", i, "when"))
                if r:
                    code, reason, fields, where = r
                    ctx.add(e.problem_of(code, where, variant=f"case.{reason}", case=i,
                                         entry=d.classification,
                                         **fields))
    for e in ctx.d.rules:
        r = unsat(ctx, e.value.when, ("when",))
        if r:
            code, reason, fields, where = r
            ctx.add(e.problem_of(code, where, variant=f"rule.{reason}", rule=e.value.id, **fields))


def unsat(ctx: Context, c: Any, sub: Loc) -> tuple[str, str, dict[str, Any], Loc] | None:
    """(code, reason, its fields, where) when `c` can never be definitely true (the reasons of
    C115 and C116 in pathways/codes/guideline.py)."""
    if isinstance(c, Compare):
        ops = op_of(c)
        if c.param is not None:
            if ctx.fold_all(c) is False:
                op = ops[0]
                param = ctx.d.parameters[c.param].value
                fields = {"param": c.param, "now": render(param.value), "op": op,
                          "value": render(operand(c, op))}
                if param.options:
                    fields["options"] = ", ".join(render(o) for o in param.options)
                    return ("C116", "param_false_options", fields, sub)
                return ("C116", "param_false", fields, sub)
            return None
        if ops == ["in"] and not c.in_:
            return ("C115", "in_empty", {"fact": c.fact}, sub)
        return None
    if isinstance(c, Not):
        inner = c.not_
        if isinstance(inner, Compare) and ctx.fold_all(inner) is True:
            return ("C116", "not_true", {"param": inner.param}, sub)
        return None
    if isinstance(c, AnyOf):
        reasons = [unsat(ctx, m, (*sub, "any", i)) for i, m in enumerate(c.any)]
        return reasons[0] if all(reasons) else None
    if isinstance(c, AtLeast):
        if c.at_least > len(c.of):
            return None  # condition() reports it (C115) where it is written
        reasons = [unsat(ctx, m, (*sub, "of", i)) for i, m in enumerate(c.of)]
        possible = sum(r is None for r in reasons)
        if possible < c.at_least:
            first = next((r for r in reasons if r), None)
            return first or ("C115", "at_least", {"n": c.at_least, "m": len(c.of)}, sub)
        return None
    if isinstance(c, All):
        for i, m in enumerate(c.all):
            r = unsat(ctx, m, (*sub, "all", i))
            if r:
                return r
        return contradiction(ctx, c, sub)
    return None


def contradiction(ctx: Context, c: All, sub: Loc) -> tuple[str, str, dict[str, Any], Loc] | None:
    per_fact: dict[str, list[tuple[str, Any, int]]] = {}
    for i, m in enumerate(c.all):
        if isinstance(m, Compare) and m.fact is not None and len(op_of(m)) == 1:
            op = op_of(m)[0]
            per_fact.setdefault(m.fact, []).append((op, operand(m, op), i))
    for fact, conds in per_fact.items():
        knowns = [v for op, v, _ in conds if op == "known"]
        others = [(op, v, i) for op, v, i in conds if op != "known"]
        if False in knowns and (True in knowns or others):
            what = "known: true" if True in knowns else f"{others[0][0]}: {render(others[0][1])}"
            return ("C115", "known_false", {"fact": fact, "what": what}, sub)
        lo: tuple[float, bool, str] | None = None  # (value, inclusive, text)
        hi: tuple[float, bool, str] | None = None
        eqs: list[tuple[Any, str]] = []
        nes: list[tuple[Any, str]] = []
        for op, v, _ in others:
            text = f"{op} {render(v)}"
            if op in ("eq", "ne"):
                val = ctx.number(v) if isinstance(v, ParamRef) else v
                if val is None or isinstance(val, FactRef):
                    continue
                (eqs if op == "eq" else nes).append((val, text))
                continue
            if op not in ORDER_OPS:
                continue
            n = ctx.number(v)
            if n is None:
                continue
            if op in ("gt", "gte"):
                cand = (n, op == "gte", text)
                if lo is None or n > lo[0] or (n == lo[0] and not cand[1]):
                    lo = cand
            else:
                cand = (n, op == "lte", text)
                if hi is None or n < hi[0] or (n == hi[0] and not cand[1]):
                    hi = cand
        if lo and hi and (lo[0] > hi[0] or (lo[0] == hi[0] and not (lo[1] and hi[1]))):
            return ("C115", "pair", {"fact": fact, "a": lo[2], "b": hi[2]}, sub)
        for val, text in eqs:
            for other, otext in eqs:
                if not same(val, other):
                    return ("C115", "pair", {"fact": fact, "a": text, "b": otext}, sub)
            for other, otext in nes:
                if same(val, other):
                    return ("C115", "pair", {"fact": fact, "a": text, "b": otext}, sub)
            if kind(val) == "number":
                if lo and (val < lo[0] or (val == lo[0] and not lo[1])):
                    return ("C115", "pair", {"fact": fact, "a": text, "b": lo[2]}, sub)
                if hi and (val > hi[0] or (val == hi[0] and not hi[1])):
                    return ("C115", "pair", {"fact": fact, "a": text, "b": hi[2]}, sub)
    return None
