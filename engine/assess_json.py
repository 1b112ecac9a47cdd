"""The line `sangao assess --format jsonl` writes for one assessment, written from kept JSON texts.

Why it exists: composing the assessment as a dict (engine/assess.py `Assessor._compose`) and encoding
it with `json_line` costs some 34 µs a patient, while most of the line is text that many patients
share: the keys, the rules' ids, colours and sources, the referral, the control values, the screening
dates. `LineWriter.line` writes the same characters as `json_line(_compose(...))` from texts encoded
once and kept by what they are made from:
- per combination of fired rules: the colour, tier, referral and the text between them;
- per rule, its reason object, by the values of the facts its text reads, marshalled (`_key`: 1, 1.0
  and True, equal as dict keys, are filled differently);
- the control values, bp target, ASCVD risk, CKD stage and albuminuria, by their values: kept only
  when every value but the bp target is a str or None, as such a key equals no key written otherwise
  (a bp target is written `int(value)`, the same for equal numbers);
- per combination of screening plans (the plans are kept alive with it, so their ids stay theirs):
  the kinds to date; each kind's due date and overdue flag by the days since the latest screening
  and the plan's months (equal numbers give the same date), or by the enrolment date;
- per due day, the next working day and its warnings.
Only the patient id (`encode_basestring`, what the encoder calls for a str with ensure_ascii off) and
the floats (`repr`, as the encoder writes a finite float) are encoded for every patient.
tests/test_assess_json.py compares the two on generated rosters and on adversarial values.
"""

from __future__ import annotations

import json
import marshal
from datetime import date, timedelta
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

# One encoder for every line (json.dumps with options builds a new one per call). The separators and
# ensure_ascii are those of reports/assessments.py `to_json_line`: the same bytes from the same data.
json_line = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
encode_str = encode_basestring  # what that encoder writes for a str (the C function when there is one)

NOT_A_FACT = object()  # a fact the facts do not have
_KEEP = 1 << 14  # at most this many texts in each kept table: far more than a roster's distinct ones
# screening dicts held by `_screenings`: the python backend shares a few dozen; another backend's
# dicts, one a patient, fill it and are then looked up (not found) without being held
_SHARED = 1 << 10
# the facts of the control block (`_block`), in the line's order, then the two floats written after it
_BLOCK_FACTS = (
    "bp_control", "glucose_control", "ldl_control", "hba1c_control", "bp_target_sbp", "bp_target_dbp",
    "ascvd_risk", "ckd_stage", "albuminuria",
)
# A reason is kept by `_key(values, 2)` of the facts its text reads: marshal writes only values of
# exact built-in types (a subclass is refused with ValueError), each with its type and all of its value
# (1, 1.0 and True differ, so do 0.0 and -0.0), and version 2 writes no references to repeated objects:
# equal bytes are values that fill the same text. Bytes compare in one piece, where a tuple key would
# compare each value, each its own object.
_key = marshal.dumps
_BLOCK = len(_BLOCK_FACTS)  # among `LineWriter._names`: the block, ldl_target and egfr, visit_days_ago…
_DAYS_AGO = _BLOCK + 2


def float_text(value: Any) -> str:
    """`json_line(float(value))`: a finite float as its repr, as the encoder writes it."""
    number = float(value)
    return repr(number) if number - number == 0.0 else json_line(number)  # NaN, ±inf: the encoder's words


def value_text(value: Any) -> str:
    """`json_line(value)`, a str written directly."""
    return encode_str(value) if value.__class__ is str else json_line(value)


class LineWriter:
    """`line` for one `Assessor` (engine/assess.py), with its kept texts: as str, or with `as_bytes`
    as UTF-8 bytes (what the output file holds, so no line is encoded twice)."""

    def __init__(self, assessor: Any, as_bytes: bool = False) -> None:
        self._assessor = assessor
        out = self._out = str.encode if as_bytes else str  # every text of the line goes through `out`
        self._join = out("").join
        self._comma = out(", ")
        self._null = out("null")
        self._fired: dict[tuple[str, ...], tuple] = {}  # fired rule ids → `_by_fired`
        # rule id → (the facts its text reads, its reason objects kept by their values)
        self._reasons = {rule_id: (names, {}) for rule_id, (names, _texts) in assessor._texts.items()}
        self._blocks: dict[tuple, tuple] = {}
        self._kinds = tuple(kind for kind, _ in assessor._screen_kinds)
        self._prefixes = {kind: self._out(f'{{"kind": {json_line(kind)}, "due_by": ') for kind in self._kinds}
        # the facts `line` reads besides the reasons': the control block's, ldl_target and egfr, the
        # days since the latest visit and since the latest screening of each kind (`_DAYS_AGO` on)
        days_facts = (days_fact for _, days_fact in assessor._screen_kinds)
        self._names = (*_BLOCK_FACTS, "ldl_target", "egfr", "visit_days_ago", *days_facts)
        # what `facts.get` gives for a missing one of them: None, but NOT_A_FACT for the days since
        self._missing = (None,) * _DAYS_AGO + (NOT_A_FACT,) * (len(self._names) - _DAYS_AGO)
        self._dates: dict[date, Any] = {}  # as_of → its text
        self._plans: dict[tuple, tuple] = {}  # (as_of, the plans' ids) → `_to_date`
        self._held: list[tuple] = []  # the plans of `_plans`' keys
        self._shared: dict[int, tuple] = {}  # id of a screening dict → (it, as_of, `_to_date`)
        self._dues: dict[tuple, dict] = {}  # (as_of, months, first due days) → `_item`s
        self._follow_ups: dict[int, Any] = {}  # due day → `_follow_up`

    def line(
        self, patient: Any, as_of: date, facts: dict, fired: tuple[str, ...], undecided: dict, screening: dict
    ) -> str | bytes:
        """`json_line(assessor._compose(patient, as_of, facts, fired, undecided, screening))`."""
        out = self._out
        known = self._fired.get(fired)
        if known is None:
            known = self._by_fired(fired)
        head, rules, reads, referral, days, take, names, missing, spans, kept = known
        try:
            values = take(facts)  # one C call: all the facts the line reads
        except KeyError:
            values = tuple(map(facts.get, names, missing))
        # an undecided fact that a rule reads adds the missing inputs to its reason (`_reason_texts`)
        if spans is None or (undecided and not undecided.keys().isdisjoint(reads)):
            texts = self._reasons_of(rules, facts, undecided)
        else:
            try:
                keys = [_key(values[a:b], 2) for a, b in spans]
            except ValueError:  # a value marshal does not write: filled, not kept
                texts = self._reasons_of(rules, facts, undecided)
            else:
                texts = list(map(dict.get, kept, keys))
                if None in texts:  # not kept yet: filled and kept
                    for i, text in enumerate(texts):
                        if text is None:
                            texts[i] = self._keep(kept[i], keys[i], self._reason(rules[i], facts, undecided))
        block = values[:_BLOCK]
        try:
            around = self._blocks.get(block)
        except TypeError:  # an unhashable bp target: written, not kept
            around = self._block(block, keep=False)
        if around is None:
            around = self._block(block, keep=True)
        ldl_target, egfr = values[_BLOCK:_DAYS_AGO]
        date_text = self._dates.get(as_of)
        if date_text is None:
            date_text = self._dates[as_of] = out(f', "as_of": "{as_of.isoformat()}')
        return self._join((
            out('{"patient_id": ' + encode_str(patient.patient_id)), date_text, head,
            self._comma.join(texts), referral, around[0],
            self._null if ldl_target is None else out(
                repr(ldl_target) if ldl_target.__class__ is float and ldl_target - ldl_target == 0.0
                else float_text(ldl_target)
            ),
            around[1],
            self._null if egfr is None else out(
                repr(egfr) if egfr.__class__ is float and egfr - egfr == 0.0 else float_text(egfr)
            ),
            around[2], self._screenings(patient, as_of, screening, values),
            self._follow_up(patient, as_of, days, values[_DAYS_AGO]),
        ))

    def _reasons_of(self, rules: tuple, facts: dict, undecided: dict) -> list:
        """The reason objects of `rules`, each kept by the values of the facts its text reads (`_key`),
        unless filled otherwise or with missing inputs added."""
        texts = []
        for rule in rules:
            _rule_id, names, kept, reads = rule
            if names is None or (undecided and not undecided.keys().isdisjoint(reads)):
                texts.append(self._reason(rule, facts, undecided))  # filled, not kept
                continue
            try:
                key = _key(tuple(map(facts.get, names)), 2)
            except ValueError:  # a value marshal does not write: filled, not kept
                texts.append(self._reason(rule, facts, undecided))
                continue
            text = kept.get(key)
            if text is None:
                text = self._keep(kept, key, self._reason(rule, facts, undecided))
            texts.append(text)
        return texts

    @staticmethod
    def _keep(kept: dict, key: bytes, text: Any) -> Any:
        if len(kept) < _KEEP:
            kept[key] = text
        return text

    def _by_fired(self, fired: tuple[str, ...]) -> tuple:
        """What only depends on the fired rules: (the text from the as_of's closing quote to the first
        reason; per rule by severity (id, the facts its text reads, its kept reasons, the facts it
        reads); all the facts they read; the text from the last reason to the first control value; the
        follow-up days; the taker of the line's facts (`_names`, then each rule's), their names and what
        `facts.get` gives for each when missing; each rule's span among those, or None when one is
        filled otherwise; each rule's kept reasons)."""
        assessor = self._assessor
        color, tier, order, referral, days = assessor._decided_by(fired)
        name, version = assessor._head
        head = (
            f'", "guideline_set": {json_line(name)}, "guideline_version": {json_line(version)}'
            f', "color": {json_line(color)}, "tier": {json_line(tier)}, "reasons": ['
        )
        rules = tuple(
            (rule_id, *self._reasons[rule_id], assessor._rule_text[rule_id][4]) for rule_id in order
        )
        reads = frozenset(name for rule in rules for name in rule[-1])
        tail = f'], "referral": {json_line(referral)}, "control": {{"bp": '
        names, spans = list(self._names), []
        for _rule_id, read, _kept, _reads in rules:
            spans.append((len(names), len(names) + len(read or ())))
            names.extend(read or ())
        fast = all(rule[1] is not None for rule in rules)
        missing = self._missing + (None,) * (len(names) - len(self._names))
        known = (
            self._out(head), rules, reads, self._out(tail), days, itemgetter(*names), tuple(names), missing,
            tuple(spans) if fast else None, tuple(rule[2] for rule in rules),
        )
        if len(self._fired) < 65536:  # as `Assessor._decided_by`
            self._fired[fired] = known
        return known

    def _reason(self, rule: tuple, facts: dict, undecided: dict) -> Any:
        """One reason object, its text filled from `facts` as engine/assess.py `_reason_texts` fills it
        (its kept texts are not looked up: every text kept there is its filler's text)."""
        rule_id, _names, _kept, reads = rule
        rid, color, fill, source, _reads = self._assessor._rule_text[rule_id]
        if undecided and not undecided.keys().isdisjoint(reads):
            text = self._assessor._reason_texts((rule_id,), facts, undecided)[0]
        else:
            text = fill(facts)
        return self._out(
            f'{{"rule": {encode_str(rid)}, "color": {encode_str(color)}, "text": {encode_str(text)}'
            f', "source": {encode_str(source)}}}'
        )

    def _block(self, values: tuple, keep: bool) -> tuple:
        """The text around ldl_target and egfr, from the `_BLOCK_FACTS` values: (the control values to
        ldl_target's key, egfr's key, from egfr's value to the first screening due)."""
        bp, glucose, ldl, hba1c, sbp, dbp, ascvd_risk, ckd_stage, albuminuria = values
        enc = value_text
        bp_target = "null" if sbp is None or dbp is None else f"[{int(sbp)}, {int(dbp)}]"
        around = tuple(map(self._out, (
            f'{enc(bp or "unknown")}, "glucose": {enc(glucose or "unknown")}, "ldl": {enc(ldl or "unknown")}'
            f', "hba1c": {enc(hba1c or "unknown")}}}, "bp_target": {bp_target}'
            f', "ascvd_risk": {enc(ascvd_risk or "unknown")}, "ldl_target": ',
            ', "egfr": ',
            f', "ckd_stage": {enc(ckd_stage)}, "albuminuria": {enc(albuminuria)}, "screenings_due": [',
        )))
        strings = (bp, glucose, ldl, hba1c, ascvd_risk, ckd_stage, albuminuria)
        if keep and len(self._blocks) < _KEEP and all(v is None or v.__class__ is str for v in strings):
            self._blocks[values] = around
        return around

    def _screenings(self, patient: Any, as_of: date, screening: dict, values: tuple) -> Any:
        """The screenings due, between the brackets (engine/assess.py `_screenings_due`): each item
        kept by the days since the latest screening of its kind, or by `(enrolment date,)` when there
        was none (a key no number equals)."""
        # the python backend shares one dict among the patients with the same plans (engine/
        # evaluate.py `_fused`): what is kept for them is found by the dict itself, held here so its
        # id stays its own; any other dict by the ids of its plans
        shared = self._shared.get(id(screening))
        if shared is not None and shared[0] is screening and shared[1] == as_of:
            to_date = shared[2]
        else:
            plans = tuple(map(screening.get, self._kinds))
            key = (as_of, *map(id, plans))
            to_date = self._plans.get(key)
            if to_date is None:
                to_date = self._to_date(key, as_of, plans)
            if len(self._shared) < _SHARED:
                self._shared[id(screening)] = (screening, as_of, to_date)
        days_ago, kept, items = to_date
        if not items:
            return self._comma.join(())
        agos = days_ago(values)
        keys = list(map({None: (patient.enrolled_on,)}.get, agos, agos))
        got = list(map(dict.get, kept, keys))
        if None in got:  # one not kept yet, or facts without the days since
            got = [
                self._item(patient, as_of, kind, plan, values[place], item_key, table)
                for (place, kind, plan, table, _prefix), item_key in zip(items, keys, strict=True)
            ]
        return self._comma.join([item[4] + due for item, due in zip(items, got, strict=True) if due])

    def _item(
        self, patient: Any, as_of: date, kind: str, plan: Any, ago: Any, key: Any, kept: dict
    ) -> Any:
        """One screening due item after its kind, kept in `kept` by `key` (unless the facts lack the
        days since)."""
        due = kept.get(key)
        if due is None:
            due = self._due(self._assessor._due_by(patient, kind, as_of, plan, ago), as_of)
            if ago is not NOT_A_FACT and len(kept) < _KEEP:
                kept[key] = due
        return due

    def _to_date(self, key: tuple, as_of: date, plans: tuple) -> tuple:
        """The listed kinds a patient is eligible for, in set order: (a taker of their days since the
        latest screening among the line's values, their kept items, per kind (its place among the
        values, kind, plan, its kept items, its item's text to the due date)). Kept with the plans it
        was made from (`key` holds their ids)."""
        items = []
        for place, (kind, plan) in enumerate(zip(self._kinds, plans, strict=True), start=_DAYS_AGO + 1):
            if plan is None or not plan.eligible or not plan.listed:
                continue
            kept = self._dues.setdefault((as_of, plan.interval_months, plan.first_due_days), {})
            items.append((place, kind, plan, kept, self._prefixes[kind]))
        places = [item[0] for item in items]
        days_ago = itemgetter(*places) if len(places) > 1 else lambda values: tuple(values[p] for p in places)
        to_date = (days_ago, tuple(item[3] for item in items), tuple(items))
        if len(self._plans) < _KEEP:
            self._plans[key] = to_date
            self._held.append(plans)  # kept alive, so no other object takes their ids
        return to_date

    def _due(self, due_by: date, as_of: date) -> Any:
        """A screening due item after its kind (due date, overdue), or "" (b"") past the look-ahead."""
        if due_by > as_of + timedelta(days=int(self._assessor._look_ahead)):
            return self._out("")
        return self._out(f'"{due_by.isoformat()}", "overdue": {"true" if due_by < as_of else "false"}}}')

    def _follow_up(self, patient: Any, as_of: date, days: int, ago: Any) -> Any:
        """The end of the line: `next_follow_up` and `warnings` as `Assessor._next_follow_up` has
        them, counted from the latest visit as the facts date it (`visit_days_ago` = `ago`, the visit
        `latest_visit_date` finds), kept by due day."""
        assessor = self._assessor
        if ago is NOT_A_FACT:  # facts without it: searched, as `_next_follow_up` does
            warnings: list[str] = []
            day = assessor._next_follow_up(patient, as_of, days, warnings)
            return self._out(_end(day, warnings))
        today = as_of.toordinal()
        due = (today - ago if ago is not None else patient.enrolled_on.toordinal()) + days
        if due < today:  # overdue → as soon as possible: as_of
            due = today
        known = self._follow_ups.get(due)
        if known is None:
            warnings = []
            day = assessor._working_day(date.fromordinal(due), warnings)
            known = self._out(_end(day, warnings))
            if len(self._follow_ups) < 1 << 16:
                self._follow_ups[due] = known
        return known


def _end(day: date, warnings: list[str]) -> str:
    """The end of the line, from the screenings' closing bracket."""
    return f'], "next_follow_up": "{day.isoformat()}", "warnings": {json_line(warnings)}}}'
