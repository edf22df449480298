"""The recurrence contract: Chinese schedule text -> RFC 5545 RRULE and the next occurrences in +08:00.

`now` is Monday 2026-11-02 09:00 Asia/Shanghai unless a row says otherwise. Expected values were worked out by
hand from a calendar (November 2026 starts on a Sunday; 2028 is the next leap year).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from dateutil.rrule import rrulestr

from gridbot.schedule.parse import ScheduleError, parse, recurrence

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 2, 9, 0, tzinfo=SH)


def _fmt(dts):
    return [d.strftime("%Y-%m-%d %H:%M") for d in dts]


# (text, expected rrule (None = one-off), next occurrences, now)
RECURRING = [
    ("每月第一周周二 9:00 安全检查日", "FREQ=MONTHLY;BYDAY=1TU;BYHOUR=9;BYMINUTE=0",
     ["2026-11-03 09:00", "2026-12-01 09:00", "2027-01-05 09:00"]),
    ("每月第一个周一 消防安全宣传日", "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0",
     ["2026-12-07 09:00", "2027-01-04 09:00", "2027-02-01 09:00"]),
    ("每周一 8:30", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=30",
     ["2026-11-09 08:30", "2026-11-16 08:30", "2026-11-23 08:30"]),
    ("每月1号", "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0",
     ["2026-12-01 09:00", "2027-01-01 09:00", "2027-02-01 09:00"]),
    ("每季度第一个月15号", "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0",
     ["2027-01-15 09:00", "2027-04-15 09:00", "2027-07-15 09:00"]),
    ("工作日每天17:00", "FREQ=DAILY;X-WORKDAY=ALL;BYHOUR=17;BYMINUTE=0",   # China's working days
     ["2026-11-02 17:00", "2026-11-03 17:00", "2026-11-04 17:00"]),
    ("每月最后一天", "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=9;BYMINUTE=0",
     ["2026-11-30 09:00", "2026-12-31 09:00", "2027-01-31 09:00"]),
    # no fifth Friday in November 2026 or December 2026: they are skipped
    ("每月第五个周五", "FREQ=MONTHLY;BYDAY=5FR;BYHOUR=9;BYMINUTE=0",
     ["2027-01-29 09:00", "2027-04-30 09:00", "2027-07-30 09:00"]),
    ("每年2月29日", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9;BYMINUTE=0",
     ["2028-02-29 09:00", "2032-02-29 09:00", "2036-02-29 09:00"]),
    ("每两周周三", "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;BYHOUR=9;BYMINUTE=0",
     ["2026-11-04 09:00", "2026-11-18 09:00", "2026-12-02 09:00"]),
    ("每隔一周的周三", "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;BYHOUR=9;BYMINUTE=0",
     ["2026-11-04 09:00", "2026-11-18 09:00", "2026-12-02 09:00"]),
    ("隔周周三 下午3点", "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;BYHOUR=15;BYMINUTE=0",
     ["2026-11-04 15:00", "2026-11-18 15:00", "2026-12-02 15:00"]),
    ("每天早上8点半", "FREQ=DAILY;BYHOUR=8;BYMINUTE=30",
     ["2026-11-03 08:30", "2026-11-04 08:30", "2026-11-05 08:30"]),
    ("每年3月5日", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=5;BYHOUR=9;BYMINUTE=0",
     ["2027-03-05 09:00", "2028-03-05 09:00", "2029-03-05 09:00"]),
    ("半个月", "FREQ=MONTHLY;BYMONTHDAY=1,16;BYHOUR=9;BYMINUTE=0",
     ["2026-11-16 09:00", "2026-12-01 09:00", "2026-12-16 09:00"]),
    ("每半月 10:00 消防检查", "FREQ=MONTHLY;BYMONTHDAY=1,16;BYHOUR=10;BYMINUTE=0",
     ["2026-11-16 10:00", "2026-12-01 10:00", "2026-12-16 10:00"]),
    ("每周一、三、五 18:00", "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=18;BYMINUTE=0",
     ["2026-11-02 18:00", "2026-11-04 18:00", "2026-11-06 18:00"]),
    ("每周一到周五 7:30", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=7;BYMINUTE=30",
     ["2026-11-03 07:30", "2026-11-04 07:30", "2026-11-05 07:30"]),
    ("每晚8点", "FREQ=DAILY;BYHOUR=20;BYMINUTE=0",
     ["2026-11-02 20:00", "2026-11-03 20:00", "2026-11-04 20:00"]),
    ("每月1号和15号", "FREQ=MONTHLY;BYMONTHDAY=1,15;BYHOUR=9;BYMINUTE=0",
     ["2026-11-15 09:00", "2026-12-01 09:00", "2026-12-15 09:00"]),
    ("每季度末", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1;BYHOUR=9;BYMINUTE=0",
     ["2026-12-31 09:00", "2027-03-31 09:00", "2027-06-30 09:00"]),
    ("每隔一天", "FREQ=DAILY;INTERVAL=2;BYHOUR=9;BYMINUTE=0",
     ["2026-11-04 09:00", "2026-11-06 09:00", "2026-11-08 09:00"]),
    ("每两个月1号", "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0",
     ["2027-01-01 09:00", "2027-03-01 09:00", "2027-05-01 09:00"]),
    ("每月倒数第二天", "FREQ=MONTHLY;BYMONTHDAY=-2;BYHOUR=9;BYMINUTE=0",
     ["2026-11-29 09:00", "2026-12-30 09:00", "2027-01-30 09:00"]),
    ("每月最后一个周五 下午4点", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=16;BYMINUTE=0",
     ["2026-11-27 16:00", "2026-12-25 16:00", "2027-01-29 16:00"]),
    ("周末 10点", "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=10;BYMINUTE=0",
     ["2026-11-07 10:00", "2026-11-08 10:00", "2026-11-14 10:00"]),
    ("每个工作日上午8点半", "FREQ=DAILY;X-WORKDAY=ALL;BYHOUR=8;BYMINUTE=30",
     ["2026-11-03 08:30", "2026-11-04 08:30", "2026-11-05 08:30"]),
    ("每年十二月一日", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0",
     ["2026-12-01 09:00", "2027-12-01 09:00", "2028-12-01 09:00"]),
    ("每月底 17:00 交月报", "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=17;BYMINUTE=0",
     ["2026-11-30 17:00", "2026-12-31 17:00", "2027-01-31 17:00"]),
    ("每星期天", "FREQ=WEEKLY;BYDAY=SU;BYHOUR=9;BYMINUTE=0",
     ["2026-11-08 09:00", "2026-11-15 09:00", "2026-11-22 09:00"]),
    ("每礼拜六 下午两点", "FREQ=WEEKLY;BYDAY=SA;BYHOUR=14;BYMINUTE=0",
     ["2026-11-07 14:00", "2026-11-14 14:00", "2026-11-21 14:00"]),
    # months without a 31st have no occurrence (RFC 5545)
    ("每月31号", "FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=9;BYMINUTE=0",
     ["2026-12-31 09:00", "2027-01-31 09:00", "2027-03-31 09:00"]),
    ("每天 十点十五", "FREQ=DAILY;BYHOUR=10;BYMINUTE=15",
     ["2026-11-02 10:15", "2026-11-03 10:15", "2026-11-04 10:15"]),
    ("每周一早上 晨会", "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0",
     ["2026-11-09 08:00", "2026-11-16 08:00", "2026-11-23 08:00"]),
    ("每逢周三 下午两点半 学习", "FREQ=WEEKLY;BYDAY=WE;BYHOUR=14;BYMINUTE=30",
     ["2026-11-04 14:30", "2026-11-11 14:30", "2026-11-18 14:30"]),
    ("每周二　８：３０", "FREQ=WEEKLY;BYDAY=TU;BYHOUR=8;BYMINUTE=30",       # full-width digits and colon
     ["2026-11-03 08:30", "2026-11-10 08:30", "2026-11-17 08:30"]),
]

ONE_OFF = [
    ("明天下午3点", ["2026-11-03 15:00"]),
    ("下周五", ["2026-11-13 09:00"]),
    ("下个月1号上午十点", ["2026-12-01 10:00"]),
    ("2月29日", ["2028-02-29 09:00"]),                 # the next 29 February is in 2028
    ("今晚八点", ["2026-11-02 20:00"]),
    ("周一", ["2026-11-09 09:00"]),                    # today's 09:00 is now, so the next Monday
    ("本周五 下午", ["2026-11-06 15:00"]),              # a part of the day alone: its usual hour
    ("下下周一", ["2026-11-16 09:00"]),
    ("3天后", ["2026-11-05 09:00"]),
    ("半小时后 开会", ["2026-11-02 09:30"]),
    ("后天 十点十五 交材料", ["2026-11-04 10:15"]),
    ("12月31日 23:59", ["2026-12-31 23:59"]),
    ("15号", ["2026-11-15 09:00"]),
    ("中午1点", ["2026-11-02 13:00"]),
    ("凌晨3点", ["2026-11-03 03:00"]),
    ("2026-12-01 14:00", ["2026-12-01 14:00"]),
    ("周一下午 开会", ["2026-11-02 15:00"]),           # Monday morning: this afternoon, not next week
    ("明天9点整", ["2026-11-03 09:00"]),
]

ERRORS = [
    ("每月32号", "32号"),
    ("每周八", "八"),
    ("随便说点什么", "随便说点什么"),
    ("25点", "25点"),
    ("2027年2月29日", "不是闰年"),
    ("2月30日", "2月30日"),
    ("今天上午9点", "已经过去"),
    ("每月", "哪一天"),
    ("每月第六个周五", "最多只有5个"),
    ("", "没有写时间"),
]


@pytest.mark.parametrize("text,rule,expected", RECURRING, ids=[r[0] for r in RECURRING])
def test_recurring(text, rule, expected):
    s = parse(text, MON)
    assert s.rrule == rule
    assert _fmt(s.next(MON)) == expected
    # the rule is a real RFC 5545 RRULE that dateutil reads back to the same dates (China's working days, which an
    # RRULE cannot say, are gridbot's X-WORKDAY extension, read back by recurrence())
    rr = recurrence(rule, s.dtstart) if "X-WORKDAY" in rule else rrulestr(rule, dtstart=s.dtstart)
    assert _fmt([rr.after(MON), ]) == expected[:1]


@pytest.mark.parametrize("text,expected", ONE_OFF, ids=[r[0] for r in ONE_OFF])
def test_one_off(text, expected):
    s = parse(text, MON)
    assert s.rrule is None
    assert _fmt(s.next(MON)) == expected


@pytest.mark.parametrize("text,named", ERRORS, ids=[r[0] or "empty" for r in ERRORS])
def test_unreadable_text_names_what_was_not_understood(text, named):
    with pytest.raises(ScheduleError) as err:
        parse(text, MON)
    assert named in str(err.value)


def test_table_is_large_enough():
    assert len(RECURRING) + len(ONE_OFF) >= 40


def test_the_message_is_what_is_left():
    s = parse("每月第一周周二 9:00 安全检查日", MON)
    assert s.text == "安全检查日"
    assert s.label == "每月第一周周二 9:00"
    assert parse("明天下午3点开会", MON).text == "开会"


def test_month_end_and_leap_year_from_other_days():
    jan31 = datetime(2028, 1, 31, 10, 0, tzinfo=SH)
    assert _fmt(parse("每月最后一天", jan31).next(jan31)) == ["2028-02-29 09:00", "2028-03-31 09:00",
                                                           "2028-04-30 09:00"]
    assert _fmt(parse("下个月最后一天", jan31).next(jan31)) == ["2028-02-29 09:00"]
    with pytest.raises(ScheduleError, match="2月只有29天"):
        parse("下个月30号", jan31)


def test_offsets_are_always_plus_eight():
    """Asia/Shanghai has no DST: every occurrence across a year is +08:00 at the same wall time."""
    s = parse("每月1号 8:00", MON)
    occ = s.next(MON, count=12)
    assert {d.utcoffset().total_seconds() for d in occ} == {8 * 3600}
    assert {d.astimezone(UTC).hour for d in occ} == {0}


# -- the CLI contract ------------------------------------------------------------------------------------
def _cli(*args):
    from gridbot.cli import main

    return CliRunner().invoke(main, ["schedule", "parse", *args])


def test_cli_contract_recurring():
    res = _cli("每月第一周周二 9:00 安全检查日", "--json", "--now", "2026-11-02T09:00:00+08:00")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data == {"rrule": "FREQ=MONTHLY;BYDAY=1TU;BYHOUR=9;BYMINUTE=0",
                    "next": ["2026-11-03T09:00:00+08:00", "2026-12-01T09:00:00+08:00",
                             "2027-01-05T09:00:00+08:00"]}


def test_cli_contract_one_off():
    res = _cli("明天下午3点", "--json", "--now", "2026-11-02T01:00:00Z")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"rrule": None, "next": ["2026-11-03T15:00:00+08:00"]}


def test_cli_contract_error():
    res = _cli("每周八 开会", "--json", "--now", "2026-11-02T09:00:00+08:00")
    assert res.exit_code != 0
    assert "八" in res.output


# -- properties over many dates ----------------------------------------------------------------------------
from datetime import timedelta  # noqa: E402 - the fuzz tests below need hypothesis only from here on

from hypothesis import given, settings  # noqa: E402 - the fuzz tests below need hypothesis only from here on
from hypothesis import strategies as st  # noqa: E402 - the fuzz tests below need hypothesis only from here on

NOWS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2032, 12, 31)).map(
    lambda d: d.replace(tzinfo=SH))


@settings(max_examples=150, deadline=None)
@given(wd=st.integers(0, 6), h=st.integers(0, 23), m=st.integers(0, 59), now=NOWS)
def test_weekly_rule_lands_on_its_weekday_and_time(wd, h, m, now):
    s = parse(f"每周{'一二三四五六日'[wd]} {h}:{m:02d} 例会", now)
    occ = s.next(now, 4)
    assert len(occ) == 4 and occ[0] > now and occ[0] - now <= timedelta(days=7)
    assert all(o.weekday() == wd and (o.hour, o.minute) == (h, m) for o in occ)
    assert all(b - a == timedelta(days=7) for a, b in zip(occ, occ[1:], strict=False))


@settings(max_examples=150, deadline=None)
@given(day=st.integers(1, 31), now=NOWS)
def test_monthly_day_skips_only_months_without_it(day, now):
    occ = parse(f"每月{day}号 8:00", now).next(now, 6)
    assert all(o.day == day and o.hour == 8 for o in occ)
    for a, b in zip(occ, occ[1:], strict=False):
        gap = (b.year - a.year) * 12 + b.month - a.month
        assert gap >= 1
        for k in range(1, gap):  # every month jumped over really has no such day
            y, mo = divmod(a.month - 1 + k, 12)
            first = datetime(a.year + y, mo + 1, 1)
            last_day = ((first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
            assert last_day < day
