"""`sangao roster export --format parquet --buckets N` and `sangao assess --executor dask`: every patient
in exactly one bucket file with their whole record, and a LocalCluster of two worker processes giving
the local run's assessments byte for byte (JSONL, Parquet written by the workers, saved rows). Then
as a province runs it: a scheduler and two workers started as separate processes (`dask scheduler`,
`dask worker ADDRESS`) and `sangao assess --scheduler ADDRESS` run as a process of its own."""

import contextlib
import json
import os
import pickle
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zlib
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy
from typer.testing import CliRunner

import cli
from engine.dask_executor import assess_frame, assess_jsonl, assess_to_file, assess_to_parquet, dask_client
from engine.parallel import AssessCounts, AssessOptions
from engine.set_cache import load_cached
from pathways.errors import SangaoError
from pathways.synthetic import generate_jsonl
from store.parquet import read_manifest, write_buckets

AS_OF = "2026-11-30"
OPTIONS = AssessOptions("national-default", date.fromisoformat(AS_OF), provisional_calendar=True)
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A generated roster imported into SQLite, exported as JSONL and as 4 Parquet buckets, and
    assessed by the local run (local.jsonl)."""
    folder = tmp_path_factory.mktemp("dask")
    roster = folder / "roster.jsonl"
    roster.write_text("".join(line + "\n" for line in generate_jsonl(300, 11, date.fromisoformat(AS_OF))),
                      encoding="utf-8")
    db = str(folder / "roster.db")
    _run("roster", "import", str(roster), "--db", db)
    _run("roster", "export", "--db", db, "--format", "jsonl", "--out", str(folder / "export.jsonl"))
    _run("roster", "export", "--db", db, "--format", "parquet", "--buckets", "4", "--out", str(folder / "pq"))
    _run("assess", "--roster", str(folder / "export.jsonl"), "--as-of", AS_OF, "--format", "jsonl",
         "--out", str(folder / "local.jsonl"))
    return folder


@pytest.fixture(scope="module")
def client():
    with dask_client(None, 2) as c:
        yield c


def test_every_patient_is_in_exactly_one_bucket_file_with_the_whole_exported_record(exported):
    lines = (exported / "export.jsonl").read_text(encoding="utf-8").splitlines()
    manifest = json.loads((exported / "pq" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["buckets"] == 4 and manifest["patients"] == len(lines) == 300
    rows = []
    for entry in manifest["files"]:
        table = pq.read_table(exported / "pq" / entry["file"]).to_pylist()
        assert len(table) == entry["rows"] > 0
        assert entry["file"] == f"bucket-{entry['bucket']:05d}.parquet"
        for row in table:
            assert zlib.crc32(row["patient_id"].encode("utf-8")) % 4 == entry["bucket"]
        assert [r["seq"] for r in table] == sorted(r["seq"] for r in table)  # export order within a file
        rows += table
    assert len({r["patient_id"] for r in rows}) == len(rows) == 300
    by_seq = sorted(rows, key=lambda r: r["seq"])
    assert [r["record"] for r in by_seq] == lines  # the whole record, as the JSONL export writes it
    for r in by_seq:
        record = json.loads(r["record"])
        assert (r["patient_id"], r["institution"], r["team"]) == (
            record["patient_id"], record.get("institution"), record.get("team"))


def test_a_shard_of_two_institutions_holds_exactly_their_patients_in_export_order(exported):
    records = list(map(json.loads, (exported / "export.jsonl").read_text(encoding="utf-8").splitlines()))
    chosen = {records[0]["institution"], records[1]["institution"]}
    mine = [r for r in records if r.get("institution") in chosen]
    assert len(chosen) == 2 and 0 < len(mine) < len(records)
    first, second = sorted(chosen)
    _run("roster", "export", "--db", str(exported / "roster.db"), "--format", "parquet", "--buckets", "2",
         "--institution", first, "--institution", second, "--out", str(exported / "shard"))
    manifest = read_manifest(exported / "shard")
    assert manifest.patients == len(mine)
    rows = [r for path in manifest.paths for r in pq.read_table(path).to_pylist()]
    assert [json.loads(r["record"]) for r in sorted(rows, key=lambda r: r["seq"])] == mine


def test_two_worker_processes_write_the_local_runs_bytes_and_save_the_same_assessments(exported, client):
    db = exported / "saved.db"
    shutil.copy(exported / "roster.db", db)
    out = exported / "dask.jsonl"
    # the command connects to the module's LocalCluster (dask_client(None, 2), as without --scheduler)
    result = runner.invoke(cli.app, ["assess", "--executor", "dask", "--scheduler", client.scheduler.address,
                                     "--roster",
                                     str(exported / "pq"), "--as-of", AS_OF, "--format", "jsonl",
                                     "--out", str(out), "--save", "--db", str(db), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    local = (exported / "local.jsonl").read_bytes()
    assert out.read_bytes() == local
    assessed = len(local.splitlines())
    assert f"{assessed} 名已评估，{300 - assessed} 名未评估" in result.output
    with sqlite3.connect(db) as conn:
        saved = dict(conn.execute("select patient_id, payload from assessments").fetchall())
    expected = [json.loads(line) for line in local.splitlines()]
    assert saved.keys() == {a["patient_id"] for a in expected}
    for a in expected:
        assert json.loads(saved[a["patient_id"]]) == a


def test_saving_only_stores_each_bucket_as_it_finishes_with_the_local_assessments(exported, client, db_url):
    """Into a fresh SQLite file, and into PostgreSQL (the province's database)."""
    result = runner.invoke(cli.app, ["assess", "--executor", "dask", "--scheduler", client.scheduler.address,
                                     "--roster", str(exported / "pq"), "--as-of", AS_OF, "--save",
                                     "--db", db_url, "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert "{" not in result.output  # nothing but the counts printed
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = sqlalchemy.text("select patient_id, payload, input_file from assessments")
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    saved = {pid: json.loads(payload) for pid, payload, _ in rows}
    local = (exported / "local.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(local)
    assert saved == {a["patient_id"]: a for a in map(json.loads, local)}
    assert {source for _, _, source in rows} == {str(exported / "pq" / "manifest.json")}


def test_the_cluster_has_two_worker_processes_besides_this_one(client):
    pids = client.run(os.getpid)
    assert len(pids) == 2
    assert os.getpid() not in pids.values()


def test_parquet_written_by_the_workers_holds_the_local_assessments_one_file_per_bucket(exported, client):
    folder = exported / "results"
    counts = AssessCounts()
    written = assess_to_parquet(read_manifest(exported / "pq"), OPTIONS, client, folder, counts)
    local = (exported / "local.jsonl").read_text(encoding="utf-8").splitlines()
    assert written == counts.assessed == len(local)
    assert counts.skipped == 300 - len(local)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"assessments-bucket-{b:05d}.parquet" for b in range(4)]
    rows = [r for name in names for r in pq.read_table(folder / name).to_pylist()]
    assert [r["assessment"] for r in sorted(rows, key=lambda r: r["seq"])] == local
    for r in rows:
        a = json.loads(r["assessment"])
        assert (r["patient_id"], r["color"]) == (a["patient_id"], a["color"])
    assert counts.colors == {c: sum(r["color"] == c for r in rows) for c in ("red", "yellow", "blue")}


def _records(n: int) -> list[dict]:
    return [json.loads(line) for line in generate_jsonl(n, 5, date.fromisoformat(AS_OF))]


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def test_a_rejected_record_stops_the_run_naming_its_bucket_file_and_row(tmp_path, client):
    records = _records(3)
    records[1]["birth_date"] = "1950-02-30"
    write_buckets([(r, _line(r)) for r in records], tmp_path, 1)
    with pytest.raises(SangaoError) as caught:
        assess_jsonl(read_manifest(tmp_path), OPTIONS, client)
    problem = caught.value.problems[0]
    assert problem.file == str(tmp_path / "bucket-00000.parquet")
    assert problem.line == 2
    assert "birth_date" in problem.render("en")


def test_a_patient_id_given_twice_lands_in_one_bucket_and_is_refused_as_d021(tmp_path, client):
    records = _records(3)
    records[2]["patient_id"] = records[0]["patient_id"]
    manifest = write_buckets([(r, _line(r)) for r in records], tmp_path, 2)
    holding = [f for f in manifest.files if f.rows]
    with pytest.raises(SangaoError) as caught:
        assess_jsonl(read_manifest(tmp_path), OPTIONS, client)
    problem = caught.value.problems[0]
    assert problem.code == "D021"
    path = str(tmp_path / f"bucket-{zlib.crc32(records[0]['patient_id'].encode()) % 2:05d}.parquet")
    assert path in [f.path for f in holding]
    assert problem.file == path
    assert f"{path}:1" in problem.render("zh")


def test_a_bucket_file_a_worker_cannot_read_stops_the_run_naming_the_file_and_the_worker(tmp_path, client):
    records = _records(4)
    manifest = write_buckets([(r, _line(r)) for r in records], tmp_path, 2)
    gone = next(f.path for f in manifest.files if f.rows)
    os.unlink(gone)  # as a folder that is not at the same path on a worker's machine
    with pytest.raises(SangaoError) as caught:
        assess_jsonl(manifest, OPTIONS, client)
    problem = caught.value.problems[0]
    assert problem.code == "R122"
    assert problem.file == gone
    workers = client.run(lambda dask_worker: dask_worker.address)
    text = problem.render("zh")
    assert any(f"Dask 工作进程 {w} 读不到分桶文件 {gone}" in text for w in workers)
    assert "共享文件系统" in text


def test_a_results_folder_a_worker_cannot_write_is_refused_naming_the_file(exported, tmp_path):
    manifest = read_manifest(exported / "pq")
    frame = pd.DataFrame({"file": [manifest.paths[0]]})  # a partition: a bucket file's path
    loaded = ("key", pickle.dumps(load_cached("national-default", (2026, 2027), True, None)))
    (tmp_path / "file").write_text("", encoding="utf-8")
    folder = tmp_path / "file" / "results"  # under a file: no folder can be made there
    with pytest.raises(SangaoError) as caught:
        assess_to_file(frame, manifest, loaded, "python", OPTIONS.as_of, str(folder))
    problem = caught.value.problems[0]
    assert problem.code == "R122"
    assert problem.file == str(folder / "assessments-bucket-00000.parquet")
    assert "cannot write the results file" in problem.render("en")
    assert "--out folder at the same path" in problem.render("en")


def test_a_folder_without_a_manifest_is_refused_in_chinese_with_how_to_write_one(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(sys, "argv", ["sangao", "assess", "--executor", "dask", "--roster", str(tmp_path),
                                      "--as-of", AS_OF, "--format", "jsonl", "--lang", "zh"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = " ".join(capsys.readouterr().err.split())  # as printed, less the terminal's line breaks
    assert f"{tmp_path}: D050 文件夹中没有 manifest.json" in err
    assert "sangao roster export --format parquet --buckets N" in err


def test_without_dask_installed_the_run_says_how_to_install_it(exported):
    code = ("import sys; sys.modules['dask'] = None; import cli; "
            f"sys.argv = ['sangao', 'assess', '--executor', 'dask', '--roster', {str(exported / 'pq')!r}, "
            f"'--as-of', {AS_OF!r}, '--format', 'jsonl', '--lang', 'zh']; cli.main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert "R120" in result.stderr
    assert "pip install 'sangao[dask]'" in result.stderr
    assert "未安装" in result.stderr


# ---- a cluster of separate processes, as on a province's machines --------------------------------


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    """A process in its own process group (its children are stopped with it), output to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop every process group, politely first (a nanny stops its worker), then for good."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group: a worker left behind by its nanny too
        proc.wait()


def _scheduler_address(scheduler_file: Path, proc: subprocess.Popen, log: Path) -> str:
    """The address the scheduler (started with --port 0) writes into its --scheduler-file."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the scheduler stopped: {log.read_text(errors='replace')[-2000:]}"
        if scheduler_file.exists():
            try:
                return json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
            except (json.JSONDecodeError, KeyError):
                pass  # being written
        time.sleep(0.2)
    raise AssertionError(f"no scheduler address after 60 s: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def separate_cluster(tmp_path_factory):
    """The address of a scheduler and two single-threaded workers, each its own process started here
    (as `dask scheduler` and `dask worker ADDRESS` on a cluster's machines), stopped at the end
    whatever happens."""
    import distributed

    folder = tmp_path_factory.mktemp("cluster")
    procs: list[subprocess.Popen] = []
    try:
        log = folder / "scheduler.log"
        procs.append(_start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", "0", "--no-dashboard", "--scheduler-file",
                             str(folder / "scheduler.json")], log))
        address = _scheduler_address(folder / "scheduler.json", procs[0], log)
        for n in range(2):
            procs.append(_start([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                 "--nthreads", "1", "--no-dashboard", "--name", f"worker-{n}",
                                 "--local-directory", str(folder / f"worker-{n}")],
                                folder / f"worker-{n}.log"))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        _stop(procs)


def _sangao(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`sangao ARGS` as its own process (cli.main, as the installed command runs it) in `cwd`."""
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _kept_assessors(address: str) -> dict[str, int]:
    """How many guideline sets each worker of the cluster keeps an assessor of (its own module state)."""
    import distributed

    def kept() -> int:
        from engine import dask_executor

        return len(dask_executor._ASSESSORS)

    with distributed.Client(address, timeout="30s") as client:
        return client.run(kept)


def test_assess_as_its_own_process_on_separately_started_workers_writes_the_local_runs_bytes(
    exported, separate_cluster
):
    out = exported / "separate.jsonl"
    # folders named relative to where the command runs, not where the workers run
    result = _sangao("assess", "--executor", "dask", "--scheduler", separate_cluster, "--roster", "pq",
                     "--as-of", AS_OF, "--format", "jsonl", "--out", out.name, "--lang", "en", cwd=exported)
    assert result.returncode == 0, result.stderr
    local = (exported / "local.jsonl").read_bytes()
    assert out.read_bytes() == local
    assessed = len(local.splitlines())
    assert f"{assessed} assessed, {300 - assessed} skipped" in result.stderr
    kept = _kept_assessors(separate_cluster)
    assert len(kept) == 2 and sum(kept.values()) >= 1  # the cluster's workers did the work


def test_separately_started_workers_write_the_local_assessments_as_parquet_into_a_relative_folder(
    exported, separate_cluster
):
    result = _sangao("assess", "--executor", "dask", "--scheduler", separate_cluster, "--roster", "pq",
                     "--as-of", AS_OF, "--format", "parquet", "--out", "separate-results", cwd=exported)
    assert result.returncode == 0, result.stderr
    folder = exported / "separate-results"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"assessments-bucket-{b:05d}.parquet" for b in range(4)]
    rows = [r for name in names for r in pq.read_table(folder / name).to_pylist()]
    local = (exported / "local.jsonl").read_text(encoding="utf-8").splitlines()
    assert [r["assessment"] for r in sorted(rows, key=lambda r: r["seq"])] == local


def test_assessments_saved_from_separately_started_workers_are_the_local_ones(
    exported, separate_cluster, db_url
):
    """Into a fresh SQLite file, and into PostgreSQL (the province's database)."""
    result = _sangao("assess", "--executor", "dask", "--scheduler", separate_cluster, "--roster",
                     str(exported / "pq"), "--as-of", AS_OF, "--save", "--db", db_url)
    assert result.returncode == 0, result.stderr
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("select patient_id, payload from assessments")).all()
    finally:
        engine.dispose()
    local = (exported / "local.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(local)
    saved = {pid: json.loads(payload) for pid, payload in rows}
    assert saved == {a["patient_id"]: a for a in map(json.loads, local)}


def test_an_unreachable_scheduler_is_refused_naming_its_address(exported):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _sangao("assess", "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}", "--roster",
                     str(exported / "pq"), "--as-of", AS_OF, "--format", "jsonl", "--lang", "en")
    assert result.returncode == 1, result.stderr
    assert "R121" in result.stderr and f"tcp://127.0.0.1:{port}" in result.stderr


# ---- a bucket file read a piece at a time, as a worker reads a province's large buckets -----------


@pytest.fixture()
def small_pieces(monkeypatch):
    """Bucket files written in row groups of 7 rows and read in ranges of 3 (instead of 5,000 and
    2,000), in this process."""
    import store.parquet

    monkeypatch.setattr(store.parquet, "ROW_GROUP", 7)
    monkeypatch.setattr(store.parquet, "RANGE_ROWS", 3)


def _small_buckets(exported: Path, folder: Path):
    """The exported roster as 2 buckets in row groups of `small_pieces`; the largest file's path."""
    lines = (exported / "export.jsonl").read_text(encoding="utf-8").splitlines()
    manifest = write_buckets([(json.loads(line), line) for line in lines], folder, 2)
    return manifest, max(manifest.files, key=lambda f: f.rows).path


def _loaded():
    return "key", pickle.dumps(load_cached("national-default", (2026, 2027), True, None))


def test_a_bucket_read_in_pieces_gives_each_patient_the_local_assessment_in_export_order(
    exported, tmp_path, small_pieces
):
    manifest, path = _small_buckets(exported, tmp_path)
    assert pq.ParquetFile(path).metadata.num_row_groups > 3  # several pieces
    result = assess_frame(pd.DataFrame({"file": [path]}), manifest, _loaded(), "python", OPTIONS.as_of)
    local = {json.loads(line)["patient_id"]: line
             for line in (exported / "local.jsonl").read_text(encoding="utf-8").splitlines()}
    rows = pq.read_table(path, columns=["seq", "patient_id"]).to_pylist()
    expected = [(r["seq"], r["patient_id"], local[r["patient_id"]]) for r in rows if r["patient_id"] in local]
    assert list(zip(result["seq"], result["patient_id"], result["assessment"], strict=True)) == expected
    assert list(result["color"]) == [json.loads(line)["color"] for _, _, line in expected]


def test_a_rejected_record_in_a_later_piece_is_named_by_its_row_in_the_file(tmp_path, small_pieces):
    records = _records(20)
    records[16]["birth_date"] = "1950-02-30"
    manifest = write_buckets([(r, _line(r)) for r in records], tmp_path, 1)
    with pytest.raises(SangaoError) as caught:
        assess_frame(pd.DataFrame({"file": manifest.paths}), manifest, _loaded(), "python", OPTIONS.as_of)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (manifest.paths[0], 17)
    assert "birth_date" in problem.render("en")


def test_a_patient_id_repeated_pieces_apart_is_d021_naming_both_rows(tmp_path, small_pieces):
    records = _records(20)
    records[18]["patient_id"] = records[1]["patient_id"]
    manifest = write_buckets([(r, _line(r)) for r in records], tmp_path, 1)
    with pytest.raises(SangaoError) as caught:
        assess_frame(pd.DataFrame({"file": manifest.paths}), manifest, _loaded(), "python", OPTIONS.as_of)
    problem = caught.value.problems[0]
    assert (problem.code, problem.line) == ("D021", 19)
    assert f"{manifest.paths[0]}:2" in problem.render("zh")


def test_results_written_a_piece_at_a_time_are_one_file_of_the_buckets_assessments(
    exported, tmp_path, small_pieces
):
    manifest, path = _small_buckets(exported, tmp_path / "pq")
    counts = assess_to_file(pd.DataFrame({"file": [path]}), manifest, _loaded(), "python", OPTIONS.as_of,
                            str(tmp_path))
    whole = assess_frame(pd.DataFrame({"file": [path]}), manifest, _loaded(), "python", OPTIONS.as_of)
    written = pq.ParquetFile(tmp_path / f"assessments-{Path(path).name}")
    assert written.metadata.num_row_groups > 1
    assert written.read().to_pylist() == whole.to_dict("records")
    assert int(counts["rows"].iloc[0]) == pq.ParquetFile(path).metadata.num_rows
    assert {c: int(counts[c].iloc[0]) for c in ("red", "yellow", "blue")} == {
        c: int((whole["color"] == c).sum()) for c in ("red", "yellow", "blue")}
