"""Redis that hangs (accepts connections, never answers: a stalled host, a full disk under AOF, a network black
hole) must not hold the webhook past WeCom's 5 s. With GRIDBOT_REDIS_TIMEOUT_MS the enqueue fails fast, the
callback is answered 200 with the message stored, and once a working Redis is there the recovery sweep queues
it and a real RQ worker processes it: one reply per message. The callbacks arrive together (10 at a time, as
gunicorn's threads take them) with the default 2 s timeout: one web process's intake waits for a hung Redis once,
then leaves it alone for a few seconds, so no callback waits for the timeouts of the others.

Faults injected: 1 hung Redis during 20 callbacks. Lost: nothing (asserted below).
"""
from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import redis
from rq import SimpleWorker

from gridbot.bootstrap import set_current
from gridbot.pipeline.dispatch import requeue_received
from gridbot.web import create_app
from tests.factories import seed_world
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer

from .test_redis_down import NOW, counts, wecom_env

WECOM_DEADLINE_SECONDS = 5.0
N = 20


class HungRedis:
    """A loopback TCP server that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.held: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_hung_redis_does_not_hold_the_webhook_and_loses_nothing(make_app, pg_url, own_redis, fake, clock):
    hung = HungRedis()
    try:
        app = make_app(pg_url, sync_jobs=False, env=wecom_env(fake, hung.url, "faults-hung"))  # 2 s timeout
        with app.session() as s, s.begin():
            seed_world(s)
        flask_app = create_app(gridbot=app)
        signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")
        answers: list[tuple[int, float]] = []
        together = threading.Barrier(10)

        def post(ids: range) -> None:
            client = flask_app.test_client()
            together.wait()
            for i in ids:
                msg = aibot_message(f"h{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01",
                                    response_url=fake.response_url(f"{i}"))
                query, body = signer.json_post(msg, NOW, nonce=f"h{i}")
                t0 = time.monotonic()
                status = client.post(f"/wecom/aibot?{query}", data=body).status_code
                answers.append((status, time.monotonic() - t0))

        threads = [threading.Thread(target=post, args=(range(k, N, 10),)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        slowest = max(seconds for _, seconds in answers)
        assert [status for status, _ in answers] == [200] * N
        assert slowest < WECOM_DEADLINE_SECONDS, f"a hung Redis held a callback {slowest:.1f} s"
        assert counts(app)["inbound"] == {"received": N}
    finally:
        hung.close()

    # A working Redis (the same database): the sweep queues what was stored and a worker answers each person once.
    healthy = make_app(pg_url, sync_jobs=False, env=wecom_env(fake, own_redis.url, "faults-hung"))
    clock.advance(minutes=3)
    assert requeue_received(healthy, older_than=timedelta(minutes=2)) == N
    set_current(healthy)
    SimpleWorker(list(healthy.queue.queues.values()), connection=redis.Redis.from_url(own_redis.url)).work(burst=True)
    after = counts(healthy)
    assert after == {"inbound": {"done": N}, "outbox": {"sent": N}}
    for i in range(N):
        assert len(fake.replies(f"{i}")) == 1
