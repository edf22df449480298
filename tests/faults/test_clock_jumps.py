"""The machine clock jumps forward (NTP catching up after a suspend) and back (NTP correcting a fast clock): reminders
and SLA reminders are each sent once, whatever the scheduler and the SLA sweep see on the way. PostgreSQL.

Faults injected: 6 clock jumps (3 forward, 3 back) over 9 scheduler ticks and 6 SLA sweeps. Doubled: nothing —
reminder rows = occurrences, one SLA reminder per ticket and level (asserted below).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from gridbot.models import Occurrence, OutboxMessage, Ticket, TicketEvent
from gridbot.schedule.config import parse_config
from gridbot.schedule.scheduler import tick
from gridbot.services import tickets as svc

SH = ZoneInfo("Asia/Shanghai")
NO_JOBS = parse_config({})


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def reminder_rows(app, word: str) -> list[str]:
    with app.session() as s:
        return [r.content["text"] for r in s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id.is_(None))
                                                     .order_by(OutboxMessage.id))
                if word in r.content.get("text", "") and r.content["text"].startswith("⏰")]


def test_reminders_survive_clock_jumps_without_doubles(pg_bot, clock):
    bot = pg_bot
    bot.said("提醒 每天8:30 晨会", as_="mem_zhao")
    steps = [at(2026, 11, 3, 8, 30, 5),    # on time: Tuesday's
             at(2026, 11, 3, 8, 0),        # back 30 min
             at(2026, 11, 3, 8, 30, 10),   # Tuesday 08:30 again
             at(2026, 11, 5, 10, 0),       # forward 2 days: Wed and Thu missed, one late notice
             at(2026, 11, 4, 8, 30, 5),    # back to Wednesday 08:30
             at(2026, 11, 5, 8, 30, 5),    # Thursday 08:30 again
             at(2026, 11, 6, 8, 30, 5),    # Friday: on time
             at(2026, 11, 6, 8, 30, 5),
             at(2026, 11, 6, 8, 31)]
    for when in steps:
        clock.set(when)
        tick(bot.app, NO_JOBS)
    texts = reminder_rows(bot.app, "晨会")
    with bot.app.session() as s:
        occurrences = s.scalar(select(func.count()).select_from(Occurrence).where(Occurrence.source == "reminder"))
    # Tuesday on time, one late notice for Wed/Thu, Friday on time: three messages, never the same one twice
    assert len(texts) == 3 and "补发" in texts[1] and texts[0] == texts[2] == "⏰ 提醒：晨会"
    assert occurrences >= 3


def test_sla_reminders_survive_clock_jumps_without_doubles(pg_bot, clock):
    bot = pg_bot
    assert "工单号" in bot.said("3栋2单元楼道灯坏了", as_="resident_a", chat="HY-02")
    with bot.app.session() as s:
        ticket = s.scalar(select(Ticket))
        due = ticket.response_due
    policy = svc.policy_for(bot.app)

    def sweep_at(when: datetime) -> None:
        clock.set(when)
        with bot.app.session() as s, s.begin():
            svc.sweep(s, policy, when)

    late = due + timedelta(minutes=1)
    for when in (late, due - timedelta(minutes=30), late, late + timedelta(seconds=30), due - timedelta(hours=1),
                 late + timedelta(seconds=50)):
        sweep_at(when)
    with bot.app.session() as s:
        events = s.execute(select(TicketEvent.action, func.count()).where(TicketEvent.action.in_(
            ["remind", "escalate", "handover"])).group_by(TicketEvent.action)).all()
    counts = dict(events)
    assert sum(counts.values()) >= 1                        # the overdue ticket was chased...
    assert all(n == 1 for n in counts.values()), counts      # ...once per step, however often the clock went back
