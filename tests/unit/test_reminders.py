"""提醒 / 提醒列表 / 取消提醒 through the bot, and the scheduler firing them once (SQLite, controllable clock).

The clock starts on Monday 2026-11-02 09:00 Asia/Shanghai (tests/conftest.py T0).
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from gridbot.models import AuditLog, Occurrence, OutboxMessage, Reminder
from gridbot.schedule.parse import parse
from gridbot.schedule.scheduler import tick
from gridbot.services import reminders as service

SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def pushed(bot, since_id: int = 0) -> list[OutboxMessage]:
    """Outbox rows not answering a message: reminders, announcements."""
    with bot.app.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id.is_(None),
                                                          OutboxMessage.id > since_id).order_by(OutboxMessage.id)))


def user_rows(bot, text_part: str) -> list[OutboxMessage]:
    return [r for r in pushed(bot) if text_part in r.content.get("text", "")]  # image rows (digest charts) have none


def test_recurring_reminder_fires_once_per_occurrence(bot, clock):
    reply = bot.said("提醒 每月第一周周二 9:00 安全检查日", as_="mem_zhao")
    assert "已设置提醒 #" in reply and "11月3日（周二）09:00" in reply and "安全检查日" in reply
    clock.set(at(2026, 11, 3, 9, 0, 5))
    tick(bot.app)
    rows = user_rows(bot, "安全检查日")
    assert [(r.target_type, r.target, r.content["text"]) for r in rows] == [("user", "mem_zhao", "⏰ 提醒：安全检查日")]
    tick(bot.app)
    clock.advance(seconds=40)
    tick(bot.app)
    assert len(user_rows(bot, "安全检查日")) == 1
    clock.set(at(2026, 12, 1, 9, 0, 10))
    tick(bot.app)
    assert len(user_rows(bot, "安全检查日")) == 2


def test_group_reminder_goes_to_the_group(bot, clock):
    reply = bot.said("／提醒　本群　每周一　８：３０　交周报", as_="mem_zhao", chat="HY-01")  # full-width
    assert "发到第一网格群" in reply and "11月9日（周一）08:30" in reply
    clock.set(at(2026, 11, 9, 8, 30, 1))
    tick(bot.app)
    assert [(r.target_type, r.target) for r in user_rows(bot, "交周报")] == [("chat", "chat-hy-01")]


def test_one_off_reminder_is_done_after_it_fires(bot, clock):
    assert "11月3日（周二）15:00" in bot.said("提醒我明天下午3点 开会", as_="mem_zhao", chat=None)
    assert "开会" in bot.said("提醒列表", as_="mem_zhao", chat=None)
    clock.set(at(2026, 11, 3, 15, 0, 20))
    tick(bot.app)
    tick(bot.app)
    assert len(user_rows(bot, "开会")) == 1
    assert "开会" not in bot.said("提醒列表", as_="mem_zhao", chat=None)


def test_wrong_arguments_answer_with_usage_and_name_the_problem(bot):
    reply = bot.said("提醒 每周八 开会", as_="mem_zhao")
    assert "八" in reply and "用法：提醒" in reply and "例如：" in reply
    assert "请写上提醒的内容" in bot.said("提醒 每周一 8:30", as_="mem_zhao")
    assert "用法：提醒" in bot.said("提醒", as_="mem_zhao")
    assert "已经过去" in bot.said("提醒 今天上午8点 开会", as_="mem_zhao")


def test_roles_and_scope(bot):
    assert "网格员使用的功能" in bot.said("提醒 明天 开会", as_="resident_a")
    assert "只能在网格群里用" in bot.said("提醒 本群 每周一 开会", as_="mem_zhao", chat=None)
    assert "不负责这个网格" in bot.said("提醒 本群 每周一 开会", as_="mem_zhou", chat="HY-01")
    assert "只有网格长、书记" in bot.said("提醒 全社区 每月1号 交报表", as_="mem_zhao")
    assert "发到全社区各网格群" in bot.said("提醒 全社区 每月1号 交报表", as_="sec_wang", chat=None)
    assert "发到第一网格群" in bot.said("提醒 本群 每周五 17:00 周报", as_="lead_li", chat="HY-01")


def test_cancel(bot, clock):
    bot.said("提醒 明天下午3点 开会", as_="mem_zhao")
    rid = _last_reminder_id(bot)
    assert "不是您设置的" in bot.said(f"取消提醒 {rid}", as_="mem_sun", chat="HY-02")
    assert f"已取消提醒 #{rid}" in bot.said(f"取消提醒{rid}", as_="mem_zhao")
    assert "已经取消过了" in bot.said(f"取消提醒 {rid}", as_="mem_zhao")
    assert "没有找到提醒 #999" in bot.said("取消提醒 999", as_="mem_zhao")
    assert "用法：取消提醒" in bot.said("取消提醒 abc", as_="mem_zhao")
    clock.set(at(2026, 11, 3, 15, 1))
    tick(bot.app)
    assert user_rows(bot, "开会") == []
    with bot.app.session() as s:
        r = s.get(Reminder, rid)
        assert r.cancelled_by == "member:mem_zhao"
        assert s.scalar(select(AuditLog).where(AuditLog.action == "reminder.cancel",
                                               AuditLog.entity_id == str(rid))) is not None


def test_leader_cancels_a_reminder_to_their_grid(bot):
    bot.said("提醒 本群 每周一 8:30 交台账", as_="mem_zhao", chat="HY-01")
    rid = _last_reminder_id(bot)
    assert "交台账" in bot.said("提醒列表", as_="sec_wang", chat=None)   # leaders see reminders in their area
    assert "交台账" not in bot.said("提醒列表", as_="mem_zhou", chat=None)
    assert f"已取消提醒 #{rid}" in bot.said(f"取消提醒 {rid}", as_="lead_li", chat=None)


def _last_reminder_id(bot) -> int:
    with bot.app.session() as s:
        return s.scalar(select(Reminder.id).where(Reminder.kind == "user").order_by(Reminder.id.desc()))


def test_missed_occurrences_are_sent_late_once(bot, clock):
    bot.said("提醒 每天8:30 晨会", as_="mem_zhao")
    # everything was down from Monday 09:00 until Thursday 10:00: Tue, Wed, Thu 08:30 were missed
    clock.set(at(2026, 11, 5, 10, 0))
    res = tick(bot.app)
    rows = user_rows(bot, "晨会")
    assert len(rows) == 1
    assert "补发" in rows[0].content["text"] and "11月5日（周四）08:30" in rows[0].content["text"]
    assert (res.late, res.skipped) == (1, 2)
    tick(bot.app)
    assert len(user_rows(bot, "晨会")) == 1
    clock.set(at(2026, 11, 6, 8, 30, 30))  # back to normal: on time, unmarked
    tick(bot.app)
    texts = [r.content["text"] for r in user_rows(bot, "晨会")]
    assert texts[-1] == "⏰ 提醒：晨会"


def test_late_policy_skip_for_builtin_days(bot, clock):
    """安全检查日 (skip) is not sent the day after; the monthly patrol reminder (send_late_once) is."""
    tick(bot.app)  # creates the built-in rhythms
    clock.set(at(2026, 12, 1, 12, 0))   # 1 Dec is the first Tuesday; the scheduler was down 08:30-12:00
    tick(bot.app)
    texts = [r.content.get("text", "") for r in pushed(bot)]   # the digest's chart rows carry no text
    assert not any("安全检查日" in x for x in texts)
    patrol = [x for x in texts if "巡查提醒" in x]
    assert len(patrol) == 6 and all(x.startswith("（补发）") for x in patrol)  # six staff members
    with bot.app.session() as s:
        statuses = {o.key.split(":")[1]: o.status for o in s.scalars(select(Occurrence).where(
            Occurrence.source == "reminder"))}
    assert "skipped" in statuses.values() and "late" in statuses.values()


def test_builtin_duty_rhythms_reach_their_audience(bot, clock):
    res = tick(bot.app)
    assert res.builtin_created == 6
    assert tick(bot.app).builtin_created == 0
    clock.set(at(2026, 12, 7, 9, 0, 10))  # the first Monday of December: fire-safety publicity day
    tick(bot.app)
    fire = [r for r in pushed(bot) if "消防安全宣传日" in r.content.get("text", "")]
    assert sorted(r.target for r in fire) == ["chat-hy-01", "chat-hy-02", "chat-hy-03"]
    assert "12月消防安全宣传日" in fire[0].content["text"]
    assert "系统值班提醒 6 条" in bot.said("提醒列表", as_="mem_zhao")
    rid = _builtin_id(bot)
    assert "不能在这里取消" in bot.said(f"取消提醒 {rid}", as_="sec_wang")


def _builtin_id(bot) -> int:
    with bot.app.session() as s:
        return s.scalar(select(Reminder.id).where(Reminder.kind == "builtin"))


def test_quiet_hours_hold_normal_reminders_not_urgent_ones(bot, clock):
    reply = bot.said("提醒 每天23:00 查看值班表", as_="mem_zhao")
    assert "免打扰" in reply
    world = bot.world
    with bot.app.session() as s, s.begin():
        service.create_reminder(s, community_id=world.community_id, owner_member_id=world.members["sec_wang"],
                                created_by="member:sec_wang", target_type="member",
                                target_member_id=world.members["sec_wang"], schedule=parse("每天23:00", clock.now()),
                                text="防汛值守", now=clock.now(), urgent=True)
    clock.set(at(2026, 11, 2, 23, 0, 5))
    tick(bot.app)
    normal = user_rows(bot, "查看值班表")[0]
    urgent = user_rows(bot, "防汛值守")[0]
    assert normal.not_before == at(2026, 11, 3, 7, 0)
    assert urgent.not_before is None and urgent.status == "sent"
    assert normal.status == "pending"
    # an answer to someone who asks at night is never held
    assert "查看值班表" in bot.said("提醒列表", as_="mem_zhao")
    # morning: the held row is released once
    clock.set(at(2026, 11, 3, 7, 0, 30))
    tick(bot.app)
    with bot.app.session() as s:
        assert s.get(OutboxMessage, normal.id).status == "sent"


def test_restart_resumes_from_the_database(bot, clock, make_app, sqlite_url):
    """A second app on the same database (a restarted scheduler) sees what the first did."""
    bot.said("提醒 每周一 8:30 例会", as_="mem_zhao")
    clock.set(at(2026, 11, 9, 8, 30, 5))
    tick(bot.app)
    restarted = make_app(sqlite_url)
    tick(restarted)
    assert len(user_rows(bot, "例会")) == 1


def test_one_broken_reminder_does_not_hold_back_the_others(bot, clock):
    bot.said("提醒 每周一 8:30 例会", as_="mem_zhao")
    bot.said("提醒 每周一 8:30 交周报", as_="mem_sun", chat="HY-02")
    with bot.app.session() as s, s.begin():  # a built-in rule whose text key is missing from templates.yaml
        s.add(Reminder(community_id=bot.world.community_id, kind="builtin", source_key="duty:HY:broken",
                       target_type="members", text="no_such_text", rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=30",
                       dtstart=clock.now(), next_at=at(2026, 11, 9, 8, 30), created_by="test", created_at=clock.now()))
    clock.set(at(2026, 11, 9, 8, 30, 5))
    res = tick(bot.app)
    assert res.errors == 1 and res.sent == 2
    assert len(user_rows(bot, "例会")) == 1 and len(user_rows(bot, "交周报")) == 1


def test_scheduler_run_once_from_the_cli(bot, clock, sqlite_url, monkeypatch):
    from click.testing import CliRunner

    from gridbot.cli import main

    bot.said("提醒 每周一 8:30 例会", as_="mem_zhao")
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("GRIDBOT_REDIS_URL", raising=False)
    res = CliRunner().invoke(main, ["scheduler", "run", "--once", "--now", "2026-11-09T08:30:10+08:00"])
    assert res.exit_code == 0, res.output
    assert "sent=1" in res.output
    assert len(user_rows(bot, "例会")) == 1
    res = CliRunner().invoke(main, ["scheduler", "run", "--once", "--now", "2026-11-09T08:30:30+08:00"])
    assert "sent=0" in res.output and len(user_rows(bot, "例会")) == 1


def test_embedded_scheduler_thread(bot, clock):
    """One process without Redis (the demo): the scheduler ticks in a thread."""
    import threading

    from gridbot.schedule.scheduler import start_in_thread

    bot.said("提醒 每周一 8:30 例会", as_="mem_zhao")
    clock.set(at(2026, 11, 9, 8, 30, 5))
    done = threading.Event()
    stop = start_in_thread(bot.app, interval=0.05)
    try:
        for _ in range(200):
            if user_rows(bot, "例会"):
                done.set()
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
    assert done.is_set() and len(user_rows(bot, "例会")) == 1


def test_unreadable_time_is_explained_once_with_usage(bot):
    text = bot.said("提醒 啊啊 xyz 999", as_="mem_zhao")
    assert text.count("没有看懂时间") == 1
    assert "用法：提醒" in text and "例如：提醒" in text


def test_reminder_text_keeps_the_chinese_punctuation_it_was_written_with(bot):
    text = bot.said("提醒 本群 明天上午9点 停水通知，请提前储水！", as_="mem_zhao")
    assert "内容：停水通知，请提前储水！" in text
    assert "停水通知，请提前储水！" in bot.said("提醒列表", as_="mem_zhao")


def test_a_meeting_reminder_for_grid_members_goes_to_them_not_to_the_residents_groups(bot, clock):
    reply = bot.said("提醒 全体网格员 每周一 8:30 周例会，请准时参加", as_="sec_wang", chat=None)
    assert "发给全体网格员" in reply and "周例会，请准时参加" in reply
    assert "发给网格长和书记" in bot.said("提醒 各网格长 明天上午10点 交月报", as_="sec_wang", chat=None)
    assert "只有网格长、书记" in bot.said("提醒 全体网格员 明天9点 开会", as_="mem_zhao", chat=None)
    clock.set(at(2026, 11, 9, 8, 30, 1))
    tick(bot.app)
    rows = user_rows(bot, "周例会")
    assert rows and {r.target_type for r in rows} == {"user"}
    assert {r.target for r in rows} >= {"mem_zhao", "mem_qian", "lead_li", "sec_wang"}


def test_remind_everyone_in_a_group_goes_to_the_group(bot):
    text = bot.said("提醒大家明天上午9点 停水，请储水", as_="mem_zhao", chat="HY-01")
    assert "发到第一网格群" in text and "内容：停水，请储水" in text


def test_a_one_off_reminder_is_not_listed_with_yesterdays_relative_words(bot, clock):
    bot.say("提醒 明天下午3点 给王奶奶送药", as_="mem_zhao", chat=None)
    clock.set(at(2026, 11, 3, 10, 0))
    listing = bot.said("提醒列表", as_="mem_zhao", chat=None)
    assert "给王奶奶送药" in listing and "明天" not in listing and "11月3日（周二）15:00" in listing


def test_a_grid_leader_of_some_grids_cannot_remind_the_whole_community(bot):
    assert "由社区书记设置" in bot.said("提醒 全社区 每月1号 交报表", as_="lead_li", chat=None)
    assert "由社区书记设置" in bot.said("提醒 全体网格员 每周一 8:30 例会", as_="lead_li", chat=None)
    with bot.app.session() as s:
        assert s.scalars(select(Reminder).where(Reminder.kind == "user")).all() == []
