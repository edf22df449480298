"""Chinese schedule text -> an RFC 5545 RRULE (recurring) or one instant (one-off), in the zone people live in
(GRIDBOT_TIMEZONE, passed in by the caller).

People write "每月第一周周二 9:00 安全检查日", "工作日每天17:00", "明天下午3点开会", "下周五". parse() finds the
schedule words anywhere in the text, returns the rule (or the instant) and the rest of the text (the message).
Recurrence is evaluated by python-dateutil; RFC 5545 semantics apply, so a month without a 31st, a fifth
Friday or a 29 February simply has no occurrence. Rules are local wall-clock times (China has no DST; in a zone
with DST a 9:00 rule stays at 9:00 local).

The rule string is the RRULE value without DTSTART ("FREQ=MONTHLY;BYDAY=1TU;BYHOUR=9;BYMINUTE=0"); the anchor
(dtstart) only matters for INTERVAL > 1 and is kept beside it (Reminder.dtstart).
Text without any schedule in it, or with a piece that is not a real date or time, raises ScheduleError (a Refusal:
a templates.yaml key under schedule.parse and the piece not understood), and nothing else, whatever the text
(tests/security/test_fuzz_input.py keeps it so).
"""
from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from ..config import DEFAULT_TIMEZONE
from ..errors import Refusal

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
                     tz: str = DEFAULT_TZ) -> list[datetime]:
    """The next `count` occurrences strictly after `after`, aware in `tz`."""
    zone = ZoneInfo(tz)
    rr = rrulestr(rule, dtstart=dtstart.astimezone(zone).replace(second=0, microsecond=0))
    out: list[datetime] = []
    cursor = after.astimezone(zone)
    for _ in range(count):
        nxt = rr.after(cursor, inc=False)
        if nxt is None:
            break
        out.append(nxt)
        cursor = nxt
    return out


# -- the pieces ------------------------------------------------------------------------------------------
class _Text:
    """The normalised text with the spans already read, so later patterns skip them."""

    def __init__(self, raw: str) -> None:
        self.s = unicodedata.normalize("NFKC", raw or "").strip()
        self.used: list[tuple[int, int]] = []

    def search(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        for m in pattern.finditer(self.s):
            if not any(m.start() < e and s < m.end() for s, e in self.used):
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
    r"每(?:隔|逢)?(?P<n>" + NUM + r")?个?月(?:的)?\s*"
    r"(?:(?P<nth>第(?P<k>" + NUM + r")(?:个|周|週)(?:的)?\s*" + WD_PREFIX + r"?(?P<wd>[" + WD_CHARS + r"]))"
    r"|(?P<lastwd>(?:最后一个|最后一周|最后1个|倒数第一个)(?:的)?\s*" + WD_PREFIX + r"?(?P<wd2>[" + WD_CHARS + r"]))"
    r"|(?P<last>最后一天|底|末)"
    r"|(?P<fromend>倒数第(?P<k2>" + NUM + r")天)"
    r"|(?P<days>" + NUM + r"(?:\s*[号日])?(?:\s*[、,和及与]\s*" + NUM + r"(?:\s*[号日])?)*(?<=[号日]))"
    r"|(?P<first>第一天|初))?"
)
WEEKLY_RE = re.compile(
    r"(?:每(?:隔|逢)?(?P<n>" + NUM + r")?个?|(?P<alt>隔))" + WD_PREFIX + r"(?:的)?\s*"
    r"(?P<days>" + WD_PREFIX + r"?[" + WD_CHARS + r"](?:\s*(?:[、,和及与]|到|至|-|~)\s*" + WD_PREFIX + r"?[" + WD_CHARS
    + r"])*)?"
)
WORKDAY_RE = re.compile(
    r"(?:每个?)?(?:工作日|(?:周|星期)一(?:到|至|-|~)(?:周|星期)?五)(?:的)?(?:每天)?|每天\(工作日\)"
)
WEEKEND_RE = re.compile(r"每?个?周末")
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
        notes.append("workdays")
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


def parse(text: str, now: datetime, tz: str = DEFAULT_TZ) -> Schedule:
    """Read the schedule in `text` as of `now` (aware). Raises ScheduleError naming what it could not read."""
    if now.tzinfo is None:
        raise ValueError("parse() needs an aware `now`")
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    tx = _Text(text)
    if not tx.s:
        raise ScheduleError("empty")
    recurrence = _recurrence(tx)
    at = _time_of_day(tx)
    dtstart = local_now.replace(second=0, microsecond=0)
    if recurrence is not None:
        rule, notes = recurrence
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
