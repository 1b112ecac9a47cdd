"""CSV and XLSX rosters in the shape real exports have: a patients table plus visits, labs,
screenings, history and referrals tables (separate CSV files of one directory, or sheets of one
workbook), joined on the patient id.

How a table's role is recognised, first match wins:
1. the site mapping's `tables:` entry for the file stem or sheet name;
2. a hint in the name: referral/转诊, screening/筛查, lab/化验/检验, visit/随访, history/既往史,
   patient/患者/档案/居民 (so `随访.csv`, `visits.csv`, a sheet called 化验 …);
3. the headers: a table with 性别 or 出生日期 is the patients table, else the child table with the
   most recognised headers.

Child tables are read first and parked in a temporary SQLite file by patient id; the patients
table then streams, each row joined with its child rows, so memory stays flat as exports grow. A bad
cell rejects its own row only: a bad visit row drops that visit (reported), not the patient; a
rejected patient row takes its child rows with it (D025). Row numbers are spreadsheet rows (the
header is row 1) and columns are the file's own header text.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ValidationError

from pathways.errors import Problem, SangaoError
from pathways.models import HistoryItem, Lab, Referral, Screening, Visit
from pathways.vocab import Condition
from store.readers import Item, Source, detect_encoding
from store.readers.aliases import (
    CHILD_ROLES,
    ROLE_HINTS,
    TABLES,
    VALUE_LABELS,
    CellError,
    FieldSpec,
    is_empty,
    normalize_header,
    normalize_value,
    parse_date,
    parse_id,
    parse_number,
    split_list,
)
from store.readers.mapping import Mapping
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
REJECT_HEADER = ["file", "row", "patient_id", "code", "column", "message", "hint", "raw"]
_CELL_CODES = {
    "id": "D020",
    "date": "D014",
    "num": "D015",
    "bp": "D015",
    "bool": "D017",
    "urban": "D017",
    "conditions": "D013",
    "sex": "D016",
    "history": "D016",
}


@dataclass
class Column:
    index: int
    header: str
    field: str
    spec: FieldSpec


@dataclass
class Table:
    role: str
    name: str
    headers: list[str]
    rows: Iterator[tuple[int, tuple]]
    columns: list[Column] = field(default_factory=list)

    def header_for(self, fld: str | int | None) -> str | None:
        for col in self.columns:
            if (
                col.field == fld
                or (col.spec.kind == "bp" and fld in ("sbp", "dbp"))
                or (fld == "conditions" and col.spec.kind.startswith("flag:"))
            ):
                return col.header
        return None


def read_tabular(source: Source, mapping: Mapping | None) -> Iterator[Item]:
    mapping = mapping or Mapping()
    closers: list = []
    try:
        tables = _open_tables(source, mapping, source.findings, closers)
        yield from _join(source, tables, mapping, closers)
    finally:
        for close in closers:
            close()


# ---- opening files and sheets -------------------------------------------------------------------


def _sniff_delimiter(first_line: str) -> str:
    return max((",", "\t", ";"), key=first_line.count)


def _csv_rows(reader) -> Iterator[tuple[int, tuple]]:
    for number, row in enumerate(reader, start=2):
        if any(cell.strip() for cell in row):
            yield number, tuple(row)


def _xlsx_rows(rows) -> Iterator[tuple[int, tuple]]:
    for number, row in enumerate(rows, start=2):
        if any(not is_empty(cell) for cell in row):
            yield number, row


def _open_tables(source: Source, mapping: Mapping, findings: list[Problem], closers: list) -> list[Table]:
    raw: list[tuple[str, str, list[str], Iterator]] = []  # (name, stem, headers, rows)
    if source.kind == "csv":
        for path in source.paths:
            name = str(path)
            encoding = detect_encoding(path)
            source.encodings[name] = encoding
            f = open(path, encoding=encoding, newline="")  # noqa: SIM115  (closed by read_tabular)
            closers.append(f.close)
            first = f.readline()
            f.seek(0)
            reader = csv.reader(f, delimiter=_sniff_delimiter(first))
            headers = [h.lstrip("\ufeff") for h in next(reader, [])]
            raw.append((name, path.stem, headers, _csv_rows(reader)))
    else:
        import openpyxl

        path = source.paths[0]
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged or non-xlsx file
            raise SangaoError.one(
                "D030", f"cannot open the workbook: {exc}", file=str(path), hint="save it from Excel as .xlsx"
            ) from None
        closers.append(workbook.close)
        for sheet in workbook.worksheets:
            name = f"{path}[{sheet.title}]"
            rows = sheet.iter_rows(values_only=True)
            header_row = next(rows, None)
            if header_row is None:
                continue
            source.encodings[name] = "xlsx"
            headers = ["" if h is None else str(h) for h in header_row]
            raw.append((name, sheet.title, headers, _xlsx_rows(rows)))
    tables = []
    for name, stem, headers, rows in raw:
        if [h.strip() for h in headers] == REJECT_HEADER:
            findings.append(
                Problem(
                    "D108",
                    "a sangao reject file (from --rejects); skipped",
                    name,
                    1,
                    hint="fix the rows in the original export and import that again",
                )
            )
            continue
        role = _role(stem, headers, mapping)
        if role is None:
            problem = Problem(
                "D108" if source.kind == "xlsx" else "D030",
                "cannot tell which table this is (patients, visits, labs, screenings, history "
                "or referrals); " + ("sheet ignored" if source.kind == "xlsx" else "file not read"),
                name,
                1,
                hint="name it e.g. visits.csv / 随访.csv, or list it under `tables:` in --mapping",
            )
            if source.kind == "xlsx":
                findings.append(problem)
                continue
            raise SangaoError([problem])
        table = Table(role, name, headers, rows)
        _resolve_columns(table, mapping, findings)
        tables.append(table)
    return tables


def _role(stem: str, headers: list[str], mapping: Mapping) -> str | None:
    key = normalize_header(stem)
    if key in mapping.tables:
        return mapping.tables[key]
    for role, hints in ROLE_HINTS:
        if any(h in key for h in hints):
            return role
    found: dict[str, set[str]] = {}
    for role in TABLES:
        found[role] = {f for h in headers if (f := _field_for(role, h, mapping))} - {"patient_id", "date"}
    if found["patients"] & {"sex", "birth_date"}:
        return "patients"
    scores = sorted(((len(found[r]), r) for r in CHILD_ROLES), reverse=True)
    if scores[0][0] > 0 and scores[0][0] > scores[1][0]:
        return scores[0][1]
    return None


def _field_for(role: str, header: str, mapping: Mapping) -> str | None:
    key = normalize_header(header)
    if key in mapping.columns:
        table, fld = mapping.columns[key]
        if table in (None, role) and fld in TABLES[role]:
            return fld
    return _ALIASES[role].get(key)


def _resolve_columns(table: Table, mapping: Mapping, findings: list[Problem]) -> None:
    seen: dict[str, str] = {}
    for index, header in enumerate(table.headers):
        if not header.strip():
            continue
        fld = _field_for(table.role, header, mapping)
        if fld is None:
            aliases = [a for a in _ALIASES[table.role]]
            findings.append(
                Problem(
                    "D108",
                    f"column {header!r} not recognised in the {table.role} table; ignored",
                    table.name,
                    1,
                    header,
                    hint=(did_you_mean(normalize_header(header), aliases) or "")
                    + " map it under `columns:` in --mapping".lstrip(),
                )
            )
            continue
        if fld in seen:
            findings.append(
                Problem(
                    "D108",
                    f"column {header!r} is {fld} again (first: {seen[fld]!r}); ignored",
                    table.name,
                    1,
                    header,
                )
            )
            continue
        seen[fld] = header
        table.columns.append(Column(index, header, fld, TABLES[table.role][fld]))
    if "patient_id" not in seen:
        raise SangaoError.one(
            "D030",
            f"the {table.role} table has no patient id column "
            f"(headers: {', '.join(h for h in table.headers if h)})",
            file=table.name,
            line=1,
            hint="name the column 患者编号 or patient_id, or map it under `columns:` in --mapping",
        )


# ---- cells --------------------------------------------------------------------------------------


def _label(fld: str, kind: str, text: str, mapping: Mapping):
    key = normalize_value(text)
    for labels in (
        mapping.values.get(fld),
        mapping.values.get(kind),
        VALUE_LABELS.get(fld),
        VALUE_LABELS.get(kind),
    ):
        if labels and key in labels:
            return labels[key]
    return None


def _known_labels(fld: str, kind: str, mapping: Mapping) -> list[str]:
    out: list[str] = []
    for labels in (
        mapping.values.get(fld),
        mapping.values.get(kind),
        VALUE_LABELS.get(fld),
        VALUE_LABELS.get(kind),
    ):
        out += list(labels or ())
    return out


def _text(cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _parse_cell(col: Column, cell, mapping: Mapping, values: dict) -> None:
    """Parse one non-empty cell into `values` (raises CellError)."""
    kind, fld = col.spec.kind, col.field
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
    elif kind == "date":
        values[fld] = parse_date(cell)
    elif kind == "num":
        values[fld] = parse_number(cell)
    elif kind == "bp":
        m = re.fullmatch(r"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", normalize_value(_text(cell)))
        if not m:
            raise CellError(f"not a blood pressure ({cell!r})", "write systolic/diastolic, e.g. 150/90")
        values["sbp"], values["dbp"] = parse_number(m[1]), parse_number(m[2])
    elif kind in ("bool", "urban") or kind.startswith("flag:"):
        value = _label(fld, kind, _text(cell), mapping)
        if value is None and kind != "bool":
            value = _label(fld, "bool", _text(cell), mapping)
        if not isinstance(value, bool):
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
        value = _label(fld, kind, _text(cell), mapping)
        if value not in ("M", "F"):
            raise CellError(
                f"unknown sex ({cell!r})",
                "write 男 or 女 (or map the site's codes under `values: sex:` in --mapping)",
            )
        values[fld] = value
    elif kind == "conditions":
        conditions = values.setdefault("conditions", [])
        for part in split_list(_text(cell)):
            value = _label(fld, kind, part, mapping) or normalize_value(part)
            if value not in {c.value for c in Condition}:
                choices = [c.value for c in Condition] + _known_labels(fld, kind, mapping)
                raise CellError(
                    f"unknown condition {part!r}",
                    did_you_mean(part, choices)
                    or "write 高血压, 糖尿病 or 血脂异常 (or hypertension, diabetes, dyslipidemia)",
                )
            conditions.append(value)
    elif kind == "history":
        items = values.setdefault("history", [])
        for part in split_list(_text(cell)):
            code = _label(fld, kind, part, mapping) or normalize_value(part)
            if code not in {i["code"] for i in items}:
                items.append({"code": code})
    elif kind == "codes":
        values[fld] = [_label(fld, kind, part, mapping) or part for part in split_list(_text(cell))]
    elif kind == "enum":
        values[fld] = _label(fld, kind, _text(cell), mapping) or normalize_value(_text(cell))
    else:  # pragma: no cover  (a kind added to TABLES without a parser)
        raise AssertionError(f"no parser for kind {kind!r}")


def _parse_row(table: Table, number: int, cells, mapping: Mapping) -> tuple[dict, list[Problem]]:
    values: dict = {}
    problems: list[Problem] = []
    for col in table.columns:
        cell = cells[col.index] if col.index < len(cells) else None
        if is_empty(cell):
            continue
        try:
            _parse_cell(col, cell, mapping, values)
        except CellError as exc:
            problems.append(
                Problem(
                    _CELL_CODES.get(col.spec.kind, "D016"),
                    f"{table.role}.{col.field}: {exc.message}",
                    table.name,
                    number,
                    col.header,
                    hint=exc.hint,
                )
            )
    if "conditions" in values:
        values["conditions"] = list(dict.fromkeys(values["conditions"]))
    return values, problems


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


@dataclass
class _ChildRef:
    table: Table
    row: int


def _join(source: Source, tables: list[Table], mapping: Mapping, closers: list) -> Iterator[Item]:
    patients = [t for t in tables if t.role == "patients"]
    if len(patients) != 1:
        names = ", ".join(t.name for t in patients) or ", ".join(str(p) for p in source.paths)
        raise SangaoError.one(
            "D030",
            f"a roster set needs exactly one patients table, found {len(patients)}: {names}",
            file=str(source.paths[0]),
            hint="give one patients file (患者/patients) per directory or workbook",
        )
    for table in tables:
        source.rows_read.setdefault(table.name, 0)
    spill = _ChildSpill(closers)
    child_tables = [t for t in tables if t.role != "patients"]
    for table_index, table in enumerate(child_tables):
        model = _CHILD_MODELS[table.role]
        for number, cells in table.rows:
            source.rows_read[table.name] += 1
            values, problems = _parse_row(table, number, cells, mapping)
            pid = values.pop("patient_id", None)
            if pid is None:
                problems.append(
                    Problem(
                        "D026",
                        f"{table.role}: row has no patient id",
                        table.name,
                        number,
                        table.header_for("patient_id"),
                        hint="fill in the patient id",
                    )
                )
            if not problems:
                try:
                    model.model_validate(values)
                except ValidationError as exc:
                    for issue in pydantic_issues(exc, model, (table.role,)):
                        problems.append(
                            Problem(
                                issue.code,
                                issue.message,
                                table.name,
                                number,
                                table.header_for(issue.loc[1] if len(issue.loc) > 1 else None),
                                hint=issue.hint,
                            )
                        )
            if problems:
                yield Item(table.name, number, None, pid, problems=problems, raw=_raw(table, cells))
                continue
            spill.add(pid, table_index, number, values)
    spill.finish_loading()
    table = patients[0]
    for number, cells in table.rows:
        source.rows_read[table.name] += 1
        values, problems = _parse_row(table, number, cells, mapping)
        pid = values.get("patient_id")
        refs: dict[str, list[_ChildRef]] = {}
        for table_index, row, child in spill.take(pid) if pid is not None else ():
            child_table = child_tables[table_index]
            values.setdefault(child_table.role, []).append(child)
            refs.setdefault(child_table.role, []).append(_ChildRef(child_table, row))
        item = Item(
            table.name,
            number,
            values,
            pid,
            problems=problems,
            raw=_raw(table, cells),
            rows=[(r.table.name, r.row) for role_refs in refs.values() for r in role_refs],
            locate=_locator(table, number, refs),
        )
        if pid is None:
            item.problems.append(
                Problem(
                    "D010",
                    "patients.patient_id: required field missing",
                    table.name,
                    number,
                    table.header_for("patient_id"),
                    hint="fill in the patient id",
                )
            )
        yield item
    for table_index, row, pid in spill.orphans():
        child_table = child_tables[table_index]
        yield Item(
            child_table.name,
            row,
            None,
            pid,
            problems=[
                Problem(
                    "D024",
                    f"{child_table.role}: no patient {pid!r} in the patients table ({table.name})",
                    child_table.name,
                    row,
                    child_table.header_for("patient_id"),
                    hint="check the patient id",
                )
            ],
        )


class _ChildSpill:
    """Child rows parked in a temporary SQLite file by patient id until their patient row comes,
    so memory stays flat however large the export (rows wait on disk, not in dicts)."""

    _BATCH = 5000

    def __init__(self, closers: list) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sangao-join-")
        self._db = sqlite3.connect(Path(self._dir.name) / "children.db")
        closers.append(self.close)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE child (seq INTEGER PRIMARY KEY, pid TEXT, tab INTEGER, row INTEGER, data TEXT)"
        )
        self._db.execute("CREATE TABLE taken (pid TEXT PRIMARY KEY)")
        self._pending: list[tuple] = []
        self._taken: set[str] = set()
        self._taken_pending: list[tuple[str]] = []

    def add(self, pid: str, table_index: int, row: int, values: dict) -> None:
        self._pending.append((pid, table_index, row, json.dumps(values, ensure_ascii=False, default=_iso)))
        if len(self._pending) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO child (pid, tab, row, data) VALUES (?, ?, ?, ?)", self._pending)
            self._pending = []
        if self._taken_pending:
            self._db.executemany("INSERT OR IGNORE INTO taken (pid) VALUES (?)", self._taken_pending)
            self._taken_pending = []

    def finish_loading(self) -> None:
        self._flush()
        self._db.execute("CREATE INDEX child_pid ON child (pid, seq)")

    def take(self, pid: str) -> list[tuple[int, int, dict]]:
        """The child rows of `pid` in file order; a repeated patient row gets none (it is rejected)."""
        if pid in self._taken:
            return []
        self._taken.add(pid)
        self._taken_pending.append((pid,))
        if len(self._taken_pending) >= self._BATCH:
            self._flush()
        rows = self._db.execute("SELECT tab, row, data FROM child WHERE pid = ? ORDER BY seq", (pid,))
        return [(tab, row, json.loads(data)) for tab, row, data in rows]

    def orphans(self) -> Iterator[tuple[int, int, str]]:
        self._flush()
        yield from self._db.execute(
            "SELECT tab, row, pid FROM child WHERE pid NOT IN (SELECT pid FROM taken) ORDER BY seq"
        )

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def _iso(value):
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def _locator(table: Table, number: int, refs: dict[str, list[_ChildRef]]):
    def locate(loc):
        if len(loc) >= 2 and loc[0] in refs and isinstance(loc[1], int) and loc[1] < len(refs[loc[0]]):
            ref = refs[loc[0]][loc[1]]
            return ref.table.name, ref.row, ref.table.header_for(loc[2] if len(loc) > 2 else None)
        return table.name, number, table.header_for(loc[0] if loc else None)

    return locate
