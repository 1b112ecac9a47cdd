"""The JSONL fast path: a msgspec decoder that accepts only *clean* records, those the import stores
without a word to say, in a seventh of the time pydantic takes (bench/import_bench.py).

pathways/models.py stays the model of record. The msgspec Structs here are generated from it, field
by field (`_struct`), with three additions that make "decoded" mean "nothing to report":
- every number of store/data/plausible.yaml carries its range (msgspec `Meta(ge, le)`), so a value
  that would be finding D101 fails the decoder;
- a visit's symptoms are the codes of the symptom vocabulary (D018 otherwise);
- an optional field that the line does not carry is `UNSET` in the patient and `ABSENT` (a NaN, which
  JSON cannot write) in a child item, so the keys a record was given can be counted (`keys_given`)
  for the repeated-key check (msgspec, like every JSON parser, keeps the last of two equal keys).
  sqlite3 binds a float as it is but sends every other non-text value through its adapter registry
  (a third of the insert time in bench/import_bench.py), and SQLite stores a NaN as NULL: so most of
  a child row's absent values cost nothing to bind.
What is left to check in Python (resident ID, dates against birth, death and as_of, conditions and
history codes listed once) is `is_clean`. A line that fails anything here is not judged here: it
takes pydantic's path (store/importer.py), which names every problem. So this module can only make
a clean import faster, never accept what pydantic would refuse; tests/test_fast_json.py checks that
claim on generated and on hostile lines.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import re
import sqlite3
import types
import typing
from enum import Enum
from operator import attrgetter

import annotated_types
import msgspec
from msgspec import UNSET, Meta, UnsetType
from pydantic import BaseModel

from pathways.models import Patient
from store.readers.jsonl import keys_written
from store.validation import _ITEM_MODELS, _valid_id, plausible_limits, symptom_codes

CHILD_LISTS = ("history", "visits", "labs", "screenings", "referrals")
ABSENT = float("nan")  # a child item's field the line did not give (msgspec reuses this one object)
FIELDS = {name: list(_ITEM_MODELS[name].model_fields) for name in CHILD_LISTS}  # astuple order of a child

# A child row's values go to sqlite3 straight from `msgspec.structs.astuple`: absent fields are
# ABSENT (NULL), a patient's UNSET (NULL) and a visit's symptoms a tuple (JSON text, or NULL when
# empty, as store/writer.py writes them). Process-wide, as the importer's adapters are; neither
# type is otherwise bindable.
sqlite3.register_adapter(UnsetType, {}.get)  # {}.get(UNSET) is None
sqlite3.register_adapter(tuple, lambda codes: json.dumps(list(codes), ensure_ascii=False) if codes else None)


def _strip_optional(annotation):
    """(inner annotation, optional?) of `X | None` / `Optional[X]`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
        raise TypeError(f"unsupported union {annotation!r}")
    return annotation, False


def _constraints(metadata) -> dict:
    """msgspec Meta keywords for the pydantic constraints this model uses; anything else is an
    error, so a new constraint in pathways/models.py cannot be silently dropped here."""
    meta: dict = {}
    for m in metadata:
        if isinstance(m, annotated_types.MinLen):
            meta["min_length"] = m.min_length
        elif getattr(m, "pattern", None) is not None:
            meta["pattern"] = _search_pattern(m.pattern)
        elif getattr(m, "strict", None) is True or getattr(m, "allow_inf_nan", None) is False:
            pass  # msgspec is strict, and JSON has no NaN or infinity (1e400 is out of range)
        elif type(m).__name__ == "_IsoDateSchema":
            pass  # a date from JSON is an ISO date string in both
        else:
            raise TypeError(f"no msgspec equivalent for constraint {m!r}")
    return meta


def _search_pattern(pattern: str) -> str:
    """A pydantic (Rust regex) pattern as msgspec applies it (Python `re.search`): the same, except
    that Python's `$` also matches before a final newline ("north\\n"), so an ending `$` becomes `\\Z`."""
    body = pattern[:-1] if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if "$" in body.replace("\\$", ""):
        raise TypeError(f"no msgspec equivalent for the pattern {pattern!r} (a `$` before its end)")
    return body + "\\Z" if body != pattern else pattern


# A pydantic pattern that only lets through one of a few plain words, whole: `^(north|south)$` (its
# `$` ends the text: Rust's regex has no final-newline exception).
_WORDS = re.compile(r"\^\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)\$")


def _words(metadata) -> tuple[str, ...] | None:
    """The words of a `_WORDS` pattern among `metadata`, else None."""
    pattern = next(m.pattern for m in metadata if getattr(m, "pattern", None) is not None)
    match = _WORDS.fullmatch(pattern)
    return tuple(match.group(1).split("|")) if match else None


# Validators of pathways/models.py that `is_clean` checks in its own way; any other validator would
# be a rule the fast path skips, so the Struct generator refuses the model until it is mirrored.
_MIRRORED_VALIDATORS = {"Patient": {"_conditions_once", "_history_once"}}


def _msgspec_type(annotation, metadata, where: str, limits: dict, symptoms: frozenset[str], defaults=False):
    """The msgspec type of one pydantic field type (inner: without Optional)."""
    meta = _constraints(metadata)
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        inner = []
        for e in extra:
            inner += getattr(e, "metadata", None) or [e]
        return _msgspec_type(base, [*metadata, *inner], where, limits, symptoms, defaults)
    if typing.get_origin(annotation) is tuple:
        item, ellipsis = typing.get_args(annotation)
        if ellipsis is not Ellipsis:
            raise TypeError(f"{where}: only tuple[X, ...] is supported")
        item_type = (
            typing.Literal[tuple(sorted(symptoms))]
            if where == "visits.symptoms"
            else _msgspec_type(item, [], where, limits, symptoms, defaults)
        )
        out = tuple[item_type, ...]
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out = _struct(annotation, where, limits, symptoms, defaults)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        out = typing.Literal[tuple(e.value for e in annotation)]
    elif annotation is float:
        out = float
        if where in limits:
            meta["ge"], meta["le"] = limits[where]
    elif annotation is str and set(meta) == {"pattern"} and (words := _words(metadata)):
        return typing.Literal[words]  # checked in C; a msgspec `pattern` is a Python re.search a value
    elif annotation in (str, bool, dt.date):
        out = annotation
    else:
        raise TypeError(f"{where}: no msgspec equivalent for {annotation!r}")
    return typing.Annotated[out, Meta(**meta)] if meta else out


def _struct(model: type[BaseModel], where: str, limits: dict, symptoms: frozenset[str], defaults=False):
    """The Struct of `model`. `defaults`: an absent optional field takes the model's default (None,
    ()), as in the pydantic model, instead of ABSENT / UNSET (the assessment's record, `decode_record`)."""
    decorators = model.__pydantic_decorators__
    validators = {
        *decorators.validators,
        *decorators.field_validators,
        *decorators.root_validators,
        *decorators.model_validators,
    }
    unmirrored = validators - _MIRRORED_VALIDATORS.get(model.__name__, set())
    if unmirrored:
        raise TypeError(
            f"{model.__name__}: validator(s) {sorted(unmirrored)} have no fast-path check (is_clean)"
        )
    table = where.split(".")[-1] if where else ""
    fields = []
    for name, info in model.model_fields.items():
        inner, optional = _strip_optional(info.annotation)
        typ = _msgspec_type(
            inner, info.metadata, f"{table}.{name}" if table else name, limits, symptoms, defaults
        )
        if info.is_required():
            fields.append((name, typ))
        elif defaults:
            fields.append((name, typ | None if optional else typ, info.default))
        elif table:  # a child item's absent field: ABSENT (stored as NULL); an explicit null is None
            fields.append((name, typ | None if optional else typ, ABSENT))
        else:  # a patient's absent field stays UNSET (an upsert keeps the stored value)
            fields.append((name, (typ | None if optional else typ) | UnsetType, UNSET))
    return msgspec.defstruct(
        f"{'Record' if defaults else 'Clean'}{model.__name__}",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        frozen=True,
        # a record holds no cycles: not tracked by the collector, it is made and freed faster
        # (the assessment's records; the importer's keep the default)
        gc=not defaults,
        module=__name__,
    )


@functools.cache
def decoder(defaults: bool = False) -> msgspec.json.Decoder:
    """The clean-record decoder (built once: plausible.yaml and the symptom vocabulary are read).
    `defaults`: absent fields hold the model's defaults (see `decode_record`), and numbers carry no
    plausible range: an implausible value is a finding that keeps the record, so the record read
    for an assessment is the same with it (and plausible.yaml is not read)."""
    if defaults:
        return msgspec.json.Decoder(record_type())
    limits = {
        f"{table}.{field}": (lim.min, lim.max)
        for table, fields in plausible_limits().items()
        for field, lim in fields.items()
    }
    for key in limits:
        table, field = key.split(".")
        if field not in _ITEM_MODELS[table].model_fields:
            raise ValueError(f"plausible.yaml: {key} is not a field of {table}")
    return msgspec.json.Decoder(_struct(Patient, "", limits, symptom_codes(), defaults))


@functools.cache
def record_type() -> type:
    """The Struct of `decode_record` (also filled from database rows by store/roster_source.py)."""
    return _struct(Patient, "", {}, symptom_codes(), True)


def decode(text: str | bytes):
    """The clean Struct of a JSONL line, or None (anything not clean: take pydantic's path)."""
    try:
        return decoder().decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


astuple = _astuple = msgspec.structs.astuple
_date_of = attrgetter("date")


def keys_given(record) -> int:
    """Keys the line gave the record, nested (a field left UNSET or ABSENT was not given; `count`
    finds ABSENT by identity, as no other NaN equals it)."""
    values = _astuple(record)
    total = len(values) - values.count(UNSET)
    for name in CHILD_LISTS:
        for child in getattr(record, name) or ():
            row = _astuple(child)
            total += len(row) - row.count(ABSENT)
    return total


def is_clean(record, line: str | bytes, as_of: dt.date | None) -> bool:
    """True when a decoded record needs no finding and no rejection: the rules of
    store/validation.py that the decoder's types cannot say, each in its cheap form."""
    if keys_written(line) != keys_given(record):
        return False  # a repeated key, or a colon inside a string value: the slow path decides
    return values_clean(record, as_of)


def values_clean(record, as_of: dt.date | None) -> bool:
    """`is_clean` past its repeated-key test."""
    born, sex = record.birth_date, record.sex
    number = record.id_number
    if number is not None and number is not UNSET and not _valid_id(number, born, sex):
        return False
    conditions = record.conditions
    if len(set(conditions)) != len(conditions):
        return False
    history = record.history or ()
    if history and len({h.code for h in history}) != len(history):
        return False
    died = record.deceased_on if record.deceased_on is not UNSET else None
    moved = record.moved_out_on if record.moved_out_on is not UNSET else None
    dates = [record.enrolled_on]
    if died is not None:
        dates.append(died)
    if moved is not None:
        dates.append(moved)
    for name in ("visits", "labs", "screenings", "referrals"):
        items = getattr(record, name)
        if items:
            days = list(map(_date_of, items))
            if len(set(days)) != len(days) and _repeats(items):
                return False  # the same row twice: the slow path stores it once with a D115
            dates += days
    dates += [h.date for h in history if type(h.date) is dt.date]
    if min(dates) <= born:
        return False
    upper = max(dates)
    return (as_of is None or upper <= as_of) and (died is None or upper <= died)


def _repeats(items) -> bool:
    """True when two items of a list are identical (their Structs are frozen: hashable)."""
    try:
        return len(set(items)) != len(items)
    except TypeError:  # an unhashable value inside: let the slow path decide
        return True


def decode_record(line: bytes | str):
    """The record of a clean JSONL line as a Struct that reads like its `Patient` (same field names
    and values; absent fields hold the model's defaults; enums are their plain strings), or None:
    anything not clean takes pydantic's path. Clean here allows what is only a finding: an
    implausible number (see `decoder`), a date before birth or after death (D107, D103): the
    record is the `Patient` `store.read_roster` would give. For code that reads records
    (pathways/facts.py through engine/assess.py), not for the importer's upsert, which needs to
    know what a line left out."""
    try:
        record = _record_decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return record if _record_taken(record, line) else None


def _record_decode(line: bytes | str):
    """`decoder(True).decode`, the decoder built at the first call."""
    global _record_decode
    _record_decode = decoder(True).decode
    return _record_decode(line)


_count = tuple.count
_NONES = itertools.repeat(None)
_symptoms_of = attrgetter("symptoms")
_code_of = attrgetter("code")
# Fields of a child item (its keys when none is left out), and the child lists as the last fields
# of a record, in CHILD_LISTS order (`_record_taken` reads them off its astuple).
_WIDTH_H, _WIDTH_V, _WIDTH_L, _WIDTH_S, _WIDTH_R = (len(FIELDS[name]) for name in CHILD_LISTS)
if tuple(Patient.model_fields)[-len(CHILD_LISTS) :] != CHILD_LISTS:
    raise TypeError(f"pathways/models.py: Patient's last fields are no longer {CHILD_LISTS}")


def _record_taken(record, line: bytes | str) -> bool:
    """True when a `decode_record` Struct is the record `store.read_roster` gives its line, with
    nothing to reject: the keys the line wrote (`keys_written`) are the record's fields that hold
    something other than their default (so no key repeats and no null or [] was written), and
    the rules of `values_clean` that reject a line or change its record hold (not the dates
    before birth, after death or after as_of: findings that keep the record as it is, and
    `store.read_roster` reads without an as_of). Each value read once: this is the assessment's
    hot path. tests/test_fast_json_record.py holds it to those rules, written the plain way."""
    values = _astuple(record)
    history, visits, labs, screenings, referrals = values[-5:]
    # the keys given: fields holding something other than their default (None, or () for a list:
    # `conditions` is never empty), children's counted in one go (their Nones counted in C)
    given = len(values) - values.count(None) - (not history) - (not visits) - (not labs)
    given -= (not screenings) + (not referrals)
    children = history + visits + labs + screenings + referrals
    if children:
        given += (
            _WIDTH_H * len(history)
            + _WIDTH_V * len(visits)
            + _WIDTH_L * len(labs)
            + _WIDTH_S * len(screenings)
            + _WIDTH_R * len(referrals)
            - sum(map(_count, map(_astuple, children), _NONES))
        )
        if visits:  # a visit's only field whose default is ()
            given -= list(map(_symptoms_of, visits)).count(())
    try:
        written = line.count(b":")  # `keys_written`, inline
    except TypeError:
        written = line.count(":")
    if written != given:
        return False
    # the rest of `values_clean(record, None)` that can refuse the line or change its record
    born = record.birth_date
    number = record.id_number
    if number is not None and not _valid_id(number, born, record.sex):
        return False
    conditions = record.conditions
    if len(conditions) > 1 and len(set(conditions)) != len(conditions):
        return False
    if len(history) > 1 and len(set(map(_code_of, history))) != len(history):
        return False
    for items in (visits, labs, screenings, referrals):
        if len(items) > 1:
            days = list(map(_date_of, items))
            if len(set(days)) != len(days) and _repeats(items):
                return False  # the same row twice: the slow path stores it once with a D115
    return born <= record.enrolled_on  # else D023; any other date out of order is a finding only


def to_builtins(record) -> dict:
    """The record as the dict pydantic would have read from the line (UNSET and ABSENT fields left
    out), for code that needs its `Patient` (the importer's upsert merges the Struct itself)."""
    data = msgspec.to_builtins(record, builtin_types=(dt.date,))
    for name in CHILD_LISTS:
        if name in data:
            data[name] = [{k: v for k, v in item.items() if v is not ABSENT} for item in data[name]]
    return data
