"""The tabular reader's fast paths give what the general paths give: a plain number or an ISO date
skips the normaliser (store/readers/aliases.py), and parked child rows travel as MessagePack
instead of JSON (store/readers/tabular.py). Each is checked against the path it short-cuts, on
literal cells and on Hypothesis text built from the characters real exports mix in."""

import csv
import json
from datetime import date, datetime

import openpyxl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pathways.synthetic import CSV_TABLES, generate_csv_rows
from store.readers import cells, group_sources, tabular
from store.readers.aliases import (
    CellError,
    _parse_date_general,
    _parse_number_general,
    parse_date,
    parse_number,
)
from store.readers.spill import _ChildSpill, _dates, _iso, _pack, _unpack
from store.readers.tabular import read_tabular

UNITS = [None, "mmHg", "kg", "mmol/L", "%", "cigarettes/day", "μmol/L"]


def outcome(parse, *args):
    """The value with its type, or the error's message and hint: what a reject file would show."""
    try:
        value = parse(*args)
    except CellError as exc:
        return ("error", exc.message, exc.hint)
    return ("ok", value, type(value))


def agree_on_number(text, unit=None, pair=False):
    assert outcome(parse_number, text, unit, pair) == outcome(_parse_number_general, text, unit, pair)


def agree_on_date(value, allow_range=False):
    assert outcome(parse_date, value, allow_range) == outcome(_parse_date_general, value, allow_range)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("171", 171),
        ("0", 0),
        ("007", 7),
        ("65.2", 65.2),
        ("84.0", 84.0),
        ("12.50", 12.5),
        ("99999999999999999999", 10**20),  # through float, as the general parser goes
    ],
)
def test_a_plain_number_reads_as_the_general_parser_reads_it(text, expected):
    assert parse_number(text) == expected
    assert type(parse_number(text)) is type(expected)
    agree_on_number(text)


def test_an_integer_stays_an_int_and_a_decimal_point_makes_a_float():
    assert type(parse_number("84")) is int
    assert type(parse_number("84.0")) is float


@pytest.mark.parametrize(
    "text",
    [
        "１７１",  # full-width digits
        "６５．２",
        "171mmHg",
        "65.2 kg",
        "65.2/60",
        " 171 ",
        "1 2",
        "1,234",
        "1，234",
        "+5",
        "-3.5",
        ".5",
        "7.",
        "1.2.3",
        "1e3",
        "٣٤",  # Arabic-Indic digits: \d matches them, NFKC keeps them
        "²",
        "",
        "  ",
        ".",
        "abc",
        "36.5℃",
        "80次/分",
    ],
)
@pytest.mark.parametrize("unit", UNITS)
def test_every_other_number_shape_takes_the_general_path_with_its_message(text, unit):
    agree_on_number(text, unit, pair=False)
    agree_on_number(text, unit, pair=True)


def test_non_text_cells_are_not_touched_by_the_number_fast_path():
    for cell in (171, 65.2, True, False, 0):
        agree_on_number(cell, "mmHg")


NUMBER_CHARS = st.sampled_from(
    list("0123456789０１２３４５６７８９.．,，+-/ e%") + ["mmHg", "kg", "支", "٣", "²"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(NUMBER_CHARS, max_size=8).map("".join), st.sampled_from(UNITS), st.booleans())
@example("10", None, False)
@example("10.", None, False)
@example("0.0", "kg", True)
def test_parse_number_agrees_with_the_general_parser_on_generated_cells(text, unit, pair):
    agree_on_number(text, unit, pair)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A[0-9]{1,25}(\.[0-9]{0,6})?\Z"), st.sampled_from(UNITS))
def test_parse_number_agrees_on_generated_plain_numbers(text, unit):
    agree_on_number(text, unit)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30",
        "2024-02-29",  # a leap day
        "2026-02-29",  # not one: the general path words the error
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "0000-01-01",
        "2026-1-5",
        "2026/11/30",
        "20261130",
        "2026年3月5日",
        " 2026-11-30",
        "2026-11-30 ",
        "２０２６-１１-３０",
        "2026-11-30 08:30",
        "2026-11-3a",
        "2026-11--3",
        "2026-+1-30",
        "٢٠٢٦-١١-٣٠",
        "2019-01-01至2019-12-31",
        "",
    ],
)
@pytest.mark.parametrize("allow_range", [False, True])
def test_an_iso_date_reads_as_the_general_parser_reads_it(text, allow_range):
    agree_on_date(text, allow_range)


def test_the_date_fast_path_gives_the_day_and_leaves_errors_to_the_general_path():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(CellError, match=r"not a date \('2026-02-29'\)"):
        parse_date("2026-02-29")


def test_non_text_dates_are_not_touched_by_the_date_fast_path():
    for cell in (
        date(2026, 11, 30),
        datetime(2026, 11, 30, 8, 30),  # noqa: DTZ001  (as openpyxl gives it)
        20261130,
        20261130.0,
        2026.5,
    ):
        agree_on_date(cell)


DATE_CHARS = st.sampled_from(list("0123456789-/.年月日 至~０１２") + ["٢"])


@settings(max_examples=400, deadline=None)
@given(st.lists(DATE_CHARS, min_size=8, max_size=12).map("".join), st.booleans())
def test_parse_date_agrees_with_the_general_parser_on_generated_cells(text, allow_range):
    agree_on_date(text, allow_range)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"), st.booleans())
def test_parse_date_agrees_on_generated_iso_shapes_valid_or_not(text, allow_range):
    agree_on_date(text, allow_range)


# ---- parked child rows ---------------------------------------------------------------------------


def json_round_trip(values: dict) -> dict:
    """What the spill gave back when it parked rows as JSON text."""
    return _dates(json.loads(json.dumps(values, ensure_ascii=False, default=_iso)))


PARKED = [
    {
        "v": {
            "date": date(2024, 1, 31),
            "sbp": 171,
            "dbp": 102,
            "weight_kg": 65.2,
            "adverse_reaction": False,
        },
        "p": {},
    },
    {
        "v": {"date": date(2024, 1, 31), "symptoms": ["headache"], "_lab": {"hba1c": 7.25}},
        "p": {"id_number": "370203195910306073", "birth_date": date(1959, 10, 30), "name": "刘德洪"},
        "r": '{"身份证号": "370203195910306073"}',
    },
    {"v": {"date": date(2026, 3, 1), "_screenings": [{"kind": "foot_pulse", "result": "weak"}]}, "p": {}},
    {"v": {"date": date(2026, 3, 1), "returned_on": date(2026, 3, 9), "to": "county"}, "p": {}},
    {
        "v": {"date": date(2026, 3, 1), "weight_kg": int(float("1e30")), "waist_cm": 0.1 + 0.2},
        "p": {},
    },  # past 64 bits
    {
        "v": {"date": date(2026, 3, 1), "pair": (1, 2), "none": None, "neg": -(2**63)},
        "p": {"enrolled_on": date(2020, 1, 1)},
    },
]


@pytest.mark.parametrize("values", PARKED)
def test_a_parked_row_comes_back_as_the_json_spill_gave_it_back(values):
    back = _unpack(_pack(values))
    assert back == json_round_trip(values)
    assert repr(back) == repr(json_round_trip(values))  # same types and key order too


def test_an_integer_past_64_bits_is_parked_as_json_text_not_refused():
    assert isinstance(_pack(PARKED[4]), str)
    assert isinstance(_pack(PARKED[0]), bytes)


@pytest.mark.parametrize("memory", [0, 700, None], ids=["all-on-disk", "some-in-memory", "all-in-memory"])
def test_the_spill_returns_each_patients_rows_in_file_order_and_the_rest_as_orphans(memory):
    closers: list = []
    spill = _ChildSpill(closers, memory=memory)
    try:
        spill.add("p1", 0, 2, PARKED[0])
        spill.add("p2", 0, 3, PARKED[1])
        spill.add("p4", 0, 4, PARKED[2])
        spill.add("p1", 1, 2, PARKED[4])
        spill.add("p3", 1, 3, PARKED[3])
        spill.add("p4", 1, 4, PARKED[5])
        spill.finish_loading()
        assert list(spill.join_keys()) == ["p1", "p2", "p4", "p3"]
        assert spill.take("p1") == [(0, 2, json_round_trip(PARKED[0])), (1, 2, json_round_trip(PARKED[4]))]
        assert spill.take("p1") == []  # a repeated patient row gets none
        assert spill.take("p2") == [(0, 3, json_round_trip(PARKED[1]))]
        assert list(spill.orphans()) == [(0, 4, "p4"), (1, 3, "p3"), (1, 4, "p4")]
    finally:
        for close in closers:
            close()


def test_rows_past_the_memory_bound_go_to_disk_and_stay_in_file_order():
    closers: list = []
    spill = _ChildSpill(closers, memory=700)
    try:
        for n in range(20):
            spill.add(f"p{n % 3}", 0, n + 2, PARKED[0])
        spill.finish_loading()
        held = sum(len(rows) for rows in spill._held.values())
        assert 0 < held < 20  # some in memory, the rest on disk
        assert [row for _, row, _ in spill.take("p1")] == [3, 6, 9, 12, 15, 18, 21]
        assert list(spill.join_keys()) == ["p0", "p1", "p2"]  # taken or not
        assert [row for _, row, _ in spill.take("p2")] == [4, 7, 10, 13, 16, 19]
        assert [(row, pid) for _, row, pid in spill.orphans()] == [
            (n, "p0") for n in (2, 5, 8, 11, 14, 17, 20)
        ]
    finally:
        for close in closers:
            close()


# ---- the whole reader, whichever way the rows are parked ------------------------------------------


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def read_everything(paths) -> list:
    """Every item the tabular reader yields, with what it says about the source, as comparable values."""
    out = []
    for source in group_sources(paths):
        for item in read_tabular(source, None):
            where = [item.locate(loc) for loc in LOCS] if item.locate else []
            out.append(
                (
                    item.file,
                    item.line,
                    repr(item.data),
                    item.patient_id,
                    item.problems,
                    item.raw,
                    item.rows,
                    where,
                )
            )
        out.append((source.encodings, source.rows_read, source.findings))
    return out


LOCS = [
    ("patient_id",),
    ("sex",),
    ("visits", 0, "sbp"),
    ("visits", 2, "date"),
    ("labs", 0, "ldl_c"),
    ("screenings", 0),
]


@pytest.fixture
def roster_set(tmp_path):
    """A generated CSV set with shuffled visits, orphans, a repeated patient and bad cells."""
    folder = tmp_path / "set"
    folder.mkdir()
    tables: dict[str, list] = {t: [[h for _, h in cols]] for t, cols in CSV_TABLES.items()}
    for table, row in generate_csv_rows(60, 3, date(2026, 11, 30)):
        tables[table].append(row)
    visits = tables["visits"]
    visits[1:] = visits[-1:0:-1]  # children in another order than the patients
    visits.append(["nobody-1", "2026-01-05", "150", "90"])  # an orphan
    visits.append(["nobody-2", "2026-13-05", "abc", "90"])  # a bad row of an orphan
    visits[5][2] = "１５０mmHg"
    visits[6][2] = "150 kg"
    tables["labs"][3][2] = "2026-02-30"
    tables["patients"].append(tables["patients"][4])  # a patient twice
    for table, rows in tables.items():
        write_csv(folder / f"{table}.csv", rows)
    return folder


@pytest.fixture
def flat_export(tmp_path):
    """Flat visit rows (no patients table) grouped by resident ID, interleaved."""
    folder = tmp_path / "flat"
    folder.mkdir()
    header = ["姓名", "性别", "出生日期", "身份证号", "随访日期", "血压", "体重(kg)", "管理病种"]
    rows = [header]
    for n in range(30):
        number = f"37020219{58 + n % 5:02d}0302{123 + n % 7:03d}"
        rows.append(
            [f"人{n % 7}", "男", "", number, f"2026-{1 + n % 12:02d}-0{1 + n % 9}", "150/90", "70", "高血压"]
        )
    rows.append(["无名", "男", "", "", "2026-01-01", "150/90", "70", "高血压"])  # no resident ID
    return write_csv(folder / "随访.csv", rows)


@pytest.mark.parametrize("memory", [0, 3000])
def test_the_reader_yields_the_same_items_with_rows_on_disk_as_in_memory(
    roster_set, flat_export, memory, monkeypatch
):
    in_memory = read_everything([roster_set]) + read_everything([flat_export])
    monkeypatch.setattr(tabular, "SPILL_MEMORY", memory)
    assert read_everything([roster_set]) + read_everything([flat_export]) == in_memory
    assert any(p.code == "D024" for item in in_memory[:-1] for p in item[4])  # orphans were there


@pytest.fixture
def typed_workbook(tmp_path):
    """Cells as openpyxl gives them: True, 1 and "1" in one yes/no column (equal as dict keys, not
    as cells), a resident ID as text and then the same ID as a number, numbers as int and float."""
    path = tmp_path / "roster.xlsx"
    book = openpyxl.Workbook()
    people = book.active
    people.title = "患者"
    people.append(["患者编号", "身份证号", "姓名", "性别", "出生日期", "管理病种", "建档日期", "吸烟"])
    smoker = [True, 1, "1", "是", 0, False, "否", "0", "maybe", "maybe"]
    for n, value in enumerate(smoker):
        number = "370202195803021236" if n != 1 else 370202195803021236
        people.append([f"p{n}", number, "张三", "男", date(1958, 3, 2), "高血压", "2021-05-10", value])
    visits = book.create_sheet("随访")
    visits.append(["患者编号", "随访日期", "收缩压", "舒张压", "体重"])
    for n, (sbp, weight) in enumerate(
        [(150, 70.5), (150.0, "70.5"), ("150", 70), ("150", "70.0"), (True, 70)]
    ):
        visits.append([f"p{n}", datetime(2026, 3, 1 + n), sbp, 90, weight])  # noqa: DTZ001
    visits.append([f"p{1}", "2026-03-09", "150", "90", "70"])
    book.save(path)
    return path


@pytest.mark.parametrize("limit", [0, 1])
def test_remembered_cells_give_what_parsing_each_cell_gives(
    roster_set, flat_export, typed_workbook, limit, monkeypatch
):
    paths = ([roster_set], [flat_export], [typed_workbook])
    remembered = [read_everything(p) for p in paths]
    monkeypatch.setattr(cells, "_MEMO_CELLS", limit)
    assert [read_everything(p) for p in paths] == remembered


def test_a_resident_id_typed_as_a_number_is_refused_even_after_the_same_id_as_text(typed_workbook):
    items = read_everything([typed_workbook])[:-1]
    refused = {(item[1], p.code, p.column): p.message for item in items for p in item[4]}
    assert refused[(3, "D020", "身份证号")].endswith(
        "resident ID stored as a number, so its last digits are lost"
    )
    smokers = {item[3]: item[2] for item in items if item[3] in ("p0", "p2", "p3", "p5", "p6")}
    assert all("'smoker': True" in smokers[p] for p in ("p0", "p2", "p3"))
    assert all("'smoker': False" in smokers[p] for p in ("p5", "p6"))
    assert [(item[1], p.code) for item in items for p in item[4] if p.column == "吸烟"] == [
        (10, "D017"),
        (11, "D017"),
    ]


def test_coded_cell_lookups_are_remembered_up_to_a_bound(tmp_path, monkeypatch):
    """A coded column of junk (a distinct unknown text per row) must not grow the reader's lookup
    memo without bound; past the bound a text is looked up again, with the same outcome."""
    folder = tmp_path / "junk"
    folder.mkdir()
    rows = [["姓名", "性别", "出生日期", "身份证号", "随访日期", "血压", "管理病种"]]
    for n in range(40):
        number = f"37020219{58 + n % 5:02d}0302{123 + n % 7:03d}"
        rows.append(["人", "男", "", number, f"2026-01-{1 + n % 9:02d}", "150/90", f"病种{n % 20}"])
    write_csv(folder / "随访.csv", rows)

    calls, largest = [], [0]
    real_lookup, real_ctx_lookup = cells.lookup, cells._Ctx.lookup

    def counting_lookup(*args):
        calls.append(args[2])
        return real_lookup(*args)

    def watched(self, *args, **kwargs):
        value = real_ctx_lookup(self, *args, **kwargs)
        largest[0] = max(largest[0], len(self.memo))
        return value

    monkeypatch.setattr(cells, "lookup", counting_lookup)
    monkeypatch.setattr(cells._Ctx, "lookup", watched)
    unbounded = read_everything([folder])
    distinct = len(set(calls))
    assert len(calls) == distinct  # each text looked up once
    assert largest[0] == distinct

    calls.clear()
    largest[0] = 0
    monkeypatch.setattr(cells, "_LOOKUP_MEMO", 4)
    assert read_everything([folder]) == unbounded
    assert largest[0] == 4
    assert len(calls) > distinct  # junk past the bound is looked up again, not remembered
