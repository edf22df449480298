"""Time limits with a controllable clock: A/B handover, reminders, escalation up the ladder, expired ratings."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from gridbot.jobs import sweep_tickets
from gridbot.models import Member
from gridbot.models.work import Leave

from .test_tickets import number_in, outbox_to, report, ticket


def sweep(bot):
    return sweep_tickets(app=bot.app)


def test_unaccepted_ticket_goes_to_the_ab_partner(bot, clock):
    number = report(bot)
    assert ticket(bot, number).assignee.userid == "mem_zhao"
    clock.advance(minutes=29)
    assert sweep(bot)["handovers"] == []
    clock.advance(minutes=2)
    assert sweep(bot)["handovers"] == [number]
    tk = ticket(bot, number)
    assert tk.assignee.userid == "mem_qian"
    assert any("AB岗" in n and number in n for n in outbox_to(bot, "mem_qian"))
    assert any("钱网格员" in n for n in outbox_to(bot, "mem_zhao"))
    assert [e.action for e in tk.events][-1] == "handover"
    assert sweep(bot)["handovers"] == []            # idempotent


def test_accepted_ticket_is_not_handed_over(bot, clock):
    number = report(bot)
    bot.say(f"受理 {number}", as_="mem_zhao")
    clock.advance(minutes=45)
    assert sweep(bot)["handovers"] == []
    assert ticket(bot, number).assignee.userid == "mem_zhao"


def test_off_duty_member_partner_gets_the_ticket_at_once(bot):
    with bot.app.session() as s, s.begin():
        s.execute(update(Member).where(Member.userid == "mem_zhao").values(on_duty=False))
    number = report(bot)
    assert ticket(bot, number).assignee.userid == "mem_qian"
    assert outbox_to(bot, "mem_zhao") == []


def test_member_on_leave_partner_gets_the_ticket(bot, clock):
    with bot.app.session() as s, s.begin():
        zhao = s.scalar(select(Member).where(Member.userid == "mem_zhao"))
        s.add(Leave(member_id=zhao.id, partner_id=zhao.partner_id, starts_at=clock.now() - timedelta(hours=1),
                    ends_at=clock.now() + timedelta(days=1)))
    number = report(bot)
    assert ticket(bot, number).assignee.userid == "mem_qian"


def test_unaccepted_normal_ticket_climbs_the_normal_ladder_and_stops_at_the_secretary(bot, clock):
    """Issue 18 points 1 and 4: member (reminder) → A/B partner → grid leader → secretary, in working time, and no
    chief grid leader or responsible unit for a normal ticket. (Was: an accepted ticket climbed to 总网格长.)"""
    number = report(bot)                     # Monday 09:00; repair, normal: 60 working minutes, step 120
    clock.advance(minutes=31)
    assert sweep(bot)["handovers"] == [number]          # AB岗: 钱网格员 has it, due 10:01
    clock.advance(minutes=30)
    assert sweep(bot)["reminders"] == [number]
    assert any("超时提醒" in n and "响应时限" in n for n in outbox_to(bot, "mem_qian"))
    clock.advance(minutes=120)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 2}]      # the A/B partner
    assert any("A/B岗搭档" in n and number in n for n in outbox_to(bot, "mem_zhao"))
    clock.advance(minutes=120)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 3}]
    assert any("网格长" in n and number in n for n in outbox_to(bot, "lead_li"))
    clock.advance(minutes=120)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 4}]
    assert any("社区书记" in n for n in outbox_to(bot, "sec_wang"))
    clock.advance(days=3)
    assert sweep(bot)["escalations"] == []       # the top of the normal ladder
    assert not any("总网格长" in n or "物业服务企业" in n for n in outbox_to(bot, "sec_wang"))
    steps = [(e.action, e.detail.get("level")) for e in ticket(bot, number).events
             if e.action in ("remind", "escalate")]
    assert steps == [("remind", 1), ("escalate", 2), ("escalate", 3), ("escalate", 4)]
    assert "已升级到：社区书记" in bot.said(f"工单 {number}", as_="lead_li", private=True)


def test_a_late_sweep_goes_one_step_at_a_time_reminder_first(bot, clock):
    """QA on the demo: a ticket nobody had swept for a while jumped straight to the top of the ladder."""
    number = report(bot)
    bot.say(f"受理 {number}", as_="mem_zhao")      # Monday 09:00: resolve within 1 working day (Tuesday 09:00)
    clock.advance(days=1, minutes=2 * 120 + 1)
    result = sweep(bot)
    assert result["reminders"] == [number] and result["escalations"] == []
    assert sweep(bot)["escalations"] == []       # same time again: nothing new
    clock.advance(minutes=119)
    assert sweep(bot)["escalations"] == []       # not a whole step since the reminder
    clock.advance(minutes=1)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 2}]
    levels = [e.detail.get("level") for e in ticket(bot, number).events if e.action in ("remind", "escalate")]
    assert levels == [1, 2]


def test_unswept_urgent_ticket_is_handed_over_with_a_future_deadline_then_reminded(bot, clock):
    """QA on the demo: 65 minutes unaccepted went straight to 总网格长, and the handover asked the partner to
    accept 'before' a time already past."""
    from gridbot.clock import local

    number = number_in(bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a"))  # fire: accept in 5 min, handover 3
    clock.advance(minutes=65)
    result = sweep(bot)
    assert result["handovers"] == [number]
    assert result["reminders"] == [] and result["escalations"] == []
    note = next(n for n in outbox_to(bot, "mem_qian") if "AB岗" in n)
    due = local(clock.now() + timedelta(minutes=3), bot.app.settings.timezone).strftime("%m-%d %H:%M")
    assert f"请在 {due} 前受理" in note
    clock.advance(minutes=3)
    result = sweep(bot)
    assert result["reminders"] == [number] and result["escalations"] == []
    clock.advance(minutes=15)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 3}]     # urgent: straight to the leader
    assert not any("总网格长" in n for n in outbox_to(bot, "sec_wang"))


def test_resolution_limit_runs_from_dispatch(bot, clock):
    number = report(bot)
    clock.advance(minutes=20)
    bot.say(f"处置 {number}", as_="mem_zhao")      # dispatched to self: 24 h to resolve
    clock.advance(hours=23)
    result = sweep(bot)
    assert result["reminders"] == [] and result["escalations"] == []
    clock.advance(hours=1, minutes=21)
    assert sweep(bot)["reminders"] == [number]
    assert any("办理时限" in n for n in outbox_to(bot, "mem_zhao"))


def test_urgent_ticket_escalates_on_the_urgent_step(bot, clock):
    number = number_in(bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a"))  # fire_hazard urgent: 5 min, step 15
    clock.advance(minutes=6)
    assert sweep(bot)["handovers"] == [number]    # not accepted in 3 min: the partner gets 3 more
    clock.advance(minutes=3)
    result = sweep(bot)
    assert result["reminders"] == [number]
    clock.advance(minutes=15)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 3}]     # the urgent ladder skips the partner
    clock.advance(minutes=15)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 4}]
    clock.advance(minutes=15)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 5}]
    top = outbox_to(bot, "sec_wang")[-1]      # no chief grid leader in this community: the secretary hears
    assert "总网格长" in top and "消防救援站" in top


def test_unanswered_rating_counts_as_none_after_three_days(bot, clock):
    number = report(bot)
    bot.say(f"处置 {number}", as_="mem_zhao")
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    bot.say(f"核查 {number}", as_="lead_li")
    bot.say(f"结案 {number}", as_="lead_li")
    clock.advance(days=2, hours=23)
    assert sweep(bot)["ratings_expired"] == []
    clock.advance(hours=1, minutes=1)
    assert sweep(bot)["ratings_expired"] == [number]
    tk = ticket(bot, number)
    assert tk.rating == "none" and tk.status == "rated"
    assert "没有待评价" in bot.said("满意", as_="res_a")
    assert sweep(bot)["ratings_expired"] == []


def test_late_rating_before_the_sweep_is_still_refused(bot, clock):
    number = report(bot)
    bot.say(f"处置 {number}", as_="mem_zhao")
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    clock.advance(days=3, minutes=1)
    assert "没有待评价" in bot.said("满意", as_="res_a")
    assert ticket(bot, number).rating is None


def test_reopened_ticket_gets_a_fresh_resolution_limit(bot, clock):
    number = report(bot)
    bot.say(f"处置 {number}", as_="mem_zhao")
    clock.advance(hours=20)
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    bot.say("不满意 还是不亮", as_="res_a")
    clock.advance(hours=23)
    assert sweep(bot)["reminders"] == []            # 24 h from the reopening, not from the first dispatch
    tk = ticket(bot, number)
    assert tk.status == "in_progress" and tk.reopen_count == 1


def test_member_responsible_for_the_building_gets_it(bot):
    from gridbot.models import MemberGrid

    with bot.app.session() as s, s.begin():
        qian = s.scalar(select(Member).where(Member.userid == "mem_qian"))
        s.execute(update(MemberGrid).where(MemberGrid.member_id == qian.id).values(buildings="2"))
        s.add(Member(community_id=bot.world.community_id, name="楼栋长老胡", userid="bl_hu", roles=["building_leader"]))
        s.flush()
        hu = s.scalar(select(Member).where(Member.userid == "bl_hu"))
        s.add(MemberGrid(member_id=hu.id, grid_id=bot.world.grids["HY-01"], buildings="1,2"))
    assert ticket(bot, report(bot, "2栋1单元楼道灯坏了", as_="res_a")).assignee.userid == "mem_qian"
    assert ticket(bot, report(bot, "1栋1单元楼道灯坏了", as_="res_b")).assignee.userid == "mem_zhao"


def test_sweep_does_not_undo_a_manual_escalation(bot, clock):
    number = report(bot)
    bot.say(f"升级 {number} 需要物业配合", as_="mem_zhao")      # straight to the grid leader (level 3)
    clock.advance(minutes=61)
    result = sweep(bot)
    assert result["reminders"] == [] and result["escalations"] == []
    clock.advance(minutes=240)                   # the ladder's own grid-leader time: already there
    assert sweep(bot)["escalations"] == []
    clock.advance(minutes=120)
    assert sweep(bot)["escalations"] == [{"number": number, "level": 4}]
    steps = [(e.action, e.detail.get("level")) for e in ticket(bot, number).events
             if e.action in ("remind", "escalate")]
    assert steps == [("escalate", 3), ("escalate", 4)]
