"""The merged guideline set before the whole-set checks: a `Draft` of `Entry`s, each value with
the file and node it was read from (guidelines/loader.py builds it, guidelines/checks/ reads it),
and what a derive entry outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from guidelines.schema import (
    Classification,
    Colors,
    Count,
    DecisionTable,
    Manifest,
    Parameter,
    Rule,
    Screenings,
    SourceDoc,
    SymptomCode,
)
from guidelines.yaml_source import Loc, SourceFile, locate, render_path
from pathways.errors import Problem

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """A value of the set and the node it was read from."""

    value: T
    src: SourceFile
    loc: Loc  # path of the node inside src.doc
    label: str  # "Rule(id='htn.urgent_bp')": how messages name it

    def problem_of(self, code: str, sub: Loc = (), *, at_key: bool = False, **fields: Any) -> Problem:
        """A registered problem (`Problem.of`) at `sub` below this entry."""
        context = "at " + render_path(list(sub), self.label)
        return self.src.problem_of(code, self.loc + tuple(sub), at_key=at_key, context=context, **fields)

    @property
    def line(self) -> tuple[str, int, int]:
        line, col = locate(self.src.doc, self.loc, at_key=True)
        return self.src.display, line, col


@dataclass
class Draft:
    """A merged set before the whole-set checks."""

    manifest: Manifest
    manifest_src: SourceFile
    sources: dict[str, Entry[SourceDoc]] = field(default_factory=dict)
    parameters: dict[str, Entry[Parameter]] = field(default_factory=dict)
    vocabulary: dict[str, dict[str, Entry[SymptomCode]]] = field(default_factory=dict)
    derive: list[Entry[Any]] = field(default_factory=list)
    rules: list[Entry[Rule]] = field(default_factory=list)
    screenings: Entry[Screenings] | None = None
    colors: Entry[Colors] | None = None
    file_count: int = 0


def derive_id(d: Classification | Count | DecisionTable) -> str:
    if isinstance(d, Classification):
        return d.classification
    if isinstance(d, DecisionTable):
        return d.table
    return d.count


@dataclass(frozen=True)
class FactInfo:
    type: str
    unit: str | None
    values: tuple | None = None


def derive_outputs(d: Classification | Count | DecisionTable) -> dict[str, FactInfo]:
    if isinstance(d, Count):
        return {d.count: FactInfo("integer", None)}
    return {
        name: FactInfo(o.type, o.unit, tuple(o.values) if o.values is not None else None)
        for name, o in d.outputs.items()
    }
