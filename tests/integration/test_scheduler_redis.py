"""The scheduler on the real PostgreSQL and Redis: occurrences are sent once, whatever runs twice or restarts.

Two schedulers are two apps (own engines, own RQ queues on the same Redis prefix) on one database, ticking in
threads released together by a barrier. An RQ SimpleWorker in burst mode then runs what they enqueued, and a
RecordingSender shows what would have reached WeCom.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from gridbot.models import Occurrence, OutboxMessage, Reminder
from gridbot.schedule.config import parse_config
from gridbot.schedule.parse import parse
from gridbot.schedule.scheduler import tick
from gridbot.senders.local import RecordingSender
from gridbot.services import reminders as service

from ..conftest import REDIS_URL
from ..factories import Bot

SH = ZoneInfo("Asia/Shanghai")
NO_JOBS = parse_config({})
WITH_RELEASE = parse_config({"jobs": {"release_held_outbox": {"every": "1m", "job": "gridbot.jobs.release_held_outbox",
                                                              "late": "skip", "quiet_exempt": True}}})


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def cluster(make_app, pg_url, redis_conn, redis_prefix):
    """Two scheduler processes' worth of apps on one PostgreSQL database and one Redis, and a recorder."""
    env = {"GRIDBOT_REDIS_URL": REDIS_URL, "GRIDBOT_QUEUE_PREFIX": redis_prefix}
    apps = [make_app(pg_url, sync_jobs=False, env=env) for _ in range(2)]
    rec = RecordingSender()
    for app in apps:
        app.senders["wecom_app"] = rec
        app.senders["console"] = rec
    bot = Bot(apps[0])
    bot.seed()

    def make(**kw):  # a restarted process
        app = make_app(pg_url, sync_jobs=False, env=env, **kw)
        app.senders["wecom_app"] = rec
        return app

    return bot, apps, rec, make


def together(apps, config):
    barrier = threading.Barrier(len(apps))
    results, errors = [], []

    def run(app):
        try:
            barrier.wait()
            results.append(tick(app, config))
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    return results


def work(app, redis_conn) -> None:
    from rq import SimpleWorker

    from gridbot.bootstrap import set_current

    set_current(app)
    SimpleWorker(list(app.queue.queues.values()), connection=redis_conn).work(burst=True)


def reminder_texts(rec, part: str) -> list[str]:
    return [x for x in rec.texts() if part in x and x.startswith("⏰")]  # reminders, not chat answers


def count(app, model, *where) -> int:
    with app.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_two_schedulers_send_one_reminder(cluster, clock, redis_conn):
    bot, apps, rec, _ = cluster
    bot.said("提醒 每周一 8:30 例会", as_="mem_zhao")
    clock.set(at(2026, 11, 9, 8, 30, 5))
    results = together(apps, NO_JOBS)
    assert sum(r.sent for r in results) == 1
    assert count(apps[0], Occurrence, Occurrence.source == "reminder") == 1
    assert count(apps[0], OutboxMessage, OutboxMessage.inbound_id.is_(None)) == 1
    # a stale scheduler (clock jumped back, state read before the other committed) finds the key taken
    with apps[0].session() as s, s.begin():
        s.execute(update(Reminder).values(next_at=at(2026, 11, 9, 8, 30)))
    again = together(apps, NO_JOBS)
    assert sum(r.duplicate for r in again) >= 1 and sum(r.sent for r in again) == 0
    assert count(apps[0], OutboxMessage, OutboxMessage.inbound_id.is_(None)) == 1
    work(apps[0], redis_conn)
    assert reminder_texts(rec, "例会") == ["⏰ 提醒：例会"]


def test_two_schedulers_enqueue_a_system_job_once(cluster, clock, redis_conn):
    _, apps, _, _ = cluster
    together(apps, WITH_RELEASE)                  # first sight: both agree on the next slot
    clock.advance(minutes=1)
    results = together(apps, WITH_RELEASE)
    assert sum(len(r.jobs) for r in results) == 1
    assert apps[0].queue.queues["scheduled"].count == 1
    assert count(apps[0], Occurrence, Occurrence.source == "job") == 1


def test_restart_midway_sends_once(cluster, clock, redis_conn):
    """The scheduler committed the occurrence and its outbox row, then died before the send job ran
    (its queued job is lost too). A restarted scheduler does not send it again, and the release job delivers
    the pending row exactly once."""
    bot, apps, rec, make = cluster
    bot.said("提醒 明天上午10点 交材料", as_="mem_zhao")
    work(apps[0], redis_conn)                      # deliver the confirmation reply; the slate is clean
    clock.set(at(2026, 11, 3, 10, 0, 5))
    assert tick(apps[0], WITH_RELEASE).sent == 1
    for q in apps[0].queue.queues.values():        # the crash: nothing that was queued survives
        q.empty()
    apps[0].close()
    restarted = make()
    assert tick(restarted, WITH_RELEASE).sent == 0
    clock.advance(minutes=1)
    tick(restarted, WITH_RELEASE)
    clock.advance(minutes=1)
    tick(restarted, WITH_RELEASE)
    work(restarted, redis_conn)
    assert reminder_texts(rec, "交材料") == ["⏰ 提醒：交材料"]
    with restarted.session() as s:
        assert s.scalar(select(Reminder.active).where(Reminder.text == "交材料")) is False


def test_missed_occurrence_late_once_or_skipped(cluster, clock, redis_conn):
    bot, apps, rec, _ = cluster
    world = bot.world
    with apps[0].session() as s, s.begin():
        for text, policy in (("早班交接", "send_late_once"), ("今日测温", "skip")):
            service.create_reminder(s, community_id=world.community_id, owner_member_id=world.members["mem_zhao"],
                                    created_by="member:mem_zhao", target_type="member",
                                    target_member_id=world.members["mem_zhao"],
                                    schedule=parse("每天8:00", clock.now()), text=text, now=clock.now(),
                                    late_policy=policy)
    clock.set(at(2026, 11, 5, 11, 0))             # down since Monday: Tue, Wed, Thu 08:00 missed
    together(apps, NO_JOBS)
    together(apps, NO_JOBS)
    work(apps[0], redis_conn)
    late = reminder_texts(rec, "早班交接")
    assert len(late) == 1 and "补发" in late[0] and "11月5日（周四）08:00" in late[0]
    assert reminder_texts(rec, "今日测温") == []
    with apps[0].session() as s:
        rows = s.execute(select(Reminder.text, Occurrence.status).join(
            Reminder, Occurrence.source_id == func.cast(Reminder.id, Occurrence.source_id.type))
            .where(Occurrence.source == "reminder")).all()
    by_text = {}
    for text, status in rows:
        by_text.setdefault(text, []).append(status)
    assert sorted(by_text["早班交接"]) == ["late", "skipped", "skipped"]
    assert by_text["今日测温"] == ["skipped"] * 3
    clock.set(at(2026, 11, 6, 8, 0, 10))          # the next one is on time again, for both
    tick(apps[0], NO_JOBS)
    work(apps[0], redis_conn)
    assert reminder_texts(rec, "今日测温") == ["⏰ 提醒：今日测温"]


def test_quiet_hours_hold_normal_not_urgent(cluster, clock, redis_conn):
    bot, apps, rec, _ = cluster
    world = bot.world
    with apps[0].session() as s, s.begin():
        for text, urgent in (("检查值班记录", False), ("防汛巡查", True)):
            service.create_reminder(s, community_id=world.community_id, owner_member_id=world.members["sec_wang"],
                                    created_by="member:sec_wang", target_type="member",
                                    target_member_id=world.members["sec_wang"],
                                    schedule=parse("每天23:00", clock.now()), text=text, now=clock.now(),
                                    urgent=urgent)
    clock.set(at(2026, 11, 2, 23, 0, 5))
    together(apps, WITH_RELEASE)
    work(apps[0], redis_conn)
    assert reminder_texts(rec, "防汛巡查") == ["⏰ 提醒：防汛巡查"]
    assert reminder_texts(rec, "检查值班记录") == []
    for minutes in (30, 60, 90):                    # the night goes on; nothing leaks out
        clock.set(at(2026, 11, 2, 23, 0, 5) + timedelta(minutes=minutes))
        tick(apps[1], WITH_RELEASE)
        work(apps[1], redis_conn)
    assert reminder_texts(rec, "检查值班记录") == []
    clock.set(at(2026, 11, 3, 7, 0, 20))
    together(apps, WITH_RELEASE)
    work(apps[0], redis_conn)
    clock.advance(minutes=1)
    together(apps, WITH_RELEASE)
    work(apps[0], redis_conn)
    assert reminder_texts(rec, "检查值班记录") == ["⏰ 提醒：检查值班记录"]
