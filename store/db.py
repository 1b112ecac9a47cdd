"""The session factory alone (tables are in store/tables.py): `open_db(url)` returns a SQLAlchemy
engine, called `db_engine` throughout so it is not mistaken for our `engine` package, with every
table created. SQLite by default (a bare path means a file), PostgreSQL by
`postgresql+psycopg://user@host/db`.

Concurrent use: SQLite runs in WAL mode (readers never wait for a writer) with a busy timeout;
writers (`open_db(url, writer=True)`: imports, saved assessments, the audit log) take the write
lock when their transaction begins (BEGIN IMMEDIATE; on PostgreSQL a transaction-level advisory
lock), so two writers queue instead of failing half-way. The lock holder's pid is written beside a
SQLite file (`<db>.sangao-pid`) and is PostgreSQL's application_name (`sangao pid N`). When the
wait runs out, `DatabaseBusy` (R102) names that pid; a database that cannot be opened is
`DatabaseUnavailable` (R101). Both are SangaoErrors: exit 1.

Privacy: SQL parameters never appear in an error's text (`hide_parameters`), driver messages are
scrubbed of values (pathways/scrub.py), and a new SQLite file is created owner-only (0600).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, event, exc, inspect, text
from sqlmodel import SQLModel, create_engine

from pathways.errors import Problem, SangaoError
from pathways.scrub import scrub
from store import tables as _tables  # noqa: F401  (registers the tables on SQLModel.metadata)

_busy_timeout_s = 30.0
_CACHE_KIB = -65536  # SQLite's page cache per connection, KiB (negative: a size, not pages)
_IMPORT_CACHE_KIB = -262144  # an import's (bulk_import)
# The pages of a database file that `roster import` creates: 16 KB instead of SQLite's 4 KB. An
# import's commit writes every page to the WAL and its checkpoint copies them into the file; with
# a quarter of the pages there are a quarter of the WAL frames (each a 24-byte header and a page,
# whose writes straddle the file system's blocks), and the commit and checkpoint of 100,000
# patients cost some 0.12 CPU-s and 0.1 s less (docs/importing.md §Speed).
IMPORT_PAGE_SIZE = 16384
_WRITER_LOCK = 0x5A6E6761  # the advisory-lock key of sangao writers on PostgreSQL


class DatabaseProblem(SangaoError):
    """The database, not an input file, is the problem: an import stops instead of rejecting the file."""


class DatabaseBusy(DatabaseProblem):
    """Another sangao held the database's write lock for longer than the busy timeout (R102)."""


class DatabaseUnavailable(DatabaseProblem):
    """The database cannot be opened: a missing folder, no permission, no server (R101)."""


def set_busy_timeout(seconds: float) -> None:
    """How long a writer waits for another sangao's write to finish (cli.py reads SANGAO_DB_WAIT)."""
    global _busy_timeout_s
    _busy_timeout_s = max(0.0, seconds)


def param_mark(dialect) -> str:
    """The driver's parameter mark for SQL sent as text: SQLite's qmark, psycopg's format."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def to_url(path_or_url: str) -> str:
    """A bare path means a SQLite file; anything with `://` is a SQLAlchemy URL."""
    text_ = str(path_or_url)
    return text_ if "://" in text_ else f"sqlite:///{text_}"


def open_db(path_or_url: str, writer: bool = False, page_size: int | None = None) -> Engine:
    """An engine for `path_or_url` with every sangao table created (idempotent). With `writer`,
    every transaction begun on it takes sangao's write lock first. `page_size`: the page size in
    bytes of a SQLite file this call creates (`IMPORT_PAGE_SIZE` for an import's); a file that
    already holds its first page keeps the one it was made with (SQLite cannot change it in WAL
    mode), so it is the same for every connection."""
    url = to_url(path_or_url)
    timeout = _busy_timeout_s
    connect_args: dict = {}
    file = None
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        file = url.removeprefix("sqlite:///").split("?", 1)[0]
        _create_private(file)
        connect_args = {"timeout": timeout}
    elif url.startswith("postgresql"):
        connect_args = {"application_name": f"sangao pid {os.getpid()}",
                        "options": f"-c lock_timeout={int(timeout * 1000)}"}
    db_engine = create_engine(url, hide_parameters=True, connect_args=connect_args)
    where = file or db_engine.url.render_as_string(hide_password=True)
    event.listen(db_engine, "handle_error", _translate(where, file, db_engine.dialect.name))
    if db_engine.dialect.name == "sqlite":
        event.listen(db_engine, "connect", _sqlite_pragmas(timeout, page_size))
        event.listen(db_engine, "begin", _sqlite_begin)
    elif db_engine.dialect.name == "postgresql":
        event.listen(db_engine, "begin", _postgres_begin)
    _create_tables(db_engine)
    return as_writer(db_engine) if writer else db_engine


def _create_tables(db_engine: Engine) -> None:
    """Create the tables a database lacks and add the nullable columns a later version appended (the
    only schema change sangao makes), under the write lock (two sangao creating them at once would
    collide on PostgreSQL); a database that has them all is only read, so a reader never waits for
    a writer here."""
    if not _schema_gaps(db_engine):
        return
    with as_writer(db_engine).begin() as conn:
        SQLModel.metadata.create_all(conn)
        for table, column in _schema_gaps(conn):  # left after create_all: columns added later
            quote = conn.dialect.identifier_preparer.quote
            conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} "
                                 f"{column.type.compile(dialect=conn.dialect)}")


def _schema_gaps(bind) -> list:
    """Tables the database lacks, as (table, None), and nullable columns an older sangao did not
    create, as (table, column)."""
    found = inspect(bind)
    names = set(found.get_table_names())
    gaps: list = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in names:
            gaps.append((table, None))
            continue
        have = {c["name"] for c in found.get_columns(table.name)}
        gaps += [(table, c) for c in table.columns if c.name not in have and c.nullable]
    return gaps


def as_writer(db_engine: Engine) -> Engine:
    """`db_engine` whose transactions take sangao's write lock when they begin (same pool)."""
    writer = db_engine.execution_options(sangao_writer=True)
    file = db_engine.url.database if db_engine.dialect.name == "sqlite" else None
    if file and file != ":memory:":
        event.listen(writer, "commit", lambda _conn: _release_pid(file))
        event.listen(writer, "rollback", lambda _conn: _release_pid(file))
    return writer


def _create_private(file: str) -> None:
    """A new database file is created 0600 (patient data): SQLite would create it 0644 under the
    usual umask, and its -wal/-shm files take the database file's mode."""
    if not file or Path(file).exists() or not Path(file).parent.is_dir():
        return  # a missing folder is reported by the first connect (R101)
    try:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise DatabaseUnavailable([Problem.of("R101", file=file, reason=reason)]) from None


def _sqlite_pragmas(timeout: float, page_size: int | None = None):
    def on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        if page_size:  # before journal_mode, which writes a new file's first page (a no-op after)
            cursor.execute(f"PRAGMA page_size={int(page_size)}")
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file: readers beside a writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size={_CACHE_KIB}")  # 64 MB of pages (an import's: bulk_import)
        cursor.close()
        # sqlite3's own transaction handling begins a transaction only before INSERT/UPDATE/DELETE, so
        # DDL (the importer drops and rebuilds indexes) would commit on its own. SQLAlchemy's recipe:
        # the driver stays out of it and every SQLAlchemy transaction is an explicit BEGIN.
        dbapi_connection.isolation_level = None

    return on_connect


@contextlib.contextmanager
def bulk_import(conn: Connection) -> Iterator[None]:
    """An import's settings on SQLite, around its transaction (`with bulk_import(conn), conn.begin():`):
    PRAGMAs that do nothing inside a transaction, so they are set before it begins and put back
    after it ends (the connection goes back to the pool). Nothing on PostgreSQL.

    - A 256 MB page cache instead of 64 MB: fewer pages spilled to the WAL and read back while
      rows are inserted and the indexes are built (4 µs a patient less at 100,000 patients; the
      cache is a bound, not a size, so memory stays flat).
    - Foreign-key checks off when the roster tables are empty: then every child row is written by
      the importer with the patient row it built in the same batch (store/writer.py `Store`, whose
      `all_new` says so), and checking each costs some 5 µs a patient. The check is read before
      the write lock is taken: if another import fills the tables meanwhile, `Store` finds them
      not empty and checks every key with `PRAGMA foreign_key_check` before its commit."""
    raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    if raw is None:
        yield
        return
    empty = raw.execute("SELECT 1 FROM patients LIMIT 1").fetchone() is None
    raw.execute(f"PRAGMA cache_size={_IMPORT_CACHE_KIB}")
    if empty:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        with contextlib.suppress(sqlite3.Error):  # a connection that failed is not reused
            raw.execute(f"PRAGMA cache_size={_CACHE_KIB}")
            raw.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(conn) -> None:
    # A writer takes the write lock at BEGIN: a deferred transaction that reads first and writes
    # later fails at once (not after the busy timeout) when another writer committed meanwhile.
    writer = conn.get_execution_options().get("sangao_writer")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
    if writer:
        file = conn.engine.url.database
        if file and file != ":memory:":
            _write_pid(file)


def _postgres_begin(conn) -> None:
    if conn.get_execution_options().get("sangao_writer"):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITER_LOCK})")


def _pid_file(file: str) -> Path:
    return Path(f"{file}.sangao-pid")


def _write_pid(file: str) -> None:
    try:
        fd = os.open(_pid_file(file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        pass  # the pid is only for the message another sangao prints


def _release_pid(file: str) -> None:
    try:
        if _pid_file(file).read_text().strip() == str(os.getpid()):
            _pid_file(file).unlink()
    except OSError:
        pass


def _holder(file: str | None, dialect: str, connection) -> str:
    """The pid of the sangao holding the write lock, or "?"."""
    if file:
        try:
            return _pid_file(file).read_text().strip() or "?"
        except OSError:
            return "?"
    if dialect == "postgresql" and connection is not None:
        try:
            with connection.engine.execution_options(sangao_writer=False).connect() as other:
                name = other.execute(text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :key"), {"key": _WRITER_LOCK}
                ).scalar()
                other.rollback()
            if name and name.startswith("sangao pid "):
                return name.removeprefix("sangao pid ")
        except exc.DBAPIError:
            pass
    return "?"


def _translate(where: str, file: str | None, dialect: str):
    """handle_error: a locked database → DatabaseBusy; one that cannot be opened → DatabaseUnavailable;
    every other driver error keeps its type with a message scrubbed of values."""

    def handle(context) -> None:
        original = context.original_exception
        message = str(original)
        lowered = message.lower()
        busy = ("database is locked" in lowered or "lock timeout" in lowered
                or "canceling statement due to lock timeout" in lowered
                or type(original).__name__ == "LockNotAvailable")
        if busy:
            pid = _holder(file, dialect, context.connection)
            raise DatabaseBusy([Problem.of("R102", file=where, pid=pid)]) from None
        if context.connection is None or "unable to open database file" in lowered:  # while connecting
            reason = scrub(message.splitlines()[0]) if message else type(original).__name__
            raise DatabaseUnavailable([Problem.of("R101", file=where, reason=reason)]) from None
        # Keep the error (it is a bug, or the caller handles it) but without the values it quoted.
        with contextlib.suppress(AttributeError, TypeError):
            original.args = (scrub(message),)

    return handle
