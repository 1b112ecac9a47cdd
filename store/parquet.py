"""The roster as Parquet files bucketed by patient id: what `sangao roster export --format parquet
--buckets N` writes and `sangao assess --executor dask` reads (engine/dask_executor.py).

A folder of N files `bucket-00000.parquet` … and `manifest.json`. A patient goes to bucket
`crc32(patient_id as UTF-8) mod N` (zlib's CRC-32: the same on every machine, Python version and run,
unlike Python's `hash()`), so every patient is in exactly one file with all of their data, and a
worker assessing one file needs nothing from any other (no shuffle). One row per patient:

| column | what |
|---|---|
| `seq` | the patient's place in export order (1, 2, …): the line of `roster export --format jsonl` |
| `patient_id`, `institution`, `team` | copied out of the record, to filter or shard by |
| `record` | the patient's interchange record (docs/interchange.md §1) as the JSONL export writes it |

Keeping the record as its JSON line means a worker decodes it with the same msgspec decoder as the
JSONL hot path (store/fast_json.py `decode_record`) into the same Struct, and an assessment read from
Parquet is byte for byte the one read from the JSONL export. Within a file, rows are in export order.

`manifest.json` says what the folder is: layout version, sangao version, bucket count and hash, and
each file's row count (no patient data).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathways.errors import Problem, SangaoError

MANIFEST = "manifest.json"
LAYOUT = "sangao-roster-parquet/1"
HASH = "crc32(utf-8 patient_id) mod buckets"
COLUMNS = ("seq", "patient_id", "institution", "team", "record")
PENDING_CHARS = 1 << 25  # record text held for all buckets (some 32 MB of text, 16,000 patients)
ROW_GROUP = 5000  # rows a bucket holds at most before writing them out as one row group: what a
# worker reads at once (`Manifest.bucket_sources`), so its memory
RANGE_ROWS = 2000  # rows a worker assesses at once (engine/parallel.py `assess_range`)


def bucket_of(patient_id: str, buckets: int) -> int:
    """The bucket of a patient id: stable across machines and runs."""
    return zlib.crc32(patient_id.encode("utf-8")) % buckets


def file_name(bucket: int) -> str:
    return f"bucket-{bucket:05d}.parquet"


@dataclass(frozen=True)
class BucketFile:
    path: str
    bucket: int
    rows: int


@dataclass(frozen=True)
class Manifest:
    """A bucketed roster folder, as engine/dask_executor.py reads it: the files to read, one
    partition each (`paths`), and plain functions a worker calls (sent by name): `bucket_index` and
    `bucket_sources` read a file, `results_writer` writes its assessments."""

    folder: str
    buckets: int
    patients: int
    files: tuple[BucketFile, ...]
    sangao_version: str

    @property
    def paths(self) -> list[str]:
        """The files holding patients."""
        return [f.path for f in self.files if f.rows]

    @staticmethod
    def bucket_index(path: str) -> tuple[list[int], list[str]]:
        """(`seq`, `patient_id`) of every row of one bucket file: the two small columns, read whole (a
        repeated id is found across the file before any record is read)."""
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["seq", "patient_id"])
        return table.column("seq").to_pylist(), table.column("patient_id").to_pylist()

    @staticmethod
    def bucket_sources(path: str) -> Iterator[FrameSource]:
        """The records of one bucket file a row group at a time (`write_buckets` writes at most
        ROW_GROUP rows in one), each a `FrameSource` whose rows are numbered in the file: a worker
        holds one row group's text, not the file's (a bucket of a province's roster is hundreds of
        thousands of patients; pyarrow's batch reader would hold several row groups at once)."""
        import pyarrow.parquet as pq

        first = 0
        with pq.ParquetFile(path) as f:
            for group in range(f.metadata.num_row_groups):
                lines = f.read_row_group(group, columns=["record"]).column(0).to_pylist()
                n = len(lines)
                ranges = tuple((start, min(start + RANGE_ROWS, n)) for start in range(0, n, RANGE_ROWS))
                yield FrameSource(path, lines, ranges, first)
                first += n

    @staticmethod
    @contextmanager
    def results_writer(folder: str, bucket_path: str) -> Iterator[Callable[[Any], None]]:
        """A function writing frames of one bucket file's assessments (seq, patient_id, color,
        assessment), in order, into `assessments-<its name>` in `folder`, owner-only, a row group
        each."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from store.privacy import open_private

        with open_private(Path(folder) / f"assessments-{Path(bucket_path).name}", "wb") as f, \
                pq.ParquetWriter(f, _results_schema(), compression="zstd") as writer:
            yield lambda frame: writer.write_table(
                pa.Table.from_pandas(frame, schema=_results_schema(), preserve_index=False))


def _results_schema():
    import pyarrow as pa

    return pa.schema([("seq", pa.int64()), ("patient_id", pa.string()), ("color", pa.string()),
                      ("assessment", pa.string())])


@dataclass(frozen=True)
class FrameSource:
    """One bucket file's rows as engine/parallel.py's `RangedSource`, in ranges of rows [start, end):
    a clean record is decoded by store/fast_json.py as a JSONL line is (`decode_record`), any other is
    judged by pydantic as the JSONL roster's line would be (store/importer.py `validate_item`), named
    by file and row (1-based)."""

    path: str
    lines: list[str]
    ranges: tuple[tuple[int, int], ...]
    first: int = 0  # rows of the file before these lines

    def read(self, r: tuple[int, int]) -> Iterator[tuple[int, Any, list[Problem]]]:
        """(row, record, []) per row of the range; at the first rejected row (row, None, its
        problems), last."""
        from store.fast_json import decode_record
        from store.importer import validate_item
        from store.readers.jsonl import line_item

        for row, line in enumerate(self.lines[r[0] : r[1]], start=self.first + r[0] + 1):
            data = line.encode("utf-8")
            record = decode_record(data)
            if record is None:
                record, problems, _ = validate_item(line_item(self.path, row, data), None)
                if problems:
                    yield row, None, problems
                    return
            yield row, record, []

    def repeated(self, patient_id: str, row: int) -> Problem:
        """D021 for a patient id seen again at `row` of this file."""
        import msgspec

        first = next(
            n for n, line in enumerate(self.lines, start=self.first + 1)
            if msgspec.json.decode(line).get("patient_id") == patient_id
        )
        return Problem.of("D021", file=self.path, line=row, patient=repr(patient_id),
                          first=f"{self.path}:{first}")


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("seq", pa.int64()),
            ("patient_id", pa.string()),
            ("institution", pa.string()),
            ("team", pa.string()),
            ("record", pa.string()),
        ]
    )


def write_buckets(records: Iterable[tuple[dict, str]], folder: str | Path, buckets: int) -> Manifest:
    """Write (interchange dict, its JSON line) pairs, in export order, into `buckets` files under
    `folder` (created; files of an earlier export there are replaced) and the manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from store.privacy import open_private

    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("bucket-*.parquet"):  # a rerun with fewer buckets leaves none behind
        old.unlink()
    schema = _schema()
    handles = [open_private(folder / file_name(b), "wb") for b in range(buckets)]
    writers = [pq.ParquetWriter(h, schema, compression="zstd") for h in handles]
    pending: list[list[list]] = [[[], [], [], [], []] for _ in range(buckets)]
    rows = [0] * buckets

    def flush(b: int) -> None:
        columns = pending[b]
        if columns[0]:
            writers[b].write_table(pa.Table.from_arrays([pa.array(c) for c in columns], schema=schema))
            pending[b] = [[], [], [], [], []]

    seq = 0
    held = [0] * buckets  # characters of record text each bucket holds
    total = 0
    try:
        for record, line in records:
            seq += 1
            patient_id = record["patient_id"]
            b = bucket_of(patient_id, buckets)
            columns = pending[b]
            columns[0].append(seq)
            columns[1].append(patient_id)
            columns[2].append(record.get("institution"))
            columns[3].append(record.get("team"))
            columns[4].append(line)
            rows[b] += 1
            held[b] += len(line)
            total += len(line)
            if len(columns[0]) >= ROW_GROUP or total >= PENDING_CHARS:
                # memory stays flat whatever the bucket count: write out the fullest bucket
                fullest = b if len(columns[0]) >= ROW_GROUP else max(range(buckets), key=held.__getitem__)
                flush(fullest)
                total -= held[fullest]
                held[fullest] = 0
        for b in range(buckets):
            flush(b)
    finally:
        for w in writers:
            w.close()
        for h in handles:
            h.close()
    manifest = Manifest(
        str(folder),
        buckets,
        seq,
        tuple(BucketFile(str(folder / file_name(b)), b, rows[b]) for b in range(buckets)),
        _version(),
    )
    with open(folder / MANIFEST, "w", encoding="utf-8", newline="\n") as f:
        json.dump(
            {
                "layout": LAYOUT,
                "sangao_version": manifest.sangao_version,
                "bucket_of": HASH,
                "buckets": buckets,
                "patients": seq,
                "columns": list(COLUMNS),
                "files": [{"file": file_name(b), "bucket": b, "rows": rows[b]} for b in range(buckets)],
            },
            f,
            ensure_ascii=False,
            indent=1,
        )
        f.write("\n")
    return manifest


def export_parquet(
    db_url: str, folder: str | Path, buckets: int, institutions: Sequence[str] | None = None
) -> Manifest:
    """Every stored patient (of these institutions only, when given: a province's shard), in
    first-import order, into `buckets` Parquet files under `folder`."""
    from store.db import open_db
    from store.exporter import iter_records, record_line

    db_engine = open_db(db_url)
    try:
        records = iter_records(db_engine, institutions)
        return write_buckets(((r, record_line(r)) for r in records), folder, buckets)
    finally:
        db_engine.dispose()


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a bucketed roster folder; D050 when `folder` is not one (or a file is missing)."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SangaoError.of("D050", file=str(folder), variant="no-manifest") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SangaoError.of("D050", file=str(path), variant="unreadable", reason=str(exc)) from None
    if not isinstance(data, dict) or data.get("layout") != LAYOUT:
        got = data.get("layout") if isinstance(data, dict) else None
        raise SangaoError.of("D050", file=str(path), variant="layout", layout=repr(got), expected=LAYOUT)
    files = []
    for item in data["files"]:
        file = folder / item["file"]
        if not file.is_file():
            raise SangaoError.of("D050", file=str(file), variant="missing", manifest=str(path))
        files.append(BucketFile(str(file), int(item["bucket"]), int(item["rows"])))
    return Manifest(str(folder), int(data["buckets"]), int(data["patients"]), tuple(files),
                    str(data.get("sangao_version", "")))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sangao")
    except PackageNotFoundError:
        return "unknown"
