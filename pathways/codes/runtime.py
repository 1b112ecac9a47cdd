"""Codes of the runtime stage (see pathways/codes/__init__.py)."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code(
        "R410",
        "run",
        True,
        zh="没有 {year} 年的工作日日历（{day} 需要）",
        en="no working-day calendar for {year} (needed for {day})",
        hint_zh="添加 guidelines/calendars/{year}.yaml（或用 --calendar-dir 指定目录），"
        "写明国务院 {year} 年节假日通知的 `holidays:` 与 `makeup_workdays:` 日期列表（YYYY-MM-DD）；"
        "或不加 --strict-calendar，使用按节假日法推算的临时日历（不含调休上班日，所有输出均带提示）",
        hint_en="add guidelines/calendars/{year}.yaml with `holidays:` and `makeup_workdays:` lists of "
        "YYYY-MM-DD dates from the State Council notice for {year}, or run with --provisional-calendar "
        "(the default of worklist and plan; --strict-calendar turns it off) to use the statutory "
        "holidays of the holiday law without make-up working days (every output then carries a "
        "warning)",
    ),
    Code(
        "R411",
        "run",
        True,
        zh="自 {day} 起 {days} 天内没有工作日",
        en="no working day in the {days} days from {day}",
        hint_zh="检查工作日日历中该年的节假日列表",
        hint_en="check the holidays listed for that year in the working-day calendar",
    ),
    Code(
        "R420",
        "run",
        False,
        zh="{team}{start}～{end} 容量不足：需安排 {load} 人次，"
        "{days} 个可用工作日每日 {per_day} 人次共 {capacity} 人次，{over} 人次排不进",
        en="{team}{start} to {end} cannot hold the load: {load} contacts to place, {days} working days at "
        "{per_day} a day hold {capacity}; {over} left over",
        hint_zh="提高每日容量、减少关闭日或延长时段",
        hint_en="raise the daily capacity, open closed days or widen the period",
    ),
)
