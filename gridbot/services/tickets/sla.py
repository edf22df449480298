"""Time limits (config/sla.yaml) and the one rule of what is overdue.

`overdue` (one ticket) and `overdue_clause` (SQL) are written from the same table, OVERDUE_LIMITS: the console's
list and dashboard, the API's ?status=overdue, the digest, the metrics and the sweep all use them.
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

URGENT = "urgent"
NORMAL = "normal"

# Which limit applies in which statuses: (kind, statuses, the Ticket column holding the deadline).
OVERDUE_LIMITS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("response", ("reported", "accepted"), "response_due"),
    ("resolution", ("dispatched", "in_progress"), "resolution_due"),
    ("verify", ("resolved",), "verify_due"),
)


def overdue(ticket: Any, now: datetime) -> tuple[str, datetime] | None:
    """Which limit the ticket has missed and since when: response, resolution or verify (None: on time).
    `ticket` needs status and the three due times (the digest passes the status the timeline had then)."""
    for kind, statuses, column in OVERDUE_LIMITS:
        if ticket.status in statuses:
            due = getattr(ticket, column)
            if due is not None and now >= due:
                return kind, due
            return None
    return None


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """The same rule as `overdue`, as a WHERE clause over Ticket."""
    return or_(*(and_(Ticket.status.in_(statuses), getattr(Ticket, column) <= now)
                 for _kind, statuses, column in OVERDUE_LIMITS))


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

    @classmethod
    def load(cls, config_dir: Path | None, tz: str | ZoneInfo) -> Policy:
        data = load_yaml(Path(config_dir or DEFAULT_CONFIG_DIR), "sla.yaml") or {}
        policy = cls(data=data, tz=ZoneInfo(tz) if isinstance(tz, str) else tz)
        for urgency in (URGENT, NORMAL):      # fail at start-up, not on the first ticket
            if not all(k in (data.get("defaults") or {}).get(urgency, {}) for k in Limits.__dataclass_fields__):
                raise ConfigError(f"sla.yaml: defaults.{urgency} 须含 response/resolution/verify/handover 分钟数")
        return policy

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
