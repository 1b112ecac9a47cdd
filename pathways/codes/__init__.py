"""One registry of every error, finding and warning code: its stage, whether it refuses the row (or
file, or set) or keeps it, and its message template in Chinese and English.

A code is defined once, in the module of its stage (roster.py: D, guideline.py: G and C, cases.py:
T, runtime.py: R), and never reused for another meaning. Templates are `str.format` strings whose
fields the raising site passes (`Problem.of("D030", file=…)`); the rendered language is chosen at
the edge (`--lang`, default Chinese). tests/test_codes.py checks that every code used in the source
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
        return (zh if lang == "zh" else en).format(**fields)

    def hint(self, lang: Lang, fields: dict) -> str | None:
        _, _, hint_zh, hint_en = self._templates(fields)
        text = hint_zh if lang == "zh" else hint_en
        return text.format(**fields) if text else None


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
