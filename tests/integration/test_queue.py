"""Both queue implementations run the real jobs: RQ on the real Redis, and the in-process thread."""
from __future__ import annotations

import time
import uuid
from datetime import UTC

from rq import SimpleWorker
from sqlalchemy import select

from gridbot.messages import Inbound
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.pipeline.receive import store_and_queue as receive
from gridbot.queue import InProcessQueue, RQQueue
from tests.conftest import REDIS_URL
from tests.factories import seed_world


def _help_message(msg_id: str) -> Inbound:
    return Inbound(platform="console", sender_id="resident_a", text="帮助", chat_id="chat-hy-01", msg_id=msg_id)


def test_rq_queue_processes_a_received_message_once(make_app, pg_url, redis_conn, redis_prefix):
    app = make_app(pg_url, sync_jobs=False,
                   env={"GRIDBOT_REDIS_URL": REDIS_URL, "GRIDBOT_QUEUE_PREFIX": redis_prefix})
    assert isinstance(app.queue, RQQueue)
    with app.session() as s, s.begin():
        seed_world(s)
    for _ in range(3):  # WeCom retries: the same delivery three times
        inbound_id, _created = receive(app, _help_message("rq-1"))
    assert app.queue.depth()["inbound"] == 1
    worker = SimpleWorker(list(app.queue.queues.values()), connection=redis_conn, name=f"{redis_prefix}-w")
    worker.work(burst=True)
    with app.session() as s:
        row = s.get(InboundMessage, inbound_id)
        replies = s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == inbound_id)).all()
    assert row.status == "done"
    assert len(replies) == 1 and "网格小助手" in replies[0].content["text"]
    assert replies[0].status == "sent"  # the outbound job ran on the outbound queue in the same burst
    assert all(v == 0 for v in app.queue.depth().values())


def test_in_process_queue_runs_jobs_in_the_background(make_app, sqlite_url):
    app = make_app(sqlite_url, sync_jobs=False)
    assert isinstance(app.queue, InProcessQueue) and not app.queue.sync
    with app.session() as s, s.begin():
        seed_world(s)
    inbound_id, created = receive(app, _help_message(uuid.uuid4().hex))
    assert created
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        with app.session() as s:
            status = s.get(InboundMessage, inbound_id).status
            sent = s.scalar(select(OutboxMessage.status).where(OutboxMessage.inbound_id == inbound_id))
        if status == "done" and sent == "sent":
            break
        time.sleep(0.05)
    assert status == "done" and sent == "sent"


def test_in_process_queue_holds_future_jobs_until_due(make_app, sqlite_url):
    from datetime import datetime, timedelta

    calls: list[int] = []
    queue = InProcessQueue(sync=True)
    import tests.integration.test_queue as me

    me.CALLS = calls
    later = datetime.now(UTC) + timedelta(hours=1)
    queue.enqueue("tests.integration.test_queue.record_call", 7, at=later)
    assert calls == []
    assert queue.run_due(later - timedelta(minutes=1)) == 0
    assert queue.run_due(later) == 1
    assert calls == [7]


CALLS: list[int] = []


def record_call(value: int) -> None:
    CALLS.append(value)
