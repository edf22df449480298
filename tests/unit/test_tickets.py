"""Tickets through the chat, as residents and members use them: report, acknowledge, walk the life cycle, rate.

The `bot` fixture's community: HY-01 (buildings 1, 2; mem_zhao with A/B partner mem_qian; leader lead_li),
HY-02 (building 3; mem_sun), HY-03 (building 5; mem_zhou); sec_wang is the secretary.
"""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from gridbot.models import AuditLog, OutboxMessage, Ticket, TicketEvent

NUMBER = re.compile(r"HY-\d{8}-\d{4}")


def number_in(text: str) -> str:
    m = NUMBER.search(text)
    assert m, f"no ticket number in {text!r}"
    return m.group(0)


def ticket(bot, number: str) -> Ticket:
    with bot.app.session() as s:
        tk = s.scalar(select(Ticket).where(Ticket.number == number)
                      .options(selectinload(Ticket.assignee), selectinload(Ticket.grid),
                               selectinload(Ticket.reporter_links), selectinload(Ticket.events)))
        assert tk is not None
        return tk


def count_tickets(bot) -> int:
    with bot.app.session() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


def outbox_to(bot, target: str) -> list[str]:
    """Texts written to one user or chat that were not answers to a message (notifications)."""
    with bot.app.session() as s:
        return [r.content["text"] for r in s.scalars(
            select(OutboxMessage).where(OutboxMessage.target == target, OutboxMessage.inbound_id.is_(None))
            .order_by(OutboxMessage.id))]


def report(bot, text: str = "1栋2单元楼道灯坏了好几天了", as_: str = "res_a", chat: str = "HY-01") -> str:
    return number_in(bot.said(text, as_=as_, chat=chat))


# -- acknowledgement ---------------------------------------------------------------------------------------
def test_request_is_acknowledged_with_number_category_building_and_next_step(bot):
    replies = bot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    assert len(replies) == 1
    text = replies[0]
    assert re.search(r"工单号 HY-20261102-0001", text)
    assert "物业维修" in text and "1栋" in text
    assert "网格员" in text and "1 小时内响应" in text


def test_group_acknowledgement_never_shows_phone_room_or_name(bot):
    text = bot.said("1栋1单元101家里厨房漏水，电话13812345678", as_="res_a", name="张三丰")
    assert "13812345678" not in text and "138****5678" not in text
    assert "张三丰" not in text
    assert "101" not in text.replace(number_in(text), "")
    tk = ticket(bot, number_in(text))
    assert tk.contact_phone == "13812345678"            # kept for the member, not shown in the group
    assert (tk.building, tk.unit, tk.room) == ("1", "1", "101")


def test_assigned_member_is_told_privately_with_the_contact(bot):
    number = report(bot, "1栋1单元101家里厨房漏水，电话13812345678")
    notes = outbox_to(bot, "mem_zhao")
    assert len(notes) == 1
    assert number in notes[0] and "1栋1单元101" in notes[0] and "13812345678" in notes[0]
    assert ticket(bot, number).assignee.userid == "mem_zhao"


def test_notice_without_a_number_has_no_empty_phone_line(bot):
    """QA on the demo: '联系电话：-' when the resident gave no number."""
    number = report(bot, "1栋2单元楼道灯坏了")
    bot.say(f"派遣 {number} @钱网格员", as_="mem_zhao")
    notes = outbox_to(bot, "mem_zhao") + outbox_to(bot, "mem_qian")
    assert len(notes) >= 2 and all(number in n for n in notes)
    assert not any("联系电话" in n for n in notes)


def test_ticket_command_examples_use_the_short_number(bot):
    """QA: 受理's example used a full number while every other ticket command shows the short one ('3')."""
    from gridbot.texts import t

    commands = [c for c in bot.app.router.commands if c.group == "tickets" and c.roles is not None]
    assert len(commands) >= 10
    for command in commands:
        example = t(f"commands.{command.name}.example")
        assert "HY-" not in example, (command.name, example)
    assert t("commands.受理.example") == "受理 3"


def test_chatter_creates_nothing(bot):
    for text in ("大家好", "收到", "谢谢网格员", "明天团购苹果，要的接龙", "楼道灯修好了吗"):
        bot.say(text, as_="res_a")
    assert count_tickets(bot) == 0


def test_members_announcements_create_nothing(bot):
    bot.say("1栋2单元楼道灯明天上午停电检修", as_="mem_zhao")
    assert count_tickets(bot) == 0


def test_unmentioned_normal_request_is_left_alone_but_urgent_is_taken(bot):
    bot.send("1栋2单元楼道灯坏了", as_="res_a")  # mentioned (default) -> ticket
    from gridbot.messages import Inbound
    from gridbot.pipeline.process import handle_now

    quiet = Inbound(platform="console", sender_id="res_b", text="2栋楼道灯坏了", chat_id=bot.chat("HY-01"),
                    msg_id="q1", mentioned=False)
    assert handle_now(bot.app, quiet) == []
    urgent = Inbound(platform="console", sender_id="res_c", text="1栋楼道里冒烟了，有煤气味", chat_id=bot.chat("HY-01"),
                     msg_id="q2", mentioned=False)
    assert "工单号" in handle_now(bot.app, urgent)[0].text
    assert count_tickets(bot) == 2


def test_building_of_another_grid_goes_to_that_grid(bot):
    text = bot.said("3栋2单元楼道灯坏了", as_="res_a", chat="HY-01")
    assert "已转交第二网格网格员" in text
    tk = ticket(bot, number_in(text))
    assert tk.grid.code == "HY-02" and tk.assignee.userid == "mem_sun"


# -- follow-ups and duplicates -----------------------------------------------------------------------------
def test_follow_up_from_same_resident_joins_the_open_ticket(bot):
    number = report(bot, "1栋1单元101家里厨房漏水")
    text = bot.said("还是漏水，越来越大了", as_="res_a")
    assert number in text and "补充" in text
    assert count_tickets(bot) == 1
    tk = ticket(bot, number)
    assert [e.action for e in tk.events].count("follow_up") == 1
    assert any("越来越大" in n for n in outbox_to(bot, "mem_zhao"))


def test_a_thank_you_after_a_report_is_no_follow_up_and_another_problem_is_not_added(bot):
    number = report(bot, "1栋1单元101家里厨房漏水")
    bot.said("好的 谢谢", as_="res_a")
    bot.said("楼下的狗天天叫", as_="res_a")            # not the leak: no problem word in common
    tk = ticket(bot, number)
    assert [e.action for e in tk.events].count("follow_up") == 0


def test_same_thing_from_several_residents_is_one_ticket_counting_reporters(bot):
    number = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    second = bot.said("1栋2单元的楼道灯也不亮", as_="res_b")
    third = bot.said("1栋2单元楼道灯不亮，晚上黑乎乎的", as_="res_c")
    assert number in second and number in third
    assert "共 3 位居民反映" in third
    assert count_tickets(bot) == 1
    tk = ticket(bot, number)
    assert tk.reporters == 3 and {r.user_id for r in tk.reporter_links} == {"res_a", "res_b", "res_c"}


def test_same_category_in_another_building_is_a_new_ticket(bot):
    first = report(bot, "1栋2单元楼道灯坏了", as_="res_a")
    second = report(bot, "2栋1单元楼道灯坏了", as_="res_b")
    assert first != second


def test_everyone_who_reported_is_told_when_it_is_solved(bot):
    number = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    bot.say("1栋2单元的楼道灯也不亮", as_="res_b")
    bot.say(f"处置 {number}", as_="mem_zhao")
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    with bot.app.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.target == bot.chat("HY-01"),
                                                   OutboxMessage.inbound_id.is_(None),
                                                   OutboxMessage.content["text"].as_string().contains("已处理")))
    assert row is not None
    assert set(row.content["mentions"]) == {"res_a", "res_b"}
    assert "已更换灯泡" in row.content["text"] and "满意" in row.content["text"]


def test_member_can_mark_a_duplicate_and_its_reporters_join(bot):
    first = report(bot, "1栋2单元楼道灯坏了", as_="res_a")
    other = report(bot, "小区门口路灯坏了，黑漆漆的", as_="res_b")
    text = bot.said(f"重复 {other} {first}", as_="mem_zhao")
    assert first in text
    assert ticket(bot, other).status == "duplicate"
    assert ticket(bot, first).reporters == 2


# -- the life cycle ---------------------------------------------------------------------------------------------
def test_whole_life_cycle_through_chat_records_every_transition(bot):
    number = report(bot)
    assert "已立案" in bot.said(f"受理 {number}", as_="mem_zhao")
    assert "已派遣给 钱网格员" in bot.said(f"派遣 {number} @钱网格员", as_="mem_zhao")
    assert any(number in n for n in outbox_to(bot, "mem_qian"))
    assert "处置中" in bot.said(f"处置 {number}", as_="mem_qian")
    assert "已反馈" in bot.said(f"反馈 {number} 已更换灯泡", as_="mem_qian")
    assert "满意" in bot.said("满意", as_="res_a")
    assert "核查通过" in bot.said(f"核查 {number}", as_="lead_li")
    assert "已结案" in bot.said(f"结案 {number}", as_="lead_li")
    tk = ticket(bot, number)
    assert tk.status == "rated" and tk.rating == "satisfied"
    transitions = [(e.from_status, e.to_status) for e in tk.events if e.from_status != e.to_status]
    assert transitions == [(None, "reported"), ("reported", "accepted"), ("accepted", "dispatched"),
                           ("dispatched", "in_progress"), ("in_progress", "resolved"), ("resolved", "verified"),
                           ("verified", "closed"), ("closed", "rated")]
    actors = {e.action: e.actor for e in tk.events}
    assert actors["accept"] == "member:mem_zhao" and actors["rate"] == "resident:res_a"
    with bot.app.session() as s:
        audited = s.scalars(select(AuditLog.action).where(AuditLog.entity_type == "ticket",
                                                         AuditLog.entity_id == number)).all()
    assert {"ticket.accept", "ticket.dispatch", "ticket.resolve", "ticket.close", "ticket.rate"} <= set(audited)


def test_member_command_in_a_group_shows_residents_only_the_status_change(bot):
    """QA on the demo: 受理 in the residents' group posted '已立案…下一步：派遣…' for everyone to read."""
    number = report(bot, as_="res_a")
    group = bot.chat("HY-01")
    replies = bot.send(f"受理 {number}", as_="mem_zhao")
    assert all("下一步" not in r.text for r in replies if r.to_chat == group)
    assert any("下一步" in r.text for r in replies if r.to_user == "mem_zhao")
    told = [r for r in outbox_to(bot, group) if number in r]
    assert told and "受理" in told[-1] and "下一步" not in told[-1] and "派遣" not in told[-1]
    with bot.app.session() as s:
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.target == group,
                                                    OutboxMessage.inbound_id.is_(None))
                        .order_by(OutboxMessage.id.desc())).first()
    assert "res_a" in (row.content.get("mentions") or [])
    for command in (f"处置 {number}", f"办结 {number} 已更换灯泡"):
        replies = bot.send(command, as_="mem_zhao")
        assert all("下一步" not in r.text and "办结" not in r.text for r in replies if r.to_chat == group)
    # in a 1:1 chat the member gets the hints as the answer
    other = report(bot, "2栋1单元楼道灯坏了", as_="res_b")
    assert "下一步" in bot.said(f"受理 {other}", as_="mem_zhao", private=True)


def test_short_number_finds_the_ticket(bot):
    number = report(bot)
    assert number in bot.said("受理 1", as_="mem_zhao")


def test_illegal_transition_is_refused_with_a_clear_reply(bot):
    number = report(bot)
    text = bot.said(f"结案 {number}", as_="mem_zhao")
    assert "不能“结案”" in text and "已上报" in text and "受理" in text
    assert ticket(bot, number).status == "reported"


def test_refusal_names_every_command_that_works_and_each_one_does(bot):
    """QA on the demo: 办结 right after 受理 listed '派遣、不予立案、重复' though 处置 works there too."""
    number = report(bot)
    bot.say(f"受理 {number}", as_="mem_zhao")
    text = bot.said(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    hint = text.split("下一步可以：")[1]
    assert {"处置", "派遣", "不予立案", "重复"} <= set(hint.rstrip("。").split("、"))
    assert "处置中" in bot.said(f"处置 {number}", as_="mem_zhao")


def test_next_steps_agree_with_the_transition_table():
    from types import SimpleNamespace

    from gridbot.services.tickets import COMMAND_FOR, TRANSITIONS, next_steps, path_to

    for status in TRANSITIONS:
        hints = next_steps(SimpleNamespace(status=status)).split("、")
        for to, command in COMMAND_FOR.items():
            if path_to(status, to) is not None and not (to == "in_progress" and status in ("resolved", "verified",
                                                                                             "closed", "rated")):
                assert command in hints, (status, command)
    assert "处置" in next_steps(SimpleNamespace(status="reported"))
    assert "办结" not in next_steps(SimpleNamespace(status="accepted"))


def test_refusal_in_a_group_goes_to_the_member_privately(bot):
    number = report(bot)
    replies = bot.send(f"结案 {number}", as_="mem_zhao")
    assert not [r for r in replies if r.to_chat == bot.chat("HY-01")]
    assert any("下一步可以" in r.text for r in replies if r.to_user == "mem_zhao")


def test_resolving_needs_a_note(bot):
    number = report(bot)
    bot.say(f"处置 {number}", as_="mem_zhao")
    assert "请写明说明" in bot.said(f"办结 {number}", as_="mem_zhao")
    assert ticket(bot, number).status == "in_progress"


def test_resident_cannot_run_member_commands(bot):
    number = report(bot)
    text = bot.said(f"受理 {number}", as_="res_a")
    assert "网格员使用的功能" in text
    assert ticket(bot, number).status == "reported"


def test_member_of_another_grid_cannot_touch_the_ticket(bot):
    number = report(bot)
    assert "没有找到工单" in bot.said(f"受理 {number}", as_="mem_zhou")


def test_rejection_tells_the_resident_why(bot):
    number = report(bot, "怎么申请公租房")      # issue 18: 居住证 is answered from config/answers.yaml now
    assert "不予立案" in bot.said(f"不予立案 {number} 请到派出所户籍窗口办理", as_="mem_zhao")
    assert any("户籍窗口" in n for n in outbox_to(bot, bot.chat("HY-01")))
    assert ticket(bot, number).status == "rejected"


def test_transfer_hands_over_and_tells_the_new_member(bot):
    number = report(bot)
    assert "孙网格员" in bot.said(f"转派 {number} @孙网格员 这栋归第二网格", as_="lead_li")
    assert ticket(bot, number).assignee.userid == "mem_sun"
    assert any("这栋归第二网格" in n for n in outbox_to(bot, "mem_sun"))


def test_manual_escalation_tells_the_grid_leader_then_the_secretary(bot):
    number = report(bot)
    assert "网格长" in bot.said(f"升级 {number} 需要物业配合", as_="mem_zhao")
    assert any("需要物业配合" in n for n in outbox_to(bot, "lead_li"))
    assert "社区书记" in bot.said(f"升级 {number}", as_="mem_zhao")
    assert any(number in n for n in outbox_to(bot, "sec_wang"))


def test_escalation_reason_keeps_its_punctuation(bot):
    """QA on the demo: '需要物业公司配合，物业不理' was recorded as '需要物业公司配合 物业不理'."""
    number = report(bot)
    bot.say(f"升级 {number} 需要物业公司配合，物业不理", as_="mem_zhao")
    notes = [e.note for e in ticket(bot, number).events if e.action == "escalate"]
    assert notes[-1] == "需要物业公司配合，物业不理"
    assert any("需要物业公司配合，物业不理" in n for n in outbox_to(bot, "lead_li"))
    other = report(bot, "2栋1单元楼道灯坏了", as_="res_b")
    bot.say(f"不予立案 {other}，属于市政，已告知拨打12345", as_="mem_zhao")
    assert [e.note for e in ticket(bot, other).events if e.action == "reject"] == ["属于市政，已告知拨打12345"]


def test_unknown_ticket_is_echoed_as_typed(bot):
    """QA on the demo: '工单 @res_li' answered '没有找到工单“@RES_LI”'."""
    text = bot.said("工单 @res_li", as_="mem_zhao", private=True)
    assert "“@res_li”" in text and "RES_LI" not in text
    assert "“hy-20261102-0099”" in bot.said("受理 hy-20261102-0099", as_="mem_zhao")


def test_transfer_note_after_a_comma_is_kept(bot):
    number = report(bot)
    assert "孙网格员" in bot.said(f"转派 {number} @孙网格员，这栋归第二网格，请接手", as_="lead_li")
    tk = ticket(bot, number)
    assert tk.assignee.userid == "mem_sun"
    assert [e.note for e in tk.events if e.action == "transfer"] == ["这栋归第二网格，请接手"]


def test_dispatch_and_duplicate_accept_a_comma_after_the_name_or_number(bot):
    number = report(bot)
    assert "已派遣给 钱网格员" in bot.said(f"派遣 {number}，@钱网格员，尽快", as_="mem_zhao")
    other = report(bot, "2栋1单元楼道灯坏了", as_="res_b")
    again = report(bot, "2栋2单元楼道灯也坏了", as_="res_c")
    assert "已并入" in bot.said(f"重复 {again}，{other}，同一条线路", as_="mem_zhao")


def test_ticket_detail_shows_timeline_and_phone_only_in_private(bot):
    number = report(bot, "1栋1单元101家里厨房漏水，电话13812345678")
    private = bot.said(f"工单 {number}", as_="mem_zhao", private=True)
    assert "13812345678" in private and "上报" in private
    in_group = bot.said(f"工单 {number}", as_="mem_zhao")
    assert "13812345678" not in in_group and "101" not in in_group.replace(number, "")


def test_todo_asked_in_a_group_goes_privately(bot):
    """QA on the demo: 待办 in the residents' group listed '1栋1单元101'."""
    number = report(bot, "1栋1单元101家里厨房漏水")
    replies = bot.send("待办", as_="mem_zhao")
    in_group = [r.text for r in replies if r.to_chat == bot.chat("HY-01")]
    private = [r.text for r in replies if r.to_user == "mem_zhao"]
    assert in_group and all("101" not in x and number not in x for x in in_group)
    assert "私信" in in_group[0]
    assert private and number in private[0] and "1栋1单元101" in private[0]


def test_todo_lists_assigned_tickets(bot):
    number = report(bot)
    assert number in bot.said("待办", as_="mem_zhao", private=True)
    assert "没有待办" in bot.said("待办", as_="mem_sun", private=True)


# -- ratings ---------------------------------------------------------------------------------------------------
def _resolved(bot) -> str:
    number = report(bot)
    bot.say(f"处置 {number}", as_="mem_zhao")
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    return number


def test_dissatisfied_rating_reopens_the_ticket(bot):
    number = _resolved(bot)
    text = bot.said("不满意，灯还是一闪一闪的", as_="res_a")
    assert "重新打开" in text
    tk = ticket(bot, number)
    assert tk.status == "in_progress" and tk.reopen_count == 1
    assert any("一闪一闪" in n for n in outbox_to(bot, "mem_zhao"))


def test_rating_works_in_a_private_chat(bot):
    number = _resolved(bot)
    assert "基本满意" in bot.said("基本满意", as_="res_a", private=True)
    assert ticket(bot, number).rating == "basic"


def test_rating_word_without_a_pending_ticket_gets_a_polite_answer(bot):
    assert "没有待评价" in bot.said("满意", as_="res_z")
    assert count_tickets(bot) == 0


def test_my_tickets_lists_status(bot):
    number = report(bot)
    text = bot.said("我的工单", as_="res_a")
    assert number in text and "已上报" in text
    assert "还没有提交" in bot.said("我的工单", as_="res_b")


def test_resident_saying_fankui_is_a_request_not_a_refusal(bot):
    text = bot.said("反馈：2栋1单元楼道灯坏了", as_="res_a")
    assert "工单号" in text


# -- urgent ------------------------------------------------------------------------------------------------------
def test_urgent_request_alerts_leaders_members_and_neighbour_grids_and_asks_to_call(bot):
    text = bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a")
    assert "119" in text and "紧急" in text
    number = number_in(text)
    assert any(number in n for n in outbox_to(bot, "mem_zhao"))     # the assignee
    assert any(number in n for n in outbox_to(bot, "lead_li"))      # the grid leader
    assert any(number in n for n in outbox_to(bot, "mem_qian"))     # the other on-duty member
    # issue 18: the neighbouring grid's members hear privately; nothing goes into the residents' groups
    neighbour = outbox_to(bot, "mem_sun")
    assert len(neighbour) == 1 and "协助" in neighbour[0] and "1栋" in neighbour[0]
    assert outbox_to(bot, bot.chat("HY-02")) == [] and outbox_to(bot, bot.chat("HY-01")) == []
    assert outbox_to(bot, "mem_zhou") == []                          # HY-03 is not a neighbour of HY-01
    with bot.app.session() as s:
        urgent_rows = s.scalars(select(OutboxMessage.urgent).where(OutboxMessage.inbound_id.is_(None))).all()
    assert urgent_rows and all(urgent_rows)


def test_follow_up_that_turns_urgent_raises_the_alarm(bot):
    number = report(bot, "1栋2单元101家里漏水")
    text = bot.said("1栋2单元101 家里漏水，水已经漫到楼下了", as_="res_a")
    assert number in text and "紧急" in text
    assert ticket(bot, number).urgency == "urgent"
    assert any(number in n for n in outbox_to(bot, "mem_sun"))      # the neighbouring grid, privately (issue 18)


def test_ticket_keeps_the_residents_text_as_written(bot):
    """QA on the demo: the stored text read '…了,晚上…' (NFKC); the member should read what the resident wrote."""
    written = "1栋2单元楼道灯坏了，晚上黑乎乎的（老人怕摔）"
    number = report(bot, written)
    tk = ticket(bot, number)
    assert tk.description == written
    assert tk.reporter_links[0].text == written
    follow = "１栋２单元楼道灯还是不亮，物业说没配件"
    bot.say(follow, as_="res_a")
    assert any(e.note == follow for e in ticket(bot, number).events if e.action == "follow_up")
    assert follow in bot.said(f"工单 {number}", as_="mem_zhao", private=True)


def test_summary_is_cut_from_the_text_as_written():
    from gridbot.services.tickets import as_written

    assert as_written("灯坏了，晚上 很黑（老人）", "灯坏了,晚上 很黑(老人)") == "灯坏了，晚上 很黑（老人）"
    assert as_written("２栋  电梯坏了，困人", "2栋 电梯坏了") == "２栋  电梯坏了"
    assert as_written("abc", "xyz") == "xyz"


def test_every_event_is_in_the_timeline(bot):
    number = report(bot)
    with bot.app.session() as s:
        actions = s.scalars(select(TicketEvent.action).join(Ticket).where(Ticket.number == number)
                            .order_by(TicketEvent.id)).all()
    assert actions == ["report", "assign"]


def test_a_new_problem_from_the_same_resident_is_a_new_ticket_not_a_follow_up(bot):
    """QA on the demo: a burst main was recorded as 居民补充 on the resident's corridor-light ticket."""
    light = report(bot, "1栋1单元楼道灯坏了", as_="res_a")
    text = bot.said("自来水管爆了，整个小区停水", as_="res_a")
    water = number_in(text)
    assert water != light and "补充" not in text
    assert ticket(bot, light).urgency == "normal"
    assert "follow_up" not in [e.action for e in ticket(bot, light).events]
    assert ticket(bot, water).urgency == "urgent"
    # more about the light is still a follow-up on the light ticket
    assert number_in(bot.said("1栋1单元楼道灯还是不亮", as_="res_a")) == light
    assert [e.action for e in ticket(bot, light).events].count("follow_up") == 1


def test_different_problems_in_one_building_are_separate_tickets(bot):
    """QA on the demo: a lift, a flat's water pipe and a corridor light in building 2 became one urgent ticket."""
    lift = report(bot, "2栋电梯又坏了，困了人", as_="res_a")
    pipe = report(bot, "2栋3单元402家里水管漏水了", as_="res_b")
    light = report(bot, "2栋1单元楼道灯不亮", as_="res_c")
    assert len({lift, pipe, light}) == 3
    assert count_tickets(bot) == 3
    assert ticket(bot, pipe).urgency == "normal" and ticket(bot, light).urgency == "normal"
    assert ticket(bot, lift).reporters == 1
    # a neighbour reporting the same lift still joins it
    assert number_in(bot.said("2栋电梯坏了，一直停在5楼", as_="res_d")) == lift
    assert ticket(bot, lift).reporters == 2


def test_two_flats_with_the_same_kind_of_problem_are_two_tickets(bot):
    first = report(bot, "1栋1单元101家里厨房漏水", as_="res_a")
    second = report(bot, "1栋1单元102家里厨房漏水", as_="res_b")
    assert first != second


# -- 1:1 -------------------------------------------------------------------------------------------------------
def _bind(bot, user_id: str, building: str, unit: str, room: str) -> None:
    from gridbot.services.roster import bind_resident

    with bot.app.session() as s, s.begin():
        bind_resident(s, "console", user_id, "王阿姨", "HY-01", building, unit, room, actor="test",
                      now=bot.app.clock.now())


def test_private_request_from_a_bound_resident_goes_to_their_grid_with_their_flat(bot):
    _bind(bot, "res_home", "2", "1", "102")
    text = bot.said("家里厨房水管漏水了", as_="res_home", private=True)
    tk = ticket(bot, number_in(text))
    assert tk.grid.code == "HY-01" and (tk.building, tk.unit, tk.room) == ("2", "1", "102")
    assert "2栋1单元102" in text          # a private answer may name the flat
    assert tk.household_id is not None


def test_private_request_is_told_progress_comes_privately(bot):
    """QA on the demo: a 1:1 report was told '处理进展会在群里告诉您', but no group is involved."""
    _bind(bot, "res_home", "2", "1", "102")
    text = bot.said("家里厨房水管漏水了", as_="res_home", private=True)
    assert "在群里" not in text and "私信" in text
    number = number_in(text)
    bot.say(f"受理 {number}", as_="mem_zhao")
    assert any(number in n for n in outbox_to(bot, "res_home"))     # and it does come privately
    assert "在群里" in bot.said("1栋2单元楼道灯坏了", as_="res_a")   # a group report: in the group


def test_private_request_from_an_unknown_person_asks_where_they_live(bot):
    text = bot.said("1栋2单元楼道灯坏了", as_="stranger", private=True)
    assert "登记" in text
    assert count_tickets(bot) == 0


# -- 上报: a member's report from patrol ------------------------------------------------------------------------
def test_member_reports_what_they_saw_on_patrol(bot):
    text = bot.said("上报 3栋门口垃圾堆积，没人清运", as_="mem_zhao")
    number = number_in(text)
    tk = ticket(bot, number)
    assert tk.category == "sanitation" and tk.building == "3"
    assert tk.grid.code == "HY-02" and tk.assignee.userid == "mem_sun"     # the normal rules: building 3's member
    assert tk.reporter_id == "mem_zhao" and tk.description == "3栋门口垃圾堆积，没人清运"
    assert tk.events[0].actor == "member:mem_zhao"
    assert "孙网格员" in text
    assert any(number in n for n in outbox_to(bot, "mem_sun"))


def test_member_report_without_a_category_word_is_other_and_usage_without_text(bot):
    number = number_in(bot.said("上报 1栋2单元门口有人摆摊", as_="mem_zhao", private=True))
    assert ticket(bot, number).category in ("other", "construction")
    assert "用法" in bot.said("上报", as_="mem_zhao", private=True)
    resident = bot.said("上报 3栋门口垃圾堆积", as_="res_a")      # a resident's sentence is their own request
    assert "工单号" in resident and ticket(bot, number_in(resident)).reporter_id == "res_a"
    assert "上报 3栋门口垃圾堆积" in bot.said("帮助 上报", as_="mem_zhao", private=True)
