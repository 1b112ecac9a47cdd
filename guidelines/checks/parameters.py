"""Parameters: a value among its documented `options` (C132); the measure parameters hold what
pathways/measures.py can use, a known eGFR equation and whole days (C133, C105)."""

from __future__ import annotations

from guidelines.checks.context import EGFR_EQUATIONS, Context, close, kind, render, same
from guidelines.yaml_source import did_you_mean
from pathways.facts import MEASURE_PARAMETERS


def check(ctx: Context) -> None:
    for name, e in ctx.d.parameters.items():
        p = e.value
        if p.options is not None:
            values = p.value if isinstance(p.value, list) else [p.value]
            for v in values:
                if not any(same(v, o) for o in p.options):
                    near = did_you_mean(str(v), [str(o) for o in p.options])
                    ctx.add(
                        e.problem_of(
                            "C132", ("value",), name=name, value=render(v), options=render(list(p.options)),
                            **close(near),
                        )
                    )
        if name not in MEASURE_PARAMETERS:
            continue
        if name == "egfr_equation":
            if p.value not in EGFR_EQUATIONS:
                known = ", ".join(EGFR_EQUATIONS)
                ctx.add(e.problem_of("C133", ("value",), value=render(p.value), known=known))
        elif kind(p.value) != "number" or isinstance(p.value, float) or p.value < 1:
            ctx.add(e.problem_of("C133", ("value",), variant="days", name=name, value=render(p.value)))
        elif p.unit not in (None, "day"):
            ctx.add(e.problem_of("C105", ("unit",), variant="days", name=name, unit=p.unit))
