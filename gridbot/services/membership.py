"""Who is in which chat group, and since when: from change_external_chat events and from roster syncs.

Events say what changed (create / add_member / del_member / dismiss); changes made through the API raise no
event, so sync_roster reconciles every bound group with WeCom's own member list. Also: binding an unknown
chat to a grid (绑定本群).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import ChatIdentity, ChatMembership, Grid, GridChat, UnknownChat
from .audit import record

log = logging.getLogger(__name__)

PLATFORM = "wecom"


def identity(session: Session, user_id: str, display_name: str | None = None) -> ChatIdentity:
    """The ChatIdentity of a WeCom userid / external_userid, created if new; the name refreshed if given."""
    found = session.scalar(select(ChatIdentity).where(ChatIdentity.platform == PLATFORM,
                                                      ChatIdentity.user_id == user_id))
    if found is None:
        found = ChatIdentity(platform=PLATFORM, user_id=user_id, display_name=display_name)
        session.add(found)
        session.flush()
    elif display_name and found.display_name != display_name:
        found.display_name = display_name
    return found


def open_memberships(session: Session, chat_id: str) -> dict[str, ChatMembership]:
    rows = session.execute(select(ChatMembership, ChatIdentity.user_id).join(ChatIdentity)
                           .where(ChatMembership.chat_id == chat_id, ChatMembership.left_at.is_(None))).all()
    return {user_id: m for m, user_id in rows}


def join(session: Session, chat_id: str, user_id: str, at: datetime, source: str = "event",
         name: str | None = None) -> bool:
    """Open a stay unless one is open already. True if it opened one."""
    ident = identity(session, user_id, name)
    open_ = session.scalar(select(ChatMembership).where(ChatMembership.chat_id == chat_id,
                                                        ChatMembership.identity_id == ident.id,
                                                        ChatMembership.left_at.is_(None)))
    if open_ is not None:
        return False
    session.add(ChatMembership(chat_id=chat_id, identity_id=ident.id, joined_at=at, source=source))
    return True


def leave(session: Session, chat_id: str, user_id: str, at: datetime) -> bool:
    """Close the open stay, if any. True if it closed one."""
    m = open_memberships(session, chat_id).get(user_id)
    if m is None:
        return False
    m.left_at = at
    return True


def _members(value: Any) -> list[str]:
    """MemChangeList as xmltodict gives it: {"Item": "id"} or {"Item": [...]}, or absent."""
    if not value:
        return []
    items = value.get("Item") if isinstance(value, dict) else value
    if isinstance(items, str):
        return [items]
    return [str(i) for i in items or [] if i]


@dataclass
class ChatChange:
    chat_id: str
    change: str              # create | add_member | del_member | dismiss | other
    joined: int = 0
    left: int = 0
    needs_sync: bool = False  # the event did not say who: ask WeCom (groupchat/get)


def apply_chat_change(session: Session, data: dict[str, Any], at: datetime) -> ChatChange | None:
    """One change_external_chat event's fields -> membership rows."""
    chat_id = data.get("ChatId")
    if not chat_id:
        return None
    change_type, detail = data.get("ChangeType"), data.get("UpdateDetail") or ""
    members = _members(data.get("MemChangeList"))
    if change_type == "dismiss":
        result = ChatChange(chat_id, "dismiss")
        for m in open_memberships(session, chat_id).values():
            m.left_at = at
            result.left += 1
        return result
    if change_type == "create":
        return ChatChange(chat_id, "create", needs_sync=True)
    if change_type == "update" and detail in ("add_member", "del_member"):
        result = ChatChange(chat_id, detail, needs_sync=not members)
        for user_id in members:
            if detail == "add_member":
                result.joined += join(session, chat_id, user_id, at)
            else:
                result.left += leave(session, chat_id, user_id, at)
        return result
    return ChatChange(chat_id, "other")


@dataclass
class Reconciled:
    chat_id: str
    joined: int = 0
    left: int = 0


def reconcile_chat(session: Session, chat_id: str, member_list: Iterable[dict[str, Any]], now: datetime) -> Reconciled:
    """Make the open stays of a chat equal WeCom's member_list (groupchat/get)."""
    result = Reconciled(chat_id)
    current = open_memberships(session, chat_id)
    seen: set[str] = set()
    for member in member_list:
        user_id = str(member.get("userid") or "")
        if not user_id:
            continue
        seen.add(user_id)
        joined = member.get("join_time")
        at = datetime.fromtimestamp(int(joined), UTC) if joined else now
        name = member.get("group_nickname") or member.get("name") or None
        if user_id in current:
            identity(session, user_id, name)
            continue
        result.joined += join(session, chat_id, user_id, at, source="sync", name=name)
    for user_id, m in current.items():
        if user_id not in seen:
            m.left_at = now
            result.left += 1
    return result


def sync_roster(sessions: Callable[[], Session], client: Any, now: Callable[[], datetime],
                chat_ids: Iterable[str] | None = None) -> list[Reconciled]:
    """Reconcile bound groups (or the given ones) with externalcontact/groupchat/list + groupchat/get.

    The HTTP calls (through `client`, a WeCom client) happen outside any transaction, so this takes a session
    factory (`app.session`) rather than one session: each chat is reconciled in its own. `now` is the clock.
    """
    with sessions() as session:
        bound = set(session.scalars(select(GridChat.chat_id)))
    if chat_ids is not None:
        wanted = set(chat_ids)
    else:
        listed: set[str] = set()
        cursor = ""
        while True:
            page = client.call("/cgi-bin/externalcontact/groupchat/list",
                               {"status_filter": 0, "limit": 1000, **({"cursor": cursor} if cursor else {})})
            listed |= {c["chat_id"] for c in page.get("group_chat_list") or []}
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        wanted = bound & listed
    results = []
    for chat_id in sorted(wanted):
        data = client.call("/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})
        members = (data.get("group_chat") or {}).get("member_list") or []
        with sessions() as session, session.begin():
            at = now()
            result = reconcile_chat(session, chat_id, members, at)
            if result.joined or result.left:
                record(session, "system:sync-roster", "chat.roster_sync", "chat", chat_id,
                       {"joined": result.joined, "left": result.left}, at=at)
        results.append(result)
    log.info("roster sync: %d chats, %d joined, %d left", len(results), sum(r.joined for r in results),
             sum(r.left for r in results))
    return results


@dataclass
class BindResult:
    outcome: str            # done | already | taken | no_grid
    grid_code: str
    grid_name: str = ""
    grid_id: int | None = None


def find_grid(session: Session, code: str) -> Grid | None:
    return session.scalar(select(Grid).where(Grid.code == code.strip().upper()))


def bind_chat(session: Session, chat_id: str, grid: Grid, actor: str, now: datetime,
              name: str | None = None) -> BindResult:
    """Bind a chat to a grid (a chat belongs to at most one grid) and forget it as unknown."""
    existing = session.scalar(select(GridChat).where(GridChat.chat_id == chat_id))
    if existing is not None:
        g = session.get_one(Grid, existing.grid_id)
        return BindResult("already" if existing.grid_id == grid.id else "taken", g.code, g.name, g.id)
    session.add(GridChat(grid_id=grid.id, chat_id=chat_id, name=name, bound_by=actor, bound_at=now))
    session.execute(delete(UnknownChat).where(UnknownChat.chat_id == chat_id))
    record(session, actor, "chat.bind", "chat", chat_id, {"grid": grid.code}, at=now)
    return BindResult("done", grid.code, grid.name, grid.id)
