"""Who is responsible: the grid's worker for the building, their A/B partner when away, the grid leaders, and who
hears at each level of the escalation ladder. Who is on leave and how a member is named: services.people."""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Grid, Member, MemberGrid, Ticket
from ..people import on_leave
from .sla import LADDER_ROLES

WORKER_ROLES = frozenset({"member", "part_time"})   # who handles tickets; 楼栋长/小组长 are contacts, not handlers


def available(session: Session, member: Member | None, now: datetime) -> bool:
    """On duty: active, not marked off duty, and not on leave (请假)."""
    return (member is not None and member.active and member.on_duty
            and on_leave(session, member.id, now) is None)


def _covers(buildings: str | None, building: str | None) -> int:
    """2 = the link names this building, 1 = the link covers the whole grid, 0 = another building."""
    if not buildings:
        return 1
    names = {b.strip() for b in re.split(r"[,，、\s]+", buildings) if b.strip()}
    if building is None:
        return 0
    return 2 if building in names else 0


def responsible_members(session: Session, grid_id: int, building: str | None) -> list[Member]:
    """The grid's workers for this building, most specific first, full-time before part-time."""
    rows = session.execute(
        select(Member, MemberGrid.buildings).join(MemberGrid, MemberGrid.member_id == Member.id)
        .where(MemberGrid.grid_id == grid_id, Member.active.is_(True)).order_by(Member.id)
    ).all()
    ranked = []
    for member, buildings in rows:
        if not (set(member.roles or []) & WORKER_ROLES):
            continue
        cover = _covers(buildings, building)
        if cover == 0 and building is not None:
            continue
        ranked.append((-cover, 0 if "member" in (member.roles or []) else 1, member.id, member))
    return [m for *_, m in sorted(ranked, key=lambda r: r[:3])]


def pick_assignee(session: Session, grid_id: int, building: str | None, now: datetime,
                  exclude: Iterable[int] = ()) -> tuple[Member | None, str]:
    """The on-duty responsible member, else their A/B partner, else a grid leader. Returns (member, why)."""
    excluded = set(exclude)
    for member in responsible_members(session, grid_id, building):
        if member.id in excluded:
            continue
        if available(session, member, now):
            return member, "primary"
        for partner in partners(session, member, now):
            if partner.id not in excluded and available(session, partner, now):
                return partner, "partner"
    for leader in grid_leaders(session, grid_id):
        if leader.id not in excluded and available(session, leader, now):
            return leader, "leader"
    return None, "none"


def partners(session: Session, member: Member, now: datetime) -> list[Member]:
    """Who covers for this member: the partner named on a current leave, then the standing A/B partner."""
    out = []
    leave = on_leave(session, member.id, now)
    if leave is not None and leave.partner_id:
        out.append(session.get(Member, leave.partner_id))
    if member.partner_id:
        out.append(session.get(Member, member.partner_id))
    return [m for m in out if m is not None]


def grid_leaders(session: Session, grid_id: int, now: datetime | None = None) -> list[Member]:
    """Grid leaders linked to the grid, else to the nearest grid above it. A leader marked 在岗=否 in the roster is
    nobody to count on: they hear nothing and the grid above's leaders stand in (issue 18). With `now`, a leader on
    leave (请假) at that time is skipped the same way: an escalation must reach someone who can act today."""
    grid = session.get(Grid, grid_id)
    while grid is not None:
        leaders = [m for m in session.scalars(
            select(Member).join(MemberGrid, MemberGrid.member_id == Member.id)
            .where(MemberGrid.grid_id == grid.id, Member.active.is_(True), Member.on_duty.is_(True))
            .order_by(Member.id))
            if "grid_leader" in (m.roles or []) and (now is None or on_leave(session, m.id, now) is None)]
        if leaders:
            return leaders
        grid = session.get(Grid, grid.parent_id) if grid.parent_id else None
    return []


def community_role(session: Session, community_id: int, role: str) -> list[Member]:
    """The community's members with this role who are at work (active, not marked 在岗=否)."""
    return [m for m in session.scalars(select(Member).where(Member.community_id == community_id,
                                                             Member.active.is_(True), Member.on_duty.is_(True))
                                       .order_by(Member.id))
            if role in (m.roles or [])]


def ladder_targets(session: Session, ticket: Ticket, level: int, now: datetime | None = None) -> list[Member]:
    """Who is told at each level (sla.LADDER_ROLES): 1 the assignee (or who covers for them), 2 their A/B partner
    at work (else nobody), 3 the grid leaders, 4 the secretary, 5 the chief grid leader (else the secretary).
    A complaint not yet decided never reaches the member it is about (监督评议)."""
    people = _ladder(session, ticket, level, now)
    if ticket.concealed and ticket.about_member_id is not None:
        people = [m for m in people if m.id != ticket.about_member_id]
    return people


def _at_work(session: Session, member: Member | None, now: datetime | None) -> bool:
    """At work now (`available`); without a time, at least active and not marked 在岗=否."""
    if now is not None:
        return available(session, member, now)
    return member is not None and member.active and member.on_duty


def _ladder(session: Session, ticket: Ticket, level: int, now: datetime | None) -> list[Member]:
    role = LADDER_ROLES[min(max(level, 1), len(LADDER_ROLES) - 1)]
    if role == "grid_member":
        if _at_work(session, ticket.assignee, now):
            return [ticket.assignee] if ticket.assignee else []
        # nobody, or someone away (在岗=否, on leave): who covers for them hears the reminder, else the grid leader
        covering = [m for m in (partners(session, ticket.assignee, now or ticket.updated_at)
                                if ticket.assignee else []) if _at_work(session, m, now)]
        return covering or grid_leaders(session, ticket.grid_id, now)
    if role == "partner":     # none at work (on leave, 在岗=否): nobody; the sweep skips the step
        return [m for m in partners(session, ticket.assignee, now or ticket.updated_at)
                if m.id != ticket.assignee_id and _at_work(session, m, now)] \
            if ticket.assignee else []
    if role == "grid_leader":
        return grid_leaders(session, ticket.grid_id, now)
    if role == "secretary":
        return community_role(session, ticket.community_id, "secretary")
    return (community_role(session, ticket.community_id, "chief")
            or community_role(session, ticket.community_id, "secretary"))
