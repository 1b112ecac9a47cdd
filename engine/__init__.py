"""The engine's front door: build an assessor for a guideline set and assess patients or a roster.

    from engine import AssessOptions, build_assessor, assess_roster
    assessor = build_assessor(AssessOptions("national-default", as_of))
    assessor.assess(patient, as_of).assessment      # pydantic Assessment (+ .evaluation)
    assessor.assess_data(patient, as_of)            # the same as plain data, no pydantic object

Names load on first use (engine/parallel.py), so importing one engine module stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AssessCounts", "AssessOptions", "Assessor", "assess_roster", "assess_source", "build_assessor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from engine import parallel

        return getattr(parallel, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
