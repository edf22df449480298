"""绑定本群: a grid leader binds the group the message came from to a grid."""
from __future__ import annotations

from gridbot.messages import Reply
from gridbot.models.org import chat_kind_of_route
from gridbot.router import LEADERS, Command, Context, Router, UsageError
from gridbot.services import membership
from gridbot.texts import t


def bind_here(ctx: Context, args: str) -> list[Reply]:
    code = args.split()[0] if args.split() else ""
    if not code:
        raise UsageError()
    chat_id = ctx.inbound.chat_id
    if not ctx.inbound.is_group or chat_id is None:
        return [Reply(t("wecom.bind.not_in_group"))]
    grid = membership.find_grid(ctx.session, code)
    if grid is None:
        return [Reply(t("wecom.bind.no_grid", code=code))]
    if not ctx.speaker.can_act_in(grid.id):
        return [Reply(t("wecom.bind.not_your_grid", code=grid.code))]
    # What the chat is, from the route the command came by (the AI bot is only ever in internal groups).
    kind = chat_kind_of_route(ctx.inbound.platform, ctx.inbound.chat_type)
    result = membership.bind_chat(ctx.session, chat_id, grid, ctx.speaker.actor, ctx.now, kind=kind)
    return [Reply(t(f"wecom.bind.{result.outcome}", grid=result.grid_name, code=result.grid_code))]


def register(router: Router) -> None:
    router.command(Command("绑定本群", bind_here, roles=LEADERS, group="admin"))
