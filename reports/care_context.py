"""What the team's outputs (worklist, plan) share: the assessor with a working-day calendar wide
enough for past visits and the next year, the schedule numbers of the guideline set, the Chinese
names of screenings, and the calendar warnings every output must carry (pathway-defaults §6).

Calendar policy: a year the maintained calendar does not cover is provisional by default (the
statutory holidays of the holiday law, no make-up working days) and every output holding a date
in it says so; a `<year>.yaml` in a calendar folder given by option, or in the guideline set's
own `calendars/` folder, replaces it; `strict=True` makes such a date an R410 error instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from engine.assess import Assessor
from guidelines.calendar_loader import load_calendar
from guidelines.loader import load_set
from guidelines.model import GuidelineSet
from pathways.care_state import ScheduleRules
from pathways.models import Assessment, Patient
from pathways.workdays import WorkCalendar, provisional_warning

# The first year the maintained calendar (chinese_calendar) has; visits before it are not
# rescheduled, so the calendar need not reach further back.
_FIRST_YEAR = 2004


@dataclass
class CareContext:
    gset: GuidelineSet
    assessor: Assessor
    calendar: WorkCalendar
    rules: ScheduleRules
    as_of: date
    lang: str = "zh"
    _names: dict[str, str] = field(default_factory=dict)
    # what an output works out once for all patients alike, by what it depends on (reports/plan.py)
    memo: dict = field(default_factory=dict)

    def assess_at(self, patient: Patient, day: date) -> Assessment:
        return self.assessor.assess(patient, day).assessment

    def screening_name(self, kind: str) -> str:
        if not self._names:
            for complication in self.gset.screenings.complications:
                for item in complication.items:
                    zh = (item.name or complication.name).split("（")[0]  # the name, not its notes
                    en = complication.name_en or item.kind
                    self._names.setdefault(item.kind, zh if self.lang == "zh" else f"{en} ({item.kind})")
        return self._names.get(kind, kind)

    def provisional_years(self, days: Iterable[date]) -> list[int]:
        return sorted({d.year for d in days if d.year in self.calendar.provisional_years})

    def warnings_for(self, days: Iterable[date]) -> list[str]:
        """The calendar warning of each provisional year among `days`, in the output's language."""
        return [provisional_warning(y, self.lang) for y in self.provisional_years(days)]


def build_context(
    guidelines: str,
    as_of: date,
    *,
    strict_calendar: bool = False,
    calendar_dirs: Iterable[str | Path] = (),
    lang: str = "zh",
    backend: str = "python",
) -> CareContext:
    gset = load_set(guidelines)
    dirs = [*calendar_dirs, gset.path / "calendars"]
    years = range(min(_FIRST_YEAR, as_of.year), as_of.year + 3)
    calendar = load_calendar(years, provisional=not strict_calendar, extra_dirs=dirs)
    assessor = Assessor(gset, calendar, backend=backend)
    colors = {}
    for color in ("red", "yellow", "blue"):
        days = getattr(gset.colors, color).follow_up_days
        colors[color] = int(gset.param(days.param) if hasattr(days, "param") else days)
    rules = ScheduleRules.from_params(gset.parameters, colors)
    return CareContext(gset, assessor, calendar, rules, as_of, lang)
