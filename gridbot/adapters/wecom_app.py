"""Self-built app callback (XML): a decrypted message or event -> the neutral Inbound.

Handles text, image, location and the events change_external_chat, LOCATION, enter_agent, kf_msg_or_event and
msgaudit_notify (the chat archive's "new messages"); any other MsgType or Event is stored with its fields and skipped
(not processed), and a payload we cannot read is stored unreadable.
"""
from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from ..messages import Inbound, Location
from . import Arrival, Unreadable, as_id, as_text, skipped, unreadable
from .wecom_crypto import CallbackCrypto, CallbackRejected, SignedQuery, parse_xml

PLATFORM = "wecom_app"


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# What the bot reads (handlers/events.py and the location handlers); other MsgTypes and Events are stored, skipped.
HANDLED_TYPES = frozenset({"text", "image", "location", "event"})
# kf_msg_or_event (微信客服, doc 94670): carries Token and OpenKfId; it queues a kf/sync_msg (pipeline/kf_sync.py)
HANDLED_EVENTS = frozenset({"change_external_chat", "LOCATION", "enter_agent", "kf_msg_or_event",
                            "msgaudit_notify"})


def _at(fields: dict) -> datetime:
    try:
        return datetime.fromtimestamp(int(fields.get("CreateTime") or 0), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Unreadable("CreateTime is not a unix time") from None


def decode(plaintext: str) -> Inbound:
    """The decrypted XML of one callback -> Inbound (kind = its MsgType when the bot does not handle it).
    Raises Unreadable when it is not a message we can read (it is signed: it is kept)."""
    try:
        fields = parse_xml(plaintext)
    except CallbackRejected as err:
        raise Unreadable(f"decrypted payload: {err.reason}") from None
    try:
        return _decode(fields)
    except Unreadable as err:   # keep what identifies it: its MsgId dedupes WeCom's redelivery
        with contextlib.suppress(Unreadable):
            err.msg_id = as_id(fields.get("MsgId"), "MsgId")
        with contextlib.suppress(Unreadable):
            err.sender = as_id(fields.get("FromUserName"), "FromUserName")
        raise
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:  # a shape not foreseen
        raise Unreadable(f"app payload of an unexpected shape ({type(exc).__name__})") from None


def _decode(fields: dict[str, Any]) -> Inbound:
    msg_type = as_text(fields.get("MsgType"), "MsgType")
    sender = as_id(fields.get("FromUserName"), "FromUserName")
    if not sender and msg_type == "event" and fields.get("Event") == "kf_msg_or_event":
        sender = "sys"   # doc 94670: the kf notification has ToUserName, Token and OpenKfId, no FromUserName
    if not msg_type or not sender:
        raise Unreadable("decrypted XML has no MsgType or FromUserName")
    base: dict[str, Any] = dict(platform=PLATFORM, sender_id=sender, chat_id=None, chat_type="single",
                                mentioned=True, at=_at(fields))
    msg_id = as_id(fields.get("MsgId"), "MsgId")
    if msg_type == "text":
        return Inbound(**base, kind="text", text=as_text(fields.get("Content"), "Content"), msg_id=msg_id)
    if msg_type == "image":
        return Inbound(**base, kind="image", image_url=as_id(fields.get("PicUrl"), "PicUrl"), msg_id=msg_id)
    if msg_type == "location":
        lat, lng = _float(fields.get("Location_X")), _float(fields.get("Location_Y"))
        if lat is None or lng is None:
            raise Unreadable("location message without coordinates")
        return Inbound(**base, kind="location", msg_id=msg_id,
                       location=Location(lat, lng, as_text(fields.get("Label"), "Label") or None,
                                         _float(fields.get("Scale"))))
    if msg_type == "event":
        event = as_text(fields.get("Event"), "Event")[:64]
        data = {k: v for k, v in fields.items() if k not in ("ToUserName", "FromUserName", "MsgType", "Event")}
        inbound = Inbound(**base, kind="event", event=event, event_data=data, msg_id=msg_id)
        if event == "LOCATION":
            lat, lng = _float(fields.get("Latitude")), _float(fields.get("Longitude"))
            if lat is not None and lng is not None:
                inbound.location = Location(lat, lng, None, _float(fields.get("Precision")))
        if event == "change_external_chat" and not msg_id:
            # Events come from "sys": sender + time alone would merge two groups' changes in the same second.
            inbound.msg_id = "evt:{}:{}:{}:{}".format(fields.get("ChatId"), fields.get("ChangeType"),
                                                      fields.get("UpdateDetail") or "", fields.get("CreateTime"))
        return inbound
    return Inbound(**base, kind=msg_type[:32], msg_id=msg_id,
                   event_data={k: v for k, v in fields.items() if k not in ("ToUserName", "FromUserName")})


def read(crypto: CallbackCrypto, query: SignedQuery, body: bytes, now: datetime) -> Arrival:
    """One POST to /wecom/callback: time window, signature, decryption, then decode. Raises CallbackRejected only
    before the payload is open; after that it is stored whatever it holds (skipped, unreadable)."""
    plaintext = crypto.open_xml(body, query.msg_signature, query.timestamp, query.nonce, now.timestamp())
    key, ttl = f"app:{query.msg_signature}", 2 * crypto.max_skew
    try:
        inbound = decode(plaintext)
    except Unreadable as err:
        return unreadable(PLATFORM, plaintext, err, key, ttl, now)
    arrival = Arrival(inbound, plaintext, key, ttl)
    if inbound.kind not in HANDLED_TYPES:
        return skipped(arrival, "app", inbound.kind)
    if inbound.kind == "event" and inbound.event not in HANDLED_EVENTS:
        return skipped(arrival, "app", f"event {inbound.event}")
    return arrival
