"""Daily digests at county scale, and a demo month to read one.

    .venv/bin/python bench/digest.py                         # PostgreSQL, 300 grids, a year (~100k tickets, ~1M events)
    .venv/bin/python bench/digest.py --grids 30 --days 60    # smaller
    .venv/bin/python bench/digest.py demo --instance /tmp/xf # the demo community (XF) with a month of activity

County mode, on a fresh PostgreSQL database built with the real migrations:
1. bench/coverage.generate() makes 10 communities x 30 grids with households, groups and bindings; this script adds
   per grid one secretary / leader / members, a year of tickets (0.9 per grid per day, full timelines of 5-12
   events each, some overdue, some reopened), patrols, visits, work logs and daily coverage snapshots, all with
   bulk inserts (Core executemany), seeded random so every run makes the same data;
2. times services.digest.build_all() -- every community's and every grid leader's digest, markdown included --
   best and median of --runs, and one community's digest (services.digest.build);
3. runs the baseline: what one writes first -- per digest, metrics.ticket_metrics() for the two weeks (ORM, the
   whole timeline) and compliance() separately, one community at a time, no shared loading -- and prints both
   side by side as a ratio.

Demo mode: `gridbot demo`'s database (the XF roster) with 30 days of activity driven through the chat router with a
moving clock: residents report, members accept / handle / resolve, residents rate, leaders verify and close,
patrols, visits, logs, new household representatives and a coverage snapshot every night. Then
`GRIDBOT_DATABASE_URL=sqlite:////tmp/xf/demo.db gridbot digest --community XF --date 2026-11-29`.
"""
from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TZ = ZoneInfo("Asia/Shanghai")
PG_URL = os.environ.get("GRIDBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NUMBER = re.compile(r"[A-Z]+-\d{8}-\d{4}")

# -- demo month -------------------------------------------------------------------------------------------
REQUESTS = [  # (text with {b} for the building, urgent?)
    ("{b}栋2单元楼道灯坏了好几天了，晚上上楼看不见", False),
    ("{b}栋门口垃圾两天没清运了，味道很大", False),
    ("{b}栋楼下有人占道摆摊，车都过不去", False),
    ("{b}栋1单元楼上半夜装修，吵得睡不着", False),
    ("{b}栋地下车库有僵尸车占车位好久了", False),
    ("{b}栋1单元水管漏水，楼道全是水", False),
    ("请问{b}栋这边办居住证需要什么材料", False),
    ("{b}栋楼道里有人给电动车充电，私拉电线很危险", False),
    ("{b}栋2单元有煤气味，好像漏气了，快来人", True),
    ("{b}栋1单元独居的王奶奶好几天没见人了，敲门没人应", True),
]


def _number(texts: list[str]) -> str | None:
    for text in texts:
        m = NUMBER.search(text)
        if m:
            return m.group(0)
    return None


def seed_demo_month(app, clock, last_day: date, days: int = 30, seed: int = 11) -> dict:
    """Drive `days` days of activity ending on `last_day` through the router, with the app's FrozenClock."""
    from sqlalchemy import select

    from gridbot.jobs import sweep_tickets
    from gridbot.messages import Inbound
    from gridbot.models import Grid, Household
    from gridbot.pipeline.process import handle_now
    from gridbot.services import coverage
    from gridbot.services.roster import bind_resident

    rnd = random.Random(seed)
    grids = {"XF-01": (1, 2, 3), "XF-02": (4, 5, 6), "XF-03": (7, 8, 9), "XF-04": (10, 11, 12)}
    handler = {"XF-01": "xf_zhang", "XF-02": "xf_huang", "XF-03": "xf_xu", "XF-04": "xf_ma"}
    leader = {"XF-01": "xf_chen", "XF-02": "xf_chen", "XF-03": "xf_yang", "XF-04": "xf_yang"}
    # who keeps up: xf_ma (XF-04) stops patrolling, xf_xu visits no key households
    patrol_every = {"xf_zhang": 6, "xf_huang": 8, "xf_xu": 10, "xf_ma": 0}
    with app.session() as s:
        key_homes = {code: [(h.building, h.unit, h.room) for h in s.scalars(
            select(Household).join(Grid, Grid.id == Household.grid_id).where(Grid.code == code))
            if set(h.tags or []) & {"独居老人", "残疾", "困难", "留守儿童", "流动人口"}] for code in grids}
        unbound = {code: [(h.building, h.unit, h.room) for h in s.scalars(
            select(Household).join(Grid, Grid.id == Household.grid_id).where(Grid.code == code)
            .order_by(Household.id))] for code in grids}

    def say(text: str, as_: str, chat: str | None) -> list[str]:
        inbound = Inbound(platform="console", sender_id=as_, sender_name=None, text=text,
                          chat_id=f"chat-{chat.lower()}" if chat else None,
                          chat_type="group" if chat else "single", msg_id=uuid.uuid4().hex)
        return [r.text for r in handle_now(app, inbound)]

    made = {"tickets": 0}
    queue: list[tuple] = []          # heap of (when, order, text, as, chat): actions planned ahead
    order = itertools.count()
    first = last_day - timedelta(days=days - 1)
    resident_n = 0
    for n in range(days):
        day = first + timedelta(days=n)
        def at(h: int, m: int = 0, day: date = day) -> datetime:
            return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ)

        # new representatives join and register (coverage grows through the month)
        with app.session() as s, s.begin():
            for code in grids:
                for _ in range(rnd.choice((0, 1, 1, 2, 3))):
                    if unbound[code]:
                        b, u, r = unbound[code].pop(rnd.randrange(len(unbound[code])))
                        resident_n += 1
                        bind_resident(s, "console", f"res{resident_n}", f"居民{resident_n}", code, b, u, r,
                                      actor="cli:demo", now=at(8))
        # planned actions of earlier tickets that fall before 18:00 today
        events_today = [(at(9, 0), f"签到 {code} 小区巡查", handler[code], code) for code in grids
                        if patrol_every[handler[code]] and n % patrol_every[handler[code]] == 0]
        events_today += [(at(10, 30), "签退 巡查完毕", handler[code], code) for code in grids
                         if patrol_every[handler[code]] and n % patrol_every[handler[code]] == 0]
        for code in grids:
            if handler[code] != "xf_xu" and key_homes[code] and rnd.random() < 0.35:
                b, u, r = rnd.choice(key_homes[code])
                events_today.append((at(15), f"走访 {b}栋{u}单元{r} 身体还好，已提醒注意用电安全", handler[code], None))
            if day.weekday() < 5 and rnd.random() < 0.85:
                events_today.append((at(17, 30), "日志 巡查小区，入户走访，处理居民反映的问题", handler[code], None))
        for code, buildings in grids.items():
            for _ in range(rnd.choice((0, 1, 1, 1, 2))):
                text, urgent = rnd.choice(REQUESTS[:-2] if rnd.random() < 0.93 else REQUESTS[-2:])
                h = rnd.randint(8, 20)
                events_today.append((at(h, rnd.randint(0, 59)), "REPORT|" + text.format(b=rnd.choice(buildings)),
                                     f"res_{code}_{rnd.randint(1, 40)}", code))
        for e in events_today:
            heapq.heappush(queue, (e[0], next(order), e[1], e[2], e[3]))
        end_of_day = datetime(day.year, day.month, day.day, 23, 0, tzinfo=TZ)
        while queue and queue[0][0] <= end_of_day:
            when, _, text, who, chat = heapq.heappop(queue)
            clock.set(when)
            if text.startswith("REPORT|"):
                number = _number(say(text[7:], who, chat))
                if number is None:
                    continue
                made["tickets"] += 1
                member, lead = handler[chat], leader[chat]
                fate = rnd.random()
                t_acc = when + timedelta(minutes=rnd.choice((5, 15, 25, 50, 90)))
                if fate < 0.05:
                    continue                                   # nobody takes it: overdue
                plan = [(t_acc, f"受理 {number}", member, None),
                        (t_acc + timedelta(minutes=5), f"处置 {number}", member, None)]
                if fate >= 0.12:                               # else: in progress, runs late
                    done = t_acc + timedelta(hours=rnd.choice((2, 5, 20, 30, 60)))
                    plan.append((done, f"办结 {number} 已处理完毕", member, None))
                    verdict = ("满意" if rnd.random() < 0.8 else
                               "基本满意" if rnd.random() < 0.6 else "不满意 还是没解决")
                    if rnd.random() < 0.85:
                        plan.append((done + timedelta(hours=1), verdict, who, None))
                    if not verdict.startswith("不满意"):
                        plan.append((done + timedelta(hours=2), f"核查 {number}", lead, None))
                        plan.append((done + timedelta(hours=3), f"结案 {number}", lead, None))
                for item in plan:
                    heapq.heappush(queue, (item[0], next(order), item[1], item[2], item[3]))
            else:
                say(text, who, chat)
                kind = text.split(" ", 1)[0]
                made[kind] = made.get(kind, 0) + 1
        clock.set(datetime(day.year, day.month, day.day, 23, 50, tzinfo=TZ))
        sweep_tickets(app=app)
        with app.session() as s, s.begin():
            coverage.take_snapshots(s, clock.now(), day, TZ)
    return made


def demo(args: argparse.Namespace) -> None:
    from gridbot.bootstrap import build, set_current
    from gridbot.cli.demo import build_demo
    from gridbot.clock import FrozenClock

    instance = Path(args.instance)
    last = date.fromisoformat(args.date) - timedelta(days=1)
    os.environ.setdefault("GRIDBOT_INSTANCE_DIR", str(instance))
    settings, _ = build_demo(instance)
    clock = FrozenClock(datetime(last.year, last.month, last.day, tzinfo=TZ) - timedelta(days=args.days))
    app = build(settings, clock=clock, sync_jobs=True)
    set_current(app)
    try:
        made = seed_demo_month(app, clock, last, args.days)
    finally:
        app.close()
    print(f"demo month seeded: {made}")
    print(f"GRIDBOT_DATABASE_URL={settings.database_url} .venv/bin/gridbot digest --community XF --date {args.date}")


# -- county ---------------------------------------------------------------------------------------------
CATEGORIES = ["repair", "sanitation", "fire_hazard", "security", "dispute", "noise", "construction", "parking",
              "assistance", "health", "consultation", "other"]


def generate_county(engine, grids: int, days: int, end: datetime, seed: int = 7) -> dict:
    """bench/coverage.generate() plus staff roles, a history of tickets with timelines, work and snapshots."""
    from coverage import _chunks, generate  # bench/coverage.py
    from sqlalchemy import insert, select, text

    from gridbot.models import (
        CoverageSnapshot,
        Grid,
        Household,
        Member,
        MemberGrid,
        Patrol,
        Ticket,
        TicketEvent,
        Visit,
        WorkLog,
    )

    households = grids * 170
    counts = generate(engine, households, grids, int(households * 1.1), seed=seed)
    rnd = random.Random(seed)
    start = end - timedelta(days=days)
    with engine.begin() as conn:
        grid_rows = conn.execute(select(Grid.id, Grid.community_id, Grid.code, Grid.parent_id)).all()
        leaves = [g for g in grid_rows if g.parent_id is not None]
        members = conn.execute(select(Member.id, Member.community_id, MemberGrid.grid_id)
                               .join(MemberGrid, MemberGrid.member_id == Member.id)).all()
        by_grid: dict[int, list[int]] = {}
        for m in members:
            by_grid.setdefault(m.grid_id, []).append(m.id)
        next_member = max(m.id for m in members) + 1
        new_members, new_links = [], []
        tops = {g.community_id: g.id for g in grid_rows if g.parent_id is None}
        for cid, top in tops.items():      # a secretary per community, a leader per 3 grids
            new_members.append({"id": next_member, "community_id": cid, "name": f"书记{cid}",
                                "userid": f"sec{cid}", "roles": ["secretary", "grid_leader"], "on_duty": True,
                                "active": True, "created_at": start, "updated_at": start})
            new_links.append({"member_id": next_member, "grid_id": top})
            next_member += 1
        by_community: dict[int, list] = {}
        for g in leaves:
            by_community.setdefault(g.community_id, []).append(g)
        chunks = [gs[i:i + 3] for gs in by_community.values() for i in range(0, len(gs), 3)]
        for i, chunk in enumerate(chunks):
            i *= 3
            new_members.append({"id": next_member, "community_id": chunk[0].community_id, "name": f"网格长{i // 3}",
                                "userid": f"lead{i // 3}", "roles": ["grid_leader"], "on_duty": True,
                                "active": True, "created_at": start, "updated_at": start})
            new_links += [{"member_id": next_member, "grid_id": g.id} for g in chunk]
            next_member += 1
        conn.execute(insert(Member), new_members)
        conn.execute(insert(MemberGrid), new_links)
        hh = conn.execute(select(Household.id, Household.grid_id, Household.tags)
                          .where(Household.status == "active")).all()
        hh_by_grid: dict[int, list] = {}
        for h in hh:
            hh_by_grid.setdefault(h.grid_id, []).append(h)

        tickets, events = [], []
        tid = eid = 0
        seq: dict[tuple[int, date], int] = {}
        for g in leaves:
            staff = by_grid.get(g.id) or [None]
            n_tickets = int(days * 0.9 * rnd.uniform(0.7, 1.3))
            for _ in range(n_tickets):
                tid += 1
                created = start + timedelta(seconds=rnd.randint(0, days * 86400 - 1))
                urgent = rnd.random() < 0.05
                resp = timedelta(minutes=10 if urgent else 60)
                res_limit = timedelta(hours=4 if urgent else 24)
                day = created.astimezone(TZ).date()
                seq[(g.community_id, day)] = seq.get((g.community_id, day), 0) + 1
                assignee = rnd.choice(staff)
                tk = {"id": tid, "number": f"C{g.community_id:02d}-{day:%Y%m%d}-{seq[(g.community_id, day)]:04d}",
                      "community_id": g.community_id, "grid_id": g.id, "category": rnd.choice(CATEGORIES),
                      "urgency": "urgent" if urgent else "normal", "building": str(rnd.randint(1, 8)),
                      "unit": "1", "room": "101", "summary": "楼道灯坏了", "description": "楼道灯坏了",
                      "reporter_platform": "wecom", "reporter_id": f"r{rnd.randint(1, 9999)}",
                      "assignee_id": assignee, "reporters": 1, "response_due": created + resp,
                      "created_at": created, "updated_at": created, "escalation_level": 0, "reopen_count": 0,
                      "status": "reported", "rating": None, "resolution_due": None, "verify_due": None,
                      "accepted_at": None, "dispatched_at": None, "resolved_at": None, "closed_at": None}
                evs = [("report", None, "reported", created, {})]
                t = created
                fate = rnd.random()
                if fate < 0.03:
                    evs.append(("reject", "reported", "rejected", t + timedelta(minutes=20), {}))
                else:
                    t_acc = t + rnd.choice((timedelta(minutes=5), timedelta(minutes=20), timedelta(minutes=50),
                                            timedelta(minutes=90)))
                    if t_acc < end:
                        evs.append(("accept", "reported", "accepted", t_acc, {}))
                        tk["accepted_at"] = t_acc
                        evs.append(("dispatch", "accepted", "dispatched", t_acc + timedelta(minutes=2), {}))
                        tk["dispatched_at"] = t_acc + timedelta(minutes=2)
                        tk["resolution_due"] = tk["dispatched_at"] + res_limit
                        evs.append(("start", "dispatched", "in_progress", t_acc + timedelta(minutes=30), {}))
                        evs.append(("remind", "in_progress", "in_progress", t_acc + timedelta(hours=2), {}))
                        t_res = t_acc + timedelta(hours=rnd.choice((2, 6, 20, 30, 70)))
                        rounds = 2 if rnd.random() < 0.06 else 1
                        for r in range(rounds):
                            if t_res >= end:
                                break
                            evs.append(("resolve", "in_progress", "resolved", t_res, {}))
                            tk["resolved_at"] = t_res
                            rating = "dissatisfied" if r < rounds - 1 else rnd.choice(
                                ("satisfied", "satisfied", "satisfied", "basic", "none"))
                            t_rate = t_res + timedelta(hours=3)
                            if t_rate >= end:
                                break
                            evs.append(("rate" if rating != "none" else "rating_expired", "resolved", "resolved",
                                        t_rate, {"rating": rating}))
                            tk["rating"] = rating
                            if rating == "dissatisfied":
                                evs.append(("reopen", "resolved", "in_progress", t_rate, {}))
                                t_res = t_rate + timedelta(hours=10)
                                continue
                            if t_res + timedelta(hours=5) < end:
                                evs.append(("verify", "resolved", "verified", t_res + timedelta(hours=4), {}))
                                evs.append(("close", "verified", "closed", t_res + timedelta(hours=5), {}))
                                tk["closed_at"] = t_res + timedelta(hours=5)
                                if rating in ("satisfied", "basic", "none"):
                                    evs.append(("rated", "closed", "rated", t_res + timedelta(hours=5), {}))
                evs = [e for e in evs if e[3] < end]
                for action, frm, to, at, detail in evs:
                    eid += 1
                    events.append({"id": eid, "ticket_id": tid, "at": at, "actor": "system", "action": action,
                                   "from_status": frm, "to_status": to, "member_id": assignee, "note": None,
                                   "detail": detail})
                tk["status"] = evs[-1][2]
                tk["updated_at"] = evs[-1][3]
                tickets.append(tk)
        _chunks(conn, Ticket, tickets)
        _chunks(conn, TicketEvent, events, size=20000)

        patrols, visits, logs, snaps = [], [], [], []
        for g in leaves:
            for mid in by_grid.get(g.id, []):
                every = rnd.choice((7, 12, 25, 45))
                d = start
                while d < end:
                    patrols.append({"member_id": mid, "grid_id": g.id, "started_at": d,
                                    "ended_at": d + timedelta(hours=1), "place": "小区"})
                    d += timedelta(days=every)
                homes = hh_by_grid.get(g.id, [])
                for _ in range(int(days * 0.6)):
                    if homes:
                        h = rnd.choice(homes)
                        visits.append({"member_id": mid, "household_id": h.id, "grid_id": g.id,
                                       "at": start + timedelta(seconds=rnd.randint(0, days * 86400 - 1)),
                                       "tags": [], "invited_to_group": False})
                for k in range(days):
                    if rnd.random() < 0.7:
                        day = (start + timedelta(days=k)).astimezone(TZ).date()
                        logs.append({"member_id": mid, "day": day, "at": start + timedelta(days=k), "text": "巡查"})
            total = len(hh_by_grid.get(g.id, []))
            covered = int(total * 0.6)
            for k in range(min(days, 60)):
                day = (end - timedelta(days=min(days, 60) - k)).astimezone(TZ).date()
                covered = min(total, covered + rnd.choice((0, 0, 1, 2)))
                snaps.append({"grid_id": g.id, "day": day, "households": total, "covered": covered,
                              "ratio": round(covered / total, 4) if total else None, "unbound_members": 0,
                              "pending_overdue": 0, "gained": 1, "lost": 0, "covered_ids": [], "movers": {},
                              "taken_at": end})
        _chunks(conn, Patrol, patrols)
        _chunks(conn, Visit, visits)
        _chunks(conn, WorkLog, logs)
        _chunks(conn, CoverageSnapshot, snaps)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("members", "tickets", "ticket_events", "patrols", "visits", "work_logs",
                          "coverage_snapshots"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("VACUUM ANALYZE"))
    counts.update(tickets=len(tickets), events=len(events), patrols=len(patrols), visits=len(visits),
                  logs=len(logs), snapshots=len(snaps))
    return counts


def baseline_all(session, day: date, console: str) -> int:
    """The first thing one writes: per reader, the metrics and compliance service calls on their own."""
    from sqlalchemy import select

    from gridbot.models import Community
    from gridbot.services import compliance, digest, metrics

    w = digest.Window(day, TZ)
    n = 0
    for code in session.scalars(select(Community.code).order_by(Community.code)).all():
        c = digest.community_scope(session, code)
        for _member, scope in digest.readers(session, c.community_id):
            scope = scope or c
            for gid in scope.grid_ids:
                metrics.ticket_metrics(session, since=w.week_start, until=w.cutoff, grid_id=gid)
                metrics.ticket_metrics(session, since=w.prev_start, until=w.week_start, grid_id=gid)
            compliance.compliance(session, code, compliance.Period(w.covers - timedelta(days=29), w.day, "30d"), TZ)
            n += 1
    return n


def county(args: argparse.Namespace) -> None:
    from sqlalchemy import create_engine, text

    from gridbot import migrate
    from gridbot.db import make_engine, make_sessionmaker
    from gridbot.services import digest

    end = datetime(2026, 11, 29, 0, 0, tzinfo=TZ).astimezone(UTC)
    day = date(2026, 11, 29)
    name = f"gridbot_bench_digest_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    if args.reuse:                       # a database kept by an earlier --keep run: time only
        url, args.keep = args.reuse, True
    else:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = make_engine(url)
        if not args.reuse:
            migrate.upgrade(url)
            t0 = time.perf_counter()
            counts = generate_county(engine, args.grids, args.days, end)
            print(f"generated in {time.perf_counter() - t0:.0f} s: {counts}")
        factory = make_sessionmaker(engine)

        def run_all() -> int:
            with factory() as s:
                out = digest.build_all(s, day, TZ, "http://console")
                for d, _ in out:
                    digest.markdown_parts(d)
                return len(out)

        def run_one() -> int:
            with factory() as s:
                d = digest.build(s, community="C01", day=day, tz=TZ, console_base_url="http://console")
                return len(digest.markdown_parts(d))

        def run_base() -> int:
            with factory() as s:
                return baseline_all(s, day, "http://console")

        def timed(fn, runs):
            times, result = [], None
            for _ in range(runs):
                t = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t)
            return min(times), statistics.median(times), result

        all_best, all_med, n_digests = timed(run_all, args.runs)
        one_best, one_med, _ = timed(run_one, args.runs)
        base_best, n_base = float("nan"), 0
        if not args.no_baseline:
            base_best, _, n_base = timed(run_base, 1)          # slow: one run is enough for the ratio
        from gridbot.services.charts import digest_chart
        with factory() as s:
            sample = digest.build(s, community="C01", day=day, tz=TZ, console_base_url="http://console")
        t = time.perf_counter()
        png = digest_chart(sample)
        chart_first = time.perf_counter() - t
        t = time.perf_counter()
        digest_chart(sample)
        chart_s = time.perf_counter() - t
        print("\n| what | best | median | baseline best | baseline / gridbot |\n|---|---|---|---|---|")
        print(f"| all digests ({n_digests}: {args.grids // 30 or 1} communities + grid leaders) | "
              f"{all_best:.2f} s | {all_med:.2f} s | {base_best:.2f} s ({n_base} readers) | "
              f"{base_best / all_best:.1f}x |")
        print(f"| one community's digest (C01) | {one_best:.3f} s | {one_med:.3f} s | | |")
        print(f"| one chart PNG ({len(png) // 1024} KB; the first in a process {chart_first:.2f} s) | "
              f"{chart_s:.2f} s | | | |")
        print(f"targets: all < 10 s: {'met' if all_best < 10 else 'MISSED'}; one < 1 s: "
              f"{'met' if one_best < 1 else 'MISSED'}")
        engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {url}")
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="county", choices=("county", "demo"))
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--days", type=int, default=None, help="history (county: 365; demo: 30)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the county database afterwards")
    parser.add_argument("--reuse", metavar="URL", help="time digests on a database an earlier --keep run made")
    parser.add_argument("--no-baseline", action="store_true", help="skip the (slow) baseline")
    parser.add_argument("--instance", default="/tmp/gridbot-digest-demo")
    parser.add_argument("--date", default="2026-11-29", help="demo: the digest's date (the month ends the day before)")
    args = parser.parse_args()
    if args.mode == "demo":
        args.days = args.days or 30
        demo(args)
    else:
        args.days = args.days or 365
        county(args)


if __name__ == "__main__":
    main()
