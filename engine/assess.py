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
from typing import Any, NamedTuple

from engine.assess_json import NOT_A_FACT, LineWriter
from engine.assess_json import json_line as json_line  # the encoder, for callers of this module
from engine.describe import glossary, reason_filler
from engine.evaluate import Evaluation, Evaluator
from engine.ir import COUNT_MAX, COUNT_MIN
from guidelines.model import GuidelineSet
from guidelines.schema import ParamRef, Rule
from pathways.facts import FACTS, compute_facts, last_screening_date, latest_visit_date, measure_params
from pathways.measures import add_months
from pathways.models import Assessment, Patient
from pathways.workdays import WorkCalendar


@dataclass(frozen=True)
class Assessed:
    """An assessment with what produced it, for `explain` and the cases runner."""

    assessment: Assessment
    evaluation: Evaluation


class RuleRef(NamedTuple):
    rule: str
    color: str


class Controls(NamedTuple):
    bp: str
    glucose: str
    ldl: str
    hba1c: str


class Decision(NamedTuple):
    """What the rules decide at one day, read like an `Assessment` (colour, tier, fired rules with
    their colours, control, next follow-up) plus the screening plans, without the texts, the
    referral or the screenings due: for callers that assess one patient at many days and read
    only these (reports/monthly.py, through pathways/care_state.py)."""

    color: str
    tier: str
    reasons: tuple[RuleRef, ...]  # by severity then id, as `Assessment.reasons`
    control: Controls
    next_follow_up: date
    screening: dict  # kind → engine/evaluate.py ScreeningPlan


class Assessor:
    """A compiled guideline set ready to assess patients. Build once, use for many patients.

    One composition, `assess_data`: the assessment as plain JSON-ready data (the dict of one
    `sangao assess --format jsonl` line, in the field order of `Assessment`), from a `Patient` or
    store/fast_json.py's record Struct.
    `assess` wraps it in the pydantic `Assessment` with the `Evaluation` (explain, cases, API callers);
    `json_line` encodes it as `sangao assess --format jsonl` writes it, and `line` (str) and
    `line_bytes` (UTF-8) write that same line from texts kept between patients (engine/assess_json.py).
    What only depends on the set is prepared once: per rule its reason text split around the
    patient's values, its source line and follow-up days; per combination of fired rules the colour,
    tier and referral."""

    def __init__(
        self, gset: GuidelineSet, calendar: WorkCalendar, backend: str = "python", compile_source=None,
        program=None,
    ) -> None:
        """`compile_source`, `program`: see engine/evaluate.py `Evaluator` (None: compile afresh)."""
        self.gset = gset
        self.calendar = calendar
        self.evaluator = (
            Evaluator(gset, backend=backend, program=program)
            if compile_source is None
            else Evaluator(gset, backend=backend, compile_source=compile_source, program=program)
        )
        self._params = {name: p.value for name, p in gset.parameters.items()}
        self._measures: tuple[int, int, int, str] | None = None
        self._symptoms = frozenset(gset.vocabulary.get("symptoms", {}))
        self._rules = {rule.id: rule for rule in gset.rules}
        self._severity = {c: getattr(gset.colors, c).severity for c in ("red", "yellow", "blue")}
        self._look_ahead = self._value(gset.screenings.look_ahead_days)
        compiled = {r.id: r for r in self.evaluator.program.rules}
        read_names = self.evaluator._read_names
        terms = glossary(gset)
        # per rule: (id, colour, fill(facts) → reason text, source line, facts it reads)
        self._rule_text = {
            rule.id: (
                rule.id,
                str(rule.color),
                reason_filler(compiled[rule.id], terms=terms),
                self._source_text(rule),
                read_names[rule.id],
            )
            for rule in gset.rules
        }
        # per rule: the facts its reason text is filled from and the texts filled so far, by their
        # values (None: the filler reads the facts some other way, filled for every patient)
        # (a name no fact can have, such as the range of a fact that is not a count, is always missing)
        program = self.evaluator.program
        possible = set(FACTS)
        for layer in program.layers:
            for d in layer.derives:  # what a derive entry may write (as engine/evaluate.py `_fused`)
                possible.update(d.outputs, d.unknown, (d.id, d.id + COUNT_MIN, d.id + COUNT_MAX))
                possible.update(o for b in d.branches for o in b.then)
        self._texts = {
            rule_id: (_names_read(entry[2], possible), {}) for rule_id, entry in self._rule_text.items()
        }
        self._by_fired: dict[tuple[str, ...], tuple] = {}  # fired rule ids → what they decide alone
        self._workday: dict[date, date] = {}  # due date → next working day (the calendar is fixed)
        self._head = (str(gset.name), str(gset.version))
        self._due_after: dict[tuple[date, int, int], date] = {}  # `_screenings_due`'s dates
        # each listed kind once, in set order, with the base fact that dates its latest screening
        self._screen_kinds = tuple(
            (kind, f"screen_{kind}_days_ago")
            for kind in dict.fromkeys(str(i.kind) for c in gset.screenings.complications for i in c.items)
        )
        # line(patient, as_of, facts, fired, undecided, screening): `json_line(self._compose(...))`, the
        # same text written from kept pieces (engine/assess_json.py); line_bytes: that line in UTF-8,
        # for writers of the output file (no line encoded twice). Bound here: one call, not two.
        self.line = LineWriter(self).line
        self.line_bytes = LineWriter(self, as_bytes=True).line

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
        died = patient.deceased_on
        if died is not None and died <= as_of:
            return False
        moved = patient.moved_out_on
        return moved is None or moved > as_of

    def facts(self, patient: Patient, as_of: date) -> dict[str, Any]:
        measures = self._measures
        if measures is None:  # checked at the first patient, as compute_facts would check them
            measures = self._measures = measure_params(self._params)
        return compute_facts(patient, as_of, self._params, self._symptoms, measures)

    def assess(self, patient: Patient, as_of: date) -> Assessed:
        """The `Assessment` model and the `Evaluation` behind it (near misses, values read)."""
        evaluation = self.evaluator.evaluate(self.facts(patient, as_of))
        data = self._compose(
            patient, as_of, evaluation.facts, evaluation.fired, evaluation.undecided, evaluation.screening
        )
        return Assessed(Assessment.model_validate(data), evaluation)

    def assess_data(self, patient: Patient, as_of: date) -> dict[str, Any]:
        """The assessment as plain data (what `Assessment.model_dump(mode="json")` gives), with no
        pydantic object made: for rosters and for callers that assess many patients at many dates.
        `patient` is a `Patient` or a store/fast_json.py `decode_record` Struct. The returned dict
        shares its referral with other patients': read it, do not change it."""
        facts, fired, undecided, screening = self.evaluator.outcome(self.facts(patient, as_of))
        return self._compose(patient, as_of, facts, fired, undecided, screening)

    def assess_line(self, patient: Patient, as_of: date) -> tuple[str, str]:
        """(`json_line(assess_data(...))`, the colour): the line `sangao assess --format jsonl` writes."""
        facts, fired, undecided, screening = self.evaluator.outcome(self.facts(patient, as_of))
        return self.line(patient, as_of, facts, fired, undecided, screening), self._decided_by(fired)[0]

    def decide(self, patient: Patient, as_of: date) -> Decision:
        """The `Decision` at `as_of`: the values `assess` would give for these fields, a fraction of
        its time. `patient` is a `Patient` or a store/fast_json.py record Struct."""
        facts, fired, _undecided, screening = self.evaluator.outcome(self.facts(patient, as_of))
        color, tier, order, _referral, days = self._decided_by(fired)
        get = facts.get
        return Decision(
            color,
            tier,
            tuple(RuleRef(rule_id, self._rule_text[rule_id][1]) for rule_id in order),
            Controls(
                get("bp_control") or "unknown",
                get("glucose_control") or "unknown",
                get("ldl_control") or "unknown",
                get("hba1c_control") or "unknown",
            ),
            self._next_follow_up(patient, as_of, days, []),
            screening,
        )

    def standing(self, patient: Patient, as_of: date) -> tuple[str, str, str, dict]:
        """(colour, tier, LDL-C control, screening plans) at `as_of`: the values `decide` gives for
        them, without its rule list and follow-up date (the monthly report's month ends read no
        more: reports/monthly.py)."""
        facts, fired, _undecided, screening = self.evaluator.outcome(self.facts(patient, as_of))
        color, tier = self._decided_by(fired)[:2]
        return color, tier, facts.get("ldl_control") or "unknown", screening

    def _decided_by(self, fired: tuple[str, ...]) -> tuple:
        """(colour, tier, rule ids by severity then id, referral, follow-up days) of a set of fired
        rules: the same for every patient with those rules, so worked out once per combination."""
        known = self._by_fired.get(fired)
        if known is not None:
            return known
        rules = sorted(
            (self._rules[rule_id] for rule_id in fired), key=lambda r: (-self._severity[r.color], r.id)
        )
        color = str(rules[0].color) if rules else str(self.gset.colors.default)
        tier = str(getattr(self.gset.colors, color).tier)
        days = min((self._rule_days(r) for r in rules), default=self._color_days(color))
        known = (color, tier, tuple(r.id for r in rules), self._referral(rules), days)
        if len(self._by_fired) < 65536:  # a bound that real sets never reach
            self._by_fired[fired] = known
        return known

    def _reason_texts(self, order: tuple[str, ...], facts: dict, undecided: dict) -> list[str]:
        """The reason text of each rule of `order`, filled from the patient's facts."""
        texts = []
        rule_text = self._rule_text
        filled = self._texts
        get = facts.get
        for rule_id in order:
            _rid, _rcolor, fill, _source, reads = rule_text[rule_id]
            names, known = filled[rule_id]
            if names is None:
                text = fill(facts)
            else:
                values = tuple(map(get, names))
                key = (values, tuple(map(type, values)))  # 1 and True are equal keys, not equal texts
                try:
                    text = known.get(key)
                except TypeError:  # an unhashable value: filled, not kept
                    text = key = None
                if text is None:
                    text = fill(facts)
                    if key is not None and len(known) < 4096:
                        known[key] = text
            if undecided and not undecided.keys().isdisjoint(reads):
                # an `unknown` outcome comes with a reason naming the missing input
                missing = sorted({m for fact in reads for m in undecided.get(fact, ())})
                if missing:
                    text = f"{text}（缺少输入：{'、'.join(missing)}）"
            texts.append(text)
        return texts

    def _compose(
        self,
        patient: Patient,
        as_of: date,
        facts: dict,
        fired: tuple[str, ...],
        undecided: dict,
        screening: dict,
    ) -> dict[str, Any]:
        color, tier, order, referral, days = self._decided_by(fired)
        reasons = []
        for rule_id, text in zip(order, self._reason_texts(order, facts, undecided), strict=True):
            rid, rcolor, _fill, source, _reads = self._rule_text[rule_id]
            reasons.append({"rule": rid, "color": rcolor, "text": text, "source": source})
        get = facts.get
        sbp, dbp = get("bp_target_sbp"), get("bp_target_dbp")
        ldl_target, egfr = get("ldl_target"), get("egfr")
        warnings: list[str] = []
        return {
            "patient_id": patient.patient_id,
            "as_of": as_of.isoformat(),
            "guideline_set": self._head[0],
            "guideline_version": self._head[1],
            "color": color,
            "tier": tier,
            "reasons": reasons,
            "referral": referral,
            "control": {
                "bp": get("bp_control") or "unknown",
                "glucose": get("glucose_control") or "unknown",
                "ldl": get("ldl_control") or "unknown",
                "hba1c": get("hba1c_control") or "unknown",
            },
            "bp_target": None if sbp is None or dbp is None else [int(sbp), int(dbp)],
            "ascvd_risk": get("ascvd_risk") or "unknown",
            "ldl_target": None if ldl_target is None else float(ldl_target),
            "egfr": None if egfr is None else float(egfr),
            "ckd_stage": get("ckd_stage"),
            "albuminuria": get("albuminuria"),
            "screenings_due": [
                {"kind": kind, "due_by": due_by.isoformat(), "overdue": due_by < as_of}
                for kind, due_by in self._screenings_due(patient, as_of, screening, facts)
            ],
            "next_follow_up": self._next_follow_up(patient, as_of, days, warnings).isoformat(),
            "warnings": warnings,
        }

    def _source_text(self, rule: Rule) -> str:
        doc = self.gset.sources.get(rule.source.doc)
        title = doc.title if doc else rule.source.doc
        return f"{title} {rule.source.clause} [{rule.source.verification}]"

    def _referral(self, fired: list[Rule]) -> dict[str, Any] | None:
        referring = [r for r in fired if r.referral is not None]
        if not referring:
            return None
        urgent = [r for r in referring if r.referral.urgency == "urgent"]
        lead = (urgent or referring)[0]
        return {
            "urgency": "urgent" if urgent else "routine",
            "to": str(lead.referral.to),
            "reasons": sorted(r.id for r in referring),
            "follow_up_within_days": min(self._rule_days(r) for r in referring),
        }

    def _screenings_due(
        self, patient: Patient, as_of: date, screening: dict, facts: dict
    ) -> list[tuple[str, date]]:
        """(kind, due by) of each listed screening due within the look-ahead, in set order."""
        horizon = as_of + timedelta(days=int(self._look_ahead))
        due = []
        get = facts.get
        for kind, days_fact in self._screen_kinds:
            plan = screening.get(kind)
            if plan is None or not plan.eligible or not plan.listed:
                continue
            due_by = self._due_by(patient, kind, as_of, plan, get(days_fact, NOT_A_FACT))
            if due_by <= horizon:
                due.append((kind, due_by))
        return due

    def _due_by(self, patient: Patient, kind: str, as_of: date, plan: Any, ago: Any) -> date:
        """When a screening of `kind` is due: `interval_months` after the latest one, `ago` days before
        `as_of`, or `first_due_days` after enrolment when there was none."""
        if ago is None:
            return patient.enrolled_on + timedelta(days=plan.first_due_days)
        if ago is NOT_A_FACT:
            # pathways/facts.py dates the latest screening of each kind (a creatinine or UACR lab
            # counting as one) as `last_screening_date` does: read back, searched only without it
            last = last_screening_date(patient, kind, as_of)
            if last is None:
                return patient.enrolled_on + timedelta(days=plan.first_due_days)
            return add_months(last, plan.interval_months)
        known = self._due_after  # (as_of, days ago, months) → due date: few distinct ones in a roster
        key = (as_of, ago, plan.interval_months)
        due_by = known.get(key)
        if due_by is None:
            due_by = add_months(as_of - timedelta(days=ago), plan.interval_months)
            if len(known) < 1 << 16:
                known[key] = due_by
        return due_by

    def _next_follow_up(self, patient: Patient, as_of: date, days: int, warnings: list[str]) -> date:
        base = latest_visit_date(patient, as_of) or patient.enrolled_on
        due = max(base + timedelta(days=days), as_of)  # overdue → as soon as possible: as_of
        return self._working_day(due, warnings)

    def _working_day(self, due: date, warnings: list[str]) -> date:
        """The working day on or after `due`, noting on `warnings` a provisional calendar year."""
        day = self._workday.get(due)
        if day is None:
            day = self._workday[due] = self.calendar.next_working_day(due)
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


class _NameRecorder:
    """Stands in for a patient's facts while a reason filler runs once: holds nothing (every fact
    missing) and notes each name asked for. A filler of engine/describe.py reads a fact only through
    `get`, and with every fact missing it asks for all it could ever read (a missing value also
    reads its count range)."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}

    def get(self, name: str, default: Any = None) -> Any:
        self.names[name] = None
        return default


def _names_read(fill, possible: set[str]) -> tuple[str, ...] | None:
    """The facts of `possible` a reason filler reads (any other name is always missing), or None when
    it reads them any other way than `get` (its text is then filled for every patient, never kept)."""
    recorder = _NameRecorder()
    try:
        fill(recorder)
    except Exception:  # noqa: BLE001 - anything but `get`: not kept
        return None
    return tuple(name for name in recorder.names if name in possible)
