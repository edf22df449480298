"""Grid members' own work: patrols (巡查签到), household visits (走访), work logs (工作日志), leaves (请假/AB岗代班).

These rows are the raw material of the quarterly evaluation (考核), so they record who, where and when, and are
never edited away: a patrol is ended, a log is reviewed, a leave is cancelled, but nothing is deleted.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .household import Household
from .org import Grid, Member


class Patrol(Base):
    """One patrol of a grid (签到 .. 签退). Open while ended_at is null."""

    __tablename__ = "patrols"
    __table_args__ = (Index("ix_patrols_member_started", "member_id", "started_at"),
                      Index("ix_patrols_grid_started", "grid_id", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    place: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    end_note: Mapped[str | None] = mapped_column(Text)

    member: Mapped[Member] = relationship()
    grid: Mapped[Grid] = relationship()


class Visit(Base):
    """A visit to a household (入户走访), with what was noticed and what the household needs."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_household_at", "household_id", "at"),
                      Index("ix_visits_member_at", "member_id", "at"),
                      Index("ix_visits_grid_at", "grid_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))   # the household's grid at the time of the visit
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)          # tags noticed during the visit (独居老人, ...)
    follow_up: Mapped[str | None] = mapped_column(Text)            # a need the household expressed (需要代买药)
    invited_to_group: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_id: Mapped[int | None] = mapped_column(Integer)         # the ticket made from follow_up (转工单)

    member: Mapped[Member] = relationship()
    household: Mapped[Household] = relationship()


class WorkLog(Base):
    """One work-log entry (工作日志). Several a day are fine; `day` is the local date (GRIDBOT_TIMEZONE)."""

    __tablename__ = "work_logs"
    __table_args__ = (Index("ix_work_logs_member_day", "member_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    day: Mapped[date]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)

    member: Mapped[Member] = relationship(foreign_keys=[member_id])


class Leave(Base):
    """A member away (请假): from starts_at until ends_at their A/B partner covers their duties."""

    __tablename__ = "leaves"
    __table_args__ = (Index("ix_leaves_member_ends", "member_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    partner: Mapped[Member | None] = relationship(foreign_keys=[partner_id])
