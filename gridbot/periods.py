"""Periods and local days: the one place that reads period words and turns local calendar days into instants.

`parse_period("本月", today)`, `parse_period("2026-W49")`, `parse_period("2026Q4")`: every form people write (the
chat's 本周/上月, the CLI's --period, the console's ?period=) is read here. A period is local calendar days
[start, end); the database holds UTC, so `day_start(day, tz)` gives the instant a local day begins. The zone is
always the caller's (`Settings.tz`): nothing here names one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import Refusal
from .schedule.parse import to_int
from .texts import t


class PeriodError(Refusal):
    """A period that cannot be read (periods.unreadable names the forms that can)."""

    def __init__(self, text: str):
        super().__init__("periods.unreadable", text=text)


@dataclass(frozen=True)
class Period:
    start: date                  # the first day
    end: date                    # the day after the last day
    label: str                   # the written form: 2026-11, 2026-Q4, 2026-W45, 2026, 2026-11-01..2026-11-15
    spoken: str | None = None    # the relative word it was asked with, as people say it back (本周, 上月), if any

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def said(self) -> str:
        """How a reply names it: the relative word when one was used, else the written form."""
        return self.spoken or self.label

    def months(self) -> list[date]:
        out, month = [], self.start.replace(day=1)
        while month < self.end:
            out.append(month)
            month = add_months(month, 1)
        return out


# -- calendar ------------------------------------------------------------------------------------------
def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which a local day begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after day's month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def week_bounds(day: date) -> tuple[date, date]:
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=7)


def month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    return start, add_months(start, 1)


def week_of(day: date, spoken: str | None = None) -> Period:
    start, end = week_bounds(day)
    iso = start.isocalendar()
    return Period(start, end, f"{iso.year}-W{iso.week:02d}", spoken)


def month_of(day: date, spoken: str | None = None) -> Period:
    start, end = month_bounds(day)
    return Period(start, end, f"{start.year}-{start.month:02d}", spoken)


def quarter_of(day: date, spoken: str | None = None) -> Period:
    start = quarter_start(day)
    return Period(start, add_months(start, 3), f"{start.year}-Q{(start.month - 1) // 3 + 1}", spoken)


def year_of(day: date, spoken: str | None = None) -> Period:
    return Period(date(day.year, 1, 1), date(day.year + 1, 1, 1), str(day.year), spoken)


# -- reading -------------------------------------------------------------------------------------------
# Relative words -> (how the period is found from today, the templates.yaml key of the word said back).
_RELATIVE = {
    "本周": ("week", 0), "这周": ("week", 0), "上周": ("week", -1),
    "本月": ("month", 0), "这个月": ("month", 0), "上月": ("month", -1), "上个月": ("month", -1),
    "本季度": ("quarter", 0), "这个季度": ("quarter", 0),
    "今年": ("year", 0), "本年": ("year", 0),
}
_SPOKEN = {("week", 0): "week", ("week", -1): "last_week", ("month", 0): "month", ("month", -1): "last_month",
           ("quarter", 0): "quarter", ("year", 0): "year"}
RELATIVE_WORDS = tuple(sorted(_RELATIVE, key=len, reverse=True))   # longest first, for split_period


def _relative(word: str, today: date) -> Period:
    unit, step = _RELATIVE[word]
    spoken = t(f"periods.{_SPOKEN[(unit, step)]}")
    if unit == "week":
        return week_of(today + timedelta(days=7 * step), spoken)
    if unit == "month":
        return month_of(add_months(today, step), spoken)
    if unit == "quarter":
        return quarter_of(today, spoken)
    return year_of(today, spoken)


def parse_period(text: str, today: date | None = None) -> Period:
    """Any period form: 本周/这周, 上周, 本月/这个月, 上月/上个月, 本季度, 今年/本年 (relative to `today`);
    2026-11 (a month), 2026-Q4 / 2026Q4 (a quarter), 2026-W45 / 2026W45 (an ISO week), 2026 (a year),
    2026-11-01..2026-11-15 (days, inclusive). PeriodError otherwise."""
    text = (text or "").strip()
    if text in _RELATIVE and today is not None:
        return _relative(text, today)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(text)
        return month_of(date(year, month, 1))
    m = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text)
    if m:
        return quarter_of(date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1))
    m = re.fullmatch(r"(\d{4})-?[Ww](\d{1,2})", text)
    if m:
        try:
            monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise PeriodError(text) from None
        return week_of(monday)
    m = re.fullmatch(r"(\d{4})", text)
    if m:
        return year_of(date(int(m.group(1)), 1, 1))
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text)
    if m:
        try:
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError:
            raise PeriodError(text) from None
        if last < first:
            raise PeriodError(text)
        return Period(first, last + timedelta(days=1), f"{first.isoformat()}..{last.isoformat()}")
    raise PeriodError(text)


def split_period(text: str, today: date, units: tuple[str, ...] = ("week", "month", "quarter", "year"),
                 ) -> tuple[Period | None, str]:
    """A leading relative period word of one of `units` ("本周 很好，继续保持") and the rest; (None, text) when
    there is none."""
    for word in RELATIVE_WORDS:
        if text.startswith(word) and _RELATIVE[word][0] in units:
            return _relative(word, today), text[len(word):]
    return None, text


# -- until when: a leave's or a hold's last day (请假 到下周三, 挂起 3 等燃气公司 到12月10日) ---------------------
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_UNTIL_RE = re.compile(
    r"^(?:到|至|直到|请到)?\s*(?:"
    r"(?P<rel>昨天|今天|明天|后天|大后天)"
    r"|(?P<next>下个?|本|这个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
    r"|(?P<ymd>\d{4})-(?P<m1>\d{1,2})-(?P<d1>\d{1,2})"
    r"|(?:(?P<m2>\d{1,2})月)?(?P<d2>\d{1,2})[日号]"
    r"|(?P<n>\d{1,2}|[一二两三四五六七八九十]{1,3})天"
    r")\s*(?:为止|前)?")


def parse_until(text: str, today: date) -> tuple[date, str] | None:
    """The last local day of a leave ("到周五", "到11月6日", "3天") and the text after it; None if unreadable."""
    m = _UNTIL_RE.match(text.strip())
    if not m:
        return None
    rest = text.strip()[m.end():].strip(" ，,：:")
    rest = re.sub(r"^[（(](.*)[)）]$", r"\1", rest)  # "到周五（家里有事）": the notice adds its own brackets
    if m.group("rel"):
        last = today + timedelta(days={"昨天": -1, "今天": 0, "明天": 1, "后天": 2, "大后天": 3}[m.group("rel")])
    elif m.group("wd"):
        wd = _WEEKDAYS[m.group("wd")]
        if (m.group("next") or "").startswith("下"):
            last = today - timedelta(days=today.weekday()) + timedelta(days=7 + wd)
        else:
            last = today + timedelta(days=(wd - today.weekday()) % 7)
    elif m.group("ymd"):
        try:
            last = date(int(m.group("ymd")), int(m.group("m1")), int(m.group("d1")))
        except ValueError:
            return None
    elif m.group("d2"):
        month = int(m.group("m2")) if m.group("m2") else today.month
        year = today.year
        try:
            last = date(year, month, int(m.group("d2")))
            if last < today:
                last = (date(year + 1, month, int(m.group("d2"))) if m.group("m2")
                        else add_months(today, 1).replace(day=int(m.group("d2"))))
        except ValueError:
            return None
    else:
        try:
            days = to_int(m.group("n"))  # "三天", "两天", "十天": members write numbers in Chinese
        except (KeyError, ValueError):
            return None
        if days < 1:
            return None
        last = today + timedelta(days=days - 1)
    return last, rest
