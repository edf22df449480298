"""The working calendar (config/calendar.yaml): working days, office hours, and working time between instants.

Working days are Monday–Friday less China's public holidays plus their 调休 working days, from the `chinesecalendar`
library (updated yearly from the State Council's notice), overridden by the config's own lists (a year the library
does not know yet, a local day off). Normal tickets' time limits count `ticket_clock` hours on its days; urgent
tickets, and everything else that is not about working time, use the wall clock.

    cal = calendar_for(config_dir, "Asia/Shanghai")
    cal.is_workday(date(2026, 10, 8))          # False: 国庆
    cal.add_working(reported_at, timedelta(minutes=60))
    cal.working_between(a, b)                  # timedelta of working time in [a, b)
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from .config import DEFAULT_CONFIG_DIR, ConfigError, load_yaml

log = logging.getLogger(__name__)
_MAX_DAYS = 3660          # a limit never needs more than ten years of days: a bound against a runaway loop
_warned_years: set[int] = set()
_lock = threading.Lock()


def _hm(raw: Any, where: str) -> time:
    try:
        hour, minute = str(raw).strip().split(":")
        return time(int(hour), int(minute))
    except (ValueError, TypeError):
        raise ConfigError(f"calendar.yaml: {where} 须为 HH:MM，收到 {raw!r}") from None


def _days(raw: Any, where: str) -> frozenset[date]:
    try:
        return frozenset(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in (raw or []))
    except ValueError as exc:
        raise ConfigError(f"calendar.yaml: {where} 须为 YYYY-MM-DD 日期列表 ({exc})") from None


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and hours in one time zone. All datetimes given are aware; results are aware UTC-or-local."""

    tz: ZoneInfo
    office_start: time = time(8, 30)
    office_end: time = time(17, 30)
    clock_start: time = time(8, 30)
    clock_end: time = time(17, 30)
    clock_all_days: bool = False
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @classmethod
    def from_config(cls, data: dict[str, Any] | None, tz: str | ZoneInfo) -> WorkCalendar:
        data = data or {}
        office = data.get("office_hours") or {}
        clock = data.get("ticket_clock") or {}
        office_start = _hm(office.get("start", "08:30"), "office_hours.start")
        office_end = _hm(office.get("end", "17:30"), "office_hours.end")
        clock_start = _hm(clock.get("start", office.get("start", "08:30")), "ticket_clock.start")
        clock_end = _hm(clock.get("end", office.get("end", "17:30")), "ticket_clock.end")
        if office_start >= office_end or clock_start >= clock_end:
            raise ConfigError("calendar.yaml: office_hours / ticket_clock 的 start 须早于 end")
        days = str(clock.get("days", "workdays"))
        if days not in ("workdays", "all"):
            raise ConfigError(f"calendar.yaml: ticket_clock.days 须为 workdays 或 all，收到 {days!r}")
        holidays = _days(data.get("holidays"), "holidays")
        workdays = _days(data.get("workdays"), "workdays")
        if holidays & workdays:
            raise ConfigError(f"calendar.yaml: {sorted(holidays & workdays)[0]} 既在 holidays 又在 workdays")
        return cls(tz=ZoneInfo(tz) if isinstance(tz, str) else tz, office_start=office_start, office_end=office_end,
                   clock_start=clock_start, clock_end=clock_end, clock_all_days=days == "all",
                   extra_holidays=holidays, extra_workdays=workdays)

    # -- days -------------------------------------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        """A working day: the config's lists first, then China's calendar, then Monday–Friday for unknown years."""
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in _warned_years:
                with _lock:
                    _warned_years.add(day.year)
                log.warning("calendar: %s 年的法定节假日未知 (chinesecalendar 未收录，calendar.yaml 也未列出)，"
                            "按周一至周五计工作日", day.year)
            return day.weekday() < 5

    def holiday_name(self, day: date) -> str | None:
        """The public holiday's English name from the library ("National Day"), for operators; None otherwise."""
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return None
        return name if on_holiday and name else None

    def workdays(self, start: date, end: date) -> list[date]:
        """Working days in [start, end)."""
        return [start + timedelta(days=n) for n in range(max(0, (end - start).days)) if
                self.is_workday(start + timedelta(days=n))]

    def next_workday(self, day: date) -> date:
        """The first working day on or after `day`."""
        for n in range(_MAX_DAYS):
            if self.is_workday(day + timedelta(days=n)):
                return day + timedelta(days=n)
        raise ValueError(f"no working day within {_MAX_DAYS} days of {day}")

    def last_workday_of_month(self, year: int, month: int) -> date:
        first_next = date(year + (month == 12), month % 12 + 1, 1)
        for n in range(1, 32):
            day = first_next - timedelta(days=n)
            if self.is_workday(day):
                return day
        raise ValueError(f"{year}-{month:02d} has no working day")

    # -- working time -----------------------------------------------------------------------------------------------

    def _clock_day(self, day: date) -> bool:
        return self.clock_all_days or self.is_workday(day)

    def _span(self, day: date) -> tuple[datetime, datetime]:
        return (datetime.combine(day, self.clock_start, self.tz), datetime.combine(day, self.clock_end, self.tz))

    def is_open(self, at: datetime) -> bool:
        """Whether `at` is inside working time (the ticket clock's hours on its days)."""
        local = at.astimezone(self.tz)
        if not self._clock_day(local.date()):
            return False
        start, end = self._span(local.date())
        return start <= local < end

    def next_open(self, at: datetime) -> datetime:
        """`at` if it is working time, else the start of the next working time."""
        local = at.astimezone(self.tz)
        for n in range(_MAX_DAYS):
            day = local.date() + timedelta(days=n)
            if not self._clock_day(day):
                continue
            start, end = self._span(day)
            if local < end:
                return max(start, local)
        raise ValueError(f"no working time within {_MAX_DAYS} days of {at}")

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in [a, b) (zero when b <= a)."""
        if b <= a:
            return timedelta(0)
        total = timedelta(0)
        la, lb = a.astimezone(self.tz), b.astimezone(self.tz)
        day = la.date()
        for _ in range(_MAX_DAYS + 1):
            if day > lb.date():
                break
            if self._clock_day(day):
                start, end = self._span(day)
                lo, hi = max(start, la), min(end, lb)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add_working(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when `amount` of working time has passed since `start` (counted from the next working time)."""
        if amount <= timedelta(0):
            return self.next_open(start)
        at = self.next_open(start)
        left = amount
        for _ in range(_MAX_DAYS):
            local = at.astimezone(self.tz)
            _day_start, end = self._span(local.date())
            room = end - local
            if left <= room:
                return local + left
            left -= room
            at = self.next_open(end)
        raise ValueError(f"{amount} of working time does not fit within {_MAX_DAYS} days")


_cache: dict[tuple[str, float, str], WorkCalendar] = {}


def calendar_for(config_dir: Path | str | None, tz: str | ZoneInfo) -> WorkCalendar:
    """The calendar of config/calendar.yaml in `config_dir` (default: the packaged config), reread when it changes.
    A missing file gives the defaults (Monday–Friday less China's holidays, office hours 08:30–17:30)."""
    path = Path(config_dir or DEFAULT_CONFIG_DIR) / "calendar.yaml"
    zone = str(tz)
    try:
        key = (str(path), path.stat().st_mtime, zone)
    except FileNotFoundError:
        return WorkCalendar.from_config(None, tz)
    found = _cache.get(key)
    if found is None:
        found = WorkCalendar.from_config(load_yaml(path.parent, path.name), tz)
        with _lock:
            for old in [k for k in _cache if k[0] == key[0] and k[2] == zone]:
                del _cache[old]
            _cache[key] = found
    return found
