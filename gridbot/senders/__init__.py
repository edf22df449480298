"""Senders deliver outbox rows to a platform. One interface, several real implementations.

A sender's send(row) either returns normally (delivered), raises TemporaryFailure (try again later),
PermanentFailure (no point retrying: the row goes dead at once) or ConfigurationFault (the whole channel is
misconfigured: the row waits with the others until an operator fixes it). Any other exception counts as temporary.

Two optional attributes tell pipeline/delivery.py more: `fault_channels` (the channels a send depends on: a row
waits while any of them is stopped) and `dedupe_window` (a timedelta when the platform itself drops a re-send of
the same content within it: then a send of unknown outcome is sent again instead of waiting for a person).
"""
from __future__ import annotations

from typing import Protocol

from ..models import OutboxMessage


class TemporaryFailure(Exception):
    """Try again later (network error, 5xx, rate limit)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """The message can never be delivered as it is (bad target, rejected content)."""


class ConfigurationFault(PermanentFailure):
    """The channel itself is misconfigured (a wrong secret, an IP the platform does not trust, an API the app may
    not call): every row sent by it would fail the same way. The channel stops, one alert is raised, and its rows
    wait, not dead, until a probe succeeds (pipeline/delivery.py). A PermanentFailure to callers that know no
    better (a roster sync, a CLI check)."""

    def __init__(self, channel: str, errcode: int, fix: str, ip: str | None = None):
        super().__init__(f"{channel}: errcode {errcode}: {fix}")
        self.channel = channel
        self.errcode = errcode
        self.fix = fix
        self.ip = ip


class Held(Exception):
    """The row may not be sent now and waits (status 'held') for an event that releases it; the sender has already
    marked it (微信客服: the resident must write again, senders/kf.py). No try is counted."""


class Sender(Protocol):
    def send(self, row: OutboxMessage) -> None: ...
