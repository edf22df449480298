"""The outbox, written: replies are rows added in the same transaction as the change that caused them.

Domain services, handlers and the pipeline's process step write here (a Session and plain values); once the
transaction commits, the hand-over bootstrap installs (db.hand_over_after_commit) queues each row for
gridbot/pipeline/delivery.py, which sends it exactly once.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..messages import Inbound, Reply
from ..models import OutboxMessage
from ..schedule.config import quiet_hold as _hold
from . import toolbar


def target_for(inbound: Inbound | None, reply: Reply) -> tuple[str, str]:
    if reply.to_user:
        return "user", reply.to_user
    if reply.to_chat:
        return "chat", reply.to_chat
    if inbound is None:
        raise ValueError("a reply with no inbound message must name to_user or to_chat")
    if inbound.is_group:
        return "chat", inbound.chat_id  # type: ignore[return-value]  # is_group means chat_id is set
    return "user", inbound.sender_id


def _chat_target(inbound: Inbound | None, reply: Reply) -> str | None:
    target_type, target = target_for(inbound, reply)
    return target if target_type == "chat" else None


def write_replies(session: Session, inbound: Inbound | None, replies: Iterable[Reply], now: datetime,
                  platform: str | None = None) -> list[OutboxMessage]:
    rows = []
    # a customer group's replies become ready items for a member to post (services/toolbar.py)
    diverted = toolbar.divert(session, inbound, replies, now, lambda r: _chat_target(inbound, r), platform)
    for index, reply in enumerate(diverted.replies):
        target_type, target = target_for(inbound, reply)
        content = {"kind": "markdown" if reply.markdown else "text", "text": reply.text,
                   "mentions": list(reply.mentions), **diverted.extra.get(index, {})}
        if reply.extra:
            content.update(reply.extra)
        if inbound is not None and inbound.response_url and not (reply.to_user or reply.to_chat):
            # valid one hour from the callback's arrival (not from this row); if it cannot be used, a group's
            # reply can still reach the member who asked
            content.update(response_url=inbound.response_url, asker=inbound.sender_id,
                           response_url_at=(inbound.at or now).isoformat())
        row = OutboxMessage(
            platform=diverted.platform.get(index) or platform or (inbound.platform if inbound else "wecom_app"),
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
    if inbound is not None and target_for(inbound, reply) in {("chat", inbound.chat_id), ("user", inbound.sender_id)}:
        return None
    return _hold(now, urgent=False)


def replies_for_inbound(session: Session, inbound_id: int) -> list[Reply]:
    """The replies written for one message, in order (the console, `gridbot say`, the simulator read them)."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == inbound_id)
                           .order_by(OutboxMessage.id)).all()
    return [Reply(text=r.content.get("text", ""), markdown=r.content.get("kind") == "markdown",
                  mentions=r.content.get("mentions") or [],
                  to_user=r.target if r.target_type == "user" else None,
                  to_chat=r.target if r.target_type == "chat" else None, urgent=r.urgent) for r in rows]
