"""WeCom senders behind the one Sender interface, and the resolver that picks one per outbox row.

- RobotSender: a group's robot webhook (text with @mentions, markdown, image), 20 messages/min per robot.
- Images (content {"kind": "image", "path": <file under the instance dir>, "filename"}; or "base64" for a small
  picture): robots take them inline (base64+md5, <= 2 MB); app messages and appchats upload them first
  (media/upload, <= 10 MB) and send the media_id.
- AppMessageSender: message/send to a staff member, with WeCom's duplicate check so a retried row is not doubled.
- AppChatSender: appchat/send to an internal group the app created.
- AIBotSender: the AI bot's one-use response_url, valid an hour from the callback's arrival; when it cannot be
  used (expired, used, refused, too long) the reply goes by the next channel: the chat's own, or the member's app
  message; only when there is none is the row dead, with the reason.
- TemplateSender: externalcontact/add_msg_template for external (customer) groups; a staff member must confirm
  in the client, so the person who asked is told so; over the group's daily cap, or in WeCom's fail_list, the
  member gets the text to post by hand.
- chat_sender: a group's channel by what the chat is (GridChat.kind), never by its id's prefix.

Long texts are split on line boundaries at WeCom's byte limits (LIMITS); parts already sent are remembered on the
row, so a retry after a failure in the middle does not repeat them.
"""
from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..app import Gridbot
from ..markdown import md_plain
from ..messages import ARCHIVE_PLATFORM, Inbound, Reply
from ..models import GridChat, InboundMessage, OutboxMessage, UnknownChat
from ..models.org import (
    CHAT_AIBOT_GROUP,
    CHAT_APP_CHAT,
    CHAT_CUSTOMER_GROUP,
    CHAT_KF,
    CHAT_KINDS,
    CHAT_ROBOT_GROUP,
    CHAT_SINGLE,
    CHAT_UNKNOWN,
)
from ..periods import local_day
from ..services.kf import PLATFORM as KF_PLATFORM
from ..services.people import is_kf_resident
from ..texts import t
from ..wecom.client import APP_CHANNEL, AmbiguousFailure, WeComClient, robot_channel
from ..wecom.ratelimit import APPCHAT_WINDOWS, ROBOT_WINDOWS, USER_WINDOWS, RateLimiter
from . import ConfigurationFault, PermanentFailure, Sender, TemporaryFailure
from .kf import KfSender

# services.outbox.write_replies, handed in by bootstrap: a sender writes to the outbox without importing services.
WriteReplies = Callable[[Session, "Inbound | None", Iterable[Reply], datetime, "str | None"], list[OutboxMessage]]

log = logging.getLogger(__name__)

# WeCom's byte limits per (channel, kind) of one message's content (UTF-8), doc numbers as in WECOM.md "Sending"
# (developer.work.weixin.qq.com/document/path/N). Over them WeCom refuses the whole message (45002 for message/send
# and appchat, 40058 for a robot), so a longer text is split at line ends and sent in parts.
LIMITS: dict[tuple[str, str], int] = {
    ("message/send", "text"): 2048,         # doc 90236: text and markdown content <= 2,048 bytes
    ("message/send", "markdown"): 2048,
    ("appchat", "text"): 2048,              # doc 90248: the same 2,048 bytes
    ("appchat", "markdown"): 2048,
    ("robot", "text"): 2048,                # doc 91770: robot text <= 2,048 bytes
    ("robot", "markdown"): 4096,            # doc 91770: robot markdown <= 4,096 bytes, the <@userid> mentions included
    ("response_url", "markdown"): 20480,    # doc 101138: the AI bot's response_url, markdown <= 20,480 bytes
    ("add_msg_template", "text"): 4000,     # doc 92135: a mass-send template's text <= 4,000 bytes
}
TEXT_LIMIT = LIMITS["robot", "text"]
MARKDOWN_LIMIT = LIMITS["robot", "markdown"]           # the longest markdown a group sees in one message (digest)
RESPONSE_URL_LIMIT = LIMITS["response_url", "markdown"]
TEMPLATE_LIMIT = LIMITS["add_msg_template", "text"]
RESPONSE_URL_TTL = timedelta(hours=1)   # doc 101138: one use, valid one hour from the callback
# doc 92135 (2025-11): a customer group receives at most as many mass sends a month as the month has days; an admin
# may change it to 7 a week or 1 a day. One a local day is inside all three rules, so that is what we send;
# mass sends a member makes by hand count too (we cannot see them): fail_list remains WeCom's final word.
GROUP_TEMPLATE_PER_DAY = 1
DUPLICATE_CHECK_SECONDS = 4 * 3600   # message/send: the same content to the same user within this is sent once
ROBOT_IMAGE_LIMIT = 2 * 1024 * 1024    # bytes before base64: a group robot's image
MEDIA_IMAGE_LIMIT = 10 * 1024 * 1024   # bytes: media/upload type=image (for app messages and appchats)
MEDIA_REUSE = timedelta(days=3) - timedelta(hours=1)   # WeCom keeps a media_id 3 days; reuse it a little less


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line ends where possible (never inside a character)."""
    if len(text.encode()) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line.encode()) > limit:  # one line longer than the limit: cut it by characters
            head = line.encode()[:limit].decode("utf-8", errors="ignore")
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
            line = line[len(head):]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = line
    if current:
        parts.append(current)
    return parts


class Channels:
    """What the WeCom senders share, owned by the app (its sender_resolver is `resolve` below): the rate limiter,
    the AI bot's response_urls already used (kept here when there is no Redis), and the outbox writer."""

    def __init__(self, app: Gridbot, write_replies: WriteReplies):
        self.app = app
        self.write_replies = write_replies
        self.limiter = RateLimiter(app.redis, app.settings.redis_prefix)
        self.used_response_urls: set[str] = set()
        self.template_counts: dict[str, int] = {}   # a customer group's mass sends of a day, when there is no Redis

    def resolve(self, row: OutboxMessage) -> Sender:
        """The sender for one outbox row, by platform, target type and what the chat offers."""
        app = self.app
        if row.target_type == "user" and self._is_kf_resident(row.target):
            # 微信客服: a resident who wrote to the kf account hears there, whatever channel the news came from
            return KfSender(app) if app.settings.wecom.api_enabled else _Unsendable(
                PermanentFailure("微信客服 needs GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET"))
        # a kf row to a member: app message; the chat archive is a way in only: a note about a message it brought
        # (a new ticket, a recall) goes as the app's, like any other row of WeCom's
        if row.platform not in ("wecom_app", "wecom_aibot", KF_PLATFORM, ARCHIVE_PLATFORM):
            return app.senders.get(row.platform, app.default_sender)
        try:
            if (row.content or {}).get("response_url") and row.platform == "wecom_aibot":
                return AIBotSender(self, lambda: after_response_url(self, row))
            if row.target_type == "user":
                if not app.settings.wecom.api_enabled:
                    raise PermanentFailure("app messages need GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
                return AppMessageSender(self)
            return chat_sender(self, row)
        except PermanentFailure as err:
            return _Unsendable(err)


    def _is_kf_resident(self, user_id: str) -> bool:
        with self.app.session() as session:
            return is_kf_resident(session, user_id)


class _Base:
    # the channels a send depends on (a ConfigurationFault on any of them holds the row: pipeline/delivery.py),
    # and whether WeCom itself drops a re-send of the same content (then a send of unknown outcome is re-sent)
    fault_channels: tuple[str, ...] = ()
    dedupe_window: timedelta | None = None

    def __init__(self, channels: Channels, client: WeComClient | None = None, limiter: RateLimiter | None = None):
        self.channels = channels
        self.app = channels.app
        self.client = client or channels.app.wecom_client
        self.limiter = limiter or channels.limiter

    def _remember(self, row: OutboxMessage, **values: object) -> None:
        """Put values into the row's content, in its own transaction (a later failure keeps them)."""
        content = dict(row.content or {}, **values)
        row.content = content
        with self.app.session() as session, session.begin():
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(content=content))

    def _send_parts(self, row: OutboxMessage, parts: list[str], send_one: Callable[[str, bool], None]) -> None:
        """Send the parts not yet sent; after each, remember progress on the row (its own transaction)."""
        done = int((row.content or {}).get("parts_sent") or 0)
        for index in range(done, len(parts)):
            send_one(parts[index], index == 0)
            if len(parts) > 1:
                content = dict(row.content or {}, parts_sent=index + 1)
                row.content = content
                with self.app.session() as session, session.begin():
                    session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(content=content))


def image_bytes(app: Gridbot, content: dict, limit: int, channel: str) -> tuple[bytes, str]:
    """(bytes, filename) of an image row: content.path (a file under the instance dir) or content.base64.
    Too big for the channel, missing or outside the instance dir: PermanentFailure saying what to do."""
    if content.get("path"):
        root = Path(app.settings.instance_dir).resolve()
        path = (root / content["path"]).resolve()
        if not path.is_relative_to(root):
            raise PermanentFailure(f"image path {content['path']!r} is outside the instance dir {root}")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise PermanentFailure(f"image file {path} cannot be read ({type(err).__name__}): "
                                   "it was removed or never written; send it again once it exists") from None
        name = content.get("filename") or path.name
    elif content.get("base64"):
        data = base64.b64decode(content["base64"])
        name = content.get("filename") or "image.png"
    else:
        raise PermanentFailure("an image row needs content.path (under the instance dir) or content.base64")
    if len(data) > limit:
        raise PermanentFailure(f"image {name} is {len(data) / 1048576:.1f} MB; WeCom takes at most "
                               f"{limit // 1048576} MB for {channel}: make it smaller (fewer pixels, or JPG)")
    return data, name


class _ImageMixin:
    """Upload once, send by media_id: the id is kept on the row, so a retry after a failed send reuses it
    (WeCom's duplicate check then sees the same content) instead of uploading the picture again."""

    app: Gridbot            # set by _Base, which every sender with images also derives from
    client: WeComClient

    def _media_id(self, row: OutboxMessage, channel: str) -> str:
        content = dict(row.content or {})
        now = self.app.clock.now()
        at = content.get("media_uploaded_at")
        if content.get("media_id") and at and now - datetime.fromisoformat(at) < MEDIA_REUSE:
            return content["media_id"]
        data, name = image_bytes(self.app, content, MEDIA_IMAGE_LIMIT, channel)
        try:
            media_id = self.client.upload_media(data, name, "image")
        except AmbiguousFailure as exc:  # an upload that timed out sent nothing to anyone: try again later
            raise TemporaryFailure(str(exc)) from None
        content.update(media_id=media_id, media_uploaded_at=now.isoformat())
        row.content = content
        with self.app.session() as session, session.begin():
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(content=content))
        return media_id


def _mention_suffix(mentions: list[str]) -> str:
    return "\n" + " ".join(f"<@{m}>" for m in mentions) if mentions else ""


def _mention_markdown(text: str, mentions: list[str]) -> str:
    return text + _mention_suffix(mentions)


def robot_parts(text: str, mentions: list[str], markdown: bool) -> list[str]:
    """A robot message's parts. Markdown counts the `<@userid>` suffix of the first part in WeCom's 4,096 bytes,
    so every part leaves room for it; text mentions travel in `mentioned_list`, outside the content."""
    if not markdown:
        return split_text(text, LIMITS["robot", "text"])
    limit = LIMITS["robot", "markdown"]
    room = limit - len(_mention_suffix(mentions).encode())
    if room < limit // 4:
        raise PermanentFailure(f"{len(mentions)} mentions take {limit - room} of the robot markdown's {limit} "
                               "bytes: mention fewer people")
    return split_text(text, room)


class RobotSender(_Base):
    """A group robot webhook. The robot key comes from the chat's GridChat row."""

    def __init__(self, channels: Channels, robot_key: str):
        super().__init__(channels)
        self.robot_key = robot_key
        self.fault_channels = (robot_channel(robot_key),)

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        kind = content.get("kind", "text")
        mentions = list(content.get("mentions") or [])
        rate_name = "robot:" + hashlib.sha1(self.robot_key.encode()).hexdigest()[:16]
        if kind == "image":
            data, _name = image_bytes(self.app, content, ROBOT_IMAGE_LIMIT, "a group robot image")
            self.limiter.check_all(rate_name, ROBOT_WINDOWS)
            self.client.webhook(self.robot_key, {"msgtype": "image", "image": {
                "base64": base64.b64encode(data).decode(), "md5": hashlib.md5(data).hexdigest()}})
            return
        markdown = kind == "markdown"
        parts = robot_parts(content.get("text", ""), mentions, markdown)

        def one(part: str, first: bool) -> None:
            self.limiter.check_all(rate_name, ROBOT_WINDOWS)
            if markdown:
                body = {"msgtype": "markdown", "markdown": {"content": _mention_markdown(part, mentions if first
                                                                                         else [])}}
            else:
                body = {"msgtype": "text", "text": {"content": part, "mentioned_list": mentions if first else []}}
            self.client.webhook(self.robot_key, body)

        self._send_parts(row, parts, one)


class AppMessageSender(_ImageMixin, _Base):
    """message/send to one staff member (the row's target, or `to`)."""

    def __init__(self, channels: Channels, to: str | None = None):
        super().__init__(channels)
        self.to = to

    fault_channels = (APP_CHANNEL,)
    # enable_duplicate_check: the same content to the same member within the interval goes once (a margin kept)
    dedupe_window = timedelta(seconds=DUPLICATE_CHECK_SECONDS) - timedelta(minutes=10)

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        touser = self.to or row.target
        markdown = content.get("kind") == "markdown"
        agent = self.app.settings.wecom.agent_id
        if not agent:
            raise PermanentFailure("app message needs GRIDBOT_WECOM_AGENT_ID")
        if content.get("kind") == "image":
            media_id = self._media_id(row, "an app message image")
            self.limiter.check_all(f"user:{agent}:{touser}", USER_WINDOWS)
            try:
                self.client.call("/cgi-bin/message/send", {
                    "touser": touser, "msgtype": "image", "agentid": int(agent), "image": {"media_id": media_id},
                    "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
                })
            except AmbiguousFailure as exc:  # same media_id on the retry: WeCom's duplicate check keeps it single
                raise TemporaryFailure(str(exc)) from None
            return
        parts = split_text(content.get("text", ""), LIMITS["message/send", "markdown" if markdown else "text"])

        def one(part: str, _first: bool) -> None:
            self.limiter.check_all(f"user:{agent}:{touser}", USER_WINDOWS)
            msg_type = "markdown" if markdown else "text"
            try:
                self.client.call("/cgi-bin/message/send", {
                    "touser": touser, "msgtype": msg_type, "agentid": int(agent), msg_type: {"content": part},
                    "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
                })
            except AmbiguousFailure as exc:  # WeCom's duplicate check makes a re-send safe
                raise TemporaryFailure(str(exc)) from None

        self._send_parts(row, parts, one)


class AppChatSender(_ImageMixin, _Base):
    """appchat/send to an internal group the app created (target is the chatid)."""

    fault_channels = (APP_CHANNEL, "appchat")

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        markdown = content.get("kind") == "markdown"
        if content.get("kind") == "image":
            media_id = self._media_id(row, "an appchat image")
            self.limiter.check_all(f"appchat:{row.target}", APPCHAT_WINDOWS)
            self.client.call("/cgi-bin/appchat/send", {"chatid": row.target, "msgtype": "image",
                                                       "image": {"media_id": media_id}, "safe": 0})
            return
        parts = split_text(content.get("text", ""), LIMITS["appchat", "markdown" if markdown else "text"])

        def one(part: str, _first: bool) -> None:
            self.limiter.check_all(f"appchat:{row.target}", APPCHAT_WINDOWS)
            msg_type = "markdown" if markdown else "text"
            self.client.call("/cgi-bin/appchat/send", {"chatid": row.target, "msgtype": msg_type,
                                                       msg_type: {"content": part}, "safe": 0})

        self._send_parts(row, parts, one)


class AIBotSender(_Base):
    """The AI bot's response_url: one use, valid an hour from the callback's arrival (doc 101138). When it cannot
    be used (expired, already used, refused by WeCom, or the reply too long for one use) the reply goes by the
    next channel (`fallback`) instead of dying; the row records why (content.response_url_fallback)."""

    fault_channels = ("aibot",)

    def __init__(self, channels: Channels, fallback: Callable[[], Sender]):
        super().__init__(channels)
        self.fallback = fallback

    def _first_use(self, url: str) -> bool:
        key = f"{self.app.settings.redis_prefix}wecom:response_url:{hashlib.sha1(url.encode()).hexdigest()}"
        if self.app.redis is not None:
            return bool(self.app.redis.set(key, b"1", nx=True, ex=int(RESPONSE_URL_TTL.total_seconds()) + 60))
        used = self.channels.used_response_urls
        if key in used:
            return False
        used.add(key)
        return True

    def _arrival(self, row: OutboxMessage) -> datetime:
        """When the callback that brought the url arrived: written on the row with the reply; for an older row,
        the inbound log's received_at; at worst the row's own creation (never later than the arrival's hour)."""
        at = (row.content or {}).get("response_url_at")
        if at:
            return datetime.fromisoformat(at)
        if row.inbound_id is not None:
            with self.app.session() as session:
                received = session.scalar(select(InboundMessage.received_at)
                                          .where(InboundMessage.id == row.inbound_id))
            if received is not None:
                return received
        return row.created_at

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        if content.get("response_url_fallback"):    # decided on an earlier try: keep to the channel chosen then
            return self.fallback().send(row)
        url = content["response_url"]
        body = content.get("text", "")
        if content.get("kind") != "markdown":   # plain text (what residents wrote in it too) must stay text
            body = md_plain(body)
        text = _mention_markdown(body, list(content.get("mentions") or []))
        reason = None
        if self.app.clock.now() - self._arrival(row) >= RESPONSE_URL_TTL:
            reason = "response_url expired (valid one hour from the callback)"
        elif len(text.encode()) > RESPONSE_URL_LIMIT:
            reason = f"reply is {len(text.encode())} bytes, a response_url takes {RESPONSE_URL_LIMIT} in one use"
        elif not content.get("response_url_claimed"):
            if self._first_use(url):
                self._remember(row, response_url_claimed=True)
            else:
                reason = "response_url already used (one use)"
        if reason is None:
            try:
                self.client.post_url(url, {"msgtype": "markdown", "markdown": {"content": text}})
                return None
            except PermanentFailure as err:   # WeCom refused the url itself: the next channel can still say it
                reason = f"response_url refused: {err}"
        self._remember(row, response_url_fallback=reason)
        log.info("outbox %s: %s; sending by the next channel", row.id, reason)
        return self.fallback().send(row)


class _Chain:
    """The channels after a response_url, tried in order: one that cannot be built, or refuses the row before
    sending any part of it, hands over to the next; the last one's refusal is the row's dead reason."""

    def __init__(self, factories: list[tuple[str, Callable[[], Sender]]]):
        self.factories = factories

    def send(self, row: OutboxMessage) -> None:
        reasons: list[str] = []
        fault: ConfigurationFault | None = None
        for index, (name, factory) in enumerate(self.factories):
            start = (row.content or {}).get("parts_sent")
            try:
                return factory().send(row)
            except PermanentFailure as err:
                reasons.append(f"{name}: {err}")
                if isinstance(err, ConfigurationFault) and fault is None:
                    fault = err
                if index == len(self.factories) - 1 or (row.content or {}).get("parts_sent") != start:
                    if fault is not None:   # a channel is misconfigured: the row waits for it (pipeline/delivery)
                        raise fault from None
                    raise PermanentFailure("no channel could take this reply after the response_url: "
                                           + "; ".join(reasons)) from None
                log.info("outbox %s: %s refused (%s); trying the next channel", row.id, name, err)
        raise PermanentFailure("no channel after the response_url")


class _AppMessageTo:
    """An app message to `userid` rather than the row's target (a group's reply read by the member who asked)."""

    def __init__(self, channels: Channels, userid: str):
        self.channels = channels
        self.userid = userid

    def send(self, row: OutboxMessage) -> None:
        if not self.channels.app.settings.wecom.api_enabled:
            raise PermanentFailure("app messages need GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
        AppMessageSender(self.channels, to=self.userid).send(row)


def after_response_url(channels: Channels, row: OutboxMessage) -> Sender:
    """Where a reply goes when its response_url cannot be used: a group's reply by the chat's own channel, then
    privately to the member who asked; a 1:1 reply by the member's app message."""
    if row.target_type == "user":
        return _Chain([("app message", lambda: _AppMessageTo(channels, row.target))])
    chain: list[tuple[str, Callable[[], Sender]]] = [("the chat's channel", lambda: chat_sender(channels, row))]
    asker = (row.content or {}).get("asker")
    if asker:
        chain.append((f"an app message to {asker}", lambda: _AppMessageTo(channels, asker)))
    return _Chain(chain)


class TemplateSender(_Base):
    """add_msg_template to a customer group (doc 92135): WeCom asks `sender` (a staff member, the group's owner)
    to confirm in the client. Text <= 4,000 bytes: a longer one is refused (one announcement sent as several mass
    sends would need several confirmations and use up the group's cap), and the member is told. Over the group's
    daily cap, or when WeCom lists the group in `fail_list`, the member gets the text to post by hand: an
    announcement (water off tomorrow morning) is worth less a day late, and a member can always post in the group."""

    fault_channels = (APP_CHANNEL, "externalcontact")

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        staff = content.get("sender") or content.get("requested_by")
        if not staff:
            raise PermanentFailure("a customer-group announcement needs content.sender (the staff member who "
                                   "will confirm it)")
        members = list(dict.fromkeys(m for m in (content.get("requested_by"), staff) if m))
        text = content.get("text", "")
        group = _chat_name(self.app, row.target)
        size = len(text.encode())
        if size > TEMPLATE_LIMIT:
            self._tell(row, members, "too-long", t("wecom.template_too_long", group=group, size=size,
                                                   limit=TEMPLATE_LIMIT))
            raise PermanentFailure(f"the announcement is {size} bytes; add_msg_template takes at most "
                                   f"{TEMPLATE_LIMIT} (doc 92135): shorten it and send it again")
        if "template_msgid" not in content:    # a retry after WeCom took the task must not create a second one
            day = local_day(self.app.clock.now(), self.app.settings.tz).isoformat()
            if not self._take_slot(row.target, day):
                self._remember(row, handed_to=members, template_over_cap=day)
                self._tell(row, members, "over-cap", t("wecom.template_over_cap", group=group, text=text))
                return
            try:
                result = self.client.call("/cgi-bin/externalcontact/add_msg_template", {
                    "chat_type": "group", "sender": staff, "chat_id_list": [row.target],
                    "text": {"content": text},
                })
            except AmbiguousFailure:
                raise   # WeCom may have the task: the slot stays taken
            except (TemporaryFailure, PermanentFailure):
                self._give_back(row.target, day)
                raise
            self._remember(row, template_msgid=str(result.get("msgid") or ""),
                           fail_list=list(result.get("fail_list") or []))
            content = row.content or {}
        if row.target in (content.get("fail_list") or []):
            # fail_list (doc 92135): the customers / groups WeCom will not send this task to (over their cap, the
            # group dismissed, the sender no longer its owner): the member posts it by hand.
            self._remember(row, handed_to=members)
            self._tell(row, members, "not-reached", t("wecom.template_not_reached", group=group, text=text))
            return
        requester = content.get("requested_by")
        if requester:
            self._tell(row, [requester], "confirm", t("wecom.template_needs_confirmation"))

    def _slot_key(self, chat_id: str, day: str) -> str:
        return f"{self.app.settings.redis_prefix}wecom:template:{hashlib.sha1(chat_id.encode()).hexdigest()[:16]}:{day}"

    def _take_slot(self, chat_id: str, day: str) -> bool:
        """One of the group's mass sends of the local day, counted atomically (Redis INCR; in-process without)."""
        key = self._slot_key(chat_id, day)
        if self.app.redis is not None:
            count = int(self.app.redis.incr(key))
            self.app.redis.expire(key, 3 * 86400)
            if count > GROUP_TEMPLATE_PER_DAY:
                self.app.redis.decr(key)
                return False
            return True
        counts = self.channels.template_counts
        if counts.get(key, 0) >= GROUP_TEMPLATE_PER_DAY:
            return False
        counts[key] = counts.get(key, 0) + 1
        return True

    def _give_back(self, chat_id: str, day: str) -> None:
        key = self._slot_key(chat_id, day)
        if self.app.redis is not None:
            self.app.redis.decr(key)
        else:
            self.channels.template_counts[key] = max(self.channels.template_counts.get(key, 1) - 1, 0)

    def _tell(self, row: OutboxMessage, members: list[str], what: str, text: str) -> None:
        """A notice to members by app message, written once per row and kind (goes out once this commits)."""
        with self.app.session() as session, session.begin():
            for member in members:
                key = f"template-confirm-{row.id}" if what == "confirm" else f"template-{what}-{row.id}-{member}"
                exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
                if exists is None:   # goes out once this commits (db.hand_over_after_commit)
                    self.channels.write_replies(session, None, [Reply(text, to_user=member, idempotency_key=key)],
                                                self.app.clock.now(), "wecom_app")


def _chat_name(app: Gridbot, chat_id: str) -> str:
    with app.session() as session:
        return session.scalar(select(GridChat.name).where(GridChat.chat_id == chat_id)) or chat_id


def _chat_facts(app: Gridbot, row: OutboxMessage) -> tuple[str, str | None, str | None]:
    """(kind, robot key, the member the row answers) of the row's chat: the kind recorded on binding or sync
    (GridChat, else UnknownChat), never guessed from the id (internal and customer group ids both start "wr")."""
    with app.session() as session:
        found = session.execute(select(GridChat.kind, GridChat.robot_key)
                                .where(GridChat.chat_id == row.target)).first()
        if found is not None:
            kind, key = found[0], found[1]
        else:
            kind, key = session.scalar(select(UnknownChat.kind).where(UnknownChat.chat_id == row.target)), None
        asker = None
        if row.inbound_id is not None:
            asker = session.scalar(select(InboundMessage.sender_id).where(InboundMessage.id == row.inbound_id))
    return kind or CHAT_UNKNOWN, key, asker


def chat_sender(channels: Channels, row: OutboxMessage) -> Sender:
    """A group's channel, by what the chat is (GridChat.kind; WECOM.md "Sending"):
    a robot key -> that robot's webhook (a robot is only ever in an internal group); aibot_group without one -> an
    app message to the member the reply answers (the AI bot's response_url is tried before this, by AIBotSender);
    app_chat -> appchat/send; customer_group -> add_msg_template, which a member confirms. Unknown kind: a
    PermanentFailure saying how to set it, so the row is dead with that reason rather than sent by a channel that
    cannot reach the chat."""
    kind, key, asker = _chat_facts(channels.app, row)
    api = channels.app.settings.wecom.api_enabled
    no_api = "; set GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET"
    if key and kind in (CHAT_ROBOT_GROUP, CHAT_AIBOT_GROUP, CHAT_UNKNOWN):   # a robot is only in internal groups
        return RobotSender(channels, key)
    if kind == CHAT_ROBOT_GROUP:
        raise PermanentFailure(f"chat {row.target} is a robot_group without a robot key: "
                               f"gridbot chat set-kind {row.target} robot_group --robot-key KEY")
    if kind == CHAT_AIBOT_GROUP:
        if asker and api:
            return AppMessageSender(channels, to=asker)
        raise PermanentFailure(f"chat {row.target} (aibot_group): the AI bot's response_url is used or expired and "
                               "there is no other way in: give the group a robot key (gridbot chat set-kind "
                               f"{row.target} aibot_group --robot-key KEY)" + ("" if api else no_api))
    if kind == CHAT_APP_CHAT:
        if not api:
            raise PermanentFailure(f"chat {row.target} (app_chat) needs appchat/send{no_api}")
        return AppChatSender(channels)
    if kind == CHAT_CUSTOMER_GROUP:
        if not api:
            raise PermanentFailure(f"chat {row.target} (customer_group) needs add_msg_template{no_api}")
        return TemplateSender(channels)
    if kind in (CHAT_SINGLE, CHAT_KF):
        raise PermanentFailure(f"chat {row.target} is of kind {kind}: the bot does not send to it as a group "
                               "(a 1:1 reply goes to the member; a 微信客服 reply to the resident)")
    raise PermanentFailure(f"chat {row.target} is of unknown kind, so no channel is known to reach it: set it with "
                           f"`gridbot chat set-kind {row.target} <kind>` (kinds: {', '.join(CHAT_KINDS[1:])}) "
                           "or on the console's chats page")


class _Unsendable:
    def __init__(self, error: PermanentFailure):
        self.error = error

    def send(self, row: OutboxMessage) -> None:
        raise self.error


def wire(app: Gridbot, write_replies: WriteReplies) -> None:
    """Use the WeCom senders when WeCom is configured (API or AI bot); otherwise leave the local ones."""
    wc = app.settings.wecom
    if not (wc.api_enabled or wc.aibot_enabled):
        return
    app.sender_resolver = Channels(app, write_replies).resolve
