"""Fuzzing the archive reader: zips of split exports with any member names (GBK bytes, duplicates,
folders, `../`, __MACOSX), members that are tables, junk or not CSV, damaged headers (encryption and
method flags), cut or flipped bytes. Each ends in rows imported or rejected, or a located error; no
member is written outside the private temporary folder."""

from __future__ import annotations

import io
import tempfile
import warnings
import zipfile
from pathlib import Path

from fuzz_support import assert_nothing_dropped, fuzz_settings, scratch, tried
from fuzz_tables import TABLE_FILES, csv_text, tables
from hypothesis import given
from hypothesis import strategies as st

FOLDER = scratch("zip")
ESCAPES = ("escape.csv", "abs.csv")
TMP = Path(tempfile.gettempdir())
PLACES = {FOLDER.parent, TMP, TMP.parent, Path.cwd(), Path("/")}
names = st.one_of(st.sampled_from([*TABLE_FILES.values(), "patients.csv", "a/visits.csv", "../escape.csv",
                                   "/abs.csv", "__MACOSX/._患者.csv", "readme.txt", "part.xlsx", "dir/"]),
                  st.text(min_size=1, max_size=10).map(lambda t: t.replace("\x00", "") + ".csv"))
members = st.tuples(names, st.one_of(tables().map(lambda t: csv_text(t[1], t[2]).encode("utf-8")),
                                     st.binary(max_size=60)))


def _zip(entries, method) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate member name is one of the inputs
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, data in entries:  # a fixed time stamp: the same bytes on every run
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = method
                archive.writestr(info, data)
    return buffer.getvalue()


@st.composite
def damaged(draw, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "flag"]))
        if kind == "flip":
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        else:  # encryption bit or compression method of every local and central header
            value = draw(st.sampled_from([1, 99, 12, 14, 0x41]))
            for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
                start = 0
                while (at := data.find(sig, start)) != -1 and at + offset + 4 <= len(data):
                    field = offset + (2 if value in (99, 12, 14) else 0)
                    data[at + field : at + field + 2] = value.to_bytes(2, "little")
                    start = at + 4
    return bytes(data)


@fuzz_settings(800)
@given(st.lists(members, max_size=4), st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]), st.data())
def test_a_fuzzed_archive_imports_its_rows_or_fails_naming_it(entries, method, data):
    tried("zip")
    path = FOLDER / "export.zip"
    path.write_bytes(data.draw(damaged(_zip(entries, method))))
    assert_nothing_dropped([path])
    for name in ESCAPES:  # `../escape.csv` and `/abs.csv` were written nowhere outside the private folder
        assert not any((where / name).exists() for where in PLACES), name


@fuzz_settings(4000)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_zip_file_end_in_rows_or_a_located_error(data):
    tried("zip")
    path = FOLDER / "bytes.zip"
    path.write_bytes(b"PK\x03\x04" + data if data[:1] == b"\x00" else data)
    assert_nothing_dropped([path])


ZIP_SEED_MEMBERS = [
    ("患者.csv", "患者编号,身份证号,性别,出生日期,管理病种\np1,370202195803021236,男,1958-03-02,高血压\n"),
    ("随访.csv", "患者编号,随访日期,收缩压,舒张压\np1,2026-03-05,150,90\np1,2026-04-05,120,80\n"),
]
ZIP_TOKENS = ["PK\x03\x04", "PK\x01\x02", "PK\x05\x06", "../", "/", "__MACOSX/", ".csv", ".xlsx", "\x00",
              ",", "\n", '"', "患者编号"]


def _zip_of(members: list[tuple[str, bytes]], method: int) -> bytes:
    return _zip([(name, data) for name, data in members], method)


def test_tens_of_thousands_of_damaged_archives_end_in_rows_or_a_located_error():
    """Half the inputs damage a member's text before it is zipped (so the archive reads and the
    table reader meets it); half damage the archive's bytes: headers, sizes, names, flags."""
    from fuzz_mutate import Mutator, run

    mutator = Mutator("zip", ZIP_TOKENS)
    members = [(name, text.encode("utf-8")) for name, text in ZIP_SEED_MEMBERS]
    seeds = [_zip_of(members, method) for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)]
    path = FOLDER / "mutated.zip"

    def make() -> bytes:
        if mutator.rng.random() < 0.5:
            chosen = list(members)
            at = mutator.rng.randrange(len(chosen))
            name, data = chosen[at]
            if mutator.rng.random() < 0.2:
                name = mutator.mutate(name.encode("utf-8")).decode("utf-8", "replace")
                name = name.replace("\x00", "") or "x"
            chosen[at] = (name, mutator.mutate(data, chosen[1 - at][1]))
            return _zip_of(chosen, mutator.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        return mutator.mutate(mutator.choice(seeds), mutator.choice(seeds))

    def check(data: bytes) -> None:
        path.write_bytes(data)
        assert_nothing_dropped([path])
        for name in ESCAPES:
            assert not any((where / name).exists() for where in PLACES), name

    run("zip", 5300, make, check)
