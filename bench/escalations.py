"""A month of the demo community played on a controllable clock: how many tickets reached each escalation level.

    .venv/bin/python bench/escalations.py                  # 30 days from Monday 2026-11-02, seed 7
    .venv/bin/python bench/escalations.py --days 30 --per-day 3 --seed 7

The demo community (`gridbot demo`'s roster, config/examples/demo-roster.xlsx) on a fresh SQLite database.
Residents report at realistic hours (07:00–23:00, evening peak, weekends alike, ~8% urgent); the member the ticket
is assigned to (or the A/B partner it was handed to) accepts within minutes to hours when awake (08:00–21:30; a
report made at night is accepted the next morning; an urgent one at once, day or night), starts and resolves most
tickets within their limit (~15% a few days late), checks them on site (核查) 15–100 minutes later and closes them
(结案); the SLA sweep runs every 5 minutes of the played clock. Only the ticket services every version has are
called (tickets.report / accept / start / resolve / verify / close / sweep), so the same script runs on older code
(bench/README.md, "Escalations in a played month": main at c83e652 and issue 18's branch).

Printed: tickets, how many reached each level of the ladder at most (by role name, from the code's own LADDER),
and how many escalation notices (level 2 and up) were written in quiet hours (22:00–07:00) and not held.
"""
from __future__ import annotations

import argparse
import heapq
import random
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select

from gridbot.bootstrap import build
from gridbot.cli.demo import build_demo
from gridbot.clock import FrozenClock
from gridbot.models import Grid, Household, Member, OutboxMessage, Ticket, TicketEvent
from gridbot.services import tickets
from gridbot.services.people import resolve_speaker
from gridbot.services.tickets import NewRequest, Policy

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, 0, 0, tzinfo=TZ)       # a Monday
SWEEP_EVERY = timedelta(minutes=5)
NORMAL = [("repair", "楼道灯坏了好几天了"), ("repair", "电梯停了"), ("sanitation", "门口垃圾好几天没人清运"),
          ("noise", "楼上狗一直叫"), ("parking", "有人乱停车堵路"), ("dispute", "邻居家漏水到我家，协商不成"),
          ("construction", "楼下有人私搭乱建"), ("assistance", "独居老人需要帮忙买药"),
          ("consultation", "想问问居住证怎么办")]
URGENT = [("fire_hazard", "楼道里冒烟了，有煤气味"), ("health", "有老人晕倒在楼下"), ("security", "有人撬门")]
# The hour a resident writes (local): evenings are the peak, nights are rare.
HOUR_WEIGHTS = {7: 3, 8: 5, 9: 6, 10: 6, 11: 5, 12: 4, 13: 4, 14: 5, 15: 5, 16: 5, 17: 5, 18: 6, 19: 8, 20: 9,
                21: 8, 22: 5, 23: 2}


def awake(at: datetime) -> bool:
    local = at.astimezone(TZ).time()
    return time(8, 0) <= local < time(21, 30)


def next_morning(at: datetime, rnd: random.Random) -> datetime:
    local = at.astimezone(TZ)
    day = local.date() + timedelta(days=1 if local.time() >= time(21, 30) else 0)
    return datetime.combine(day, time(8, 0), TZ) + timedelta(minutes=rnd.randint(0, 75))


def member_time(at: datetime, rnd: random.Random) -> datetime:
    """When a member acts on something that reaches them at `at`."""
    return at if awake(at) else next_morning(at, rnd)


def play(days: int, per_day: float, seed: int, verbose: bool = False) -> dict:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings, _ = build_demo(Path(tmp))
        clock = FrozenClock(START.astimezone(UTC))
        app = build(settings, clock=clock, sync_jobs=True)
        policy = Policy.load(settings.config_dir, settings.timezone)
        with app.session() as s:
            places = [(h.grid_id, h.building, h.unit, h.room) for h in s.scalars(
                select(Household).join(Grid, Grid.id == Household.grid_id).order_by(Household.id))]
        # the residents' reports
        plan: list[tuple[datetime, int, str, tuple]] = []
        seq = 0
        for day in range(days):
            for _ in range(rnd.choices([0, 1, 2, 3, 4, 5], weights=[1, 3, 4, 3, 2, 1])[0] if per_day == 3
                           else max(0, round(rnd.gauss(per_day, 1)))):
                hour = rnd.choices(list(HOUR_WEIGHTS), weights=list(HOUR_WEIGHTS.values()))[0]
                at = START + timedelta(days=day, hours=hour, minutes=rnd.randint(0, 59))
                urgent = rnd.random() < 0.08
                category, text = rnd.choice(URGENT if urgent else NORMAL)
                seq += 1
                plan.append((at.astimezone(UTC), seq, "report", (urgent, category, text, rnd.choice(places))))
        heapq.heapify(plan)
        end = (START + timedelta(days=days)).astimezone(UTC)
        next_sweep = START.astimezone(UTC)
        numbers: list[str] = []
        while plan or next_sweep < end:
            if plan and plan[0][0] <= next_sweep:
                at, _, what, data = heapq.heappop(plan)
            else:
                at, what, data = next_sweep, "sweep", ()
                next_sweep += SWEEP_EVERY
            if at >= end:
                break
            clock.set(at)
            with app.session() as s, s.begin():
                if what == "sweep":
                    tickets.sweep(s, policy, at)
                    continue
                if what == "report":
                    urgent, category, text, (grid_id, building, unit, room) = data
                    result = tickets.report(s, policy, NewRequest(
                        platform="console", user_id=f"res_{rnd.randint(1, 400)}", text=f"{building}栋{text}",
                        grid_id=grid_id, category=category, urgency="urgent" if urgent else "normal",
                        building=building, unit=unit, room=room, summary=text), at)
                    if result.outcome != "created":
                        continue
                    number = result.ticket.number
                    numbers.append(number)
                    delay = timedelta(minutes=rnd.randint(1, 8)) if urgent else timedelta(
                        minutes=rnd.choice([rnd.randint(3, 40), rnd.randint(20, 180)]))
                    seq += 1
                    # an urgent alert wakes the member (it is never held); anything else waits for their day
                    when = at + delay if urgent else member_time(at + delay, rnd)
                    heapq.heappush(plan, (when, seq, "accept", (number, urgent)))
                    continue
                number, urgent = data
                ticket = s.scalar(select(Ticket).where(Ticket.number == number))
                if ticket is None or ticket.status in ("rejected", "duplicate"):
                    continue
                member = s.get(Member, ticket.assignee_id) if ticket.assignee_id else None
                if member is None:
                    continue
                speaker = resolve_speaker(s, "console", member.userid)
                if what == "accept":
                    if ticket.status == "reported":
                        tickets.accept(s, policy, speaker, number, at)
                    # members work it during the day: most within the limit, some late
                    if urgent:
                        work = timedelta(minutes=rnd.randint(20, 150))
                    elif rnd.random() < 0.85:
                        work = timedelta(hours=rnd.uniform(1, 7))
                    else:
                        work = timedelta(days=rnd.uniform(1.5, 4))
                    seq += 1
                    heapq.heappush(plan, (member_time(at + timedelta(minutes=rnd.randint(5, 60)), rnd), seq,
                                          "start", (number, urgent)))
                    seq += 1
                    heapq.heappush(plan, (member_time(at + work, rnd), seq, "resolve", (number, urgent)))
                elif what == "start" and ticket.status in ("accepted",):
                    tickets.start(s, policy, speaker, number, at)
                elif what == "resolve" and ticket.status in ("accepted", "dispatched", "in_progress"):
                    if ticket.status == "accepted":
                        tickets.start(s, policy, speaker, number, at)
                    tickets.resolve(s, policy, speaker, number, "已处理", at)
                    seq += 1        # 核查 on site, within the hour or two the plans give, in the member's day
                    heapq.heappush(plan, (member_time(at + timedelta(minutes=rnd.randint(15, 100)), rnd), seq,
                                          "verify", (number, urgent)))
                elif what == "verify" and ticket.status == "resolved":
                    tickets.verify(s, policy, speaker, number, "", at)
                    tickets.close(s, speaker, number, at)
        with app.session() as s:
            levels: Counter[str] = Counter()
            by_urgency: Counter[tuple[str, str]] = Counter()
            for ticket in s.scalars(select(Ticket).where(Ticket.number.in_(numbers))):
                reached = max([int((ev.detail or {}).get("level") or 0) for ev in ticket.events
                               if ev.action in ("remind", "escalate")] or [0])
                role = tickets.LADDER[reached] or "none"
                if verbose and reached >= 3:
                    print(ticket.number, ticket.urgency, ticket.category, ticket.status, [
                        (f"{ev.at.replace(tzinfo=ev.at.tzinfo or UTC).astimezone(TZ):%a %H:%M}", ev.action,
                         (ev.detail or {}).get("level"), (ev.detail or {}).get("for")) for ev in ticket.events])
                levels[role] += 1
                by_urgency[(ticket.urgency, role)] += 1
            night: Counter[str] = Counter()
            for ev, urgency in s.execute(select(TicketEvent, Ticket.urgency).join(Ticket)
                                         .where(TicketEvent.action == "escalate")):
                local = ev.at.replace(tzinfo=ev.at.tzinfo or UTC).astimezone(TZ).time()
                if local >= time(22) or local < time(7):
                    night[urgency] += 1
            unheld_night = 0
            for row in s.scalars(select(OutboxMessage).where(OutboxMessage.target_type == "user",
                                                              OutboxMessage.not_before.is_(None))):
                created = row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC).astimezone(TZ).time()
                text = (row.content or {}).get("text", "")
                if (created >= time(22) or created < time(7)) and "工单升级" in text:
                    unheld_night += 1
        app.close()
    return {"tickets": len(numbers), "levels": levels, "by_urgency": by_urgency, "night_escalations": night,
            "night_escalation_notices_sent": unheld_night}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=float, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="print the timeline of every ticket escalated")
    args = parser.parse_args()
    result = play(args.days, args.per_day, args.seed, args.verbose)
    order = [r or "none" for r in tickets.LADDER]
    print(f"tickets: {result['tickets']} in {args.days} days (seed {args.seed})")
    print("highest level reached: " + ", ".join(f"{r} {result['levels'].get(r, 0)}" for r in order))
    for urgency in ("normal", "urgent"):
        print(f"  {urgency}: " + ", ".join(f"{r} {result['by_urgency'].get((urgency, r), 0)}" for r in order))
    night = result["night_escalations"]
    print(f"escalation steps taken in quiet hours (22:00-07:00): normal {night.get('normal', 0)}, urgent "
          f"{night.get('urgent', 0)}; escalation notices sent in quiet hours without waiting: "
          f"{result['night_escalation_notices_sent']}")


if __name__ == "__main__":
    main()
