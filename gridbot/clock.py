"""Time. Everything asks a Clock, so tests can move time (overdue tickets, reminders, digests)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class Clock:
    """The real clock: aware UTC datetimes."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that stands still until told to move. For tests and `--now` options."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kw: float) -> datetime:
        self._at += delta if delta is not None else timedelta(**kw)
        return self._at


def local(dt: datetime, tz: str | ZoneInfo) -> datetime:
    """The same instant in people's time zone (for display)."""
    return dt.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
