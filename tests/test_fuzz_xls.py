"""Fuzzing the legacy Excel reader (.xls, xlrd): workbooks written by xlwt (the OLE2 container
Excel 97–2003 writes) with real headers and cells of every type a sheet holds (text, numbers,
dates, booleans, errors, formulas), then the same files and their bare BIFF streams damaged byte
by byte. Each ends in rows imported or rejected, or a located error naming the workbook."""

from __future__ import annotations

import datetime as dt

import xlwt  # a test extra
from fuzz_support import assert_nothing_dropped, fuzz_settings, scratch, tried
from fuzz_tables import junk, tables
from hypothesis import given
from hypothesis import strategies as st

FOLDER = scratch("xls")
TITLES = {"patients": "患者", "visits": "随访", "labs": "化验", "screenings": "筛查", "history": "既往史",
          "referrals": "转诊"}
DATE = xlwt.easyxf(num_format_str="YYYY-MM-DD")

cells = st.one_of(
    junk.map(lambda t: ("text", t[:200])),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: ("number", f)),
    st.integers(-10**15, 10**15).map(lambda i: ("number", i)),
    st.floats(-700000, 3000000).map(lambda f: ("date", f)),
    st.sampled_from([("bool", True), ("bool", False), ("error", 0x07), ("error", 0x2A), ("formula", "1+1"),
                     ("formula", "A1&B1"), ("date", dt.date(2026, 3, 5)), ("number", 1e308)]),
)


def _write(ws, r: int, c: int, kind: str, value) -> None:
    if kind == "date":
        ws.write(r, c, value, DATE)
    elif kind == "bool":
        ws.write(r, c, value)
    elif kind == "error":
        ws.row(r).set_cell_error(c, value)
    elif kind == "formula":
        ws.write(r, c, xlwt.Formula(value))
    else:
        ws.write(r, c, value)


def xls(title: str, headers: list[str], rows: list[list[tuple[str, object]]]) -> xlwt.Workbook:
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet(title, cell_overwrite_ok=True)
    for c, header in enumerate(headers[:250]):
        ws.write(0, c, header[:200])
    for r, row in enumerate(rows, start=1):
        for c, (kind, value) in enumerate(row[:250]):
            _write(ws, r, c, kind, value)
    return book


@st.composite
def workbooks(draw) -> bytes:
    role, headers, text_rows = draw(tables())
    rows = [[("text", v) if draw(st.booleans()) else draw(cells) for v in row] for row in text_rows]
    path = FOLDER / "built.xls"
    try:
        xls(TITLES[role], headers, rows).save(str(path))
    except Exception:  # xlwt refuses some text (a sheet name over 31 characters …): a plain book
        xls(TITLES[role], ["患者编号"], []).save(str(path))
    return path.read_bytes()


@fuzz_settings(250)
@given(workbooks())
def test_a_fuzzed_legacy_workbook_imports_its_rows_or_fails_naming_it(data):
    tried("xls")
    path = FOLDER / "roster.xls"
    path.write_bytes(data)
    assert_nothing_dropped([path])


SEED_BOOKS = [
    ("患者", ["患者编号", "身份证号", "性别", "出生日期", "管理病种"],
     [[("text", "p1"), ("text", "370202195803021236"), ("text", "男"), ("date", dt.date(1958, 3, 2)),
       ("text", "高血压")],
      [("number", 2), ("text", ""), ("number", 1), ("number", 21246), ("formula", "1+1")]]),
    ("随访", ["患者编号", "随访日期", "收缩压", "舒张压"],
     [[("text", "p1"), ("date", dt.date(2026, 3, 5)), ("number", 150), ("number", 90)],
      [("text", "p1"), ("text", "2026-04-05"), ("bool", True), ("error", 0x07)]]),
]


def test_tens_of_thousands_of_damaged_legacy_workbooks_end_in_rows_or_a_located_error():
    """Damaged OLE2 files (the container's sector tables and directory) and damaged bare BIFF
    streams (record lengths, string lengths, cell records), which xlrd reads as they are."""
    from fuzz_mutate import Mutator, run

    mutator = Mutator("xls", [b"\x09\x08", b"\x0a\x00", b"\xfd\x00", b"\x04\x02", b"\x03\x02", b"\xfc\x00",
                              b"\x3c\x00", b"\x85\x00", b"\x06\x00", "患者编号"])
    seeds = []
    for seed in SEED_BOOKS:
        book = xls(*seed)
        path = FOLDER / "seed.xls"
        book.save(str(path))
        seeds += [path.read_bytes(), book.get_biff_data()]
    path = FOLDER / "mutated.xls"

    def make() -> bytes:
        return mutator.mutate(mutator.choice(seeds), mutator.choice(seeds))

    def check(data: bytes) -> None:
        path.write_bytes(data)
        assert_nothing_dropped([path])

    run("xls", 9800, make, check)
