"""The state machine: which status may follow which, what a command passes through, and which actions a person
may take on a ticket now (one function, `allowed_actions`, asked by the chat's services, the console and the API).

Every change of a ticket goes through `event` (the timeline row and the audit record).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ...models import Ticket, TicketEvent
from ...models.tickets import ACTIVE_STATUSES, OPEN_STATUSES
from ...privacy import mask_text
from ...texts import t
from .. import audit
from ..people import Speaker
from .errors import TicketError
from .names import status_name
from .sla import LADDER_ROLES

# Which status may follow which. Anything else is refused with a reply naming the possible next steps.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "reported": ("accepted", "rejected", "duplicate"),
    "accepted": ("dispatched", "rejected", "duplicate"),
    "dispatched": ("in_progress", "resolved"),
    "in_progress": ("resolved",),
    "resolved": ("verified", "in_progress"),
    "verified": ("closed", "in_progress"),
    "closed": ("rated", "in_progress"),
    "rated": ("in_progress",),
    "rejected": (),
    "duplicate": (),
}
# The member command that leads to each status (for "what can I do next" hints).
COMMAND_FOR = {"accepted": "受理", "rejected": "不予立案", "duplicate": "重复", "dispatched": "派遣",
               "in_progress": "处置", "resolved": "办结", "verified": "核查", "closed": "结案", "rated": "评价"}
# What a command passes through on its way (派遣 an unaccepted ticket accepts it first; 处置 also dispatches to
# the speaker). With TRANSITIONS this is the whole table: next_steps and the commands both follow it.
VIA: dict[str, tuple[str, ...]] = {"dispatched": ("accepted",), "in_progress": ("accepted", "dispatched")}
FORWARD = ("accepted", "dispatched", "in_progress", "resolved", "verified", "closed", "rated", "rejected",
           "duplicate")                                       # the order hints are listed in
FINISHED = ("resolved", "verified", "closed", "rated")        # 重开 brings these back; 处置 does not
LADDER = LADDER_ROLES        # index = escalation level; each urgency's ladder (sla.yaml) is a part of it, in order
TOP_LEVEL = len(LADDER) - 1

# The life-cycle actions of the console and the API (each is a chat command too), in the order buttons show:
# action -> (the status it leads to, or None for actions that keep or reset it; what the form needs:
# "note" | "note_optional" | "to" | "to_note" | "").
ACTIONS: dict[str, tuple[str | None, str]] = {
    "accept": ("accepted", ""),
    "reject": ("rejected", "note"),
    "not_request": ("rejected", "note_optional"),     # 不是工单: withdrawn, the message asked for nothing
    "dispatch": ("dispatched", "to"),
    "start": ("in_progress", ""),
    "resolve": ("resolved", "note"),
    "verify": ("verified", "note_optional"),
    "verify_failed": (None, "note"),
    "close": ("closed", ""),
    "reopen": (None, "note"),
    "transfer": (None, "to_note"),
    "escalate": (None, "note_optional"),
    "hold": (None, "note"),
    "resume": (None, ""),
}


def path_to(status: str, to: str) -> tuple[str, ...] | None:
    """The statuses a command aiming at `to` passes through from `status` (VIA, then TRANSITIONS); None if none."""
    chain = VIA.get(to, ())
    for i in range(len(chain) + 1):
        steps, current = chain[i:] + (to,), status
        for step in steps:
            if step not in TRANSITIONS.get(current, ()):
                break
            current = step
        else:
            return steps
    return None


def next_steps(ticket: Any) -> str:
    """The member commands that work now, derived from TRANSITIONS and VIA (so a hint never names a refused one)."""
    words = [COMMAND_FOR[s] for s in FORWARD if s in COMMAND_FOR and path_to(ticket.status, s) is not None]
    if ticket.status in FINISHED:
        words = [w for w in words if w != "处置"] + ["重开"]
    return "、".join(dict.fromkeys(words)) or t("tickets.no_next")


def illegal(ticket: Any, command: str) -> TicketError:
    return TicketError("illegal", number=ticket.number, status=status_name(ticket.status), action=command,
                       next=next_steps(ticket))


def refusal(action: str, ticket: Any) -> TicketError | None:
    """Why `action` cannot be taken on the ticket now (None: it can). The one rule behind `allowed_actions`
    and behind each service action's own check, so a button is shown exactly when the service takes it."""
    status = ticket.status
    if action == "transfer":
        return None if status in OPEN_STATUSES else TicketError("not_open", number=ticket.number,
                                                                 status=status_name(status))
    if action == "escalate":
        if status not in ACTIVE_STATUSES:
            return TicketError("not_open", number=ticket.number, status=status_name(status))
        if max(ticket.escalation_level or 0, 1) + 1 > TOP_LEVEL:   # the ladder (LADDER) ends at its top level
            return TicketError("top_of_ladder", number=ticket.number)
        return None
    if action == "hold":
        if status not in OPEN_STATUSES:
            return TicketError("not_open", number=ticket.number, status=status_name(status))
        return TicketError("already_held", number=ticket.number) if ticket.held_since is not None else None
    if action == "resume":
        return None if ticket.held_since is not None else TicketError("not_held", number=ticket.number)
    if action == "reopen":
        return None if status in FINISHED else illegal(ticket, "重开")
    if action == "verify_failed":
        return None if status == "resolved" else illegal(ticket, "核查")
    if action == "start" and status in FINISHED:   # a finished ticket comes back through 重开 (its clocks reset)
        return illegal(ticket, "处置")
    if action == "resolve" and status == "accepted" and ticket.urgency == "urgent":
        return None      # an urgent case handled on the spot: 办结 passes through 派遣 to the speaker (issue 18)
    to = ACTIONS[action][0]
    assert to is not None
    return None if path_to(status, to) is not None else illegal(ticket, COMMAND_FOR[to])


def check(action: str, ticket: Any) -> None:
    """Raise the refusal for `action` on the ticket, if any (each service action calls this first)."""
    err = refusal(action, ticket)
    if err is not None:
        raise err


def allowed_actions(speaker: Speaker | None, ticket: Any) -> list[str]:
    """The actions this person may take on this ticket now: the console's buttons, the API's "actions", and what
    the chat's commands accept. A member acts within their scope; anyone else takes none."""
    if speaker is None or not speaker.is_member or not speaker.can_act_in(ticket.grid_id):
        return []
    return [a for a in ACTIONS if refusal(a, ticket) is None
            and not (a == "escalate" and not may_pass_secretary(speaker, ticket))]


def may_pass_secretary(speaker: Speaker, ticket: Any) -> bool:
    """Whether 升级 may go on from the secretary's level to the chief grid leader: for an urgent or repeated ticket
    (reopened twice: sla.yaml repeated_after's default), or when the secretary (or the chief) decides."""
    if (ticket.escalation_level or 0) < LADDER.index("secretary"):
        return True
    return (ticket.urgency == "urgent" or (ticket.reopen_count or 0) >= 2
            or bool(set(speaker.roles) & {"secretary", "chief"}))


# -- events ------------------------------------------------------------------------------------------------
def event(session: Session, ticket: Ticket, actor: str, action: str, now: datetime, *, to: str | None = None,
          note: str | None = None, member_id: int | None = None, detail: dict[str, Any] | None = None) -> TicketEvent:
    """A step of the ticket's timeline (and its audit record); `to` changes the status."""
    before = ticket.status
    after = to or before
    ev = TicketEvent(ticket=ticket, at=now, actor=actor, action=action, from_status=before, to_status=after,
                     member_id=member_id, note=mask_text(note) if note else None, detail=detail or {})
    session.add(ev)
    ticket.status = after
    ticket.updated_at = now
    audit.record(session, actor, f"ticket.{action}", "ticket", ticket.number,
                 {"from": before, "to": after, "note": note or "", **(detail or {})}, at=now)
    return ev


def move(session: Session, ticket: Ticket, to: str, actor: str, action: str, now: datetime,
         **kw: Any) -> TicketEvent:
    """A change of status TRANSITIONS allows; anything else is refused naming the next steps."""
    if to not in TRANSITIONS.get(ticket.status, ()):
        raise illegal(ticket, COMMAND_FOR.get(to, to))
    return event(session, ticket, actor, action, now, to=to, **kw)
