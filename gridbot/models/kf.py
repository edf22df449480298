"""微信客服 (WeChat Customer Service, issue 17): where the sync of each kf account stands, and each resident's session.

WECOM.md rows "微信客服" and "Sending" (docs 94665, 94670, 94677, 95122).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

# kf/service_state/get|trans (doc 94669): 0 new, 1 the bot (智能助手) answers, 2 waiting in the pool, 3 a person
# answers, 4 ended. gridbot answers in 0, 1 and 4; in 2 and 3 it stays silent until the person ends the session.
KF_STATE_NEW = 0
KF_STATE_BOT = 1
KF_STATE_POOL = 2
KF_STATE_HUMAN = 3
KF_STATE_ENDED = 4
KF_SILENT_STATES = frozenset({KF_STATE_POOL, KF_STATE_HUMAN})


class KfCursor(Base):
    """The `next_cursor` of kf/sync_msg for one kf account, committed in the transaction that stores the messages
    it covers: a sync that dies before its commit reads the same page again (msgid dedupes), never skips one."""

    __tablename__ = "kf_cursors"

    id: Mapped[int] = mapped_column(primary_key=True)
    open_kfid: Mapped[str] = mapped_column(String(64), unique=True)
    cursor: Mapped[str | None] = mapped_column(String(255))
    synced_at: Mapped[datetime | None]


class KfSession(Base):
    """One resident (external_userid) on one kf account: the grid they came from (the link's scene), their
    household once registered, and what WeCom allows the bot to send them (doc 94677: within 48 hours after their
    last message, at most 5 messages per message of theirs), counted here, in the database, before each send."""

    __tablename__ = "kf_sessions"
    __table_args__ = (UniqueConstraint("open_kfid", "external_userid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    open_kfid: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(128), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    scene: Mapped[str | None] = mapped_column(String(64))             # the link's scene_param (the grid code)
    last_customer_msg_at: Mapped[datetime | None]
    sends_since_customer_msg: Mapped[int] = mapped_column(Integer, default=0)
    service_state: Mapped[int] = mapped_column(Integer, default=KF_STATE_NEW)
    servicer: Mapped[str | None] = mapped_column(String(128))          # the member a session was handed to
    welcome_code: Mapped[str | None] = mapped_column(Text)
    welcome_code_at: Mapped[datetime | None]                          # valid 20 s from the event (doc 95122)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KfLink(Base):
    """A grid's 微信客服 link (kf/add_contact_way with the grid's code as scene, doc 94665): members pin it in the
    grid's group and print its QR code for notice boards; a resident who opens it arrives with scene_param = the
    code, so the bot knows their grid."""

    __tablename__ = "kf_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), unique=True)
    open_kfid: Mapped[str] = mapped_column(String(64))
    scene: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
