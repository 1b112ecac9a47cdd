"""What the engine needs from every set: the measure parameters pathways/facts.py reads (C104), the
derived facts the assessment reads (C121), and a `colors` and a `screenings` section (C125, C126)."""

from __future__ import annotations

from guidelines.checks.context import Context
from pathways.facts import MEASURE_PARAMETERS

# Derived facts the assessment reads (docs/guideline-language.md §3, step 4).
REQUIRED_OUTPUTS = (
    "bp_control",
    "glucose_control",
    "ldl_control",
    "hba1c_control",
    "bp_target_sbp",
    "bp_target_dbp",
    "ascvd_risk",
    "ldl_target",
    "ckd_stage",
    "albuminuria",
)


def check(ctx: Context) -> None:
    d = ctx.d
    missing = [p for p in MEASURE_PARAMETERS if p not in d.parameters]
    if missing:
        ctx.add(d.manifest_src.problem_of("C104", names=", ".join(missing)))
    absent = [o for o in REQUIRED_OUTPUTS if o not in ctx.facts]
    if absent:
        ctx.add(d.manifest_src.problem_of("C121", names=", ".join(absent)))
    if d.colors is None:
        ctx.add(d.manifest_src.problem_of("C125"))
    if d.screenings is None:
        ctx.add(d.manifest_src.problem_of("C126"))
