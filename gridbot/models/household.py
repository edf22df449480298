"""Households, the people who speak for them in chat, and who is in which chat group."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..places import place_text
from .base import Base, utcnow
from .org import Grid

HOUSEHOLD_TAGS = ("独居老人", "残疾", "困难", "留守儿童", "流动人口", "出租房", "空置", "商户")
KEY_HOUSEHOLD_TAGS = ("独居老人", "残疾", "困难", "留守儿童", "流动人口")


class Household(Base):
    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("grid_id", "building", "unit", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)
    building: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(32), default="")
    room: Mapped[str] = mapped_column(String(32))
    head_name: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")   # active | moved_out | vacant
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))

    grid: Mapped[Grid] = relationship()

    @property
    def address(self) -> str:
        return place_text(self.building, self.unit, self.room)


class ChatIdentity(Base):
    """A person as a chat platform knows them (a WeCom userid or external_userid)."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HouseholdBinding(Base):
    """A chat identity speaking for a household. Ended bindings are kept (迁出, 解绑), never deleted."""

    __tablename__ = "household_bindings"
    __table_args__ = (Index("ix_household_bindings_status_household", "status", "household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identities.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | active | rejected | ended
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(64))

    household: Mapped[Household] = relationship()
    identity: Mapped[ChatIdentity] = relationship()


class ChatMembership(Base):
    """One stay of a person in a chat group: joined_at .. left_at (open while left_at is null)."""

    __tablename__ = "chat_memberships"
    __table_args__ = (Index("ix_chat_memberships_chat_open", "chat_id", "left_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identities.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16), default="event")  # event | sync | manual

    identity: Mapped[ChatIdentity] = relationship()
