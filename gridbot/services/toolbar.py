"""Ready items for customer groups (客户群): what the bot would say there, posted by a member.

No bot can post into a customer group (WECOM.md "What can post into a customer group"): only a person, from the
WeCom client, or a mass send (add_msg_template) a member confirms. So a reply the bot would say in such a group (a
ticket's acknowledgement, its progress, the rating question) becomes a ToolbarItem, and the member responsible is
told privately with the text itself: they post it with one tap from the chat toolbar (聊天工具栏, gridbot/web/
toolbar.py) or copy it by hand. When the chat archive shows a member's message in the group that matches the text,
the item is done (match_posted). Group-wide notices (announcements, reminders: no ticket, not an answer) keep going
as add_msg_template (senders/wecom.py TemplateSender). A reply that concerns one resident only (a phone or ID
number: anything mask_text would change) never becomes a group item: the member is asked to follow up one to one.

Services never commit: the caller owns the transaction.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..messages import Inbound, Reply
from ..models import ChatIdentity, GridChat, Member, MemberGrid, Ticket
from ..models.org import CHAT_CUSTOMER_GROUP
from ..models.toolbar import HOW_BY_HAND, HOW_TOOLBAR, ITEM_DISMISSED, ITEM_POSTED, ITEM_READY, ToolbarItem
from ..privacy import mask_text
from ..texts import t
from .audit import record
from .people import is_kf_resident

# A reply with no ticket behind it (a plain answer) is due this long after it was prepared.
DEFAULT_DUE = timedelta(hours=1)
# The match rule (match_posted): after normalising (no whitespace, punctuation or symbols; case folded), the item's
# text contained in the member's message (they may add a greeting or an @name), or the two at least this similar
# (difflib's ratio: a word or two changed in a long text), with every number of 4+ digits in it unchanged. Short
# items (< MIN_FUZZY characters) must be contained.
SIMILARITY = 0.85
MIN_FUZZY = 12
TICKET_NUMBER = re.compile(r"\b[A-Za-z0-9]+-\d{8}-\d{4}\b")   # services/tickets/reporting.next_number
WORKER_ROLES = ("member", "part_time", "building_leader", "group_leader", "grid_leader")


@dataclass
class Diverted:
    """write_replies' share of a batch: replies still written as outbox rows (with extra content for some)."""

    replies: list[Reply] = field(default_factory=list)
    extra: dict[int, dict[str, Any]] = field(default_factory=dict)   # index in `replies` -> content to add
    platform: dict[int, str] = field(default_factory=dict)          # index in `replies` -> the row's platform
    items: list[ToolbarItem] = field(default_factory=list)


def normalise(text: str) -> str:
    """Letters and digits only, case folded: what survives a member retyping or re-punctuating a text."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold()
                   if unicodedata.category(ch)[0] in "LN")


def matches(item_text: str, message: str) -> bool:
    want, got = normalise(item_text), normalise(message)
    if not want or not got:
        return False
    if want in got:
        return True
    if len(want) < MIN_FUZZY or not set(re.findall(r"\d{4,}", want)) <= set(re.findall(r"\d{4,}", got)):
        return False   # a ticket number or a date is never "similar": another one is another ticket
    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    return matcher.quick_ratio() >= SIMILARITY and matcher.ratio() >= SIMILARITY


def is_private(text: str) -> bool:
    """A text with a phone or ID number in it concerns one resident: never for the whole group (point 9)."""
    return mask_text(text) != text


def customer_group(session: Session, chat_id: str | None) -> GridChat | None:
    if not chat_id:
        return None
    return session.scalar(select(GridChat).where(GridChat.chat_id == chat_id,
                                                 GridChat.kind == CHAT_CUSTOMER_GROUP))


def _ticket_in(session: Session, text: str) -> Ticket | None:
    found = TICKET_NUMBER.search(text)
    return session.scalar(select(Ticket).where(Ticket.number == found.group(0))) if found else None


def _grid_member(session: Session, grid_id: int) -> str | None:
    """The grid's worker who is told: a full-time member before the others, the longest serving first."""
    rows = session.execute(select(Member.userid, Member.roles).join(MemberGrid, MemberGrid.member_id == Member.id)
                           .where(MemberGrid.grid_id == grid_id, Member.active.is_(True))
                           .order_by(Member.id)).all()
    ranked = sorted((0 if "member" in (roles or []) else 1, index, userid)
                    for index, (userid, roles) in enumerate(rows) if set(roles or []) & set(WORKER_ROLES))
    return ranked[0][2] if ranked else None


def _member_userid(session: Session, userid: str) -> bool:
    return session.scalar(select(Member.id).where(Member.userid == userid, Member.active.is_(True))) is not None


def _kind(inbound: Inbound | None, ticket: Ticket | None) -> str:
    if ticket is None:
        return "reply"
    if inbound is not None and ticket.status == "reported":   # the answer to the message that reported it
        return "ack"
    if ticket.status == "resolved":
        return "rating"
    return "progress"


def one_to_one(session: Session, chat: GridChat, reply: Reply, member: str | None, now: datetime,
               resident: str | None = None) -> list[Reply]:
    """A reply that concerns one resident: when the resident has a 微信客服 session (issue 17), the reply goes to them
    there (the outbox's resolver sends a person's row to a kf resident by kf/send_msg, within its 48 h / 5 rule);
    otherwise the member gets the text privately and is asked to follow up one to one (it is theirs to read: staff
    see phone numbers, groups never do)."""
    if resident and is_kf_resident(session, resident):
        return [Reply(reply.text, to_user=resident, urgent=reply.urgent,
                      idempotency_key=f"kf-private:{reply.idempotency_key}"[:255] if reply.idempotency_key
                      else None)]
    if member is None:
        return []
    group = chat.name or chat.chat_id
    text = t("toolbar.one_to_one_resident", group=group, who=_resident_name(session, resident), text=reply.text) \
        if resident else t("toolbar.one_to_one", group=group, text=reply.text)
    return [Reply(text, to_user=member,
                  idempotency_key=f"toolbar-private:{reply.idempotency_key}"[:255] if reply.idempotency_key
                  else None)]


def _resident_name(session: Session, user_id: str) -> str:
    """Whom the member is to contact: the resident's name in the group (any platform that knows it), else the id."""
    name = session.scalar(select(ChatIdentity.display_name).where(
        ChatIdentity.user_id == user_id, ChatIdentity.display_name.is_not(None)).order_by(ChatIdentity.id).limit(1))
    return name or user_id


# The chat archive is a way in, never a way out: a member's notice about a message it brought goes as an app message.
NOTICE_PLATFORM = {"wecom_archive": "wecom_app"}


def divert(session: Session, inbound: Inbound | None, replies: Iterable[Reply], now: datetime,
           chat_of: Any, platform: str | None = None) -> Diverted:
    """Split a batch of replies: those for a customer group become ready items (and a private notice to the
    member with the text); group-wide notices stay outbox rows, sent as add_msg_template with the member who
    confirms; everything else is untouched. `chat_of(reply)` is the chat a reply targets (None: a person)."""
    out = Diverted()
    source = platform or (inbound.platform if inbound is not None else None) or "wecom_app"
    notice_platform = NOTICE_PLATFORM.get(source, source)

    def private(reply: Reply) -> None:
        out.platform[len(out.replies)] = notice_platform
        out.replies.append(reply)

    for reply in replies:
        chat_id = chat_of(reply)
        chat = customer_group(session, chat_id)
        if chat is None:
            out.replies.append(reply)
            continue
        ticket = _ticket_in(session, reply.text)
        member = ticket.assignee.userid if ticket is not None and ticket.assignee is not None else None
        member = member or _grid_member(session, chat.grid_id)
        if inbound is not None and inbound.sender_id and _member_userid(session, inbound.sender_id) \
                and inbound.chat_id == chat.chat_id:
            # a member's own message in the group (a command): the answer goes to them privately
            private(Reply(reply.text, markdown=reply.markdown, to_user=inbound.sender_id, urgent=reply.urgent,
                          idempotency_key=reply.idempotency_key))
            continue
        if is_private(reply.text):
            resident = inbound.sender_id if inbound is not None and inbound.chat_id == chat.chat_id else None
            for notice in one_to_one(session, chat, reply, member, now, resident):
                private(notice)
            continue
        if inbound is None and ticket is None:
            # a group-wide notice (announcement, reminder): add_msg_template, confirmed by the member
            if member:
                out.extra[len(out.replies)] = {"sender": member}
            out.replies.append(reply)
            continue
        due = ticket.response_due if ticket is not None and ticket.status in ("reported", "accepted") \
            else now + DEFAULT_DUE
        text = reply.text   # posted as written (sendChatMessage text); group replies of tickets are plain text
        item = ToolbarItem(chat_id=chat.chat_id, grid_id=chat.grid_id, ticket_id=ticket.id if ticket else None,
                           kind=_kind(inbound, ticket), text=text, for_member=member,
                           status=ITEM_READY, created_at=now, due_at=max(due, now),
                           inbound_id=inbound.inbound_id if inbound is not None else None)
        session.add(item)
        session.flush()
        out.items.append(item)
        if member:
            private(Reply(t("toolbar.ready", group=chat.name or chat.chat_id, text=text), to_user=member,
                          urgent=reply.urgent, idempotency_key=f"toolbar-item:{item.id}"))
    return out


def mark_posted(session: Session, item: ToolbarItem, by: str, how: str, at: datetime) -> None:
    item.status = ITEM_POSTED
    item.posted_at = at
    item.posted_by = by
    item.how = how
    record(session, f"member:{by}", "toolbar.posted", "toolbar_item", item.id,
           {"chat_id": item.chat_id, "ticket_id": item.ticket_id, "how": how}, at=at)


def match_posted(session: Session, chat_id: str, sender_id: str, text: str, at: datetime) -> int:
    """A member's message in a customer group: the items of that group whose text it carries are done. A ready
    one was posted by hand (how=by_hand); one the toolbar already marked posted is now seen in the group (seen_at,
    the confirmation). Returns how many items the message matched."""
    if not text or customer_group(session, chat_id) is None or not _member_userid(session, sender_id):
        return 0
    items = session.scalars(select(ToolbarItem).where(
        ToolbarItem.chat_id == chat_id,
        or_(ToolbarItem.status == ITEM_READY, and_(ToolbarItem.status == ITEM_POSTED, ToolbarItem.seen_at.is_(None))))
        .order_by(ToolbarItem.id).with_for_update()).all()
    done = 0
    for item in items:
        if not matches(item.text, text):
            continue
        if item.status == ITEM_READY:
            mark_posted(session, item, sender_id, HOW_BY_HAND, at)
        else:
            record(session, f"member:{sender_id}", "toolbar.seen", "toolbar_item", item.id,
                   {"chat_id": item.chat_id, "ticket_id": item.ticket_id}, at=at)
        item.seen_at = at
        done += 1
        if item.how == HOW_TOOLBAR:
            break   # one message posts one item: the toolbar sends each on its own
    return done


def post_from_toolbar(session: Session, item_id: int, by: str, grid_ids: Iterable[int], at: datetime
                      ) -> ToolbarItem | None:
    """The toolbar page says the member posted it (sendChatMessage succeeded). None: not theirs to post."""
    item = session.scalar(select(ToolbarItem).where(ToolbarItem.id == item_id).with_for_update())
    if item is None or item.grid_id not in set(grid_ids):
        return None
    if item.status == ITEM_READY:
        mark_posted(session, item, by, HOW_TOOLBAR, at)
    return item


def dismiss(session: Session, item_id: int, by: str, grid_ids: Iterable[int], at: datetime) -> ToolbarItem | None:
    """The member will not post it (answered otherwise, by voice or in person): it stops waiting. posted_at keeps
    when, so metrics still count it against the ticket's response time when that came after the limit: dismissing
    cannot turn a late response into a timely one. None: not theirs."""
    item = session.scalar(select(ToolbarItem).where(ToolbarItem.id == item_id).with_for_update())
    if item is None or item.grid_id not in set(grid_ids):
        return None
    if item.status == ITEM_READY:
        item.status = ITEM_DISMISSED
        item.posted_by = by
        item.posted_at = at
        record(session, f"member:{by}", "toolbar.dismissed", "toolbar_item", item.id,
               {"chat_id": item.chat_id, "ticket_id": item.ticket_id}, at=at)
    return item


def dismiss_for_ticket(session: Session, ticket_id: int, actor: str, at: datetime) -> int:
    """Hook for a ticket withdrawn (a recalled message, issue 16 point 5) or merged: its ready items stop waiting."""
    items = session.scalars(select(ToolbarItem).where(ToolbarItem.ticket_id == ticket_id,
                                                      ToolbarItem.status == ITEM_READY).with_for_update()).all()
    for item in items:
        item.status = ITEM_DISMISSED
        item.posted_at = at
        record(session, actor, "toolbar.dismissed", "toolbar_item", item.id, {"ticket_id": ticket_id}, at=at)
    return len(items)


def ready_for_chat(session: Session, chat_id: str, grid_ids: Iterable[int]) -> list[ToolbarItem]:
    """The ready items of one group that someone with these grids may post (oldest first)."""
    return list(session.scalars(select(ToolbarItem).where(
        ToolbarItem.chat_id == chat_id, ToolbarItem.status == ITEM_READY,
        ToolbarItem.grid_id.in_(list(grid_ids))).order_by(ToolbarItem.id)))


def waiting(session: Session, grid_ids: Iterable[int] | None, now: datetime) -> int:
    """Items not posted within their response time (待群内回复): the digest and the dashboard count them."""
    q = select(func.count()).select_from(ToolbarItem).where(ToolbarItem.status == ITEM_READY,
                                                           ToolbarItem.due_at <= now)
    if grid_ids is not None:
        q = q.where(ToolbarItem.grid_id.in_(list(grid_ids)))
    return int(session.scalar(q) or 0)


def unposted_for_ticket(session: Session, ticket_id: int) -> int:
    """Ready items of a ticket: while any waits, its answer has not reached the group."""
    return int(session.scalar(select(func.count()).select_from(ToolbarItem).where(
        ToolbarItem.ticket_id == ticket_id, ToolbarItem.status == ITEM_READY)) or 0)
