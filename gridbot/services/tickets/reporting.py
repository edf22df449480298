"""A resident's request (or a member's 上报 from patrol) becomes a ticket: a follow-up on their own open ticket, a
join of a neighbour's report of the same problem, or a new ticket with an assignee and its deadlines."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ...clock import local
from ...messages import Reply
from ...models import Community, Grid, Household, Member, Ticket, TicketEvent, TicketReporter, TicketSequence
from ...privacy import mask_text
from ...texts import t
from .. import audit
from .assignment import pick_assignee
from .duplicates import is_reporter, own_open_ticket, same_thing
from .errors import TicketError
from .lifecycle import event
from .names import phone_line
from .notifications import new_ticket_text, notify, urgent_alerts, write
from .sla import NORMAL, URGENT, Policy


@dataclass(frozen=True)
class NewRequest:
    """What a person asked for, as understood: who, where they said it, the text, and what it is about.

    `grid_id` is the grid of the group it was said in (None in a 1:1 chat: the grid of a household the person
    speaks for, `household_ids`). `actor` is "member:…" for a member's 上报 (default "resident:<user_id>")."""

    platform: str
    user_id: str
    text: str
    name: str | None = None
    chat_id: str | None = None
    grid_id: int | None = None
    category: str | None = None
    urgency: str = NORMAL
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    phones: tuple[str, ...] = ()
    summary: str = ""
    household_ids: frozenset[int] = frozenset()
    actor: str | None = None
    via: str = "text"               # "voice": the words are the platform's transcript (the console says 语音转文字)


@dataclass
class ReportResult:
    ticket: Ticket
    outcome: str                     # created | follow_up | joined
    urgent_alerts: int = 0           # private alerts and neighbour-group posts written
    upgraded: bool = False           # a follow-up made a normal ticket urgent


def next_number(session: Session, community_code: str, now: datetime, tz: ZoneInfo) -> str:
    """HY-20261102-0003: community, local day, a dense sequence (row-locked counter, safe across workers)."""
    prefix = f"{community_code}-{local(now, tz):%Y%m%d}"
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(TicketSequence).values(prefix=prefix, last=0).on_conflict_do_nothing(
        index_elements=["prefix"]))
    seq = session.execute(update(TicketSequence).where(TicketSequence.prefix == prefix)
                          .values(last=TicketSequence.last + 1).returning(TicketSequence.last)).scalar_one()
    return f"{prefix}-{seq:04d}"


def report(session: Session, policy: Policy, request: NewRequest, now: datetime) -> ReportResult:
    """Join the person's own open ticket, join a neighbour's report of the same thing, or open one."""
    category = request.category or "other"
    urgency = URGENT if request.urgency == URGENT else NORMAL
    building, unit, room = request.building, request.unit, request.room
    grid_id = request.grid_id
    platform, user_id, phones = request.platform, request.user_id, request.phones
    if grid_id is None:          # a 1:1 message: the grid of the household this person speaks for
        home = _home(session, request.household_ids, None)
        if home is None:
            raise TicketError("need_grid")
        grid_id = home.grid_id
    if building is None:
        home = _home(session, request.household_ids, grid_id)
        if home is not None:
            building, unit, room = home.building, home.unit or None, home.room
    grid_id, household_id = _place(session, grid_id, building, unit, room)
    text = (request.text or "").strip()      # as written: stored and shown; matching normalises for itself
    summary = as_written(text, request.summary) if request.summary else text
    masked = mask_text(text)
    actor = request.actor or f"resident:{user_id}"

    own = own_open_ticket(session, policy, user_id, grid_id, category, building, unit, room, text, now)
    if own is not None:
        event(session, own, actor, "follow_up", now, note=masked)
        own.building, own.unit, own.room = own.building or building, own.unit or unit, own.room or room
        if phones and not own.contact_phone:
            own.contact_phone = phones[0]
        result = ReportResult(own, "follow_up")
        if urgency == URGENT and own.urgency != URGENT:
            make_urgent(session, policy, own, actor, now)
            result.upgraded = True
            result.urgent_alerts = urgent_alerts(session, own, now, platform)
        notify(session, [own.assignee] if own.assignee else [],
               t("tickets.notify.follow_up", number=own.number, text=masked), now, platform, own)
        return result

    same = same_thing(session, policy, grid_id, category, building, unit, room, text, now)
    if same is not None and not is_reporter(same, user_id):
        same.reporter_links.append(TicketReporter(platform=platform, user_id=user_id, name=request.name,
                                                  chat_id=request.chat_id, text=masked, joined_at=now))
        same.reporters = (same.reporters or 1) + 1
        event(session, same, actor, "join", now, note=masked, detail={"reporters": same.reporters})
        result = ReportResult(same, "joined")
        if urgency == URGENT and same.urgency != URGENT:
            make_urgent(session, policy, same, actor, now)
            result.upgraded = True
            result.urgent_alerts = urgent_alerts(session, same, now, platform)
        return result

    grid, community = session.execute(select(Grid, Community).join(Community, Community.id == Grid.community_id)
                                      .where(Grid.id == grid_id)).one()
    limits = policy.limits(category, urgency)
    assignee, why = pick_assignee(session, grid_id, building, now)
    ticket = Ticket(
        number=next_number(session, community.code, now, policy.tz), community_id=community.id, grid_id=grid_id,
        category=category, urgency=urgency, status="reported", building=building, unit=unit, room=room,
        summary=mask_text(summary)[:200], description=masked, contact_phone=phones[0] if phones else None,
        reporter_platform=platform, reporter_id=user_id, reporter_name=request.name, chat_id=request.chat_id,
        household_id=household_id, assignee=assignee, reporters=1,
        response_due=policy.due(now, limits.response, urgency),     # working time for a normal ticket
        handover_due=policy.due(now, limits.handover, urgency) if assignee is not None else None,
        created_at=now, updated_at=now,
    )
    ticket.reporter_links.append(TicketReporter(platform=platform, user_id=user_id, name=request.name,
                                                chat_id=request.chat_id, text=masked, joined_at=now))
    session.add(ticket)
    session.flush()
    detail = {"category": category, "urgency": urgency}
    if request.via != "text":
        detail["via"] = request.via
    session.add(TicketEvent(ticket=ticket, at=now, actor=actor, action="report", from_status=None,
                            to_status="reported", note=masked, detail=detail))
    audit.record(session, actor, "ticket.report", "ticket", ticket.number,
                 {"category": category, "urgency": urgency, "grid_id": grid_id}, at=now)
    if assignee is not None:
        event(session, ticket, "system", "assign", now, member_id=assignee.id, detail={"why": why})
        notify(session, [assignee], new_ticket_text(ticket, policy, limits), now, platform, ticket,
               urgent=urgency == URGENT)
    result = ReportResult(ticket, "created")
    if urgency == URGENT:
        result.urgent_alerts = urgent_alerts(session, ticket, now, platform)
    return result


def as_written(original: str, part: str) -> str:
    """`part` of the normalised (NFKC, spaces collapsed) text, cut from the original as the resident wrote it
    ("了，晚上" not "了,晚上"). Falls back to `part` when it cannot be located."""
    pieces, where = [], []
    for i, ch in enumerate(original or ""):
        norm = unicodedata.normalize("NFKC", ch)
        pieces.append(norm)
        where.extend([i] * len(norm))
    flat = "".join(pieces)
    pattern = "".join(r"\s+" if ch.isspace() else re.escape(ch) for ch in part.strip())
    found = re.search(pattern, flat) if pattern else None
    if found is None:
        return part
    return original[where[found.start()]:where[found.end() - 1] + 1]


def _home(session: Session, household_ids: Iterable[int], grid_id: int | None) -> Household | None:
    ids = list(household_ids)
    if not ids:
        return None
    query = select(Household).where(Household.id.in_(ids))
    if grid_id is not None:
        query = query.where(Household.grid_id == grid_id)
    return session.scalars(query.order_by(Household.id)).first()


def _place(session: Session, grid_id: int, building: str | None, unit: str | None,
           room: str | None) -> tuple[int, int | None]:
    """(grid, household) for the place named. Someone in one grid's group may report a building of another
    grid of the community: it goes to that grid. One query: the building's households across the community."""
    if building is None:
        return grid_id, None
    community = select(Grid.community_id).where(Grid.id == grid_id).scalar_subquery()
    rows = session.execute(select(Household.id, Household.grid_id, Household.unit, Household.room)
                           .join(Grid, Grid.id == Household.grid_id)
                           .where(Grid.community_id == community, Household.building == building)).all()
    grids = {r.grid_id for r in rows}
    if grid_id not in grids and len(grids) == 1:
        grid_id = grids.pop()
    household = next((r.id for r in rows if r.grid_id == grid_id and r.unit == (unit or "") and r.room == room),
                     None) if room else None
    return grid_id, household


def make_urgent(session: Session, policy: Policy, ticket: Ticket, actor: str, now: datetime) -> None:
    ticket.urgency = URGENT
    limits = policy.limits(ticket.category, URGENT)
    if ticket.status in ("reported", "accepted"):
        ticket.response_due = min(ticket.response_due, now + limits.response)
    if ticket.resolution_due is not None:
        ticket.resolution_due = min(ticket.resolution_due, now + limits.resolution)
    event(session, ticket, actor, "urgent", now)


def forward_unclear(session: Session, policy: Policy, *, grid_id: int | None, household_ids: Iterable[int],
                    user_id: str, name: str | None, text: str,
                    chat_id: str | None, now: datetime, platform: str) -> Member | None:
    """Show a resident's message the bot could not classify to the grid's on-duty member, privately.

    A human reads what the rules could not place: missing an urgent message is the worst error. No ticket is
    opened; the member can answer or open one. Returns the member told (None if the grid has nobody on duty).
    """
    if grid_id is None:  # a 1:1 message: the grid of the household this person speaks for
        home = _home(session, household_ids, None)
        grid_id = home.grid_id if home is not None else None
    if grid_id is None:
        return None
    member, _why = pick_assignee(session, grid_id, None, now)
    if member is None:
        return None
    grid = session.get_one(Grid, grid_id)
    where = t("tickets.unclear.in_group", grid=grid.name) if chat_id else t("tickets.unclear.in_private")
    body = t("tickets.unclear.member", who=name or t("tickets.unclear.someone"), where=where,
             text=mask_text(text)[:300])
    # the safety net is never held by quiet hours: what the rules could not place may be the urgent one
    write(session, [Reply(body, to_user=member.userid, urgent=True)], now, platform)
    audit.record(session, "system", "message.forwarded_unclear", "member", member.id,
                 {"grid": grid.code, "chat_id": chat_id, "from": user_id}, at=now)
    return member


def report_complaint(session: Session, policy: Policy, request: NewRequest, about: Member, now: datetime,
                     deciders: list[Member], to: str) -> Ticket:
    """监督评议: a ticket about a member for the people who decide it (services.complaints.deciders). It is never
    joined to another and never shown to that member until decided; its reporter hears privately."""
    grid_id = request.grid_id
    if grid_id is None:
        home = _home(session, request.household_ids, None)
        if home is None:
            raise TicketError("need_grid")
        grid_id = home.grid_id
    grid, community = session.execute(select(Grid, Community).join(Community, Community.id == Grid.community_id)
                                      .where(Grid.id == grid_id)).one()
    text = (request.text or "").strip()
    masked = mask_text(text)
    actor = request.actor or f"resident:{request.user_id}"
    limits = policy.limits("other", NORMAL)
    assignee = deciders[0] if deciders else None
    ticket = Ticket(
        number=next_number(session, community.code, now, policy.tz), community_id=community.id, grid_id=grid_id,
        category="other", urgency=NORMAL, status="reported", building=request.building, unit=request.unit,
        room=request.room, summary=masked[:200], description=masked,
        contact_phone=request.phones[0] if request.phones else None, reporter_platform=request.platform,
        reporter_id=request.user_id, reporter_name=request.name, chat_id=request.chat_id, assignee=assignee,
        reporters=1, response_due=policy.due(now, limits.response, NORMAL),     # working time, like any normal ticket
        created_at=now, updated_at=now, kind="complaint", about_member_id=about.id, concealed=True)
    # chat_id None: what happens next is told to the resident privately, not in the group the member is in
    ticket.reporter_links.append(TicketReporter(platform=request.platform, user_id=request.user_id,
                                                name=request.name, chat_id=None, text=masked, joined_at=now))
    session.add(ticket)
    session.flush()
    session.add(TicketEvent(ticket=ticket, at=now, actor=actor, action="complaint", from_status=None,
                            to_status="reported", note=masked, detail={"about": about.userid, "to": to}))
    audit.record(session, actor, "ticket.complaint", "ticket", ticket.number,
                 {"about": about.userid, "grid_id": grid_id, "to": to}, at=now)
    body = t("tickets.complaint.notify", number=ticket.number, about=about.name,
             grid=grid.name, summary=ticket.summary, phone_line=phone_line(ticket))
    notify(session, deciders, body, now, request.platform, ticket)
    return ticket
