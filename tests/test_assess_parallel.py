"""`engine.parallel.assess_source` over store/roster_source.py: a JSONL roster assessed by byte ranges, in
one process or several,
writes the bytes the pydantic path writes (`assess_roster` + reports/assessments.py `write_jsonl`), in
input order, and stops at a bad line or a repeated patient id with the error `store.read_roster` gives."""

import io
import json
from collections import Counter
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import store
from engine.parallel import AssessCounts, AssessOptions, assess_roster, assess_source
from pathways.errors import SangaoError
from pathways.synthetic import generate_jsonl
from reports.assessments import write_jsonl
from store.roster_source import jsonl_source

AS_OF = date(2026, 11, 30)
OPTIONS = AssessOptions("national-default", AS_OF, provisional_calendar=True)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return list(generate_jsonl(240, 7, AS_OF))


def assess_jsonl(path, options, out, workers, counts=None, scan=False):
    """`scan`: the ranges cut while the workers run (`jsonl_scan`, as `sangao assess` does), else first."""
    from store.roster_source import jsonl_scan

    source = (jsonl_scan if scan else jsonl_source)(path, chunk_bytes=40_000)  # some 20 patients a range
    assert len(source.ranges) > 10
    return assess_source(source, options, out, workers=workers, counts=counts)


RUNS = ((1, False), (2, False), (1, True), (2, True))  # (workers, ranges cut while they run)


def _roster(tmp_path, lines: list[str], name: str = "roster.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _model_path(path) -> str:
    out = io.StringIO()
    write_jsonl(assess_roster(store.read_roster(path), OPTIONS), out)
    return out.getvalue()


def _fast(path, workers: int, scan: bool = False) -> tuple[bytes, AssessCounts]:
    out, counts = io.BytesIO(), AssessCounts()
    assess_jsonl(path, OPTIONS, out, workers=workers, counts=counts, scan=scan)
    return out.getvalue(), counts


def test_one_and_two_workers_write_the_model_paths_bytes_in_input_order(tmp_path, lines):
    path = _roster(tmp_path, lines)
    expected = _model_path(path).encode()
    one, counts_one = _fast(path, 1)
    two, counts_two = _fast(path, 2)
    assert one == expected
    assert two == expected
    assert counts_one == counts_two
    for workers in (1, 2):  # the ranges cut while the workers run: the same bytes and counts
        assert _fast(path, workers, scan=True) == (expected, counts_one)
    assert counts_one.assessed == expected.count(b"\n") and counts_one.skipped > 0
    assert counts_one.assessed + counts_one.skipped == len(lines)
    colours = Counter(json.loads(line)["color"] for line in expected.splitlines())
    assert counts_one.colors == counts_two.colors == colours and set(colours) == {"red", "yellow", "blue"}


def test_two_workers_writing_to_a_file_leave_its_bytes_and_no_chunk_file_behind(tmp_path, lines, monkeypatch):
    import tempfile

    path = _roster(tmp_path, lines)
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))  # where the workers leave their chunks
    target = tmp_path / "out.jsonl"
    with open(target, "wb") as out:
        out.write(b"before\n")
        assess_jsonl(path, OPTIONS, out, workers=2, scan=True)
        out.write(b"after\n")
    assert target.read_bytes() == b"before\n" + _model_path(path).encode() + b"after\n"
    assert list(spills.iterdir()) == []


def test_a_line_pydantic_must_judge_is_assessed_the_same_way(tmp_path, lines):
    # an explicit null is valid but not "clean": the slow path reads the line
    assert '"visits":[{' in lines[0] and "random_glucose" not in lines[0]
    changed = [lines[0].replace('"visits":[{', '"visits":[{"random_glucose":null,', 1), *lines[1:]]
    path = _roster(tmp_path, changed)
    assert _fast(path, 2)[0] == _fast(path, 1)[0] == _model_path(path).encode()


def test_a_rejected_line_stops_the_run_after_the_lines_before_it(tmp_path, lines):
    bad = [*lines[:150], lines[150].replace('"sex":"', '"sex":"X', 1), *lines[151:]]
    path = _roster(tmp_path, bad)
    with pytest.raises(SangaoError) as expected:
        list(store.read_roster(path))
    for workers, scan in RUNS:
        out = io.BytesIO()
        with pytest.raises(SangaoError) as got:
            assess_jsonl(path, OPTIONS, out, workers=workers, scan=scan)
        assert got.value.problems == expected.value.problems
        assert got.value.problems[0].line == 151
        written = out.getvalue().decode().splitlines()
        assert written == _model_path(_roster(tmp_path, lines[:150], "head.jsonl")).splitlines()


def test_a_repeated_patient_id_is_rejected_naming_where_it_was_first(tmp_path, lines):
    first_id = lines[3].split('"patient_id":"')[1].split('"')[0]
    again = lines[200].replace(lines[200].split('"patient_id":"')[1].split('"')[0], first_id, 1)
    path = _roster(tmp_path, [*lines[:200], again, *lines[201:]])
    for workers, scan in RUNS:
        out = io.BytesIO()
        with pytest.raises(SangaoError) as got:
            assess_jsonl(path, OPTIONS, out, workers=workers, scan=scan)
        (problem,) = got.value.problems
        assert (problem.code, problem.line) == ("D021", 201)
        assert f"first at {path}:4" in problem.message
        head = _model_path(_roster(tmp_path, lines[:200], "head.jsonl"))
        assert out.getvalue().decode().splitlines() == head.splitlines()


def test_a_database_read_in_batches_gives_the_bytes_of_read_patients(tmp_path, lines):
    from store.roster_source import db_source

    db = f"sqlite:///{tmp_path / 'roster.db'}"
    store.import_files([_roster(tmp_path, lines)], db, AS_OF)
    expected = io.StringIO()
    write_jsonl(assess_roster(store.read_patients(db), OPTIONS), expected)
    source = db_source(db, batch=25)
    assert len(source.ranges) == 10  # 240 patients
    for workers in (1, 2):
        out, counts = io.BytesIO(), AssessCounts()
        assess_source(source, OPTIONS, out, workers=workers, counts=counts)
        assert out.getvalue() == expected.getvalue().encode()
        assert counts.assessed + counts.skipped == len(lines)


def test_a_patient_the_rules_cannot_assess_stops_the_run_after_the_lines_before_it(tmp_path, lines):
    # a county set whose vocabulary lacks `apathy`: a patient whose latest visit records it is an
    # R403 error when the facts are read, with the lines before that patient already written
    import shutil

    from guidelines.loader import package_sets_dir

    folder = tmp_path / "county"
    shutil.copytree(package_sets_dir() / "national-default", folder)
    vocabulary = folder / "vocabulary.yaml"
    text = vocabulary.read_text(encoding="utf-8")
    vocabulary.write_text("".join(x for x in text.splitlines(True) if "apathy:" not in x), encoding="utf-8")
    options = AssessOptions(str(folder), AS_OF, provisional_calendar=True)
    assert '"visits":[' in lines[120]
    odd = lines[120].replace('"visits":[', '"visits":[{"date":"2026-11-29","symptoms":["apathy"]},', 1)
    path = _roster(tmp_path, [*lines[:120], odd, *lines[121:]])
    expected_out = io.StringIO()
    with pytest.raises(SangaoError) as expected:
        write_jsonl(assess_roster(store.read_roster(path), options), expected_out)
    assert expected.value.problems[0].code == "R403"
    assert expected_out.getvalue().count("\n") > 100  # the patients before the one at fault
    for workers in (1, 2):
        out = io.BytesIO()
        with pytest.raises(SangaoError) as got:
            assess_jsonl(path, options, out, workers=workers)
        assert got.value.problems == expected.value.problems
        assert out.getvalue() == expected_out.getvalue().encode()


def _county_without_apathy(tmp_path):
    """national-default with `apathy` left out of its vocabulary: a visit recording it is an R403."""
    import shutil

    from guidelines.loader import package_sets_dir

    folder = tmp_path / "county"
    shutil.copytree(package_sets_dir() / "national-default", folder)
    vocabulary = folder / "vocabulary.yaml"
    text = vocabulary.read_text(encoding="utf-8")
    vocabulary.write_text("".join(x for x in text.splitlines(True) if "apathy:" not in x), encoding="utf-8")
    return AssessOptions(str(folder), AS_OF, provisional_calendar=True)


def _one_range(path, options, workers=1):
    """`assess_source` over `path` read as one range (staged in batches): (bytes, counts, problems)."""
    source = jsonl_source(path)
    assert len(source.ranges) == 1
    out, counts = io.BytesIO(), AssessCounts()
    try:
        assess_source(source, options, out, workers=workers, counts=counts)
    except SangaoError as exc:
        return out.getvalue(), counts, exc.problems
    return out.getvalue(), counts, None


def test_a_range_staged_in_batches_stops_where_one_patient_at_a_time_would(tmp_path, lines, monkeypatch):
    import engine.parallel

    monkeypatch.setattr(engine.parallel, "BATCH", 7)
    options = _county_without_apathy(tmp_path)
    odd = lines[45].replace('"visits":[', '"visits":[{"date":"2026-11-29","symptoms":["apathy"]},', 1)
    bad = lines[150].replace('"sex":"', '"sex":"X', 1)
    for name, roster in (("whole", lines), ("failing", [*lines[:45], odd, *lines[46:]]),
                         ("rejected", [*lines[:150], bad, *lines[151:]])):
        path = _roster(tmp_path, roster, f"{name}.jsonl")
        expected_out = io.StringIO()
        expected_counts = AssessCounts()
        try:
            write_jsonl(assess_roster(store.read_roster(path), options, counts=expected_counts), expected_out)
            expected_problems = None
        except SangaoError as exc:
            expected_problems = exc.problems
        got, counts, problems = _one_range(path, options)
        assert got == expected_out.getvalue().encode(), name
        assert problems == expected_problems, name
        assert (counts.assessed, counts.skipped) == (got.count(b"\n"), expected_counts.skipped), name
    assert _one_range(tmp_path / "failing.jsonl", options)[2][0].code == "R403"
    assert _one_range(tmp_path / "rejected.jsonl", options)[2][0].line == 151


def test_blank_lines_crlf_line_ends_and_a_bom_are_read_as_read_roster_reads_them(tmp_path, lines):
    spaced = "".join(f"  {line}\t\r\n" for line in lines[1:40])
    text = "\ufeff" + lines[0] + "\r\n\r\n   \n" + spaced + lines[40]  # the last with no line end
    path = tmp_path / "spaced.jsonl"
    path.write_text(text, encoding="utf-8")
    got, counts, problems = _one_range(path, OPTIONS)
    assert problems is None
    assert got == _model_path(path).encode()
    assert counts.assessed + counts.skipped == 41
    bad = text.replace(lines[7], lines[7].replace('"sex":"', '"sex":"X', 1))
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SangaoError) as expected:
        list(store.read_roster(path))
    assert _one_range(path, OPTIONS)[2] == expected.value.problems
    assert expected.value.problems[0].line == 10  # a BOM line, two blank ones, lines[1:7], then lines[7]


# ---- the cutting pass run beside the workers (store/roster_source.py `jsonl_scan`) --------------


def test_a_scan_gives_the_ranges_of_the_pass_run_first_in_order(tmp_path, lines):
    from store.roster_source import jsonl_scan

    text = "\ufeff" + lines[0] + "\r\n\r\n" + "".join(f" {line}\r\n" for line in lines[1:200]) + lines[200]
    path = tmp_path / "r.jsonl"
    path.write_text(text, encoding="utf-8")
    for chunk_bytes in (1, 5_000, 40_000, 1 << 30):
        expected = jsonl_source(path, chunk_bytes=chunk_bytes).ranges
        scan = jsonl_scan(path, chunk_bytes=chunk_bytes).ranges
        assert tuple(scan) == expected  # iterated while (or after) the pass runs
        assert scan.complete() == expected
        assert scan.at_least(len(expected) + 5) == len(expected)  # the pass is over: no more come
        assert tuple(scan) == expected  # and again


def test_a_scanned_source_is_handed_to_a_worker_without_its_ranges(tmp_path, lines):
    import pickle

    from store.roster_source import JsonlSource, jsonl_scan

    path = _roster(tmp_path, lines[:50])
    source = jsonl_scan(path, chunk_bytes=4_000)
    source.ranges.complete()
    assert pickle.loads(pickle.dumps(source)) == JsonlSource(str(path), ())


def test_a_cancelled_scan_ends_early_and_its_iterators_stop(tmp_path, lines):
    from store.roster_source import _cut

    path = _roster(tmp_path, lines * 4)  # some 1.6 MB: several blocks of the pass
    calls = []

    def stopped():
        calls.append(1)
        return len(calls) > 1  # after the first block

    got = list(_cut(path, 40_000, stopped))
    every = list(_cut(path, 40_000))
    assert 0 < len(got) < len(every)
    assert got == every[: len(got)]


def _half_gb18030(tmp_path, lines, bad_line: int | None = None):
    """A roster whose first 200 lines are UTF-8 and whose last 40 are GB18030 (no longer UTF-8)."""
    head = [line.replace('"sex":"', '"sex":"X', 1) if i == bad_line else line
            for i, line in enumerate(lines[:200])]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes("".join(line + "\n" for line in head).encode("utf-8")
                     + "".join(line + "\n" for line in lines[200:]).encode("gb18030"))
    return path


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("bad_line", [None, 3])
def test_a_file_found_not_utf8_after_its_first_ranges_writes_nothing_and_says_so(tmp_path, lines, workers,
                                                                                 bad_line):
    from store.roster_source import NotUtf8, jsonl_scan

    path = _half_gb18030(tmp_path, lines, bad_line)
    assert jsonl_source(path) is None  # the pass run first: not UTF-8
    source = jsonl_scan(path, chunk_bytes=8_000)
    assert source.ranges.at_least(3) >= 3  # ranges found (and handed out) before the GB18030 part
    out, counts = io.BytesIO(), AssessCounts()
    with pytest.raises(NotUtf8):  # (not the rejected line 4 nor any line: the file is read another way)
        assess_source(source, OPTIONS, out, workers=workers, counts=counts)
    assert out.getvalue() == b""
    assert counts == AssessCounts()


def test_assess_reads_a_file_found_not_utf8_late_as_it_read_it_before(tmp_path, lines):
    """The fast path gives way to store.read_roster (which finds the encoding of the whole file) as
    when the pass ran before any worker: the same output or error as the record path."""
    from typer.testing import CliRunner

    import cli

    path = _half_gb18030(tmp_path, lines)
    args = ["assess", "--roster", str(path), "--as-of", "2026-11-30", "--format", "jsonl",
            "--provisional-calendar", "--workers", "2"]
    with pytest.raises(SangaoError) as read:
        list(store.read_roster(path))  # neither UTF-8 nor GB18030 as a whole
    result = CliRunner().invoke(cli.app, args)
    assert read.value.problems[0].code == "D030"
    assert isinstance(result.exception, SangaoError)
    assert result.exception.problems == read.value.problems
    assert not any(line.startswith("{") for line in result.stdout.splitlines())



def test_an_out_file_already_there_is_left_as_it_was_when_the_roster_is_found_not_utf8_late(tmp_path, lines):
    from typer.testing import CliRunner

    import cli

    path, out = _half_gb18030(tmp_path, lines), tmp_path / "assessed.jsonl"
    out.write_bytes(b"last week's assessments\n")
    args = ["assess", "--roster", str(path), "--as-of", "2026-11-30", "--format", "jsonl",
            "--provisional-calendar", "--workers", "2", "--out", str(out)]
    result = CliRunner().invoke(cli.app, args)
    assert isinstance(result.exception, SangaoError) and result.exception.problems[0].code == "D030"
    assert out.read_bytes() == b"last week's assessments\n"


def test_an_out_file_gets_the_lines_stdout_gets(tmp_path, lines):
    from typer.testing import CliRunner

    import cli

    path, out = tmp_path / "r.jsonl", tmp_path / "assessed.jsonl"
    path.write_text("".join(line + "\n" for line in lines[:50]), encoding="utf-8")
    args = ["assess", "--roster", str(path), "--as-of", "2026-11-30", "--format", "jsonl",
            "--provisional-calendar", "--workers", "1"]
    shown = CliRunner().invoke(cli.app, args)
    written = CliRunner().invoke(cli.app, [*args, "--out", str(out)])
    assert shown.exit_code == written.exit_code == 0
    got = out.read_text(encoding="utf-8").splitlines()
    assert len(got) > 40 and got == [line for line in shown.stdout.splitlines() if line.startswith("{")]



@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_out_file_is_made_when_no_patient_is_left_to_assess(tmp_path, lines, fmt):
    from typer.testing import CliRunner

    import cli

    path, out = tmp_path / "r.jsonl", tmp_path / f"assessed.{fmt}"
    record = json.loads(lines[0]) | {"deceased_on": "2026-01-02"}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    out.write_text("last week's assessments\n", encoding="utf-8")
    args = ["assess", "--roster", str(path), "--as-of", "2026-11-30", "--format", fmt,
            "--provisional-calendar", "--out", str(out)]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "last week" not in out.read_text(encoding="utf-8-sig")
    assert (out.stat().st_mode & 0o777) == 0o600


class _Pass:
    """A cutting pass that is over after `after` chunks have arrived (what `_collect` reads of a Scan)."""

    def __init__(self, after: int, utf8: bool = True) -> None:
        self.after, self.utf8, self.arrived = after, utf8, 0

    @property
    def done(self) -> bool:
        return self.arrived >= self.after

    def complete(self):
        from store.roster_source import NotUtf8

        self.arrived = max(self.arrived, self.after)  # (a Scan waits here for its pass to end)
        if not self.utf8:
            raise NotUtf8("r.jsonl")
        return ()


def _chunks_arriving(scan: _Pass, out: io.BytesIO, seen_before: list[bytes]):
    from engine.parallel import Chunk

    for i in range(5):
        seen_before.append(out.getvalue())  # what was written when chunk i arrived
        scan.arrived += 1
        problems = SangaoError.of("D021", file="r.jsonl", line=9, patient="'p9'", first="r.jsonl:1").problems
        stop = problems if i == 3 else None
        yield Chunk(f"line {i}\n".encode(), [f"p{i}"], [i + 1], [1], 1, 0, stop, ["red"])


@pytest.mark.parametrize("after", [1, 3, 5, 9])
def test_chunks_arriving_before_the_pass_is_over_are_written_after_it_in_order(after):
    from engine.parallel import _collect

    scan, out, seen_before, counts = _Pass(after), io.BytesIO(), [], AssessCounts()
    with pytest.raises(SangaoError) as stopped:  # chunk 3 stops the run, as when the pass ran first
        _collect(_chunks_arriving(scan, out, seen_before), None, out, counts, scan=scan)
    assert out.getvalue() == b"line 0\nline 1\nline 2\nline 3\n"
    assert stopped.value.problems[0].line == 9
    assert all(before == b"" for before in seen_before[: min(after, 4)])  # nothing before the pass is over
    assert counts.assessed == 4


@pytest.mark.parametrize("after", [1, 4, 9])
def test_a_pass_that_finds_the_file_not_utf8_leaves_nothing_written(after):
    from engine.parallel import _collect
    from store.roster_source import NotUtf8

    scan, out = _Pass(after, utf8=False), io.BytesIO()
    with pytest.raises(NotUtf8):
        _collect(_chunks_arriving(scan, out, []), None, out, AssessCounts(), scan=scan)
    assert out.getvalue() == b""


_UTF8_PIECES = ["a", "\n", "é", "中", "𝄞", "\ufeff"]
_BAD_PIECES = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe4\xb8", b"\x80", b"\xf4\x90\x80\x80"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(_UTF8_PIECES).map(str.encode), st.sampled_from(_BAD_PIECES),
                          st.binary(max_size=3)), max_size=40),
       st.integers(1, 9), st.integers(1, 5))
def test_the_cutting_pass_finds_a_file_utf8_exactly_when_python_decodes_it(tmp_path, monkeypatch, pieces,
                                                                            block, piece):
    """Blocks and the pieces checked within them cut characters anywhere: the verdict is the whole
    file's, and the ranges given before a fault cover only bytes before it."""
    from store import roster_source
    from store.roster_source import NotUtf8, _cut

    monkeypatch.setattr(roster_source, "SCAN_BLOCK", block)
    monkeypatch.setattr(roster_source, "DECODE_SLICE", piece)
    data = b"".join(pieces)
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(data)
    try:
        data.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError as exc:
        utf8, fault = False, exc.start
    given_ranges = []
    try:
        for r in _cut(path, 4):
            given_ranges.append(r)
        found = True
    except NotUtf8:
        found = False
    assert found == utf8
    if utf8:
        assert given_ranges == list(jsonl_source(path, chunk_bytes=4).ranges)
        assert b"".join(data[r.start : r.end] for r in given_ranges) == data
    else:
        assert all(r.end <= fault for r in given_ranges)
