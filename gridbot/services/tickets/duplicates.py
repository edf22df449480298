"""Is a new message about a ticket already open? The reporter's own open ticket (a follow-up), or a neighbour's
report of the same problem (they join it). Problem words come from config/categories.yaml."""
from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ...models import Grid, Ticket, TicketReporter
from ...models.tickets import OPEN_STATUSES
from ...understanding import get_understander
from .sla import Policy


def problem_words(text: str, generic: Iterable[str] = ()) -> frozenset[str]:
    """The problem words of a message: category keywords of config/categories.yaml found in it ("电梯", "水管",
    "楼道灯"), less the generic ones that only say something is broken. Substrings, so 电梯坏 also yields 电梯."""
    keywords = get_understander().keyword_index
    text = unicodedata.normalize("NFKC", text or "")
    skip = set(generic)
    lengths = sorted({len(w) for w in keywords})
    found = set()
    for n in lengths:
        for i in range(len(text) - n + 1):
            word = text[i:i + n]
            if word in keywords and word not in skip:
                found.add(word)
    return frozenset(found)


def ticket_words(ticket: Ticket, generic: Iterable[str]) -> frozenset[str]:
    """The problem words of everything reported on the ticket: the first message, joins and follow-ups."""
    texts = [ticket.description, ticket.summary] + [r.text for r in ticket.reporter_links]
    texts += [ev.note or "" for ev in ticket.events if ev.action == "follow_up"]
    return frozenset().union(*(problem_words(x, generic) for x in texts))


def same_place(ticket: Ticket, building: str | None, unit: str | None, room: str | None) -> bool:
    """Building, unit and room must agree whenever both the ticket and the message name one."""
    return all(mine is None or theirs is None or mine == theirs
               for mine, theirs in ((building, ticket.building), (unit, ticket.unit), (room, ticket.room)))


def is_reporter(ticket: Ticket, user_id: str) -> bool:
    return any(r.user_id == user_id for r in ticket.reporter_links)


def _grid_clause(session: Session, grid_id: int) -> tuple[ColumnElement[bool], Callable[[Ticket], bool]]:
    """Tickets of this grid: those in it now, and those 转派'd from it to another grid (issue 18, point 7: the
    neighbours and the reporter in the first grid's group still reach the same ticket). A SQL pre-filter (the
    community) and the exact test on each ticket's timeline."""
    grid = session.get(Grid, grid_id)
    code = grid.code if grid else None

    def belongs(ticket: Ticket) -> bool:
        return ticket.grid_id == grid_id or any(
            ev.action == "transfer" and ((ev.detail or {}).get("grid") or {}).get("from") == code
            for ev in ticket.events)
    return (Ticket.community_id == grid.community_id if grid else Ticket.grid_id == grid_id), belongs


def _recent_open_of(session: Session, policy: Policy, user_id: str, now: datetime,
                    *where: ColumnElement[bool]) -> Sequence[Ticket]:
    """The person's open tickets reported within the follow-up window, newest first."""
    since = now - policy.hours("follow_up_window_hours", 72)
    return session.scalars(
        select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(TicketReporter.user_id == user_id, Ticket.status.in_(OPEN_STATUSES), Ticket.created_at >= since,
               *where).order_by(Ticket.created_at.desc())).all()


def own_open_ticket(session: Session, policy: Policy, user_id: str, grid_id: int, category: str,
                    building: str | None, unit: str | None, room: str | None, text: str,
                    now: datetime) -> Ticket | None:
    """The reporter's open ticket this message adds to: same kind, same place, and the same problem (a shared
    problem word). A message naming no problem word ("还没人来吗") adds to the latest; a new problem is a new
    ticket (a burst main is not a note on a corridor-light ticket)."""
    words = problem_words(text, policy.generic_words)
    near, belongs = _grid_clause(session, grid_id)
    for ticket in (tk for tk in _recent_open_of(session, policy, user_id, now, near) if belongs(tk)):
        same_kind = ticket.category == category or "other" in (ticket.category, category)
        same_problem = not words or bool(words & ticket_words(ticket, policy.generic_words))
        if same_kind and same_place(ticket, building, unit, room) and same_problem:
            return ticket
    return None


def continued_ticket(session: Session, policy: Policy, user_id: str, text: str, now: datetime) -> Ticket | None:
    """The reporter's recent open ticket that a message which is not a request of its own still continues, because
    it names the same problem ("还是漏水 越来越大了" on a 漏水 ticket: a follow-up, whatever the understanding made of
    it alone). Only a shared problem word counts: "谢谢", "好的" or "还没人来吗" continue nothing here."""
    words = problem_words(text, policy.generic_words)
    if not words:
        return None
    mine = _recent_open_of(session, policy, user_id, now)
    return next((tk for tk in mine if words & ticket_words(tk, policy.generic_words)), None)


def same_thing(session: Session, policy: Policy, grid_id: int, category: str, building: str | None,
               unit: str | None, room: str | None, text: str, now: datetime) -> Ticket | None:
    """An open ticket for the same problem: same grid, category and building, recent; unit and room agree when
    both reports name one (two flats' leaks are two problems), and the messages share a problem word (电梯 and
    水管 are both 物业维修 yet two problems). A members' 重复 can still merge anything."""
    if building is None or category == "other":
        return None
    words = problem_words(text, policy.generic_words)
    if not words:
        return None
    since = now - policy.hours("duplicate_window_hours", 24)
    near, belongs = _grid_clause(session, grid_id)
    for ticket in session.scalars(
        select(Ticket).where(near, Ticket.category == category, Ticket.building == building,
                             Ticket.status.in_(OPEN_STATUSES), Ticket.created_at >= since)
        .order_by(Ticket.created_at.desc())
    ):
        if belongs(ticket) and same_place(ticket, building, unit, room) \
                and words & ticket_words(ticket, policy.generic_words):
            return ticket
    return None
