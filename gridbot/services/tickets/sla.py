"""Time limits (config/sla.yaml) and the one rule of what is overdue.

`overdue` (one ticket) and `overdue_clause` (SQL) are written from the same table, OVERDUE_LIMITS: the console's
list and dashboard, the API's ?status=overdue, the digest, the metrics and the sweep all use them.

Which clock a limit runs on (`Policy.due`, `Policy.elapsed`): urgent tickets on the wall clock; normal tickets in
working time (gridbot/workcal.py, config/calendar.yaml: office hours on working days, China's holidays and 调休),
so "路灯 1 个工作日" means one working day and a corridor light reported at 22:30 is not overdue before morning.

受理 is the response: a ticket accepted in time has met its response limit; from then on the resolution limit
runs (set at 受理, or at 派遣 if that comes first). A held ticket (挂起, Ticket.held_since) is overdue for nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from ...config import DEFAULT_CONFIG_DIR, ConfigError, load_yaml
from ...models import Ticket
from ...workcal import WorkCalendar, calendar_for

URGENT = "urgent"
NORMAL = "normal"

# Every role of any ladder, in the order of authority; Ticket.escalation_level is an index into this tuple, so a
# level means the same person in every ladder (1 the assignee's reminder … 5 the chief grid leader and the units).
LADDER_ROLES = ("", "grid_member", "partner", "grid_leader", "secretary", "chief")
# The plans: a normal ticket stops at the secretary; the chief grid leader and the responsible units (社区吹哨) are
# for urgent tickets, repeated ones, and what the secretary escalates by command. sla.yaml may override both.
DEFAULT_LADDERS = {URGENT: ("grid_member", "grid_leader", "secretary", "chief"),
                   NORMAL: ("grid_member", "partner", "grid_leader", "secretary")}

# Which limit applies in which statuses: (kind, statuses, the Ticket column holding the deadline).
OVERDUE_LIMITS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("response", ("reported",), "response_due"),                       # 受理 meets the response limit
    ("resolution", ("accepted", "dispatched", "in_progress"), "resolution_due"),
    ("verify", ("resolved",), "verify_due"),
)


def overdue(ticket: Any, now: datetime) -> tuple[str, datetime] | None:
    """Which limit the ticket has missed and since when: response, resolution or verify (None: on time).
    `ticket` needs status and the three due times (the digest passes the status the timeline had then).
    A held ticket (挂起) is overdue for nothing while it waits."""
    if getattr(ticket, "held_since", None) is not None:
        return None
    for kind, statuses, column in OVERDUE_LIMITS:
        if ticket.status in statuses:
            due = getattr(ticket, column)
            if due is not None and now >= due:
                return kind, due
            return None
    return None


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """The same rule as `overdue`, as a WHERE clause over Ticket."""
    return and_(Ticket.held_since.is_(None),
                or_(*(and_(Ticket.status.in_(statuses), getattr(Ticket, column) <= now)
                      for _kind, statuses, column in OVERDUE_LIMITS)))


@dataclass(frozen=True)
class Limits:
    response: timedelta
    resolution: timedelta
    verify: timedelta
    handover: timedelta


@dataclass(frozen=True)
class Policy:
    """Time limits and windows from config/sla.yaml, and the time zone people see."""

    data: dict[str, Any]
    tz: ZoneInfo
    calendar: WorkCalendar | None = None      # None: the working calendar of the packaged config

    @classmethod
    def load(cls, config_dir: Path | None, tz: str | ZoneInfo) -> Policy:
        data = load_yaml(Path(config_dir or DEFAULT_CONFIG_DIR), "sla.yaml") or {}
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        policy = cls(data=data, tz=zone, calendar=calendar_for(config_dir, zone))
        for urgency in (URGENT, NORMAL):      # fail at start-up, not on the first ticket
            if not all(k in (data.get("defaults") or {}).get(urgency, {}) for k in Limits.__dataclass_fields__):
                raise ConfigError(f"sla.yaml: defaults.{urgency} 须含 response/resolution/verify/handover 分钟数")
            for role in policy.ladder(urgency):
                if role not in LADDER_ROLES:
                    raise ConfigError(f"sla.yaml: escalation.ladder.{urgency} 的 {role!r} 须为 "
                                      f"{' / '.join(LADDER_ROLES[1:])} 之一")
        return policy

    # -- the clock: working time for normal tickets, the wall clock for urgent ones ---------------------------------
    @property
    def cal(self) -> WorkCalendar:
        return self.calendar or calendar_for(None, self.tz)

    def working(self, urgency: str) -> bool:
        """Whether this urgency's limits count working time (normal) or wall-clock time (urgent)."""
        return urgency != URGENT and bool((self.data.get("clock") or {}).get(urgency, "working") == "working")

    def due(self, start: datetime, amount: timedelta, urgency: str) -> datetime:
        """When `amount` of the urgency's clock has run from `start`."""
        return self.cal.add_working(start, amount) if self.working(urgency) else start + amount

    def elapsed(self, start: datetime, end: datetime, urgency: str) -> timedelta:
        """How much of the urgency's clock ran in [start, end)."""
        return self.cal.working_between(start, end) if self.working(urgency) else max(end - start, timedelta(0))

    # -- the escalation ladder ---------------------------------------------------------------------------------------
    def ladder(self, urgency: str) -> tuple[str, ...]:
        """The roles an overdue ticket of this urgency is raised to, in order (sla.yaml escalation.ladder)."""
        raw = (self.data.get("escalation") or {}).get("ladder")
        # an old config has one list for every ticket
        found = (raw.get(urgency) or raw.get(NORMAL)) if isinstance(raw, dict) else raw
        return tuple(found or DEFAULT_LADDERS[urgency])

    def ladder_for(self, ticket: Any) -> tuple[str, ...]:
        """The ticket's ladder: the urgent one for an urgent ticket, and for a normal one that keeps coming back
        (reopened `repeated_after` times: the plans' 反复发生); the normal one, ending at the secretary, else."""
        if ticket.urgency == URGENT or (ticket.reopen_count or 0) >= self.repeated_after():
            return self.ladder(URGENT)
        return self.ladder(NORMAL)

    def repeated_after(self) -> int:
        """A normal ticket reopened this many times (or reported again this often) takes the urgent ladder."""
        return int((self.data.get("escalation") or {}).get("repeated_after", 2))

    def limits(self, category: str, urgency: str) -> Limits:
        base = dict((self.data.get("defaults") or {}).get(urgency) or {})
        base.update(((self.data.get("categories") or {}).get(category) or {}).get(urgency) or {})
        return Limits(**{k: timedelta(minutes=float(base[k])) for k in Limits.__dataclass_fields__})

    def step(self, urgency: str) -> timedelta:
        return timedelta(minutes=float(((self.data.get("escalation") or {}).get("step") or {}).get(urgency, 120)))

    def unit_for(self, category: str) -> str | None:
        return ((self.data.get("escalation") or {}).get("responsible_units") or {}).get(category)

    def hours(self, key: str, default: float) -> timedelta:
        return timedelta(hours=float(self.data.get(key, default)))

    @property
    def rating_window(self) -> timedelta:
        return timedelta(days=float(self.data.get("rating_days", 3)))

    @property
    def generic_words(self) -> frozenset[str]:
        return frozenset(str(w) for w in ((self.data.get("same_problem") or {}).get("generic_words") or []))

    def emergency_number(self, category: str) -> str:
        numbers = self.data.get("emergency_numbers") or {}
        return str(numbers.get(category) or numbers.get("default") or "119/110/120")

    def unclear_settings(self) -> dict[str, Any]:
        """When a resident's message nobody could place is shown to the grid's member (unclear_forward)."""
        raw = self.data.get("unclear_forward") or {}
        return {"enabled": bool(raw.get("enabled", True)), "max_chatter": float(raw.get("max_chatter", 0)),
                "min_chars": int(raw.get("min_chars", 12))}


def policy_for(app: Any) -> Policy:
    """The app's policy: read once by bootstrap (app.ticket_policy), or from the app's config for an app object
    built without one (a test's stand-in)."""
    return app.ticket_policy or Policy.load(app.settings.config_dir, app.settings.timezone)
