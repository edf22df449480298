"""PostgreSQL restarted under the webhook (a throwaway cluster, never the shared one): while it is down a callback is
kept in the local journal and answered 200 (WeCom may never retry a non-200), and /readyz says the database is down
and how many callbacks are kept; once it is back the same web process stores and answers them without an operator
(pool_pre_ping, the journal's drainer).

Faults injected: 1 PostgreSQL stop (fast shutdown: every pooled connection is cut) + start. Lost: nothing (3 messages
sent, 3 inbound rows done, 3 replies delivered once each).
"""
from __future__ import annotations

import time

from sqlalchemy import create_engine, func, select, text

from gridbot import migrate
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer

NOW = int(T0.timestamp())


def test_postgres_restart_keeps_callbacks_in_the_journal_then_recovers_alone(make_app, own_pg, fake):
    admin = create_engine(own_pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS restart_test"))
        conn.execute(text("CREATE DATABASE restart_test"))
    admin.dispose()
    url = own_pg.url.rsplit("/", 1)[0] + "/restart_test"
    migrate.upgrade(url)
    app = make_app(url, env={"GRIDBOT_WECOM_API_BASE": fake.url, "GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN,
                             "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY, "GRIDBOT_WECOM_TIMEOUT": "1"})
    with app.session() as s, s.begin():
        seed_world(s)
    client = create_app(gridbot=app).test_client()
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")

    def post(i: int, attempt: int = 0) -> int:
        msg = aibot_message(f"pg{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01",
                            response_url=fake.response_url(f"pg{i}"))
        query, body = signer.json_post(msg, NOW + attempt, nonce=f"n{i}-{attempt}")
        return client.post(f"/wecom/aibot?{query}", data=body).status_code

    assert post(0) == 200
    own_pg.stop("fast")
    try:
        assert post(1) == 200                              # kept in the journal: WeCom has nothing to retry
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["checks"]["database"].startswith("error")
        assert ready.get_json()["journal"]["backlog"] == 1
    finally:
        own_pg.start()
    assert client.get("/readyz").status_code == 200       # the same process, no restart, no operator
    assert post(2) == 200
    deadline = time.monotonic() + 20
    while app.journal.backlog() and time.monotonic() < deadline:   # the drainer retries every 2 s
        time.sleep(0.2)
    assert app.journal.backlog() == 0 and "journal" not in client.get("/readyz").get_json()
    assert post(1, attempt=1) == 200                       # a retry anyway (older docs): stored once, not twice

    with app.session() as s:
        inbound = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        out = dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    assert inbound == {"done": 3} and out == {"sent": 3}
    assert [len(fake.replies(f"pg{i}")) for i in range(3)] == [1, 1, 1]
