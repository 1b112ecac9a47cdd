"""Every comparison of every condition (rules, classification cases, counts, screenings): one
left side and one operator (G111, G112), known facts and parameters (C102, C103), operators that
apply to the fact (C106, C107), symptom codes (C108), literals of the fact's type and values (C106,
C124), units on both sides (C105), and `at_least` no larger than its conditions (C115)."""

from __future__ import annotations

from guidelines.checks.context import (
    OPERATORS,
    ORDER_OPS,
    Context,
    close,
    conditions,
    kind,
    op_of,
    operand,
    same,
    type_hint,
)
from guidelines.draft import Entry, FactInfo
from guidelines.schema import AtLeast, Compare, FactRef, ParamRef, walk
from guidelines.yaml_source import Loc, did_you_mean


def check(ctx: Context) -> None:
    for e, condition, sub in conditions(ctx.d):
        for node, path in walk(condition):
            if isinstance(node, AtLeast) and node.at_least > len(node.of):
                ctx.add(e.problem_of("C115", (*sub, *path, "at_least"), n=node.at_least, m=len(node.of)))
            elif isinstance(node, Compare):
                compare(ctx, e, node, (*sub, *path))


def compare(ctx: Context, e: Entry, c: Compare, sub: Loc) -> None:
    if (c.fact is None) == (c.param is None):
        ctx.add(e.problem_of("G111", sub))
        return
    ops = op_of(c)
    if len(ops) != 1:
        nulls = [
            op for op in OPERATORS if op != "in" and op in c.model_fields_set and getattr(c, op) is None
        ]
        if nulls and not ops:
            ctx.add(e.problem_of("G112", sub, variant="null", found=f"`{nulls[0]}: null`"))
        else:
            ctx.add(e.problem_of("G112", sub, found=", ".join(ops) or "none"))
        return
    op = ops[0]
    right = operand(c, op)
    if c.param is not None:
        left = ctx.param_ref(e, c.param, (*sub, "param"))
        if isinstance(right, FactRef):
            ctx.add(e.problem_of("C106", (*sub, op), variant="param_fact"))
        elif isinstance(right, ParamRef):
            ctx.param_ref(e, right.param, (*sub, op, "param"))
        if op in ("known", "has_any") and left is not None:
            ctx.add(e.problem_of("C106", (*sub, op), variant="param_op", op=op))
        return
    info = ctx.fact_ref(e, c.fact, (*sub, "fact"))
    rinfo: FactInfo | None = None
    runit: str | None = None
    rkind: str | None = None
    rname = rname_zh = ""
    if isinstance(right, FactRef):
        rinfo = ctx.fact_ref(e, right.fact, (*sub, op, "fact"))
        if rinfo is None:
            return
        runit, rname, rname_zh = rinfo.unit, f"fact '{right.fact}'", f"事实 '{right.fact}'"
        rkind = {"integer": "number", "number": "number"}.get(rinfo.type, rinfo.type)
    elif isinstance(right, ParamRef):
        p = ctx.param_ref(e, right.param, (*sub, op, "param"))
        if p is None:
            return
        runit, rname, rname_zh = p.unit, f"parameter '{right.param}'", f"参数 '{right.param}'"
        rkind = kind(p.value) if not isinstance(p.value, list) else "other"
    if info is None:
        return
    fkind = {"integer": "number", "number": "number"}.get(info.type, info.type)
    where = (*sub, op)
    if op == "has_any":
        if info.type != "set":
            ctx.add(e.problem_of("C107", where, fact=c.fact, type=info.type))
        else:
            for i, code in enumerate(right):
                if code not in ctx.symptoms:
                    near = did_you_mean(code, ctx.symptoms)
                    ctx.add(e.problem_of("C108", (*where, i), symptom=code, **close(near)))
        return
    if op == "known":
        return
    if info.type == "set":
        ctx.add(e.problem_of("C106", where, variant="set_op", op=op, fact=c.fact))
        return
    if op in ORDER_OPS and fkind != "number":
        ctx.add(e.problem_of("C106", where, variant="order_op", op=op, type=info.type, fact=c.fact))
        return
    literals = right if op == "in" else ([] if rkind is not None else [right])
    for i, lit in enumerate(literals):
        lwhere = (*where, i) if op == "in" else where
        if kind(lit) != fkind:
            ctx.add(
                e.problem_of(
                    "C106", lwhere, type=info.type, fact=c.fact, kind=kind(lit), value=repr(lit),
                    **type_hint(info.type),
                )
            )
        elif info.values is not None and not any(same(lit, v) for v in info.values):
            near = did_you_mean(str(lit), [str(v) for v in info.values])
            ctx.add(
                e.problem_of(
                    "C124", lwhere, value=repr(lit), fact=c.fact,
                    values=", ".join(map(str, info.values)), **close(near),
                )
            )
    if rkind is not None:
        if rkind != fkind:
            ctx.add(
                e.problem_of(
                    "C106", where, variant="ref", type=info.type, fact=c.fact, right=rname,
                    right_zh=rname_zh, rkind=rkind, **type_hint(info.type),
                )
            )
        elif info.unit and runit and info.unit != runit:
            ctx.add(
                e.problem_of(
                    "C105", where, fact=c.fact, unit=info.unit, right=rname, right_zh=rname_zh,
                        runit=runit
                )
            )
