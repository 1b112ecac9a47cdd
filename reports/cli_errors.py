"""Click's and Typer's own errors as the command line shows them: a usage error (an unknown option, a
missing argument, a value that does not convert; exit 2) or an aborted prompt, framed as Typer
frames them (the usage line, where the help is, the message in a panel) but worded in the user's
language from reports/help_text.py MESSAGES. cli.py main() runs the app with standalone_mode=False
and hands each such error here: Typer's own framing is English and lives in typer.rich_utils, which
costs 0.1 s to import at every start.

Typer words its messages in code, not through gettext: each is recognised here by its kind (the
exception's class and attributes, the pydantic error a value failed with, or the fixed wording of
a parser message, WORDINGS) and worded again; a message this module does not know (our own, which
are in the user's language already, or a future Typer's) is shown as it is.
"""

from __future__ import annotations

import re

from rich.console import Console

from reports.fold import fold
from reports.help_text import message

try:  # Typer 0.2x runs on its own copy of Click
    from typer._click.exceptions import ClickException
except ImportError:  # an older Typer, on Click itself
    from click.exceptions import ClickException

__all__ = [
    "ClickException", "error_text", "print_aborted", "print_click_error", "usage_line", "usage_words",
    "worded",
]


def print_click_error(exc: Exception, lang: str, console: Console) -> None:
    """Show a Click/Typer error on `console` (stderr) in `lang`, as Typer would show it."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # its help screen is printed already (as Typer does)
        return
    from rich.panel import Panel
    from rich.text import Text

    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        console.print(Text(usage_line(ctx, lang), style="bold"))
        if ctx.command.get_help_option(ctx) is not None:
            command = f"'{ctx.command_path} {ctx.help_option_names[0]}'"
            console.print(Text(message("try help", lang, command=command), style="dim"))
    body = "\n".join(fold(error_text(exc, lang), console.width - 4))  # inside the panel's border
    console.print(Panel(Text(body), border_style="red", title=message("error", lang), title_align="left"))


def print_aborted(lang: str, console: Console) -> None:
    """An aborted prompt (Ctrl-D at a question), as Typer shows it."""
    console.print(message("aborted", lang), style="red", markup=False, highlight=False)


def usage_line(ctx, lang: str) -> str:
    """"用法：sangao roster import [选项] {FILE}..." of the command that failed (Typer's pieces)."""
    pieces = usage_words(" ".join(ctx.command.collect_usage_pieces(ctx)), lang)
    return message("usage", lang, command=ctx.command_path, pieces=pieces)


def usage_words(pieces: str, lang: str) -> str:
    """Typer's words in a usage line's pieces ("[OPTIONS]", "COMMAND [ARGS]...") in `lang` (the
    usage line of an error, and of a help screen: reports/help_text.py)."""
    pieces = pieces.replace("[OPTIONS]", message("options metavar", lang))
    return pieces.replace("COMMAND [ARGS]...", message("command metavar", lang))


def error_text(exc: Exception, lang: str) -> str:
    """The message of a Click/Typer error in `lang`."""
    kinds = {k.__name__ for k in type(exc).__mro__}
    try:
        if "MissingParameter" in kinds:
            return _missing(exc, lang)
        if "BadParameter" in kinds:
            hint, body = _hint(exc), _value_text(exc, lang)
            if hint is None:
                return message("invalid value", lang, message=body)
            return message("invalid value for", lang, hint=hint, message=body)
        if "NoSuchOption" in kinds and exc.message.startswith("No such option"):
            text = message("no such option", lang, name=exc.option_name)
            if exc.possibilities:
                text += message("possible options", lang, options=", ".join(sorted(exc.possibilities)))
            return text
        return worded(exc.message, lang) or exc.format_message()
    except (AttributeError, TypeError):  # a Typer that shapes its errors otherwise: its own words
        return exc.format_message()


def _hint(exc) -> str | None:
    """The option or argument a BadParameter names ("'--as-of'"), as Click joins them."""
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(x) for x in hint)
    return hint


def _missing(exc, lang: str) -> str:
    kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else None)
    extra = exc.param.get_missing_message(ctx=exc.ctx) if exc.param is not None else None
    if exc.message or extra or kind not in ("argument", "option"):  # none of sangao's: Typer's words
        return exc.format_message()
    hint = _hint(exc) or ""
    if kind == "argument":
        return message("missing argument", lang, hint=hint)
    return message("missing option", lang, hint=hint)


def _value_text(exc, lang: str) -> str:
    """What is wrong with the value: from the pydantic error it failed with, else by its wording."""
    errors = getattr(exc.__cause__, "errors", None)
    if callable(errors):
        found = errors()
        text = _pydantic_text(found[0], lang) if found else None
        if text is not None:
            return text
    return worded(exc.message, lang) or exc.message


def _pydantic_text(error: dict, lang: str) -> str | None:
    kind, value, ctx = error.get("type"), error.get("input"), error.get("ctx") or {}
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return message("not an integer", lang, value=value)
    if kind in ("float_parsing", "float_type"):
        return message("not a number", lang, value=value)
    if kind == "greater_than_equal":
        return message("at least", lang, value=value, limit=ctx["ge"])
    if kind == "less_than_equal":
        return message("at most", lang, value=value, limit=ctx["le"])
    if kind == "value_error" and "error" in ctx:
        return worded(str(ctx["error"]), lang)
    return None


# Typer's fixed wordings of parser and value errors: the pattern and the MESSAGES key that words it
# again (its English is Typer's own). Names and values are kept as Typer quotes them.
WORDINGS: tuple[tuple[str, str], ...] = (
    (r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", "extra arguments"),
    (r"No such command (?P<name>'.*')\. Did you mean (?P<names>.+)\?", "no such command, did you mean"),
    (r"No such command (?P<name>'.*')\.", "no such command"),
    (r"Missing command\.", "missing command"),
    (r"Option (?P<name>'.*') requires an argument\.", "option needs a value"),
    (r"Option (?P<name>'.*') requires (?P<nargs>\d+) arguments\.", "option needs values"),
    (r"Option (?P<name>'.*') does not take a value\.", "option takes no value"),
    (r"Argument (?P<name>'.*') takes (?P<nargs>\d+) values\.", "argument takes values"),
    (r"(?P<value>.+) is not one of (?P<choices>.+)\.", "not one of"),
    (r"(?P<kind>file|dir|path) (?P<path>'.*') does not exist\.", "path does not exist"),
    (r"(?P<kind>file|dir|path) (?P<path>'.*') is a file\.", "path is a file"),
    (r"(?P<kind>file|dir|path) (?P<path>'.*') is a directory\.", "path is a directory"),
    (r"(?P<kind>file|dir|path) (?P<path>'.*') is not readable\.", "path is not readable"),
    (r"(?P<kind>file|dir|path) (?P<path>'.*') is not writable\.", "path is not writable"),
)
_COMPILED: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.S), k) for p, k in WORDINGS)
PATH_KINDS = {"file": "path kind file", "dir": "path kind dir", "path": "path kind path"}


def worded(text: str, lang: str) -> str | None:
    """`text`, one of Typer's fixed wordings, in `lang`; None for any other text."""
    for pattern, key in _COMPILED:
        found = pattern.fullmatch(text)
        if found is not None:
            fields = found.groupdict()
            if "kind" in fields:
                fields["kind"] = message(PATH_KINDS[fields["kind"]], lang)
            return message(key, lang, **fields)
    return None

