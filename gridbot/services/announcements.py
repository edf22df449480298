"""公告: to one grid, listed grids or the whole community; now or at a set time; @所有人 where the channel can.

Only a group robot webhook can @所有人 (mentioned_list ["@all"]); an app-chat message cannot, so the
sender is told which groups got a plain message instead. Services never commit.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..messages import Reply
from ..models import Announcement, Grid, OutboxMessage
from ..texts import t
from . import outbox
from .audit import record

AT_ALL = "@all"


@dataclass
class GridLookup:
    ids: list[int]
    unknown: list[str]


def find_grids(session: Session, community_id: int, words: list[str]) -> GridLookup:
    """Grids by code ("HY-01") or name ("第一网格"), case-insensitive for codes."""
    grids = session.scalars(select(Grid).where(Grid.community_id == community_id)).all()
    by_code = {g.code.upper(): g.id for g in grids}
    by_name = {g.name: g.id for g in grids}
    ids, unknown = [], []
    for w in words:
        gid = by_code.get(w.upper()) or by_name.get(w)
        if gid is None:
            unknown.append(w)
        elif gid not in ids:
            ids.append(gid)
    return GridLookup(ids, unknown)


def split_grid_words(token: str) -> list[str]:
    return [w for w in re.split(r"[,，、;；/]+", token) if w]


def covers_community(session: Session, community_id: int | None, scope_grid_ids: Iterable[int]) -> bool:
    """Whether someone may speak to the whole community: every grid of it is in their scope (the secretary,
    a level-1 grid leader), not just a level-2 leader's own grids."""
    if community_id is None:
        return False
    scope = set(scope_grid_ids)
    ids = set(session.scalars(select(Grid.id).where(Grid.community_id == community_id)))
    return bool(ids) and ids <= scope


def grid_codes(session: Session, grid_ids: list[int]) -> list[str]:
    return list(session.scalars(select(Grid.code).where(Grid.id.in_(grid_ids)).order_by(Grid.code)))


def grid_names(session: Session, grid_ids: list[int]) -> list[str]:
    return list(session.scalars(select(Grid.name).where(Grid.id.in_(grid_ids)).order_by(Grid.code)))


def create(session: Session, *, community_id: int, author_member_id: int | None, author_userid: str,
           author_name: str, actor: str, scope: str, grid_ids: list[int], text: str, mention_all: bool,
           send_at: datetime | None, now: datetime) -> tuple[Announcement, list[OutboxMessage]]:
    """Record the announcement; send it now (rows returned) or leave it for the scheduler (send_at)."""
    ann = Announcement(community_id=community_id, author_member_id=author_member_id, author_userid=author_userid,
                       scope=scope, grid_ids=list(grid_ids), text=text, mention_all=mention_all,
                       send_at=send_at, status="scheduled", deliveries=[], created_by=actor, created_at=now)
    session.add(ann)
    session.flush()
    record(session, actor, "announcement.create", "announcement", ann.id,
           {"scope": scope, "grid_ids": list(grid_ids), "send_at": send_at.isoformat() if send_at else None,
            "mention_all": mention_all}, at=now)
    rows: list[OutboxMessage] = []
    if send_at is None or send_at <= now:
        rows = deliver(session, ann, now, author_name=author_name)
    else:
        ann.deliveries = plan(session, ann)  # type: ignore[assignment]  # JSON dicts: the model's Mapped[list[str]] is wrong
    return ann, rows


def _target_grids(session: Session, ann: Announcement) -> list[Grid]:
    q = select(Grid).options(selectinload(Grid.chats)).order_by(Grid.level, Grid.code)
    if ann.scope == "community":
        q = q.where(Grid.community_id == ann.community_id)
        return [g for g in session.scalars(q) if g.chats or g.level >= 2]
    return list(session.scalars(q.where(Grid.id.in_([int(g) for g in ann.grid_ids]))))


def plan(session: Session, ann: Announcement) -> list[dict[str, Any]]:
    """Where it goes: one entry per grid chat (or per grid without a chat), with what @所有人 can do there."""
    out = []
    for grid in _target_grids(session, ann):
        if not grid.chats:
            out.append({"grid": grid.name, "chat_id": None, "mention_all": False, "note": "no_chat"})
            continue
        for chat in sorted(grid.chats, key=lambda c: c.chat_id):
            can_at = bool(chat.robot_key)
            note = None
            if ann.mention_all:
                note = "at_all_ok" if can_at else "at_all_unsupported"
            out.append({"grid": grid.name, "chat_id": chat.chat_id, "chat": chat.name or chat.chat_id,
                        "mention_all": ann.mention_all and can_at, "note": note})
    return out


def deliver(session: Session, ann: Announcement, now: datetime, author_name: str, late: bool = False,
            platform: str = "wecom_app") -> list[OutboxMessage]:
    """Write one outbox row per target chat (idempotent by key) and mark the announcement sent."""
    deliveries = plan(session, ann)
    key = "post_late" if late else "post"
    replies = []
    for d in deliveries:
        if d["chat_id"] is None:
            continue
        replies.append(Reply(text=t(f"schedule.announcement.{key}", text=ann.text, author=author_name),
                             to_chat=d["chat_id"], mentions=[AT_ALL] if d["mention_all"] else [],
                             idempotency_key=f"announcement:{ann.id}:chat:{d['chat_id']}"))
    rows = outbox.write_replies(session, None, replies, now, platform=platform)
    ann.deliveries = deliveries  # type: ignore[assignment]  # JSON dicts: the model's Mapped[list[str]] is wrong
    ann.status = "sent"
    ann.sent_at = now
    return rows


def summary_lines(ann: Announcement) -> list[str]:
    """What went where, for the sender."""
    lines = []
    deliveries: list[dict[str, Any]] = ann.deliveries  # type: ignore[assignment]  # JSON dicts: the model's Mapped[list[str]] is wrong
    for d in deliveries:
        if d["chat_id"] is None:
            where = t("schedule.announcement.no_chat")
        else:
            where = d.get("chat") or d["chat_id"]
            if d.get("note"):
                where += t(f"schedule.announcement.{d['note']}")
        lines.append(t("schedule.announcement.line", grid=d["grid"], where=where))
    return lines
