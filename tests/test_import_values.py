"""Cell and header parsing of the tabular readers (store/readers/aliases.py): the shapes real
exports write (real-exports.md §1)."""

from datetime import date, datetime

import pytest

from store.readers.aliases import (
    CellError,
    normalize_header,
    parse_date,
    parse_id,
    parse_number,
    split_list,
)


@pytest.mark.parametrize(
    ("header", "normalized"),
    [
        ("收缩压(mmHg)", "收缩压"),
        ("收缩压（mmHg）", "收缩压"),
        ("管理组别：", "管理组别"),
        ("现 住 址", "现住址"),
        ("体检日期-CHECKDATE", "体检日期"),
        ("LDL-C", "ldl-c"),
        ("\ufeffpatient_id", "patient_id"),
    ],
)
def test_headers_are_compared_without_units_spaces_colons_and_system_codes(header, normalized):
    assert normalize_header(header) == normalized


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-12",
        "2026/3/12",
        "2026/03/12",
        "20260312",
        "2026年3月12日",
        "2026.03.12",
        "2026-03-12 08:30:00",
    ],
)
def test_dates_in_the_shapes_exports_write_are_read(text):
    assert parse_date(text) == date(2026, 3, 12)


def test_spreadsheet_dates_and_numeric_yyyymmdd_are_read():
    assert parse_date(datetime(2026, 3, 12, 8, 30)) == date(2026, 3, 12)  # noqa: DTZ001  (openpyxl gives naive)
    assert parse_date(20260312) == date(2026, 3, 12)


@pytest.mark.parametrize("text", ["2026-02-30", "12/03/2026", "2019/01/01至2019/12/31", "昨天"])
def test_impossible_or_ambiguous_dates_are_refused_with_a_hint(text):
    with pytest.raises(CellError) as raised:
        parse_date(text)
    assert "2026-03-12" in raised.value.hint


def test_numbers_are_read_from_text_and_full_width_digits():
    assert parse_number("150") == 150
    assert parse_number("7.9") == 7.9
    assert parse_number("１５０") == 150
    with pytest.raises(CellError):
        parse_number("150mmHg")
    with pytest.raises(CellError):
        parse_number(True)


def test_ids_lose_the_tab_and_apostrophe_excel_guards_add():
    assert parse_id("370202195803021236\t") == "370202195803021236"
    assert parse_id("'37020219600101002x") == "37020219600101002X"
    assert parse_id(1001.0) == "1001"


def test_lists_split_on_the_separators_exports_use():
    assert split_list("高血压、糖尿病") == ["高血压", "糖尿病"]
    assert split_list("高血压；糖尿病, 血脂异常") == ["高血压", "糖尿病", "血脂异常"]
