"""The SLA sweep (every few minutes): hand unaccepted tickets to the A/B partner, remind and escalate overdue ones
(sla.overdue decides what is overdue), expire unanswered ratings."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Ticket
from ...texts import t
from .actions import raise_to
from .assignment import available, partners, pick_assignee
from .lifecycle import TOP_LEVEL, event
from .names import category_name, fmt_time, phone_line
from .notifications import notify
from .sla import URGENT, Policy, overdue, overdue_clause


@dataclass
class SweepResult:
    handovers: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    escalations: list[tuple[str, int]] = field(default_factory=list)
    ratings_expired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"handovers": self.handovers, "reminders": self.reminders,
                "escalations": [{"number": n, "level": lvl} for n, lvl in self.escalations],
                "ratings_expired": self.ratings_expired}


def sweep(session: Session, policy: Policy, now: datetime) -> SweepResult:
    """Hand unaccepted tickets to the A/B partner, remind and escalate overdue ones, expire unanswered ratings.

    Idempotent: a second run at the same `now` changes nothing (levels and due times are stored on the ticket).
    """
    result = SweepResult()
    for ticket in session.scalars(select(Ticket).where(Ticket.status == "reported", Ticket.handover_due.is_not(None),
                                                       Ticket.handover_due <= now).order_by(Ticket.id)):
        if _handover(session, policy, ticket, now):
            result.handovers.append(ticket.number)
    for ticket in session.scalars(select(Ticket).where(overdue_clause(now)).order_by(Ticket.id)):
        late = overdue(ticket, now)
        if late is None:
            continue
        kind, since = late
        partner_due = _partner_due(ticket) if kind == "response" else None
        if partner_due is not None and now < partner_due:   # the A/B partner's fresh deadline is still ahead
            continue
        if ticket.escalated_for not in (kind, "manual"):   # a new phase starts from the bottom of the ladder
            ticket.escalation_level, ticket.escalated_for = 0, kind
        if ticket.escalation_level >= TOP_LEVEL:
            continue
        # One step per sweep, at most one per `step`: a reminder first, then the ladder, even after a late sweep.
        step = policy.step(ticket.urgency)
        wanted = ticket.escalation_level + 1
        last = _last_step_at(ticket) if ticket.escalation_level else None
        if now < since + (wanted - 1) * step or (last is not None and now < last + step):
            continue
        raise_to(session, policy, ticket, wanted, "system", now, None, kind=kind)
        if wanted == 1:
            result.reminders.append(ticket.number)
        else:
            result.escalations.append((ticket.number, wanted))
    for ticket in session.scalars(select(Ticket).where(Ticket.rating.is_(None), Ticket.rating_due.is_not(None),
                                                       Ticket.rating_due <= now,
                                                       Ticket.status.in_(("resolved", "verified", "closed")))
                                  .order_by(Ticket.id)):
        ticket.rating = "none"
        to = "rated" if ticket.status == "closed" else None
        event(session, ticket, "system", "rating_expired", now, to=to, detail={"rating": "none"})
        result.ratings_expired.append(ticket.number)
    return result


def _last_step_at(ticket: Ticket) -> datetime | None:
    """When the ticket last went up a step (a reminder or an escalation, by the sweep or a member)."""
    times = [ev.at for ev in ticket.events if ev.action in ("remind", "escalate")]
    return _aware(max(times)) if times else None


def _partner_due(ticket: Ticket) -> datetime | None:
    """The response deadline the A/B partner was given on the latest handover (None if never handed over)."""
    for ev in reversed(ticket.events):
        if ev.action == "handover" and (ev.detail or {}).get("due"):
            return datetime.fromisoformat(ev.detail["due"])
    return None


def _aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _handover(session: Session, policy: Policy, ticket: Ticket, now: datetime) -> bool:
    """AB岗: the assignee did not accept in time (or is away); the partner takes it."""
    ticket.handover_due = None
    current = ticket.assignee
    candidates = partners(session, current, now) if current is not None else []
    target = next((m for m in candidates if m.id != ticket.assignee_id and available(session, m, now)), None)
    if target is None:
        target, _ = pick_assignee(session, ticket.grid_id, ticket.building, now,
                                  exclude=[ticket.assignee_id] if ticket.assignee_id else [])
    if target is None or target.id == ticket.assignee_id:
        return False
    # The partner gets a deadline in the future: the original one if it is still ahead, else a fresh handover
    # window from now (the ticket's response_due stays, so the response metric is not softened).
    due = max(_aware(ticket.response_due), now + policy.limits(ticket.category, ticket.urgency).handover)
    event(session, ticket, "system", "handover", now, member_id=target.id,
          detail={"from": current.userid if current else None, "to": target.userid, "due": due.isoformat()})
    ticket.assignee = target
    notify(session, [target], t("tickets.notify.handover", number=ticket.number,
                                category=category_name(ticket.category), place=ticket.place or "-",
                                summary=ticket.summary, previous=current.name if current else "-",
                                due=fmt_time(due, policy.tz), phone_line=phone_line(ticket)),
           now, None, ticket, urgent=ticket.urgency == URGENT)
    if current is not None:
        notify(session, [current], t("tickets.notify.handed_over", number=ticket.number, to=target.name),
               now, None, ticket)
    return True
