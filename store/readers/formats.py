"""The roster file formats sangao reads, in one registry: each format's name, the file-name suffixes
that choose it, whether the files of one folder form one set, the reader that turns it into items,
and its description in Chinese and English (the `roster import --help` list is made from it).

Cheap to import (the standard library only; a reader is imported when it is first used): the
command line builds its help from this module at every start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.readers import Item, Source


def _read_jsonl(source: Source, mapping, register) -> Iterator[Item]:
    from store.readers.jsonl import read_jsonl

    return read_jsonl(source)


def _read_tabular(source: Source, mapping, register) -> Iterator[Item]:
    from store.readers.tabular import read_tabular

    return read_tabular(source, mapping, register)


@dataclass(frozen=True)
class Format:
    """One roster file format."""

    name: str  # the Source.kind of its sources
    suffixes: tuple[str, ...]  # lower case, with the dot
    reader: Callable[..., Iterator[Item]]  # (source, mapping, register) → items
    zh: str  # what it is, for the help text
    en: str
    per_folder: bool = False  # the files of one folder named together form one set
    short_zh: str = ""  # a word after its suffix where a file is to be renamed: ".jsonl (interchange)"
    short_en: str = ""

    def describe(self, lang: str) -> str:
        """"CSV（.csv）" / "CSV (.csv)": what it is and its suffixes."""
        if lang == "zh":
            return f"{self.zh}（{'、'.join(self.suffixes)}）"
        return f"{self.en} ({', '.join(self.suffixes)})"


# In the order the help lists them.
FORMATS: tuple[Format, ...] = (
    Format("jsonl", (".jsonl", ".ndjson", ".json"), _read_jsonl,
           "JSONL 交换格式", "JSONL, the interchange format", short_zh="交换格式", short_en="interchange"),
    Format("csv", (".csv",), _read_tabular, "CSV", "CSV", per_folder=True),
    Format("xlsx", (".xlsx", ".xlsm"), _read_tabular, "Excel 工作簿", "an Excel workbook"),
    Format("xls", (".xls",), _read_tabular, "旧版 Excel 工作簿", "a legacy Excel workbook"),
    Format("zip", (".zip",), _read_tabular,
           "分拆为多个 CSV/Excel 文件的压缩包", "a .zip of split CSV/Excel parts"),
)


def formats_help(lang: str) -> str:
    """The list of formats for a help text: "JSONL 交换格式（.jsonl、…）、CSV（.csv）…"."""
    described = [f.describe(lang) for f in FORMATS]
    if lang == "zh":
        return "、".join(described[:-1]) + "，或" + described[-1]
    return ", ".join(described[:-1]) + " or " + described[-1]


def suffixes_help(lang: str) -> str:
    """The `roster import FILE` help: each format's first suffix, and how a per-folder one's files
    are grouped: ".jsonl、.csv（每个目录一组；给目录即其中全部 *.csv）、.xlsx、.xls、.zip"."""
    def one(f: Format) -> str:
        first = f.suffixes[0]
        if not f.per_folder:
            return first
        if lang == "zh":
            return f"{first}（每个目录一组；给目录即其中全部 *{first}）"
        return f"{first} (a set per directory; a directory means its *{first})"

    return ("、" if lang == "zh" else ", ").join(one(f) for f in FORMATS)


def naming_hint() -> dict[str, str]:
    """The names a file of no known format could take, as the D030 hint's field in both languages:
    ".jsonl（交换格式）、.csv、.xlsx、.xls 或 .zip"."""
    zh = [f.suffixes[0] + (f"（{f.short_zh}）" if f.short_zh else "") for f in FORMATS]
    en = [f.suffixes[0] + (f" ({f.short_en})" if f.short_en else "") for f in FORMATS]
    return {"zh": "、".join(zh[:-1]) + " 或 " + zh[-1], "en": ", ".join(en[:-1]) + " or " + en[-1]}


BY_NAME = {f.name: f for f in FORMATS}
BY_SUFFIX = {suffix: f for f in FORMATS for suffix in f.suffixes}


def format_of(suffix: str) -> Format | None:
    """The format a file-name suffix (".CSV", ".jsonl" …) chooses, or None."""
    return BY_SUFFIX.get(suffix.lower())
