"""The outbox sends each row once, retries with backoff, and goes dead visibly; a crash never double-posts."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from gridbot.messages import Reply
from gridbot.models import OutboxMessage
from gridbot.pipeline import delivery
from gridbot.senders import PermanentFailure, TemporaryFailure
from gridbot.senders.local import RecordingSender
from gridbot.services import outbox


class Flaky:
    """Fails the first `failures` sends with the given exception, then records."""

    def __init__(self, failures: int, exc: Exception):
        self.failures, self.exc, self.inner = failures, exc, RecordingSender()

    def send(self, row):
        if self.failures > 0:
            self.failures -= 1
            raise self.exc
        self.inner.send(row)


def _queue_one(app, text="通知：明天停水", **kw) -> int:
    """A pending row written outside the app's sessions, so no delivery is queued on commit: the test drives
    deliver() itself (as the sweep does for a row whose writer died before its hand-over)."""
    with sessionmaker(app.engine, expire_on_commit=False)() as s, s.begin():
        (row,) = outbox.write_replies(s, None, [Reply(text, to_chat="chat-hy-01", **kw)], app.clock.now(),
                                      platform="test")
    return row.id


def _row(app, oid):
    with app.session() as s:
        return s.get(OutboxMessage, oid)


def test_a_row_is_sent_once_even_if_delivered_twice(app):
    rec = RecordingSender()
    app.senders["test"] = rec
    oid = _queue_one(app)
    assert delivery.deliver(app, oid) == "sent"
    assert delivery.deliver(app, oid) == "skipped"
    assert rec.texts() == ["通知：明天停水"]
    assert _row(app, oid).sent_at == app.clock.now()


def test_temporary_failures_retry_with_backoff_then_succeed(app, clock):
    flaky = Flaky(2, TemporaryFailure("HTTP 502"))
    app.senders["test"] = flaky
    oid = _queue_one(app)
    assert delivery.deliver(app, oid) == "pending"
    row = _row(app, oid)
    assert row.not_before == clock.now() + timedelta(seconds=delivery.BACKOFF_SECONDS[0])
    assert "502" in row.last_error
    assert delivery.deliver(app, oid) == "skipped"          # not due yet: nobody sends it early
    clock.advance(seconds=delivery.BACKOFF_SECONDS[0])
    assert delivery.deliver(app, oid) == "pending"          # second failure, longer wait
    clock.advance(seconds=delivery.BACKOFF_SECONDS[1])
    assert delivery.deliver(app, oid) == "sent"
    assert flaky.inner.texts() == ["通知：明天停水"]
    assert _row(app, oid).attempts == 3


def test_after_the_last_try_the_row_is_dead_and_an_operator_can_retry(app, clock):
    app.senders["test"] = Flaky(100, TemporaryFailure("timeout"))
    oid = _queue_one(app)
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.deliver(app, oid)
        clock.advance(hours=1)
    row = _row(app, oid)
    assert row.status == "dead" and row.attempts == delivery.MAX_ATTEMPTS
    rec = RecordingSender()
    app.senders["test"] = rec
    assert delivery.retry_dead(app, oid, actor="member:sec_wang")  # schedules a send (sync queue: at once)
    assert _row(app, oid).status == "sent"
    assert rec.texts() == ["通知：明天停水"]


def test_a_permanent_failure_is_dead_at_once(app):
    app.senders["test"] = Flaky(1, PermanentFailure("chat not found"))
    oid = _queue_one(app)
    assert delivery.deliver(app, oid) == "dead"
    assert "chat not found" in _row(app, oid).last_error


def test_a_row_left_sending_by_a_crash_is_never_resent_but_made_visible(app, clock):
    rec = RecordingSender()
    app.senders["test"] = rec
    oid = _queue_one(app)
    assert delivery.claim(app, oid) is not None  # a worker claimed it, then died before marking it sent
    clock.advance(minutes=30)
    assert delivery.deliver(app, oid) == "skipped"
    assert delivery.sweep_stuck(app) == 1
    assert _row(app, oid).status == "unknown"
    assert rec.sent == []


def test_error_texts_are_masked(app):
    app.senders["test"] = Flaky(1, PermanentFailure("bad user 13812345678"))
    oid = _queue_one(app)
    delivery.deliver(app, oid)
    assert "13812345678" not in _row(app, oid).last_error


def test_idempotency_key_keeps_one_row(app):
    from sqlalchemy.exc import IntegrityError

    _queue_one(app, idempotency_key="digest:HY:2026-11-02")
    try:
        _queue_one(app, idempotency_key="digest:HY:2026-11-02")
        raised = False
    except IntegrityError:
        raised = True
    assert raised
    with app.session() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 1


def test_at_night_answers_go_now_and_notices_to_others_wait_for_morning(app):
    """Quiet hours hold what nobody asked for; the person who just wrote gets the answer, also privately."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from gridbot.messages import Inbound

    sh = ZoneInfo("Asia/Shanghai")
    night = datetime(2026, 11, 2, 23, 30, tzinfo=sh)
    asked = Inbound(platform="test", sender_id="mem_zhao", text="待办", chat_id="chat-hy-01")
    with app.session() as s, s.begin():
        in_group, privately, other = outbox.write_replies(
            s, asked, [Reply("已私信发送"), Reply("你的待办：…", to_user="mem_zhao"),
                       Reply("新工单：楼道灯坏了", to_user="mem_qian")], night, platform="test")
    assert in_group.not_before is None and privately.not_before is None
    assert other.not_before == datetime(2026, 11, 3, 7, 0, tzinfo=sh)


def test_rows_go_to_the_sender_when_their_transaction_commits_and_never_after_a_rollback(app):
    """One hand-over installed by the composition root: writers never schedule what they wrote."""
    rec = RecordingSender()
    app.senders["test"] = rec
    try:
        with app.session() as s, s.begin():
            outbox.write_replies(s, None, [Reply("不会发出", to_chat="chat-hy-01")], app.clock.now(), platform="test")
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    with app.session() as s, s.begin():
        savepoint = s.begin_nested()
        outbox.write_replies(s, None, [Reply("保存点已回滚", to_chat="chat-hy-01")], app.clock.now(), platform="test")
        savepoint.rollback()
        outbox.write_replies(s, None, [Reply("已提交", to_chat="chat-hy-01")], app.clock.now(), platform="test")
        assert rec.texts() == []                       # nothing leaves before the commit
    assert rec.texts() == ["已提交"]
