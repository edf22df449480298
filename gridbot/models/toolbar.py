"""Ready items: what the bot would say in a customer group (客户群), which only a person can post there.

No bot can post into a customer group (WECOM.md "What can post into a customer group"): a reply for one becomes a
ready item that the responsible member posts with one tap from the chat toolbar (聊天工具栏) or by hand. The chat
archive then shows the text in the group and the item is done (services/toolbar.match_posted).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

ITEM_KINDS = ("ack", "progress", "rating", "reply", "reminder")
ITEM_READY, ITEM_POSTED, ITEM_DISMISSED = "ready", "posted", "dismissed"
HOW_TOOLBAR, HOW_BY_HAND = "toolbar", "by_hand"


class ToolbarItem(Base):
    """One text ready for a customer group; `due_at` is the ticket's response time (or the reply's own)."""

    __tablename__ = "toolbar_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))                      # ITEM_KINDS
    text: Mapped[str] = mapped_column(Text)
    for_member: Mapped[str | None] = mapped_column(String(128))        # the userid told privately
    status: Mapped[str] = mapped_column(String(16), default=ITEM_READY, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]       # when it stopped waiting: posted, or dismissed
    posted_by: Mapped[str | None] = mapped_column(String(128))
    how: Mapped[str | None] = mapped_column(String(16))                # HOW_TOOLBAR | HOW_BY_HAND
    seen_at: Mapped[datetime | None]         # when the chat archive showed it in the group (the confirmation)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))  # the message it answers
