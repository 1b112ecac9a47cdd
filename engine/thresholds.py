"""The numeric thresholds a guideline set compares facts with, parameters resolved: for the cases'
both-sides coverage and for `guidelines diff` summaries. Walks the YAML conditions directly, with
the one walk of guidelines/schema.py."""

from __future__ import annotations

from collections.abc import Iterator

from engine.compile import OPS
from guidelines.model import GuidelineSet
from guidelines.schema import Classification, Compare, Count, DecisionTable, ParamRef, comparisons


def _conditions(gset: GuidelineSet) -> Iterator[tuple[str, object]]:
    for rule in gset.rules:
        yield f"rules.{rule.id}", rule.when
    for entry in gset.derive:
        if isinstance(entry, Classification):
            for case in entry.cases:
                if hasattr(case, "when"):
                    yield f"derive.{entry.classification}", case.when
        elif isinstance(entry, Count):
            for c in entry.of:
                yield f"derive.{entry.count}", c
        elif isinstance(entry, DecisionTable):
            for row in entry.rows:
                for name, cell in row.when.items():
                    fact = entry.inputs[name].fact if name in entry.inputs else name
                    if isinstance(cell, Compare):
                        yield f"derive.{entry.table}", cell.model_copy(update={"fact": fact})
    for complication in gset.screenings.complications:
        for item in complication.items:
            if item.eligible is not None:
                yield f"screenings.{item.kind}", item.eligible
            for case in item.shorter:
                yield f"screenings.{item.kind}", case.when


def iter_comparisons(gset: GuidelineSet) -> Iterator[tuple[str, str, str, float]]:
    """(owner key, fact, operator, numeric threshold) for every fact-vs-number comparison, once each."""
    seen: set[tuple[str, str, str, float]] = set()
    for owner, condition in _conditions(gset):
        for cmp in comparisons(condition):
            if cmp.fact is None:
                continue
            for op in OPS:
                value = getattr(cmp, op)
                if isinstance(value, ParamRef):
                    value = gset.parameters[value.param].value if value.param in gset.parameters else None
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                key = (owner, cmp.fact, op, float(value))
                if key not in seen:
                    seen.add(key)
                    yield key
