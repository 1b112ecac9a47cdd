"""Seeded synthetic rosters: realistic, reproducible patients for the demo, the tests and the benchmarks.

`generate_roster(n, seed, as_of)` yields `Patient`s one at a time; `generate_jsonl(n, seed, as_of)`
yields the same patients as interchange JSONL lines (docs/interchange.md §1) without
building models, which is what `sangao roster generate` writes; `generate_csv_rows` gives them as
the Chinese-header CSV tables of real exports. `generate_roster` is the JSON lines validated in
full, so the three cannot disagree.

Pure: a seeded `random.Random`, no clock, no I/O. The same (n, seed, as_of) gives byte-identical
output, and a roster of n patients is the first n patients of any longer roster with the same seed
and as_of. Nothing here is a clinical rule: the numbers below shape a plausible population (rates,
means, spreads) and are simulation settings, kept as named constants. Clinical thresholds live in
guideline YAML; the emergencies drawn here (SBP >=180, FPG >=16.7 or <=3.9, urgent symptoms of
clinical-reference.md §3.6) are only values that the rules will meet.

Every date is on or before `as_of`; birth < enrolment (age >=35 at enrolment) <= visits, labs,
screenings; nothing after `deceased_on` or `moved_out_on`. Resident IDs are valid GB 11643 numbers
from Shandong area codes whose birth date and sex agree with the record, unique within a roster.
The first patients of every roster are "showcase" patients, one per situation the pipeline must
handle (urgent reading, lost to follow-up, never screened …), so even a 20-patient demo exercises
every stage; later patients draw those situations at their ordinary rates.
"""

from __future__ import annotations

import json
import math
import random
from bisect import bisect
from collections.abc import Iterator
from datetime import date
from itertools import accumulate
from statistics import NormalDist

from pathways.models import Patient
from pathways.resident_id import check_digit

# ---- places --------------------------------------------------------------------------------------
# Shandong districts: (area code, district name, weight ~ share of the roster, townships).
# A township ending in 街道 is urban and served by a 社区卫生服务中心; a 镇 by a 卫生院.
DISTRICTS: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("370102", "历下区", 6, ("泉城路街道", "大明湖街道", "千佛山街道", "甸柳街道")),
    ("370202", "市南区", 5, ("八大关街道", "香港中路街道", "江苏路街道", "湛山街道")),
    ("370203", "市北区", 8, ("台东街道", "辽宁路街道", "浮山新区街道", "敦化路街道")),
    ("370211", "黄岛区", 9, ("黄岛街道", "灵山卫街道", "藏南镇", "大场镇", "宝山镇")),
    ("370212", "崂山区", 4, ("沙子口街道", "王哥庄街道", "北宅街道", "中韩街道")),
    ("370281", "胶州市", 7, ("阜安街道", "李哥庄镇", "铺集镇", "里岔镇")),
    ("370302", "淄川区", 6, ("般阳路街道", "昆仑镇", "洪山镇", "寨里镇")),
    ("370602", "芝罘区", 6, ("向阳街道", "毓璜顶街道", "只楚街道", "幸福街道")),
    ("370682", "莱阳市", 6, ("城厢街道", "照旺庄镇", "穴坊镇", "团旺镇")),
    ("370702", "潍城区", 5, ("城关街道", "望留街道", "于河街道", "军埠口镇")),
    ("370811", "任城区", 7, ("古槐街道", "济阳街道", "长沟镇", "喻屯镇")),
    ("370902", "泰山区", 5, ("财源街道", "泰前街道", "省庄镇", "邱家店镇")),
    ("371002", "环翠区", 4, ("环翠楼街道", "张村镇", "羊亭镇", "桥头镇")),
    ("371102", "东港区", 5, ("日照街道", "石臼街道", "秦楼街道", "涛雒镇")),
    ("371302", "兰山区", 9, ("兰山街道", "金雀山街道", "枣园镇", "方城镇", "李官镇")),
)
TEAMS_PER_TOWNSHIP = 3  # family-doctor teams per township, numbered within the district
BORN_ELSEWHERE_RATE = 0.12  # resident ID area code of another Shandong district (born elsewhere)

# ---- names ---------------------------------------------------------------------------------------
# Common surnames with rough Shandong frequencies (per cent); a few compound surnames for masking.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 9.0), ("张", 8.5), ("李", 8.0), ("刘", 6.5), ("陈", 2.6), ("杨", 2.5), ("孙", 2.3),
    ("赵", 2.2), ("徐", 1.9), ("马", 1.7), ("于", 1.6), ("高", 1.5), ("郭", 1.3), ("宋", 1.1),
    ("吴", 1.0), ("周", 1.0), ("董", 1.0), ("任", 0.8), ("韩", 0.8), ("姜", 0.8), ("朱", 0.8),
    ("曹", 0.7), ("田", 0.7), ("崔", 0.7), ("孔", 0.6), ("胡", 0.6), ("丁", 0.5), ("魏", 0.5),
    ("吕", 0.5), ("冯", 0.5), ("侯", 0.5), ("梁", 0.5), ("闫", 0.5), ("林", 0.5), ("袁", 0.4),
    ("何", 0.4), ("邵", 0.4), ("薛", 0.4), ("秦", 0.4), ("曲", 0.4), ("程", 0.4), ("范", 0.4),
    ("谢", 0.3), ("牟", 0.3), ("邢", 0.3), ("卢", 0.3), ("苏", 0.3), ("房", 0.2), ("宫", 0.2),
    ("鞠", 0.2), ("欧阳", 0.05), ("司马", 0.02), ("诸葛", 0.02),
)
MALE_NAME_CHARS = "建国军明强伟华平志德福海林忠文春光成庆胜学永金宝山东立新峰民刚勇亮涛波斌利生玉洪祥喜荣贵"
FEMALE_NAME_CHARS = "秀英兰桂玉凤珍芳霞梅丽红华淑敏静燕荣琴娟云萍洁艳翠莲芬美春秋菊香花爱"
SINGLE_CHAR_GIVEN_NAME_RATE = 0.25

# ---- population ----------------------------------------------------------------------------------
MALE_RATE = 0.47
AGE_MEAN, AGE_SD, AGE_MIN, AGE_MAX = 63.0, 10.5, 35.0, 96.0  # age at as_of, years
ENROLMENT_MIN_AGE = 35.0
# Programme combinations (hypertension, diabetes, dyslipidemia) and their shares, per cent:
# hypertension ~60 %, diabetes ~25 %, many HTN+DL and HTN+DM, some all three.
CONDITION_MIX: tuple[tuple[tuple[str, ...], float], ...] = (
    (("hypertension",), 31),
    (("diabetes",), 6),
    (("dyslipidemia",), 27),
    (("hypertension", "dyslipidemia"), 14),
    (("hypertension", "diabetes"), 8),
    (("diabetes", "dyslipidemia"), 4),
    (("hypertension", "diabetes", "dyslipidemia"), 7),
)
SMOKER_RATE = {"M": 0.45, "F": 0.03}
SMOKING_UNKNOWN_RATE = 0.10  # field absent
CHILDBEARING_AGE_MAX = 49  # women up to this age get an explicit pregnant/breastfeeding flag
PREGNANT_RATE = 0.03  # among those women (raised so the pregnancy rules meet someone)
BREASTFEEDING_RATE = 0.01

# ---- enrolment and follow-up ---------------------------------------------------------------------
ENROLMENT_YEARS = 10  # enrolments spread over this many years before as_of
ENROLMENT_RECENCY_POWER = 1.3  # >1 makes recent years busier than early ones
RECENT_ENROLMENT_RATE = 0.06  # enrolled within the last 90 days
RECENT_DAYS = 89
SETTLED_DAYS = 2 * 365 + 60  # showcase patients who need history are enrolled at least this long ago
HISTORY_DAYS = 3 * 365  # visits and labs are generated for at most this much history
VISIT_INTERVAL_DAYS, VISIT_INTERVAL_SD = 91, 12  # ~4 follow-ups a year
VISIT_INTERVAL_MIN = 28
LOST_RATE = 0.07  # no visit for more than six months
LOST_MIN_DAYS = 190  # a lost patient's last visit is at least this long before as_of
LOST_SPREAD_DAYS = 500
DECEASED_RATE = 0.01
MOVED_OUT_RATE = 0.015
LEFT_WITHIN_DAYS = 700  # death / moving out happens within this many days before as_of

# ---- readings ------------------------------------------------------------------------------------
BP_CONTROLLED_RATE = 0.7  # hypertension patients whose usual BP is on target (<140/90 at ~60 % of visits)
SBP_MEAN_CONTROLLED, SBP_MEAN_UNCONTROLLED, SBP_MEAN_NO_HTN = 128.0, 152.0, 123.0
SBP_MEAN_SD = 7.0  # spread of the per-patient mean
SBP_VISIT_SD, DBP_VISIT_SD = 8.0, 4.5  # visit-to-visit noise around the mean
DBP_PER_SBP, DBP_OFFSET, DBP_AGE_SLOPE, DBP_MEAN_SD = 0.5, 16.0, 0.2, 4.0  # usual DBP from usual SBP
DBP_SBP_SHARE = 0.4  # part of a visit's SBP deviation that DBP shares
HEART_RATE_MEAN, HEART_RATE_SD, HEART_RATE_VISIT_SD = 74.0, 6.0, 5.0
GLUCOSE_CONTROLLED_RATE = 0.55
FPG_MEAN_CONTROLLED, FPG_MEAN_UNCONTROLLED, FPG_MEAN_SD, FPG_VISIT_SD = 6.3, 8.6, 0.8, 0.8
WEIGHT_MEAN = {"M": 72.0, "F": 61.0}
WEIGHT_SD, WEIGHT_VISIT_SD = 9.0, 0.8
HEIGHT_MEAN, HEIGHT_SD = {"M": 169.0, "F": 158.0}, 6.0
WAIST_EVERY_NTH_VISIT = 4
# Rare events, per visit and exclusive: a visit has at most one of them.
URGENT_BP_RATE = 0.004  # SBP >= 180 (hypertension patients)
HYPERGLYCAEMIA_RATE = 0.005  # FPG >= 16.7 (diabetes patients)
HYPOGLYCAEMIA_RATE = 0.005  # FPG <= 3.9 (diabetes patients)
TACHYCARDIA_RATE = 0.002  # heart rate > 100
FEVER_RATE = 0.001  # temperature > 39 °C recorded
SYMPTOM_RATE = 0.008  # one symptom code of clinical-reference.md §3.6
ADVERSE_REACTION_RATE = 0.03
NEW_COMPLICATION_RATE = 0.004  # the complication also enters `history`, dated that visit
RANDOM_GLUCOSE_RATE = 0.03  # a random glucose besides the FPG (diabetes patients)
RANDOM_GLUCOSE_ABOVE_FPG, RANDOM_GLUCOSE_SD = 2.5, 1.5  # mmol/L
NEW_COMPLICATION_CODES = ("chd", "stroke", "tia", "heart_failure", "ckd", "pad")
NEW_COMPLICATION_CODES_DM = ("retinopathy", "neuropathy")  # besides the above, for diabetes patients
SYMPTOMS_HTN = ("severe_headache", "dizziness", "nausea", "vomiting", "blurred_vision", "eye_pain",
                "palpitations", "chest_tightness", "chest_pain", "dyspnea", "orthopnea", "leg_edema")
SYMPTOMS_DM = ("polyuria_polydipsia", "sweating", "palpitations", "poor_appetite", "nausea",
               "sudden_vision_loss", "abdominal_pain", "acetone_breath")

# ---- labs ----------------------------------------------------------------------------------------
LAB_YEARLY_RATE = 0.8  # chance of a lab panel in each year of history
CREATININE_RATE, UACR_RATE, UACR_RATE_DM = 0.9, 0.4, 0.75  # share of panels carrying the test
LDL_MEAN_DL, LDL_MEAN_OTHER, LDL_SD, LDL_LAB_SD = 3.7, 2.8, 0.7, 0.35
LDL_YEARLY_FACTOR = 0.9  # each panel's usual LDL-C is this share of the one before (treatment)
HDL_MEAN = {"M": 1.15, "F": 1.35}
HDL_SD, HDL_LAB_SD = 0.22, 0.1
TG_MEDIAN, TG_LOG_SD, TG_LAB_LOG_SD = 1.6, 0.45, 0.2
TC_EXTRA_SD = 0.3
LDL_MIN_CENTI, HDL_MIN_CENTI, TG_MIN_CENTI = 60, 50, 30  # floors, in 0.01 mmol/L
CREATININE_MEAN = {"M": 84.0, "F": 64.0}
CREATININE_SD, CREATININE_LAB_SD, CREATININE_CKD_FACTOR = 13.0, 6.0, 1.9
HBA1C_PER_FPG, HBA1C_OFFSET, HBA1C_SD = 0.62, 2.9, 0.3  # HbA1c % from the patient's usual FPG
HBA1C_LAB_SD = 0.4
UACR_MEDIAN, UACR_MEDIAN_DM, UACR_MEDIAN_CKD, UACR_LOG_SD = 10.0, 18.0, 90.0, 0.9

# ---- screenings ----------------------------------------------------------------------------------
NEVER_SCREENED_RATE = 0.12
SCREEN_ADHERENCE_MIN, SCREEN_ADHERENCE_MAX = 0.35, 0.95  # per-patient chance of doing a due screen in a year
# kind: (who is screened: "all" or "diabetes", chance the kind is ever done, abnormal rate)
SCREENINGS: tuple[tuple[str, str, float, float], ...] = (
    ("ecg", "all", 0.85, 0.15),
    ("stroke_risk", "all", 0.6, 0.2),
    ("carotid_us", "all", 0.35, 0.3),
    ("uacr", "all", 0.2, 0.15),
    ("egfr", "all", 0.2, 0.1),
    ("fundus", "diabetes", 0.75, 0.22),
    ("neuropathy", "diabetes", 0.6, 0.18),
    ("abi", "diabetes", 0.55, 0.1),
    ("foot_pulse", "diabetes", 0.8, 0.06),
)
FUNDUS_ABNORMAL_GRADES = (("mild_npdr", 60), ("moderate_npdr", 25), ("severe_npdr", 10), ("pdr", 5))
ABI_VERY_LOW_RATE = 0.1  # among abnormal ABIs, a value below 0.50

# ---- history -------------------------------------------------------------------------------------
# code: (base rate at age 65 without diabetes, factor with diabetes, diabetes only?)
HISTORY_RATES: tuple[tuple[str, float, float, bool], ...] = (
    ("chd", 0.08, 1.8, False),
    ("mi", 0.025, 1.8, False),
    ("acs", 0.015, 1.8, False),
    ("pci_cabg", 0.015, 1.6, False),
    ("stroke", 0.06, 1.6, False),
    ("hemorrhagic_stroke", 0.008, 1.0, False),
    ("tia", 0.02, 1.4, False),
    ("pad", 0.02, 2.5, False),
    ("pad_revasc", 0.003, 2.5, False),
    ("heart_failure", 0.02, 1.8, False),
    ("ckd", 0.04, 2.0, False),
    ("retinopathy", 0.12, 1.0, True),
    ("neuropathy", 0.15, 1.0, True),
    ("fh", 0.005, 1.0, False),
)
HISTORY_AGE_SCALE = 15.0  # rates multiply by e per this many years above 65
HISTORY_MIN_AGE = 30  # dated diagnoses fall after this age …
HISTORY_MAX_YEARS_AGO = 20  # … and within this many years before as_of
FH_FACTOR_DYSLIPIDEMIA, FH_FACTOR_OTHER = 3.0, 0.3  # fh is commoner in the dyslipidaemia programme
HISTORY_DATED_RATE = 0.7  # share of history codes with a diagnosis date (acs is always dated)
RECENT_ACS_RATE = 0.3  # share of acs events within the last year

# ---- referrals -----------------------------------------------------------------------------------
REFERRAL_AFTER_URGENT_RATE = 0.7  # an urgent reading leads to a recorded referral
ROUTINE_REFERRAL_RATE = 0.04  # per patient, a routine referral for poor control
REFERRAL_RETURNED_RATE = 0.75
REFERRAL_RETURN_DAYS = (5, 40)

# Showcase patients: the first patients of every roster, one per situation.
SHOWCASE_URGENT_BP = (186, 104)  # the showcase readings at the latest visit
SHOWCASE_HYPOGLYCAEMIA_FPG, SHOWCASE_HYPERGLYCAEMIA_FPG = 3.4, 18.2
SHOWCASE_SYMPTOM = "chest_pain"
SHOWCASE_OVERDUE_DAYS = 400  # the showcase's only ECG is this old
SHOWCASE_LATEST_VISIT_DAYS = 14  # the showcase's urgent visit is at most this old
SHOWCASE = ("urgent_bp", "hypoglycaemia", "urgent_symptom", "lost", "recent", "deceased",
            "never_screened", "overdue_screening", "referral_pending", "moved_out", "hyperglycaemia")

_Z = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))  # normal quantiles, 12 bits


def _cum(weights):
    return tuple(accumulate(weights))


_DISTRICT_CUM = _cum(d[2] for d in DISTRICTS)
_SURNAME_CUM = _cum(s[1] for s in SURNAMES)
_MIX_CUM = _cum(m[1] for m in CONDITION_MIX)
_FUNDUS_CUM = _cum(g[1] for g in FUNDUS_ABNORMAL_GRADES)
_HTN_SHOWCASE = frozenset({"urgent_bp", "urgent_symptom", "referral_pending"})
_URGENT_SHOWCASE = frozenset({"urgent_bp", "hypoglycaemia", "hyperglycaemia", "urgent_symptom"})
_PLAIN_SCREENINGS = frozenset({"ecg", "stroke_risk", "carotid_us", "neuropathy", "foot_pulse"})  # no value
_CONDITION_ORDER = ("hypertension", "diabetes", "dyslipidemia")
_CONDITIONS_JSON = {combo: json.dumps(list(combo), separators=(",", ":")) for combo, _ in CONDITION_MIX}
_JSON_BOOL = {True: "true", False: "false"}
# Rare visit events are mutually exclusive: one uniform draw falls in at most one interval.
(_EV_URGENT_BP, _EV_HYPERGLYCAEMIA, _EV_HYPOGLYCAEMIA, _EV_TACHYCARDIA, _EV_FEVER, _EV_SYMPTOM,
 _EV_ADVERSE, _EV_NEW_COMPLICATION, _EV_RANDOM_GLUCOSE) = range(9)
_FPG_KEY = '"fpg":'
# Number formatting is the costliest part of writing JSON: numbers are kept as ints (units, tenths,
# hundredths) and written through these tables, in the canonical form of `sangao roster export`
# (an integral value without ".0"), so generate → import → export gives the same bytes.
_INTS = tuple(str(i) for i in range(1000))
_MAX_TENTHS, _MAX_HUNDREDTHS = 30000, 5000


def _decimal_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


_TENTHS = tuple(_decimal_text(i / 10) for i in range(_MAX_TENTHS + 1))
_HUNDREDTHS = tuple(_decimal_text(i / 100) for i in range(_MAX_HUNDREDTHS + 1))
_PLAIN_TAIL = ',"adverse_reaction":false,"new_complication":false}'
_ADVERSE_TAIL = ',"adverse_reaction":true,"new_complication":false}'
_COMPLICATION_TAIL = ',"adverse_reaction":false,"new_complication":true}'
_TAILS = {_EV_ADVERSE: _ADVERSE_TAIL, _EV_NEW_COMPLICATION: _COMPLICATION_TAIL}
_EVENT_CUM = _cum((URGENT_BP_RATE, HYPERGLYCAEMIA_RATE, HYPOGLYCAEMIA_RATE, TACHYCARDIA_RATE, FEVER_RATE,
                   SYMPTOM_RATE, ADVERSE_REACTION_RATE, NEW_COMPLICATION_RATE, RANDOM_GLUCOSE_RATE))


def generate_roster(n: int, seed: int, as_of: date) -> Iterator[Patient]:
    """`n` validated patients, generated one at a time; deterministic for (n, seed, as_of)."""
    for line in generate_jsonl(n, seed, as_of):
        yield Patient.model_validate_json(line)


def generate_jsonl(n: int, seed: int, as_of: date) -> Iterator[str]:
    """The same patients as interchange JSON lines (no trailing newline), keys in model order,
    absent keys meaning unknown. Faster than `generate_roster`: no models are built."""
    if n < 0:
        raise ValueError(f"the number of patients must be zero or more, not {n}")
    gen = _Generator(seed, as_of)
    for k in range(n):
        yield gen.patient(k)


# ---- tabular export --------------------------------------------------------------------------------
# The multi-table CSV shape of real exports (docs/real-exports.md): one table per record
# kind joined on 患者编号, Chinese headers (some with units) and Chinese value labels. Headers and
# labels are ones store/readers/aliases.py recognises (tests/test_synthetic.py checks both).
CSV_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "patients": (
        ("patient_id", "患者编号"), ("id_number", "身份证号"), ("name", "姓名"), ("phone", "本人电话"),
        ("sex", "性别"), ("birth_date", "出生日期"), ("team", "家医团队"), ("institution", "管理机构"),
        ("region", "地区"),
        ("urban", "城乡"), ("conditions", "管理病种"), ("enrolled_on", "建档日期"),
        ("deceased_on", "死亡日期"),
        ("moved_out_on", "迁出日期"), ("smoker", "吸烟"), ("pregnant", "妊娠"), ("breastfeeding", "哺乳"),
    ),
    "visits": (
        ("patient_id", "患者编号"), ("date", "随访日期"), ("sbp", "收缩压(mmHg)"), ("dbp", "舒张压(mmHg)"),
        ("heart_rate", "心率(次/分)"), ("fpg", "空腹血糖(mmol/L)"), ("random_glucose", "随机血糖(mmol/L)"),
        ("temperature", "体温(℃)"), ("weight_kg", "体重(kg)"), ("height_cm", "身高(cm)"),
        ("waist_cm", "腰围(cm)"),
        ("symptoms", "症状"), ("adverse_reaction", "药物不良反应"), ("new_complication", "新发并发症"),
    ),
    "labs": (
        ("patient_id", "患者编号"), ("date", "检验日期"), ("tc", "总胆固醇(mmol/L)"),
        ("ldl_c", "低密度脂蛋白胆固醇(mmol/L)"), ("hdl_c", "高密度脂蛋白胆固醇(mmol/L)"),
        ("tg", "甘油三酯(mmol/L)"),
        ("hba1c", "糖化血红蛋白(%)"), ("creatinine", "肌酐(μmol/L)"), ("uacr", "尿白蛋白肌酐比(mg/g)"),
    ),
    "screenings": (
        ("patient_id", "患者编号"), ("date", "筛查日期"), ("kind", "筛查项目"), ("result", "结果"),
        ("value", "数值"), ("grade", "分级"),
    ),
    "history": (("patient_id", "患者编号"), ("code", "疾病"), ("date", "确诊日期")),
    "referrals": (
        ("patient_id", "患者编号"), ("date", "转诊日期"), ("to", "转诊去向"), ("reason", "转诊原因"),
        ("returned_on", "回转日期"),
    ),
}
CSV_LABELS: dict[str, dict] = {
    "sex": {"M": "男", "F": "女"},
    "region": {"north": "北方", "south": "南方"},
    "urban": {True: "城市", False: "农村"},
    "bool": {True: "是", False: "否"},
    "conditions": {"hypertension": "高血压", "diabetes": "糖尿病", "dyslipidemia": "血脂异常"},
    "code": {
        "chd": "冠心病", "mi": "心肌梗死", "acs": "急性冠脉综合征", "pci_cabg": "冠脉血运重建",
        "stroke": "脑卒中",
        "hemorrhagic_stroke": "脑出血", "tia": "短暂性脑缺血发作", "pad": "外周动脉疾病",
        "pad_revasc": "外周动脉血运重建", "heart_failure": "心力衰竭", "ckd": "慢性肾脏病",
        "retinopathy": "视网膜病变", "neuropathy": "周围神经病变", "fh": "家族性高胆固醇血症",
    },
    "kind": {
        "ecg": "心电图", "stroke_risk": "卒中风险评估", "carotid_us": "颈动脉超声", "uacr": "尿白蛋白肌酐比",
        "egfr": "肾小球滤过率", "fundus": "眼底检查", "neuropathy": "周围神经病变筛查", "abi": "踝肱指数",
        "foot_pulse": "足背动脉搏动",
    },
    "result": {"normal": "正常", "abnormal": "异常"},
    "grade": {
        "no_dr": "无视网膜病变", "mild_npdr": "轻度非增殖期", "moderate_npdr": "中度非增殖期",
        "severe_npdr": "重度非增殖期", "pdr": "增殖期",
    },
}
_CSV_BOOLS = ("smoker", "pregnant", "breastfeeding", "adverse_reaction", "new_complication")


def generate_csv_rows(n: int, seed: int, as_of: date) -> Iterator[tuple[str, list[str]]]:
    """The roster of `generate_jsonl` as (table, cells) rows of the CSV_TABLES shape, patient by
    patient (a patients row, then its history, visits, labs, screenings and referrals rows)."""
    for line in generate_jsonl(n, seed, as_of):
        record = json.loads(line)
        pid = record["patient_id"]
        yield "patients", [_csv_cell(f, record.get(f)) for f, _ in CSV_TABLES["patients"]]
        for table, key in (("history", "history"), ("visits", "visits"), ("labs", "labs"),
                           ("screenings", "screenings"), ("referrals", "referrals")):
            for item in record.get(key, ()):
                yield table, [pid] + [_csv_cell(f, item.get(f)) for f, _ in CSV_TABLES[table][1:]]


_MOBILE_PREFIXES = ("135", "136", "138", "139", "150", "152", "158", "186", "187", "188")


def _phone(id_number: str) -> str:
    """A synthetic mobile number derived from the resident ID, so adding it draws nothing from the
    roster's random stream (the rest of a seeded roster stays as it was)."""
    digits = int(id_number[6:17]) * 2654435761 % 10**9
    return _MOBILE_PREFIXES[digits % len(_MOBILE_PREFIXES)] + f"{digits % 10**8:08d}"


def _csv_cell(field: str, value) -> str:
    if value is None:
        return ""
    if field == "conditions":
        return "、".join(CSV_LABELS["conditions"][c] for c in value)
    if field == "symptoms":
        return "、".join(value)
    if field in _CSV_BOOLS:
        return CSV_LABELS["bool"][value]
    if field in CSV_LABELS:
        return CSV_LABELS[field][value]
    return str(value)


class _Generator:
    """One roster's state: the random stream, the date-text cache and the resident IDs used so far.

    Each patient is written straight to JSON text, a part at a time (the encoder and per-item dicts
    cost more than the rest of the generation); the strings written are fixed vocabulary with no
    characters JSON would escape. tests/test_synthetic.py validates every line against `Patient`.
    """

    def __init__(self, seed: int, as_of: date) -> None:
        self.rng = random.Random(seed)
        self.today = as_of.toordinal()
        self._iso: dict[int, str] = {}
        self._ids: set[str] = set()

    # -- small helpers ---------------------------------------------------------------------------
    def iso(self, ordinal: int) -> str:
        text = self._iso.get(ordinal)
        if text is None:
            text = self._iso[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def z(self) -> float:
        return _Z[self.rng.getrandbits(12)]

    def pick(self, cum: tuple[float, ...]) -> int:
        return bisect(cum, self.rng.random() * cum[-1])

    # -- one patient -----------------------------------------------------------------------------
    def patient(self, k: int) -> str:
        """Patient number `k` (0-based) as one JSON line."""
        r = self.rng.random
        z = self.z
        iso = self.iso
        today = self.today
        showcase = SHOWCASE[k] if k < len(SHOWCASE) else None

        area, district, _, townships = DISTRICTS[self.pick(_DISTRICT_CUM)]
        t_index = int(r() * len(townships))
        township = townships[t_index]
        team_no = t_index * TEAMS_PER_TOWNSHIP + int(r() * TEAMS_PER_TOWNSHIP) + 1
        urban = township.endswith("街道")

        sex = "M" if r() < MALE_RATE else "F"
        conditions = CONDITION_MIX[self.pick(_MIX_CUM)][0]
        if showcase in _HTN_SHOWCASE and "hypertension" not in conditions:
            conditions = ("hypertension", *conditions)
        if showcase in ("hypoglycaemia", "hyperglycaemia") and "diabetes" not in conditions:
            conditions = tuple(c for c in _CONDITION_ORDER if c in conditions or c == "diabetes")
        htn = "hypertension" in conditions
        dm = "diabetes" in conditions
        dl = "dyslipidemia" in conditions

        # Enrolment, then an age that makes the patient at least 35 at enrolment.
        settled = showcase in ("lost", "deceased", "moved_out", "overdue_screening")  # need years of history
        recent = showcase == "recent" or (showcase is None and r() < RECENT_ENROLMENT_RATE)
        if recent:
            enrolled = today - int(r() * (RECENT_DAYS + 1))
        else:
            span = ENROLMENT_YEARS * 365 - RECENT_DAYS - 1
            enrolled = today - RECENT_DAYS - 1 - int((r() ** ENROLMENT_RECENCY_POWER) * span)
            if settled:
                enrolled = min(enrolled, today - SETTLED_DAYS)
        age = AGE_MEAN + AGE_SD * z()
        age = min(max(age, AGE_MIN, ENROLMENT_MIN_AGE + (today - enrolled) / 365.2425 + 0.1), AGE_MAX)
        birth = today - int(age * 365.2425)
        age_years = (today - birth) / 365.2425

        # Leaving the roster: death or moving out, within the last two years, after enrolment.
        deceased = moved = None
        if showcase == "deceased" or (showcase is None and r() < DECEASED_RATE):
            deceased = today - 1 - int(r() * LEFT_WITHIN_DAYS)
            if deceased <= enrolled + 30:
                deceased = None
        elif showcase == "moved_out" or (showcase is None and r() < MOVED_OUT_RATE):
            moved = today - 1 - int(r() * LEFT_WITHIN_DAYS)
            if moved <= enrolled + 30:
                moved = None
        last_day = deceased - 1 if deceased is not None else moved if moved is not None else today

        if showcase == "lost" or (showcase is None and r() < LOST_RATE):
            lost_from = today - LOST_MIN_DAYS - int(r() * LOST_SPREAD_DAYS)
            if lost_from > enrolled:
                last_day = min(last_day, lost_from)

        # Name and resident ID.
        surname = SURNAMES[self.pick(_SURNAME_CUM)][0]
        chars = MALE_NAME_CHARS if sex == "M" else FEMALE_NAME_CHARS
        given = chars[int(r() * len(chars))]
        if r() >= SINGLE_CHAR_GIVEN_NAME_RATE:
            given += chars[int(r() * len(chars))]
        id_area = area if r() >= BORN_ELSEWHERE_RATE else DISTRICTS[int(r() * len(DISTRICTS))][0]
        id_number = self.resident_id(id_area, birth, sex)

        line = (f'{{"patient_id":"{area}-{k + 1:06d}","id_number":"{id_number}","name":"{surname}{given}",'
                f'"phone":"{_phone(id_number)}",'
                f'"sex":"{sex}","birth_date":"{iso(birth)}","team":"{district}-家医团队{team_no:02d}",'
                f'"institution":"{township}{"社区卫生服务中心" if urban else "卫生院"}",'
                # Shandong lies north of the Qinling–Huaihe line (China-PAR's north).
                f'"region":"north","urban":{_JSON_BOOL[urban]},"conditions":{_CONDITIONS_JSON[conditions]},'
                f'"enrolled_on":"{iso(enrolled)}"')
        if deceased is not None:
            line += f',"deceased_on":"{iso(deceased)}"'
        if moved is not None:
            line += f',"moved_out_on":"{iso(moved)}"'
        if r() >= SMOKING_UNKNOWN_RATE:
            line += f',"smoker":{_JSON_BOOL[r() < SMOKER_RATE[sex]]}'
        if sex == "F" and age_years < CHILDBEARING_AGE_MAX + 1:
            pregnant = r() < PREGNANT_RATE
            breastfeeding = not pregnant and r() < BREASTFEEDING_RATE
            line += f',"pregnant":{_JSON_BOOL[pregnant]},"breastfeeding":{_JSON_BOOL[breastfeeding]}'

        history = self.history(age_years, dm, dl, birth, last_day)
        visits, visit_days, urgent_days, complication_days, fpg_mean = self.visits(
            showcase, htn, dm, sex, age_years, enrolled, last_day)
        for day in complication_days:  # a new complication at a visit is diagnosed that day
            codes = NEW_COMPLICATION_CODES + NEW_COMPLICATION_CODES_DM if dm else NEW_COMPLICATION_CODES
            pool = [c for c in codes if c not in history]
            if pool:
                history[pool[int(r() * len(pool))]] = day
        has_ckd = "ckd" in history
        if history:
            line += ',"history":[' + ",".join(
                f'{{"code":"{code}","date":"{iso(day)}"}}' if day is not None else f'{{"code":"{code}"}}'
                for code, day in history.items()) + "]"
        if visits:
            line += ',"visits":[' + ",".join(visits) + "]"
        labs = self.labs(sex, dm, dl, has_ckd, fpg_mean, enrolled, last_day)
        if labs:
            line += ',"labs":[' + ",".join(labs) + "]"
        never = showcase == "never_screened" or (showcase is None and r() < NEVER_SCREENED_RATE)
        if not never:
            screenings = self.screenings(dm, enrolled, last_day, showcase == "overdue_screening")
            if screenings:
                line += ',"screenings":[' + ",".join(screenings) + "]"
        referrals = self.referrals(showcase, htn, dm, visit_days, urgent_days, last_day)
        if referrals:
            line += ',"referrals":[' + ",".join(referrals) + "]"
        return line + "}"

    def resident_id(self, area: str, birth: int, sex: str) -> str:
        """A GB 11643 number: area, YYYYMMDD, a 3-digit sequence (odd = male), check digit."""
        born = self.iso(birth).replace("-", "")
        seq = int(self.rng.random() * 500) * 2 + (1 if sex == "M" else 0)
        for _ in range(500):
            first17 = f"{area}{born}{seq:03d}"
            id_number = first17 + check_digit(first17)
            if id_number not in self._ids:
                self._ids.add(id_number)
                return id_number
            seq = (seq + 2) % 1000  # same area, birthday and sex already taken: next free sequence
        raise ValueError(f"more than 500 patients of one sex born on {born} in {area}")

    def history(self, age_years: float, dm: bool, dl: bool, birth: int, last_day: int
                ) -> dict[str, int | None]:
        """History code → day of diagnosis (an ordinal) or None when undated."""
        r = self.rng.random
        scale = math.exp((age_years - 65.0) / HISTORY_AGE_SCALE)
        items: dict[str, int | None] = {}
        earliest = max(birth + int(HISTORY_MIN_AGE * 365.2425), self.today - HISTORY_MAX_YEARS_AGO * 365)
        for code, rate, dm_factor, dm_only in HISTORY_RATES:
            if dm_only and not dm:
                continue
            if code == "fh":  # familial hypercholesterolaemia: inherited, not age-related
                p = rate * (FH_FACTOR_DYSLIPIDEMIA if dl else FH_FACTOR_OTHER)
            else:
                p = rate * (dm_factor if dm else 1.0) * scale
            if r() >= p:
                continue
            start = last_day
            if code == "acs" or r() < HISTORY_DATED_RATE:
                start = max(earliest, last_day - 365) if code == "acs" and r() < RECENT_ACS_RATE else earliest
            items[code] = start + int(r() * (last_day - start)) if start < last_day else None
        return items

    def visits(self, showcase, htn, dm, sex, age_years, enrolled, last_day):
        r = self.rng.random
        z = self.z
        iso = self.iso
        if htn:
            controlled = r() < BP_CONTROLLED_RATE
            sbp_mean = (SBP_MEAN_CONTROLLED if controlled else SBP_MEAN_UNCONTROLLED) + SBP_MEAN_SD * z()
        else:
            sbp_mean = SBP_MEAN_NO_HTN + SBP_MEAN_SD * z()
        # Diastolic pressure follows systolic and falls with age as arteries stiffen.
        dbp_mean = (DBP_PER_SBP * sbp_mean + DBP_OFFSET - DBP_AGE_SLOPE * (age_years - 60.0)
                    + DBP_MEAN_SD * z())
        hr_mean = HEART_RATE_MEAN + HEART_RATE_SD * z()
        fpg_mean = 0.0
        if dm:
            good = r() < GLUCOSE_CONTROLLED_RATE
            fpg_mean = (FPG_MEAN_CONTROLLED if good else FPG_MEAN_UNCONTROLLED) + FPG_MEAN_SD * z()
            fpg_mean = max(fpg_mean, 5.0)
        weight = WEIGHT_MEAN[sex] + WEIGHT_SD * z()
        height = round(HEIGHT_MEAN[sex] + HEIGHT_SD * z())
        waist = round(weight * 0.72 + 40.0 + 4.0 * z())

        start = max(enrolled, self.today - HISTORY_DAYS)
        t = enrolled if start == enrolled else start + int(r() * VISIT_INTERVAL_DAYS)
        texts: list[str] = []
        days: list[int] = []
        urgent_days: list[tuple[int, str]] = []
        complications: list[int] = []
        bits = self.rng.getrandbits
        iso_cache = self._iso
        Z = _Z  # noqa: N806 (a local for speed)
        ints, tenths = _INTS, _TENTHS
        event_total = _EVENT_CUM[-1]
        sbp_sd, dbp_shared_sd, dbp_sd = SBP_VISIT_SD, DBP_SBP_SHARE * SBP_VISIT_SD, DBP_VISIT_SD
        hr_sd, fpg_sd, weight_sd = HEART_RATE_VISIT_SD, FPG_VISIT_SD, WEIGHT_VISIT_SD
        interval, interval_sd, interval_min = VISIT_INTERVAL_DAYS + 0.5, VISIT_INTERVAL_SD, VISIT_INTERVAL_MIN
        weight10 = weight * 10 + 0.5
        i = 0
        # Most of a patient is visits, so this loop is written for speed: three 24-bit draws give six
        # normal deviates (table lookups), one uniform draw decides whether a rare event happens,
        # and the visit is written as JSON text directly.
        while t <= last_day:
            b1, b2, b3 = bits(24), bits(24), bits(24)
            step = int(interval + interval_sd * Z[b3 >> 12])
            following = t + (step if step > interval_min else interval_min)
            if (following > last_day and last_day - t > SHOWCASE_LATEST_VISIT_DAYS
                    and showcase in _URGENT_SHOWCASE):
                following = last_day - SHOWCASE_LATEST_VISIT_DAYS // 2  # a showcase urgent reading is recent
            z_sbp = Z[b1 & 4095]
            sbp = int(sbp_mean + sbp_sd * z_sbp + 0.5)
            dbp = int(dbp_mean + dbp_shared_sd * z_sbp + dbp_sd * Z[b1 >> 12] + 0.5)
            hr = int(hr_mean + hr_sd * Z[b2 & 4095] + 0.5)
            fpg = 0
            if dm:
                fpg = int((fpg_mean + fpg_sd * Z[b2 >> 12]) * 10 + 0.5)  # tenths of mmol/L
                if fpg < 40:
                    fpg = 40
            u = r()
            event = -1 if u >= event_total else bisect(_EVENT_CUM, u)
            urgent = ""  # the reason of a referral, when the reading is urgent
            symptom = None
            extra = ""
            if event >= 0 or (showcase is not None and following > last_day):
                if event == _EV_URGENT_BP and htn:
                    sbp, dbp, urgent = 180 + int(r() * 26), 95 + int(r() * 20), "htn.urgent_bp"
                elif event == _EV_TACHYCARDIA:
                    hr = 101 + int(r() * 25)
                elif event == _EV_SYMPTOM:
                    pool = SYMPTOMS_DM if dm and (not htn or r() < 0.5) else SYMPTOMS_HTN
                    symptom = pool[int(r() * len(pool))]
                elif event == _EV_HYPERGLYCAEMIA and dm:
                    fpg, urgent = int(167.5 + r() * 80.0), "dm.urgent_glucose"
                elif event == _EV_HYPOGLYCAEMIA and dm:
                    fpg, urgent = int(28.5 + r() * 11.0), "dm.urgent_glucose"
                elif event == _EV_FEVER:
                    extra = f',"temperature":{tenths[int(391.5 + r() * 10.0)]}'
                elif event == _EV_RANDOM_GLUCOSE and dm:
                    glucose = fpg_mean + RANDOM_GLUCOSE_ABOVE_FPG + RANDOM_GLUCOSE_SD * z()
                    extra = f',"random_glucose":{tenths[int(min(max(glucose, 4.0), 16.0) * 10 + 0.5)]}'
                elif event == _EV_NEW_COMPLICATION:
                    complications.append(t)
                if showcase is not None and following > last_day:  # the latest visit of a showcase patient
                    if showcase == "urgent_bp":
                        sbp, dbp, urgent = SHOWCASE_URGENT_BP[0], SHOWCASE_URGENT_BP[1], "htn.urgent_bp"
                    elif showcase == "hypoglycaemia":
                        fpg, urgent = int(SHOWCASE_HYPOGLYCAEMIA_FPG * 10 + 0.5), "dm.urgent_glucose"
                    elif showcase == "hyperglycaemia":
                        fpg, urgent = int(SHOWCASE_HYPERGLYCAEMIA_FPG * 10 + 0.5), "dm.urgent_glucose"
                    elif showcase == "urgent_symptom":
                        symptom, urgent = SHOWCASE_SYMPTOM, "htn.urgent_symptom"
            if sbp < 90:
                sbp = 90
            elif sbp > 230:
                sbp = 230
            if dbp > sbp - 25:
                dbp = sbp - 25
            elif dbp < 50:
                dbp = 50
            if hr < 40:
                hr = 40
            extra += f',"weight_kg":{tenths[int(weight10 + weight_sd * 10 * Z[b3 & 4095])]}'
            if i == 0:
                extra += f',"height_cm":{height}'
            if i % WAIST_EVERY_NTH_VISIT == 0:
                extra += f',"waist_cm":{waist}'
            if symptom is not None:
                extra += f',"symptoms":["{symptom}"]'
            texts.append(
                f'{{"date":"{iso_cache.get(t) or iso(t)}","sbp":{ints[sbp]},"dbp":{ints[dbp]},'
                f'"heart_rate":{ints[hr]}{f",{_FPG_KEY}{tenths[fpg]}" if dm else ""}{extra}'
                f'{_TAILS.get(event, _PLAIN_TAIL)}'
            )
            days.append(t)
            if urgent:
                urgent_days.append((t, urgent))
            i += 1
            t = following
        return texts, days, urgent_days, complications, fpg_mean

    def labs(self, sex, dm, dl, has_ckd, fpg_mean, enrolled, last_day) -> list[str]:
        """JSON items of yearly-ish lab panels: lipids always, HbA1c for diabetes, often creatinine
        and UACR."""
        r = self.rng.random
        bits = self.rng.getrandbits
        z = self.z
        ldl_mean = (LDL_MEAN_DL if dl else LDL_MEAN_OTHER) + LDL_SD * z()
        hdl_mean = HDL_MEAN[sex] + HDL_SD * z()
        tg_mean = TG_MEDIAN * math.exp(TG_LOG_SD * z())
        cr_mean = (CREATININE_MEAN[sex] + CREATININE_SD * z()) * (CREATININE_CKD_FACTOR if has_ckd else 1.0)
        uacr_median = UACR_MEDIAN_CKD if has_ckd else UACR_MEDIAN_DM if dm else UACR_MEDIAN
        uacr_rate = UACR_RATE_DM if dm or has_ckd else UACR_RATE
        hba1c_mean = HBA1C_PER_FPG * fpg_mean + HBA1C_OFFSET + HBA1C_SD * z()
        labs: list[str] = []
        windows = _year_windows(max(enrolled, self.today - HISTORY_DAYS), last_day)
        last = len(windows) - 1
        for w, (low, high) in enumerate(windows):
            if r() >= LAB_YEARLY_RATE and (labs or w != last):  # at least one panel
                continue
            b1, b2, b3 = bits(24), bits(24), bits(24)
            # Values in hundredths/tenths as ints, written through the text tables (see _TENTHS).
            # Treatment brings LDL-C down over the years of management.
            ldl = int((ldl_mean * LDL_YEARLY_FACTOR ** len(labs) + LDL_LAB_SD * _Z[b1 & 4095]) * 100 + 0.5)
            ldl = min(max(ldl, LDL_MIN_CENTI), _MAX_HUNDREDTHS)
            hdl = int((hdl_mean + HDL_LAB_SD * _Z[b1 >> 12]) * 100 + 0.5)
            hdl = min(max(hdl, HDL_MIN_CENTI), _MAX_HUNDREDTHS)
            tg = int(tg_mean * math.exp(TG_LAB_LOG_SD * _Z[b2 & 4095]) * 100 + 0.5)
            tg = min(max(tg, TG_MIN_CENTI), _MAX_HUNDREDTHS)
            # Friedewald (mmol/L): TC = LDL-C + HDL-C + TG/2.2, plus some lipoprotein(a) and error.
            tc = min(ldl + hdl + int(tg / 2.2 + TC_EXTRA_SD * 100 * abs(_Z[b2 >> 12]) + 0.5), _MAX_HUNDREDTHS)
            text = (f'{{"date":"{self.iso(low + int(r() * (high - low + 1)))}","tc":{_HUNDREDTHS[tc]},'
                    f'"ldl_c":{_HUNDREDTHS[ldl]},"hdl_c":{_HUNDREDTHS[hdl]},"tg":{_HUNDREDTHS[tg]}')
            if dm:
                hba1c = min(max(hba1c_mean + HBA1C_LAB_SD * _Z[b3 & 4095], 5.0), 14.0)
                text += f',"hba1c":{_TENTHS[int(hba1c * 10 + 0.5)]}'
            if r() < CREATININE_RATE:
                creatinine = min(max(cr_mean + CREATININE_LAB_SD * _Z[b3 >> 12], 35.0), 600.0)
                text += f',"creatinine":{int(creatinine + 0.5)}'
            if r() < uacr_rate:
                uacr = min(uacr_median * math.exp(UACR_LOG_SD * _Z[bits(12)]), 3000.0)
                text += f',"uacr":{_TENTHS[int(uacr * 10 + 0.5)]}'
            labs.append(text + "}")
        return labs

    def screenings(self, dm: bool, enrolled: int, last_day: int, overdue: bool) -> list[str]:
        """JSON items of the six-complication screenings, in date order. Each kind is done by some
        patients only; those who do it miss some years (adherence), so some are overdue."""
        r = self.rng.random
        out: list[tuple[int, str]] = []
        adherence = SCREEN_ADHERENCE_MIN + r() * (SCREEN_ADHERENCE_MAX - SCREEN_ADHERENCE_MIN)
        start = max(enrolled, self.today - HISTORY_DAYS)
        windows = _year_windows(start, last_day)
        last = len(windows) - 1
        for kind, who, ever_rate, abnormal_rate in SCREENINGS:
            if who == "diabetes" and not dm:
                continue
            if overdue and kind == "ecg":
                # Showcase: one ECG, long enough ago to be overdue on any yearly schedule.
                day = min(last_day, self.today - SHOWCASE_OVERDUE_DAYS)
                if day >= start:
                    out.append((day, f'{{"date":"{self.iso(day)}","kind":"ecg","result":"normal"}}'))
                continue
            if r() >= ever_rate:
                continue
            done = False
            for w, (low, high) in enumerate(windows):
                if r() < adherence or (not done and w == last):
                    day = low + int(r() * (high - low + 1))
                    out.append((day, self.screening(kind, day, r() < abnormal_rate)))
                    done = True
        out.sort(key=_first)
        return [text for _, text in out]

    def screening(self, kind: str, day: int, abnormal: bool) -> str:
        r = self.rng.random
        text = f'{{"date":"{self.iso(day)}","kind":"{kind}","result":"{"abnormal" if abnormal else "normal"}"'
        if kind in _PLAIN_SCREENINGS:
            return text + "}"
        if kind == "abi":
            if not abnormal:
                value = 0.95 + r() * 0.35
            elif r() < ABI_VERY_LOW_RATE:
                value = 0.35 + r() * 0.14
            else:
                value = 0.5 + r() * 0.39
            text += f',"value":{_HUNDREDTHS[int(value * 100 + 0.5)]}'
        elif kind == "fundus":
            grade = FUNDUS_ABNORMAL_GRADES[self.pick(_FUNDUS_CUM)][0] if abnormal else "no_dr"
            text += f',"grade":"{grade}"'
        elif kind == "uacr":
            value = 30.0 + r() * 200.0 if abnormal else 3.0 + r() * 25.0
            text += f',"value":{_TENTHS[int(value * 10 + 0.5)]}'
        elif kind == "egfr":
            value = 25.0 + r() * 34.0 if abnormal else 60.0 + r() * 50.0
            text += f',"value":{_TENTHS[int(value * 10 + 0.5)]}'
        return text + "}"

    def referrals(self, showcase, htn, dm, visit_days, urgent_days, last_day) -> list[str]:
        """JSON items of referrals after urgent readings and for poor control, in date order."""
        r = self.rng.random
        out: list[tuple[int, str]] = []
        for day, reason in urgent_days:
            if showcase is not None or r() < REFERRAL_AFTER_URGENT_RATE:
                out.append((day, self.referral(day, reason, last_day, pending=showcase is not None)))
        routine = showcase == "referral_pending" or (showcase is None and r() < ROUTINE_REFERRAL_RATE)
        if visit_days and routine:
            day = visit_days[-1] if showcase == "referral_pending" else visit_days[int(r() * len(visit_days))]
            reason = "htn.two_uncontrolled" if htn or not dm else "dm.two_uncontrolled"
            out.append((day, self.referral(day, reason, last_day, pending=showcase == "referral_pending")))
        out.sort(key=_first)
        return [text for _, text in out]

    def referral(self, day: int, reason: str, last_day: int, pending: bool) -> str:
        r = self.rng.random
        text = f'{{"date":"{self.iso(day)}","to":"county","reason":"{reason}"'
        low, high = REFERRAL_RETURN_DAYS
        back = day + low + int(r() * (high - low))
        if not pending and r() < REFERRAL_RETURNED_RATE and back <= last_day:
            text += f',"returned_on":"{self.iso(back)}"'
        return text + "}"


def _first(pair: tuple[int, str]) -> int:
    return pair[0]


def _year_windows(start: int, last_day: int) -> list[tuple[int, int]]:
    """Year-long windows (first and last day, as ordinals) ending on `last_day`, oldest first; the
    oldest is cut at `start`. Empty if start > last_day."""
    windows = []
    high = last_day
    while high >= start:
        windows.append((max(start, high - 364), high))
        high -= 365
    return windows[::-1]
