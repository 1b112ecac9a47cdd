# ruff: noqa: E501 - the yardstick is written densely, as a hand-written script would be
"""The national-default pipeline written out by hand: the speed yardstick of bench/suite.py.

One JSONL roster line in (stdlib `json`), one assessment line out (stdlib `json`): the facts the rules
read, the 18 derive entries and 31 rules of guidelines/national-default/ as plain two-valued Python (a
missing value makes a comparison false; no "unknown" tracking, which the engine does), colour, tier,
referral, reason texts, screenings due and the next follow-up. Its numbers are written here on purpose:
this is what a programmer would write without the engine, not the product. bench/suite.py prints how
often its colour agrees with the engine's, so the yardstick is known to do the same kind of work.
"""

from __future__ import annotations

import calendar as _calendar
import json
from datetime import date, timedelta

from pathways.measures import egfr as _egfr

HTN_SYMPTOMS = frozenset(
    ["altered_consciousness", "blurred_vision", "chest_pain", "chest_tightness", "clinician_urgent", "dizziness", "dyspnea", "eye_pain", "nausea", "orthopnea", "palpitations", "severe_headache", "vomiting"]
)
DM_SYMPTOMS = frozenset(
    ["abdominal_pain", "acetone_breath", "altered_behaviour", "altered_consciousness", "clinician_urgent", "flushed_skin", "ketoacidosis_signs", "kussmaul_breathing", "nausea", "palpitations", "polyuria_polydipsia", "poor_appetite", "sudden_vision_loss", "sweating", "vomiting"]
)
COMPLICATIONS = (
    ["chd", "mi", "acs", "pci_cabg", "stroke", "hemorrhagic_stroke", "tia", "pad", "pad_revasc", "heart_failure", "ckd", "retinopathy", "neuropathy"]
)
ASCVD = ("chd", "mi", "acs", "stroke", "tia", "pad", "pad_revasc", "pci_cabg")
SEVERITY = {"red": 3, "yellow": 2, "blue": 1}
TIER = {"red": "county", "yellow": "township", "blue": "village"}
DAYS = {"red": 14, "yellow": 30, "blue": 90}
SCREENS = ("ecg", "stroke_risk", "carotid_us", "uacr", "egfr", "fundus", "neuropathy", "abi", "foot_pulse")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def _add_months(d: date, n: int) -> date:
    m = d.year * 12 + d.month - 1 + n
    y, m = divmod(m, 12)
    return date(y, m + 1, min(d.day, _calendar.monthrange(y, m + 1)[1]))


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def assess_line(line: str, as_of: date, next_working_day) -> str | None:
    p = json.loads(line)
    for k in ("deceased_on", "moved_out_on"):
        if p.get(k) and date.fromisoformat(p[k]) <= as_of:
            return None
    today = as_of.toordinal()
    iso = as_of.isoformat()
    birth = date.fromisoformat(p["birth_date"])
    sex = p["sex"]
    age = _age(birth, as_of)
    cond = p["conditions"]
    htn, dm, dl = "hypertension" in cond, "diabetes" in cond, "dyslipidemia" in cond
    smoker = p.get("smoker")
    hist = {}
    for h in p.get("history", ()):
        if h.get("date") is None or h["date"] <= iso:
            hist[h["code"]] = h.get("date")
    coronary = [d for c, d in hist.items() if c in ("chd", "mi", "acs") and d]
    coronary_age = _age(birth, date.fromisoformat(min(coronary))) if coronary else None
    acs_ago = today - date.fromisoformat(hist["acs"]).toordinal() if hist.get("acs") else None
    visits = sorted((v for v in p.get("visits", ()) if v["date"] <= iso), key=lambda v: v["date"], reverse=True)
    control_from = (as_of - timedelta(days=90)).isoformat()
    consec_from = (as_of - timedelta(days=180)).isoformat()
    lab_from = (as_of - timedelta(days=365)).isoformat()
    last = visits[0] if visits else None
    lv = last if last is not None and last["date"] >= control_from else {}
    symptoms = set(lv.get("symptoms", ()))
    bp = next((v for v in visits if v["date"] >= control_from and "sbp" in v and "dbp" in v), None)
    fpg_v = next((v for v in visits if v["date"] >= control_from and "fpg" in v), None)
    bps = [v for v in visits if v["date"] >= consec_from and "sbp" in v and "dbp" in v][:2]
    fpgs = [v["fpg"] for v in visits if v["date"] >= consec_from and "fpg" in v][:2]
    recent = [v for v in visits if v["date"] >= consec_from][:2]
    weight = next((v["weight_kg"] for v in visits if v["date"] >= control_from and "weight_kg" in v), None)
    height = next((v["height_cm"] for v in visits if "height_cm" in v), None)
    bmi = round(weight / (height / 100) ** 2, 1) if weight and height else None
    labs = sorted((x for x in p.get("labs", ()) if x["date"] <= iso), key=lambda x: x["date"], reverse=True)

    def latest(field, since=lab_from):
        return next((x[field] for x in labs if x["date"] >= since and x.get(field) is not None), None)

    def baseline(field):
        return next((x[field] for x in reversed(labs) if x.get(field) is not None), None)

    ldl, uacr, hba1c = latest("ldl_c"), latest("uacr"), latest("hba1c")
    creat = next((x for x in labs if x.get("creatinine") is not None), None)
    egfr = None
    if creat is not None and creat["date"] >= lab_from and creat["creatinine"] > 0:
        egfr = _egfr(creat["creatinine"], _age(birth, date.fromisoformat(creat["date"])), sex)
    b_ldl, b_tc, b_hdl = baseline("ldl_c"), baseline("tc"), baseline("hdl_c")
    first_ldl = next((x for x in reversed(labs) if x.get("ldl_c") is not None), None)
    reduction = None
    if first_ldl and ldl is not None and first_ldl["date"] < next(x["date"] for x in labs if x.get("ldl_c") is not None):
        reduction = round((first_ldl["ldl_c"] - ldl) / first_ldl["ldl_c"] * 100, 2)
    screens: dict = {}
    for s in p.get("screenings", ()):
        if s["date"] <= iso and (s["kind"] not in screens or s["date"] >= screens[s["kind"]]["date"]):
            screens[s["kind"]] = s

    def screen_ago(kind):
        s = screens.get(kind)
        return today - date.fromisoformat(s["date"]).toordinal() if s else None

    # derive entries
    if not htn:
        tsbp = tdbp = None
    elif age >= 65:
        tsbp, tdbp = 150, 90
    elif dm or any(c in hist for c in ("chd", "mi", "acs", "pci_cabg", "heart_failure")) or (uacr or 0) >= 30:
        tsbp, tdbp = 130, 80
    else:
        tsbp, tdbp = 140, 90
    if not htn:
        bp_control = "not_applicable"
    elif bp is None:
        bp_control = "no_data"
    else:
        bp_control = "controlled" if bp["sbp"] < tsbp and bp["dbp"] < tdbp else "uncontrolled"
    if not dm:
        glucose = hba1c_control = "not_applicable"
    else:
        glucose = "no_data" if fpg_v is None else "controlled" if fpg_v["fpg"] < 7.0 else "uncontrolled"
        hba1c_control = "no_data" if hba1c is None else "controlled" if hba1c < 7.0 else "uncontrolled"
    ckd = None if egfr is None else next(
        (g for g, m in (("G1", 90), ("G2", 60), ("G3a", 45), ("G3b", 30), ("G4", 15)) if egfr >= m), "G5"
    )
    albuminuria = None if uacr is None else "A1" if uacr < 30 else "A2" if uacr <= 300 else "A3"
    severe = ((acs_ago or 10**6) <= 365) + ("mi" in hist) + ("stroke" in hist) + ("pad_revasc" in hist)
    high_factors = (
        dm + htn + (smoker is True) + (egfr is not None and egfr < 60) + ("fh" in hist or (b_ldl or 0) >= 4.9)
        + (coronary_age is not None and coronary_age < (55 if sex == "M" else 65)) + ("pci_cabg" in hist)
    )
    column = "below"
    for name, lo_ldl, lo_tc in (("above", 4.9, 7.2), ("col3", 3.4, 5.2), ("col2", 2.6, 4.1), ("col1", 1.8, 3.1)):
        if (b_ldl or 0) >= lo_ldl or (b_tc or 0) >= lo_tc:
            column = name
            break
    factors = (smoker is True) + ((b_hdl if b_hdl is not None else 9) < 1.0) + (age >= (45 if sex == "M" else 55))
    if column in ("below", "above"):
        table = "low" if column == "below" else "high"
    elif htn:
        table = ("low", "low" if column == "col1" else "medium", "medium" if column == "col1" else "high", "high")[
            factors
        ]
    else:
        table = "low" if factors < 2 or (factors == 2 and column != "col3") or (factors == 3 and column == "col1") else "medium"
    non_hdl = b_tc - b_hdl if b_tc is not None and b_hdl is not None else None
    lifetime = (
        (bp is not None and (bp["sbp"] >= 160 or bp["dbp"] >= 100)) + ((non_hdl or 0) >= 5.2)
        + ((b_hdl if b_hdl is not None else 9) < 1.0) + ((bmi or 0) >= 28) + (smoker is True)
    )
    has_ascvd = any(c in hist for c in ASCVD)
    if has_ascvd and (severe >= 2 or (severe >= 1 and high_factors >= 2)):
        risk = "ultra_high"
    elif has_ascvd:
        risk = "very_high"
    elif (
        (b_ldl or 0) >= 4.9 or (b_tc or 0) >= 7.2 or (dm and age >= 40) or (egfr is not None and egfr < 60)
        or (dm and 20 <= age < 40 and ((smoker and (b_hdl or 9) < 1.0 and htn) or (uacr or 0) >= 30
                                       or "retinopathy" in hist))
    ) or table == "medium" and age < 55 and lifetime >= 2:
        risk = "high"
    else:
        risk = table
    if dm and risk in ("very_high", "ultra_high"):
        target, needs = 1.4, True
    elif dm and risk == "high":
        target, needs = 1.8, False
    elif dm:
        target, needs = 2.6, False
    else:
        target, needs = {"ultra_high": (1.4, True), "very_high": (1.8, True), "high": (2.6, False),
                         "medium": (2.6, False), "low": (3.4, False)}[risk]
    if ldl is None:
        ldl_control = "no_data"
    elif ldl < target and (not needs or reduction is None or reduction > 50):
        ldl_control = "controlled"
    else:
        ldl_control = "uncontrolled"
    # rules: (id, colour, follow-up days, referral (urgency, to) or None, text)
    vs, vd, vf, vr = lv.get("sbp"), lv.get("dbp"), lv.get("fpg"), lv.get("random_glucose")
    fired = []
    if len(recent) == 2 and recent[0].get("adverse_reaction") and recent[1].get("adverse_reaction"):
        fired.append(("care.adverse_twice", "red", 14, ("routine", "county"), "最近两次随访均有药物不良反应"))
    if lv.get("new_complication"):
        fired.append(("care.new_complication", "red", 14, ("routine", "county"), "最近一次随访出现新的并发症"))
    if lv.get("adverse_reaction"):
        fired.append(("care.adverse_reaction", "yellow", 14, None, "最近一次随访有药物不良反应，2周内复查"))
    if any(c in hist for c in COMPLICATIONS):
        fired.append(("care.established_complication", "yellow", 30, None, "已有并发症"))
    enrolled_days = today - date.fromisoformat(p["enrolled_on"]).toordinal()
    if enrolled_days < 90:
        fired.append(("care.new_patient", "yellow", 30, None, f"新纳入管理 {enrolled_days} 天（调药期）"))
    if dm:
        if (vf is not None and (vf >= 16.7 or vf <= 3.9)) or (vr is not None and (vr >= 16.7 or vr <= 3.9)):
            fired.append(("dm.urgent_glucose", "red", 14, ("urgent", "county"), f"最近一次随访血糖异常（空腹 {vf}，随机 {vr} mmol/L）"))
        if (vs or 0) >= 180 or (vd or 0) >= 110:
            fired.append(("dm.urgent_bp", "red", 14, ("urgent", "county"), f"糖尿病患者最近一次随访血压 {vs}/{vd} mmHg"))
        if (lv.get("heart_rate") or 0) > 100:
            fired.append(("dm.urgent_heart_rate", "red", 14, ("urgent", "county"), f"心率 {lv['heart_rate']} 次/分"))
        if (lv.get("temperature") or 0) > 39:
            fired.append(("dm.urgent_temperature", "red", 14, ("urgent", "county"), f"体温 {lv['temperature']} °C"))
        if not DM_SYMPTOMS.isdisjoint(symptoms):
            fired.append(("dm.urgent_symptom", "red", 14, ("urgent", "county"), "最近一次随访有糖尿病危急症状"))
        if len(fpgs) == 2 and fpgs[0] >= 7 and fpgs[1] >= 7:
            fired.append(("dm.two_uncontrolled", "red", 14, ("routine", "county"), f"连续两次空腹血糖控制不满意（{fpgs[1]}，{fpgs[0]}）"))
    if glucose == "uncontrolled":
        fired.append(("dm.uncontrolled", "yellow", 14, None, "最近一次血糖控制不满意"))
    if glucose == "no_data":
        fired.append(("care.no_data_glucose", "yellow", 30, None, "糖尿病患者在控制窗口内无血糖读数"))
    if htn:
        if (vs or 0) >= 180 or (vd or 0) >= 110:
            fired.append(("htn.urgent_bp", "red", 14, ("urgent", "county"), f"最近一次随访血压 {vs}/{vd} mmHg"))
        if not HTN_SYMPTOMS.isdisjoint(symptoms):
            fired.append(("htn.urgent_symptom", "red", 14, ("urgent", "county"), "最近一次随访有高血压危急症状"))
        if (p.get("pregnant") or p.get("breastfeeding")) and ((vs or 0) >= 140 or (vd or 0) >= 90):
            fired.append(("htn.pregnancy_bp", "red", 14, ("urgent", "county"), f"妊娠或哺乳期血压 {vs}/{vd} mmHg"))
        if len(bps) == 2 and all(v["sbp"] >= tsbp or v["dbp"] >= tdbp for v in bps):
            fired.append(("htn.two_uncontrolled", "red", 14, ("routine", "county"), "连续两次随访血压控制不满意"))
        if bp is not None and (bp["sbp"] >= tsbp or bp["dbp"] >= tdbp):
            fired.append(("htn.uncontrolled", "yellow", 14, None, f"最近一次随访血压 {bp['sbp']}/{bp['dbp']} mmHg 未达标"))
    if bp_control == "no_data":
        fired.append(("care.no_data_bp", "yellow", 30, None, "高血压患者在控制窗口内无血压读数"))
    if egfr is not None and egfr < 30:
        fired.append(("kidney.egfr_below_30", "red", 14, ("routine", "county"), f"eGFR {egfr}"))
    if uacr is not None and uacr > 300:
        fired.append(("kidney.uacr_above_300", "red", 14, ("routine", "county"), f"尿白蛋白/肌酐比 {uacr} mg/g"))
    if egfr is None:
        fired.append(("kidney.no_creatinine", "blue", 90, None, "化验窗口内无血肌酐结果"))
    elif 30 <= egfr < 60:
        fired.append(("kidney.egfr_30_60", "yellow", 30, None, f"eGFR {egfr}"))
    if uacr is not None and 30 <= uacr <= 300:
        fired.append(("kidney.uacr_30_300", "yellow", 30, None, f"尿白蛋白/肌酐比 {uacr} mg/g (A2)"))
    if ldl_control == "uncontrolled":
        fired.append(("lipid.ldl_above_target", "yellow", 30, None, f"LDL-C {ldl} mmol/L 未达标（<{target}）"))
    if dl and ldl_control == "no_data":
        fired.append(("care.no_data_ldl", "yellow", 30, None, "血脂异常患者在化验窗口内无LDL-C结果"))
    abi, fundus = screens.get("abi"), screens.get("fundus")
    if abi and screen_ago("abi") <= 365 and (abi.get("value") or 9) < 0.5:
        fired.append(("pad.abi_below_050", "red", 14, ("routine", "county"), f"踝肱指数 {abi['value']}"))
    if fundus and screen_ago("fundus") <= 365 and fundus.get("grade") in ("severe_npdr", "pdr"):
        fired.append(("fundus.severe_dr", "red", 14, ("routine", "county"), f"眼底检查为 {fundus['grade']}"))
    if any(s["result"] == "abnormal" and screen_ago(k) <= 365 for k, s in screens.items()):
        fired.append(("care.abnormal_screening", "yellow", 30, None, "近一年内最近一次筛查结果异常"))
    fired.sort(key=lambda r: (-SEVERITY[r[1]], r[0]))
    color = fired[0][1] if fired else "blue"
    referring = [r for r in fired if r[3]]
    urgent = [r for r in referring if r[3][0] == "urgent"]
    referral = None
    if referring:
        referral = {"urgency": "urgent" if urgent else "routine", "to": (urgent or referring)[0][3][1],
                    "reasons": sorted(r[0] for r in referring), "follow_up_within_days": min(r[2] for r in referring)}
    due = []
    eligible = {"ecg": True, "stroke_risk": True, "carotid_us": risk in ("high", "very_high", "ultra_high"),
                "uacr": True, "egfr": True, "fundus": dm, "neuropathy": dm,
                "abi": (dm and age >= 50) or risk in ("high", "very_high", "ultra_high")}
    short = (egfr is not None and egfr < 60) or (uacr or 0) >= 30
    horizon = as_of + timedelta(days=90)
    for kind, ok in eligible.items():
        if not ok:
            continue
        s = screens.get(kind)
        last_date = date.fromisoformat(s["date"]) if s else None
        if kind in ("egfr", "uacr"):
            lab = next((x for x in labs if x.get("creatinine" if kind == "egfr" else "uacr") is not None), None)
            if lab and (last_date is None or date.fromisoformat(lab["date"]) > last_date):
                last_date = date.fromisoformat(lab["date"])
        months = 6 if kind in ("egfr", "uacr") and short else 12
        due_by = date.fromisoformat(p["enrolled_on"]) + timedelta(days=90) if last_date is None else _add_months(last_date, months)
        if due_by <= horizon:
            due.append({"kind": kind, "due_by": due_by.isoformat(), "overdue": due_by < as_of})
    days = min((r[2] for r in fired), default=DAYS[color])
    base = date.fromisoformat(last["date"]) if last else date.fromisoformat(p["enrolled_on"])
    follow = next_working_day(max(base + timedelta(days=days), as_of))
    return _dumps({
        "patient_id": p["patient_id"], "as_of": iso, "guideline_set": "national-default",
        "guideline_version": "2026.1", "color": color, "tier": TIER[color],
        "reasons": [{"rule": r[0], "color": r[1], "text": r[4], "source": ""} for r in fired],
        "referral": referral,
        "control": {"bp": bp_control, "glucose": glucose, "ldl": ldl_control, "hba1c": hba1c_control},
        "bp_target": [tsbp, tdbp] if tsbp else None, "ascvd_risk": risk, "ldl_target": target,
        "egfr": egfr, "ckd_stage": ckd, "albuminuria": albuminuria, "screenings_due": due,
        "next_follow_up": follow.isoformat(), "warnings": [],
    })
