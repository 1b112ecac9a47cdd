"""Roster readers: each turns one source (a JSONL file, a set of CSV files, an XLSX workbook) into
a stream of `Item`s, one per rejectable unit (a JSONL line, a patients-table row with its joined
child rows, or a child row that could not be used), each with a raw record and a way to point a
field path back at a file, row and column. store/importer.py validates and stores them.

Formats are chosen by extension through the registry in store/readers/formats.py: .jsonl/.ndjson/
.json → JSONL; .csv → CSV (all CSV files of one directory given in one call form one set, joined on
patient id or resident ID); .xlsx/.xlsm and legacy .xls → a workbook whose sheets form one set;
.zip → an archive whose CSV/Excel members form one set (split exports: parts with the same headers
are one table). Tabular headers go through the alias table in store/readers/aliases.py and an
optional site mapping (store/readers/mapping.py).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pathways.errors import Problem, SangaoError
from store.readers.formats import BY_NAME, format_of, naming_hint

if TYPE_CHECKING:  # the registry is read at every start of the command line: keep this import light
    from store.validation import Loc

Locator = Callable[["Loc"], tuple[str, int, str | None]]


@dataclass
class Item:
    """One unit of a source that is imported or rejected as a whole."""

    file: str  # display name of the file holding the main row/line
    line: int  # 1-based line (JSONL) or spreadsheet row (CSV/XLSX)
    data: dict | None  # the raw record, None when unreadable
    patient_id: str | None = None
    problems: list[Problem] = field(default_factory=list)  # reader problems that reject it
    findings: list[Problem] = field(default_factory=list)  # reader findings, kept
    raw: str = ""  # the original text of the line/row, for the reject file
    rows: list[tuple[str, int]] = field(default_factory=list)  # child rows carried (tabular)
    locate: Locator | None = None  # field path → (file, row, column header)
    json_text: str | bytes | None = None  # JSONL: the line as read (bytes when UTF-8), for the JSON parsers
    events: dict | None = None  # an events file's rows for a stored patient: the stored person
    derived: set[str] = field(default_factory=set)  # fields filled by the reader, not read: never
    # replace a stored value (enrolled_on from the first visit, sex from the ID, a default …)


def _unknown() -> None:
    return None


@dataclass
class Source:
    """A unit of import: one transaction."""

    kind: str  # a format's name in store/readers/formats.py: "jsonl" | "csv" | "xlsx" | "xls" | "zip"
    paths: list[Path]
    encodings: dict[str, str] = field(default_factory=dict)  # display name → encoding found
    rows_read: dict[str, int] = field(default_factory=dict)  # display name → data rows/lines
    findings: list[Problem] = field(default_factory=list)  # about the source itself (ignored columns)
    # The share of the source read so far (0–1) for a progress bar's ETA, where the reader can tell
    # (JSONL: the file position), else None.
    fraction: Callable[[], float | None] = field(default=_unknown, repr=False, compare=False)

    @property
    def name(self) -> str:
        return ", ".join(p.name for p in self.paths)


def group_sources(paths: list[Path]) -> list[Source]:
    """Each file is a source of its own, except that the files of a per-folder format (CSV) in one
    directory form one set (a directory given as a path means all its *.csv files)."""
    sources: list[Source] = []
    csv_sets: dict[Path, Source] = {}
    expanded: list[Path] = []
    for path in paths:  # a directory stands for its CSV set
        expanded += sorted(path.glob("*.csv")) if path.is_dir() else [path]
    for path in expanded:
        fmt = format_of(path.suffix)
        if fmt is None:
            raise SangaoError.of("D030", variant="extension", file=str(path), name=path.name,
                                 names=naming_hint())
        if not fmt.per_folder:
            sources.append(Source(fmt.name, [path]))
            continue
        folder = path.resolve().parent
        if folder not in csv_sets:
            csv_sets[folder] = Source(fmt.name, [])
            sources.append(csv_sets[folder])
        csv_sets[folder].paths.append(path)
    return sources


def detect_encoding(path: Path, name: str | None = None) -> str:
    """ "utf-8-sig" (UTF-8 with BOM), "utf-8", or "gb18030" (covers GBK and GB2312), by decoding the
    whole file incrementally (flat memory). Raises a D030 problem when none fits."""
    with open(path, "rb") as f:
        head = f.read(3)
    candidates = ("utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8", "gb18030")
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    # `name`: an archive member's name, not its temporary copy
    raise SangaoError.of("D030", variant="encoding", file=name or str(path))


ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gb18030": "GB18030/GBK"}


def read_source(source: Source, mapping=None, register=None) -> Iterator[Item]:
    """The items of one source; raises SangaoError for a problem with the source as a whole.
    `register(patient_id)` gives a stored patient (a dict) or None: an events file adds rows to
    stored patients only."""
    return BY_NAME[source.kind].reader(source, mapping, register)
