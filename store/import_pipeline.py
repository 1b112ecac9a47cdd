"""The import on two cores: a worker process reads, decodes and checks a source and builds its rows
while the importer's process writes them (store/importer.py calls `run`).

The worker runs the same code as the in-process import (`iter_items`, `Tally`, `new_rows`) and
sends batches of rows in bind form (store/writer.py: plain text, numbers and NULLs, dates as ISO
text) through a pipe, packed by `marshal` (the cheapest to unpack of pickle, msgpack and marshal
here: 5–7 µs per patient of flat lists each way); the importer's process only unpacks and
inserts them, inside the source's one transaction as before. So a failure or a kill on either side leaves the
database as it was before the source: the worker never touches the database, and the importer's
process rolls back when the worker fails, ends or sends an error. Rejected rows come back with
their file, line and field (the reject file is written by the importer's process), and the counts
per file, findings and rejections come back at the end.

When it is used: on two cores or more, a large enough source (PIPELINE_MIN_BYTES) into empty
roster tables, where every patient is new and the worker can number and build every row without
reading the database. A re-import (the upsert merges with stored rows) and an events file (rows
for people of the register, read from the database) run in-process; an events file is found out
by the worker, which then hands the source back before any row was sent (`_Fallback`).

The importer's process reads the pipe in a thread (`_receive`) into a queue of QUEUED_BATCHES
batches, so the worker runs ahead while an insert runs instead of waiting to hand over each batch
(on a busy machine every such wait is also a wait to be scheduled again).

Processes: started by fork where the platform has it (a spawned interpreter would first spend
half a second importing the validators); the worker's entry point and arguments are picklable, so
the spawn start method (START_METHOD) works too. The worker is a daemon: it ends with the
importer, and a worker whose importer was killed stops at its next send (a broken pipe).
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import multiprocessing
import os
import pickle
import queue
import sys
import threading
from itertools import chain

from pathways.errors import SangaoError
from pathways.scrub import scrubbed_traceback
from store import fast_json, writer
from store.writer import new_rows

PIPELINE_MIN_BYTES = 4_000_000  # smaller sources: starting a process costs more than it saves
START_METHOD = "fork" if sys.platform == "linux" else "spawn"
QUEUED_BATCHES = 4  # batches received and not yet written (some 2.5 MB each): the worker's lead
_WIDTH = {name: 2 + len(fields) for name, fields in fast_json.FIELDS.items()}  # a child row's values

# Message tags (first byte of each message): rows (marshal), end of source, the source's own
# error (D030 …), the worker's bug, "run it in-process" (pickle).
_ROWS, _DONE, _ERROR, _BUG, _FALLBACK = b"R", b"D", b"E", b"B", b"F"


def run(store, source, mapping, as_of, tally, progress=None) -> bool:
    """Import `source` through a worker process into `store` (inside its transaction), keeping
    `tally` as the in-process loop would. False, having written nothing, when the source is better
    imported in-process (see the module docstring)."""
    if not store.all_new or _size(source) < PIPELINE_MIN_BYTES or _cores() < 2:
        return False
    context = multiprocessing.get_context(START_METHOD)
    receiver, sender = context.Pipe(duplex=False)
    sqlite = store.copy_sql is None
    worker = context.Process(
        target=_work,
        args=(sender, source, mapping, as_of, sqlite, store.next_seq),
        name="sangao-import-worker",
        daemon=True,
    )
    worker.start()
    sender.close()  # the worker holds the only writing end: its exit ends `recv_bytes`
    messages: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
    reader = threading.Thread(target=_receive, args=(receiver, messages), daemon=True)
    reader.start()
    try:
        reported = 0
        while True:
            message = messages.get()
            if message is None:
                raise RuntimeError(
                    f"the import worker of {source.name} ended without finishing (exit code "
                    f"{worker.join(5) or worker.exitcode})"
                ) from None
            tag, body = message[:1], message[1:]
            if tag == _ROWS:
                patients, tables, rejects, done, fraction = marshal.loads(body)
                store.add_rows(patients, tables)
                if tally.writer:
                    for row in rejects:
                        tally.writer.writerow(row)
                if progress and done // _progress_every() > reported:
                    reported = done // _progress_every()
                    progress(source.name, done, fraction)
                continue
            if tag == _FALLBACK:
                return False
            state = pickle.loads(body)
            if tag == _BUG:
                raise RuntimeError(f"the import worker of {source.name} failed:\n{state}")
            tally.files, tally.found, tally.rejected, tally.patients = state["tally"]
            source.rows_read.update(state["rows_read"])
            source.encodings.update(state["encodings"])
            source.findings += state["findings"]
            if tag == _ERROR:
                raise SangaoError(state["problems"])
            return True
    finally:
        if worker.is_alive():  # the importer failed or got everything: the worker has no more to do
            worker.terminate()
        worker.join()
        while reader.is_alive():  # it ends at the pipe's end once it can hand over what it holds
            with contextlib.suppress(queue.Empty):
                messages.get(timeout=0.05)
        receiver.close()


def _receive(receiver, messages: queue.Queue) -> None:
    """The importer's reading thread: the worker's messages into `messages` as they come (the
    pipe holds 64 kB, a batch some 2.5 MB: without this the worker would wait for every insert
    to end before handing over its next batch); None when the pipe ends early. `recv_bytes`
    lets the importer's thread run meanwhile (the GIL is released while it waits and reads)."""
    try:
        while True:
            message = receiver.recv_bytes()
            messages.put(message)
            if message[:1] != _ROWS:
                return
    except (EOFError, OSError):
        messages.put(None)


def _cores() -> int:
    """The cores this process may run on: with one, a second process only adds work."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _size(source) -> int:
    try:
        return sum(p.stat().st_size for p in source.paths)
    except OSError:
        return 0  # the in-process import reports the unreadable file


def _progress_every() -> int:
    from store import importer

    return importer.PROGRESS_EVERY


class _Fallback(Exception):
    """The source turned out to need the database (an events file): import it in-process."""


def _no_register(_patient_id):
    raise _Fallback


class _Rejects:
    """The reject file's rows, collected in the worker and written by the importer's process."""

    def __init__(self) -> None:
        self.rows: list[list] = []

    def writerow(self, row) -> None:
        self.rows.append([str(v) if v is not None and type(v) not in (str, int) else v for v in row])


class Batch:
    """The rows of a batch of new patients as the worker builds and sends them: each table's
    values one after another (fewer objects to pack and unpack; on SQLite the importer binds them
    so, on PostgreSQL it copies them row by row, Store.add_rows)."""

    def __init__(self, sqlite: bool, next_seq: int) -> None:
        self.sqlite = sqlite
        self.absent = fast_json.ABSENT if sqlite else None
        self.seq = next_seq
        self.patients: list[tuple] = []
        self.children: dict[str, list] = {name: [] for name in fast_json.CHILD_LISTS}

    def add(self, record) -> None:
        self.patients.append(new_rows(record, self.seq, self.children, self.absent, flat=True))
        self.seq += 1

    def take(self) -> tuple[int, dict]:
        """(patients, {table: rows}) for Store.add_rows, and start the next batch."""
        patients, children = self.patients, self.children
        tables = {name: (_WIDTH[name], values) for name, values in children.items() if values}
        if patients:
            tables["patients"] = (len(patients[0]), list(chain.from_iterable(patients)))
        self.patients, self.children = [], {name: [] for name in fast_json.CHILD_LISTS}
        return len(patients), tables


def pack(message) -> bytes:
    """marshal version 2: no back-references, twice as fast to write (the worker has the longer
    share of the work) for a little more to read."""
    return marshal.dumps(message, 2)


def _work(sender, source, mapping, as_of, sqlite: bool, next_seq: int) -> None:
    """The worker: read, check and build rows; send them in batches (see the tags above)."""
    from store.importer import Tally, iter_items

    gc.disable()  # as store/importer.py's _gc_paused: records make no cycles
    rejects = _Rejects()
    tally = Tally(source.kind, rejects)
    batch = Batch(sqlite, next_seq)
    done = 0

    def send_rows() -> None:
        patients, tables = batch.take()
        sender.send_bytes(_ROWS + pack((patients, tables, rejects.rows, done, source.fraction())))
        rejects.rows = []

    def send_state(tag: bytes, **extra) -> None:
        state = {
            "tally": (tally.files, tally.found, tally.rejected, tally.patients),
            "rows_read": source.rows_read,
            "encodings": source.encodings,
            "findings": source.findings,
            **extra,
        }
        sender.send_bytes(tag + pickle.dumps(state, pickle.HIGHEST_PROTOCOL))

    try:
        for item, patient, problems, findings in iter_items(source, mapping, as_of, True, _no_register):
            done += 1
            record = tally.take(item, patient, problems, findings)
            if record is not None:
                batch.add(record)
                if len(batch.patients) >= writer.BATCH_PATIENTS:
                    send_rows()
        send_rows()
        send_state(_DONE)
    except _Fallback:
        sender.send_bytes(_FALLBACK)
    except SangaoError as exc:
        send_state(_ERROR, problems=exc.problems)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the importer is gone
    except BaseException as exc:  # a bug: its traceback without values that could be a patient's
        with contextlib.suppress(OSError):
            sender.send_bytes(_BUG + pickle.dumps(scrubbed_traceback(exc)))
    finally:
        sender.close()
