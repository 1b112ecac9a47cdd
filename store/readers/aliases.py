"""The header alias table and cell parsers of the tabular readers (CSV, XLSX).

`TABLES[role][field] = FieldSpec(kind, aliases)`: every interchange field of every table with the
Chinese headers real exports use (and the interchange name itself). Headers are compared after
`normalize_header`: full-width → half-width, spaces removed, trailing colons, a trailing unit in
brackets (`收缩压(mmHg)`) and a trailing system code (`体检日期-CHECKDATE`) dropped, lower case.
A site adds its own headers and value labels in a mapping file (store/readers/mapping.py); later
importers extend these tables rather than special-casing columns.

`kind` selects the cell parser: id, text, date, num, bool, sex, conditions, history, codes (a
list such as symptoms), enum (labels in VALUE_LABELS[field]), bp ("150/90" → sbp, dbp),
flag:<condition> (a yes/no column per programme, merged into `conditions`), phone (TABs and
spaces removed: exports pad phone numbers to keep Excel from reading them as numbers).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class FieldSpec:
    kind: str
    aliases: tuple[str, ...]


def _f(kind: str, *aliases: str) -> FieldSpec:
    return FieldSpec(kind, aliases)


_PATIENT_ID = _f(
    "id",
    "患者编号",
    "患者id",
    "患者ID",
    "档案编号",
    "健康档案编号",
    "档案号",
    "个人编号",
    "编号",
    "病人编号",
    "居民编号",
    "patient_id",
)

TABLES: dict[str, dict[str, FieldSpec]] = {
    "patients": {
        "patient_id": _PATIENT_ID,
        "id_number": _f(
            "id",
            "身份证号",
            "身份证号码",
            "身份证",
            "证件号码",
            "证件编号",
            "居民身份证号",
            "居民身份证号码",
            "id_number",
        ),
        "name": _f("text", "姓名", "患者姓名", "居民姓名", "name"),
        "phone": _f(
            "phone", "本人电话", "联系电话", "电话", "手机", "手机号", "手机号码", "联系方式", "phone"
        ),
        "sex": _f("sex", "性别", "sex"),
        "birth_date": _f("date", "出生日期", "出生年月日", "生日", "birth_date"),
        "team": _f("text", "团队", "家医团队", "家庭医生团队", "签约团队", "责任团队", "team"),
        "institution": _f("text", "机构", "管理机构", "医疗机构", "所属机构", "建档机构", "institution"),
        "region": _f("enum", "地区", "南北方", "region"),
        "urban": _f("urban", "城乡", "是否城市", "城市", "urban"),
        "conditions": _f(
            "conditions", "管理病种", "病种", "慢病类型", "慢病病种", "管理类型", "服务类型", "conditions"
        ),
        "conditions.hypertension": _f("flag:hypertension", "高血压", "是否高血压", "高血压患者"),
        "conditions.diabetes": _f("flag:diabetes", "糖尿病", "是否糖尿病", "糖尿病患者"),
        "conditions.dyslipidemia": _f("flag:dyslipidemia", "血脂异常", "是否血脂异常", "高血脂"),
        "enrolled_on": _f(
            "date", "建档日期", "纳入管理日期", "管理日期", "入组日期", "建卡日期", "登记日期", "enrolled_on"
        ),
        "deceased_on": _f("date", "死亡日期", "deceased_on"),
        "moved_out_on": _f("date", "迁出日期", "moved_out_on"),
        "smoker": _f("bool", "吸烟", "是否吸烟", "smoker"),
        # 吸烟状况 is coded (health check: 1 从不吸烟 2 已戒烟 3 吸烟), never a yes/no: sets smoker
        "smoking_status": _f("smoking", "吸烟状况", "吸烟情况"),
        "pregnant": _f("bool", "妊娠", "是否妊娠", "怀孕", "是否怀孕", "pregnant"),
        "breastfeeding": _f("bool", "哺乳", "是否哺乳", "哺乳期", "breastfeeding"),
        "history": _f("history", "既往史", "病史", "既往疾病", "疾病史", "既往史疾病", "history"),
        # 日吸烟量 (支/天, `current/target` on the form): 0 is a non-smoker, blank is unknown
        "cigarettes": _f("cigs", "日吸烟量", "吸烟量", "每日吸烟量", "日吸烟量支"),
    },
    "visits": {
        "patient_id": _PATIENT_ID,
        "date": _f("date", "随访日期", "日期", "就诊日期", "体检日期", "date"),
        "sbp": _f("num", "收缩压", "sbp"),
        "dbp": _f("num", "舒张压", "dbp"),
        "bp": _f("bp", "血压", "血压值", "体征血压"),
        # two-arm readings: which one counts is the site's call (--mapping `bp_arm:`), never ours
        "bp_left": _f("bp_arm:left", "左侧血压", "左臂血压", "血压左", "血压左侧", "左上肢血压"),
        "bp_right": _f("bp_arm:right", "右侧血压", "右臂血压", "血压右", "血压右侧", "右上肢血压"),
        "sbp_left": _f("arm:left:sbp", "左侧收缩压", "左臂收缩压", "收缩压左", "收缩压左侧", "左收缩压"),
        "dbp_left": _f("arm:left:dbp", "左侧舒张压", "左臂舒张压", "舒张压左", "舒张压左侧", "左舒张压"),
        "sbp_right": _f("arm:right:sbp", "右侧收缩压", "右臂收缩压", "收缩压右", "收缩压右侧", "右收缩压"),
        "dbp_right": _f("arm:right:dbp", "右侧舒张压", "右臂舒张压", "舒张压右", "舒张压右侧", "右舒张压"),
        "heart_rate": _f("num", "心率", "体征心率", "脉率", "heart_rate"),
        "fpg": _f("num", "空腹血糖", "空腹血糖值", "辅助检查空腹血糖", "fpg"),
        "random_glucose": _f("num", "随机血糖", "random_glucose"),
        "temperature": _f("num", "体温", "temperature"),
        "weight_kg": _f("num", "体重", "体征体重", "weight_kg"),
        "height_cm": _f("num", "身高", "height_cm"),
        "waist_cm": _f("num", "腰围", "waist_cm"),
        "symptoms": _f("codes", "症状", "symptoms"),
        "adverse_reaction": _f("bool", "药物不良反应", "不良反应", "adverse_reaction"),
        "new_complication": _f("bool", "新发并发症", "并发症", "new_complication"),
        # national-form fields of a flat visit row that land elsewhere in the record
        "visit_class": _f("visit_class", "此次随访分类", "随访分类", "本次随访分类"),
        "foot_pulse": _f("foot_pulse", "足背动脉搏动", "足背动脉波动", "足背动脉"),
        "hba1c": _f("lab", "糖化血红蛋白", "糖化血红蛋白值", "hba1c"),
        # the health check's blood tests (a lab record dated by the check) and screenings; never
        # 尿微量白蛋白 (a concentration, not the ratio UACR)
        "tc": _f("lab", "总胆固醇", "血清总胆固醇"),
        "tg": _f("lab", "甘油三酯", "血清甘油三酯"),
        "ldl_c": _f("lab", "血清低密度脂蛋白胆固醇", "低密度脂蛋白胆固醇"),
        "hdl_c": _f("lab", "血清高密度脂蛋白胆固醇", "高密度脂蛋白胆固醇"),
        "creatinine": _f("lab", "血清肌酐", "肌酐", "血肌酐"),
        "ecg": _f("screen:ecg", "心电图"),
        "fundus": _f("screen:fundus", "眼底"),
        "glucose_unit": _f("glucose_unit", "血糖单位", "空腹血糖单位", "血糖值单位"),
        "referral_to": _f("ref:to", "转诊机构及科别", "机构及科别", "转诊机构", "转诊去向"),
        "referral_reason": _f("ref:reason", "转诊原因"),
    },
    "labs": {
        "patient_id": _PATIENT_ID,
        "date": _f("date", "检验日期", "化验日期", "检查日期", "报告日期", "日期", "date"),
        "tc": _f("num", "总胆固醇", "tc"),
        "ldl_c": _f("num", "低密度脂蛋白胆固醇", "低密度脂蛋白", "ldl-c", "ldl", "ldl_c"),
        "hdl_c": _f("num", "高密度脂蛋白胆固醇", "高密度脂蛋白", "hdl-c", "hdl", "hdl_c"),
        "tg": _f("num", "甘油三酯", "tg"),
        "hba1c": _f("num", "糖化血红蛋白", "hba1c"),
        "creatinine": _f("num", "肌酐", "血肌酐", "血清肌酐", "scr", "creatinine"),
        "uacr": _f(
            "num", "尿白蛋白肌酐比", "尿白蛋白/肌酐比值", "尿白蛋白肌酐比值", "尿微量白蛋白肌酐比", "uacr"
        ),
    },
    "screenings": {
        "patient_id": _PATIENT_ID,
        "date": _f("date", "筛查日期", "检查日期", "日期", "date"),
        "kind": _f("enum", "筛查项目", "项目", "检查项目", "kind"),
        "result": _f("enum", "结果", "筛查结果", "检查结果", "result"),
        "value": _f("num", "数值", "值", "测量值", "value"),
        "grade": _f("enum", "分级", "眼底分级", "视网膜病变分级", "grade"),
    },
    "history": {
        "patient_id": _PATIENT_ID,
        "code": _f("enum", "疾病", "诊断", "疾病名称", "code"),
        "date": _f("date", "确诊日期", "诊断日期", "确诊时间", "date"),
    },
    "referrals": {
        "patient_id": _PATIENT_ID,
        "date": _f("date", "转诊日期", "date"),
        "to": _f("text", "转诊去向", "转往", "转诊机构", "转入机构", "to"),
        "reason": _f("text", "转诊原因", "原因", "reason"),
        "returned_on": _f("date", "回转日期", "返回日期", "转回日期", "returned_on"),
    },
}

CHILD_ROLES = ("visits", "labs", "screenings", "history", "referrals")

# File-name and sheet-name hints, checked in this order (随访患者 is a visits table).
ROLE_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("referrals", ("referral", "转诊")),
    ("screenings", ("screening", "筛查")),
    ("labs", ("lab", "化验", "检验", "实验室")),
    ("visits", ("visit", "随访", "followup", "体检")),
    ("history", ("history", "既往史", "病史")),
    ("patients", ("patient", "roster", "患者", "档案", "人员", "基本信息", "居民")),
)

_HISTORY = {
    "冠心病": "chd",
    "冠状动脉粥样硬化性心脏病": "chd",
    "心肌梗死": "mi",
    "心梗": "mi",
    "急性冠脉综合征": "acs",
    "急性冠状动脉综合征": "acs",
    "冠脉血运重建": "pci_cabg",
    "pci": "pci_cabg",
    "cabg": "pci_cabg",
    "脑卒中": "stroke",
    "缺血性脑卒中": "stroke",
    "脑梗死": "stroke",
    "脑梗": "stroke",
    "出血性脑卒中": "hemorrhagic_stroke",
    "脑出血": "hemorrhagic_stroke",
    "短暂性脑缺血发作": "tia",
    "外周动脉疾病": "pad",
    "外周动脉血运重建": "pad_revasc",
    "心力衰竭": "heart_failure",
    "心衰": "heart_failure",
    "慢性肾脏病": "ckd",
    "慢性肾病": "ckd",
    "视网膜病变": "retinopathy",
    "糖尿病视网膜病变": "retinopathy",
    "神经病变": "neuropathy",
    "周围神经病变": "neuropathy",
    "家族性高胆固醇血症": "fh",
}

_YES = ("是", "有", "y", "yes", "true", "1", "√", "✓")
_NO = ("否", "无", "n", "no", "false", "0", "×")

# Built-in value labels by field (or by kind for bool/sex). Keys are compared after normalize_value.
VALUE_LABELS: dict[str, dict[str, object]] = {
    "sex": {"男": "M", "男性": "M", "m": "M", "1": "M", "女": "F", "女性": "F", "f": "F", "2": "F"},
    "bool": {**{k: True for k in _YES}, **{k: False for k in _NO}},
    "urban": {"城市": True, "城镇": True, "urban": True, "农村": False, "乡村": False, "rural": False},
    "conditions": {
        "高血压": "hypertension",
        "高血压病": "hypertension",
        "原发性高血压": "hypertension",
        "糖尿病": "diabetes",
        "2型糖尿病": "diabetes",
        "ii型糖尿病": "diabetes",
        "血脂异常": "dyslipidemia",
        "高血脂": "dyslipidemia",
        "高脂血症": "dyslipidemia",
        "高血脂症": "dyslipidemia",
    },
    "history": _HISTORY,
    "code": _HISTORY,
    "region": {"北方": "north", "南方": "south"},
    "kind": {
        "心电图": "ecg",
        "卒中风险评估": "stroke_risk",
        "脑卒中风险筛查": "stroke_risk",
        "颈动脉超声": "carotid_us",
        "颈动脉彩超": "carotid_us",
        "尿白蛋白肌酐比": "uacr",
        "肾小球滤过率": "egfr",
        "眼底检查": "fundus",
        "眼底": "fundus",
        "眼底照相": "fundus",
        "神经病变筛查": "neuropathy",
        "周围神经病变筛查": "neuropathy",
        "踝肱指数": "abi",
        "足背动脉搏动": "foot_pulse",
    },
    "result": {"正常": "normal", "未见异常": "normal", "异常": "abnormal"},
    "grade": {
        "无视网膜病变": "no_dr",
        "无明显视网膜病变": "no_dr",
        "轻度非增殖期": "mild_npdr",
        "中度非增殖期": "moderate_npdr",
        "重度非增殖期": "severe_npdr",
        "增殖期": "pdr",
    },
}


_CODE_SUFFIX = re.compile(r"(?<=[^\x00-\x7f])-([A-Z][A-Z0-9_]*)$")


def _split_header(text: object) -> tuple[str, str]:
    t = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    t = re.sub(r"\s+", "", t).rstrip(":")
    t = re.sub(r"\((左|右)[侧臂]?\)$", r"\1", t)  # 收缩压(左) is an arm, not a unit
    t = re.sub(r"\([^()]*\)$", "", t)
    code = ""
    if m := _CODE_SUFFIX.search(t):
        t, code = t[: m.start()], m[1]
    return t.lower(), code.lower()


def normalize_header(text: object) -> str:
    """`收缩压（mmHg）：` → `收缩压`; `体检日期-CHECKDATE` → `体检日期`; `LDL-C` → `ldl-c`."""
    return _split_header(text)[0]


def header_key(text: object) -> str:
    """normalize_header keeping a system code suffix: `血压-左侧-LEFTPRE` → `血压-左侧-leftpre`, so
    two columns that only the code tells apart (…-LEFTPRE, …-LEFTHEIGHT) stay apart in a mapping."""
    base, code = _split_header(text)
    return f"{base}-{code}" if code else base


def header_code(text: object) -> str:
    return _split_header(text)[1]


def normalize_value(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


class CellError(ValueError):
    """A cell that cannot be read as its field's type: message and what would be right."""

    def __init__(self, message: str, hint: str, zh: str = "", hint_zh: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint
        self.zh, self.hint_zh = zh or message, hint_zh or hint  # the same in Chinese


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ t]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


_RANGE = re.compile(r"^(.+?)(?:至|到|~|～|—+|--|\s-\s)(.+)$")


def parse_date(value: object, allow_range: bool = False) -> date:
    """A date in any shape real exports write (yyyy/MM/dd, yyyyMMdd, yyyy年MM月dd日 …). With
    `allow_range` (the readers pass it for the patient's own dates such as enrolled_on), a range
    in one cell (`2019/01/01至2019/12/31`) gives its start: the day the period (of management, of
    a contract) began. A visit or lab happens on one day, so there a range stays an error."""
    if value.__class__ is str and len(value) == 10 and value[4] == "-" == value[7] and value.isascii():
        # fast path, the shape most exports write (2026-03-12); anything else, or an impossible
        # day, takes the general path (which also words the error); tests/test_readers_fast_paths.py
        # checks the two agree
        y, m, d = value[:4], value[5:7], value[8:]
        if y.isdigit() and m.isdigit() and d.isdigit():
            try:
                return date(int(y), int(m), int(d))
            except ValueError:
                pass
    return _parse_date_general(value, allow_range)


def _parse_date_general(value: object, allow_range: bool) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        value = str(int(value))  # 19580302 typed as a number
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if (
        allow_range
        and (m := _RANGE.match(text))
        and _date_or_none(m[1].strip())
        and _date_or_none(m[2].strip())
    ):
        text = m[1].strip()
    found = _date_or_none(text)
    if found is None:
        raise CellError(
            f"not a date ({value!r})",
            "write a date such as 2026-03-12, 2026/3/12 or 20260312",
            f"不是日期（{value!r}）",
            "请写成 2026-03-12、2026/3/12 或 20260312 这样的日期",
        )
    return found


def _date_or_none(text: str) -> date | None:
    for pattern in _DATE_PATTERNS:
        if m := pattern.match(text):
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


# Unit spellings accepted after a number, by the interchange unit of the field (after NFKC and
# lower case: full-width ％ is %, ℃ is °c, µ is μ). Any other unit is refused, never converted.
UNIT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "mmHg": ("mmhg", "毫米汞柱"),
    "mmol/L": ("mmol/l",),
    "kg": ("kg", "公斤"),
    "cm": ("cm", "厘米"),
    "/min": ("次/分", "次/分钟", "bpm", "/min", "次/min"),
    "%": ("%",),
    "μmol/L": ("μmol/l", "umol/l"),
    "mg/g": ("mg/g",),
    "°C": ("°c",),
    "cigarettes/day": ("支", "支/天", "支/日"),
}
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:[^\d/.+-][^\d/]*(?:/[^\d/.+-][^\d/]*)?)?"
_MEASURE = re.compile(rf"^({_NUM})({_UNIT})(?:/({_NUM})({_UNIT}))?$")


_PLAIN = "write a plain number such as 150 or 7.9"
_PLAIN_ZH = "请写 150 或 7.9 这样的数字"


def parse_number(value: object, unit: str | None = None, pair: bool = False) -> float | int:
    """A number from a cell: full-width digits, a trailing unit (only the field's own unit,
    `unit`), and for `pair` fields a `current/target` pair (the current value is taken)."""
    if value.__class__ is str and value.isascii():
        # fast path: a plain number (171, 65.2) needs no normalising and has no unit; the result is
        # the general path's (tests/test_readers_fast_paths.py checks them against each other)
        whole, dot, fraction = value.partition(".")
        if whole.isdigit() and (not dot or fraction.isdigit()):
            number = float(value)
            return int(number) if number.is_integer() and not dot else number
    return _parse_number_general(value, unit, pair)


def _parse_number_general(value: object, unit: str | None, pair: bool) -> float | int:
    if isinstance(value, bool):
        raise CellError(f"not a number ({value!r})", _PLAIN, f"不是数字（{value!r}）", _PLAIN_ZH)
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):  # NaN, or 1e309 typed in Excel
            raise CellError(f"not a number ({value!r})", _PLAIN, f"不是数字（{value!r}）", _PLAIN_ZH)
        return value
    text = normalize_value(str(value))
    m = _MEASURE.match(text)
    if not m or (m[3] is not None and not pair):
        hint = "write a plain number such as 150 or 7.9" + (f" (in {unit})" if unit else "")
        if m and m[3] is not None:
            hint = "write one number; a/b pairs are read only for current/target fields (体重, 日吸烟量)"
        raise CellError(f"not a number ({value!r})", hint, f"不是数字（{value!r}）", _PLAIN_ZH)
    for found in (m[2], m[4] or ""):
        if found and found not in UNIT_SPELLINGS.get(unit or "", ()):
            raise CellError(
                f"unit {found!r} is not the field's unit ({value!r})",
                f"give the value in {unit}" if unit else "write a plain number without a unit",
                f"单位 {found!r} 不是该字段的单位（{value!r}）",
                f"请以 {unit} 填写" if unit else "请写不带单位的数字",
            )
    number = float(m[1])
    return int(number) if number.is_integer() and "." not in m[1] else number


def parse_id(value: object) -> str:
    """IDs arrive with a TAB or a leading apostrophe (to stop Excel), or as a number."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip().lstrip("'").strip()
    return text[:-1] + "X" if text.endswith("x") else text


def parse_phone(value: object) -> str:
    """`138 0000 1111\t` → `13800001111`; a number typed into Excel comes back as its digits."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))


def split_list(text: str) -> list[str]:
    return [
        part for part in re.split(r"[,;、/|，；\s]+", unicodedata.normalize("NFKC", text).strip()) if part
    ]
