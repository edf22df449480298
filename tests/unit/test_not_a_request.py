"""不是工单: a member withdraws a ticket the bot opened for a message that asked for nothing, and the message
becomes a correction the learned model retrains on (issue 19 point 4)."""
from __future__ import annotations

from sqlalchemy import select

from gridbot.models import Ticket, TicketEvent
from gridbot.understanding import training
from tests.console_helpers import build_world, csrf_of

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


def test_the_console_and_the_api_withdraw_a_ticket_as_not_a_request(bot):
    world = build_world(bot)
    lamp, garbage = world.tickets["HY-01"], world.tickets["HY-03"]
    member = world.client("member")
    url = f"/console/tickets/{lamp}"
    page = member.get(url).get_data(as_text=True)
    assert 'data-action="not_request"' in page and "不是工单" in page
    before = len(outbox_to(bot, bot.chat("HY-01")))
    form = {"action": "not_request", "note": "居民在转述通知", "csrf_token": csrf_of(page)}
    page = member.post(f"{url}/action", data=form, follow_redirects=True).get_data(as_text=True)
    assert ticket(bot, lamp).status == "rejected"
    assert "<b>不是工单</b>" in page.split('id="timeline"')[1]       # the timeline says what the member did
    told = outbox_to(bot, bot.chat("HY-01"))[before:]
    assert any(lamp in n and "不需要登记处理" in n for n in told)
    assert 'data-action="not_request"' not in member.get(url).get_data(as_text=True)   # nothing left to withdraw
    # the API takes the same step, with the note optional, and refuses it once the ticket is finished
    # (the secretary's token: HY-03 is outside 赵's grid)
    client = world.flask.test_client()
    step = client.post(f"/api/v1/tickets/{garbage}/transition", json={"action": "not_request"},
                       headers=world.api("secretary"))
    assert step.status_code == 200 and step.json["status"] == "rejected", step.json
    again = client.post(f"/api/v1/tickets/{garbage}/transition", json={"action": "not_request"},
                        headers=world.api("secretary"))
    assert again.status_code == 409
    with bot.app.session() as s:
        fixes = training.corrections(s)
        events = s.scalars(select(TicketEvent).where(TicketEvent.action == "reject")).all()
    assert len(events) == 2 and "member:mem_zhao" in {ev.actor for ev in events}      # who did it, each time
    assert all(ev.actor and ev.detail == {"not_a_request": True} for ev in events)
    assert sorted(f.is_request for f in fixes) == [False, False] and len(fixes) == 2
