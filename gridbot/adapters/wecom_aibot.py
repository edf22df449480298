"""AI bot (智能机器人) callback (JSON): a decrypted message -> the neutral Inbound.

Group @-mentions and 1:1 chats; text, mixed (text + images) and quote; in 1:1 chats also image and voice
(doc 100719: "用户单聊中向智能机器人发送图片消息 / 语音消息"). The leading @-mention of the bot is stripped;
`response_url` is kept so the reply can go back through it. A voice message's `voice.content` (WeCom's own
transcript) is its text, kind "voice". Every image url (an image message's, each image of a mixed one) goes to
event_data["images"]: encrypted files valid five minutes, fetched by pipeline/media.py when the message is processed.
Stream-refresh and other event callbacks return None: they carry no message to store.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..messages import Inbound
from . import Arrival
from .wecom_crypto import CallbackCrypto, CallbackRejected, SignedQuery

PLATFORM = "wecom_aibot"
_LEADING_MENTION = re.compile(r"^\s*@\S+[\s\u2005\u00a0]*")


def strip_mention(text: str, bot_name: str | None = None) -> str:
    """'@网格助手 3栋漏水' -> '3栋漏水'. With a known bot name, that mention is removed wherever it is."""
    if bot_name:
        text = re.sub(r"@" + re.escape(bot_name) + r"[\s\u2005\u00a0]*", "", text)
        return text.strip()
    return _LEADING_MENTION.sub("", text, count=1).strip()


def _text_of(msg: dict[str, Any]) -> tuple[str, str | None]:
    """(text, first image url) of a text / voice / mixed / image message."""
    kind = msg.get("msgtype")
    if kind == "text":
        return str((msg.get("text") or {}).get("content") or ""), None
    if kind == "voice":   # doc 100719, 语音: {"voice": {"content": "<the transcript>"}}
        voice = msg.get("voice")
        return (str(voice.get("content") or "") if isinstance(voice, dict) else ""), None
    if kind == "image":
        return "", (msg.get("image") or {}).get("url")
    if kind == "mixed":
        parts, image = [], None
        for item in (msg.get("mixed") or {}).get("msg_item") or []:
            if item.get("msgtype") == "text":
                parts.append(str((item.get("text") or {}).get("content") or ""))
            elif item.get("msgtype") == "image" and image is None:
                image = (item.get("image") or {}).get("url")
        return "\n".join(p for p in parts if p), image
    return "", None


def image_urls(msg: dict[str, Any]) -> list[str]:
    """Every image url of an image or mixed message, in order (doc 100719: image.url, mixed.msg_item[].image.url)."""
    if msg.get("msgtype") == "image":
        items: list[Any] = [msg]
    elif msg.get("msgtype") == "mixed":
        mixed = msg.get("mixed")
        found = mixed.get("msg_item") if isinstance(mixed, dict) else None
        items = found if isinstance(found, list) else []
    else:
        return []
    urls = []
    for item in items:
        image = item.get("image") if isinstance(item, dict) and item.get("msgtype") == "image" else None
        url = image.get("url") if isinstance(image, dict) else None
        if isinstance(url, str) and url:
            urls.append(url)
    return urls


def decode(plaintext: str, now: datetime, bot_name: str | None = None) -> Inbound | None:
    try:
        msg = json.loads(plaintext)
    except ValueError:
        raise CallbackRejected(400, "decrypted AI bot payload is not JSON") from None
    if not isinstance(msg, dict):
        raise CallbackRejected(400, "decrypted AI bot payload is not a JSON object")
    kind = msg.get("msgtype")
    if kind in ("stream", "event"):
        return None
    sender = (msg.get("from") or {}).get("userid")
    msgid = msg.get("msgid")
    if not sender or not msgid or kind not in ("text", "image", "mixed", "voice", "file"):
        raise CallbackRejected(400, f"AI bot message without from.userid/msgid or of unknown type {kind!r}")
    text, image = _text_of(msg)
    group = msg.get("chattype") == "group"
    if group and not msg.get("chatid"):
        raise CallbackRejected(400, "AI bot group message without chatid")
    if text:
        text = strip_mention(text, bot_name) if group else text.strip()
    quote = msg.get("quote")
    data: dict[str, Any] = {}
    if isinstance(quote, dict):
        data["quote"] = _text_of(quote)[0]
    images = image_urls(msg)
    if images:
        data["images"] = images
    kind = "voice" if msg.get("msgtype") == "voice" else "text" if text or not image else "image"
    return Inbound(platform=PLATFORM, sender_id=str(sender), text=text,
                   chat_id=str(msg["chatid"]) if group else None, chat_type="group" if group else "single",
                   msg_id=str(msgid), mentioned=True, kind=kind,
                   image_url=image, response_url=msg.get("response_url"), event_data=data, at=now)


def read(crypto: CallbackCrypto, query: SignedQuery, body: bytes, now: datetime,
         bot_name: str | None = None) -> Arrival | None:
    """One POST to /wecom/aibot: time window, signature, decryption, then decode; None for a callback that carries
    no message (a stream refresh, an event). Raises CallbackRejected."""
    plaintext = crypto.open_json(body, query.msg_signature, query.timestamp, query.nonce, now.timestamp())
    inbound = decode(plaintext, now, bot_name)
    if inbound is None:
        return None
    return Arrival(inbound, plaintext, f"aibot:{query.msg_signature}", 2 * crypto.max_skew)
