"""Codes of the runtime stage (see pathways/codes/__init__.py): running the engine, and the
program's own run (files it cannot open, a busy or missing database, an internal error)."""

import errno

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("R001", "run", True,
         zh="durable_rules 在 {ruleset} 中对事实集 {fact_set} 失败：{reason}",
         en="durable_rules failed in {ruleset} for fact set {fact_set}: {reason}"),
    Code("R002", "run", True,
         zh="python 与 durable 两个运行时对 {who} 在第 {layer} 层结论不同：{diffs}",
         en="the python and durable runtimes disagree for {who} in layer {layer}: {diffs}",
         hint_zh="请将此作为缺陷连同指南集一起报告", hint_en="report this as a bug with the guideline set",
         variants={
             "program": ("python 生成的程序函数与 durable 运行时对 {who} 结论不同：{diffs}",
                         "the python program function and the durable runtime disagree for {who}: {diffs}",
                         "请将此作为缺陷连同指南集一起报告", "report this as a bug with the guideline set"),
         }),
    Code("R003", "run", True,
         zh="durable 规则集 {ruleset} 检查 {count} 个事实字段；durable_rules 每个事实最多 {limit} 个",
         en="durable ruleset {ruleset} tests {count} fact fields; "
            "durable_rules takes at most {limit} per fact",
         hint_zh="改用 --engine python，或拆分该项目文件",
         hint_en="use --engine python, or split the programme file"),
    Code("R101", "run", True,
         zh="无法打开数据库 {file}：{reason}", en="cannot open the database {file}: {reason}",
         hint_zh="检查路径所在的文件夹是否存在且可写，或服务器地址是否正确",
         hint_en="check that the folder exists and is writable, or that the server address is right"),
    Code("R102", "run", True,
         zh="数据库正被另一个 sangao 使用 (pid {pid})：{file}",
         en="database in use by another sangao (pid {pid}): {file}",
         hint_zh="等那个命令结束后再运行；或用 SANGAO_DB_WAIT=秒数 等得更久",
         hint_en="run again when that command has finished, or wait longer with SANGAO_DB_WAIT=SECONDS"),
    Code("R103", "run", True,
         zh="无法读取 {file}：{reason}", en="cannot read {file}: {reason}",
         hint_zh="检查文件名和权限", hint_en="check the file name and its permissions"),
    Code("R104", "run", True,
         zh="内部错误（{kind}）；详情见 {log}", en="internal error ({kind}); details in {log}",
         hint_zh="这是 sangao 的缺陷：请报告，并附上该日志（日志中不含患者数据）",
         hint_en="this is a bug in sangao: please report it with the log (it holds no patient data)"),
    Code("R105", "run", True,
         zh="无法生成 PDF：缺少系统的 Pango 文字排版库（{reason}）；HTML 版已写出",
         en="cannot write the PDF: the system's Pango text layout library is missing ({reason}); "
            "the HTML was written",
         hint_zh="安装 Pango（Debian/Ubuntu：apt-get install libpango-1.0-0 libpangoft2-1.0-0），"
                 "或用浏览器打印 HTML",
         hint_en="install Pango (Debian/Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0), or print "
                 "the HTML from a browser"),
    Code("R401", "run", True,
         zh="指南集缺少测量参数 '{name}'", en="measure parameter '{name}' is missing from the guideline set"),
    Code("R402", "run", True,
         zh="测量参数 '{name}' 的值 {value} 无效", en="measure parameter '{name}' is {value}"),
    Code("R403", "run", True,
         zh="患者 {patient}：{date} 随访：未知症状代码 {code}",
         en="patient {patient}: visit {date}: unknown symptom code {code}"),
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
    Code("R460", "run", True,
         zh="{month} 的患者中没有{what}“{name}”", en="no {what} {name!r} among the patients of {month}",
         hint_zh="可选：{known}", hint_en="known: {known}"),
    # engine/dask_executor.py: `assess --executor dask`.
    Code("R120", "run", True,
         zh="--executor dask 需要 Dask，但未安装（{reason}）",
         en="--executor dask needs Dask, which is not installed ({reason})",
         hint_zh="安装：pip install 'sangao[dask]'（dask、distributed、pyarrow）",
         hint_en="install it: pip install 'sangao[dask]' (dask, distributed, pyarrow)"),
    Code("R121", "run", True,
         zh="无法连接 Dask 调度器 {address}：{reason}",
         en="cannot reach the Dask scheduler {address}: {reason}",
         hint_zh="检查地址（tcp://主机:8786）以及调度器是否在运行；不加 --scheduler 则在本机启动",
         hint_en="check the address (tcp://host:8786) and that the scheduler runs; without --scheduler "
                 "sangao starts one on this machine"),
    Code("R122", "run", True,
         zh="Dask 工作进程 {worker} 读不到分桶文件 {file}：{reason}",
         en="the Dask worker {worker} cannot read the bucket file {file}: {reason}",
         hint_zh="每个工作进程都须在同一路径读到 --roster 文件夹（共享文件系统，如 NFS）",
         hint_en="every worker must read the --roster folder at the same path (a shared file system "
                 "such as NFS)",
         variants={
             "write": ("Dask 工作进程 {worker} 无法写入结果文件 {file}：{reason}",
                       "the Dask worker {worker} cannot write the results file {file}: {reason}",
                       "每个工作进程都须在同一路径写入 --out 文件夹（共享文件系统，如 NFS）",
                       "every worker must write the --out folder at the same path (a shared file system "
                       "such as NFS)"),
         }),
)


# R103's {reason} in Chinese for the errors a user meets (the English is the system's own
# strerror); an errno not listed here keeps the system's words in both languages.
OS_REASONS_ZH = {
    errno.ENOENT: "没有这个文件或文件夹",
    errno.EACCES: "没有权限",
    errno.EPERM: "不允许这样操作",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENOTDIR: "路径中有一级不是文件夹",
    errno.EEXIST: "文件已存在",
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "超出磁盘配额",
    errno.EROFS: "文件系统是只读的",
    errno.ENAMETOOLONG: "文件名太长",
    errno.ELOOP: "符号链接层数太多（可能成环）",
    errno.EMFILE: "本进程打开的文件太多",
    errno.ENFILE: "系统打开的文件太多",
    errno.EIO: "输入/输出错误（磁盘或网络盘故障）",
    errno.EBUSY: "设备或资源正忙",
    errno.EFBIG: "文件太大",
    errno.ENXIO: "没有这个设备或地址",
    errno.ENODEV: "没有这个设备",
    errno.EINVAL: "参数无效",
    errno.ETXTBSY: "文件正被执行，无法写入",
    errno.ESTALE: "网络文件句柄已失效",
}


def os_reason(exc: OSError) -> dict[str, str]:
    """R103's `reason` field for `exc`: Chinese by the errno, English as the system says it."""
    english = exc.strerror or type(exc).__name__
    return {"zh": OS_REASONS_ZH.get(exc.errno, english), "en": english}

