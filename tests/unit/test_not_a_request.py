"""不是工单: a member withdraws a ticket the bot opened for a message that asked for nothing, and the message
becomes a correction the learned model retrains on (issue 19 point 4)."""
from __future__ import annotations

from sqlalchemy import select

from gridbot.models import Ticket, TicketEvent
from gridbot.understanding import training

from .test_tickets import outbox_to, report, ticket


def test_not_a_request_withdraws_the_ticket_tells_the_resident_gently_and_becomes_training_data(bot):
    # (a request the member knows is not one: the resident was quoting yesterday's notice, say)
    number = report(bot, "1栋2单元楼道灯坏了好几天了")
    before = len(outbox_to(bot, bot.chat("HY-01")))
    said = bot.said(f"不是工单 {number} 居民在转述昨天的通知", as_="mem_zhao")
    assert number in said and "已撤销" in said and "不是工单" in said
    assert ticket(bot, number).status == "rejected"
    told = outbox_to(bot, bot.chat("HY-01"))[before:]
    assert any(number in n and "不需要登记处理" in n for n in told)
    assert not any("不予立案" in n for n in told)        # nothing was refused: the resident asked for nothing
    with bot.app.session() as s:
        ev = s.scalars(select(TicketEvent).join(Ticket).where(Ticket.number == number,
                                                              TicketEvent.action == "reject")).one()
        assert ev.actor and ev.detail == {"not_a_request": True} and "居民在转述昨天的通知" in (ev.note or "")
        fixes = training.corrections(s)
    assert [(f.text, f.is_request) for f in fixes] == [("1栋2单元楼道灯坏了好几天了", False)]


def test_not_a_request_needs_a_number_and_a_ticket_still_open(bot):
    assert "不是工单 工单号" in bot.said("不是工单", as_="mem_zhao")
    number = report(bot)
    bot.say(f"不予立案 {number} 属于市政", as_="mem_zhao")
    said = bot.said(f"不是工单 {number}", as_="mem_zhao")
    assert ticket(bot, number).status == "rejected" and "已撤销" not in said
