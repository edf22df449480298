"""Tickets (工单): a resident's request followed through the closed loop of GB/T 30428.

The ticket row holds the present (status, assignee, due times); TicketEvent holds the history, one row per
transition or notable act (reminder, escalation, transfer, follow-up, rating). Metrics are computed from events.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..places import place_text
from .base import Base, utcnow

if TYPE_CHECKING:  # the relationships' targets, for the type checker; SQLAlchemy finds them by name
    from .org import Grid, Member

# The life cycle, in order. rejected and duplicate end a ticket early.
STATUSES = ("reported", "accepted", "rejected", "duplicate", "dispatched", "in_progress", "resolved",
            "verified", "closed", "rated")
OPEN_STATUSES = ("reported", "accepted", "dispatched", "in_progress")
ACTIVE_STATUSES = OPEN_STATUSES + ("resolved", "verified")     # not finished: joins and follow-ups go here
FINAL_STATUSES = ("rejected", "duplicate", "closed", "rated")
KINDS = ("request", "complaint")   # complaint: 监督评议, a resident's complaint about a member (about_member_id)
RATINGS = ("satisfied", "basic", "dissatisfied", "none")       # none = no answer in time (counts as not satisfied)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_grid_status", "grid_id", "status"),
        Index("ix_tickets_match", "grid_id", "category", "building", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(48), unique=True)      # HY-20261102-0003
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="reported", index=True)
    building: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(32))
    room: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")          # the first message, phones masked
    contact_phone: Mapped[str | None] = mapped_column(String(32))       # for members only, never in groups
    reporter_platform: Mapped[str] = mapped_column(String(32))
    reporter_id: Mapped[str] = mapped_column(String(128), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(128))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    reporters: Mapped[int] = mapped_column(Integer, default=1)          # how many residents reported it
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # an index into sla.LADDER_ROLES: 0 none, 1 reminded, 2 A/B partner, 3 grid leader, 4 secretary, 5 chief
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_for: Mapped[str | None] = mapped_column(String(16))       # response | resolution | verify
    handover_due: Mapped[datetime | None]                               # A/B partner takes over if not accepted
    response_due: Mapped[datetime]
    resolution_due: Mapped[datetime | None]
    verify_due: Mapped[datetime | None]
    rating_due: Mapped[datetime | None]
    rating: Mapped[str | None] = mapped_column(String(16))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # 挂起 (services/tickets/hold.py): waiting on a third party. The status stays; while held_since is set the
    # ticket is overdue for nothing and nobody is reminded; 恢复 (or held_until, by the sweep) moves its due times
    # on by the working time it waited. Who held it and why: the "hold" event.
    held_since: Mapped[datetime | None]
    held_until: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(String(200))
    # 监督评议: a complaint about a member goes to the grid leader (or the secretary) and stays hidden from the
    # member it is about (`concealed`) until a leader decides: assigns it (派遣/转派) or ends it (办结/结案/不予立案).
    kind: Mapped[str] = mapped_column(String(16), default="request", server_default="request")
    about_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    concealed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    assignee: Mapped[Member | None] = relationship(foreign_keys=[assignee_id])
    grid: Mapped[Grid] = relationship()
    reporter_links: Mapped[list[TicketReporter]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketReporter.id")
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketEvent.id")

    @property
    def place(self) -> str:
        """Building/unit/room as people write it ("3栋2单元101"); empty when unknown."""
        return place_text(self.building, self.unit, self.room)


class TicketReporter(Base):
    """A resident who reported the ticket: the first reporter, and everyone whose duplicate report joined it."""

    __tablename__ = "ticket_reporters"
    __table_args__ = (UniqueConstraint("ticket_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")                  # what they wrote, phones masked
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    rating: Mapped[str | None] = mapped_column(String(16))
    rated_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship(back_populates="reporter_links")


class TicketEvent(Base):
    """One line of a ticket's timeline. A transition has from_status != to_status; other acts keep the status."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(160))       # member:<userid> | resident:<userid> | system | cli
    action: Mapped[str] = mapped_column(String(32))       # report, accept, dispatch, remind, escalate, rate, ...
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))   # the member concerned, if any
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class TicketSequence(Base):
    """The last number used per prefix (community + local day), so numbers stay dense and unique under load."""

    __tablename__ = "ticket_sequences"

    prefix: Mapped[str] = mapped_column(String(48), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


EVIDENCE_STATUSES = ("stored", "failed")


class TicketEvidence(Base):
    """A picture a person sent with a report (the AI bot's image or mixed message), kept as evidence.

    One row per image of an inbound message (`position` in the message), written when the message is processed:
    `stored` with the decrypted file under the instance dir (`path` relative to it, named by its SHA-256, so the
    same picture twice is one file), or `failed` with the reason (url expired, HTTP error, not an image).
    `ticket_id` is set when the message becomes (or joins) a ticket, or when a photo follows a report. Shown in the
    console to people whose scope covers the ticket's grid; never sent to a group.
    """

    __tablename__ = "ticket_evidence"
    __table_args__ = (UniqueConstraint("inbound_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="stored")     # EVIDENCE_STATUSES
    path: Mapped[str | None] = mapped_column(String(255))                 # relative to the instance dir
    sha256: Mapped[str | None] = mapped_column(String(64))
    mime: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="aibot")
    error: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(128))                    # the sender's userid on that platform
    chat_id: Mapped[str | None] = mapped_column(String(128))              # None: a 1:1 chat
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
