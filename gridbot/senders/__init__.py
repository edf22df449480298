"""Senders deliver outbox rows to a platform. One interface, several real implementations.

A sender's send(row) either returns normally (delivered), raises TemporaryFailure (try again later)
or PermanentFailure (no point retrying: the row goes dead at once). Any other exception counts as temporary.
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


class Sender(Protocol):
    def send(self, row: OutboxMessage) -> None: ...
