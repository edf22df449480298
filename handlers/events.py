"""Events (not messages): membership changes and the like. Taken first, so no command or fallback sees them."""
from __future__ import annotations

from gridbot.db import after_commit
from gridbot.messages import Reply
from gridbot.router import Context, Router
from gridbot.services import membership
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
    # LOCATION and enter_agent are recorded in the inbound log; nothing to say back.
    return []


def register(router: Router) -> None:
    router.rule("events", _is_event, _on_event)
