"""D codes: roster data (reading, validating and importing patient files). See
pathways/codes/__init__.py."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("D030", "roster", True,
         zh="无法读取 {file}：{reason}", en="cannot read {file}: {reason}"),
    Code("D027", "roster", True,
         zh="{table_zh}：居民 {id} 不在登记册中（事件文件不新建患者）",
         en="{table}: resident {id} is not in the register (an events file creates no patients)",
         hint_zh="先导入个人档案（登记册），或在 --mapping 中写 role: register",
         hint_en="import the person file (the register) first, or say `role: register` in --mapping"),
    Code("D111", "roster", False,
         zh="{field_zh}：本文件为 {found}，登记册为 {stored}；保留登记册的值",
         en="{field}: {found} in this file, {stored} in the register; the register's value is kept"),
    Code("D112", "roster", False,
         zh="{people} 名居民（{rows} 行）不在登记册中，未导入；首次出现于第 {first} 行",
         en="{people} people ({rows} rows) are not in the register and were not imported; "
            "first at row {first}"),
    Code("D113", "roster", False,
         zh="本文件的 {people} 名居民都不在登记册中：未导入任何内容",
         en="none of the {people} people of this file is in the register: nothing was imported",
         hint_zh="先导入个人档案（登记册）；若本文件就是登记册，在 --mapping 中写 role: register",
         hint_en="import the person file first; if this file is itself the register, say `role: register`"),
    Code("D114", "roster", False,
         zh="列 {column} 与 {others} 同名，仅靠后缀代码区分；未读取",
         en="column {column} shares its name with {others}; only the code suffix tells them apart; "
            "not read",
         hint_zh="在 --mapping 的 columns: 中按完整表头（含代码）映射每一列",
         hint_en="map each by its full header (with the code) under `columns:` in --mapping"),
    Code("D031", "roster", True,
         zh="映射文件有误：{problem}", en="mapping file: {problem}",
         hint_zh="按 docs/importing.md 的映射文件说明修改该行", hint_en="fix the line as docs/importing.md describes"),
    Code("D041", "roster", True,
         zh="没有数据库 {file}：请先导入花名册", en="no database at {file}: import a roster first",
         hint_zh="sangao roster import 花名册文件 --db {file}（或用 --roster 文件 直接读取）",
         hint_en="sangao roster import FILE --db {file} (or read a file directly with --roster FILE)"),
    Code("D040", "roster", True,
         zh="容量文件 {file} 的 {field} 有误：{problem}", en="capacity file {file}, {field}: {problem}"),
    Code("D900", "roster", True,
         zh="花名册中没有患者 {query}", en="patient {query} is not in the roster",
         hint_zh="可用患者编号、姓名或身份证号查找；sangao assess 列出患者编号",
         hint_en="look up by patient id, name or resident ID; `sangao assess` lists the patient ids"),
    Code("D901", "roster", True,
         zh="患者 {patient} 已于 {as_of} 或之前死亡或迁出，不再评估",
         en="patient {patient} died or moved out on or before {as_of}: not assessed"),
    Code("D902", "roster", True,
         zh="{query} 匹配到 {n} 名患者：{ids}", en="{query} matches {n} patients: {ids}",
         hint_zh="请改用其中一个患者编号", hint_en="give one of these patient ids instead"),
    # Findings whose wording varies with what was found: the raising site passes `what` as
    # {"en": …, "zh": …} (store/readers/tabular.py `both`).
    Code("D108", "roster", False, zh="{what[zh]}", en="{what[en]}"),
    Code("D109", "roster", False, zh="{what[zh]}", en="{what[en]}"),
    Code("D110", "roster", False, zh="{what[zh]}", en="{what[en]}"),
    Code("D024", "roster", True,
         zh="{table_zh}：患者表（{patients}）中没有患者 {patient}",
         en="{table}: no patient {patient} in the patients table ({patients})"),
    Code("D026", "roster", True, zh="{table_zh}：该行没有{key_zh}", en="{table}: row has no {key}",
         hint_zh="请填写", hint_en="fill it in"),
    # A cell that cannot be read as its field's value (store/readers/cells.py), and D020 of a
    # resident ID (store/validation.py): `what` and `how` as {"en": …, "zh": …}. store/validation.py
    # raises D013–D017 with literal messages too.
    *(
        Code(code, "roster", True, zh="{what[zh]}", en="{what[en]}", hint_zh="{how[zh]}", hint_en="{how[en]}")
        for code in ("D013", "D014", "D015", "D016", "D017", "D020")
    ),
    # Record rules of store/validation.py that give their wording in both languages (Issue.zh).
    *(
        Code(code, "roster", code in ("D022", "D023"),
             zh="{what[zh]}", en="{what[en]}", hint_zh="{how[zh]}", hint_en="{how[en]}")
        for code in ("D022", "D023", "D101", "D102", "D103", "D104", "D105", "D107")
    ),
)
