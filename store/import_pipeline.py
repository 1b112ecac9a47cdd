"""The import on two cores: a worker process reads, decodes and checks a source and builds its rows
while the importer's process writes them (store/importer.py calls `run`).

The worker runs the in-process import's checks and row builder (`iter_items`, `Tally`, `new_rows`),
except that a clean line of a UTF-8 JSONL file (store/fast_json.py) goes from its bytes to its rows
without an `Item` or a generator in between (`_clean_lines_first`), its repeated-key count taken
while its rows are built (store/writer.py `clean_rows`); every other line is judged exactly as
`iter_items` judges it. It sends batches of rows in bind form (store/writer.py: plain text,
numbers and NULLs, dates as ISO text) through a pipe, packed by `marshal` (the cheapest to unpack
of pickle, msgpack and marshal here: 5–8 µs per patient of flat lists each way). On PostgreSQL the
worker formats the rows as `COPY` data itself with psycopg's formatter (`_copy_formatter`), so the
importer only streams bytes. The importer's process only unpacks and inserts them, inside the
source's one transaction as before. So a failure or a kill on either side leaves the database as
it was before the source: the worker never touches the database, and the importer's process rolls
back when the worker fails, ends or sends an error. Rejected rows come back with their file, line
and field (the reject file is written by the importer's process), and the counts per file,
findings and rejections come back at the end.

When it is used: on two cores or more, for a large enough source (PIPELINE_MIN_BYTES). Into empty
roster tables every patient is new, and the worker numbers and builds every row. Into tables that
already hold patients (a county's monthly re-import, SQLite) the worker builds each record's
`merge_input` (store/writer.py: its patients values and merge rows in the form SQLite returns
stored rows) and the importer reads the batch's stored rows, compares and writes what changed
(`Store.add_merged`, the in-process upsert's own `_merge`). A re-import into PostgreSQL (its
stored dates come back as dates, which marshal cannot carry) and an events file (rows for people
of the register, read from the database) run in-process; an events file is found out by the
worker, which then hands the source back before any row was sent (`_Fallback`).

The importer's process reads the pipe in a thread (`_receive`) into a queue of QUEUED_BATCHES
batches, so the worker runs ahead while an insert runs instead of waiting to hand over each batch
(on a busy machine every such wait is also a wait to be scheduled again).

Processes: started by fork where the platform has it (a spawned interpreter would first spend
half a second importing the validators); the worker's entry point and arguments are picklable, so
the spawn start method (START_METHOD) works too. The worker is a daemon: it ends with the
importer, and a worker whose importer was killed stops at its next send (a broken pipe).
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import gc
import marshal
import multiprocessing
import os
import pickle
import platform
import queue
import struct
import sys
import threading
from itertools import chain

import msgspec

from pathways.errors import SangaoError
from pathways.scrub import scrubbed_traceback
from store import fast_json, writer
from store.readers import detect_encoding
from store.readers.jsonl import UTF8, line_item, utf8_lines
from store.writer import clean_rows, merge_input, new_rows

PIPELINE_MIN_BYTES = 4_000_000  # smaller sources: starting a process costs more than it saves
START_METHOD = "fork" if sys.platform == "linux" else "spawn"
FIRST_BATCH = 250  # patients in the worker's first batch: the importer has nothing to do until it comes
QUEUED_BATCHES = 4  # batches received and not yet written (some 2.5 MB each): the worker's lead
_WIDTH = {name: 2 + len(fields) for name, fields in fast_json.FIELDS.items()}  # a child row's values

# Message tags (first byte of each message): rows (marshal), end of source, the source's own
# error (D030 …), the worker's bug, "run it in-process" (pickle).
_ROWS, _DONE, _ERROR, _BUG, _FALLBACK = b"R", b"D", b"E", b"B", b"F"


def run(store, source, mapping, as_of, tally, progress=None) -> bool:
    """Import `source` through a worker process into `store` (inside its transaction), keeping
    `tally` as the in-process loop would. False, having written nothing, when the source is better
    imported in-process (see the module docstring)."""
    merge = not store.all_new  # a re-import: the importer merges what the worker built (SQLite)
    if (merge and store.copy_sql is not None) or _size(source) < PIPELINE_MIN_BYTES or _cores() < 2:
        return False
    sqlite = store.copy_sql is None
    # PostgreSQL: the worker formats the COPY data where it writes it as this connection reads it
    format_copy = not sqlite and store.conn.connection.driver_connection.info.encoding == "utf-8"
    # store.max_variables: the values one INSERT binds on SQLite (the worker cuts the rows so)
    args = (source, mapping, as_of, sqlite, store.next_seq, format_copy, merge, store.max_variables)
    # A JSONL file is read as the UTF-8 its start suggests at once, while this process, which has
    # nothing to write yet, checks that the whole file decodes so (store/readers detect_encoding, a
    # pass over the file that took the worker 2 µs a patient before its first batch); when it does
    # not, that worker is stopped before anything it sent was written, and a new one finds the
    # encoding itself.
    utf8 = _utf8_start(source)
    if not sqlite:
        store.drop_indexes()  # PostgreSQL: its server builds them (on SQLite see Store.drop_indexes)
    keep_freed_memory()  # here and in the worker, which a fork starts with it
    running = _start(*args, utf8)
    try:
        if utf8 is not None and detect_encoding(source.paths[0]) != utf8:
            _stop(*running)
            running = _start(*args, None)
        return _write(store, source, tally, progress, merge, *running)
    finally:
        _stop(*running)


def _start(source, *args) -> tuple:
    """Start a worker on `source` (args: see `_work`) and the thread receiving its messages."""
    context = multiprocessing.get_context(START_METHOD)
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_work, args=(sender, source, *args), name="sangao-import-worker", daemon=True
    )
    worker.start()
    sender.close()  # the worker holds the only writing end: its exit ends `recv_bytes`
    messages: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
    reader = threading.Thread(target=_receive, args=(receiver, messages), daemon=True)
    reader.start()
    return worker, receiver, messages, reader


def _stop(worker, receiver, messages: queue.Queue, reader) -> None:
    """End a worker and its receiving thread (again: nothing happens)."""
    if worker.is_alive():  # the importer failed or got everything: the worker has no more to do
        worker.terminate()
    worker.join()
    while reader.is_alive():  # it ends at the pipe's end once it can hand over what it holds
        with contextlib.suppress(queue.Empty):
            messages.get(timeout=0.05)
    receiver.close()


def _write(store, source, tally, progress, merge, worker, receiver, messages, reader) -> bool:
    """Write what the worker sends; True once it sent the end of the source (see `run`)."""
    reported = 0
    while True:
        message = messages.get()
        if message is None:
            raise RuntimeError(
                f"the import worker of {source.name} ended without finishing (exit code "
                f"{worker.join(5) or worker.exitcode})"
            ) from None
        tag, body = bytes(message[:1]), message[1:]
        if tag == _ROWS:
            patients, tables, rejects, done, fraction = marshal.loads(body)
            if merge:
                store.add_merged(tables)
            else:
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


def _utf8_start(source) -> str | None:
    """The UTF-8 encoding a JSONL file would be if it all decodes so: with a BOM or without."""
    if source.kind != "jsonl":
        return None
    try:
        with open(source.paths[0], "rb") as f:
            return "utf-8-sig" if f.read(3) == codecs.BOM_UTF8 else "utf-8"
    except OSError:
        return None  # the worker reports it as the in-process import does


def _receive(receiver, messages: queue.Queue) -> None:
    """The importer's reading thread: the worker's messages into `messages` as they come (the
    pipe holds 64 kB, a batch some 2.5 MB: without this the worker would wait for every insert
    to end before handing over its next batch); None when the pipe ends early. Reading lets the
    importer's thread run meanwhile (the GIL is released while it waits and reads)."""
    read = _Frames(receiver.fileno()).read if hasattr(os, "readv") else receiver.recv_bytes
    try:
        while True:
            message = read()
            messages.put(message)
            if message[:1] != _ROWS:
                return
    except (EOFError, OSError):
        messages.put(None)


class _Frames:
    """The messages of `Connection.send_bytes` (a 4-byte big-endian length, or -1 and an 8-byte
    one, then the bytes), read from the pipe's descriptor into a ring of buffers that are used
    again, as memoryviews. `recv_bytes` gave each message new memory (several copies of 2.5 MB a
    batch as it grew): page faults that cost the importer some 3 µs a patient of system time.
    A buffer is filled again QUEUED_BATCHES + 2 messages later, when the importer's thread has
    unpacked it: it takes messages in order, and the queue holds QUEUED_BATCHES."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffers = [bytearray(4 << 20) for _ in range(QUEUED_BATCHES + 2)]
        self.next = 0

    def read(self) -> memoryview:
        (size,) = struct.unpack("!i", self._fill(memoryview(bytearray(4))))
        if size == -1:
            (size,) = struct.unpack("!Q", self._fill(memoryview(bytearray(8))))
        at = self.next
        self.next = (at + 1) % len(self.buffers)
        if len(self.buffers[at]) < size:
            self.buffers[at] = bytearray(size + size // 4)
        return self._fill(memoryview(self.buffers[at])[:size])

    def _fill(self, view: memoryview) -> memoryview:
        got = 0
        while got < len(view):
            n = os.readv(self.fd, [view[got:]])
            if n == 0:
                raise EOFError
            got += n
        return view


def keep_freed_memory() -> bool:
    """Have the C allocator (glibc's malloc) keep the memory a batch frees for the next batch,
    from now on in this process: blocks up to 32 MB come from its heap and up to 64 MB freed at
    the heap's top stay, the values glibc's own adjustment reaches once a 32 MB block has been
    freed. Each batch is built, packed, unpacked and freed in lists and buffers of megabytes that
    glibc would otherwise map afresh and unmap again (its threshold starts at 128 kB and moves up
    only as such blocks are freed, the trimming after it), and fresh memory costs a page fault
    each 4 kB: at 100,000 patients some 110,000 in the worker and 100,000 in the importer, 0.1 to
    0.3 CPU-s each side. False where there is no glibc (nothing changes)."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1 and mallopt(_M_TRIM_THRESHOLD, 64 << 20) == 1


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)


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
    so, Store.add_rows), in pieces of one INSERT each. On PostgreSQL the worker formats them as
    COPY data itself where it can (`_copy_formatter`): the importer then only streams bytes."""

    def __init__(
        self, sqlite: bool, next_seq: int, format_copy: bool = False, merge: bool = False, statement: int = 0
    ) -> None:
        self.merge = merge  # a re-import: each record's merge_input instead of its rows
        # SQLite: the values one INSERT of the importer binds (Store.max_variables). Each table's
        # values are sent cut into whole statements' worth (`_cut`): the importer binds each piece
        # as it comes instead of slicing it out (some 1 µs a patient, and the importer sets the pace).
        self.statement = statement
        self.merging: list[tuple] = []
        self.copy = _copy_formatter() if format_copy else None
        # An absent value: ABSENT (a NaN, counted in C by clean_rows) where it will be bound by
        # SQLite (stored as NULL) or turned into NULL with the COPY data; else None.
        self.absent = fast_json.ABSENT if sqlite or self.copy else None
        self.seq = next_seq
        self.patients: list[tuple] = []
        self.children: dict[str, list] = {name: [] for name in fast_json.CHILD_LISTS}
        self.done = 0  # lines (items) of the source read so far, for the progress

    def add(self, record) -> None:
        if self.merge:
            self.merging.append(merge_input(record))
            return
        self.patients.append(new_rows(record, self.seq, self.children, self.absent, flat=True))
        self.seq += 1

    def __len__(self) -> int:
        return len(self.merging) if self.merge else len(self.patients)

    def add_rows(self, patient: tuple, tables: list[tuple[str, list]]) -> None:
        """Add the rows store/writer.py's `clean_rows` gave for a record numbered `seq`."""
        self.patients.append(patient)
        children = self.children
        for name, values in tables:
            children[name] += values
        self.seq += 1

    def take(self) -> tuple[int, dict | list]:
        """(patients, {table: rows}) for Store.add_rows, or (patients, merge inputs) for
        Store.add_merged, and start the next batch."""
        if self.merge:
            merging, self.merging = self.merging, []
            return len(merging), merging
        patients, children = self.patients, self.children
        tables = {name: (_WIDTH[name], values) for name, values in children.items() if values}
        if patients:
            tables["patients"] = (len(patients[0]), list(chain.from_iterable(patients)))
        if self.copy:
            tables = {name: self.copy(values, width) for name, (width, values) in tables.items()}
        else:
            tables = {name: (width, self._cut(values, width)) for name, (width, values) in tables.items()}
        self.patients, self.children = [], {name: [] for name in fast_json.CHILD_LISTS}
        return len(patients), tables

    def _cut(self, values: list, width: int) -> list[list]:
        """`values` (rows of `width` one after another) as pieces of one INSERT's rows each, the
        last one shorter (all in one piece without a statement size)."""
        step = self.statement // width * width
        if not step or len(values) <= step:
            return [values]
        return [values[start : start + step] for start in range(0, len(values), step)]


def _copy_formatter():
    """A function of (values one after another, row width) → the data of a PostgreSQL `COPY …
    FROM STDIN` (text format), formatted by psycopg's own formatter, the one `Copy.write_row` calls
    (in C), so the importer only streams bytes; None where this psycopg has no such formatter (the
    importer then formats the rows). An absent value (ABSENT, a NaN) becomes NULL on the way
    through JSON, which has no NaN. Without a connection psycopg uses its default adapters and
    writes UTF-8 (run() checks that the connection's encoding is UTF-8)."""
    try:
        from psycopg._copy_base import format_row_text
        from psycopg.adapt import Transformer
    except ImportError:
        return None
    transformer = Transformer()
    as_json, from_json = msgspec.json.Encoder().encode, msgspec.json.Decoder(list).decode

    def copy_text(values: list, width: int) -> bytes:
        values = from_json(as_json(values))
        out = bytearray()
        for start in range(0, len(values), width):
            format_row_text(values[start : start + width], transformer, out)
        return bytes(out)

    return copy_text


def pack(message) -> bytes:
    """marshal's current version: a patient id repeated in its child rows is written once and read
    back as a reference (3.4 µs a patient to write against version 2's 4.8; as fast to read)."""
    return marshal.dumps(message)


def _work(
    sender, source, mapping, as_of, sqlite: bool, next_seq: int, format_copy=False, merge=False, statement=0,
    utf8=None,
) -> None:
    """The worker: read, check and build rows; send them in batches (see the tags above). `utf8`:
    the encoding of a JSONL file that the importer checks meanwhile (see `run`); None: find it.
    `statement`: the values one INSERT of the importer binds (SQLite; see `Batch`)."""
    from store.importer import Tally, iter_items

    gc.disable()  # as store/importer.py's _gc_paused: records make no cycles
    keep_freed_memory()  # a spawned worker does not start with it
    rejects = _Rejects()
    tally = Tally(source.kind, rejects)
    batch = Batch(sqlite, next_seq, format_copy, merge, statement)

    def send_rows() -> None:
        patients, tables = batch.take()
        sender.send_bytes(_ROWS + pack((patients, tables, rejects.rows, batch.done, source.fraction())))
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
        if source.kind == "jsonl" and _utf8(source, utf8):
            _clean_lines_first(source, as_of, tally, batch, send_rows)
        else:
            for item, patient, problems, findings in iter_items(source, mapping, as_of, True, _no_register):
                batch.done += 1
                record = tally.take(item, patient, problems, findings)
                if record is not None:
                    batch.add(record)
                    if len(batch) >= writer.BATCH_PATIENTS:
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


def _utf8(source, encoding: str | None = None) -> bool:
    """Detect a JSONL file's encoding as `read_jsonl` does (D030 when none fits), unless `encoding`
    is given; True for UTF-8."""
    path = source.paths[0]
    encoding = encoding or detect_encoding(path)
    source.encodings[str(path)] = encoding
    source.rows_read[str(path)] = 0
    return encoding in UTF8


def _clean_lines_first(source, as_of, tally, batch, send_rows) -> None:
    """The worker's loop over a UTF-8 JSONL file: a clean line (store/fast_json.py) goes from its
    bytes to its rows with no `Item` and no generator in between; any other line, and a clean one
    whose patient id came before, is judged as `iter_items` judges it (same problems, same order).
    The clean lines are counted in `tally` as they are sent (and when the loop ends), not one by
    one: this loop is the pipeline's pace (some 45 µs a patient), and every call in it shows."""
    from store.importer import SeenIds, repeated_id, validate_item

    name = str(source.paths[0])
    decode = fast_json.decoder().decode
    values_clean = fast_json.values_clean
    is_clean = fast_json.is_clean
    undecodable = (msgspec.ValidationError, msgspec.DecodeError)
    seen = SeenIds(lines=True)  # the line where a patient id was first seen
    first = seen.first
    add = batch.add
    rows_of, add_rows = (None, None) if batch.merge else (clean_rows, batch.add_rows)
    absent = batch.absent
    read = source.rows_read
    per_batch = min(FIRST_BATCH, writer.BATCH_PATIENTS)  # the importer waits for the first
    clean = 0  # clean lines taken and not yet counted in `tally`

    def send() -> None:
        nonlocal clean, per_batch
        tally.take_clean(name, clean)
        clean = 0
        batch.done = read[name]
        send_rows()
        per_batch = writer.BATCH_PATIENTS

    try:
        for number, line in utf8_lines(source):
            try:
                record = decode(line)
            except undecodable:
                record = None
            if record is None:
                pass
            elif rows_of is None:  # a re-import: the record's merge input, once it is known clean
                if not is_clean(record, line, as_of):
                    record = None
            else:  # fast_json.is_clean, its key count (`keys_written`) taken while building the rows
                patient_row, tables, given = rows_of(record, batch.seq, absent)
                if given != line.count(b":") or not values_clean(record, as_of):
                    record = None
            if record is not None:
                earlier = first(record.patient_id, number)
                if earlier is None:
                    clean += 1
                    if rows_of is None:
                        add(record)
                    else:
                        add_rows(patient_row, tables)
                    if len(batch) >= per_batch:
                        send()
                    continue
                item = line_item(name, number, line)
                item.patient_id = record.patient_id
                tally.take(item, None, [repeated_id(item, record.patient_id, f"{name}:{earlier}")], [])
                continue
            item = line_item(name, number, line)
            patient, problems, findings = validate_item(item, as_of)
            if patient is not None:
                earlier = first(patient.patient_id, number)
                if earlier is not None:
                    problems.append(repeated_id(item, patient.patient_id, f"{name}:{earlier}"))
                    patient = None
            if tally.take(item, patient, problems, findings) is not None:
                add(patient)
                if len(batch) >= per_batch:
                    send()
    finally:
        seen.close()
        tally.take_clean(name, clean)
        batch.done = read.get(name, 0)
