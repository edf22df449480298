"""The application's state, typed: what bootstrap.build() wires and every part of gridbot is handed.

Everything an app holds is a field here, built once by the composition root (bootstrap.build); nothing is added
to an app at run time. Caches tied to an app (callback crypto, the WeCom client, the receiver's replay store and
bound-chat cache) are objects it owns. This module imports no part of the message's path (gridbot/pipeline): the
pipeline imports it, so the receive strategy is named by the Receiver protocol below.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from redis import Redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .adapters import Arrival
from .adapters.wecom_crypto import CallbackCrypto
from .archive.keys import PrivateKeys
from .archive.port import Archive
from .clock import Clock
from .config import Settings
from .models import OutboxMessage
from .queue import JobQueue
from .router import Router
from .senders import Sender
from .senders.local import LocalSender
from .services.tickets.sla import Policy
from .wecom.client import WeComClient


class Receiver(Protocol):
    """How this process makes a callback durable (gridbot/pipeline/receive.py): bootstrap picks one per app."""

    def receive(self, arrival: Arrival) -> None:
        """Store the message under its dedupe key (whatever its status) and queue it if it is to be processed;
        raises only when storing failed (pipeline.receive.Unavailable, a database or Redis error)."""

    def recover(self) -> None:
        """The recovery sweep's guard: wake whatever may hold stored messages back (a lost dispatcher)."""

    def pending(self) -> int | None:
        """Messages stored and waiting to become jobs (None when this receiver keeps no such list)."""

    def close(self) -> None:
        """Let a write in progress finish and let go of connections."""


class Journal(Protocol):
    """Where a callback is kept when the database cannot take it (gridbot/pipeline/journal.py)."""

    def keep(self, route: str, arrival: Arrival) -> None:
        """Append and fsync the callback; raises OSError when it cannot be kept."""

    def backlog(self) -> int:
        """Callbacks kept and not yet stored in the database."""

    def start(self) -> None:
        """Drain, in the background, what a previous process left."""


@dataclass
class Gridbot:
    settings: Settings
    engine: Engine
    session: sessionmaker[Session]
    queue: JobQueue
    router: Router
    clock: Clock
    receiver: Receiver
    wecom_client: WeComClient
    redis: Redis | None = None
    callback_crypto: dict[str, CallbackCrypto] = field(default_factory=dict)   # route -> crypto; absent: off
    senders: dict[str, Sender] = field(default_factory=dict)
    default_sender: Sender = field(default_factory=LocalSender)
    sender_resolver: Callable[[OutboxMessage], Sender] | None = None   # WeCom picks by target too (senders/wecom)
    on_close: list[Callable[[], None]] = field(default_factory=list)
    ticket_policy: Policy | None = None    # config/sla.yaml, read once by bootstrap (services.tickets.policy_for)
    journal: Journal | None = None         # callbacks kept while the database is down (pipeline/journal.py)
    archive: Archive | None = None         # the chat archive (gridbot/archive): WeCom's SDK or the embedded one
    archive_keys: PrivateKeys | None = None
    archive_problem: str | None = None     # why the archive is configured but not read (SDK missing, key file)

    def sender_for(self, row: OutboxMessage) -> Sender:
        """The sender for an outbox row: by platform, unless a resolver (WeCom) decides by target too."""
        if self.sender_resolver is not None:
            return self.sender_resolver(row)
        return self.senders.get(row.platform, self.default_sender)

    def close(self) -> None:
        self.receiver.close()
        for stop in self.on_close:
            stop()
        self.engine.dispose()
