"""微信客服: a worker process SIGKILLed in the middle of a kf/sync_msg run (issue 17, "Done when") loses and repeats
nothing. The child syncs against the fake WeCom (answering slowly) on PostgreSQL + Redis; once its first page is
committed it is killed while it waits for the second; a new sync goes on from the committed cursor.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from gridbot.models import InboundMessage
from gridbot.models.kf import KfCursor
from gridbot.pipeline import kf_sync

KFID = "wkKillTest0001"
CHILD = ("from gridbot.cli.base import build_app\n"
         "from gridbot.pipeline import kf_sync\n"
         f"kf_sync.sync(build_app(sync_jobs=False), {KFID!r})\n")


def test_a_sync_killed_between_pages_loses_and_repeats_nothing(make_app, pg_url, wecom_env, fake, redis_conn):
    app = make_app(pg_url, env=wecom_env, sync_jobs=False)
    fake.kf_page_size = 2
    for i in range(6):
        fake.kf_write(KFID, f"wmKill{i}", f"{i + 1}栋路灯坏了")
    fake.hold_after_record = 0.8     # each page takes 0.8 s (the client waits 1 s): time to kill in the second
    env = {**os.environ, **wecom_env, "GRIDBOT_DATABASE_URL": pg_url, "GRIDBOT_LOG_LEVEL": "WARNING"}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        cursor = None
        while time.monotonic() < deadline and cursor != "c2":
            with app.session() as s:
                cursor = s.scalar(select(KfCursor.cursor).where(KfCursor.open_kfid == KFID))
            time.sleep(0.05)
        assert cursor == "c2", child.stderr.read().decode() if child.poll() is not None else "no first page"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2   # the second page: not committed
        assert s.scalar(select(KfCursor.cursor)) == "c2"
    asked = len([r for r in fake.received if r.path == "/cgi-bin/kf/sync_msg"])
    assert asked >= 2, "the child was asking for the second page when it was killed"

    fake.hold_after_record = 0
    assert kf_sync.sync(app, KFID) == 4                    # from the committed cursor: pages 2 and 3
    assert kf_sync.sync(app, KFID) == 0
    with app.session() as s:
        rows = s.scalars(select(InboundMessage).where(InboundMessage.platform == "wecom_kf")).all()
        assert sorted(r.sender_id for r in rows) == [f"wmKill{i}" for i in range(6)]   # each once, none lost
        assert all(r.status == "received" for r in rows)
        assert s.scalar(select(KfCursor.cursor)) == "c6"
    assert app.queue.depth()["inbound"] == 6               # each queued for processing once (the child's 2 + 4)
