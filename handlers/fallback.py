"""The last rule: whatever nothing else took gets a polite answer, never silence and never a guess."""
from __future__ import annotations

import re

from gridbot.messages import Reply
from gridbot.router import Context, Router
from gridbot.services import kf
from gridbot.services.tickets import URGENT
from gridbot.texts import t
from gridbot.understanding import Understanding, understand

from .tickets import _request_run

# Short social messages get a social answer, not a prompt to report a repair.
_THANKS = re.compile(r"^(好的?|收到了?|ok|嗯+)?[,，。!！\s]*(谢谢|多谢|感谢|辛苦了?|麻烦了?)[^?？]{0,8}$", re.I)
_GREETING = re.compile(r"^(大家|各位)?(你好|您好|早上好|上午好|中午好|下午好|晚上好|早安|晚安|早|在吗|在不在|hello|hi)"
                       r"[啊呀呢哈~～,，。!！?？\s]*$", re.I)


def _anything_addressed_to_us(ctx: Context) -> bool:
    # A bare "@网格小助手" arrives as empty text once the mention is stripped: it still deserves an answer.
    if not ctx.inbound.is_text:
        return False
    if ctx.inbound.is_group:
        return ctx.inbound.mentioned
    return bool(ctx.text)


def _urgent_request(ctx: Context) -> Understanding | None:
    if ctx.inbound.is_group and ctx.speaker.chat_grid_id is None:
        return None
    u = understand(ctx.text)
    return u if u.is_request and u.urgency == URGENT else None


def _acknowledge(ctx: Context, _match: object) -> list[Reply]:
    refused = ctx.app.router.refusal(ctx)  # a resident's "确认 12" that no other rule took
    if refused:
        return refused
    if ctx.inbound.is_group and ctx.speaker.chat_grid_id is None:
        # A group no grid owns: whatever was reported here reaches nobody, so do not ask for more detail.
        return [Reply(t("fallback.unbound_chat"))]
    if not ctx.text or _GREETING.match(ctx.text):
        # 微信客服 is a private chat: no @ there, and 转人工 is on offer
        return [Reply(t("kf.welcome" if ctx.inbound.platform == kf.PLATFORM else "fallback.greeting"))]
    if _THANKS.match(ctx.text):
        return [Reply(t("fallback.thanks"))]
    if ctx.speaker.is_member:
        urgent = _urgent_request(ctx)
        if urgent is not None:
            # Members' messages are not read as requests (their notices must not become tickets), but a
            # building leader's "3栋电梯困人了" must not be lost: an urgent one is reported like a resident's.
            return _request_run(ctx, urgent)
        return [Reply(t("fallback.member"))]
    return [Reply(t("fallback.resident"))]


def register(router: Router) -> None:
    router.rule("fallback", _anything_addressed_to_us, _acknowledge)
