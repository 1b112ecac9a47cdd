"""`sangao explain`: why a patient has the colour they have, in Chinese (default) or English.

Prints the colour and tier, every rule that fired with the facts it read and its source clause,
the derived values that stayed undecided for missing inputs, and the rules that almost fired.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from engine.assess import Assessed
from engine.describe import glossary, reason_text
from guidelines.model import GuidelineSet
from reports.assessments import COLOR_STYLE, COLOR_ZH, TIER_ZH

_TEXT = {
    "zh": {
        "policy": "颜色分层为本项目依据国家规范推导的本地定义（policy_status: {status}），可由省级方案替换",
        "fired": "触发的规则",
        "none": "无规则触发：默认颜色",
        "read": "读取",
        "undecided": "因缺少输入而未定",
        "missing": "缺少",
        "near": "差一点触发的规则",
        "referral": "转诊",
        "next": "下次随访",
        "due": "待做筛查",
        "overdue": "逾期",
    },
    "en": {
        "policy": "the colour scheme is this project's local derivation from national rules (policy_status: "
        "{status}); a province can replace it",
        "fired": "rules fired",
        "none": "no rule fired: default colour",
        "read": "read",
        "undecided": "undecided for missing inputs",
        "missing": "missing",
        "near": "rules that almost fired",
        "referral": "referral",
        "next": "next follow-up",
        "due": "screenings due",
        "overdue": "overdue",
    },
}


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, frozenset | set):
        return "[" + ",".join(sorted(value)) + "]"
    return str(value)


def print_explanation(assessed: Assessed, gset: GuidelineSet, console: Console, lang: str = "zh") -> None:
    t = _TEXT[lang]
    a, ev = assessed.assessment, assessed.evaluation
    rules = {r.id: r for r in gset.rules}
    terms = glossary(gset)
    style = COLOR_STYLE[a.color.value]
    tier = TIER_ZH[a.tier.value] if lang == "zh" else a.tier.value
    color = f"{COLOR_ZH[a.color.value]} {a.color.value}" if lang == "zh" else a.color.value
    console.print(
        f"[bold]{escape(a.patient_id)}[/]  [{style}]{color}[/] → {tier}   "
        f"{escape(a.guideline_set)} {escape(a.guideline_version)}   as_of {a.as_of}"
    )
    console.print(f"  [dim]{escape(t['policy'].format(status=gset.policy_status))}[/]")
    if a.referral:
        console.print(
            f"  {t['referral']}: {a.referral.urgency.value} → {a.referral.to} "
            f"({', '.join(a.referral.reasons)}; ≤{a.referral.follow_up_within_days}d)"
        )
    console.print(f"  {t['next']}: {a.next_follow_up}")
    for w in a.warnings:
        console.print(f"  [yellow]warning: {escape(w)}[/]")
    if a.screenings_due:
        items = ", ".join(f"{s.kind.value} {s.due_by}" + (f" ({t['overdue']})" if s.overdue else "")
                          for s in a.screenings_due)
        console.print(f"  {t['due']}: {items}")

    console.print(f"\n[bold]{t['fired']}[/]" if a.reasons else f"\n{t['none']} ({a.color.value})")
    for reason in a.reasons:
        rule = rules[reason.rule]
        read = ev.read.get(reason.rule, {})
        # in a fired `any` of many flags the false ones say nothing: show what held, unless nothing else
        shown = {k: v for k, v in read.items() if v is not False} or read
        values = " ".join(f"{k}={_fmt(v)}" for k, v in shown.items())
        text = reason.text if lang == "zh" else reason_text(rule, ev.facts, lang="en", terms=terms)
        console.print(f"  [{COLOR_STYLE[reason.color.value]}]{reason.rule}[/]  {reason.color.value}  "
                      f"[dim]{t['read']}:[/] {escape(values)}")
        console.print(f"      {escape(text)}")
        console.print(f"      [dim]source: {escape(reason.source)}[/]")

    if ev.undecided:
        console.print(f"\n[bold]{t['undecided']}[/]")
        for output, missing in sorted(ev.undecided.items()):
            console.print(f"  {output}: {t['missing']} {', '.join(missing) or '?'}")

    if ev.near_misses:
        console.print(f"\n[bold]{t['near']}[/]")
        for nm in ev.near_misses:
            console.print(
                f"  {nm.rule}  {nm.fact}={_fmt(nm.value)} ({nm.op} {_fmt(nm.threshold)})"
                f"  [dim]{escape(rules[nm.rule].explain if nm.rule in rules else '')}[/]"
            )
