"""Adapters: one per inbound route, each turning that route's payload into the neutral Inbound.

- wecom_app.py: the self-built app's callback (/wecom/callback, signed and encrypted XML)
- wecom_aibot.py: the AI bot's callback (/wecom/aibot, signed and encrypted JSON)
- wecom_kf.py: one item of 微信客服's kf/sync_msg (read after the app callback's kf_msg_or_event)
- wecom_crypto.py: what both WeCom routes share (signature, time window, decryption, the signed query)

An adapter's read() checks and opens one request and hands back an Arrival for gridbot/pipeline/receive.py.
Once a callback is signed and decrypted it is WeCom's: the adapter never refuses it. A message type the bot does not
handle comes back 'skipped', a payload it cannot read 'unreadable' (kept raw, deduped by its msgid or its digest).
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..messages import Inbound
from ..privacy import mask_text

log = logging.getLogger(__name__)


@dataclass
class Arrival:
    """One message as a route delivered it: the neutral Inbound, the decrypted payload (kept on the row for audit
    and replay) and the replay guard's key (the signed request's identity: the same one twice is a replay)."""

    inbound: Inbound
    raw: str | None
    replay_key: str
    replay_ttl: int      # seconds the key is remembered: twice the route's timestamp window
    status: str = "received"   # received (to process) | skipped | unreadable; the receiver may make it unbound
    error: str | None = None   # why it is not processed, for the row (no message content)


class Unreadable(Exception):
    """A signed payload we cannot read as a message. `msg_id` and `sender` are kept when they could be read."""

    def __init__(self, reason: str, msg_id: str | None = None, sender: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.msg_id = msg_id
        self.sender = sender


def as_id(value: Any, what: str) -> str | None:
    """An id as WeCom sends it (a string; a number is taken as its digits); any other shape is unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Unreadable(f"{what} is a {type(value).__name__}, not a string")


def as_text(value: Any, what: str) -> str:
    """A text field: absent is "", a number its digits, any other shape (an object, a list) is unreadable."""
    if value is None:
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise Unreadable(f"{what} is a {type(value).__name__}, not a string")


def unreadable(platform: str, plaintext: str, err: Unreadable, replay_key: str, replay_ttl: int,
               now: datetime) -> Arrival:
    """An Arrival for a signed payload we cannot read: stored raw and marked, deduped by its msgid when it has one,
    else by the digest of the payload (a redelivery carries the same plaintext)."""
    msg_id = err.msg_id or "sha256:" + hashlib.sha256(plaintext.encode("utf-8", "backslashreplace")).hexdigest()
    log.warning("%s: signed payload stored unreadable: %s", platform, err.reason)
    inbound = Inbound(platform=platform, sender_id=err.sender or "", chat_id=None, chat_type="single",
                      msg_id=msg_id, kind="unreadable", at=now)
    return Arrival(inbound, plaintext, replay_key, replay_ttl, status="unreadable", error=err.reason)


_said: set[tuple[str, str]] = set()
_said_lock = threading.Lock()


def skipped(arrival: Arrival, route: str, kind: str) -> Arrival:
    """Mark a message of a type the bot does not handle: stored, answered 200, not processed. Logged once per
    (route, type) in this process, not once per message."""
    arrival.status, arrival.error = "skipped", f"{route}: {kind} not handled"
    with _said_lock:
        first = (route, kind) not in _said and len(_said) < 1000
        if first:
            _said.add((route, kind))
    if first:
        log.warning("wecom %s: messages of type %r are stored but not handled (logged once)", route,
                    mask_text(kind[:64]))
    return arrival
