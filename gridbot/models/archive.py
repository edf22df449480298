"""The chat archive (会话内容存档): where the puller is, the embedded archive, and who declined archiving."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ArchiveCursor(Base):
    """How far the archive has been pulled: `seq` is the last one stored. Written in the same transaction as the
    inbound rows of the page it covers, so a crash in between repeats the page (the rows dedupe by msgid)."""

    __tablename__ = "archive_cursors"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32), unique=True)       # "sdk" | "local"
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    newest_msgtime: Mapped[datetime | None]                             # the newest message pulled (for the lag)
    pulled_at: Mapped[datetime | None]                                  # the last pull that reached the end
    messages: Mapped[int] = mapped_column(BigInteger, default=0)


class LocalArchiveMessage(Base):
    """The embedded archive (demo, simulator, `gridbot say`, tests): messages kept encrypted in the format the
    Finance SDK returns, so the puller reads it through the same port as WeCom's."""

    __tablename__ = "local_archive_messages"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    msgid: Mapped[str] = mapped_column(String(64), unique=True)
    publickey_ver: Mapped[int] = mapped_column(Integer)
    encrypt_random_key: Mapped[str] = mapped_column(Text)
    encrypt_chat_msg: Mapped[str] = mapped_column(Text)
    media: Mapped[bytes | None]                                        # an image's or voice's bytes (sdkfileid = msgid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchiveConsent(Base):
    """A resident's answer to the archive's consent notice (客户同意进行聊天内容存档事件): one who declined is not
    read (their archived messages are stored 'skipped')."""

    __tablename__ = "archive_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_userid: Mapped[str] = mapped_column(String(128), unique=True)
    agreed: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
