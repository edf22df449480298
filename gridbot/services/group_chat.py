"""What a customer group's archived talk changes on tickets: a member answering in the group counts as the
response, and a resident recalling the message that alone opened a ticket withdraws it.

The response rule (issue 16 point 4): a grid member's message in the group (not a command) accepts, in their
name, the tickets reported from that group in the last RESPONSE_WINDOW that nobody has accepted yet and that are
theirs to act on (their scope). The residents already heard the member in the group, so nobody is told again;
the ticket's timeline says "group_reply" (the member's words, masked), so a secretary can see what counted. A
message that names ticket numbers (a posted acknowledgement) answers those only. The accepted tickets' prepared
replies still waiting in the toolbar stop waiting (answered otherwise): the member was heard, so 待群内回复 and the
response rate do not count them as unanswered."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..messages import ARCHIVE_PLATFORM
from ..models import ArchiveConsent, ChatIdentity, ChatMembership, GridChat, InboundMessage, Ticket
from ..privacy import mask_text
from ..texts import t
from . import toolbar
from .people import Speaker
from .tickets.lifecycle import move
from .tickets.notifications import notify

RESPONSE_WINDOW = timedelta(hours=24)


def member_replied(session: Session, speaker: Speaker, chat_id: str, text: str, at: datetime) -> list[Ticket]:
    """Accept the group's unanswered tickets this member may act on; returns them."""
    if not speaker.is_member or speaker.member_id is None:
        return []
    found = session.scalars(select(Ticket).where(
        Ticket.chat_id == chat_id, Ticket.status == "reported", Ticket.created_at <= at,
        Ticket.created_at >= at - RESPONSE_WINDOW).order_by(Ticket.id)).all()
    named = set(toolbar.TICKET_NUMBER.findall(text))
    done = []
    for ticket in found:
        if not speaker.can_act_in(ticket.grid_id) or (named and ticket.number not in named):
            continue
        move(session, ticket, "accepted", speaker.actor, "group_reply", at, member_id=speaker.member_id,
             note=mask_text(text)[:200])
        ticket.accepted_at = ticket.accepted_at or at
        ticket.handover_due = None
        if ticket.assignee_id is None:
            ticket.assignee_id = speaker.member_id
        toolbar.dismiss_for_ticket(session, ticket.id, speaker.actor, at)
        done.append(ticket)
    return done


def withdraw_recalled(session: Session, sender_id: str, chat_id: str, recalled_text: str, since: datetime,
                      now: datetime, platform: str | None) -> Ticket | None:
    """The ticket the recalled message alone opened (same resident, same group, its words, one reporter, not yet
    accepted): withdrawn, and its member told privately. None if there is none (chatter, accepted, joined)."""
    masked = mask_text(recalled_text.strip())
    ticket = session.scalar(select(Ticket).where(
        Ticket.reporter_id == sender_id, Ticket.chat_id == chat_id, Ticket.status == "reported",
        Ticket.reporters == 1, Ticket.created_at >= since, Ticket.description == masked).order_by(Ticket.id.desc()))
    if ticket is None:
        return None
    move(session, ticket, "rejected", f"resident:{sender_id}", "withdrawn", now, note=t("archive.recalled_note"))
    ticket.closed_at = now
    ticket.handover_due = None
    toolbar.dismiss_for_ticket(session, ticket.id, f"resident:{sender_id}", now)   # nothing left to acknowledge
    notify(session, [ticket.assignee], t("archive.recalled", number=ticket.number), now, platform, ticket)
    return ticket


def declined_archiving(session: Session, grid_ids: set[int]) -> list[tuple[str, str]]:
    """(chat_id, the resident's name or id) of the residents of these grids' groups who declined the archive's
    consent notice: gridbot does not read them (the coverage page lists them, so a member can talk to them)."""
    if not grid_ids:
        return []
    chats = select(GridChat.chat_id).where(GridChat.grid_id.in_(grid_ids))
    declined = select(ArchiveConsent.external_userid).where(ArchiveConsent.agreed.is_(False))
    members = session.execute(
        select(ChatMembership.chat_id, ChatIdentity.user_id, ChatIdentity.display_name)
        .join(ChatIdentity, ChatIdentity.id == ChatMembership.identity_id)
        .where(ChatMembership.chat_id.in_(chats), ChatMembership.left_at.is_(None),
               ChatIdentity.user_id.in_(declined))).all()
    speakers = session.execute(
        select(InboundMessage.chat_id, InboundMessage.sender_id).distinct()
        .where(InboundMessage.platform == ARCHIVE_PLATFORM, InboundMessage.chat_id.in_(chats),
               InboundMessage.sender_id.in_(declined))).all()
    found = {(chat or "", user): name or user for chat, user, name in members}
    for chat, user in speakers:
        found.setdefault((chat or "", user or ""), user or "")
    return sorted((chat, name) for (chat, _), name in found.items())
