"""Self-built app callback (XML): a decrypted message or event -> the neutral Inbound.

Handles text, image, location and the events change_external_chat, LOCATION and enter_agent; anything
else becomes an event Inbound with its fields, so nothing is lost and the router decides.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..messages import Inbound, Location
from . import Arrival
from .wecom_crypto import CallbackCrypto, CallbackRejected, SignedQuery, parse_xml

PLATFORM = "wecom_app"


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _at(fields: dict) -> datetime:
    try:
        return datetime.fromtimestamp(int(fields.get("CreateTime") or 0), UTC)
    except (TypeError, ValueError, OverflowError):
        raise CallbackRejected(400, "CreateTime is not a unix time") from None


def decode(plaintext: str) -> Inbound:
    """The decrypted XML of one callback -> Inbound. Raises CallbackRejected(400) if it is not a message."""
    fields = parse_xml(plaintext)
    msg_type = fields.get("MsgType")
    sender = fields.get("FromUserName")
    if not msg_type or not sender:
        raise CallbackRejected(400, "decrypted XML has no MsgType or FromUserName")
    base: dict[str, Any] = dict(platform=PLATFORM, sender_id=str(sender), chat_id=None, chat_type="single",
                                mentioned=True, at=_at(fields))
    msg_id = fields.get("MsgId")
    if msg_type == "text":
        return Inbound(**base, kind="text", text=str(fields.get("Content") or ""), msg_id=msg_id)
    if msg_type == "image":
        return Inbound(**base, kind="image", image_url=fields.get("PicUrl"), msg_id=msg_id)
    if msg_type == "location":
        lat, lng = _float(fields.get("Location_X")), _float(fields.get("Location_Y"))
        if lat is None or lng is None:
            raise CallbackRejected(400, "location message without coordinates")
        return Inbound(**base, kind="location", msg_id=msg_id,
                       location=Location(lat, lng, fields.get("Label"), _float(fields.get("Scale"))))
    if msg_type == "event":
        event = str(fields.get("Event") or "")
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
    return Inbound(**base, kind=str(msg_type), msg_id=msg_id,
                   event_data={k: v for k, v in fields.items() if k not in ("ToUserName", "FromUserName")})


def read(crypto: CallbackCrypto, query: SignedQuery, body: bytes, now: datetime) -> Arrival:
    """One POST to /wecom/callback: time window, signature, decryption, then decode. Raises CallbackRejected."""
    plaintext = crypto.open_xml(body, query.msg_signature, query.timestamp, query.nonce, now.timestamp())
    return Arrival(decode(plaintext), plaintext, f"app:{query.msg_signature}", 2 * crypto.max_skew)
