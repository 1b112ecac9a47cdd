"""assess(): one patient record → one Assessment (interchange.md §2).

The runtimes only say which rules fired and what the derived facts are (engine/evaluate.py); this
module composes the rest, in Python, the same way for every backend: the most severe colour, its
tier, the referral, the screening calendar and the next follow-up on a working day. Every number it
uses (intervals, look-ahead, colour follow-ups) comes from the guideline set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from engine.describe import reason_text
from engine.evaluate import Evaluation, Evaluator
from guidelines.model import GuidelineSet
from guidelines.schema import ParamRef, Rule
from pathways.facts import compute_facts, last_screening_date, latest_visit_date
from pathways.measures import add_months
from pathways.models import (
    Assessment,
    ControlOut,
    Patient,
    Reason,
    ReferralOut,
    ScreeningDue,
)
from pathways.workdays import WorkCalendar


@dataclass(frozen=True)
class Assessed:
    """An assessment with what produced it, for `explain` and the cases runner."""

    assessment: Assessment
    evaluation: Evaluation


class Assessor:
    """A compiled guideline set ready to assess patients. Build once, use for many patients."""

    def __init__(self, gset: GuidelineSet, calendar: WorkCalendar, backend: str = "python") -> None:
        self.gset = gset
        self.calendar = calendar
        self.evaluator = Evaluator(gset, backend=backend)
        self._params = {name: p.value for name, p in gset.parameters.items()}
        self._symptoms = frozenset(gset.vocabulary.get("symptoms", {}))
        self._rules = {rule.id: rule for rule in gset.rules}
        self._severity = {c: getattr(gset.colors, c).severity for c in ("red", "yellow", "blue")}
        self._look_ahead = self._value(gset.screenings.look_ahead_days)

    def _value(self, value: Any) -> Any:
        return self.gset.param(value.param) if isinstance(value, ParamRef) else value

    def _color_days(self, color: str) -> int:
        return int(self._value(getattr(self.gset.colors, color).follow_up_days))

    def _rule_days(self, rule: Rule) -> int:
        if rule.follow_up_days is None:
            return self._color_days(rule.color)
        return int(self._value(rule.follow_up_days))

    @staticmethod
    def is_assessed(patient: Patient, as_of: date) -> bool:
        """Patients who died or moved out on or before `as_of` are not assessed."""
        left = [d for d in (patient.deceased_on, patient.moved_out_on) if d is not None]
        return not any(d <= as_of for d in left)

    def facts(self, patient: Patient, as_of: date) -> dict[str, Any]:
        return compute_facts(patient, as_of, self._params, self._symptoms)

    def assess(self, patient: Patient, as_of: date) -> Assessed:
        evaluation = self.evaluator.evaluate(self.facts(patient, as_of))
        facts = evaluation.facts
        fired = [self._rules[rule_id] for rule_id in evaluation.fired]
        fired.sort(key=lambda r: (-self._severity[r.color], r.id))

        color = fired[0].color if fired else self.gset.colors.default
        tier = getattr(self.gset.colors, color).tier
        reasons = tuple(
            Reason(rule=r.id, color=r.color, text=self._reason_text(r, evaluation),
                   source=self._source_text(r))
            for r in fired
        )
        warnings: list[str] = []
        return Assessed(
            Assessment(
                patient_id=patient.patient_id,
                as_of=as_of,
                guideline_set=self.gset.name,
                guideline_version=self.gset.version,
                color=color,
                tier=tier,
                reasons=reasons,
                referral=self._referral(fired),
                control=ControlOut(
                    bp=facts.get("bp_control") or "unknown",
                    glucose=facts.get("glucose_control") or "unknown",
                    ldl=facts.get("ldl_control") or "unknown",
                    hba1c=facts.get("hba1c_control") or "unknown",
                ),
                bp_target=_pair(facts.get("bp_target_sbp"), facts.get("bp_target_dbp")),
                ascvd_risk=facts.get("ascvd_risk") or "unknown",
                ldl_target=facts.get("ldl_target"),
                egfr=facts.get("egfr"),
                ckd_stage=facts.get("ckd_stage"),
                albuminuria=facts.get("albuminuria"),
                screenings_due=self._screenings_due(patient, as_of, evaluation),
                next_follow_up=self._next_follow_up(patient, as_of, fired, color, warnings),
                warnings=tuple(warnings),
            ),
            evaluation,
        )

    @staticmethod
    def _reason_text(rule: Rule, evaluation: Evaluation) -> str:
        """The rule's sentence; when it read a value left undecided, the missing inputs behind it
        (pathway-defaults §1: an `unknown` category comes "with a reason naming the input")."""
        text = reason_text(rule, evaluation.facts)
        read = evaluation.read.get(rule.id, {})
        missing = sorted({m for fact in read for m in evaluation.undecided.get(fact, ())})
        return f"{text}（缺少输入：{'、'.join(missing)}）" if missing else text

    def _source_text(self, rule: Rule) -> str:
        doc = self.gset.sources.get(rule.source.doc)
        title = doc.title if doc else rule.source.doc
        return f"{title} {rule.source.clause} [{rule.source.verification}]"

    def _referral(self, fired: list[Rule]) -> ReferralOut | None:
        referring = [r for r in fired if r.referral is not None]
        if not referring:
            return None
        urgent = [r for r in referring if r.referral.urgency == "urgent"]
        lead = (urgent or referring)[0]
        return ReferralOut(
            urgency="urgent" if urgent else "routine",
            to=lead.referral.to,
            reasons=tuple(sorted(r.id for r in referring)),
            follow_up_within_days=min(self._rule_days(r) for r in referring),
        )

    def _screenings_due(self, patient: Patient, as_of: date, evaluation: Evaluation) -> tuple[ScreeningDue, ...]:
        horizon = as_of + timedelta(days=int(self._look_ahead))
        due: list[ScreeningDue] = []
        seen: set[str] = set()
        for complication in self.gset.screenings.complications:
            for item in complication.items:
                plan = evaluation.screening.get(item.kind)
                if item.kind in seen or plan is None or not plan.eligible or not plan.listed:
                    continue
                seen.add(item.kind)
                last = last_screening_date(patient, item.kind, as_of)
                if last is None:
                    due_by = patient.enrolled_on + timedelta(days=plan.first_due_days)
                else:
                    due_by = add_months(last, plan.interval_months)
                if due_by <= horizon:
                    due.append(ScreeningDue(kind=item.kind, due_by=due_by, overdue=due_by < as_of))
        return tuple(due)

    def _next_follow_up(
        self, patient: Patient, as_of: date, fired: list[Rule], color: str, warnings: list[str]
    ) -> date:
        days = min((self._rule_days(r) for r in fired), default=self._color_days(color))
        base = latest_visit_date(patient, as_of) or patient.enrolled_on
        due = max(base + timedelta(days=days), as_of)  # overdue → as soon as possible: as_of
        day = self.calendar.next_working_day(due)
        if day.year in self.calendar.provisional_years:
            warnings.append(
                f"provisional working-day calendar for {day.year}: statutory holidays only, "
                "no make-up working days (State Council notice not yet in sangao)"
            )
        return day

    def assess_many(self, patients: Iterable[Patient], as_of: date) -> Iterator[Assessment]:
        for patient in patients:
            if self.is_assessed(patient, as_of):
                yield self.assess(patient, as_of).assessment


def _pair(sbp: Any, dbp: Any) -> tuple[int, int] | None:
    if sbp is None or dbp is None:
        return None
    return int(sbp), int(dbp)
