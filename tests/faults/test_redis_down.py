"""Redis killed while callbacks keep arriving: every callback is answered 200 and stored; once Redis is back the
recovery sweep queues what was stored, a real RQ worker processes it, and every reply leaves the outbox once.

Faults injected: 1 Redis crash (SIGKILL, queue contents lost) during 30 callbacks, plus 1 WeCom retry of a message
already stored. Lost: nothing (inbound rows = callbacks, outbox rows sent = replies expected, asserted below).
"""
from __future__ import annotations

from datetime import timedelta

import redis
from rq import SimpleWorker
from sqlalchemy import func, select

from gridbot.bootstrap import set_current
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.pipeline.dispatch import requeue_received
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer, vectors

NOW = int(T0.timestamp())


def wecom_env(fake, redis_url: str, prefix: str) -> dict:
    v = vectors()
    return {"GRIDBOT_REDIS_URL": redis_url, "GRIDBOT_REDIS_PREFIX": prefix + ":", "GRIDBOT_QUEUE_PREFIX": prefix,
            "GRIDBOT_WECOM_API_BASE": fake.url, "GRIDBOT_WECOM_CORP_ID": v["corp_id"],
            "GRIDBOT_WECOM_AGENT_ID": "1000002", "GRIDBOT_WECOM_SECRET": fake.secret,
            "GRIDBOT_WECOM_TOKEN": v["token"], "GRIDBOT_WECOM_AES_KEY": v["encoding_aes_key"],
            "GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN, "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY, "GRIDBOT_WECOM_TIMEOUT": "1"}


def counts(app) -> dict:
    with app.session() as s:
        inbound = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        out = dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    return {"inbound": inbound, "outbox": out}


def test_redis_down_during_ingestion_loses_nothing(make_app, pg_url, own_redis, fake, clock):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env(fake, own_redis.url, "faults-redis"))
    with app.session() as s, s.begin():
        seed_world(s)
    client = create_app(gridbot=app).test_client()
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")

    def post(i: int, attempt: int = 0) -> int:
        msg = aibot_message(f"m{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01",
                            response_url=fake.response_url(f"{i}"))
        query, body = signer.json_post(msg, NOW + attempt, nonce=f"n{i}-{attempt}")
        return client.post(f"/wecom/aibot?{query}", data=body).status_code

    assert [post(i) for i in range(5)] == [200] * 5          # Redis up: stored and queued
    own_redis.kill()                                          # crash: the 5 queued jobs are gone with it
    assert [post(i) for i in range(5, 30)] == [200] * 25      # Redis down: still answered, still stored
    assert post(7, attempt=1) == 200                          # WeCom's retry of a stored message: no second row
    assert counts(app)["inbound"] == {"received": 30}

    own_redis.start()                                         # Redis is back, empty
    clock.advance(minutes=3)
    assert requeue_received(app, older_than=timedelta(minutes=2)) == 30
    assert requeue_received(app, older_than=timedelta(minutes=2)) == 0   # still waiting in the queue: not twice
    conn = redis.Redis.from_url(own_redis.url)
    set_current(app)
    SimpleWorker(list(app.queue.queues.values()), connection=conn).work(burst=True)

    after = counts(app)
    lost = 30 - after["inbound"].get("done", 0)
    assert after == {"inbound": {"done": 30}, "outbox": {"sent": 30}} and lost == 0
    for i in range(30):                                       # each person answered exactly once
        assert len(fake.replies(f"{i}")) == 1
