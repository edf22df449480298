"""Tickets: the closed loop from a resident's message to a rating (GB/T 30428, DOMAIN.md "A ticket's life").

Every function takes a Session and plain values and never commits. Every change writes a TicketEvent (the
ticket's timeline) and an audit record; notifications that are not answers to the current message are written
to the outbox in the same transaction. Refusals raise TicketError (a Refusal: key + values); the reply to the
person who acted is composed by the caller (handlers/tickets.py, the console, the API).

    lifecycle      the state machine, which actions a person may take now, the timeline event
    sla            config/sla.yaml (Policy, Limits) and what is overdue
    names          the words people see for codes; the category list (config/categories.yaml)
    reporting      a request (NewRequest) becomes a ticket, or joins one
    duplicates     the same problem reported again
    assignment     who gets it: the grid's worker, the A/B partner, grid leaders, the ladder
    actions        受理 … 重开, the ladder, ratings
    notifications  what goes to the outbox for whom
    queries        finding and listing tickets
    sweep          the SLA sweep
"""
from __future__ import annotations

from ..people import find_member, on_leave
from . import hold
from .actions import (
                      RATING_WORDS,
                      RatingWords,
                      accept,
                      awaiting_rating,
                      awaiting_ratings,
                      close,
                      dispatch,
                      escalate,
                      mark_duplicate,
                      not_a_request,
                      parse_rating,
                      raise_to,
                      rate,
                      reject,
                      reopen,
                      resolve,
                      run_action,
                      shown_action,
                      start,
                      transfer,
                      verify,
                      verify_failed_note,
)
from .assignment import (
                      WORKER_ROLES,
                      available,
                      community_role,
                      grid_leaders,
                      ladder_targets,
                      pick_assignee,
                      responsible_members,
)
from .duplicates import continued_ticket, problem_words
from .errors import TicketError
from .lifecycle import (
                      ACTIONS,
                      COMMAND_FOR,
                      FINISHED,
                      FORWARD,
                      LADDER,
                      TOP_LEVEL,
                      TRANSITIONS,
                      VIA,
                      allowed_actions,
                      next_steps,
                      path_to,
                      refusal,
)
from .names import (
                      actor_name,
                      building_text,
                      category_codes,
                      category_name,
                      fmt_time,
                      minutes_text,
                      phone_line,
                      rating_name,
                      status_name,
)
from .queries import (
                      PSEUDO_STATUSES,
                      URGENCIES,
                      OutOfScope,
                      assigned_to,
                      concealed_from,
                      find_ticket,
                      hidden_from,
                      list_tickets,
                      load_by_number,
                      member_names,
                      ticket_query,
                      tickets_of,
                      timeline,
)
from .reporting import NewRequest, ReportResult, as_written, forward_unclear, next_number, report, report_complaint
from .sla import NORMAL, URGENT, Limits, Policy, overdue, overdue_clause, policy_for
from .sweep import SweepResult, sweep

__all__ = [
    "ACTIONS", "COMMAND_FOR", "hold", "FINISHED", "FORWARD", "LADDER", "NORMAL", "PSEUDO_STATUSES", "RATING_WORDS",
    "TOP_LEVEL", "TRANSITIONS", "URGENCIES", "URGENT", "VIA", "WORKER_ROLES",
    "Limits", "NewRequest", "OutOfScope", "Policy", "ReportResult", "SweepResult", "TicketError",
    "accept", "actor_name", "allowed_actions", "as_written", "assigned_to", "available", "awaiting_rating",
    "building_text", "category_codes", "category_name", "close", "community_role", "continued_ticket", "dispatch",
    "escalate",
    "find_member", "find_ticket", "fmt_time", "forward_unclear", "grid_leaders", "ladder_targets", "list_tickets",
    "load_by_number", "mark_duplicate", "member_names", "minutes_text", "next_number", "next_steps", "on_leave",
    "not_a_request", "overdue", "overdue_clause", "parse_rating", "path_to", "phone_line", "pick_assignee",
    "policy_for", "problem_words", "raise_to", "rate", "rating_name", "refusal", "reject", "reopen", "report",
    "resolve", "responsible_members", "run_action", "shown_action", "start", "status_name", "sweep", "ticket_query",
    "tickets_of", "timeline", "transfer", "verify", "verify_failed_note",
    "concealed_from", "hidden_from", "RatingWords", "awaiting_ratings", "report_complaint",
]
