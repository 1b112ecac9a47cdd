"""The `sangao` command line: parse, call one library function, print, choose the exit code.

The only place that reads the clock, the environment or sys.argv (tests/test_architecture.py).
Exit codes: 0 done, 1 a problem the user can fix, 2 usage, 3 a bug in sangao (details in a log).
Each command group sits in its own section below.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import date, datetime
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


def _today() -> date:
    """The program's only clock read, in China Standard Time (a UTC server would run a day early)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


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


def db_url(db: str) -> str:
    """A bare path means a SQLite file."""
    return db if "://" in db else f"sqlite:///{db}"


# ==== roster ====================================================================================
# (roster import / export / generate)


# ==== assess / explain ==========================================================================


# ==== guidelines ================================================================================


# ==== demo ======================================================================================


# ==== entry point ===============================================================================


def _write_crash_log() -> str:
    fd, path = tempfile.mkstemp(prefix="sangao-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        # No locals: patient records must not reach a log.
        f.write(traceback.format_exc())
    return path


def main() -> None:
    try:
        app(standalone_mode=False)
    except SangaoError as exc:
        err_console.print(exc.render(), markup=False, highlight=False)
        sys.exit(1)
    except (typer.Exit, SystemExit) as exc:
        code = exc.exit_code if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code or 0)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click usage errors first, then our bugs
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        err_console.print(f"internal error ({type(exc).__name__}); details in {_write_crash_log()}")
        sys.exit(3)


if __name__ == "__main__":
    main()
