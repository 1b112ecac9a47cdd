"""`sangao demo`: the whole pipeline on a generated roster, through the functions each command
calls (generate, import, check, assess, explain, worklist, plan, monthly report), each step printed
as one numbered line; names, resident IDs and phones stay masked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from pathlib import Path

from rich.console import Console

from pathways.errors import SangaoError


def run_demo(out: Path, patients: int, seed: int, as_of: date, lang: str, console: Console,
             err_console: Console, generated_at: str, cache_dir: str | None = None,
             rows_progress: Callable[[], AbstractContextManager] = nullcontext) -> None:
    """Write the demo's files into `out` (its database replaced) and print each step; the clock
    reading `generated_at` stamps the monthly report."""
    import store
    from engine import AssessOptions, build_assessor
    from pathways.monthly import Window
    from reports import assessments as fmt_out
    from reports.explain import print_explanation
    from reports.monthly import last_complete_month
    from reports.qc_report import write_monthly_report
    from store.generated import write_jsonl_file
    from store.privacy import open_private
    from store.sources import db_url, provenance

    zh = lang == "zh"
    out.mkdir(parents=True, exist_ok=True)
    roster, db = out / "roster.jsonl", out / "sangao.db"
    url = db_url(str(db))
    db.unlink(missing_ok=True)

    def step(n: int, zh_text: str, en_text: str) -> None:
        console.print(f"[bold]{n}.[/] " + (zh_text if zh else en_text), highlight=False)

    write_jsonl_file(roster, patients, seed, as_of)
    step(1, f"花名册  生成 {patients} 名模拟患者（种子 {seed}）→ {roster}",
         f"roster  {patients} synthetic patients (seed {seed}) → {roster}")

    report = store.import_files([roster], url, as_of, reject_path=out / "rejects.csv")
    step(2, f"导入  读取 {report.rows_read} 行，导入 {report.imported}，拒绝 {report.rejected}，"
            f"数据质量发现 {len(report.findings)} → {db}",
         f"import  {report.rows_read} rows read, {report.imported} imported, {report.rejected} rejected, "
         f"{len(report.findings)} data-quality findings → {db}")

    # A year whose State Council holiday notice sangao lacks uses the provisional calendar, with a
    # warning in every affected output (docs/pathway-defaults.md §6).
    assessor = build_assessor(AssessOptions("national-default", as_of, "python", provisional_calendar=True,
                                            cache_dir=cache_dir))
    gset = assessor.gset
    step(3, f"指南  {gset.name} {gset.version}（{gset.policy_status}）：{len(gset.rules)} 条规则，"
            f"{len(gset.derive)} 个派生值，{len(gset.parameters)} 个参数",
         f"guidelines  {gset.name} {gset.version} ({gset.policy_status}): {len(gset.rules)} rules, "
         f"{len(gset.derive)} derived values, {len(gset.parameters)} parameters")

    results = list(store.save_assessments(url, assessor.assess_many(store.read_patients(url), as_of),
                                          provenance(gset, roster, str(db))))
    with open_private(out / "assessments.jsonl", "w", encoding="utf-8") as f:
        fmt_out.write_jsonl(results, f)
    with open_private(out / "assessments.csv", "w", encoding="utf-8-sig", newline="") as f:
        fmt_out.write_csv(results, f, lang)
    colors = Counter(a.color.value for a in results)
    referrals = Counter(a.referral.urgency.value for a in results if a.referral)
    overdue = sum(1 for a in results if any(s.overdue for s in a.screenings_due))
    skipped = report.imported - len(results)
    step(4, f"评估  截至 {as_of}：{fmt_out.summary(colors, lang)}；{skipped} 名死亡或迁出未评估；"
            f"转诊 紧急 {referrals['urgent']}、常规 {referrals['routine']}；有逾期筛查 {overdue} 名",
         f"assess  as of {as_of}: {fmt_out.summary(colors, lang)}; {skipped} skipped (died or moved out); "
         f"referrals {referrals['urgent']} urgent, {referrals['routine']} routine; "
         f"{overdue} with an overdue screening")
    for year in sorted({w.split()[4].rstrip(":") for a in results for w in a.warnings}):
        err_console.print(f"[yellow]提示：[/]{year}年使用临时工作日日历：只含法定节假日，不含调休上班日"
                          "（国务院通知尚未收入 sangao）" if zh else
                          f"[yellow]warning:[/] provisional working-day calendar for {year}: statutory "
                          "holidays only, no make-up working days", highlight=False)

    written = ["roster.jsonl", "sangao.db", "assessments.jsonl", "assessments.csv", "rejects.csv"]
    red = next((a for a in results if a.color.value == "red"), None)
    if red is not None:
        step(5, f"解释  一名红标患者（{red.patient_id}）：", f"explain  one red patient ({red.patient_id}):")
        patient = next(p for p in store.read_patients(url) if p.patient_id == red.patient_id)
        print_explanation(assessor.assess(patient, as_of), gset, console, lang=lang)

        from reports import plan as plan_out
        from reports import worklist as wl_out
        from reports.care_context import build_context

        ctx = build_context("national-default", as_of, lang=lang)
        first, last = wl_out.period(as_of, True, False, None, None)
        week = wl_out.build_worklist(store.read_patients(url), ctx, first, last, team=patient.team)
        console.print()
        step(6, f"工作清单  {patient.team} 本周（最紧急的 8 名）：",
             f"worklist  {patient.team}, this week (the 8 most urgent):")
        wl_out.print_worklist(week, console, lang=lang, limit=8)
        with open_private(out / "worklist.csv", "w", encoding="utf-8-sig", newline="") as f:
            wl_out.write_worklist_csv(week, f)

        care_plan = plan_out.build_plan(patient, ctx, as_of)
        with open_private(out / "plan.html", "w", encoding="utf-8") as f:
            f.write(plan_out.render_html([care_plan], lang))
        written += ["worklist.csv", "plan.html"]
        try:
            pdf = plan_out.render_pdf([care_plan], lang)
        except SangaoError as exc:  # no Pango on this machine: the HTML page prints from a browser
            err_console.print(exc.render(lang), markup=False, highlight=False)
        else:
            with open_private(out / "plan.pdf", "wb") as f:
                f.write(pdf)
            written.append("plan.pdf")
        step(7, f"照护计划  {red.patient_id} 的年度一体化照护计划：随访 {len(care_plan.follow_ups)} 次，"
                f"筛查 {len(care_plan.screenings)} 项 → {out}/plan.html",
             f"plan  the annual care plan of {red.patient_id}: {len(care_plan.follow_ups)} follow-ups, "
             f"{len(care_plan.screenings)} screenings → {out}/plan.html")

    month = last_complete_month(as_of)
    with rows_progress() as progress:
        report_files = write_monthly_report(url, "national-default", month, Window.YTD, True, out,
                                            generated_at, lang=lang, pdf=False, progress=progress)
    h02 = next(r for r in report_files.ctx.rows if r.code == "H02")
    html_path = report_files.written[0]
    step(8, f"质控月报 {month}: {h02.explanation} → {html_path}",
         f"monthly report {month}: {h02.explanation} → {html_path}")
    written += [p.name for p in report_files.written]

    console.print(("\n[bold]输出[/] 在 " if zh else "\n[bold]outputs[/] in ") + f"{out}/: "
                  + ", ".join(written), highlight=False)
    console.print(("下一步: " if zh else "next: ")
                  + f"sangao worklist --db {db} --week --as-of {as_of}   |   "
                  f"sangao plan PATIENT_ID --db {db} --as-of {as_of}   |   "
                  f"sangao report monthly --db {db} --as-of {as_of}", highlight=False)
