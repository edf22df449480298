"""Tickets: the closed loop from a resident's message to a rating (GB/T 30428, DOMAIN.md "A ticket's life").

Every function takes a Session and plain values and never commits. Every change writes a TicketEvent (the
ticket's timeline) and an audit record; notifications that are not answers to the current message are written
to the outbox in the same transaction. Refusals raise TicketError with a Chinese text for the person.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from ..clock import local
from ..config import ConfigError, DEFAULT_CONFIG_DIR, load_yaml
from ..messages import Reply
from ..models import (Community, Grid, GridChat, Household, Member, MemberGrid, Ticket, TicketEvent,
                      TicketReporter, TicketSequence)
from ..models.org import LEADER_ROLES
from ..models.tickets import ACTIVE_STATUSES, OPEN_STATUSES, RATINGS
from ..models.work import Leave
from ..privacy import mask_text
from ..texts import t
from . import audit, outbox

if TYPE_CHECKING:  # pragma: no cover
    from .people import Speaker

URGENT = "urgent"
NORMAL = "normal"
WORKER_ROLES = frozenset({"member", "part_time"})   # who handles tickets; 楼栋长/小组长 are contacts, not handlers

# Which status may follow which. Anything else is refused with a reply naming the possible next steps.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "reported": ("accepted", "rejected", "duplicate"),
    "accepted": ("dispatched", "rejected", "duplicate"),
    "dispatched": ("in_progress", "resolved"),
    "in_progress": ("resolved",),
    "resolved": ("verified", "in_progress"),
    "verified": ("closed", "in_progress"),
    "closed": ("rated", "in_progress"),
    "rated": ("in_progress",),
    "rejected": (),
    "duplicate": (),
}
# The member command that leads to each status (for "what can I do next" hints).
COMMAND_FOR = {"accepted": "受理", "rejected": "不予立案", "duplicate": "重复", "dispatched": "派遣",
               "in_progress": "处置", "resolved": "办结", "verified": "核查", "closed": "结案", "rated": "评价"}
# What a command passes through on its way (派遣 an unaccepted ticket accepts it first; 处置 also dispatches to
# the speaker). With TRANSITIONS this is the whole table: next_steps and the commands both follow it.
VIA: dict[str, tuple[str, ...]] = {"dispatched": ("accepted",), "in_progress": ("accepted", "dispatched")}
FORWARD = ("accepted", "dispatched", "in_progress", "resolved", "verified", "closed", "rated", "rejected",
           "duplicate")                                       # the order hints are listed in
RATING_WORDS = {"满意": "satisfied", "基本满意": "basic", "不满意": "dissatisfied"}
LADDER = ("", "grid_member", "grid_leader", "secretary", "chief")   # index = escalation level


class TicketError(Exception):
    """A refusal for people: `text` is the Chinese reply (templates tickets.errors.<key>)."""

    def __init__(self, key: str, **values: Any):
        self.key = key
        self.text = t(f"tickets.errors.{key}", **values)
        super().__init__(self.text)


# -- policy (config/sla.yaml) ------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    response: timedelta
    resolution: timedelta
    verify: timedelta
    handover: timedelta


@dataclass(frozen=True)
class Policy:
    """Time limits and windows from config/sla.yaml, and the time zone people see."""

    data: dict[str, Any]
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai")

    @classmethod
    def load(cls, config_dir: Path | None = None, tz: str | ZoneInfo = "Asia/Shanghai") -> "Policy":
        data = load_yaml(Path(config_dir or DEFAULT_CONFIG_DIR), "sla.yaml") or {}
        policy = cls(data=data, tz=ZoneInfo(tz) if isinstance(tz, str) else tz)
        for urgency in (URGENT, NORMAL):      # fail at start-up, not on the first ticket
            if not all(k in (data.get("defaults") or {}).get(urgency, {}) for k in Limits.__dataclass_fields__):
                raise ConfigError(f"sla.yaml: defaults.{urgency} 须含 response/resolution/verify/handover 分钟数")
        return policy

    def limits(self, category: str, urgency: str) -> Limits:
        base = dict((self.data.get("defaults") or {}).get(urgency) or {})
        base.update(((self.data.get("categories") or {}).get(category) or {}).get(urgency) or {})
        return Limits(**{k: timedelta(minutes=float(base[k])) for k in Limits.__dataclass_fields__})

    def step(self, urgency: str) -> timedelta:
        return timedelta(minutes=float(((self.data.get("escalation") or {}).get("step") or {}).get(urgency, 120)))

    def unit_for(self, category: str) -> str | None:
        return ((self.data.get("escalation") or {}).get("responsible_units") or {}).get(category)

    def hours(self, key: str, default: float) -> timedelta:
        return timedelta(hours=float(self.data.get(key, default)))

    @property
    def rating_window(self) -> timedelta:
        return timedelta(days=float(self.data.get("rating_days", 3)))

    @property
    def generic_words(self) -> frozenset[str]:
        return frozenset(str(w) for w in ((self.data.get("same_problem") or {}).get("generic_words") or []))

    def emergency_number(self, category: str) -> str:
        numbers = self.data.get("emergency_numbers") or {}
        return str(numbers.get(category) or numbers.get("default") or "119/110/120")


def policy_for(app: Any) -> Policy:
    """The app's policy (cached on the app object: sla.yaml is read once per app)."""
    policy = getattr(app, "_ticket_policy", None)
    if policy is None:
        policy = Policy.load(app.settings.config_dir, app.settings.timezone)
        try:
            app._ticket_policy = policy
        except AttributeError:  # pragma: no cover - a frozen app object
            pass
    return policy


# -- names people see -----------------------------------------------------------------------------------
def category_name(code: str | None) -> str:
    try:
        return t(f"tickets.categories.{code or 'other'}")
    except ConfigError:
        return code or ""


def status_name(status: str) -> str:
    return t(f"tickets.statuses.{status}")


def rating_name(rating: str | None) -> str:
    return t(f"tickets.ratings.{rating}") if rating else ""


def building_text(ticket: Ticket) -> str:
    """What the group may see of the place: the building only."""
    return t("tickets.building", building=ticket.building) if ticket.building else t("tickets.no_building")


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 60 and minutes % 60 == 0:
        return t("tickets.hours", n=minutes // 60)
    return t("tickets.minutes", n=minutes)


def _phone_line(ticket: Ticket) -> str:
    """The contact line of a member's notice, or nothing at all when the resident left no number."""
    return "\n" + t("tickets.detail.phone", phone=ticket.contact_phone) if ticket.contact_phone else ""


def fmt_time(dt: datetime | None, tz: ZoneInfo) -> str:
    return local(dt, tz).strftime("%m-%d %H:%M") if dt else "-"


# -- events ------------------------------------------------------------------------------------------------
def _event(session: Session, ticket: Ticket, actor: str, action: str, now: datetime, *, to: str | None = None,
           note: str | None = None, member_id: int | None = None, detail: dict[str, Any] | None = None) -> TicketEvent:
    before = ticket.status
    after = to or before
    ev = TicketEvent(ticket=ticket, at=now, actor=actor, action=action, from_status=before, to_status=after,
                     member_id=member_id, note=mask_text(note) if note else None, detail=detail or {})
    session.add(ev)
    ticket.status = after
    ticket.updated_at = now
    audit.record(session, actor, f"ticket.{action}", "ticket", ticket.number,
                 {"from": before, "to": after, "note": note or "", **(detail or {})}, at=now)
    return ev


def _move(session: Session, ticket: Ticket, to: str, actor: str, action: str, now: datetime, **kw: Any) -> TicketEvent:
    if to not in TRANSITIONS.get(ticket.status, ()):
        raise TicketError("illegal", number=ticket.number, status=status_name(ticket.status),
                          action=COMMAND_FOR.get(to, to), next=next_steps(ticket))
    return _event(session, ticket, actor, action, now, to=to, **kw)


def path_to(status: str, to: str) -> tuple[str, ...] | None:
    """The statuses a command aiming at `to` passes through from `status` (VIA, then TRANSITIONS); None if none."""
    chain = VIA.get(to, ())
    for i in range(len(chain) + 1):
        steps, current = chain[i:] + (to,), status
        for step in steps:
            if step not in TRANSITIONS.get(current, ()):
                break
            current = step
        else:
            return steps
    return None


def next_steps(ticket: Ticket) -> str:
    """The member commands that work now, derived from TRANSITIONS and VIA (so a hint never names a refused one)."""
    words = [COMMAND_FOR[s] for s in FORWARD if s in COMMAND_FOR and path_to(ticket.status, s) is not None]
    if ticket.status in ("resolved", "verified", "closed", "rated"):
        words = [w for w in words if w != "处置"] + ["重开"]
    return "、".join(dict.fromkeys(words)) or t("tickets.no_next")


# -- who is responsible ----------------------------------------------------------------------------------
def on_leave(session: Session, member_id: int, now: datetime) -> Leave | None:
    return session.scalar(select(Leave).where(Leave.member_id == member_id, Leave.cancelled_at.is_(None),
                                              Leave.starts_at <= now, Leave.ends_at > now).limit(1))


def available(session: Session, member: Member | None, now: datetime) -> bool:
    """On duty: active, not marked off duty, and not on leave (请假)."""
    return (member is not None and member.active and member.on_duty
            and on_leave(session, member.id, now) is None)


def _covers(buildings: str | None, building: str | None) -> int:
    """2 = the link names this building, 1 = the link covers the whole grid, 0 = another building."""
    if not buildings:
        return 1
    names = {b.strip() for b in re.split(r"[,，、\s]+", buildings) if b.strip()}
    if building is None:
        return 0
    return 2 if building in names else 0


def responsible_members(session: Session, grid_id: int, building: str | None) -> list[Member]:
    """The grid's workers for this building, most specific first, full-time before part-time."""
    rows = session.execute(
        select(Member, MemberGrid.buildings).join(MemberGrid, MemberGrid.member_id == Member.id)
        .where(MemberGrid.grid_id == grid_id, Member.active.is_(True)).order_by(Member.id)
    ).all()
    ranked = []
    for member, buildings in rows:
        if not (set(member.roles or []) & WORKER_ROLES):
            continue
        cover = _covers(buildings, building)
        if cover == 0 and building is not None:
            continue
        ranked.append((-cover, 0 if "member" in (member.roles or []) else 1, member.id, member))
    return [m for *_, m in sorted(ranked, key=lambda r: r[:3])]


def pick_assignee(session: Session, grid_id: int, building: str | None, now: datetime,
                  exclude: Iterable[int] = ()) -> tuple[Member | None, str]:
    """The on-duty responsible member, else their A/B partner, else a grid leader. Returns (member, why)."""
    excluded = set(exclude)
    for member in responsible_members(session, grid_id, building):
        if member.id in excluded:
            continue
        if available(session, member, now):
            return member, "primary"
        for partner in _partners(session, member, now):
            if partner.id not in excluded and available(session, partner, now):
                return partner, "partner"
    for leader in grid_leaders(session, grid_id):
        if leader.id not in excluded and available(session, leader, now):
            return leader, "leader"
    return None, "none"


def _partners(session: Session, member: Member, now: datetime) -> list[Member]:
    """Who covers for this member: the partner named on a current leave, then the standing A/B partner."""
    out = []
    leave = on_leave(session, member.id, now)
    if leave is not None and leave.partner_id:
        out.append(session.get(Member, leave.partner_id))
    if member.partner_id:
        out.append(session.get(Member, member.partner_id))
    return [m for m in out if m is not None]


def grid_leaders(session: Session, grid_id: int) -> list[Member]:
    """Grid leaders linked to the grid, else to the nearest grid above it."""
    grid = session.get(Grid, grid_id)
    while grid is not None:
        leaders = [m for m in session.scalars(
            select(Member).join(MemberGrid, MemberGrid.member_id == Member.id)
            .where(MemberGrid.grid_id == grid.id, Member.active.is_(True)).order_by(Member.id))
            if "grid_leader" in (m.roles or [])]
        if leaders:
            return leaders
        grid = session.get(Grid, grid.parent_id) if grid.parent_id else None
    return []


def community_role(session: Session, community_id: int, role: str) -> list[Member]:
    return [m for m in session.scalars(select(Member).where(Member.community_id == community_id,
                                                             Member.active.is_(True)).order_by(Member.id))
            if role in (m.roles or [])]


def ladder_targets(session: Session, ticket: Ticket, level: int) -> list[Member]:
    """Who is told at each level: 1 the assignee, 2 grid leaders, 3 the secretary, 4 the chief grid leader."""
    if level <= 1:
        return [ticket.assignee] if ticket.assignee else grid_leaders(session, ticket.grid_id)
    if level == 2:
        return grid_leaders(session, ticket.grid_id)
    if level == 3:
        return community_role(session, ticket.community_id, "secretary")
    return (community_role(session, ticket.community_id, "chief")
            or community_role(session, ticket.community_id, "secretary"))


def find_member(session: Session, community_id: int | None, word: str) -> Member | None:
    """A member by userid or name ("@赵网格员", "赵网格员", "mem_zhao")."""
    word = word.strip().lstrip("@＠").strip()
    if not word:
        return None
    query = select(Member).where(Member.active.is_(True), or_(Member.userid == word, Member.name == word))
    if community_id is not None:
        query = query.where(Member.community_id == community_id)
    return session.scalars(query.order_by(Member.id)).first()


# -- numbers ---------------------------------------------------------------------------------------------
def next_number(session: Session, community_code: str, now: datetime, tz: ZoneInfo) -> str:
    """HY-20261102-0003: community, local day, a dense sequence (row-locked counter, safe across workers)."""
    prefix = f"{community_code}-{local(now, tz):%Y%m%d}"
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(TicketSequence).values(prefix=prefix, last=0).on_conflict_do_nothing(
        index_elements=["prefix"]))
    seq = session.execute(update(TicketSequence).where(TicketSequence.prefix == prefix)
                          .values(last=TicketSequence.last + 1).returning(TicketSequence.last)).scalar_one()
    return f"{prefix}-{seq:04d}"


def find_ticket(session: Session, ref: str, scope_grid_ids: Iterable[int] | None = None) -> Ticket:
    """By full number, or by its last digits ("3", "0003") among the tickets in scope (newest first)."""
    typed = (ref or "").strip()               # echoed as written in a refusal
    ref = typed.lstrip("#＃").upper()
    if not ref:
        raise TicketError("no_number")
    query = select(Ticket)
    if scope_grid_ids is not None:
        query = query.where(Ticket.grid_id.in_(list(scope_grid_ids)))
    if re.fullmatch(r"\d{1,6}", ref):
        query = query.where(Ticket.number.like(f"%-{int(ref):04d}"))
    else:
        query = query.where(Ticket.number == ref)
    candidates = session.scalars(query.order_by(Ticket.created_at.desc()).limit(20)).all()
    if not candidates:
        raise TicketError("not_found", ref=typed)
    active = [c for c in candidates if c.status in ACTIVE_STATUSES]
    return (active or candidates)[0]


# -- reporting ---------------------------------------------------------------------------------------------
@dataclass
class ReportResult:
    ticket: Ticket
    outcome: str                     # created | follow_up | joined
    urgent_alerts: int = 0           # private alerts and neighbour-group posts written
    upgraded: bool = False           # a follow-up made a normal ticket urgent


def report(session: Session, policy: Policy, *, platform: str, user_id: str, name: str | None,
           chat_id: str | None, grid_id: int | None, text: str, category: str | None, urgency: str,
           building: str | None, unit: str | None, room: str | None, phones: Sequence[str] = (),
           summary: str = "", household_ids: Iterable[int] = (), now: datetime,
           actor: str | None = None) -> ReportResult:
    """A resident's request (or a member's 上报 from patrol, with actor "member:…"): join their own open ticket,
    join a neighbour's report of the same thing, or open one."""
    category = category or "other"
    urgency = URGENT if urgency == URGENT else NORMAL
    if grid_id is None:          # a 1:1 message: the grid of the household this person speaks for
        home = _home(session, household_ids, None)
        if home is None:
            raise TicketError("need_grid")
        grid_id = home.grid_id
    if building is None:
        home = _home(session, household_ids, grid_id)
        if home is not None:
            building, unit, room = home.building, home.unit or None, home.room
    grid_id, household_id = _place(session, grid_id, building, unit, room)
    text = (text or "").strip()              # as written: stored and shown; matching normalises for itself
    summary = as_written(text, summary) if summary else text
    masked = mask_text(text)
    actor = actor or f"resident:{user_id}"

    own = _own_open_ticket(session, policy, user_id, grid_id, category, building, unit, room, text, now)
    if own is not None:
        _event(session, own, actor, "follow_up", now, note=masked)
        own.building, own.unit, own.room = own.building or building, own.unit or unit, own.room or room
        if phones and not own.contact_phone:
            own.contact_phone = phones[0]
        result = ReportResult(own, "follow_up")
        if urgency == URGENT and own.urgency != URGENT:
            _make_urgent(session, policy, own, actor, now)
            result.upgraded = True
            result.urgent_alerts = _urgent_alerts(session, policy, own, now, platform)
        _notify(session, [own.assignee] if own.assignee else [],
                t("tickets.notify.follow_up", number=own.number, text=masked), now, platform, own)
        return result

    same = _same_thing(session, policy, grid_id, category, building, unit, room, text, now)
    if same is not None and not _is_reporter(same, user_id):
        same.reporter_links.append(TicketReporter(platform=platform, user_id=user_id, name=name, chat_id=chat_id,
                                                  text=masked, joined_at=now))
        same.reporters = (same.reporters or 1) + 1
        _event(session, same, actor, "join", now, note=masked, detail={"reporters": same.reporters})
        result = ReportResult(same, "joined")
        if urgency == URGENT and same.urgency != URGENT:
            _make_urgent(session, policy, same, actor, now)
            result.upgraded = True
            result.urgent_alerts = _urgent_alerts(session, policy, same, now, platform)
        return result

    grid, community = session.execute(select(Grid, Community).join(Community, Community.id == Grid.community_id)
                                      .where(Grid.id == grid_id)).one()
    limits = policy.limits(category, urgency)
    assignee, why = pick_assignee(session, grid_id, building, now)
    ticket = Ticket(
        number=next_number(session, community.code, now, policy.tz), community_id=community.id, grid_id=grid_id,
        category=category, urgency=urgency, status="reported", building=building, unit=unit, room=room,
        summary=mask_text(summary)[:200], description=masked, contact_phone=phones[0] if phones else None,
        reporter_platform=platform, reporter_id=user_id, reporter_name=name, chat_id=chat_id,
        household_id=household_id, assignee=assignee, reporters=1, response_due=now + limits.response,
        handover_due=now + limits.handover if assignee is not None else None, created_at=now, updated_at=now,
    )
    ticket.reporter_links.append(TicketReporter(platform=platform, user_id=user_id, name=name, chat_id=chat_id,
                                                text=masked, joined_at=now))
    session.add(ticket)
    session.flush()
    session.add(TicketEvent(ticket=ticket, at=now, actor=actor, action="report", from_status=None,
                            to_status="reported", note=masked, detail={"category": category, "urgency": urgency}))
    audit.record(session, actor, "ticket.report", "ticket", ticket.number,
                 {"category": category, "urgency": urgency, "grid_id": grid_id}, at=now)
    if assignee is not None:
        _event(session, ticket, "system", "assign", now, member_id=assignee.id, detail={"why": why})
        _notify(session, [assignee], _new_ticket_text(ticket, policy, limits), now, platform, ticket,
                urgent=urgency == URGENT)
    result = ReportResult(ticket, "created")
    if urgency == URGENT:
        result.urgent_alerts = _urgent_alerts(session, policy, ticket, now, platform)
    return result


def ack_text(result: ReportResult, policy: Policy, private: bool = False) -> str:
    """The reply to the resident: number, category, building, what happens next. Never a phone or a name."""
    tk = result.ticket
    place = (tk.place or building_text(tk)) if private else building_text(tk)
    values = dict(number=tk.number, category=category_name(tk.category), place=place,
                  status=status_name(tk.status), reporters=tk.reporters)
    if result.outcome == "follow_up":
        lines = [t("tickets.ack.follow_up", **values)]
    elif result.outcome == "joined":
        lines = [t("tickets.ack.joined", **values)]
    else:
        limits = policy.limits(tk.category, tk.urgency)
        lines = [t("tickets.ack.created", **values),
                 t(("tickets.ack.next_assigned" if tk.assignee_id else "tickets.ack.next_unassigned")
                   + ("_private" if private else ""),        # in 1:1 the progress comes privately, not in a group
                   response=_minutes(limits.response), grid=tk.grid.name if tk.grid else "")]
    if tk.urgency == URGENT and (result.outcome == "created" or result.upgraded):
        lines.append(t("tickets.ack.urgent", number=policy.emergency_number(tk.category)))
    return "\n".join(lines)


def as_written(original: str, part: str) -> str:
    """`part` of the normalised (NFKC, spaces collapsed) text, cut from the original as the resident wrote it
    ("了，晚上" not "了,晚上"). Falls back to `part` when it cannot be located."""
    pieces, where = [], []
    for i, ch in enumerate(original or ""):
        norm = unicodedata.normalize("NFKC", ch)
        pieces.append(norm)
        where.extend([i] * len(norm))
    flat = "".join(pieces)
    pattern = "".join(r"\s+" if ch.isspace() else re.escape(ch) for ch in part.strip())
    found = re.search(pattern, flat) if pattern else None
    if found is None:
        return part
    return original[where[found.start()]:where[found.end() - 1] + 1]


def _home(session: Session, household_ids: Iterable[int], grid_id: int | None) -> Household | None:
    ids = list(household_ids)
    if not ids:
        return None
    query = select(Household).where(Household.id.in_(ids))
    if grid_id is not None:
        query = query.where(Household.grid_id == grid_id)
    return session.scalars(query.order_by(Household.id)).first()


def _place(session: Session, grid_id: int, building: str | None, unit: str | None,
           room: str | None) -> tuple[int, int | None]:
    """(grid, household) for the place named. Someone in one grid's group may report a building of another
    grid of the community: it goes to that grid. One query: the building's households across the community."""
    if building is None:
        return grid_id, None
    community = select(Grid.community_id).where(Grid.id == grid_id).scalar_subquery()
    rows = session.execute(select(Household.id, Household.grid_id, Household.unit, Household.room)
                           .join(Grid, Grid.id == Household.grid_id)
                           .where(Grid.community_id == community, Household.building == building)).all()
    grids = {r.grid_id for r in rows}
    if grid_id not in grids and len(grids) == 1:
        grid_id = grids.pop()
    household = next((r.id for r in rows if r.grid_id == grid_id and r.unit == (unit or "") and r.room == room),
                     None) if room else None
    return grid_id, household


def problem_words(text: str, generic: Iterable[str] = ()) -> frozenset[str]:
    """The problem words of a message: category keywords of config/categories.yaml found in it ("电梯", "水管",
    "楼道灯"), less the generic ones that only say something is broken. Substrings, so 电梯坏 also yields 电梯."""
    from ..understanding import get_understander

    keywords = get_understander().keyword_index
    text = unicodedata.normalize("NFKC", text or "")
    skip = set(generic)
    lengths = sorted({len(w) for w in keywords})
    found = set()
    for n in lengths:
        for i in range(len(text) - n + 1):
            word = text[i:i + n]
            if word in keywords and word not in skip:
                found.add(word)
    return frozenset(found)


def _ticket_words(ticket: Ticket, generic: Iterable[str]) -> frozenset[str]:
    """The problem words of everything reported on the ticket: the first message, joins and follow-ups."""
    texts = [ticket.description, ticket.summary] + [r.text for r in ticket.reporter_links]
    texts += [ev.note or "" for ev in ticket.events if ev.action == "follow_up"]
    return frozenset().union(*(problem_words(x, generic) for x in texts))


def _same_place(ticket: Ticket, building: str | None, unit: str | None, room: str | None) -> bool:
    """Building, unit and room must agree whenever both the ticket and the message name one."""
    return all(mine is None or theirs is None or mine == theirs
               for mine, theirs in ((building, ticket.building), (unit, ticket.unit), (room, ticket.room)))


def _is_reporter(ticket: Ticket, user_id: str) -> bool:
    return any(r.user_id == user_id for r in ticket.reporter_links)


def _own_open_ticket(session: Session, policy: Policy, user_id: str, grid_id: int, category: str,
                     building: str | None, unit: str | None, room: str | None, text: str,
                     now: datetime) -> Ticket | None:
    """The reporter's open ticket this message adds to: same kind, same place, and the same problem (a shared
    problem word). A message naming no problem word ("还没人来吗") adds to the latest; a new problem is a new
    ticket (a burst main is not a note on a corridor-light ticket)."""
    words = problem_words(text, policy.generic_words)
    since = now - policy.hours("follow_up_window_hours", 72)
    mine = session.scalars(
        select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(TicketReporter.user_id == user_id, Ticket.grid_id == grid_id, Ticket.status.in_(OPEN_STATUSES),
               Ticket.created_at >= since).order_by(Ticket.created_at.desc())
    ).all()
    for ticket in mine:
        same_kind = ticket.category == category or "other" in (ticket.category, category)
        same_problem = not words or bool(words & _ticket_words(ticket, policy.generic_words))
        if same_kind and _same_place(ticket, building, unit, room) and same_problem:
            return ticket
    return None


def _same_thing(session: Session, policy: Policy, grid_id: int, category: str, building: str | None,
                unit: str | None, room: str | None, text: str, now: datetime) -> Ticket | None:
    """An open ticket for the same problem: same grid, category and building, recent; unit and room agree when
    both reports name one (two flats' leaks are two problems), and the messages share a problem word (电梯 and
    水管 are both 物业维修 yet two problems). A members' 重复 can still merge anything."""
    if building is None or category == "other":
        return None
    words = problem_words(text, policy.generic_words)
    if not words:
        return None
    since = now - policy.hours("duplicate_window_hours", 24)
    for ticket in session.scalars(
        select(Ticket).where(Ticket.grid_id == grid_id, Ticket.category == category, Ticket.building == building,
                             Ticket.status.in_(OPEN_STATUSES), Ticket.created_at >= since)
        .order_by(Ticket.created_at.desc())
    ):
        if _same_place(ticket, building, unit, room) and words & _ticket_words(ticket, policy.generic_words):
            return ticket
    return None


def _make_urgent(session: Session, policy: Policy, ticket: Ticket, actor: str, now: datetime) -> None:
    ticket.urgency = URGENT
    limits = policy.limits(ticket.category, URGENT)
    if ticket.status in ("reported", "accepted"):
        ticket.response_due = min(ticket.response_due, now + limits.response)
    if ticket.resolution_due is not None:
        ticket.resolution_due = min(ticket.resolution_due, now + limits.resolution)
    _event(session, ticket, actor, "urgent", now)


def _new_ticket_text(ticket: Ticket, policy: Policy, limits: Limits) -> str:
    return t("tickets.notify.new_urgent" if ticket.urgency == URGENT else "tickets.notify.new",
             number=ticket.number, category=category_name(ticket.category), place=ticket.place or "-",
             summary=ticket.summary, grid=ticket.grid.name if ticket.grid else "",
             due=fmt_time(ticket.response_due, policy.tz), response=_minutes(limits.response),
             phone_line=_phone_line(ticket))


def _urgent_alerts(session: Session, policy: Policy, ticket: Ticket, now: datetime, platform: str) -> int:
    """Urgent: the grid leader and every on-duty member of the grid at once, and the neighbouring grids' groups."""
    people: dict[int, Member] = {}
    for m in grid_leaders(session, ticket.grid_id) + responsible_members(session, ticket.grid_id, None):
        if m.id != ticket.assignee_id and available(session, m, now):
            people.setdefault(m.id, m)
    text = t("tickets.notify.urgent_alert", number=ticket.number, category=category_name(ticket.category),
             place=ticket.place or "-", summary=ticket.summary,
             assignee=ticket.assignee.name if ticket.assignee else t("tickets.nobody"))
    replies = [Reply(text, to_user=m.userid, urgent=True) for m in people.values()]
    grid = session.get(Grid, ticket.grid_id)
    neighbour_ids = [g.id for g in grid.neighbours]
    if neighbour_ids:
        chats = session.scalars(select(GridChat).where(GridChat.grid_id.in_(neighbour_ids)).order_by(GridChat.id))
        help_text = t("tickets.notify.neighbour_alert", grid=grid.name, category=category_name(ticket.category),
                      building=building_text(ticket), number=ticket.number)
        replies += [Reply(help_text, to_chat=c.chat_id, urgent=True) for c in chats]
    if replies:
        _write(session, replies, now, platform)
    return len(replies)


def _write(session: Session, replies: list[Reply], now: datetime, platform: str) -> None:
    """Notifications go to the outbox in this transaction; they are sent once it commits (db.hand_over_after_commit)."""
    outbox.write_replies(session, None, replies, now, platform=platform)


def unclear_settings(policy: Policy) -> dict[str, Any]:
    raw = policy.data.get("unclear_forward") or {}
    return {"enabled": bool(raw.get("enabled", True)), "max_chatter": float(raw.get("max_chatter", 0)),
            "min_chars": int(raw.get("min_chars", 12))}


def forward_unclear(session: Session, policy: Policy, *, grid_id: int | None, household_ids: Iterable[int],
                    user_id: str, name: str | None, text: str,
                    chat_id: str | None, now: datetime, platform: str) -> Member | None:
    """Show a resident's message the bot could not classify to the grid's on-duty member, privately.

    A human reads what the rules could not place: missing an urgent message is the worst error. No ticket is
    opened; the member can answer or open one. Returns the member told (None if the grid has nobody on duty).
    """
    if grid_id is None:  # a 1:1 message: the grid of the household this person speaks for
        home = _home(session, household_ids, None)
        grid_id = home.grid_id if home is not None else None
    if grid_id is None:
        return None
    member, _why = pick_assignee(session, grid_id, None, now)
    if member is None:
        return None
    grid = session.get(Grid, grid_id)
    where = t("tickets.unclear.in_group", grid=grid.name) if chat_id else t("tickets.unclear.in_private")
    body = t("tickets.unclear.member", who=name or t("tickets.unclear.someone"), where=where,
             text=mask_text(text)[:300])
    _write(session, [Reply(body, to_user=member.userid)], now, platform)
    audit.record(session, "system", "message.forwarded_unclear", "member", member.id,
           {"grid": grid.code, "chat_id": chat_id, "from": user_id}, at=now)
    return member



def _notify(session: Session, members: Iterable[Member | None], text: str, now: datetime, platform: str | None,
            ticket: Ticket, urgent: bool = False) -> int:
    """Private notes to members, through the outbox in this transaction."""
    seen: set[int] = set()
    replies = []
    for m in members:
        if m is None or m.id in seen:
            continue
        seen.add(m.id)
        replies.append(Reply(text, to_user=m.userid, urgent=urgent))
    if replies:
        _write(session, replies, now, platform or ticket.reporter_platform)
    return len(replies)


def _tell_reporters(session: Session, ticket: Ticket, text_key: str, now: datetime, platform: str | None,
                    **values: Any) -> int:
    """Everyone who reported it hears, in the group they reported from (@-mentioned), or privately."""
    by_chat: dict[str | None, list[str]] = {}
    for r in ticket.reporter_links:
        by_chat.setdefault(r.chat_id, []).append(r.user_id)
    replies = []
    base = dict(number=ticket.number, category=category_name(ticket.category), building=building_text(ticket),
                reporters=ticket.reporters, **values)
    for chat_id, users in by_chat.items():
        text = t(text_key, **base)
        if chat_id:
            replies.append(Reply(text, to_chat=chat_id, mentions=list(dict.fromkeys(users))))
        else:
            replies += [Reply(text, to_user=u) for u in dict.fromkeys(users)]
    _write(session, replies, now, platform or ticket.reporter_platform)
    return len(replies)


# -- the life cycle (member commands) -------------------------------------------------------------------------
def _member(session: Session, speaker: "Speaker") -> Member:
    member = session.get(Member, speaker.member_id) if speaker.member_id else None
    if member is None:
        raise TicketError("members_only")
    return member


def _load(session: Session, speaker: "Speaker", ref: str) -> tuple[Ticket, Member]:
    member = _member(session, speaker)
    return find_ticket(session, ref, speaker.scope_grid_ids), member


def accept(session: Session, policy: Policy, speaker: "Speaker", ref: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """受理/立案: the reporter is told the ticket is accepted (this is the first response)."""
    ticket, member = _load(session, speaker, ref)
    _move(session, ticket, "accepted", speaker.actor, "accept", now, member_id=member.id)
    ticket.accepted_at = ticket.accepted_at or now
    ticket.handover_due = None
    if ticket.assignee_id is None:
        ticket.assignee = member
    _tell_reporters(session, ticket, "tickets.tell.accepted", now, platform)
    return ticket


def reject(session: Session, speaker: "Speaker", ref: str, reason: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """不予立案: not a matter for the grid; the reporter is told why."""
    if not reason.strip():
        raise TicketError("reason_needed", command="不予立案")
    ticket, member = _load(session, speaker, ref)
    _move(session, ticket, "rejected", speaker.actor, "reject", now, note=reason, member_id=member.id)
    ticket.handover_due = None
    ticket.closed_at = now
    _tell_reporters(session, ticket, "tickets.tell.rejected", now, platform, reason=mask_text(reason))
    return ticket


def mark_duplicate(session: Session, speaker: "Speaker", ref: str, of_ref: str, now: datetime,
                   platform: str | None = None) -> Ticket:
    """重复 N M: N is the same thing as M; N's reporters join M (and hear when M is solved)."""
    ticket, member = _load(session, speaker, ref)
    target = find_ticket(session, of_ref, speaker.scope_grid_ids)
    if target.id == ticket.id:
        raise TicketError("same_ticket")
    if target.status not in ACTIVE_STATUSES:
        raise TicketError("target_finished", number=target.number, status=status_name(target.status))
    _move(session, ticket, "duplicate", speaker.actor, "duplicate", now, member_id=member.id,
          detail={"into": target.number})
    ticket.merged_into_id = target.id
    ticket.handover_due = None
    ticket.closed_at = now
    moved = 0
    for r in ticket.reporter_links:
        if not _is_reporter(target, r.user_id):
            target.reporter_links.append(TicketReporter(platform=r.platform, user_id=r.user_id, name=r.name,
                                                        chat_id=r.chat_id, text=r.text, joined_at=now))
            moved += 1
    target.reporters = (target.reporters or 1) + moved
    _event(session, target, speaker.actor, "merge", now, member_id=member.id,
           detail={"from": ticket.number, "reporters": target.reporters})
    _tell_reporters(session, ticket, "tickets.tell.duplicate", now, platform, into=target.number)
    return ticket


def dispatch(session: Session, policy: Policy, speaker: "Speaker", ref: str, to_word: str, now: datetime,
             platform: str | None = None) -> Ticket:
    """派遣 N @成员: hand the ticket to a member; the resolution clock starts."""
    ticket, member = _load(session, speaker, ref)
    target = find_member(session, ticket.community_id, to_word) if to_word.strip() else member
    if target is None:
        raise TicketError("member_not_found", word=to_word.strip())
    if ticket.status == "reported":   # dispatching an unaccepted ticket accepts it first (one step less)
        accept(session, policy, speaker, ticket.number, now, platform)
    _move(session, ticket, "dispatched", speaker.actor, "dispatch", now, member_id=target.id,
          detail={"to": target.userid})
    _start_clock(policy, ticket, target, now)
    if target.id != member.id:
        _notify(session, [target], _dispatched_text(ticket, policy, member), now, platform, ticket,
                urgent=ticket.urgency == URGENT)
    return ticket


def _start_clock(policy: Policy, ticket: Ticket, target: Member, now: datetime) -> None:
    ticket.assignee = target
    ticket.dispatched_at = now
    ticket.resolution_due = now + policy.limits(ticket.category, ticket.urgency).resolution
    ticket.handover_due = None


def _dispatched_text(ticket: Ticket, policy: Policy, by: Member) -> str:
    return t("tickets.notify.dispatched", number=ticket.number, category=category_name(ticket.category),
             place=ticket.place or "-", summary=ticket.summary, by=by.name,
             due=fmt_time(ticket.resolution_due, policy.tz), phone_line=_phone_line(ticket))


def start(session: Session, policy: Policy, speaker: "Speaker", ref: str, now: datetime,
          platform: str | None = None) -> Ticket:
    """处置: work has begun. From 受理 it dispatches to the speaker first (a grid member often does both)."""
    ticket, member = _load(session, speaker, ref)
    if ticket.status == "reported":
        accept(session, policy, speaker, ticket.number, now, platform)
    if ticket.status == "accepted":
        _move(session, ticket, "dispatched", speaker.actor, "dispatch", now, member_id=member.id,
              detail={"to": member.userid})
        _start_clock(policy, ticket, member, now)
    _move(session, ticket, "in_progress", speaker.actor, "start", now, member_id=member.id)
    return ticket


def resolve(session: Session, policy: Policy, speaker: "Speaker", ref: str, note: str, now: datetime,
            platform: str | None = None) -> Ticket:
    """办结/反馈: done; every reporter is told and asked to rate within the rating window."""
    if not note.strip():
        raise TicketError("reason_needed", command="办结")
    ticket, member = _load(session, speaker, ref)
    _move(session, ticket, "resolved", speaker.actor, "resolve", now, note=note, member_id=member.id)
    ticket.resolved_at = now
    ticket.verify_due = now + policy.limits(ticket.category, ticket.urgency).verify
    ticket.rating_due = now + policy.rating_window
    ticket.rating = None
    for r in ticket.reporter_links:
        r.rating, r.rated_at = None, None
    _tell_reporters(session, ticket, "tickets.tell.resolved", now, platform, note=mask_text(note),
                    days=int(policy.rating_window.total_seconds() // 86400))
    return ticket


def verify(session: Session, policy: Policy, speaker: "Speaker", ref: str, note: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """核查: a member re-checked on site. "核查 N 不通过 原因" sends it back to 处置."""
    ticket, member = _load(session, speaker, ref)
    failed = note.strip().startswith(("不通过", "未通过", "没解决", "未解决"))
    if failed:
        if ticket.status not in ("resolved",):
            raise TicketError("illegal", number=ticket.number, status=status_name(ticket.status),
                              action="核查", next=next_steps(ticket))
        _move(session, ticket, "in_progress", speaker.actor, "verify_failed", now, note=note, member_id=member.id)
        ticket.resolution_due = now + policy.limits(ticket.category, ticket.urgency).resolution
        ticket.verify_due = ticket.rating_due = None
        ticket.escalation_level, ticket.escalated_for = 0, None
        _notify(session, [ticket.assignee], t("tickets.notify.verify_failed", number=ticket.number,
                                              note=mask_text(note), by=member.name), now, platform, ticket)
        return ticket
    _move(session, ticket, "verified", speaker.actor, "verify", now, note=note or None, member_id=member.id)
    ticket.verify_due = None
    return ticket


def close(session: Session, speaker: "Speaker", ref: str, now: datetime, platform: str | None = None) -> Ticket:
    """结案: the case is closed. A rating already given completes it (评价)."""
    ticket, member = _load(session, speaker, ref)
    _move(session, ticket, "closed", speaker.actor, "close", now, member_id=member.id)
    ticket.closed_at = now
    if ticket.rating in ("satisfied", "basic", "none"):
        _event(session, ticket, "system", "rated", now, to="rated", detail={"rating": ticket.rating})
    return ticket


def transfer(session: Session, policy: Policy, speaker: "Speaker", ref: str, to_word: str, note: str,
             now: datetime, platform: str | None = None) -> Ticket:
    """转派: another member takes it over, status unchanged; both are told."""
    ticket, member = _load(session, speaker, ref)
    if ticket.status not in OPEN_STATUSES:
        raise TicketError("not_open", number=ticket.number, status=status_name(ticket.status))
    target = find_member(session, ticket.community_id, to_word)
    if target is None:
        raise TicketError("member_not_found", word=to_word.strip() or "?")
    if target.id == ticket.assignee_id:
        raise TicketError("already_assignee", number=ticket.number, name=target.name)
    previous = ticket.assignee
    _event(session, ticket, speaker.actor, "transfer", now, note=note or None, member_id=target.id,
           detail={"from": previous.userid if previous else None, "to": target.userid})
    ticket.assignee = target
    if ticket.status == "reported":
        ticket.handover_due = now + policy.limits(ticket.category, ticket.urgency).handover
    ticket.escalation_level, ticket.escalated_for = 0, None
    _notify(session, [target], t("tickets.notify.transferred", number=ticket.number,
                                 category=category_name(ticket.category), place=ticket.place or "-",
                                 summary=ticket.summary, by=member.name, note=mask_text(note) or "-",
                                 phone_line=_phone_line(ticket)),
            now, platform, ticket, urgent=ticket.urgency == URGENT)
    if previous is not None and previous.id not in (member.id, target.id):
        _notify(session, [previous], t("tickets.notify.transferred_away", number=ticket.number, to=target.name),
                now, platform, ticket)
    return ticket


def escalate(session: Session, policy: Policy, speaker: "Speaker", ref: str, note: str, now: datetime,
             platform: str | None = None) -> tuple[Ticket, int]:
    """升级: one step up the ladder now (grid leader → secretary → chief grid leader / responsible unit)."""
    ticket, member = _load(session, speaker, ref)
    if ticket.status not in ACTIVE_STATUSES:
        raise TicketError("not_open", number=ticket.number, status=status_name(ticket.status))
    level = max(ticket.escalation_level, 1) + 1
    if level > 4:
        raise TicketError("top_of_ladder", number=ticket.number)
    _raise_to(session, policy, ticket, level, speaker.actor, now, platform, note=note, manual=True)
    return ticket, level


def reopen(session: Session, policy: Policy, speaker: "Speaker", ref: str, note: str, now: datetime,
           platform: str | None = None) -> Ticket:
    """重开: a member reopens a finished ticket (the problem came back)."""
    ticket, member = _load(session, speaker, ref)
    if ticket.status not in ("resolved", "verified", "closed", "rated"):
        raise TicketError("illegal", number=ticket.number, status=status_name(ticket.status), action="重开",
                          next=next_steps(ticket))
    _reopen(session, policy, ticket, speaker.actor, note, now, platform)
    return ticket


def _reopen(session: Session, policy: Policy, ticket: Ticket, actor: str, note: str | None, now: datetime,
            platform: str | None) -> None:
    _move(session, ticket, "in_progress", actor, "reopen", now, note=note or None)
    ticket.reopen_count = (ticket.reopen_count or 0) + 1
    ticket.resolution_due = now + policy.limits(ticket.category, ticket.urgency).resolution
    ticket.verify_due = ticket.rating_due = ticket.closed_at = None
    ticket.rating = None
    ticket.escalation_level, ticket.escalated_for = 0, None
    people = [ticket.assignee] + grid_leaders(session, ticket.grid_id)
    _notify(session, people, t("tickets.notify.reopened", number=ticket.number,
                               category=category_name(ticket.category), place=ticket.place or "-",
                               note=mask_text(note or "") or "-"), now, platform, ticket)


# -- ratings -------------------------------------------------------------------------------------------------
def parse_rating(text: str) -> tuple[str, str] | None:
    """"不满意，还是漏" -> ("dissatisfied", "还是漏"). Only a message that starts with a rating word counts."""
    text = (text or "").strip()
    for word in sorted(RATING_WORDS, key=len, reverse=True):
        if text.startswith(word):
            rest = text[len(word):]
            if rest and rest[0] not in " ,，.。!！:：~～、" and not rest.startswith(("了", "的")):
                return None
            return RATING_WORDS[word], rest.lstrip(" ,，.。!！:：~～、").strip()
    return None


def awaiting_rating(session: Session, user_id: str, now: datetime) -> Ticket | None:
    """The latest ticket this person reported that is resolved and waits for their rating (within the window)."""
    return session.scalars(
        select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(TicketReporter.user_id == user_id, TicketReporter.rating.is_(None),
               Ticket.status.in_(("resolved", "verified", "closed")), Ticket.rating_due.is_not(None),
               Ticket.rating_due > now)
        .order_by(Ticket.resolved_at.desc())
    ).first()


def rate(session: Session, policy: Policy, *, user_id: str, rating: str, note: str, now: datetime,
         platform: str | None = None) -> Ticket | None:
    """满意 / 基本满意 / 不满意 from a reporter. 不满意 reopens the ticket. None if nothing waits for a rating."""
    if rating not in RATINGS:
        raise ValueError(rating)
    ticket = awaiting_rating(session, user_id, now)
    if ticket is None:
        return None
    link = next(r for r in ticket.reporter_links if r.user_id == user_id)
    link.rating, link.rated_at = rating, now
    actor = f"resident:{user_id}"
    if ticket.rating is None or rating == "dissatisfied":
        ticket.rating = rating
    if ticket.status == "closed":
        _event(session, ticket, actor, "rate", now, to="rated", note=note or None, detail={"rating": rating})
    else:
        _event(session, ticket, actor, "rate", now, note=note or None, detail={"rating": rating})
    if rating == "dissatisfied":
        _reopen(session, policy, ticket, actor, note or rating_name(rating), now, platform)
    return ticket


# -- what residents and operators see -----------------------------------------------------------------------
def tickets_of(session: Session, user_id: str, limit: int = 10) -> list[Ticket]:
    """A resident's tickets (ones they reported or joined), newest first."""
    return list(session.scalars(
        select(Ticket).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(TicketReporter.user_id == user_id).order_by(Ticket.created_at.desc()).limit(limit)))


def my_tickets_text(session: Session, user_id: str) -> str:
    tickets = tickets_of(session, user_id)
    if not tickets:
        return t("tickets.mine.none")
    lines = [t("tickets.mine.title", n=len(tickets))]
    for tk in tickets:
        lines.append(t("tickets.mine.line", number=tk.number, category=category_name(tk.category),
                       building=building_text(tk), status=status_name(tk.status)))
    return "\n".join(lines)


def assigned_to(session: Session, member_id: int) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.assignee_id == member_id,
                                                     Ticket.status.in_(ACTIVE_STATUSES))
                                .order_by(Ticket.urgency.desc(), Ticket.created_at)))


def todo_text(session: Session, policy: Policy, speaker: "Speaker") -> str:
    tickets = assigned_to(session, speaker.member_id) if speaker.member_id else []
    if not tickets:
        return t("tickets.todo.none")
    lines = [t("tickets.todo.title", n=len(tickets))]
    for tk in tickets:
        due = tk.response_due if tk.status in ("reported", "accepted") else (tk.resolution_due or tk.verify_due)
        lines.append(t("tickets.todo.line", number=tk.number, category=category_name(tk.category),
                       place=tk.place or "-", status=status_name(tk.status), due=fmt_time(due, policy.tz),
                       urgent=t("tickets.urgent_mark") if tk.urgency == URGENT else ""))
    return "\n".join(lines)


def detail_text(session: Session, policy: Policy, speaker: "Speaker", ref: str, private: bool) -> str:
    """工单 N: the ticket and its timeline, for members. The contact phone only in a private chat."""
    ticket = find_ticket(session, ref, speaker.scope_grid_ids)
    lines = [t("tickets.detail.head" if private else "tickets.detail.head_group", number=ticket.number, category=category_name(ticket.category),
               urgency=t(f"tickets.urgency.{ticket.urgency}"), status=status_name(ticket.status),
               place=(ticket.place or "-") if private else building_text(ticket), reporters=ticket.reporters,
               assignee=ticket.assignee.name if ticket.assignee else t("tickets.nobody"),
               summary=ticket.summary)]
    if private and ticket.contact_phone:
        lines.append(t("tickets.detail.phone", phone=ticket.contact_phone))
    if ticket.escalation_level >= 2:
        lines.append(t("tickets.detail.escalated", level=t(f"tickets.ladder.{LADDER[ticket.escalation_level]}")))
    lines.append(t("tickets.detail.next", next=next_steps(ticket)))
    for ev in ticket.events[-12:]:
        lines.append(t("tickets.detail.event", at=fmt_time(ev.at, policy.tz), action=t(f"tickets.actions.{ev.action}"),
                       who=_who(session, ev.actor), note=f"：{ev.note}" if ev.note and private else ""))
    return "\n".join(lines)


def _who(session: Session, actor: str) -> str:
    kind, _, uid = actor.partition(":")
    if kind == "member":
        member = session.scalar(select(Member).where(Member.userid == uid))
        return member.name if member else uid
    if kind == "resident":
        return t("tickets.resident")
    return t("tickets.system")


def list_tickets(session: Session, grid_code: str | None = None, status: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """Tickets for scripts and operators (`gridbot tickets list --json`), newest first."""
    query = (select(Ticket, Grid.code, Member.userid).join(Grid, Grid.id == Ticket.grid_id)
             .outerjoin(Member, Member.id == Ticket.assignee_id).order_by(Ticket.created_at.desc(), Ticket.id.desc()))
    if grid_code:
        query = query.where(Grid.code == grid_code)
    if status:
        query = query.where(Ticket.status == status)
    if limit:
        query = query.limit(limit)
    return [{"number": tk.number, "grid": code, "category": tk.category, "urgency": tk.urgency,
             "status": tk.status, "building": tk.building, "unit": tk.unit, "room": tk.room,
             "reporters": tk.reporters, "assignee": assignee, "created_at": tk.created_at.isoformat(),
             "summary": tk.summary, "rating": tk.rating, "escalation_level": tk.escalation_level}
            for tk, code, assignee in session.execute(query).all()]


def timeline(session: Session, number: str) -> list[dict[str, Any]]:
    ticket = session.scalar(select(Ticket).where(Ticket.number == number)
                            .options(selectinload(Ticket.events)))
    if ticket is None:
        raise TicketError("not_found", ref=number)
    return [{"at": ev.at.isoformat(), "actor": ev.actor, "action": ev.action, "from": ev.from_status,
             "to": ev.to_status, "note": ev.note, "detail": ev.detail} for ev in ticket.events]


# -- the SLA sweep ------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    handovers: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    escalations: list[tuple[str, int]] = field(default_factory=list)
    ratings_expired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"handovers": self.handovers, "reminders": self.reminders,
                "escalations": [{"number": n, "level": lvl} for n, lvl in self.escalations],
                "ratings_expired": self.ratings_expired}


def overdue(ticket: Ticket, now: datetime) -> tuple[str, datetime] | None:
    """Which limit the ticket has missed and since when: response, resolution or verify."""
    if ticket.status in ("reported", "accepted") and now >= ticket.response_due:
        return "response", ticket.response_due
    if ticket.status in ("dispatched", "in_progress") and ticket.resolution_due and now >= ticket.resolution_due:
        return "resolution", ticket.resolution_due
    if ticket.status == "resolved" and ticket.verify_due and now >= ticket.verify_due:
        return "verify", ticket.verify_due
    return None


def sweep(session: Session, policy: Policy, now: datetime) -> SweepResult:
    """Hand unaccepted tickets to the A/B partner, remind and escalate overdue ones, expire unanswered ratings.

    Idempotent: a second run at the same `now` changes nothing (levels and due times are stored on the ticket).
    """
    result = SweepResult()
    for ticket in session.scalars(select(Ticket).where(Ticket.status == "reported", Ticket.handover_due.is_not(None),
                                                       Ticket.handover_due <= now).order_by(Ticket.id)):
        if _handover(session, policy, ticket, now):
            result.handovers.append(ticket.number)
    late_query = select(Ticket).where(or_(
        Ticket.status.in_(("reported", "accepted")) & (Ticket.response_due <= now),
        Ticket.status.in_(("dispatched", "in_progress")) & (Ticket.resolution_due <= now),
        (Ticket.status == "resolved") & (Ticket.verify_due <= now),
    )).order_by(Ticket.id)
    for ticket in session.scalars(late_query):
        late = overdue(ticket, now)
        if late is None:
            continue
        kind, since = late
        partner_due = _partner_due(ticket) if kind == "response" else None
        if partner_due is not None and now < partner_due:   # the A/B partner's fresh deadline is still ahead
            continue
        if ticket.escalated_for not in (kind, "manual"):   # a new phase starts from the bottom of the ladder
            ticket.escalation_level, ticket.escalated_for = 0, kind
        if ticket.escalation_level >= 4:
            continue
        # One step per sweep, at most one per `step`: a reminder first, then the ladder, even after a late sweep.
        step = policy.step(ticket.urgency)
        wanted = ticket.escalation_level + 1
        last = _last_step_at(ticket) if ticket.escalation_level else None
        if now < since + (wanted - 1) * step or (last is not None and now < last + step):
            continue
        _raise_to(session, policy, ticket, wanted, "system", now, None, kind=kind)
        if wanted == 1:
            result.reminders.append(ticket.number)
        else:
            result.escalations.append((ticket.number, wanted))
    for ticket in session.scalars(select(Ticket).where(Ticket.rating.is_(None), Ticket.rating_due.is_not(None),
                                                       Ticket.rating_due <= now,
                                                       Ticket.status.in_(("resolved", "verified", "closed")))
                                  .order_by(Ticket.id)):
        ticket.rating = "none"
        to = "rated" if ticket.status == "closed" else None
        _event(session, ticket, "system", "rating_expired", now, to=to, detail={"rating": "none"})
        result.ratings_expired.append(ticket.number)
    return result


def _last_step_at(ticket: Ticket) -> datetime | None:
    """When the ticket last went up a step (a reminder or an escalation, by the sweep or a member)."""
    times = [ev.at for ev in ticket.events if ev.action in ("remind", "escalate")]
    return _aware(max(times)) if times else None


def _partner_due(ticket: Ticket) -> datetime | None:
    """The response deadline the A/B partner was given on the latest handover (None if never handed over)."""
    for ev in reversed(ticket.events):
        if ev.action == "handover" and (ev.detail or {}).get("due"):
            return datetime.fromisoformat(ev.detail["due"])
    return None


def _aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    from datetime import timezone

    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def _handover(session: Session, policy: Policy, ticket: Ticket, now: datetime) -> bool:
    """AB岗: the assignee did not accept in time (or is away); the partner takes it."""
    ticket.handover_due = None
    current = ticket.assignee
    candidates = _partners(session, current, now) if current is not None else []
    target = next((m for m in candidates if m.id != ticket.assignee_id and available(session, m, now)), None)
    if target is None:
        target, _ = pick_assignee(session, ticket.grid_id, ticket.building, now,
                                  exclude=[ticket.assignee_id] if ticket.assignee_id else [])
    if target is None or target.id == ticket.assignee_id:
        return False
    # The partner gets a deadline in the future: the original one if it is still ahead, else a fresh handover
    # window from now (the ticket's response_due stays, so the response metric is not softened).
    due = max(_aware(ticket.response_due), now + policy.limits(ticket.category, ticket.urgency).handover)
    _event(session, ticket, "system", "handover", now, member_id=target.id,
           detail={"from": current.userid if current else None, "to": target.userid, "due": due.isoformat()})
    ticket.assignee = target
    _notify(session, [target], t("tickets.notify.handover", number=ticket.number,
                                 category=category_name(ticket.category), place=ticket.place or "-",
                                 summary=ticket.summary, previous=current.name if current else "-",
                                 due=fmt_time(due, policy.tz), phone_line=_phone_line(ticket)),
            now, None, ticket, urgent=ticket.urgency == URGENT)
    if current is not None:
        _notify(session, [current], t("tickets.notify.handed_over", number=ticket.number, to=target.name),
                now, None, ticket)
    return True


def _raise_to(session: Session, policy: Policy, ticket: Ticket, level: int, actor: str, now: datetime,
              platform: str | None, *, kind: str | None = None, note: str | None = None, manual: bool = False) -> None:
    """Record each level passed (the timeline shows the ladder) and tell the people at the new top level."""
    start_level = ticket.escalation_level
    for lvl in range(start_level + 1, level + 1):
        if manual and lvl == 1:      # a member asking for help skips the reminder to themselves
            continue
        action = "remind" if lvl == 1 else "escalate"
        _event(session, ticket, actor, action, now, note=note if lvl == level else None,
               detail={"level": lvl, "for": kind or ticket.escalated_for or "manual", "manual": manual})
    ticket.escalation_level = level
    ticket.escalated_for = kind or ("manual" if manual else ticket.escalated_for)
    why = t(f"tickets.overdue.{kind}") if kind else t("tickets.overdue.manual", note=mask_text(note or "") or "-")
    base = dict(number=ticket.number, category=category_name(ticket.category), place=ticket.place or "-",
                summary=ticket.summary, why=why, status=status_name(ticket.status),
                assignee=ticket.assignee.name if ticket.assignee else t("tickets.nobody"))
    if level == 1:
        _notify(session, ladder_targets(session, ticket, 1), t("tickets.notify.remind", **base), now, platform,
                ticket, urgent=ticket.urgency == URGENT)
        return
    unit = policy.unit_for(ticket.category) if level == 4 else None
    text = t("tickets.notify.escalated", level=t(f"tickets.ladder.{LADDER[level]}"), **base)
    if unit:
        text += "\n" + t("tickets.notify.unit", unit=unit)
    targets = [m for m in ladder_targets(session, ticket, level) if m.id != ticket.assignee_id]
    _notify(session, targets, text, now, platform, ticket, urgent=True)
    if ticket.assignee is not None:
        _notify(session, [ticket.assignee], t("tickets.notify.escalated_assignee", number=ticket.number,
                                              level=t(f"tickets.ladder.{LADDER[level]}")), now, platform, ticket)
