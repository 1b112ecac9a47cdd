"""Putting a person's parked rows together and completing what a flat export lacks: child rows
merged by day (rows of one day that complete each other are one record; two readings of one day
are two), and for a register made from a flat export the conditions, enrolment date, defaults and
sex/birth date from the ID, stated once per source (D110) and returned as derived (they never
replace a stored value)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from pathways import resident_id
from pathways.errors import Problem
from pathways.vocab import Condition
from store.readers import Source
from store.readers.codes import (
    form_condition,
)
from store.readers.mapping import Mapping
from store.readers.table import _ROLE_ZH, Table, both


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


def _attach(
    values: dict, rows: list[tuple[int, int, dict]], child_tables: list[Table], refs: dict,
    repeats: list[Problem] | None = None,
) -> list:
    """Child rows into the record: visits merged by date (a hypertension and a diabetes form of one
    day are one visit), a flat row's lab and screenings dated by its visit. A row identical to an
    earlier one of that day (the same row exported twice) is stored once, a D115 in `repeats`."""
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
        _merge(values, table.role, child, table, row, refs, by_date, repeats)
        if referral:
            _merge(values, "referrals", {"date": child["date"], **referral}, table, row, refs, by_date)
        if lab:
            _merge(values, "labs", {"date": child["date"], **lab}, table, row, refs, by_date)
        for s in screenings:
            _merge(values, "screenings", {"date": child["date"], **s}, table, row, refs, by_date)
    return forms


def _merge(
    values: dict, role: str, child: dict, table: Table, row: int, refs: dict, by_date: dict, repeats=None
) -> None:
    """A dated child row into the record: rows of one day that complete each other (a hypertension
    and a diabetes form, a follow-up and a lab) are one record; two readings of one field on one
    day (150/90 in the morning, 190/110 later) are two records, both kept."""
    key = (role, str(child.get("date")) + ("|" + child["kind"] if role == "screenings" else ""))
    if role in ("visits", "labs", "screenings"):
        for at in by_date.get(key, ()):
            existing = values[role][at]
            if any(k != "symptoms" and k in existing and existing[k] != v for k, v in child.items()):
                continue  # another reading of that day
            if repeats is not None and child == existing and len(child) > 1:  # more than the date
                first_table, first_row = refs[role][at]
                same_file = first_table is table
                repeats.append(
                    Problem.of(
                        "D115",
                        file=table.name,
                        line=row,
                        where=both(role, _ROLE_ZH[role]),
                        first=both(f"row {first_row}", f"第 {first_row} 行")
                        if same_file
                        else f"{first_table.name}:{first_row}",
                        date=str(child.get("date")),
                    )
                )
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
