"""D codes: roster data (reading, validating and importing patient files). See
pathways/codes/__init__.py."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("D030", "roster", True,
         zh="无法读取 {file}：{reason}", en="cannot read {file}: {reason}"),
    Code("D031", "roster", True,
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
)
