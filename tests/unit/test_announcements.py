"""公告 through the bot: this grid, listed grids, the whole community; scheduled; @所有人 where the channel can.

The clock starts on Monday 2026-11-02 09:00 Asia/Shanghai.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from gridbot.models import Announcement, AuditLog, GridChat, OutboxMessage
from gridbot.schedule.scheduler import tick

SH = ZoneInfo("Asia/Shanghai")


def posts(bot) -> list[OutboxMessage]:
    with bot.app.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.content["text"].as_string().like("%公告%"),
                                                          OutboxMessage.target_type == "chat",
                                                          OutboxMessage.inbound_id.is_(None))
                              .order_by(OutboxMessage.id)))


def test_announcement_to_this_grid_now(bot):
    reply = bot.said("公告 本周六上午9点至12点停水，请提前储水", as_="mem_zhao", chat="HY-01")
    assert "已发出" in reply and "第一网格：和园第一网格群" in reply
    rows = posts(bot)
    assert [(r.target, r.status) for r in rows] == [("chat-hy-01", "sent")]
    assert "本周六上午9点至12点停水" in rows[0].content["text"] and "赵网格员" in rows[0].content["text"]
    with bot.app.session() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.action == "announcement.create")) is not None


def test_at_all_only_where_the_channel_allows_it(bot):
    with bot.app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key="robot-key-1"))
    reply = bot.said("公告 HY-01,HY-02 今晚8点电梯检修 @所有人", as_="lead_li", chat=None)
    assert "和园第一网格群（已@所有人）" in reply
    assert "和园第二网格群（该群没有群机器人，无法@所有人" in reply
    rows = {r.target: r for r in posts(bot)}
    assert rows["chat-hy-01"].content["mentions"] == ["@all"]
    assert rows["chat-hy-02"].content["mentions"] == []
    assert "@所有人" not in rows["chat-hy-01"].content["text"]


def test_listed_grids_and_scope(bot):
    assert "没有找到网格：HY-09" in bot.said("公告 HY-01,HY-09 明天停电", as_="lead_li", chat=None)
    assert "不能向这些网格发公告：第三网格" in bot.said("公告 HY-03 明天停电", as_="lead_li", chat=None)
    assert "不能向这些网格发公告：第二网格" in bot.said("公告 第二网格 明天停电", as_="mem_zhao", chat=None)
    reply = bot.said("公告 第一网格、第二网格 明天停电", as_="lead_li", chat=None)
    assert "第一网格" in reply and "第二网格" in reply
    assert sorted(r.target for r in posts(bot)) == ["chat-hy-01", "chat-hy-02"]


def test_whole_community_is_for_leaders(bot):
    assert "只有网格长、书记" in bot.said("公告 全社区 明天疫苗接种", as_="mem_zhao")
    assert posts(bot) == []
    reply = bot.said("公告 全社区 明天疫苗接种", as_="sec_wang", chat=None)
    assert reply.count("· ") == 3
    assert sorted(r.target for r in posts(bot)) == ["chat-hy-01", "chat-hy-02", "chat-hy-03"]


def test_scheduled_announcement_goes_out_once_at_its_time(bot, clock):
    reply = bot.said("公告 定时 明天上午9点 本周六停水", as_="mem_zhao", chat="HY-01")
    assert "将于 11月3日（周二）09:00 发出" in reply and "和园第一网格群" in reply
    assert posts(bot) == []
    tick(bot.app)
    assert posts(bot) == []
    clock.set(datetime(2026, 11, 3, 9, 0, 15, tzinfo=SH))
    tick(bot.app)
    tick(bot.app)
    rows = posts(bot)
    assert [r.target for r in rows] == ["chat-hy-01"] and "本周六停水" in rows[0].content["text"]
    with bot.app.session() as s:
        told = s.scalars(select(OutboxMessage).where(OutboxMessage.target == "mem_zhao",
                                                     OutboxMessage.inbound_id.is_(None))).all()
        assert len(told) == 1 and "已发出" in told[0].content["text"]
        assert s.scalar(select(Announcement.status)) == "sent"


def test_publish_form_and_time_words_inside_the_text(bot):
    assert "将于 11月3日（周二）10:00" in bot.said("公告 明天上午10点发布 停水通知", as_="mem_zhao")
    # no 定时 / 发布 marker: the time belongs to the notice, which goes now
    assert "已发出" in bot.said("公告 明天上午9点停水", as_="mem_zhao")
    assert "明天上午9点停水" in posts(bot)[0].content["text"]


def test_wrong_input(bot):
    assert "网格员使用的功能" in bot.said("公告 大家好", as_="resident_a")
    assert "用法：公告" in bot.said("公告", as_="mem_zhao")
    assert "私聊时请写明发到哪个网格" in bot.said("公告 明天停电", as_="lead_li", chat=None)
    assert "公告只能定一个时间" in bot.said("公告 定时 每周一 9点 例会", as_="mem_zhao")
    unreadable = bot.said("公告 定时 某天 停水", as_="mem_zhao")
    assert "没有看懂时间：“某天”" in unreadable and unreadable.count("没有看懂") == 1  # said once, not twice
    assert "请写上公告内容" in bot.said("公告 定时 明天上午9点", as_="mem_zhao")
    assert posts(bot) == []


def test_private_chat_uses_the_members_only_grid(bot):
    assert "第一网格：和园第一网格群" in bot.said("公告 明天停电", as_="mem_zhao", chat=None)


def test_quiet_hours_hold_an_announcement_until_morning(bot, clock):
    clock.set(datetime(2026, 11, 2, 23, 30, tzinfo=SH))
    reply = bot.said("公告 明天停电", as_="mem_zhao", chat="HY-01")
    assert "免打扰" in reply and "11月3日（周二）07:00" in reply
    row = posts(bot)[0]
    assert row.status == "pending" and row.not_before == datetime(2026, 11, 3, 7, 0, tzinfo=SH)


def test_announcement_keeps_the_chinese_punctuation_it_was_written_with(bot):
    bot.say("公告 本周六上午9点至12点停水，请提前储水！", as_="mem_zhao")
    assert any("停水，请提前储水！" in p.content["text"] for p in posts(bot))


def test_a_mistyped_grid_code_is_refused_not_posted_to_the_own_grid_with_the_code_in_it(bot):
    assert "没有找到网格：HY-09" in bot.said("公告 HY-09 明天停水", as_="mem_zhao")
    assert posts(bot) == []


def test_grid_named_before_a_chinese_comma_is_the_target_not_part_of_the_text(bot):
    bot.say("公告 第二网格，明天停水", as_="lead_li", chat=None)
    (post,) = posts(bot)
    assert post.target == bot.chat("HY-02") and "【公告】明天停水" in post.content["text"]


def test_a_grid_leader_of_some_grids_cannot_post_to_the_whole_community(bot):
    text = bot.said("公告 全社区 明天消防演练", as_="lead_li", chat=None)   # leads HY-01 and HY-02 only
    assert "由社区书记发布" in text and "公告 HY-01,HY-02" in text
    assert posts(bot) == []
    bot.say("公告 HY-01,HY-02 明天消防演练", as_="lead_li", chat=None)
    assert {p.target for p in posts(bot)} == {bot.chat("HY-01"), bot.chat("HY-02")}
