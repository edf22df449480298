"""The SLA sweep (every few minutes): resume held tickets whose day has come, hand unaccepted tickets to the A/B
partner, remind and escalate overdue ones (sla.overdue decides what is overdue) one step of the ticket's ladder
(sla.yaml escalation.ladder) at a time, expire unanswered ratings.

Normal tickets count working time (steps too) and nothing about them goes up the ladder in quiet hours: a corridor
light reported at 22:30 wakes nobody. Urgent tickets run on the wall clock, day and night."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Ticket
from ...schedule.config import quiet_hold
from ...texts import t
from .actions import raise_to
from .assignment import available, ladder_targets, partners, pick_assignee
from .hold import release
from .lifecycle import LADDER, event
from .names import category_name, fmt_time, phone_line
from .notifications import notify
from .sla import URGENT, Policy, overdue, overdue_clause


@dataclass
class SweepResult:
    handovers: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    escalations: list[tuple[str, int]] = field(default_factory=list)
    ratings_expired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"handovers": self.handovers, "resumed": self.resumed, "reminders": self.reminders,
                "escalations": [{"number": n, "level": lvl} for n, lvl in self.escalations],
                "ratings_expired": self.ratings_expired}


def sweep(session: Session, policy: Policy, now: datetime) -> SweepResult:
    """Hand unaccepted tickets to the A/B partner, remind and escalate overdue ones, expire unanswered ratings.

    Idempotent: a second run at the same `now` changes nothing (levels and due times are stored on the ticket).
    """
    result = SweepResult()
    for ticket in session.scalars(select(Ticket).where(Ticket.held_since.is_not(None), Ticket.held_until.is_not(None),
                                                       Ticket.held_until <= now).order_by(Ticket.id)):
        release(session, policy, ticket, "system", now, None)
        result.resumed.append(ticket.number)
    quiet = quiet_hold(now, urgent=False, timezone=str(policy.tz)) is not None
    for ticket in session.scalars(select(Ticket).where(Ticket.status == "reported", Ticket.handover_due.is_not(None),
                                                       Ticket.held_since.is_(None),
                                                       Ticket.handover_due <= now).order_by(Ticket.id)):
        if quiet and ticket.urgency != URGENT:
            continue                       # the partner hears in the morning, not at 01:00
        if _handover(session, policy, ticket, now):
            result.handovers.append(ticket.number)
    for ticket in session.scalars(select(Ticket).where(overdue_clause(now)).order_by(Ticket.id)):
        late = overdue(ticket, now)
        if late is None:
            continue
        if quiet and ticket.urgency != URGENT:
            continue                       # a normal ticket's reminders and escalations wait for the morning
        kind, since = late
        partner_due = _partner_due(ticket) if kind == "response" else None
        if partner_due is not None and now < partner_due:   # the A/B partner's fresh deadline is still ahead
            continue
        if ticket.escalated_for not in (kind, "manual"):   # a new phase starts from the bottom of the ladder
            ticket.escalation_level, ticket.escalated_for = 0, kind
        ladder = _reaching(session, ticket, [LADDER.index(role) for role in policy.ladder_for(ticket)], now)
        ahead = [lvl for lvl in ladder if lvl > ticket.escalation_level]
        if not ahead:
            continue                       # the top of this ticket's ladder: the plans stop here
        # One step per sweep, at most one per `step` of the ticket's clock: a reminder first, then the ladder.
        step = policy.step(ticket.urgency)
        wanted = ahead[0]
        position = ladder.index(wanted)    # how many steps of this ladder came before
        last = _last_step_at(ticket) if ticket.escalation_level else None
        if (policy.elapsed(since, now, ticket.urgency) < position * step
                or (last is not None and policy.elapsed(last, now, ticket.urgency) < step)):
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


def _reaching(session: Session, ticket: Ticket, levels: list[int], now: datetime) -> list[int]:
    """The ladder's steps that tell someone new. A step whose people are only the assignee or were told at a step
    below (no partner at work, a grid leader holding the ticket) is skipped: nobody hears the same ticket twice, and
    nobody is told it went "up" to themselves. The reminder and the top (社区吹哨: it names the responsible unit, even
    to a secretary standing in for the chief grid leader) always count."""
    told = {ticket.assignee_id}
    out = []
    for level in levels:
        people = {m.id for m in ladder_targets(session, ticket, level, now)}
        if level in (1, LADDER.index("chief")) or people - told:
            out.append(level)
        told |= people
    return out


def _last_step_at(ticket: Ticket) -> datetime | None:
    """When the ticket last went up a step (a reminder or an escalation, by the sweep or a member)."""
    times = [ev.at for ev in ticket.events if ev.action in ("remind", "escalate", "resume")]
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
    due = max(_aware(ticket.response_due),
              policy.due(now, policy.limits(ticket.category, ticket.urgency).handover, ticket.urgency))
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
               now, None, ticket, urgent=ticket.urgency == URGENT)     # every update of an urgent ticket: at once
    return True
