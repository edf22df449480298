"""Console accounts, API tokens and failed sign-ins (for lock-out).

An account is either linked to a Member (its roles and grids come from the Member, so the console and the chat
agree on scope) or an operator account (configuration only, no case work). Passwords are hashed with werkzeug
(scrypt); API tokens are random 32-byte secrets, so a SHA-256 of them is enough to store. A session cookie carries
the account's session_epoch: raising it (sign-out, password reset) ends every session of that account at once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import Member
from .tickets import Ticket


class ConsoleAccount(Base):
    __tablename__ = "console_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))     # None: WeCom sign-in only
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), unique=True)
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of every session cookie; raised by sign-out and a password reset, which so end every session of the account
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    member: Mapped[Member | None] = relationship()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("console_accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)   # sha256 hex of the secret
    prefix: Mapped[str] = mapped_column(String(16))                    # first characters, to recognise it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    account: Mapped[ConsoleAccount] = relationship()


class LoginFailure(Base):
    """One failed sign-in; N of them for a username within the window lock it out."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))


# Indexes the console's filters need on others' tables (declared here so models == migrations).
Index("ix_tickets_grid_created", Ticket.grid_id, Ticket.created_at)
Index("ix_tickets_category_created", Ticket.category, Ticket.created_at)
Index("ix_tickets_urgency_status", Ticket.urgency, Ticket.status)
