"""Extracting one member of a zip archive into sangao's private temporary folder (store/scratch.py)
with caps, so a zip bomb costs neither memory nor disk: the member is streamed in CHUNK pieces
(never held whole), and refused (D032, naming the member and the cap) when its size, its expansion
over its packed size, or the archive's total passes a limit. The sizes the archive declares are
checked before anything is read, and the bytes written are counted as well (zipfile stops at the
declared size, but the caps do not rely on it).

The caps are module constants (tests set smaller ones); they sit far above any real export: a
county's visits export of a million rows is some 500 MB as CSV and packs five to twenty times.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from pathways.errors import SangaoError

MAX_MEMBER_BYTES = 2 << 30  # one member, unpacked
MAX_ARCHIVE_BYTES = 8 << 30  # every member of one archive, unpacked
MAX_RATIO = 200  # unpacked bytes per packed byte (CSV packs 5–20 times; a zip bomb a thousand)
RATIO_FROM = 1 << 20  # members smaller than this unpacked are not held to MAX_RATIO
CHUNK = 1 << 20


class Budget:
    """What is left of MAX_ARCHIVE_BYTES for the rest of one archive."""

    def __init__(self) -> None:
        self.left = MAX_ARCHIVE_BYTES


def _refuse(file: str, member: str, variant: str, **fields) -> SangaoError:
    return SangaoError.of("D032", variant=variant, file=file, member=member, **fields)


def _check(file: str, member: str, size: int, packed: int, budget: Budget) -> None:
    if size > MAX_MEMBER_BYTES:
        raise _refuse(file, member, "size", cap=MAX_MEMBER_BYTES)
    if size > RATIO_FROM and size > MAX_RATIO * max(packed, 1):
        raise _refuse(file, member, "ratio", cap=MAX_RATIO, ratio=size // max(packed, 1))
    if size > budget.left:
        raise _refuse(file, member, "total", cap=MAX_ARCHIVE_BYTES)


def extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, file: str, member: str,
            budget: Budget) -> None:
    """Write `info`'s bytes to `target`, streamed; D032 (SangaoError) when a cap is passed. The
    archive's own errors (encrypted, bad CRC …) propagate for the caller to locate."""
    _check(file, member, info.file_size, info.compress_size, budget)
    written = 0
    with archive.open(info) as source, target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            _check(file, member, written, info.compress_size, budget)
            out.write(chunk)
    budget.left -= written
