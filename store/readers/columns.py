"""Which field each column of a table is: the site mapping first (also to ignore a column or to
override a header the reader knows), then the alias table (store/readers/aliases.py), for a merged
header also its parent and leaf; one 0/1 column per option; two columns only a system code suffix
tells apart (D114); the resident ID as a child table's join key; a two-arm blood pressure and the
arm the mapping chose (D110). Columns it cannot place are findings (D108), never guessed."""

from __future__ import annotations

import difflib

from pathways.errors import Problem, SangaoError
from store.readers.aliases import (
    TABLES,
    normalize_header,
)
from store.readers.codes import (
    MISSING,
    is_not_imported,
    lookup,
)
from store.readers.mapping import REFUSED_AS, Mapping
from store.readers.sheets import Sheet
from store.readers.table import _ROLE_ZH, Column, Table, both
from store.validation import did_you_mean

_ALIASES: dict[str, dict[str, str]] = {
    role: {normalize_header(a): fld for fld, spec in fields.items() for a in spec.aliases}
    for role, fields in TABLES.items()
}


_SEPARATORS = "/_-·:"
_PERSON_SKIP = {"patient_id"}


def _field_for(role: str, header: str, mapping: Mapping, sheet: Sheet | None = None, index: int = -1):
    """The field of `role` a header names: the mapping first, then the aliases; for a merged
    `parent/leaf` header also parent+leaf run together (左侧收缩压) and the leaf alone when the
    leaf is unique in the sheet."""
    candidates = [header]
    if sheet is not None and index in sheet.parts:
        parent, leaf = sheet.parts[index]
        leaves = [p[1] for p in sheet.parts.values()]
        candidates = [header, parent + leaf] + ([leaf] if leaves.count(leaf) == 1 else [])
    for text in candidates:
        entry = mapping.column(text)
        if entry is not None:  # the site's word wins over the aliases, also to ignore a column
            table, fld = entry
            return fld if table in (None, role) and fld in TABLES[role] else None
        key = normalize_header(text)
        if sheet is not None and key in sheet.ambiguous:
            return None  # …-LEFTPRE and …-LEFTHEIGHT: only the mapping can tell which is which
        if key in _ALIASES[role]:
            return _ALIASES[role][key]
    return None


_CARRIED_KINDS = ("lab", "screen:ecg", "screen:fundus", "foot_pulse")
_ID_ALIASES = {normalize_header(a) for a in TABLES["patients"]["id_number"].aliases}
_MULTI_KINDS = ("codes", "history", "conditions")


def _option_column(role: str, header: str, mapping: Mapping, sheet: Sheet, index: int, form: str | None):
    """One 0/1 column per option: `症状/头痛头晕`, `症状_头痛头晕`, `症状-头痛头晕` → (field, label),
    when the label is one a value map knows (`症状/其他` is not an option column)."""
    if index in sheet.parts:
        pairs = [sheet.parts[index]]
    else:
        text = normalize_header(header)
        pairs = [(text[:i], text[i + 1 :]) for i, ch in enumerate(text) if ch in _SEPARATORS]
    for parent, leaf in pairs:
        for target in (role, "patients") if role == "visits" else (role,):
            fld = _field_for(target, parent, mapping)
            spec = TABLES[target].get(fld) if fld else None
            if (
                spec
                and spec.kind in _MULTI_KINDS
                and leaf
                and lookup(fld, spec.kind, leaf, form, mapping.values) not in (MISSING, None)
            ):  # 症状/其他 holds free text, and 眼花耳鸣 has no code: neither is an option column
                return target, fld, leaf
    return None


def _resolve_columns(table: Table, sheet: Sheet, mapping: Mapping, findings: list[Problem]) -> None:
    seen: dict[str, str] = {}
    for index, header in enumerate(table.headers):
        if not header.strip():
            continue
        key = normalize_header(header)
        entry = mapping.column(header)
        if entry == (None, None):  # the mapping says: do not read it
            continue
        fld = _field_for(table.role, header, mapping, sheet, index)
        column: Column | None = None
        if fld is not None:
            column = Column(index, header, fld, TABLES[table.role][fld])
        elif (entry is None and key in _ID_ALIASES and key not in sheet.ambiguous) or (
            entry is not None and entry[1] == "id_number"
        ):  # the resident ID as the join key of a child table
            column = Column(index, header, "id_number", TABLES["patients"]["id_number"], person=True)
        elif table.role == "visits" and (pf := _field_for("patients", header, mapping, sheet, index)):
            if pf not in _PERSON_SKIP:
                column = Column(index, header, pf, TABLES["patients"][pf], person=True)
        elif opt := _option_column(table.role, header, mapping, sheet, index, table.form):
            target, ofld, label = opt
            column = Column(
                index, header, ofld, TABLES[target][ofld], person=target != table.role, option=label
            )
        if column is None:
            if key in sheet.ambiguous:
                others = [h for h in table.headers if h != header and normalize_header(h) == key]
                findings.append(
                    Problem.of(
                        "D114", file=table.name, line=sheet.header_rows, column=header,
                        others=", ".join(others),
                    )
                )
            else:
                findings.append(_unknown_column(table, header, key, mapping))
            continue
        slot = column.field + (f"={column.option}" if column.option else "")
        if slot in seen:
            findings.append(
                Problem.of(
                    "D108",
                    file=table.name,
                    line=1,
                    column=header,
                    what=both(
                        f"column {header!r} is {column.field} again (first: {seen[slot]!r}); ignored",
                        f"列 {header} 又是 {column.field}（第一列：{seen[slot]}）；未读取",
                    ),
                )
            )
            continue
        seen[slot] = header
        table.columns.append(column)
    if "patient_id" in seen:
        table.key = "patient_id"
    elif "id_number" in seen:
        table.key = "id_number"
    else:
        raise SangaoError.of("D030", variant="no_id", file=table.name, line=1, role=table.role,
                             headers=", ".join(h for h in table.headers if h))
    _check_arms(table, mapping, findings)


_MAP_IT = "map it under `columns:` in --mapping"
_MAP_IT_ZH = "请在 --mapping 的 columns: 中映射该列"


def _did_you_mean_zh(value: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    return f"是否应为 {match[0]!r}？" if match else None


def _unknown_column(table: Table, header: str, key: str, mapping: Mapping) -> Problem:
    where = {"file": table.name, "line": 1, "column": header}
    if key in REFUSED_AS:
        return Problem.of(
            "D108",
            **where,
            what=both(
                f"column {header!r} is a urine albumin concentration (mg/L), not the albumin/creatinine "
                "ratio (UACR, mg/g); not imported",
                f"列 {header} 是尿微量白蛋白浓度（mg/L），不是尿白蛋白/肌酐比值（UACR，mg/g）；未导入",
            ),
            how=both(
                "export 尿白蛋白/肌酐比值 (UACR) if the system has it",
                "系统若有，请导出 尿白蛋白/肌酐比值（UACR）",
            ),
        )
    if is_not_imported(header):
        return Problem.of(
            "D108",
            **where,
            what=both(
                f"column {header!r} is a national form field with no interchange field; not imported",
                f"列 {header} 是国家表单字段，没有对应的交换字段；未导入",
            ),
        )
    return Problem.of(
        "D108",
        **where,
        what=both(
            f"column {header!r} not recognised in the {table.role} table; ignored",
            f"列 {header} 在{_ROLE_ZH[table.role]}表中未识别；未读取",
        ),
        how=both(
            " ".join(filter(None, (did_you_mean(key, list(_ALIASES[table.role])), _MAP_IT))),
            "".join(filter(None, (_did_you_mean_zh(key, list(_ALIASES[table.role])), _MAP_IT_ZH))),
        ),
    )


def _check_arms(table: Table, mapping: Mapping, findings: list[Problem]) -> None:
    arms = {c.spec.kind.split(":")[1] for c in table.columns if c.spec.kind.startswith(("arm:", "bp_arm:"))}
    if not arms:
        return
    plain = [c.header for c in table.columns if c.field in ("sbp", "dbp", "bp")]
    if plain:
        findings.append(
            Problem.of(
                "D110",
                file=table.name,
                line=1,
                what=both(
                    f"blood pressure: the column(s) {', '.join(plain)} used; the per-arm columns are ignored",
                    f"血压：使用 {', '.join(plain)} 列；分侧血压列未读取",
                ),
            )
        )
        table.columns = [c for c in table.columns if not c.spec.kind.startswith(("arm:", "bp_arm:"))]
        return
    if len(arms) == 2 and mapping.bp_arm is None:
        raise SangaoError.of("D030", variant="both_arms", file=table.name, line=1)
    arm = mapping.bp_arm if len(arms) == 2 else next(iter(arms))
    text = {"left": "the left arm", "right": "the right arm", "higher": "the arm with the higher systolic"}
    zh = {"left": "左侧", "right": "右侧", "higher": "收缩压较高一侧"}
    findings.append(
        Problem.of(
            "D110",
            file=table.name,
            line=1,
            what=both(f"blood pressure: {text[arm]} reading used", f"血压：采用{zh[arm]}的读数"),
        )
    )
    table.arm = arm
