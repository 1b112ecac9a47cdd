"""No patient value leaks: the demo's printed output and files, the output and reject file of a
failing import and the crash log of an internal error hold no full name, resident ID or phone of the
generated roster; files with patient data are created 0600, crash logs in a 0700 folder, old crash
logs removed at the next start; `--unmasked` keeps the raw column and is recorded in the audit log."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli
from pathways.synthetic import generate_jsonl

AS_OF = "2026-11-30"
ROOT = Path(__file__).resolve().parents[1]


def _sangao(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"})


def _secrets(records: list[dict]) -> set[str]:
    """Every full name, resident ID and phone of the roster (and the ID's digits alone)."""
    found = set()
    for r in records:
        for key in ("name", "id_number", "phone"):
            if r.get(key):
                found.add(r[key])
    return found


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in text)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    run = _sangao(folder, "demo", "--out", "out", "--patients", "300", "--as-of", AS_OF)
    assert run.returncode == 0, run.stderr
    return folder, run


def test_the_demo_prints_and_writes_no_full_name_id_or_phone(demo):
    folder, run = demo
    records = [json.loads(line) for line in (folder / "out" / "roster.jsonl").read_text().splitlines()]
    secrets = _secrets(records)
    assert len(secrets) > 600  # names, IDs and phones of 300 patients
    assert _leaks(run.stdout + run.stderr, secrets) == []
    written = sorted(p.name for p in (folder / "out").iterdir())
    assert {"assessments.csv", "worklist.csv", "plan.html"} <= set(written)
    pdfs = 0
    for name in written:  # every text the demo wrote but the roster it generated
        if name == "roster.jsonl" or name.endswith((".db", "-wal", "-shm")):
            continue
        if name.endswith(".pdf"):  # the text of every page, as a reader would copy it
            pdfs += 1
            text = _pdf_text(folder / "out" / name)
            assert len(text) > 200, name
        else:
            text = (folder / "out" / name).read_text(encoding="utf-8-sig")
        assert _leaks(text, secrets) == [], name
    assert pdfs or not _pango(), "the demo wrote no PDF although Pango is installed"


def _pdf_text(path: Path) -> str:
    import pypdfium2  # a test extra

    document = pypdfium2.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def _pango() -> bool:
    import ctypes.util

    return ctypes.util.find_library("pango-1.0") is not None


def test_the_demo_creates_every_file_owner_only(demo):
    folder, _ = demo
    for path in (folder / "out").iterdir():
        assert _mode(path) == 0o600, path.name


def _bad_roster(path: Path) -> list[dict]:
    """A generated roster with broken rows: a wrong sex, an impossible date, a line cut short."""
    records = [json.loads(line) for line in generate_jsonl(40, 9, __import__("datetime").date(2026, 11, 30))]
    lines = []
    for i, r in enumerate(records):
        if i % 5 == 1:
            r["sex"] = "X"
        if i % 5 == 2:
            r["birth_date"] = "1958-02-30"
        line = json.dumps(r, ensure_ascii=False)
        lines.append(line[: len(line) // 2] if i % 5 == 3 else line)  # a line that is not JSON
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def test_a_failing_import_prints_and_rejects_nothing_identifying(tmp_path, db_url):
    records = _bad_roster(tmp_path / "bad.jsonl")
    db = "x.db" if db_url.startswith("sqlite") else db_url
    run = _sangao(tmp_path, "roster", "import", "bad.jsonl", "--db", db, "--as-of", AS_OF,
                  "--rejects", "rejects.csv")
    assert run.returncode == 1, run.stderr
    rejects = (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    assert rejects.count("\n") > 20  # the header and the rows of 24 rejected patients
    secrets = _secrets(records)
    assert _leaks(run.stdout + run.stderr, secrets) == []
    assert _leaks(rejects, secrets) == []
    assert _mode(tmp_path / "rejects.csv") == 0o600
    if db == "x.db":
        assert _mode(tmp_path / "x.db") == 0o600


def test_unmasked_rejects_keep_the_raw_text_and_are_audited(tmp_path):
    records = _bad_roster(tmp_path / "bad.jsonl")
    run = _sangao(tmp_path, "roster", "import", "bad.jsonl", "--db", "x.db", "--as-of", AS_OF,
                  "--rejects", "rejects.csv", "--unmasked")
    assert run.returncode == 1, run.stderr
    rejects = (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    assert records[1]["name"] in rejects and records[1]["id_number"] in rejects
    from store.audit import audit_entries

    [entry] = audit_entries(f"sqlite:///{tmp_path / 'x.db'}")
    import getpass

    assert entry.who == getpass.getuser()
    assert entry.command == "roster import --rejects --unmasked"
    assert entry.patients == 24


def test_an_internal_error_logs_no_patient_value_and_no_sql_parameter(tmp_path, monkeypatch, capsys, db_url):
    """A bug that quotes a patient in its message, after a failed SQL statement with the patient's
    values bound: the log has the traceback but none of those values."""
    records = [json.loads(line) for line in generate_jsonl(5, 2, __import__("datetime").date(2026, 11, 30))]
    roster = tmp_path / "r.jsonl"
    roster.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    import sqlalchemy

    import store.writer

    def buggy_add(self, patient):
        try:
            self.conn.execute(sqlalchemy.text("INSERT INTO no_such_table VALUES (:n, :i, :p)"),
                              {"n": patient.name, "i": patient.id_number, "p": patient.phone})
        finally:
            raise ValueError(f"cannot add {patient.name} ({patient.id_number}, {patient.phone})")

    monkeypatch.setattr(store.writer.Store, "add", buggy_add)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    argv = ["sangao", "roster", "import", str(roster), "--db", db_url]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 3
    out = capsys.readouterr()
    folder = tmp_path / "state" / "sangao" / "crash"
    [log] = list(folder.iterdir())
    text = log.read_text(encoding="utf-8")
    assert "ValueError" in text and "buggy_add" in text and "no_such_table" in text  # the bug is findable
    assert _leaks(text + out.out + out.err, _secrets(records)) == []
    assert records[0]["name"][0] not in text.split("ValueError")[-1]
    assert _mode(folder) == 0o700 and _mode(log) == 0o600


def test_crash_logs_older_than_the_limit_are_removed_at_the_next_start(tmp_path, monkeypatch):
    folder = tmp_path / "state" / "sangao" / "crash"
    folder.mkdir(parents=True)
    old, recent = folder / "sangao-crash-old.log", folder / "sangao-crash-new.log"
    old.write_text("x")
    recent.write_text("x")
    long_ago = time.time() - (cli.CRASH_LOG_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    run = _sangao(tmp_path, "roster", "generate", "-n", "1", "--as-of", AS_OF)
    assert run.returncode == 0, run.stderr
    assert not old.exists() and recent.exists()


def test_writing_to_a_pipe_or_device_leaves_its_mode_alone(tmp_path):
    """Output sent to /dev/null (or a pipe) as root once made /dev/null 0600 for the whole machine."""
    from store.privacy import open_private

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    os.chmod(fifo, 0o644)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so opening it for writing does not wait
    try:
        with open_private(fifo, "w", encoding="utf-8") as f:
            f.write("patient_id\n")
        assert os.read(reader, 100) == b"patient_id\n"
    finally:
        os.close(reader)
    assert stat.S_IMODE(fifo.stat().st_mode) == 0o644
    regular = tmp_path / "rejects.csv"
    regular.write_text("old")
    regular.chmod(0o644)
    open_private(regular, "w").close()
    assert stat.S_IMODE(regular.stat().st_mode) == 0o600
