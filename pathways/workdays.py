"""The Chinese working-day calendar, as a value passed in (docs/architecture.md §2.2).

A `WorkCalendar` knows, for each year it covers, the statutory holidays and the make-up working
days (调休上班: a Saturday or Sunday worked to bridge a holiday) of the State Council's yearly
notice. It does no I/O: guidelines/calendar_loader.py builds one from the `chinese_calendar`
package, YAML files and, on request, the `holidays` package; tests pass literal sets.

A date in a year the calendar does not cover is an R410 error naming the year and how to supply
it, never a guess. A *provisional* year (statutory holidays computed from the holiday law, without
make-up working days) works, and `warnings()` names every provisional year a lookup touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from pathways.errors import SangaoError

# How far next_working_day looks ahead: the longest run of closed days in any State Council
# notice is 9 (Spring Festival with weekends); 31 leaves room for odd provisional data.
_MAX_CLOSED_RUN = 31


def provisional_warning(year: int, lang: str = "en") -> str:
    """The warning every output dated in a provisional `year` carries."""
    if lang == "zh":
        return (
            f"{year}年工作日为临时日历：仅按节假日法定假日推算，未含国务院通知的调休上班日；"
            f"通知发布后请添加 {year}.yaml 日历文件（--calendar-dir 或 guidelines/calendars/）"
        )
    return (
        f"provisional working-day calendar for {year}: statutory holidays computed from the holiday "
        f"law, without the make-up working days that only the State Council's notice fixes; add "
        f"guidelines/calendars/{year}.yaml once the notice is published"
    )


class WorkCalendar:
    """Working days of the covered `years`.

    - `holidays`: closed dates (a weekday listed here is not worked);
    - `workdays`: make-up working days (a Saturday or Sunday listed here is worked);
    - `years`: the years these lists are complete for;
    - `provisional_years`: the covered years whose lists come from the law, not a notice.

    Any other Saturday or Sunday is closed and any other weekday is worked.
    """

    __slots__ = ("holidays", "workdays", "years", "provisional_years", "_used_provisional", "_next")

    def __init__(
        self,
        holidays: Iterable[date],
        workdays: Iterable[date],
        years: Iterable[int],
        provisional_years: Iterable[int] = (),
    ) -> None:
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        self.years = frozenset(years)
        self.provisional_years = frozenset(provisional_years)
        stray = sorted(y for y in self.provisional_years if y not in self.years)
        if stray:
            raise ValueError(f"provisional years {stray} are not among the covered years")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(
                f"{both[0].isoformat()} is listed both as a holiday and as a make-up working day"
            )
        self._used_provisional: set[int] = set()
        # next_working_day's answers: a plan asks for the same few hundred days again and again
        self._next: dict[date, date] = {}

    def __repr__(self) -> str:
        years = ", ".join(str(y) for y in sorted(self.years))
        provisional = ", ".join(str(y) for y in sorted(self.provisional_years))
        return f"WorkCalendar(years=[{years}], provisional=[{provisional}])"

    def covers(self, year: int) -> bool:
        return year in self.years

    def _check(self, d: date) -> None:
        year = d.year
        if year not in self.years:
            raise SangaoError.of("R410", year=year, day=d.isoformat())
        if year in self.provisional_years:
            self._used_provisional.add(year)

    def is_working_day(self, d: date) -> bool:
        """True if `d` is a working day. Raises SangaoError R410 if `d`'s year is not covered."""
        self._check(d)
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < 5

    def next_working_day(self, d: date) -> date:
        """`d` itself if it is a working day, else the first working day after it. Raises
        SangaoError R410 for a year not covered (including a year the search runs into)."""
        known = self._next.get(d)
        if known is not None:  # its years were noted as used when it was worked out
            return known
        day = d
        for _ in range(_MAX_CLOSED_RUN):
            if self.is_working_day(day):
                self._next[d] = day
                return day
            day += timedelta(days=1)
        raise SangaoError.of("R411", day=d.isoformat(), days=_MAX_CLOSED_RUN)

    def warnings(self) -> tuple[str, ...]:
        """One warning per provisional year that a lookup has touched so far, in year order."""
        return tuple(provisional_warning(y) for y in sorted(self._used_provisional))
