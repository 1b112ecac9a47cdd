"""Child rows parked by join key until their patient comes: packed as MessagePack, the first
SPILL_MEMORY bytes in memory and the rest in a temporary SQLite file, so memory stays bounded
however large the export (store/readers/tabular.py passes its own SPILL_MEMORY, which
bench/tabular_bench.py and the tests set)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import msgspec

from store import scratch

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


def _pack(values: dict) -> bytes | str:
    """A parked row as MessagePack bytes: like the JSON text it replaces, dates become ISO text
    (`_dates` turns them back) and tuples lists, at a tenth of the cost. An integer past 64 bits
    (a 30-digit "number") falls back to that JSON text, so nothing is refused that was stored."""
    try:
        return _encode(values)
    except (OverflowError, TypeError):
        return json.dumps(values, ensure_ascii=False, default=_iso)


def _unpack(data: bytes | str) -> dict:
    return _dates(_decode(data) if isinstance(data, bytes) else json.loads(data))


SPILL_MEMORY = 64 << 20  # bytes of parked child rows held in memory before the rest go to disk


class _ChildSpill:
    """Child rows parked by join key until their patient row comes. The first `memory` bytes of
    them (packed, plus a per-row allowance for the Python objects holding them) wait in a dict;
    every row after that goes to a temporary SQLite file, so memory stays bounded however large
    the export. A row in memory always precedes every row on disk, so file order is kept."""

    _BATCH = 5000
    _ROW_COST = 160  # bytes a parked row costs beyond its packed data: bytes object, tuple, list slot

    def __init__(self, closers: list, memory: int | None = None) -> None:
        self._dir: tempfile.TemporaryDirectory | None = None
        self._db: sqlite3.Connection | None = None  # made at the first row that does not fit in memory
        closers.append(self.close)
        self._room = SPILL_MEMORY if memory is None else memory
        self._held: dict[str, list[tuple[int, int, int, bytes | str]]] = {}  # pid → (seq, tab, row, data)
        self._seq = 0
        self._spilled = False  # a row went to disk: every later row goes there too
        self._pending: list[tuple] = []
        self._taken: set[str] = set()
        self._taken_pending: list[tuple[str]] = []

    def add(self, pid: str, table_index: int, row: int, values: dict) -> None:
        self._seq += 1
        data = _pack(values)
        if not self._spilled:
            self._room -= len(data) + self._ROW_COST
            if self._room >= 0:
                self._held.setdefault(pid, []).append((self._seq, table_index, row, data))
                return
            self._spilled = True
            self._open_disk()
        self._pending.append((self._seq, pid, table_index, row, data))
        if len(self._pending) >= self._BATCH:
            self._flush()

    def _open_disk(self) -> None:
        """The SQLite file for rows past the memory allowance, in sangao's private temporary folder
        (owner-only, swept after a kill: store/scratch.py). A join that fits in memory writes no
        patient data to disk at all."""
        self._dir = scratch.temporary_directory("join-")
        self._db = sqlite3.connect(Path(self._dir.name) / "children.db")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE child (seq INTEGER PRIMARY KEY, pid TEXT, tab INTEGER, row INTEGER, data BLOB)"
        )
        self._db.execute("CREATE TABLE taken (pid TEXT PRIMARY KEY)")

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany(
                "INSERT INTO child (seq, pid, tab, row, data) VALUES (?, ?, ?, ?, ?)", self._pending
            )
            self._pending = []
        if self._taken_pending:
            self._db.executemany("INSERT OR IGNORE INTO taken (pid) VALUES (?)", self._taken_pending)
            self._taken_pending = []

    def finish_loading(self) -> None:
        self._flush()
        if self._spilled:
            self._db.execute("CREATE INDEX child_pid ON child (pid, seq)")

    def join_keys(self) -> Iterator[str]:
        """Every join key, in the order of its first row."""
        held = list(self._held)  # a snapshot, as the SQL below is
        yield from held
        if self._spilled:
            seen = set(held)
            rows = self._db.execute("SELECT pid FROM child GROUP BY pid ORDER BY MIN(seq)")
            yield from (r[0] for r in rows if r[0] not in seen)

    def take(self, pid: str) -> list[tuple[int, int, dict]]:
        """The child rows of `pid` in file order; a repeated patient row gets none (it is rejected)."""
        if pid in self._taken:
            return []
        self._taken.add(pid)
        held = self._held.get(pid)
        out = []
        if held:
            self._held[pid] = []  # the key stays, for join_keys; the rows go
            out = [(tab, row, _unpack(data)) for _, tab, row, data in held]
        if self._spilled:
            self._taken_pending.append((pid,))
            if len(self._taken_pending) >= self._BATCH:
                self._flush()
            rows = self._db.execute("SELECT tab, row, data FROM child WHERE pid = ? ORDER BY seq", (pid,))
            out += [(tab, row, _unpack(data)) for tab, row, data in rows]
        return out

    def orphans(self) -> Iterator[tuple[int, int, str]]:
        held = sorted((seq, tab, row, pid) for pid, rows in self._held.items() for seq, tab, row, _ in rows)
        yield from ((tab, row, pid) for _, tab, row, pid in held)
        if self._spilled:
            self._flush()
            yield from self._db.execute(
                "SELECT tab, row, pid FROM child WHERE pid NOT IN (SELECT pid FROM taken) ORDER BY seq"
            )

    def close(self) -> None:
        self._held = {}
        if self._db is not None:
            self._db.close()
            self._dir.cleanup()
            self._db = self._dir = None


_DATE_KEYS = ("date", "returned_on", "birth_date", "enrolled_on", "deceased_on", "moved_out_on")
_DATE_KEY_SET = frozenset(_DATE_KEYS)


def _dates(stored: dict) -> dict:
    """Dates come back from the spill as ISO text; those the completion step compares become dates."""
    for part in (stored.get("v"), stored.get("p")):
        if part:
            for k in _DATE_KEY_SET.intersection(part):  # the date keys the row has (C-level test)
                text = part[k]
                if isinstance(text, str):
                    part[k] = date.fromisoformat(text)
    return stored


def _iso(value):
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")
