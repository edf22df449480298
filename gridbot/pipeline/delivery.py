"""Delivery: each outbox row is sent exactly once (services/outbox.py writes them; this sends them).

Claiming a row moves it pending -> sending in one conditional UPDATE, so two workers never both send it.
A row whose outcome is unknown (the answer timed out; a worker died mid-send and `sweep_stuck` found it in
`sending`) is sent again only where the platform drops a duplicate (message/send with enable_duplicate_check,
within its interval); anywhere else (a group of 500 households) it becomes `unknown` and waits for a person
(the console's 发送失败 page: re-send, or 已确认送达).

A ConfigurationFault (a wrong secret, an untrusted IP: services/channel_faults.py) stops the channel: the row
and every later row of it stay `pending` with no try counted, one of them probes every PROBE_EVERY, and the first
success releases them all.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from ..app import Gridbot
from ..models import ChannelFault, OutboxMessage
from ..privacy import mask_text
from ..queue import JobQueue
from ..senders import ConfigurationFault, Held, PermanentFailure, Sender
from ..services import channel_faults
from ..services.audit import record

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)
BUSY_RETRIES = 3                       # WeCom's -1 (system busy): "建议重试次数不超过3次" (doc 90313)
HELD_BACKSTOP = timedelta(hours=1)     # a held row looks again by itself this late (its fault's probe comes first)


def schedule(app: Gridbot, outbox_id: int, at: datetime | None = None) -> None:
    """Queue one row's send (at `at`): a retry's, an operator's. A row just written needs none (hand_over)."""
    app.queue.enqueue("gridbot.jobs.send_outbound", outbox_id, queue="outbound", at=at, retries=0)


def hand_over(queue: JobQueue, rows: Iterable[OutboxMessage]) -> None:
    """Every outbox row goes to the sender once its transaction commits (at its not_before when held); bootstrap
    installs this once with db.hand_over_after_commit."""
    for row in rows:
        queue.enqueue("gridbot.jobs.send_outbound", row.id, queue="outbound", at=row.not_before, retries=0)


def claim(app: Gridbot, outbox_id: int) -> OutboxMessage | None:
    now = app.clock.now()
    with app.session() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "pending",
                   or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now))
            .values(status="sending", attempts=OutboxMessage.attempts + 1)
        ))   # an UPDATE's result counts its rows
        if result.rowcount != 1:
            return None
        return session.get(OutboxMessage, outbox_id)


def deliver(app: Gridbot, outbox_id: int) -> str:
    """Send one row. Returns the row's new status (or 'skipped' if it was not ours to send)."""
    row = claim(app, outbox_id)
    if row is None:
        return "skipped"
    sender = app.sender_for(row)
    # the sender's channels, and the one the row was held for: an AI bot reply whose response_url expired goes by
    # its group's robot, and waits (and probes, and clears) with that robot's other rows
    channels = tuple(dict.fromkeys([*getattr(sender, "fault_channels", ()), *([row.channel] if row.channel else [])]))
    now = app.clock.now()
    faulted = False
    if channels:
        held, faulted = _held_by(app, channels, now)
        if held is not None:   # the channel is stopped and another row probes it: wait, no try counted
            return _hold(app, row.id, held[0], now + HELD_BACKSTOP, held[1])
    try:
        sender.send(row)
    except ConfigurationFault as fault:
        return _stop_channel(app, row.id, fault, now)
    except Held as held:   # the sender marked the row held (微信客服's window): released by the resident's message
        log.info("outbox %s held: %s", row.id, held)
        return "held"
    except PermanentFailure as exc:
        return _finish(app, row.id, "dead", str(exc))
    except Exception as exc:  # noqa: BLE001 - TemporaryFailure and anything unexpected: retry later
        retry_after = getattr(exc, "retry_after", None)
        if getattr(exc, "ambiguous", False) and not _dedupes(sender):
            # The platform may have delivered it (no answer in time): re-sending could post twice.
            return _finish(app, row.id, "unknown", f"{exc}; check the chat, then retry if it is missing")
        rate_limited = getattr(exc, "rate_limited", False)
        if getattr(exc, "system_busy", False) and row.attempts > BUSY_RETRIES:
            return _finish(app, row.id, "dead", f"{exc}: still busy after {BUSY_RETRIES} retries (WeCom advises no "
                                                "more); re-send it from the console once WeCom answers again")
        if not rate_limited and row.attempts >= MAX_ATTEMPTS:
            return _finish(app, row.id, "dead", repr(exc))
        delay = retry_after or BACKOFF_SECONDS[min(row.attempts - 1, len(BACKOFF_SECONDS) - 1)]
        due = now + timedelta(seconds=delay)
        values = {"status": "pending", "not_before": due, "last_error": mask_text(repr(exc))[:2000]}
        if rate_limited:  # waiting for a free slot is not a failed try: it never counts toward dead
            values["attempts"] = OutboxMessage.attempts - 1
        with app.session() as session, session.begin():
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
        log.warning("outbox %s: %s (try %d), retry at %s: %s", row.id,
                    "rate limited" if rate_limited else "send failed", row.attempts, due.isoformat(),
                    mask_text(str(exc)))
        schedule(app, row.id, at=due)
        return "pending"
    if faulted:
        _channel_works(app, channels, now)
    return _finish(app, row.id, "sent", None, sent_at=now)


def _dedupes(sender: Sender) -> bool:
    return getattr(sender, "dedupe_window", None) is not None


def _held_note(fault: ChannelFault) -> str:
    return f"held: channel {fault.channel} stopped by errcode {fault.errcode}: {fault.message}"


def _held_by(app: Gridbot, channels: tuple[str, ...], now: datetime) -> tuple[tuple[str, str] | None, bool]:
    """((channel, note) of the fault that holds this row, whether any of its channels is faulted). A row whose
    channel is stopped goes only as the probe: one row per PROBE_EVERY, claimed in the database."""
    with app.session() as session, session.begin():
        faults = channel_faults.active(session, channels)
        for fault in faults:
            if not channel_faults.claim_probe(session, fault.id, now):
                return (fault.channel, _held_note(fault)), True
        return None, bool(faults)


def _hold(app: Gridbot, outbox_id: int, channel: str, until: datetime, note: str) -> str:
    """Back to pending without counting the try, remembered as held for `channel` (released when it works)."""
    with app.session() as session, session.begin():
        session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(
            status="pending", attempts=OutboxMessage.attempts - 1, not_before=until, channel=channel,
            last_error=mask_text(note)[:2000]))
    return "pending"


def _stop_channel(app: Gridbot, outbox_id: int, fault: ConfigurationFault, now: datetime) -> str:
    """A configuration fault: recorded once per channel (one ERROR when it starts); this row waits for the probe."""
    with app.session() as session, session.begin():
        row, started = channel_faults.record(session, fault.channel, fault.errcode, fault.fix, fault.ip, now)
        probe_at = row.probe_at or now + channel_faults.PROBE_EVERY
        note = _held_note(row)
    if started:
        log.error("WeCom channel %s stopped: errcode %s: %s. Its messages wait (none is dropped) and are sent once "
                  "a probe (every %d min) succeeds", fault.channel, fault.errcode, fault.fix,
                  channel_faults.PROBE_EVERY.total_seconds() // 60)
    _hold(app, outbox_id, fault.channel, probe_at, note)
    schedule(app, outbox_id, at=probe_at)   # this row is the next probe (or the scheduler's probe_faults picks one)
    return "pending"


def _channel_works(app: Gridbot, channels: tuple[str, ...], now: datetime) -> None:
    """A send by a faulted channel went through: the fault is over and its held rows go at once."""
    with app.session() as session, session.begin():
        cleared = channel_faults.clear(session, channels, now)
        released = channel_faults.release(session, [f.channel for f in cleared], now)
        summary = [(f.channel, f.errcode, f.occurrences) for f in cleared]
    for channel, errcode, occurrences in summary:
        log.info("WeCom channel %s works again (errcode %s seen %d times); %d held messages released", channel,
                 errcode, occurrences, len(released))
    for oid in released:
        schedule(app, oid)


def probe_faults(app: Gridbot) -> int:
    """For each stopped channel whose probe is due, its oldest held row goes now (the scheduler calls this with
    release_held): a fault fixed while nothing new is sent is noticed within PROBE_EVERY. Returns rows queued."""
    now = app.clock.now()
    queued = []
    with app.session() as session, session.begin():
        for fault in channel_faults.active(session):
            if fault.probe_at is not None and fault.probe_at > now:
                continue
            oid = session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.status == "pending", OutboxMessage.channel == fault.channel)
                .order_by(OutboxMessage.id).limit(1))
            if oid is None:
                continue
            session.execute(update(OutboxMessage).where(OutboxMessage.id == oid).values(not_before=now))
            queued.append(oid)
    for oid in queued:
        schedule(app, oid)
    return len(queued)


def _finish(app: Gridbot, outbox_id: int, status: str, error: str | None, sent_at: datetime | None = None) -> str:
    with app.session() as session, session.begin():
        session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id)
                        .values(status=status, last_error=mask_text(error)[:2000] if error else None,
                                sent_at=sent_at))
    if status == "dead":
        log.error("outbox %s is dead after its last try: %s", outbox_id, mask_text(error or ""))
    return status


def retry_dead(app: Gridbot, outbox_id: int, actor: str) -> bool:
    """An operator sends a dead (or unknown) row again."""
    with app.session() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(update(OutboxMessage)
                                 .where(OutboxMessage.id == outbox_id, OutboxMessage.status.in_(["dead", "unknown"]))
                                 .values(status="pending", attempts=0, not_before=None)))
        if result.rowcount != 1:
            return False
        record(session, actor, "outbox.retry", "outbox", outbox_id, at=app.clock.now())
    schedule(app, outbox_id)
    return True


def confirm_delivered(app: Gridbot, outbox_id: int, actor: str) -> bool:
    """A person checked the chat: the `unknown` row did arrive (已确认送达). It leaves the list, and who said so is
    recorded."""
    with app.session() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(
            update(OutboxMessage).where(OutboxMessage.id == outbox_id, OutboxMessage.status == "unknown")
            .values(status="sent", last_error=f"outcome was unknown; {actor} confirmed it arrived")))
        if result.rowcount != 1:
            return False
        record(session, actor, "outbox.confirm_delivered", "outbox", outbox_id, at=app.clock.now())
    return True


def sweep_stuck(app: Gridbot, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Rows stuck in `sending` (a worker died mid-send): sent again where the platform drops a duplicate (within
    its interval, counted from the earliest the send can have started), else `unknown` for a person to check.
    Returns the rows swept."""
    now = app.clock.now()
    cutoff = now - older_than
    with app.session() as session:
        stuck = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sending",
                                                                 OutboxMessage.created_at < cutoff)))
    resend: list[int] = []
    unknown: list[int] = []
    for row in stuck:
        window = getattr(app.sender_for(row), "dedupe_window", None)
        started = max(row.created_at, row.not_before or row.created_at)
        (resend if window is not None and now - started < window else unknown).append(row.id)
    with app.session() as session, session.begin():
        for ids, values in (
                (resend, {"status": "pending", "not_before": None,
                          "last_error": "worker stopped while sending; sent again (the platform drops a duplicate)"}),
                (unknown, {"status": "unknown", "last_error": "worker stopped while sending; check the group, "
                                                              "then retry if it is missing"})):
            if ids:
                session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                                            OutboxMessage.status == "sending").values(**values))
    for oid in resend:
        schedule(app, oid)
    if resend:
        log.warning("outbox: %d rows a stopped worker left in sending are sent again (duplicate check)", len(resend))
    return len(stuck)
