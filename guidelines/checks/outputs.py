"""What derive entries produce: every `then`, `otherwise` and `unknown` key is a declared output
(C114) and its value of the output's type and declared values (C106, C124) or a parameter in the
output's unit (C103, C105); a classification ends in its one `otherwise` (C110)."""

from __future__ import annotations

from typing import Any

from guidelines.checks.context import Context, close, kind, same, type_hint
from guidelines.draft import Entry, derive_id
from guidelines.schema import Classification, Count, DecisionTable, Otherwise, ParamRef
from guidelines.yaml_source import Loc, did_you_mean


def check(ctx: Context) -> None:
    for e in ctx.d.derive:
        d = e.value
        if isinstance(d, Count):
            continue
        if d.unknown:
            then_keys(ctx, e, d.unknown, ("unknown",))
        if isinstance(d, Classification):
            for i, case in enumerate(d.cases):
                if isinstance(case, Otherwise):
                    then_keys(ctx, e, case.otherwise, ("cases", i, "otherwise"))
                    if i != len(d.cases) - 1:
                        ctx.add(e.problem_of("C110", ("cases", i)))
                else:
                    then_keys(ctx, e, case.then, ("cases", i, "then"))
            if not isinstance(d.cases[-1], Otherwise):
                ctx.add(
                    e.problem_of("C110", ("cases", len(d.cases) - 1), variant="no_otherwise",
                                 id=d.classification)
                )
        elif isinstance(d, DecisionTable):
            for r, row in enumerate(d.rows):
                then_keys(ctx, e, row.then, ("rows", r, "then"))


def then_keys(ctx: Context, e: Entry, then: dict, sub: Loc) -> None:
    d = e.value
    outputs = set(d.outputs)
    for k, v in then.items():
        if k not in outputs:
            near = did_you_mean(k, outputs)
            ctx.add(
                e.problem_of(
                    "C114", (*sub, k), at_key=True, key=k, id=derive_id(d),
                    declared=", ".join(sorted(outputs)), **close(near),
                )
            )
        else:
            output_value(ctx, e, d.outputs[k], v, (*sub, k))
        ctx.value_refs(e, v, (*sub, k), d.outputs[k].unit if k in outputs else None)


def output_value(ctx: Context, e: Entry, out: Any, v: Any, sub: Loc) -> None:
    if v is None or isinstance(v, ParamRef):
        return
    want = {"integer": "number", "number": "number"}.get(out.type, out.type)
    if kind(v) != want:
        ctx.add(e.problem_of("C106", sub, variant="output", value=repr(v), type=out.type,
                             **type_hint(out.type)))
    elif out.values is not None and not any(same(v, x) for x in out.values):
        near = did_you_mean(str(v), [str(x) for x in out.values])
        ctx.add(
            e.problem_of(
                "C124", sub, variant="output_close" if near else "output", value=repr(v), close=near,
                values=", ".join(map(str, out.values)),
            )
        )
