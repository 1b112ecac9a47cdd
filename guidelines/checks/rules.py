"""Rules: a referral goes to a care tier (C130); the explain templates are valid (C128) and show
only facts the rule reads (C119, C118); two rules with the same `when` have the same colour (C117)."""

from __future__ import annotations

from guidelines.checks.context import TIERS, Context, close, reads
from guidelines.draft import Entry
from guidelines.schema import Rule
from guidelines.yaml_source import did_you_mean, placeholders


def check(ctx: Context) -> None:
    by_when: dict[str, Entry[Rule]] = {}
    for e in ctx.d.rules:
        rule = e.value
        if rule.referral is not None and rule.referral.to not in TIERS:
            near = did_you_mean(rule.referral.to, TIERS)
            ctx.add(
                e.problem_of("C130", ("referral", "to"), to=rule.referral.to, tiers=", ".join(TIERS),
                             **close(near))
            )
        explain(ctx, e, reads(rule.when, well_formed=True))
        key = rule.when.model_dump_json(by_alias=True, exclude_none=True)
        first = by_when.get(key)
        if first is None:
            by_when[key] = e
        elif first.value.color != rule.color:
            ctx.add(
                e.problem_of(
                    "C117", ("color",), first=first.value.id, first_color=first.value.color, rule=rule.id,
                    color=rule.color,
                )
            )


def explain(ctx: Context, e: Entry[Rule], read: set[str]) -> None:
    for field_name in ("explain", "explain_en"):
        text = getattr(e.value, field_name)
        try:
            names = placeholders(text or "")
        except ValueError:
            ctx.add(e.problem_of("C128", (field_name,), field=field_name))
            continue
        for name in names:
            if not name or name.isdigit():
                ctx.add(e.problem_of("C119", (field_name,), variant="unnamed", field=field_name, name=name))
            elif name not in ctx.facts:
                near = did_you_mean(name, read) or did_you_mean(name, ctx.facts)
                ctx.add(e.problem_of("C119", (field_name,), field=field_name, name=name, **close(near)))
            elif name not in read:
                shown = ", ".join(sorted(read)) or "nothing"
                ctx.add(e.problem_of("C118", (field_name,), field=field_name, name=name, reads=shown))
