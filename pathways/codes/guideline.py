"""Codes of the guideline stage (see pathways/codes/__init__.py)."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("G101", "guideline-file", True,
         zh="YAML 语法错误：{what_zh}（解析器：{parser}）", en="YAML syntax: {what_en} (parser: {parser})",
         hint_zh="{fix_zh}", hint_en="{fix_en}"),
    Code("C134", "guideline-set", True,
         zh="{name} = {value} 超出{quantity_zh}的合理范围（{lo}–{hi} {unit}）",
         en="{name} = {value} is outside the plausible range of {quantity_en} ({lo}–{hi} {unit})",
         hint_zh="核对数值和单位（合理范围见 guidelines/data/plausible.yaml）",
         hint_en="check the value and its unit (ranges: guidelines/data/plausible.yaml)"),
    Code("C135", "guideline-set", True,
         zh="{name} = {value} 超出{quantity_zh}的合理范围（{lo}–{hi} {unit}），像是以 {other} 为单位的数值",
         en="{name} = {value} is outside the plausible range of {quantity_en} ({lo}–{hi} {unit}); "
            "it looks like a value in {other}",
         hint_zh="换算为 {unit} 是 {likely}：请写 {likely}",
         hint_en="in {unit} that is {likely}: write {likely}"),
)
