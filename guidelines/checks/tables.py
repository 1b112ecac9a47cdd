"""Decision tables: every input's domain holds the values its fact can take (C131) and of its
type (C106), row values lie in the domain (C129) and name inputs (C113), and, enumerating every
combination of the domains, no combination lacks a row (C111) and a `unique` table has no two
rows for one (C112)."""

from __future__ import annotations

import itertools

from guidelines.checks.context import (
    FOLD,
    ORDER_OPS,
    Context,
    close,
    kind,
    op_of,
    operand,
    render,
    same,
    type_hint,
)
from guidelines.draft import Entry, FactInfo
from guidelines.schema import Compare, Count, DecisionTable, FactRef, ParamRef
from guidelines.yaml_source import did_you_mean

_MAX_COMBINATIONS = 20_000
_MAX_TABLE_REPORTS = 10


def check(ctx: Context) -> None:
    for e in ctx.d.derive:
        if isinstance(e.value, DecisionTable):
            table(ctx, e, e.value)


def table(ctx: Context, e: Entry, t: DecisionTable) -> None:
    for name, inp in t.inputs.items():
        info = ctx.fact_ref(e, inp.fact, ("inputs", name, "fact"))
        if info is None or info.type == "set":
            continue
        want = {"integer": "number"}.get(info.type, info.type)
        possible = possible_values(ctx, inp.fact, info)
        lacking = [v for v in possible if not any(same(v, x) for x in inp.domain)]
        if lacking:
            ctx.add(
                e.problem_of(
                    "C131", ("inputs", name, "domain"), name=name, lacking=render(lacking), fact=inp.fact
                )
            )
        for i, v in enumerate(inp.domain):
            if kind(v) != want:
                ctx.add(
                    e.problem_of(
                        "C106", ("inputs", name, "domain", i), variant="domain", value=render(v),
                            name=name,
                        type=info.type, fact=inp.fact, **type_hint(info.type),
                    )
                )
    names = list(t.inputs)
    bad = False
    for r, row in enumerate(t.rows):
        for key, test in row.when.items():
            if key in t.inputs and isinstance(test, (list, bool, int, float, str)):
                domain = t.inputs[key].domain
                for k, v in enumerate(test if isinstance(test, list) else [test]):
                    if not any(same(v, x) for x in domain):
                        sub = (
                            ("rows", r, "when", key, k)
                            if isinstance(test, list)
                            else ("rows", r, "when", key)
                        )
                        ctx.add(
                            e.problem_of(
                                "C129", sub, row=r, table=t.table, key=key, value=render(v),
                                domain=render(list(domain)),
                            )
                        )
            if key not in t.inputs:
                bad = True
                near = did_you_mean(key, names)
                ctx.add(
                    e.problem_of(
                        "C113", ("rows", r, "when", key), at_key=True, row=r, table=t.table, key=key,
                        inputs=", ".join(names), **close(near),
                    )
                )
    if bad:
        return
    domains = [t.inputs[n].domain for n in names]
    total = 1
    for dom in domains:
        total *= len(dom)
    if total > _MAX_COMBINATIONS:
        return
    gaps: list[str] = []
    overlaps: list[tuple[str, list[int]]] = []
    for combo in itertools.product(*domains):
        values = dict(zip(names, combo, strict=True))
        hits = [r for r, row in enumerate(t.rows) if row_matches(ctx, row.when, values)]
        text = ", ".join(f"{n}={render(v)}" for n, v in values.items())
        if not hits:
            gaps.append(text)
        elif len(hits) > 1 and t.hit_policy == "unique":
            overlaps.append((text, hits))
    for text in gaps[:_MAX_TABLE_REPORTS]:
        ctx.add(e.problem_of("C111", ("rows",), table=t.table, combo=text))
    if len(gaps) > _MAX_TABLE_REPORTS:
        ctx.add(e.problem_of("C111", ("rows",), variant="more", table=t.table,
                              n=len(gaps) - _MAX_TABLE_REPORTS))
    for text, hits in overlaps[:_MAX_TABLE_REPORTS]:
        rows = " and ".join(f"rows[{h}]" for h in hits)
        ctx.add(e.problem_of("C112", ("rows", hits[1]), table=t.table, n=len(hits), combo=text,
                              rows=rows))
    if len(overlaps) > _MAX_TABLE_REPORTS:
        ctx.add(
            e.problem_of("C112", ("rows",), variant="more", table=t.table,
                         n=len(overlaps) - _MAX_TABLE_REPORTS)
        )


def possible_values(ctx: Context, fact: str, info: FactInfo) -> list:
    """Every value a fact can take, when the set says: bool, a count's 0…n, declared string values."""
    if info.type == "bool":
        return [True, False]
    if info.values is not None:
        return list(info.values)
    for e in ctx.d.derive:
        if isinstance(e.value, Count) and e.value.count == fact:
            return list(range(len(e.value.of) + 1))
    return []


def row_matches(ctx: Context, when: dict, values: dict) -> bool:
    for name, test in when.items():
        v = values[name]
        if isinstance(test, list):
            if not any(same(v, x) for x in test):
                return False
        elif isinstance(test, Compare):
            ops = op_of(test)
            if len(ops) != 1:
                continue
            op = ops[0]
            right = operand(test, op)
            if op == "in":
                if not any(same(v, x) for x in right):
                    return False
                continue
            if op not in FOLD or isinstance(right, FactRef):
                continue
            r = ctx.number(right) if isinstance(right, ParamRef) else right
            if r is None:
                continue
            if op in ORDER_OPS and not (kind(v) == kind(r) == "number"):
                return False
            if not FOLD[op](v, r):
                return False
        elif isinstance(test, ParamRef):
            p = ctx.d.parameters.get(test.param)
            if p is not None and not same(v, p.value.value):
                return False
        elif isinstance(test, FactRef):
            continue
        elif not same(v, test):
            return False
    return True
