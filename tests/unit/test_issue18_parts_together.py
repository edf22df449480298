"""Issue 18 after the merge: how the parts work together (review V2). 转派 and complaints on the ticket clock, a
complaint never reaching its member through the morning digest, a held ticket's reason in the group, an urgent
word in a question, two problems of which one is urgent, a rating said privately. On a controlled clock."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gridbot.jobs import sweep_tickets
from gridbot.models import Member, OutboxMessage, Ticket
from gridbot.services import digest as digest_svc
from tests.factories import Bot
from tests.unit.test_tickets import number_in, outbox_to, report, ticket

FRIDAY_2230 = datetime(2026, 11, 6, 14, 30, tzinfo=UTC)        # Friday 22:30 in Asia/Shanghai
SATURDAY_0730 = datetime(2026, 11, 6, 23, 30, tzinfo=UTC)      # the next morning, quiet hours over


@pytest.fixture
def both(make_app, db_url):
    bot = Bot(make_app(db_url))
    bot.seed()
    return bot


def _numbers(bot) -> list[str]:
    with bot.app.session() as s:
        return list(s.scalars(select(Ticket.number).order_by(Ticket.id)))


# -- complaints (8) on the working clock, and never in the digest of the member they are about ---------------------
def test_a_complaint_at_night_is_not_overdue_before_the_office_opens(both, clock):
    bot = both
    clock.set(FRIDAY_2230)
    number = number_in(bot.said("李网格长办事推诿，找了几次都不理人", as_="res_a"))
    clock.set(SATURDAY_0730)
    sweep_tickets(app=bot.app)
    told = [n for n in outbox_to(bot, "sec_wang") if number in n]
    assert len(told) == 1, told            # the complaint itself; no reminder on a Saturday morning
    tk = ticket(bot, number)
    assert tk.response_due.replace(tzinfo=UTC) > SATURDAY_0730 + timedelta(days=2)   # Monday, in working time


def test_the_morning_digest_of_the_leader_a_complaint_is_about_does_not_show_it(both, clock):
    bot = both
    number = number_in(bot.said("李网格长办事推诿，找了几次都不理人", as_="res_a"))
    assert ticket(bot, number).concealed
    normal = report(bot, "1栋2单元楼道灯坏了")
    day = (clock.now() + timedelta(days=1)).astimezone(bot.app.settings.tz).date()
    with bot.app.session() as s:
        leader_id = s.scalar(select(Member.id).where(Member.userid == "lead_li"))
        community_id = s.scalar(select(Member.community_id).where(Member.userid == "lead_li"))
        sent = digest_svc.build_all(s, day, bot.app.settings.tz, "http://console")
        mine = [d for d, readers in sent if "lead_li" in readers]
        secretary = [d for d, readers in sent if "sec_wang" in readers]
        assert mine and secretary
        assert all(number not in str(d) for d in mine) and any(normal in str(d) for d in mine)
        assert any(number in str(d) for d in secretary)
        # the console's 简报 page for the leader: the same
        seen = digest_svc.build_for_reader(s, community_id=community_id, grid_ids=[ticket(bot, number).grid_id],
                                           scope_grid_ids=[ticket(bot, number).grid_id], whole_community=False,
                                           day=day, tz=bot.app.settings.tz, console_base_url="http://console",
                                           viewer_id=leader_id)
        assert number not in str(seen) and normal in str(seen)


# -- 7. 转派 on the ticket clock ----------------------------------------------------------------------------------
def test_a_ticket_transferred_at_night_is_not_handed_over_before_the_office_opens(both, clock):
    bot = both
    clock.set(FRIDAY_2230)
    number = report(bot, "1栋2单元楼道灯坏了")
    bot.say(f"转派 {number} @周网格员 属于第三网格", as_="mem_zhao", private=True)
    clock.set(SATURDAY_0730)
    sweep_tickets(app=bot.app)
    tk = ticket(bot, number)
    assert tk.assignee.userid == "mem_zhou"
    assert not [ev for ev in tk.events if ev.action == "handover"]


# -- 5 x 13: a held ticket's reason reaches the group with the building only --------------------------------------
def test_a_held_tickets_reason_shows_the_group_the_building_only(both):
    bot = both
    number = report(bot, "3栋1单元302家里燃气软管老化了")
    bot.say(f"受理 {number}", as_="mem_sun", private=True)
    bot.say(f"挂起 {number} 等燃气公司上门更换3栋1单元302的软管", as_="mem_sun", private=True)
    told = outbox_to(bot, bot.chat("HY-01"))[-1]
    assert "燃气公司" in told and "302" not in told
    assert any("302" in (ev.note or "") for ev in ticket(bot, number).events if ev.action == "hold")


# -- 12: an urgent word in a question the answers cover --------------------------------------------------------------
def test_a_question_with_an_urgent_word_is_ticketed_not_answered(bot):
    before = len(_numbers(bot))
    text = bot.said("社区几点上班？3栋楼道里煤气味很重", as_="res_a")
    assert len(_numbers(bot)) == before + 1, text
    assert ticket(bot, _numbers(bot)[-1]).urgency == "urgent"


# -- 10: two problems, one of them urgent ------------------------------------------------------------------------
def test_two_problems_one_urgent_each_keeps_its_urgency_and_the_urgent_one_is_not_held(both, clock):
    bot = both
    clock.set(datetime(2026, 11, 4, 18, 0, tzinfo=UTC))          # Thursday 02:00
    text = bot.said("反映两个事 一是2栋旁边垃圾桶满了好几天没人倒 二是3栋楼道里煤气味很重", as_="res_a")
    numbers = _numbers(bot)[-2:]
    kinds = {ticket(bot, n).category: ticket(bot, n).urgency for n in numbers}
    assert sorted(kinds.values()) == ["normal", "urgent"], (text, kinds)
    urgent = next(n for n in numbers if ticket(bot, n).urgency == "urgent")
    assert "119" in text or "110" in text or "120" in text
    with bot.app.session() as s:
        held = {r.content["text"]: r.not_before for r in s.scalars(select(OutboxMessage)
                                                                       .where(OutboxMessage.target
                                                                              == ticket(bot, urgent).assignee.userid))}
    assert any(urgent in k and v is None for k, v in held.items()), held
    # the ack says truthfully what happens next to each: the urgent one now, the normal one in the morning
    assert f"{urgent}：" in text and "5 分钟内响应" in text and "明早 07:00" in text, text
    assert "1 小时内响应" not in text, text


def test_the_member_a_complaint_is_about_cannot_hold_or_resume_it(both):
    bot = both
    number = number_in(bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_a"))
    assert "没有找到" in bot.said(f"挂起 {number} 等居民回来再说", as_="mem_zhao", private=True)
    assert ticket(bot, number).held_since is None
    assert "网格长或书记" in bot.said(f"挂起 {number} 等居民回来再说", as_="mem_qian", private=True)
    assert "已挂起" in bot.said(f"挂起 {number} 等居民出差回来当面沟通", as_="lead_li", private=True)
    assert "没有找到" in bot.said(f"恢复 {number}", as_="mem_zhao", private=True)
    assert ticket(bot, number).held_since is not None


# -- 12 x 10: a question and a problem in one message: the answer, and a ticket for the problem -------------------
@pytest.mark.parametrize("text, building", [
    ("请问社区几点上班？另外3栋楼道灯坏了好几天了", "3"),
    ("办居住证要带什么？还有2栋垃圾桶满了好几天没人倒", "2"),
])
def test_a_question_with_a_problem_is_answered_and_the_problem_ticketed(bot, text, building):
    before = len(_numbers(bot))
    said = bot.said(text, as_="res_a")
    assert "咨询电话" in said                                   # the answer
    assert len(_numbers(bot)) == before + 1, said                 # and the problem is not lost
    tk = ticket(bot, _numbers(bot)[-1])
    assert tk.building == building and tk.category != "consultation" and tk.number in said


@pytest.mark.parametrize("text", ["社区几点上班？", "老年证在哪办？我妈80了", "我想问下开证明要带什么，我家住3栋"])
def test_a_question_alone_is_still_only_answered(bot, text):
    before = len(_numbers(bot))
    bot.say(text, as_="res_a")
    assert len(_numbers(bot)) == before


# -- 7 x 6: 转派/派遣 to a member on leave or marked 在岗=否 would leave the ticket with nobody ----
def test_a_ticket_is_not_transferred_or_dispatched_to_a_member_on_leave(both):
    bot = both
    number = report(bot, "1栋2单元楼道灯坏了")
    assert ticket(bot, number).assignee.userid == "mem_zhao"
    bot.say(f"受理 {number}", as_="mem_zhao", private=True)
    bot.say("请假 到下周三 培训", as_="mem_zhao", private=True)
    assert ticket(bot, number).assignee.userid == "mem_qian"          # the leave handed it over
    said = bot.said(f"转派 {number} @赵网格员", as_="lead_li", private=True)
    assert "不在岗" in said and "钱" in said, said
    assert ticket(bot, number).assignee.userid == "mem_qian"
    other = report(bot, "1栋3单元楼道灯坏了")
    said = bot.said(f"派遣 {other} @赵网格员", as_="lead_li", private=True)
    assert "不在岗" in said, said
    assert ticket(bot, other).assignee.userid != "mem_zhao"
    with bot.app.session() as s:                                       # 在岗=否: the same
        s.scalar(select(Member).where(Member.userid == "mem_zhou")).on_duty = False
        s.commit()
    assert "不在岗" in bot.said(f"转派 {number} @周网格员", as_="lead_li", private=True)


def test_two_problems_both_already_reported_join_their_tickets(bot):
    lamp = report(bot, "1栋门口路灯不亮", as_="res_b")
    bins = report(bot, "2栋旁边垃圾桶满了好几天没人倒", as_="res_b")
    said = bot.said("反映两个事 一是1栋门口路灯不亮 二是2栋旁边垃圾桶满了好几天没人倒", as_="res_a")
    assert lamp in said and bins in said, said
    assert ticket(bot, lamp).reporters == 2 and ticket(bot, bins).reporters == 2


# -- 7: after 转派 to another grid, the neighbours and the reporter still reach the same ticket ----------------------
def test_a_ticket_transferred_to_another_grid_still_joins_the_same_report_from_the_first_grid(both):
    bot = both
    number = report(bot, "1栋2单元楼道灯坏了")
    bot.say(f"转派 {number} @周网格员 属于第三网格", as_="mem_zhao", private=True)
    said = bot.said("1栋2单元楼道灯也坏了，晚上黑乎乎的", as_="res_b")
    assert number in said, said
    assert ticket(bot, number).reporters == 2 and len(_numbers(bot)) == 1


def test_a_complaint_at_night_says_when_the_leader_sees_it(both, clock):
    bot = both
    clock.set(FRIDAY_2230)
    said = bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_a")
    assert "07:00" in said, said
    clock.set(datetime(2026, 11, 6, 3, 0, tzinfo=UTC))            # Friday 11:00: no such note
    assert "07:00" not in bot.said("李网格长办事推诿，找了几次都不理人", as_="res_b")


def test_the_console_export_leaves_out_a_complaint_about_the_member_exporting(bot):
    from tests.console_helpers import build_world

    world = build_world(bot)
    number = number_in(bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_b"))
    mine = world.client("member").get("/console/export/tickets.csv")
    assert mine.status_code == 200 and number not in mine.get_data(as_text=True)
    assert number in world.client("leader").get("/console/export/tickets.csv").get_data(as_text=True)
