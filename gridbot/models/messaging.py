"""The inbound message log (deduplicated) and the outbox (replies sent exactly once)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class InboundMessage(Base):
    """Every message or event as it arrived. `dedupe_key` is unique: a retried delivery is stored once."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    chat_id: Mapped[str | None] = mapped_column(String(128), index=True)
    sender_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32), default="text")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)   # the neutral Inbound as a dict
    raw: Mapped[str | None] = mapped_column(Text)                   # the decrypted body, for audit and replay
    # received|done|failed; unbound|skipped|unreadable: kept (audit, dedupe), never processed (pipeline/store.py)
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message to send. Written in the same transaction as the change that caused it.

    status: pending -> sending -> sent, or -> dead after the last try. A row found in `sending`
    after a crash is never re-sent blindly (see senders / jobs.send_outbound).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(16))    # chat | user | response_url
    target: Mapped[str] = mapped_column(String(1024))
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"kind": "text"|"markdown"|..., "text", "mentions"}
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # the channel a configuration fault holds it for (see ChannelFault): released at once when the fault clears
    channel: Mapped[str | None] = mapped_column(String(64), index=True)


class ChannelFault(Base):
    """A sending channel stopped by a configuration fault (a wrong secret, an IP WeCom does not trust, an API the
    app may not call): one row per channel, reopened when it happens again. While `cleared_at` is empty the
    channel's rows wait (pending, no try counted) and one of them probes WeCom at `probe_at`; the first success
    clears it and releases them.

    channel: "wecom_app" (the app's token and message/send), "appchat", "externalcontact", "robot:<hash>", "aibot".
    """

    __tablename__ = "channel_faults"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), unique=True)
    errcode: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)                 # for operators: what to fix (a setting, an IP)
    ip: Mapped[str | None] = mapped_column(String(64))         # 60020: the calling IP to add to the trusted IPs
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    probe_at: Mapped[datetime | None]                          # when one held row tries WeCom again
    cleared_at: Mapped[datetime | None]
