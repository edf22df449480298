"""Delivery: each outbox row is sent exactly once (services/outbox.py writes them; this sends them).

Claiming a row moves it pending -> sending in one conditional UPDATE, so two workers never both send it.
A row left in `sending` by a crash is not sent again automatically (that could double-post to a group of
500 households); `sweep_stuck` marks it `unknown` for an operator to check and retry.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update

from ..app import Gridbot
from ..models import OutboxMessage
from ..privacy import mask_text
from ..queue import JobQueue
from ..senders import PermanentFailure
from ..services.audit import record

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)


def schedule(app: Gridbot, outbox_id: int, at: datetime | None = None) -> None:
    """Queue one row's send (at `at`): a retry's, an operator's. A row just written needs none (hand_over)."""
    app.queue.enqueue("gridbot.jobs.send_outbound", outbox_id, queue="outbound", at=at, retries=0)


def hand_over(queue: JobQueue, rows: Iterable[OutboxMessage]) -> None:
    """Every outbox row goes to the sender once its transaction commits (at its not_before when held); bootstrap
    installs this once with db.hand_over_after_commit."""
    for row in rows:
        queue.enqueue("gridbot.jobs.send_outbound", row.id, queue="outbound", at=row.not_before, retries=0)


def claim(app: Gridbot, outbox_id: int) -> OutboxMessage | None:
    now = app.clock.now()
    with app.session() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "pending",
                   or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now))
            .values(status="sending", attempts=OutboxMessage.attempts + 1)
        ))   # an UPDATE's result counts its rows
        if result.rowcount != 1:
            return None
        return session.get(OutboxMessage, outbox_id)


def deliver(app: Gridbot, outbox_id: int) -> str:
    """Send one row. Returns the row's new status (or 'skipped' if it was not ours to send)."""
    row = claim(app, outbox_id)
    if row is None:
        return "skipped"
    sender = app.sender_for(row)
    now = app.clock.now()
    try:
        sender.send(row)
    except PermanentFailure as exc:
        return _finish(app, row.id, "dead", str(exc))
    except Exception as exc:  # noqa: BLE001 - TemporaryFailure and anything unexpected: retry later
        retry_after = getattr(exc, "retry_after", None)
        if getattr(exc, "ambiguous", False):
            # The platform may have delivered it (no answer in time): re-sending could post twice.
            return _finish(app, row.id, "unknown", f"{exc}; check the chat, then retry if it is missing")
        rate_limited = getattr(exc, "rate_limited", False)
        if not rate_limited and row.attempts >= MAX_ATTEMPTS:
            return _finish(app, row.id, "dead", repr(exc))
        delay = retry_after or BACKOFF_SECONDS[min(row.attempts - 1, len(BACKOFF_SECONDS) - 1)]
        due = now + timedelta(seconds=delay)
        values = {"status": "pending", "not_before": due, "last_error": mask_text(repr(exc))[:2000]}
        if rate_limited:  # waiting for a free slot is not a failed try: it never counts toward dead
            values["attempts"] = OutboxMessage.attempts - 1
        with app.session() as session, session.begin():
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
        log.warning("outbox %s: %s (try %d), retry at %s: %s", row.id,
                    "rate limited" if rate_limited else "send failed", row.attempts, due.isoformat(),
                    mask_text(str(exc)))
        schedule(app, row.id, at=due)
        return "pending"
    return _finish(app, row.id, "sent", None, sent_at=now)


def _finish(app: Gridbot, outbox_id: int, status: str, error: str | None, sent_at: datetime | None = None) -> str:
    with app.session() as session, session.begin():
        session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id)
                        .values(status=status, last_error=mask_text(error)[:2000] if error else None,
                                sent_at=sent_at))
    if status == "dead":
        log.error("outbox %s is dead after its last try: %s", outbox_id, mask_text(error or ""))
    return status


def retry_dead(app: Gridbot, outbox_id: int, actor: str) -> bool:
    """An operator sends a dead (or unknown) row again."""
    with app.session() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(update(OutboxMessage)
                                 .where(OutboxMessage.id == outbox_id, OutboxMessage.status.in_(["dead", "unknown"]))
                                 .values(status="pending", attempts=0, not_before=None)))
        if result.rowcount != 1:
            return False
        record(session, actor, "outbox.retry", "outbox", outbox_id, at=app.clock.now())
    schedule(app, outbox_id)
    return True


def sweep_stuck(app: Gridbot, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Rows stuck in `sending` (a worker died mid-send) become `unknown`: visible, never double-sent."""
    cutoff = app.clock.now() - older_than
    with app.session() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(update(OutboxMessage)
                                 .where(OutboxMessage.status == "sending", OutboxMessage.created_at < cutoff)
                                 .values(status="unknown", last_error="worker stopped while sending; check "
                                                                      "the group, then retry if it is missing")))
    return result.rowcount
