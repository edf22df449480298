"""A real RQ worker (`gridbot worker`, in-process jobs, and `--fork`) SIGKILLed in the middle of processing a
resident's report: the job's transaction dies with it, the recovery sweep queues the message again, a new worker
processes it once.

Faults injected: 1 worker per mode (with `--fork`: parent and work-horse) killed mid-job, after the ticket was
written but before the transaction committed. Lost: nothing; duplicated: nothing (1 ticket, 1 group reply,
1 notice to the member).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, func, select, text

from gridbot.clock import FrozenClock
from gridbot.models import InboundMessage, OutboxMessage, Ticket
from gridbot.pipeline.dispatch import requeue_received
from gridbot.web import create_app
from tests.factories import seed_world
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer

from .test_redis_down import wecom_env

GRIDBOT = str(Path(sys.executable).with_name("gridbot"))


def start_worker(env: dict, log: Path, *args: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([GRIDBOT, "worker", *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def tree(pid: int) -> list[int]:
    """pid and its descendants (RQ's work-horse calls setsid, so a process group kill would miss it)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def kill_tree(pid: int) -> int:
    pids = tree(pid)
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    return len(pids)


@pytest.mark.parametrize("mode", ["in-process", "fork"])
def test_worker_killed_mid_job_is_retried_without_duplicates(mode, make_app, pg_url, own_redis, fake,
                                                            tmp_path):
    env = wecom_env(fake, own_redis.url, "faults-kill")
    # The worker runs on the real clock, so the callback arrives on it too: the response_url is valid one hour
    # from the arrival, and a callback stamped with T0 would be long expired when the worker sends the reply.
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    app = make_app(pg_url, sync_jobs=False, env=env, clock=clock)
    with app.session() as s, s.begin():
        seed_world(s)
    client = create_app(gridbot=app).test_client()
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")
    msg = aibot_message("kill-1", "resident_a", "@网格小助手 3栋2单元楼道灯坏了", chatid="chat-hy-01",
                        response_url=fake.response_url("kill-1"))
    query, body = signer.json_post(msg, int(clock.now().timestamp()))

    # Hold the outbox table: the worker will write the ticket, then wait at its first outbox INSERT.
    blocker = create_engine(pg_url).connect()
    blocker.execute(text("LOCK TABLE outbox IN EXCLUSIVE MODE"))
    # The worker runs on the real clock: without quiet hours, the member's notice is sent whatever the hour of the run.
    config_dir = tmp_path / "config"
    shutil.copytree(app.settings.config_dir, config_dir)
    schedules = yaml.safe_load((config_dir / "schedules.yaml").read_text(encoding="utf-8"))
    schedules["quiet_hours"] = {"start": "07:00", "end": "07:00"}         # start == end: no quiet hours
    (config_dir / "schedules.yaml").write_text(yaml.safe_dump(schedules, allow_unicode=True), encoding="utf-8")
    proc_env = {**os.environ, **env, "GRIDBOT_DATABASE_URL": pg_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "w"),
                "GRIDBOT_CONFIG_DIR": str(config_dir)}
    log = tmp_path / "worker.log"
    fork = ["--fork"] if mode == "fork" else []
    worker = start_worker(proc_env, log, "--queue", "inbound", *fork)
    try:
        assert client.post(f"/wecom/aibot?{query}", data=body).status_code == 200
        deadline = time.monotonic() + 60
        watcher = create_engine(pg_url, isolation_level="AUTOCOMMIT")   # pg_stat_activity is per-transaction
        with watcher.connect() as conn:
            while not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO outbox%'")).scalar():
                assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-3000:]
                time.sleep(0.05)
        watcher.dispose()
        assert kill_tree(worker.pid) >= (2 if fork else 1)    # (worker and work-horse) mid-job: nothing committed
        worker.wait()
    finally:
        blocker.rollback()
        blocker.close()
        kill_tree(worker.pid)

    with app.session() as s:
        assert s.scalar(select(InboundMessage.status)) == "received"
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0   # rolled back with the dead worker

    clock.advance(minutes=3)
    assert requeue_received(app, older_than=timedelta(minutes=2)) == 1
    again = start_worker(proc_env, log, "--burst", *fork)
    assert again.wait(timeout=120) == 0, log.read_text()[-3000:]

    with app.session() as s:
        assert s.scalar(select(InboundMessage.status)) == "done"
        tickets = s.scalars(select(Ticket)).all()
        rows = s.scalars(select(OutboxMessage)).all()
    assert len(tickets) == 1 and tickets[0].building == "3"
    assert sorted((r.target_type, r.status) for r in rows) == [("chat", "sent"), ("user", "sent")]
    assert len(fake.replies("kill-1")) == 1                 # one reply in the group
    notices = fake.sent("/cgi-bin/message/send")
    assert len(notices) == 1 and tickets[0].number in notices[0].body["text"]["content"]
