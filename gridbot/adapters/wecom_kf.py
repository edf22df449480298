"""微信客服 (kf): one item of kf/sync_msg's msg_list -> the neutral Inbound (platform "wecom_kf", chat_type "single",
sender_id the resident's external_userid).

Doc 94670 (kf/sync_msg): each item has msgid (unique), open_kfid, external_userid, send_time, origin (3 the
resident, 4 a system event, 5 a person answering in WeCom) and msgtype with its object: text {content, menu_id
when it is a click on a msgmenu}, image {media_id}, voice {media_id}, location {latitude, longitude, name, address},
event {event_type, ...}. Events read: enter_session (scene, scene_param, welcome_code) and session_status_change
(change_type 1 taken from the pool, 2 handed over, 3 ended, 4 a person picked an ended session up again).
Anything else is stored and skipped; what cannot be read is stored unreadable (as the app callback does).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..messages import Inbound, Location
from . import Unreadable, as_id, as_text

PLATFORM = "wecom_kf"
ORIGIN_RESIDENT = 3
ORIGIN_SYSTEM = 4
ORIGIN_SERVICER = 5
HANDLED_TYPES = frozenset({"text", "image", "voice", "location", "event"})
HANDLED_EVENTS = frozenset({"enter_session", "session_status_change"})


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def decode(item: Any) -> tuple[Inbound, str | None]:
    """(the Inbound, why it is not processed or None). Raises Unreadable for an item of no readable shape."""
    if not isinstance(item, dict):
        raise Unreadable("kf msg_list item is not an object")
    msg_id = as_id(item.get("msgid"), "msgid")
    sender = as_id(item.get("external_userid"), "external_userid")
    msg_type = as_text(item.get("msgtype"), "msgtype")[:32]
    if not msg_id or not msg_type:
        raise Unreadable("kf message without msgid or msgtype", msg_id=msg_id, sender=sender)
    try:
        at = datetime.fromtimestamp(int(item.get("send_time") or 0), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Unreadable("send_time is not a unix time", msg_id=msg_id, sender=sender) from None
    origin = item.get("origin")
    data: dict[str, Any] = {"open_kfid": as_id(item.get("open_kfid"), "open_kfid"), "origin": origin}
    base: dict[str, Any] = dict(platform=PLATFORM, sender_id=sender or "", chat_id=None, chat_type="single",
                                mentioned=True, msg_id=msg_id, at=at)
    if msg_type == "event":
        event = _obj(item.get("event"))
        name = as_text(event.get("event_type"), "event_type")[:64]
        sender = sender or as_id(event.get("external_userid"), "external_userid")
        base["sender_id"] = sender or ""
        inbound = Inbound(**base, kind="event", event=name, event_data={**data, **event})
        return inbound, None if name in HANDLED_EVENTS else f"kf: event {name} not handled"
    if origin != ORIGIN_RESIDENT:   # a person's own answers (5) are WeCom's record; the bot does not read them
        return Inbound(**base, kind=msg_type, event_data=data), f"kf: origin {origin} not read"
    body = _obj(item.get(msg_type))
    if msg_type == "text":
        menu_id = as_id(body.get("menu_id"), "menu_id")
        if menu_id:
            data["menu_id"] = menu_id   # a tap on a msgmenu: its content is the choice's words
        return Inbound(**base, kind="text", text=as_text(body.get("content"), "content"), event_data=data), None
    if msg_type in ("image", "voice"):
        data["media_id"] = as_id(body.get("media_id"), "media_id")
        # no transcript comes with a kf voice message: kept, answered with the fallback's words
        return Inbound(**base, kind="image" if msg_type == "image" else "voice_media", event_data=data), None
    if msg_type == "location":
        try:
            lat, lng = float(body["latitude"]), float(body["longitude"])
        except (KeyError, TypeError, ValueError):
            raise Unreadable("kf location without coordinates", msg_id=msg_id, sender=sender) from None
        label = " ".join(x for x in (as_text(body.get("name"), "name"), as_text(body.get("address"), "address")) if x)
        return Inbound(**base, kind="location", location=Location(lat, lng, label or None), event_data=data), None
    return Inbound(**base, kind=msg_type, event_data=data), f"kf: {msg_type} not handled"
