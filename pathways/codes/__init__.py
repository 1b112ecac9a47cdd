"""One registry of every error, finding and warning code: its stage, whether it refuses the row (or
file, or set) or keeps it, and its message template in Chinese and English.

A code is defined once, in the module of its stage (roster.py: D, guideline.py: G and C, cases.py:
T, runtime.py: R), and never reused for another meaning. Templates are `str.format` strings whose
fields the raising site passes (`Problem.of("D030", file=…)`); the rendered language is chosen at
the edge (`--lang`, default Chinese). A field whose value is `{"zh": …, "en": …}` (a value worded in
both languages: a table name, a did-you-mean) is rendered in the template's language, and a field
`name_zh` (or `name_en`) given beside `name` is what `{name}` means in that language: both templates
name the same fields. tests/test_codes.py checks that every code used in the source
is registered here exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Stage = Literal["roster", "guideline-file", "guideline-set", "cases", "run"]
Lang = Literal["zh", "en"]


@dataclass(frozen=True)
class Code:
    code: str            # "D030": stage letter + three digits, never reused
    stage: Stage
    rejects: bool        # True: the row, file or set is refused; False: kept and reported
    zh: str              # message template in Chinese (str.format fields)
    en: str              # the same in English
    hint_zh: str = ""    # what would be right, when one hint fits every case
    hint_en: str = ""
    # One meaning said in several sentence shapes: the raising site passes `variant=name`; each
    # variant has its own (zh, en, hint_zh, hint_en) templates (an empty hint: no hint).
    variants: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)

    def _templates(self, fields: dict) -> tuple[str, str, str, str]:
        variant = fields.get("variant")
        if variant is None:
            return self.zh, self.en, self.hint_zh, self.hint_en
        return self.variants[variant]

    def message(self, lang: Lang, fields: dict) -> str:
        zh, en, _, _ = self._templates(fields)
        return (zh if lang == "zh" else en).format(**_in(lang, fields))

    def hint(self, lang: Lang, fields: dict) -> str | None:
        """The hint in `lang`; None when there is none, or the raising site did not pass the
        hint's fields (a code whose hint depends on the case: `how=…` given or not)."""
        _, _, hint_zh, hint_en = self._templates(fields)
        text = hint_zh if lang == "zh" else hint_en
        try:
            return text.format(**_in(lang, fields)) or None if text else None
        except KeyError:
            return None


def _in(lang: Lang, fields: dict) -> dict:
    """`fields` with every value worded in both languages ({"zh": …, "en": …}) taken in `lang`, and
    `name_<lang>` given as `name`."""
    out = {k: v[lang] if isinstance(v, dict) and v.keys() == {"zh", "en"} else v for k, v in fields.items()}
    suffix = "_" + lang
    for key in [k for k in out if k.endswith(suffix)]:
        out[key[: -len(suffix)]] = out[key]
    return out


def _collect() -> dict[str, Code]:
    from pathways.codes import cases, guideline, roster, runtime

    registry: dict[str, Code] = {}
    for module in (roster, guideline, cases, runtime):
        for entry in module.CODES:
            if entry.code in registry:
                raise ValueError(f"code {entry.code} is registered twice")
            registry[entry.code] = entry
    return registry


_REGISTRY: dict[str, Code] | None = None


def registry() -> dict[str, Code]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _collect()
    return _REGISTRY


def lookup(code: str) -> Code | None:
    return registry().get(code)
