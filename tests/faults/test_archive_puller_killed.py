"""The archive's puller (a process of its own) SIGKILLed in the middle of a large catch-up: 5,000 messages in the
embedded archive, pages of 100, killed while a page's rows are inserted but not committed. Its transaction dies
with it and PostgreSQL lets go of its advisory lock; a new puller starts at once, re-reads that page and goes on.

Faults injected: 1 puller killed mid-page (after the 10th page's INSERT, before its COMMIT). Lost: nothing;
duplicated: nothing (5,000 rows, one per msgid, the cursor at 5,000, its count 5,000).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import func, select

from gridbot.archive import local
from gridbot.models import ArchiveCursor, InboundMessage
from tests.factories import seed_world
from tests.integration.test_archive import archive_env, archive_keys  # noqa: F401 - the session's key files

TOTAL, PAGE = 5000, 100

PULLER = textwrap.dedent("""
    import json, sys, time
    from gridbot.archive import pull
    from gridbot.bootstrap import build
    from gridbot.config import Settings

    class NoJobs:   # processing is the workers' business, not this test's
        def enqueue(self, *args, **kwargs): pass
        def depth(self): return {}

    slow = float(sys.argv[1])
    real = pull._insert
    def insert(*args, **kwargs):
        out = real(*args, **kwargs)
        print("inserted", flush=True)   # rows in, transaction still open
        time.sleep(slow)
        return out
    pull._insert = insert
    app = build(Settings.from_env(), queue=NoJobs())
    result = pull.pull(app)
    print(json.dumps({"busy": result.busy, "stored": result.stored, "seq": result.seq}), flush=True)
""")


def run_puller(env: dict, slow: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PULLER, str(slow)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_puller_killed_mid_catch_up_loses_and_repeats_nothing(make_app, pg_url, archive_keys, tmp_path):  # noqa: F811 - the fixture imported above
    env_extra = archive_env(archive_keys, GRIDBOT_ARCHIVE_PULL_LIMIT=str(PAGE))
    app = make_app(pg_url, env=env_extra)
    with app.session() as s, s.begin():
        seed_world(s)
    rooms = ["chat-hy-01", "chat-hy-02", "chat-hy-03", "wrNotBound"]
    app.archive.put_many([local.message(rooms[i % 4], f"wmResident{i % 37:04d}", "text", {"content": f"闲聊 {i}"},
                                        msgid=f"k{i:05d}") for i in range(TOTAL)])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}, **env_extra,
           "GRIDBOT_DATABASE_URL": pg_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance")}

    first = run_puller(env, slow=0.3)
    inserted = 0
    deadline = time.monotonic() + 120
    while inserted < 10 and time.monotonic() < deadline:
        line = first.stdout.readline()
        assert line, first.stderr.read()
        inserted += line.strip() == "inserted"
    os.kill(first.pid, signal.SIGKILL)              # mid-page: the 10th page's rows are in, not committed
    first.wait(10)
    with app.session() as s:
        cursor = s.scalar(select(ArchiveCursor))
        stored = s.scalar(select(func.count()).select_from(InboundMessage))
    assert cursor.seq == stored == 9 * PAGE         # nine pages committed with their cursor, the tenth not at all

    second = run_puller(env, slow=0)                 # the lock died with the killed process: no waiting
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"busy": False, "stored": TOTAL - 9 * PAGE, "seq": TOTAL}
    with app.session() as s:
        keys = s.scalars(select(InboundMessage.dedupe_key)).all()
        cursor = s.scalar(select(ArchiveCursor))
    expected = {f"wecom_archive:msg:k{i:05d}_external" for i in range(TOTAL)}
    assert len(keys) == TOTAL and set(keys) == expected    # every message, once
    assert (cursor.seq, cursor.messages) == (TOTAL, TOTAL)
