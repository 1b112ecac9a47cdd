"""Screenings: every item's kind is an interchange screening kind (C127)."""

from __future__ import annotations

from guidelines.checks.context import Context, close
from guidelines.yaml_source import did_you_mean
from pathways.vocab import ScreeningKind


def check(ctx: Context) -> None:
    if ctx.d.screenings is None:
        return
    e = ctx.d.screenings
    kinds = [k.value for k in ScreeningKind]
    for ci, comp in enumerate(e.value.complications):
        for ii, item in enumerate(comp.items):
            if item.kind not in kinds:
                near = did_you_mean(item.kind, kinds)
                sub = ("complications", ci, "items", ii, "kind")
                ctx.add(e.problem_of("C127", sub, kind=item.kind, kinds=", ".join(kinds), **close(near)))
