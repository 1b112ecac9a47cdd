"""The session factory alone (tables are in store/tables.py): `open_db(url)` returns a SQLAlchemy
engine, called `db_engine` throughout so it is not mistaken for our `engine` package, with every
table created. SQLite by default (a bare path means a file), PostgreSQL by
`postgresql+psycopg://user@host/db`.
"""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlmodel import SQLModel, create_engine

from store import tables as _tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def to_url(path_or_url: str) -> str:
    """A bare path means a SQLite file; anything with `://` is a SQLAlchemy URL."""
    text = str(path_or_url)
    return text if "://" in text else f"sqlite:///{text}"


def open_db(path_or_url: str) -> Engine:
    """An engine for `path_or_url` with every sangao table created (idempotent)."""
    url = to_url(path_or_url)
    db_engine = create_engine(url)
    if db_engine.dialect.name == "sqlite":
        event.listen(db_engine, "connect", _sqlite_pragmas)
        event.listen(db_engine, "begin", _sqlite_begin)
    SQLModel.metadata.create_all(db_engine)
    return db_engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MB of pages: a large import's index inserts stay cached
    cursor.close()
    # sqlite3's own transaction handling begins a transaction only before INSERT/UPDATE/DELETE, so
    # DDL (the importer drops and rebuilds indexes) would commit on its own. SQLAlchemy's recipe:
    # the driver stays out of it and every SQLAlchemy transaction is an explicit BEGIN.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")
