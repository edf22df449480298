"""WeCom senders behind the one Sender interface, and the resolver that picks one per outbox row.

- RobotSender: a group's robot webhook (text with @mentions, markdown, image), 20 messages/min per robot.
- Images (content {"kind": "image", "path": <file under the instance dir>, "filename"}; or "base64" for a small
  picture): robots take them inline (base64+md5, <= 2 MB); app messages and appchats upload them first
  (media/upload, <= 10 MB) and send the media_id.
- AppMessageSender: message/send to a staff member, with WeCom's duplicate check so a retried row is not doubled.
- AppChatSender: appchat/send to an internal group the app created.
- AIBotSender: the AI bot's one-use response_url; a second reply (or an expired url) falls back to the chat.
- TemplateSender: externalcontact/add_msg_template for external (customer) groups; a staff member must confirm
  in the client, so the person who asked is told so.
- chat_sender: a group's channel by what the chat is (GridChat.kind), never by its id's prefix.

Long texts are split on line boundaries at WeCom's byte limits; parts already sent are remembered on the row,
so a retry after a failure in the middle does not repeat them.
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
from ..messages import Inbound, Reply
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
from ..texts import t
from ..wecom.client import AmbiguousFailure, WeComClient
from ..wecom.ratelimit import APPCHAT_PER_MINUTE, ROBOT_PER_MINUTE, USER_PER_MINUTE, RateLimiter
from . import PermanentFailure, Sender, TemporaryFailure

# services.outbox.write_replies, handed in by bootstrap: a sender writes to the outbox without importing services.
WriteReplies = Callable[[Session, "Inbound | None", Iterable[Reply], datetime, "str | None"], list[OutboxMessage]]

log = logging.getLogger(__name__)

TEXT_LIMIT = 2048            # bytes: robot text, app text, appchat text
MARKDOWN_LIMIT = 4096        # bytes: robot / app markdown
RESPONSE_URL_LIMIT = 20480   # bytes: AI bot markdown reply
RESPONSE_URL_TTL = timedelta(hours=1)
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

    def resolve(self, row: OutboxMessage) -> Sender:
        """The sender for one outbox row, by platform, target type and what the chat offers."""
        app = self.app
        if row.platform not in ("wecom_app", "wecom_aibot"):
            return app.senders.get(row.platform, app.default_sender)
        try:
            if (row.content or {}).get("response_url") and row.platform == "wecom_aibot":
                if row.target_type == "chat":
                    return AIBotSender(self, lambda: chat_sender(self, row))
                return AIBotSender(self, lambda: AppMessageSender(self))
            if row.target_type == "user":
                if not app.settings.wecom.api_enabled:
                    raise PermanentFailure("app messages need GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
                return AppMessageSender(self)
            return chat_sender(self, row)
        except PermanentFailure as err:
            return _Unsendable(err)


class _Base:
    def __init__(self, channels: Channels, client: WeComClient | None = None, limiter: RateLimiter | None = None):
        self.channels = channels
        self.app = channels.app
        self.client = client or channels.app.wecom_client
        self.limiter = limiter or channels.limiter

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


def _mention_markdown(text: str, mentions: list[str]) -> str:
    return text + ("\n" + " ".join(f"<@{m}>" for m in mentions) if mentions else "")


class RobotSender(_Base):
    """A group robot webhook. The robot key comes from the chat's GridChat row."""

    def __init__(self, channels: Channels, robot_key: str):
        super().__init__(channels)
        self.robot_key = robot_key

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        kind = content.get("kind", "text")
        mentions = list(content.get("mentions") or [])
        rate_name = "robot:" + hashlib.sha1(self.robot_key.encode()).hexdigest()[:16]
        if kind == "image":
            data, _name = image_bytes(self.app, content, ROBOT_IMAGE_LIMIT, "a group robot image")
            self.limiter.check(rate_name, ROBOT_PER_MINUTE)
            self.client.webhook(self.robot_key, {"msgtype": "image", "image": {
                "base64": base64.b64encode(data).decode(), "md5": hashlib.md5(data).hexdigest()}})
            return
        markdown = kind == "markdown"
        parts = split_text(content.get("text", ""), MARKDOWN_LIMIT if markdown else TEXT_LIMIT)

        def one(part: str, first: bool) -> None:
            self.limiter.check(rate_name, ROBOT_PER_MINUTE)
            if markdown:
                body = {"msgtype": "markdown", "markdown": {"content": _mention_markdown(part, mentions if first
                                                                                         else [])}}
            else:
                body = {"msgtype": "text", "text": {"content": part, "mentioned_list": mentions if first else []}}
            self.client.webhook(self.robot_key, body)

        self._send_parts(row, parts, one)


class AppMessageSender(_ImageMixin, _Base):
    """message/send to one staff member (target is the userid)."""

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        markdown = content.get("kind") == "markdown"
        agent = self.app.settings.wecom.agent_id
        if not agent:
            raise PermanentFailure("app message needs GRIDBOT_WECOM_AGENT_ID")
        if content.get("kind") == "image":
            media_id = self._media_id(row, "an app message image")
            self.limiter.check(f"user:{row.target}", USER_PER_MINUTE)
            try:
                self.client.call("/cgi-bin/message/send", {
                    "touser": row.target, "msgtype": "image", "agentid": int(agent), "image": {"media_id": media_id},
                    "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
                })
            except AmbiguousFailure as exc:  # same media_id on the retry: WeCom's duplicate check keeps it single
                raise TemporaryFailure(str(exc)) from None
            return
        parts = split_text(content.get("text", ""), MARKDOWN_LIMIT if markdown else TEXT_LIMIT)

        def one(part: str, _first: bool) -> None:
            self.limiter.check(f"user:{row.target}", USER_PER_MINUTE)
            msg_type = "markdown" if markdown else "text"
            try:
                self.client.call("/cgi-bin/message/send", {
                    "touser": row.target, "msgtype": msg_type, "agentid": int(agent), msg_type: {"content": part},
                    "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
                })
            except AmbiguousFailure as exc:  # WeCom's duplicate check makes a re-send safe
                raise TemporaryFailure(str(exc)) from None

        self._send_parts(row, parts, one)


class AppChatSender(_ImageMixin, _Base):
    """appchat/send to an internal group the app created (target is the chatid)."""

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        markdown = content.get("kind") == "markdown"
        if content.get("kind") == "image":
            media_id = self._media_id(row, "an appchat image")
            self.limiter.check(f"appchat:{row.target}", APPCHAT_PER_MINUTE)
            self.client.call("/cgi-bin/appchat/send", {"chatid": row.target, "msgtype": "image",
                                                       "image": {"media_id": media_id}, "safe": 0})
            return
        parts = split_text(content.get("text", ""), MARKDOWN_LIMIT if markdown else TEXT_LIMIT)

        def one(part: str, _first: bool) -> None:
            self.limiter.check(f"appchat:{row.target}", APPCHAT_PER_MINUTE)
            msg_type = "markdown" if markdown else "text"
            self.client.call("/cgi-bin/appchat/send", {"chatid": row.target, "msgtype": msg_type,
                                                       msg_type: {"content": part}, "safe": 0})

        self._send_parts(row, parts, one)


class AIBotSender(_Base):
    """The AI bot's response_url: one use, valid an hour. Otherwise the reply goes by the chat's own channel."""

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

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        url = content["response_url"]
        fresh = self.app.clock.now() - row.created_at < RESPONSE_URL_TTL
        if not (fresh and (content.get("response_url_claimed") or self._first_use(url))):
            return self.fallback().send(row)
        if not content.get("response_url_claimed"):
            content = dict(content, response_url_claimed=True)
            row.content = content
            with self.app.session() as session, session.begin():
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(content=content))
        body = content.get("text", "")
        if content.get("kind") != "markdown":   # plain text (what residents wrote in it too) must stay text
            body = md_plain(body)
        text = split_text(_mention_markdown(body, list(content.get("mentions") or [])), RESPONSE_URL_LIMIT)[0]
        self.client.post_url(url, {"msgtype": "markdown", "markdown": {"content": text}})


class TemplateSender(_Base):
    """add_msg_template to an external group: WeCom asks `sender` (a staff member) to confirm in the client."""

    def send(self, row: OutboxMessage) -> None:
        content = row.content or {}
        staff = content.get("sender") or content.get("requested_by")
        if not staff:
            raise PermanentFailure("a customer-group announcement needs content.sender (the staff member who "
                                   "will confirm it)")
        self.client.call("/cgi-bin/externalcontact/add_msg_template", {
            "chat_type": "group", "sender": staff, "chat_id_list": [row.target],
            "text": {"content": split_text(content.get("text", ""), MARKDOWN_LIMIT)[0]},
        })
        requester = content.get("requested_by")
        if requester:
            with self.app.session() as session, session.begin():
                exists = session.scalar(select(OutboxMessage.id).where(
                    OutboxMessage.idempotency_key == f"template-confirm-{row.id}"))
                if exists is None:   # goes out once this commits (db.hand_over_after_commit)
                    self.channels.write_replies(session, None, [Reply(t("wecom.template_needs_confirmation"),
                                                                      to_user=requester,
                                                                      idempotency_key=f"template-confirm-{row.id}")],
                                                self.app.clock.now(), "wecom_app")


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
            return _ToMember(AppMessageSender(channels), asker)
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
                               "(a 1:1 reply goes to the member; 微信客服 comes with issue 17)")
    raise PermanentFailure(f"chat {row.target} is of unknown kind, so no channel is known to reach it: set it with "
                           f"`gridbot chat set-kind {row.target} <kind>` (kinds: {', '.join(CHAT_KINDS[1:])}) "
                           "or on the console's chats page")


class _ToMember:
    """A group reply sent privately to the member it answers (an AI bot group with no other way in)."""

    def __init__(self, sender: AppMessageSender, userid: str):
        self.sender = sender
        self.userid = userid

    def send(self, row: OutboxMessage) -> None:
        private = OutboxMessage(id=row.id, platform=row.platform, target_type="user", target=self.userid,
                                content=row.content, inbound_id=row.inbound_id, created_at=row.created_at)
        self.sender.send(private)
        row.content = private.content


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
