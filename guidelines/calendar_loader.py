"""Build the working-day calendar (pathways/workdays.py) from its sources; the I/O half of it.

For each year asked for, the first source that has it wins:

1. `<year>.yaml` in each of `extra_dirs`, in order (a site's own file);
2. `<year>.yaml` in guidelines/calendars/ (package data shipped with sangao);
3. the `chinese_calendar` package (State Council notices 2004–2026 in version 1.11, with the
   make-up working days);
4. only with `provisional=True`: the statutory holidays of the holiday law for that year from the
   `holidays` package (`holidays.China`, lunar dates included), without make-up working days;
   the year is flagged provisional and outputs dated in it carry a warning.

A file wins over the package so a correction can ship without waiting for a package release. A
year none of these has stays uncovered: a date in it is an R410 error naming the year, raised
only when a date actually falls there (a 2027 follow-up, not merely an as_of in late 2026).

A calendar file, one per year, transcribes the State Council notice
(国务院办公厅关于<year>年部分节假日安排的通知):

```yaml
# guidelines/calendars/2027.yaml
year: 2027                       # optional; must match the file name
source: 国办发明电〔2026〕N号     # optional, free text
holidays:                        # every closed day of the holiday runs, weekends included
  - 2027-01-01
makeup_workdays:                 # Saturdays and Sundays worked (调休上班); may be []
  - 2027-02-20
```

Errors (all of a file in one run) carry file:line:column: G901 unreadable YAML, G902 not a
mapping / unknown key / missing list, G903 not a date, G904 date outside the file's year, G905 a
date listed twice or in both lists, G906 a make-up working day that is not a Saturday or Sunday.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError

from guidelines.yaml_source import load_yaml
from pathways.errors import Problem, SangaoError
from pathways.workdays import WorkCalendar

_KEYS = ("year", "source", "holidays", "makeup_workdays")
_LISTS = ("holidays", "makeup_workdays")


def load_calendar(
    years_needed: Iterable[int], provisional: bool = False, extra_dirs: Iterable[str | Path] = ()
) -> WorkCalendar:
    """A WorkCalendar covering each of `years_needed` that some source has (see the module doc).

    Years no source has are left uncovered (an R410 error when a date falls in one), unless
    `provisional` is true, in which case they come from the holiday law and are flagged.
    Raises SangaoError (G9xx) for a calendar file with errors."""
    holidays: set[date] = set()
    workdays: set[date] = set()
    years: set[int] = set()
    provisional_years: set[int] = set()
    dirs = [Path(d) for d in extra_dirs]
    for year in sorted(set(years_needed)):
        found = _from_files(year, dirs)
        if found is None:
            found = _from_chinese_calendar(year)
        if found is None and provisional:
            found = _from_holiday_law(year)
            if found is not None:
                provisional_years.add(year)
        if found is None:
            continue
        holidays |= found[0]
        workdays |= found[1]
        years.add(year)
    return WorkCalendar(holidays, workdays, years, provisional_years)


# ---- sources --------------------------------------------------------------------------------

Lists = tuple[set[date], set[date]]


def _from_files(year: int, dirs: list[Path]) -> Lists | None:
    for directory in dirs:
        path = directory / f"{year}.yaml"
        if path.is_file():
            return read_calendar_file(path.read_text(encoding="utf-8"), str(path), year)
    resource = importlib.resources.files("guidelines") / "calendars" / f"{year}.yaml"
    if resource.is_file():
        return read_calendar_file(
            resource.read_text(encoding="utf-8"), f"guidelines/calendars/{year}.yaml", year
        )
    return None


@functools.cache
def _chinese_calendar_years() -> tuple[dict[int, set[date]], dict[int, set[date]]]:
    from chinese_calendar import constants  # imported on first use: it builds large tables

    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for d in constants.holidays:
        holidays.setdefault(d.year, set()).add(d)
    for d in constants.workdays:
        workdays.setdefault(d.year, set()).add(d)
    return holidays, workdays


def _from_chinese_calendar(year: int) -> Lists | None:
    holidays, workdays = _chinese_calendar_years()
    if year not in holidays:  # the package covers a year only once it has the notice
        return None
    return set(holidays[year]), set(workdays.get(year, ()))


def _from_holiday_law(year: int) -> Lists | None:
    import holidays as holidays_pkg

    closed = set(holidays_pkg.China(years=year))
    if not closed:  # outside the package's range: leave the year uncovered
        return None
    return closed, set()


# ---- calendar files -------------------------------------------------------------------------


class _DatesAsText(RoundTripConstructor):
    """Reads timestamps as text, so `2027-13-01` is our G903 with its place, not ruamel's crash."""


_DatesAsText.add_constructor("tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _DatesAsText
    return yaml


def read_calendar_file(text: str, file: str, year: int) -> Lists:
    """(holidays, make-up working days) of one calendar file for `year`; every problem of the
    file raised at once as a SangaoError with file:line:column."""
    try:
        doc = load_yaml(_yaml(), text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise SangaoError.of("G901", file=file, line=line, column=column,
                             detail=str(getattr(exc, "problem", exc))) from None

    problems: list[Problem] = []

    def problem(code: str, pos: tuple[int, int], **fields: Any) -> None:
        problems.append(Problem.of(code, file=file, line=pos[0] + 1, column=pos[1] + 1, **fields))

    if not isinstance(doc, CommentedMap):
        raise SangaoError.of("G902", file=file, line=1, column=1, variant="not_mapping")
    for key in doc:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            if close:
                problem("G902", doc.lc.key(key), variant="unknown_key", key=key, close=close[0])
            else:
                problem("G902", doc.lc.key(key), variant="unknown_key_no_match", key=key,
                        allowed=", ".join(_KEYS))
    if "year" in doc and (isinstance(doc["year"], bool) or doc["year"] != year):
        problem("G904", doc.lc.value("year"), variant="year_key", value=doc["year"], year=year)

    lists: dict[str, set[date]] = {}
    seen: dict[date, str] = {}
    for key in _LISTS:
        found: set[date] = set()
        lists[key] = found
        if key not in doc:
            problem("G902", (doc.lc.line, doc.lc.col), variant="missing_list", key=key)
            continue
        items = doc[key]
        if not isinstance(items, CommentedSeq):
            problem("G902", doc.lc.value(key), variant="not_a_list", key=key, year=year)
            continue
        for index, item in enumerate(items):
            pos = items.lc.item(index)
            where = f"{key}[{index}]"
            d = _as_date(item)
            if d is None:
                problem("G903", pos, where=where, value=repr(item))
                continue
            if d.year != year:
                problem("G904", pos, variant="item", where=where, date=d.isoformat(), year=year,
                        date_year=d.year)
                continue
            if d in seen:
                problem("G905", pos, where=where, date=d.isoformat(), first=seen[d])
                continue
            if key == "makeup_workdays" and d.weekday() < 5:
                weekday = {"zh": "星期" + "一二三四五"[d.weekday()], "en": d.strftime("%A")}
                problem("G906", pos, where=where, date=d.isoformat(), weekday=weekday)
                continue
            seen[d] = key
            found.add(d)
    if problems:
        raise SangaoError(problems)
    return lists["holidays"], lists["makeup_workdays"]


def _as_date(item: Any) -> date | None:
    if isinstance(item, str):  # quoted or not: timestamps are read as text (_DatesAsText)
        try:
            return date.fromisoformat(item)
        except ValueError:
            return None
    return None
