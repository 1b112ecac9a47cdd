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

This module joins; the jobs it calls on each have a module: store/readers/roles.py (which table a
sheet is, its form, register or events), columns.py (which field a column is), cells.py (reading
a row), spill.py (parking child rows), complete.py (merging a person's rows, completing a flat
export), table.py (the data model).

How a table's role is recognised, first match wins:
1. the site mapping's `tables:` entry for the file stem or sheet name;
2. a hint in the name: referral/转诊, screening/筛查, lab/化验/检验, visit/随访/体检, history/既往史,
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

from collections.abc import Iterator

from pydantic import BaseModel, ValidationError

from pathways import resident_id
from pathways.errors import Problem, SangaoError
from pathways.models import HistoryItem, Lab, Referral, Screening, Visit
from store.readers import Item, Source
from store.readers.aliases import (
    VALUE_LABELS,
    normalize_header,
)
from store.readers.cells import _Ctx, _parse_row, _raw
from store.readers.complete import _attach, _complete, _Notes
from store.readers.mapping import Mapping
from store.readers.roles import _open_tables, source_role
from store.readers.spill import SPILL_MEMORY as DEFAULT_SPILL_MEMORY
from store.readers.spill import _ChildSpill
from store.readers.table import _ROLE_ZH, REJECT_HEADER, Table, _ChildRef, _Tally, both, derive_patient_id
from store.validation import pydantic_issues

# Bytes of parked child rows held in memory before the rest go to disk (store/readers/spill.py);
# bench/tabular_bench.py and the tests set it here, _join reads it.
SPILL_MEMORY = DEFAULT_SPILL_MEMORY

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
                column = table.header_for(fld) or (table.header_for(role) if screening else None)
                problems.append(issue.problem(table.name, number, column))
    return problems


def _no_register(_patient_id: str) -> None:
    return None


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
        raise SangaoError.of("D030", variant="patients_table", file=str(source.paths[0]),
                             n=len(patients), names=names)
    _settle_keys(source, patients, child_tables)
    for table in tables:
        source.rows_read.setdefault(table.name, 0)
    spill = _ChildSpill(closers, SPILL_MEMORY)
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
                        table=both(table.role, _ROLE_ZH[table.role]),
                        key=both("patient id", "患者编号") if by_id else both("resident ID", "身份证号"),
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
                    table=both(child_table.role, _ROLE_ZH[child_table.role]),
                    patient=repr(pid),
                    patients=orphan_key.name if orphan_key else "-",
                    how=both("check the patient id", "请核对患者编号")
                    if child_table.key == "patient_id"
                    else both("check the resident ID", "请核对身份证号"),
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
    tables = patients + child_tables
    raise SangaoError.of(
        "D030", variant="join", file=str(source.paths[0]),
        joins={"en": ", ".join(f"{t.name} on {t.key}" for t in tables),
               "zh": "，".join(f"{t.name} 按 {t.key}" for t in tables)},
    )


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
            repeats: list[Problem] = []
            forms = _attach(values, rows, child_tables, refs, repeats)
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
                findings=repeats,
                raw=_raw(table, cells),
                rows=_units(rows, child_tables),
                locate=_locator(table, number, refs),
                derived=derived,
            )
            if pid is None:
                how = (
                    both("fill in the patient id", "请填写患者编号")
                    if table.key == "patient_id"
                    else both("fill in the resident ID", "请填写身份证号")
                )
                item.problems.append(
                    Problem.of(
                        "D010",
                        file=table.name,
                        line=number,
                        column=table.header_for(table.key),
                        where="patients.patient_id",
                        how=how,
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
        repeats: list[Problem] = []
        forms = _attach(values, rows, child_tables, refs, repeats)
        derived = _complete(
            values, forms, mapping, notes, lambda f, t=first_table: t.header_for(f) is not None
        )
        problems = []
        if not values.get("conditions"):
            how = both(
                "add `form: hypertension` (or diabetes), or `defaults: {conditions: [...]}` to "
                "--mapping, or a 管理病种 column",
                "在 --mapping 中写 `form: hypertension`（或 diabetes）或 `defaults: {conditions: [...]}`，"
                "或加一列 管理病种",
            )
            problems.append(
                Problem.of("D010", variant="export", file=first_table.name, line=first_row,
                           where="patients.conditions", how=how)
            )
        carried = [u for u in _units(rows, child_tables) if u != (first_table.name, first_row)]
        yield Item(
            first_table.name,
            first_row,
            values,
            key,
            problems=problems,
            findings=repeats,
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
                            table=both(table.role, _ROLE_ZH[table.role]),
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
                            field=both(fld, _FIELD_ZH[fld]),
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
                        field=both("smoker", _FIELD_ZH["smoker"]),
                        found=str(smoker),
                        stored=str(bool(stored["smoker"])),
                    )
                )
        refs: dict[str, list[_ChildRef]] = {}
        _attach(values, rows, child_tables, refs, findings)
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
                Problem.of("D112", file=name, line=first, people=len(keys), rows=n_rows, first=first)
            )




def _locator(table: Table, number: int, refs: dict[str, list[_ChildRef]]):
    def locate(loc):
        if len(loc) >= 2 and loc[0] in refs and isinstance(loc[1], int) and loc[1] < len(refs[loc[0]]):
            ref_table, ref_row = refs[loc[0]][loc[1]]
            return ref_table.name, ref_row, ref_table.header_for(loc[2] if len(loc) > 2 else None)
        return table.name, number, table.header_for(loc[0] if loc else None)

    return locate


__all__ = ["REJECT_HEADER", "VALUE_LABELS", "derive_patient_id", "read_tabular"]
