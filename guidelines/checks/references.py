"""References outside conditions: every `source.doc` names a source of the set (C120), and every
`{param: …}` written as a follow-up interval, screening interval or look-ahead is a parameter
(C103) in the unit the field is read in (C105)."""

from __future__ import annotations

from guidelines.checks.context import Context
from guidelines.schema import Classification


def check(ctx: Context) -> None:
    d = ctx.d
    for e in d.parameters.values():
        ctx.source(e, e.value.source, ())
    for e in d.derive:
        ctx.source(e, e.value.source, ())
        if isinstance(e.value, Classification):
            for i, case in enumerate(e.value.cases):
                ctx.source(e, case.source, ("cases", i))
    for e in d.rules:
        ctx.source(e, e.value.source, ())
        ctx.value_refs(e, e.value.follow_up_days, ("follow_up_days",), "day")
    if d.screenings is not None:
        e = d.screenings
        ctx.value_refs(e, e.value.look_ahead_days, ("look_ahead_days",), "day")
        for ci, comp in enumerate(e.value.complications):
            for ii, item in enumerate(comp.items):
                sub = ("complications", ci, "items", ii)
                for k, case in enumerate(item.shorter):
                    ctx.value_refs(e, case.months, (*sub, "shorter", k, "months"), "month")
                ctx.value_refs(e, item.interval_months, (*sub, "interval_months"), "month")
                ctx.value_refs(e, item.first_due_days, (*sub, "first_due_days"), "day")
                ctx.source(e, item.source, sub)
    if d.colors is not None:
        for name in ("red", "yellow", "blue"):
            follow_up = getattr(d.colors.value, name).follow_up_days
            ctx.value_refs(d.colors, follow_up, (name, "follow_up_days"), "day")
