"""微信客服 (issue 17): replies to a resident who wrote to a kf account, within WeCom's rules.

- kf/send_msg (doc 94677): only within 48 hours after the resident's last message and at most 5 messages per
  message of theirs. The count is taken in the database (services/kf.take_slot, under the session's row lock) before
  the call; a reply that does not fit is 'held' and released when the resident writes again (pipeline/kf_sync.py).
  A held reply that matters (a resolved ticket waits for its rating) is told to the ticket's member.
- msgmenu (doc 94677): a reply with choices ([[id, words], ...]) is sent as tappable click items; a tap comes back as
  a text message with menu_id whose content is the words, understood as the choice.
- kf/send_msg_on_event (doc 95122): the welcome uses the enter_session event's welcome_code, valid 20 seconds, once;
  it does not count against the window. Expired: the row is dead with the reason (the resident has not written, so
  send_msg may not be used either).
- kf/service_state/trans (doc 94669): a reply carrying kf_trans hands the session to that member once it is sent.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update

from ..app import Gridbot
from ..models import OutboxMessage
from ..models.kf import KF_STATE_HUMAN
from ..services import kf
from ..wecom.client import APP_CHANNEL, WeComClient
from . import Held, PermanentFailure

log = logging.getLogger(__name__)

TEXT_LIMIT = 2048        # doc 94677: text content <= 2,048 bytes
MENU_HEAD_LIMIT = 1024   # doc 94677: msgmenu head_content <= 1,024 bytes
MENU_ITEM_LIMIT = 128    # doc 94677: a click item's content <= 128 bytes (at most 10 items)


def _cut(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", errors="ignore")


def message_body(content: dict[str, Any]) -> dict[str, Any]:
    """The msgtype and its object for a row's content: msgmenu when it has choices, else text."""
    text = str(content.get("text") or "")
    choices = content.get("choices") or []
    if choices:
        return {"msgtype": "msgmenu", "msgmenu": {
            "head_content": _cut(text, MENU_HEAD_LIMIT),
            "list": [{"type": "click", "click": {"id": str(cid)[:128], "content": _cut(str(words), MENU_ITEM_LIMIT)}}
                     for cid, words in choices[:10]]}}
    return {"msgtype": "text", "text": {"content": _cut(text, TEXT_LIMIT)}}


class KfSender:
    """kf/send_msg to one resident (the row's target is their external_userid)."""

    fault_channels = (APP_CHANNEL,)   # the app's access_token calls the kf API
    dedupe_window = None              # WeCom drops no re-send: an unknown outcome waits for a person

    def __init__(self, app: Gridbot, client: WeComClient | None = None):
        self.app = app
        self.client = client or app.wecom_client

    def send(self, row: OutboxMessage) -> None:
        content = dict(row.content or {})
        welcome = bool(content.get("kf_welcome"))
        now = self.app.clock.now()
        held: str | None = None
        code: str | None = None
        with self.app.session() as session, session.begin():
            ks = kf.latest_session(session, row.target, lock=True)
            if ks is None:
                raise PermanentFailure(f"no 微信客服 session with {row.target}")
            open_kfid = ks.open_kfid
            if not content.get("kf_sent"):
                slot = kf.take_slot(ks, now, welcome=welcome)
                if welcome and not slot.allowed:
                    raise PermanentFailure(slot.reason)
                if not slot.allowed:
                    held = slot.reason
                    session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                        status=kf.HELD, attempts=OutboxMessage.attempts - 1, last_error=held))
                    kf.tell_member_held(session, row.id, row.target, now)
                code = slot.welcome_code
        if held is not None:
            raise Held(held)
        if not content.get("kf_sent"):
            if code:
                self.client.call("/cgi-bin/kf/send_msg_on_event", {"code": code, **message_body(content)})
            else:
                self.client.call("/cgi-bin/kf/send_msg", {"touser": row.target, "open_kfid": open_kfid,
                                                          **message_body(content)})
            self._remember(row, kf_sent=True)
        servicer = content.get("kf_trans")
        if servicer:
            self.client.call("/cgi-bin/kf/service_state/trans", {
                "open_kfid": open_kfid, "external_userid": row.target, "service_state": KF_STATE_HUMAN,
                "servicer_userid": servicer})
            with self.app.session() as session, session.begin():
                ks = kf.session_for(session, open_kfid, row.target, now, lock=True)
                kf.handed_over(session, ks, str(servicer), "wecom:kf", now)

    def _remember(self, row: OutboxMessage, **values: object) -> None:
        content = dict(row.content or {}, **values)
        row.content = content
        with self.app.session() as session, session.begin():
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(content=content))
