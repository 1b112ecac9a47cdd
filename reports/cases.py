"""Prints a CasesReport (engine/cases_runner.py) for `sangao guidelines test`, in Chinese or
English: each failing case at its file:line with the expected and actual values and the rules
that fired (for a base case run against an overlay: the rules that fired differently), the base
cases the overlay changes on purpose, coverage gaps, and a one-line summary."""

from __future__ import annotations

from rich.console import Console

from engine.cases_runner import CaseRun, CasesReport

_WORDS = {
    "fail": ("失败", "FAIL"),
    "changed": ("按预期改变", "changed (expected)"),
    "fired": ("触发的规则", "rules fired"),
    "none": ("无", "none"),
    "only_new": ("只在本叠加集下触发", "fired only under this overlay"),
    "only_base": ("在基础集下触发、此处不再触发", "fired under the base set, not here"),
    "near": ("差一点触发", "almost fired"),
}


def _w(key: str, lang: str) -> str:
    zh, en = _WORDS[key]
    return zh if lang == "zh" else en


def _plain(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _run_lines(run: CaseRun, lang: str) -> list[str]:
    lines = [f"    {p.text(lang)}" for p in run.failures]
    if run.fired_base is not None:
        new = [r for r in run.fired if r not in run.fired_base]
        old = [r for r in run.fired_base if r not in run.fired]
        if new:
            lines.append(f"    {_w('only_new', lang)}: {', '.join(new)}")
        if old:
            lines.append(f"    {_w('only_base', lang)}: {', '.join(old)}")
    elif run.fired or run.failures:
        lines.append(f"    {_w('fired', lang)}: {', '.join(run.fired) or _w('none', lang)}")
    for rule, facts in run.read.items():
        if facts:
            values = ", ".join(f"{k}={v}" for k, v in facts.items())
            lines.append(f"      {rule}: {values}")
    if run.near:
        lines.append(f"    {_w('near', lang)}: {', '.join(run.near)}")
    return lines


def print_cases_report(
    report: CasesReport, console: Console, lang: str = "zh", coverage: bool = True
) -> bool:
    """Print the report; True when it passed (no failure, no stale confirmation, no coverage gap)."""
    for run in report.failed:
        where = f"{run.base}/" if run.base else ""
        _plain(console, f"{_w('fail', lang)} {where}{run.id}  {run.file}:{run.line}")
        for line in _run_lines(run, lang):
            _plain(console, line)
    for run in report.changed:
        _plain(console, f"{_w('changed', lang)} {run.base}/{run.id}: {run.change}")
        for line in _run_lines(run, lang):
            _plain(console, line)
    for problem in report.stale:
        _plain(console, problem.render(lang))
    if coverage:
        for problem in report.coverage:
            _plain(console, problem.render(lang))
    failed = len(report.failed) + len(report.stale)
    passed = len(report.runs) - len(report.failed) - len(report.changed)
    base_runs = sum(1 for r in report.runs if r.base)
    gaps = len(report.coverage)
    if lang == "zh":
        base = f"（其中 {base_runs} 个来自基础集，{len(report.changed)} 个按预期改变）" if base_runs else ""
        cov = f"{gaps} 处缺口" if coverage else "未检查"
        _plain(console, f"{passed} 个通过，{failed} 个失败{base}；覆盖：{cov}")
    else:
        base = (f" ({base_runs} from base sets, {len(report.changed)} changed as expected)"
                if base_runs else "")
        cov = f"{gaps} gap(s)" if coverage else "not checked"
        _plain(console, f"{passed} passed, {failed} failed{base}; coverage: {cov}")
    return not failed and not (coverage and gaps)
