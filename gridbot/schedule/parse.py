"""Chinese schedule text -> an RFC 5545 RRULE (recurring) or one instant (one-off), in the zone people live in
(GRIDBOT_TIMEZONE, passed in by the caller).

People write "每月第一周周二 9:00 安全检查日", "工作日每天17:00", "明天下午3点开会", "下周五". parse() finds the
schedule words anywhere in the text, returns the rule (or the instant) and the rest of the text (the message).
Recurrence is evaluated by python-dateutil; RFC 5545 semantics apply, so a month without a 31st, a fifth
Friday or a 29 February simply has no occurrence. Rules are local wall-clock times (China has no DST; in a zone
with DST a 9:00 rule stays at 9:00 local).

The rule string is the RRULE value without DTSTART ("FREQ=MONTHLY;BYDAY=1TU;BYHOUR=9;BYMINUTE=0"); the anchor
(dtstart) only matters for INTERVAL > 1 and is kept beside it (Reminder.dtstart). "从11月10日起每两周周二" and
"从12月1日开始每3天" set the anchor to that day (00:00 local), so the weeks or days are counted from it.

One rule an RRULE cannot say: the working days of China's calendar (holidays and 调休 from gridbot.workcal). For
"每月最后一个工作日" / "每月第一个工作日" the rule is written in RRULE syntax with a gridbot extension part,
"FREQ=MONTHLY;X-WORKDAY=-1;BYHOUR=17;BYMINUTE=0" (X-WORKDAY=n: the n-th working day of the month, -1 the last;
INTERVAL allowed), and "每个工作日" is "FREQ=DAILY;X-WORKDAY=ALL;BYHOUR=17;BYMINUTE=30" (every working day).
recurrence() expands both kinds (dateutil for plain RRULEs, the working calendar of
config/calendar.yaml for X-WORKDAY), and every consumer (next_occurrences, the scheduler's catch-up, the
schedules.yaml cadences) goes through it.

Office-hour words (上班前, 上班时, 下班前, 下班时) are times from config/calendar.yaml's office hours and
config/schedules.yaml `office_words` ("start-30" = 30 minutes before office_hours.start). Without a date, a one-off
"下班前" is the next working day's. A schedule word inside a longer word is not a schedule word ("工作日志" holds no
"工作日": WORD_GUARD).
Text without any schedule in it, or with a piece that is not a real date or time, raises ScheduleError (a Refusal:
a templates.yaml key under schedule.parse and the piece not understood), and nothing else, whatever the text
(tests/security/test_fuzz_input.py keeps it so).
"""
from __future__ import annotations

import calendar
import contextlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from .. import texts
from ..config import DEFAULT_TIMEZONE, ConfigError, load_yaml
from ..errors import Refusal
from ..workcal import calendar_for

DEFAULT_TZ = DEFAULT_TIMEZONE   # callers pass Settings.timezone
DEFAULT_TIME = time(9, 0)   # "每月1号", "下周五": no time said -> 09:00

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
NUM = r"(?:\d+|[零〇一二两三四五六七八九十]+)"
WD_CHARS = "一二三四五六日天七1234567"
WD_PREFIX = r"(?:周|星期|礼拜)"
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WORKDAYS = RRULE_DAYS[:5]


class ScheduleError(Refusal, ValueError):
    """The text holds no schedule, or a piece of it is not a real date/time: key schedule.parse.<why>.

    Also a ValueError, for callers that read a number with to_int() and only want to know it was not one.
    str() is the Chinese sentence: callers put it into their own messages as the detail.
    """

    def __init__(self, why: str, **values: object):
        super().__init__(f"schedule.parse.{why}", **values)

    def __str__(self) -> str:
        return self.text


MAX_DIGITS = 6   # no date, time, count or interval people write needs more; 20 digits only overflow dates


def to_int(s: str) -> int:
    """'15' / '十五' / '二十一' / '两' / '零五' / '二零二六' -> int. Anything else (十十, a 20-digit number)
    raises ScheduleError naming it."""
    if s.isdigit():
        if len(s.lstrip("0")) > MAX_DIGITS:
            raise ScheduleError("too_big", raw=_cut(s))
        return int(s)
    if "十" in s:
        tens, _, units = s.partition("十")
        if len(tens) > 1 or len(units) > 1 or (tens and tens not in CN_DIGITS) or (units and units not in CN_DIGITS):
            raise ScheduleError("bad_number", raw=_cut(s))
        return (CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[units] if units else 0)
    if len(s) > MAX_DIGITS or any(c not in CN_DIGITS for c in s):
        raise ScheduleError("bad_number" if len(s) <= MAX_DIGITS else "too_big", raw=_cut(s))
    if len(s) == 1:
        return CN_DIGITS[s]
    return int("".join(str(CN_DIGITS[c]) for c in s))


def _cut(raw: str) -> str:
    """A piece of the text as a reply repeats it: a long one is cut."""
    return raw if len(raw) <= 24 else raw[:20] + "…"


def weekday_index(ch: str) -> int:
    """'一'..'六', '日'/'天'/'七', '1'..'7' -> 0 (Monday) .. 6 (Sunday)."""
    if ch in "日天七7":
        return 6
    return (int(ch) if ch.isdigit() else CN_DIGITS[ch]) - 1


@dataclass
class Schedule:
    """What parse() read. Exactly one of `rrule` / `at` is set."""

    rrule: str | None
    at: datetime | None            # one-off instant, aware (local tz)
    dtstart: datetime              # anchor for the rule, aware (local tz), whole minute
    text: str                      # the rest of the input: the message
    label: str                     # the schedule words as the person wrote them ("每月第一周周二 9:00")
    tz: str = DEFAULT_TZ
    notes: list[str] = field(default_factory=list)

    @property
    def recurring(self) -> bool:
        return self.rrule is not None

    def next(self, after: datetime, count: int = 3) -> list[datetime]:
        if self.rrule is None:
            return [self.at] if self.at and self.at > after else []
        return next_occurrences(self.rrule, self.dtstart, after, count, self.tz)


def next_occurrences(rule: str, dtstart: datetime, after: datetime, count: int = 3,
                     tz: str = DEFAULT_TZ, config_dir: Path | None = None) -> list[datetime]:
    """The next `count` occurrences strictly after `after`, aware in `tz`."""
    zone = ZoneInfo(tz)
    rr = recurrence(rule, dtstart, tz, config_dir)
    out: list[datetime] = []
    cursor = after.astimezone(zone)
    for _ in range(count):
        nxt = rr.after(cursor, inc=False)
        if nxt is None:
            break
        out.append(nxt)
        cursor = nxt
    return out


class Recurrence(Protocol):
    def after(self, dt: datetime, inc: bool = False) -> datetime | None: ...
    def before(self, dt: datetime, inc: bool = False) -> datetime | None: ...


def _rule_parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for piece in rule.split(";"):
        key, sep, value = piece.partition("=")
        if not sep:
            raise ValueError(f"rule part {piece!r} is not KEY=VALUE")
        parts[key.strip().upper()] = value.strip()
    return parts


class WorkdayRule:
    """The n-th working day (China's calendar, config/calendar.yaml) of every INTERVAL-th month from dtstart's month,
    at BYHOUR:BYMINUTE: "FREQ=MONTHLY;X-WORKDAY=-1;BYHOUR=17;BYMINUTE=0". dateutil's after/before, for it."""

    HORIZON = 1200   # months searched either way (a hundred years: no real rule needs more)

    def __init__(self, parts: dict[str, str], dtstart: datetime, tz: str, config_dir: Path | None) -> None:
        if parts.get("FREQ") != "MONTHLY" or set(parts) - {"FREQ", "X-WORKDAY", "INTERVAL", "BYHOUR", "BYMINUTE"}:
            raise ValueError("X-WORKDAY needs FREQ=MONTHLY and allows only INTERVAL, BYHOUR, BYMINUTE beside it")
        self.n = int(parts["X-WORKDAY"])
        self.interval = int(parts.get("INTERVAL", "1"))
        self.at = time(int(parts.get("BYHOUR", "9")), int(parts.get("BYMINUTE", "0")))
        if not (1 <= abs(self.n) <= 23 and 1 <= self.interval <= 120):
            raise ValueError("X-WORKDAY must be 1..23 or -1..-23 and INTERVAL 1..120")
        self.zone = ZoneInfo(tz)
        self.dtstart = dtstart.astimezone(self.zone).replace(second=0, microsecond=0)
        self.cal = calendar_for(config_dir or texts.config_dir(), tz)

    def _in_month(self, index: int) -> datetime | None:
        """The occurrence in the month `index` months after dtstart's month (None if it has too few working days)."""
        year, month = divmod(self.dtstart.year * 12 + self.dtstart.month - 1 + index, 12)
        days = calendar.monthrange(year, month + 1)[1]
        work = [d for d in (date(year, month + 1, k) for k in range(1, days + 1)) if self.cal.is_workday(d)]
        if len(work) < abs(self.n):
            return None
        when = datetime.combine(work[self.n - 1 if self.n > 0 else self.n], self.at, self.zone)
        return when if when >= self.dtstart else None

    def _index(self, dt: datetime) -> int:
        local = dt.astimezone(self.zone)
        return (local.year * 12 + local.month) - (self.dtstart.year * 12 + self.dtstart.month)

    def after(self, dt: datetime, inc: bool = False) -> datetime | None:
        first = max(0, self._index(dt) - 1)
        first -= first % self.interval
        for index in range(first, first + self.HORIZON, self.interval):
            when = self._in_month(index)
            if when is not None and (when > dt or (inc and when == dt)):
                return when
        return None

    def before(self, dt: datetime, inc: bool = False) -> datetime | None:
        last = self._index(dt) + 1
        if last < 0:
            return None
        last -= last % self.interval
        for index in range(last, max(-1, last - self.HORIZON), -self.interval):
            when = self._in_month(index)
            if when is not None and (when < dt or (inc and when == dt)):
                return when
        return None


class EveryWorkdayRule:
    """Every working day (China's calendar) at BYHOUR:BYMINUTE from dtstart: "FREQ=DAILY;X-WORKDAY=ALL;BYHOUR=17;
    BYMINUTE=30" ("每个工作日"): not the weekdays of 国庆, but a worked 调休 Saturday. dateutil's after/before."""

    HORIZON = 400    # days searched either way (the longest run of days off is far shorter)

    def __init__(self, parts: dict[str, str], dtstart: datetime, tz: str, config_dir: Path | None) -> None:
        if set(parts) - {"FREQ", "X-WORKDAY", "BYHOUR", "BYMINUTE"}:
            raise ValueError("FREQ=DAILY;X-WORKDAY=ALL allows only BYHOUR, BYMINUTE beside it")
        self.at = time(int(parts.get("BYHOUR", "9")), int(parts.get("BYMINUTE", "0")))
        self.zone = ZoneInfo(tz)
        self.dtstart = dtstart.astimezone(self.zone).replace(second=0, microsecond=0)
        self.cal = calendar_for(config_dir or texts.config_dir(), tz)

    def _on(self, day: date) -> datetime | None:
        when = datetime.combine(day, self.at, self.zone)
        return when if when >= self.dtstart and self.cal.is_workday(day) else None

    def after(self, dt: datetime, inc: bool = False) -> datetime | None:
        first = max(dt.astimezone(self.zone).date(), self.dtstart.date()) - timedelta(days=1)
        for k in range(self.HORIZON):
            when = self._on(first + timedelta(days=k))
            if when is not None and (when > dt or (inc and when == dt)):
                return when
        return None

    def before(self, dt: datetime, inc: bool = False) -> datetime | None:
        last = dt.astimezone(self.zone).date() + timedelta(days=1)
        for k in range(min(self.HORIZON, (last - self.dtstart.date()).days + 1)):
            when = self._on(last - timedelta(days=k))
            if when is not None and (when < dt or (inc and when == dt)):
                return when
        return None


def recurrence(rule: str, dtstart: datetime, tz: str = DEFAULT_TZ, config_dir: Path | None = None) -> Recurrence:
    """The occurrences of a stored rule: dateutil for an RRULE, WorkdayRule / EveryWorkdayRule for the X-WORKDAY
    extension. Raises ValueError for a rule that is neither."""
    if "X-WORKDAY" in rule.upper():
        parts = _rule_parts(rule)
        if parts.get("X-WORKDAY", "").upper() == "ALL" and parts.get("FREQ") == "DAILY":
            return EveryWorkdayRule(parts, dtstart, tz, config_dir)
        return WorkdayRule(parts, dtstart, tz, config_dir)
    zone = ZoneInfo(tz)
    rr: Recurrence = rrulestr(rule, dtstart=dtstart.astimezone(zone).replace(second=0, microsecond=0))
    return rr


# -- the pieces ------------------------------------------------------------------------------------------
# Longer words that hold a schedule word without being one: a match that cuts into one of them is not taken
# ("每天写工作日志" is every day, and the reminder text keeps "写工作日志").
WORD_GUARD = re.compile(r"工作日(?:志|记|报|程|常|历)|日常|天天向上|周末版|上班时间|下班时间")


class _Text:
    """The normalised text with the spans already read, so later patterns skip them."""

    def __init__(self, raw: str) -> None:
        self.s = unicodedata.normalize("NFKC", raw or "").strip()
        self.used: list[tuple[int, int]] = []
        self.guarded = [(m.start(), m.end()) for m in WORD_GUARD.finditer(self.s)]
        self.start: date | None = None     # "从11月10日起": the day a recurrence counts from

    def search(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """The first match that reads no part already read (retried right after that part: "每周二四点" has the
        weekday 二 read, and then 四点) and cuts no guarded word."""
        pos = 0
        while pos <= len(self.s):
            m = pattern.search(self.s, pos)
            if m is None:
                return None
            clash = [e for s, e in self.used if m.start() < e and s < m.end()]
            if clash:
                pos = max(max(clash), m.start() + 1)
                continue
            # a guarded word is taken whole or not at all
            if any(m.start() < e and s < m.end() and not (m.start() <= s and e <= m.end()) for s, e in self.guarded):
                pos = m.start() + 1
                continue
            return m
        return None

    def take(self, m: re.Match[str]) -> None:
        self.used.append((m.start(), m.end()))

    def label(self) -> str:
        parts = [self.s[s:e].strip() for s, e in sorted(self.used)]
        return " ".join(p for p in parts if p)

    def rest(self) -> str:
        out, pos = [], 0
        for s, e in sorted(self.used):
            out.append(self.s[pos:s])
            pos = e
        out.append(self.s[pos:])
        text = " ".join(part.strip(" ,，、:：;；的") for part in out)
        return re.sub(r"\s+", " ", text).strip(" ,，、:：;；")


# time of day: "9:00", "8点半", "下午3点", "十点十五", "晚上8点"
PERIOD = r"(?P<period>凌晨|清晨|早上|早晨|早|上午|中午|下午|傍晚|晚上|晚间|夜里|夜间|晚)?"
TIME_RE = re.compile(
    PERIOD + r"\s*(?:(?P<h>\d{1,2})\s*:\s*(?P<m>\d{1,2})"
    r"|(?P<h2>" + NUM + r")\s*[点点時时](?:\s*(?P<m2>半|一刻|1刻|三刻|3刻|" + NUM + r")\s*分?|整)?)"
)

# recurring
QUARTER_RE = re.compile(
    r"每(?:个)?季(?:度)?(?:的)?\s*(?:(?:第(?P<k>[一二三1-3])个?月|(?P<klast>最后一个?月|末月))(?:的)?)?\s*"
    r"(?:(?P<d>" + NUM + r")\s*[号日]|(?P<first>第一天|初)|(?P<last>最后一天|末|底))?"
)
YEAR_RE = re.compile(r"每年(?:的)?\s*(?P<mo>" + NUM + r")\s*月\s*(?P<d>" + NUM + r")\s*[号日]?")
HALF_MONTH_RE = re.compile(r"(?:每)?半(?:个)?月")
MONTH_RE = re.compile(
    r"每(?:隔|逢)?(?P<n>" + NUM + r")?个?月(?:的)?\s*月?"
    r"(?:(?P<workday>(?:(?:最后|倒数第)(?P<kwl>" + NUM + r")?个?|第(?P<kw>" + NUM + r")个?)工作日)"
    r"|(?P<nth>第(?P<k>" + NUM + r")(?:个|周|週)(?:的)?\s*" + WD_PREFIX + r"?(?P<wd>[" + WD_CHARS + r"]))"
    r"|(?P<lastwd>(?:最后一个|最后一周|最后1个|倒数第一个)(?:的)?\s*" + WD_PREFIX + r"?(?P<wd2>[" + WD_CHARS + r"]))"
    r"|(?P<last>最后一天|底|末)"
    r"|(?P<fromend>倒数第(?P<k2>" + NUM + r")天)"
    r"|(?P<days>" + NUM + r"(?:\s*[号日])?(?:\s*[、,和及与]\s*" + NUM + r"(?:\s*[号日])?)*(?<=[号日]))"
    r"|(?P<first>第一天|初))?"
)
WEEKLY_RE = re.compile(
    r"(?:每(?:隔|逢)?(?P<n>" + NUM + r")?个?|(?P<alt>隔))" + WD_PREFIX + r"(?:的)?\s*"
    r"(?P<days>" + WD_PREFIX + r"?[" + WD_CHARS + r"](?:\s*(?:[、,和及与]|到|至|-|~)\s*" + WD_PREFIX + r"?[" + WD_CHARS
    + r"]|[一二三四五六日天](?!\s*[点時时:]))*)?"   # 每周二四 / 每周一三五: weekdays glued, not 每周二四点
)
WORKDAY_RE = re.compile(
    r"(?:每个?)?(?:工作日|(?:周|星期)一(?:到|至|-|~)(?:周|星期)?五)(?:的)?(?:每天)?|每天\(工作日\)"
)
WEEKEND_RE = re.compile(r"每?个?周末(?:的)?(?:两天)?")
DAILY_RE = re.compile(r"(?:每(?:隔)?(?P<n>" + NUM + r")天|每天|每日|天天|每(?=[早晚]))")
HOURLY_RE = re.compile(r"每(?:隔)?(?P<n>" + NUM + r")?个?小时")

# one-off
ABS_DATE_RE = re.compile(
    r"(?:(?P<y>\d{4}|[零〇一二三四五六七八九]{4})\s*年\s*)?(?P<mo>" + NUM + r")\s*月\s*(?P<d>" + NUM + r")\s*[号日]"
    r"|(?P<iy>\d{4})[-/.](?P<imo>\d{1,2})[-/.](?P<id>\d{1,2})"
)
REL_MONTH_RE = re.compile(
    r"(?P<which>本月|这个月|这月|下下个?月|下个?月)(?:的)?\s*(?:(?P<d>" + NUM + r")\s*[号日]|(?P<last>最后一天|底|末))"
)
DAY_ONLY_RE = re.compile(r"(?<![月\d])(?P<d>\d{1,2}|[一二三四五六七八九十]{1,3})\s*号")
REL_DAY_RE = re.compile(r"大后天|后天|今天|今日|今(?=[早晚])|明天|明日|明(?=[早晚])")
REL_WEEK_RE = re.compile(r"(?P<which>下下|下个?|本|这个?|)" + WD_PREFIX + r"(?P<wd>[" + WD_CHARS + r"])")
MONTH_END_RE = re.compile(r"(?P<which>本|这个?|下个?)?月(?P<what>底|末)(?:最后一天)?")
START_RE = re.compile(r"(?:从|自)\s*(?P<when>[^,，。;；从自]{2,20}?)\s*(?:起|开始|算起)")
OFFICE_RE = re.compile(r"(?P<word>上班前|上班时|下班前|下班时)")
AFTER_RE = re.compile(
    r"(?P<n>" + NUM + r"|半)\s*(?:个)?\s*(?P<unit>天|小时|钟头|分钟|星期|周)\s*(?:以|之)?后"
)
REL_DAY_OFFSETS = {"今天": 0, "今日": 0, "今": 0, "明天": 1, "明日": 1, "明": 1, "后天": 2, "大后天": 3}


def _byday(days: list[int], nth: int | None = None) -> str:
    if nth is not None:
        return f"{nth}{RRULE_DAYS[days[0]]}"
    return ",".join(RRULE_DAYS[d] for d in sorted(set(days)))


def _weekday_list(raw: str) -> list[int]:
    """'一、三、五' / '周一到周五' / '一三五' -> weekday indexes."""
    raw = re.sub(WD_PREFIX, "", raw)
    out: list[int] = []
    parts = re.split(r"\s*(到|至|-|~)\s*", raw)
    i = 0
    while i < len(parts):
        chunk = [c for c in parts[i] if c in WD_CHARS]
        if i + 2 < len(parts) and parts[i + 1] in ("到", "至", "-", "~"):
            a = weekday_index(chunk[-1])
            nxt = [c for c in parts[i + 2] if c in WD_CHARS]
            b = weekday_index(nxt[0])
            out.extend(weekday_index(c) for c in chunk[:-1])
            out.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
            parts[i + 2] = "".join(nxt[1:])
            i += 2
            continue
        out.extend(weekday_index(c) for c in chunk)
        i += 1
    return out


def _time_of_day(tx: _Text) -> time | None:
    m = tx.search(TIME_RE)
    if m is None:
        return None
    raw = m.group(0).strip()
    if m.group("h") is not None:
        h, mi = int(m.group("h")), int(m.group("m"))
    else:
        h = to_int(m.group("h2"))
        m2 = m.group("m2")
        mi = {"半": 30, "一刻": 15, "1刻": 15, "三刻": 45, "3刻": 45}.get(m2) if m2 else 0
        if mi is None:
            mi = to_int(m2)
    period = m.group("period")
    if period in ("下午", "傍晚", "晚上", "晚间", "夜里", "夜间", "晚") and h < 12 or period == "中午" and h < 6:
        h += 12
    elif period == "凌晨" and h == 12:
        h = 0
    if h == 24 and mi == 0:
        h = 0  # "24点" = midnight; rare, but people write it
    if not (0 <= h <= 23 and 0 <= mi <= 59):
        raise ScheduleError("bad_time", raw=_cut(raw))
    tx.take(m)
    return time(h, mi)


PERIOD_ONLY_RE = re.compile(r"凌晨|清晨|早上|早晨|上午|中午|下午|傍晚|晚上")
PERIOD_DEFAULTS = {"凌晨": time(5, 0), "清晨": time(7, 0), "早上": time(8, 0), "早晨": time(8, 0),
                   "上午": time(9, 0), "中午": time(12, 0), "下午": time(15, 0), "傍晚": time(18, 0),
                   "晚上": time(20, 0)}


def _period_only(tx: _Text) -> time | None:
    """"明天下午" / "每周一早上": a part of the day without a clock time -> its usual hour."""
    m = tx.search(PERIOD_ONLY_RE)
    if m is None:
        return None
    tx.take(m)
    return PERIOD_DEFAULTS[m.group(0)]


def _check_day(month: int | None, day: int, raw: str) -> None:
    if month is not None and not 1 <= month <= 12:
        raise ScheduleError("no_month", raw=_cut(raw))
    limit = 29 if month == 2 else (calendar.monthrange(2024, month)[1] if month else 31)
    if not 1 <= day <= limit:
        raise ScheduleError("bad_date", raw=_cut(raw))


def _hm(rule: str, at: time) -> str:
    return f"{rule};BYHOUR={at.hour};BYMINUTE={at.minute}"


def _recurrence(tx: _Text) -> tuple[str, list[str]] | None:
    """The rule without its time of day, and notes for people; None when the text is not recurring."""
    notes: list[str] = []
    m = tx.search(QUARTER_RE)
    if m:
        tx.take(m)
        if m.group("klast") or (m.group("last") and not m.group("k")):
            k = 3  # 每季度末: the quarter's last month
        else:
            k = weekday_index(m.group("k")) + 1 if m.group("k") else 1
        months = ",".join(str(k + 3 * q) for q in range(4))
        if m.group("last"):
            day = -1
        else:
            day = to_int(m.group("d")) if m.group("d") else 1
            _check_day(None, day, m.group(0))
        if day > 28:
            notes.append("short_month")
        return f"FREQ=YEARLY;BYMONTH={months};BYMONTHDAY={day}", notes
    m = tx.search(YEAR_RE)
    if m:
        tx.take(m)
        mo, d = to_int(m.group("mo")), to_int(m.group("d"))
        _check_day(mo, d, m.group(0))
        if (mo, d) == (2, 29):
            notes.append("leap_day")
        return f"FREQ=YEARLY;BYMONTH={mo};BYMONTHDAY={d}", notes
    m = tx.search(HALF_MONTH_RE)
    if m:
        tx.take(m)
        return "FREQ=MONTHLY;BYMONTHDAY=1,16", notes
    m = tx.search(MONTH_RE)
    if m:
        tx.take(m)
        n = to_int(m.group("n")) if m.group("n") else 1
        if "隔" in m.group(0)[:2]:
            n += 1
        head = "FREQ=MONTHLY" + (f";INTERVAL={n}" if n > 1 else "")
        if m.group("workday"):   # not an RRULE: China's working days (X-WORKDAY, see the module)
            last = -(to_int(m.group("kwl")) if m.group("kwl") else 1)
            k = to_int(m.group("kw")) if m.group("kw") else last
            if not 1 <= abs(k) <= 23:
                raise ScheduleError("nth_workday", raw=_cut(m.group(0).strip()))
            return f"{head};X-WORKDAY={k}", notes
        if m.group("nth"):
            k = to_int(m.group("k"))
            if not 1 <= k <= 5:
                raise ScheduleError("nth_weekday", raw=_cut(m.group(0).strip()))
            if k == 5:
                notes.append("fifth_week")
            return f"{head};BYDAY={_byday([weekday_index(m.group('wd'))], k)}", notes
        if m.group("lastwd"):
            return f"{head};BYDAY={_byday([weekday_index(m.group('wd2'))], -1)}", notes
        if m.group("last"):
            return f"{head};BYMONTHDAY=-1", notes
        if m.group("fromend"):
            k = to_int(m.group("k2"))
            if not 1 <= k <= 28:
                raise ScheduleError("bad_date", raw=_cut(m.group(0).strip()))
            return f"{head};BYMONTHDAY=-{k}", notes
        if m.group("days"):
            days = [to_int(x) for x in re.findall(NUM, m.group("days"))]
            for d in days:
                _check_day(None, d, f"{d}号")
            if max(days) > 28:
                notes.append("short_month")
            return f"{head};BYMONTHDAY={','.join(str(d) for d in sorted(set(days)))}", notes
        if m.group("first"):
            return f"{head};BYMONTHDAY=1", notes
        raise ScheduleError("month_no_day", raw=_cut(m.group(0).strip()))
    m = tx.search(WORKDAY_RE)
    if m:
        tx.take(m)
        if "工作日" in m.group(0):       # China's working days (holidays off, 调休 Saturdays on): X-WORKDAY=ALL
            notes.append("china_workdays")
            return "FREQ=DAILY;X-WORKDAY=ALL", notes
        notes.append("workdays")        # 周一到周五: the weekdays said, holidays or not
        return f"FREQ=WEEKLY;BYDAY={','.join(WORKDAYS)}", notes
    m = tx.search(WEEKEND_RE)
    if m:
        tx.take(m)
        return "FREQ=WEEKLY;BYDAY=SA,SU", notes
    m = tx.search(WEEKLY_RE)
    if m:
        tx.take(m)
        if m.group("alt"):
            n = 2
        else:
            n = to_int(m.group("n")) if m.group("n") else 1
            if "隔" in m.group(0)[:2]:
                n += 1
        head = "FREQ=WEEKLY" + (f";INTERVAL={n}" if n > 1 else "")
        if not m.group("days") and tx.start is not None:   # 从11月10日起每两周: the start's weekday
            return f"{head};BYDAY={RRULE_DAYS[tx.start.weekday()]}", notes
        if not m.group("days"):
            follow = tx.s[m.end():m.end() + 4].strip()
            if follow:
                raise ScheduleError("weekday_unclear", raw=_cut(m.group(0).strip()), follow=follow)
            raise ScheduleError("weekday_missing", raw=_cut(m.group(0).strip()))
        return f"{head};BYDAY={_byday(_weekday_list(m.group('days')))}", notes
    m = tx.search(HOURLY_RE)
    if m:
        tx.take(m)
        n = to_int(m.group("n")) if m.group("n") else 1
        if "隔" in m.group(0)[:2]:
            n += 1
        return "FREQ=HOURLY" + (f";INTERVAL={n}" if n > 1 else "") + ";BYMINUTE=0", ["hourly"]
    m = tx.search(DAILY_RE)
    if m:
        tx.take(m)
        n = to_int(m.group("n")) if m.group("n") else 1
        if "隔" in m.group(0)[:2]:
            n += 1
        return "FREQ=DAILY" + (f";INTERVAL={n}" if n > 1 else ""), notes
    return None


def _one_off_date(tx: _Text, now: datetime, at: time | None) -> tuple[date | None, datetime | None]:
    """(a calendar date, or an exact instant for "3小时后"), read from the text."""
    today = now.date()
    m = tx.search(AFTER_RE)
    if m:
        tx.take(m)
        n = 0.5 if m.group("n") == "半" else to_int(m.group("n"))
        unit = m.group("unit")
        try:
            if unit in ("小时", "钟头"):
                return None, (now + timedelta(hours=n)).replace(second=0, microsecond=0)
            if unit == "分钟":
                return None, (now + timedelta(minutes=n)).replace(second=0, microsecond=0)
            days = n * 7 if unit in ("星期", "周") else n
            return today + timedelta(days=int(days)), None
        except OverflowError:   # "900000周后": past the calendar's last day
            raise ScheduleError("too_far", raw=_cut(m.group(0))) from None
    m = tx.search(ABS_DATE_RE)
    if m:
        tx.take(m)
        raw = m.group(0)
        if m.group("iy"):
            y, mo, d = int(m.group("iy")), int(m.group("imo")), int(m.group("id"))
            explicit_year = True
        else:
            explicit_year = m.group("y") is not None
            y = to_int(m.group("y")) if explicit_year else today.year
            mo, d = to_int(m.group("mo")), to_int(m.group("d"))
        _check_day(mo, d, raw)
        if explicit_year:
            try:
                return date(y, mo, d), None
            except ValueError:
                if not 1 <= y <= 9999 or (mo, d) != (2, 29):
                    raise ScheduleError("bad_date", raw=_cut(raw)) from None
                raise ScheduleError("not_leap", raw=_cut(raw), year=y) from None
        for year in range(y, y + 9):  # the next year that has the day (29 February: the next leap year)
            try:
                candidate = date(year, mo, d)
            except ValueError:
                continue
            if datetime.combine(candidate, at or DEFAULT_TIME, now.tzinfo) > now:
                return candidate, None
        raise ScheduleError("bad_date", raw=_cut(raw))  # pragma: no cover
    m = tx.search(REL_MONTH_RE)
    if m:
        tx.take(m)
        which = m.group("which")
        add = 0 if which in ("本月", "这个月", "这月") else (2 if which.startswith("下下") else 1)
        first = today.replace(day=1) + relativedelta(months=add)
        last_day = calendar.monthrange(first.year, first.month)[1]
        if m.group("last"):
            return first.replace(day=last_day), None
        d = to_int(m.group("d"))
        if not 1 <= d <= last_day:
            raise ScheduleError("month_short", raw=_cut(m.group(0)), month=first.month, days=last_day)
        return first.replace(day=d), None
    m = tx.search(MONTH_END_RE)
    if m:   # 月底 / 月末 / 下个月底: the month's last day (this month's, or the next one's if it is gone)
        tx.take(m)
        add = 1 if (m.group("which") or "").startswith("下") else 0
        for extra in range(2):
            first = today.replace(day=1) + relativedelta(months=add + extra)
            candidate = first.replace(day=calendar.monthrange(first.year, first.month)[1])
            if m.group("which") or datetime.combine(candidate, at or DEFAULT_TIME, now.tzinfo) > now:
                return candidate, None
    m = tx.search(REL_DAY_RE)
    if m:
        tx.take(m)
        return today + timedelta(days=REL_DAY_OFFSETS[m.group(0)]), None
    m = tx.search(REL_WEEK_RE)
    if m:
        tx.take(m)
        wd = weekday_index(m.group("wd"))
        which = m.group("which")
        monday = today - timedelta(days=today.weekday())
        if which.startswith("下下"):
            return monday + timedelta(days=14 + wd), None
        if which.startswith("下"):
            return monday + timedelta(days=7 + wd), None
        if which:  # 本周五 / 这周五: this week's, even if gone (then it is an error below)
            return monday + timedelta(days=wd), None
        candidate = monday + timedelta(days=wd)  # bare 周五: the next one (today if the time is still ahead)
        if datetime.combine(candidate, at or DEFAULT_TIME, now.tzinfo) <= now:
            candidate += timedelta(days=7)
        return candidate, None
    m = tx.search(DAY_ONLY_RE)
    if m:
        tx.take(m)
        d = to_int(m.group("d"))
        _check_day(None, d, m.group(0))
        first = today.replace(day=1)
        for add in range(0, 13):
            month = first + relativedelta(months=add)
            if d <= calendar.monthrange(month.year, month.month)[1]:
                candidate = month.replace(day=d)
                if datetime.combine(candidate, at or DEFAULT_TIME, now.tzinfo) > now:
                    return candidate, None
    return None, None


def _start_day(m: re.Match[str], now: datetime) -> date:
    """The day of "从11月10日起" / "从下周三开始": a recurrence counts from it. A date without a year is the nearest
    one (11月10日 read in December is last November's)."""
    raw = m.group("when")
    sub = _Text(raw)
    day, _exact = _one_off_date(sub, now, None)
    if day is None or sub.rest():
        raise ScheduleError("bad_start", raw=_cut(raw.strip()))
    if day > now.date() + timedelta(days=183) and not re.search(r"\d{4}|年", raw):
        with contextlib.suppress(ValueError):   # 29 February: keep the next one
            day = day.replace(year=day.year - 1)
    return day


OFFICE_WORDS = {"上班前": "start-30", "上班时": "start", "下班前": "end-30", "下班时": "end"}
OFFICE_VALUE = re.compile(
    r"^(?:(?P<base>start|end)(?:\s*(?P<sign>[+-])\s*(?P<min>\d{1,3}))?|(?P<h>\d{1,2}):(?P<m>\d{2}))$")


def office_times(config_dir: Path | None, tz: str) -> dict[str, time]:
    """The office-hour words' times: config/schedules.yaml `office_words` (default OFFICE_WORDS), each "HH:MM" or
    start/end of config/calendar.yaml office_hours, with minutes before (-) or after (+)."""
    folder = Path(config_dir or texts.config_dir())
    raw: dict[str, object] = dict(OFFICE_WORDS)
    if (folder / "schedules.yaml").is_file():
        data = load_yaml(folder, "schedules.yaml") or {}
        raw.update((data.get("office_words") or {}) if isinstance(data, dict) else {})
    cal = calendar_for(folder, tz)
    out: dict[str, time] = {}
    for word, value in raw.items():
        m = OFFICE_VALUE.match(str(value).strip())
        if m is None:
            raise ConfigError(f"schedules.yaml office_words.{word}={value!r}: "
                              "应为 HH:MM、start、end、start-30 或 end+15")
        if m.group("h") is not None:
            hour, minute = int(m.group("h")), int(m.group("m"))
            if not (hour < 24 and minute < 60):
                raise ConfigError(f"schedules.yaml office_words.{word}={value!r}: 不是有效的时间")
            out[str(word)] = time(hour, minute)
            continue
        base = cal.office_start if m.group("base") == "start" else cal.office_end
        shift = int(m.group("min") or 0) * (-1 if m.group("sign") == "-" else 1)
        minutes = base.hour * 60 + base.minute + shift
        if not 0 <= minutes < 24 * 60:
            raise ConfigError(f"schedules.yaml office_words.{word}={value!r}: 超出了当天")
        out[str(word)] = time(minutes // 60, minutes % 60)
    return out


def _office_time(tx: _Text, tz: str, config_dir: Path | None) -> time | None:
    """上班前 / 下班前 …: the time config/schedules.yaml office_words gives it (from calendar.yaml office_hours)."""
    m = tx.search(OFFICE_RE)
    if m is None:
        return None
    tx.take(m)
    return office_times(config_dir, tz)[m.group("word")]


def parse(text: str, now: datetime, tz: str = DEFAULT_TZ, config_dir: Path | None = None) -> Schedule:
    """Read the schedule in `text` as of `now` (aware). Raises ScheduleError naming what it could not read.
    `config_dir` (default: the app's) gives the working calendar and the office-hour words."""
    if now.tzinfo is None:
        raise ValueError("parse() needs an aware `now`")
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    tx = _Text(text)
    if not tx.s:
        raise ScheduleError("empty")
    start = tx.search(START_RE)
    if start is not None:
        tx.take(start)
        tx.start = _start_day(start, local_now)
    recurrence = _recurrence(tx)
    if start is not None and recurrence is None:   # "从明天开始 打扫": from then on, how often?
        raise ScheduleError("start_alone", raw=_cut(start.group(0).strip()))
    at = _time_of_day(tx)
    office = None
    if at is None:
        at = office = _office_time(tx, tz, config_dir)
    dtstart = local_now.replace(second=0, microsecond=0)
    if recurrence is not None:
        rule, notes = recurrence
        if tx.start is not None:
            dtstart = datetime.combine(tx.start, time(0, 0), zone)
        if at is None and "hourly" not in notes:
            at = _period_only(tx)
            if at is not None:
                notes.append("period_time")
        if "hourly" not in notes:
            rule = _hm(rule, at or DEFAULT_TIME)
            if at is None:
                notes.append("default_time")
        elif at is not None:
            raise ScheduleError("hourly_with_time")
        return Schedule(rrule=rule, at=None, dtstart=dtstart, text=tx.rest(), label=tx.label(), tz=tz, notes=notes)
    hint = at
    if hint is None:  # "周五下午" on a Friday morning is this afternoon: decide the day with the hour in mind
        m = tx.search(PERIOD_ONLY_RE)
        hint = PERIOD_DEFAULTS[m.group(0)] if m else None
    day, exact = _one_off_date(tx, local_now, hint)
    period = None
    if at is None and exact is None and day is not None:
        at = period = _period_only(tx)
    if exact is not None:
        when = exact
    elif day is not None:
        when = datetime.combine(day, at or DEFAULT_TIME, zone)
    elif office is not None:  # "下班前" alone: the next working day's, today's if still ahead
        cal = calendar_for(config_dir or texts.config_dir(), tz)
        for ahead in range(60):
            when = datetime.combine(local_now.date() + timedelta(days=ahead), office, zone)
            if when > local_now and cal.is_workday(when.date()):
                break
    elif at is not None:  # a time alone: today if still ahead, else tomorrow
        when = datetime.combine(local_now.date(), at, zone)
        if when <= local_now:
            when += timedelta(days=1)
    else:
        raise ScheduleError("unreadable", raw=tx.s[:30])
    if when <= local_now:
        raise ScheduleError("past", raw=_cut(tx.label()))
    notes = [] if at is not None or exact is not None else ["default_time"]
    if period is not None:
        notes.append("period_time")
    return Schedule(rrule=None, at=when, dtstart=dtstart, text=tx.rest(), label=tx.label(), tz=tz, notes=notes)
