"""Finding and listing tickets: by number in a scope, a resident's and a member's lists, the filtered list of the
console and the API (one query for both), the timeline, and the names of the people on it."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, not_, or_, select, true
from sqlalchemy.orm import Session, selectinload

from ...models import Grid, Member, Ticket, TicketReporter
from ...models.org import LEADER_ROLES
from ...models.tickets import ACTIVE_STATUSES, OPEN_STATUSES, STATUSES
from ..people import Speaker, subtree_ids
from .errors import TicketError
from .names import category_codes
from .sla import NORMAL, URGENT, overdue_clause

URGENCIES = (URGENT, NORMAL)
PSEUDO_STATUSES = ("open", "overdue")           # list filters besides the statuses: 未办结, 已超时
FILTERS = ("grid", "category", "status", "urgency", "assignee", "from", "to", "q")


def hidden_from(member_id: int | None) -> Any:
    """The clause that keeps out a complaint (监督评议) about this member until a leader decided it."""
    if member_id is None:
        return true()
    return not_(and_(Ticket.concealed.is_(True), Ticket.about_member_id == member_id))


def concealed_from(ticket: Ticket, member_id: int | None) -> bool:
    return bool(ticket.concealed and member_id is not None and ticket.about_member_id == member_id)


def find_ticket(session: Session, ref: str, scope_grid_ids: Iterable[int] | None = None,
                member_id: int | None = None) -> Ticket:
    """By full number, or by its last digits ("3", "0003") among the tickets in scope (newest first). With
    `member_id`, a ticket assigned to that member counts as in scope wherever its grid (转派 across grids), and a
    complaint about that member not yet decided is not there at all."""
    typed = (ref or "").strip()               # echoed as written in a refusal
    ref = typed.lstrip("#＃").upper()
    if not ref:
        raise TicketError("no_number")
    query = select(Ticket).where(hidden_from(member_id))
    if scope_grid_ids is not None:
        in_scope = Ticket.grid_id.in_(list(scope_grid_ids))
        query = query.where(or_(in_scope, Ticket.assignee_id == member_id) if member_id is not None else in_scope)
    if re.fullmatch(r"\d{1,6}", ref):
        query = query.where(Ticket.number.like(f"%-{int(ref):04d}"))
    else:
        query = query.where(Ticket.number == ref)
    candidates = session.scalars(query.order_by(Ticket.created_at.desc()).limit(20)).all()
    if not candidates:
        raise TicketError("not_found", ref=typed)
    active = [c for c in candidates if c.status in ACTIVE_STATUSES]
    return (active or candidates)[0]


def find_for_member(session: Session, speaker: Speaker, ref: str) -> tuple[Ticket, Member]:
    """The ticket a member acts on (every life-cycle command, 挂起 and 恢复 too): in their scope, or assigned to them
    from another grid (转派). A complaint about the member is not found for them; one not yet decided is acted on by
    leaders only (监督评议)."""
    member = session.get(Member, speaker.member_id) if speaker.member_id else None
    if member is None:
        raise TicketError("members_only")
    ticket = find_ticket(session, ref, speaker.scope_grid_ids, member_id=member.id)
    if ticket.concealed and not set(member.roles or []) & LEADER_ROLES:
        raise TicketError("complaint_leaders_only", number=ticket.number)
    return ticket, member


def load_by_number(session: Session, number: str) -> Ticket | None:
    """The ticket with this full number and what its page shows (timeline, reporters, assignee, grid)."""
    return session.scalar(select(Ticket).where(Ticket.number == number.upper())
                          .options(selectinload(Ticket.events), selectinload(Ticket.reporter_links),
                                   selectinload(Ticket.assignee), selectinload(Ticket.grid)))


def tickets_of(session: Session, user_id: str, limit: int = 10) -> list[Ticket]:
    """A resident's tickets (ones they reported or joined), newest first."""
    return list(session.scalars(
        select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(TicketReporter.user_id == user_id).order_by(Ticket.created_at.desc()).limit(limit)))


def assigned_to(session: Session, member_id: int) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.assignee_id == member_id, hidden_from(member_id),
                                                     Ticket.status.in_(ACTIVE_STATUSES))
                                .order_by(Ticket.urgency.desc(), Ticket.created_at)))


def member_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """userid -> name for the members among these actors ("member:mem_zhao"), in one query."""
    uids = {a.partition(":")[2] for a in actors if a.startswith("member:")}
    if not uids:
        return {}
    return dict(session.execute(select(Member.userid, Member.name).where(Member.userid.in_(uids))).all())


def list_tickets(session: Session, grid_code: str | None = None, status: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """Tickets for scripts and operators (`gridbot tickets list --json`), newest first."""
    query = (select(Ticket, Grid.code, Member.userid).join(Grid, Grid.id == Ticket.grid_id)
             .outerjoin(Member, Member.id == Ticket.assignee_id).order_by(Ticket.created_at.desc(), Ticket.id.desc()))
    if grid_code:
        query = query.where(Grid.code == grid_code)
    if status:
        query = query.where(Ticket.status == status)
    if limit:
        query = query.limit(limit)
    return [{"number": tk.number, "grid": code, "category": tk.category, "urgency": tk.urgency,
             "status": tk.status, "building": tk.building, "unit": tk.unit, "room": tk.room,
             "reporters": tk.reporters, "assignee": assignee, "created_at": tk.created_at.isoformat(),
             "summary": tk.summary, "rating": tk.rating, "escalation_level": tk.escalation_level}
            for tk, code, assignee in session.execute(query).all()]


def timeline(session: Session, number: str) -> list[dict[str, Any]]:
    ticket = session.scalar(select(Ticket).where(Ticket.number == number)
                            .options(selectinload(Ticket.events)))
    if ticket is None:
        raise TicketError("not_found", ref=number)
    return [{"at": ev.at.isoformat(), "actor": ev.actor, "action": ev.action, "from": ev.from_status,
             "to": ev.to_status, "note": ev.note, "detail": ev.detail} for ev in ticket.events]


# -- the filtered list (the console's 工单 page, its exports, and GET /api/v1/tickets) ---------------------------
class OutOfScope(Exception):
    """A filter names a grid outside the person's scope: the caller refuses (403) and audits it."""

    def __init__(self, grid_code: str):
        super().__init__(grid_code)
        self.grid_code = grid_code


def _local_day(text: str | None, tz: ZoneInfo, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    day = min(max(day, date(2000, 1, 1)), date(2100, 12, 31))  # the calendar's edges overflow in UTC
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start + timedelta(days=1) if end else start


def ticket_query(session: Session, scope_grid_ids: Iterable[int], args: Mapping[str, Any], now: datetime,
                 tz: ZoneInfo, viewer_id: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The filtered, scoped query (Ticket, grid code, grid name, assignee name) and the filters as applied
    (an unknown value is dropped). OutOfScope for a grid outside the scope: refused, not silently emptied.
    `viewer_id` (the member looking): their own tickets from other grids are in, complaints about them not yet
    decided are out."""
    scope = set(scope_grid_ids)
    filters: dict[str, Any] = {k: (args.get(k) or "").strip() for k in FILTERS}
    in_scope = Ticket.grid_id.in_(list(scope))
    query = (select(Ticket, Grid.code, Grid.name, Member.name).join(Grid, Grid.id == Ticket.grid_id)
             .outerjoin(Member, Member.id == Ticket.assignee_id)
             .where(or_(in_scope, Ticket.assignee_id == viewer_id) if viewer_id is not None else in_scope)
             .where(hidden_from(viewer_id)))
    if filters["grid"]:
        grid = session.scalar(select(Grid).where(Grid.code == filters["grid"]))
        if grid is None:
            filters["grid"] = ""
        elif grid.id not in scope:
            raise OutOfScope(grid.code)
        else:
            query = query.where(Ticket.grid_id.in_(list(subtree_ids(session, {grid.id}) & scope)))
    if filters["category"] in category_codes():
        query = query.where(Ticket.category == filters["category"])
    else:
        filters["category"] = ""
    status = filters["status"]
    if status == "open":
        query = query.where(Ticket.status.in_(OPEN_STATUSES))
    elif status == "overdue":
        query = query.where(overdue_clause(now))
    elif status in STATUSES:
        query = query.where(Ticket.status == status)
    else:
        filters["status"] = ""
    if filters["urgency"] in URGENCIES:
        query = query.where(Ticket.urgency == filters["urgency"])
    else:
        filters["urgency"] = ""
    if filters["assignee"]:
        query = query.where(Member.userid == filters["assignee"])
    since, until = _local_day(filters["from"], tz), _local_day(filters["to"], tz, end=True)
    if since:
        query = query.where(Ticket.created_at >= since)
    if until:
        query = query.where(Ticket.created_at < until)
    if filters["q"]:
        query = query.where(Ticket.number.like(f"%{filters['q'].upper()}%"))
    return query.order_by(Ticket.created_at.desc(), Ticket.id.desc()), filters
