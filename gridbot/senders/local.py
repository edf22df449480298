"""Senders that stay on this machine: the console and simulator (the outbox row is the record), and tests."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..models import OutboxMessage


class LocalSender:
    """Delivers by doing nothing more: the console, `gridbot say` and the simulator read the outbox rows.

    Used for the console platform, and for WeCom channels when WeCom is not configured (the embedded demo).
    """

    def send(self, row: OutboxMessage) -> None:
        return None


@dataclass
class Sent:
    platform: str
    target_type: str
    target: str
    content: dict[str, Any]


class RecordingSender:
    """Keeps what it was asked to send, in order (tests)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._lock = threading.Lock()

    def send(self, row: OutboxMessage) -> None:
        with self._lock:
            self.sent.append(Sent(row.platform, row.target_type, row.target, dict(row.content)))

    def texts(self) -> list[str]:
        return [s.content.get("text", "") for s in self.sent]
