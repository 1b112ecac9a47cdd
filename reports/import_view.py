"""The import and inspect reports of the command line: the table of files read, imported and
rejected, the problems grouped by code, and the summary of an inspected export. The words are here;
each problem's message comes from its own template (pathways/codes/)."""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from reports.fold import fold

# The words of the import and inspect reports (messages come from the problems' own templates).
WORDS = {
    "zh": {
        "import": "名册导入", "file": "文件", "encoding": "编码", "rows": "读取行", "imported": "导入",
        "rejected": "拒绝", "total": "合计", "patients": "{n} 名患者已导入或更新",
        "rejects": "拒绝", "findings": "发现（记录保留）", "at": "位于", "hint": "提示", "colon": "：",
        "patient": "患者", "context": "（{context}）",
        "written": "被拒绝的行已写入 {path}", "add": "加 --rejects 文件 可把被拒绝的行写入 CSV",
        "inspect": "名册检查", "table": "表", "role": "角色", "file_role": "文件",
        "sampled": "抽样行", "understood": "已识别", "unknown": "未识别", "unmapped": "未映射值",
        "register": "登记册", "events": "事件", "flat": "（扁平）", "proposal": "映射建议已写入 {path}",
        "patients_t": "患者", "visits": "随访", "labs": "化验", "screenings": "筛查", "history": "既往史",
        "referrals": "转诊",
    },
    "en": {
        "import": "roster import", "file": "file", "encoding": "encoding", "rows": "rows read",
        "imported": "imported", "rejected": "rejected", "total": "total",
        "patients": "{n} patients imported or updated", "rejects": "rejected",
        "findings": "findings (records kept)", "at": "at", "hint": "hint", "colon": ": ",
        "patient": "patient", "context": "  ({context})",
        "written": "rejected rows written to {path}", "add": "add --rejects FILE to list them in a CSV",
        "inspect": "roster inspect", "table": "table", "role": "role", "file_role": "file",
        "sampled": "sampled", "understood": "understood", "unknown": "unknown", "unmapped": "unmapped",
        "register": "register", "events": "events", "flat": " (flat)",
        "proposal": "proposed mapping written to {path}",
        "patients_t": "patients", "visits": "visits", "labs": "labs", "screenings": "screenings",
        "history": "history", "referrals": "referrals",
    },
}


def short(name: str) -> str:
    """A file's display name without its folder (the report fits 80 columns)."""
    return name.rsplit("/", 1)[-1]


def print_import_report(report, rejects_path: Path | None, console: Console, lang: str = "zh") -> None:
    """The table of files (rows read, imported, rejected), the count of patients, then the rejects
    and findings grouped by code with up to three places each and the hint."""
    w = WORDS[lang]

    def _say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    table = Table(title=w["import"], title_justify="left")
    for key in ("file", "encoding", "rows", "imported", "rejected"):
        table.add_column(w[key], justify="left" if key in ("file", "encoding") else "right",
                         overflow="fold")
    for f in report.files:
        table.add_row(short(f.file), f.encoding or "-", str(f.rows_read), str(f.imported),
                      f"[red]{f.rejected}[/red]" if f.rejected or f.error else "0")
    table.add_row(f"[b]{w['total']}[/b]", "", str(report.rows_read), str(report.imported),
                  str(report.rejected))
    console.print(table)
    _say(w["patients"].format(n=report.patients_imported))
    width = console.width
    for title, problems in ((w["rejects"], report.rejects), (w["findings"], report.findings)):
        if not problems:
            continue
        console.print(f"\n[b]{title}[/b]{w['colon']}{len(problems)}")
        for code, group in report.by_code(problems).items():
            first = group[0]
            if code in _ONE_PER_COLUMN:  # one per column / decision: each says something else
                for p in group:
                    head = f"  {code}  "
                    if p.location():  # the place on its line, the message below it
                        _say(head + where(p))
                        head = " " * len(head)
                    for line in fold(p.text(lang), width, head, " " * len(head)):
                        _say(line)
                continue
            head = f"  {code} ×{len(group)}  "
            for line in fold(first.text(lang), width, head, " " * cell_len(head)):
                _say(line)
            for p in group[:3]:
                for line in fold(f"{w['at']} {where(p)}{_context(p.context, w)}", width, " " * 6, " " * 8):
                    _say(line)
            if hint := first.hint_text(lang):
                head = f"      {w['hint']}{w['colon']}"
                for line in fold(hint, width, head, " " * cell_len(head)):
                    _say(line)
    if report.rejects:
        _say("\n" + (w["written"].format(path=rejects_path) if rejects_path else w["add"]))


def _context(context: str | None, w: dict[str, str]) -> str:
    """The problem's context after its place: "（患者 p2）" / "  (patient p2)"."""
    if not context:
        return ""
    if context.startswith("patient "):  # store/importer.py names the record's patient in English
        context = w["patient"] + context.removeprefix("patient")
    return w["context"].format(context=context)


# Codes reported once per column or file (each says something else), not grouped by code.
_ONE_PER_COLUMN = ("D108", "D109", "D110", "D111", "D112", "D113", "D114")


def where(problem) -> str:
    """file:line:column of a problem, the file without its folder."""
    parts = (short(problem.file) if problem.file else None, problem.line, problem.column)
    return ":".join(str(x) for x in parts if x is not None)


def print_inspect_summary(result, console: Console, lang: str = "zh") -> None:
    """One line per table of an inspection: its file role, table role, rows sampled, columns
    understood and not, and coded values no value map knows; then the files that could not be
    read."""
    w = WORDS[lang]
    table = Table(title=w["inspect"], title_justify="left")
    for key in ("table", "file_role", "role", "sampled", "understood", "unknown", "unmapped"):
        table.add_column(w[key], overflow="fold",
                         justify="left" if key in ("table", "role", "file_role") else "right")
    for t in result.tables:
        understood = sum(1 for c in t.columns if c.target or c.note.startswith("option"))
        table.add_row(short(t.name), w[t.file_role], w.get(t.role if t.role != "patients" else "patients_t",
                                                             t.role) + (w["flat"] if t.flat else ""),
                      str(t.rows_sampled), str(understood), str(len(t.columns) - understood),
                      str(sum(sum(c.unmapped.values()) for c in t.columns)))
    console.print(table)
    for p in result.problems:
        console.print(p.render(lang), markup=False, highlight=False)
