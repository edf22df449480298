"""Issue 18 on a controlled clock: 受理 is the response, working time for normal tickets, quiet hours by stakes,
ladders that stop where the plans put them, 挂起/恢复, and the small ones (no "0 小时", no self-hurry).

The clock starts on Monday 2026-11-02 09:00 (Asia/Shanghai); working time is 08:30–17:30 on working days."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gridbot.config import ConfigError
from gridbot.jobs import sweep_tickets
from gridbot.models import OutboxMessage
from gridbot.services import metrics
from gridbot.services.digest import _hours
from gridbot.services.tickets.hold import parse_hold
from gridbot.services.tickets.sla import Policy

from .test_tickets import number_in, outbox_to, report, ticket

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgres"])
def any_bot(request):
    """The seeded community on each supported database."""
    return request.getfixturevalue("bot" if request.param == "sqlite" else "pg_bot")


def sweep(bot):
    return sweep_tickets(app=bot.app)


def local_at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def shown(dt: datetime) -> str:
    return dt.astimezone(TZ).strftime("%m-%d %H:%M")


def rows_to(bot, target: str) -> list[OutboxMessage]:
    with bot.app.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.target == target)
                              .order_by(OutboxMessage.id)))


# -- point 1: 受理 is a response -------------------------------------------------------------------------------
def test_accepted_ticket_is_never_escalated_as_unaccepted(any_bot, clock):
    """The barking dog accepted 10 minutes after it came in reached 总网格长 7 hours later; now the resolution
    limit (1 working day from 受理) runs, and the member is told when it is due."""
    bot = any_bot
    number = report(bot)
    clock.advance(minutes=10)
    reply = bot.said(f"受理 {number}", as_="mem_zhao", private=True)
    due = local_at(3, 9, 10)                          # Monday 09:10 + 540 working minutes
    assert "响应时限已满足" in reply and f"{shown(due)} 前办结" in reply and "1 个工作日" in reply
    for hours in (1, 3, 7, 23):
        clock.set(local_at(2, 9, 10) + timedelta(hours=hours))
        result = sweep(bot)
        assert result["reminders"] == [] and result["escalations"] == [], hours
    assert not any("响应时限" in n for n in outbox_to(bot, "lead_li") + outbox_to(bot, "sec_wang"))
    clock.set(due + timedelta(minutes=1))
    assert sweep(bot)["reminders"] == [number]
    assert "办理时限" in outbox_to(bot, "mem_zhao")[-1]
    with bot.app.session() as s:
        figures = metrics.ticket_metrics(s, since=local_at(1, 0), until=clock.now())
    assert figures["response_rate"] == 1.0


# -- point 2: working time for normal tickets, the wall clock for urgent ones ----------------------------------
def test_normal_limits_count_working_time_across_a_weekend(bot, clock):
    clock.set(local_at(6, 17, 0))                     # Friday 17:00: 30 working minutes left today
    number = report(bot)
    monday = local_at(9, 9, 0)                        # + 30 minutes on Monday from 08:30
    assert ticket(bot, number).response_due == monday
    ack = bot.said("我的工单", as_="res_a")
    assert number in ack
    clock.set(local_at(6, 17, 31))
    assert sweep(bot)["handovers"] == [number]        # its 30 working minutes ended at 17:30: AB岗
    for day, hour in ((7, 10), (8, 16), (9, 8)):      # Saturday, Sunday, Monday before work
        clock.set(local_at(day, hour))
        assert sweep(bot) == {"handovers": [], "resumed": [], "reminders": [], "escalations": [],
                              "ratings_expired": []}
    clock.set(monday + timedelta(minutes=1))
    assert number in sweep(bot)["reminders"]


def test_urgent_ticket_runs_on_the_wall_clock_at_night(bot, clock):
    clock.set(local_at(7, 2, 0))                      # Saturday 02:00
    number = number_in(bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a"))
    assert ticket(bot, number).response_due == clock.now() + timedelta(minutes=5)


def test_ack_after_hours_names_the_time_it_will_be_handled(bot, clock):
    clock.set(local_at(2, 18, 0))                     # Monday after work, before quiet hours
    reply = bot.said("1栋2单元楼道灯坏了好几天了", as_="res_a")
    assert f"{shown(local_at(3, 9, 30))} 前处理" in reply and "60 分钟内响应" not in reply


# -- point 3: quiet hours by what is at stake ------------------------------------------------------------------
def test_corridor_light_at_22_30_wakes_nobody(any_bot, clock):
    bot = any_bot
    clock.set(local_at(2, 22, 30))
    reply = bot.said("1栋2单元楼道灯坏了好几天了", as_="res_a")
    number = number_in(reply)
    assert "夜间免打扰" in reply and "07:00" in reply and "60 分钟内响应" not in reply
    notice = rows_to(bot, "mem_zhao")[-1]
    assert number in notice.content["text"] and notice.not_before == local_at(3, 7, 0)
    for hour, minute in ((1, 59), (3, 59), (6, 59)):
        clock.set(local_at(3, hour, minute))
        result = sweep(bot)
        assert result["handovers"] == result["reminders"] == result["escalations"] == []
    assert rows_to(bot, "lead_li") == [] and rows_to(bot, "sec_wang") == []
    assert ticket(bot, number).response_due == local_at(3, 9, 30)


def test_safety_net_and_urgent_updates_are_never_held(bot, clock):
    clock.set(local_at(2, 23, 0))
    # neither the rules nor the learned model place it (test_unclear_messages.UNCLEAR): the safety net forwards it
    bot.say("上回跟你们讲的那个情况 现在还是老样子 你们看着办吧", as_="res_b")
    forwarded = [r for r in rows_to(bot, "mem_zhao") if "请人工查看" in r.content["text"]]
    assert forwarded and forwarded[-1].not_before is None
    number = number_in(bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a"))
    clock.advance(minutes=2)
    bot.say(f"受理 {number}", as_="mem_zhao", private=True)
    told = [r for r in rows_to(bot, bot.chat("HY-01")) if "已受理" in r.content["text"]]
    assert told and told[-1].not_before is None


def test_every_update_of_an_urgent_ticket_at_night_goes_at_once(bot, clock):
    clock.set(local_at(7, 2, 0))                      # Saturday 02:00: nobody accepts the smoke in 5 minutes
    number = number_in(bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a"))
    clock.set(local_at(7, 2, 6))
    assert sweep(bot)["handovers"] == [number]
    taken = [r for r in rows_to(bot, "mem_qian") if "AB岗" in r.content["text"]]
    away = [r for r in rows_to(bot, "mem_zhao") if "已按AB岗转给" in r.content["text"]]
    assert taken and away and taken[-1].not_before is None and away[-1].not_before is None
    clock.set(local_at(7, 2, 8))                      # the resident writes again: the member hears it now
    bot.say("1栋楼道还在冒烟，煤气味更重了", as_="res_a")
    more = [r for r in rows_to(bot, "mem_qian") if "煤气味更重" in r.content["text"]]
    assert more and more[-1].not_before is None


def test_feedback_at_night_says_when_the_resident_hears(bot, clock):
    number = report(bot)
    bot.say(f"处置 {number}", as_="mem_zhao", private=True)
    clock.set(local_at(2, 23, 10))
    reply = bot.said(f"办结 {number} 已更换灯泡", as_="mem_zhao", private=True)
    assert "居民已收到" not in reply and "给居民的消息将于 11-03 07:00 发出" in reply
    told = [r for r in rows_to(bot, bot.chat("HY-01")) if "已处理" in r.content["text"]]
    assert told[-1].not_before == local_at(3, 7, 0)
    clock.set(local_at(3, 10, 0))
    other = report(bot, "2栋1单元楼道灯坏了", as_="res_b")
    bot.say(f"处置 {other}", as_="mem_zhao", private=True)
    assert "居民已收到" in bot.said(f"办结 {other} 已更换灯泡", as_="mem_zhao", private=True)


# -- point 4 and the small ones: the ladder -------------------------------------------------------------------
def test_repeated_or_urgent_tickets_take_the_ladder_to_the_chief(tmp_path):
    policy = Policy.load(None, "Asia/Shanghai")
    assert policy.ladder_for(SimpleNamespace(urgency="normal", reopen_count=0))[-1] == "secretary"
    assert policy.ladder_for(SimpleNamespace(urgency="normal", reopen_count=2))[-1] == "chief"
    assert policy.ladder_for(SimpleNamespace(urgency="urgent", reopen_count=0))[-1] == "chief"
    (tmp_path / "sla.yaml").write_text(
        "defaults:\n  urgent: {response: 10, resolution: 240, verify: 60, handover: 5}\n"
        "  normal: {response: 60, resolution: 540, verify: 120, handover: 30}\n"
        "escalation:\n  ladder:\n    normal: [grid_member, mayor]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mayor"):
        Policy.load(tmp_path, "Asia/Shanghai")


def test_each_step_of_the_ladder_reaches_someone_new(bot, clock):
    """The partner covering a leave has no partner at work: the ladder goes reminder -> grid leader -> secretary,
    each heard once, under its own name; nobody is told "升级到A/B岗搭档" for a step that reached nobody."""
    bot.say("请假 到下周三", as_="mem_zhao", private=True)              # mem_qian covers
    number = report(bot)
    assert ticket(bot, number).assignee.userid == "mem_qian"
    clock.advance(minutes=10)
    bot.say(f"受理 {number}", as_="mem_qian", private=True)
    steps = []
    for hour in range(9, 18):                                              # Tuesday, after the 1-day limit
        clock.set(local_at(3, hour, 15))
        result = sweep(bot)
        steps += [("remind", number)] * len(result["reminders"]) + [(e["level"], e["number"])
                                                                     for e in result["escalations"]]
    assert steps == [("remind", number), (3, number), (4, number)]
    to_leader = [n for n in outbox_to(bot, "lead_li") if number in n]
    assert len(to_leader) == 1 and "网格长" in to_leader[0]
    assert len([n for n in outbox_to(bot, "sec_wang") if number in n]) == 1
    assert not any("A/B岗搭档督办" in n for n in outbox_to(bot, "mem_qian"))


def test_a_step_to_the_assignee_themselves_is_skipped(bot, clock):
    """A ticket the grid leader holds: the grid-leader step would tell only them; the secretary hears next."""
    number = report(bot)
    bot.say(f"转派 {number} @李网格长 物业协调", as_="mem_zhao", private=True)
    clock.advance(minutes=10)
    bot.say(f"受理 {number}", as_="lead_li", private=True)
    levels = []
    for hour in range(9, 18):
        clock.set(local_at(3, hour, 15))
        levels += [e["level"] for e in sweep(bot)["escalations"]]
    assert levels == [4]
    assert not any("已升级到网格长督办" in n or "A/B岗搭档督办" in n for n in outbox_to(bot, "lead_li"))


def test_own_escalation_does_not_hurry_the_member(bot):
    number = report(bot)
    bot.say(f"升级 {number} 需要物业配合", as_="mem_zhao", private=True)
    assert not any("请抓紧处理" in n for n in outbox_to(bot, "mem_zhao"))
    assert any(number in n for n in outbox_to(bot, "lead_li"))
    bot.say(f"升级 {number} 物业不理", as_="lead_li", private=True)
    assert any("请抓紧处理" in n for n in outbox_to(bot, "mem_zhao"))


def test_digest_overdue_line_never_says_zero_hours():
    assert "0 小时" not in _hours(0.0) and _hours(0.0)
    assert _hours(0.5) == "30 分钟"
    assert _hours(2.4) == "2 小时"


# -- point 5: 挂起 / 恢复 ----------------------------------------------------------------------------------------
def test_hold_words():
    today = date(2026, 11, 2)
    assert parse_hold("等燃气公司 到12月10日", today) == ("等燃气公司", date(2026, 12, 10))
    assert parse_hold("到下周三 等燃气公司上门", today) == ("等燃气公司上门", date(2026, 11, 11))
    assert parse_hold("等物业公司", today) == ("等物业公司", None)


def test_hold_stops_the_clock_and_resume_moves_the_due_time(any_bot, clock):
    bot = any_bot
    number = report(bot)
    bot.say(f"受理 {number}", as_="mem_zhao", private=True)          # resolve by Tuesday 09:00
    assert ticket(bot, number).resolution_due == local_at(3, 9, 0)
    reply = bot.said(f"挂起 {number} 等燃气公司", as_="mem_zhao", private=True)
    assert "已挂起" in reply and "等燃气公司" in reply
    told = outbox_to(bot, bot.chat("HY-01"))[-1]
    assert "需要等待：等燃气公司" in told and "暂停计时" in told and "13800" not in told
    assert "已经挂起" in bot.said(f"挂起 {number} 再等等", as_="mem_zhao", private=True)
    for day in (3, 4):
        clock.set(local_at(day, 16))
        result = sweep(bot)
        assert result["reminders"] == [] and result["escalations"] == []
    clock.set(local_at(5, 9, 0))                                     # Thursday: 3 working days held
    reply = bot.said(f"恢复 {number}", as_="mem_zhao", private=True)
    assert "已恢复" in reply and "11-06 09:00" in reply
    tk = ticket(bot, number)
    assert tk.held_since is None and tk.resolution_due == local_at(6, 9, 0)
    steps = [(e.action, e.actor) for e in tk.events if e.action in ("hold", "resume")]
    assert steps == [("hold", "member:mem_zhao"), ("resume", "member:mem_zhao")]
    assert "没有挂起" in bot.said(f"恢复 {number}", as_="mem_zhao", private=True)
    clock.set(local_at(6, 8, 59))
    assert sweep(bot)["reminders"] == []
    bot.say(f"处置 {number}", as_="mem_zhao", private=True)
    bot.say(f"办结 {number} 燃气公司已更换", as_="mem_zhao", private=True)
    bot.say("满意", as_="res_a")
    bot.say(f"核查 {number}", as_="lead_li", private=True)
    bot.say(f"结案 {number}", as_="lead_li", private=True)
    with bot.app.session() as s:
        figures = metrics.ticket_metrics(s, since=local_at(1, 0), until=clock.now())
    assert figures["closed"] == 1 and figures["on_time_closure_rate"] == 1.0   # the wait is not counted


def test_hold_until_a_day_resumes_by_itself(any_bot, clock):
    bot = any_bot
    number = report(bot)
    bot.say(f"受理 {number}", as_="mem_zhao", private=True)
    reply = bot.said(f"挂起 {number} 等物业公司换配件 到下周三", as_="mem_zhao", private=True)
    assert "11-11 08:30 自动恢复" in reply
    assert "预计 11-11 08:30 恢复办理" in outbox_to(bot, bot.chat("HY-01"))[-1]
    clock.set(local_at(11, 8, 0))
    assert sweep(bot)["resumed"] == []
    clock.set(local_at(11, 8, 31))
    result = sweep(bot)
    assert result["resumed"] == [number] and result["reminders"] == []
    assert any("工单恢复" in n and number in n for n in outbox_to(bot, "mem_zhao"))
    tk = ticket(bot, number)
    assert tk.held_since is None and tk.resolution_due > clock.now()
    page = bot.said(f"工单 {number}", as_="mem_zhao", private=True)
    assert "挂起（等待第三方）" in page and "恢复办理" in page


def test_hold_needs_a_reason(bot):
    number = report(bot)
    assert "请写明说明" in bot.said(f"挂起 {number}", as_="mem_zhao", private=True)
    assert ticket(bot, number).held_since is None


def test_hold_finds_what_the_member_may_act_on_and_nothing_else(bot):
    """挂起/恢复 see the tickets 受理 sees: a complaint about the member is not there for them (监督评议), a ticket
    transferred to them from another grid is."""
    complaint = number_in(bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_a"))
    assert "没有找到" in bot.said(f"挂起 {complaint} 等领导", as_="mem_zhao", private=True)
    assert "没有找到" in bot.said(f"恢复 {complaint}", as_="mem_zhao", private=True)
    assert ticket(bot, complaint).held_since is None
    number = report(bot)
    bot.say(f"转派 {number} @周网格员 属于第三网格", as_="mem_zhao", private=True)
    assert "已挂起" in bot.said(f"挂起 {number} 等物业公司", as_="mem_zhou", private=True)


def test_resuming_a_ticket_already_late_says_so_not_a_time_gone_by(bot, clock):
    number = report(bot)
    clock.advance(minutes=10)
    bot.say(f"受理 {number}", as_="mem_zhao", private=True)            # due Tuesday 09:10
    clock.set(local_at(3, 10, 0))                                      # an hour late when it is held
    bot.say(f"挂起 {number} 等物业公司", as_="mem_zhao", private=True)
    clock.set(local_at(4, 10, 0))
    reply = bot.said(f"恢复 {number}", as_="mem_zhao", private=True)
    late = shown(ticket(bot, number).resolution_due)                  # still before now: the wait moved it on
    assert f"请在 {late} 前办结" not in reply and f"已超过办理时限（{late}）" in reply


def test_console_shows_the_hold_and_offers_resume(bot):
    from tests.console_helpers import build_world

    world = build_world(bot)
    number = world.tickets["HY-01"]
    bot.say(f"挂起 {number} 等燃气公司 到下周三", as_="mem_zhao", private=True)
    page = world.client("secretary").get(f"/console/tickets/{number}").get_data(as_text=True)
    assert "挂起中" in page and "等燃气公司" in page and "自动恢复" in page
    assert "挂起（等待第三方）" in page                                   # the timeline's step name
    assert 'data-action="resume"' in page and 'data-action="hold"' not in page
