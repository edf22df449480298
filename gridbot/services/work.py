"""Grid members' duties: patrols (签到/签退), household visits (走访), work logs (日志), duty and leave (值班/请假),
and which households are due for a visit (待走访).

Functions take a Session and plain values and never commit. A rule that says no raises WorkError (a Refusal) with
the name of a template under `work.` in templates.yaml; OutOfScope is the refusal that must be audited.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..errors import Refusal
from ..messages import Reply
from ..models import AuditLog, Grid, Household, InboundMessage, Member, MemberGrid, OutboxMessage, Reminder, Ticket
from ..models.household import HOUSEHOLD_TAGS, KEY_HOUSEHOLD_TAGS
from ..models.tickets import OPEN_STATUSES
from ..models.work import Leave, Patrol, Visit, WorkLog
from ..periods import add_months, day_start, local_day, quarter_start
from ..periods import parse_until as parse_until  # re-exported: 请假's words (handlers.members_work)
from ..places import place_text
from ..texts import t
from ..understanding import parse_address, understand
from ..workcal import WorkCalendar
from . import audit, outbox, tickets
from .people import find_member as find_member  # re-exported: one member lookup for tickets and work
from .people import on_leave as active_leave
from .people import subtree_ids
from .tickets import lifecycle

OPEN_PATROL_MAX = timedelta(hours=12)      # a patrol not ended within this is treated as forgotten, not open
RECENT_LOCATION = timedelta(minutes=10)    # a location reported this recently can back a 签到 without one


class WorkError(Refusal):
    """A rule about members' duties said no. `key` names templates.yaml work.<key>."""

    def __init__(self, key: str, **values: Any):
        super().__init__(f"work.{key}", **values)


class OutOfScope(WorkError):
    """The speaker asked to act in a grid (or on a household or member) outside their scope. Audited."""

    def __init__(self, key: str, entity_type: str, entity_id: Any, **values: Any):
        super().__init__(key, **values)
        self.entity_type = entity_type
        self.entity_id = entity_id


# -- grids -------------------------------------------------------------------------------------------
def find_grid(session: Session, community_id: int | None, word: str) -> Grid | None:
    """A grid by code (case-insensitive) or by name, within the community."""
    word = word.strip()
    if not word:
        return None
    query = select(Grid)
    if community_id is not None:
        query = query.where(Grid.community_id == community_id)
    for grid in session.scalars(query.order_by(Grid.id)):
        if grid.code.lower() == word.lower() or grid.name == word:
            return grid
    return None


def work_grids(session: Session, grid_ids: Iterable[int]) -> list[Grid]:
    """The grids where the work happens: the given ones, or the grids below a top grid (a secretary's HY)."""
    ids = subtree_ids(session, set(grid_ids))
    grids = list(session.scalars(select(Grid).where(Grid.id.in_(ids)).order_by(Grid.code)))
    with_children = {g.parent_id for g in grids if g.parent_id is not None}
    return [g for g in grids if g.id not in with_children]


def pick_grid(session: Session, *, community_id: int | None, own_grid_ids: Iterable[int],
              scope_grid_ids: Iterable[int], chat_grid_id: int | None, word: str | None = None) -> Grid:
    """Which grid a member means: the one named, else the chat's grid, else their only grid; else ask."""
    scope = set(scope_grid_ids)
    if word:
        grid = find_grid(session, community_id, word)
        if grid is None:  # name a grid of theirs as the example, not another community's code
            mine = work_grids(session, own_grid_ids) or work_grids(session, scope)
            if not mine:
                raise WorkError("grid_unknown_plain", word=word)
            raise WorkError("grid_unknown", word=word, example=mine[0].code)
        if grid.id not in scope:
            raise OutOfScope("grid_out_of_scope", "grid", grid.code, grid=grid.name)
        return grid
    if chat_grid_id is not None:
        grid = session.get_one(Grid, chat_grid_id)  # a chat's grid is a foreign key: it exists
        if chat_grid_id not in scope:      # in another grid's group: not theirs to act in
            raise OutOfScope("grid_out_of_scope", "grid", grid.code, grid=grid.name)
        return grid
    own = work_grids(session, own_grid_ids)
    if len(own) == 1:
        return own[0]
    choices = own or work_grids(session, scope)
    raise WorkError("which_grid", choices="、".join(f"{g.code} {g.name}" for g in choices[:12]),
                    example=choices[0].code if choices else "HY-01")


# -- patrols -----------------------------------------------------------------------------------------
def open_patrol(session: Session, member_id: int, now: datetime) -> Patrol | None:
    return session.scalar(
        select(Patrol).where(Patrol.member_id == member_id, Patrol.ended_at.is_(None),
                             Patrol.started_at > now - OPEN_PATROL_MAX)
        .order_by(Patrol.started_at.desc()).limit(1))


def recent_location(session: Session, platform: str, user_id: str, now: datetime,
                    within: timedelta = RECENT_LOCATION) -> dict[str, Any] | None:
    """The newest location this person sent or reported (WeCom LOCATION event) in the last few minutes."""
    rows = session.scalars(
        select(InboundMessage).where(InboundMessage.platform == platform, InboundMessage.sender_id == user_id,
                                     InboundMessage.kind.in_(("location", "event")),
                                     InboundMessage.received_at >= now - within)
        .order_by(InboundMessage.id.desc()).limit(20))
    for row in rows:
        found = location_of(row.payload)
        if found:
            return found
    return None


def location_of(payload: dict[str, Any]) -> dict[str, Any] | None:
    """latitude/longitude/label from a stored Inbound dict: a location message or a LOCATION event."""
    loc = payload.get("location")
    if loc and loc.get("latitude") is not None:
        return {"latitude": float(loc["latitude"]), "longitude": float(loc["longitude"]), "label": loc.get("label")}
    if (payload.get("event") or "").upper() == "LOCATION":
        data = {k.lower(): v for k, v in (payload.get("event_data") or {}).items()}
        try:
            return {"latitude": float(data["latitude"]), "longitude": float(data["longitude"]),
                    "label": data.get("label")}
        except (KeyError, TypeError, ValueError):
            return None
    return None


def check_in(session: Session, *, member_id: int, grid_id: int, now: datetime, actor: str,
             place: str | None = None, latitude: float | None = None, longitude: float | None = None,
             note: str | None = None) -> Patrol:
    """Start a patrol. One open patrol at a time: a second 签到 says when the first began."""
    current = open_patrol(session, member_id, now)
    if current is not None:
        raise WorkError("patrol_already_open", grid=current.grid.name, since=current.started_at)
    patrol = Patrol(member_id=member_id, grid_id=grid_id, started_at=now, place=place or None,
                    latitude=latitude, longitude=longitude, note=note or None)
    session.add(patrol)
    session.flush()
    audit.record(session, actor, "patrol.start", "patrol", patrol.id,
                 {"grid_id": grid_id, "place": place, "located": latitude is not None}, at=now)
    return patrol


def check_out(session: Session, *, member_id: int, now: datetime, actor: str, note: str | None = None) -> Patrol:
    patrol = open_patrol(session, member_id, now)
    if patrol is None:
        raise WorkError("patrol_not_open")
    patrol.ended_at = now
    patrol.end_note = note or None
    audit.record(session, actor, "patrol.end", "patrol", patrol.id,
                 {"minutes": int((now - patrol.started_at).total_seconds() // 60)}, at=now)
    return patrol


def attach_location(session: Session, *, member_id: int, now: datetime, latitude: float, longitude: float,
                    label: str | None = None) -> Patrol | None:
    """A LOCATION event during an open patrol without coordinates completes it (silently)."""
    patrol = open_patrol(session, member_id, now)
    if patrol is None or patrol.latitude is not None:
        return None
    patrol.latitude, patrol.longitude = latitude, longitude
    if label and not patrol.place:
        patrol.place = label
    return patrol


# -- visits ------------------------------------------------------------------------------------------
_TAG_WORDS = {  # what people write -> the household tag
    "独居老人": "独居老人", "独居": "独居老人", "空巢老人": "独居老人",
    "残疾": "残疾", "残疾人": "残疾", "残障": "残疾",
    "困难": "困难", "低保": "困难", "特困": "困难", "困难户": "困难",
    "留守儿童": "留守儿童", "流动人口": "流动人口", "租户": "流动人口",
    "出租房": "出租房", "空置": "空置", "商户": "商户",
}
_FOLLOW_UP_RE = re.compile(r"(需要|需|要求|要|帮忙|帮他|帮她|请求|希望|想要)")
_INVITED_RE = re.compile(r"(已邀请进群|已邀请入群|邀请进群|邀请入群|已拉进群|已拉群|已进群|已入群|加群了|已加群)")
_CLAUSE_SPLIT = re.compile(r"[，,。;；!！?？、\s]+")


@dataclass
class VisitNotes:
    tags: list[str] = field(default_factory=list)
    follow_up: str | None = None
    invited: bool = False


def read_visit_notes(note: str) -> VisitNotes:
    """Tags (独居老人 …), a follow-up need (需要/要/帮忙 …) and an invitation into the group, from free text."""
    found = VisitNotes()
    for word in sorted(_TAG_WORDS, key=len, reverse=True):
        if word in note and _TAG_WORDS[word] not in found.tags:
            found.tags.append(_TAG_WORDS[word])
    found.tags = [t for t in HOUSEHOLD_TAGS if t in found.tags]
    needs = []
    clauses = [c for c in _CLAUSE_SPLIT.split(note) if c]
    for n, clause in enumerate(clauses):
        match = _FOLLOW_UP_RE.search(clause)
        if not match or clause[max(0, match.start() - 1):match.start()] in ("不", "没", "无"):
            continue
        need = clause[match.start():].strip()
        if len(need) <= len(match.group(0)):
            continue
        if _lacks_object(need[len(match.group(0)):]) and n > 0 and _TAG_ONLY_RE.fullmatch(clauses[n - 1]) is None:
            need = f"{clauses[n - 1]}，{need}"     # "降压药快吃完了，需要代买": what is needed is in the clause before
        needs.append(need)
    found.follow_up = "；".join(needs) or None
    found.invited = bool(_INVITED_RE.search(note))
    return found


# A need that names only the help ("需要代买", "需要帮忙") says what it is about in the clause before it.
_BARE_HELP = frozenset({"代买", "代购", "代取", "代领", "代办", "代缴", "帮忙", "帮助", "协助", "处理", "解决", "办理",
                        "买", "购买", "跑腿", "送", "送来", "帮买", "帮他买", "帮她买", "帮忙买", "帮忙办", "联系",
                        "上门", "看看", "维修", "修理", "修"})
_TAG_ONLY_RE = re.compile("|".join(sorted(map(re.escape, _TAG_WORDS), key=len, reverse=True)) + r"|.{0,1}")
_RUNNING_OUT_RE = re.compile(r"^(?:家里|他家|她家|老人的?|老人家的?)?(?P<thing>[\u4e00-\u9fff]{1,8}?)"
                             r"(?:快|已经|已|都|也)?(?:吃完|用完|没了|没有了|不够|坏了|坏|用光|吃光|快没|断了)")


def _lacks_object(rest: str) -> bool:
    return rest.strip() in _BARE_HELP


def need_summary(follow_up: str) -> str:
    """A ticket's summary for a visit's need: "代买降压药" for "降压药快吃完了，需要代买"; the need itself otherwise."""
    first = follow_up.split("；")[0]
    clauses = first.split("，")
    if len(clauses) == 2:
        match = _FOLLOW_UP_RE.search(clauses[1])
        thing = _RUNNING_OUT_RE.match(clauses[0])
        if match and thing:
            verb = clauses[1][match.end():].strip()
            if verb in _BARE_HELP and verb.startswith(("代", "帮", "买", "购")):
                return f"{verb}{thing.group('thing')}"
    return follow_up


def split_address(text: str) -> tuple[Any, str]:
    """The address in a 走访 text and the note after it: the shortest prefix that reads as the same address."""
    address = parse_address(text)
    if address is None:
        return None, text
    key = (address.building, address.unit, address.room)
    cut = len(text)
    for i in range(1, len(text) + 1):
        head = parse_address(text[:i])
        if head is not None and (head.building, head.unit, head.room) == key:
            cut = i
            break
    rest = text[cut:].lstrip()
    rest = re.sub(r"^(室|号|房)", "", rest)
    return address, rest.strip(" ，,：:;；")


def find_household(session: Session, *, community_id: int | None, scope_grid_ids: Iterable[int], address: Any,
                   prefer_grid_id: int | None = None) -> Household:
    """The household at an address, within the speaker's grids (preferring the chat's grid)."""
    building = str(address.building)
    unit = str(address.unit) if getattr(address, "unit", None) else None
    room = str(address.room) if getattr(address, "room", None) else None
    label = format_address(building, unit, room)
    if not room:
        raise WorkError("visit_need_room", address=label)
    query = (select(Household).join(Grid).where(Household.building == building, Household.room == room,
                                                Household.status == "active"))
    if community_id is not None:
        query = query.where(Grid.community_id == community_id)
    if unit:
        query = query.where(Household.unit == unit)
    found = list(session.scalars(query.order_by(Household.id)))
    scope = set(scope_grid_ids)
    inside = [h for h in found if h.grid_id in scope]
    if not inside:
        if found:
            raise OutOfScope("household_out_of_scope", "household", found[0].id, address=label)
        raise WorkError("household_not_found", address=label)
    if prefer_grid_id is not None and any(h.grid_id == prefer_grid_id for h in inside):
        inside = [h for h in inside if h.grid_id == prefer_grid_id]
    if len(inside) > 1:
        raise WorkError("household_ambiguous", address=label,
                        choices="、".join(f"{h.grid.name} {h.address}" for h in inside[:6]))
    return inside[0]


def format_address(building: str, unit: str | None, room: str | None) -> str:
    return place_text(building, unit, room)


def record_visit(session: Session, *, member_id: int, household: Household, now: datetime, actor: str,
                 note: str | None, notes: VisitNotes) -> Visit:
    """Record the visit; tags newly noticed are added to the household (audited as a household change)."""
    visit = Visit(member_id=member_id, household_id=household.id, grid_id=household.grid_id, at=now,
                  note=note or None, tags=list(notes.tags), follow_up=notes.follow_up,
                  invited_to_group=notes.invited)
    session.add(visit)
    new_tags = [t for t in notes.tags if t not in (household.tags or [])]
    if new_tags:
        household.tags = list(household.tags or []) + new_tags
        household.updated_by = actor
        household.updated_at = now
        audit.record(session, actor, "household.tags_added", "household", household.id,
                     {"tags": new_tags, "source": "visit"}, at=now)
    session.flush()
    audit.record(session, actor, "visit.create", "visit", visit.id,
                 {"household_id": household.id, "tags": notes.tags, "follow_up": bool(notes.follow_up)}, at=now)
    return visit


def visit_for_ticket(session: Session, *, member_id: int, scope_grid_ids: Iterable[int],
                     visit_id: int | None = None) -> Visit:
    """The visit whose follow-up should become a ticket: the one named, else the member's latest with a need."""
    if visit_id is not None:
        visit = session.get(Visit, visit_id)
        if visit is None:
            raise WorkError("visit_not_found", id=visit_id)
        if visit.member_id != member_id and visit.grid_id not in set(scope_grid_ids):
            raise OutOfScope("visit_out_of_scope", "visit", visit.id, id=visit.id)
    else:
        visit = session.scalar(select(Visit).where(Visit.member_id == member_id)
                               .order_by(Visit.at.desc(), Visit.id.desc()).limit(1))
        if visit is None:
            raise WorkError("visit_none_yet")
    if not visit.follow_up:
        raise WorkError("visit_no_follow_up", id=visit.id)
    if visit.ticket_id is not None:  # people know a ticket by its number (XF-20261102-0001), not its row id
        number = session.scalar(select(Ticket.number).where(Ticket.id == visit.ticket_id))
        raise WorkError("visit_already_ticket", id=visit.id, ticket=number or visit.ticket_id)
    return visit


def link_ticket(session: Session, visit: Visit, ticket_id: int, *, actor: str, now: datetime) -> None:
    visit.ticket_id = ticket_id
    audit.record(session, actor, "visit.ticket", "visit", visit.id, {"ticket_id": ticket_id}, at=now)


def ticket_for_visit(session: Session, policy: Any, visit: Visit, *, platform: str, user_id: str,
                     name: str | None, actor: str, now: datetime) -> Any:
    """Open a ticket (through gridbot.services.tickets, under its `policy`) for a visit's follow-up need and link it.

    The member reports on the household's behalf; category and urgency come from the understanding of the
    need (an assistance request when it reads as none).
    """
    need = visit.follow_up or ""
    read = understand(need)
    household = visit.household
    request = tickets.NewRequest(
        platform=platform, user_id=user_id, name=name, grid_id=visit.grid_id,
        text=f"{household.address} 走访发现：{need}",
        category=read.category if read.is_request and read.category else "assistance",
        urgency=read.urgency, building=household.building, unit=household.unit or None, room=household.room,
        summary=need_summary(need))
    ticket = tickets.report(session, policy, request, now).ticket
    link_ticket(session, visit, ticket.id, actor=actor, now=now)
    return ticket


# -- work logs ---------------------------------------------------------------------------------------
def add_log(session: Session, *, member_id: int, now: datetime, text: str, tz: ZoneInfo) -> WorkLog:
    entry = WorkLog(member_id=member_id, day=local_day(now, tz), at=now, text=text.strip())
    session.add(entry)
    session.flush()
    return entry


def logs_between(session: Session, member_id: int, start: date, end: date) -> list[WorkLog]:
    """A member's log entries with start <= day < end, oldest first."""
    return list(session.scalars(select(WorkLog).where(WorkLog.member_id == member_id, WorkLog.day >= start,
                                                      WorkLog.day < end).order_by(WorkLog.day, WorkLog.at)))


def get_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:  # pragma: no cover - the speaker was resolved from this row a moment ago
        raise WorkError("member_unknown", word=str(member_id))
    return member


def member_in_scope(member: Member, scope_grid_ids: Iterable[int]) -> bool:
    scope = set(scope_grid_ids)
    return any(link.grid_id in scope for link in member.grid_links)


def pending_reviews(session: Session, *, community_id: int | None, scope_grid_ids: Iterable[int],
                    start: date, end: date) -> list[tuple[Member, int]]:
    """Members in scope with unreviewed log entries in the period, and how many."""
    scope = set(scope_grid_ids)
    rows = session.execute(
        select(WorkLog.member_id, func.count()).join(Member, Member.id == WorkLog.member_id)
        .where(WorkLog.reviewed_at.is_(None), WorkLog.day >= start, WorkLog.day < end,
               Member.community_id == community_id)
        .group_by(WorkLog.member_id)).all()
    out = []
    for member_id, count in rows:
        member = session.get(Member, member_id)
        if member is not None and member_in_scope(member, scope):
            out.append((member, count))
    return sorted(out, key=lambda pair: pair[0].id)


def review_logs(session: Session, *, reviewer_id: int, member_id: int, start: date, end: date, now: datetime,
                actor: str, comment: str | None = None) -> int:
    """Mark a member's unreviewed entries of the period as reviewed (审核). Returns how many."""
    entries = [e for e in logs_between(session, member_id, start, end) if e.reviewed_at is None]
    for entry in entries:
        entry.reviewed_by, entry.reviewed_at, entry.review_comment = reviewer_id, now, comment or None
    if entries:
        audit.record(session, actor, "worklog.review", "member", member_id,
                     {"from": start.isoformat(), "until": end.isoformat(), "entries": len(entries),
                      "comment": comment}, at=now)
    return len(entries)


# -- duty and leave ----------------------------------------------------------------------------------
def request_leave(session: Session, *, member: Member, now: datetime, last_day: date, actor: str,
                  reason: str | None = None, tz: ZoneInfo) -> Leave:
    """Away from now until the end of last_day (local); the A/B partner covers. A new leave replaces an old one.

    The member's open tickets and personal reminders go to the partner for the time (`hand_over`); what is still
    open comes back when the leave ends (销假, or the `end_leaves` job once its last day is over)."""
    if last_day < local_day(now, tz):
        raise WorkError("leave_in_past", day=last_day)
    if last_day > local_day(now, tz) + timedelta(days=90):
        raise WorkError("leave_too_long")
    current = active_leave(session, member.id, now)
    if current is not None:
        current.cancelled_at = now
        hand_back(session, current, actor=actor, now=now)
    partner = member.partner  # a partner marked 不在岗 in the roster cannot cover: the grid leader must arrange it
    if partner is not None and not (partner.active and partner.on_duty):
        partner = None
    if partner is not None and active_leave(session, partner.id, now) is not None:
        partner = None
    leave = Leave(member_id=member.id, partner_id=partner.id if partner else None, starts_at=now,
                  ends_at=day_start(last_day + timedelta(days=1), tz), reason=reason or None, created_at=now)
    session.add(leave)
    session.flush()
    audit.record(session, actor, "leave.start", "member", member.id,
                 {"until": last_day.isoformat(), "partner_id": leave.partner_id, "reason": reason}, at=now)
    hand_over(session, leave, actor=actor, now=now)
    return leave


# What a leave handed over is kept in its audit record ("leave.handover", entity "leave" <id>: the ticket ids and
# the reminder ids with the fields moved); "leave.handback" marks it returned. Only what is still the partner's
# when the leave ends comes back: a ticket the partner resolved or passed on stays where it is.
HANDOVER, HANDBACK = "leave.handover", "leave.handback"


def hand_over(session: Session, leave: Leave, *, actor: str, now: datetime) -> list[Ticket]:
    """The member's open tickets and the personal reminders they own or receive go to the covering partner.
    Each ticket records the move (event "leave_handover", with the actor). Nothing moves without a partner."""
    partner = leave.partner
    if partner is None:
        return []
    member = leave.member
    moved = list(session.scalars(select(Ticket).where(Ticket.assignee_id == member.id,
                                                      Ticket.status.in_(OPEN_STATUSES))
                                 .order_by(Ticket.created_at, Ticket.id)))
    for ticket in moved:
        lifecycle.event(session, ticket, actor, "leave_handover", now, member_id=partner.id,
                        note=t("work.leave_handover_event", name=member.name, partner=partner.name),
                        detail={"leave_id": leave.id, "from": member.userid, "to": partner.userid})
        ticket.assignee = partner
    reminders: list[list[Any]] = []
    for reminder in session.scalars(select(Reminder).where(
            Reminder.active.is_(True), Reminder.kind == "user",
            or_(Reminder.owner_member_id == member.id, Reminder.target_member_id == member.id))
            .order_by(Reminder.id)):
        fields: list[str] = []
        if reminder.owner_member_id == member.id:
            reminder.owner_member_id, fields = partner.id, [*fields, "owner"]
        if reminder.target_member_id == member.id:
            reminder.target_member_id, fields = partner.id, [*fields, "target"]
        reminders.append([reminder.id, fields])
    audit.record(session, actor, HANDOVER, "leave", leave.id,
                 {"member_id": member.id, "partner_id": partner.id, "tickets": [tk.id for tk in moved],
                  "reminders": reminders}, at=now)
    return moved


def _handover_of(session: Session, leave_id: int) -> dict[str, Any] | None:
    row = session.scalar(select(AuditLog).where(AuditLog.action == HANDOVER, AuditLog.entity_type == "leave",
                                                AuditLog.entity_id == str(leave_id)).limit(1))
    return None if row is None else dict(row.detail or {})


def hand_back(session: Session, leave: Leave, *, actor: str, now: datetime) -> list[Ticket]:
    """The end of a leave: what the partner still holds of the handed-over work returns to the member.
    Returns the tickets returned. Idempotent (marked by a "leave.handback" audit record)."""
    done = session.scalar(select(AuditLog.id).where(AuditLog.action == HANDBACK, AuditLog.entity_type == "leave",
                                                    AuditLog.entity_id == str(leave.id)).limit(1))
    record = _handover_of(session, leave.id)
    if record is None or done is not None:
        return []
    member, partner_id = leave.member, record["partner_id"]
    back = []
    if record["tickets"]:
        for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(record["tickets"]))
                                      .order_by(Ticket.created_at, Ticket.id)):
            if ticket.assignee_id != partner_id or ticket.status not in OPEN_STATUSES:
                continue
            lifecycle.event(session, ticket, actor, "leave_handback", now, member_id=member.id,
                            note=t("work.leave_handback_event", name=member.name),
                            detail={"leave_id": leave.id, "from": ticket.assignee.userid if ticket.assignee else None,
                                    "to": member.userid})
            ticket.assignee = member
            back.append(ticket)
    for reminder_id, fields in record["reminders"]:
        reminder = session.get(Reminder, reminder_id)
        if reminder is None or not reminder.active:
            continue
        if "owner" in fields and reminder.owner_member_id == partner_id:
            reminder.owner_member_id = member.id
        if "target" in fields and reminder.target_member_id == partner_id:
            reminder.target_member_id = member.id
    audit.record(session, actor, HANDBACK, "leave", leave.id, {"tickets": [tk.id for tk in back]}, at=now)
    return back


def end_leaves(session: Session, *, now: datetime, platform: str | None = None) -> list[tuple[Leave, list[Ticket]]]:
    """The job that notices leaves whose time is over (their last day ended): hand the work back and tell the
    member which tickets are theirs again (one private message). Leaves cancelled by 销假 were handed back then."""
    pending = set(session.scalars(select(AuditLog.entity_id).where(AuditLog.action == HANDOVER,
                                                                    AuditLog.entity_type == "leave")))
    pending -= set(session.scalars(select(AuditLog.entity_id).where(AuditLog.action == HANDBACK,
                                                                     AuditLog.entity_type == "leave")))
    ids = [int(i) for i in pending if i and i.isdigit()]
    out = []
    for leave in session.scalars(select(Leave).where(Leave.id.in_(ids or [0])).order_by(Leave.id)):
        ended = leave.cancelled_at is not None or leave.ends_at <= now
        if not ended:
            continue
        back = hand_back(session, leave, actor="system:leave", now=now)
        out.append((leave, back))
        member = leave.member
        if back and member.active and member.on_duty:
            numbers = "、".join(tk.number for tk in back)
            outbox.write_replies(session, None, [Reply(
                t("work.leave_over_notice", count=len(back), numbers=numbers), to_user=member.userid,
                idempotency_key=f"leave-back:{leave.id}")], now, platform)
    return out


def leave_days(session: Session, member_id: int, start: date, end: date, cal: WorkCalendar) -> set[date]:
    """Local days in [start, end) the member was away: a leave (not the part after 销假) covering the middle of
    the day's office hours. Such days are not missing log days and are not counted in 考核."""
    tz = cal.tz
    since, until = day_start(start, tz), day_start(end, tz)
    rows = session.scalars(select(Leave).where(Leave.member_id == member_id, Leave.starts_at < until,
                                               Leave.ends_at > since))
    mid = (datetime.combine(date(2000, 1, 1), cal.office_start) + (
        datetime.combine(date(2000, 1, 1), cal.office_end) - datetime.combine(date(2000, 1, 1), cal.office_start)) / 2
           ).time()
    days: set[date] = set()
    for leave in rows:
        stop = min(leave.ends_at, leave.cancelled_at) if leave.cancelled_at is not None else leave.ends_at
        day = max(start, local_day(leave.starts_at, tz))
        while day < end:
            noon = datetime.combine(day, mid, tz)
            if noon >= stop:
                break
            if noon >= leave.starts_at:
                days.add(day)
            day += timedelta(days=1)
    return days


def open_ticket_numbers(session: Session, member_id: int) -> list[str]:
    """Tickets still on the member's desk (not yet resolved): a leave should hand them over, not strand them."""
    return list(session.scalars(select(Ticket.number).where(Ticket.assignee_id == member_id,
                                                            Ticket.status.in_(OPEN_STATUSES))
                                .order_by(Ticket.created_at, Ticket.id)))


def cancel_leave(session: Session, *, member_id: int, now: datetime, actor: str) -> Leave:
    """销假: back at work; what the partner still holds of the handed-over work returns (see `returned`)."""
    leave = active_leave(session, member_id, now)
    if leave is None:
        raise WorkError("leave_none")
    leave.cancelled_at = now
    audit.record(session, actor, "leave.end", "member", member_id, {"leave_id": leave.id}, at=now)
    hand_back(session, leave, actor=actor, now=now)
    return leave


def returned(session: Session, leave: Leave) -> list[str]:
    """The numbers of the tickets that came back to the member when the leave ended."""
    row = session.scalar(select(AuditLog).where(AuditLog.action == HANDBACK, AuditLog.entity_type == "leave",
                                                AuditLog.entity_id == str(leave.id)).limit(1))
    ids = list((row.detail or {}).get("tickets") or []) if row is not None else []
    return list(session.scalars(select(Ticket.number).where(Ticket.id.in_(ids)).order_by(Ticket.created_at,
                                                                                         Ticket.id))) if ids else []


def handed_over(session: Session, leave: Leave) -> list[str]:
    """The numbers of the tickets a leave handed to the partner."""
    ids = list((_handover_of(session, leave.id) or {}).get("tickets") or [])
    return list(session.scalars(select(Ticket.number).where(Ticket.id.in_(ids)).order_by(Ticket.created_at,
                                                                                         Ticket.id))) if ids else []


@dataclass
class DutyEntry:
    member: Member
    leave: Leave | None = None            # the member is away
    covering_for: list[Member] = field(default_factory=list)   # partners this member covers today


def duty_roster(session: Session, grid_id: int, now: datetime) -> list[DutyEntry]:
    """Who works in a grid now: its members, each either present (maybe covering a partner) or on leave."""
    members = list(session.scalars(
        select(Member).join(MemberGrid).where(MemberGrid.grid_id == grid_id, Member.active.is_(True))
        .order_by(Member.id)))
    entries = {m.id: DutyEntry(m, active_leave(session, m.id, now)) for m in members}
    for entry in list(entries.values()):
        partner = entry.leave.partner if entry.leave is not None else None
        if partner is not None:
            cover = entries.get(partner.id)
            if cover is None:
                cover = entries[partner.id] = DutyEntry(partner)
            cover.covering_for.append(entry.member)
    return list(entries.values())


def covering_member(session: Session, member_id: int, now: datetime) -> Member | None:
    """Who should get a member's work now: the member, or their partner while they are on leave.

    None if the member is away and nobody covers (the caller escalates to the grid leader).
    """
    leave = active_leave(session, member_id, now)
    if leave is None:
        return session.get(Member, member_id)
    return leave.partner


# -- households due for a visit ----------------------------------------------------------------------
@dataclass
class DueVisit:
    household: Household
    key: bool                   # a key household (quarterly), else the yearly visit
    overdue: bool               # the previous period was missed too
    last_visit: datetime | None


def _building_number(building: str) -> int:
    digits = re.sub(r"\D", "", building)
    return int(digits) if digits else 10**6


def due_visits(session: Session, *, grid_ids: Iterable[int], now: datetime, tz: ZoneInfo,
               buildings: dict[int, set[str]] | None = None, near_building: str | None = None) -> list[DueVisit]:
    """Households not yet visited in their current period: key households each quarter, all households each year.

    Overdue = the previous period was missed as well (or never visited, for a household older than that period).
    Nearest buildings first: by distance of building number from `near_building` (where the member last was),
    then building, unit, room.
    """
    today = local_day(now, tz)
    q_start = day_start(quarter_start(today), tz)
    prev_q_start = day_start(add_months(quarter_start(today), -3), tz)
    y_start = day_start(date(today.year, 1, 1), tz)
    prev_y_start = day_start(date(today.year - 1, 1, 1), tz)
    ids = list(grid_ids)
    households = list(session.scalars(select(Household).where(Household.grid_id.in_(ids),
                                                              Household.status == "active")))
    if buildings:
        households = [h for h in households if not buildings.get(h.grid_id) or h.building in buildings[h.grid_id]]
    last = dict(session.execute(
        select(Visit.household_id, func.max(Visit.at)).where(Visit.household_id.in_([h.id for h in households]))
        .group_by(Visit.household_id)).all()) if households else {}
    due = []
    for h in households:
        seen = last.get(h.id)
        is_key = bool(set(h.tags or []) & set(KEY_HOUSEHOLD_TAGS))
        start, prev_start = (q_start, prev_q_start) if is_key else (y_start, prev_y_start)
        if seen is not None and seen >= start:
            continue
        overdue = seen < prev_start if seen is not None else h.created_at < prev_start
        due.append(DueVisit(h, is_key, overdue, seen))
    ref = _building_number(near_building) if near_building else None

    def order(d: DueVisit) -> tuple:
        b = _building_number(d.household.building)
        return (abs(b - ref) if ref is not None else 0, b, d.household.building,
                _building_number(d.household.unit or "0"), d.household.room)

    return sorted(due, key=order)


def member_buildings(session: Session, member_id: int) -> dict[int, set[str]]:
    """Grid id -> buildings a member is narrowed to ("3,5,7"); grids without a narrowing are absent."""
    out: dict[int, set[str]] = {}
    for link in session.scalars(select(MemberGrid).where(MemberGrid.member_id == member_id)):
        if link.buildings:
            out[link.grid_id] = {b.strip() for b in re.split(r"[,，、\s]+", link.buildings) if b.strip()}
    return out


def last_building(session: Session, member_id: int) -> str | None:
    """Where the member last was, for "nearest first": the building of their latest visit."""
    return session.scalar(select(Household.building).join(Visit, Visit.household_id == Household.id)
                          .where(Visit.member_id == member_id).order_by(Visit.at.desc(), Visit.id.desc()).limit(1))


DUE_LIST_LIMIT = 40


def due_visits_text(session: Session, *, member_id: int, grids: list[Grid], now: datetime,
                    tz: ZoneInfo, building: str | None = None) -> tuple[str, int]:
    """The 待走访 list for one member (private: it names households) and how many households it holds.
    `building` narrows it to one building, so that a list longer than the limit can be read in parts."""
    items = due_visits(session, grid_ids=[g.id for g in grids], now=now, tz=tz,
                       buildings=member_buildings(session, member_id), near_building=last_building(session, member_id))
    scope = "、".join(g.name for g in grids)
    if building is not None:
        items = [i for i in items if i.household.building == building]
        scope += t("work.due_building", building=building)
    if not items:
        return t("work.due_none", grids=scope), 0
    lines = [t("work.due_title", grids=scope, n=len(items), key_n=sum(1 for i in items if i.key),
               overdue=sum(1 for i in items if i.overdue))]
    several = len(grids) > 1
    for item in items[:DUE_LIST_LIMIT]:
        h = item.household
        kind = (t("work.due_key", tags="、".join(x for x in h.tags if x in KEY_HOUSEHOLD_TAGS))
                if item.key else t("work.due_yearly"))
        if item.last_visit:
            seen = local_day(item.last_visit, tz)
            last = t("work.due_last", day=f"{seen.month}月{seen.day}日")
        else:
            last = t("work.due_never")
        lines.append(t("work.due_line", grid=f"{h.grid.name} " if several else "", address=h.address, kind=kind,
                       last=last, state=t("work.due_overdue") if item.overdue else ""))
    if len(items) > DUE_LIST_LIMIT:
        lines.append(t("work.due_more", n=len(items) - DUE_LIST_LIMIT,
                       building=items[DUE_LIST_LIMIT].household.building))
    return "\n".join(lines), len(items)


VISITING_ROLES = frozenset({"member", "part_time", "building_leader", "group_leader"})


def send_due_visit_lists(session: Session, *, now: datetime, tz: ZoneInfo,
                         community_id: int | None = None) -> list[int]:
    """Privately send every visiting member (网格员, 楼栋长, 小组长) their 待走访 list, once per member per day.

    Written to the outbox in this transaction with an idempotency key, so a job run twice sends nothing twice.
    Returns the outbox ids written (for the caller to schedule after commit).
    """
    query = (select(Member).where(Member.active.is_(True), Member.on_duty.is_(True))   # 不在岗: no list
             .options(selectinload(Member.grid_links)))
    if community_id is not None:
        query = query.where(Member.community_id == community_id)
    day = local_day(now, tz).isoformat()
    written: list[int] = []
    for member in session.scalars(query.order_by(Member.id)):
        if not set(member.roles or []) & VISITING_ROLES or not member.grid_links:
            continue
        if active_leave(session, member.id, now) is not None:
            continue
        key = f"due-visits:{member.userid}:{day}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
            continue
        grids = work_grids(session, [link.grid_id for link in member.grid_links])
        text, count = due_visits_text(session, member_id=member.id, grids=grids, now=now, tz=tz)
        if count == 0:
            continue
        rows = outbox.write_replies(session, None, [Reply(text, to_user=member.userid, idempotency_key=key)], now)
        written += [r.id for r in rows]
    return written
