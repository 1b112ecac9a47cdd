"""`sangao guidelines explain [RULE_ID]`: a rule as an author or clinician reads it — when it fires
(parameters resolved), what it implies, its source and verification tag, where it is defined — or,
without an id, the set's rules grouped by colour with the colour scheme's status."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from engine.describe import condition_text
from guidelines.model import GuidelineSet
from guidelines.schema import ParamRef, Rule
from pathways.errors import SangaoError

VERIFICATION = {
    "V1": "checked against the official text",
    "V2": "checked against a secondary text",
    "U": "UNVERIFIED: a configurable default only; check against the primary document",
    "PD": "project default: no source gives this value",
}


def _policy(gset: GuidelineSet) -> str:
    if gset.policy_status == "local-definition":
        return ("colour scheme: local-definition — this project's documented derivation from national rules "
                "(no public red/yellow/blue criteria exist); a province replaces it with an overlay set")
    return f"colour scheme: {gset.policy_status}"


def _days(gset: GuidelineSet, value) -> str:
    if isinstance(value, ParamRef):
        return f"{gset.param(value.param)} days ({value.param})"
    return f"{value} days"


def print_rule(gset: GuidelineSet, rule_id: str, console: Console, lang: str = "zh") -> None:
    rules = {r.id: r for r in gset.rules}
    aliases = {a: r.id for r in gset.rules for a in r.aliases}
    rule: Rule | None = rules.get(rule_id) or rules.get(aliases.get(rule_id, ""))
    if rule is None:
        import difflib

        close = difflib.get_close_matches(rule_id, list(rules), n=1)
        raise SangaoError.of("C900", rule=repr(rule_id), set=f"{gset.name} {gset.version}",
                             **({"variant": "close", "close": repr(close[0])} if close else {}))
    origin = gset.origin.get(f"rules.{rule.id}")
    doc = gset.sources.get(rule.source.doc)
    params = {name: p.value for name, p in gset.parameters.items()}
    console.print(f"[bold]{rule.id}[/]  {rule.color}  ({gset.name} {gset.version})"
                  + (f"   [dim]{origin.file}:{origin.line}[/]" if origin else ""))
    console.print(f"  when: {escape(condition_text(rule.when, lang=lang, params=params))}")
    if rule.referral:
        console.print(f"  referral: {rule.referral.urgency} → {rule.referral.to}")
    follow = _days(gset, rule.follow_up_days) if rule.follow_up_days is not None else \
        f"{_days(gset, getattr(gset.colors, rule.color).follow_up_days)} (the colour's)"
    console.print(f"  next follow-up within: {follow}")
    console.print(f"  explain: {escape(rule.explain if lang == 'zh' else rule.explain_en or rule.explain)}")
    console.print(f"  source: {escape(doc.title if doc else rule.source.doc)} — {escape(rule.source.clause)}"
                  + (f"  {doc.url}" if doc and doc.url else ""))
    console.print(f"  verification: {rule.source.verification} ({VERIFICATION[rule.source.verification]})")
    if rule.aliases:
        console.print(f"  formerly: {', '.join(rule.aliases)}")
    console.print(f"  [dim]{_policy(gset)}[/]")


def print_overview(gset: GuidelineSet, console: Console, lang: str = "zh") -> None:
    console.print(f"[bold]{gset.name} {gset.version}[/]  {len(gset.rules)} rules")
    console.print(f"  {_policy(gset)}")
    for color in ("red", "yellow", "blue"):
        spec = getattr(gset.colors, color)
        console.print(f"\n[bold]{color}[/] → {spec.tier}, follow-up {_days(gset, spec.follow_up_days)}")
        for rule in (r for r in gset.rules if r.color == color):
            tag = rule.source.verification
            flag = " [yellow](unverified)[/]" if tag == "U" else ""
            text = rule.explain if lang == "zh" else rule.explain_en or rule.explain
            console.print(f"  {rule.id:<32} [{tag}]{flag} {escape(text)}")
    unverified = [name for name, p in gset.parameters.items() if p.source and p.source.verification == "U"]
    if unverified:
        console.print("\n[yellow]unverified parameters (configurable defaults, check the primary "
                      f"document):[/] {', '.join(unverified)}")


def check_line(path: str, gset=None, draft=None, problems: int = 0, lang: str = "zh") -> str:
    """The last line of `guidelines check`: how many problems `path` has, or what passed (rules,
    unverified rules left out, derive entries, parameters, files)."""
    if gset is None:
        return f"{path} 有 {problems} 个问题" if lang == "zh" else f"{problems} problem(s) in {path}"
    left_out = len(draft.rules) - len(gset.rules)
    if lang == "zh":
        note = f"（{left_out} 条未核实规则未载入）" if left_out else ""
        return (f"通过：{gset.name} {gset.version}：{len(gset.rules)} 条规则{note}，"
                f"{len(gset.derive)} 个派生项，{len(gset.parameters)} 个参数，{draft.file_count} 个文件")
    note = f" ({left_out} unverified left out)" if left_out else ""
    return (f"ok: {gset.name} {gset.version}: {len(gset.rules)} rules{note}, "
            f"{len(gset.derive)} derive entries, {len(gset.parameters)} parameters, {draft.file_count} files")


def created_line(where: str, lang: str = "zh") -> str:
    """The last line of `guidelines new`: the set made and the two commands to run next."""
    check, test = f"sangao guidelines check {where}", f"sangao guidelines test {where}"
    if lang == "zh":
        return f"已创建 {where}。下一步：{check}；{test}"
    return f"created {where}. Next: {check}; {test}"
