"""Reminders, announcements, scheduler state and occurrences.

The scheduler keeps all of its state here, not in memory: a restart, a second scheduler or a late worker
reads the same rows. `Occurrence.key` is unique ("reminder:17:2026-12-01T09:00+08:00"): whoever inserts it
first sends; everyone else finds it taken and sends nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class Reminder(Base):
    """A one-off or recurring reminder.

    target_type: "member" (privately to target_member_id), "grids" (the chats of grid_ids), "community"
    (every grid chat of the community), or for built-in duty rules "members" / "leaders" (each staff member
    / each leader of the community, privately). kind: "user" (set in chat) or "builtin" (config/schedules.yaml,
    source_key names the rule). rrule is the RFC 5545 RRULE value evaluated in GRIDBOT_TIMEZONE from dtstart;
    one-offs have rrule NULL and due_at. next_at is the next occurrence (UTC) the scheduler has not handled.
    """

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_active_next", "active", "next_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="user")
    source_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    owner_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    grid_ids: Mapped[list[str]] = mapped_column(default=list)   # grid ids (ints) for target_type "grids"
    text: Mapped[str] = mapped_column(Text)
    schedule_text: Mapped[str] = mapped_column(String(255), default="")  # as the person wrote it
    rrule: Mapped[str | None] = mapped_column(String(512))
    dtstart: Mapped[datetime]
    due_at: Mapped[datetime | None]
    next_at: Mapped[datetime | None]
    late_policy: Mapped[str] = mapped_column(String(16), default="send_late_once")  # | "skip"
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_by: Mapped[str | None] = mapped_column(String(160))
    cancelled_at: Mapped[datetime | None]


class Announcement(Base):
    """A 公告 to one grid, listed grids or the whole community; sent now or at send_at.

    deliveries records where it went: [{"grid": code, "chat_id": ..., "mention_all": bool, "note": ...}].
    status: scheduled -> sent, or cancelled.
    """

    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_status_send_at", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    author_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    author_userid: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))              # grid | grids | community
    grid_ids: Mapped[list[str]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(Text)
    mention_all: Mapped[bool] = mapped_column(Boolean, default=False)
    send_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    deliveries: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class SchedulerJob(Base):
    """The state of one system job from config/schedules.yaml (its next due time), so restarts resume it."""

    __tablename__ = "scheduler_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    next_at: Mapped[datetime | None]
    last_due_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Occurrence(Base):
    """One firing of a reminder, announcement or system job. `key` is unique: it is sent at most once.

    status: sent | late (sent late, marked 补发) | skipped (missed, late is useless) | enqueued (system job)
    | unavailable (the job's function does not exist in this build).
    """

    __tablename__ = "occurrences"
    __table_args__ = (Index("ix_occurrences_source", "source", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(32))          # reminder | announcement | job
    source_id: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    outbox_ids: Mapped[list[str]] = mapped_column(default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
