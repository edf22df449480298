"""Who is in which chat group, and since when: from change_external_chat events and from roster syncs.

Events say what changed (create / add_member / del_member / dismiss); changes made through the API raise no
event, so sync_roster reconciles every bound group with WeCom's own member list. Each event carries the member list
versions LastMemVer -> CurMemVer: the chat remembers the last CurMemVer applied, so a repeat is skipped and a gap
(an event lost on the way) is noticed and closed with groupchat/get. Also: binding a chat to a grid (绑定本群) and
what kind of chat it is (GridChat.kind: it decides the channel a reply takes).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import Refusal
from ..models import ChatIdentity, ChatMembership, Grid, GridChat, Member, UnknownChat
from ..models.org import CHAT_CUSTOMER_GROUP, CHAT_KINDS, CHAT_ROBOT_GROUP, CHAT_UNKNOWN
from ..senders import ConfigurationFault, PermanentFailure
from .audit import record

log = logging.getLogger(__name__)

PLATFORM = "wecom"
OWNER_FILTER_LIMIT = 100   # groupchat/list: owner_filter.userid_list takes at most 100 ids (doc 92120)


class ChatError(Refusal):
    """A rule about chats said no. `key` names a text under wecom.chat in templates.yaml."""

    def __init__(self, key: str, **values: Any):
        super().__init__(f"wecom.chat.{key}", **values)


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
    change: str              # create | add_member | del_member | dismiss | other | repeat
    joined: int = 0
    left: int = 0
    needs_sync: bool = False  # the event did not say who, or one was lost before it: ask WeCom (groupchat/get)
    gap: bool = False         # LastMemVer was not the CurMemVer last applied: an event was lost


def _ver(value: Any) -> str | None:
    """A member list version as text, None when absent or empty."""
    if value is None:
        return None
    return str(value).strip() or None


def apply_chat_change(session: Session, data: dict[str, Any], at: datetime) -> ChatChange | None:
    """One change_external_chat event's fields -> membership rows.

    Only customer groups raise this event (doc 92130), so a bound chat of unknown kind learns it is one. With
    member list versions: an event whose CurMemVer was applied already changes nothing; one whose LastMemVer is not
    the CurMemVer last applied means an event was lost in between, and the chat is fetched (needs_sync)."""
    chat_id = data.get("ChatId")
    if not chat_id:
        return None
    chat_id = str(chat_id)
    change_type, detail = data.get("ChangeType"), data.get("UpdateDetail") or ""
    members = _members(data.get("MemChangeList"))
    bound = session.scalar(select(GridChat).where(GridChat.chat_id == chat_id))
    last_ver, cur_ver = _ver(data.get("LastMemVer")), _ver(data.get("CurMemVer"))
    gap = False
    if bound is not None:
        if bound.kind == CHAT_UNKNOWN:
            set_kind(session, bound, CHAT_CUSTOMER_GROUP, "system:change_external_chat", at)
        if cur_ver is not None and bound.mem_ver == cur_ver:
            return ChatChange(chat_id, "repeat")
        gap = bool(bound.mem_ver and last_ver and last_ver != bound.mem_ver)
        if gap:
            log.warning("chat %s: member list version gap (had %s, event says it follows %s): fetching the group",
                        chat_id, bound.mem_ver, last_ver)
        if cur_ver is not None:
            bound.mem_ver = cur_ver
    else:
        _note_customer_group(session, chat_id, at)
    result = _apply(session, chat_id, change_type, detail, members, at)
    if gap and result.change != "dismiss":
        result.gap = result.needs_sync = True
    return result


def _note_customer_group(session: Session, chat_id: str, at: datetime) -> None:
    """A customer group bound to no grid yet: listed (as a customer group) for an admin to bind, like a chat the bot
    heard from; one it was listed as something else stays as the person said."""
    known = session.scalar(select(UnknownChat).where(UnknownChat.chat_id == chat_id))
    if known is None:
        session.add(UnknownChat(platform="wecom_app", chat_id=chat_id, kind=CHAT_CUSTOMER_GROUP, first_seen=at,
                                last_seen=at, messages=0))
        session.flush()
    else:
        known.last_seen = at
        if known.kind == CHAT_UNKNOWN:
            known.kind = CHAT_CUSTOMER_GROUP


def _apply(session: Session, chat_id: str, change_type: Any, detail: str, members: list[str],
           at: datetime) -> ChatChange:
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
    """Reconcile the bound customer groups (or the given chats) with WeCom's member lists: one groupchat/get each.

    Never an unfiltered groupchat/list: it fails with 81017 once the app is visible to more than 1,000 people
    (WECOM.md "Membership"), and an owner-filtered list would only say which of our chats still exist, which
    groupchat/get says as well, and it has to be called per chat for the member list anyway. Chats known to be
    internal (AI bot, robot, app chat) are no customer groups and are skipped; one of unknown kind that
    groupchat/get refuses is left as it is, one it answers is recorded as a customer group. A full sync also lists
    the customer groups the roster's members own (groupchat/list with owner_filter, <= 100 owners a call), so a
    customer group nobody has bound yet shows up for an admin to bind.

    The HTTP calls (through `client`, a WeCom client) happen outside any transaction, so this takes a session
    factory (`app.session`) rather than one session: each chat is reconciled in its own. `now` is the clock.
    """
    with sessions() as session:
        kinds = {chat_id: kind for chat_id, kind in session.execute(select(GridChat.chat_id, GridChat.kind))}
        owners = list(session.scalars(select(Member.userid).where(Member.active.is_(True))))
    if chat_ids is not None:
        wanted = set(chat_ids)
    else:
        wanted = {c for c, kind in kinds.items() if kind in (CHAT_CUSTOMER_GROUP, CHAT_UNKNOWN)}
    results = []
    if wanted or (chat_ids is None and owners):
        client.token()   # a configuration fault (secret, trusted IP) stops the sync here, not as "not a customer group"
    if chat_ids is None and owners:
        # The customer groups the roster's members own, found with owner filters (<= 100 ids a call, never
        # unfiltered): one not bound yet is listed for an admin to bind, as a customer group.
        owned = list_customer_groups(client, owners)
        with sessions() as session, session.begin():
            for chat_id in sorted(owned - set(kinds)):
                _note_customer_group(session, chat_id, now())
    for chat_id in sorted(wanted):
        try:
            data = client.call("/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})
        except PermanentFailure as err:
            if kinds.get(chat_id, CHAT_UNKNOWN) != CHAT_UNKNOWN or isinstance(err, ConfigurationFault):
                raise   # a misconfigured app (48002, 60020, ...) is said, not taken for "not a customer group"
            log.warning("roster sync: %s (bound, kind unknown) is not a customer group the app can see (%s): "
                        "set its kind with `gridbot chat set-kind %s <kind>`", chat_id, err, chat_id)
            continue
        group = data.get("group_chat") or {}
        members = group.get("member_list") or []
        with sessions() as session, session.begin():
            at = now()
            result = reconcile_chat(session, chat_id, members, at)
            chat = session.scalar(select(GridChat).where(GridChat.chat_id == chat_id))
            if chat is not None:
                if chat.kind == CHAT_UNKNOWN:
                    set_kind(session, chat, CHAT_CUSTOMER_GROUP, "system:sync-roster", at)
                if _ver(group.get("member_version")):   # the version the next event's LastMemVer follows
                    chat.mem_ver = _ver(group.get("member_version"))
            if result.joined or result.left:
                record(session, "system:sync-roster", "chat.roster_sync", "chat", chat_id,
                       {"joined": result.joined, "left": result.left}, at=at)
        results.append(result)
    log.info("roster sync: %d chats, %d joined, %d left", len(results), sum(r.joined for r in results),
             sum(r.left for r in results))
    return results


def owner_batches(owners: Iterable[str]) -> list[list[str]]:
    """Owners for groupchat/list's owner_filter.userid_list, at most OWNER_FILTER_LIMIT a call (doc 92120)."""
    ids = sorted({o for o in owners if o})
    return [ids[i:i + OWNER_FILTER_LIMIT] for i in range(0, len(ids), OWNER_FILTER_LIMIT)]


def list_customer_groups(client: Any, owners: Iterable[str]) -> set[str]:
    """The customer groups these members own (groupchat/list with owner_filter, never unfiltered: 81017)."""
    found: set[str] = set()
    for batch in owner_batches(owners):
        cursor = ""
        while True:
            page = client.call("/cgi-bin/externalcontact/groupchat/list",
                               {"status_filter": 0, "owner_filter": {"userid_list": batch}, "limit": 1000,
                                **({"cursor": cursor} if cursor else {})})
            found |= {c["chat_id"] for c in page.get("group_chat_list") or []}
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
    return found


def set_kind(session: Session, chat: GridChat | UnknownChat, kind: str, actor: str, now: datetime,
             robot_key: str | None = None) -> None:
    """Record what a chat is (and, for a robot group, its webhook key); audited."""
    if kind not in CHAT_KINDS:
        raise ChatError("bad_kind", kind=kind, kinds="、".join(CHAT_KINDS))
    before = chat.kind
    chat.kind = kind
    detail: dict[str, Any] = {"from": before, "to": kind}
    if robot_key and isinstance(chat, GridChat):
        chat.robot_key = robot_key
        detail["robot_key"] = "set"
    record(session, actor, "chat.kind", "chat", chat.chat_id, detail, at=now)


def set_chat_kind(session: Session, chat_id: str, kind: str, actor: str, now: datetime,
                  robot_key: str | None = None) -> GridChat | UnknownChat:
    """An admin says what a chat is (console, `gridbot chat set-kind`): a bound chat or one not bound yet."""
    if kind not in CHAT_KINDS:
        raise ChatError("bad_kind", kind=kind, kinds="、".join(CHAT_KINDS))
    chat: GridChat | UnknownChat | None = session.scalar(select(GridChat).where(GridChat.chat_id == chat_id))
    if chat is None:
        chat = session.scalar(select(UnknownChat).where(UnknownChat.chat_id == chat_id))
    if chat is None:
        raise ChatError("not_found", chat_id=chat_id)
    if kind == CHAT_ROBOT_GROUP and not (robot_key or getattr(chat, "robot_key", None)):
        raise ChatError("robot_key_needed", chat_id=chat_id)
    set_kind(session, chat, kind, actor, now, robot_key)
    return chat


@dataclass
class BindResult:
    outcome: str            # done | already | taken | no_grid
    grid_code: str
    grid_name: str = ""
    grid_id: int | None = None


def find_grid(session: Session, code: str) -> Grid | None:
    return session.scalar(select(Grid).where(Grid.code == code.strip().upper()))


def bind_chat(session: Session, chat_id: str, grid: Grid, actor: str, now: datetime,
              name: str | None = None, kind: str = CHAT_UNKNOWN, robot_key: str | None = None) -> BindResult:
    """Bind a chat to a grid (a chat belongs to at most one grid) and forget it as unknown.

    `kind` is what the route or the person binding knows the chat to be (绑定本群 by the AI bot: aibot_group); a
    robot key makes it a robot group; else what was recorded while it was unknown. Binding a chat again with a
    known kind records the kind on a binding that had none."""
    if kind not in CHAT_KINDS:
        raise ChatError("bad_kind", kind=kind, kinds="、".join(CHAT_KINDS))
    if kind == CHAT_UNKNOWN and robot_key:
        kind = CHAT_ROBOT_GROUP
    existing = session.scalar(select(GridChat).where(GridChat.chat_id == chat_id))
    if existing is not None:
        g = session.get_one(Grid, existing.grid_id)
        same = existing.grid_id == grid.id
        if same and existing.kind == CHAT_UNKNOWN and kind != CHAT_UNKNOWN:
            set_kind(session, existing, kind, actor, now, robot_key)
        return BindResult("already" if same else "taken", g.code, g.name, g.id)
    if kind == CHAT_UNKNOWN:
        seen = session.scalar(select(UnknownChat.kind).where(UnknownChat.chat_id == chat_id))
        kind = seen or CHAT_UNKNOWN
    session.add(GridChat(grid_id=grid.id, chat_id=chat_id, name=name, robot_key=robot_key or None, kind=kind,
                         bound_by=actor, bound_at=now))
    session.execute(delete(UnknownChat).where(UnknownChat.chat_id == chat_id))
    record(session, actor, "chat.bind", "chat", chat_id, {"grid": grid.code, "kind": kind}, at=now)
    return BindResult("done", grid.code, grid.name, grid.id)


@dataclass
class ChatRow:
    """One chat as the console's chats page and `gridbot chat list` show it."""
    chat_id: str
    kind: str
    bound: bool
    grid_code: str | None = None
    name: str | None = None
    has_robot: bool = False
    platform: str | None = None
    last_seen: datetime | None = None
    messages: int = 0


def list_chats(session: Session, community_ids: Iterable[int] | None = None,
               only_unknown_kind: bool = False) -> list[ChatRow]:
    """Bound chats (of these communities, or all) and, for all communities, the chats heard from but not bound."""
    q = (select(GridChat, Grid.code).join(Grid, Grid.id == GridChat.grid_id)
         .order_by(Grid.code, GridChat.chat_id))
    if community_ids is not None:
        q = q.where(Grid.community_id.in_(sorted(community_ids)))
    if only_unknown_kind:
        q = q.where(GridChat.kind == CHAT_UNKNOWN)
    rows = [ChatRow(c.chat_id, c.kind, True, code, c.name, bool(c.robot_key)) for c, code in session.execute(q)]
    if community_ids is None:
        uq = select(UnknownChat).order_by(UnknownChat.last_seen.desc())
        if only_unknown_kind:
            uq = uq.where(UnknownChat.kind == CHAT_UNKNOWN)
        rows += [ChatRow(u.chat_id, u.kind, False, platform=u.platform, last_seen=u.last_seen, messages=u.messages)
                 for u in session.scalars(uq)]
    return rows
