"""The monthly report's outputs: the typed context of templates/monthly.html.j2 (built from the
counts of reports/monthly.py), the self-contained HTML page (inline SVG charts, no network), the
CSV of every indicator value keyed by code, institution, team and month, and the terminal summary.

The context is the privacy boundary: it never carries a patient, and with `external` every count
from 1 to 4 shows as "<5" (and a rate built on one is hidden). Templates format; they never decide.
Everything but `generated_at` is a function of the data, so two runs differ only there.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TextIO

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from pathways.monthly import CARE_STATES, QcPolicy, Window
from reports.csv_safe import SafeWriter
from reports.indicators import ALL, Indicator, Tally, explain, rate, small

_env = Environment(
    loader=PackageLoader("reports", "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html", "html.j2"]),
    keep_trailing_newline=True,
)

# the columns of the children table and the charts (codes of reports/indicators.py)
CHILD_CODES = ("M01", "H01", "D01", "H02", "D02", "L02", "A01", "R01", "F01")
TREND_CODES = ("H01", "D01", "H02", "D02", "L02", "A01")
TARGET_CODES = ("H01", "D01")  # drawn with the 2030 target (qc_target_managed_pct)

LABELS = {
    "zh": dict(
        title="三高共管质控月报",
        month="月份",
        guideline="指南集",
        version="版本",
        as_of="截至日期",
        window="统计窗口",
        input_hash="输入数据哈希",
        patients="患者档案数",
        generated="生成时间",
        sangao_version="sangao 版本",
        scope="范围",
        whole="全部",
        indicators="指标",
        code="代码",
        name="指标名称",
        num="分子",
        den="分母",
        value="值",
        target="目标",
        explanation="计算",
        children="下级单位",
        rank="排名",
        score="得分",
        grade="等级",
        trends="近12个月趋势",
        care="患者管理状态（每月）",
        cohort="季度队列（Q季度新登记，Q+1季度末状态）",
        quarter="登记季度",
        quality="数据质量",
        external="对外版：少于5人的单元格显示为“<5”",
        internal="内部版：含小单元格，勿外传",
        institution="机构",
        team="团队",
        none="无",
        ytd="年初至今（1月1日至月末）",
        rolling12="滚动12个月（含本月）",
        target_line="2030年目标",
        masked="本报告不含姓名与身份证号",
    ),
    "en": dict(
        title="Monthly quality-control report",
        month="Month",
        guideline="Guideline set",
        version="Version",
        as_of="As of",
        window="Window",
        input_hash="Input data hash",
        patients="Patient records",
        generated="Generated",
        sangao_version="sangao version",
        scope="Scope",
        whole="All",
        indicators="Indicators",
        code="Code",
        name="Indicator",
        num="Numerator",
        den="Denominator",
        value="Value",
        target="Target",
        explanation="Calculation",
        children="Units below",
        rank="Rank",
        score="Score",
        grade="Grade",
        trends="12-month trends",
        care="Care state of patients (monthly)",
        cohort="Quarterly cohorts (enrolled in Q, state at the end of Q+1)",
        quarter="Enrolled",
        quality="Data quality",
        external='External: cells under 5 shown as "<5"',
        internal="Internal: small cells included, do not send out",
        institution="Institution",
        team="Team",
        none="none",
        ytd="year to date (1 January to the month end)",
        rolling12="rolling 12 months (this month included)",
        target_line="2030 target",
        masked="No names or resident IDs in this report",
    ),
}

CARE_COLORS = {
    "died": "#6b6b6b",
    "moved_out": "#a0a0a0",
    "new": "#8fb7e0",
    "lost": "#d9534f",
    "no_reading": "#f0ad4e",
    "controlled": "#3c9a5f",
    "uncontrolled": "#e07b39",
}


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sangao")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class ReportHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    month: str = Field(description="the report month, YYYY-MM")
    scope: str = Field(description="the whole roster, or the institution (or institution / team) reported on")
    guideline_set: str = Field(description="guideline set name")
    guideline_version: str = Field(description="guideline set version")
    as_of: str = Field(description="the last day of the month: every value is as of this date")
    window: str = Field(description="the window convention, in words")
    input_hash: str = Field(description="sha256 of every patient record read (canonical JSON)")
    patients: int = Field(description="patient records read")
    generated_at: str = Field(description="run time (the only value that differs between runs)")
    sangao_version: str = Field(default_factory=lambda: _installed_version(),
                                description="the sangao version that made the report (provenance)")
    external: bool = Field(description="small cells suppressed for use outside the team")


class IndicatorRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Field(description="stable indicator code")
    name: str = Field(description="indicator name in the report language")
    num: str = Field(description='numerator, formatted ("<5" when suppressed)')
    den: str = Field(description="denominator, formatted; empty for a count")
    value: str = Field(description="per cent with one decimal, or the count")
    target: str = Field(description="the configured target, if any")
    explanation: str = Field(description="code name = numerator/denominator = n/d = value")
    group: str = Field(description="core, screening, color, care or quality")


class ChildRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rank: int = Field(description="1 = best score (or 规范管理率 without targets)")
    name: str = Field(description="institution, or institution / team")
    cells: tuple[str, ...] = Field(description="values of CHILD_CODES, formatted")
    score: str = Field(description="score against the configured targets, 0–100")
    grade: str = Field(description="grade of the score")


class CohortRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    quarter: str = Field(description="enrolment quarter, e.g. 2026Q2")
    total: str = Field(description="patients enrolled in that quarter")
    cells: tuple[str, ...] = Field(description="patients per care state at the end of the next quarter")


class Chart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str = Field(description="what the chart shows")
    svg: str = Field(description="inline SVG markup (built here, no external resources)")


class MonthlyContext(BaseModel):
    """Context of monthly.html.j2: one scope, one month."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    lang: str = Field(description="zh or en")
    labels: dict[str, str] = Field(description="the page's fixed words in the report language")
    header: ReportHeader = Field(description="guideline set/version, as_of, window, input hash")
    rows: tuple[IndicatorRow, ...] = Field(description="one row per indicator, indicators() order")
    child_label: str = Field(description="what the children are: institutions or teams")
    child_columns: tuple[str, ...] = Field(description="indicator names of the children table")
    children: tuple[ChildRow, ...] = Field(description="the immediate children, ranked")
    charts: tuple[Chart, ...] = Field(description="12-month trend charts")
    care_states: tuple[str, ...] = Field(description="care state names, CareState order")
    care_colors: tuple[str, ...] = Field(description="legend colours of the care states")
    cohorts: tuple[CohortRow, ...] = Field(description="quarterly cohorts, oldest first")


# ---- building the context -------------------------------------------------------------------


def _fmt_count(n: int, external: bool, limit: int) -> str:
    return f"<{limit}" if external and small(n, limit) else f"{n:,}"


def _fmt_value(ind: Indicator, num: int, den: int, external: bool, limit: int) -> str:
    if ind.denominator is None:
        return _fmt_count(num, external, limit)
    if external and (small(num, limit) or small(den, limit)):
        return "—"
    value = rate(num, den)
    return "—" if value is None else f"{value:.1f}%"


def _target(ind: Indicator, policy: QcPolicy) -> float | None:
    if ind.code in TARGET_CODES:
        return policy.target_managed_pct
    return dict(policy.score_targets).get(ind.code)


def score_of(tally: Tally, month: str, scope: tuple[str, str], policy: QcPolicy) -> tuple[float, str]:
    """Score 0–100 against the configured targets (full marks at or above target, proportional
    below; each target weighs the same; an indicator without patients is left out) and its grade."""
    parts = []
    for code, target in policy.score_targets:
        value = rate(*tally.get(month, scope, code))
        if value is not None and target > 0:
            parts.append(min(1.0, value / target))
    score = round(100 * sum(parts) / len(parts), 1) if parts else 0.0
    grade = next((g for g, low in policy.grades if score >= low), policy.grades[-1][0])
    return score, grade


def build_context(
    tally: Tally,
    cohorts: dict,
    month: str,
    months: Sequence[str],
    policy: QcPolicy,
    gset_name: str,
    gset_version: str,
    input_hash: str,
    patients: int,
    generated_at: str,
    window: Window,
    by: str = "institution",
    institution: str | None = None,
    team: str | None = None,
    external: bool = False,
    lang: str = "zh",
) -> MonthlyContext:
    labels = LABELS[lang]
    limit = policy.small_cell
    scope = (institution, "") if institution else ALL
    if team is not None:  # a team's own page: no children; its institution from the counts
        scope = next(
            (s for s in tally.scopes(month) if s[1] == team and (institution in (None, s[0]))),
            (institution or "", team),
        )
    codes = {i.code: i for i in tally.inds}
    rows = []
    for ind in tally.inds:
        num, den = tally.get(month, scope, ind.code)
        target = _target(ind, policy)
        shown_num = _fmt_count(num, external, limit)
        expl = explain(ind, num, den, lang)
        if external and (small(num, limit) or small(den, limit)):
            expl = f"{ind.code} {ind.name(lang)} = <{limit}"
        rows.append(
            IndicatorRow(
                code=ind.code,
                name=ind.name(lang),
                num=shown_num,
                den="" if ind.denominator is None else _fmt_count(den, external, limit),
                value=_fmt_value(ind, num, den, external, limit),
                target="" if target is None else f"≥{target:g}%",
                explanation=expl,
                group=ind.group,
            )
        )

    scopes = tally.scopes(month)
    if team is not None:
        kids = []
    elif institution:
        kids = [s for s in scopes if s[0] == institution and s[1]]
    elif by == "team":
        kids = [s for s in scopes if s[1]]
    else:
        kids = [s for s in scopes if s[0] and not s[1]]
    ranked = []
    for kid in kids:
        score, grade = score_of(tally, month, kid, policy)
        name = kid[1] if institution else (f"{kid[0]} / {kid[1]}" if kid[1] else kid[0])
        cells = tuple(_fmt_value(codes[c], *tally.get(month, kid, c), external, limit) for c in CHILD_CODES)
        ranked.append((-score, name, cells, score, grade))
    ranked.sort()
    children = tuple(
        ChildRow(rank=i, name=name or labels["none"], cells=cells, score=f"{score:.1f}", grade=grade)
        for i, (_neg, name, cells, score, grade) in enumerate(ranked, start=1)
    )

    charts = [
        Chart(
            title=codes[c].name(lang),
            svg=line_chart(
                [rate(*tally.get(m, scope, c)) for m in months],
                months,
                policy.target_managed_pct if c in TARGET_CODES else None,
                labels["target_line"],
            ),
        )
        for c in TREND_CODES
    ]
    care_codes = [i.code for i in tally.inds if i.group == "care"]
    charts.append(
        Chart(
            title=labels["care"],
            svg=stacked_bars(
                [[tally.get(m, scope, c)[0] for c in care_codes] for m in months],
                months,
                [CARE_COLORS[s.value] for s in CARE_STATES],
            ),
        )
    )

    cohort_rows = []
    for (quarter, cscope), states in sorted(cohorts.items()):
        if cscope != scope:
            continue
        total = sum(states.values())
        cohort_rows.append(
            CohortRow(
                quarter=quarter,
                total=_fmt_count(total, external, limit),
                cells=tuple(_fmt_count(states.get(s.value, 0), external, limit) for s in CARE_STATES),
            )
        )

    header = ReportHeader(
        month=month,
        scope=" / ".join(p for p in scope if p) or labels["whole"],
        guideline_set=gset_name,
        guideline_version=gset_version,
        as_of=month_end_iso(month),
        window=labels[str(window)],
        input_hash=input_hash,
        patients=patients,
        generated_at=generated_at,
        external=external,
    )
    return MonthlyContext(
        lang=lang,
        labels=labels,
        header=header,
        rows=tuple(rows),
        child_label=labels["team"] if (institution or by == "team") else labels["institution"],
        child_columns=tuple(codes[c].name(lang) for c in CHILD_CODES),
        children=children,
        charts=tuple(charts),
        care_states=tuple(codes[c].name(lang) for c in care_codes),
        care_colors=tuple(CARE_COLORS[s.value] for s in CARE_STATES),
        cohorts=tuple(cohort_rows),
    )


def month_end_iso(month: str) -> str:
    from pathways.monthly import month_end

    return month_end(month).isoformat()


# ---- charts (inline SVG) --------------------------------------------------------------------

_W, _H, _L, _R, _T, _B = 360, 170, 34, 10, 12, 26


def _x(i: int, n: int) -> float:
    return _L + (i * (_W - _L - _R) / max(n - 1, 1))


def _y(pct: float) -> float:
    return _T + (100 - pct) * (_H - _T - _B) / 100


def _axes(months: Sequence[str]) -> list[str]:
    parts = [f'<line x1="{_L}" y1="{_y(0):.1f}" x2="{_W - _R}" y2="{_y(0):.1f}" stroke="#999"/>']
    for pct in (0, 50, 100):
        parts.append(
            f'<text x="{_L - 4}" y="{_y(pct) + 4:.1f}" font-size="10" text-anchor="end">{pct}%</text>'
        )
        parts.append(f'<line x1="{_L}" y1="{_y(pct):.1f}" x2="{_W - _R}" y2="{_y(pct):.1f}" stroke="#eee"/>')
    for i, m in enumerate(months):
        parts.append(
            f'<text x="{_x(i, len(months)):.1f}" y="{_H - 8}" font-size="9" '
            f'text-anchor="middle">{html.escape(m[5:7])}</text>'
        )
    return parts


def line_chart(
    values: Sequence[float | None], months: Sequence[str], target: float | None, target_label: str
) -> str:
    """A 12-month line of per-cent values (gaps where there were no patients), with the target
    as a dashed red line."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" '
        f'role="img">',
        *_axes(months),
    ]
    if target is not None:
        parts.append(
            f'<line class="target" x1="{_L}" y1="{_y(target):.1f}" x2="{_W - _R}" y2="{_y(target):.1f}" '
            f'stroke="#d62728" stroke-dasharray="5,3" stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{_W - _R}" y="{_y(target) - 3:.1f}" font-size="9" fill="#d62728" '
            f'text-anchor="end">{html.escape(target_label)} {target:g}%</text>'
        )
    segment: list[str] = []
    segments = []
    for i, v in enumerate(values):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{_x(i, len(values)):.1f},{_y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline class="series" points="{" ".join(seg)}" fill="none" stroke="#1f5fa8" '
            f'stroke-width="2.5"/>'
        )
    for i, v in enumerate(values):
        if v is not None:
            parts.append(
                f'<circle cx="{_x(i, len(values)):.1f}" cy="{_y(v):.1f}" r="3" fill="#1f5fa8">'
                f"<title>{html.escape(months[i])}: {v:.1f}%</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(counts: Sequence[Sequence[int]], months: Sequence[str], colors: Sequence[str]) -> str:
    """One bar per month, its care states stacked as shares of 100 %."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" '
        f'role="img">',
        *_axes(months),
    ]
    n = len(months)
    width = (_W - _L - _R) / max(n, 1) * 0.6
    for i, row in enumerate(counts):
        total = sum(row)
        if not total:
            continue
        bottom = 0.0
        for count, color in zip(row, colors, strict=True):
            if not count:
                continue
            share = 100 * count / total
            top = bottom + share
            parts.append(
                f'<rect x="{_x(i, n) - width / 2:.1f}" y="{_y(top):.1f}" width="{width:.1f}" '
                f'height="{_y(bottom) - _y(top):.1f}" fill="{color}"/>'
            )
            bottom = top
    parts.append("</svg>")
    return "".join(parts)


# ---- outputs ----------------------------------------------------------------------------------


def render_html(ctx: MonthlyContext) -> str:
    return _env.get_template("monthly.html.j2").render(**dict(ctx))


CSV_HEADERS = {
    "zh": ("指标代码", "指标名称", "机构", "团队", "月份", "分子", "分母", "值(%)", "窗口", "指南集", "版本"),
    "en": (
        "code",
        "indicator",
        "institution",
        "team",
        "month",
        "numerator",
        "denominator",
        "value_pct",
        "window",
        "guideline_set",
        "guideline_version",
    ),
}


def write_csv(
    tally: Tally,
    months: Sequence[str],
    out: TextIO,
    window: Window,
    gset_name: str,
    gset_version: str,
    small_cell: int,
    external: bool = False,
    lang: str = "zh",
) -> int:
    """Every indicator value of every month and scope (whole roster: institution and team empty;
    an institution: team empty), sorted by month, institution, team, indicator order."""
    writer = SafeWriter(out, lineterminator="\n")
    writer.writerow(CSV_HEADERS[lang])
    # what is the same on every row of an indicator, worked out once (a county has thousands of scopes)
    inds = [(i, ind.code, ind.name(lang), ind.denominator is None) for i, ind in enumerate(tally.inds)]
    shown = str(window)

    def cell(n: int) -> int | str:
        return f"<{small_cell}" if external and small(n, small_cell) else n

    count = 0
    for month in months:
        for scope in tally.scopes(month):
            vec = tally.vector(month, scope)
            rows = []
            for i, code, name, is_count in inds:
                num, den = int(vec[2 * i]), int(vec[2 * i + 1])
                if not (num or den) and not is_count:
                    continue  # no patient in the denominator: no value
                hide = external and (small(num, small_cell) or small(den, small_cell))
                value = None if is_count else rate(num, den)
                rows.append(
                    [
                        code,
                        name,
                        scope[0],
                        scope[1],
                        month,
                        cell(num),
                        "" if is_count else cell(den),
                        "" if value is None or hide else f"{value:.1f}",
                        shown,
                        gset_name,
                        gset_version,
                    ]
                )
            writer.writerows(rows)
            count += len(rows)
    return count


def print_summary(ctx: MonthlyContext, console, width: int = 80) -> None:
    """The terminal summary: header, the core indicators with their explanation, the ranked
    children (80 columns)."""
    from rich.table import Table

    lab, h = ctx.labels, ctx.header
    console.print(f"[bold]{lab['title']}[/] {h.month}  {h.scope}", highlight=False)
    console.print(f"{h.guideline_set} {h.guideline_version}  {lab['window']}: {h.window}", highlight=False)
    table = Table(show_edge=False, pad_edge=False, width=min(width, console.width))
    for col, justify in (
        (lab["code"], "left"),
        (lab["name"], "left"),
        (lab["num"], "right"),
        (lab["den"], "right"),
        (lab["value"], "right"),
        (lab["target"], "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for row in ctx.rows:
        if row.group in ("core", "screening"):
            table.add_row(row.code, row.name, row.num, row.den, row.value, row.target)
    console.print(table)
    if ctx.children:
        kids = Table(
            title=f"{ctx.child_label} ({lab['rank']})",
            title_justify="left",
            show_edge=False,
            pad_edge=False,
            width=min(width, console.width),
        )
        for col in (
            lab["rank"],
            ctx.child_label,
            ctx.child_columns[1],
            ctx.child_columns[3],
            lab["score"],
            lab["grade"],
        ):
            kids.add_column(col, no_wrap=True)
        for kid in ctx.children[:10]:
            kids.add_row(str(kid.rank), kid.name, kid.cells[1], kid.cells[3], kid.score, kid.grade)
        console.print(kids)
    quality = [r for r in ctx.rows if r.group == "quality"]
    console.print(f"{lab['quality']}: " + "  ".join(f"{r.code} {r.value}" for r in quality), highlight=False)
    console.print(
        f"{lab['input_hash']}: {h.input_hash[:16]}…  {lab['as_of']}: {h.as_of}  "
        f"{lab['external'] if h.external else lab['internal']}",
        highlight=False,
    )


def write_pdf(ctx: MonthlyContext, path) -> None:
    """The same page as the HTML, as an A4 PDF with Chinese glyphs embedded (reports/pdf.py)."""
    from reports.pdf import html_to_pdf

    path.write_bytes(html_to_pdf(render_html(ctx)))
