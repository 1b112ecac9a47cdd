"""Strict YAML reading with positions, shared by the guideline loader (guidelines/loader.py) and the
cases loader (guidelines/cases_file.py).

A `SourceFile` keeps the ruamel round-trip tree (every node knows its line and column) beside the
plain Python values pydantic validates. `locate()` maps a pydantic `loc` back onto the tree
(docs/architecture.md §2.4); `validation_problems()` turns a `ValidationError` into one `Problem`
per bad node, collapsing the many errors a union produces into the branch the author meant.

YAML 1.2 traps handled here: `yes`/`no`/`on`/`off` stay strings (StrictBool rejects them: "write true
or false"); unquoted `2026.1` loads as a float and `0123` as 123 (a str field says "quote it");
duplicate keys fail naming both lines.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import re
import stat
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

from pathways.codes import lookup
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

    def problem_of(
        self, code: str, loc: Loc = (), *, at_key: bool = False, context: str | None = None, **fields: Any
    ) -> Problem:
        """A registered problem (`Problem.of`, Chinese and English) at the node `loc` points to."""
        line, col = locate(self.doc, loc, at_key=at_key)
        parts = [p for p in (context, excerpt(self.lines, line)) if p]
        return Problem.of(
            code, file=self.display, line=line, column=col, context="\n".join(parts) or None, **fields
        )

    def token_at(self, line: int, col: int) -> str:
        """The scalar as written at 1-based line/col (to show `2026.1` or `0123` as typed)."""
        if not 0 < line <= len(self.lines):
            return ""
        m = re.match(r"[^,#}\]\s]+", self.lines[line - 1][col - 1 :])
        return m.group(0) if m else ""


def load_yaml(yaml: YAML, text: str):
    """`yaml.load(text)`. A mapping written as a key that holds another mapping (`? {a: {b: 1}}`)
    makes the round-trip loader raise a bare TypeError (it cannot hash the key); the safe loader
    raises the same thing as a ConstructorError with its place, which callers report like any other
    YAML error."""
    try:
        return yaml.load(text)
    except TypeError:
        YAML(typ="safe", pure=True).load(text)  # raises "found unhashable key" at the key
        raise


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
    "refused": "G114",
}
T_CODES = {
    "unreadable": "T110",
    "syntax": "T111",
    "duplicate": "T112",
    "unknown_key": "T113",
    "type": "T114",
    "missing": "T115",
    "value": "T116",
    "refused": "T123",
}

# What sangao reads from a set, at most (a guideline file of the national set is under 40 KB): the
# limits stop a hostile or broken file before it costs minutes or gigabytes (an alias bomb, a FIFO).
MAX_BYTES = 1_000_000
MAX_ALIASES = 100         # references to an anchored mapping or list
MAX_DEPTH = 64            # nested mappings and lists, aliases followed
MAX_NODES = 200_000       # mappings, lists and values, aliases expanded


# Parsed trees by file text: ruamel's round-trip parser is pure Python (~0.3 s for the
# national set) and tests and tools load the same set many times. Trees are never mutated.
_PARSED: dict[str, Any] = {}


def read_yaml(path: Path, codes: dict[str, str] = G_CODES) -> SourceFile:
    """Parse one YAML file. Raises SangaoError: unreadable, syntax, or duplicate keys (every one, both
    lines)."""
    display = display_path(path)
    text = _read_text(path, display, codes)
    lines = text.splitlines()
    if text in _PARSED:
        return SourceFile(path, display, lines, _PARSED[text])
    try:
        doc = load_yaml(_yaml(), text)
    except RecursionError:  # the parser recurses per level: thousands of levels end here
        raise SangaoError.of(codes["refused"], variant="depth", limit=MAX_DEPTH, file=display) from None
    except DuplicateKeyError:
        raise SangaoError(_duplicate_keys(text, display, lines, codes["duplicate"])) from None
    except ValueError:  # ruamel builds dates while loading: 2026-13-29 raises without a place
        raise SangaoError(_bad_dates(text, display, lines, codes["syntax"])) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        parser = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SangaoError(
            [
                Problem.of(
                    codes["syntax"],
                    file=display,
                    line=line,
                    column=col,
                    context=excerpt(lines, line) if line else None,
                    parser=parser,
                    **explain_syntax(parser, lines, line),
                )
            ]
        ) from None
    except ReaderError as exc:  # a character YAML does not allow (a control character)
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        char = f" U+{exc.character:04X}" if isinstance(exc.character, int) else ""
        raise SangaoError([Problem.of(
            codes["syntax"], file=display, line=line, context=excerpt(lines, line) if line else None,
            parser=f"{exc.reason}{char}",
            what_zh=f"文件含有 YAML 不允许的字符{char}", what_en=f"a character YAML does not allow{char}",
            fix_zh="删去这个控制字符（通常是从别处复制来的）",
            fix_en="delete the control character (usually pasted from elsewhere)")]) from None
    except TypeError:  # a key that is a list or mapping (`? [a]: b`, `[[]]: x`) cannot be a key
        raise SangaoError([Problem.of(
            codes["syntax"], file=display, parser="a key is a list or a mapping",
            what_zh="有一个键是列表或映射", what_en="a key is a list or a mapping",
            fix_zh="键是名称：写成 `名称: 值`", fix_en="keys are names: write `name: value`")]) from None
    _check_shape(doc, display, lines, codes["refused"])
    if len(_PARSED) > 256:
        _PARSED.clear()
    _PARSED[text] = doc
    return SourceFile(path, display, lines, doc)


# What the parser's sentence usually means, in plain words, and the likely fix (zh, en).
_SYNTAX: tuple[tuple[str, str, str, str, str], ...] = (
    ("found character '\\t'",
     "用了 Tab 缩进：YAML 只能用空格缩进", "a tab character: YAML indents with spaces only",
     "把 Tab 换成空格", "replace the tab with spaces"),
    ("expected <block end>",
     "缩进与上面的行不一致：同一层的键或列表项（-）必须从同一列开始",
     "the indentation does not match the lines above: keys or list items (-) of one level start "
     "in the same column",
     "让这一行与上面同一层的行对齐（空格数相同）", "line this line up with the lines of its level above it "
     "(the same number of spaces)"),
    ("did not find expected",
     "缩进与上面的行不一致", "the indentation does not match the lines above",
     "让这一行与上面同一层的行对齐（空格数相同）",
     "line this line up with the lines of its level above it (the same number of spaces)"),
    ("mapping values are not allowed",
     "值里有“: ”，或这一行比上一行的键缩进得更深",
     "a value holds ': ', or this line is indented deeper than the key above it",
     "值里有冒号就给整个值加引号（\"…\"），否则对齐缩进",
     "quote the whole value (\"…\") if it holds a colon, else fix the indentation"),
    ("could not find expected ':'",
     "这一行既不是“键: 值”也不是“- 项”", "this line is neither `key: value` nor `- item`",
     "在键后写英文冒号和一个空格（键: 值）", "write a colon and a space after the key (key: value)"),
    ("scanning a quoted scalar",
     "引号打开后没有关上", "a quote is opened and never closed",
     "在同一行关上引号", "close the quote on the same line"),
    ("flow mapping",
     "花括号 { 没有关上，或缺少逗号", "a `{` is not closed, or a comma is missing",
     "在同一行写 }，项之间用“, ”分隔", "close it with `}` on the same line; separate items with `, `"),
    ("flow sequence",
     "方括号 [ 没有关上，或缺少逗号", "a `[` is not closed, or a comma is missing",
     "在同一行写 ]，项之间用“, ”分隔", "close it with `]` on the same line; separate items with `, `"),
    ("undefined alias",
     "*名称 引用了一个没有定义的锚点（&名称）", "`*name` refers to an anchor `&name` that is not defined",
     "文字里的 * 要加引号", "quote the text if the `*` is meant literally"),
)


def explain_syntax(parser: str, lines: list[str], line: int | None) -> dict[str, str]:
    """Plain words and the likely fix for a YAML parser error (fields of G101/T111)."""
    near = [lines[n - 1] for n in (line - 1 if line else 0, line or 0) if 0 < n <= len(lines)]
    if any("：" in text for text in near):
        return {
            "what_zh": "用了中文全角冒号“：”", "what_en": "a full-width colon '：'",
            "fix_zh": "键后写英文冒号和一个空格（键: 值）",
            "fix_en": "write an ASCII colon and a space after the key (key: value)",
        }
    for needle, what_zh, what_en, fix_zh, fix_en in _SYNTAX:
        if needle in parser:
            return {"what_zh": what_zh, "what_en": what_en, "fix_zh": fix_zh, "fix_en": fix_en}
    return {
        "what_zh": "解析器无法读取这一处", "what_en": "the parser cannot read this place",
        "fix_zh": "检查这一行和上一行的缩进（只用空格）和引号",
        "fix_en": "check the indentation (spaces only) and the quotes of this line and the one above",
    }


def _read_text(path: Path, display: str, codes: dict[str, str]) -> str:
    """The file's text: a regular file (a FIFO would block), at most MAX_BYTES, UTF-8, no NUL."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SangaoError.of(codes["refused"], variant="not_regular", file=display)
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SangaoError.of(codes["unreadable"], variant="unreadable", reason=str(exc),
                             file=display) from None
    if len(data) > MAX_BYTES:
        raise SangaoError.of(codes["refused"], variant="size", limit=MAX_BYTES, file=display)
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        column = nul - (data.rfind(b"\n", 0, nul) + 1) + 1
        raise SangaoError.of(codes["refused"], variant="nul", file=display, line=line, column=column)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SangaoError.of(codes["unreadable"], variant="unreadable", reason=str(exc),
                             file=display) from None


def _check_shape(doc: Any, display: str, lines: list[str], code: str) -> None:
    """Aliases, depth and size of the tree as the loader will expand it, computed without
    expanding it (each mapping or list visited once; shared ones are aliases)."""
    seen: set[int] = set()
    aliases = 0
    height: dict[int, int] = {}
    size: dict[int, int] = {}
    stack: list[tuple[Any, bool, tuple[int, int] | None]] = [(doc, False, None)]
    while stack:
        node, done, where = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        children = list(node.values()) if isinstance(node, dict) else list(node)
        if done:
            kids = [c for c in children if isinstance(c, (dict, list))]
            if any(id(c) not in height for c in kids):  # an alias to an ancestor: endless when expanded
                raise SangaoError.of(code, variant="depth", limit=MAX_DEPTH, file=display)
            height[id(node)] = 1 + max((height[id(c)] for c in kids), default=0)
            size[id(node)] = 1 + len(children) + sum(size[id(c)] - 1 for c in kids)
            continue
        if id(node) in seen:
            aliases += 1
            if aliases > MAX_ALIASES:
                line, col = where or (1, 1)
                raise SangaoError.of(code, variant="aliases", limit=MAX_ALIASES, file=display, line=line,
                                     column=col, context=excerpt(lines, line))
            continue
        seen.add(id(node))
        stack.append((node, True, where))
        for i in reversed(range(len(children))):  # reversed: visited in document order
            if isinstance(children[i], (dict, list)):
                stack.append((children[i], False, _child_place(node, i)))
    if height.get(id(doc), 0) > MAX_DEPTH:
        raise SangaoError.of(code, variant="depth", limit=MAX_DEPTH, file=display)
    if size.get(id(doc), 0) > MAX_NODES:
        raise SangaoError.of(code, variant="nodes", limit=MAX_NODES, file=display)


def _child_place(node: Any, index: int) -> tuple[int, int] | None:
    """1-based line and column where a container's `index`-th child is written (for an alias: the
    key or item that names it)."""
    try:
        if isinstance(node, CommentedMap):
            line, col = node.lc.key(list(node)[index])  # the value's place is its anchor's
        elif isinstance(node, CommentedSeq):
            line, col = node.lc.item(index)
        else:
            return None
    except (KeyError, IndexError, AttributeError, TypeError):
        return None
    return line + 1, col + 1


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
                    Problem.of(
                        code, variant="date", value=str(node.value), file=display, line=line, column=col,
                        context=excerpt(lines, line),
                    )
                )
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0)) or [
        Problem.of(code, variant="date_unknown", file=display)
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
                        Problem.of(
                            code, name=name, first=seen[name], file=display, line=line, column=col,
                            context=excerpt(lines, line),
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

_TAG_WORDS = {  # (zh, en)
    "bool": ("true/false", "true/false"),
    "int": ("整数", "an integer"),
    "float": ("数", "a number"),
    "str": ("文字", "text"),
    "ParamRef": ("{param: 名称}", "{param: name}"),
    "FactRef": ("{fact: 名称}", "{fact: name}"),
    "Compare": ("比较 {fact: …, gte: …}", "a comparison {fact: …, gte: …}"),
    "All": ("{all: [...]}", "{all: [...]}"),
    "AnyOf": ("{any: [...]}", "{any: [...]}"),
    "Not": ("{not: …}", "{not: …}"),
    "AtLeast": ("{at_least: n, of: [...]}", "{at_least: n, of: [...]}"),
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
                    _TAG_WORDS.get(str(tag), ("列表",
                                              "a list") if str(tag).startswith("list[") else (str(tag),) * 2)
                    for tag in by_tag
                ]
                want = ", ".join(w[1] for w in words[:-1]) + " or " + words[-1][1]
                want_zh = "、".join(w[0] for w in words[:-1]) + " 或 " + words[-1][0]
                kept.append(
                    _Err(
                        {"type": "union", "loc": (), "want": want, "want_zh": want_zh, "input": node},
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
        last = data_loc[-1] if data_loc else None
        got = {"got": _show(value), "got_zh": _show(value, "zh")}
        fields: dict[str, Any]
        if any(step == "[key]" for step, _ in it.steps):
            code, at_key = codes["type"], True
            number = isinstance(value, (int, float))
            fields = {"variant": "key" if number else "key_name", "value": value, **got}
        elif etype == "extra_forbidden":
            code, at_key = codes["unknown_key"], True
            model = _unwrap(_type_at(root, it.steps[:-1]))
            allowed = _field_names(model) if _is_model(model) else []
            close = did_you_mean(str(last), allowed)
            fields = {"key": last}
            if close:
                fields |= {"variant": "close", "close": close}
            elif allowed:
                fields |= {"variant": "allowed", "allowed": ", ".join(allowed)}
        elif etype == "missing":
            code, fields = codes["missing"], {"key": last}
        elif etype == "bool_type" and isinstance(value, str):
            code = codes["type"]
            fields = {"variant": "bool_word" if value in _TRUTHY_WORDS else "bool", "value": value}
        elif (
            etype == "string_type"
            and isinstance(value, (int, float, _dt.date))
            and not isinstance(value, bool)
        ):
            line, col = locate(src.doc, where(data_loc)[0] if where else data_loc)
            token = src.token_at(line, col) or str(value)
            date = isinstance(value, _dt.date)
            code = codes["type"]
            fields = {
                "variant": "read_as", "token": token, "value": repr(value),
                "kind": "a date" if date else "a number", "kind_zh": "日期" if date else "数",
            }
        elif etype in _WANT:
            code, fields = codes["type"], {"want": _WANT[etype][1], "want_zh": _WANT[etype][0], **got}
        elif etype == "union":
            code = codes["type"]
            fields = {"variant": "union", "want": err["want"], "want_zh": err["want_zh"], **got}
        elif etype in ("literal_error", "enum"):
            expected = err.get("ctx", {}).get("expected", "")
            options = re.findall(r"'([^']*)'", expected)
            close = did_you_mean(str(value), options) if options else None
            code, fields = codes["value"], {"expected": expected, **got}
            if close:
                fields |= {"variant": "close", "close": close}
        elif etype == "string_pattern_mismatch":
            code = codes["value"]
            fields = {
                "variant": "rule_id" if last == "id" else "pattern",
                "pattern": err.get("ctx", {}).get("pattern"), **got,
            }
        else:
            code, fields = codes["value"], {"variant": "other", "msg": err["msg"], **got}
        message = lookup(code).message("en", fields)
        key = (code, data_loc, message)
        if key in seen:
            continue
        seen.add(key)
        if where is None:
            ctx = context_path(data, root, it.steps, idents)
            problems.append(src.problem_of(code, data_loc, at_key=at_key, context=ctx, **fields))
        else:
            file_loc, label = where(data_loc)
            ctx = "at " + render_path(list(data_loc), label)
            problems.append(src.problem_of(code, file_loc, at_key=at_key, context=ctx, **fields))
    return problems


def _show(value: Any, lang: str = "en") -> str:
    zh = lang == "zh"
    if isinstance(value, dict):
        return "映射" if zh else "a mapping"
    if isinstance(value, list):
        return "列表" if zh else "a list"
    if value is None:
        return "空值（null）" if zh else "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# What a pydantic type error expected, in words (zh, en).
_WANT = {
    "int_type": ("整数", "an integer"),
    "int_from_float": ("整数", "an integer"),
    "float_type": ("数", "a number"),
    "string_type": ("文字", "text"),
    "bool_type": ("true 或 false", "true or false"),
    "dict_type": ("映射", "a mapping"),
    "list_type": ("列表", "a list"),
    "model_type": ("映射", "a mapping"),
}
