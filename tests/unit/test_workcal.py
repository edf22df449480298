"""The working calendar: China's holidays and 调休 days, the config's own lists, working time between instants."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridbot.config import ConfigError
from gridbot.workcal import WorkCalendar, calendar_for

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def cal() -> WorkCalendar:
    return calendar_for(None, "Asia/Shanghai")


def test_national_day_is_off_and_its_tiaoxiu_saturday_is_worked(cal):
    assert not cal.is_workday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 10, 9))            # Friday after the holiday
    assert cal.is_workday(date(2026, 10, 10))           # 调休: a Saturday worked
    assert not cal.is_workday(date(2026, 12, 5))        # an ordinary Saturday


def test_the_config_lists_win_over_the_library_and_cover_unknown_years():
    cal = WorkCalendar.from_config({"holidays": ["2026-12-07", "2027-01-01"], "workdays": ["2026-12-05"]}, SH)
    assert not cal.is_workday(date(2026, 12, 7))        # a Monday made a local day off
    assert cal.is_workday(date(2026, 12, 5))            # a Saturday made a working day
    assert not cal.is_workday(date(2027, 1, 1))         # a year the library does not know: the list says
    assert cal.is_workday(date(2027, 1, 4))             # unknown year, Monday: Monday–Friday rule


def test_working_time_skips_nights_weekends_and_holidays(cal):
    friday_evening = at(2026, 12, 4, 22, 30)
    assert cal.next_open(friday_evening) == at(2026, 12, 7, 8, 30)
    assert cal.add_working(friday_evening, timedelta(minutes=60)) == at(2026, 12, 7, 9, 30)
    # 60 minutes from 17:00 on a Wednesday: 30 today, 30 tomorrow morning
    assert cal.add_working(at(2026, 12, 2, 17, 0), timedelta(minutes=60)) == at(2026, 12, 3, 9, 0)
    # across 国庆 (Oct 1–7) to the 调休 Saturday
    assert cal.add_working(at(2026, 9, 30, 17, 0), timedelta(minutes=60)) == at(2026, 10, 8, 9, 0)
    assert cal.working_between(at(2026, 12, 4, 17, 0), at(2026, 12, 7, 9, 0)) == timedelta(minutes=60)
    assert cal.working_between(at(2026, 12, 7, 9, 0), at(2026, 12, 4, 17, 0)) == timedelta(0)


def test_add_and_between_agree(cal):
    start = at(2026, 9, 28, 11, 17)
    for minutes in (1, 59, 540, 541, 2000, 9000):
        end = cal.add_working(start, timedelta(minutes=minutes))
        assert cal.working_between(start, end) == timedelta(minutes=minutes)


def test_every_day_clock_and_last_workday_of_month():
    cal = WorkCalendar.from_config({"ticket_clock": {"days": "all", "start": "07:00", "end": "22:00"}}, SH)
    assert cal.add_working(at(2026, 12, 5, 21, 30), timedelta(minutes=60)) == at(2026, 12, 6, 7, 30)
    assert cal.last_workday_of_month(2026, 9) == date(2026, 9, 30)
    assert cal.last_workday_of_month(2026, 2) == date(2026, 2, 28)   # a 调休 Saturday after 春节
    assert cal.last_workday_of_month(2026, 1) == date(2026, 1, 30)


@pytest.mark.parametrize("data, word", [
    ({"office_hours": {"start": "9点", "end": "17:00"}}, "office_hours.start"),
    ({"ticket_clock": {"days": "weekends"}}, "ticket_clock.days"),
    ({"holidays": ["2026-13-01"]}, "holidays"),
    ({"holidays": ["2026-12-05"], "workdays": ["2026-12-05"]}, "2026-12-05"),
    ({"office_hours": {"start": "18:00", "end": "08:00"}}, "start"),
])
def test_a_bad_calendar_names_what_is_wrong(data, word):
    with pytest.raises(ConfigError, match=word):
        WorkCalendar.from_config(data, SH)
