"""Events (not messages): membership changes and the like. Taken first, so no command or fallback sees them."""
from __future__ import annotations

from sqlalchemy import select

from gridbot.archive.local import queue_pull
from gridbot.db import after_commit
from gridbot.messages import Reply
from gridbot.models import InboundMessage
from gridbot.router import Context, Router
from gridbot.services import group_chat, membership
from gridbot.services.kf import PLATFORM as KF_PLATFORM
from gridbot.texts import t


def _is_event(ctx: Context) -> bool:
    return ctx.inbound.kind == "event"


def _on_event(ctx: Context, _match: object) -> list[Reply]:
    inbound = ctx.inbound
    if inbound.event == "change_external_chat":
        change = membership.apply_chat_change(ctx.session, inbound.event_data, inbound.at or ctx.now)
        if change is not None and change.needs_sync:
            # The event did not say who joined, or an event before it was lost (a member list version gap):
            # ask WeCom for the member list (after this transaction).
            job_id = f"sync-chat-{change.chat_id}-{int((inbound.at or ctx.now).timestamp())}"
            after_commit(ctx.session, lambda: ctx.app.queue.enqueue(
                "gridbot.jobs.sync_chat_roster", change.chat_id, queue="scheduled", job_id=job_id))
    if inbound.event == "kf_msg_or_event":
        # 微信客服 (doc 94670): the notification says only that messages wait; they are read by kf/sync_msg with
        # this Token (valid 10 minutes), after this transaction, one sync per notification
        open_kfid = str(inbound.event_data.get("OpenKfId") or "")
        token = str(inbound.event_data.get("Token") or "") or None
        if open_kfid:
            after_commit(ctx.session, lambda: ctx.app.queue.enqueue(
                "gridbot.jobs.sync_kf", open_kfid, token, queue="inbound", job_id=f"kf-sync-{inbound.inbound_id}"))
    if inbound.event == "enter_session" and inbound.platform == KF_PLATFORM:
        # the welcome goes by send_msg_on_event with the event's welcome_code (senders/kf.py), within 20 s
        return [Reply(t("kf.welcome"), extra={"kf_welcome": True})]
    if inbound.event == "msgaudit_notify" and ctx.app.settings.archive.enabled:
        # The archive's "new messages" event (产生会话回调事件, doc 91774: sent to the event server set in the
        # archive's admin page; set it to this callback URL with the app's Token and EncodingAESKey): a pull soon.
        after_commit(ctx.session, lambda: queue_pull(ctx.app))
    elif inbound.event == "archive_recall":
        _recall(ctx)
    # LOCATION and enter_agent are recorded in the inbound log; nothing to say back.
    return []


def _recall(ctx: Context) -> None:
    """A resident recalled a message in a customer group: the ticket it alone opened is withdrawn if nobody has
    accepted it yet, and its member is told (services/group_chat.py)."""
    inbound = ctx.inbound
    pre = str(inbound.event_data.get("pre_msgid") or "")
    row = ctx.session.scalar(select(InboundMessage).where(
        InboundMessage.dedupe_key == f"{inbound.platform}:msg:{pre}"))
    if row is None or not inbound.chat_id or row.sender_id != inbound.sender_id:
        return
    group_chat.withdraw_recalled(ctx.session, inbound.sender_id, inbound.chat_id, str(row.payload.get("text") or ""),
                                 row.received_at, ctx.now, inbound.platform)


def register(router: Router) -> None:
    router.rule("events", _is_event, _on_event)
