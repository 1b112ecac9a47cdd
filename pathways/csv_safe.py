"""CSV that a spreadsheet opens without running anything: every CSV sangao writes goes through here.

A cell beginning with `=`, `+`, `-`, `@`, TAB or CR is read by Excel and WPS as a formula (CSV
injection, OWASP); such a text cell gets a leading apostrophe, which spreadsheets show as text and
do not display. Numbers are written as numbers: a negative number is data, not a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` as a CSV cell that no spreadsheet runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer with every text cell passed through safe_cell."""

    def __init__(self, f: TextIO, **kwargs: Any) -> None:
        self._writer = csv.writer(f, **kwargs)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
