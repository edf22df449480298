"""Group membership for coverage tests: who is in which grid chat now, written through the membership service
(the same functions the WeCom join/leave events and the roster sync use)."""
from __future__ import annotations

from datetime import datetime

from gridbot.services import membership


def join(bot, user_id: str, grid: str = "HY-01", name: str | None = None, at: datetime | None = None) -> None:
    """`user_id` joins the chat of grid `grid` (a no-op if they are in it already)."""
    with bot.app.session() as s, s.begin():
        membership.join(s, bot.world.chats[grid], user_id, at or bot.app.clock.now(), name=name)


def leave(bot, user_id: str, grid: str = "HY-01", at: datetime | None = None) -> None:
    """`user_id` leaves the chat of grid `grid` (the stay is closed, the row kept)."""
    with bot.app.session() as s, s.begin():
        membership.leave(s, bot.world.chats[grid], user_id, at or bot.app.clock.now())
