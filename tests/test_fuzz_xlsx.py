"""Fuzzing the workbook reader: .xlsx files written part by part (so thousands are cheap) with
real headers and cells of every kind a sheet holds (text, numbers, booleans, errors, formulas with
and without a cached value), then damaged XML or zip bytes. Each ends in rows imported or rejected,
or a located error naming the workbook."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from fuzz_support import assert_nothing_dropped, fuzz_settings, scratch, tried
from fuzz_tables import junk, tables
from hypothesis import given
from hypothesis import strategies as st

FOLDER = scratch("xlsx")
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
        'PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships"><sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}
_SHEET = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
          'spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>')
TITLES = {"patients": "患者", "visits": "随访", "labs": "化验", "screenings": "筛查", "history": "既往史",
          "referrals": "转诊"}


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _xml_text(text: str) -> str:
    """Text as XML 1.0 can hold it (a control character is not allowed even escaped)."""
    kept = (c for c in text if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd")
    return escape("".join(kept))


cells = st.one_of(
    junk.map(lambda t: ("s", t)),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: ("n", repr(f))),
    st.integers(-10**15, 10**15).map(lambda i: ("n", str(i))),
    st.sampled_from([("b", "1"), ("b", "0"), ("e", "#N/A"), ("e", "#DIV/0!"), ("f", "1+1"), ("fv", "150"),
                     ("n", "45000"), ("n", "-1"), ("n", "1e308")]),
)


def _cell(ref: str, kind: str, value: str) -> str:
    if kind == "s":
        return f'<c r="{ref}" t="inlineStr"><is><t>{_xml_text(value)}</t></is></c>'
    if kind == "f":  # a formula without a cached value
        return f'<c r="{ref}"><f>{value}</f></c>'
    if kind == "fv":
        return f'<c r="{ref}"><f>100+50</f><v>{value}</v></c>'
    return f'<c r="{ref}"{f" t={chr(34)}{kind}{chr(34)}" if kind != "n" else ""}><v>{value}</v></c>'


def workbook(title: str, headers: list[str], rows: list[list[tuple[str, str]]]) -> bytes:
    lines = [[("s", h) for h in headers], *rows]
    xml_rows = "".join(
        f'<row r="{r}">' + "".join(_cell(f"{_column(c)}{r}", *cell) for c, cell in enumerate(line)) + "</row>"
        for r, line in enumerate(lines, start=1))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, text in _PARTS.items():
            archive.writestr(name, text.replace("{title}", _xml_text(title)))
        archive.writestr("xl/worksheets/sheet1.xml", _SHEET.replace("{rows}", xml_rows))
    return buffer.getvalue()


@st.composite
def workbooks(draw) -> bytes:
    role, headers, text_rows = draw(tables())
    rows = [[("s", v) if draw(st.booleans()) else draw(cells) for v in row] for row in text_rows]
    data = workbook(TITLES[role], headers, rows)
    if draw(st.integers(0, 4)) == 0:  # damaged: the sheet's XML cut, or bytes flipped
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        data = bytes(data)
    return data


@fuzz_settings(500)
@given(workbooks())
def test_a_fuzzed_workbook_imports_its_rows_or_fails_naming_it(data):
    tried("xlsx")
    path = FOLDER / "roster.xlsx"
    path.write_bytes(data)
    assert_nothing_dropped([path])


@fuzz_settings(4000)
@given(st.binary(max_size=300))
def test_any_bytes_as_a_workbook_end_in_rows_or_a_located_error(data):
    tried("xlsx")
    path = FOLDER / "bytes.xlsx"
    path.write_bytes(data)
    assert_nothing_dropped([path])


XML_TOKENS = ["<", ">", "/>", "</c>", "<row>", '<c r="A1" t="s"><v>0</v></c>', '<c r="XFD1048577">',
              't="inlineStr"', 't="e"', 't="b"', "<f>1+1</f>", "<v>1e309</v>", "<v></v>", "&amp;", "&#0;",
              "&#xD800;", "&ent;",
              '<!DOCTYPE x [<!ENTITY e "e">]>', "<![CDATA[", "]]>", 'r="A0"', 'r="1"', "患者编号", "高血压",
              "\x00"]
SEED_BOOKS = [
    ("患者", ["患者编号", "性别", "出生日期", "管理病种"],
     [[("s", "p1"), ("s", "男"), ("n", "21246"), ("s", "高血压")],
      [("s", "p2"), ("n", "2"), ("e", "#N/A"), ("f", "1+1")]]),
    ("随访", ["患者编号", "随访日期", "收缩压", "舒张压"],
     [[("s", "p1"), ("s", "2026-03-05"), ("fv", "150"), ("n", "90")],
      [("s", "p1"), ("n", "46000"), ("b", "1"), ("n", "1e308")]]),
]


def _parts(title: str, headers: list[str], rows) -> dict[str, bytes]:
    """The parts of `workbook(...)`, as bytes to damage before they are zipped."""
    with zipfile.ZipFile(io.BytesIO(workbook(title, headers, rows))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_tens_of_thousands_of_damaged_workbooks_end_in_rows_or_a_located_error():
    """Most inputs damage one part's XML before it is zipped (so the zip reads and the XML parser
    meets it); the rest damage the finished file's bytes."""
    from fuzz_mutate import Mutator, run

    mutator = Mutator("xlsx", XML_TOKENS)
    books = [_parts(*seed) for seed in SEED_BOOKS]
    path = FOLDER / "mutated.xlsx"

    def make() -> bytes:
        parts = dict(mutator.choice(books))
        if mutator.rng.random() < 0.8:
            name = mutator.choice([*parts] + ["xl/worksheets/sheet1.xml"] * 4)
            parts[name] = mutator.mutate(parts[name], mutator.choice(books)[name])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, data in parts.items():
                archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
        data = buffer.getvalue()
        return data if parts is not books[0] and mutator.rng.random() < 0.8 else mutator.mutate(data)

    def check(data: bytes) -> None:
        path.write_bytes(data)
        assert_nothing_dropped([path])

    run("xlsx", 5600, make, check)
