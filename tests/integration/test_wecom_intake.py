"""The webhook's group commit (gridbot/pipeline/intake.py) on the real PostgreSQL and Redis: callbacks arriving together
are stored together, and still each exactly once, each answered for itself, each replied to once."""
from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

from rq import SimpleWorker
from sqlalchemy import func, select

from gridbot.bootstrap import set_current
from gridbot.messages import Inbound
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.pipeline.dispatch import DISPATCH_CHUNK, dispatch, dispatch_flag_key, pending_key, requeue_received
from gridbot.pipeline.intake import NEW, RETRY, Intake, IntakeUnavailable, _Pending
from gridbot.pipeline.store import payload as _payload
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer

NOW = int(T0.timestamp())


def _row(key: str, raw: str = "{}") -> dict:
    inbound = Inbound(platform="wecom_aibot", sender_id="resident_a", text="帮助", chat_id="chat-hy-01", msg_id=key,
                      at=T0)
    return dict(platform="wecom_aibot", dedupe_key=key, chat_id="chat-hy-01", sender_id="resident_a", kind="text",
                payload=_payload(inbound), raw=raw,
                received_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC), status="received", attempts=0)


def test_thirty_messages_each_delivered_three_times_at_once_are_processed_and_answered_once(
        make_app, pg_url, wecom_env, fake, redis_conn):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    assert isinstance(app.receiver, Intake)   # PostgreSQL + RQ: the production path
    with app.session() as s, s.begin():
        seed_world(s)
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")
    deliveries = []
    for i in range(30):
        msg = aibot_message(f"burst-{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01",
                            response_url=fake.response_url(f"{i}"))
        for attempt in range(3):   # WeCom's retries: the same message, signed anew each time
            deliveries.append(signer.json_post(msg, NOW + attempt, nonce=f"b{i}-{attempt}"))
    deliveries.append(deliveries[0])   # and one byte-identical repeat of a delivery (a retry may be one)
    random.Random(7).shuffle(deliveries)

    flask_app = create_app(gridbot=app)
    statuses: list[int] = []
    start = threading.Barrier(12)

    def post(share: list) -> None:
        client = flask_app.test_client()
        start.wait()
        for query, body in share:
            statuses.append(client.post(f"/wecom/aibot?{query}", data=body).status_code)

    threads = [threading.Thread(target=post, args=(deliveries[k::12],)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200] * 91    # every delivery answered 200, the byte-identical repeat too
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 30
    set_current(app)
    SimpleWorker(list(app.queue.queues.values()), connection=redis_conn).work(burst=True)
    with app.session() as s:
        assert dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all()) == {
            "done": 30}
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == 30
    assert [len(fake.replies(f"{i}")) for i in range(30)] == [1] * 30


def test_one_bad_row_in_a_batch_costs_only_its_own_request(make_app, pg_url, wecom_env, redis_conn):
    """A batch as a leading request takes it: two new messages, a twin of one of them (WeCom's retry arriving in
    the same instant), rows PostgreSQL refuses (a NUL, a lone surrogate: rows that row_values() would have escaped,
    handed to the intake as they are), and one more new message. The bad rows are stored escaped, 'unreadable'."""
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    batch = [_Pending(_row("k-a"), "sig-a", 60), _Pending(_row("k-b"), "sig-b", 60),
             _Pending(_row("k-a"), "sig-a2", 60), _Pending(_row("k-bad", raw="bad\x00raw"), "sig-bad", 60),
             _Pending(_row("k-sur", raw="bad\ud800raw"), "sig-sur", 60), _Pending(_row("k-d"), "sig-d", 60)]
    app.receiver._write(batch)
    a, b, twin, bad, sur, d = batch
    assert all(item.done.is_set() for item in batch)          # nobody is left waiting
    assert (a.outcome, b.outcome, twin.outcome, bad.outcome, sur.outcome, d.outcome) == (NEW, NEW, RETRY, NEW, NEW,
                                                                                         NEW)
    assert twin.inbound_id == a.inbound_id and bad.error is None and sur.error is None
    with app.session() as s:
        rows = s.execute(select(InboundMessage.dedupe_key, InboundMessage.status, InboundMessage.raw)
                         .order_by(InboundMessage.id)).all()
    assert [tuple(r) for r in rows] == [("k-a", "received", "{}"), ("k-b", "received", "{}"),
                                        ("k-bad", "unreadable", "bad\\u0000raw"),
                                        ("k-sur", "unreadable", "bad\\ud800raw"), ("k-d", "received", "{}")]
    pending = [int(x) for x in redis_conn.lrange(pending_key(app.settings.redis_prefix), 0, -1)]
    assert pending == [a.inbound_id, b.inbound_id, a.inbound_id, d.inbound_id]   # the twin too: harmless
    assert [job.func_name for job in app.queue.queues["inbound"].jobs] == ["gridbot.jobs.dispatch_inbound"]

    set_current(app)
    assert dispatch(app) == 4     # on a worker: a calm batch is processed by the dispatcher itself, the twin once
    with app.session() as s:
        assert s.scalars(select(InboundMessage.status).order_by(InboundMessage.id)).all() == [
            "done", "done", "unreadable", "unreadable", "done"]     # the bad rows are kept, never processed
    assert not [job for job in app.queue.queues["inbound"].jobs if job.func_name.endswith("process_inbound_batch")]


def test_a_burst_is_shared_out_in_chunks_and_a_stuck_dispatcher_flag_expires(
        make_app, pg_url, wecom_env, redis_conn):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    batch = [_Pending(_row(f"k-{i}"), f"sig-{i}", 60) for i in range(DISPATCH_CHUNK * 2 + 5)]
    app.receiver._write(batch)
    # a lost dispatcher is replaced, not waited for
    assert redis_conn.ttl(dispatch_flag_key(app.settings.redis_prefix)) > 0
    assert app.receiver.submit(_row("k-late"), "sig-late", 60)[1] == NEW
    inbound_jobs = app.queue.queues["inbound"]
    assert [job.func_name for job in inbound_jobs.jobs] == ["gridbot.jobs.dispatch_inbound"]   # still one
    set_current(app)
    assert dispatch(app) == len(batch) + 1
    sizes = [len(job.args[0]) for job in inbound_jobs.jobs if job.func_name.endswith("process_inbound_batch")]
    assert sizes == [DISPATCH_CHUNK, 6]       # the first 20 were processed here; other workers can take the rest
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)
                        .where(InboundMessage.status == "done")) == DISPATCH_CHUNK


def test_submit_returns_once_the_row_is_committed_and_a_second_same_signature_is_not_queued_again(
        make_app, pg_url, wecom_env, redis_conn):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    inbound_id, outcome = app.receiver.submit(_row("k-first"), "sig-first", 60)
    with app.session() as s:
        assert s.get(InboundMessage, inbound_id).dedupe_key == "k-first" and outcome == NEW
    assert app.receiver.submit(_row("k-first"), "sig-first", 60) == (inbound_id, "replay")
    app.receiver.stop()    # the intake's connection is closed: the test database can be dropped


def test_ids_left_pending_by_a_lost_dispatcher_are_taken_up_by_the_sweep(
        make_app, pg_url, wecom_env, redis_conn, clock):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    app.receiver._write([_Pending(_row(f"k-{i}"), f"sig-{i}", 60) for i in range(3)])
    inbound_jobs = app.queue.queues["inbound"]
    inbound_jobs.empty()     # the dispatcher job is lost (say its worker was killed as it took it)
    clock.advance(minutes=3)
    assert requeue_received(app, older_than=timedelta(minutes=2)) == 0    # waiting on the pending list, not lost
    assert [job.func_name for job in inbound_jobs.jobs] == ["gridbot.jobs.dispatch_inbound"]   # and taken up
    set_current(app)
    SimpleWorker(list(app.queue.queues.values()), connection=redis_conn).work(burst=True)
    with app.session() as s:
        assert s.scalars(select(InboundMessage.status)).all() == ["done"] * 3


def test_requests_stuck_behind_a_slow_insert_give_up_cleanly_and_the_next_callbacks_are_stored(
        make_app, pg_url, wecom_env, redis_conn):
    """The first request writes (it leads); the ones arriving meanwhile wait to be taken along. A table lock makes
    its INSERT hang: those that wait longer than their limit give up (the webhook journals them) and are not stored
    late; those still waiting when the INSERT returns are stored by the next leader; nothing is left stuck."""
    from sqlalchemy import create_engine, text

    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    app.receiver.submit(_row("k-warm"), "sig-warm", 60)     # connected
    app.receiver.wait_seconds = 0.5   # the lock is held 1.1 s, under the INSERT's own limit (STATEMENT_TIMEOUT_MS)
    results: dict[str, object] = {}

    def submit(key: str) -> None:
        try:
            results[key] = app.receiver.submit(_row(key), f"sig-{key}", 60)[1]
        except IntakeUnavailable as exc:
            results[key] = exc

    locker = create_engine(pg_url).connect()
    tx = locker.begin()
    locker.execute(text("LOCK TABLE inbound_messages IN EXCLUSIVE MODE"))
    leader = threading.Thread(target=submit, args=("k-leader",))
    leader.start()
    time.sleep(0.2)                                       # the leader's INSERT is waiting for the lock
    early = [threading.Thread(target=submit, args=(f"k-early-{i}",)) for i in range(3)]
    for t in early:
        t.start()
    time.sleep(0.7)                                       # they give up after 0.5 s
    late = [threading.Thread(target=submit, args=(f"k-late-{i}",)) for i in range(3)]
    for t in late:
        t.start()
    time.sleep(0.2)
    tx.rollback()                                         # the INSERT goes through
    locker.close()
    for t in [leader, *early, *late]:
        t.join(timeout=10)

    assert results["k-leader"] == NEW
    assert all(isinstance(results[f"k-early-{i}"], IntakeUnavailable) for i in range(3))
    assert [results[f"k-late-{i}"] for i in range(3)] == [NEW] * 3
    assert app.receiver.submit(_row("k-after"), "sig-after", 60)[1] == NEW     # nobody is left holding the connection
    with app.session() as s:
        keys = set(s.scalars(select(InboundMessage.dedupe_key)).all())
    assert keys == {"k-warm", "k-leader", "k-late-0", "k-late-1", "k-late-2", "k-after"}
    app.receiver.stop()
