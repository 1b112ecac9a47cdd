"""Shared fixtures. `db_url` runs a storage test against SQLite and a real PostgreSQL server:
SANGAO_TEST_DATABASE_URL when set, else a throw-away server started from the Debian package
binaries (/usr/lib/postgresql/*/bin) in a temporary directory on a free loopback port, stopped at
the end of the session. When no server can be started the PostgreSQL cases are skipped with the
reason, except when CI is set: then they fail."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_server(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}")


@pytest.fixture(scope="session")
def postgres_server():
    """A SQLAlchemy URL of a PostgreSQL server for the whole session (database `postgres`)."""
    url = os.environ.get("SANGAO_TEST_DATABASE_URL")
    if url:
        yield url
        return
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        _no_server(
            "no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql) and no SANGAO_TEST_DATABASE_URL"
        )
    bindir = Path(initdbs[-1]).parent
    tmp = Path(tempfile.mkdtemp(prefix="sangao-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp)
            _no_server("running as root and there is no `postgres` user to run the server as")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = tmp / "data", _free_port()
    started = False
    try:
        init = subprocess.run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            _no_server(f"initdb failed: {init.stderr.strip()[-500:]}")
        start = subprocess.run(
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(tmp / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off",
                "start",
            ],
            capture_output=True,
            text=True,
        )
        if start.returncode != 0:
            log = (tmp / "server.log").read_text(errors="replace") if (tmp / "server.log").exists() else ""
            _no_server(f"pg_ctl start failed: {start.stderr.strip()[-300:]} {log[-500:]}")
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(tmp, ignore_errors=True)


_database_numbers = itertools.count(1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sangao.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    name = f"sangao_test_{os.getpid()}_{next(_database_numbers)}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- Hypothesis profiles and the fuzz summary (tests/fuzz_support.py) -------------------------

from hypothesis import settings as _hypothesis_settings  # noqa: E402

# CI: the same inputs on every run (derandomized), nothing remembered between runs.
_hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
_hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_terminal_summary(terminalreporter):
    """One line per fuzzed input path: how many inputs its suites tried this session."""
    import sys

    support = sys.modules.get("fuzz_support")
    if support is None or not support.TRIED:
        return
    terminalreporter.section("fuzz")
    for path, count in sorted(support.TRIED.items()):
        terminalreporter.write_line(f"fuzz: {path}: {count:,} inputs tried")
    terminalreporter.write_line(f"fuzz: total {sum(support.TRIED.values()):,} inputs")
