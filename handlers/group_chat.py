"""A member's own words in a customer group (read from the chat archive): the response to the residents there.
Commands are taken before this rule (their replies go to the member privately: pipeline/process.py)."""
from __future__ import annotations

from gridbot.messages import ARCHIVE_PLATFORM, Reply
from gridbot.router import Context, Router
from gridbot.services import group_chat
from gridbot.texts import t


def _member_in_group(ctx: Context) -> bool:
    inbound = ctx.inbound
    return (inbound.platform == ARCHIVE_PLATFORM and inbound.is_group and ctx.speaker.is_member
            and inbound.kind != "event" and ctx.speaker.chat_grid_id is not None)


def _on_member_reply(ctx: Context, _match: object) -> list[Reply]:
    inbound = ctx.inbound
    done = group_chat.member_replied(ctx.session, ctx.speaker, inbound.chat_id or "", inbound.text,
                                     inbound.at or ctx.now)
    if not done:
        return []
    numbers = "、".join(ticket.number for ticket in done)
    return [Reply(t("archive.responded", numbers=numbers), to_user=inbound.sender_id)]


def register(router: Router) -> None:
    router.rule("archive_member_reply", _member_in_group, _on_member_reply)
