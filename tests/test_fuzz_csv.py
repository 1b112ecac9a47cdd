"""Fuzzing the CSV reader: sets of tables with real headers and valid, nearly valid or junk cells,
ragged rows, three encodings and three delimiters, bytes that are not text. Every row is imported
or rejected with its reason, or the file fails with a located error (exit 1)."""

from __future__ import annotations

from fuzz_support import assert_nothing_dropped, fuzz_settings, scratch, tried
from fuzz_tables import TABLE_FILES, csv_text, delimiters, encode, encodings, tables
from hypothesis import given
from hypothesis import strategies as st

FOLDER = scratch("csv")


def _write_set(name: str, parts, encoding: str, delimiter: str):
    folder = FOLDER / name
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    paths = []
    for role, headers, rows in parts:
        path = folder / TABLE_FILES[role]
        if path.exists():
            continue
        path.write_bytes(encode(csv_text(headers, rows, delimiter), encoding))
        paths.append(path)
    return paths


@fuzz_settings(600)
@given(tables("patients"), encodings, delimiters)
def test_a_fuzzed_patients_table_is_imported_row_by_row_or_refused_with_its_place(table, encoding, delimiter):
    tried("csv")
    assert_nothing_dropped(_write_set("one", [table], encoding, delimiter))


@fuzz_settings(300)
@given(tables("patients"), st.lists(tables(), min_size=1, max_size=2), encodings, delimiters)
def test_a_fuzzed_csv_set_joins_or_rejects_every_child_row(patients, children, encoding, delimiter):
    tried("csv")
    assert_nothing_dropped(_write_set("set", [patients, *children], encoding, delimiter))


@fuzz_settings(4000)
@given(st.binary(max_size=300), st.sampled_from(["患者.csv", "随访.csv", "x.csv"]))
def test_any_bytes_as_a_csv_file_end_in_rows_or_a_located_error(data, name):
    tried("csv")
    folder = FOLDER / "bytes"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / name
    path.write_bytes(data)
    assert_nothing_dropped([path])


CSV_TOKENS = [",", ";", "\t", "\n", "\r\n", "\r", '"', '""', "\ufeff", "患者编号", "随访日期",
              "收缩压", "高血压", "1e309", "150/90", "2026-02-30", "=1+1", "370202195803021236",
              b"\xa3", b"\x81\x30", b"\xc3"]
CSV_SEEDS = [
    ("患者.csv", "患者编号,身份证号,性别,出生日期,管理病种,建档日期\n"
                 "p1,370202195803021236,男,1958-03-02,高血压,2021-05-10\np2,,女,1958/3/2,\"高血压,糖尿病\",\n",
     "utf-8"),
    ("患者.csv", "患者编号\t性别\t出生日期\t管理病种\np1\t1\t19580302\t高血压\n", "gb18030"),
    ("随访.csv", "患者编号;随访日期;收缩压;舒张压\np1;2026-03-05;150;90\np1;2026-04-05;120;80\n",
     "utf-8-sig"),
    ("随访.csv", "患者编号,随访日期,血压\np1,2026-03-05,150/90\np2,2026-03-05,\n", "gb18030"),
]


def test_tens_of_thousands_of_damaged_csv_files_end_in_rows_or_a_located_error():
    from fuzz_mutate import Mutator, run

    mutator = Mutator("csv", CSV_TOKENS)
    seeds = [(name, text.encode(encoding)) for name, text, encoding in CSV_SEEDS]
    folder = FOLDER / "mutated"
    folder.mkdir(exist_ok=True)
    names = []

    def make() -> bytes:
        name, data = mutator.choice(seeds)
        names.append(name)
        return mutator.mutate(data, mutator.choice(seeds)[1])

    def check(data: bytes) -> None:
        path = folder / names.pop()
        path.write_bytes(data)
        try:
            assert_nothing_dropped([path])
        finally:
            path.unlink()

    run("csv", 5200, make, check)
