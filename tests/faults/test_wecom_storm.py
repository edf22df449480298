"""A storm through the whole path while WeCom misbehaves: 80 callbacks (60 residents in a group via the AI bot, 20
members to the app) are stored, processed by an RQ worker, and their replies sent while the fake WeCom answers 5xx,
times out, rate-limits and revokes every access token. Retries back off (the clock is moved through the backoff and
the scheduler's release job re-queues what came due), the last resort is a dead or `unknown` row that an operator sees
— never a silent drop, never a double post.

Faults injected: 25 HTTP 502s, 4 timeouts, 15 rate-limit answers (errcode 45009), 2 token revocations (one
mid-send), plus one message sent into 8 straight failures (dead letter, then retried by an operator). Lost: 0
(asserted: every inbound row done, every outbox row sent or visibly dead/unknown with its error, each group reply
posted at most once).
"""
from __future__ import annotations

from rq import SimpleWorker
from sqlalchemy import func, select

from gridbot.bootstrap import set_current
from gridbot.messages import Reply
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.pipeline import delivery
from gridbot.schedule.scheduler import release_held
from gridbot.services import outbox
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message, text_xml

NOW = int(T0.timestamp())
RESIDENTS, MEMBERS = 60, 20
STAFF = ("mem_zhao", "mem_qian", "mem_sun", "mem_zhou", "lead_li", "sec_wang")   # our own per-user limit is real-time


def drain(app, redis_conn, clock, rounds: int = 40, between=None) -> int:
    """Run the worker, move the clock through the backoff, let the release job re-queue what is due; repeat."""
    set_current(app)
    worker = SimpleWorker(list(app.queue.queues.values()), connection=redis_conn)
    for n in range(rounds):
        worker.work(burst=True)
        with app.session() as s:
            waiting = s.scalar(select(func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.status.in_(["pending", "sending"])))
        if not waiting:
            return n
        if between and n == 0:
            between()
        clock.advance(seconds=delivery.BACKOFF_SECONDS[-1])
        release_held(app)
    with app.session() as s:
        left = s.execute(select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.target_type,
                                OutboxMessage.attempts, OutboxMessage.not_before, OutboxMessage.last_error)
                         .where(OutboxMessage.status.in_(["pending", "sending"]))).all()
    raise AssertionError(f"the outbox did not drain by {clock.now()}: {left[:5]}")


def test_a_storm_while_wecom_fails_loses_nothing(make_app, pg_url, wecom_env, fake, redis_conn, clock,
                                                 app_signer, aibot_signer):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
    client = create_app(gridbot=app).test_client()
    fake.fail_next, fake.ratelimit_next, fake.timeout_next, fake.timeout_seconds = 25, 15, 4, 1.5

    statuses = []
    for i in range(MEMBERS):
        query, body = app_signer.xml_post(text_xml(STAFF[i % len(STAFF)], f"我的工单 {i}", str(910000 + i), NOW), NOW,
                                          nonce=f"b{i}")
        statuses.append(client.post(f"/wecom/callback?{query}", data=body).status_code)
    for i in range(RESIDENTS):
        msg = aibot_message(f"s{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01",
                            response_url=fake.response_url(f"s{i}"))
        query, body = aibot_signer.json_post(msg, NOW, nonce=f"a{i}")
        statuses.append(client.post(f"/wecom/aibot?{query}", data=body).status_code)
        if i == RESIDENTS // 2:
            fake.revoke_tokens()
    assert statuses == [200] * (RESIDENTS + MEMBERS)            # the webhook never felt the outage
    set_current(app)
    SimpleWorker([app.queue.queues["inbound"]], connection=redis_conn).work(burst=True)
    drain(app, redis_conn, clock, between=fake.revoke_tokens)   # tokens revoked while replies are going out

    with app.session() as s:
        inbound = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        rows = s.scalars(select(OutboxMessage)).all()
    assert inbound == {"done": RESIDENTS + MEMBERS}
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    assert {r.inbound_id for r in rows} == set(range(1, RESIDENTS + MEMBERS + 1))  # every message answered
    lost = len(rows) - by_status.get("sent", 0) - by_status.get("dead", 0) - by_status.get("unknown", 0)
    assert lost == 0 and not {"pending", "sending"} & set(by_status)
    assert all(r.last_error for r in rows if r.status in ("dead", "unknown"))          # visible, with a reason
    for i in range(RESIDENTS):                                  # a group reply is posted at most once, and if its
        posts = len(fake.replies(f"s{i}"))         # row says sent, it was posted
        assert posts <= 1
    sent_urls = {r.target for r in rows if r.status == "sent" and r.target_type == "chat"}
    assert all(len(fake.sent(u.replace(fake.url, ""))) == 1 for u in sent_urls if u.startswith(fake.url))
    assert by_status.get("sent", 0) >= len(rows) - 4           # only the timed-out group posts may be unknown
    assert fake.token_calls >= 2                                # revoked tokens were fetched again

    # a dead letter: visible, and an operator's retry delivers it once
    with app.session() as s, s.begin():
        (row,) = outbox.write_replies(s, None, [Reply("停水通知：明天9点到12点", to_user="mem_sun")],
                                      now=clock.now(), platform="wecom_app")
        oid = row.id
    fake.fail_next = delivery.MAX_ATTEMPTS + 2
    delivery.schedule(app, oid)
    drain(app, redis_conn, clock)
    with app.session() as s:
        dead = s.get(OutboxMessage, oid)
        assert dead.status == "dead" and "502" in (dead.last_error or "")
    fake.fail_next = 0
    assert delivery.retry_dead(app, oid, actor="cli")
    drain(app, redis_conn, clock)
    with app.session() as s:
        assert s.get(OutboxMessage, oid).status == "sent"
    assert len([r for r in fake.sent("/cgi-bin/message/send") if "停水" in r.body["text"]["content"]]) == 1
