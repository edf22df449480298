"""Channel faults: a sending channel stopped by its configuration (one row per channel, models.ChannelFault).

A thousand rows failing one by one on the same wrong secret is one alarm, not a thousand dead rows: the first row
that meets the fault records it here; that row and every later row of the channel wait (pipeline/delivery.py),
and one of them probes the platform every PROBE_EVERY. The first success clears the fault and releases them.
Readers (readyz, /metrics, the console banner, the digest) call `active`.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import local
from ..models import ChannelFault, OutboxMessage
from ..texts import t

PROBE_EVERY = timedelta(minutes=5)
KNOWN_FIXES = {40001, 40013, 40091, 40056, 301002, 50003, 60020, 48001, 48002, 60011, 93000}


def active(session: Session, channels: Iterable[str] | None = None) -> list[ChannelFault]:
    """The faults not yet cleared (of `channels` when given), oldest first."""
    query = select(ChannelFault).where(ChannelFault.cleared_at.is_(None))
    if channels is not None:
        query = query.where(ChannelFault.channel.in_(list(channels)))
    return list(session.scalars(query.order_by(ChannelFault.first_seen, ChannelFault.id)))


def channel_name(channel: str) -> str:
    """The channel as people call it (a robot's hash stays out of sight)."""
    return t("channel_faults.channel." + channel.split(":", 1)[0])


def fix_text(fault: ChannelFault) -> str:
    """What to fix, in Chinese, for the people who read the console and the digest."""
    if fault.errcode in KNOWN_FIXES:
        return t(f"channel_faults.fix.{fault.errcode}", ip=fault.ip or "?")
    return t("channel_faults.fix.other", errcode=fault.errcode, message=fault.message)


def held_count(session: Session, channel: str) -> int:
    """How many messages wait for the channel."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.channel == channel)) or 0


def banner(session: Session, fault: ChannelFault, timezone: str) -> str:
    """The console's line about one stopped channel."""
    return t("channel_faults.banner", channel=channel_name(fault.channel), errcode=fault.errcode,
             since=local(fault.first_seen, timezone).strftime("%m-%d %H:%M"), n=fault.occurrences,
             fix=fix_text(fault), held=held_count(session, fault.channel))


def digest_line(fault: ChannelFault) -> str:
    return t("channel_faults.digest", channel=channel_name(fault.channel), errcode=fault.errcode, fix=fix_text(fault))


def record(session: Session, channel: str, errcode: int, message: str, ip: str | None,
           now: datetime) -> tuple[ChannelFault, bool]:
    """Note that `channel` met a configuration fault. Returns the fault and whether it starts now (it was not
    active): the caller raises the alarm once. The next probe is due PROBE_EVERY from now."""
    fault = session.scalar(select(ChannelFault).where(ChannelFault.channel == channel).with_for_update())
    if fault is None:
        try:
            with session.begin_nested():
                fault = ChannelFault(channel=channel, errcode=errcode, message=message, ip=ip, first_seen=now,
                                     last_seen=now, occurrences=1, probe_at=now + PROBE_EVERY)
                session.add(fault)
            return fault, True
        except IntegrityError:   # another worker recorded it a moment ago
            fault = session.scalar(select(ChannelFault).where(ChannelFault.channel == channel).with_for_update())
            assert fault is not None
    started = fault.cleared_at is not None
    if started:   # the same channel fails again after a fix: a new episode
        fault.first_seen, fault.occurrences, fault.cleared_at = now, 0, None
    fault.errcode, fault.message, fault.ip = errcode, message, ip
    fault.last_seen = now
    fault.occurrences += 1
    fault.probe_at = now + PROBE_EVERY
    return fault, started


def claim_probe(session: Session, fault_id: int, now: datetime) -> bool:
    """One row at a time tries the channel again: whoever moves probe_at on first (a conditional UPDATE)."""
    result = cast(CursorResult[Any], session.execute(
        update(ChannelFault)
        .where(ChannelFault.id == fault_id, ChannelFault.cleared_at.is_(None), ChannelFault.probe_at <= now)
        .values(probe_at=now + PROBE_EVERY)))
    return result.rowcount == 1


def clear(session: Session, channels: Iterable[str], now: datetime) -> list[ChannelFault]:
    """A send by these channels succeeded: their faults are over. Returns the faults cleared now."""
    faults = active(session, channels)
    for fault in faults:
        fault.cleared_at = now
        fault.probe_at = None
    return faults


def release(session: Session, channels: Iterable[str], now: datetime) -> list[int]:
    """The rows held for these channels are due now (ids, oldest first): the caller queues them."""
    names = list(channels)
    ids = list(session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.status == "pending", OutboxMessage.channel.in_(names),
                                       OutboxMessage.not_before > now).order_by(OutboxMessage.id)))
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(not_before=now))
    return ids
