"""The `sangao` command line: parse, call one library function, print, choose the exit code.

The only place that reads the clock, the environment or sys.argv (tests/test_architecture.py).
Exit codes: 0 done, 1 a problem the user can fix, 2 usage, 3 a bug in sangao (details in a log).
Each command group sits in its own section below.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from pathways.errors import SangaoError

app = typer.Typer(pretty_exceptions_show_locals=False, no_args_is_help=True, add_completion=False,
                  help="三高共管 六病同防 care-pathway engine.")
roster_app = typer.Typer(no_args_is_help=True, help="Import, export and generate patient rosters.")
guidelines_app = typer.Typer(no_args_is_help=True, help="Check, test, diff and document guideline sets.")
app.add_typer(roster_app, name="roster")
app.add_typer(guidelines_app, name="guidelines")

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
        raise typer.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD") from None


AsOf = Annotated[
    date | None,
    typer.Option("--as-of", parser=iso_date, metavar="YYYY-MM-DD", help="evaluation date (default: today, China time)"),
]
Db = Annotated[
    str,
    typer.Option("--db", envvar="SANGAO_DB",
                 help="SQLite file path, or a URL (sqlite:///x.db, postgresql+psycopg://user@host/db)"),
]


def open_private(path: Path, *args, **kwargs):
    """A file holding patient data, created owner-only (store/privacy.py)."""
    from store.privacy import open_private as _open_private

    return _open_private(path, *args, **kwargs)


def db_url(db: str) -> str:
    """A bare path means a SQLite file."""
    return db if "://" in db else f"sqlite:///{db}"


# ==== roster ====================================================================================
# (roster import / inspect / export / generate)


ROSTER_IMPORT_HELP = (
    "Import roster files into the database: validate, upsert by patient_id, report rejects.\n\n"
    "FILE may be JSONL (interchange format, .jsonl), CSV (.csv), an Excel workbook (.xlsx, legacy "
    ".xls) or a .zip of split CSV/Excel parts. "
    "CSV files of one directory named together (or the directory itself) form one roster set, "
    "joined on the patient id: a patients table plus visits, labs, screenings, history and "
    "referrals tables. A table is recognised by the site mapping's `tables:` entry, else by its "
    "file or sheet name (visits.csv / 随访.csv, labs / 化验 / 检验, screenings / 筛查, "
    "history / 既往史, referrals / 转诊, patients / 患者 / 档案), else by its headers "
    "(性别 or 出生日期 make the patients table).\n\n"
    "Flat visit exports (one row per follow-up, the person repeated, no patient number) are "
    "grouped into patients by resident ID (身份证号; legacy 15-digit IDs upgraded); the patient_id "
    "is derived from it (area code + hash). Conditions come from a column, the form of the file "
    "(高血压…/糖尿病… or `form:` in --mapping) or `defaults:`; enrolled_on from a column, "
    "`defaults:` or the first visit. The national forms' codes (性别 1/2, 症状 1–9, 此次随访分类, "
    "药物不良反应 1无 2有, 足背动脉搏动, 既往史 …) are built in; --mapping `values:` overrides them. "
    "Blood pressure for both arms needs `bp_arm: left|right|higher`; 尿微量白蛋白 (mg/L) is never "
    "read as UACR. Run `sangao roster inspect` first to get a proposed mapping.\n\n"
    "Headers may be Chinese (患者编号, 身份证号, 姓名, 性别, 出生日期, 随访日期, "
    "收缩压, 舒张压, 血压 150/90, 空腹血糖, 糖化血红蛋白, 低密度脂蛋白胆固醇, 肌酐, "
    "尿白蛋白肌酐比 …, units in brackets allowed, two-row merged headers read) or the interchange "
    "field names. Text may be UTF-8 (with or without BOM) or GB18030/GBK/GB2312; the summary "
    "states which.\n\n"
    "Each file (CSV set, workbook, archive) is one transaction. Rows that cannot be used are "
    "rejected with file, row, column, value and what would be right (--rejects writes them to a "
    "CSV); values no value map knows are listed per column with counts; implausible values and "
    "future dates are reported and kept. Exit status 1 when anything was rejected.\n\n"
    "Example: sangao roster import roster.jsonl --db sangao.db --as-of 2026-11-30 --rejects rejects.csv"
)


@roster_app.command("import", help=ROSTER_IMPORT_HELP)
def roster_import(
    files: Annotated[list[Path], typer.Argument(help="roster files: .jsonl, .csv (a set per directory; a "
                                                     "directory means its *.csv), .xlsx, .xls, .zip",
                                                metavar="FILE", exists=True, show_default=False)],
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", exists=True, dir_okay=False,
                                                 help="YAML mapping of the site's headers, labels and table "
                                                      "names to interchange fields")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", dir_okay=False,
                                                 help="write rejected rows with reasons to this CSV")] = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help="keep names, resident IDs and phones in the "
                                                              "--rejects raw column (recorded in the audit "
                                                              "log)")] = False,
) -> None:
    from store.importer import import_files

    if unmasked and rejects is None:
        raise typer.BadParameter("--unmasked shows the raw column of --rejects FILE; give --rejects too",
                                 param_hint="--unmasked")
    with _import_progress() as progress:
        report = import_files(
            files, db_url(db), as_of or _today(), mapping=mapping, reject_path=rejects, progress=progress,
            unmasked=unmasked,
        )
    if unmasked:
        _audit_unmasking(db, "roster import --rejects --unmasked", report.rejected, rejects)
    _print_import_report(report, rejects)
    if not report.ok:
        raise typer.Exit(1)


def _audit_unmasking(db: str, command: str, patients: int, written: Path | None = None) -> None:
    """Record an unmasked output in the audit log: the OS user and the time, read here. If the
    entry cannot be written, the unmasked file is removed (nothing unmasked goes unrecorded)."""
    import getpass

    from store.audit import record_unmasking

    try:
        record_unmasking(db_url(db), who=getpass.getuser(), at=_now(), command=command, patients=patients)
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise


@contextmanager
def _import_progress():
    """A live "records read" line on stderr while a large import runs (a terminal only; it is
    cleared when done, and pipes and logs get nothing)."""
    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("reading", total=None)

        def update(source: str, records: int) -> None:
            bar.update(task, description=f"{source}: {records:,} records read")

        yield update


def _print_import_report(report, rejects_path: Path | None) -> None:
    from rich.table import Table

    table = Table(title="roster import", title_justify="left")
    for header in ("file", "encoding", "rows read", "imported", "rejected"):
        table.add_column(header, justify="right" if header.startswith(("rows", "imp", "rej")) else "left")
    for f in report.files:
        table.add_row(f.file, f.encoding or "-", str(f.rows_read), str(f.imported),
                      f"[red]{f.rejected}[/red]" if f.rejected or f.error else "0")
    table.add_row("[b]total[/b]", "", str(report.rows_read), str(report.imported), str(report.rejected))
    console.print(table)
    console.print(f"{report.patients_imported} patients imported or updated", highlight=False)
    for title, problems in (("rejected", report.rejects), ("findings (records kept)", report.findings)):
        if not problems:
            continue
        console.print(f"\n[b]{title}[/b]: {len(problems)}")
        for code, group in report.by_code(problems).items():
            first = group[0]
            if code in ("D108", "D109", "D110"):  # one per column / decision: each says something else
                for p in group:
                    where = f"  ({p.location()})" if p.location() else ""
                    console.print(f"  {code}  {p.message}{where}", markup=False, highlight=False)
                continue
            console.print(f"  {code} ×{len(group)}  {first.message}", markup=False, highlight=False)
            for p in group[:3]:
                console.print(f"      at {p.location()}" + (f"  ({p.context})" if p.context else ""),
                              markup=False, highlight=False)
            if first.hint:
                console.print(f"      hint: {first.hint}", markup=False, highlight=False)
    if report.rejects:
        where = (f"rejected rows written to {rejects_path}" if rejects_path
                 else "add --rejects FILE to list them in a CSV")
        console.print(f"\n{where}", markup=False, highlight=False)


@roster_app.command("inspect")
def roster_inspect(
    files: Annotated[list[Path], typer.Argument(help="export files: .csv (a set per directory), .xlsx, "
                                                     ".xls, .zip", metavar="FILE", exists=True,
                                                show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", dir_okay=False,
                                             help="write the proposed mapping here (default: print)")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", exists=True, dir_okay=False,
                                                 help="a mapping to start from (inspect again after "
                                                      "editing)")] = None,
    sample: Annotated[int, typer.Option("--sample", min=1, help="data rows read per table")] = 2000,
) -> None:
    """Read the headers and a sample of rows of a site's export and propose a mapping file: every
    column understood, every column not, every coded value no value map knows (with counts), and
    the decisions only the site can make (two-arm blood pressure, the form of a visits file).
    Edit it, then import with --mapping. Exit status 1 when something is left to decide.

    Example: sangao roster inspect 高血压随访.xlsx --out site.yaml
    """
    from store.inspect import inspect_files, proposal_yaml

    result = inspect_files(files, mapping, sample=sample)
    text = proposal_yaml(result)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    from rich.table import Table

    table = Table(title="roster inspect", title_justify="left")
    for header in ("table", "role", "encoding", "rows sampled", "understood", "not understood",
                   "unmapped values"):
        table.add_column(header)
    for t in result.tables:
        table.add_row(t.name, t.role + (" (flat)" if t.flat else ""), t.encoding or "-", str(t.rows_sampled),
                      str(sum(1 for c in t.columns if c.target or c.note.startswith("option"))),
                      str(sum(1 for c in t.columns if not (c.target or c.note.startswith("option")))),
                      str(sum(sum(c.unmapped.values()) for c in t.columns)))
    err_console.print(table)
    for p in result.problems:
        err_console.print(p.render(), markup=False, highlight=False)
    if out is not None:
        err_console.print(f"proposed mapping written to {out}", markup=False, highlight=False)
    if result.undecided or any(p.code == "D030" for p in result.problems):
        raise typer.Exit(1)


class ExportFormat(str, Enum):
    jsonl = "jsonl"


@roster_app.command("export")
def roster_export(
    db: Db = DEFAULT_DB,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl: the interchange format")]
    = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False,
                                             help="file to write (default: standard output)")] = None,
) -> None:
    """Write every stored patient in the interchange format, one JSON object per line.

    The output round-trips: importing it gives the same database, and exporting an imported file
    gives the same objects (absent optional fields absent, lists in date order).

    Example: sangao roster export --db sangao.db --format jsonl --out roster.jsonl
    """
    from store.exporter import export_jsonl

    url = db_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise SangaoError.one("D030", f"no database at {url.removeprefix('sqlite:///')}",
                              hint="import a roster first: sangao roster import FILE --db PATH")
    if out is None:
        export_jsonl(url, sys.stdout)
        return
    with open_private(out, "w", encoding="utf-8", newline="\n") as f:
        count = export_jsonl(url, f)
    err_console.print(f"wrote {count} patients to {out}", markup=False, highlight=False)


class GeneratedFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


@roster_app.command("generate")
def roster_generate(
    patients: Annotated[int, typer.Option("--patients", "-n", min=0, help="how many patients")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="random seed; the same seed and --as-of give the same file")] = 1,
    as_of: AsOf = None,
    out: Annotated[Path | None, typer.Option("--out", help="JSONL file (default: standard output); for csv, "
                                                           "a directory (default: roster-csv)")] = None,
    fmt: Annotated[GeneratedFormat, typer.Option("--format", help="jsonl (interchange §1) or csv (Chinese-header "
                                                                  "patients/visits/labs/screenings tables)")]
    = GeneratedFormat.jsonl,
) -> None:
    """Write a realistic synthetic roster (Shandong names, resident IDs, follow-up histories).

    Every date is on or before --as-of; the same --patients, --seed and --as-of give the same bytes.
    The first patients show one situation each (urgent reading, lost to follow-up, never screened …).

    Example: sangao roster generate --patients 1000 --seed 7 --as-of 2026-11-30 --out roster.jsonl
    """
    from pathways.synthetic import CSV_TABLES, generate_csv_rows, generate_jsonl
    from reports.csv_safe import SafeWriter

    as_of = as_of or _today()
    if fmt is GeneratedFormat.csv:
        folder = out or Path("roster-csv")
        if folder.exists() and not folder.is_dir():
            raise typer.BadParameter(f"{folder} is a file; csv needs a directory for its tables", param_hint="--out")
        folder.mkdir(parents=True, exist_ok=True)
        files = {table: open_private(folder / f"{table}.csv", "w", encoding="utf-8-sig", newline="")
                 for table in CSV_TABLES}
        try:
            writers = {table: SafeWriter(f) for table, f in files.items()}
            for table, columns in CSV_TABLES.items():
                writers[table].writerow([header for _, header in columns])
            for table, row in generate_csv_rows(patients, seed, as_of):
                writers[table].writerow(row)
        finally:
            for f in files.values():
                f.close()
        err_console.print(f"wrote {patients} patients to {folder}/ ({', '.join(f'{t}.csv' for t in CSV_TABLES)})",
                          markup=False, highlight=False)
        return
    lines = generate_jsonl(patients, seed, as_of)
    if out is None:
        stream = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        for line in lines:
            if stream is not None:
                stream.write(line.encode() + b"\n")
            else:
                sys.stdout.write(line + "\n")
        return
    if out.is_dir():
        raise typer.BadParameter(f"{out} is a directory; give a file name such as {out / 'roster.jsonl'}",
                                 param_hint="--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_private(out, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    err_console.print(f"wrote {patients} patients to {out}", markup=False, highlight=False)


# ==== assess / explain ==========================================================================


class Format(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


class Backend(str, Enum):
    python = "python"
    durable = "durable"
    both = "both"


GuidelinesOpt = Annotated[
    str, typer.Option("--guidelines", "-g", help="guideline set: a name (national-default) or a folder")
]
RosterOpt = Annotated[
    Path | None, typer.Option("--roster", help="read patients straight from a JSONL/CSV/XLSX file instead of --db")
]
ProvisionalOpt = Annotated[
    bool,
    typer.Option("--provisional-calendar",
                 help="for a year whose State Council holiday notice sangao lacks, use statutory holidays only "
                      "(no make-up working days) and mark every output with a warning"),
]


def _provenance(gset_or_name, roster: Path | None, db: str):
    """What made a run of saved assessments: the guideline files' hashes, the input, the version."""
    import re
    from importlib.metadata import version

    from store.assessments import Provenance, file_sha256, guideline_hashes

    if isinstance(gset_or_name, str):
        from guidelines.loader import load_set

        gset_or_name = load_set(gset_or_name)
    shown_db = re.sub(r"//[^/@]*@", "//", db_url(db))  # no user or password
    return Provenance(version("sangao"), guideline_hashes(gset_or_name),
                      str(roster) if roster is not None else shown_db,
                      file_sha256(roster) if roster is not None else None)


def _patients(roster: Path | None, db: str):
    import store

    return store.read_roster(roster) if roster is not None else store.read_patients(db_url(db))


@app.command()
def assess(
    roster: RosterOpt = None,
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    fmt: Annotated[Format, typer.Option("--format", help="table (people), jsonl (interchange §2), csv")] = Format.table,
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of the terminal")] = None,
    guidelines: GuidelinesOpt = "national-default",
    engine: Annotated[Backend, typer.Option("--engine", help="rules backend; both = cross-check, stop on disagreement")] = Backend.python,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes to assess with")] = 1,
    provisional_calendar: ProvisionalOpt = False,
    save: Annotated[bool, typer.Option("--save", help="store the assessments in --db with the guideline version")] = False,
    limit: Annotated[int, typer.Option("--limit", help="table rows to show")] = 50,
) -> None:
    """Stratify every patient red/yellow/blue at --as-of.

    Example: sangao assess --roster roster.jsonl --as-of 2026-11-30 --format jsonl --out assessments.jsonl
    """
    from engine.parallel import AssessCounts, AssessOptions, assess_roster
    from reports import assessments as fmt_out

    as_of = as_of or _today()
    options = AssessOptions(guidelines, as_of, engine.value, provisional_calendar)
    counts = AssessCounts()
    results = assess_roster(_patients(roster, db), options, workers=workers, counts=counts)
    if save:
        import store

        results = store.save_assessments(db_url(db), results, _provenance(guidelines, roster, db))
    if fmt is Format.table and out is None:
        fmt_out.print_table(results, console, limit=limit)
    else:
        target = open_private(out, "w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            (fmt_out.write_jsonl if fmt is not Format.csv else fmt_out.write_csv)(results, target)
        finally:
            if out:
                target.close()
    # stderr, so JSONL on stdout stays machine-readable
    where = f" → {out}" if out else ""
    err_console.print(f"{counts.assessed} assessed, {counts.skipped} skipped (died or moved out on or before "
                      f"{as_of}){where}", highlight=False)


@app.command()
def explain(
    patient_id: Annotated[str, typer.Argument(help="the patient_id to explain")],
    roster: RosterOpt = None,
    db: Db = DEFAULT_DB,
    as_of: AsOf = None,
    guidelines: GuidelinesOpt = "national-default",
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
    provisional_calendar: ProvisionalOpt = False,
) -> None:
    """Why this patient has this colour: every rule that fired, the values it read, its source clause,
    and the rules that almost fired.

    Example: sangao explain 370202-000456 --as-of 2026-11-30
    """
    from engine.parallel import AssessOptions, build_assessor
    from reports.explain import print_explanation

    if lang not in ("zh", "en"):
        raise typer.BadParameter("--lang is zh or en")
    as_of = as_of or _today()
    patient = next((p for p in _patients(roster, db) if p.patient_id == patient_id), None)
    if patient is None:
        raise SangaoError.one("D900", f"patient {patient_id!r} is not in the roster",
                              hint="`sangao assess` lists the patient ids")
    assessor = build_assessor(AssessOptions(guidelines, as_of, "python", provisional_calendar))
    if not assessor.is_assessed(patient, as_of):
        raise SangaoError.one("D901", f"patient {patient_id} died or moved out on or before {as_of}: not assessed")
    print_explanation(assessor.assess(patient, as_of), assessor.gset, console, lang=lang)



# ==== guidelines ================================================================================


GuidelineSetArg = Annotated[str, typer.Argument(help="guideline set: a packaged name or a folder")]
IncludeUnverified = Annotated[
    bool | None,
    typer.Option("--include-unverified/--exclude-unverified",
                 help="load rules whose source is verification U (default: as set.yaml says)"),
]


def _print_plain(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@guidelines_app.command("check")
def guidelines_check(
    path: GuidelineSetArg = "national-default", include_unverified: IncludeUnverified = None
) -> None:
    """Check a guideline set: every problem with file:line:col and a hint; exit 1 if any.

    Example: sangao guidelines check guidelines/national-default
    """
    from guidelines.loader import load_with_draft

    try:
        gset, draft = load_with_draft(path, include_unverified)
    except SangaoError as exc:
        for problem in exc.problems:
            _print_plain(problem.render())
        _print_plain(f"{len(exc.problems)} problem(s) in {path}")
        raise typer.Exit(1) from None
    left_out = len(draft.rules) - len(gset.rules)
    note = f" ({left_out} unverified left out)" if left_out else ""
    _print_plain(f"ok: {gset.name} {gset.version}: {len(gset.rules)} rules{note}, "
                 f"{len(gset.derive)} derive entries, "
                 f"{len(gset.parameters)} parameters, {draft.file_count} files")


@guidelines_app.command("schema")
def guidelines_schema(path: GuidelineSetArg = "national-default") -> None:
    """Print the draft-07 JSON Schema of a guideline file; `fact:` lists the base facts and the
    derived facts of the set PATH (base facts only if that set does not load).

    Example: sangao guidelines schema > guideline.schema.json
    """
    from guidelines.checks import derive_outputs
    from guidelines.jsonschema import schema_json
    from guidelines.loader import load_draft

    try:
        derived = [name for e in load_draft(path).derive for name in derive_outputs(e.value)]
    except SangaoError:
        derived = []
        err_console.print(f"note: {path} does not load; `fact:` lists the base facts only")
    typer.echo(schema_json(derived))


@guidelines_app.command("effective")
def guidelines_effective(
    path: GuidelineSetArg = "national-default", include_unverified: IncludeUnverified = None
) -> None:
    """Print the effective set after overlays: each parameter (value, unit) and rule, with the
    file:line it came from.

    Example: sangao guidelines effective ./my-county
    """
    from guidelines.loader import effective_lines

    for line in effective_lines(path, include_unverified):
        _print_plain(line)



# ==== guidelines: test / diff (engine-backed) =====================================================


def _case_files(gset_path: Path):
    from guidelines.cases_file import load_case_files

    return load_case_files(gset_path)


@guidelines_app.command("test")
def guidelines_test(
    path: Annotated[str, typer.Argument(help="guideline set: a name or a folder")] = "national-default",
    engine: Annotated[Backend, typer.Option("--engine", help="rules backend")] = Backend.python,
    provisional_calendar: ProvisionalOpt = False,
    coverage: Annotated[bool, typer.Option("--coverage/--no-coverage", help="report rules, table rows and thresholds no case covers")] = True,
) -> None:
    """Run every *.cases.yaml example of a set, show a diff for each failure, report coverage.

    Example: sangao guidelines test guidelines/national-default
    """
    from engine.cases_runner import run_cases
    from engine.parallel import AssessOptions, build_assessor

    assessor = build_assessor(AssessOptions(path, date(2026, 1, 1), engine.value, provisional_calendar))
    report = run_cases(assessor, _case_files(assessor.gset.path))
    for run in report.failed:
        console.print(f"[red]FAIL[/] {run.id}", highlight=False)
        for failure in run.failures:
            console.print(f"    {failure}", markup=False, highlight=False)
    passed = len(report.runs) - len(report.failed)
    if coverage:
        for problem in report.coverage:
            console.print(problem.render(), markup=False, highlight=False)
    console.print(f"{passed} passed, {len(report.failed)} failed; "
                  f"coverage: {len(report.coverage) if coverage else 'not checked'} gap(s)")
    if report.failed or (coverage and report.coverage):
        raise typer.Exit(1)


@guidelines_app.command("explain")
def guidelines_explain(
    rule_id: Annotated[str | None, typer.Argument(help="a rule id; omit for the whole set by colour")] = None,
    path: Annotated[str, typer.Option("--guidelines", "-g", help="guideline set: a name or a folder")] = "national-default",
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
) -> None:
    """Show a rule (when it fires, what it implies, its source and verification) or the whole set by colour.

    Example: sangao guidelines explain htn.urgent_bp
    """
    from guidelines.loader import load_set
    from reports.guideline_explain import print_overview, print_rule

    gset = load_set(path)
    if rule_id is None:
        print_overview(gset, console, lang=lang)
    else:
        print_rule(gset, rule_id, console, lang=lang)


@guidelines_app.command("diff")
def guidelines_diff(
    old: Annotated[str, typer.Argument(help="the published set (name or folder)")],
    new: Annotated[str, typer.Argument(help="the changed set (name or folder)")],
    roster: Annotated[str, typer.Option("--roster", help="a roster file (JSONL/CSV/XLSX), or a database (.db path or URL)")],
    as_of: AsOf = None,
    provisional_calendar: ProvisionalOpt = False,
) -> None:
    """How many patients change colour, referral or follow-up date between two versions of a set.

    Example: sangao guidelines diff national-default ./my-county --roster roster.jsonl --as-of 2026-11-30
    """
    from engine.diff import diff_sets
    from engine.parallel import AssessOptions, build_assessor
    from reports.diff import print_diff

    as_of = as_of or _today()
    old_a = build_assessor(AssessOptions(old, as_of, "python", provisional_calendar))
    new_a = build_assessor(AssessOptions(new, as_of, "python", provisional_calendar))
    is_db = "://" in roster or Path(roster).suffix.lower() in (".db", ".sqlite", ".sqlite3")
    patients = _patients(None, roster) if is_db else _patients(Path(roster), "")
    print_diff(diff_sets(old_a, new_a, patients, as_of), console)


# ==== demo ======================================================================================


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="folder for the demo's files (replaced)")] = Path("sangao-demo"),
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="roster size")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the generated roster")] = 1,
    as_of: AsOf = None,
) -> None:
    """Run the whole pipeline on a generated roster: generate → import into SQLite → check the
    guideline set → assess everyone → explain one red patient. Prints where every output is.

    Example: sangao demo --patients 2000 --as-of 2026-11-30
    """
    from collections import Counter

    import store
    from engine.parallel import AssessOptions, build_assessor
    from pathways.synthetic import generate_jsonl
    from reports import assessments as fmt_out
    from reports.explain import print_explanation

    as_of = as_of or _today()
    out.mkdir(parents=True, exist_ok=True)
    roster, db = out / "roster.jsonl", out / "sangao.db"
    db.unlink(missing_ok=True)

    with open_private(roster, "w", encoding="utf-8", newline="\n") as f:
        for line in generate_jsonl(patients, seed, as_of):
            f.write(line + "\n")
    console.print(f"[bold]1. roster[/]  {patients} synthetic patients (seed {seed}) → {roster}")

    report = store.import_files([roster], db_url(str(db)), as_of, reject_path=out / "rejects.csv")
    console.print(f"[bold]2. import[/]  {report.rows_read} rows read, {report.imported} imported, "
                  f"{report.rejected} rejected, {len(report.findings)} data-quality findings → {db}")

    # The demo must run even where the State Council calendar for next year is not out yet: it uses the
    # provisional calendar for such a year and says so (every affected assessment carries a warning).
    assessor = build_assessor(AssessOptions("national-default", as_of, "python", provisional_calendar=True))
    gset = assessor.gset
    console.print(f"[bold]3. guidelines[/]  {gset.name} {gset.version} ({gset.policy_status}): {len(gset.rules)} rules, "
                  f"{len(gset.derive)} derived values, {len(gset.parameters)} parameters")

    results = list(store.save_assessments(db_url(str(db)),
                                          assessor.assess_many(store.read_patients(db_url(str(db))), as_of),
                                          _provenance(gset, roster, str(db))))
    with open_private(out / "assessments.jsonl", "w", encoding="utf-8") as f:
        fmt_out.write_jsonl(results, f)
    with open_private(out / "assessments.csv", "w", encoding="utf-8-sig", newline="") as f:
        fmt_out.write_csv(results, f)
    colors = Counter(a.color.value for a in results)
    referrals = Counter(a.referral.urgency.value for a in results if a.referral)
    overdue = sum(1 for a in results if any(s.overdue for s in a.screenings_due))
    provisional = sorted({w for a in results for w in a.warnings})
    console.print(f"[bold]4. assess[/]  as_of {as_of}: {len(results)} assessed, {report.imported - len(results)} "
                  f"skipped (died or moved out)")
    console.print("   " + "  ".join(f"[{fmt_out.COLOR_STYLE[c]}]{fmt_out.COLOR_ZH[c]} {c} {colors[c]}[/]"
                                    for c in ("red", "yellow", "blue"))
                  + f"   referrals: {referrals['urgent']} urgent, {referrals['routine']} routine"
                  + f"   patients with an overdue screening: {overdue}")
    for warning in provisional:
        err_console.print(f"[yellow]warning:[/] {warning}")

    red = next((a for a in results if a.color.value == "red"), None)
    if red is not None:
        console.print(f"[bold]5. explain[/]  one red patient ({red.patient_id}):")
        patient = next(p for p in store.read_patients(db_url(str(db))) if p.patient_id == red.patient_id)
        print_explanation(assessor.assess(patient, as_of), gset, console)

    console.print(f"\n[bold]outputs[/] in {out}/: roster.jsonl, sangao.db (patients + assessments), "
                  f"assessments.jsonl (interchange §2), assessments.csv, rejects.csv")
    console.print(f"next: sangao assess --db {db} --as-of {as_of} --provisional-calendar   |   "
                  f"sangao explain PATIENT_ID --db {db} --as-of {as_of} --provisional-calendar")




# ==== entry point ===============================================================================


CRASH_LOG_DAYS = 14  # crash logs older than this are removed at the next start


def _state_dir() -> Path:
    """sangao's private folder for crash logs ($XDG_STATE_HOME/sangao, else ~/.local/state/sangao)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sangao"


def _crash_dir() -> Path:
    """The crash-log folder, created owner-only (0700): a log names files and code, never patients,
    but it stays out of a shared /tmp all the same."""
    folder = _state_dir() / "crash"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


def _sweep_crash_logs(now: datetime) -> None:
    """Remove crash logs older than CRASH_LOG_DAYS (run at every start; quiet when it cannot)."""
    folder = _state_dir() / "crash"
    if not folder.is_dir():
        return
    cutoff = now.timestamp() - CRASH_LOG_DAYS * 86400
    for log in folder.glob("sangao-crash-*.log"):
        try:
            if log.stat().st_mtime < cutoff:
                log.unlink()
        except OSError:
            pass


def _write_crash_log(exc: BaseException) -> str:
    from pathways.scrub import scrubbed_traceback

    fd, path = tempfile.mkstemp(prefix="sangao-crash-", suffix=".log", dir=_crash_dir())  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        # No locals, no bound SQL parameters, and every message scrubbed of values that could be a
        # patient's (names, IDs, phones, quoted data): the log is for finding the bug in sangao.
        f.write(scrubbed_traceback(exc))
    return path


def _configure_store() -> None:
    """Settings of the store read from the environment here (nothing below cli.py reads it)."""
    wait = os.environ.get("SANGAO_DB_WAIT")
    if wait:
        from store import db

        try:
            db.set_busy_timeout(float(wait))
        except ValueError:
            raise typer.BadParameter(f"SANGAO_DB_WAIT={wait!r} is not a number of seconds") from None


def _message_lang() -> str:
    """The language of main()'s error messages: `--lang en` on the command line or SANGAO_LANG=en,
    else Chinese."""
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return "en" if args[i + 1] == "en" else "zh"
        if arg.startswith("--lang="):
            return "en" if arg == "--lang=en" else "zh"
    return "en" if os.environ.get("SANGAO_LANG") == "en" else "zh"


def main() -> None:
    from pathways.errors import Problem

    lang = _message_lang()
    try:
        _sweep_crash_logs(_now())
        _configure_store()
        app()                                # Typer exits 2 on usage errors, 0 on success
    except SangaoError as exc:               # the user can fix it (incl. store.db's busy/unavailable)
        err_console.print(exc.render(lang), markup=False, highlight=False)
        sys.exit(1)
    except BrokenPipeError:                  # `sangao … | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        sys.exit(1)
    except OSError as exc:                   # a file the user named cannot be opened or written
        if exc.filename is None:
            _internal_error(exc, lang)
        reason = exc.strerror or type(exc).__name__
        problem = Problem.of("R103", file=str(exc.filename), reason=reason)
        err_console.print(problem.render(lang), markup=False, highlight=False)
        sys.exit(1)
    except Exception as exc:                 # we broke; traceback (no locals) goes to a log
        _internal_error(exc, lang)


def _internal_error(exc: BaseException, lang: str) -> None:
    from pathways.errors import Problem

    try:
        log = _write_crash_log(exc)
    except OSError as log_error:
        log = f"(no log: {log_error.strerror})"
    err_console.print(Problem.of("R104", kind=type(exc).__name__, log=log).render(lang), markup=False,
                      highlight=False)
    sys.exit(3)


if __name__ == "__main__":
    main()
