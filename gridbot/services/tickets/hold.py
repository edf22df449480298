"""挂起 / 恢复: a ticket waiting on a third party (the gas company, the property company) stops its clock.

Design: a flag, not a status. The status stays what it was (受理, 派遣, 处置 …: the state machine and every list
keep working); `Ticket.held_since` marks the hold, `held_until` the day it resumes by itself (the sweep does it),
`hold_reason` the reason; the "hold" / "resume" events record who and when. While held the ticket is overdue for
nothing (sla.overdue), so nobody is reminded or escalated; on 恢复 every due time still ahead of the ticket moves on
by the clock time it waited (working time for a normal ticket), so the wait never counts against 按期办结.

    挂起 3 等燃气公司                 held until 恢复 3
    挂起 3 等燃气公司上门 到12月10日    … or until 12月10日 (the first working time of that day)
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from sqlalchemy.orm import Session

from ...clock import local
from ...models import Ticket
from ...periods import parse_until
from ...privacy import group_text, mask_text
from ...texts import t
from ..people import Speaker
from .errors import TicketError
from .lifecycle import check, event
from .names import fmt_time
from .notifications import notify, tell_reporters
from .queries import find_for_member
from .sla import URGENT, Policy

_DUE_COLUMNS = ("response_due", "resolution_due", "verify_due", "handover_due")
_UNTIL_START = re.compile(r"(?:到|至|直到)")


def parse_hold(text: str, today: date) -> tuple[str, date | None]:
    """"等燃气公司 到12月10日" -> ("等燃气公司", 2026-12-10). The date words are periods.parse_until's (the
    leave's "到下周三", "到12月10日", "3天"), found at the start or after the reason."""
    text = (text or "").strip()
    found = parse_until(text, today)
    if found is not None and text[:1] in "到至直" and found[0] >= today:
        return found[1].strip(" ，,。"), found[0]
    for m in _UNTIL_START.finditer(text):
        found = parse_until(text[m.start():], today)
        if found is not None:
            reason = (text[:m.start()].strip(" ，,。") + " " + found[1]).strip(" ，,。")
            return reason, found[0]
    return text, None


def suspend(session: Session, policy: Policy, speaker: Speaker, ref: str, text: str, now: datetime,
            platform: str | None = None) -> Ticket:
    """挂起 N 原因 [到日期]: the clock stops; the reporters are told why (and until when, if given)."""
    ticket, member = find_for_member(session, speaker, ref)
    check("hold", ticket)
    reason, until_day = parse_hold(text, local(now, policy.tz).date())
    if not reason:
        raise TicketError("reason_needed", command="挂起")
    until = None
    if until_day is not None:
        if until_day <= local(now, policy.tz).date():
            raise TicketError("hold_past", day=f"{until_day.month}月{until_day.day}日")
        until = policy.cal.next_open(datetime.combine(until_day, time(0), policy.tz))
    reason = mask_text(reason)[:200]
    ticket.held_since, ticket.held_until, ticket.hold_reason = now, until, reason
    event(session, ticket, speaker.actor, "hold", now, note=reason, member_id=member.id,
          detail={"until": until.isoformat() if until else None})
    when = fmt_time(until, policy.tz) if until else None
    # the full reason stays in the ticket; what the group reads names the building only (issue 18, point 13)
    tell_reporters(session, ticket, "tickets.tell.held_until" if when else "tickets.tell.held", now, platform,
                   reason=group_text(reason), until=when or "")
    return ticket


def resume(session: Session, policy: Policy, speaker: Speaker, ref: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """恢复 N: the clock runs again; its due times move on by the time held."""
    ticket, member = find_for_member(session, speaker, ref)
    check("resume", ticket)
    release(session, policy, ticket, speaker.actor, now, platform, member_id=member.id)
    return ticket


def release(session: Session, policy: Policy, ticket: Ticket, actor: str, now: datetime, platform: str | None,
            member_id: int | None = None) -> None:
    """End the hold (恢复, or the sweep on `held_until`): shift the due times, record it, tell the reporters (and
    the assignee when the sweep does it)."""
    since = ticket.held_since
    assert since is not None
    held = policy.elapsed(since, now, ticket.urgency)
    for column in _DUE_COLUMNS:
        due = getattr(ticket, column)
        if due is not None:
            setattr(ticket, column, policy.due(due, held, ticket.urgency) if held else due)
    ticket.held_since = ticket.held_until = None
    event(session, ticket, actor, "resume", now, member_id=member_id,
          detail={"held_minutes": int(held.total_seconds() // 60), "reason": ticket.hold_reason})
    tell_reporters(session, ticket, "tickets.tell.resumed", now, platform)
    if actor == "system" and ticket.assignee is not None:
        due = ticket.resolution_due if ticket.status != "reported" else ticket.response_due
        notify(session, [ticket.assignee], t_resumed(ticket, policy, due, now), now, platform, ticket,
               urgent=ticket.urgency == URGENT)


def t_resumed(ticket: Ticket, policy: Policy, due: datetime | None, now: datetime) -> str:
    late = due is not None and (due if due.tzinfo else due.replace(tzinfo=UTC)) <= now   # SQLite: naive UTC
    return t("tickets.notify.resumed_late" if late else "tickets.notify.resumed", number=ticket.number,
             reason=ticket.hold_reason or "-",
             due=fmt_time(due, policy.tz) if due else "-")
