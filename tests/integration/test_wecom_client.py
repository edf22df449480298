"""The WeCom client and rate limiter on their own: shared token under concurrency (Redis), the in-process fallback
without Redis, and the limiter's window in both forms. Against the fake WeCom on loopback."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from gridbot.messages import Reply
from gridbot.models import GridChat, OutboxMessage
from gridbot.pipeline import delivery
from gridbot.queue import InProcessQueue
from gridbot.senders import PermanentFailure
from gridbot.services import outbox
from gridbot.wecom import RateLimiter, WeComClient
from tests.factories import seed_world


def test_many_threads_share_one_token_fetched_once_under_the_redis_lock(fake, redis_conn, redis_prefix):
    clients = [WeComClient(fake.url, fake.corp_id, fake.secret, redis_conn, redis_prefix + ":") for _ in range(8)]
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda c=c: tokens.append(c.token())) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and fake.token_calls == 1


def test_without_redis_the_token_is_cached_in_process_and_refetched_when_revoked(fake):
    client = WeComClient(fake.url, fake.corp_id, fake.secret)
    client.call("/cgi-bin/message/send", {"touser": "a", "msgtype": "text", "text": {"content": "1"}})
    client.call("/cgi-bin/message/send", {"touser": "b", "msgtype": "text", "text": {"content": "2"}})
    assert fake.token_calls == 1
    fake.revoke_tokens()
    client.call("/cgi-bin/message/send", {"touser": "c", "msgtype": "text", "text": {"content": "3"}})
    assert fake.token_calls == 2 and len(fake.sent("/cgi-bin/message/send")) == 3


def test_wrong_secret_is_a_permanent_failure_naming_the_settings(fake):
    client = WeComClient(fake.url, fake.corp_id, "not-the-secret")
    with pytest.raises(PermanentFailure, match="GRIDBOT_WECOM_SECRET"):
        client.token()


@pytest.mark.parametrize("with_redis", [True, False])
def test_the_limiter_allows_the_limit_per_window_then_says_how_long_to_wait(with_redis, request):
    if with_redis:
        limiter = RateLimiter(request.getfixturevalue("redis_conn"), request.getfixturevalue("redis_prefix") + ":")
    else:
        limiter = RateLimiter()
    waits = [limiter.acquire("robot:k1", 20, window=60) for _ in range(21)]
    assert waits[:20] == [0.0] * 20 and 0 < waits[20] <= 60
    assert limiter.acquire("robot:k2", 20, window=60) == 0.0  # another robot has its own window


def test_an_aibot_reply_uses_response_url_once_then_falls_back_to_the_group_robot(make_app, pg_url, wecom_env,
                                                                                  fake):
    from gridbot.messages import Inbound

    app = make_app(pg_url, sync_jobs=False, env=wecom_env)   # rows wait in RQ: the test delivers by hand
    with app.session() as s, s.begin():
        seed_world(s)
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key="rk"))
    inbound = Inbound(platform="wecom_aibot", sender_id="resident_a", text="你好", chat_id="chat-hy-01",
                      msg_id="x1", response_url=fake.response_url("x1"), at=app.clock.now())
    with app.session() as s, s.begin():
        ids = [r.id for r in outbox.write_replies(s, inbound, [Reply("第一条"), Reply("第二条")],
                                                  now=app.clock.now())]
    assert [delivery.deliver(app, i) for i in ids] == ["sent", "sent"]
    assert [p.body["markdown"]["content"] for p in fake.replies("x1")] == ["第一条"]
    assert [p.body["text"]["content"] for p in fake.sent("/cgi-bin/webhook/send")] == ["第二条"]


def test_without_wecom_settings_replies_stay_local(make_app, sqlite_url):
    held = InProcessQueue()
    held.stop()   # a stopped queue keeps its jobs: the test delivers by hand
    app = make_app(sqlite_url, queue=held)
    with app.session() as s, s.begin():
        (r,) = outbox.write_replies(s, None, [Reply("x", to_chat="chat-1")], now=app.clock.now(), platform="wecom_app")
        oid = r.id
    assert app.sender_resolver is None and delivery.deliver(app, oid) == "sent"
    with app.session() as s:
        assert s.get(OutboxMessage, oid).status == "sent"
