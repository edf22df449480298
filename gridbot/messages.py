"""The platform-neutral message model. Adapters turn WeCom (or the console) into Inbound; handlers return Reply."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Location:
    latitude: float
    longitude: float
    label: str | None = None
    precision: float | None = None


TEXT_KINDS = ("text", "voice")
ARCHIVE_PLATFORM = "wecom_archive"   # residents' customer-group messages, pulled from the chat archive


@dataclass
class Inbound:
    """One message or event, whatever route it came by.

    chat_id is None for 1:1 messages. `mentioned` is True when the bot was @-mentioned (the mention is
    already stripped from `text`). `kind` is text | voice | image | location | event
    (voice: `text` is the platform's transcript). For events, `event` holds the
    event name and `event_data` its fields.
    """

    platform: str                       # "wecom_app" | "wecom_aibot" | "wecom_archive" | "console"
    sender_id: str
    text: str = ""
    chat_id: str | None = None
    chat_type: str = "group"            # group | single
    msg_id: str | None = None
    mentioned: bool = True
    kind: str = "text"
    sender_name: str | None = None
    location: Location | None = None
    image_url: str | None = None
    event: str | None = None
    event_data: dict[str, Any] = field(default_factory=dict)
    response_url: str | None = None
    at: datetime | None = None
    inbound_id: int | None = None

    @property
    def is_text(self) -> bool:
        """Words to read: typed, or spoken and transcribed by the platform (kind voice, the AI bot's
        voice.content). Commands, requests and the fallback read both alike."""
        return self.kind in TEXT_KINDS

    @property
    def is_group(self) -> bool:
        return self.chat_id is not None and self.chat_type == "group"

    @property
    def addressed(self) -> bool:
        """Meant for the bot: @-mentioned, 1:1, or read from the chat archive (a customer group has no bot to
        mention: a resident's request in plain group talk is still a request; chatter stays chatter)."""
        return self.mentioned or not self.is_group or self.platform == ARCHIVE_PLATFORM

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat() if self.at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inbound:
        data = dict(data)
        if data.get("at"):
            data["at"] = datetime.fromisoformat(data["at"])
        if data.get("location"):
            data["location"] = Location(**data["location"])
        return cls(**data)


@dataclass
class Reply:
    """Something the bot says.

    By default it goes back where the message came from (the group, or the 1:1 chat). `to_user` sends it
    privately to one person instead (lists with personal data, notifications to members). `to_chat` posts
    into another group (urgent alerts to neighbouring grids, announcements).
    """

    text: str
    markdown: bool = False
    mentions: list[str] = field(default_factory=list)
    to_user: str | None = None
    to_chat: str | None = None
    urgent: bool = False
    not_before: datetime | None = None
    idempotency_key: str | None = None
    # what only some channels can do, kept on the outbox row's content: "choices" [[id, words], ...] become a
    # 微信客服 msgmenu (elsewhere the text already says what to answer); "kf_trans" hands a kf session to that member
    # once this reply is sent (senders/kf.py)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text
