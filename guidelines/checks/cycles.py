"""Derive entries that depend on each other in a loop (C109), found by the one cycle detection of
the checks (`find_cycles`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from guidelines.checks.context import Context, reads
from guidelines.draft import derive_id, derive_outputs
from guidelines.schema import Case, Classification, Count, DecisionTable


def find_cycles(deps: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """Each cycle of the graph `deps` (node → the nodes it depends on) once, as the path that closes
    it (first node repeated at the end), in depth-first order from the lowest node."""
    state: dict[int, int] = {}  # 1 on the current path, 2 done
    found: list[list[int]] = []
    reported: set[frozenset[int]] = set()

    def visit(i: int, path: list[int]) -> None:
        state[i] = 1
        for j in deps[i]:
            if state.get(j) == 1:
                cycle = path[path.index(j) :] + [j]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    found.append(cycle)
            elif state.get(j) is None:
                visit(j, [*path, j])
        state[i] = 2

    for i in deps:
        if i not in state:
            visit(i, [i])
    return found


def check(ctx: Context) -> None:
    derive = ctx.d.derive
    producer: dict[str, int] = {}
    for i, e in enumerate(derive):
        for name in derive_outputs(e.value):
            producer.setdefault(name, i)
    deps = {i: sorted({producer[f] for f in _reads(e.value) if f in producer}) for i, e in enumerate(derive)}
    for cycle in find_cycles(deps):
        names = " → ".join(derive_id(derive[k].value) for k in cycle)
        ctx.add(derive[cycle[-1]].problem_of("C109", names=names))


def _reads(d: Classification | Count | DecisionTable) -> set[str]:
    """The facts a derive entry reads."""
    if isinstance(d, Count):
        return set().union(*(reads(c) for c in d.of))
    if isinstance(d, Classification):
        return set().union(*(reads(case.when) for case in d.cases if isinstance(case, Case)))
    return {i.fact for i in d.inputs.values()}
