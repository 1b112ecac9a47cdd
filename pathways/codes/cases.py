"""Codes of the cases stage (see pathways/codes/__init__.py)."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("T121", "cases", True,
         zh="expected_changes 列出的基础用例 {case} 不存在",
         en="expected_changes names {case}, which is no case of the base set",
         hint_zh="写基础集用例文件名（去掉 .cases.yaml）:: 用例名，如 hypertension::urgent_exactly_at_180",
         hint_en="write <base cases file without .cases.yaml>::<case name>, "
                 "e.g. hypertension::urgent_exactly_at_180"),
    Code("T122", "cases", True,
         zh="expected_changes 确认 {case} 会变化，但它在本叠加集下仍给出基础集的结果",
         en="expected_changes confirms {case} changes, but it still gives the base set's outcome",
         hint_zh="删除这一条，或检查叠加集是否真的改动了它",
         hint_en="remove the entry, or check that the overlay really changes it"),
)
