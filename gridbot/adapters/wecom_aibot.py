"""AI bot (智能机器人) callback (JSON): a decrypted message -> the neutral Inbound.

Group @-mentions and 1:1 chats; text, mixed (text + images) and quote; in 1:1 chats also image and voice
(doc 100719: "用户单聊中向智能机器人发送图片消息 / 语音消息"). The leading @-mention of the bot is stripped;
`response_url` is kept so the reply can go back through it. A voice message's `voice.content` (WeCom's own
transcript) is its text, kind "voice". Every image url (an image message's, each image of a mixed one) goes to
event_data["images"]: encrypted files valid five minutes, fetched by pipeline/media.py when the message is processed.
Stream-refresh and other event callbacks return None: they carry no message to store. Other msgtypes (file, video,
...) are stored and skipped; a payload of an odd shape (`from` a string, `mixed` items that are not objects, ...) is
stored unreadable.
"""
from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime
from typing import Any

from ..messages import Inbound
from . import Arrival, Unreadable, as_id, as_text, skipped, unreadable
from .wecom_crypto import CallbackCrypto, SignedQuery

PLATFORM = "wecom_aibot"
_LEADING_MENTION = re.compile(r"^\s*@\S+[\s\u2005\u00a0]*")


def strip_mention(text: str, bot_name: str | None = None) -> str:
    """'@网格助手 3栋漏水' -> '3栋漏水'. With a known bot name, that mention is removed wherever it is."""
    if bot_name:
        text = re.sub(r"@" + re.escape(bot_name) + r"[\s\u2005\u00a0]*", "", text)
        return text.strip()
    return _LEADING_MENTION.sub("", text, count=1).strip()


HANDLED = frozenset({"text", "image", "mixed", "voice"})   # msgtypes the bot reads; others are stored, skipped


def _obj(msg: dict[str, Any], key: str) -> dict[str, Any]:
    """msg[key] as an object: absent is {}, any other shape makes the message unreadable."""
    value = msg.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unreadable(f"{key} is a {type(value).__name__}, not an object")
    return value


def _text_of(msg: dict[str, Any]) -> tuple[str, str | None]:
    """(text, first image url) of a text / voice / mixed / image message. Raises Unreadable for an odd shape."""
    kind = msg.get("msgtype")
    if kind == "text":
        return as_text(_obj(msg, "text").get("content"), "text.content"), None
    if kind == "voice":   # doc 100719, 语音: {"voice": {"content": "<the transcript>"}}
        return as_text(_obj(msg, "voice").get("content"), "voice.content"), None
    if kind == "image":
        return "", as_id(_obj(msg, "image").get("url"), "image.url")
    if kind == "mixed":
        parts, image = [], None
        items = _obj(msg, "mixed").get("msg_item") or []
        if not isinstance(items, list):
            raise Unreadable("mixed.msg_item is not a list")
        for item in items:
            if not isinstance(item, dict):
                raise Unreadable("a mixed.msg_item is not an object")
            if item.get("msgtype") == "text":
                parts.append(as_text(_obj(item, "text").get("content"), "mixed text.content"))
            elif item.get("msgtype") == "image" and image is None:
                image = as_id(_obj(item, "image").get("url"), "mixed image.url")
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
    """The decrypted JSON -> Inbound (kind = its msgtype when the bot does not handle it); None for a stream refresh
    or an event. Raises Unreadable when the payload is not a message we can read (it is signed: it is kept)."""
    try:
        msg = json.loads(plaintext)
    except RecursionError:
        raise Unreadable("decrypted AI bot payload nested too deep") from None
    except ValueError:
        raise Unreadable("decrypted AI bot payload is not JSON") from None
    if not isinstance(msg, dict):
        raise Unreadable("decrypted AI bot payload is not a JSON object")
    try:
        return _decode(msg, now, bot_name)
    except Unreadable as err:   # keep what identifies it: its msgid dedupes WeCom's redelivery
        with contextlib.suppress(Unreadable):
            err.msg_id = as_id(msg.get("msgid"), "msgid")
        with contextlib.suppress(Unreadable):
            err.sender = as_id(_obj(msg, "from").get("userid"), "from.userid")
        raise
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:  # a shape not foreseen above
        raise Unreadable(f"AI bot payload of an unexpected shape ({type(exc).__name__})") from None


def _decode(msg: dict[str, Any], now: datetime, bot_name: str | None) -> Inbound | None:
    kind = msg.get("msgtype")
    if kind in ("stream", "event"):
        return None
    if not isinstance(kind, str) or not kind:
        raise Unreadable("AI bot message without a msgtype string")
    sender = as_id(_obj(msg, "from").get("userid"), "from.userid")
    msgid = as_id(msg.get("msgid"), "msgid")
    if not sender or not msgid:
        raise Unreadable("AI bot message without from.userid or msgid")
    group = msg.get("chattype") == "group"
    chat_id = as_id(msg.get("chatid"), "chatid")
    if group and not chat_id:
        raise Unreadable("AI bot group message without chatid")
    base: dict[str, Any] = dict(platform=PLATFORM, sender_id=sender, chat_id=chat_id if group else None,
                                chat_type="group" if group else "single", msg_id=msgid, mentioned=True, at=now,
                                response_url=as_id(msg.get("response_url"), "response_url"))
    if kind not in HANDLED:
        return Inbound(**base, kind=kind[:32])
    text, image = _text_of(msg)
    if text:
        text = strip_mention(text, bot_name) if group else text.strip()
    quote = msg.get("quote")
    data: dict[str, Any] = {}
    if isinstance(quote, dict):
        with contextlib.suppress(Unreadable):   # a quote we cannot read costs the quote, not the message
            data["quote"] = _text_of(quote)[0]
    images = image_urls(msg)
    if images:
        data["images"] = images
    kind = "voice" if msg.get("msgtype") == "voice" else "text" if text or not image else "image"
    return Inbound(**base, text=text, kind=kind, image_url=image, event_data=data)


def read(crypto: CallbackCrypto, query: SignedQuery, body: bytes, now: datetime,
         bot_name: str | None = None) -> Arrival | None:
    """One POST to /wecom/aibot: time window, signature, decryption, then decode; None for a callback that carries
    no message (a stream refresh, an event). Raises CallbackRejected only before the payload is open: once signed
    and decrypted it is WeCom's, stored whatever it holds (skipped, unreadable)."""
    plaintext = crypto.open_json(body, query.msg_signature, query.timestamp, query.nonce, now.timestamp())
    key, ttl = f"aibot:{query.msg_signature}", 2 * crypto.max_skew
    try:
        inbound = decode(plaintext, now, bot_name)
    except Unreadable as err:
        return unreadable(PLATFORM, plaintext, err, key, ttl, now)
    if inbound is None:
        return None
    arrival = Arrival(inbound, plaintext, key, ttl)
    return arrival if inbound.kind in ("text", "image", "voice") else skipped(arrival, "aibot", inbound.kind)
