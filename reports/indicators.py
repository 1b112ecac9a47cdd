"""Every quality-control indicator of the monthly report, defined once: its stable code (the CSV
key and trend key), Chinese and English name, numerator and denominator over the per-patient-month
rows of pathways/monthly.py, and the clause it comes from. Nothing else counts rows: the report,
the CSV, the drill-down and the guideline diff all read `indicators()` and `Tally`.

A numerator or denominator is a function of (row, previous month's row or None) returning a count
(a bool counts 1): a patient row counts once, a data-quality indicator counts visits or values.
A count indicator (管理人数) has no denominator. The six screening rates follow the guideline set's
list of complications (S01…S06 in its order), so a county with 认知障碍 gets its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pathways.monthly import CARE_STATES, CONTROLLED, NOT_APPLICABLE, PatientMonth

Count = Callable[[PatientMonth, PatientMonth | None], int]

_CLAUSE = "guidelines/national-default/quality.yaml"


@dataclass(frozen=True)
class Indicator:
    code: str
    zh: str
    en: str
    numerator: Count
    denominator: Count | None  # None: a count, not a rate
    num_zh: str  # what the numerator counts (thresholds by their quality.yaml names, not numbers)
    den_zh: str
    clause: str
    group: str = "core"  # core, screening, color, care, quality
    reason: Callable[[PatientMonth], str] | None = field(default=None, repr=False)
    # reads the previous month's row (the second argument); the others must not: the first
    # month of a report, which has none, reuses their sums from the report before it
    previous: bool = False

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


# ---- reason tags for the drill-down (why a patient is not in the numerator) ---------------------


def _control_reason(measure: str) -> Callable[[PatientMonth], str]:
    def reason(row: PatientMonth) -> str:
        state = getattr(row, measure)
        if state == CONTROLLED:
            return "已控制"
        reading = getattr(row, {"bp": "bp_reading", "glucose": "fpg_reading", "ldl": "ldl_reading"}[measure])
        return "无读数" if not reading else f"未控制 {reading}"

    return reason


def _standard_reason(row: PatientMonth) -> str:
    text = f"{row.visits_window}/{row.visits_required} 次随访"
    return f"规范 {text}" if row.standard else f"不规范: {text}"


def _all_reason(row: PatientMonth) -> str:
    names = {
        "hypertension": ("血压", row.bp),
        "diabetes": ("血糖", row.glucose),
        "dyslipidemia": ("血脂", row.ldl),
    }
    missing = [
        f"{names[p][0]}{'无读数' if names[p][1] == 'no_data' else '未控制'}"
        for p in row.programmes
        if names[p][1] != CONTROLLED
    ]
    return "全部达标" if not missing else "、".join(missing)


# ---- the list ---------------------------------------------------------------------------------


def _managed(row: PatientMonth, _prev: PatientMonth | None) -> bool:
    return row.managed


def _in(programme: str) -> Count:
    return lambda row, _p: row.managed and programme in row.programmes


def indicators(complications: Sequence[tuple[str, str, str]] = ()) -> tuple[Indicator, ...]:
    """Every indicator, in report order. `complications`: (id, zh name, en name) of the set's
    screening list, in its order."""
    core = [
        Indicator(
            "M01",
            "管理人数",
            "patients under management",
            _managed,
            None,
            "年龄≥qc_min_age、窗口末前已建档、窗口开始前未死亡或迁出的患者",
            "",
            _CLAUSE + " qc_min_age",
        ),
        Indicator(
            "M02",
            "高血压管理人数",
            "hypertension patients managed",
            _in("hypertension"),
            None,
            "管理的高血压患者",
            "",
            _CLAUSE,
        ),
        Indicator(
            "M03",
            "糖尿病管理人数",
            "diabetes patients managed",
            _in("diabetes"),
            None,
            "管理的糖尿病患者",
            "",
            _CLAUSE,
        ),
        Indicator(
            "M04",
            "血脂异常管理人数",
            "dyslipidaemia patients managed",
            _in("dyslipidemia"),
            None,
            "管理的血脂异常患者",
            "",
            _CLAUSE,
        ),
    ]
    for code, programme, zh, en in (
        ("H01", "hypertension", "高血压规范管理率", "hypertension standard management"),
        ("D01", "diabetes", "糖尿病规范管理率", "diabetes standard management"),
        ("L01", "dyslipidemia", "血脂异常规范管理率", "dyslipidaemia standard management"),
    ):
        den = _in(programme)
        core.append(
            Indicator(
                code,
                zh,
                en,
                lambda r, p, den=den: den(r, p) and r.standard,
                den,
                "窗口内面对面随访≥ceil(月数/3)次",
                "管理患者",
                _CLAUSE + " qc_months_per_visit",
                reason=_standard_reason,
            )
        )
    core += [
        Indicator(
            "H02",
            "血压控制率",
            "BP control",
            lambda r, p: r.managed and r.bp == CONTROLLED,
            lambda r, p: r.managed and r.bp != NOT_APPLICABLE,
            "窗口内最近一次血压<qc_bp_sbp/qc_bp_dbp（≥qc_elderly_age：<qc_elderly_sbp/qc_elderly_dbp）",
            "管理的高血压患者",
            _CLAUSE + " qc_bp_sbp qc_elderly_sbp",
            reason=_control_reason("bp"),
        ),
        Indicator(
            "D02",
            "血糖控制率",
            "glucose control",
            lambda r, p: r.managed and r.glucose == CONTROLLED,
            lambda r, p: r.managed and r.glucose != NOT_APPLICABLE,
            "窗口内最近一次空腹血糖<qc_fpg",
            "管理的糖尿病患者",
            _CLAUSE + " qc_fpg",
            reason=_control_reason("glucose"),
        ),
        Indicator(
            "L02",
            "血脂达标率",
            "LDL-C at target",
            lambda r, p: r.managed and r.ldl == CONTROLLED,
            _managed,
            "窗口内最近一次LDL-C低于按风险分层的目标值",
            "管理患者",
            "guidelines/national-default/lipids.yaml ldl_control",
            reason=_control_reason("ldl"),
        ),
        Indicator(
            "A01",
            "三高共管达标率",
            "all programmes controlled",
            lambda r, p: r.managed and r.all_controlled,
            _managed,
            "所患各病种均达标",
            "管理患者",
            _CLAUSE,
            reason=_all_reason,
        ),
    ]
    screening = []
    for i, (cid, zh, en) in enumerate(complications, start=1):

        def den(r, p, cid=cid):
            return r.managed and any(c == cid for c, _ in r.screenings)

        def num(r, p, cid=cid):
            return r.managed and any(c == cid and done for c, done in r.screenings)

        screening.append(
            Indicator(
                f"S{i:02d}",
                f"{zh}筛查率",
                f"{en or cid} screening",
                num,
                den,
                "近12个月内完成该项筛查",
                "符合条件的管理患者",
                "guidelines/national-default/screenings.yaml " + cid + "; " + _CLAUSE + " qc_screening_days",
                group="screening",
                reason=lambda r, cid=cid: (
                    "已筛查" if any(c == cid and d for c, d in r.screenings) else "未筛查"
                ),
            )
        )
    rest = [
        Indicator(
            "R01",
            "转诊闭环率",
            "referral loop closure",
            lambda r, p: r.referrals_closed if r.managed else 0,
            lambda r, p: r.referrals if r.managed else 0,
            "转诊后回转或14天内随访的转诊",
            "窗口内已满14天的转诊",
            _CLAUSE + " qc_referral_return_days",
        ),
        Indicator(
            "F01",
            "随访逾期率",
            "follow-up overdue",
            lambda r, p: r.managed and r.overdue,
            lambda r, p: r.managed and r.color is not None,
            "下次随访日期已过仍未随访的患者",
            "月末在管患者",
            "pathways/care_state.py",
            reason=lambda r: "随访逾期" if r.overdue else "按时",
        ),
    ]
    colors = [
        Indicator(
            code,
            zh,
            en,
            lambda r, p, c=c: r.managed and r.color == c,
            lambda r, p: r.managed and r.color is not None,
            f"月末为{zh[:2]}的患者",
            "月末在管患者",
            "guidelines/national-default/stratification.yaml",
            group="color",
        )
        for code, c, zh, en in (
            ("C01", "red", "红标占比", "red"),
            ("C02", "yellow", "黄标占比", "yellow"),
            ("C03", "blue", "蓝标占比", "blue"),
        )
    ]
    colors.append(
        Indicator(
            "C04",
            "颜色变化率",
            "colour changed since last month",
            lambda r, p: r.managed and p is not None and p.color is not None and r.color != p.color,
            lambda r, p: r.managed and r.color is not None and p is not None and p.color is not None,
            "较上月颜色改变的患者",
            "本月与上月均在管的患者",
            "guidelines/national-default/stratification.yaml",
            group="color",
            previous=True,
        )
    )
    care_zh = {
        "died": "死亡",
        "moved_out": "迁出",
        "new": "新登记（近3月）",
        "lost": "失访（12个月无接触）",
        "no_reading": "近3月无读数",
        "controlled": "在管已控制",
        "uncontrolled": "在管未控制",
    }
    care = [
        Indicator(
            f"K{i:02d}",
            care_zh[s.value],
            s.value.replace("_", " "),
            lambda r, p, v=s.value: r.care_state == v,
            lambda r, p: r.care_state is not None,
            care_zh[s.value],
            "月末前已建档的全部患者",
            _CLAUSE + " qc_recent_months",
            group="care",
        )
        for i, s in enumerate(CARE_STATES, start=1)
    ]
    quality = [
        Indicator(
            "Q01",
            "不合理值占比",
            "implausible values",
            lambda r, p: r.dq_implausible,
            lambda r, p: r.dq_values,
            "超出合理范围的随访数值",
            "本月随访数值",
            "store/data/plausible.yaml",
            group="quality",
        ),
        Indicator(
            "Q02",
            "复制随访占比",
            "copied-forward visits",
            lambda r, p: r.dq_copied,
            lambda r, p: r.dq_visits,
            "读数与上次完全相同的随访",
            "本月随访",
            "docs/monthly-report.md",
            group="quality",
        ),
        Indicator(
            "Q03",
            "血压尾数0/5占比",
            "BP end digit 0 or 5",
            lambda r, p: r.dq_bp_zero_five,
            lambda r, p: r.dq_bp_digits,
            "尾数为0或5的血压值（无偏好约20%）",
            "本月血压值",
            "docs/monthly-report.md",
            group="quality",
        ),
        Indicator(
            "Q04",
            "死亡后随访",
            "visits after death",
            lambda r, p: r.dq_after_death,
            lambda r, p: r.dq_visits,
            "死亡日期之后的随访",
            "本月随访",
            "docs/monthly-report.md",
            group="quality",
        ),
    ]
    return tuple(core + screening + rest + colors + care + quality)


# ---- counting ---------------------------------------------------------------------------------

ALL = ("", "")  # the scope key of the whole roster: (institution, team)


class Tally:
    """Numerator and denominator sums per (month, scope, indicator code). Scopes: the whole roster
    ("", ""), each institution (inst, "") and each team (inst, team). Rows are summed per team
    (one vector of sums per month and team); institutions and the roster are rolled up from the
    teams when first read."""

    def __init__(self, inds: tuple[Indicator, ...]) -> None:
        self.inds = inds
        self._index = {ind.code: i for i, ind in enumerate(inds)}
        self._funcs = tuple((ind.numerator, ind.denominator) for ind in inds)
        self._teams: dict[tuple[str, str, str], list[int]] = {}
        self._rolled: dict[tuple[str, tuple[str, str]], list[int]] | None = None

    def add(self, row: PatientMonth, prev: PatientMonth | None) -> None:
        key = (row.month, row.institution, row.team)
        vec = self._teams.get(key)
        if vec is None:
            vec = self._teams[key] = [0] * (2 * len(self._funcs))
        i = 0
        for numerator, denominator in self._funcs:
            num = numerator(row, prev)
            if num:
                vec[i] += num
            den = num if denominator is None else denominator(row, prev)
            if den:
                vec[i + 1] += den
            i += 2
        self._rolled = None

    def _sums(self) -> dict[tuple[str, tuple[str, str]], list[int]]:
        if self._rolled is None:
            rolled: dict[tuple[str, tuple[str, str]], list[int]] = {}
            for (month, inst, team), vec in sorted(self._teams.items()):
                if not any(vec):
                    continue
                for scope in (ALL, (inst, ""), (inst, team)):
                    total = rolled.setdefault((month, scope), [0] * len(vec))
                    for i, v in enumerate(vec):
                        total[i] += v
            self._rolled = rolled
        return self._rolled

    def team_vectors(self, month: str) -> list[tuple[str, str, list[int]]]:
        """The month's sums per team, in indicator order (numerator, denominator pairs)."""
        return [(inst, team, vec) for (m, inst, team), vec in sorted(self._teams.items()) if m == month]

    def add_vectors(self, month: str, vectors: list[tuple[str, str, list[int]]]) -> None:
        """Sums counted earlier (team_vectors of the same indicator list)."""
        for inst, team, vec in vectors:
            total = self._teams.setdefault((month, inst, team), [0] * (2 * len(self._funcs)))
            for i, v in enumerate(vec):
                total[i] += v
        self._rolled = None

    def team_sums(self) -> dict[tuple[str, str, str], list[int]]:
        """Every (month, institution, team) vector of sums, for `add_sums` of another tally."""
        return self._teams

    def add_sums(self, sums: dict[tuple[str, str, str], list[int]]) -> None:
        """Add another tally's `team_sums` (of the same indicator list)."""
        for key, vec in sums.items():
            total = self._teams.setdefault(key, [0] * len(vec))
            for i, v in enumerate(vec):
                total[i] += v
        self._rolled = None

    def vector(self, month: str, scope: tuple[str, str]) -> list[int]:
        """The (numerator, denominator) sums of every indicator of a month and scope, flat in
        indicator order (zeros for a scope with no rows)."""
        vec = self._sums().get((month, scope))
        return vec if vec is not None else [0] * (2 * len(self._funcs))

    def get(self, month: str, scope: tuple[str, str], code: str) -> tuple[int, int]:
        vec = self._sums().get((month, scope))
        if vec is None:
            return 0, 0
        i = 2 * self._index[code]
        return int(vec[i]), int(vec[i + 1])

    def scopes(self, month: str) -> list[tuple[str, str]]:
        return sorted(s for (m, s) in self._sums() if m == month)


def rate(num: int, den: int) -> float | None:
    """Per cent, rounded half up to one decimal; None when the denominator is 0."""
    if den == 0:
        return None
    return int(num * 1000 / den + 0.5) / 10


def explain(ind: Indicator, num: int, den: int, lang: str = "zh") -> str:
    """`H02 血压控制率 = 分子/分母 = 1,204/1,973 = 61.0 %` (a count: `M01 管理人数 = 1,973`)."""
    if ind.denominator is None:
        return f"{ind.code} {ind.name(lang)} = {num:,}"
    value = rate(num, den)
    words = "分子/分母" if lang == "zh" else "numerator/denominator"
    shown = "—" if value is None else f"{value:.1f} %"
    return f"{ind.code} {ind.name(lang)} = {words} = {num:,}/{den:,} = {shown}"


def small(count: int, limit: int) -> bool:
    """A cell under `limit` patients (but not 0) is shown as "<limit" outside the team."""
    return 0 < count < limit


# The fixed words of the reason tags, in English (the tags carry readings and counts between them).
_REASON_EN = (
    ("不规范: ", "not standard: "),
    ("规范 ", "standard: "),
    (" 次随访", " visits"),
    ("未控制", "not controlled"),
    ("已控制", "controlled"),
    ("无读数", "no reading"),
    ("全部达标", "all controlled"),
    ("已筛查", "screened"),
    ("未筛查", "not screened"),
    ("随访逾期", "follow-up overdue"),
    ("按时", "on time"),
    ("血压", "BP "),
    ("血糖", "FPG "),
    ("血脂", "LDL-C "),
    ("、", ", "),
)


def reason_text(text: str, lang: str) -> str:
    """A reason tag (Indicator.reason) in the report language."""
    if lang == "zh":
        return text
    for zh, en in _REASON_EN:
        text = text.replace(zh, en)
    return text
