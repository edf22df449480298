"""Reminders: set, list, cancel, and turn one occurrence into outbox rows.

Reminders people set in chat and the built-in duty rhythms of config/schedules.yaml are the same rows
(kind "user" / "builtin"), so the scheduler treats them alike. Services never commit.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Refusal
from ..messages import Reply
from ..models import Community, Grid, GridChat, Member, OutboxMessage, Reminder
from ..models.org import LEADER_ROLES
from ..schedule.config import DutyRule
from ..schedule.parse import Schedule, next_occurrences
from ..texts import t
from . import outbox
from .audit import record

WEEKDAYS = "一二三四五六日"
TARGET_TYPES = ("member", "grids", "community", "members", "leaders", "grid_chats")


class ReminderError(Refusal):
    """A request that cannot be done; `key` names the template under schedule.reminder that says why."""

    def __init__(self, key: str, **values: object):
        super().__init__(f"schedule.reminder.{key}", **values)


def fmt_when(dt: datetime | None, tz: str, now: datetime | None = None) -> str:
    """11月3日（周二）15:00 — how people read a time; with the year when it is not this year's."""
    if dt is None:
        return t("schedule.reminder.none")
    zone = ZoneInfo(tz)
    local = dt.astimezone(zone)
    values = dict(month=local.month, day=local.day, weekday=WEEKDAYS[local.weekday()], hm=local.strftime("%H:%M"))
    if now is not None and now.astimezone(zone).year != local.year:
        return t("schedule.when_year", year=local.year, **values)
    return t("schedule.when", **values)


def occurrence_key(source: str, source_id: object, due: datetime, tz: str) -> str:
    """'reminder:17:2026-12-01T09:00+08:00': the same for every scheduler that finds this occurrence."""
    return f"{source}:{source_id}:{due.astimezone(ZoneInfo(tz)).isoformat(timespec='minutes')}"


def next_after(reminder: Reminder, after: datetime, tz: str) -> datetime | None:
    """The reminder's first occurrence strictly after `after` (UTC), or None when it has no more."""
    if reminder.rrule is None:
        return reminder.due_at if reminder.due_at and reminder.due_at > after else None
    nxt = next_occurrences(reminder.rrule, reminder.dtstart, after, 1, tz)
    return nxt[0].astimezone(UTC) if nxt else None


def create_reminder(session: Session, *, community_id: int, owner_member_id: int | None, created_by: str,
                    target_type: str, schedule: Schedule, text: str, now: datetime,
                    grid_ids: list[int] | None = None, target_member_id: int | None = None,
                    urgent: bool = False, late_policy: str = "send_late_once") -> Reminder:
    if target_type not in TARGET_TYPES:
        raise ValueError(f"unknown reminder target {target_type!r}")
    first = schedule.next(now, 1)
    if not first:
        raise ReminderError("no_next")
    reminder = Reminder(
        community_id=community_id, kind="user", owner_member_id=owner_member_id, target_type=target_type,
        target_member_id=target_member_id, grid_ids=list(grid_ids or []), text=text,
        schedule_text=schedule.label[:255], rrule=schedule.rrule, dtstart=schedule.dtstart.astimezone(UTC),
        due_at=schedule.at.astimezone(UTC) if schedule.at else None,
        next_at=first[0].astimezone(UTC), late_policy=late_policy, urgent=urgent, active=True,
        created_by=created_by, created_at=now,
    )
    session.add(reminder)
    session.flush()
    record(session, created_by, "reminder.create", "reminder", reminder.id,
           {"rrule": reminder.rrule, "due_at": reminder.due_at.isoformat() if reminder.due_at else None,
            "target": target_type, "grid_ids": reminder.grid_ids}, at=now)
    return reminder


def visible_reminders(session: Session, member_id: int, grid_ids: set[int]) -> list[Reminder]:
    """Active reminders a member set, or that go to them or to one of their grids."""
    rows = session.scalars(
        select(Reminder).where(Reminder.active.is_(True), Reminder.kind == "user",
                               or_(Reminder.owner_member_id == member_id, Reminder.target_member_id == member_id,
                                   Reminder.target_type.in_(["grids", "community"])))
        .order_by(Reminder.id)
    ).all()
    mine = []
    for r in rows:
        if (r.owner_member_id == member_id or r.target_member_id == member_id
                or r.target_type == "grids" and {int(g) for g in r.grid_ids} & grid_ids):
            mine.append(r)
    return mine


def cancel_reminder(session: Session, reminder_id: int, *, actor: str, member_id: int | None,
                    roles: frozenset[str], scope_grid_ids: frozenset[int], now: datetime) -> Reminder:
    """The owner cancels their reminder; a leader may cancel any reminder to grids within their scope."""
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise ReminderError("not_found", id=reminder_id)
    if reminder.kind == "builtin":
        raise ReminderError("builtin", id=reminder_id)
    if not reminder.active:
        raise ReminderError("already", id=reminder_id)
    is_owner = member_id is not None and reminder.owner_member_id == member_id
    leader_over = bool(roles & LEADER_ROLES) and (
        (reminder.target_type == "grids" and {int(g) for g in reminder.grid_ids} <= set(scope_grid_ids))
        or (reminder.target_type == "community" and bool(roles & {"secretary", "chief"})))
    if not (is_owner or leader_over):
        raise ReminderError("not_yours", id=reminder_id)
    reminder.active = False
    reminder.next_at = None
    reminder.cancelled_by = actor
    reminder.cancelled_at = now
    record(session, actor, "reminder.cancel", "reminder", reminder.id, {"text": reminder.text[:200]}, at=now)
    return reminder


def describe_target(session: Session, reminder: Reminder, viewer_member_id: int | None = None) -> str:
    if reminder.target_type == "member":
        if reminder.target_member_id == viewer_member_id:
            return t("schedule.reminder.target_self")
        m = session.get(Member, reminder.target_member_id) if reminder.target_member_id else None
        return t("schedule.reminder.target_member", name=m.name if m else "?")
    if reminder.target_type == "grids":
        names = session.scalars(select(Grid.name).where(Grid.id.in_([int(g) for g in reminder.grid_ids]))
                                .order_by(Grid.code)).all()
        return t("schedule.reminder.target_grid", names="、".join(names))
    return t(f"schedule.reminder.target_{reminder.target_type}")


# -- firing -----------------------------------------------------------------------------------------------
@dataclass
class Target:
    kind: str      # "user" | "chat"
    id: str


def targets(session: Session, reminder: Reminder) -> list[Target]:
    """Where one occurrence goes, resolved now (a member who left, a chat bound since)."""
    if reminder.target_type == "member":
        m = session.get(Member, reminder.target_member_id) if reminder.target_member_id else None
        return [Target("user", m.userid)] if m is not None and m.active and m.on_duty else []  # 在岗=否: nothing
    if reminder.target_type in ("grids", "community", "grid_chats"):
        q = select(GridChat.chat_id).join(Grid).order_by(Grid.code, GridChat.chat_id)
        if reminder.target_type == "grids":
            q = q.where(Grid.id.in_([int(g) for g in reminder.grid_ids]))
        else:
            q = q.where(Grid.community_id == reminder.community_id)
        return [Target("chat", c) for c in session.scalars(q)]
    members = session.scalars(select(Member).where(Member.community_id == reminder.community_id,
                                                   Member.active.is_(True), Member.on_duty.is_(True))
                              .order_by(Member.id)).all()      # a member marked 不在岗 gets no duty rhythms
    if reminder.target_type == "leaders":
        members = [m for m in members if set(m.roles or []) & LEADER_ROLES]
    return [Target("user", m.userid) for m in members if m.roles]


def render(reminder: Reminder, due: datetime, late: bool, tz: str) -> str:
    local = due.astimezone(ZoneInfo(tz))
    if reminder.kind == "builtin":
        text = t(f"schedule.duty.{reminder.text}", month=local.month, quarter=(local.month - 1) // 3 + 1,
                 year=local.year, day=local.day)
        return t("schedule.reminder.late_prefix") + text if late else text
    if late:
        return t("schedule.reminder.fire_late", text=reminder.text, due=fmt_when(due, tz))
    return t("schedule.reminder.fire", text=reminder.text)


def write_occurrence(session: Session, reminder: Reminder, key: str, due: datetime, now: datetime,
                     late: bool, tz: str, platform: str = "wecom_app") -> list[OutboxMessage]:
    """The outbox rows of one occurrence. Each row's idempotency key extends the occurrence key, so even a
    second writer that got past the occurrence's own unique key could not add a second copy."""
    text = render(reminder, due, late, tz)
    replies = []
    for target in targets(session, reminder):
        replies.append(Reply(text=text, urgent=reminder.urgent,
                             idempotency_key=f"{key}:{target.kind}:{target.id}"[:255],
                             to_user=target.id if target.kind == "user" else None,
                             to_chat=target.id if target.kind == "chat" else None))
    return outbox.write_replies(session, None, replies, now, platform=platform)


# -- built-in duty rhythms --------------------------------------------------------------------------------
def sync_builtin(session: Session, rules: Iterable[DutyRule], now: datetime, tz: str) -> int:
    """One builtin Reminder per community and duty rule; a changed rule in config is picked up here.

    Returns how many rows were created. Two schedulers creating the same row: the unique source_key lets one win.
    """
    created = 0
    communities = session.execute(select(Community.id, Community.code)).all()
    existing = {r.source_key: r for r in session.scalars(select(Reminder).where(Reminder.kind == "builtin"))}
    for cid, code in communities:
        for rule in rules:
            key = f"duty:{code}:{rule.key}"
            row = existing.get(key)
            if row is None:
                if not rule.enabled:
                    continue
                anchor = datetime(2026, 1, 1, tzinfo=ZoneInfo(tz))
                nxt = next_occurrences(rule.rrule, anchor, now, 1, tz)
                row = Reminder(community_id=cid, kind="builtin", source_key=key, target_type=rule.audience,
                               grid_ids=[], text=rule.text, schedule_text=rule.key, rrule=rule.rrule,
                               dtstart=anchor.astimezone(UTC),
                               next_at=nxt[0].astimezone(UTC) if nxt else None,
                               late_policy=rule.late, active=True, created_by="system:schedules.yaml",
                               created_at=now)
                try:
                    with session.begin_nested():
                        session.add(row)
                    created += 1
                except IntegrityError:
                    continue
                continue
            changed = (row.rrule != rule.rrule or row.target_type != rule.audience or row.text != rule.text
                       or row.late_policy != rule.late or row.active != rule.enabled)
            if changed:
                row.rrule, row.target_type, row.text, row.late_policy = rule.rrule, rule.audience, rule.text, rule.late
                row.active = rule.enabled
                row.next_at = next_after(row, now, tz) if rule.enabled else None
    return created


def builtin_count(session: Session, community_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Reminder).where(
        Reminder.community_id == community_id, Reminder.kind == "builtin", Reminder.active.is_(True))) or 0
