"""Ticket metrics from the timeline (TicketEvent): the "三率" officials are judged by, and more.

For the tickets reported in [since, until) — per community, grid or member (the current assignee):
- response rate 响应率: accepted (立案, the reporter told) by the response limit, of genuine tickets that were
  accepted or whose limit had passed by `until` (a fresh ticket still inside its limit is not judged yet); in a
  customer group the reporter is told only when the member posts the prepared reply (ToolbarItem), so a ticket whose
  group reply, prepared by the limit, was posted after it (or not yet, past it) did not respond on time;
- resolution rate 解决率: resolved and not sent back since (by a 不满意 or a failed check), of genuine tickets
  resolved or past their resolution limit by `until`;
- satisfaction rate 满意率: rated 满意 or 基本满意, of tickets whose rating is settled (an answer, or none in time);
- on-time closure rate 按期结案率: closed with the last resolution within its limit, of closed tickets;
- reopen rate 返工率: reopened at least once (不满意, 重开, 核查不通过), of tickets resolved at least once.
Rejected (不予立案) and duplicate (重复) tickets are counted but left out of every rate. A rate with an empty
denominator is None, not 0 or 1.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Grid, Member, Ticket, TicketEvent, ToolbarItem

SOLVED_STATUSES = ("resolved", "verified", "closed", "rated")
# 立案: a member's 受理, or their answer in a customer group (services/group_chat.member_replied, issue 16 point 4)
ACCEPT_ACTIONS = ("accept", "group_reply")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _group_reply_late(ticket: Ticket, replies: list[tuple[datetime, datetime | None]], until: datetime
                      ) -> bool | None:
    """Whether a customer group's prepared reply (created, posted) kept the ticket from responding in time: True
    late, None not known yet (unposted, the limit not passed by `until`), False on time or none."""
    due = ticket.response_due
    mine = [(created, posted) for created, posted in replies if created <= due]
    if any(posted is not None and posted > due for _, posted in mine):
        return True
    if any(posted is None for _, posted in mine):
        return True if due <= until else None
    return False


def _one(ticket: Ticket, events: list[TicketEvent], until: datetime,
         group_replies: list[tuple[datetime, datetime | None]] | None = None) -> dict[str, bool]:
    """The facts about one ticket that the rates count. A ticket still inside its limit at `until` is not judged
    yet: it counts in a rate's denominator only once it is done or its limit has passed."""
    late_reply = _group_reply_late(ticket, group_replies or [], until)
    excluded = any(ev.to_status in ("rejected", "duplicate") for ev in events)
    accepts = [ev.at for ev in events if ev.action in ACCEPT_ACTIONS]
    resolves = [ev.at for ev in events if ev.action == "resolve"]
    last_status = next((ev.to_status for ev in reversed(events) if ev.to_status != ev.from_status),
                       ticket.status)
    last_resolve = resolves[-1] if resolves else None
    ratings = [ev for ev in events if ev.action in ("rate", "rating_expired")]
    settled = None
    if last_resolve is not None:
        after = [ev for ev in ratings if ev.at >= last_resolve]
        if after:
            settled = (after[0].detail or {}).get("rating")
    closed = any(ev.action == "close" for ev in events) and last_status in ("closed", "rated")
    resolution_due = ticket.resolution_due or ticket.response_due
    return {
        "excluded": excluded,
        "response_judged": (bool(accepts) and late_reply is not None) or ticket.response_due <= until,
        "resolution_judged": bool(resolves) or resolution_due <= until,
        "responded_on_time": bool(accepts) and accepts[0] <= ticket.response_due and not late_reply,
        "solved": bool(resolves) and last_status in SOLVED_STATUSES,
        "ever_resolved": bool(resolves),
        "rating_settled": settled is not None,
        "satisfied": settled in ("satisfied", "basic"),
        "closed": closed,
        "closed_on_time": closed and last_resolve is not None and ticket.resolution_due is not None
                          and last_resolve <= ticket.resolution_due,
        "reopened": any(ev.action in ("reopen", "verify_failed") for ev in events),
        "urgent": ticket.urgency == "urgent",
    }


def summarize(facts: Iterable[dict[str, bool]]) -> dict[str, Any]:
    facts = list(facts)
    genuine = [f for f in facts if not f["excluded"]]
    response_judged = [f for f in genuine if f["response_judged"]]
    resolution_judged = [f for f in genuine if f["resolution_judged"]]
    resolved_once = [f for f in genuine if f["ever_resolved"]]
    settled = [f for f in genuine if f["rating_settled"]]
    closed = [f for f in genuine if f["closed"]]
    return {
        "tickets": len(facts),
        "genuine": len(genuine),
        "excluded": len(facts) - len(genuine),
        "urgent": sum(f["urgent"] for f in genuine),
        "responded_on_time": sum(f["responded_on_time"] for f in genuine),
        "solved": sum(f["solved"] for f in genuine),
        "rated": len(settled),
        "satisfied": sum(f["satisfied"] for f in settled),
        "closed": len(closed),
        "closed_on_time": sum(f["closed_on_time"] for f in closed),
        "reopened": sum(f["reopened"] for f in resolved_once),
        "response_rate": _rate(sum(f["responded_on_time"] for f in response_judged), len(response_judged)),
        "resolution_rate": _rate(sum(f["solved"] for f in resolution_judged), len(resolution_judged)),
        "satisfaction_rate": _rate(sum(f["satisfied"] for f in settled), len(settled)),
        "on_time_closure_rate": _rate(sum(f["closed_on_time"] for f in closed), len(closed)),
        "reopen_rate": _rate(sum(f["reopened"] for f in resolved_once), len(resolved_once)),
    }


def _facts(session: Session, since: datetime, until: datetime, community_id: int | None = None,
           grid_ids: Iterable[int] | None = None, member_id: int | None = None) -> list[tuple[Ticket, dict]]:
    query = select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
    if community_id is not None:
        query = query.where(Ticket.community_id == community_id)
    if grid_ids is not None:
        query = query.where(Ticket.grid_id.in_(list(grid_ids)))
    if member_id is not None:
        query = query.where(Ticket.assignee_id == member_id)
    tickets = list(session.scalars(query.order_by(Ticket.id)))
    events: dict[int, list[TicketEvent]] = defaultdict(list)
    ids = [tk.id for tk in tickets]
    for chunk in range(0, len(ids), 1000):
        for ev in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ids[chunk:chunk + 1000]))
                                  .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)):
            events[ev.ticket_id].append(ev)
    replies: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for chunk in range(0, len(ids), 1000):
        for ticket_id, created, posted in session.execute(
                select(ToolbarItem.ticket_id, ToolbarItem.created_at, ToolbarItem.posted_at)
                .where(ToolbarItem.ticket_id.in_(ids[chunk:chunk + 1000]))):
            if ticket_id is not None:
                replies[ticket_id].append((created, posted))
    return [(tk, _one(tk, events[tk.id], until, replies.get(tk.id))) for tk in tickets]


def ticket_metrics(session: Session, *, since: datetime, until: datetime, community_id: int | None = None,
                   grid_id: int | None = None, member_id: int | None = None) -> dict[str, Any]:
    """The rates for one scope over one period (all tickets of the period when no scope is given)."""
    rows = _facts(session, since, until, community_id, [grid_id] if grid_id is not None else None, member_id)
    out = summarize(f for _, f in rows)
    out.update(since=since.isoformat(), until=until.isoformat())
    return out


def metrics_by(session: Session, by: str, *, since: datetime, until: datetime,
               community_id: int | None = None) -> list[dict[str, Any]]:
    """One row per grid (by="grid") or per assignee (by="member"), plus the scope's code/userid and name."""
    if by not in ("grid", "member"):
        raise ValueError("by must be 'grid' or 'member'")
    groups: dict[int | None, list[dict]] = defaultdict(list)
    for tk, facts in _facts(session, since, until, community_id):
        groups[tk.grid_id if by == "grid" else tk.assignee_id].append(facts)
    rows = []
    for key, facts in groups.items():
        row = summarize(facts)
        if by == "grid":
            grid = session.get(Grid, key)
            row.update(grid=grid.code if grid else None, name=grid.name if grid else None)
        else:
            member = session.get(Member, key) if key is not None else None
            row.update(member=member.userid if member else None, name=member.name if member else None)
        rows.append(row)
    return sorted(rows, key=lambda r: str(r.get("grid") or r.get("member") or ""))
