"""The tabular readers' data model: a table (one sheet, CSV file or archive part) with its role,
columns and join key; a resolved column; the per-column tally of values no value map knows; the
patient id derived from a resident ID; the bilingual wording of the findings raised here."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from pathways import resident_id
from pathways.errors import Problem
from store.readers.aliases import (
    FieldSpec,
)

REJECT_HEADER = ["file", "row", "patient_id", "code", "column", "message", "hint", "raw"]


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
    # (file, header) → [cells, first row, first reference]: formula cells with no saved value, kept
    formulas: dict[tuple[str, str], list] = field(default_factory=dict)

    def miss(self, table: Table, col: Column, value: str) -> None:
        self.unmapped.setdefault((table.name, col.header, col.field), Counter())[value] += 1

    def drop(self, table: Table, col: Column, value: str) -> None:
        self.dropped.setdefault((table.name, col.header), Counter())[value] += 1

    def formula(self, table: Table, col: Column, row: int, ref: str) -> None:
        self.formulas.setdefault((table.name, col.header), [0, row, ref])[0] += 1

    def findings(self) -> list[Problem]:
        out = [
            Problem.of("D116", file=name, line=row, column=header, n=n, ref=ref)
            for (name, header), (n, row, ref) in self.formulas.items()
        ]
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
                    how=both(
                        f"map them under `values: {fld}:` in --mapping "
                        "(`sangao roster inspect` proposes one)",
                        f"请在 --mapping 的 `values: {fld}:` 下映射这些值"
                        "（`sangao roster inspect` 可给出建议）",
                    ),
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


_ChildRef = tuple[Table, int]  # where a child record of the record came from: table, row
