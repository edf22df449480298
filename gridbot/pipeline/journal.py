"""The callback journal: where a signed callback is kept when the database cannot take it, so WeCom still gets 200.

Why a local file and not Redis: Redis here (and in many deployments) keeps nothing on disk, and it may be the very
thing that is down; an fsync'd append to the instance directory's disk depends on nothing else. WeCom's newer docs
(90930) may never retry a non-200, so a 503 while PostgreSQL is down or stalled would lose the message.

Layout: `<GRIDBOT_JOURNAL_DIR>/<start ns>-<pid>-<seq>.journal`, one segment per process at a time, each record one
line `J1 <length> <crc32> <json>` (the inbound row of store.row_values, the route, when it was journaled), written,
flushed and fsync'd before the webhook answers 200. A torn or corrupt line (a crash or a full disk mid-write: that
request was never answered 200) fails its length or checksum and is skipped.

A segment is held with fcntl.flock by the process writing it; the lock dies with the process, so any process on the
same disk may drain what a dead one left. Draining (a background thread, started by the first record journaled and
at start-up when segments are there; `gridbot inbound drain-journal` by hand): the writer seals its segment, then
each unlocked segment is locked, every record stored with the one INSERT (ON CONFLICT (dedupe_key) DO NOTHING) and a
new row queued for processing, and the segment removed. A crash between the INSERT and the removal drains the
segment again: the repeat finds its row and queues nothing, so every callback is processed exactly once. A record
the database refuses for its content (not an outage) is set aside in `rejected/` and logged, never retried forever.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from ..adapters import Arrival
from ..clock import Clock
from ..messages import Inbound
from ..queue import JobQueue
from .receive import BIND_COMMAND, BoundChats
from .store import NOT_PROCESSED, UNBOUND, row_values, store

log = logging.getLogger(__name__)

SUFFIX = ".journal"
MAGIC = b"J1"
RETRY_SECONDS = 2.0


class JournalUnavailable(OSError):
    """The journal could not be written (disk full, read-only): the callback is not kept anywhere."""


@dataclass
class Drained:
    """One drain pass: rows stored now, records whose row was already there, records set aside, records left."""

    stored: int = 0
    already: int = 0
    rejected: int = 0
    left: int = 0


def encode(record: dict[str, Any]) -> bytes:
    """One line: ASCII JSON (a newline or a lone surrogate in a message is escaped), its length and CRC-32."""
    body = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return b"%s %d %08x %s\n" % (MAGIC, len(body), zlib.crc32(body), body)


def decode(line: bytes) -> dict[str, Any] | None:
    """The record of a whole line, or None when it is torn or corrupt."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if not line.endswith(b"\n") or len(parts) != 4 or parts[0] != MAGIC:
        return None
    _, length, crc, body = parts
    try:
        if int(length) != len(body) or int(crc, 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("row"), dict) else None


def read_records(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The valid records of a segment's bytes, and how many lines were torn or corrupt (skipped)."""
    records, bad = [], 0
    for line in data.splitlines(keepends=True):
        record = decode(line)
        if record is None:
            bad += 1
        else:
            records.append(record)
    return records, bad


def _is_outage(exc: BaseException) -> bool:
    """The database is down or gone away (try again later), as opposed to refusing this one record."""
    if isinstance(exc, OperationalError | DisconnectionError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Journal:
    """One per app. `keep` is called from request threads; `drain` by the background thread or an operator."""

    def __init__(self, directory: Path, engine: Engine, queue: JobQueue, clock: Clock,
                 bound: BoundChats | None = None, retry_seconds: float = RETRY_SECONDS) -> None:
        self.directory = Path(directory)
        self.bound = bound   # a kept callback skipped the bound-chat check (the database was down): made at drain
        self.engine = engine
        self.queue = queue
        self.clock = clock
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()        # the writer's: segment, size, thread
        self._drain_lock = threading.Lock()  # one drain pass at a time in this process
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._size = 0
        self._records = 0
        self._seq = 0
        self._start_ns = time.time_ns()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._kept_since_drained = 0
        self._counted: dict[str, tuple[int, int]] = {}   # segment name -> (bytes, lines) at the last backlog()

    # -- writing ---------------------------------------------------------------------------------------------

    def keep(self, route: str, arrival: Arrival) -> None:
        """Append the callback's inbound row and fsync it; raises JournalUnavailable when that cannot be done."""
        values = row_values(arrival.inbound, arrival.raw, self.clock.now(), arrival.status, arrival.error)
        row = dict(values, received_at=values["received_at"].isoformat())
        line = encode({"route": route, "journaled_at": row["received_at"], "row": row})
        with self._lock:
            try:
                self._append(line)
            except OSError as exc:
                raise JournalUnavailable(f"journal {self.directory}: {exc}") from exc
            if self._kept_since_drained == 0:
                log.error("database unavailable: callbacks are kept in the journal %s and will be stored when it "
                          "is back (backlog on /readyz and gridbot_inbound_journal_backlog)", self.directory)
            self._kept_since_drained += 1
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="gridbot-journal-drain", daemon=True)
                self._thread.start()

    def _append(self, line: bytes) -> None:
        """Write and fsync under the lock; a failed write is cut off again so no torn line sits between records."""
        if self._file is None:
            self._open_segment()
        assert self._file is not None
        try:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            try:
                self._file.truncate(self._size)
                self._file.seek(self._size)
            except OSError:   # cannot even cut it: seal this segment, the next record starts a new one
                self._seal()
            raise
        self._size += len(line)
        self._records += 1

    def _open_segment(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)   # messages are personal data: ours only
        self._seq += 1
        path = self.directory / f"{self._start_ns:020d}-{os.getpid()}-{self._seq:06d}{SUFFIX}"
        f = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            _fsync_dir(self.directory)   # the new name itself survives a crash
        except OSError:
            f.close()
            raise
        self._file, self._path, self._size, self._records = f, path, 0, 0

    def _seal(self) -> None:
        """Stop writing the current segment (closing it lets go of its lock): from now on anyone may drain it."""
        f, self._file, self._path, self._size, self._records = self._file, None, None, 0, 0
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()

    # -- draining --------------------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        except OSError:   # not made yet (nothing was ever kept), or unusable: start() said so
            return []

    def backlog(self) -> int:
        """Records on this disk not yet drained (every process's segments, whole lines). Asked by every /readyz and
        /metrics: a segment only grows, so only the bytes added since the last count are read."""
        n, counted = 0, {}
        for path in self.segments():
            try:
                size = path.stat().st_size
                known_size, known_lines = self._counted.get(path.name, (0, 0))
                if size < known_size:   # not the file we counted (never happens: names are not reused)
                    known_size, known_lines = 0, 0
                if size > known_size:
                    with open(path, "rb") as f:
                        f.seek(known_size)
                        known_lines += f.read(size - known_size).count(b"\n")
                counted[path.name] = (size, known_lines)
                n += known_lines
            except OSError:   # drained and removed meanwhile
                continue
        self._counted = counted
        return n

    def start(self) -> None:
        """At start-up: drain in the background what a previous process (or this one's predecessor) left, and say
        now, not during an outage, if the journal could not be written."""
        usable = self.directory
        while not usable.exists() and usable != usable.parent:   # made with the first record: can it be?
            usable = usable.parent
        if not (usable.is_dir() and os.access(usable, os.W_OK | os.X_OK)):
            log.error("journal %s is not a writable directory: while the database is down callbacks will be "
                      "answered 503 and may be lost (set GRIDBOT_JOURNAL_DIR)", self.directory)
        if self.segments():
            with self._lock:
                self._kept_since_drained = max(self._kept_since_drained, 1)
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="gridbot-journal-drain", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.retry_seconds):
            try:
                result = self.drain()
            except Exception:   # the drainer outlives a bug in one pass (logged); the next pass retries
                log.exception("journal: drain pass failed")
                continue
            with self._lock:
                if result.left == 0 and self._records == 0:
                    self._thread = None
                    return

    def drain(self) -> Drained:
        """One pass: if the database answers, seal this process's segment and drain every unlocked one."""
        result = Drained()
        with self._drain_lock:
            if not self.segments() and self._records == 0:
                return result
            if not self._database_answers():
                result.left = self.backlog()
                return result
            with self._lock:
                if self._records:
                    self._seal()
            for path in self.segments():
                self._drain_segment(path, result)
            with self._lock:
                if result.left == 0 and self._records == 0 and self._kept_since_drained:
                    log.warning("journal drained: %d callback(s) stored, %d were stored already, %d set aside",
                                result.stored, result.already, result.rejected)
                    self._kept_since_drained = 0
        return result

    def _database_answers(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not yet: the next pass asks again
            log.debug("journal: database not back yet: %s", type(exc).__name__)
            return False
        return True

    def _drain_segment(self, path: Path, result: Drained) -> None:
        with _locked(path) as f:
            if f is None:
                return
            records, bad = read_records(f.read())
            if bad:
                log.warning("journal %s: %d torn or corrupt line(s) skipped (never answered 200)", path.name, bad)
            for i, record in enumerate(records):
                try:
                    self._store_one(record, result)
                except Exception as exc:  # noqa: BLE001 - an outage stops the pass; any other error sets it aside
                    if _is_outage(exc):
                        result.left += len(records) - i
                        log.info("journal: database gone again, %s kept for the next pass", path.name)
                        return
                    self._set_aside(path, i, record, exc)
                    result.rejected += 1
            path.unlink()
            _fsync_dir(self.directory)

    def _store_one(self, record: dict[str, Any], result: Drained) -> None:
        values = dict(record["row"], received_at=datetime.fromisoformat(record["row"]["received_at"]))
        inbound = Inbound.from_dict(values["payload"]) if values["status"] == "received" else None
        unbound = (inbound is not None and inbound.is_group and self.bound is not None
                   and not self.bound.known_or_binding(inbound))
        if unbound:
            values.update(status=UNBOUND, error="chat bound to no grid: a leader binds it with " + BIND_COMMAND)
        inbound_id, created = store(self.engine, values)
        if not created:   # stored before (a crash after the INSERT, or a stalled batch that committed late)
            result.already += 1
            return
        result.stored += 1
        if unbound and inbound is not None and self.bound is not None:
            self.bound.note(inbound)
        if values["status"] in NOT_PROCESSED:   # unbound, skipped, unreadable: stored, never processed
            return
        try:
            self.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound",
                               job_id=f"inbound-{inbound_id}")
        except Exception as exc:  # noqa: BLE001 - stored is enough: the recovery sweep queues 'received' rows
            log.error("journal: inbound %s stored, not queued (the recovery sweep will): %s", inbound_id,
                      type(exc).__name__)

    def _set_aside(self, path: Path, index: int, record: dict[str, Any], exc: BaseException) -> None:
        rejected = self.directory / "rejected"
        rejected.mkdir(mode=0o700, exist_ok=True)
        with os.fdopen(os.open(rejected / path.name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as f:
            f.write(encode(record))
            f.flush()
            os.fsync(f.fileno())
        # Where it is, not what it is: a dedupe key may hold a user id, and logs never do.
        log.error("journal: record %d of %s refused by the database (%s), set aside in %s", index + 1, path.name,
                  type(exc).__name__, rejected / path.name)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        with self._lock:
            self._seal()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[BinaryIO | None]:
    """The segment opened and flock'd, or None when a live process holds it or it is gone. Closed (its lock with
    it) only after the caller has removed it, so nobody else drains it in between."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the segment is removed (its lock goes with it)
    except FileNotFoundError:
        yield None
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
        except BlockingIOError:   # its writer is alive, or another process is draining it
            same = False
        except FileNotFoundError:   # drained and removed by another process between our open and our lock
            same = False
        yield f if same else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
