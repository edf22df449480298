"""Receive: make a callback durable under its dedupe key and queue its processing, in milliseconds.

Every signed callback is accepted (the web answers 200; WECOM.md "Timing and retries"): its row says whether it is
processed. A group message from a chat bound to no grid is stored 'unbound' (not processed) unless it is the bind
command, and the chat is recorded so a leader can bind it; a type the bot does not handle arrives 'skipped', a payload
it cannot read 'unreadable' (gridbot/adapters). A new message is stored and queued; a known one (WeCom's retry, newly
signed) is queued again (processing is idempotent); the same signed request again (a retry may carry the same
signature, timestamp and nonce) is neither stored nor queued again: the seen-signature store spares that job.
Stored is what the platform needs: when Redis fails after the row is written the message stays 'received' and the
recovery sweep (dispatch.requeue_received) queues it.

Three strategies, one picked per app by bootstrap.build: the intake's group commit (intake.py: PostgreSQL + RQ,
production), RQReceiver (RQ without the intake: job and replay key in one Redis trip), LocalReceiver (in-process
jobs: the embedded demo, the CLI, tests).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..adapters import Arrival
from ..app import Gridbot
from ..clock import Clock
from ..messages import Inbound
from ..models import GridChat, UnknownChat
from ..models.org import chat_kind_of_route
from ..queue import JobQueue, RQQueue
from ..router import normalize
from .store import NOT_PROCESSED, UNBOUND, row_values, storable, store

log = logging.getLogger(__name__)

BIND_COMMAND = "绑定本群"
BOUND_CACHE_SECONDS = 60.0


class Unavailable(Exception):
    """The database refused or did not answer in time (the web keeps the callback in the journal, answers 200)."""


class SeenSignatures:
    """Signatures already accepted, kept for the timestamp window, so a byte-identical repeat (answered 200 like any
    delivery) does not queue the message again. In Redis (shared by all workers) when there is one; otherwise in
    this process."""

    def __init__(self, redis: Redis | None, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}wecom:seen:"
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str, ttl: int) -> bool:
        if self.redis is not None:
            return bool(self.redis.set(self.prefix + key, b"1", nx=True, ex=ttl))
        now = time.monotonic()
        with self._lock:
            if len(self._local) > 100_000:
                self._local = {k: v for k, v in self._local.items() if v > now}
            if self._local.get(key, 0) > now:
                return False
            self._local[key] = now + ttl
            return True


class BoundChats:
    """Which group chats are bound to a grid. A bound chat is remembered for BOUND_CACHE_SECONDS (bindings are
    added, rarely removed), saving a query per message; an unbound one is recorded (UnknownChat) for the console
    by note()."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.engine = engine
        self.sessions = sessions
        self.clock = clock
        self._until: dict[str, float] = {}   # chat id -> until when this process takes it as bound without asking

    def known_or_binding(self, inbound: Inbound) -> bool:
        """True if the group is bound to a grid, or the message is the bind command."""
        now = time.monotonic()
        chat_id = inbound.chat_id or ""
        if self._until.get(chat_id, 0) > now:
            return True
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            bound = conn.execute(select(GridChat.id).where(GridChat.chat_id == inbound.chat_id)).first()
        if bound is not None:
            if len(self._until) > 50_000:
                self._until.clear()
            self._until[chat_id] = now + BOUND_CACHE_SECONDS
            return True
        return normalize(inbound.text).lstrip("/").startswith(BIND_COMMAND)

    def note(self, inbound: Inbound) -> None:
        """Record (or count) a message from a chat bound to no grid, so a leader can bind it."""
        try:
            with self.sessions() as session, session.begin():
                note_unknown_chat(session, inbound, self.clock.now())
        except IntegrityError:  # two first messages at once: the other request recorded it
            pass


def note_unknown_chat(session: Session, inbound: Inbound, now: datetime) -> None:
    """Record (or count) a message from a chat bound to no grid, so a leader can bind it."""
    known = session.scalar(select(UnknownChat).where(UnknownChat.chat_id == inbound.chat_id))
    if known is None:
        session.add(UnknownChat(platform=inbound.platform, chat_id=inbound.chat_id, first_seen=now, last_seen=now,
                                kind=chat_kind_of_route(inbound.platform, inbound.chat_type)))
        log.warning("message from unbound chat %s (platform %s): a grid leader can bind it with 绑定本群",
                    inbound.chat_id, inbound.platform)
    else:
        known.last_seen = now
        known.messages += 1


class Receiver:
    """The part every strategy shares: the bound-chat check before anything is stored."""

    def __init__(self, bound: BoundChats) -> None:
        self.bound = bound

    def receive(self, arrival: Arrival) -> None:
        """Store the arrival (once, whatever its status) and queue it if it is to be processed. A message from an
        unbound group is stored 'unbound' and its chat recorded the first time the message is seen."""
        inbound = arrival.inbound
        unbound = (arrival.status == "received" and inbound.is_group and storable(inbound.chat_id)
                   and not self.bound.known_or_binding(inbound))   # an unstorable chat id: stored 'unreadable'
        if unbound:
            arrival.status, arrival.error = UNBOUND, "chat bound to no grid: a leader binds it with " + BIND_COMMAND
        if self.keep(arrival) and unbound:
            self.bound.note(inbound)

    def keep(self, arrival: Arrival) -> bool:
        """Store the arrival and queue it if its row is to be processed; True if the row is new."""
        raise NotImplementedError

    def recover(self) -> None:
        return None

    def pending(self) -> int | None:
        return None

    def close(self) -> None:
        return None


class LocalReceiver(Receiver):
    """Store one row, then remember the signature and queue processing (in-process jobs)."""

    def __init__(self, bound: BoundChats, engine: Engine, clock: Clock, queue: JobQueue,
                 seen: SeenSignatures) -> None:
        super().__init__(bound)
        self.engine = engine
        self.clock = clock
        self.queue = queue
        self.seen = seen

    def keep(self, arrival: Arrival) -> bool:
        values = row_values(arrival.inbound, arrival.raw, self.clock.now(), arrival.status, arrival.error)
        inbound_id, created = store(self.engine, values)
        if values["status"] in NOT_PROCESSED:   # stored for the record and the dedupe; nothing to process
            return created
        try:
            if created:
                self.queue_new(inbound_id, arrival)
            else:
                self.queue_again(inbound_id, arrival)
        except RedisError as exc:
            # Stored is what WeCom needs: answer 200. The row stays 'received' and the recovery sweep
            # (gridbot.jobs.requeue_received_inbound, `gridbot inbound requeue`) queues it once Redis is back.
            log.error("wecom: Redis unavailable, inbound %s stored and left for the recovery sweep: %s", inbound_id,
                      type(exc).__name__)
        return created

    def queue_new(self, inbound_id: int, arrival: Arrival) -> None:
        self.seen.first_time(arrival.replay_key, arrival.replay_ttl)
        self.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound", job_id=f"inbound-{inbound_id}")

    def queue_again(self, inbound_id: int, arrival: Arrival) -> None:
        if not self.seen.first_time(arrival.replay_key, arrival.replay_ttl):
            return   # this very request was accepted and queued before: answered 200, nothing more to do
        # WeCom's retry: maybe our first answer failed after storing but before enqueuing. Enqueue again;
        # processing is idempotent (a message already done is skipped), so nothing is processed twice.
        self.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound",
                           job_id=f"inbound-{inbound_id}-again")


class RQReceiver(LocalReceiver):
    """RQ without the intake (SQLite, or a setup that turns it off): a new message's job and its replay key go to
    Redis in one pipeline."""

    def __init__(self, bound: BoundChats, engine: Engine, clock: Clock, queue: RQQueue,
                 seen: SeenSignatures) -> None:
        super().__init__(bound, engine, clock, queue, seen)
        self.rq = queue

    def queue_new(self, inbound_id: int, arrival: Arrival) -> None:
        pipe = self.rq.redis.pipeline()
        self.rq.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound", job_id=f"inbound-{inbound_id}",
                        pipeline=pipe)
        pipe.set(self.seen.prefix + arrival.replay_key, b"1", ex=arrival.replay_ttl)
        pipe.execute()


def store_and_queue(app: Gridbot, inbound: Inbound, raw: str | None = None) -> tuple[int, bool]:
    """Store, then queue processing for a new message (no replay guard: for callers that are not a callback)."""
    inbound_id, created = store(app.engine, row_values(inbound, raw, app.clock.now()))
    if created:
        app.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound", job_id=f"inbound-{inbound_id}")
    return inbound_id, created
