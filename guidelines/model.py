"""`GuidelineSet`: a loaded, merged and validated guideline set, as the engine receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guidelines.schema import Colors, Derive, Manifest, Parameter, Rule, Screenings, SourceDoc, SymptomCode


@dataclass(frozen=True)
class Origin:
    """Where a value of the effective set came from (overlays point at the overlay file)."""

    file: str
    line: int
    column: int = 1


@dataclass(frozen=True)
class GuidelineSet:
    name: str
    version: str
    policy_status: str
    path: Path
    manifest: Manifest
    sources: dict[str, SourceDoc]
    parameters: dict[str, Parameter]
    vocabulary: dict[str, dict[str, SymptomCode]]
    derive: list[Derive]
    rules: list[Rule]
    screenings: Screenings
    colors: Colors
    # "parameters.<name>", "rules.<id>", "derive.<id>", "screenings.<kind>" → where it was defined
    origin: dict[str, Origin] = field(default_factory=dict)

    def param(self, name: str):
        return self.parameters[name].value
