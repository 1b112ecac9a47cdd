"""Codes of the runtime stage (see pathways/codes/__init__.py)."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("R460", "run", True,
         zh="{month} 的患者中没有{what}“{name}”", en="no {what_en} {name!r} among the patients of {month}",
         hint_zh="可选：{known}", hint_en="known: {known}"),
)
