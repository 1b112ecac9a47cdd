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
