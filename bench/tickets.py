"""End-to-end ticket creation through the router on PostgreSQL, beside two baselines that create nothing.

    .venv/bin/python bench/tickets.py                         # PostgreSQL, 60 grids, 1,500 messages per set
    .venv/bin/python bench/tickets.py --messages 3000 --rounds 3 --write
    .venv/bin/python bench/tickets.py --db sqlite             # the embedded database, same work

Per message it times what a worker does for one inbound message: store it in the inbound log (dedupe key),
then `pipeline.process.process` -- resolve the speaker, route (rating rule, understanding, the request rule),
open or join a ticket (number from the row-locked sequence, A/B assignment, event, audit), write the reply and
the member's notification to the outbox, commit. Sending is left out (a queue that drops jobs), as in
production where the outbox is drained by other workers.

Three sets of messages, alternating in rounds so drift hits all of them alike:
- requests:  residents' requests in their grid's group, e.g. "12栋2单元301家里厨房漏水" (10% are a neighbour
             reporting the same thing without a room: those join the open ticket instead of opening one);
- chatter:   residents' non-requests ("收到", "明天团购苹果，要的接龙"...): understanding runs, nothing is created,
             the fallback answers (the cheapest useful path through the same router);
- members:   the very same request texts sent by a grid member: no understanding, no ticket, fallback answer.
At the end it checks that every request opened or joined exactly the expected ticket and that chatter and
members created none. --write puts the figures into bench/README.md, section "Tickets".
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridbot import migrate
from gridbot.bootstrap import build, set_current
from gridbot.config import Settings
from gridbot.messages import Inbound
from gridbot.models import Community, Grid, GridChat, Household, Member, MemberGrid, Ticket, TicketReporter
from gridbot.pipeline.process import process
from gridbot.pipeline.store import row_values, store

PG_ADMIN = os.environ.get("GRIDBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PHRASES = [  # (what a resident writes after the address, whether it names a flat-level problem)
    "家里厨房漏水，麻烦尽快来看看", "楼道灯坏了好几天了，晚上黑乎乎的", "电梯又坏了，老人上不去",
    "门口垃圾好几天没人清运，臭死了", "楼下有人乱停车堵路，车开不出去", "楼上半夜装修噪音太吵了",
    "楼道里有人给电动车充电，太危险了", "门口有人摆摊占道", "楼道里好多老鼠，能不能消杀一下",
    "独居老人需要帮忙买药", "下水道堵了，污水冒出来了", "门禁坏了，谁都能进",
]
CHATTER = ["收到", "谢谢网格员", "大家好", "明天团购苹果，要的接龙", "好的", "辛苦了👍", "今天天气不错",
           "群里有人知道快递柜在哪吗", "转发：关于开展消防安全宣传日活动的通知", "已交", "哈哈哈", "早上好"]
BUILDINGS_PER_GRID = 4
CATEGORY: dict[str, str] = {}


class DropQueue:
    """Jobs are dropped: the benchmark times the worker's processing, not the sending."""

    def enqueue(self, *args, **kw) -> None:
        return None

    def depth(self) -> dict[str, int]:
        return {}

    def stop(self) -> None:
        return None


# -- data ---------------------------------------------------------------------------------------------
def seed(engine, grids: int) -> dict:
    """Communities of 30 grids, each grid a chat, two A/B members, buildings with households; one leader per
    ten grids and a secretary per community."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    communities = max(1, (grids + 29) // 30)
    world = {"grids": []}
    with engine.begin() as conn:
        conn.execute(insert(Community), [{"id": c + 1, "code": f"C{c + 1:02d}", "name": f"社区{c + 1}",
                                          "created_at": t0} for c in range(communities)])
        conn.execute(insert(Grid), [{"id": c + 1, "community_id": c + 1, "code": f"C{c + 1:02d}",
                                     "name": f"社区{c + 1}网格", "level": 1, "parent_id": None, "created_at": t0}
                                    for c in range(communities)])
        grid_rows, chat_rows, members, links, households = [], [], [], [], []
        mid = 0
        for c in range(communities):
            mid += 1
            members.append(dict(id=mid, community_id=c + 1, name=f"书记{c + 1}", userid=f"sec_{c + 1}",
                                roles=["secretary", "grid_leader"], on_duty=True, active=True, created_at=t0,
                                updated_at=t0, partner_id=None))
            links.append(dict(member_id=mid, grid_id=c + 1))
        leader = None
        for g in range(grids):
            gid = communities + g + 1
            cid = g % communities + 1
            grid_rows.append(dict(id=gid, community_id=cid, code=f"C{cid:02d}-{g + 1:03d}", name=f"第{g + 1}网格",
                                  level=2, parent_id=cid, created_at=t0))
            chat_rows.append(dict(grid_id=gid, chat_id=f"chat-{gid}", bound_at=t0))
            if g % 10 == 0:
                mid += 1
                leader = mid
                members.append(dict(id=mid, community_id=cid, name=f"网格长{g}", userid=f"lead_{g}",
                                    roles=["grid_leader"], on_duty=True, active=True, created_at=t0, updated_at=t0,
                                    partner_id=None))
            links.append(dict(member_id=leader, grid_id=gid))
            a, b = mid + 1, mid + 2
            mid += 2
            members.append(dict(id=a, community_id=cid, name=f"网格员{g}A", userid=f"mem_{g}_a", roles=["member"],
                                on_duty=True, active=True, created_at=t0, updated_at=t0, partner_id=None))
            members.append(dict(id=b, community_id=cid, name=f"网格员{g}B", userid=f"mem_{g}_b",
                                roles=["part_time"], on_duty=True, active=True, created_at=t0, updated_at=t0,
                                partner_id=None))
            links += [dict(member_id=a, grid_id=gid), dict(member_id=b, grid_id=gid)]
            buildings = [str((g // communities) * BUILDINGS_PER_GRID + i + 1) for i in range(BUILDINGS_PER_GRID)]
            for bld in buildings:
                for unit in ("1", "2"):
                    for room in ("101", "102", "201", "202", "301", "302"):
                        households.append(dict(grid_id=gid, building=bld, unit=unit, room=room, tags=[],
                                               status="active", created_at=t0, updated_at=t0))
            world["grids"].append({"id": gid, "chat": f"chat-{gid}", "buildings": buildings, "member": f"mem_{g}_a"})
        conn.execute(insert(Grid), grid_rows)
        conn.execute(insert(GridChat), chat_rows)
        conn.execute(insert(Member), members)
        conn.execute(insert(MemberGrid), links)
        conn.execute(insert(Household), households)
        for g in range(grids):   # A/B partners
            a, b = f"mem_{g}_a", f"mem_{g}_b"
            conn.execute(text("UPDATE members SET partner_id = (SELECT id FROM members WHERE userid = :b) "
                              "WHERE userid = :a"), {"a": a, "b": b})
            conn.execute(text("UPDATE members SET partner_id = (SELECT id FROM members WHERE userid = :a) "
                              "WHERE userid = :b"), {"a": a, "b": b})
        if engine.dialect.name == "postgresql":
            for table in ("communities", "grids", "members"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
    return world


_USED: set[tuple] = set()          # (chat, building, unit, room, category) already reported, across rounds


def _category(phrase: str) -> str:
    from gridbot.understanding import understand

    return understand("1栋1单元101" + phrase).category or "other"


def make_sets(world: dict, n: int, rnd: random.Random, tag: str) -> dict[str, list[Inbound]]:
    """n requests (10% neighbours' repeats), n chatter messages, and the request texts again from members.
    A request that is not a repeat names a flat and a kind of problem nobody reported before, so it must open
    a ticket; a repeat names the building and unit of an earlier request and its problem, so it must join."""
    requests, chatter, members = [], [], []
    used = _USED
    for i in range(n):
        grid = rnd.choice(world["grids"])
        repeat = requests and rnd.random() < 0.10
        if repeat:
            prev = rnd.choice(requests)
            bld_unit_phrase = prev.event_data["key"]
            body = f"{bld_unit_phrase[0]}栋{bld_unit_phrase[1]}单元{bld_unit_phrase[2]}"
            grid = next(g for g in world["grids"] if g["chat"] == prev.chat_id)
            key = bld_unit_phrase
        else:
            while True:
                bld, unit = rnd.choice(grid["buildings"]), rnd.choice("12")
                room = rnd.choice(("101", "102", "201", "202", "301", "302"))
                phrase = rnd.choice(PHRASES)
                if (grid["chat"], bld, unit, room, CATEGORY[phrase]) not in used:
                    break
            used.add((grid["chat"], bld, unit, room, CATEGORY[phrase]))
            body = f"{bld}栋{unit}单元{room}{phrase}"
            key = (bld, unit, phrase)
        requests.append(Inbound(platform="console", sender_id=f"res_{tag}_{i}", text=body, chat_id=grid["chat"],
                                msg_id=uuid.uuid4().hex, event_data={"key": key, "repeat": bool(repeat)}))
        members.append(Inbound(platform="console", sender_id=grid["member"], text=body, chat_id=grid["chat"],
                               msg_id=uuid.uuid4().hex))
        chatter.append(Inbound(platform="console", sender_id=f"chat_{tag}_{i}", chat_id=grid["chat"],
                               text=rnd.choice(CHATTER), msg_id=uuid.uuid4().hex))
    return {"requests": requests, "chatter": chatter, "members": members}


# -- timing -----------------------------------------------------------------------------------------------
def run_set(app, messages: list[Inbound]) -> list[float]:
    times = []
    for inbound in messages:
        inbound.event_data = {}
        inbound.at = app.clock.now()
        t0 = time.perf_counter()
        inbound_id, _ = store(app.engine, row_values(inbound, None, app.clock.now()))
        process(app, inbound_id)
        times.append(time.perf_counter() - t0)
    return times


def count(app, model) -> int:
    with app.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--grids", type=int, default=60)
    parser.add_argument("--messages", type=int, default=1500, help="messages per set per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="write the figures into bench/README.md")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="gridbot-bench-tickets-")
    admin = None
    if args.db == "postgres":
        name = f"gridbot_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp}/bench.db"
    try:
        migrate.upgrade(url)
        settings = Settings.from_env({"GRIDBOT_DATABASE_URL": url, "GRIDBOT_INSTANCE_DIR": tmp})
        app = build(settings, queue=DropQueue())
        set_current(app)
        world = seed(app.engine, args.grids)
        rnd = random.Random(args.seed)
        CATEGORY.update({p: _category(p) for p in PHRASES})
        run_set(app, make_sets(world, 50, rnd, "warm")["requests"][:50])   # jieba, caches, connections
        run_set(app, make_sets(world, 50, rnd, "warm2")["chatter"][:50])
        before = {"tickets": count(app, Ticket), "reporters": count(app, TicketReporter)}
        timings = {"requests": [], "chatter": [], "members": []}
        wall = {"requests": 0.0, "chatter": 0.0, "members": 0.0}
        expected_tickets = expected_joins = 0
        created_by = {"chatter": 0, "members": 0}
        for r in range(args.rounds):
            sets = make_sets(world, args.messages, rnd, f"r{r}")
            expected_joins += sum(1 for m in sets["requests"] if m.event_data["repeat"])
            expected_tickets += sum(1 for m in sets["requests"] if not m.event_data["repeat"])
            for name in ("requests", "chatter", "members"):
                n0 = count(app, Ticket)
                t0 = time.perf_counter()
                timings[name] += run_set(app, sets[name])
                wall[name] += time.perf_counter() - t0
                if name != "requests":
                    created_by[name] += count(app, Ticket) - n0
        tickets = count(app, Ticket) - before["tickets"]
        joins = count(app, TicketReporter) - before["reporters"] - tickets
        ok = tickets == expected_tickets and joins == expected_joins and not any(created_by.values())
        load = os.getloadavg()[0]
        rows = []
        for name in ("requests", "chatter", "members"):
            ts = timings[name]
            rows.append({"set": name, "messages": len(ts), "per_s": len(ts) / wall[name],
                         "p50": pct(ts, 0.50) * 1000, "p99": pct(ts, 0.99) * 1000, "mean": statistics.fmean(ts) * 1000})
        tickets_per_s = tickets / wall["requests"]
        report = render(args, rows, tickets, joins, tickets_per_s, ok, created_by, load)
        print(report)
        if args.write:
            write_readme(report)
        if not ok:
            print(f"CHECK FAILED: tickets {tickets} (expected {expected_tickets}), joins {joins} "
                  f"(expected {expected_joins}), created by baselines {created_by}", file=sys.stderr)
            sys.exit(1)
        app.close()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def render(args, rows, tickets, joins, tickets_per_s, ok, created_by, load) -> str:
    base = {r["set"]: r for r in rows}
    cmd = (f".venv/bin/python bench/tickets.py --db {args.db} --grids {args.grids} --messages {args.messages} "
           f"--rounds {args.rounds}")
    lines = [
        "## Tickets",
        "",
        "End-to-end ticket creation through the router (store in the inbound log, route, understand, open or join",
        "a ticket, write reply and notification to the outbox, commit), one worker thread, beside two baselines",
        "through the same router that create nothing. Sending is not timed.",
        "",
        f"Reproduce: `{cmd}` (add `--write` to update this section)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {args.db} ({args.grids} grids); 1-minute load average at the end "
        f"{load:.1f}; {datetime.now(UTC):%Y-%m-%d}",
        "",
        "| set | messages | messages/s | p50 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['set']} | {r['messages']} | {r['per_s']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['mean']:.2f} |")
    lines += [
        "",
        f"- tickets opened: {tickets} ({tickets_per_s:.0f} tickets/s), neighbours joined an open ticket: {joins}; "
        f"chatter and members created {sum(created_by.values())} (check {'passed' if ok else 'FAILED'})",
        f"- cost of a request over chatter (mean): {base['requests']['mean'] / base['chatter']['mean']:.2f}x; "
        f"over the member baseline: {base['requests']['mean'] / base['members']['mean']:.2f}x",
        "",
        "What a request costs beyond chatter: understanding is the same (chatter runs it too); the difference is",
        "the ticket's own statements -- looking for the resident's open ticket and for a neighbour's report of the",
        "same thing (both on indexes), the building's households (routing to the right grid), the responsible",
        "members and their leaves, the row-locked day sequence for the number, and inserts of the ticket, its",
        "reporter, two events, two audit rows and two outbox rows (reply and the member's notification): about 21",
        "statements per message against 8 for chatter. Absolute figures scale with the cost of one PostgreSQL round "
        "trip;",
        "on a machine shared with other work (the load average above) a statement costs 1.5-2.5 ms instead of the",
        "0.1-0.3 ms of an idle one, so read the ratio rather than the rate. One worker thread; more workers scale",
        "until PostgreSQL saturates (numbers stay dense and unique under concurrency: tests/integration/",
        "test_tickets_pg.py). Sizing (DOMAIN.md): 0.5-2 tickets per grid per day means 1,500 grids make about",
        "3,000 tickets a day, a few per minute even in a 3x burst -- far below one worker's rate.",
        "",
    ]
    return "\n".join(lines)


def write_readme(section: str) -> None:
    """Replace (or append) the "## Tickets" section of bench/README.md, leaving the others alone."""
    path = ROOT / "bench" / "README.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    start = current.find("## Tickets\n")
    if start == -1:
        new = current.rstrip("\n") + "\n\n" + section
    else:
        end = current.find("\n## ", start + 1)
        new = current[:start] + section + ("\n" + current[end + 1:] if end != -1 else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
