"""Opening a source's sheets as tables and telling what each is: its role (patients, visits, labs,
screenings, history, referrals: by the mapping's `tables:`, a hint in the name, else the headers),
the national form of a visits table (by the mapping, the name or title, else guessed from headers:
a guess sets codes, never a programme), and whether the source is a register or an events file."""

from __future__ import annotations

from pathways.errors import Problem, SangaoError
from store.readers import Source
from store.readers.aliases import (
    CHILD_ROLES,
    ROLE_HINTS,
    TABLES,
    normalize_header,
)
from store.readers.codes import (
    form_from_headers,
    form_from_name,
)
from store.readers.columns import _CARRIED_KINDS, _field_for, _resolve_columns
from store.readers.mapping import Mapping
from store.readers.sheets import Sheet, open_sheets
from store.readers.table import REJECT_HEADER, Table, both


def _open_tables(source: Source, mapping: Mapping, findings: list[Problem], closers: list) -> list[Table]:
    tables = []
    workbook_like = source.kind != "csv"
    for sheet in open_sheets(source, closers):
        if [h.strip() for h in sheet.headers] == REJECT_HEADER:
            findings.append(
                Problem.of(
                    "D108",
                    file=sheet.name,
                    line=1,
                    what=both(
                        "a sangao reject file (from --rejects); skipped",
                        "这是 sangao 的拒绝行文件（--rejects），跳过",
                    ),
                    how=both(
                        "fix the rows in the original export and import that again",
                        "请在原导出文件中改正这些行，再导入原文件",
                    ),
                )
            )
            continue
        role = _role(sheet, mapping)
        if role is None:
            what = (
                "cannot tell which table this is (patients, visits, labs, screenings, history "
                "or referrals)"
            )
            hint = "name it e.g. visits.csv / 随访.csv, or list it under `tables:` in --mapping"
            if workbook_like:
                problem = Problem.of(
                    "D108",
                    file=sheet.name,
                    line=1,
                    what=both(
                        what + "; sheet ignored",
                        "无法判断这是哪张表（患者、随访、化验、筛查、既往史或转诊）；工作表未读取",
                    ),
                    how=both(hint, "请按表命名文件，如 随访.csv / visits.csv，"
                                   "或在 --mapping 的 tables: 中列出"),
                )
            else:
                problem = Problem.of("D030", variant="unknown_table", file=sheet.name, line=1)
            if workbook_like:
                findings.append(problem)
                continue
            raise SangaoError([problem])
        table = Table(role, sheet.name, sheet.headers, sheet.rows, stem=sheet.stem, outer=sheet.outer)
        if role == "visits":  # the sheet's name, else its file's (a part of a zip), else the headers
            names = [sheet.stem, *sheet.outer]
            table.form = next((f for n in names if (f := mapping.form_for(n))), None) or next(
                (f for n in names if (f := form_from_name(n))), None
            )
            if table.form is None:
                table.form = form_from_headers(sheet.headers)
                table.form_guessed = table.form is not None
        _resolve_columns(table, sheet, mapping, findings)
        tables.append(table)
    return tables


def _role(sheet: Sheet, mapping: Mapping) -> str | None:
    key = normalize_header(sheet.stem)
    for name in (sheet.stem, *sheet.outer):  # the sheet's name, else its workbook's (Sheet1 says nothing)
        if (named := normalize_header(name)) in mapping.tables:
            return mapping.tables[named]
    for role, hints in ROLE_HINTS:
        if any(h in key for h in hints):
            return role
    if form_from_name(sheet.stem):  # 高血压患者随访服务记录 … without 随访 in the name still is visits
        return "visits"
    found: dict[str, set[str]] = {}
    for role in TABLES:
        found[role] = {
            f for i, h in enumerate(sheet.headers) if (f := _field_for(role, h, mapping, sheet, i))
        } - {"patient_id", "date", "id_number"}
    # a visit row's blood tests and screenings do not make a labs table a visits table
    found["visits"] -= {f for f, spec in TABLES["visits"].items() if spec.kind in _CARRIED_KINDS}
    if found["patients"] & {"sex", "birth_date"} and not ({"sbp", "dbp", "bp", "fpg"} & found["visits"]):
        return "patients"
    scores = sorted(((len(found[r]), r) for r in CHILD_ROLES), reverse=True)
    if scores[0][0] > 0 and scores[0][0] > scores[1][0]:
        return scores[0][1]
    return None


def source_role(tables: list[Table], mapping: Mapping) -> str:
    """register (a patients table, or the mapping says so) or events (a flat export)."""
    if any(t.role == "patients" for t in tables):
        return "register"
    for table in tables:
        for name in (table.stem, *table.outer):
            if role := mapping.role_for(name):
                return role
    return "events"
