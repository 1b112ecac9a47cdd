"""Derived fact names: one producer per fact, not the name of a base fact or a parameter (C101).
(Names within the files of one set are claimed while merging: guidelines/loader.py.)"""

from __future__ import annotations

from guidelines.checks.context import Context
from guidelines.draft import Entry, derive_outputs
from guidelines.schema import Count
from pathways.facts import FACTS


def check(ctx: Context) -> None:
    producer: dict[str, Entry] = {}
    for e in ctx.d.derive:
        for name in derive_outputs(e.value):
            sub = ("outputs", name) if not isinstance(e.value, Count) else ("count",)
            if name in FACTS:
                ctx.add(e.problem_of("C101", sub, at_key=True, variant="base_fact", name=name))
            elif name in producer:
                file, line, _ = producer[name].line
                at = f"{file}:{line}"
                ctx.add(e.problem_of("C101", sub, at_key=True, variant="derived_twice", name=name, at=at))
            elif name in ctx.d.parameters:
                file, line, _ = ctx.d.parameters[name].line
                at = f"{file}:{line}"
                ctx.add(e.problem_of("C101", sub, at_key=True, variant="parameter", name=name, at=at))
            producer.setdefault(name, e)
