"""Validation of roster records beyond their types: resident ID (GB 11643 check digit, agreement
with birth date and sex), plausible ranges (store/data/plausible.yaml), dates against `as_of`,
death and birth, and the translation of pydantic errors into located `D` problems with hints.

Types and closed vocabularies are checked by pathways/models.py; this module decides what each
failure means for the import. Every rule here produces an `Issue` at a field path of the record
(`("visits", 2, "sbp")`); the reader that produced the record turns the path into a file, line and
column (store/readers/). An issue either rejects the record (`rejects=True`) or is a finding: the
record is kept and the finding reported (interchange.md §1: implausible values are never dropped).

Codes (stable, never reused; D0xx reject the row, D1xx are kept findings):

| code | rule | effect |
|---|---|---|
| D001 | line is not valid JSON | reject |
| D002 | duplicate key in a JSON object | reject |
| D003 | line is not a JSON object | reject |
| D010 | required field missing | reject |
| D011 | unknown field (did-you-mean) | reject |
| D012 | wrong type or value | reject |
| D013 | unknown condition (did-you-mean) | reject |
| D014 | malformed date | reject |
| D015 | not a number | reject |
| D016 | unknown code (sex, screening kind, history code …) | reject |
| D017 | not a yes/no value | reject |
| D018 | unknown symptom code (not in the guideline vocabulary; did-you-mean) | reject |
| D020 | resident ID malformed or wrong check digit | reject |
| D021 | patient_id repeated in one file | reject (the first occurrence is kept) |
| D022 | birth date after as_of | reject (age would be negative) |
| D023 | birth date after enrolment | reject (one of the two is wrong, age cannot be trusted) |
| D024 | row names a patient id absent from the patients table | reject |
| D025 | row belongs to a rejected patient | reject |
| D026 | row has no patient id | reject |
| D027 | an events file's row names a person not in the register | reject (nobody is created) |
| D030 | file cannot be read (encoding, format, missing id column) | whole file rejected |
| D101 | value outside its plausible range | kept |
| D102 | date after as_of | kept |
| D103 | date after deceased_on | kept |
| D104 | birth date disagrees with the resident ID | kept |
| D105 | sex disagrees with the resident ID | kept |
| D106 | legacy 15-digit resident ID upgraded to 18 | kept |
| D107 | date before birth_date | kept |
| D108 | column or sheet not recognised, ignored | kept |
| D109 | value with no interchange field or code (column, values, counts) | kept (value not imported) |
| D110 | how a flat export's conditions / enrolled_on were filled | kept (statement) |
| D111 | an events file's value disagrees with the register (sex, birth date, smoker) | kept |
| D112 | people of an events file not in the register: count and first row | kept (statement) |
| D113 | nobody of an events file is in the register | kept (statement) |
| D114 | two columns only a code suffix tells apart, not mapped | kept (columns not read) |
| D115 | a visit, lab, screening or referral repeats an earlier one exactly (date, values) | kept once |
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import operator
import os
import pickle
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pathways import resident_id
from pathways.errors import Problem
from pathways.models import HistoryItem, Lab, Patient, Referral, Screening, Visit
from pathways.vocab import Condition

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    code: str
    loc: Loc  # field path in the record; () for the record as a whole
    fields: dict[str, Any]  # the template fields of `code` (pathways/codes/roster.py)
    rejects: bool = False

    def problem(self, file=None, line=None, column=None, context=None) -> Problem:
        """The issue located in its file, worded by its code's templates (either language)."""
        return Problem.of(self.code, file=file, line=line, column=column, context=context, **self.fields)

    @property
    def message(self) -> str:
        return self.problem().message


def _both(en: str, zh: str) -> dict[str, str]:
    """A field value worded in both languages (rendered by --lang)."""
    return {"en": en, "zh": zh}


@dataclass(frozen=True)
class Limit:
    min: float
    max: float
    unit: str


@functools.cache
def plausible_limits() -> dict[str, dict[str, Limit]]:
    """{"visits": {"sbp": Limit(50, 300, "mmHg")}, "labs": {…}} from store/data/plausible.yaml."""
    from ruamel.yaml import YAML  # here: a run that reads no YAML does not import it

    text = resources.files("store").joinpath("data/plausible.yaml").read_text(encoding="utf-8")
    raw = YAML(typ="safe").load(text)
    return {
        table: {f: Limit(float(v["min"]), float(v["max"]), str(v["unit"])) for f, v in fields.items()}
        for table, fields in raw.items()
    }


def loc_text(loc: Loc) -> str:
    """("visits", 2, "sbp") → "visits[2].sbp"."""
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def show(loc: Loc, value: Any) -> str:
    """A value as a message may show it: resident IDs and names masked."""
    field = next((s for s in reversed(loc) if isinstance(s, str)), "")
    if field == "id_number" and isinstance(value, str):
        return repr(resident_id.mask(value))
    if field == "name" and isinstance(value, str):
        return repr(resident_id.mask_name(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"  # a nested object may carry IDs and names


def did_you_mean(value: Any, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _suggest(value: Any, choices: list[str], known_en: str, known_zh: str) -> dict[str, str]:
    """The closest choice as a did-you-mean, else the list of choices, in both languages."""
    match = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    if match:
        return _both(f"did you mean {match[0]!r}?", f"是否应为 {match[0]!r}？")
    listed = ", ".join(choices)
    return _both(f"{known_en} {listed}", f"{known_zh}{listed}")


# pydantic error types a record commonly fails with, worded in Chinese (anything else: pydantic's
# own English sentence, with the value).
_PYDANTIC_ZH = {
    "string_type": "应为文本",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "too_short": "项数太少",
    "too_long": "项数太多",
    "string_too_short": "不能为空",
    "string_too_long": "文本太长",
    "greater_than": "太小",
    "greater_than_equal": "太小",
    "less_than": "太大",
    "less_than_equal": "太大",
    "value_error": "值无效",
}


# ---- pydantic errors → issues -------------------------------------------------------------------

_ITEM_MODELS: dict[str, type[BaseModel]] = {
    "history": HistoryItem,
    "visits": Visit,
    "labs": Lab,
    "screenings": Screening,
    "referrals": Referral,
}


def _model_at(loc: Loc, root: type[BaseModel] = Patient) -> type[BaseModel]:
    """The model whose field the last step of `loc` names."""
    if root is Patient and len(loc) >= 3 and loc[0] in _ITEM_MODELS:
        return _ITEM_MODELS[str(loc[0])]
    return root


def _enum_choices(err: dict) -> list[str]:
    expected = (err.get("ctx") or {}).get("expected", "")
    return [part.strip().strip("'\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def pydantic_issues(exc: ValidationError, root: type[BaseModel] = Patient, prefix: Loc = ()) -> list[Issue]:
    """One rejecting issue per pydantic error, with a code, the value and what would be right."""
    issues = []
    errors = exc.errors(include_url=False)
    for err in errors:
        loc = prefix + tuple(err["loc"])
        if err["type"] == "too_short" and any(
            len(o["loc"]) > len(err["loc"]) and o["loc"][: len(err["loc"])] == err["loc"] for o in errors
        ):
            continue  # "no item left" after an item failed: the item's own error says it
        kind, value, where = err["type"], err.get("input"), loc_text(loc)
        msg = str(err.get("msg", ""))
        shown = show(loc, value)
        if kind == "missing":
            issues.append(Issue("D010", loc, {"where": where}, rejects=True))
        elif kind == "extra_forbidden":
            field = str(loc[-1])
            choices = list(_model_at(loc[len(prefix) :], root).model_fields)
            how = _suggest(field, choices, "known fields:", "已知字段：")
            fields = {"where": where, "field": repr(field), "how": how}
            issues.append(Issue("D011", loc, fields, rejects=True))
        elif kind == "enum" and len(loc) >= 1 and "conditions" in loc:
            how = _suggest(value, [c.value for c in Condition], "write one of", "请写其中之一：")
            issues.append(Issue("D013", loc, {"where": where, "value": shown, "how": how}, rejects=True))
        elif kind in ("enum", "literal_error"):
            how = _suggest(value, _enum_choices(err), "write one of", "请写其中之一：")
            issues.append(Issue("D016", loc, {"where": where, "value": shown, "how": how}, rejects=True))
        elif kind.startswith("date") or "expected a date" in msg:
            how = _both(
                "write the date as YYYY-MM-DD, e.g. 2026-03-12", "日期请写成 YYYY-MM-DD，如 2026-03-12"
            )
            issues.append(Issue("D014", loc, {"where": where, "value": shown, "how": how}, rejects=True))
        elif kind.startswith(("float", "int", "finite")) or "expected a number" in msg:
            how = _both(
                "write a plain number such as 150 or 7.9, without quotes or units",
                "请写纯数字，如 150 或 7.9，不加引号或单位",
            )
            issues.append(Issue("D015", loc, {"where": where, "value": shown, "how": how}, rejects=True))
        elif kind.startswith("bool"):
            how = _both("write true or false", "请写 true 或 false")
            issues.append(Issue("D017", loc, {"where": where, "value": shown, "how": how}, rejects=True))
        else:
            problem = _both(msg, _PYDANTIC_ZH.get(kind, msg))
            fields = {"where": where, "problem": problem, "value": shown}
            issues.append(Issue("D012", loc, fields, rejects=True))
    return issues


# ---- record-level rules -------------------------------------------------------------------------

_REPEATABLE = ("visits", "labs", "screenings", "referrals")


def drop_repeated_rows(patient: Patient, issues: list[Issue]) -> tuple[Patient, list[Issue]]:
    """The record with every dated item that repeats an earlier one of its list exactly (same date
    and values: the same row exported twice) stored once, and a D115 finding at each repeat. Two
    different readings of one day are both kept (which counts is the guideline set's rule). The
    issues found on the record as given are returned too, less those at a dropped item (their
    places are those of the record as given)."""
    fields = patient.__dict__
    dropped: set[tuple[str, int]] = set()
    found: list[Issue] = []
    update = {}
    for table in _REPEATABLE:
        items = fields[table]
        if len(items) < 2 or len({item.date for item in items}) == len(items):
            continue  # the common case: no two items of one date
        first: dict[Any, int] = {}
        kept = []
        for i, item in enumerate(items):
            earlier = first.setdefault(item, i)
            if earlier == i:
                kept.append(item)
                continue
            dropped.add((table, i))
            where, was = loc_text((table, i)), loc_text((table, earlier))
            said = {"where": where, "first": was, "date": item.date.isoformat()}
            found.append(Issue("D115", (table, i), said))
        if len(kept) != len(items):
            update[table] = kept
    if not update:
        return patient, issues
    kept_issues = [i for i in issues if not (len(i.loc) >= 2 and (i.loc[0], i.loc[1]) in dropped)]
    return patient.model_copy(update=update), kept_issues + found



def check_patient(patient: Patient, as_of: date | None) -> list[Issue]:
    """Every resident-ID, plausibility and date rule for one validated record. `as_of` None skips
    the future-date rules (reading a file without an evaluation date)."""
    issues: list[Issue] = []
    issues += check_resident_id(patient)
    issues += check_plausible(patient)
    issues += check_dates(patient, as_of)
    issues += check_symptoms(patient)
    return issues


@functools.cache
def symptom_codes() -> frozenset[str]:
    """The symptom vocabulary of the default guideline set (guidelines/national-default/vocabulary.yaml).
    A misspelt danger symptom must not pass silently: it would miss an urgent referral. Parsed once a
    process, or taken from `keep_symptom_codes` when it read the same file's codes from its cache."""
    text = _vocabulary_text()
    kept = _KEPT_SYMPTOMS.get(text)
    return kept if kept is not None else _parse_symptoms(text)


_KEPT_SYMPTOMS: dict[str, frozenset[str]] = {}  # vocabulary.yaml's text → its codes (`keep_symptom_codes`)


def _vocabulary_text() -> str:
    vocabulary = resources.files("guidelines").joinpath("national-default/vocabulary.yaml")
    return vocabulary.read_text(encoding="utf-8")


def _parse_symptoms(text: str) -> frozenset[str]:
    from ruamel.yaml import YAML  # here: a warm start (`keep_symptom_codes`) does not import it

    doc = YAML(typ="safe").load(text)
    return frozenset(doc["vocabulary"]["symptoms"])


def keep_symptom_codes(cache_dir: str | Path) -> None:
    """Start-up of `sangao assess`: `symptom_codes` from `cache_dir` (a pickled frozenset keyed by the
    vocabulary file's bytes) when an earlier run parsed the same file, else parsed and kept there.
    Parsing the YAML takes a tenth of a small run's CPU time; reading the pickle next to nothing."""
    text = _vocabulary_text()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    path = Path(cache_dir) / f"symptoms-{digest}.pickle"
    try:
        codes = pickle.loads(path.read_bytes())  # noqa: S301 - our own file, keyed by its input
        if type(codes) is not frozenset or not all(type(c) is str for c in codes):
            raise ValueError("not a set of codes")
    except Exception:  # noqa: BLE001 - missing, damaged or from elsewhere: parsed afresh
        codes = _parse_symptoms(text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(codes, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache folder: parsed each run
    _KEPT_SYMPTOMS[text] = codes


def check_symptoms(patient: Patient) -> list[Issue]:
    codes = symptom_codes()
    issues: list[Issue] = []
    for i, visit in enumerate(patient.visits):
        for j, code in enumerate(visit.symptoms):
            if code not in codes:
                close = difflib.get_close_matches(code, sorted(codes), n=1)
                how = _both(
                    (f"did you mean {close[0]!r}? " if close else "")
                    + "`sangao guidelines effective` and vocabulary.yaml list the symptom codes",
                    (f"是否应为 {close[0]!r}？" if close else "")
                    + "症状代码见 `sangao guidelines effective` 和 vocabulary.yaml",
                )
                fields = {"value": repr(code), "how": how}
                issues.append(Issue("D018", ("visits", i, "symptoms", j), fields, rejects=True))
    return issues


def _valid_id(number: str, birth: date, sex: str) -> bool:
    """True when `number` is a well-formed 18-character resident ID whose birth date and sex agree
    with the record: the common case, decided in well under a microsecond (pathways/resident_id.py
    computes the same check digit one character at a time). Anything else takes the full path.

    The GB 11643 weights are 2**k mod 11 (k = 17 for the first digit down to 1 for the 17th), and
    13 is 2 mod 11: so the weighted sum is 2 * (the 17 digits read in base 13) mod 11, which `int`
    computes in C."""
    if len(number) != 18 or not number.isascii():
        return False
    head = number[:17]
    if not head.isdigit():  # ASCII: 0-9 only (int would also take signs, spaces and underscores)
        return False
    if number[17] != _ID_CHECK[2 * int(head, 13) % 11] or sex != ("M" if ord(number[16]) & 1 else "F"):
        return False
    return int(head[6:14]) == birth.year * 10000 + birth.month * 100 + birth.day


_ID_CHECK = "10X98765432"


def check_resident_id(patient: Patient) -> list[Issue]:
    number = patient.id_number
    if number is None:
        return []
    if _valid_id(number, patient.birth_date, patient.sex.value):
        return []
    loc: Loc = ("id_number",)
    wrong = resident_id.problem(number)
    if wrong is not None:
        problem = _both(wrong, resident_id.problem(number, "zh"))
        return [Issue("D020", loc, {"value": show(loc, number), "problem": problem}, rejects=True)]
    issues = []
    born = resident_id.birth_date(number)
    if born != patient.birth_date:
        fields = {"given": patient.birth_date.isoformat(), "in_id": born.isoformat()}
        issues.append(Issue("D104", ("birth_date",), fields))
    sex = resident_id.sex(number)
    if sex != patient.sex.value:
        issues.append(Issue("D105", ("sex",), {"given": patient.sex.value, "in_id": sex}))
    return issues


def check_plausible(patient: Patient) -> list[Issue]:
    fields = patient.__dict__  # pydantic keeps field values here; the hot loop of a large import
    for table, all_plausible in _plausibility_tests():
        for item in fields[table]:
            if not all_plausible(item.__dict__):
                return _implausible(patient)
    return []


@functools.cache
def _plausibility_tests() -> tuple[tuple[str, Any], ...]:
    """Per table of store/data/plausible.yaml, one function of an item's field dict that is true
    when every limited value is absent or within its range: the limits compiled into a single
    expression (`(v := d["sbp"]) is None or 50.0 <= v <= 300.0 and …`), which tests a visit in a
    third of the time of a loop over the limits. The limits stay in the YAML; this only reads them."""
    tests = []
    for table, limits in _limit_rows():
        known = _ITEM_MODELS[table].model_fields
        terms = []
        for name, low, high, _ in limits:
            if name not in known or not name.isidentifier():
                raise ValueError(f"plausible.yaml: {table}.{name} is not a field of {table}")
            terms.append(f"((v := d[{name!r}]) is None or {float(low)!r} <= v <= {float(high)!r})")
        if terms:
            tests.append((table, eval(f"lambda d: {' and '.join(terms)}")))  # noqa: S307 (our own YAML)
    return tuple(tests)


def _implausible(patient: Patient) -> list[Issue]:
    """The D101 findings of a record with at least one value outside its plausible range."""
    issues = []
    for table, limits in _limit_rows():
        for i, item in enumerate(getattr(patient, table)):
            d = item.__dict__  # pydantic keeps field values here; the hot loop of a large import
            for field, low, high, limit in limits:
                value = d[field]
                if value is not None and not (low <= value <= high):
                    loc = (table, i, field)
                    fields = {
                        "where": loc_text(loc),
                        "value": show(loc, value),
                        "unit": limit.unit,
                        "low": show(loc, limit.min),
                        "high": show(loc, limit.max),
                    }
                    issues.append(Issue("D101", loc, fields))
    return issues


@functools.cache
def _limit_rows() -> tuple[tuple[str, tuple[tuple[str, float, float, Limit], ...]], ...]:
    return tuple(
        (table, tuple((f, lim.min, lim.max, lim) for f, lim in fields.items()))
        for table, fields in plausible_limits().items()
    )


def _dated_items(patient: Patient):
    for table in ("history", "visits", "labs", "screenings", "referrals"):
        for i, item in enumerate(getattr(patient, table)):
            if item.date is not None:
                yield (table, i, "date"), item.date
    for field in ("enrolled_on", "deceased_on", "moved_out_on"):
        value = getattr(patient, field)
        if value is not None:
            yield (field,), value


def _dates_within(patient: Patient, born: date, as_of: date | None, died: date | None) -> bool:
    """True when every dated item and patient date lies after `born` and on or before `as_of` and
    `died`: the common case, where the item-by-item rules below find nothing."""
    fields = patient.__dict__
    dates = [value for value in (fields["enrolled_on"], died, fields["moved_out_on"]) if value is not None]
    for table in _DATED_TABLES:
        dates += map(_date_of, fields[table])
    if fields["history"]:
        dates += [value for value in map(_date_of, fields["history"]) if value is not None]
    if not dates:
        return True
    upper = min(as_of, died) if as_of is not None and died is not None else (as_of or died)
    return min(dates) > born and (upper is None or max(dates) <= upper)


_DATED_TABLES = ("visits", "labs", "screenings", "referrals")  # date required; history's is optional
_date_of = operator.attrgetter("date")


def check_dates(patient: Patient, as_of: date | None) -> list[Issue]:
    issues = []
    born, died = patient.birth_date, patient.deceased_on
    if as_of is not None and born > as_of:
        fields = {"born": born.isoformat(), "as_of": as_of.isoformat()}
        issues.append(Issue("D022", ("birth_date",), fields, rejects=True))
    if born > patient.enrolled_on:
        fields = {"born": born.isoformat(), "enrolled": patient.enrolled_on.isoformat()}
        issues.append(Issue("D023", ("birth_date",), fields, rejects=True))
    if _dates_within(patient, born, as_of, died):
        return issues
    for loc, value in _dated_items(patient):
        if value <= born or (as_of is not None and value > as_of) or (died is not None and value > died):
            where = loc_text(loc)
        else:
            continue
        if as_of is not None and value > as_of:
            fields = {"where": where, "date": value.isoformat(), "as_of": as_of.isoformat()}
            issues.append(Issue("D102", loc, fields))
        if died is not None and loc != ("deceased_on",) and value > died:
            fields = {"where": where, "date": value.isoformat(), "died": died.isoformat()}
            issues.append(Issue("D103", loc, fields))
        if value < born and loc != ("enrolled_on",):
            fields = {"where": where, "date": value.isoformat(), "born": born.isoformat()}
            issues.append(Issue("D107", loc, fields))
    return issues
