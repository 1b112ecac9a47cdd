"""The annual integrated care plan (一体化照护计划) as data, and what changed since the last one.

A plan is a frozen pydantic model so it is stored as JSON and rendered again from that JSON
exactly (reports/plan.py builds it from the assessment, the care state and the guideline set;
store/plans.py keeps it with the guideline version, the input hash and the plan date). Texts in
a plan are already in its language; nothing here reads the clock or a file.
"""

from __future__ import annotations

import hashlib
from datetime import date

from pydantic import BaseModel, ConfigDict

from pathways.models import Patient


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Frozen):
    key: str  # bp, fpg, hba1c, ldl, bmi, waist, smoking
    label: str
    target: str
    current: str = ""


class FollowUp(_Frozen):
    day: date
    window_start: date
    window_end: date
    note: str = ""


class ScreeningPlan(_Frozen):
    kind: str
    name: str
    complication: str
    where: str  # the tier (facility) that does it
    dates: tuple[date, ...]
    last: date | None = None
    overdue: bool = False


class Change(_Frozen):
    what: str
    before: str
    after: str


class Plan(_Frozen):
    patient_id: str
    name: str  # masked
    team: str
    institution: str
    conditions: tuple[str, ...]
    start: date
    end: date
    lang: str
    guideline_set: str
    guideline_version: str
    input_hash: str
    color: str
    color_label: str
    tier: str
    tier_label: str
    reasons: tuple[str, ...]
    referral: str = ""
    targets: tuple[Target, ...]
    follow_ups: tuple[FollowUp, ...]
    early_days: int = 0  # a follow-up may be this many days early …
    late_days: int = 0  # … or this many days late
    screenings: tuple[ScreeningPlan, ...]
    referral_triggers: tuple[str, ...]
    education: tuple[str, ...]
    changes: tuple[Change, ...] = ()
    previous_start: date | None = None
    provisional_years: tuple[int, ...] = ()  # years of the plan's dates on a provisional calendar
    warnings: tuple[str, ...] = ()  # one per provisional year, same order

    def warning_for(self, day: date) -> str:
        """The calendar warning of `day`'s year, or "" when that year's calendar is maintained."""
        if day.year in self.provisional_years:
            return self.warnings[self.provisional_years.index(day.year)]
        return ""


def input_hash(patient: Patient, guideline_set: str, guideline_version: str, start: date) -> str:
    """What a plan was made from: the patient record, the guideline version and the plan date."""
    text = "\n".join((patient.model_dump_json(), guideline_set, guideline_version, start.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_CHANGE_LABELS = {
    "zh": {
        "color": "颜色",
        "tier": "管理层级",
        "follow_ups": "随访次数",
        "target": "目标",
        "screening": "筛查",
        "added": "新增",
        "removed": "不再需要",
        "first": "首次制定计划",
    },
    "en": {
        "color": "colour",
        "tier": "tier",
        "follow_ups": "follow-ups",
        "target": "target",
        "screening": "screening",
        "added": "added",
        "removed": "no longer needed",
        "first": "first plan",
    },
}


def changes_since(previous: Plan | None, plan: Plan) -> tuple[Change, ...]:
    """What differs from the previous stored plan of the same patient, in the plan's language."""
    text = _CHANGE_LABELS[plan.lang]
    if previous is None:
        return (Change(what=text["first"], before="", after=plan.start.isoformat()),)
    changes: list[Change] = []
    if previous.color != plan.color:
        changes.append(Change(what=text["color"], before=previous.color_label, after=plan.color_label))
    if previous.tier != plan.tier:
        changes.append(Change(what=text["tier"], before=previous.tier_label, after=plan.tier_label))
    if len(previous.follow_ups) != len(plan.follow_ups):
        changes.append(
            Change(
                what=text["follow_ups"], before=str(len(previous.follow_ups)), after=str(len(plan.follow_ups))
            )
        )
    before = {t.key: t for t in previous.targets}
    for t in plan.targets:
        old = before.get(t.key)
        if old is not None and old.target != t.target:
            changes.append(Change(what=f"{text['target']} {t.label}", before=old.target, after=t.target))
    old_kinds = {s.kind: s.name for s in previous.screenings}
    new_kinds = {s.kind: s.name for s in plan.screenings}
    for kind in sorted(new_kinds.keys() - old_kinds.keys()):
        changes.append(Change(what=f"{text['screening']} {new_kinds[kind]}", before="", after=text["added"]))
    for kind in sorted(old_kinds.keys() - new_kinds.keys()):
        changes.append(
            Change(what=f"{text['screening']} {old_kinds[kind]}", before="", after=text["removed"])
        )
    return tuple(changes)
