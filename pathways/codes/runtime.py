"""Codes of the runtime stage (see pathways/codes/__init__.py)."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("R460", "run", True,
         zh="{month} 的患者中没有{what}“{name}”", en="no {what_en} {name!r} among the patients of {month}",
         hint_zh="可选：{known}", hint_en="known: {known}"),
    Code("R420", "run", False,
         zh="{team}{start}～{end} 容量不足：需安排 {load} 人次，{days} 个可用工作日每日 {per_day} 人次共 {capacity} 人次，"
            "{over} 人次排不进",
         en="{team}{start} to {end} cannot hold the load: {load} contacts to place, {days} working days at "
            "{per_day} a day hold {capacity}; {over} left over",
         hint_zh="提高每日容量、减少关闭日或延长时段", hint_en="raise the daily capacity, open closed days or "
                                                          "widen the period"),
)
