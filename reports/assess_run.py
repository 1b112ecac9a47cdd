"""A run of `sangao assess` (the Dask run is reports/assess_dask.py). The JSONL hot path (no
filters, no --save): encoded lines straight from the roster file or database (engine/parallel.py).
The record path (any format, filters or --save): the patients of one team chosen, assessed (engine/parallel),
stored when asked, filtered by colour, referral and due date, and written as the table, CSV or
JSONL; the colour counts of what was shown, and the closing lines on stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

from rich.console import Console


@dataclass(frozen=True)
class Filters:
    """Which assessments are shown: any of `colors`, with a referral, due by a date, of a team."""

    colors: frozenset[str] = frozenset()
    referral: bool = False
    team: str | None = None
    due_by: date | None = None

    def __bool__(self) -> bool:
        return bool(self.colors or self.referral or self.team or self.due_by)


def assess_jsonl_fast(roster: Path | None, db: str, options, out: Path | None, stdout: TextIO, counts, *,
                      workers: int | None = None) -> bool:
    """The hot path of `assess --format jsonl`: each worker reads its own ranges (bytes of the JSONL
    file `roster`, else batches of rows of the database `db`) and returns encoded lines, written to
    `out`, else to `stdout`. False, with nothing written, when `roster` is not a UTF-8 JSONL file
    (assess_records reads it). The file is cut into ranges while the workers assess them
    (store/roster_source.py `jsonl_scan`); whether it is UTF-8 is known at that pass's end, before
    anything is written."""
    from engine.parallel import assess_source
    from store.roster_source import NotUtf8, db_source, jsonl_scan
    from store.sources import db_url

    source = jsonl_scan(roster) if roster is not None else db_source(db_url(db))
    if source is None:
        return False
    if options.cache_dir is not None:  # the decoder's symptom codes without parsing their YAML
        from store.validation import keep_symptom_codes

        keep_symptom_codes(options.cache_dir)
    try:
        if out is None:
            stdout.flush()
            assess_source(source, options, stdout.buffer, workers=workers, counts=counts)
            stdout.buffer.flush()
        else:
            target = OpenedWhenWritten(out, "wb")
            try:
                assess_source(source, options, target, workers=workers, counts=counts)
                target.opened()  # no line to write: the file is still made, empty
            finally:
                target.close()
    except NotUtf8:
        return False
    return True


class OpenedWhenWritten:
    """The `--out` file, opened owner-only (store/privacy.py `open_private`) at its first write: a
    roster found not to be UTF-8 at the end of the cutting pass (before any line is written), or
    one the record path cannot read, leaves a file already there as it was."""

    def __init__(self, path: Path, mode: str, **kwargs) -> None:
        self.path, self.mode, self.kwargs, self._file = path, mode, kwargs, None

    def opened(self):
        if self._file is None:
            from store.privacy import open_private

            self._file = open_private(self.path, self.mode, **self.kwargs)
        return self._file

    def write(self, data):
        return self.opened().write(data)

    def fileno(self) -> int:  # engine/parallel.py copies a worker's spilled lines by sendfile
        return self.opened().fileno()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def assess_records(patients: Callable[[], Iterable], options, fmt: str, out: Path | None, console: Console,
                   stdout: TextIO, filters: Filters, counts, *, workers: int | None = None, limit: int = 50,
                   lang: str = "zh",
                   save: Callable[[Iterable], Iterable] | None = None,
                   tick: Callable[[], None] | None = None) -> None:
    """Assess `patients()` (called once the guideline set has loaded: its problems come first) with
    `options` and write those `filters` keep in `fmt` ("table", "csv",
    "jsonl") to the file `out`, else the table to `console` and the rest to `stdout`. `save`
    stores the assessments as they pass; `counts.colors` counts the ones shown."""
    from engine import assess_roster
    from guidelines.loader import load_set
    from reports import assessments as fmt_out
    from store.privacy import open_private

    book = fmt_out.InfoBook(load_set(options.guidelines), options.as_of)
    roster = patients()

    def chosen():
        for p in roster:
            if tick:
                tick()
            if filters.team is None or p.team == filters.team:
                yield book.record(p)

    results = assess_roster(chosen(), options, workers=workers or 1, counts=counts)
    if save is not None:
        results = save(results)

    def shown():
        for a in results:
            if fmt_out.matches(a, set(filters.colors), filters.referral, filters.due_by):
                counts.colors[a.color.value] += 1
                yield a

    if fmt == "table" and out is None:
        fmt_out.print_table(shown(), console, limit=limit, lang=lang, info=book)
        return
    if out is not None and fmt in ("csv", "jsonl"):
        # opened at its first line: a roster that cannot be read leaves a file already there as it was
        target = OpenedWhenWritten(out, "w", encoding="utf-8", newline="")
    else:
        target = open_private(out, "w", encoding="utf-8", newline="") if out else stdout
    try:
        if fmt == "csv":
            fmt_out.write_csv(shown(), target, lang, info=book)
        elif fmt == "jsonl":
            fmt_out.write_jsonl(shown(), target)
        else:
            fmt_out.print_table(shown(), Console(file=target, width=120), limit=limit, lang=lang, info=book)
        if isinstance(target, OpenedWhenWritten):
            target.opened()  # nothing to write: the file is still made, empty
    finally:
        if out:
            target.close()


def closing_lines(counts, fmt: str, out: Path | None, as_of: date, lang: str = "zh") -> list[str]:
    """What `assess` prints on stderr when done (stderr, so JSONL on stdout stays machine-readable):
    the colour counts when the output is not the table on the terminal, then how many were assessed
    and skipped."""
    from reports.assessments import summary

    lines = []
    if fmt != "table" or out is not None:
        lines.append(summary(counts.colors, lang) + (f" → {out}" if out else ""))
    if lang == "zh":
        lines.append(f"{counts.assessed} 名已评估，{counts.skipped} 名未评估（{as_of} 或之前死亡或迁出）")
    else:
        lines.append(f"{counts.assessed} assessed, {counts.skipped} skipped (died or moved out on or before "
                     f"{as_of})")
    return lines
