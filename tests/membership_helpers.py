"""Group membership for coverage tests: who is in which grid chat now (the WeCom join/leave events' effect).

Writes ChatMembership rows directly, as the WeCom membership sync does, so coverage tests do not depend on it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from gridbot.models import ChatIdentity, ChatMembership


def _identity(session, user_id: str, name: str | None, platform: str = "console") -> ChatIdentity:  # noqa: ANN001
    identity = session.scalar(select(ChatIdentity).where(ChatIdentity.user_id == user_id))
    if identity is None:
        identity = ChatIdentity(platform=platform, user_id=user_id, display_name=name)
        session.add(identity)
        session.flush()
    return identity


def join(bot, user_id: str, grid: str = "HY-01", name: str | None = None, at: datetime | None = None) -> None:  # noqa: ANN001
    """`user_id` joins the chat of grid `grid` (opens a membership, unless one is open already)."""
    at = at or bot.app.clock.now()
    chat_id = bot.world.chats[grid]
    with bot.app.session() as s, s.begin():
        ident = _identity(s, user_id, name)
        open_row = s.scalar(select(ChatMembership).where(ChatMembership.chat_id == chat_id,
                                                         ChatMembership.identity_id == ident.id,
                                                         ChatMembership.left_at.is_(None)))
        if open_row is None:
            s.add(ChatMembership(chat_id=chat_id, identity_id=ident.id, joined_at=at, source="event"))


def leave(bot, user_id: str, grid: str = "HY-01", at: datetime | None = None) -> None:  # noqa: ANN001
    """`user_id` leaves the chat of grid `grid` (closes the open membership; the row is kept)."""
    at = at or bot.app.clock.now()
    chat_id = bot.world.chats[grid]
    with bot.app.session() as s, s.begin():
        rows = s.scalars(select(ChatMembership).join(ChatIdentity).where(
            ChatMembership.chat_id == chat_id, ChatIdentity.user_id == user_id, ChatMembership.left_at.is_(None)))
        for row in rows:
            row.left_at = at
