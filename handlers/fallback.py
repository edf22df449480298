"""The last rule: whatever nothing else took gets a polite answer, never silence and never a guess."""
from __future__ import annotations

from gridbot.messages import Reply
from gridbot.router import Context, Router
from gridbot.texts import t


def _anything_addressed_to_us(ctx: Context) -> bool:
    return ctx.inbound.kind == "text" and (ctx.inbound.mentioned or not ctx.inbound.is_group) and bool(ctx.text)


def _acknowledge(ctx: Context, _match: object) -> list[Reply]:
    refused = ctx.app.router.refusal(ctx)  # a resident's "确认 12" that no other rule took
    if refused:
        return refused
    if ctx.inbound.is_group and ctx.speaker.chat_grid_id is None:
        # A group no grid owns: whatever was reported here reaches nobody, so do not ask for more detail.
        return [Reply(t("fallback.unbound_chat"))]
    if ctx.speaker.is_member:
        return [Reply(t("fallback.member"))]
    return [Reply(t("fallback.resident"))]


def register(router: Router) -> None:
    router.rule("fallback", _anything_addressed_to_us, _acknowledge)
