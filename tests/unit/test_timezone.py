"""GRIDBOT_TIMEZONE is the zone people live in: an app configured with Europe/Berlin shows and groups times in
Berlin (UTC+1 in November), not in Asia/Shanghai (UTC+8), for work logs, compliance figures and reminders."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gridbot.models import OutboxMessage, Reminder
from gridbot.schedule.scheduler import tick
from tests.factories import Bot


@pytest.fixture
def berlin(make_app, sqlite_url):
    bot = Bot(make_app(sqlite_url, env={"GRIDBOT_TIMEZONE": "Europe/Berlin"}))
    bot.seed()
    return bot


def utc(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_a_work_log_falls_on_the_local_day(berlin, clock):
    clock.set(utc(11, 2, 20))                      # Mon 21:00 in Berlin; already Tue 04:00 in Shanghai
    reply = berlin.said("日志 巡查3栋，处理漏水一起", as_="mem_zhao")
    assert "11月2日（周一）" in reply
    week = berlin.said("本周日志", as_="mem_zhao", private=True)
    assert "11月2日（周一）：巡查3栋" in week


def test_compliance_groups_patrols_by_the_local_month(berlin, clock):
    clock.set(utc(11, 30, 20))                     # Mon 30 Nov 21:00 in Berlin; 1 Dec 04:00 in Shanghai
    assert "11月30日 21:00" in berlin.said("签到 3栋门口", as_="mem_zhao", chat="HY-01")
    clock.set(utc(11, 30, 21))
    berlin.said("签退", as_="mem_zhao", chat="HY-01")
    figures = berlin.said("履职 2026-11", as_="sec_wang", private=True)
    zhao = next(line for line in figures.splitlines() if "赵网格员" in line)
    assert "1 次/1.0 小时" in zhao                  # November's, in Berlin


def test_a_reminder_is_set_shown_and_repeated_in_local_time(berlin, clock):
    reply = berlin.said("提醒 每天 9点 交日报", as_="mem_zhao")
    assert "11月2日（周一）09:00" in reply or "11月3日（周二）09:00" in reply
    clock.set(utc(11, 3, 8, 0) .replace(second=5))   # 09:00:05 in Berlin
    tick(berlin.app)
    sent = berlin.app.session()
    with sent:
        texts = [r.content.get("text", "") for r in sent.scalars(select(OutboxMessage))]
        assert any("交日报" in text for text in texts)
        reminder = sent.scalar(select(Reminder).where(Reminder.text.contains("交日报")))
        assert reminder.next_at == utc(11, 4, 8)    # the next 09:00 in Berlin is 08:00 UTC, not 01:00
    listed = berlin.said("提醒列表", as_="mem_zhao")
    assert "11月4日（周三）09:00" in listed



def test_quiet_hours_hold_notices_by_the_configured_zone(berlin):
    """22:00-07:00 where people live: a notice written at 23:00 Berlin time (22:00 UTC; 06:00 in Shanghai, where
    quiet hours would be over at once) waits until 07:00 Berlin time."""
    from gridbot.messages import Reply
    from gridbot.services.outbox import write_replies

    with berlin.app.session() as s, s.begin():
        (row,) = write_replies(s, None, [Reply("明早的通知", to_user="mem_zhao")], utc(12, 7, 22), platform="test")
        held = row.not_before
    assert held == utc(12, 8, 6)
