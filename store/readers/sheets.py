"""Opening the files of a tabular source as sheets of header + rows: CSV (UTF-8, BOM, GB2312/
GB18030, delimiter sniffed), .xlsx/.xlsm (openpyxl, read-only), legacy .xls (xlrd), and .zip
archives of split exports (each part with its own header row; member names written in GBK by
Chinese Windows are decoded as such).

Headers of any number of rows (up to MAX_HEADER_ROWS) under an optional title row: a row is one
more header row when it holds only text (no number or date, as every data row has the resident ID
or a date) and names a column under a merged (blank) cell. A column is then named by its path,
`parent/leaf` or `高血压患者/最后一次随访血压/收缩压` (a merged cell carried across the blank cells
it spans), so 左侧/收缩压 and 右侧/收缩压 stay apart; `Sheet.parts` keeps (parent, leaf) per column
for recognition. A first row with a single name (高血压患者随访服务记录表) is a title: not part of
the paths, but a hint of the form. Row numbers stay spreadsheet rows.
"""

from __future__ import annotations

import csv
import io
import itertools
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pathways.errors import Problem, SangaoError
from store import scratch
from store.readers import Source, detect_encoding, zip_members
from store.readers.aliases import (
    CellError,
    header_code,
    is_empty,
    normalize_header,
    parse_date,
    parse_number,
)

SHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")


@dataclass
class Sheet:
    name: str  # display name: the file, `file[sheet]`, or `archive.zip!member`
    stem: str  # file stem or sheet title, for role and form hints
    headers: list[str]
    rows: Iterator[tuple[int, tuple]]  # (spreadsheet row, cells), blank rows skipped
    parts: dict[int, tuple[str, str]] = field(default_factory=dict)  # column → (parent, leaf)
    header_rows: int = 1
    outer: list[str] = field(default_factory=list)  # the stems of the file and archive holding it
    _ambiguous: set[str] | None = None

    @property
    def ambiguous(self) -> set[str]:
        """Header names (normalised) that two columns share, told apart only by their system code
        suffixes (`血压-左侧-LEFTPRE`, `血压-左侧-LEFTHEIGHT`): never recognised by name alone."""
        if self._ambiguous is None:
            codes: dict[str, set[str]] = {}
            for header in self.headers:
                if code := header_code(header):
                    codes.setdefault(normalize_header(header), set()).add(code)
            self._ambiguous = {key for key, found in codes.items() if len(found) > 1}
        return self._ambiguous


def open_sheets(source: Source, closers: list) -> list[Sheet]:
    """Every sheet of the source's files; raises SangaoError (D030) for a file that cannot be read."""
    sheets: list[Sheet] = []
    for path in source.paths:
        sheets += _open_file(path, str(path), path.stem, source, closers)
    return sheets


def _within(sheets: list[Sheet], stem: str) -> list[Sheet]:
    for sheet in sheets:
        if sheet.stem != stem:
            sheet.outer.append(stem)
    return sheets


def _open_file(path: Path, name: str, stem: str, source: Source, closers: list) -> list[Sheet]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        sheet = _csv_sheet(path, name, stem, source, closers)
        if sheet is None:  # empty, a BOM alone, or blank lines only
            raise SangaoError.of("D030", variant="empty", file=name)
        return [sheet]
    if suffix in (".xlsx", ".xlsm"):
        return _within(_xlsx_sheets(path, name, source, closers), stem)
    if suffix == ".xls":
        return _within(_xls_sheets(path, name, source), stem)
    if suffix == ".zip":
        return _within(_zip_sheets(path, name, source, closers), stem)
    return []


def _csv_sheet(path: Path, name: str, stem: str, source: Source, closers: list) -> Sheet:
    encoding = detect_encoding(path, name)
    source.encodings[name] = encoding
    f = open(path, encoding=encoding, newline="")  # noqa: SIM115  (closed by the reader's closers)
    closers.append(f.close)
    first = f.readline()
    f.seek(0)
    reader = csv.reader(f, delimiter=max((",", "\t", ";"), key=first.count))
    rows = zip(itertools.count(1), map(tuple, reader))  # (row number, cells), no Python frame per row
    return _sheet(name, stem, _located_csv_errors(rows, reader, name), _csv_filled)


def _located_csv_errors(rows: Iterator[tuple[int, tuple]], reader, name: str) -> Iterator[tuple[int, tuple]]:
    """`rows`, with the csv module's error (a cell over its 131,072-character limit, a NUL byte)
    turned into a D030 naming the file and line."""
    try:
        yield from rows
    except csv.Error as exc:
        raise SangaoError.of("D030", variant="csv", file=name, line=reader.line_num,
                             reason=str(exc)) from None


def _csv_filled(row: tuple[int, tuple[str, ...]]) -> bool:
    return any(map(str.strip, row[1]))  # a cell with more than white space


def _xlsx_sheets(path: Path, name: str, source: Source, closers: list) -> list[Sheet]:
    import openpyxl

    # The file is opened here, not by openpyxl: a workbook it refuses half-way would leave its
    # handle open (one per damaged file, found by tests/test_fuzz_xlsx.py).
    f = open(path, "rb")  # noqa: SIM115  (closed by the reader's closers)
    closers.append(f.close)
    try:
        workbook = openpyxl.load_workbook(f, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or non-xlsx file
        raise SangaoError.of("D030", variant="workbook", file=name, reason=str(exc)) from None
    closers.append(workbook.close)
    sheets = []
    for ws in workbook.worksheets:
        sheet_name = f"{name}[{ws.title}]"
        rows = _located_sheet_errors(_xlsx_rows(workbook, ws), sheet_name)
        sheet = _sheet(sheet_name, ws.title, rows, lambda row: any(not is_empty(c) for c in row[1]))
        if sheet is not None:
            source.encodings[sheet_name] = "xlsx"
            sheets.append(sheet)
    return sheets


class Uncached:
    """A formula cell with no saved value: the workbook was written by a program and never opened
    in Excel or WPS, which store each formula's result. openpyxl reads it as empty; it is never
    read so (store/readers/cells.py refuses its row, D019, or reports it, D116)."""

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        self.ref = ref  # the cell reference, B3

    def __str__(self) -> str:  # a header, or the reject file's raw column: as openpyxl shows it
        return ""

    def __repr__(self) -> str:
        return f"Uncached({self.ref!r})"


def _xlsx_rows(workbook, ws) -> Iterator[tuple[int, tuple]]:
    """(spreadsheet row, values) of a read-only sheet, a formula cell with no saved value as
    `Uncached`. Only a sheet whose XML holds a formula is read a second time, for the cells."""
    rows = enumerate(ws.iter_rows(values_only=True), start=1)  # from A1, whatever the dimension
    # openpyxl's own names for the sheet's part and the archive: no public way to stream the XML
    source = (workbook._archive, ws._worksheet_path)
    marks = _uncached_cells(*source) if _has_formulas(*source) else {}
    if not marks:
        yield from rows
        return
    for number, row in rows:
        found = marks.get(number)
        if found:
            cells = list(row)
            for column, ref in found:
                if column <= len(cells) and cells[column - 1] is None:
                    cells[column - 1] = Uncached(ref)
            row = tuple(cells)
        yield number, row


# Every formula element has an `f` followed by a space, `>` or `/` (<f>, </f>, <x:f>, <f t="shared"
# si="0"/>). Text such as "of " matches too and costs only the second pass; the pattern is a plain
# byte search (memchr on `f`), 7 ms over a 20,000-row sheet's 11 MB where `<(\w+:)?f` took 45.
_FORMULA_TAG = re.compile(rb"f[\s>/]")


def _has_formulas(archive: zipfile.ZipFile, part: str) -> bool:
    """Whether the sheet's XML holds a formula: one streamed pass over the bytes, no parsing."""
    tail = b""
    with archive.open(part) as src:
        while chunk := src.read(1 << 20):
            if _FORMULA_TAG.search(tail + chunk if tail else chunk):
                return True
            tail = chunk[-1:]  # a tag split across two chunks
    return False


def _uncached_cells(archive: zipfile.ZipFile, part: str) -> dict[int, list[tuple[int, str]]]:
    """row → [(column, reference)] of the formula cells with no saved value: an <f> with no <v>
    or an empty one, unless the cell is typed as text (t="str": a formula whose result is the empty
    string, as Excel saves =IF(…,"")). Rows and columns are counted as openpyxl counts them."""
    from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter
    from openpyxl.xml.functions import iterparse  # defusedxml when installed, as openpyxl reads

    marks: dict[int, list[tuple[int, str]]] = {}
    row = column = 0
    with archive.open(part) as src:
        for event, element in iterparse(src, events=("start", "end")):
            tag = element.tag.rpartition("}")[2]
            if event == "start":
                if tag == "row":
                    r = element.get("r")
                    row = int(float(r)) if r else row + 1
                    column = 0
                continue
            if tag == "c":
                ref = element.get("r")
                if ref:
                    row, column = coordinate_to_tuple(ref)
                else:
                    column += 1
                formula = value = None
                for child in element:
                    kind = child.tag.rpartition("}")[2]
                    if kind == "f":
                        formula = child
                    elif kind == "v":
                        value = child.text
                if formula is not None and not value and element.get("t") not in ("str", "inlineStr"):
                    marks.setdefault(row, []).append((column, f"{get_column_letter(column)}{row}"))
            elif tag == "row":
                element.clear()  # bounded memory: a sheet is streamed
    return marks


def _located_sheet_errors(rows: Iterator[tuple[int, tuple]], name: str) -> Iterator[tuple[int, tuple]]:
    """`rows` of a workbook sheet, with damaged XML or a damaged compressed part turned into a
    D030 naming the sheet (openpyxl reads both lazily, row by row)."""
    from xml.etree.ElementTree import ParseError

    last = 0
    try:
        for last, row in rows:  # noqa: B007  (`last` names the row after which it broke)
            yield last, row
    except (ParseError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError) as exc:
        raise SangaoError.of("D030", variant="sheet_damaged", file=name, last=last,
                             kind=type(exc).__name__) from None


def _xls_sheets(path: Path, name: str, source: Source) -> list[Sheet]:
    """Legacy Excel 97–2003 workbooks (BIFF) through xlrd; cells typed as dates become dates."""
    import xlrd

    try:
        # xlrd writes its warnings about a damaged file to stdout unless given a log of its own
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())
    except Exception as exc:  # xlrd raises XLRDError, struct errors … for a damaged file
        raise SangaoError.of("D030", variant="xls", file=name, reason=str(exc)) from None
    sheets = []
    for index in range(book.nsheets):
        try:
            ws = book.sheet_by_index(index)  # on_demand: each sheet's records are parsed here
        except Exception as exc:  # a damaged sheet (struct.error, XLRDError …): tests/test_fuzz_xls.py
            raise SangaoError.of("D030", variant="xls", file=name, reason=str(exc)) from None

        def cells(ws=ws) -> Iterator[tuple[int, tuple]]:
            for r in range(ws.nrows):
                row = []
                for c in range(ws.ncols):
                    cell = ws.cell(r, c)
                    if cell.ctype == xlrd.XL_CELL_DATE:
                        try:
                            row.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                        except (OverflowError, ValueError):  # a serial past year 9999: the cell's
                            row.append(cell.value)            # parser refuses the number, located
                    elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        row.append(None)
                    else:
                        row.append(cell.value)
                yield r + 1, tuple(row)

        sheet_name = f"{name}[{ws.name}]"
        sheet = _sheet(sheet_name, ws.name, cells(), lambda row: any(not is_empty(c) for c in row[1]))
        if sheet is not None:
            source.encodings[sheet_name] = "xls"
            sheets.append(sheet)
    return sheets


def member_name(info: zipfile.ZipInfo) -> str:
    """Zip member names without the UTF-8 flag are CP437 by the format, GBK by Chinese Windows."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _zip_sheets(path: Path, name: str, source: Source, closers: list) -> list[Sheet]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        # a damaged directory; ValueError: a name flagged UTF-8 that is not (UnicodeDecodeError)
        raise SangaoError.of("D030", variant="archive", file=name, reason=str(exc)) from None
    folder = scratch.temporary_directory("zip-")  # owner-only, swept after a kill (store/scratch.py)
    closers.append(folder.cleanup)
    sheets: list[Sheet] = []
    budget = zip_members.Budget()
    with archive:
        members = sorted(
            ((member_name(i), i) for i in archive.infolist()
             # not ZipInfo.is_dir(): it raises IndexError on a member with an empty name
             if not i.filename.endswith("/") and not member_name(i).startswith("__MACOSX/")),
            key=lambda pair: pair[0],
        )
        for (first, _), (second, _) in itertools.pairwise(members):
            if first == second:  # which of the two is the export? Neither may be guessed
                raise SangaoError.of("D030", variant="archive_twice", file=name, member=first)
        for index, (member, info) in enumerate(members):
            inner = Path(member)
            if inner.suffix.lower() not in SHEET_SUFFIXES:
                source.findings.append(
                    Problem.of(
                        "D108",
                        file=name,
                        what={
                            "en": f"archive member {member!r} is not a CSV or Excel file; ignored",
                            "zh": f"压缩包中的 {member} 不是 CSV 或 Excel 文件；未读取",
                        },
                    )
                )
                continue
            target = Path(folder.name) / f"{index}{inner.suffix.lower()}"
            try:  # streamed, with caps on size and expansion (D032): store/readers/zip_members.py
                zip_members.extract(archive, info, target, name, member, budget)
            except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
                    EOFError, OSError, ValueError) as exc:
                # encrypted (RuntimeError), AES or another method (NotImplementedError), a bad CRC or
                # stream (BadZipFile, zlib/lzma errors; bz2 raises OSError), a local header whose name
                # is flagged UTF-8 but is not (UnicodeDecodeError)
                raise SangaoError.of("D030", variant="archive_member", file=name, member=member,
                                     reason=str(exc)) from None
            sheets += _open_file(target, f"{name}!{member}", inner.stem, source, closers)
    return sheets


# ---- headers ------------------------------------------------------------------------------------


def _looks_like_data(cell) -> bool:
    if isinstance(cell, (int, float, date, datetime)) and not isinstance(cell, bool):
        return True
    text = str(cell).strip()
    for parse in (parse_number, parse_date):
        try:
            parse(text)
            return True
        except CellError:
            pass
    return len(text) >= 15 and text[:15].isdigit()  # a resident ID


MAX_HEADER_ROWS = 6  # header rows read above the data (a title row not counted)


def _texts(cells: tuple) -> list[str]:
    return ["" if is_empty(c) else str(c).strip().lstrip("\ufeff") for c in cells]


def _continues_header(above: list[str], cells: tuple) -> bool:
    """A row is one more header row when it holds no data (every data row has the resident ID, a
    number or a date) and sits under a merged cell: a name under a blank whose row has a name to
    its left (the merged parent spans it)."""
    texts = _texts(cells)
    if any(_looks_like_data(c) for c in cells if not is_empty(c)):
        return False
    return any(
        texts[i] and (i >= len(above) or not above[i]) and any(above[: min(i, len(above))])
        for i in range(len(texts))
    )


def _sheet(name: str, stem: str, rows: Iterator[tuple[int, tuple]], filled) -> Sheet | None:
    rows = filter(filled, rows)  # `filled((number, cells))`: blank rows skipped
    block: list[list[str]] = []
    for row in rows:
        if block and (len(block) == MAX_HEADER_ROWS or not _continues_header(block[-1], row[1])):
            rows = itertools.chain((row,), rows)
            break
        block.append(_texts(row[1]))
    if not block:
        return None
    width = max(map(len, block))
    block = [b + [""] * (width - len(b)) for b in block]
    title = None
    if len(block) > 1 and width > 1 and sum(1 for t in block[0] if t) == 1:
        title = next(t for t in block[0] if t)  # a title row (高血压患者随访服务记录表) names the form
        block = block[1:]
    if len(block) == 1:
        sheet = Sheet(name, stem, block[0], rows, header_rows=1 + (title is not None))
    else:
        headers, parts = _paths(block, width)
        sheet = Sheet(name, stem, headers, rows, parts, header_rows=len(block) + (title is not None))
    if title is not None:
        sheet.outer.append(title)
    return sheet


def _paths(block: list[list[str]], width: int) -> tuple[list[str], dict[int, tuple[str, str]]]:
    """Header rows → one path per column (`高血压患者/最后一次随访血压/收缩压`): a blank cell
    continues the merged cell to its left when a name sits below it and the row above starts
    nothing new there; the leaf is the lowest name. `parts` keeps (parent, leaf) of a leaf with a
    parent, for recognition (左侧 + 收缩压)."""
    levels = len(block)
    carried = [[""] * width for _ in range(levels)]
    for k in range(levels):
        for i in range(width):
            if block[k][i]:
                carried[k][i] = block[k][i]
            elif (
                k < levels - 1
                and i > 0
                and carried[k][i - 1]
                and any(block[j][i] for j in range(k + 1, levels))
                and (k == 0 or (not block[k - 1][i] and carried[k - 1][i] == carried[k - 1][i - 1]))
            ):
                carried[k][i] = carried[k][i - 1]
    headers: list[str] = []
    parts: dict[int, tuple[str, str]] = {}
    for i in range(width):
        path = [t for k in range(levels) if (t := carried[k][i])]
        path = [t for j, t in enumerate(path) if j == 0 or t != path[j - 1]]  # repeated merge text
        headers.append("/".join(path))
        if len(path) > 1:
            parts[i] = (path[-2], path[-1])
    return headers, parts


def first_headers(cells: tuple) -> list[str]:
    return ["" if c is None else str(c) for c in cells]
