"""Zip members are streamed into the private temporary folder with caps (store/readers/zip_members.py):
a member that unpacks past MAX_MEMBER_BYTES, or to more than MAX_RATIO times its packed size, or an
archive past MAX_ARCHIVE_BYTES in all, is refused with D032 naming the member and the cap, without
the member ever held whole in memory or written whole to disk."""

from __future__ import annotations

import io
import random
import sys
import tracemalloc
import zipfile
from datetime import date

import pytest
from fuzz_support import read_all

import cli
from pathways.errors import SangaoError
from store import scratch
from store.readers import zip_members

PATIENTS = ("患者编号,身份证号,性别,出生日期,管理病种,建档日期\n"
            "p1,370202195803021236,男,1958-03-02,高血压,2021-05-10\n")


def _zip(path, members: list[tuple[str, bytes]]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


def _noise(n: int) -> bytes:
    """Text that packs about as well as a real export (not a run of one byte)."""
    rng = random.Random(15)
    return "".join(f"p{rng.randrange(10**6)},2026-03-05,{rng.randrange(90, 200)},{rng.randrange(50, 120)}\n"
                   for _ in range(n // 24)).encode()


def test_a_zip_bomb_is_refused_naming_the_member_without_unpacking_it_into_memory(tmp_path):
    bomb = _zip(tmp_path / "export.zip", [("患者.csv", PATIENTS.encode()), ("随访.csv", b"\0" * (64 << 20))])
    assert bomb.stat().st_size < 200_000  # 64 MiB packed into a small file
    read_all([_zip(tmp_path / "small.zip", [("患者.csv", PATIENTS.encode())])])  # the readers imported
    tracemalloc.start()
    try:
        with pytest.raises(SangaoError) as error:
            read_all([bomb])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [problem] = error.value.problems
    assert problem.code == "D032" and problem.file == str(bomb)
    assert "随访.csv" in problem.render("zh") and "200 倍" in problem.render("zh")
    assert "past the cap of 200 times" in problem.render("en")
    assert peak < 16 << 20  # streamed in pieces: never the 64 MiB at once
    assert not [p for p in scratch.folder().rglob("*") if p.is_file()]  # the part written is gone


def test_a_member_past_the_size_cap_is_refused_naming_member_and_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_members, "MAX_MEMBER_BYTES", 50_000)
    archive = _zip(tmp_path / "export.zip", [("患者.csv", PATIENTS.encode()), ("随访.csv", _noise(80_000))])
    with pytest.raises(SangaoError) as error:
        read_all([archive])
    [problem] = error.value.problems
    assert (problem.code, problem.fields["variant"]) == ("D032", "size")
    assert "'随访.csv'" in problem.render("en") and "50,000 bytes" in problem.render("en")


def test_an_archive_past_the_total_cap_is_refused_at_the_member_that_passes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_members, "MAX_ARCHIVE_BYTES", 60_000)
    archive = _zip(tmp_path / "export.zip", [("患者.csv", PATIENTS.encode()), ("随访1.csv", _noise(40_000)),
                                             ("随访2.csv", _noise(40_000))])
    with pytest.raises(SangaoError) as error:
        read_all([archive])
    [problem] = error.value.problems
    assert (problem.fields["variant"], problem.fields["member"]) == ("total", "随访2.csv")


def test_an_archive_within_the_caps_reads_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_members, "CHUNK", 4096)  # many pieces per member
    visits = ("患者编号,随访日期,收缩压,舒张压\n" + "p1,2026-03-05,150,90\n").encode()
    archive = _zip(tmp_path / "export.zip", [("患者.csv", PATIENTS.encode()), ("随访.csv", visits)])
    assert read_all([archive])[:2] == (2, 0)


def test_the_command_line_exits_1_with_the_member_and_the_cap_in_chinese(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bomb = _zip(tmp_path / "export.zip", [("患者.csv", PATIENTS.encode() + b"\0" * (8 << 20))])
    monkeypatch.setattr(sys, "argv", ["sangao", "roster", "import", str(bomb), "--db", str(tmp_path / "x.db"),
                                      "--as-of", "2026-11-30"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out = capsys.readouterr()
    assert exit_info.value.code == 1
    text = " ".join((out.out + out.err).split())
    assert "export.zip" in text and "患者.csv" in text and "200 倍的上限" in text, text
    assert io.StringIO(text).read().count("R104") == 0  # not the internal error



def test_a_member_with_an_empty_name_is_skipped_with_a_finding_and_the_rest_imports(tmp_path):
    # found by tests/test_fuzz_zip.py: ZipInfo.is_dir() raises IndexError on an empty name (an R104 crash)
    from store.importer import iter_items
    from store.readers import group_sources

    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("患者.csv", PATIENTS.encode())
        nameless = zipfile.ZipInfo("x")
        nameless.filename = ""
        z.writestr(nameless, b"p2,2026-03-05\n")
    assert [i.filename for i in zipfile.ZipFile(path).infolist()] == ["患者.csv", ""]
    imported, findings = [], []
    for source in group_sources([path]):
        imported += [patient.patient_id for _, patient, _, _ in iter_items(source, None, date(2026, 11, 30))
                     if patient is not None]
        findings += [p.code for p in source.findings]
    assert imported == ["p1"]
    assert findings == ["D108"]
