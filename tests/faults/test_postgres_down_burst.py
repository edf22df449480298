"""PostgreSQL stopped for a minute in the middle of a burst of AI-bot callbacks, on the production path (PostgreSQL +
the intake's group commit + RQ; a throwaway cluster, never the shared one), over real HTTP from several threads:
every callback is answered 200 within WeCom's 5 seconds (the ones the database could not take are kept in the
local journal), and once PostgreSQL is back the journal drains by itself and every message is stored once,
processed once and answered once.

Faults injected: 1 PostgreSQL stop (fast shutdown) for 60 s + start, while 300 callbacks arrive over ~70 s from 6
threads. Lost: nothing (inbound rows = messages, all done; each reply sent once to the fake WeCom).
"""
from __future__ import annotations

import logging
import threading
import time

import requests
from rq import SimpleWorker
from sqlalchemy import create_engine, func, select, text
from werkzeug.serving import make_server

from gridbot import migrate
from gridbot.bootstrap import set_current
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.pipeline.intake import Intake
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer

NOW = int(T0.timestamp())
MESSAGES = 300
THREADS = 6
SPREAD_SECONDS = 70.0      # the burst's length
DOWN_AFTER = 5.0           # PostgreSQL stops this far into the burst ...
DOWN_FOR = 60.0            # ... for this long
WECOM_DEADLINE = 5.0       # WeCom waits 5 s for the answer (WECOM.md, "Timing and retries")


def test_postgres_down_for_a_minute_mid_burst_every_callback_answered_200_and_processed_once(
        make_app, own_pg, fake, wecom_env, redis_conn, caplog):
    caplog.set_level(logging.INFO)
    admin = create_engine(own_pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS burst_test"))
        conn.execute(text("CREATE DATABASE burst_test"))
    admin.dispose()
    url = own_pg.url.rsplit("/", 1)[0] + "/burst_test"
    migrate.upgrade(url)
    app = make_app(url, sync_jobs=False, env=wecom_env)
    assert isinstance(app.receiver, Intake)   # the production path
    with app.session() as s, s.begin():
        seed_world(s)
    server = make_server("127.0.0.1", 0, create_app(gridbot=app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")

    answers: dict[int, tuple[int, float]] = {}
    start = time.monotonic() + 0.5

    def send(share: range) -> None:
        http = requests.Session()
        for n, i in enumerate(share):
            time.sleep(max(0.0, start + n * SPREAD_SECONDS / len(share) - time.monotonic()))
            msg = aibot_message(f"burst-{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01",
                                response_url=fake.response_url(f"burst-{i}"))
            query, body = signer.json_post(msg, NOW, nonce=f"burst-{i}")
            t0 = time.monotonic()
            try:
                status = http.post(f"{base}/wecom/aibot?{query}", data=body, timeout=30).status_code
            except requests.RequestException:
                status = 0
            answers[i] = (status, time.monotonic() - t0)

    senders = [threading.Thread(target=send, args=(range(k, MESSAGES, THREADS),)) for k in range(THREADS)]
    try:
        for t in senders:
            t.start()
        time.sleep(max(0.0, start + DOWN_AFTER - time.monotonic()))
        own_pg.stop("fast")
        down_at = time.monotonic()
        kept_while_down = 0
        try:
            time.sleep(DOWN_FOR - 1)
            kept_while_down = app.journal.backlog()
            ready = requests.get(f"{base}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["journal"]["backlog"] >= kept_while_down
            time.sleep(max(0.0, down_at + DOWN_FOR - time.monotonic()))
        finally:
            own_pg.start()
        back_at = time.monotonic()
        while app.journal.backlog() and time.monotonic() < back_at + 30:   # the drainer retries every 2 s
            time.sleep(0.1)
        drained_in = time.monotonic() - back_at
        for t in senders:
            t.join(timeout=SPREAD_SECONDS + 60)
        assert app.journal.backlog() == 0
    finally:
        server.shutdown()

    statuses = [answers.get(i, (None, 0.0))[0] for i in range(MESSAGES)]
    slowest = max(latency for _, latency in answers.values())
    assert statuses == [200] * MESSAGES
    assert slowest < WECOM_DEADLINE, f"slowest answer {slowest:.2f} s"
    assert kept_while_down > 150   # most of the burst arrived while the database was down
    print(f"\n{MESSAGES} callbacks: slowest answer {slowest:.3f} s, {kept_while_down} kept in the journal, "
          f"all stored {drained_in:.1f} s after PostgreSQL was back")

    said = [r.getMessage() for r in caplog.records if r.name.startswith("gridbot")]
    assert len([m for m in said if "database unavailable" in m]) <= 2   # the journal's and the intake's, once each
    assert len([m for m in said if m.startswith("journal drained")]) == 1

    set_current(app)
    SimpleWorker(list(app.queue.queues.values()), connection=redis_conn).work(burst=True)
    with app.session() as s:
        inbound = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        keys = s.scalar(select(func.count(func.distinct(InboundMessage.dedupe_key))))
        out = dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    assert inbound == {"done": MESSAGES} and keys == MESSAGES and out == {"sent": MESSAGES}
    assert [len(fake.replies(f"burst-{i}")) for i in range(MESSAGES)] == [1] * MESSAGES
