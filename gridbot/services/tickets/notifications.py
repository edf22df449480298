"""What the service writes to the outbox, for whom: members' private notices, the reporters' updates (in the group
they reported from, @-mentioned), urgent alerts. Rows are written in the caller's transaction and handed to the
sender when it commits (db.hand_over_after_commit); nothing here is a reply to the current message."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ...messages import Reply
from ...models import Grid, Member, Ticket
from ...texts import t
from .. import outbox
from .assignment import available, grid_leaders, responsible_members
from .names import building_text, category_name, fmt_time, minutes_text, phone_line
from .sla import URGENT, Limits, Policy


def write(session: Session, replies: list[Reply], now: datetime, platform: str | None) -> None:
    """Notifications go to the outbox in this transaction; they are sent once it commits (db.hand_over_after_commit)."""
    outbox.write_replies(session, None, replies, now, platform=platform)


def notify(session: Session, members: Iterable[Member | None], text: str, now: datetime, platform: str | None,
           ticket: Ticket, urgent: bool | None = None) -> int:
    """Private notes to members (each once), through the outbox in this transaction. Members no longer active or
    marked 在岗=否 in the roster get nothing (issue 18): whoever chose them should have chosen someone at work.
    `urgent` defaults to the ticket's urgency: every update about an urgent ticket goes at once, quiet hours or not."""
    if urgent is None:
        urgent = ticket.urgency == URGENT
    seen: set[int] = set()
    replies = []
    for m in members:
        if m is None or m.id in seen or not (m.active and m.on_duty):
            continue
        seen.add(m.id)
        replies.append(Reply(text, to_user=m.userid, urgent=urgent))
    if replies:
        write(session, replies, now, platform or ticket.reporter_platform)
    return len(replies)


def tell_reporters(session: Session, ticket: Ticket, text_key: str, now: datetime, platform: str | None,
                   extra: dict[str, Any] | None = None, **values: Any) -> int:
    """Everyone who reported it hears, in the group they reported from (@-mentioned), or privately. Every update
    about an urgent ticket goes at once, quiet hours or not; a normal ticket's waits for morning (reporters_hold)."""
    urgent = ticket.urgency == URGENT
    by_chat: dict[str | None, list[str]] = {}
    for r in ticket.reporter_links:
        by_chat.setdefault(r.chat_id, []).append(r.user_id)
    replies = []
    base = dict(number=ticket.number, category=category_name(ticket.category), building=building_text(ticket),
                reporters=ticket.reporters, **values)
    for chat_id, users in by_chat.items():
        text = t(text_key, **base)
        if chat_id:
            replies.append(Reply(text, to_chat=chat_id, mentions=list(dict.fromkeys(users)), extra=dict(extra or {}),
                                 urgent=urgent))
        else:
            replies += [Reply(text, to_user=u, extra=dict(extra or {}), urgent=urgent) for u in dict.fromkeys(users)]
    write(session, replies, now, platform or ticket.reporter_platform)
    return len(replies)


def reporters_hold(ticket: Ticket, now: datetime) -> datetime | None:
    """When the reporters' update written now goes out: None at once, else the end of quiet hours (the outbox's
    rule). A member's confirmation says so instead of "居民已收到" (issue 18)."""
    return None if ticket.urgency == URGENT else outbox.quiet_hold(None, Reply(""), now)


def held_note(ticket: Ticket, now: datetime, tz: Any) -> str:
    """"" when the reporters hear now; else "（夜间免打扰，将于 07:00 发给居民）" for a member's confirmation."""
    until = reporters_hold(ticket, now)
    return t("tickets.held_for_quiet", at=fmt_time(until, tz)) if until is not None else ""


def new_ticket_text(ticket: Ticket, policy: Policy, limits: Limits) -> str:
    """The assignee's notice of a new ticket (with the contact phone: it goes privately)."""
    return t("tickets.notify.new_urgent" if ticket.urgency == URGENT else "tickets.notify.new",
             number=ticket.number, category=category_name(ticket.category), place=ticket.place or "-",
             summary=ticket.summary, grid=ticket.grid.name,
             due=fmt_time(ticket.response_due, policy.tz), response=minutes_text(limits.response),
             phone_line=phone_line(ticket))


def dispatched_text(ticket: Ticket, policy: Policy, by: Member) -> str:
    return t("tickets.notify.dispatched", number=ticket.number, category=category_name(ticket.category),
             place=ticket.place or "-", summary=ticket.summary, by=by.name,
             due=fmt_time(ticket.resolution_due, policy.tz), phone_line=phone_line(ticket))


def urgent_alerts(session: Session, ticket: Ticket, now: datetime, platform: str) -> int:
    """Urgent: the grid leader and every on-duty member of the grid at once, and the neighbouring grids' groups."""
    people: dict[int, Member] = {}
    for m in grid_leaders(session, ticket.grid_id) + responsible_members(session, ticket.grid_id, None):
        if m.id != ticket.assignee_id and available(session, m, now):
            people.setdefault(m.id, m)
    text = t("tickets.notify.urgent_alert", number=ticket.number, category=category_name(ticket.category),
             place=ticket.place or "-", summary=ticket.summary,
             assignee=ticket.assignee.name if ticket.assignee else t("tickets.nobody"))
    replies = [Reply(text, to_user=m.userid, urgent=True) for m in people.values()]
    grid = session.get_one(Grid, ticket.grid_id)
    # the neighbouring grids' members hear privately (issue 18: never in the residents' groups)
    helpers = {m.id: m for g in grid.neighbours for m in responsible_members(session, g.id, None)
               if m.id not in people and m.id != ticket.assignee_id and available(session, m, now)}
    if helpers:
        help_text = t("tickets.notify.neighbour_alert", grid=grid.name, category=category_name(ticket.category),
                      building=building_text(ticket), number=ticket.number)
        replies += [Reply(help_text, to_user=m.userid, urgent=True) for m in helpers.values()]
    if replies:
        write(session, replies, now, platform)
    return len(replies)
