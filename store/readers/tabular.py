"""CSV, XLSX, XLS and ZIP rosters in the shapes real exports have (docs/importing.md):

- a patients table plus visits, labs, screenings, history and referrals tables (separate CSV files
  of one directory, sheets of one workbook, or parts of one archive), joined on the patient id;
  such a source is a **register** (`source_role`);
- **flat visit exports**: one row per follow-up or health check with the person's details repeated
  and no patient number. Rows are grouped into people by resident ID; the `patient_id` is derived
  from it (`derive_patient_id`: area code + a hash, stable across imports, never the raw ID). A
  people file and a visits file join on resident ID the same way. By default a flat export is an
  **events file** (`_event_patients`): its rows are added to stored patients only (the `register`
  callable the importer passes), people not stored are reported (D027, D112, D113), a person field
  that disagrees with the register is a finding (D111). Called a register (`role: register`), a
  flat export makes patients (`_flat_patients`): conditions come from a column, the mapping's
  `defaults:`, or the export's form (高血压/糖尿病 file, `form:`; never a form guessed from headers
  alone); `enrolled_on` from a column, the mapping's `defaults:`, or the first visit; the summary
  states which (D110). Values so filled never replace a stored one (`Item.derived`).

How a table's role is recognised, first match wins:
1. the site mapping's `tables:` entry for the file stem or sheet name;
2. a hint in the name: referral/转诊, screening/筛查, lab/化验/检验, visit/随访, history/既往史,
   patient/患者/档案/居民 (so `随访.csv`, `visits.csv`, a sheet called 化验 …);
3. the headers: a table with 性别 or 出生日期 and no visit date is the patients table, else the
   child table with the most recognised headers.

Child tables are read first and parked by join key (packed as MessagePack: the first SPILL_MEMORY
bytes in memory, the rest in a temporary SQLite file); the patients table then streams, each row
joined with its child rows (or, with no patients table, each resident's rows are gathered from the
file), so memory stays bounded as exports grow. A bad cell rejects its own
row only: a bad visit row drops that visit (reported), not the patient; a rejected patient takes
its child rows with it (D025). Row numbers are spreadsheet rows (the header is row 1) and columns
are the file's own header text.

Codes added here (the table of store/validation.py lists the rest; templates in
pathways/codes/roster.py): D109 (kept) a column's values that no value map knows, or that have no
interchange field, with counts; D110 (kept) how a flat export's patients were completed
(enrolled_on, conditions, sex/birth date from the ID, BP arm); D027, D111–D114 (events files and
code-suffix pairs).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import msgspec
from pydantic import BaseModel, ValidationError

from pathways import resident_id
from pathways.errors import Problem, SangaoError
from pathways.models import HistoryItem, Lab, Referral, Screening, Visit
from pathways.vocab import Condition, HistoryCode
from store.readers import Item, Source
from store.readers.aliases import (
    CHILD_ROLES,
    ROLE_HINTS,
    TABLES,
    VALUE_LABELS,
    CellError,
    FieldSpec,
    normalize_header,
    parse_date,
    parse_id,
    parse_number,
    parse_phone,
    split_list,
)
from store.readers.codes import (
    MISSING,
    form_condition,
    form_from_headers,
    form_from_name,
    is_not_imported,
    known,
    lookup,
)
from store.readers.mapping import REFUSED_AS, Mapping
from store.readers.sheets import Sheet, open_sheets
from store.validation import did_you_mean, pydantic_issues

_ALIASES: dict[str, dict[str, str]] = {
    role: {normalize_header(a): fld for fld, spec in fields.items() for a in spec.aliases}
    for role, fields in TABLES.items()
}
_CHILD_MODELS: dict[str, type[BaseModel]] = {
    "visits": Visit,
    "labs": Lab,
    "screenings": Screening,
    "history": HistoryItem,
    "referrals": Referral,
}
_EXTRA_KEYS = frozenset(
    ("_lab", "_screenings", "_referral_out", "_arms", "_glucose_unit", "_referral", "_class")
)
_CHILD_VALIDATE = {
    role: model.__pydantic_validator__.validate_python for role, model in _CHILD_MODELS.items()
}
REJECT_HEADER = ["file", "row", "patient_id", "code", "column", "message", "hint", "raw"]
_CELL_CODES = {
    "id": "D020",
    "date": "D014",
    "num": "D015",
    "lab": "D015",
    "cigs": "D015",
    "bp": "D015",
    "bool": "D017",
    "urban": "D017",
    "smoking": "D017",
    "conditions": "D013",
    "sex": "D016",
    "history": "D016",
}
_UNIT_OF = {
    (role, f): (model.model_fields[f].json_schema_extra or {}).get("unit")
    for role, model in (("visits", Visit), ("labs", Lab), ("screenings", Screening))
    for f in model.model_fields
}
_PAIR_FIELDS = {"weight_kg", "cigarettes"}  # `current/target` on the form: the current value counts
_SEPARATORS = "/_-·:"
_PERSON_SKIP = {"patient_id"}


def derive_patient_id(id_number: str, salt: str = "") -> str:
    """A patient_id from a resident ID (upgraded to 18 characters first, so a legacy 15-digit ID and
    its 18-character form are one patient): the 6-digit area code and 12 hex digits of SHA-256.
    Stable across imports (same ID, same salt); not the ID itself, though a determined reader with
    the area code could search the birth dates, hence the optional site `id_salt`."""
    text = id_number.upper()
    if len(text) == 15 and text.isdigit():
        text = resident_id.upgrade15(text)
    digest = hashlib.sha256(f"{salt}|{text}".encode()).hexdigest()[:12]
    return f"{text[:6]}-{digest}"


@dataclass
class Column:
    index: int
    header: str
    field: str
    spec: FieldSpec
    person: bool = False  # a patients field on a visits row (flat export)
    option: str | None = None  # one 0/1 column per option: the option's label


@dataclass
class Table:
    role: str
    name: str
    headers: list[str]
    rows: Iterator[tuple[int, tuple]]
    columns: list[Column] = field(default_factory=list)
    key: str = "patient_id"  # the join column's field: patient_id, or id_number (flat exports)
    form: str | None = None  # national form (hypertension / diabetes) of a visits table
    form_guessed: bool = False  # the form comes from the headers alone: never sets a programme
    stem: str = ""
    arm: str | None = None  # two-arm BP: left | right | higher
    outer: list[str] = field(default_factory=list)  # title, file and archive stems (Sheet.outer)

    @property
    def file_stem(self) -> str:
        """The stem of the file the user named (the archive of a part, the workbook of a sheet)."""
        return self.outer[-1] if self.outer else self.stem

    def header_for(self, fld: str | int | None) -> str | None:
        for col in self.columns:
            if (
                col.field == fld
                or (col.spec.kind == "bp" and fld in ("sbp", "dbp"))
                or (fld == "conditions" and col.spec.kind.startswith("flag:"))
                or (fld == "smoker" and col.spec.kind in ("cigs", "smoking"))
            ):
                return col.header
        return None

    @property
    def is_flat(self) -> bool:
        return any(c.person for c in self.columns)


@dataclass
class _Tally:
    """Per column: values no map knows, and known values with no interchange field."""

    unmapped: dict[tuple[str, str, str], Counter] = field(default_factory=dict)
    dropped: dict[tuple[str, str], Counter] = field(default_factory=dict)

    def miss(self, table: Table, col: Column, value: str) -> None:
        self.unmapped.setdefault((table.name, col.header, col.field), Counter())[value] += 1

    def drop(self, table: Table, col: Column, value: str) -> None:
        self.dropped.setdefault((table.name, col.header), Counter())[value] += 1

    def findings(self) -> list[Problem]:
        out = []
        for (name, header, fld), counts in self.unmapped.items():
            out.append(
                Problem.of(
                    "D109",
                    file=name,
                    column=header,
                    what=both(
                        f"column {header!r}: values no value map knows: {_counts(counts)}",
                        f"列 {header}：值映射中没有的值：{_counts(counts)}",
                    ),
                    hint=f"map them under `values: {fld}:` in --mapping "
                    "(`sangao roster inspect` proposes one)",
                )
            )
        for (name, header), counts in self.dropped.items():
            out.append(
                Problem.of(
                    "D109",
                    file=name,
                    column=header,
                    what=both(
                        f"column {header!r}: values with no interchange field, not imported: "
                        f"{_counts(counts)}",
                        f"列 {header}：这些值没有对应字段，未导入：{_counts(counts)}",
                    ),
                )
            )
        return out


def both(en: str, zh: str) -> dict[str, str]:
    """A finding's wording in both languages (the `what` of D108–D110)."""
    return {"en": en, "zh": zh}


_ROLE_ZH = {
    "patients": "患者",
    "visits": "随访",
    "labs": "化验",
    "screenings": "筛查",
    "history": "既往史",
    "referrals": "转诊",
}


def _counts(counts: Counter) -> str:
    return ", ".join(f"{value!r} ×{n}" for value, n in counts.most_common())


def read_tabular(source: Source, mapping: Mapping | None, register=None) -> Iterator[Item]:
    mapping = mapping or Mapping()
    closers: list = []
    tally = _Tally()
    try:
        tables = _open_tables(source, mapping, source.findings, closers)
        yield from _join(source, tables, mapping, closers, tally, register or _no_register)
        source.findings.extend(tally.findings())
    finally:
        for close in closers:
            close()


# ---- opening files and sheets -------------------------------------------------------------------


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
                    hint="fix the rows in the original export and import that again",
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
                    hint=hint,
                )
            else:
                problem = Problem("D030", what + "; file not read", sheet.name, 1, hint=hint)
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
    if key in mapping.tables:
        return mapping.tables[key]
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
        raise SangaoError.one(
            "D030",
            f"the {table.role} table has no patient id column (nor a resident ID column to join on) "
            f"(headers: {', '.join(h for h in table.headers if h)})",
            file=table.name,
            line=1,
            hint="name the column 患者编号 or 身份证号, or map it under `columns:` in --mapping",
        )
    _check_arms(table, mapping, findings)


_MAP_IT = "map it under `columns:` in --mapping"


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
            hint="export 尿白蛋白/肌酐比值 (UACR) if the system has it",
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
        hint=" ".join(filter(None, (did_you_mean(key, list(_ALIASES[table.role])), _MAP_IT))),
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
        raise SangaoError.one(
            "D030",
            "blood pressure is given for both arms; which reading counts is the site's decision",
            file=table.name,
            line=1,
            hint="add `bp_arm: left`, `right` or `higher` (the arm with the higher systolic) to --mapping",
        )
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


# ---- cells --------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    mapping: Mapping
    tally: _Tally
    table: Table
    memo: dict = field(default_factory=dict)  # a coded column holds few distinct values: look each up once
    plan: list = field(default_factory=list)  # per column: (index, column, person?, parser, memo)

    def __post_init__(self) -> None:
        self.plan = [(c.index, c, c.person, *_cell_parser(self, c)) for c in self.table.columns]

    def lookup(self, fld: str, kind: str, text: str, form: str | None | bool = True):
        form = self.table.form if form is True else form
        key = (fld, kind, text, form)
        value = self.memo.get(key, _MISSING)
        if value is _MISSING:
            value = lookup(fld, kind, text, form, self.mapping.values)
            if len(self.memo) < _LOOKUP_MEMO:  # bounded: a column of junk would otherwise grow it per row
                self.memo[key] = value
        return value


def _text(cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _coded(ctx: _Ctx, col: Column, part: str, what: str, hint: str):
    """The mapped value of one coded part, or CellError (counted for the summary)."""
    value = ctx.lookup(col.field, col.spec.kind, part)
    if value is MISSING:
        ctx.tally.miss(ctx.table, col, part)
        choices = known(col.field, col.spec.kind, ctx.table.form, ctx.mapping.values)
        raise CellError(f"{what} ({part!r})", did_you_mean(part, choices) or hint)
    if value is None:
        ctx.tally.drop(ctx.table, col, part)
    return value


def _yes_no(ctx: _Ctx, col: Column, cell) -> bool:
    """An option column's tick: only the yes/no tables apply (a symptom map would read 1 as 无症状)."""
    value = ctx.lookup("bool", "bool", _text(cell), form=None)
    if not isinstance(value, bool):
        ctx.tally.miss(ctx.table, col, _text(cell))
        raise CellError(
            f"not a yes/no value ({cell!r})",
            f"write 是 or 否 (or map the site's labels under `values: {col.field}:` in --mapping)",
        )
    return value


def _parse_cell(ctx: _Ctx, col: Column, cell, values: dict) -> None:
    """Parse one non-empty cell into `values` (raises CellError)."""
    kind, fld = col.spec.kind, col.field
    role = "patients" if col.person else ctx.table.role
    if col.option is not None:  # one 0/1 column per option
        if _yes_no(ctx, col, cell):
            _parse_cell(ctx, Column(col.index, col.header, fld, col.spec, col.person), col.option, values)
        return
    if kind == "id":
        if fld == "id_number" and isinstance(cell, (int, float)) and not isinstance(cell, bool):
            # Excel keeps 15 significant digits: an 18-digit ID typed as a number has lost its tail
            raise CellError(
                "resident ID stored as a number, so its last digits are lost",
                "format the column as text in the source system's export and export again",
            )
        values[fld] = parse_id(cell)
    elif kind == "text":
        values[fld] = _text(cell)
    elif kind == "phone":
        values[fld] = parse_phone(cell)
    elif kind == "date":
        values[fld] = parse_date(cell, allow_range=role == "patients")
    elif kind in ("num", "lab"):
        unit = _UNIT_OF.get(("labs" if kind == "lab" else role, fld))
        number = parse_number(_text(cell) if isinstance(cell, str) else cell, unit, pair=fld in _PAIR_FIELDS)
        if kind == "lab":
            values.setdefault("_lab", {})[fld] = number
        else:
            values[fld] = number
    elif kind == "smoking":  # 吸烟状况: the form's codes or labels, never the generic yes/no table
        value = ctx.lookup(fld, kind, _text(cell))
        if not isinstance(value, bool):
            ctx.tally.miss(ctx.table, col, _text(cell))
            raise CellError(
                f"unknown smoking status ({cell!r})",
                "1 从不吸烟 2 已戒烟 3 吸烟 on the health check (or map the site's codes under "
                "`values: smoking_status:` in --mapping)",
            )
        values["smoker"] = value
    elif kind == "cigs":  # 日吸烟量: 0 is a non-smoker (the form says so); blank stays unknown
        values["smoker"] = parse_number(cell, "cigarettes/day", pair=True) > 0
    elif kind == "bp" or kind.startswith("bp_arm:"):
        sbp, dbp = _bp(cell)
        if kind == "bp":
            values["sbp"], values["dbp"] = sbp, dbp
        else:
            arm = kind.split(":")[1]
            values.setdefault("_arms", {})[arm] = [sbp, dbp]
    elif kind.startswith("arm:"):
        _, arm, which = kind.split(":")
        reading = values.setdefault("_arms", {}).setdefault(arm, [None, None])
        reading[0 if which == "sbp" else 1] = parse_number(cell, "mmHg")
    elif kind in ("bool", "urban") or kind.startswith("flag:"):
        value = ctx.lookup(fld, kind, _text(cell))
        if not isinstance(value, bool) and kind != "bool":
            value = ctx.lookup(fld, "bool", _text(cell))
        if not isinstance(value, bool):
            ctx.tally.miss(ctx.table, col, _text(cell))
            raise CellError(
                f"not a yes/no value ({cell!r})",
                f"write 是 or 否 (or map the site's labels under `values: {fld}:` in --mapping)",
            )
        if kind.startswith("flag:"):
            if value:
                values.setdefault("conditions", []).append(kind.split(":", 1)[1])
        else:
            values[fld] = value
    elif kind == "sex":
        value = ctx.lookup(fld, kind, _text(cell))
        if value not in ("M", "F"):
            ctx.tally.miss(ctx.table, col, _text(cell))
            raise CellError(
                f"unknown sex ({cell!r})",
                "write 男 or 女 (or map the site's codes under `values: sex:` in --mapping)",
            )
        values[fld] = value
    elif kind == "conditions":
        conditions = values.setdefault("conditions", [])
        for part in split_list(_text(cell)):
            value = ctx.lookup(fld, kind, part)
            if value is None:  # a label the site maps to nothing (老年人 in a 服务类型 list)
                ctx.tally.drop(ctx.table, col, part)
                continue
            value = part.lower() if value is MISSING else value
            if value not in {c.value for c in Condition}:
                ctx.tally.miss(ctx.table, col, part)
                choices = [c.value for c in Condition] + known(fld, kind, ctx.table.form, ctx.mapping.values)
                raise CellError(
                    f"unknown condition {part!r}",
                    did_you_mean(part, choices)
                    or "write 高血压, 糖尿病 or 血脂异常 (or hypertension, diabetes, dyslipidemia)",
                )
            conditions.append(value)
    elif kind == "history":
        items = values.setdefault("history", [])
        for part in split_list(_text(cell)):
            code = ctx.lookup(fld, kind, part)
            if code is MISSING:
                code = part.lower()
                if code not in {h.value for h in HistoryCode}:
                    ctx.tally.miss(ctx.table, col, part)
            elif code is None:
                ctx.tally.drop(ctx.table, col, part)
                continue
            if isinstance(code, str) and code.startswith("condition:"):
                values.setdefault("conditions", []).append(code.split(":", 1)[1])
            elif code not in {i["code"] for i in items}:
                items.append({"code": code})
    elif kind == "codes":  # symptoms: national codes or labels, or the interchange codes themselves
        codes = values.setdefault(fld, [])
        for part in split_list(_text(cell)):
            if part.isascii() and part.replace("_", "").isalpha():
                codes.append(part.lower())
                continue
            value = _coded(ctx, col, part, "unknown symptom", "use the form's symptom codes 1–9 or labels")
            codes += [c for c in value or () if c not in codes]
    elif kind == "visit_class":
        value = _coded(ctx, col, _text(cell), "unknown visit classification", "1 控制满意 … 4 并发症")
        if value:
            values.setdefault("_class", []).append(value)
    elif kind == "foot_pulse":
        value = _coded(ctx, col, _text(cell), "unknown foot pulse finding", "1 触及正常 2 减弱 3 消失")
        if value:
            values.setdefault("_screenings", []).append({"kind": "foot_pulse", "result": value})
    elif kind.startswith("screen:"):  # 心电图 / 眼底 of the health check: a screening of its date
        value = _coded(ctx, col, _text(cell), f"unknown {fld} finding", "1 正常 2 异常")
        if value:
            values.setdefault("_screenings", []).append({"kind": kind.split(":")[1], "result": value})
    elif kind == "glucose_unit":
        values["_glucose_unit"] = _coded(ctx, col, _text(cell), "unknown glucose unit", "1 mmol/L, 2 mg/dL")
    elif kind.startswith("ref:"):  # 转诊 on the follow-up form: a referral dated by the visit
        values.setdefault("_referral", {})[kind.split(":")[1]] = _text(cell)
    elif kind == "enum":
        value = ctx.lookup(fld, kind, _text(cell))
        values[fld] = normalize_header(_text(cell)) if value is MISSING or value is None else value
    else:  # pragma: no cover  (a kind added to TABLES without a parser)
        raise AssertionError(f"no parser for kind {kind!r}")


_MISSING = object()
_MEMO_CELLS = 4096  # distinct texts remembered per column (bounded: a name column never repeats)
_LOOKUP_MEMO = 16 * _MEMO_CELLS  # coded-cell lookups remembered per table (`_Ctx.lookup`)
_PURE_KINDS = ("date", "num", "bool", "urban", "sex", "enum")


def _cell_parser(ctx: _Ctx, col: Column) -> tuple:
    """(`parse(cell, values)`, memo or None) for one column, chosen once per table instead of once
    per cell: the common kinds inline, the rest through `_parse_cell`. A kind whose successful
    parse only sets `values[field]` from the cell text remembers what each text gave in `memo`
    (text → value; failures are not remembered, so each is counted and reported as before)."""
    kind, fld = col.spec.kind, col.field

    def general(cell, values: dict) -> None:
        _parse_cell(ctx, col, cell, values)

    if col.option is not None:
        return general, None
    role = "patients" if col.person else ctx.table.role
    if kind == "text":

        def parse_text(cell, values: dict) -> None:
            values[fld] = cell.strip() if cell.__class__ is str else _text(cell)

        return parse_text, None
    if kind == "lab":
        unit = _UNIT_OF.get(("labs", fld))
        pair = fld in _PAIR_FIELDS

        def parse_lab(cell, values: dict) -> None:
            number = parse_number(_text(cell) if isinstance(cell, str) else cell, unit, pair=pair)
            values.setdefault("_lab", {})[fld] = number

        return parse_lab, None
    if kind == "id":
        last: list = [None, None]  # (cell, id): a child table's rows of one patient come together

        def parse_id_cell(cell, values: dict) -> None:
            if cell.__class__ is not str:
                general(cell, values)  # a number: refused for the resident ID
            elif cell == last[0]:
                values[fld] = last[1]
            else:
                values[fld] = last[1] = parse_id(cell)
                last[0] = cell

        return parse_id_cell, None
    if kind not in _PURE_KINDS:
        return general, None
    if kind == "date":
        allow_range = role == "patients"

        def parse_one(cell, values: dict) -> None:
            values[fld] = parse_date(cell, allow_range=allow_range)

    elif kind == "num":
        unit = _UNIT_OF.get((role, fld))
        pair = fld in _PAIR_FIELDS

        def parse_one(cell, values: dict) -> None:
            values[fld] = parse_number(_text(cell) if isinstance(cell, str) else cell, unit, pair=pair)

    else:
        parse_one = general
    memo: dict[str, object] = {}

    def parse_memo(cell, values: dict) -> None:
        if cell.__class__ is not str:  # 1, 1.0 and True are equal keys but not equal cells
            parse_one(cell, values)
            return
        try:
            values[fld] = memo[cell]
        except KeyError:
            parse_one(cell, values)
            if len(memo) < _MEMO_CELLS:
                memo[cell] = values[fld]

    return parse_memo, memo


def _bp(cell) -> tuple:
    text = _text(cell)
    parts = text.replace("／", "/").split("/")
    if len(parts) == 3 and normalize_header(parts[2]) in ("mmhg", ""):
        parts = parts[:2]  # 150/90/mmHg never; 150/90mmHg is handled below
    try:
        if len(parts) != 2:
            raise CellError("", "")
        return parse_number(parts[0], "mmHg"), parse_number(parts[1], "mmHg")
    except CellError:
        raise CellError(f"not a blood pressure ({cell!r})", "write systolic/diastolic, e.g. 150/90") from None


def _parse_row(ctx: _Ctx, number: int, cells) -> tuple[dict, dict, list[Problem]]:
    """(row values, person values of a flat row, problems)."""
    table = ctx.table
    values: dict = {}
    person: dict = {}
    problems: list[Problem] = []
    width = len(cells)
    for index, col, is_person, parse, memo in ctx.plan:
        cell = cells[index] if index < width else None
        if cell is None or (isinstance(cell, str) and not cell.strip()):  # is_empty, inline
            continue
        target = person if is_person else values
        if memo is not None and cell.__class__ is str:  # parse_memo's first step, without the call
            value = memo.get(cell, _MISSING)
            if value is not _MISSING:
                target[col.field] = value
                continue
        try:
            parse(cell, target)
        except CellError as exc:
            problems.append(
                Problem(
                    _CELL_CODES.get(col.spec.kind, "D016"),
                    f"{'patients' if col.person else table.role}.{col.field}: {exc.message}",
                    table.name,
                    number,
                    col.header,
                    hint=exc.hint,
                )
            )
    for target in (values, person):
        if "conditions" in target:
            target["conditions"] = list(dict.fromkeys(target["conditions"]))
    if "_arms" in values:
        _choose_arm(table, values)
    if values.pop("_glucose_unit", "mmol/L") != "mmol/L":
        for fld in ("fpg", "random_glucose"):
            if fld in values:
                del values[fld]
                problems.append(
                    Problem(
                        "D015",
                        f"{table.role}.{fld}: the glucose unit column says mg/dL; sangao reads mmol/L",
                        table.name,
                        number,
                        table.header_for(fld),
                        hint="export the value in mmol/L (mg/dL ÷ 18); values are never converted on import",
                    )
                )
    if "_referral" in values:
        referral = values.pop("_referral")
        if "to" in referral:
            values["_referral_out"] = referral
        else:  # a reason with no destination is no referral record; counted, not guessed
            col = next(c for c in table.columns if c.spec.kind == "ref:reason")
            ctx.tally.drop(table, col, referral["reason"] + " (no 转诊机构)")
    if "_class" in values:
        for flag in values.pop("_class"):
            values.setdefault(flag, True)
    if table.role != "patients" and "id_number" in values:  # join key only
        person.setdefault("id_number", values.pop("id_number"))
    return values, person, problems


def _choose_arm(table: Table, values: dict) -> None:
    arms = {a: r for a, r in values.pop("_arms").items() if None not in r}
    arm = table.arm
    if arm == "higher" and arms:
        arm = max(arms, key=lambda a: arms[a][0])
    if arm in arms:
        values["sbp"], values["dbp"] = arms[arm]


def _raw(table: Table, cells) -> str:
    return json.dumps(
        {
            h: (c if isinstance(c, (str, int, float)) or c is None else str(c))
            for h, c in zip(table.headers, cells, strict=False)
            if h
        },
        ensure_ascii=False,
    )


# ---- joining ------------------------------------------------------------------------------------


_ChildRef = tuple[Table, int]  # where a child record of the record came from: table, row


def _join_key(table: Table, values: dict, person: dict, mapping: Mapping) -> str | None:
    if table.key == "patient_id":
        return values.get("patient_id")
    number = person.get("id_number") or values.get("id_number")
    return derive_patient_id(number, mapping.id_salt) if number else None


def _child_problems(table: Table, number: int, values: dict) -> list[Problem]:
    """Validate the child record(s) a row carries: the row's own model, plus the lab and
    screenings a flat visit row adds (dated by the visit)."""
    if _EXTRA_KEYS.isdisjoint(values):
        # the common row: one record, valid. An invalid one is checked again below, for its words;
        # a row with an underscore key this set lacks fails here (extra="forbid") and goes below too
        try:
            _CHILD_VALIDATE[table.role](values)
            return []
        except ValidationError:
            pass
    own = {k: v for k, v in values.items() if not k.startswith("_")}  # without the _lab … it carries
    problems = []
    model = _CHILD_MODELS[table.role]
    checks = [(model, table.role, own)]
    if values.get("_lab"):
        checks.append((Lab, "labs", {"date": values.get("date"), **values["_lab"]}))
    for screening in values.get("_screenings", ()):
        checks.append((Screening, screening["kind"], {"date": values.get("date"), **screening}))
    if values.get("_referral_out"):
        checks.append((Referral, "referrals", {"date": values.get("date"), **values["_referral_out"]}))
    for check_model, role, data in checks:
        try:
            check_model.__pydantic_validator__.validate_python(data)  # model_validate, one call less
        except ValidationError as exc:
            screening = check_model is Screening
            for issue in pydantic_issues(exc, check_model, ("screenings" if screening else role,)):
                fld = issue.loc[1] if len(issue.loc) > 1 else None
                problems.append(
                    Problem(
                        issue.code,
                        issue.message,
                        table.name,
                        number,
                        table.header_for(fld) or (table.header_for(role) if screening else None),
                        hint=issue.hint,
                    )
                )
    return problems


def _no_register(_patient_id: str) -> None:
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


def _join(
    source: Source, tables: list[Table], mapping: Mapping, closers: list, tally: _Tally, register
) -> Iterator[Item]:
    patients = [t for t in tables if t.role == "patients"]
    child_tables = [t for t in tables if t.role != "patients"]
    if len({tuple(normalize_header(h) for h in t.headers) for t in patients}) > 1 or (
        not patients
        and not any(t.role == "visits" and (t.key == "id_number" or t.is_flat) for t in child_tables)
    ):
        names = ", ".join(t.name for t in patients) or ", ".join(str(p) for p in source.paths)
        raise SangaoError.one(
            "D030",
            f"a roster set needs one patients table (split parts with the same headers count as one), "
            f"or visit rows with the resident ID; found {len(patients)}: {names}",
            file=str(source.paths[0]),
            hint="give one patients file (患者/patients) per directory or workbook, or a visits "
            "export with 身份证号",
        )
    _settle_keys(source, patients, child_tables)
    for table in tables:
        source.rows_read.setdefault(table.name, 0)
    spill = _ChildSpill(closers)
    for table_index, table in enumerate(child_tables):
        ctx = _Ctx(mapping, tally, table)
        for number, cells in table.rows:
            source.rows_read[table.name] += 1
            values, person, problems = _parse_row(ctx, number, cells)
            if table.key == "patient_id":
                pid = values.pop("patient_id", None)
            else:
                pid = _join_key(table, values, person, mapping)
                values.pop("patient_id", None)
            if pid is None:
                by_id = table.key == "patient_id"
                problems.append(
                    Problem.of(
                        "D026",
                        file=table.name,
                        line=number,
                        column=table.header_for(table.key),
                        table=table.role,
                        table_zh=_ROLE_ZH[table.role],
                        key="patient id" if by_id else "resident ID",
                        key_zh="患者编号" if by_id else "身份证号",
                    )
                )
            if not problems:
                problems = _child_problems(table, number, values)
            if problems:
                yield Item(table.name, number, None, pid, problems=problems, raw=_raw(table, cells))
                continue
            stored = {"v": values, "p": person}
            if not patients:  # the reject file shows a flat patient's (or person's) row as exported
                stored["r"] = _raw(table, cells)
            spill.add(pid, table_index, number, stored)
    spill.finish_loading()
    notes = _Notes(source)
    if patients:
        yield from _join_patients(source, patients, child_tables, spill, mapping, tally, notes)
    elif source_role(tables, mapping) == "events":
        yield from _event_patients(source, child_tables, spill, register)
    else:
        yield from _flat_patients(source, child_tables, spill, mapping, notes)
    notes.finish()
    orphan_key = patients[0] if patients else None
    for table_index, row, pid in spill.orphans():
        child_table = child_tables[table_index]
        yield Item(
            child_table.name,
            row,
            None,
            pid,
            problems=[
                Problem.of(
                    "D024",
                    file=child_table.name,
                    line=row,
                    column=child_table.header_for(child_table.key),
                    table=child_table.role,
                    table_zh=_ROLE_ZH[child_table.role],
                    patient=repr(pid),
                    patients=orphan_key.name if orphan_key else "-",
                    hint="check the patient id"
                    if child_table.key == "patient_id"
                    else "check the resident ID",
                )
            ],
        )


def _settle_keys(source: Source, patients: list[Table], child_tables: list[Table]) -> None:
    """All tables join on the patient id, or all on the resident ID (a patients table with both
    columns keeps its patient ids and joins on the resident ID when a child table has only that)."""
    if not any(t.key == "id_number" for t in child_tables):
        bad = [t for t in patients if t.key != "patient_id"]
        if not bad or not child_tables:
            return
    else:
        bad = [t for t in child_tables if t.key != "id_number"]
        for table in patients:
            if table.header_for("id_number") is None:
                bad.append(table)
            else:
                table.key = "id_number"
        if not bad:
            return
    raise SangaoError.one(
        "D030",
        "the tables join on different columns: "
        + ", ".join(f"{t.name} on {t.key}" for t in patients + child_tables),
        file=str(source.paths[0]),
        hint="give every table the patient id column, or every table the resident ID (身份证号)",
    )


class _Notes:
    """How patients were completed, stated once per source in the summary (D110)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.counts: Counter = Counter()

    def note(self, text: str, zh: str) -> None:
        self.counts[(text, zh)] += 1

    def finish(self) -> None:
        for (text, zh), n in self.counts.items():
            self.source.findings.append(
                Problem.of(
                    "D110", file=self.source.name, what=both(f"{text} ({n} patients)", f"{zh}（{n} 名患者）")
                )
            )


def _attach(values: dict, rows: list[tuple[int, int, dict]], child_tables: list[Table], refs: dict) -> list:
    """Child rows into the record: visits merged by date (a hypertension and a diabetes form of one
    day are one visit), a flat row's lab and screenings dated by its visit."""
    forms = []
    by_date: dict[tuple[str, str], int] = {}
    for table_index, row, stored in rows:
        table = child_tables[table_index]
        child = stored["v"]
        if table.form and not table.form_guessed:
            forms.append(table.form)
        lab = child.pop("_lab", None)
        screenings = child.pop("_screenings", ())
        referral = child.pop("_referral_out", None)
        _merge(values, table.role, child, table, row, refs, by_date)
        if referral:
            _merge(values, "referrals", {"date": child["date"], **referral}, table, row, refs, by_date)
        if lab:
            _merge(values, "labs", {"date": child["date"], **lab}, table, row, refs, by_date)
        for s in screenings:
            _merge(values, "screenings", {"date": child["date"], **s}, table, row, refs, by_date)
    return forms


def _merge(values: dict, role: str, child: dict, table: Table, row: int, refs: dict, by_date: dict) -> None:
    """A dated child row into the record: rows of one day that complete each other (a hypertension
    and a diabetes form, a follow-up and a lab) are one record; two readings of one field on one
    day (150/90 in the morning, 190/110 later) are two records, both kept."""
    key = (role, str(child.get("date")) + ("|" + child["kind"] if role == "screenings" else ""))
    if role in ("visits", "labs", "screenings"):
        for at in by_date.get(key, ()):
            existing = values[role][at]
            if any(k != "symptoms" and k in existing and existing[k] != v for k, v in child.items()):
                continue  # another reading of that day
            for k, v in child.items():
                if k == "symptoms":
                    existing[k] = list(dict.fromkeys([*existing.get(k, []), *v]))
                else:
                    existing.setdefault(k, v)
            return
    values.setdefault(role, []).append(child)
    refs.setdefault(role, []).append((table, row))
    by_date.setdefault(key, []).append(len(values[role]) - 1)


def _complete(values: dict, forms: list[str], mapping: Mapping, notes: _Notes, has_column) -> set[str]:
    """Fill what a flat export lacks: conditions, enrolled_on, defaults, sex/birth date from the ID.
    Returns the fields so filled: they complete a new patient but never replace a stored value."""
    before = set(values)
    if not values.get("conditions"):
        if mapping.defaults.get("conditions"):
            values["conditions"] = list(mapping.defaults["conditions"])
            notes.note("conditions from --mapping defaults", "管理病种取自 --mapping 的 defaults")
        elif found := {form_condition(f) for f in forms} - {None}:
            values["conditions"] = [c.value for c in Condition if c.value in found]
            notes.note(
                "conditions from the form of the visit export (高血压/糖尿病)",
                "管理病种取自随访表的表单（高血压/糖尿病）",
            )
    if "enrolled_on" not in values:
        default = mapping.defaults.get("enrolled_on")
        visit_dates = [v["date"] for v in values.get("visits", ()) if isinstance(v.get("date"), date)]
        if isinstance(default, date):
            values["enrolled_on"] = default
            notes.note(
                f"enrolled_on {default.isoformat()} from --mapping defaults",
                f"建档日期 {default.isoformat()} 取自 --mapping 的 defaults",
            )
        elif visit_dates:
            values["enrolled_on"] = min(visit_dates)
            why = (
                "as --mapping says" if default == "first_visit" else "no enrolment column, none in --mapping"
            )
            why_zh = "--mapping 如此规定" if default == "first_visit" else "无建档日期列，--mapping 未给"
            notes.note(
                f"enrolled_on is the first visit's date ({why})", f"建档日期取首次随访日期（{why_zh}）"
            )
    for key, value in mapping.defaults.items():
        if key not in ("conditions", "enrolled_on") and key not in values:
            values[key] = value
    number = values.get("id_number")
    if number and not (has_column("sex") and has_column("birth_date")):
        full = resident_id.upgrade15(number) if len(number) == 15 and number.isdigit() else number
        if resident_id.problem(full) is None:
            if "sex" not in values and not has_column("sex"):
                values["sex"] = resident_id.sex(full)
                notes.note("sex read from the resident ID (no sex column)", "性别取自身份证号（无性别列）")
            if "birth_date" not in values and not has_column("birth_date"):
                values["birth_date"] = resident_id.birth_date(full)
                notes.note(
                    "birth date read from the resident ID (no birth date column)",
                    "出生日期取自身份证号（无出生日期列）",
                )
    return set(values) - before


def _join_patients(source, patients, child_tables, spill, mapping, tally, notes) -> Iterator[Item]:
    for table in patients:
        ctx = _Ctx(mapping, tally, table)
        for number, cells in table.rows:
            source.rows_read[table.name] += 1
            values, _, problems = _parse_row(ctx, number, cells)
            key = (
                _join_key(table, values, values, mapping)
                if table.key == "id_number"
                else values.get("patient_id")
            )
            if key is not None and "patient_id" not in values:
                values["patient_id"] = key
            pid = values.get("patient_id")
            refs: dict[str, list[_ChildRef]] = {}
            rows = spill.take(key) if key is not None else []
            forms = _attach(values, rows, child_tables, refs)
            for _, _, stored in rows:  # person columns of visit rows fill what the patients row lacks
                for k, v in stored["p"].items():
                    values.setdefault(k, v)
            derived = _complete(values, forms, mapping, notes, lambda f, t=table: t.header_for(f) is not None)
            item = Item(
                table.name,
                number,
                values,
                pid,
                problems=problems,
                raw=_raw(table, cells),
                rows=_units(rows, child_tables),
                locate=_locator(table, number, refs),
                derived=derived,
            )
            if pid is None:
                item.problems.append(
                    Problem(
                        "D010",
                        "patients.patient_id: required field missing",
                        table.name,
                        number,
                        table.header_for(table.key),
                        hint="fill in the patient id"
                        if table.key == "patient_id"
                        else "fill in the resident ID",
                    )
                )
            yield item


def _units(rows, child_tables) -> list[tuple[str, int]]:
    """The (file, row) of every child row a record carries, once each (a flat row may give a visit,
    a lab and a screening; a row merged into another's visit of the same day is carried too)."""
    return list(dict.fromkeys((child_tables[table_index].name, row) for table_index, row, _ in rows))


def _flat_patients(source, child_tables, spill, mapping, notes) -> Iterator[Item]:
    """No patients table: each resident's rows (in file order) make one patient; the person
    columns of later rows fill in or update those of earlier ones (newer wins)."""
    for key in spill.join_keys():
        rows = spill.take(key)
        values: dict = {}
        for _, _, stored in rows:
            values.update(stored["p"])
        values["patient_id"] = key
        first_table, first_row = child_tables[rows[0][0]], rows[0][1]
        refs: dict[str, list[_ChildRef]] = {}
        forms = _attach(values, rows, child_tables, refs)
        derived = _complete(
            values, forms, mapping, notes, lambda f, t=first_table: t.header_for(f) is not None
        )
        problems = []
        if not values.get("conditions"):
            problems.append(
                Problem(
                    "D010",
                    "patients.conditions: not in the export and not given",
                    first_table.name,
                    first_row,
                    hint="add `form: hypertension` (or diabetes), or `defaults: {conditions: [...]}` to "
                    "--mapping, or a 管理病种 column",
                )
            )
        carried = [u for u in _units(rows, child_tables) if u != (first_table.name, first_row)]
        yield Item(
            first_table.name,
            first_row,
            values,
            key,
            problems=problems,
            raw=rows[0][2].get("r", ""),
            rows=carried,
            locate=_locator(first_table, first_row, refs),
            derived=derived,
        )


_COMPARED = ("sex", "birth_date")  # person fields an events row may carry, compared with the register
_FIELD_ZH = {"sex": "性别", "birth_date": "出生日期", "smoker": "吸烟"}


def _event_patients(source, child_tables, spill, register) -> Iterator[Item]:
    """An events file: each resident's rows (visits, and the labs and screenings a row carries) for
    a stored patient, who is never rewritten; a person not stored is reported row by row (D027) and
    counted per file (D112, or D113 when nobody is stored), never created. A person field of the
    file that disagrees with the register is a finding (D111)."""
    unknown: dict[str, list] = {}  # file → [people, rows, first row]
    people = 0
    for key in spill.join_keys():
        rows = spill.take(key)
        if not rows:
            continue
        people += 1
        stored = register(key)
        if stored is None:
            for table_index, row, parked in rows:
                table = child_tables[table_index]
                number = parked["p"].get("id_number") or ""
                seen = unknown.setdefault(table.name, [0, 0, row, set()])
                seen[1] += 1
                seen[3].add(key)
                yield Item(
                    table.name,
                    row,
                    None,
                    key,
                    problems=[
                        Problem.of(
                            "D027",
                            file=table.name,
                            line=row,
                            column=table.header_for("id_number"),
                            table=table.role,
                            table_zh=_ROLE_ZH[table.role],
                            id=resident_id.mask(number),
                        )
                    ],
                    raw=parked.get("r", ""),
                )
            continue
        values: dict = {"patient_id": key}
        findings: list[Problem] = []
        latest: dict[str, tuple] = {}
        for table_index, row, parked in rows:
            table = child_tables[table_index]
            for fld in _COMPARED:
                found = parked["p"].get(fld)
                if found is not None and str(found) != str(stored.get(fld)):
                    findings.append(
                        Problem.of(
                            "D111",
                            file=table.name,
                            line=row,
                            column=table.header_for(fld),
                            field=fld,
                            field_zh=_FIELD_ZH[fld],
                            found=str(found),
                            stored=str(stored.get(fld)),
                        )
                    )
            if "smoker" in parked["p"]:  # observed on a dated row: the latest observation counts
                when = str(parked["v"].get("date"))
                if when >= latest.get("smoker", ("",))[0]:
                    latest["smoker"] = (when, parked["p"]["smoker"], table, row)
        if "smoker" in latest:
            _, smoker, table, row = latest["smoker"]
            if stored.get("smoker") is None:
                values["smoker"] = smoker
            elif bool(stored["smoker"]) != smoker:
                findings.append(
                    Problem.of(
                        "D111",
                        file=table.name,
                        line=row,
                        column=table.header_for("smoker"),
                        field="smoker",
                        field_zh=_FIELD_ZH["smoker"],
                        found=str(smoker),
                        stored=str(bool(stored["smoker"])),
                    )
                )
        refs: dict[str, list[_ChildRef]] = {}
        _attach(values, rows, child_tables, refs)
        first_table, first_row = child_tables[rows[0][0]], rows[0][1]
        yield Item(
            first_table.name,
            first_row,
            values,
            key,
            findings=findings,
            rows=[u for u in _units(rows, child_tables) if u != (first_table.name, first_row)],
            locate=_locator(first_table, first_row, refs),
            events=stored,
        )
    for name, (_, n_rows, first, keys) in unknown.items():
        if len(keys) == people:
            source.findings.append(Problem.of("D113", file=name, people=len(keys)))
        else:
            source.findings.append(
                Problem.of("D112", file=name, people=len(keys), rows=n_rows, first=first)
            )


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


def _pack(values: dict) -> bytes | str:
    """A parked row as MessagePack bytes: like the JSON text it replaces, dates become ISO text
    (`_dates` turns them back) and tuples lists, at a tenth of the cost. An integer past 64 bits
    (a 30-digit "number") falls back to that JSON text, so nothing is refused that was stored."""
    try:
        return _encode(values)
    except (OverflowError, TypeError):
        return json.dumps(values, ensure_ascii=False, default=_iso)


def _unpack(data: bytes | str) -> dict:
    return _dates(_decode(data) if isinstance(data, bytes) else json.loads(data))


SPILL_MEMORY = 64 << 20  # bytes of parked child rows held in memory before the rest go to disk


class _ChildSpill:
    """Child rows parked by join key until their patient row comes. The first `memory` bytes of
    them (packed, plus a per-row allowance for the Python objects holding them) wait in a dict;
    every row after that goes to a temporary SQLite file, so memory stays bounded however large
    the export. A row in memory always precedes every row on disk, so file order is kept."""

    _BATCH = 5000
    _ROW_COST = 160  # bytes a parked row costs beyond its packed data: bytes object, tuple, list slot

    def __init__(self, closers: list, memory: int | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sangao-join-")
        self._db = sqlite3.connect(Path(self._dir.name) / "children.db")
        closers.append(self.close)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE child (seq INTEGER PRIMARY KEY, pid TEXT, tab INTEGER, row INTEGER, data BLOB)"
        )
        self._db.execute("CREATE TABLE taken (pid TEXT PRIMARY KEY)")
        self._room = SPILL_MEMORY if memory is None else memory
        self._held: dict[str, list[tuple[int, int, int, bytes | str]]] = {}  # pid → (seq, tab, row, data)
        self._seq = 0
        self._spilled = False  # a row went to disk: every later row goes there too
        self._pending: list[tuple] = []
        self._taken: set[str] = set()
        self._taken_pending: list[tuple[str]] = []

    def add(self, pid: str, table_index: int, row: int, values: dict) -> None:
        self._seq += 1
        data = _pack(values)
        if not self._spilled:
            self._room -= len(data) + self._ROW_COST
            if self._room >= 0:
                self._held.setdefault(pid, []).append((self._seq, table_index, row, data))
                return
            self._spilled = True
        self._pending.append((self._seq, pid, table_index, row, data))
        if len(self._pending) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany(
                "INSERT INTO child (seq, pid, tab, row, data) VALUES (?, ?, ?, ?, ?)", self._pending
            )
            self._pending = []
        if self._taken_pending:
            self._db.executemany("INSERT OR IGNORE INTO taken (pid) VALUES (?)", self._taken_pending)
            self._taken_pending = []

    def finish_loading(self) -> None:
        self._flush()
        if self._spilled:
            self._db.execute("CREATE INDEX child_pid ON child (pid, seq)")

    def join_keys(self) -> Iterator[str]:
        """Every join key, in the order of its first row."""
        held = list(self._held)  # a snapshot, as the SQL below is
        yield from held
        if self._spilled:
            seen = set(held)
            rows = self._db.execute("SELECT pid FROM child GROUP BY pid ORDER BY MIN(seq)")
            yield from (r[0] for r in rows if r[0] not in seen)

    def take(self, pid: str) -> list[tuple[int, int, dict]]:
        """The child rows of `pid` in file order; a repeated patient row gets none (it is rejected)."""
        if pid in self._taken:
            return []
        self._taken.add(pid)
        held = self._held.get(pid)
        out = []
        if held:
            self._held[pid] = []  # the key stays, for join_keys; the rows go
            out = [(tab, row, _unpack(data)) for _, tab, row, data in held]
        if self._spilled:
            self._taken_pending.append((pid,))
            if len(self._taken_pending) >= self._BATCH:
                self._flush()
            rows = self._db.execute("SELECT tab, row, data FROM child WHERE pid = ? ORDER BY seq", (pid,))
            out += [(tab, row, _unpack(data)) for tab, row, data in rows]
        return out

    def orphans(self) -> Iterator[tuple[int, int, str]]:
        held = sorted((seq, tab, row, pid) for pid, rows in self._held.items() for seq, tab, row, _ in rows)
        yield from ((tab, row, pid) for _, tab, row, pid in held)
        if self._spilled:
            self._flush()
            yield from self._db.execute(
                "SELECT tab, row, pid FROM child WHERE pid NOT IN (SELECT pid FROM taken) ORDER BY seq"
            )

    def close(self) -> None:
        self._held = {}
        self._db.close()
        self._dir.cleanup()


_DATE_KEYS = ("date", "returned_on", "birth_date", "enrolled_on", "deceased_on", "moved_out_on")
_DATE_KEY_SET = frozenset(_DATE_KEYS)


def _dates(stored: dict) -> dict:
    """Dates come back from the spill as ISO text; those the completion step compares become dates."""
    for part in (stored.get("v"), stored.get("p")):
        if part:
            for k in _DATE_KEY_SET.intersection(part):  # the date keys the row has (C-level test)
                text = part[k]
                if isinstance(text, str):
                    part[k] = date.fromisoformat(text)
    return stored


def _iso(value):
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def _locator(table: Table, number: int, refs: dict[str, list[_ChildRef]]):
    def locate(loc):
        if len(loc) >= 2 and loc[0] in refs and isinstance(loc[1], int) and loc[1] < len(refs[loc[0]]):
            ref_table, ref_row = refs[loc[0]][loc[1]]
            return ref_table.name, ref_row, ref_table.header_for(loc[2] if len(loc) > 2 else None)
        return table.name, number, table.header_for(loc[0] if loc else None)

    return locate


__all__ = ["REJECT_HEADER", "VALUE_LABELS", "derive_patient_id", "read_tabular"]
