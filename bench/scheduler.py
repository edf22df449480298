"""How long one scheduler tick takes when many reminders fall due in the same minute, and that two schedulers
ticking at once still send each occurrence once.

    .venv/bin/python bench/scheduler.py                    # PostgreSQL (a fresh database, dropped after)
    .venv/bin/python bench/scheduler.py --db sqlite --reminders 2000
    .venv/bin/python bench/scheduler.py --schedulers 1

A county-sized morning: N members each have a reminder at 08:30 (half privately, half to their grid's group).
The clock is set to 08:30:05 and S schedulers tick at once (threads, each its own engine). It prints the wall
time of the slowest tick, occurrences and outbox rows written, and fails if any occurrence was written twice.
Sending is left out (a queue that drops jobs): the outbox is drained by other workers in production.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text

from gridbot import migrate
from gridbot.bootstrap import build
from gridbot.clock import FrozenClock
from gridbot.config import Settings
from gridbot.models import Community, Grid, GridChat, Member, MemberGrid, Occurrence, OutboxMessage, Reminder
from gridbot.schedule.config import parse_config
from gridbot.schedule.scheduler import tick

SH = ZoneInfo("Asia/Shanghai")
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class DropQueue:
    def enqueue(self, *a, **kw):
        return None

    def depth(self) -> dict:
        return {}


def seed(app, n: int, now: datetime) -> None:
    with app.session() as s, s.begin():
        c = Community(code="BENCH", name="压测社区")
        s.add(c)
        s.flush()
        grids = []
        for i in range(max(1, n // 20)):
            g = Grid(community_id=c.id, code=f"B-{i:04d}", name=f"第{i}网格", level=2)
            s.add(g)
            s.flush()
            s.add(GridChat(grid_id=g.id, chat_id=f"chat-b-{i:04d}"))
            grids.append(g.id)
        start = datetime(2026, 11, 2, 8, 0, tzinfo=SH)
        for i in range(n):
            m = Member(community_id=c.id, name=f"网格员{i}", userid=f"m{i:05d}", roles=["member"])
            s.add(m)
            s.flush()
            gid = grids[i % len(grids)]
            s.add(MemberGrid(member_id=m.id, grid_id=gid))
            private = i % 2 == 0
            s.add(Reminder(community_id=c.id, kind="user", owner_member_id=m.id,
                           target_type="member" if private else "grids", target_member_id=m.id if private else None,
                           grid_ids=[] if private else [gid], text=f"晨会{i}", schedule_text="每天8:30",
                           rrule="FREQ=DAILY;BYHOUR=8;BYMINUTE=30", dtstart=start,
                           next_at=datetime(2026, 11, 2, 8, 30, tzinfo=SH), created_by="bench", created_at=now))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--reminders", type=int, default=5000)
    ap.add_argument("--schedulers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    admin = None
    if args.db == "postgres":
        name = f"gridbot_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        migrate.upgrade(url)
        settings = Settings.from_env({"GRIDBOT_DATABASE_URL": url, "GRIDBOT_INSTANCE_DIR": str(tmp)})
        clock = FrozenClock(datetime(2026, 11, 2, 8, 0, tzinfo=SH))
        apps = [build(settings, clock=clock, queue=DropQueue()) for _ in range(args.schedulers)]
        seed(apps[0], args.reminders, clock.now())
        clock.set(datetime(2026, 11, 2, 8, 30, 5, tzinfo=SH))
        cfg = parse_config({"max_catch_up": 100})
        barrier = threading.Barrier(len(apps))
        times, results = [], []

        def run(app):
            barrier.wait()
            t0 = time.perf_counter()
            results.append(tick(app, cfg, limit=args.reminders * 2))
            times.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=run, args=(a,)) for a in apps]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with apps[0].session() as s:
            occ = s.scalar(select(func.count()).select_from(Occurrence))
            keys = s.scalar(select(func.count(func.distinct(Occurrence.key))))
            rows = s.scalar(select(func.count()).select_from(OutboxMessage))
        sent = sum(r.sent for r in results)
        print(f"db={args.db} reminders={args.reminders} schedulers={args.schedulers} "
              f"slowest_tick={max(times):.2f}s per_reminder={max(times) / args.reminders * 1000:.2f}ms "
              f"occurrences={occ} outbox_rows={rows} sent={sent} "
              f"(split {'/'.join(str(r.sent) for r in results)})")
        for app in apps:
            app.close()
        if occ != args.reminders or keys != occ or sent != args.reminders:
            print("FAIL: an occurrence was missed or written twice")
            return 1
        return 0
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
