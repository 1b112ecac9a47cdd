"""`sangao guidelines diff OLD NEW`: what a guideline change does to a roster before it is published.

Assesses every patient with both sets and counts who changes colour, referral or next follow-up
date, which rules cause it (fired in one version and not the other), keeps a few example patients
(by patient_id only) for each kind of change, the same counts per team or institution (`by`), and
the full list of changed patients for export (reports/diff.py; patient_id, team and institution
only: no names, resident ids or phones).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from engine.assess import Assessor
from pathways.models import Assessment, Patient

EXAMPLES_PER_KIND = 5
GROUPINGS = ("team", "institution")


@dataclass
class GroupCounts:
    """The changes within one team or institution."""

    patients: int = 0
    changed_color: int = 0
    color_changes: Counter = field(default_factory=Counter)  # (old colour, new colour) → n, changed only
    referral_changes: int = 0
    follow_up_changes: int = 0


@dataclass(frozen=True)
class PatientChange:
    """One patient whose colour, referral or next follow-up date differs between the two sets."""

    patient_id: str
    team: str | None
    institution: str | None
    old_color: str
    new_color: str
    old_referral: str
    new_referral: str
    old_follow_up: date | None
    new_follow_up: date | None
    rules_added: tuple[str, ...]
    rules_dropped: tuple[str, ...]


@dataclass
class DiffReport:
    old: str
    new: str
    as_of: date
    patients: int = 0
    color_changes: Counter = field(default_factory=Counter)       # (old colour, new colour) → n
    referral_changes: Counter = field(default_factory=Counter)    # (old urgency|none, new) → n
    follow_up_changes: int = 0
    rules_added: Counter = field(default_factory=Counter)         # rule id fired only in NEW → n patients
    rules_dropped: Counter = field(default_factory=Counter)       # rule id fired only in OLD → n patients
    examples: dict[str, list[str]] = field(default_factory=dict)  # kind → patient ids
    by: str | None = None                                         # "team" or "institution"
    groups: dict[str, GroupCounts] = field(default_factory=dict)  # group name ("" unknown) → counts
    changes: list[PatientChange] = field(default_factory=list)    # every changed patient, roster order

    @property
    def changed_color(self) -> int:
        return sum(n for (a, b), n in self.color_changes.items() if a != b)

    def _example(self, kind: str, patient_id: str) -> None:
        ids = self.examples.setdefault(kind, [])
        if len(ids) < EXAMPLES_PER_KIND:
            ids.append(patient_id)


def _urgency(a: Assessment) -> str:
    return a.referral.urgency.value if a.referral else "none"


def diff_sets(
    old: Assessor, new: Assessor, patients: Iterable[Patient], as_of: date, by: str | None = None
) -> DiffReport:
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"by is one of {GROUPINGS}, not {by!r}")
    report = DiffReport(
        f"{old.gset.name} {old.gset.version}", f"{new.gset.name} {new.gset.version}", as_of, by=by
    )
    for patient in patients:
        if not old.is_assessed(patient, as_of):
            continue
        a = old.assess(patient, as_of).assessment
        b = new.assess(patient, as_of).assessment
        report.patients += 1
        group = report.groups.setdefault(getattr(patient, by) or "", GroupCounts()) if by else None
        if group is not None:
            group.patients += 1
        report.color_changes[(a.color.value, b.color.value)] += 1
        color, referral = a.color != b.color, _urgency(a) != _urgency(b)
        follow_up = a.next_follow_up != b.next_follow_up
        if color:
            report._example(f"colour {a.color.value}→{b.color.value}", patient.patient_id)
        if referral:
            report.referral_changes[(_urgency(a), _urgency(b))] += 1
            report._example(f"referral {_urgency(a)}→{_urgency(b)}", patient.patient_id)
        if follow_up:
            report.follow_up_changes += 1
            report._example("next follow-up date", patient.patient_id)
        ra, rb = {r.rule for r in a.reasons}, {r.rule for r in b.reasons}
        for rule in rb - ra:
            report.rules_added[rule] += 1
        for rule in ra - rb:
            report.rules_dropped[rule] += 1
        if group is not None:
            group.changed_color += color
            if color:
                group.color_changes[(a.color.value, b.color.value)] += 1
            group.referral_changes += referral
            group.follow_up_changes += follow_up
        if color or referral or follow_up:
            report.changes.append(
                PatientChange(
                    patient.patient_id, patient.team, patient.institution,
                    a.color.value, b.color.value, _urgency(a), _urgency(b),
                    a.next_follow_up, b.next_follow_up, tuple(sorted(rb - ra)), tuple(sorted(ra - rb)),
                )
            )
    return report
