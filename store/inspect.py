"""`sangao roster inspect FILE…`: read the headers and a sample of rows of real exports and propose
a mapping file (store/readers/mapping.py) for `sangao roster import --mapping`.

The proposal lists every column understood (as an explicit `columns:` entry), every column not
understood (commented, with a did-you-mean), every coded value no value map knows (commented under
`values:`, with how often it was seen), and the decisions only the site can make (which arm of a
two-arm blood pressure counts, the national form of a visits file whose name does not say). Accepted
as is, it imports exactly what the import would without it: unknown values stay unknown (reported
and refused), never silently mapped. Recognition is the importer's own (store/readers/tabular.py),
so what inspect understands is what import reads.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from pathways.errors import Problem
from store.readers import ENCODING_NAMES, group_sources
from store.readers.aliases import header_code, header_key, is_empty, normalize_header, split_list
from store.readers.cells import _text
from store.readers.codes import MISSING, is_not_imported, lookup
from store.readers.mapping import REFUSED_AS, Mapping, load_mapping
from store.readers.roles import _open_tables, source_role
from store.readers.sheets import Uncached

_SHARES = "shares its name with"
_CODED_KINDS = (
    "sex", "bool", "urban", "codes", "history", "conditions", "visit_class", "foot_pulse",
    "screen:ecg", "screen:fundus", "smoking",
)


@dataclass
class ColumnReport:
    header: str
    target: str | None  # `table.field`, or None when not understood
    note: str = ""  # option column, not imported, trap, did-you-mean …
    status: str = "unknown"  # recognised (by the reader) | mapped (by the site) | ignored | unknown
    unmapped: Counter = field(default_factory=Counter)  # coded values no map knows → count
    seen: Counter = field(default_factory=Counter)  # every coded value in the sample → count
    note_zh: str = ""  # the note in Chinese


@dataclass
class TableReport:
    name: str
    stem: str
    role: str
    encoding: str | None
    key: str
    form: str | None
    rows_sampled: int
    flat: bool
    file_role: str = "register"  # register | events (store/readers/tabular.py source_role)
    file_stem: str = ""  # the stem of the file the user named (its role is keyed by it)
    form_guessed: bool = False  # the form comes from the headers alone: a question, not a fact
    arms: list[str] = field(default_factory=list)
    columns: list[ColumnReport] = field(default_factory=list)

    @property
    def code_pairs(self) -> bool:
        return any(c.note.startswith(_SHARES) for c in self.columns)

    @property
    def arm_pairs(self) -> bool:
        return any(c.note.startswith(_SHARES) and "visits.sbp_" in c.note for c in self.columns)


@dataclass
class Inspection:
    tables: list[TableReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # files that could not be read
    bp_arm: str | None = None  # the arm the given mapping chose, if any

    @property
    def unmapped(self) -> int:
        return sum(len(c.unmapped) for t in self.tables for c in t.columns)

    @property
    def undecided(self) -> bool:
        """Something only the site can settle: unmapped values, two arms and no bp_arm, or columns
        only a code suffix tells apart."""
        two_arms = any(len(t.arms) == 2 or t.arm_pairs for t in self.tables) and not self.bp_arm
        return bool(self.unmapped) or two_arms or any(t.code_pairs for t in self.tables)

    @property
    def complete(self) -> bool:
        """Ready to import with the proposed mapping: some table read, every file readable (no
        D030) and nothing left to decide."""
        return bool(self.tables) and not self.undecided and not any(p.code == "D030" for p in self.problems)

    @property
    def not_understood(self) -> int:
        return sum(1 for t in self.tables for c in t.columns if c.target is None)


def inspect_files(paths: list[Path], mapping: Path | Mapping | None = None, sample: int = 2000) -> Inspection:
    """Headers and the first `sample` data rows of each table of each file."""
    from pathways.errors import SangaoError

    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(Path(mapping))
    mapping = mapping or Mapping()
    result = Inspection(bp_arm=mapping.bp_arm)
    # inspect reads a two-arm export the import would refuse until the site picks an arm
    mapping = replace(mapping, bp_arm=mapping.bp_arm or "higher")
    for source in group_sources([Path(p) for p in paths]):
        if source.kind == "jsonl":
            result.problems.append(
                Problem.of(
                    "D108",
                    file=source.name,
                    what={
                        "en": "interchange JSONL needs no mapping; skipped",
                        "zh": "交换格式 JSONL 无需映射；跳过",
                    },
                )
            )
            continue
        closers: list = []
        try:
            findings: list[Problem] = []
            try:
                tables = _open_tables(source, mapping, findings, closers)
            except SangaoError as exc:
                result.problems += exc.problems
                continue
            result.problems += [p for p in findings if "sheet ignored" in p.message]
            if not tables:
                result.problems.append(
                    Problem.of("D030", variant="no_table", file=source.name)
                )
            role = source_role(tables, mapping)
            for table in tables:
                report = _inspect_table(source, table, findings, mapping, sample)
                report.file_role = role
                result.tables.append(report)
        finally:
            for close in closers:
                close()
    return result


def _inspect_table(source, table, findings: list[Problem], mapping: Mapping, sample: int) -> TableReport:
    encoding = source.encodings.get(table.name)
    report = TableReport(
        name=table.name,
        stem=table.stem,
        role=table.role,
        encoding=ENCODING_NAMES.get(encoding, encoding),
        key=table.key,
        form=table.form,
        rows_sampled=0,
        flat=table.is_flat and table.role == "visits",
        form_guessed=table.form_guessed,
        file_stem=table.file_stem,
        arms=sorted(
            {c.spec.kind.split(":")[1] for c in table.columns if c.spec.kind.startswith(("arm:", "bp_arm:"))}
        ),
    )
    by_index = {}
    for col in table.columns:
        role = "patients" if col.person else table.role
        status = "mapped" if mapping.column(col.header) is not None else "recognised"
        if col.option is not None:
            entry = ColumnReport(
                col.header, None, f"option column of {role}.{col.field}: {col.option}", status=status,
                note_zh=f"{role}.{col.field} 的选项列：{col.option}",
            )
        else:
            entry = ColumnReport(col.header, f"{role}.{col.field}", status=status)
        by_index[col.index] = (col, entry)
    for index, header in enumerate(table.headers):
        if index in by_index:
            report.columns.append(by_index[index][1])
        elif header.strip() and mapping.column(header) == (None, None):
            report.columns.append(
                ColumnReport(
                    header, None, "the mapping says: not read", "ignored", note_zh="映射文件规定不读取"
                )
            )
        elif header.strip():
            en, zh = _why_not(table, header, findings)
            report.columns.append(ColumnReport(header, None, en, note_zh=zh))
    for number, (_, cells) in enumerate(table.rows, start=1):
        if number > sample:
            break
        report.rows_sampled = number
        for col, entry in by_index.values():
            cell = cells[col.index] if col.index < len(cells) else None
            if is_empty(cell) or col.option is not None or col.spec.kind not in _CODED_KINDS:
                continue
            if cell.__class__ is Uncached:  # a formula with no saved value: no value to map (D019)
                continue
            text = _text(cell)
            parts = split_list(text) if col.spec.kind in ("codes", "history", "conditions") else [text]
            for part in parts:
                entry.seen[part] += 1
                if _unknown(col, part, table.form, mapping):
                    entry.unmapped[part] += 1
    return report


def _unknown(col, part: str, form: str | None, mapping: Mapping) -> bool:
    kind = col.spec.kind
    value = lookup(col.field, kind, part, form, mapping.values)
    if kind in ("bool", "smoking"):  # as the importer: a field's own codes, no generic fallback (0/1 vs 1/2)
        return not isinstance(value, bool)
    if kind == "urban" and not isinstance(value, bool):
        value = lookup("bool", "bool", part, None, mapping.values)
        return not isinstance(value, bool)
    if kind == "codes" and value is MISSING:
        return not (part.isascii() and part.replace("_", "").isalpha())
    if kind in ("history", "conditions") and value is MISSING:
        return True
    return value is MISSING


def _why_not(table, header: str, findings: list[Problem]) -> tuple[str, str]:
    """Why a column is not read, in English and Chinese."""
    key = normalize_header(header)
    others = [h for h in table.headers if h != header and normalize_header(h) == key]
    if others and header_code(header):
        arm = "left" if "左" in key else "right" if "右" in key else None
        names = ", ".join(others)
        if arm is None:
            return f"{_SHARES} {names}; only the code tells them apart", f"与 {names} 同名，仅靠代码区分"
        return (
            f"{_SHARES} {names}; only the code tells them apart: visits.sbp_{arm} or visits.dbp_{arm}?",
            f"与 {names} 同名，仅靠代码区分：visits.sbp_{arm} 还是 visits.dbp_{arm}？",
        )
    if key in REFUSED_AS:
        return (
            "a urine albumin concentration (mg/L), not UACR (mg/g): never mapped to labs.uacr",
            "尿微量白蛋白浓度（mg/L），不是 UACR（mg/g）：不会映射为 labs.uacr",
        )
    if is_not_imported(header):
        return (
            "a national form field with no interchange field; not imported",
            "国家表单字段，没有对应的交换字段；不导入",
        )
    for p in findings:
        if p.file == table.name and p.column == header:
            return (
                p.message + (f" ({p.hint})" if p.hint else ""),
                p.text("zh") + (f"（{hint}）" if (hint := p.hint_text("zh")) else ""),
            )
    return "not recognised", "未识别"


# ---- the proposal -------------------------------------------------------------------------------


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def proposal_yaml(inspection: Inspection, lang: str = "en") -> str:
    """The proposed mapping file, its comments in `lang` (zh or en). Understood columns are
    explicit entries; everything the site must decide is a comment, so the file as written imports
    what the import would without it."""

    def t_(en: str, zh: str) -> str:
        return zh if lang == "zh" else en

    out = [
        t_(
            "# Proposed by `sangao roster inspect`. Edit, then: "
            "sangao roster import FILE… --mapping THIS.yaml",
            "# 由 `sangao roster inspect` 提出。修改后运行：sangao roster import 文件… --mapping 本文件.yaml",
        ),
        t_(
            "# Lines starting with # are what inspect could not decide; uncomment and fill them in.",
            "# 以 # 开头的行是 inspect 无法决定的内容；去掉 # 并填写。",
        ),
        "",
    ]
    roles_zh = {"patients": "患者", "visits": "随访", "labs": "化验", "screenings": "筛查",
                "history": "既往史", "referrals": "转诊"}
    for t in inspection.tables:
        if lang == "zh":
            out.append(
                f"# {t.name}：{roles_zh.get(t.role, t.role)}表"
                + ("，扁平（每次随访一行，个人信息重复）" if t.flat else "")
                + f"，按{'身份证号' if t.key == 'id_number' else '患者编号'}关联"
                + (f"，{t.encoding}" if t.encoding else "")
                + f"，抽样 {t.rows_sampled} 行"
            )
        else:
            out.append(
                f"# {t.name}: {t.role} table"
                + (", flat (one row per visit, person details repeated)" if t.flat else "")
                + f", joined on {'the resident ID' if t.key == 'id_number' else 'the patient id'}"
                + (f", {t.encoding}" if t.encoding else "")
                + f", {t.rows_sampled} rows sampled"
            )
    out += ["", "columns:"]
    seen_headers: set[str] = set()
    status_zh = {"recognised": "已识别", "mapped": "已映射"}
    for t in inspection.tables:
        out.append(f"  # -- {t.name}")
        for c in t.columns:
            key = header_key(c.header)
            n = sum(c.unmapped.values())
            counts = t_(f", {n} values unmapped", f"，{n} 个值未映射") if c.unmapped else ""
            if c.status == "ignored":
                why = t_("ignored: the mapping says so", "不读取：映射文件规定")
                out.append(f"  {_q(c.header)}: ignore    # {why}")
            elif c.target and key not in seen_headers:
                seen_headers.add(key)
                status = t_(c.status, status_zh.get(c.status, c.status))
                out.append(f"  {_q(c.header)}: {c.target}    # {status}{counts}")
            elif c.target is None:
                out.append(f"  # {_q(c.header)}: ?    # {t_(c.note, c.note_zh or c.note)}")
    values: dict[str, list[str]] = {}
    for t in inspection.tables:
        for c in t.columns:
            if not c.unmapped or not c.target:
                continue
            fld = c.target.split(".", 1)[1]
            lines = values.setdefault(fld, [])
            for value, n in c.unmapped.most_common():
                lines.append(
                    f"    # {_q(value)}: ?    # "
                    + t_(
                        f"×{n} in {c.header!r} ({t.name}); no value map knows it",
                        f"×{n}，见 {c.header!r}（{t.name}）；值映射中没有",
                    )
                )
            if fld == "adverse_reaction" and set(c.seen) <= {"0", "1"}:
                lines.append(
                    "    # "
                    + t_("this column looks like 0 无 / 1 有", "此列像是 0 无 / 1 有")
                    + ': {"0": false, "1": true}'
                )
            if fld == "sex" and set(c.seen) <= {"2", "3"}:
                why = t_("one system codes 男/女 as 2/3", "有的系统把男/女编为 2/3")
                lines.append(f'    # {why}: {{"2": M, "3": F}}')
    out += ["", "values:" if values else "values: {}"]
    for fld, lines in values.items():
        out += [f"  {fld}:", *lines, "    {}"]
    out += ["", "tables:"]
    stems = {}
    per_file = Counter(t.file_stem for t in inspection.tables)
    for t in inspection.tables:  # a workbook of one sheet by its file's name (many sheets are Sheet1)
        stems.setdefault(t.stem if per_file[t.file_stem] > 1 else t.file_stem, t.role)
    out += [f"  {_q(stem)}: {role}" for stem, role in stems.items()]
    roles: dict[str, str] = {}
    for t in inspection.tables:
        roles.setdefault(t.file_stem, t.file_role)
    out += [
        "",
        t_(
            "role:    # register: a person file (who is enrolled, since when); events: visits, health\n"
            "         # checks (dated rows for people already registered; unknown people are reported)",
            "role:    # register：登记册（个人档案：谁在管、何时建档）；events：事件文件（随访、体检：\n"
            "         # 只给已登记的人添加带日期的记录；不在登记册中的人会被报告）",
        ),
    ]
    out += [f"  {_q(stem)}: {role}" for stem, role in roles.items()]
    forms: dict[str, tuple[str | None, bool]] = {}  # by the file's stem (a sheet's may be Sheet1)
    for t in inspection.tables:
        if t.role == "visits" and t.key == "id_number":
            forms.setdefault(t.file_stem, (t.form, t.form_guessed))
    if forms:
        out.append("")
        if all(form and not guessed for form, guessed in forms.values()):
            out.append("form:")
            out += [f"  {_q(stem)}: {form}" for stem, (form, _) in forms.items()]
        else:
            out.append(
                "# form:    # "
                + t_(
                    "the national form of each visits file: its codes, and for a register its programme",
                    "每个随访文件的国家表单：决定其编码，对登记册还决定管理病种",
                )
            )
            guessed_text = t_("guessed from its headers alone: say so if right", "仅凭表头猜测：若正确请写明")
            unknown_text = t_("could not tell from its name or headers", "无法从文件名或表头判断")
            for stem, (form, guessed) in forms.items():
                line = f"#   {_q(stem)}: {form or 'hypertension | diabetes | health_check'}"
                if guessed or not form:
                    line += f"    # {guessed_text if guessed else unknown_text}"
                out.append(line)
    arms = {t.name for t in inspection.tables if len(t.arms) == 2 or t.arm_pairs}
    if inspection.bp_arm:
        out += ["", f"bp_arm: {inspection.bp_arm}"]
    elif arms:
        names = ", ".join(sorted(arms))
        out += [
            "",
            t_(
                f"# bp_arm: higher    # required: {names} give blood pressure for both arms;\n"
                "#                   # say which counts: left, right or higher (the higher systolic)",
                f"# bp_arm: higher    # 必填：{names} 有双侧血压；\n"
                "#                   # 请说明采用哪侧：left 左侧、right 右侧或 higher（收缩压较高一侧）",
            ),
        ]
    if any(t.flat for t in inspection.tables):
        out += [
            "",
            t_(
                "# defaults:         # patient fields a flat export lacks (for a register)\n"
                "#   enrolled_on: first_visit    # the default when there is no 建档日期 column; or a date\n"
                "#   conditions: [hypertension]  # the default comes from the form of the visits file",
                "# defaults:         # 扁平导出缺少的患者字段（用于登记册）\n"
                "#   enrolled_on: first_visit    # 无建档日期列时的默认值；或写一个日期\n"
                "#   conditions: [hypertension]  # 默认取自随访文件的表单",
            ),
        ]
    return "\n".join(out) + "\n"
