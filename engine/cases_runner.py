"""Run the authors' `*.cases.yaml` examples against a guideline set, and measure their coverage.

A case's `given` is merged over the file's `patient`, assessed at the case's (or step's) `as_of`,
and only what `expect` lists is checked; each difference is a T130–T134 problem at the case's
file:line, and a failing run keeps the rules that fired, the facts they read and the rules that
almost fired. For an overlay, `run_set_cases` also runs every base set's cases against it: a base
case that now fails is a failure unless the overlay's `expected_changes` confirms it (then it is
reported as changed, with the rules that fired under the base set). Coverage of the effective set:
every rule fired by some case, every decision table row hit, and both sides of every numeric
threshold seen (a value on the threshold and one just past it), T101–T103. pytest
(tests/test_guideline_cases.py) and `sangao guidelines test` run the same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from engine.assess import Assessed, Assessor
from engine.python_runtime import FormInterpreter
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
    failures: list[Problem] = field(default_factory=list)
    line: int | None = None
    fired: list[str] = field(default_factory=list)  # "rule id (colour)" of the rules that fired
    fired_base: list[str] | None = None  # for a changed base case: what fired under its own set
    read: dict[str, dict[str, Any]] = field(default_factory=dict)  # failing runs: rule → facts it read
    near: list[str] = field(default_factory=list)  # failing runs: rules that almost fired
    patient: Patient | None = field(default=None, repr=False)
    base: str | None = None    # the base set's folder name, for a base case run against an overlay
    change: str | None = None  # why the overlay changes this base case (its `expected_changes`)

    @property
    def key(self) -> str:
        """`hypertension::case_name`: how an overlay's `expected_changes` names a base case."""
        stem = self.file.rsplit("/", 1)[-1].removesuffix(".cases.yaml")
        return f"{stem}::{self.name}"

    @property
    def id(self) -> str:
        return f"{self.key}@{self.as_of}"


@dataclass
class CasesReport:
    runs: list[CaseRun]
    coverage: list[Problem]
    stale: list[Problem] = field(default_factory=list)  # confirmed changes that did not happen

    @property
    def failed(self) -> list[CaseRun]:
        """Runs whose outcome differs from their expectations, unless an overlay confirmed it."""
        return [r for r in self.runs if r.failures and r.change is None]

    @property
    def changed(self) -> list[CaseRun]:
        """Base cases the overlay changes on purpose (confirmed in its `expected_changes`)."""
        return [r for r in self.runs if r.failures and r.change is not None]


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


def check_expectations(expect: dict[str, Any], assessed: Assessed, **where: Any) -> list[Problem]:
    """Differences between `expect` and the assessment, one registered problem each (T130–T133);
    `where`: file and line of the case."""
    out = assessed.assessment.model_dump(mode="json")
    facts = assessed.evaluation.facts
    fired = {r["rule"] for r in out["reasons"]}
    due = {s["kind"] for s in out["screenings_due"]}
    overdue = {s["kind"] for s in out["screenings_due"] if s["overdue"]}
    failures: list[Problem] = []

    def differs(key: str, want: Any, got: Any) -> None:
        failures.append(Problem.of("T130", key=key, expected=repr(want), actual=repr(got), **where))

    for key, want in expect.items():
        want = _jsonable(want)
        if key == "reasons":
            if set(want) != fired:
                failures.append(
                    Problem.of("T131", expected=str(sorted(want)), actual=str(sorted(fired)), **where)
                )
        elif key in _LIST_EXPECTATIONS:
            have = {"reasons": fired, "due": due, "overdue": overdue}[key.split("_")[0]]
            if key.endswith("_include"):
                missing = [w for w in want if w not in have]
                if missing:
                    failures.append(
                        Problem.of("T132", key=key, items=str(missing), actual=str(sorted(have)), **where)
                    )
            else:
                present = [w for w in want if w in have]
                if present:
                    failures.append(
                        Problem.of("T133", key=key, items=str(present), actual=str(sorted(have)), **where)
                    )
        elif key == "facts":
            for name, value in want.items():
                actual = _jsonable(facts.get(name))
                if not _same(value, actual):
                    differs(f"facts.{name}", value, actual)
        elif key in ("control", "referral") and isinstance(want, dict):
            actual = out.get(key)
            if actual is None:
                failures.append(Problem.of("T130", key=key, expected=repr(want), actual="null", **where))
                continue
            for sub, value in want.items():
                got = actual.get(sub)
                if sub == "reasons" and isinstance(got, list):
                    ok = set(value) == set(got)
                else:
                    ok = _same(value, got)
                if not ok:
                    differs(f"{key}.{sub}", value, got)
        else:
            actual = out.get(key)
            if not _same(want, actual):
                differs(key, want, actual)
    return failures


def run_set_cases(assessor: Assessor) -> CasesReport:
    """`guidelines test SET`: the set's own cases and, for an overlay, every base set's cases run
    against the overlay. A base case whose expectations now fail is a failure unless the overlay's
    cases file confirms it under `expected_changes`; a confirmed change that does not happen is
    reported too (T121). Coverage is of the effective set."""
    from guidelines.cases_file import load_case_files
    from guidelines.loader import base_folders

    own = load_case_files(assessor.gset.path)
    folders = base_folders(assessor.gset.path)
    report = run_cases(assessor, own, [(folder, load_case_files(folder)) for folder in folders])
    _explain_changes(assessor, folders, report)
    return report


def _explain_changes(assessor: Assessor, folders: list[Path], report: CasesReport) -> None:
    """For each base case whose outcome changed: the rules that fired under its own set, so the
    report can say which rules fired differently."""
    from guidelines.loader import load_set

    by_name = {folder.name: folder for folder in folders}
    assessors: dict[str, Assessor] = {}
    for run in report.runs:
        if run.base is None or not run.failures or run.patient is None:
            continue
        if run.base not in assessors:
            assessors[run.base] = Assessor(load_set(by_name[run.base]), assessor.calendar)
        try:
            before = assessors[run.base].assess(run.patient, run.as_of).assessment
        except Exception:  # noqa: BLE001 - the base set's own run reports it
            continue
        run.fired_base = [f"{r.rule} ({r.color.value})" for r in before.reasons]


def run_cases(
    assessor: Assessor,
    case_files: Iterable[CaseFile],
    base: Iterable[tuple[Path, list[CaseFile]]] = (),
) -> CasesReport:
    """Run `case_files` (the set's own) and `base` (folder, case files) of the sets it extends,
    nearest first; the confirmations of a set's files apply to the cases of the sets below it."""
    own = list(case_files)
    layers: list[tuple[str | None, list[CaseFile]]] = [(None, own)]
    layers += [(Path(folder).name, files) for folder, files in base]
    runs: list[CaseRun] = []
    fired_rules: set[str] = set()
    seen: dict[str, list[Any]] = defaultdict(list)
    hits: set[tuple[str, int]] = set()
    find_hits = _table_hit_finder(assessor)
    confirmed: dict[str, tuple[str, str, int | None]] = {}  # case key → (why, file, line)
    for base_name, files in layers:
        for cf in files:
            runs += _run_file(assessor, cf, base_name, confirmed, fired_rules, seen, hits, find_hits)
        for cf in files:  # this layer's confirmations apply to the layers below it
            for key, why in cf.expected_changes.items():
                confirmed.setdefault(key, (why, cf.path, cf.change_lines.get(key)))
    stale = _stale_confirmations(own, [r for r in runs if r.base is not None])
    return CasesReport(runs, coverage_problems(assessor, fired_rules, seen, hits), stale)


def _stale_confirmations(own: list[CaseFile], base_runs: list[CaseRun]) -> list[Problem]:
    """Confirmed changes that name no base case, or whose base case still gives its base outcome."""
    by_key: dict[str, list[CaseRun]] = defaultdict(list)
    for run in base_runs:
        by_key[run.key].append(run)
    problems: list[Problem] = []
    for cf in own:
        for key in cf.expected_changes:
            where = {"file": cf.path, "line": cf.change_lines.get(key)}
            if key not in by_key:
                problems.append(Problem.of("T121", case=key, **where))
            elif not any(r.failures for r in by_key[key]):
                problems.append(Problem.of("T122", case=key, **where))
    return problems


def _run_file(
    assessor: Assessor,
    cf: CaseFile,
    base_name: str | None,
    confirmed: dict[str, tuple[str, str, int | None]],
    fired_rules: set[str], seen: dict[str, list[Any]], hits: set[tuple[str, int]], find_hits,
) -> list[CaseRun]:
    runs: list[CaseRun] = []
    for name, case in cf.cases.items():
        steps = case.steps or [None]
        for step in steps:
            as_of = (step.as_of if step else None) or case.as_of or cf.as_of
            expect = (step.expect if step else case.expect) or {}
            given = {**(case.given or {}), **((step.given or {}) if step else {})}
            run = CaseRun(cf.path, name, as_of, line=cf.case_lines.get(name), base=base_name)
            if base_name is not None and run.key in confirmed:
                run.change = confirmed[run.key][0]
            runs.append(run)
            where = {"file": cf.path, "line": run.line}
            try:
                patient = build_patient(cf, name, given)
                assessed = assessor.assess(patient, as_of)
            except Exception as exc:  # a broken case is a failure, reported, not a crash
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                run.failures.append(Problem.of("T134", reason=reason, **where))
                continue
            run.failures.extend(check_expectations(expect, assessed, **where))
            run.fired = [f"{r.rule} ({r.color.value})" for r in assessed.assessment.reasons]
            run.patient = patient
            if run.failures:  # the explain trace: what the fired rules read, what almost fired
                ev = assessed.evaluation
                run.read = {r.rule: dict(ev.read.get(r.rule, {})) for r in assessed.assessment.reasons}
                run.near = [
                    f"{m.rule} ({m.fact} {m.value:g}, {m.op} {m.threshold:g})" for m in ev.near_misses
                ]
            fired_rules.update(assessed.evaluation.fired)
            hits.update(find_hits(assessed.evaluation.facts))
            for fact, value in assessed.evaluation.facts.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    seen[fact].append(value)
    return runs


def _table_hit_finder(assessor: Assessor):
    """facts → {(table id, row index)} of the rows definitely hit (the first one for `first` tables).
    Re-runs the table's layer on the finished facts with the form interpreter: rows read only
    facts of earlier layers, so the result is the one the evaluation saw."""
    program = assessor.evaluator.program
    runtime = FormInterpreter(program)
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
        if rule.id not in fired:
            problems.append(Problem.of("T101", rule=rule.id, **where(f"rules.{rule.id}")))
    for entry in gset.derive:
        table_id = getattr(entry, "table", None)
        if table_id is None:
            continue
        for i, _row in enumerate(entry.rows):
            if (table_id, i) not in hits:
                problems.append(Problem.of("T102", table=table_id, row=i + 1, **where(f"derive.{table_id}")))
    for owner, fact, op, threshold in iter_comparisons(gset):
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
            missing_zh = "、".join(x for x, ok in (("正好等于", on), ("刚越过", past)) if not ok)
            problems.append(Problem.of(
                "T103", owner=owner, fact=fact, op=op, threshold=f"{threshold:g}", missing=missing,
                missing_zh=missing_zh, **where(owner)))
    return problems


def _passes(op: str, v: float, t: float) -> bool:
    return {"lt": v < t, "lte": v <= t, "gt": v > t, "gte": v >= t, "eq": v == t, "ne": v != t}[op]


def confirmation_block(report: CasesReport, why: str = "TODO: why this overlay changes it") -> list[str]:
    """The `expected_changes:` lines that would confirm every base case the overlay changes but
    does not confirm yet (`guidelines test --draft-changes`): the author checks each and edits `why`."""
    keys: dict[str, str] = {}
    for run in report.failed:
        if run.base is not None:
            keys.setdefault(run.key, run.failures[0].message)
    lines = ["expected_changes:"] if keys else []
    for key, first in keys.items():
        lines.append(f"  # {first}"[:100])
        lines.append(f"  {key}: {_yaml_text(why)}")
    return lines


def _yaml_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
