"""pathways/workdays.py WorkCalendar and guidelines/calendar_loader.py load_calendar."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from guidelines.calendar_loader import load_calendar, read_calendar_file
from pathways.errors import SangaoError
from pathways.workdays import WorkCalendar


def d(text: str) -> date:
    return date.fromisoformat(text)


# ---- WorkCalendar with literal data ---------------------------------------------------------

# A made-up year: a Wednesday holiday, a Saturday make-up working day.
LITERAL = WorkCalendar(holidays={d("2030-05-01"), d("2030-12-31")}, workdays={d("2030-05-04")}, years={2030})


def test_an_ordinary_weekday_is_a_working_day():
    assert LITERAL.is_working_day(d("2030-05-02"))  # Thursday


def test_an_ordinary_saturday_and_sunday_are_not_working_days():
    assert not LITERAL.is_working_day(d("2030-05-11"))
    assert not LITERAL.is_working_day(d("2030-05-12"))


def test_a_weekday_holiday_is_not_a_working_day():
    assert not LITERAL.is_working_day(d("2030-05-01"))  # Wednesday


def test_a_make_up_saturday_is_a_working_day():
    assert LITERAL.is_working_day(d("2030-05-04"))


def test_next_working_day_of_a_working_day_is_the_day_itself():
    assert LITERAL.next_working_day(d("2030-05-02")) == d("2030-05-02")


def test_next_working_day_skips_a_holiday_and_a_weekend():
    assert LITERAL.next_working_day(d("2030-05-01")) == d("2030-05-02")
    assert LITERAL.next_working_day(d("2030-05-11")) == d("2030-05-13")


def test_a_date_in_a_year_not_covered_is_an_r410_error_naming_the_year_and_the_remedy():
    with pytest.raises(SangaoError) as caught:
        LITERAL.is_working_day(d("2031-03-03"))
    problem = caught.value.problems[0]
    assert problem.code == "R410"
    assert "2031" in problem.message
    assert "guidelines/calendars/2031.yaml" in problem.hint
    assert "holidays:" in problem.hint and "makeup_workdays:" in problem.hint
    assert "--provisional-calendar" in problem.hint


def test_next_working_day_running_into_a_year_not_covered_is_an_error_naming_that_year():
    with pytest.raises(SangaoError, match="no working-day calendar for 2031"):
        LITERAL.next_working_day(d("2030-12-31"))  # a holiday; 2031-01-01 is not covered


def test_a_day_listed_both_closed_and_worked_is_refused():
    with pytest.raises(ValueError, match="2030-05-04 is listed both"):
        WorkCalendar(holidays={d("2030-05-04")}, workdays={d("2030-05-04")}, years={2030})


def test_a_provisional_year_must_be_covered():
    with pytest.raises(ValueError, match="not among the covered years"):
        WorkCalendar(holidays=set(), workdays=set(), years={2030}, provisional_years={2031})


def test_warnings_name_only_the_provisional_years_a_lookup_touched():
    calendar = WorkCalendar(holidays=set(), workdays=set(), years={2030, 2031}, provisional_years={2031})
    calendar.next_working_day(d("2030-06-03"))
    assert calendar.warnings() == ()
    calendar.next_working_day(d("2031-06-02"))
    calendar.is_working_day(d("2031-06-03"))
    (warning,) = calendar.warnings()
    assert "2031" in warning and "provisional" in warning


# ---- the real calendar: chinese_calendar for 2026 --------------------------------------------


@pytest.fixture(scope="module")
def cal2026() -> WorkCalendar:
    return load_calendar({2026})


@pytest.mark.parametrize("day", [f"2026-10-0{n}" for n in range(1, 8)])
def test_national_day_2026_is_closed_from_1_to_7_october(cal2026, day):
    assert not cal2026.is_working_day(d(day))


def test_8_october_2026_is_the_first_working_day_after_national_day(cal2026):
    assert cal2026.is_working_day(d("2026-10-08"))
    assert cal2026.next_working_day(d("2026-10-01")) == d("2026-10-08")


def test_the_2026_make_up_working_days_around_national_day_are_worked(cal2026):
    assert cal2026.is_working_day(d("2026-09-20"))  # Sunday
    assert cal2026.is_working_day(d("2026-10-10"))  # Saturday
    assert not cal2026.is_working_day(d("2026-10-11"))  # the Sunday after: an ordinary weekend


def test_mid_autumn_2026_is_closed_and_the_next_working_day_is_the_monday(cal2026):
    assert [cal2026.is_working_day(d(f"2026-09-{n}")) for n in (24, 25, 26, 27, 28)] == [
        True,
        False,
        False,
        False,
        True,
    ]
    assert cal2026.next_working_day(d("2026-09-25")) == d("2026-09-28")


def test_spring_festival_2026_is_closed_with_its_make_up_saturdays_worked(cal2026):
    assert all(not cal2026.is_working_day(d(f"2026-02-{n}")) for n in range(15, 24))
    assert cal2026.is_working_day(d("2026-02-14"))  # Saturday
    assert cal2026.is_working_day(d("2026-02-28"))  # Saturday
    assert cal2026.next_working_day(d("2026-02-15")) == d("2026-02-24")


def test_an_ordinary_2026_weekend_is_closed(cal2026):
    assert not cal2026.is_working_day(d("2026-11-28"))
    assert cal2026.next_working_day(d("2026-11-28")) == d("2026-11-30")
    assert cal2026.warnings() == ()


def test_2027_is_not_covered_by_default_and_a_2027_date_is_an_error_naming_2027():
    calendar = load_calendar({2026, 2027})
    assert calendar.years == {2026}
    with pytest.raises(SangaoError) as caught:
        calendar.next_working_day(d("2027-01-04"))
    assert caught.value.problems[0].code == "R410"
    assert "2027" in caught.value.problems[0].message


# ---- provisional years from the holiday law ---------------------------------------------------


@pytest.fixture
def provisional() -> WorkCalendar:
    return load_calendar({2026, 2027}, provisional=True)


def test_provisional_2027_works_and_is_flagged(provisional):
    assert provisional.provisional_years == {2027}
    assert provisional.is_working_day(d("2027-03-03"))
    (warning,) = provisional.warnings()
    assert "2027" in warning


def test_provisional_mode_does_not_replace_a_year_the_notice_covers(provisional):
    assert 2026 not in provisional.provisional_years
    assert provisional.is_working_day(d("2026-10-10"))  # a make-up Saturday only the notice knows
    assert provisional.warnings() == ()


@pytest.mark.parametrize(
    "day", ["2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10"]
)
def test_spring_festival_2027_falls_on_non_working_days_in_provisional_mode(provisional, day):
    assert not provisional.is_working_day(d(day))


def test_the_first_working_day_after_spring_festival_2027_is_11_february_provisionally(provisional):
    assert provisional.next_working_day(d("2027-02-05")) == d("2027-02-11")


def test_national_day_2027_is_closed_provisionally(provisional):
    assert all(not provisional.is_working_day(d(f"2027-10-0{n}")) for n in range(1, 6))


def test_a_year_beyond_the_holiday_law_data_stays_uncovered_even_provisionally():
    calendar = load_calendar({2150}, provisional=True)
    assert calendar.years == set()
    with pytest.raises(SangaoError, match="2150"):
        calendar.is_working_day(d("2150-06-01"))


# ---- calendar files ---------------------------------------------------------------------------

GOOD_2027 = """\
year: 2027
source: made up for a test
holidays:
  - 2027-01-01
  - "2027-02-08"
makeup_workdays:
  - 2027-02-20
"""


def test_a_calendar_file_in_an_extra_directory_covers_its_year_without_a_warning(tmp_path: Path):
    (tmp_path / "2027.yaml").write_text(GOOD_2027, encoding="utf-8")
    calendar = load_calendar({2027}, provisional=True, extra_dirs=[tmp_path])
    assert calendar.years == {2027}
    assert calendar.provisional_years == frozenset()
    assert not calendar.is_working_day(d("2027-01-01"))
    assert not calendar.is_working_day(d("2027-02-08"))  # quoted dates are dates too
    assert calendar.is_working_day(d("2027-02-20"))  # a make-up Saturday
    assert calendar.warnings() == ()


def test_a_calendar_file_wins_over_the_chinese_calendar_package(tmp_path: Path):
    (tmp_path / "2026.yaml").write_text("holidays: [2026-03-03]\nmakeup_workdays: []\n", encoding="utf-8")
    calendar = load_calendar({2026}, extra_dirs=[tmp_path])
    assert not calendar.is_working_day(d("2026-03-03"))
    assert calendar.is_working_day(d("2026-10-08"))
    assert not calendar.is_working_day(d("2026-10-10"))  # the file lists no make-up days


def problems_of(text: str, year: int = 2027) -> list:
    with pytest.raises(SangaoError) as caught:
        read_calendar_file(text, "cal/2027.yaml", year)
    return caught.value.problems


def test_an_unknown_key_is_reported_at_its_line_and_column_with_a_suggestion():
    (problem,) = problems_of("holidays: []\nmakeup_workday: []\nmakeup_workdays: []\n")
    assert (problem.code, problem.file, problem.line, problem.column) == ("G902", "cal/2027.yaml", 2, 1)
    assert "makeup_workday" in problem.message
    assert problem.hint == "did you mean 'makeup_workdays'?"


def test_every_bad_date_of_a_file_is_reported_in_one_run_with_its_place():
    text = (
        "holidays:\n  - 2027-13-01\n  - 2026-12-31\n  - 2027-05-01\n"
        "makeup_workdays:\n  - 2027-05-01\n  - 2027-05-05\n"
    )
    problems = problems_of(text)
    assert [(p.code, p.line, p.column) for p in problems] == [
        ("G903", 2, 5),  # not a date
        ("G904", 3, 5),  # in 2026
        ("G905", 6, 5),  # already a holiday
        ("G906", 7, 5),  # a Wednesday
    ]
    assert "'2027-13-01'" in problems[0].message and "YYYY-MM-DD" in problems[0].hint
    assert problems[1].hint == "move it to 2026.yaml"
    assert "Wednesday" in problems[3].message


def test_a_malformed_calendar_file_reads_in_chinese_by_default_and_in_english_on_request():
    text = "holidays:\n  - 2027-13-01\nmakeup_workdays:\n  - 2027-05-05\nholiday: []\n"
    with pytest.raises(SangaoError) as caught:
        read_calendar_file(text, "cal/2027.yaml", 2027)
    chinese = caught.value.render()
    assert "cal/2027.yaml:2:5: G903 holidays[0] 是 '2027-13-01'，不是日期" in chinese
    assert "提示: 写成 YYYY-MM-DD，如 2027-10-01" in chinese
    assert "cal/2027.yaml:4:5: G906 makeup_workdays[0] 2027-05-05 是星期三，不是周末，不需调休上班" in chinese
    assert "cal/2027.yaml:5:1: G902 未知的键 'holiday'" in chinese and "提示: 是不是 'holidays'？" in chinese
    english = caught.value.render("en")
    assert "cal/2027.yaml:2:5: G903 holidays[0] is '2027-13-01', not a date" in english
    assert "hint: write YYYY-MM-DD, e.g. 2027-10-01" in english
    assert "4:5: G906 makeup_workdays[0] 2027-05-05 is a Wednesday, not a weekend day" in english
    assert "cal/2027.yaml:5:1: G902 unknown key 'holiday'" in english
    assert "did you mean 'holidays'?" in english


def test_a_calendar_file_that_is_not_yaml_or_names_another_year_reads_in_both_languages():
    with pytest.raises(SangaoError) as caught:
        read_calendar_file("holidays: [2027-01-01\n", "cal/2027.yaml", 2027)
    assert "G901 日历文件不是有效的 YAML：" in caught.value.render()
    assert "G901 not valid YAML: " in caught.value.render("en")
    with pytest.raises(SangaoError) as caught:
        read_calendar_file("year: 2028\nholidays: [2026-12-31]\nmakeup_workdays: []\n", "cal/2027.yaml", 2027)
    chinese, english = caught.value.render(), caught.value.render("en")
    assert "G904 year 写的是 2028，但文件名是 2027.yaml" in chinese and "提示: 移到 2026.yaml" in chinese
    assert "G904 year is 2028 but the file is named 2027.yaml" in english
    assert "G904 holidays[0] 2026-12-31 is not in 2027" in english and "hint: move it to 2026.yaml" in english


def test_a_missing_list_and_a_year_that_does_not_match_the_file_name_are_reported():
    problems = problems_of("year: 2028\nholidays: [2027-01-01]\n")
    assert [(p.code, p.line) for p in problems] == [("G904", 1), ("G902", 1)]
    assert "2028" in problems[0].message and "makeup_workdays" in problems[1].message


def test_a_list_given_as_a_single_date_is_reported():
    (problem,) = problems_of("holidays: 2027-01-01\nmakeup_workdays: []\n")
    assert (problem.code, problem.line, problem.column) == ("G902", 1, 11)


def test_a_date_with_a_time_is_not_a_day():
    (problem,) = problems_of("holidays: [2027-01-01 08:00:00]\nmakeup_workdays: []\n")
    assert problem.code == "G903"


def test_broken_yaml_is_reported_with_its_place():
    (problem,) = problems_of("holidays: [2027-01-01\nmakeup_workdays: []\n")
    assert problem.code == "G901" and problem.file == "cal/2027.yaml" and problem.line is not None


def test_a_file_that_is_not_a_mapping_is_reported():
    (problem,) = problems_of("- 2027-01-01\n")
    assert (problem.code, problem.line, problem.column) == ("G902", 1, 1)


def test_every_calendar_file_shipped_with_sangao_is_valid_for_the_year_it_is_named_after():
    # None ship yet (chinese_calendar covers 2004–2026; the 2027 notice is not known): this guards
    # the first one added to guidelines/calendars/.
    import importlib.resources

    folder = importlib.resources.files("guidelines") / "calendars"
    files = [f for f in folder.iterdir() if f.name.endswith(".yaml")] if folder.is_dir() else []
    for f in files:
        year = int(f.name.removesuffix(".yaml"))
        holidays, makeup = read_calendar_file(
            f.read_text(encoding="utf-8"), f"guidelines/calendars/{f.name}", year
        )
        assert holidays, f"{f.name} lists no holidays"
        assert load_calendar({year}).years == {year}


def test_a_working_day_asked_again_is_the_same_and_an_uncovered_year_stays_an_error():
    calendar = WorkCalendar(holidays={d("2031-06-02")}, workdays=set(), years={2031},
                            provisional_years={2031})
    first = calendar.next_working_day(d("2031-05-31"))  # Saturday; Monday is a holiday
    assert first == d("2031-06-03") and calendar.next_working_day(d("2031-05-31")) == first
    assert len(calendar.warnings()) == 1
    for _ in range(2):  # an error is not remembered as an answer
        with pytest.raises(SangaoError):
            calendar.next_working_day(d("2032-01-01"))
