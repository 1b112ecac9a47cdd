"""Reading one row of a table: a parser per kind of cell (ids, text, phone, dates, numbers with
units and pairs, blood pressure and two arms, yes/no, coded options read per form, symptoms,
history, screenings a visit row carries), chosen once per column, with memos for the texts a
column repeats. A cell that is no valid value is a located CellError, never a default."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pathways.errors import Problem
from pathways.models import Lab, Screening, Visit
from pathways.vocab import Condition, HistoryCode
from store.readers.aliases import (
    CellError,
    normalize_header,
    parse_date,
    parse_id,
    parse_number,
    parse_phone,
    split_list,
)
from store.readers.codes import (
    MISSING,
    known,
    lookup,
)
from store.readers.mapping import Mapping
from store.readers.sheets import Uncached
from store.readers.table import Column, Table, _Tally, both
from store.validation import did_you_mean

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
# Fields read for contact only, which no rule reads: a formula cell with no saved value there is
# left empty and counted (D116). In any other field it refuses the row (D019): an empty value
# there would change what the row says (no reading, no condition, another team).
_CONTACT_FIELDS = frozenset(("name", "phone"))


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
        raise CellError(
            f"{what} ({part!r})", did_you_mean(part, choices) or hint, f"未知代码（{part!r}）"
        )
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
            f"不是“是/否”值（{cell!r}）",
            f"请写 是 或 否（或在 --mapping 的 `values: {col.field}:` 中映射本站的写法）",
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
                "身份证号被存成了数字，末几位已丢失",
                "请在源系统导出时把该列设为文本后重新导出",
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
                f"未知的吸烟状况（{cell!r}）",
                "体检表为 1 从不吸烟 2 已戒烟 3 吸烟（或在 --mapping 的 `values: smoking_status:` 中映射）",
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
                f"不是“是/否”值（{cell!r}）",
                f"请写 是 或 否（或在 --mapping 的 `values: {fld}:` 中映射本站的写法）",
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
                f"未知的性别（{cell!r}）",
                "请写 男 或 女（或在 --mapping 的 `values: sex:` 中映射本站的代码）",
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
                    f"未知的管理病种 {part!r}",
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
        raise CellError(
            f"not a blood pressure ({cell!r})",
            "write systolic/diastolic, e.g. 150/90",
            f"不是血压值（{cell!r}）",
            "请写 收缩压/舒张压，如 150/90",
        ) from None


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
        if cell.__class__ is Uncached:  # a formula with no saved value (store/readers/sheets.py)
            if col.field in _CONTACT_FIELDS and col.option is None:
                ctx.tally.formula(table, col, number, cell.ref)
            else:
                role = "patients" if col.person else table.role
                problems.append(Problem.of("D019", file=table.name, line=number, column=col.header,
                                           where=f"{role}.{col.field}", ref=cell.ref))
            continue
        try:
            parse(cell, target)
        except CellError as exc:
            role = "patients" if col.person else table.role
            problems.append(
                Problem.of(
                    _CELL_CODES.get(col.spec.kind, "D016"),
                    variant="cell",
                    file=table.name,
                    line=number,
                    column=col.header,
                    what=both(f"{role}.{col.field}: {exc.message}", f"{role}.{col.field}：{exc.zh}"),
                    how=both(exc.hint, exc.hint_zh),
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
                    Problem.of(
                        "D015",
                        variant="cell",
                        file=table.name,
                        line=number,
                        column=table.header_for(fld),
                        what=both(
                            f"{table.role}.{fld}: the glucose unit column says mg/dL; sangao reads mmol/L",
                            f"{table.role}.{fld}：血糖单位列为 mg/dL；sangao 读取 mmol/L",
                        ),
                        how=both(
                            "export the value in mmol/L (mg/dL ÷ 18); values are never converted on import",
                            "请以 mmol/L 导出（mg/dL ÷ 18）；导入时从不换算数值",
                        ),
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
