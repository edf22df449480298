"""Tickets on the real PostgreSQL: the whole loop through the router, and dense unique numbers under concurrency."""
from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from gridbot.jobs import sweep_tickets
from gridbot.messages import Inbound
from gridbot.models import OutboxMessage, Ticket, TicketEvent
from gridbot.pipeline.process import handle_now

pytestmark = pytest.mark.postgres
NUMBER = re.compile(r"HY-\d{8}-\d{4}")


def test_a_ticket_walks_the_whole_loop_on_postgres(pg_bot, clock):
    bot = pg_bot
    first = bot.said("1栋2单元楼道灯坏了好几天了", as_="res_a")
    number = NUMBER.search(first).group(0)
    assert "物业维修" in first and "1栋" in first
    assert number in bot.said("1栋2单元的楼道灯也不亮", as_="res_b")      # a neighbour: joins, counted
    clock.advance(minutes=31)
    assert sweep_tickets(app=bot.app)["handovers"] == [number]        # A/B: mem_zhao never accepted
    assert "已立案" in bot.said(f"受理 {number}", as_="mem_qian")
    assert "处置中" in bot.said(f"处置 {number}", as_="mem_qian")
    assert "已反馈" in bot.said(f"办结 {number} 已更换灯泡", as_="mem_qian")
    assert "感谢" in bot.said("满意", as_="res_b")
    assert "核查通过" in bot.said(f"核查 {number}", as_="lead_li")
    assert "已结案" in bot.said(f"结案 {number}", as_="lead_li")
    with bot.app.session() as s:
        tk = s.scalar(select(Ticket).where(Ticket.number == number))
        assert (tk.status, tk.reporters, tk.rating) == ("rated", 2, "satisfied")
        actions = s.scalars(select(TicketEvent.action).where(TicketEvent.ticket_id == tk.id)
                            .order_by(TicketEvent.id)).all()
        solved = s.scalar(select(OutboxMessage).where(OutboxMessage.target == bot.chat("HY-01"),
                                                      OutboxMessage.inbound_id.is_(None),
                                                      OutboxMessage.content["text"].as_string().contains("已处理")))
    assert actions == ["report", "assign", "join", "handover", "accept", "dispatch", "start", "resolve", "rate",
                       "verify", "close", "rated"]
    assert set(solved.content["mentions"]) == {"res_a", "res_b"} and solved.status == "sent"


def test_concurrent_reports_get_dense_unique_numbers(pg_bot):
    bot = pg_bot
    rooms = [(b, u, r) for b in ("1", "2") for u in ("1", "2") for r in ("101", "102", "201")]
    categories = ("家里厨房漏水", "门口有人摆摊占道", "楼下有人乱停车堵路")

    def send(i: int) -> str:
        b, u, r = rooms[i % len(rooms)]
        text = f"{b}栋{u}单元{r}{categories[i // len(rooms)]}"
        inbound = Inbound(platform="console", sender_id=f"res_{i}", text=text, chat_id=bot.chat("HY-01"),
                          msg_id=uuid.uuid4().hex)
        return NUMBER.search(handle_now(bot.app, inbound)[0].text).group(0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(send, range(len(rooms) * len(categories))))
    with bot.app.session() as s:
        stored = s.scalars(select(Ticket.number)).all()
        count = s.scalar(select(func.count()).select_from(Ticket))
    assert count == len(set(numbers)) == len(stored) == len(rooms) * len(categories)
    assert sorted(int(n[-4:]) for n in stored) == list(range(1, count + 1))
