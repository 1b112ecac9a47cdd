"""Run the authors' `*.cases.yaml` examples against a guideline set, and measure their coverage.

A case's `given` is merged over the file's `patient`, assessed at the case's (or step's) `as_of`,
and only what `expect` lists is checked. Coverage: every rule fired by some case, every decision
table row hit, and both sides of every numeric threshold seen (a value on the threshold and one just
past it), reported as T-coded problems. pytest (tests/test_guideline_cases.py) and
`sangao guidelines test` run the same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from engine.assess import Assessed, Assessor
from engine.python_runtime import PythonRuntime
from engine.thresholds import iter_comparisons
from guidelines.cases_file import CaseFile
from guidelines.schema import Count
from pathways.errors import Problem
from pathways.facts import FACTS
from pathways.models import Patient

_LIST_EXPECTATIONS = {
    "reasons_include", "reasons_exclude", "due_include", "due_exclude", "overdue_include", "overdue_exclude",
}


@dataclass
class CaseRun:
    file: str
    name: str
    as_of: date
    failures: list[str] = field(default_factory=list)
    line: int | None = None

    @property
    def id(self) -> str:
        stem = self.file.rsplit("/", 1)[-1].removesuffix(".cases.yaml")
        return f"{stem}::{self.name}@{self.as_of}"


@dataclass
class CasesReport:
    runs: list[CaseRun]
    coverage: list[Problem]

    @property
    def failed(self) -> list[CaseRun]:
        return [r for r in self.runs if r.failures]


def build_patient(case_file: CaseFile, name: str, given: dict[str, Any]) -> Patient:
    data = {"patient_id": name, **(case_file.patient or {}), **(given or {})}
    return Patient.model_validate(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return abs(float(expected) - float(actual)) < 1e-9
        except (TypeError, ValueError):
            return False
    return expected == actual


def check_expectations(expect: dict[str, Any], assessed: Assessed) -> list[str]:
    """Differences between `expect` and the assessment, one readable line each."""
    out = assessed.assessment.model_dump(mode="json")
    facts = assessed.evaluation.facts
    fired = {r["rule"] for r in out["reasons"]}
    due = {s["kind"] for s in out["screenings_due"]}
    overdue = {s["kind"] for s in out["screenings_due"] if s["overdue"]}
    failures: list[str] = []
    for key, want in expect.items():
        want = _jsonable(want)
        if key == "reasons":
            if set(want) != fired:
                failures.append(f"reasons: expected exactly {sorted(want)}, got {sorted(fired)}")
        elif key in _LIST_EXPECTATIONS:
            have = {"reasons": fired, "due": due, "overdue": overdue}[key.split("_")[0]]
            if key.endswith("_include"):
                missing = [w for w in want if w not in have]
                if missing:
                    failures.append(f"{key}: {missing} not in {sorted(have)}")
            else:
                present = [w for w in want if w in have]
                if present:
                    failures.append(f"{key}: {present} present in {sorted(have)}")
        elif key == "facts":
            for name, value in want.items():
                actual = _jsonable(facts.get(name))
                if not _same(value, actual):
                    failures.append(f"facts.{name}: expected {value!r}, got {actual!r}")
        elif key in ("control", "referral") and isinstance(want, dict):
            actual = out.get(key)
            if actual is None:
                failures.append(f"{key}: expected {want!r}, got null")
                continue
            for sub, value in want.items():
                got = actual.get(sub)
                if sub == "reasons" and isinstance(got, list):
                    ok = set(value) == set(got)
                else:
                    ok = _same(value, got)
                if not ok:
                    failures.append(f"{key}.{sub}: expected {value!r}, got {got!r}")
        else:
            actual = out.get(key)
            if not _same(want, actual):
                failures.append(f"{key}: expected {want!r}, got {actual!r}")
    return failures


def run_cases(assessor: Assessor, case_files: Iterable[CaseFile]) -> CasesReport:
    runs: list[CaseRun] = []
    fired_rules: set[str] = set()
    seen: dict[str, list[Any]] = defaultdict(list)
    hits: set[tuple[str, int]] = set()
    find_hits = _table_hit_finder(assessor)
    for cf in case_files:
        for name, case in cf.cases.items():
            steps = case.steps or [None]
            for step in steps:
                as_of = (step.as_of if step else None) or case.as_of or cf.as_of
                expect = (step.expect if step else case.expect) or {}
                given = {**(case.given or {}), **((step.given or {}) if step else {})}
                run = CaseRun(cf.path, name, as_of, line=cf.case_lines.get(name))
                runs.append(run)
                try:
                    patient = build_patient(cf, name, given)
                    assessed = assessor.assess(patient, as_of)
                except Exception as exc:  # a broken case is a failure, reported, not a crash
                    run.failures.append(f"could not assess: {type(exc).__name__}: {exc}")
                    continue
                run.failures.extend(check_expectations(expect, assessed))
                fired_rules.update(assessed.evaluation.fired)
                hits.update(find_hits(assessed.evaluation.facts))
                for fact, value in assessed.evaluation.facts.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        seen[fact].append(value)
    return CasesReport(runs, coverage_problems(assessor, fired_rules, seen, hits))


def _table_hit_finder(assessor: Assessor):
    """facts → {(table id, row index)} of the rows definitely hit (the first one for `first` tables).
    Re-runs the table's layer on the finished facts with the plain-Python runtime: rows read only
    facts of earlier layers, so the result is the one the evaluation saw."""
    program = assessor.evaluator.program
    runtime = PythonRuntime(program)
    tables = [(layer.index, d) for layer in program.layers for d in layer.derives if d.kind == "table"]

    def hits(facts: dict[str, Any]) -> set[tuple[str, int]]:
        out: set[tuple[str, int]] = set()
        results: dict[int, Any] = {}
        for index, table in tables:
            res = results.setdefault(index, runtime.run(index, facts))
            for row, branch in enumerate(table.branches):
                if res[branch.cond][0]:
                    out.add((table.id, row))
                    if table.hit_policy == "first":
                        break
        return out

    return hits


def _integer_facts(assessor: Assessor) -> set[str]:
    gset = assessor.gset
    names = {name for name, spec in FACTS.items() if spec.type == "integer"}
    for entry in gset.derive:
        if isinstance(entry, Count):
            names.add(entry.count)
        for name, output in (getattr(entry, "outputs", None) or {}).items():
            if output.type == "integer":
                names.add(name)
    return names


def _owned(assessor: Assessor, key: str) -> bool:
    """For an overlay, coverage asks only about what the overlay itself brings; its base set's own
    cases cover the rest."""
    gset = assessor.gset
    if not gset.manifest.extends:
        return True
    origin = gset.origin.get(key)
    if origin is None:
        return False
    try:
        inside = Path(origin.file).resolve().is_relative_to(Path(gset.path).resolve())
    except (OSError, ValueError):
        return False
    if inside and key.startswith("screenings."):
        # a screenings block is replaced whole, so unchanged copies of base items come along
        return _screening_item(gset, key) != _screening_item(_base_set(gset), key)
    return inside


def _screening_item(gset, key: str):
    kind = key.removeprefix("screenings.")
    return next((i for c in gset.screenings.complications for i in c.items if i.kind == kind), None)


_BASES: dict[str, object] = {}


def _base_set(gset):
    from guidelines.loader import load_set

    ref = gset.manifest.extends
    folder = Path(gset.path) / ref
    target = str(folder) if folder.is_dir() else ref
    if target not in _BASES:
        _BASES[target] = load_set(target)
    return _BASES[target]


def coverage_problems(
    assessor: Assessor, fired: set[str], seen: dict[str, list[Any]], hits: set[tuple[str, int]]
) -> list[Problem]:
    gset = assessor.gset
    integer = _integer_facts(assessor)
    problems: list[Problem] = []

    def where(key: str) -> dict[str, Any]:
        origin = gset.origin.get(key)
        return {"file": origin.file, "line": origin.line} if origin else {}

    for rule in gset.rules:
        if rule.id not in fired and _owned(assessor, f"rules.{rule.id}"):
            problems.append(Problem("T101", f"rule {rule.id} is fired by no case", **where(f"rules.{rule.id}"),
                                    hint="add a case whose expect lists it in reasons_include"))
    for entry in gset.derive:
        table_id = getattr(entry, "table", None)
        if table_id is None or not _owned(assessor, f"derive.{table_id}"):
            continue
        for i, _row in enumerate(entry.rows):
            if (table_id, i) not in hits:
                problems.append(Problem("T102", f"decision table {table_id} row {i + 1} is hit by no case",
                                        **where(f"derive.{table_id}")))
    for owner, fact, op, threshold in iter_comparisons(gset):
        if not _owned(assessor, owner):
            continue
        values = seen.get(fact, [])
        # one step past the boundary: a whole unit for integer facts (age, days, counts, mmHg written as
        # whole numbers), else one unit of the threshold's last decimal place
        if fact in integer or (float(threshold).is_integer() and abs(threshold) >= 10):
            step = 1.0
        else:
            step = 0.1 if abs(threshold) >= 1 else 0.01
        on = any(abs(v - threshold) < 1e-9 for v in values)
        threshold_passes = op in ("gte", "lte", "eq")
        past = any(0 < abs(v - threshold) <= step + 1e-9 and _passes(op, v, threshold) != threshold_passes
                   for v in values)
        if not (on and past):
            missing = " and ".join(x for x, ok in (("on", on), ("just past", past)) if not ok)
            problems.append(Problem(
                "T103", f"{owner}: threshold {fact} {op} {threshold:g} has no case {missing} it",
                **where(owner), hint=f"add cases with {fact} = {threshold:g} and one step past it"))
    return problems


def _passes(op: str, v: float, t: float) -> bool:
    return {"lt": v < t, "lte": v <= t, "gt": v > t, "gte": v >= t, "eq": v == t, "ne": v != t}[op]
