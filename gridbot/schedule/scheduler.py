"""The scheduler tick: due reminders, scheduled announcements and system jobs -> exactly one occurrence each.

Why our own tick and not RQ's scheduler for the recurring part: RQ keeps schedules in Redis (gone with a flush,
invisible to the database, one process per queue), knows nothing of occurrences missed while everything was
down, and cannot tell "send late once" from "skip". Here the state is in the database (Reminder.next_at,
SchedulerJob.next_at, Occurrence with a UNIQUE key), so `gridbot scheduler run` can run twice (or restart, or
have its clock jump) and every occurrence is still handled once: whoever inserts the occurrence key first
writes the outbox rows in the same transaction; anyone else hits the unique constraint and writes nothing.
RQ still does what it is good at: the workers run the jobs we enqueue, and enqueue_at delivers held outbox
rows at their not_before. `gridbot.jobs.scheduler_tick` is the same tick as a job, for RQ-cron or systemd
timers, if one prefers that to the loop.

Each due item is handled in its own short transaction, locked with FOR UPDATE SKIP LOCKED on PostgreSQL, so a
second scheduler moves on to other work instead of waiting.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import GenerativeSelect

from ..app import Gridbot
from ..bootstrap import run_as
from ..messages import Reply
from ..models import Announcement, Member, Occurrence, OutboxMessage, Reminder, SchedulerJob
from ..pipeline import delivery
from ..queue import resolve
from ..services import announcements as ann_service
from ..services import outbox
from ..services import reminders as rem_service
from ..texts import t
from .config import SchedulerConfig, SystemJob, load_config
from .parse import next_occurrences, recurrence

log = logging.getLogger(__name__)

__all__ = ["TickResult", "load_config", "tick"]

JOB_OCCURRENCE_TTL = timedelta(days=2)
BATCH = 100  # due reminders handled per transaction

_Query = TypeVar("_Query", bound=GenerativeSelect)


@dataclass
class TickResult:
    sent: int = 0            # occurrences sent on time
    late: int = 0            # sent late once (补发)
    skipped: int = 0         # missed and dropped by policy
    duplicate: int = 0       # someone else had handled it already
    announcements: int = 0
    jobs: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    builtin_created: int = 0
    errors: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.sent or self.late or self.skipped or self.duplicate or self.announcements or self.jobs
                    or self.unavailable or self.errors or self.builtin_created)

    def summary(self) -> str:
        return (f"tick: sent={self.sent} late={self.late} skipped={self.skipped} duplicate={self.duplicate} "
                f"announcements={self.announcements} jobs={','.join(self.jobs) or '-'} "
                f"unavailable={','.join(self.unavailable) or '-'} outbox={len(self.outbox_ids)} "
                f"errors={self.errors}")


def _lock(query: _Query, session: Session) -> _Query:
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def _claim(session: Session, key: str, source: str, source_id: object, due: datetime, now: datetime,
           status: str, detail: dict | None = None) -> int | None:
    """Insert the occurrence under its unique key (INSERT .. ON CONFLICT DO NOTHING); its id, or None if the
    key was already taken (another scheduler, an earlier run). No exception, so the transaction goes on."""
    row = dict(key=key, source=source, source_id=str(source_id), due_at=due.astimezone(UTC), fired_at=now,
               status=status, outbox_ids=[], detail=detail or {})
    if session.get_bind().dialect.name == "postgresql":
        stmt = postgresql_insert(Occurrence).values(row).on_conflict_do_nothing(index_elements=["key"])
    else:
        stmt = sqlite_insert(Occurrence).values(row).on_conflict_do_nothing(index_elements=["key"])
    return session.execute(stmt.returning(Occurrence.id)).scalar()


def _note_outbox(session: Session, occurrence_id: int, rows: list) -> None:
    if rows:
        session.execute(update(Occurrence).where(Occurrence.id == occurrence_id)
                        .values(outbox_ids=[row.id for row in rows]))


def _plan(due_list: list[datetime], now: datetime, grace: timedelta,
          policy: str) -> tuple[datetime | None, bool, list[datetime]]:
    """(the occurrence to fire or None, whether it is late, the ones to record as skipped)."""
    if not due_list:
        return None, False, []
    latest = due_list[-1]
    older = due_list[:-1]
    if now - latest <= grace:
        return latest, False, older
    if policy == "send_late_once":
        return latest, True, older
    return None, False, due_list


# -- reminders ----------------------------------------------------------------------------------------------
def _reminder_due_list(r: Reminder, now: datetime, cfg: SchedulerConfig) -> list[datetime]:
    if r.rrule is None:
        return [r.due_at] if r.due_at and r.due_at <= now else []
    out: list[datetime] = []
    first = r.next_at
    if first is None or first > now:
        return []
    out.append(first)
    cursor = first
    while len(out) < cfg.max_catch_up:
        nxt = next_occurrences(r.rrule, r.dtstart, cursor, 1, cfg.timezone)
        if not nxt or nxt[0] > now:
            break
        out.append(nxt[0].astimezone(UTC))
        cursor = nxt[0]
    if len(out) == cfg.max_catch_up:  # a very long outage: make sure the latest one is the real latest
        zone = ZoneInfo(cfg.timezone)
        last = recurrence(r.rrule, r.dtstart, cfg.timezone).before(now.astimezone(zone), inc=True)
        if last is not None and last.astimezone(UTC) > out[-1]:
            out.append(last.astimezone(UTC))
    return [d.astimezone(UTC) for d in out]


def _fire_one(session: Session, r: Reminder, now: datetime, cfg: SchedulerConfig, res: TickResult) -> list:
    """One due reminder inside the caller's transaction: claim its occurrence(s), write the outbox rows,
    advance next_at. Returns the outbox rows written."""
    rows: list = []
    due_list = _reminder_due_list(r, now, cfg)
    fire, late, skip = _plan(due_list, now, cfg.late_grace, r.late_policy)
    for due in skip:
        key = rem_service.occurrence_key("reminder", r.id, due, cfg.timezone)
        if _claim(session, key, "reminder", r.id, due, now, "skipped", {"reason": "missed"}) is not None:
            res.skipped += 1
    if fire is not None:
        key = rem_service.occurrence_key("reminder", r.id, fire, cfg.timezone)
        occ_id = _claim(session, key, "reminder", r.id, fire, now, "late" if late else "sent")
        if occ_id is None:
            res.duplicate += 1
        else:
            rows = rem_service.write_occurrence(session, r, key, fire, now, late, cfg.timezone)
            _note_outbox(session, occ_id, rows)
            if late:
                res.late += 1
            else:
                res.sent += 1
    r.next_at = rem_service.next_after(r, now, cfg.timezone)
    if r.next_at is None:
        r.active = False  # a one-off (or a rule with no more occurrences) is done
    return rows


def _due_reminders(session: Session, now: datetime, limit: int, exclude: set[int]) -> list[Reminder]:
    q = (select(Reminder).where(Reminder.active.is_(True), Reminder.next_at <= now)
         .order_by(Reminder.next_at, Reminder.id).limit(limit))
    if exclude:
        q = q.where(Reminder.id.notin_(exclude))
    return list(session.scalars(_lock(q, session)))


def _fire_reminders(app: Gridbot, now: datetime, cfg: SchedulerConfig, res: TickResult, limit: int) -> list:
    """Due reminders in batches of BATCH per transaction (locked with SKIP LOCKED, so two schedulers split the
    work). A batch that fails for any reason other than the database is redone one reminder per transaction,
    so one broken reminder cannot hold back the others; it is logged and left for the next tick."""
    out: list = []
    bad: set[int] = set()
    handled = 0
    while handled < limit:
        part = TickResult()
        ids: list[int] = []
        try:
            with app.session() as session, session.begin():
                batch = _due_reminders(session, now, min(BATCH, limit - handled), bad)
                if not batch:
                    break
                ids = [r.id for r in batch]
                member_ids = {r.target_member_id for r in batch if r.target_member_id}
                if member_ids:  # one query for the batch; session.get() then hits the identity map
                    list(session.scalars(select(Member).where(Member.id.in_(member_ids))))
                rows = []
                for r in batch:
                    rows += _fire_one(session, r, now, cfg, part)
                written = [(row.id, row.not_before) for row in rows]
        except OperationalError as err:  # SQLite busy with another scheduler: the next tick retries
            res.errors += 1
            log.warning("reminders: %s; retrying next tick", err.__class__.__name__)
            break
        except Exception:  # isolate the culprit below
            log.exception("reminder batch failed; retrying one by one")
            if not ids:
                res.errors += 1
                break
            for rid in ids:
                one = TickResult()
                try:
                    with app.session() as session, session.begin():
                        r = session.scalar(_lock(select(Reminder).where(Reminder.id == rid), session))
                        if r is None or not r.active or r.next_at is None or r.next_at > now:
                            continue
                        rows = _fire_one(session, r, now, cfg, one)
                        written_one = [(row.id, row.not_before) for row in rows]
                    _merge(res, one)
                    out += written_one
                except Exception:
                    log.exception("reminder %s cannot be sent; left for the next tick", rid)
                    res.errors += 1
                    bad.add(rid)
            handled += len(ids)
            continue
        _merge(res, part)
        out += written
        handled += len(batch)
    return out


def _merge(into: TickResult, part: TickResult) -> None:
    into.sent += part.sent
    into.late += part.late
    into.skipped += part.skipped
    into.duplicate += part.duplicate


# -- announcements ------------------------------------------------------------------------------------------
def _fire_announcement(app: Gridbot, ann_id: int, now: datetime, cfg: SchedulerConfig, res: TickResult) -> list:
    with app.session() as session, session.begin():
        ann = session.scalar(_lock(select(Announcement).where(Announcement.id == ann_id), session))
        if ann is None or ann.status != "scheduled" or ann.send_at is None or ann.send_at > now:
            return []
        late = now - ann.send_at > cfg.late_grace
        key = rem_service.occurrence_key("announcement", ann.id, ann.send_at, cfg.timezone)
        occ_id = _claim(session, key, "announcement", ann.id, ann.send_at, now, "late" if late else "sent")
        if occ_id is None:
            res.duplicate += 1
            ann.status = "sent"
            return []
        author = session.get(Member, ann.author_member_id) if ann.author_member_id else None
        rows = ann_service.deliver(session, ann, now, author_name=author.name if author else ann.author_userid,
                                   late=late)
        lines = [t("schedule.announcement.delivered_title", id=ann.id), *ann_service.summary_lines(ann)]
        rows += outbox.write_replies(session, None, [Reply("\n".join(lines), to_user=ann.author_userid,
                                                           idempotency_key=f"{key}:author")], now)
        _note_outbox(session, occ_id, rows)
        res.announcements += 1
        if late:
            res.late += 1
        return [(row.id, row.not_before) for row in rows]


# -- system jobs --------------------------------------------------------------------------------------------
def _job_id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", key)


def _run_job(app: Gridbot, job: SystemJob, now: datetime, cfg: SchedulerConfig, res: TickResult) -> None:
    enqueue: tuple[str, bool] | None = None
    with app.session() as session, session.begin():
        state = session.scalar(_lock(select(SchedulerJob).where(SchedulerJob.name == job.name), session))
        if state is None:
            # First sight of this job: start from the next occurrence; nothing before today is "missed".
            first = job.cadence.after(now)
            try:
                with session.begin_nested():
                    session.add(SchedulerJob(name=job.name, next_at=first.astimezone(UTC) if first else None,
                                             updated_at=now))
            except IntegrityError:
                pass
            return
        if state.next_at is None or state.next_at > now:
            return
        if not job.quiet_exempt and cfg.quiet.hold_until(now) is not None:
            return  # not during quiet hours: it runs when they end, and is not counted late for waiting
        latest = job.cadence.latest(now)
        latest_utc = latest.astimezone(UTC) if latest else state.next_at
        effective = (None if job.quiet_exempt else cfg.quiet.hold_until(latest_utc)) or latest_utc
        late = now - effective > cfg.late_grace
        key = rem_service.occurrence_key(f"job:{job.name}", "run", latest_utc, cfg.timezone)
        status = "late" if late else "enqueued"
        if late and job.late == "skip":
            status = "skipped"
        try:
            resolve(job.job)
        except (ImportError, AttributeError):
            status = "unavailable"
        occ = _claim(session, key, "job", job.name, latest_utc, now, status, {"job": job.job})
        if occ is None:
            res.duplicate += 1
        elif status == "skipped":
            res.skipped += 1
        elif status == "unavailable":
            res.unavailable.append(job.name)
        else:
            enqueue = (key, late)
        if occ is not None:  # a job's occurrences are only needed while they could collide: keep two days
            session.execute(delete(Occurrence).where(Occurrence.source == "job", Occurrence.source_id == job.name,
                                                     Occurrence.due_at < now - JOB_OCCURRENCE_TTL))
        nxt = job.cadence.after(now)
        state.next_at = nxt.astimezone(UTC) if nxt else None
        state.last_due_at = latest_utc
        state.updated_at = now
    if enqueue is not None:
        app.queue.enqueue(job.job, *job.args, queue="scheduled", job_id=_job_id(enqueue[0]))
        res.jobs.append(job.name + ("(late)" if enqueue[1] else ""))


# -- the tick -----------------------------------------------------------------------------------------------
def tick(app: Gridbot, config: SchedulerConfig | None = None, limit: int = 500) -> TickResult:
    """One pass. Safe to run from several processes at once. Due reminders go in batches of BATCH per
    transaction, announcements and system jobs one per transaction; at most `limit` reminders per tick (the
    rest are picked up by the next tick, seconds later)."""
    cfg = config or load_config(app.settings.config_dir, app.settings.timezone)
    now = app.clock.now()
    res = TickResult()
    try:
        with app.session() as session, session.begin():
            res.builtin_created = rem_service.sync_builtin(session, cfg.duty, now, cfg.timezone)
    except (IntegrityError, OperationalError) as err:  # another scheduler syncing at the same moment
        log.info("builtin reminder sync deferred: %s", err.__class__.__name__)
    with app.session() as session:
        ann_ids = list(session.scalars(
            select(Announcement.id).where(Announcement.status == "scheduled", Announcement.send_at <= now)
            .order_by(Announcement.send_at).limit(limit)))
    to_send: list[tuple[int, datetime | None]] = _fire_reminders(app, now, cfg, res, limit)
    for aid in ann_ids:
        try:
            to_send += _fire_announcement(app, aid, now, cfg, res)
        except OperationalError as err:
            res.errors += 1
            log.warning("announcement %s: %s; retrying next tick", aid, err.__class__.__name__)
    res.outbox_ids.extend(oid for oid, _ in to_send)   # queued by the outbox hand-over when their writes committed
    for job in cfg.jobs:
        if not job.enabled:
            continue
        try:
            _run_job(app, job, now, cfg, res)
        except OperationalError as err:
            res.errors += 1
            log.warning("job %s: %s; retrying next tick", job.name, err.__class__.__name__)
    return res


def release_held(app: Gridbot, limit: int = 1000) -> int:
    """Enqueue outbox rows that are due but may have no job waiting for them: rows held by quiet hours,
    rows whose writer crashed before enqueuing. Claiming is conditional, so an extra enqueue sends nothing twice."""
    now = app.clock.now()
    with app.session() as session:
        ids = list(session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.status == "pending",
                or_(OutboxMessage.not_before <= now,
                    and_(OutboxMessage.not_before.is_(None), OutboxMessage.created_at <= now - timedelta(minutes=1))))
            .order_by(OutboxMessage.id).limit(limit)))
    for oid in ids:
        delivery.schedule(app, oid)
    return len(ids)


def start_in_thread(app: Gridbot, interval: float | None = None) -> threading.Event:
    """The embedded setup (one process, no Redis): tick in a daemon thread. Returns an Event that stops it.

    Safe beside a `gridbot scheduler run` elsewhere: occurrences are claimed in the database either way.
    """
    stop = threading.Event()
    pause = (interval if interval is not None
             else load_config(app.settings.config_dir, app.settings.timezone).tick_seconds)

    def loop() -> None:
        while not stop.is_set():
            try:
                run_as(app, lambda: tick(app))
            except Exception:  # keep ticking; the next tick retries
                log.exception("scheduler tick failed")
            stop.wait(pause)

    threading.Thread(target=loop, name="gridbot-scheduler", daemon=True).start()
    return stop
