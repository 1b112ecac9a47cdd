"""Authors' examples: the `*.cases.yaml` beside each guideline file (docs/guideline-language.md §5),
loaded into plain models with T-coded problems at file:line:col. Running them needs the engine
(engine/cases_runner.py); this module only reads and validates them.

    guideline: htn                      # the sibling file's `guideline:`
    as_of: 2026-11-30
    patient: {sex: F, birth_date: 1971-04-12, conditions: [hypertension], enrolled_on: 2023-02-01}
    cases:
      urgent_exactly_at_180:
        given: {visits: [{date: 2026-11-20, sbp: 180, dbp: 96}]}
        expect: {color: red, referral: {urgency: urgent}, reasons_include: [htn.urgent_bp]}

An overlay's cases file may add `expected_changes: {<base cases file stem>::<case name>: why}`,
the base cases it changes on purpose (engine/cases_runner.py runs the base cases against it).

Codes (templates in pathways/codes/cases.py): T101…T103 coverage, T121/T122 stale confirmations
and T130…T134 failing cases are the engine's (engine/cases_runner.py); here T110 unreadable/not a
mapping, T111 YAML syntax, T112 duplicate key, T113 unknown key, T114 wrong type, T115 missing
key, T116 bad value, T117 unknown `expect` key, T118 a case without `expect` or `steps`, T119
`guideline:` differs from the sibling file's, T120 malformed expect value, T123 a file refused by
the reading limits (guidelines/yaml_source.py).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from guidelines.yaml_source import (
    T_CODES,
    Loc,
    SourceFile,
    did_you_mean,
    plain,
    read_yaml,
    render_path,
    validation_problems,
)
from pathways.errors import Problem, SangaoError
from pathways.models import Assessment, ControlOut, Patient, ReferralOut

SUFFIX = ".cases.yaml"
LIST_EXPECTATIONS = (
    "reasons",
    "reasons_include",
    "reasons_exclude",
    "due_include",
    "due_exclude",
    "overdue_include",
    "overdue_exclude",
)
EXPECT_KEYS = tuple(sorted({*Assessment.model_fields, *LIST_EXPECTATIONS, "facts"} - {"patient_id", "as_of"}))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Step(_Strict):
    """One day of a time-travel case."""

    as_of: date
    given: dict[str, Any] | None = Field(None, description="merged over the case's given for this step")
    expect: dict[str, Any]


class CaseSpec(_Strict):
    given: dict[str, Any] = Field(
        default_factory=dict, description="interchange fields merged over `patient`"
    )
    as_of: date | None = Field(None, description="default: the file's as_of")
    expect: dict[str, Any] | None = None
    steps: list[Step] = Field(default_factory=list)
    note: StrictStr | None = None


class CaseFileDoc(_Strict):
    """A `*.cases.yaml` file as written."""

    guideline: StrictStr
    as_of: date
    patient: dict[str, Any] = Field(default_factory=dict)
    cases: dict[str, CaseSpec] = Field(min_length=1)
    expected_changes: dict[str, StrictStr] = Field(
        default_factory=dict,
        description="overlays: base cases whose outcome this overlay changes on purpose "
        "(`hypertension::case_name` → why)",
    )


class CaseFile(CaseFileDoc):
    path: str = Field(description="the file as messages name it")
    case_lines: dict[str, int] = Field(default_factory=dict, description="line of each case's name")
    change_lines: dict[str, int] = Field(
        default_factory=dict, description="line of each `expected_changes` entry"
    )


def load_case_file(path: Path, guideline: str | None = None) -> CaseFile:
    """One cases file; `guideline`: the sibling guideline file's id, checked when given."""
    src = read_yaml(path, T_CODES)
    problems: list[Problem] = []
    if not isinstance(src.doc, dict):
        raise SangaoError.of("T110", file=src.display, line=1, column=1)
    data = plain(src.doc)
    try:
        doc = CaseFileDoc.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(src, CaseFileDoc, exc, data, T_CODES, named_dicts=("cases",))
        doc = None
    if guideline is not None and isinstance(data.get("guideline"), str) and data["guideline"] != guideline:
        problems.append(src.problem_of("T119", ("guideline",), given=data["guideline"], sibling=guideline))
    seen: set[tuple] = set()
    for name, case in (data.get("cases") or {}).items() if isinstance(data.get("cases"), dict) else ():
        problems += _check_case(src, str(name), case)
        if doc is not None and name in doc.cases:
            for p in _check_patient(src, doc, str(name)):
                if (p.code, p.line, p.column, p.message) not in seen:  # the shared `patient` once
                    seen.add((p.code, p.line, p.column, p.message))
                    problems.append(p)
    if problems or doc is None:
        raise SangaoError(
            sorted(problems, key=lambda p: (p.line or 0, p.column if isinstance(p.column, int) else 0))
        )
    lines = {name: src.doc["cases"].lc.key(name)[0] + 1 for name in doc.cases}
    changes = src.doc.get("expected_changes") or {}
    change_lines = {name: changes.lc.key(name)[0] + 1 for name in doc.expected_changes}
    return CaseFile(**dict(doc), path=src.display, case_lines=lines, change_lines=change_lines)


def load_case_files(set_path: Path | str) -> list[CaseFile]:
    """Every `*.cases.yaml` of a set folder, each checked against its sibling guideline file; every
    problem of every file in one SangaoError."""
    folder = Path(set_path)
    files: list[CaseFile] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        sibling = path.with_name(path.name.removesuffix(SUFFIX) + ".yaml")
        guideline = _guideline_of(sibling)
        try:
            files.append(load_case_file(path, guideline))
        except SangaoError as exc:
            problems += exc.problems
    if problems:
        raise SangaoError(problems)
    return files


def _guideline_of(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        doc = read_yaml(path).doc
    except SangaoError:
        return None  # the guideline loader reports that file
    value = doc.get("guideline") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _check_patient(src: SourceFile, doc: CaseFileDoc, name: str) -> list[Problem]:
    """The case's patient (file `patient`, then the case's `given`, then each step's `given`) must be a
    valid interchange record; each problem points at the part of the file that wrote the bad value."""
    case = doc.cases[name]
    layers: list[tuple[Loc, dict]] = [(("patient",), doc.patient), (("cases", name, "given"), case.given)]
    layers += [
        (("cases", name, "steps", i, "given"), step.given) for i, step in enumerate(case.steps) if step.given
    ]
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for upto in range(2, len(layers) + 1):
        merged: dict[str, Any] = {"patient_id": name}
        for _, part in layers[:upto]:
            merged.update(part)
        try:
            Patient.model_validate(merged)
            continue
        except ValidationError as exc:

            def where(loc: Loc, _layers=layers[:upto]) -> tuple[Loc, str]:
                for prefix, part in reversed(_layers):
                    if loc and loc[0] in part:
                        label = (
                            "patient"
                            if prefix == ("patient",)
                            else f"CaseSpec(name='{name}') > " + render_path(list(prefix[2:]))
                        )
                        return prefix + tuple(loc), label
                return ("cases", name), f"CaseSpec(name='{name}')"

            for p in validation_problems(src, Patient, exc, merged, T_CODES, where=where):
                key = (p.code, p.line, p.column, p.message)
                if key not in seen:
                    seen.add(key)
                    problems.append(p)
    return problems


def _check_case(src: SourceFile, name: str, case: Any) -> list[Problem]:
    loc = ("cases", name)
    if not isinstance(case, dict):
        return []  # the model already says it is not a mapping
    problems: list[Problem] = []
    if "expect" not in case and "steps" not in case:
        problems.append(src.problem_of("T118", loc, at_key=True, context=f"at CaseSpec(name='{name}')",
                                       case=name))
    if isinstance(case.get("expect"), dict):
        problems += _check_expect(src, name, case["expect"], (*loc, "expect"))
    for i, step in enumerate(case.get("steps") or []):
        if isinstance(step, dict) and isinstance(step.get("expect"), dict):
            problems += _check_expect(src, name, step["expect"], (*loc, "steps", i, "expect"))
    return problems


def _check_expect(src: SourceFile, name: str, expect: dict, loc: tuple) -> list[Problem]:
    problems: list[Problem] = []
    context = "at " + render_path(list(loc[2:]), f"CaseSpec(name='{name}')")
    for key, value in expect.items():
        where = (*loc, key)
        if key not in EXPECT_KEYS:
            close = did_you_mean(str(key), EXPECT_KEYS)
            problems.append(
                src.problem_of(
                    "T117", where, at_key=True, context=context, key=key, keys=", ".join(EXPECT_KEYS),
                    **({"variant": "close", "close": close} if close else {}),
                )
            )
        elif key in LIST_EXPECTATIONS:
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                example = "htn.urgent_bp" if key.startswith("reasons") else "ecg"
                problems.append(src.problem_of("T120", where, context=context, key=key, example=example))
        elif key == "facts":
            if not isinstance(value, dict):
                problems.append(src.problem_of("T120", where, context=context, variant="facts"))
        elif key in ("control", "referral"):
            fields = ControlOut.model_fields if key == "control" else ReferralOut.model_fields
            if value is None and key == "referral":
                continue
            if not isinstance(value, dict):
                problems.append(
                    src.problem_of("T120", where, context=context, variant="mapping", key=key,
                                   fields=", ".join(fields))
                )
                continue
            for sub in value:
                if sub not in fields:
                    close = did_you_mean(str(sub), fields)
                    problems.append(
                        src.problem_of(
                            "T117", (*where, sub), at_key=True, context=context, key=f"{key}.{sub}",
                            **({"variant": "close", "close": close} if close
                               else {"variant": "field", "fields": ", ".join(fields)}),
                        )
                    )
    return problems
