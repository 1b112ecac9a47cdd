"""The `sangao` command line: parse, call one library function, print, choose the exit code.

The only place that reads the clock, the environment or sys.argv (tests/test_architecture.py).
Exit codes: 0 done, 1 a problem the user can fix, 2 usage, 3 a bug in sangao (details in a log).
Each command group sits in its own section below.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from pathways.errors import SangaoError
from reports.help_text import chinese_help_layout, command_help, group_help, message, option_help
from reports.progress import counting, reading, spinning
from store.sources import check_db, db_url, has_db, one_patient, patients_from, patients_of, provenance


def _locale_lang() -> str:
    """The language when --lang is not given: Chinese, unless SANGAO_LANG or the locale (LANG) says
    English."""
    chosen = os.environ.get("SANGAO_LANG") or os.environ.get("LANG", "")
    return "en" if chosen.lower().startswith("en") else "zh"


# The language of --help is fixed when cli.py is imported: Typer builds the help before any --lang
# is parsed. Every help text is in reports/help_text.py, a Chinese and English pair.
HELP_LANG = _locale_lang()


def _help(command: str) -> str:
    """A command's help in the language of HELP_LANG."""
    return command_help(command, HELP_LANG)


def _opt(key: str) -> str:
    """An option's help ("command --option", or "--option" for a shared alias) in HELP_LANG."""
    return option_help(key, HELP_LANG)


# Only a help screen needs it (typer.rich_utils adds 0.1 s to every start): --help, or a command line
# that stops at the app or a group.
if HELP_LANG == "zh" and ("--help" in sys.argv or len(sys.argv) <= 2):
    chinese_help_layout()


app = typer.Typer(pretty_exceptions_show_locals=False, no_args_is_help=True, add_completion=False,
                  help=group_help("", HELP_LANG))
roster_app = typer.Typer(no_args_is_help=True, help=group_help("roster", HELP_LANG))
guidelines_app = typer.Typer(no_args_is_help=True, help=group_help("guidelines", HELP_LANG))
app.add_typer(roster_app, name="roster")
app.add_typer(guidelines_app, name="guidelines")
report_app = typer.Typer(no_args_is_help=True, help=group_help("report", HELP_LANG))
app.add_typer(report_app, name="report")

console = Console()
err_console = Console(stderr=True)

DEFAULT_DB = "sangao.db"


def _now() -> datetime:
    """The program's only clock read, in China Standard Time (a UTC server would run a day early)."""
    return datetime.now(ZoneInfo("Asia/Shanghai"))


def _today() -> date:
    return _now().date()


def iso_date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _usage("not a date", _message_lang(), value=value) from None


AsOf = Annotated[date | None, typer.Option("--as-of", parser=iso_date, metavar="YYYY-MM-DD",
                                           help=_opt("--as-of"))]
Db = Annotated[str, typer.Option("--db", envvar="SANGAO_DB", help=_opt("--db"))]


def open_private(path: Path, *args, **kwargs):
    """A file holding patient data, created owner-only (store/privacy.py)."""
    from store.privacy import open_private as _open_private

    return _open_private(path, *args, **kwargs)


# ==== roster ====================================================================================
# (roster import / inspect / export / generate)


LangOpt = Annotated[str | None, typer.Option("--lang", help=_opt("--lang"))]


def _lang(lang: str | None) -> str:
    """The language of the output: --lang if given, else _locale_lang()."""
    if lang is None:
        return _locale_lang()
    if lang not in ("zh", "en"):
        raise _usage("lang", _message_lang(), "--lang")
    return lang


def _usage(key: str, lang: str, hint: str | None = None, **fields: object) -> typer.BadParameter:
    """A usage error (exit 2) worded in reports/help_text.py MESSAGES."""
    return typer.BadParameter(message(key, lang, **fields), param_hint=hint)


def _print_err(text: str) -> None:
    err_console.print(text, markup=False, highlight=False)


@roster_app.command("import", help=_help("roster import"))
def roster_import(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", exists=True, show_default=False,
                                                help=_opt("roster import FILES"))],
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", exists=True, dir_okay=False,
                                                 help=_opt("roster import --mapping"))] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", dir_okay=False,
                                                 help=_opt("roster import --rejects"))] = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help=_opt("roster import --unmasked"))] = False,
    lang: LangOpt = None,
) -> None:
    from reports.import_view import print_import_report
    from store.importer import import_files

    lang = _lang(lang)
    if unmasked and rejects is None:
        raise _usage("unmasked needs rejects", lang, "--unmasked")
    with reading(err_console, lang) as progress:
        report = import_files(
            files, db_url(db), as_of or _today(), mapping=mapping, reject_path=rejects, progress=progress,
            unmasked=unmasked,
        )
    if unmasked:
        _audit_unmasking(db, "roster import --rejects --unmasked", report.rejected, rejects)
    print_import_report(report, rejects, console, lang)
    if not report.ok:
        raise typer.Exit(1)


def _audit_unmasking(db: str, command: str, patients: int, written: Path | None = None) -> None:
    """Record an unmasked output in the audit log: the OS user and the time, read here. If the
    entry cannot be written, the unmasked file is removed (nothing unmasked goes unrecorded)."""
    from store.audit import record_unmasking

    try:
        record_unmasking(db_url(db), who=_who(), at=_now(), command=command, patients=patients)
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"




@roster_app.command("inspect", help=_help("roster inspect"))
def roster_inspect(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", exists=True, show_default=False,
                                                help=_opt("roster inspect FILES"))],
    out: Annotated[Path | None, typer.Option("--out", "-o", dir_okay=False,
                                             help=_opt("roster inspect --out"))] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", exists=True, dir_okay=False,
                                                 help=_opt("roster inspect --mapping"))] = None,
    sample: Annotated[int, typer.Option("--sample", min=1, help=_opt("roster inspect --sample"))] = 2000,
    lang: LangOpt = None,
) -> None:
    """Propose a mapping file for a site's export (help text above)."""
    from reports.import_view import WORDS, print_inspect_summary
    from store.inspect import inspect_files, proposal_yaml

    lang = _lang(lang)
    result = inspect_files(files, mapping, sample=sample)
    text = proposal_yaml(result, lang)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    print_inspect_summary(result, err_console, lang)
    if out is not None:
        err_console.print(WORDS[lang]["proposal"].format(path=out), markup=False, highlight=False)
    if not result.complete:
        raise typer.Exit(1)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"


@roster_app.command("export", help=_help("roster export"))
def roster_export(
    db: Db = DEFAULT_DB,
    fmt: Annotated[ExportFormat, typer.Option("--format",
                                              help=_opt("roster export --format"))] = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option("--out", help=_opt("roster export --out"))] = None,
    buckets: Annotated[int, typer.Option("--buckets", min=1, help=_opt("roster export --buckets"))] = 16,
    institution: Annotated[list[str] | None, typer.Option("--institution", metavar="NAME",
                                                          help=_opt("roster export --institution"))] = None,
    lang: LangOpt = None,
) -> None:
    """Write the stored patients as interchange JSONL or bucketed Parquet (help text above)."""
    if fmt is ExportFormat.parquet:
        lang = _lang(lang)
        if out is None or (out.exists() and not out.is_dir()):
            raise _usage("parquet needs folder", lang, "--out")
        url = check_db(db)
        from store.parquet import export_parquet

        manifest = export_parquet(url, out, buckets, institution or None)
        _print_err(message("wrote parquet", lang, count=manifest.patients, out=out, buckets=buckets))
        return
    from store.exporter import export_jsonl

    lang = _lang(lang)
    if institution:
        raise _usage("institution needs parquet", lang, "--institution")
    if out is not None and out.is_dir():
        raise _usage("out is a directory", lang, "--out", out=out, example=out / "roster.jsonl")
    url = check_db(db)
    if out is None:
        export_jsonl(url, sys.stdout)
        return
    with open_private(out, "w", encoding="utf-8", newline="\n") as f:
        count = export_jsonl(url, f)
    _print_err(message("wrote patients", lang, count=count, out=out))


GeneratedFormat = StrEnum("GeneratedFormat", ["jsonl", "csv"])


@roster_app.command("generate", help=_help("roster generate"))
def roster_generate(
    patients: Annotated[int, typer.Option("--patients", "-n", min=0,
                                          help=_opt("roster generate --patients"))] = 1000,
    seed: Annotated[int, typer.Option("--seed", help=_opt("roster generate --seed"))] = 1,
    as_of: AsOf = None,
    out: Annotated[Path | None, typer.Option("--out", help=_opt("roster generate --out"))] = None,
    fmt: Annotated[GeneratedFormat, typer.Option("--format", help=_opt("roster generate --format"))] = (
        GeneratedFormat.jsonl),
) -> None:
    """Write a synthetic roster (help text above)."""
    from store.generated import write_csv_set, write_jsonl, write_jsonl_file

    as_of = as_of or _today()
    lang = _lang(None)
    if fmt is GeneratedFormat.csv:
        folder = out or Path("roster-csv")
        if folder.exists() and not folder.is_dir():
            raise _usage("csv needs a folder", lang, "--out", out=folder)
        paths = write_csv_set(folder, patients, seed, as_of)
        _print_err(message("wrote csv set", lang, count=patients, out=folder,
                           files=", ".join(p.name for p in paths)))
        return
    if out is None:
        write_jsonl(sys.stdout.buffer, patients, seed, as_of)
        return
    if out.is_dir():
        raise _usage("out is a directory", lang, "--out", out=out, example=out / "roster.jsonl")
    write_jsonl_file(out, patients, seed, as_of)
    _print_err(message("wrote patients", lang, count=patients, out=out))


# ==== assess / explain ==========================================================================


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"  # --executor dask only: a folder of Parquet files


class Executor(StrEnum):
    local = "local"
    dask = "dask"


class Backend(StrEnum):
    python = "python"
    durable = "durable"
    both = "both"


GuidelinesOpt = Annotated[str, typer.Option("--guidelines", "-g", help=_opt("--guidelines"))]
RosterOpt = Annotated[Path | None, typer.Option("--roster", help=_opt("--roster"))]
ProvisionalOpt = Annotated[bool, typer.Option("--provisional-calendar", hidden=True,
                                              help=_opt("--provisional-calendar"))]
StrictCalendarOpt = Annotated[bool, typer.Option("--strict-calendar", help=_opt("--strict-calendar"))]
CalendarDirOpt = Annotated[list[Path] | None, typer.Option("--calendar-dir", exists=True, file_okay=False,
                                                           help=_opt("--calendar-dir"))]


def _context(guidelines: str, as_of: date, strict: bool, calendar_dirs: list[Path] | None, lang: str):
    from reports.care_context import build_context

    dirs = calendar_dirs or ()
    return build_context(guidelines, as_of, strict_calendar=strict, calendar_dirs=dirs, lang=lang)


def _patient_progress(label: str, total: int | None):
    """A progress bar with ETA on stderr while a long job runs (a terminal only)."""
    return counting(err_console, label, total)


def _patient_total(roster: Path | None, db: str, team: str | None = None) -> int | None:
    """How many patients (of `team`, when given) a progress bar counts to (a database only; a
    roster file is not read twice), or None when no bar is shown."""
    if roster is not None or not err_console.is_terminal or not has_db(db):  # no database: D041 follows
        return None
    from store.counts import count_patients

    return count_patients(db_url(db), team)


ColorChoice = StrEnum("ColorChoice", ["red", "yellow", "blue"])


def _cache_dir() -> str:
    """Where `assess` keeps loaded guideline sets between runs (engine/set_cache.py): the XDG cache
    folder, else a .sangao-cache folder in the working directory (beside the default database)."""
    home = os.path.expanduser("~")
    base = os.environ.get("XDG_CACHE_HOME") or (os.path.join(home, ".cache") if home != "~" else "")
    return str(Path(base) / "sangao") if base else ".sangao-cache"


def _assess_dask(roster, db, out, fmt, save, executor, scheduler, workers, options, counts, guidelines,
                 filtered, lang) -> None:
    """`assess --executor dask` (reports/assess_dask.py): the options checked, then one run."""
    from reports.assess_dask import assess_on_dask, usage_problem

    problem = usage_problem(executor is Executor.dask, roster, filtered, fmt.value, save, out, lang)
    if problem is not None:
        raise typer.BadParameter(problem[0], param_hint=problem[1])
    assess_on_dask(roster, db, out, fmt.value, save, scheduler, workers, options, counts, guidelines, lang,
                   sys.stdout.buffer, _patient_progress)


@app.command(help=_help("assess"))
def assess(
    roster: RosterOpt = None,
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    fmt: Annotated[Format, typer.Option("--format", help=_opt("assess --format"))] = Format.table,
    out: Annotated[Path | None, typer.Option("--out", help=_opt("assess --out"))] = None,
    guidelines: GuidelinesOpt = "national-default",
    engine: Annotated[Backend, typer.Option("--engine", help=_opt("assess --engine"))] = Backend.python,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=_opt("assess --workers"))] = None,
    provisional_calendar: ProvisionalOpt = False,
    strict_calendar: StrictCalendarOpt = False,
    save: Annotated[bool, typer.Option("--save", help=_opt("assess --save"))] = False,
    limit: Annotated[int, typer.Option("--limit", help=_opt("assess --limit"))] = 50,
    color: Annotated[list[ColorChoice] | None, typer.Option("--color", help=_opt("assess --color"))] = None,
    referral: Annotated[bool, typer.Option("--referral", help=_opt("assess --referral"))] = False,
    team: Annotated[str | None, typer.Option("--team", help=_opt("assess --team"))] = None,
    due_within: Annotated[int | None, typer.Option("--due-within", min=0, metavar="DAYS",
                                                   help=_opt("assess --due-within"))] = None,
    executor: Annotated[Executor, typer.Option("--executor",
                                               help=_opt("assess --executor"))] = Executor.local,
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="ADDRESS",
                                                  help=_opt("assess --scheduler"))] = None,
    lang: LangOpt = None,
) -> None:
    """Stratify every patient (help text above)."""
    import gc

    # what is loaded so far (modules, the CLI) lives to the end: the collector need not walk it again
    # each time loading the set allocates (a third of a small run's set-up otherwise)
    gc.freeze()
    from engine.parallel import AssessCounts, AssessOptions
    from reports.assess_run import Filters, assess_jsonl_fast, assess_records, closing_lines

    lang = _lang(lang)
    as_of = as_of or _today()
    # provisional by default (pathway-defaults §6); --provisional-calendar is kept for old scripts
    options = AssessOptions(guidelines, as_of, engine.value, provisional_calendar or not strict_calendar,
                            cache_dir=_cache_dir())
    counts = AssessCounts()
    filters = Filters(frozenset(c.value for c in color or ()), referral, team,
                      as_of + timedelta(days=due_within) if due_within is not None else None)
    if executor is Executor.dask or scheduler is not None or fmt is Format.parquet:
        _assess_dask(roster, db, out, fmt, save, executor, scheduler, workers, options, counts, guidelines,
                     bool(filters), lang)
    elif not (fmt is Format.jsonl and not save and not filters  # the hot path, unless not UTF-8 JSONL
              and assess_jsonl_fast(roster, db, options, out, sys.stdout, counts, workers=workers)):
        def stored(results):
            import store

            return store.save_assessments(db_url(db), results, provenance(guidelines, roster, db))

        with _patient_progress("assess", _patient_total(roster, db)) as tick:
            assess_records(lambda: patients_from(roster, db), options, fmt.value, out, console, sys.stdout,
                           filters, counts, workers=workers, limit=limit, lang=lang,
                           save=stored if save else None, tick=tick)
    for line in closing_lines(counts, fmt.value, out, as_of, lang):
        err_console.print(line, highlight=False)


@app.command(help=_help("explain"))
def explain(
    patient_id: Annotated[str, typer.Argument(metavar="PATIENT", help=_opt("explain PATIENT_ID"))],
    roster: RosterOpt = None,
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    guidelines: GuidelinesOpt = "national-default",
    lang: LangOpt = None,
    provisional_calendar: ProvisionalOpt = False,
    strict_calendar: StrictCalendarOpt = False,
) -> None:
    """Explain one patient's colour (help text above)."""
    from engine import AssessOptions, build_assessor
    from reports.explain import print_explanation

    lang = _lang(lang)
    as_of = as_of or _today()
    patient = one_patient(patient_id, patients_from(roster, db))
    options = AssessOptions(guidelines, as_of, "python", provisional_calendar or not strict_calendar)
    assessor = build_assessor(options)
    if not assessor.is_assessed(patient, as_of):
        raise SangaoError.of("D901", patient=patient.patient_id, as_of=as_of.isoformat())
    print_explanation(assessor.assess(patient, as_of), assessor.gset, console, lang=lang)


# ==== worklist / plan ===========================================================================


ListFormat = StrEnum("ListFormat", ["table", "csv"])


@app.command(help=_help("worklist"))
def worklist(
    team: Annotated[str | None, typer.Option("--team", help=_opt("worklist --team"))] = None,
    week: Annotated[bool, typer.Option("--week", help=_opt("worklist --week"))] = False,
    month: Annotated[bool, typer.Option("--month", help=_opt("worklist --month"))] = False,
    start: Annotated[date | None, typer.Option("--from", parser=iso_date, metavar="YYYY-MM-DD",
                                               help=_opt("worklist --from"))] = None,
    end: Annotated[date | None, typer.Option("--to", parser=iso_date, metavar="YYYY-MM-DD",
                                             help=_opt("worklist --to"))] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help=_opt("worklist --format"))] = ListFormat.table,
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False, help=_opt("worklist --out"))] = None,
    call_list: Annotated[bool, typer.Option("--call-list", help=_opt("worklist --call-list"))] = False,
    unmasked: Annotated[bool, typer.Option("--unmasked", help=_opt("worklist --unmasked"))] = False,
    roster: RosterOpt = None,
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    guidelines: GuidelinesOpt = "national-default",
    strict_calendar: StrictCalendarOpt = False,
    calendar_dir: CalendarDirOpt = None,
    lang: LangOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help=_opt("worklist --limit"))] = None,
) -> None:
    """A team's worklist for a period (help text above)."""
    from reports import worklist as wl_out

    lang = _lang(lang)
    if sum(bool(x) for x in (week, month, start)) > 1:
        raise _usage("one period", lang, "--week/--month/--from")
    if unmasked and not call_list:
        raise _usage("unmasked needs call list", lang, "--unmasked")
    as_of = as_of or _today()
    first, last = wl_out.period(as_of, week, month, start, end)
    if last < first:
        raise _usage("to before from", lang, "--to", last=last, first=first)
    ctx = _context(guidelines, as_of, strict_calendar, calendar_dir, lang)
    patients = patients_from(roster, db, team)  # a team's patients only, chosen by the database
    total = _patient_total(roster, db, team)
    with _patient_progress("worklist", total) as tick:
        result = wl_out.build_worklist(patients, ctx, first, last, team=team, progress=tick)
    if unmasked:
        _audit_unmasking(db, "worklist --call-list --unmasked", len(result.rows))
    as_csv = fmt is ListFormat.csv or (out is not None and out.suffix.lower() == ".csv")
    wl_out.write_output(result, out, as_csv, console, sys.stdout, lang, call_list, unmasked, limit)
    if as_csv:
        for warning in result.warnings:
            err_console.print(f"[yellow]⚠ {warning}[/]", highlight=False)
    if as_csv or out is not None:
        err_console.print(wl_out.summary_line(result, lang) + (f" → {out}" if out else ""), highlight=False)


PlanFormat = StrEnum("PlanFormat", ["html", "pdf", "csv", "ics"])


@app.command(help=_help("plan"))
def plan(
    patient: Annotated[str | None, typer.Argument(show_default=False, help=_opt("plan PATIENT"))] = None,
    team: Annotated[str | None, typer.Option("--team", help=_opt("plan --team"))] = None,
    everyone: Annotated[bool, typer.Option("--all", help=_opt("plan --all"))] = False,
    start: Annotated[date | None, typer.Option("--from", parser=iso_date, metavar="YYYY-MM-DD",
                                               help=_opt("plan --from"))] = None,
    out: Annotated[Path, typer.Option("--out", file_okay=False, help=_opt("plan --out"))] = Path("plans"),
    formats: Annotated[list[PlanFormat] | None, typer.Option("--format", help=_opt("plan --format"))] = None,
    capacity: Annotated[Path | None, typer.Option("--capacity", exists=True, dir_okay=False,
                                                  help=_opt("plan --capacity"))] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help=_opt("plan --save/--no-save"))] = True,
    reprint: Annotated[bool, typer.Option("--reprint", help=_opt("plan --reprint"))] = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=_opt("plan --workers"))] = None,
    roster: RosterOpt = None,
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    guidelines: GuidelinesOpt = "national-default",
    strict_calendar: StrictCalendarOpt = False,
    calendar_dir: CalendarDirOpt = None,
    lang: LangOpt = None,
) -> None:
    """Annual care plans (help text above)."""
    from reports import plan_run
    from reports.plan import print_summary

    lang = _lang(lang)
    if sum(bool(x) for x in (patient, team, everyone)) != 1:
        raise _usage("one plan target", lang, "PATIENT/--team/--all")
    as_of = as_of or _today()
    start = start or as_of
    url, stored = db_url(db), has_db(db)
    if reprint:
        check_db(db)
        ids = None if patient is None else [one_patient(patient, patients_from(roster, db)).patient_id]
        source, workers = plan_run.stored_plans(url, ids, start, team), 1
    else:
        ctx = _context(guidelines, as_of, strict_calendar, calendar_dir, lang)
        if patient is None and capacity is None:  # several processes (capacity needs every plan)
            workers, chosen = plan_run.plan_slices(roster, db, team, workers)
        else:
            workers, patients = 1, patients_from(roster, db, team)  # --team: that team's patients only
            chosen = [one_patient(patient, patients)] if patient is not None else patients
        source = plan_run.new_plans(chosen, ctx, start, url if stored else None)
        if capacity is not None:
            source = plan_run.with_capacity(source, capacity, ctx, lambda problem: err_console.print(
                f"[yellow]⚠ {problem.render(lang)}[/]", highlight=False))
    total = 1 if patient is not None else (None if reprint else _patient_total(roster, db, team))
    wanted = {f.value for f in formats or (PlanFormat.html, PlanFormat.csv, PlanFormat.ics)}
    with _patient_progress("plan", total) as tick:
        save_to = url if save and stored and not reprint else None
        made_by = provenance(ctx.gset, roster, db) if save_to else None
        if workers > 1:
            dirs = tuple(map(str, calendar_dir or ()))
            job = plan_run.PlanJob(guidelines, as_of, strict_calendar, dirs, lang, start, frozenset(wanted),
                                   None if roster is not None else url, team, url if stored else None)
            made = plan_run.write_plans_parallel(chosen, job, workers, out, lang, save_to, tick, made_by)
        else:
            made = plan_run.write_plans(source, out, wanted, lang, save_to, tick, made_by)
    if made.count == 0:
        err_console.print("没有可制定计划的患者" if lang == "zh" else "no patient to plan for",
                          highlight=False)
        raise typer.Exit(1)
    for warning in made.warnings:
        err_console.print(f"[yellow]⚠ {warning}[/]", highlight=False)
    if len(made.first) == 1:
        print_summary(made.first[0], console)
    console.print(made.closing_line(out, lang), highlight=False)


# ==== guidelines ================================================================================


GuidelineSetArg = Annotated[str, typer.Argument(help=_opt("SET"))]
IncludeUnverified = Annotated[bool | None, typer.Option("--include-unverified/--exclude-unverified",
                                                        help=_opt("--include-unverified"))]


def _print_plain(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_problems(problems, lang: str) -> None:
    for problem in problems:
        _print_plain(problem.render(lang))


@guidelines_app.command("check", help=_help("guidelines check"))
def guidelines_check(
    path: GuidelineSetArg = "national-default", include_unverified: IncludeUnverified = None,
    lang: LangOpt = None,
) -> None:
    """Check a guideline set (help text above)."""
    from guidelines.loader import load_with_draft
    from reports.guideline_explain import check_line

    lang = _lang(lang)
    try:
        gset, draft = load_with_draft(path, include_unverified)
    except SangaoError as exc:
        _print_problems(exc.problems, lang)
        _print_plain(check_line(path, problems=len(exc.problems), lang=lang))
        raise typer.Exit(1) from None
    _print_plain(check_line(path, gset, draft, lang=lang))


@guidelines_app.command("schema", help=_help("guidelines schema"))
def guidelines_schema(
    path: GuidelineSetArg = "national-default",
    write: Annotated[Path | None, typer.Option("--write", help=_opt("guidelines schema --write"))] = None,
    lang: LangOpt = None,
) -> None:
    """Print or write the JSON Schemas (help text above)."""
    from guidelines.draft import derive_outputs
    from guidelines.jsonschema import schema_json, write_schemas
    from guidelines.loader import load_draft

    try:
        derived = [name for e in load_draft(path).derive for name in derive_outputs(e.value)]
    except SangaoError:
        derived = []
        note = (f"注意：{path} 无法载入；`fact:` 只列出基础事实" if _lang(lang) == "zh"
                else f"note: {path} does not load; `fact:` lists the base facts only")
        err_console.print(note, markup=False, highlight=False)
    if write is None:
        typer.echo(schema_json(derived))
        return
    for written in write_schemas(write, derived):
        _print_plain(str(written))


@guidelines_app.command("new", help=_help("guidelines new"))
def guidelines_new(
    name: Annotated[Path, typer.Argument(help=_opt("guidelines new NAME"))],
    extends: Annotated[str | None, typer.Option("--extends", help=_opt("guidelines new --extends"))] = None,
    lang: LangOpt = None,
) -> None:
    """Start a guideline set (help text above)."""
    from guidelines.scaffold import new_set
    from guidelines.yaml_source import display_path
    from reports.guideline_explain import created_line

    lang = _lang(lang)
    try:
        written = new_set(name, extends)
    except SangaoError as exc:
        _print_problems(exc.problems, lang)
        raise typer.Exit(1) from None
    for path in written:
        _print_plain(display_path(path))
    _print_plain(created_line(display_path(name), lang))


@guidelines_app.command("effective", help=_help("guidelines effective"))
def guidelines_effective(
    path: GuidelineSetArg = "national-default",
    include_unverified: IncludeUnverified = None,
    lang: LangOpt = None,
) -> None:
    """Print the effective set (help text above)."""
    from guidelines.loader import effective_lines

    for line in effective_lines(path, include_unverified, _lang(lang)):
        _print_plain(line)



# ==== guidelines: test / diff (engine-backed) =====================================================


@guidelines_app.command("test", help=_help("guidelines test"))
def guidelines_test(
    path: Annotated[str, typer.Argument(help=_opt("guidelines test PATH"))] = "national-default",
    engine: Annotated[Backend, typer.Option("--engine",
                                            help=_opt("guidelines test --engine"))] = Backend.python,
    provisional_calendar: ProvisionalOpt = False,
    coverage: Annotated[bool, typer.Option("--coverage/--no-coverage",
                                           help=_opt("guidelines test --coverage/--no-coverage"))] = True,
    draft_changes: Annotated[bool, typer.Option("--draft-changes",
                                                help=_opt("guidelines test --draft-changes"))] = False,
    lang: LangOpt = None,
) -> None:
    """Run a set's cases (help text above)."""
    from engine import AssessOptions, build_assessor
    from engine.cases_runner import confirmation_block, run_set_cases
    from reports.cases import print_cases_report

    lang = _lang(lang)
    try:
        assessor = build_assessor(AssessOptions(path, date(2026, 1, 1), engine.value, provisional_calendar))
        report = run_set_cases(assessor)
    except SangaoError as exc:
        _print_problems(exc.problems, lang)
        raise typer.Exit(1) from None
    if draft_changes:
        for line in confirmation_block(report):
            _print_plain(line)
        return
    if not print_cases_report(report, console, lang, coverage):
        raise typer.Exit(1)


@guidelines_app.command("explain", help=_help("guidelines explain"))
def guidelines_explain(
    rule_id: Annotated[str | None, typer.Argument(help=_opt("guidelines explain RULE_ID"))] = None,
    path: Annotated[str, typer.Option("--guidelines", "-g",
                                      help=_opt("guidelines explain --guidelines"))] = "national-default",
    lang: LangOpt = None,
) -> None:
    """Show a rule or the set (help text above)."""
    from guidelines.loader import load_set
    from reports.guideline_explain import print_overview, print_rule

    lang = _lang(lang)
    gset = load_set(path)
    if rule_id is None:
        print_overview(gset, console, lang=lang)
    else:
        print_rule(gset, rule_id, console, lang=lang)


DiffBy = StrEnum("DiffBy", ["team", "institution"])


@guidelines_app.command("diff", help=_help("guidelines diff"))
def guidelines_diff(
    old: Annotated[str, typer.Argument(help=_opt("guidelines diff OLD"))],
    new: Annotated[str, typer.Argument(help=_opt("guidelines diff NEW"))],
    roster: Annotated[str, typer.Option("--roster", help=_opt("guidelines diff --roster"))],
    as_of: AsOf = None,
    provisional_calendar: ProvisionalOpt = False,
    by: Annotated[DiffBy | None, typer.Option("--by", help=_opt("guidelines diff --by"))] = None,
    changes_csv: Annotated[Path | None, typer.Option("--changes-csv",
                                                     help=_opt("guidelines diff --changes-csv"))] = None,
    indicators: Annotated[bool, typer.Option("--indicators",
                                             help=_opt("guidelines diff --indicators"))] = False,
    lang: LangOpt = None,
) -> None:
    """Compare two versions of a set (help text above)."""
    from engine import AssessOptions, build_assessor
    from engine.diff import diff_sets
    from reports.diff import csv_note, print_diff, write_changes_csv

    lang = _lang(lang)
    as_of = as_of or _today()
    old_a = build_assessor(AssessOptions(old, as_of, "python", provisional_calendar))
    new_a = build_assessor(AssessOptions(new, as_of, "python", provisional_calendar))
    report = diff_sets(old_a, new_a, patients_of(roster), as_of, by=by.value if by else None)
    print_diff(report, console, lang)
    if changes_csv is not None:
        _print_plain(csv_note(write_changes_csv(report, changes_csv, lang), changes_csv, lang))
    if indicators:
        from reports.indicator_diff import indicator_diff, print_indicator_diff
        from reports.monthly import last_complete_month

        month = last_complete_month(as_of)
        changes = indicator_diff(patients_of(roster), old, new, month, provisional_calendar)
        print_indicator_diff(changes, month, console)


# ==== report ====================================================================================


WindowOpt = StrEnum("WindowOpt", ["ytd", "rolling12"])


ByOpt = StrEnum("ByOpt", ["institution", "team"])


InOpt = StrEnum("InOpt", [("numerator", "numerator"), ("denominator", "denominator"),
                          ("not_numerator", "not-numerator")])


MonthOpt = Annotated[str | None, typer.Option("--month", metavar="YYYY-MM", help=_opt("--month"))]


def _report_month(month: str | None, as_of: date | None) -> str:
    import re

    from reports.monthly import last_complete_month

    if month is None:
        return last_complete_month(as_of or _today())
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise _usage("not a month", _message_lang(), "--month", value=month)
    return month


def _rows_progress():
    """"N patients read" on stderr while the patient-month rows are built (a terminal only)."""
    return spinning(err_console, "患者月度状态", lambda n: f"患者月度状态：已读 {n:,} 名患者")


@report_app.command("monthly", help=_help("report monthly"))
def report_monthly(
    month: MonthOpt = None,
    as_of: AsOf = None,
    by: Annotated[ByOpt, typer.Option("--by", help=_opt("report monthly --by"))] = ByOpt.institution,
    institution: Annotated[str | None, typer.Option("--institution",
                                                    help=_opt("report monthly --institution"))] = None,
    team: Annotated[str | None, typer.Option("--team", help=_opt("report monthly --team"))] = None,
    db: Db = DEFAULT_DB,
    out: Annotated[Path, typer.Option("--out", help=_opt("report monthly --out"))] = Path("."),
    window: Annotated[WindowOpt, typer.Option("--window",
                                              help=_opt("report monthly --window"))] = WindowOpt.ytd,
    external: Annotated[bool, typer.Option("--external", help=_opt("report monthly --external"))] = False,
    lang: LangOpt = None,
    guidelines: GuidelinesOpt = "national-default",
    provisional_calendar: ProvisionalOpt = False,
    strict_calendar: StrictCalendarOpt = False,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help=_opt("report monthly --pdf/--no-pdf"))] = True,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help=_opt("report monthly --workers"))] = None,
) -> None:
    """The monthly quality-control report (help text above)."""
    from pathways.monthly import Window
    from reports.monthly_output import print_summary
    from reports.qc_report import write_monthly_report

    lang = _lang(lang)
    month = _report_month(month, as_of)
    url = check_db(db)
    with _rows_progress() as progress:
        files = write_monthly_report(url, guidelines, month, Window(window.value),
                                     provisional_calendar or not strict_calendar, out,
                                     _now().isoformat(timespec="seconds"), by=by.value,
                                     institution=institution, team=team, external=external, lang=lang,
                                     pdf=pdf, progress=progress, workers=workers)
    print_summary(files.ctx, console)
    _print_err(message("wrote files", lang, files="  ".join(str(p) for p in files.written)))


@report_app.command("patients", help=_help("report patients"))
def report_patients(
    indicator: Annotated[str, typer.Option("--indicator", help=_opt("report patients --indicator"))],
    month: MonthOpt = None,
    as_of: AsOf = None,
    team: Annotated[str | None, typer.Option("--team", help=_opt("report patients --team"))] = None,
    institution: Annotated[str | None, typer.Option("--institution",
                                                    help=_opt("report patients --institution"))] = None,
    which: Annotated[InOpt, typer.Option("--in", help=_opt("report patients --in"))] = InOpt.not_numerator,
    db: Db = DEFAULT_DB,
    window: Annotated[WindowOpt, typer.Option("--window",
                                              help=_opt("report patients --window"))] = WindowOpt.ytd,
    lang: LangOpt = None,
    guidelines: GuidelinesOpt = "national-default",
    provisional_calendar: ProvisionalOpt = False,
    strict_calendar: StrictCalendarOpt = False,
) -> None:
    """The patients behind an indicator value (help text above)."""
    from pathways.monthly import Window
    from reports.qc_report import indicator_codes, patients_behind, print_patients_behind

    lang = _lang(lang)
    month = _report_month(month, as_of)
    url = check_db(db)
    code = indicator.upper()
    known = indicator_codes()
    if code not in known:
        raise _usage("not an indicator", lang, "--indicator", value=indicator, codes=", ".join(sorted(known)))
    lines = patients_behind(url, guidelines, month, Window(window.value),
                            provisional_calendar or not strict_calendar, code, which.value, team=team,
                            institution=institution)
    print_patients_behind(lines, console, lang)
    _print_err(message("patients behind", lang, code=code, month=month, which=which.value, count=len(lines)))


# ==== demo ======================================================================================


@app.command(help=_help("demo"))
def demo(
    out: Annotated[Path, typer.Option("--out", help=_opt("demo --out"))] = Path("sangao-demo"),
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help=_opt("demo --patients"))] = 2000,
    seed: Annotated[int, typer.Option("--seed", help=_opt("demo --seed"))] = 1,
    as_of: AsOf = None,
    lang: LangOpt = None,
) -> None:
    """The whole pipeline on a generated roster (help text above)."""
    from reports.demo import run_demo

    run_demo(out, patients, seed, as_of or _today(), _lang(lang), console, err_console,
             _now().isoformat(timespec="seconds"), cache_dir=_cache_dir(), rows_progress=_rows_progress)


# ==== entry point ===============================================================================


CRASH_LOG_DAYS = 14  # crash logs older than this are removed at the next start


def _crash_dir() -> Path:
    """sangao's private folder for crash logs ($XDG_STATE_HOME/sangao/crash, else
    ~/.local/state/sangao/crash)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sangao" / "crash"


def _sweep_scratch() -> None:
    """Remove the private temporary folders of sangao processes that were killed (store/scratch.py):
    files extracted from an archive hold IDs and names."""
    from store import scratch

    scratch.sweep()


def _configure_store() -> None:
    """Settings of the store read from the environment here (nothing below cli.py reads it)."""
    wait = os.environ.get("SANGAO_DB_WAIT")
    if wait:
        from store import db

        try:
            db.set_busy_timeout(float(wait))
        except ValueError:
            _print_err(message("db wait", _message_lang(), value=wait))  # before Click: exit 2 ourselves
            sys.exit(2)


def _message_lang() -> str:
    """The language of main()'s error messages: `--lang en` on the command line or SANGAO_LANG=en,
    else Chinese."""
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return "en" if args[i + 1] == "en" else "zh"
        if arg.startswith("--lang="):
            return "en" if arg == "--lang=en" else "zh"
    return _locale_lang()


def main() -> None:
    from pathways.errors import Problem

    lang = _message_lang()
    # Every file sangao creates (databases, exports, worklists, plans, reports, rejects) holds patient
    # data: owner-only (0600, folders 0700), whatever the user's umask.
    os.umask(0o077)
    try:
        from store.crash_log import sweep_crash_logs

        sweep_crash_logs(_crash_dir(), _now(), CRASH_LOG_DAYS)
        _sweep_scratch()
        _configure_store()
        _run_app(lang)                       # exit 2 on usage errors, 0 on success
    except SangaoError as exc:               # the user can fix it (incl. store.db's busy/unavailable)
        _print_folded(exc.render(lang))
        sys.exit(1)
    except BrokenPipeError:                  # `sangao … | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        sys.exit(1)
    except OSError as exc:                   # a file the user named cannot be opened or written
        if exc.filename is None:
            _internal_error(exc, lang)
        from pathways.codes.runtime import os_reason

        problem = Problem.of("R103", file=str(exc.filename), reason=os_reason(exc))  # zh by errno
        _print_folded(problem.render(lang))
        sys.exit(1)
    except Exception as exc:                 # we broke; traceback (no locals) goes to a log
        _internal_error(exc, lang)


def _print_folded(text: str) -> None:
    """A problem on stderr, each line broken at the terminal's width under its own start (Rich
    would go on at the left edge and cut a Chinese sentence anywhere: reports/fold.py)."""
    from reports.fold import fold

    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        for folded in fold(body, err_console.width, indent, indent + "  "):
            _print_err(folded)


def _run_app(lang: str) -> None:
    """Run the app, showing Click's and Typer's own errors in `lang` (reports/cli_errors.py; Typer's
    framing is English and its module costs 0.1 s at every start) with Typer's exit codes: a usage
    error 2, an aborted prompt 1, typer.Exit(n) and Ctrl-C (130) as they come back, 0 when done."""
    try:
        code = app(prog_name="sangao", standalone_mode=False)
    except typer.Abort:
        from reports.cli_errors import print_aborted

        print_aborted(lang, err_console)
        code = 1
    except Exception as exc:
        from reports.cli_errors import ClickException, print_click_error  # only now: 8 ms to load

        if not isinstance(exc, ClickException):
            raise
        print_click_error(exc, lang, err_console)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)  # as Typer's standalone mode: SystemExit, 0 when done


def _internal_error(exc: BaseException, lang: str) -> None:
    from pathways.errors import Problem

    try:
        from store.crash_log import write_crash_log

        log = write_crash_log(_crash_dir(), exc)
    except OSError as log_error:
        log = f"(no log: {log_error.strerror})"
    err_console.print(Problem.of("R104", kind=type(exc).__name__, log=log).render(lang), markup=False,
                      highlight=False)
    sys.exit(3)


if __name__ == "__main__":
    main()
