"""Strict YAML reading with positions, shared by the guideline loader (guidelines/loader.py) and the
cases loader (guidelines/cases_file.py).

A `SourceFile` keeps the ruamel round-trip tree (every node knows its line and column) beside the
plain Python values pydantic validates. `locate()` maps a pydantic `loc` back onto the tree
(style.md §2.4); `validation_problems()` turns a `ValidationError` into one `Problem` per bad node,
collapsing the many errors a union produces into the branch the author meant.

YAML 1.2 traps handled here: `yes`/`no`/`on`/`off` stay strings (StrictBool rejects them: "write true
or false"); unquoted `2026.1` loads as a float and `0123` as 123 (a str field says "quote it");
duplicate keys fail naming both lines.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
import string
import types
import typing
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from pathways.errors import Problem, SangaoError

Loc = tuple[str | int, ...]


def display_path(path: Path) -> str:
    """How a file is named in messages: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass
class SourceFile:
    path: Path
    display: str  # the name used in messages
    lines: list[str]
    doc: Any  # ruamel round-trip tree (CommentedMap for a mapping document)

    def problem(
        self,
        code: str,
        message: str,
        loc: Loc = (),
        *,
        hint: str | None = None,
        at_key: bool = False,
        context: str | None = None,
    ) -> Problem:
        """A problem at the node `loc` points to, with a context line and a source excerpt."""
        line, col = locate(self.doc, loc, at_key=at_key)
        parts = [p for p in (context, excerpt(self.lines, line)) if p]
        return Problem(
            code,
            message,
            file=self.display,
            line=line,
            column=col,
            hint=hint,
            context="\n".join(parts) or None,
        )

    def token_at(self, line: int, col: int) -> str:
        """The scalar as written at 1-based line/col (to show `2026.1` or `0123` as typed)."""
        if not 0 < line <= len(self.lines):
            return ""
        m = re.match(r"[^,#}\]\s]+", self.lines[line - 1][col - 1 :])
        return m.group(0) if m else ""


def _yaml() -> YAML:
    y = YAML(typ="rt")  # round-trip: keeps positions; YAML 1.2 (yes/no stay strings)
    y.version = (1, 2)
    y.allow_duplicate_keys = False
    return y


# Codes of the file-level problems, per stage (G guideline files, T cases files).
G_CODES = {
    "unreadable": "G100",
    "syntax": "G101",
    "duplicate": "G102",
    "unknown_key": "G103",
    "type": "G104",
    "missing": "G105",
    "value": "G106",
}
T_CODES = {
    "unreadable": "T110",
    "syntax": "T111",
    "duplicate": "T112",
    "unknown_key": "T113",
    "type": "T114",
    "missing": "T115",
    "value": "T116",
}


# Parsed trees by file text: ruamel's round-trip parser is pure Python (~0.3 s for the
# national set) and tests and tools load the same set many times. Trees are never mutated.
_PARSED: dict[str, Any] = {}


def read_yaml(path: Path, codes: dict[str, str] = G_CODES) -> SourceFile:
    """Parse one YAML file. Raises SangaoError: unreadable, syntax, or duplicate keys (every one, both
    lines)."""
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SangaoError.one(codes["unreadable"], f"cannot read the file: {exc}", file=display) from None
    lines = text.splitlines()
    if text in _PARSED:
        return SourceFile(path, display, lines, _PARSED[text])
    try:
        doc = _yaml().load(text)
    except DuplicateKeyError:
        raise SangaoError(_duplicate_keys(text, display, lines, codes["duplicate"])) from None
    except ValueError:  # ruamel builds dates while loading: 2026-13-29 raises without a place
        raise SangaoError(_bad_dates(text, display, lines, codes["syntax"])) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SangaoError(
            [
                Problem(
                    codes["syntax"],
                    f"YAML syntax: {what}",
                    file=display,
                    line=line,
                    column=col,
                    context=excerpt(lines, line) if line else None,
                )
            ]
        ) from None
    except ReaderError as exc:  # a character YAML does not allow (a control character)
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        what = f"YAML syntax: {exc.reason}"
        if isinstance(exc.character, int):
            what += f" (character U+{exc.character:04X})"
        raise SangaoError([Problem(codes["syntax"], what, file=display, line=line,
                                   context=excerpt(lines, line) if line else None)]) from None
    except TypeError:  # a key that is a list or mapping (`? [a]: b`, `[[]]: x`) cannot be a key
        raise SangaoError.one(codes["syntax"], "YAML syntax: a key is a list or a mapping", file=display,
                              hint="keys are names: write `name: value`") from None
    except RecursionError:  # the parser recurses per nesting level
        raise SangaoError.one(codes["syntax"], "YAML syntax: nested too deeply", file=display,
                              hint="a guideline file is a few levels deep") from None
    if len(_PARSED) > 256:
        _PARSED.clear()
    _PARSED[text] = doc
    return SourceFile(path, display, lines, doc)


def _bad_dates(text: str, display: str, lines: list[str], code: str) -> list[Problem]:
    problems: list[Problem] = []
    stack = [_yaml().compose(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            stack.extend(v for pair in node.value for v in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif node is not None and node.tag.endswith(":timestamp"):
            try:
                _dt.date.fromisoformat(str(node.value)[:10])
            except ValueError:
                line, col = node.start_mark.line + 1, node.start_mark.column + 1
                problems.append(
                    Problem(
                        code,
                        f"'{node.value}' is not a date",
                        file=display,
                        line=line,
                        column=col,
                        context=excerpt(lines, line),
                        hint="write a real date as YYYY-MM-DD",
                    )
                )
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0)) or [
        Problem(code, "a value could not be read (an impossible date?)", file=display)
    ]


def _duplicate_keys(text: str, display: str, lines: list[str], code: str) -> list[Problem]:
    problems: list[Problem] = []
    stack = [_yaml().compose(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                line, col = key.start_mark.line + 1, key.start_mark.column + 1
                if name in seen:
                    problems.append(
                        Problem(
                            code,
                            f"duplicate key '{name}': line {line} repeats line {seen[name]}",
                            file=display,
                            line=line,
                            column=col,
                            context=excerpt(lines, line),
                            hint="keep one of them; a YAML mapping holds each key once",
                        )
                    )
                else:
                    seen[name] = line
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def plain(node: Any) -> Any:
    """ruamel's scalar subclasses (ScalarFloat, ScalarInt …) and containers → plain Python values."""
    if isinstance(node, dict):
        return {plain(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def locate(doc: Any, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
    """1-based line and column of the deepest step of `loc` present in the file: a scalar's value, a
    container's key (or the key itself with `at_key`). Steps not in the file keep the parent's place."""
    node = doc
    line, col = (doc.lc.line, doc.lc.col) if hasattr(doc, "lc") else (0, 0)
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and step in node:
            leaf = not isinstance(node[step], (CommentedMap, CommentedSeq))
            line, col = node.lc.value(step) if leaf and not (last and at_key) else node.lc.key(step)
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
            line, col = node.lc.item(step)
            node = node[step]
        else:
            break
    return line + 1, col + 1


def excerpt(lines: list[str], line: int | None) -> str:
    """The line before, the line (marked `>`) and the line after, numbered."""
    if not line or not 0 < line <= len(lines):
        return ""
    shown = range(max(1, line - 1), min(len(lines), line + 1) + 1)
    width = len(str(shown[-1]))
    return "\n".join(f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}".rstrip() for n in shown)


def did_you_mean(name: str, choices: typing.Iterable[str]) -> str | None:
    """The closest choice. A name whose words all appear in a choice ('sbp' in 'latest_sbp') prefers
    that choice, the `latest_` reading first: authors drop the qualifier more often than they misspell."""
    pool = sorted(set(choices))
    words = set(str(name).split("_"))
    within = [c for c in pool if words < set(c.split("_"))]
    if within:
        return min(within, key=lambda c: (not c.startswith("latest_"), len(c), c))
    close = difflib.get_close_matches(str(name), pool, n=1, cutoff=0.6)
    return close[0] if close else None


def placeholders(text: str) -> list[str]:
    """`{name}` placeholders of an explain sentence (format spec and attribute access stripped; an
    empty or positional placeholder comes back as written). Raises ValueError for a broken template
    (a lone `{` or `}`)."""
    fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    return [re.split(r"[.\[!:]", f)[0] for f in fields]


# ---- pydantic errors → problems --------------------------------------------------------------

_TAG_WORDS = {
    "bool": "true/false",
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "ParamRef": "{param: name}",
    "FactRef": "{fact: name}",
    "Compare": "a comparison {fact: …, gte: …}",
    "All": "{all: [...]}",
    "AnyOf": "{any: [...]}",
    "Not": "{not: …}",
    "AtLeast": "{at_least: n, of: [...]}",
}


def _unwrap(t: Any) -> Any:
    while True:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            if len(args) == 1:
                t = args[0]
            else:
                return t
        else:
            return t


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _tag_name(t: Any) -> str:
    t = _unwrap(t)
    if isinstance(t, type):
        return t.__name__
    return str(t)


def _step_type(t: Any, step: str | int) -> Any:
    """The type one `loc` step below `t` (a field, an item, a dict value, or a union branch by tag)."""
    t = _unwrap(t)
    if _is_model(t):
        for name, f in t.model_fields.items():
            if step in (name, f.alias):
                return f.annotation
        return None
    origin = typing.get_origin(t)
    if origin in (list, tuple, set, frozenset):
        return typing.get_args(t)[0]
    if origin is dict:
        return typing.get_args(t)[1]
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(t):
            if _tag_name(arg) == step or (isinstance(step, str) and step.startswith(_tag_name(arg) + "[")):
                return arg
            if (
                isinstance(step, str)
                and step.startswith(("list[", "dict["))
                and typing.get_origin(_unwrap(arg)) in (list, dict)
                and step.startswith(typing.get_origin(_unwrap(arg)).__name__)
            ):
                return arg
        return None
    return None


@dataclass
class _Err:
    err: dict
    steps: list[tuple[str | int, str]]  # (step, "data" | "tag" | "chosen")


def _annotate(err: dict, data: Any) -> _Err:
    steps: list[tuple[str | int, str]] = []
    node = data
    loc = err["loc"]
    for i, step in enumerate(loc):
        in_map = isinstance(node, dict) and step in node
        if in_map or isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            steps.append((step, "data"))
            node = node[step]
        elif i == len(loc) - 1 and err["type"] == "missing":
            steps.append((step, "data"))
        else:
            steps.append((step, "tag"))
            node = node  # a union tag does not move in the data
    return _Err(err, steps)


def _data_at(data: Any, steps: list[tuple[str | int, str]]) -> Any:
    node = data
    for step, kind in steps:
        if kind == "data":
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                return None
    return node


def _collapse(errors: list[dict], data: Any, root: type[BaseModel]) -> list[_Err]:
    """Keep, at each union, only the errors of the branch the author meant: for a mapping, the
    branch whose field names share most keys with it (ties: fewest errors); for anything else, one
    synthesised 'expected … or …' error."""
    items = [_annotate(e, data) for e in errors]
    while True:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for idx, it in enumerate(items):
            t = next((i for i, (_, kind) in enumerate(it.steps) if kind == "tag"), None)
            if t is not None:
                groups[tuple(it.steps[:t])].append(idx)
        if not groups:
            return items
        grouped = {i for idxs in groups.values() for i in idxs}
        kept = [it for i, it in enumerate(items) if i not in grouped]
        for prefix, idxs in groups.items():
            t = len(prefix)
            by_tag: dict[str | int, list[_Err]] = defaultdict(list)
            for i in idxs:
                by_tag[items[i].steps[t][0]].append(items[i])
            node = _data_at(data, list(prefix))
            union_t = _type_at(root, list(prefix))

            def branch(tag: str | int, union_t: Any = union_t) -> Any:
                return _unwrap(_step_type(union_t, tag)) if union_t is not None else None

            choice = None
            if len(by_tag) == 1:
                choice = next(iter(by_tag))
            elif isinstance(node, dict):
                models = [tag for tag in by_tag if _is_model(branch(tag))]
                if models:
                    choice = max(
                        models,
                        key=lambda tag: (len(set(node) & set(_field_names(branch(tag)))), -len(by_tag[tag])),
                    )
                else:
                    choice = next((tag for tag in by_tag if str(tag).startswith("dict[")), None)
            elif isinstance(node, list):
                choice = next((tag for tag in by_tag if str(tag).startswith(("list[", "tuple["))), None)
            if choice is not None:
                for it in by_tag[choice]:
                    it.steps[t] = (it.steps[t][0], "chosen")
                    kept.append(it)
            else:
                words = [
                    _TAG_WORDS.get(str(tag), "a list" if str(tag).startswith("list[") else str(tag))
                    for tag in by_tag
                ]
                expected = ", ".join(words[:-1]) + " or " + words[-1]
                kept.append(
                    _Err(
                        {"type": "union", "loc": (), "msg": f"expected {expected}", "input": node},
                        list(prefix),
                    )
                )
        items = kept


def _type_at(root: Any, steps: list[tuple[str | int, str]]) -> Any:
    t = root
    for step, _ in steps:
        if t is None:
            return None
        t = _step_type(t, step)
    return t


_IDENT_KEYS = ("id", "classification", "table", "count", "kind")


def context_path(
    data: Any, root: type[BaseModel], steps: list[tuple[str | int, str]], idents: dict[str, str] | None = None
) -> str:
    """`at Rule(id='htn.urgent_bp') > when > any[0] > fact`: from the nearest named ancestor."""
    start, label = 0, ""
    node, t = data, root
    parents: list[Any] = []
    for i, (step, kind) in enumerate(steps):
        t = _step_type(t, step) if t is not None else None
        if kind != "data":
            continue
        parents.append(node)
        node = node[step] if isinstance(node, (dict, list)) and _has(node, step) else None
        ut = _unwrap(t) if t is not None else None
        if isinstance(node, dict):
            key = next((k for k in _IDENT_KEYS if isinstance(node.get(k), str)), None)
            if key is not None:
                name = ut.__name__ if _is_model(ut) else "entry"
                start, label = i + 1, f"{name}({key}='{node[key]}')"
                continue
        if (
            _is_model(ut)
            and isinstance(parents[-1], dict)
            and len(parents) >= 2
            and isinstance(steps[i - 1][0], str)
            and steps[i - 1][0] in (idents or {})
        ):
            start, label = i + 1, f"{ut.__name__}(name='{step}')"
    rest = [(s, k) for s, k in steps[start:] if k == "data"]
    return "at " + render_path(rest, label)


def _has(node: Any, step: str | int) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(step, int) and 0 <= step < len(node)


def render_path(
    steps: typing.Sequence[tuple[str | int, str]] | typing.Sequence[str | int], label: str = ""
) -> str:
    out: list[str] = [label] if label else []
    for s in steps:
        step = s[0] if isinstance(s, tuple) else s
        if isinstance(step, int):
            if out:
                out[-1] += f"[{step}]"
            else:
                out.append(f"[{step}]")
        else:
            out.append(str(step))
    return " > ".join(out) if out else "top level"


_TRUTHY_WORDS = {
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "false",
    "True",
    "False",
    "YES",
    "NO",
    "Yes",
    "No",
    "On",
    "Off",
    "ON",
    "OFF",
}


def validation_problems(
    src: SourceFile,
    root: type[BaseModel],
    exc: ValidationError,
    data: Any,
    codes: dict[str, str] = G_CODES,
    named_dicts: typing.Iterable[str] = ("parameters",),
    where: typing.Callable[[Loc], tuple[Loc, str]] | None = None,
) -> list[Problem]:
    """One problem per bad node, at its file:line:col, with what would be right. `data` is what was
    validated; by default it is the whole file. `where` maps a path in `data` to (its path in the
    file, a context label) when `data` was assembled from parts of the file (a case's patient)."""
    idents = {k: "" for k in named_dicts}
    problems: list[Problem] = []
    seen: set[tuple] = set()
    items = _collapse(exc.errors(include_url=False), data, root)
    locs = [tuple(s for s, k in it.steps if k == "data") for it in items]
    for it, data_loc in zip(items, locs, strict=True):
        if any(len(other) > len(data_loc) and other[: len(data_loc)] == data_loc for other in locs):
            continue  # a complaint about a container whose item is reported is a consequence of it
        err = it.err
        etype = err["type"]
        value = err.get("input")
        at_key = False
        hint = None
        last = data_loc[-1] if data_loc else None
        if any(step == "[key]" for step, _ in it.steps):
            code, at_key = codes["type"], True
            message = f"key {_show(value)} is not text"
            hint = f'quote it: "{value}"' if isinstance(value, (int, float)) else "keys are names"
        elif etype == "extra_forbidden":
            code, at_key = codes["unknown_key"], True
            model = _unwrap(_type_at(root, it.steps[:-1]))
            allowed = _field_names(model) if _is_model(model) else []
            message = f"unknown key '{last}'"
            close = did_you_mean(str(last), allowed)
            hint = (
                f"did you mean '{close}'?"
                if close
                else (f"allowed here: {', '.join(allowed)}" if allowed else None)
            )
        elif etype == "missing":
            code, message = codes["missing"], f"missing key '{last}'"
            hint = f"add `{last}:`"
        elif etype == "bool_type" and isinstance(value, str):
            code, message = codes["type"], f"'{value}' is not true or false"
            hint = "write true or false" + (
                " (YAML 1.2 reads yes/no/on/off as text)" if value in _TRUTHY_WORDS else ""
            )
        elif (
            etype == "string_type"
            and isinstance(value, (int, float, _dt.date))
            and not isinstance(value, bool)
        ):
            line, col = locate(src.doc, where(data_loc)[0] if where else data_loc)
            token = src.token_at(line, col) or str(value)
            kind = "a date" if isinstance(value, _dt.date) else "a number"
            code, message = codes["type"], f"{token} is read as {kind} ({value!r}), not text"
            hint = f'quote it: "{token}"'
        elif etype in (
            "int_type",
            "float_type",
            "string_type",
            "bool_type",
            "dict_type",
            "list_type",
            "model_type",
            "int_from_float",
        ):
            want = {
                "int_type": "an integer",
                "int_from_float": "an integer",
                "float_type": "a number",
                "string_type": "text",
                "bool_type": "true or false",
                "dict_type": "a mapping",
                "list_type": "a list",
                "model_type": "a mapping",
            }[etype]
            code, message = codes["type"], f"expected {want}, got {_show(value)}"
        elif etype == "union":
            code, message = codes["type"], f"{err['msg']}; got {_show(value)}"
        elif etype in ("literal_error", "enum"):
            expected = err.get("ctx", {}).get("expected", "")
            options = re.findall(r"'([^']*)'", expected)
            code, message = codes["value"], f"{_show(value)} is not one of {expected}"
            close = did_you_mean(str(value), options) if options else None
            hint = f"did you mean '{close}'?" if close else f"write one of {expected}"
        elif etype == "string_pattern_mismatch":
            code, message = (
                codes["value"],
                f"{_show(value)} does not match {err.get('ctx', {}).get('pattern')}",
            )
            if last == "id":
                hint = "rule ids are <programme>.<finding> in lower case, e.g. htn.urgent_bp"
        else:
            code, message = codes["value"], f"{err['msg']}; got {_show(value)}"
        key = (code, data_loc, message)
        if key in seen:
            continue
        seen.add(key)
        if where is None:
            ctx = context_path(data, root, it.steps, idents)
            problems.append(src.problem(code, message, data_loc, hint=hint, at_key=at_key, context=ctx))
        else:
            file_loc, label = where(data_loc)
            ctx = "at " + render_path(list(data_loc), label)
            problems.append(src.problem(code, message, file_loc, hint=hint, at_key=at_key, context=ctx))
    return problems


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
