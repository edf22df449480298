"""The puller: the archive's records after the cursor, decrypted, stored as inbound rows, processed.

Exactly once, nothing skipped: a page's rows and the cursor that covers them are committed in one transaction
(a crash before the commit repeats the page; the rows dedupe by msgid through pipeline/store.py's one INSERT).
One puller at a time: a PostgreSQL advisory lock on a connection of its own (a killed process's connection
closes and the server lets go), else a Redis lock with a TTL, else a lock in this process (SQLite demo). After
downtime it reads page after page until a short one comes back.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..app import Gridbot
from ..messages import Inbound
from ..models import ArchiveConsent, ArchiveCursor, GridChat, Member
from ..models.org import CHAT_AIBOT_GROUP
from ..pipeline.receive import note_unknown_chat
from ..pipeline.store import SKIPPED, UNBOUND, insert_params, insert_sql, row_values
from .decode import CONSENT_TYPES, READ_KINDS, decode
from .keys import KeyMissing, PrivateKeys
from .port import Archive, ArchiveUnavailable, Record

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x67726964   # "grid": the puller's PostgreSQL advisory lock
INSERT_CHUNK = 200          # rows per INSERT (11 parameters each: under SQLite's and PostgreSQL's limits)
PROCESS_CHUNK = 50          # rows per processing job
WARN_LAG = timedelta(hours=1)     # the secretary's digest warns past this
ALARM_LAG = timedelta(days=1)     # the console and /readyz alarm past this (WeCom keeps messages five days)
_local_locks: dict[str, threading.Lock] = {}


@dataclass
class PullResult:
    fetched: int = 0      # records read from the archive
    stored: int = 0       # new inbound rows
    pages: int = 0
    busy: bool = False    # another puller holds the lock: nothing done here
    seq: int = 0          # the cursor after the pull


class _Lock:
    """Held while pulling; renew() after each page keeps a Redis lock alive (a PostgreSQL lock needs nothing)."""

    def __init__(self, app: Gridbot) -> None:
        self.app = app
        self.token = uuid.uuid4().hex
        self.key = f"{app.settings.redis_prefix}archive:puller"
        self.ttl = app.settings.archive.lock_seconds

    def renew(self) -> None:
        if self.app.engine.dialect.name != "postgresql" and self.app.redis is not None:
            redis = self.app.redis
            if redis.get(self.key) == self.token.encode():
                redis.expire(self.key, self.ttl)


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@contextlib.contextmanager
def puller_lock(app: Gridbot) -> Iterator[_Lock | None]:
    """The lock, or None if another puller has it (the caller skips: that one reads to the end)."""
    lock = _Lock(app)
    if app.engine.dialect.name == "postgresql":
        with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).scalar():
                yield None
                return
            try:
                yield lock
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        return
    if app.redis is not None:
        if not app.redis.set(lock.key, lock.token.encode(), nx=True, ex=lock.ttl):
            yield None
            return
        try:
            yield lock
        finally:
            app.redis.eval(_RELEASE, 1, lock.key, lock.token)
        return
    local = _local_locks.setdefault(str(app.engine.url), threading.Lock())
    if not local.acquire(blocking=False):
        yield None
        return
    try:
        yield lock
    finally:
        local.release()


def archive_of(app: Gridbot) -> Archive:
    if app.archive is None:
        raise ArchiveUnavailable(app.archive_problem or "会话存档未启用（GRIDBOT_ARCHIVE_SOURCE=off）")
    return app.archive


def pull(app: Gridbot, *, max_pages: int | None = None) -> PullResult:
    """Read the archive to its end (or max_pages pages), one puller at a time."""
    archive = archive_of(app)
    result = PullResult()
    with puller_lock(app) as lock:
        if lock is None:
            result.busy = True
            return result
        limit = app.settings.archive.pull_limit
        while max_pages is None or result.pages < max_pages:
            got = pull_page(app, archive, result)
            lock.renew()
            if got < limit:
                break
    return result


def _cursor(session: Session, source: str, lock: bool = False) -> ArchiveCursor:
    query = select(ArchiveCursor).where(ArchiveCursor.source == source)
    cursor = session.scalar(query.with_for_update() if lock else query)
    if cursor is None:
        cursor = ArchiveCursor(source=source, seq=0, messages=0)
        session.add(cursor)
        session.flush()
    return cursor


def pull_page(app: Gridbot, archive: Archive, result: PullResult) -> int:
    """One fetch, stored with its cursor in one transaction, then its new rows queued. Returns the records read."""
    with app.session() as session:
        seq = _cursor(session, archive.name).seq
        session.commit()
    records = archive.fetch(seq, app.settings.archive.pull_limit)
    now = app.clock.now()
    rows = [_open(app, archive, r) for r in records]
    queued: list[int] = []
    with app.session() as session, session.begin():
        cursor = _cursor(session, archive.name, lock=True)
        if cursor.seq != seq:   # pragma: no cover - only one puller runs; if not, the other page wins
            log.warning("archive: cursor moved from %s to %s under this puller: page dropped", seq, cursor.seq)
            return 0
        if not records:
            cursor.pulled_at = now
            return 0
        values = _classify(session, [r for r in rows if r is not None], now)
        queued, created = _insert(session, values)
        cursor.seq = max(r["seq"] for r in records)
        cursor.messages += created
        times = [v[0].at for v in values if v[0].at is not None]
        if times:
            cursor.newest_msgtime = max([*times, *([cursor.newest_msgtime] if cursor.newest_msgtime else [])])
        if len(records) < app.settings.archive.pull_limit:
            cursor.pulled_at = now
        result.seq = cursor.seq
        result.stored += created
    result.fetched += len(records)
    result.pages += 1
    for start in range(0, len(queued), PROCESS_CHUNK):
        chunk = queued[start:start + PROCESS_CHUNK]
        app.queue.enqueue("gridbot.jobs.process_inbound_batch", chunk, queue="inbound",
                          job_id=f"archive-{chunk[0]}-{len(chunk)}")
    return len(records)


def _open(app: Gridbot, archive: Archive, record: Record) -> tuple[Inbound, str] | None:
    """Decrypt one record. A record we cannot open (no key for its version) is kept unreadable by its msgid, so
    it is seen, counted and not lost silently; the cursor moves on (WeCom keeps it five days, the row says why)."""
    keys = app.archive_keys or PrivateKeys({})
    try:
        text = archive.decrypt(keys.open(record["publickey_ver"], record["encrypt_random_key"]),
                               record["encrypt_chat_msg"])
        msg = json.loads(text)
    except (KeyMissing, ArchiveUnavailable, ValueError) as exc:
        log.error("archive: seq %s (msgid %s) not opened: %s", record["seq"], record["msgid"], exc)
        inbound = Inbound(platform="wecom_archive", sender_id="", chat_id=None, msg_id=record["msgid"],
                          kind="unreadable", event_data={"error": str(exc)[:200]})
        return inbound, ""
    inbound = decode(msg) if isinstance(msg, dict) else None
    return None if inbound is None else (inbound, text)


def _classify(session: Session, rows: list[tuple[Inbound, str]], now: datetime) -> list[tuple[Inbound, dict]]:
    """Each message's row: consent answers recorded first (they hold for the rest of the page), then what is read
    ('received'), what is kept only (unbound chat, a type not read, a resident who declined)."""
    for inbound, _ in rows:
        if inbound.kind == "event" and (inbound.event or "").removeprefix("archive_") in CONSENT_TYPES:
            _consent(session, inbound.event_data.get("userid") or inbound.sender_id,
                     inbound.event == "archive_agree", inbound.at or now)
    rooms = {i.chat_id for i, _ in rows if i.chat_id}
    kinds: dict[str, str] = {chat: kind for chat, kind in session.execute(
        select(GridChat.chat_id, GridChat.kind).where(GridChat.chat_id.in_(rooms)))} if rooms else {}
    bound = set(kinds)
    senders = {i.sender_id for i, _ in rows}
    members = set(session.scalars(select(Member.userid).where(Member.userid.in_(senders), Member.active.is_(True)))) \
        if senders else set()
    declined = set(session.scalars(select(ArchiveConsent.external_userid).where(
        ArchiveConsent.external_userid.in_(senders), ArchiveConsent.agreed.is_(False)))) if senders else set()
    out = []
    for inbound, raw in rows:
        if inbound.kind != "unreadable":   # a grid member is who the roster says (an external id never is)
            inbound.event_data["sender_kind"] = "member" if inbound.sender_id in members else "resident"
        status, error = "received", None
        if inbound.kind == "unreadable":
            status, error = "unreadable", str(inbound.event_data.get("error"))
        elif inbound.kind == "event" and inbound.event != "archive_recall":
            status, error = SKIPPED, "archive consent answer (recorded)"
        elif inbound.kind not in READ_KINDS:
            status, error = SKIPPED, f"archive msgtype {inbound.kind} not read"
        elif inbound.sender_id in declined:
            status, error = SKIPPED, "resident declined archiving: not read"
            inbound.text, raw = "", ""
        elif inbound.chat_id not in bound:
            status, error = UNBOUND, "chat bound to no grid: bind it on the chats page"
        elif kinds.get(inbound.chat_id) == CHAT_AIBOT_GROUP:
            # the AI bot hears this group itself (its callback): read twice, a request would be reported twice
            status, error = SKIPPED, "archive: an AI bot's group is heard through the bot's callback"
        # received_at = when it was written in the group (not when pulled): after a catch-up, a resident's day of
        # messages must not look like a flood in one minute (process._flooding), nor an hour's wait like none.
        written = min(inbound.at, now) if inbound.at is not None and inbound.at.timestamp() > 0 else now
        values = row_values(inbound, raw or None, written, status, error)
        out.append((inbound, values))
    return out


def _consent(session: Session, external_userid: str, agreed: bool, at: datetime) -> None:
    row = session.scalar(select(ArchiveConsent).where(ArchiveConsent.external_userid == external_userid))
    if row is None:
        session.add(ArchiveConsent(external_userid=external_userid, agreed=agreed, changed_at=at))
        session.flush()
    elif row.changed_at <= at:
        row.agreed, row.changed_at = agreed, at


def _insert(session: Session, values: list[tuple[Inbound, dict]]) -> tuple[list[int], int]:
    """The page's rows through the one inbound INSERT (dedupe by msgid). Returns (new ids to process, new rows)."""
    conn = session.connection()
    dialect = conn.dialect.name
    to_process: list[int] = []
    created = 0
    unbound_noted: set[str] = set()
    for start in range(0, len(values), INSERT_CHUNK):
        chunk = values[start:start + INSERT_CHUNK]
        params: list = []
        for _, v in chunk:
            params.extend(insert_params(v, dialect))
        new = {key: row_id for row_id, key in conn.exec_driver_sql(insert_sql(len(chunk), dialect),
                                                                   tuple(params)).all()}
        created += len(new)
        for inbound, v in chunk:
            row_id = new.get(v["dedupe_key"])
            if row_id is None:
                continue
            if v["status"] == "received":
                to_process.append(row_id)
            elif v["status"] == UNBOUND and inbound.chat_id not in unbound_noted:
                unbound_noted.add(inbound.chat_id or "")
                note_unknown_chat(session, inbound, v["received_at"])
    return sorted(to_process), created


def lag(session: Session, source: str, now: datetime) -> timedelta | None:
    """How stale gridbot's view of the archive may be: the time since a pull last reached the end (None before
    the first). WeCom keeps messages five days."""
    cursor = session.scalar(select(ArchiveCursor).where(ArchiveCursor.source == source))
    if cursor is None or cursor.pulled_at is None:
        return None
    return now - cursor.pulled_at
