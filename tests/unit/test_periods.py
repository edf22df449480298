"""Every period form people write, read in one place (gridbot.periods): the chat's 本周/上月, the CLI's --period,
the console's ?period=. `today` is Wednesday 2026-12-02."""
from __future__ import annotations

from datetime import date

import pytest

from gridbot.periods import PeriodError, parse_period, split_period

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize("text,first,after,label,said", [
    ("本周", date(2026, 11, 30), date(2026, 12, 7), "2026-W49", "本周"),
    ("这周", date(2026, 11, 30), date(2026, 12, 7), "2026-W49", "本周"),
    ("上周", date(2026, 11, 23), date(2026, 11, 30), "2026-W48", "上周"),
    ("本月", date(2026, 12, 1), date(2027, 1, 1), "2026-12", "本月"),
    ("这个月", date(2026, 12, 1), date(2027, 1, 1), "2026-12", "本月"),
    ("上月", date(2026, 11, 1), date(2026, 12, 1), "2026-11", "上月"),
    ("上个月", date(2026, 11, 1), date(2026, 12, 1), "2026-11", "上月"),
    ("本季度", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4", "本季度"),
    ("这个季度", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4", "本季度"),
    ("今年", date(2026, 1, 1), date(2027, 1, 1), "2026", "今年"),
    ("本年", date(2026, 1, 1), date(2027, 1, 1), "2026", "今年"),
    ("2026-11", date(2026, 11, 1), date(2026, 12, 1), "2026-11", "2026-11"),
    ("2026-3", date(2026, 3, 1), date(2026, 4, 1), "2026-03", "2026-03"),
    ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4", "2026-Q4"),
    ("2026Q4", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4", "2026-Q4"),
    ("2026q1", date(2026, 1, 1), date(2026, 4, 1), "2026-Q1", "2026-Q1"),
    ("2026-W49", date(2026, 11, 30), date(2026, 12, 7), "2026-W49", "2026-W49"),
    ("2026W41", date(2026, 10, 5), date(2026, 10, 12), "2026-W41", "2026-W41"),
    ("2026", date(2026, 1, 1), date(2027, 1, 1), "2026", "2026"),
    ("2026-11-01..2026-11-15", date(2026, 11, 1), date(2026, 11, 16), "2026-11-01..2026-11-15",
     "2026-11-01..2026-11-15"),
])
def test_every_form(text, first, after, label, said):
    p = parse_period(text, TODAY)
    assert (p.start, p.end, p.label, p.said) == (first, after, label, said)


@pytest.mark.parametrize("text,first,after", [
    ("2026-11", date(2026, 11, 1), date(2026, 12, 1)), ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
    ("2026q1", date(2026, 1, 1), date(2026, 4, 1)), ("2026", date(2026, 1, 1), date(2027, 1, 1)),
    ("2026-11-01..2026-11-15", date(2026, 11, 1), date(2026, 11, 16)),
])
def test_parse_period(text, first, after):
    p = parse_period(text)
    assert (p.start, p.end) == (first, after)


@pytest.mark.parametrize("text", ["2026-13", "11月", "2026-11-15..2026-11-01", "2026-02-30..2026-03-01"])
def test_parse_period_refuses_nonsense(text):
    with pytest.raises(PeriodError):
        parse_period(text)


def test_periods():
    assert parse_period("2026Q3").start == date(2026, 7, 1)
    week = parse_period("2026-W41")
    assert (week.start, week.end, week.label) == (date(2026, 10, 5), date(2026, 10, 12), "2026-W41")
    for bad in ("2026-W60", "26Q3", "去年"):
        with pytest.raises(PeriodError):
            parse_period(bad)


def test_relative_words_need_a_today_and_the_refusal_names_the_forms():
    with pytest.raises(PeriodError) as err:
        parse_period("本月")          # no today: a relative word cannot be placed
    assert "2026-11" in err.value.text and "本月" in err.value.text


def test_split_period_reads_a_leading_word_only_of_the_units_asked():
    period, rest = split_period("上周，很好", TODAY, units=("week", "month"))
    assert (period.start, period.said, rest) == (date(2026, 11, 23), "上周", "，很好")
    assert split_period("今年表现很好", TODAY, units=("week", "month")) == (None, "今年表现很好")
    assert split_period("很好", TODAY) == (None, "很好")
