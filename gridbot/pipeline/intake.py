"""Group commit for the webhook: the callbacks one web process has in hand share one INSERT and one Redis trip.

Why: under load each callback's own pool checkout, INSERT and RQ job cost the web process more CPU than
verifying and decrypting it (bench/README.md, "Webhook ingestion"). Here the callbacks a process has in hand are
stored with one multi-row `INSERT .. ON CONFLICT DO NOTHING RETURNING` on a connection the process keeps open;
then, with one Redis script call, their replay keys are set and their ids pushed onto the pending list. A request
answers 200 once its own row is committed (a WeCom retry of a stored message also waits for the replay check):
nothing is acknowledged that is not stored.

Who writes: the request thread that finds the connection free (the leader) stores its own callback and every one
that queued while the previous batch was being written, then hands the connection to the first request still
waiting. Alone, a message is a batch of one written by its own thread, with no thread switch; under load batches
grow by themselves, with no waiting on a timer. (A writer thread did this until 2026-12-03: every callback then
cost two thread wake-ups, and the leader's way took 15% less CPU per request in bench/webhook.)

The RQ jobs are built on a worker, not here: a push that finds no dispatcher queued queues one
(`jobs.dispatch_inbound`), which processes the first DISPATCH_CHUNK pending messages itself and queues the rest as
`process_inbound_batch` jobs of that size, so a burst is shared by all the workers. A busy web process thus builds
no RQ job at all.

Used when the messages go to PostgreSQL and the jobs to RQ (production); otherwise the app receives with one of
receive.py's simpler strategies (one row and one job per callback), fast enough for one machine.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import URL

from ..adapters import Arrival
from ..clock import Clock
from ..queue import JobQueue
from .dispatch import DISPATCH_FLAG_SECONDS, dispatch_flag_key, pending_key, queue_dispatcher
from .receive import BoundChats, Receiver, Unavailable
from .store import NOT_PROCESSED, insert_params, insert_sql, quarantine, row_values

log = logging.getLogger(__name__)

MAX_BATCH = 64          # rows per INSERT; a process rarely has more requests in hand than its threads
# A stalled database costs a request at most its wait plus one INSERT (when it is made leader late) or connect,
# then it is journaled: 1.5 + 1.5 s, under nginx's 4 s and WeCom's 5 s (tests/integration/test_journal.py, stall).
WAIT_SECONDS = 1.5      # a request waits this long for its batch, then is journaled

# outcomes: stored now / stored before, queued again / the same signed request again, not queued again
NEW, RETRY, REPLAY = "new", "retry", "replay"

CONNECT_TIMEOUT_SECONDS = 2   # libpq's smallest
STATEMENT_TIMEOUT_MS = 1500   # a batch INSERT takes milliseconds; one this slow is a stalled database
REDIS_REST_SECONDS = 5
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


class IntakeUnavailable(Unavailable):
    """The database refused or did not answer in time: the webhook keeps the callback in the journal (200)."""


class _Done:
    """A one-shot signal, cheaper than threading.Event (one C lock, no Condition): set once, by the leader."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def wait(self, timeout: float) -> bool:
        return self._set or self._lock.acquire(timeout=timeout)

    def is_set(self) -> bool:
        return self._set


@dataclass
class _Pending:
    values: dict[str, Any]
    seen_key: str
    ttl: int
    deadline: float = 0.0          # monotonic time after which the request has given up: not worth storing
    params: tuple = ()             # the row as the INSERT's parameters, made in the request thread
    done: _Done = field(default_factory=_Done)
    inbound_id: int | None = None
    outcome: str | None = None
    error: BaseException | None = None
    promoted: bool = False         # woken to lead the next batch rather than with its answer

    def __post_init__(self) -> None:
        if not self.params:
            self.params = insert_params(self.values)


def _forget_parent(intake: weakref.ref[Intake]) -> None:
    """os.register_at_fork hook; a weak reference, so an intake of a closed app is not kept alive by it."""
    me = intake()
    if me is not None:
        me._forget_parent()


class Intake(Receiver):
    """One per web process. `submit` is called from request threads; whichever of them finds the connection free
    writes, for itself and for everyone who queued meanwhile (a leader), the others wait for it (followers)."""

    def __init__(self, bound: BoundChats, database_url: URL, redis: Redis, prefix: str, queue: JobQueue,
                 clock: Clock, max_batch: int = MAX_BATCH, wait_seconds: float = WAIT_SECONDS):
        super().__init__(bound)
        self.database_url = database_url
        self.redis = redis
        self.prefix = prefix
        self.queue = queue
        self.clock = clock
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._waiting: deque[_Pending] = deque()
        self._writing = False   # a leader holds the connection; whoever arrives now waits to be taken along
        self._cur: psycopg.Cursor | None = None   # kept on the intake's own connection (cursor.connection)
        self._push: Any = None   # the registered _PUSH_SCRIPT
        self._redis_resting_until = 0.0   # after a Redis failure, leave Redis alone for a moment (see _enqueue)
        self._database_failing = False    # the last batch failed for the database: said once, not per batch
        self.batches = 0     # for the benchmark: messages / batches is the mean batch size
        self.messages = 0
        os.register_at_fork(after_in_child=functools.partial(_forget_parent, weakref.ref(self)))

    def keep(self, arrival: Arrival) -> bool:
        values = row_values(arrival.inbound, arrival.raw, self.clock.now(), arrival.status, arrival.error)
        return self.submit(values, arrival.replay_key, arrival.replay_ttl)[1] == NEW

    def recover(self) -> None:
        """Ids left on the pending list get a dispatcher (one may have been lost with its worker)."""
        ensure_dispatcher(self.redis, self.prefix, self.queue)

    def pending(self) -> int | None:
        return int(self.redis.llen(pending_key(self.prefix)))

    def close(self) -> None:
        self.stop()

    def submit(self, values: dict[str, Any], seen_key: str, ttl: int) -> tuple[int, str]:
        """Store one message and queue it; returns (inbound id, NEW | RETRY | REPLAY).

        Raises IntakeUnavailable when the database is down or too slow; any other storage error as it came.
        """
        item = _Pending(values, seen_key, ttl, deadline=time.monotonic() + self.wait_seconds)
        with self._lock:
            self._waiting.append(item)
            lead, self._writing = not self._writing, True
        if not lead and not item.done.wait(self.wait_seconds):
            with self._lock:   # given up: leave the queue without a trace, unless made leader just now
                if not item.promoted and item in self._waiting:
                    self._waiting.remove(item)
        if lead or item.promoted:   # promoted even as it gave up: it leads anyway, the others still need a leader
            self._lead()
        if item.error is not None:
            raise item.error
        if item.outcome is None:
            raise IntakeUnavailable(f"not stored within {self.wait_seconds:g} s (database slow?)")
        assert item.inbound_id is not None
        return item.inbound_id, item.outcome

    def stop(self) -> None:
        """Let a write in progress finish, then close the connection (tests drop their databases after this)."""
        with self._idle:
            self._idle.wait_for(lambda: not self._writing, timeout=10)
        self._close_connection()

    # -- the leader's part ------------------------------------------------------------------------------------

    def _forget_parent(self) -> None:
        """In a forked child: the parent's lock, queue and connection are not this process's."""
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._waiting, self._writing, self._cur = deque(), False, None

    def _lead(self) -> None:
        """Write what is waiting (this request's own callback first in line), then pass the connection on."""
        with self._lock:
            batch = [self._waiting.popleft() for _ in range(min(len(self._waiting), self.max_batch))]
        self._write(self._still_wanted(batch), hand_over=self._hand_over)

    def _hand_over(self) -> None:
        """The connection is free: the first request still waiting leads the next batch, or nobody is writing."""
        with self._lock:
            if self._waiting:
                first = self._waiting[0]
                first.promoted = True
                first.done.set()
            else:
                self._writing = False
                self._idle.notify_all()

    @staticmethod
    def _still_wanted(batch: list[_Pending]) -> list[_Pending]:
        """Drop what waited longer than its request (kept in the journal instead): after a stall, store the
        callbacks still being waited for, not a backlog nobody waits for."""
        now = time.monotonic()
        wanted = [item for item in batch if not item.deadline or item.deadline > now]
        if len(wanted) < len(batch):
            log.warning("intake: %d callback(s) given up by their requests before storing (journaled instead)",
                        len(batch) - len(wanted))
        return wanted

    def _write(self, batch: list[_Pending], hand_over: Callable[[], None] = lambda: None) -> None:
        """Store the batch, hand the connection over (the next batch's INSERT then overlaps this one's Redis trip),
        answer the new ones, then queue them all in Redis and answer the retries."""
        try:
            try:
                self._store_batch(batch)
            finally:
                hand_over()
            for item in batch:
                if item.outcome == NEW:   # stored: answer now; only a retry waits for the replay check in Redis
                    item.done.set()
            self._enqueue([item for item in batch if item.outcome is not None
                           and item.values["status"] not in NOT_PROCESSED])
        except BaseException as exc:  # whatever happens, no request may wait for nothing
            log.exception("intake: batch of %d failed", len(batch))
            for item in batch:
                if item.outcome is None and item.error is None:
                    item.error = exc
        finally:
            for item in batch:
                item.done.set()

    def _store_batch(self, batch: list[_Pending]) -> None:
        """The INSERT, with each failure turned into the requests' errors; runs only while holding the connection."""
        if not batch:
            return
        try:
            self._store_retrying(batch)
        except _CONNECTION_ERRORS as exc:
            self._close_connection()
            if not self._database_failing:   # once per outage, not once per batch
                self._database_failing = True
                log.error("intake: database unavailable, callbacks go to the journal until it answers: %s",
                          type(exc).__name__)
            for item in batch:
                item.error = IntakeUnavailable(type(exc).__name__)
            return
        except (psycopg.Error, ValueError) as exc:
            # One bad row must not cost the others their 200 (a lone surrogate is a UnicodeEncodeError before the
            # INSERT is sent, a NUL a DataError): store them one by one; a row refused alone is stored quarantined.
            self._close_connection()
            log.warning("intake: batch of %d refused (%s), storing its rows one by one", len(batch),
                        type(exc).__name__)
            for item in batch:
                self._store_alone(item)
        if self._database_failing:
            self._database_failing = False
            log.warning("intake: database answering again")
        self.batches += 1
        self.messages += sum(1 for item in batch if item.outcome is not None)

    def _store_alone(self, item: _Pending) -> None:
        """One row of a refused batch: as it is, else escaped and marked unreadable (it was signed: WeCom sent it),
        else its request gets the error."""
        try:
            self._store([item])
            return
        except _CONNECTION_ERRORS as exc:
            self._close_connection()
            item.error = IntakeUnavailable(type(exc).__name__)
            return
        except (psycopg.Error, ValueError) as exc:
            self._close_connection()
            reason = f"refused by the database ({type(exc).__name__}): stored escaped"
            log.error("intake: one callback %s", reason)
            item.values = quarantine(item.values, reason)
            item.params = insert_params(item.values)
        try:
            self._store([item])
        except (psycopg.Error, ValueError) as exc:
            self._close_connection()
            item.error = IntakeUnavailable(type(exc).__name__) if isinstance(exc, _CONNECTION_ERRORS) else exc

    def _store_retrying(self, batch: list[_Pending]) -> None:
        """A connection kept open may have died with a PostgreSQL restart: then try once on a new one. Not after
        a statement timeout: the database is slow, not gone, and a second try would outlast WeCom's deadline."""
        reused = self._cur is not None
        try:
            self._store(batch)
        except _CONNECTION_ERRORS as exc:
            if not reused or isinstance(exc, psycopg.errors.QueryCanceled):
                raise
            self._close_connection()
            self._store(batch)

    def _cursor(self) -> psycopg.Cursor:
        """The intake's own autocommit connection, outside the pool (no checkout, pre-ping or reset per batch), and
        one cursor on it kept for every batch (a fifth less client CPU per INSERT than a cursor each time)."""
        if self._cur is None:
            url = self.database_url.set(drivername="postgresql")
            # A stalled server or network fails the batch (journaled, 200) instead of holding the requests.
            conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                   connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                   options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                                   keepalives=1, keepalives_idle=10, keepalives_interval=3, keepalives_count=3)
            self._cur = conn.cursor()
        return self._cur

    def _close_connection(self) -> None:
        cur, self._cur = self._cur, None
        if cur is not None:
            try:
                cur.connection.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                log.debug("intake: closing a broken connection failed", exc_info=True)

    def _store(self, batch: list[_Pending]) -> None:
        """One INSERT for the batch; the keys already there (WeCom's retries) are looked up in one SELECT."""
        params: list[Any] = []
        for item in batch:
            params.extend(item.params)
        cur = self._cursor()
        created = {key: row_id for row_id, key in cur.execute(insert_sql(len(batch)), params).fetchall()}
        known: dict[str, int] = {}
        missing = sorted({item.values["dedupe_key"] for item in batch} - created.keys())
        if missing:
            known = {key: row_id for row_id, key in cur.execute(
                "SELECT id, dedupe_key FROM inbound_messages WHERE dedupe_key = ANY(%s)", (missing,)).fetchall()}
        for item in batch:
            key = item.values["dedupe_key"]
            if key in created:  # the first of the batch with this key is the new one; a twin in it is a retry
                item.inbound_id, item.outcome = created.pop(key), NEW
                known[key] = item.inbound_id
            elif key in known:
                item.inbound_id, item.outcome = known[key], RETRY
            else:  # pragma: no cover - the conflicting row vanished in between
                item.error = IntakeUnavailable(f"inbound row for {key} vanished during the insert")

    def _enqueue(self, batch: list[_Pending]) -> None:
        """Push the ids onto the pending list with the replay keys, in one trip; wake a dispatcher if none is due.

        A WeCom retry's id is pushed too (the first attempt may have stored without queuing; processing is
        idempotent, so a message is never processed twice). Stored is what WeCom needs: if Redis fails here the
        requests still answer 200, the rows stay 'received' and the recovery sweep (jobs.requeue_received_inbound)
        queues them once Redis is back. After a failure the intake leaves Redis alone for REDIS_REST_SECONDS, so a
        hung Redis costs one timeout now and then, not one per batch.
        """
        if not batch:
            return
        if time.monotonic() < self._redis_resting_until:
            return
        seen = f"{self.prefix}wecom:seen:"
        new = [item for item in batch if item.outcome == NEW]
        retries = [item for item in batch if item.outcome == RETRY]
        try:
            if self._push is None:
                self._push = self.redis.register_script(_PUSH_SCRIPT)
            keys = [pending_key(self.prefix), dispatch_flag_key(self.prefix),
                    *[seen + item.seen_key for item in new + retries]]
            argv = [len(new), len(retries), DISPATCH_FLAG_SECONDS, *[item.ttl for item in new + retries],
                    *[item.inbound_id for item in batch]]
            *fresh, wake_dispatcher = self._push(keys=keys, args=argv)
            for item, first_time in zip(retries, fresh, strict=False):
                if not first_time:
                    item.outcome = REPLAY
            if wake_dispatcher:
                queue_dispatcher(self.queue)
        except RedisError as exc:
            self._redis_resting_until = time.monotonic() + REDIS_REST_SECONDS
            log.error("intake: Redis unavailable, %d inbound message(s) stored and left for the recovery sweep "
                      "(Redis left alone for %d s): %s", len(batch), REDIS_REST_SECONDS, type(exc).__name__)


# One round trip, one reply for the whole batch: set the new messages' replay keys, set-if-absent the retries'
# (absent: WeCom's retry, queued again; present: a replay), push every id, then set the dispatcher flag if absent.
# The push comes before the flag, which is what dispatch() relies on. Returns the retries' results, then the flag's.
_PUSH_SCRIPT = """
local n_new, n_retry, flag_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out = {}
for i = 1, n_new + n_retry do
  if i <= n_new then
    redis.call('SET', KEYS[2 + i], '1', 'EX', ARGV[3 + i])
  else
    out[#out + 1] = redis.call('SET', KEYS[2 + i], '1', 'NX', 'EX', ARGV[3 + i]) and 1 or 0
  end
end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 4 + n_new + n_retry))
out[#out + 1] = redis.call('SET', KEYS[2], '1', 'NX', 'EX', flag_ttl) and 1 or 0
return out
"""

def ensure_dispatcher(redis: Redis, prefix: str, queue: JobQueue) -> int:
    """Queue a dispatcher if ids are pending; returns how many are. The sweep's guard: a dispatcher job lost with
    its worker, or a push whose dispatcher could not be queued, would otherwise leave them waiting for the next
    callback. Two dispatchers at once are harmless (each id is popped once)."""
    pending = redis.llen(pending_key(prefix))
    if pending:
        queue_dispatcher(queue)
    return int(pending)
