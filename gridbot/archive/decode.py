"""A decrypted archive message (doc 91774 "消息格式") -> the neutral Inbound the pipeline reads.

Contract with the toolbar: platform "wecom_archive", chat_type "group", chat_id = roomid, sender_id = the userid
(a member) or the external userid (a resident, wm.../wo...), msg_id = the archive's msgid, mentioned=False,
event_data["sender_kind"] = "member" | "resident". Only group messages become rows: a member's 1:1 chats with
residents are not gridbot's to read (decode returns None)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..messages import ARCHIVE_PLATFORM, Inbound, Location
from .port import ARCHIVE_REF, EXTERNAL_PREFIXES

PLATFORM = ARCHIVE_PLATFORM
RECALL_EVENT = "archive_recall"
CONSENT_TYPES = ("agree", "disagree")   # 客户同意/不同意进行聊天内容存档 (doc 91774 "同意会话聊天内容")
READ_KINDS = frozenset({"text", "image", "voice", "location", "event"})   # Inbound kinds processed; others kept


def sender_kind(sender_id: str) -> str:
    return "resident" if sender_id.startswith(EXTERNAL_PREFIXES) else "member"


def _text_of_card(body: dict[str, Any]) -> str:
    """A link or mini-program card read as its title and description: chatter unless those words ask for something."""
    return " ".join(str(body.get(k) or "") for k in ("title", "description") if body.get(k)).strip()


def _mixed(body: dict[str, Any]) -> tuple[str, list[str]]:
    """Mixed (图文混排): its texts joined, its images' sdkfileids."""
    texts, files = [], []
    for item in body.get("item") or []:
        content = item.get("content")
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except ValueError:
                content = {"content": content}
        if not isinstance(content, dict):
            continue
        if item.get("type") == "text" and content.get("content"):
            texts.append(str(content["content"]))
        elif item.get("type") == "image" and content.get("sdkfileid"):
            files.append(str(content["sdkfileid"]))
    return "\n".join(texts), files


def decode(msg: dict[str, Any]) -> Inbound | None:
    """The Inbound of one group message (kind = its msgtype when the bot does not read it), or of a consent answer
    (agree / disagree, wherever it comes); None for any other 1:1 message or one without a sender (action "switch",
    the member's client switching)."""
    room, sender = msg.get("roomid") or None, str(msg.get("from") or "")
    msgtype = str(msg.get("msgtype") or "")
    if msgtype in CONSENT_TYPES and sender:   # a resident's answer to the consent notice comes in a 1:1 chat
        found_body = msg.get(msgtype)
        consent = found_body if isinstance(found_body, dict) else {}
        return Inbound(platform=PLATFORM, sender_id=sender, chat_id=str(room) if room else None,
                       chat_type="group" if room else "single", msg_id=str(msg.get("msgid")), mentioned=False,
                       at=datetime.fromtimestamp(int(msg.get("msgtime") or 0) / 1000, UTC), kind="event",
                       event=f"archive_{msgtype}",
                       event_data={"sender_kind": sender_kind(sender), "userid": str(consent.get("userid") or sender)})
    if not room or not sender or msg.get("action") == "switch":
        return None
    found = msg.get(msgtype)
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    at = datetime.fromtimestamp(int(msg.get("msgtime") or 0) / 1000, UTC)
    data: dict[str, Any] = {"sender_kind": sender_kind(sender)}
    base: dict[str, Any] = dict(platform=PLATFORM, sender_id=sender, chat_id=str(room), chat_type="group",
                                msg_id=str(msg.get("msgid")), mentioned=False, at=at)
    if msgtype == "text":
        return Inbound(**base, kind="text", text=str(body.get("content") or ""), event_data=data)
    if msgtype == "mixed":
        text, files = _mixed(body)
        if files:   # kept as evidence before the message is routed (pipeline/media.py)
            data["images"] = [ARCHIVE_REF + f for f in files]
        return Inbound(**base, kind="text", text=text, event_data=data)
    if msgtype in ("link", "weapp"):
        data["card"] = msgtype
        return Inbound(**base, kind="text", text=_text_of_card(body), event_data=data)
    if msgtype == "image":
        data["images"] = [ARCHIVE_REF + str(body.get("sdkfileid") or "")]
        return Inbound(**base, kind="image", event_data=data)
    if msgtype == "voice":
        # AMR, kept as evidence; no transcript is promised (text stays empty): members see "语音，请收听"
        data["voices"] = [ARCHIVE_REF + str(body.get("sdkfileid") or "")]
        data["play_length"] = body.get("play_length")
        return Inbound(**base, kind="voice", event_data=data)
    if msgtype == "location":
        label = str(body.get("title") or body.get("address") or "") or None
        return Inbound(**base, kind="location", event_data=data,
                       location=Location(float(body.get("latitude") or 0), float(body.get("longitude") or 0), label))
    if msgtype == "revoke":
        data["pre_msgid"] = str(body.get("pre_msgid") or "")
        return Inbound(**base, kind="event", event=RECALL_EVENT, event_data=data)
    return Inbound(**base, kind=msgtype[:32] or "unknown", event_data=data)
