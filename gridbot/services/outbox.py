"""The outbox: replies are rows written with the change that caused them; a job sends each row exactly once.

Claiming a row moves it pending -> sending in one conditional UPDATE, so two workers never both send it.
A row left in `sending` by a crash is not sent again automatically (that could double-post to a group of
500 households); `sweep_stuck` marks it `unknown` for an operator to check and retry.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..messages import Inbound, Reply
from ..models import OutboxMessage
from ..privacy import mask_text
from ..senders import PermanentFailure, TemporaryFailure

if TYPE_CHECKING:  # pragma: no cover
    from ..bootstrap import Gridbot

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)


def target_for(inbound: Inbound | None, reply: Reply) -> tuple[str, str]:
    if reply.to_user:
        return "user", reply.to_user
    if reply.to_chat:
        return "chat", reply.to_chat
    if inbound is None:
        raise ValueError("a reply with no inbound message must name to_user or to_chat")
    if inbound.is_group:
        return "chat", inbound.chat_id  # type: ignore[return-value]
    return "user", inbound.sender_id


def write_replies(session: Session, inbound: Inbound | None, replies: Iterable[Reply], now: datetime,
                  platform: str | None = None) -> list[OutboxMessage]:
    rows = []
    for reply in replies:
        target_type, target = target_for(inbound, reply)
        content = {"kind": "markdown" if reply.markdown else "text", "text": reply.text,
                   "mentions": list(reply.mentions)}
        if inbound is not None and inbound.response_url and not (reply.to_user or reply.to_chat):
            content["response_url"] = inbound.response_url
        row = OutboxMessage(
            platform=platform or (inbound.platform if inbound else "wecom_app"),
            target_type=target_type, target=target, content=content, urgent=reply.urgent,
            not_before=reply.not_before if reply.not_before is not None else quiet_hold(inbound, reply, now),
            idempotency_key=reply.idempotency_key,
            inbound_id=inbound.inbound_id if inbound else None, created_at=now,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def quiet_hold(inbound: Inbound | None, reply: Reply, now: datetime) -> datetime | None:
    """Quiet hours (config/schedules.yaml): a non-urgent message that is not the answer to the message being
    handled (a notification, reminder, announcement) waits until morning. Answers and urgent alerts never wait;
    an answer sent privately to the speaker of a group message (a member's list, a refusal) is an answer too."""
    if reply.urgent:
        return None
    if inbound is not None:
        if target_for(inbound, reply) in {("chat", inbound.chat_id), ("user", inbound.sender_id)}:
            return None
    from ..schedule.config import quiet_hold as _hold

    return _hold(now, urgent=False)



def schedule(app: "Gridbot", outbox_id: int, at: datetime | None = None) -> None:
    app.queue.enqueue("gridbot.jobs.send_outbound", outbox_id, queue="outbound", at=at, retries=0)


def claim(app: "Gridbot", outbox_id: int) -> OutboxMessage | None:
    now = app.clock.now()
    with app.session() as session, session.begin():
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "pending",
                   or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now))
            .values(status="sending", attempts=OutboxMessage.attempts + 1)
        )
        if result.rowcount != 1:
            return None
        return session.get(OutboxMessage, outbox_id)


def deliver(app: "Gridbot", outbox_id: int) -> str:
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


def _finish(app: "Gridbot", outbox_id: int, status: str, error: str | None, sent_at: datetime | None = None) -> str:
    with app.session() as session, session.begin():
        session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id)
                        .values(status=status, last_error=mask_text(error)[:2000] if error else None,
                                sent_at=sent_at))
    if status == "dead":
        log.error("outbox %s is dead after its last try: %s", outbox_id, mask_text(error or ""))
    return status


def retry_dead(app: "Gridbot", outbox_id: int, actor: str) -> bool:
    """An operator sends a dead (or unknown) row again."""
    from .audit import record

    with app.session() as session, session.begin():
        result = session.execute(update(OutboxMessage)
                                 .where(OutboxMessage.id == outbox_id, OutboxMessage.status.in_(["dead", "unknown"]))
                                 .values(status="pending", attempts=0, not_before=None))
        if result.rowcount != 1:
            return False
        record(session, actor, "outbox.retry", "outbox", outbox_id, at=app.clock.now())
    schedule(app, outbox_id)
    return True


def sweep_stuck(app: "Gridbot", older_than: timedelta = timedelta(minutes=10)) -> int:
    """Rows stuck in `sending` (a worker died mid-send) become `unknown`: visible, never double-sent."""
    cutoff = app.clock.now() - older_than
    with app.session() as session, session.begin():
        result = session.execute(update(OutboxMessage)
                                 .where(OutboxMessage.status == "sending", OutboxMessage.created_at < cutoff)
                                 .values(status="unknown", last_error="worker stopped while sending; check "
                                                                      "the group, then retry if it is missing"))
    return result.rowcount


def replies_for_inbound(app: "Gridbot", inbound_id: int) -> list[Reply]:
    with app.session() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == inbound_id)
                               .order_by(OutboxMessage.id)).all()
    return [Reply(text=r.content.get("text", ""), markdown=r.content.get("kind") == "markdown",
                  mentions=r.content.get("mentions") or [],
                  to_user=r.target if r.target_type == "user" else None,
                  to_chat=r.target if r.target_type == "chat" else None, urgent=r.urgent) for r in rows]
