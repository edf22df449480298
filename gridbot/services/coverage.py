"""Coverage (一户一代表进群): how many households have a representative in their grid's group.

A household is covered when it is active and has at least one ACTIVE binding whose person currently has an open
ChatMembership (left_at is null) in one of that household's grid's chats. A representative who left the group,
or who sits only in another grid's group, does not cover it.

Everything is computed with a fixed handful of set-based queries (grids, totals, uncovered, unbound people,
overdue registrations, wrong group), whatever the number of households: no per-household or per-grid queries.
bench/coverage.py checks that, and the time at county scale.

Definitions used in the lists:
- unbound member: a person with an open membership in one of the grid's chats who is not staff (not a Member's
  userid) and has no active or pending binding to any household. These are the people to prompt to 登记.
- pending overdue: a pending registration requested more than 3 days ago.
- wrong group: an active binding to an active household of grid A whose person is in none of A's chats but is in
  the chat of another grid B.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, and_, case, cast, func, select, true
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from ..errors import Refusal
from ..models import (
    KEY_HOUSEHOLD_TAGS,
    ChatIdentity,
    ChatMembership,
    Community,
    CoverageSnapshot,
    Grid,
    GridChat,
    Household,
    HouseholdBinding,
    Member,
    Visit,
)
from .bindings import PENDING_OVERDUE, address_text


@dataclass
class Uncovered:
    household_id: int
    building: str
    unit: str
    room: str
    tags: list[str]
    reason: str          # none (nobody registered) | pending | away (representative not in this grid's group)

    @property
    def key(self) -> bool:
        return any(t in KEY_HOUSEHOLD_TAGS for t in self.tags)

    @property
    def address(self) -> str:
        return address_text(self.building, self.unit, self.room)

    def as_dict(self) -> dict[str, Any]:
        return {"building": self.building, "unit": self.unit, "room": self.room, "tags": self.tags}


@dataclass
class Person:
    identity_id: int
    user_id: str
    name: str | None


@dataclass
class Overdue:
    binding_id: int
    address: str
    user_id: str
    requested_at: datetime


@dataclass
class WrongGroup:
    binding_id: int
    address: str
    user_id: str
    found_in: str       # code of the grid whose group the person is in


@dataclass
class GridCoverage:
    grid_id: int
    code: str
    name: str
    community: str
    households: int = 0
    covered: int = 0
    has_chat: bool = False
    covered_ids: list[int] = field(default_factory=list)
    uncovered: list[Uncovered] = field(default_factory=list)
    unbound: list[Person] = field(default_factory=list)
    pending_overdue: list[Overdue] = field(default_factory=list)
    wrong_group: list[WrongGroup] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return round(self.covered / self.households, 4) if self.households else None

    def as_dict(self) -> dict[str, Any]:
        """The CLI contract: grid, households, covered, ratio, uncovered, unbound_members (a count)."""
        return {"grid": self.code, "name": self.name, "community": self.community,
                "households": self.households, "covered": self.covered, "ratio": self.ratio,
                "uncovered": [u.as_dict() for u in self.uncovered], "unbound_members": len(self.unbound),
                "pending_overdue": len(self.pending_overdue), "wrong_group": len(self.wrong_group)}


@dataclass
class Totals:
    name: str
    households: int = 0
    covered: int = 0
    grids: int = 0
    unbound_members: int = 0
    pending_overdue: int = 0
    wrong_group: int = 0

    @property
    def ratio(self) -> float | None:
        return round(self.covered / self.households, 4) if self.households else None

    def add(self, g: GridCoverage) -> None:
        self.households += g.households
        self.covered += g.covered
        self.grids += 1
        self.unbound_members += len(g.unbound)
        self.pending_overdue += len(g.pending_overdue)
        self.wrong_group += len(g.wrong_group)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "grids": self.grids, "households": self.households, "covered": self.covered,
                "ratio": self.ratio, "unbound_members": self.unbound_members,
                "pending_overdue": self.pending_overdue, "wrong_group": self.wrong_group}


@dataclass
class CoverageReport:
    grids: list[GridCoverage]

    def by_code(self) -> dict[str, GridCoverage]:
        return {g.code: g for g in self.grids}

    def communities(self) -> list[Totals]:
        out: dict[str, Totals] = {}
        for g in self.grids:
            out.setdefault(g.community, Totals(g.community)).add(g)
        return list(out.values())

    def total(self) -> Totals:
        t = Totals("all")
        for g in self.grids:
            t.add(g)
        return t


# -- the queries --------------------------------------------------------------------------------------
def _covered_households(ids: set[int] | None) -> Select[int]:
    """The ids of covered households, as one uncorrelated set: active households with an active binding whose
    person has an open membership in a chat of the household's own grid. Used as `h.id IN (...)`, which both
    databases evaluate once (PostgreSQL: a hashed SubPlan; SQLite: an ephemeral index), not per household."""
    b, m, gc, h2 = aliased(HouseholdBinding), aliased(ChatMembership), aliased(GridChat), aliased(Household)
    return (select(b.household_id)
            .join(h2, h2.id == b.household_id)
            .join(m, and_(m.identity_id == b.identity_id, m.left_at.is_(None)))
            .join(gc, and_(gc.chat_id == m.chat_id, gc.grid_id == h2.grid_id))
            .where(b.status == "active", h2.status == "active", _grid_filter(h2.grid_id, ids)))


def _grid_filter(col: QueryableAttribute[int], grid_ids: set[int] | None) -> ColumnElement[bool]:
    return col.in_(sorted(grid_ids)) if grid_ids is not None else true()


def grid_ids_for(session: Session, grid_codes: Iterable[str] = (),
                 community_code: str | None = None) -> set[int] | None:
    """Grid ids for the CLI's --grid/--community; None means the whole deployment. Unknown codes raise."""
    codes = list(grid_codes)
    if not codes and not community_code:
        return None
    ids: set[int] = set()
    if codes:
        found = dict(session.execute(select(Grid.code, Grid.id).where(Grid.code.in_(codes))).all())
        missing = [c for c in codes if c not in found]
        if missing:
            raise Refusal("refusal.no_grid", code=", ".join(missing))
        ids |= set(found.values())
    if community_code:
        cid = session.scalar(select(Community.id).where(Community.code == community_code))
        if cid is None:
            raise Refusal("refusal.no_community", code=community_code)
        ids |= set(session.scalars(select(Grid.id).where(Grid.community_id == cid)))
    return ids


def compute(session: Session, now: datetime, grid_ids: Iterable[int] | None = None,
            with_lists: bool = True) -> CoverageReport:
    """Coverage per grid (grids with households or a chat), with the lists. Five queries in all."""
    ids = None if grid_ids is None else set(grid_ids)
    h = aliased(Household)

    # 1. grids and whether they have a chat
    has_chat = select(1).where(GridChat.grid_id == Grid.id).exists()
    grids = {row.id: GridCoverage(row.id, row.code, row.name, row.community, has_chat=bool(row.has_chat))
             for row in session.connection().execute(
                 select(Grid.id, Grid.code, Grid.name, Community.code.label("community"),
                        has_chat.label("has_chat"))
                 .join(Community, Community.id == Grid.community_id)
                 .where(_grid_filter(Grid.id, ids)).order_by(Grid.code))}

    # 2. every active household once: covered or not, and for the uncovered ones what the visiting list needs
    covered = _covered_households(ids)
    hb = HouseholdBinding
    open_bindings = (select(hb.household_id.label("household_id"),
                            func.max(case((hb.status == "active", 1), else_=0)).label("has_active"),
                            func.max(case((hb.status == "pending", 1), else_=0)).label("has_pending"))
                     .where(hb.status.in_(("active", "pending"))).group_by(hb.household_id).subquery("open_b"))
    is_covered = h.id.in_(covered)
    rows = session.connection().execute(
        select(h.id, h.grid_id, case((is_covered, 1), else_=0).label("covered"), h.building, h.unit, h.room,
               cast(h.tags, String).label("tags"), open_bindings.c.has_active, open_bindings.c.has_pending)
        .outerjoin(open_bindings, open_bindings.c.household_id == h.id)
        .where(h.status == "active", _grid_filter(h.grid_id, ids))
        .order_by(h.id)
    ).all()
    for r in rows:
        g = grids.get(r.grid_id)
        if g is None:
            continue
        g.households += 1
        if r.covered:
            g.covered += 1
            g.covered_ids.append(r.id)
        else:
            reason = "away" if r.has_active else ("pending" if r.has_pending else "none")
            g.uncovered.append(Uncovered(r.id, r.building, r.unit or "", r.room, sort_tags(_tags(r.tags)), reason))
    for g in grids.values():
        g.uncovered.sort(key=visit_order)

    if with_lists:
        _fill_lists(session, now, ids, grids)
    report = [g for g in grids.values() if g.households or g.has_chat]
    return CoverageReport(report)


def _fill_lists(session: Session, now: datetime, ids: set[int] | None, grids: dict[int, GridCoverage]) -> None:
    h = aliased(Household)
    hb = HouseholdBinding
    # 3. people in a grid's group bound to no household (not staff, no active or pending binding)
    m, gc, ci, b = ChatMembership, GridChat, ChatIdentity, aliased(HouseholdBinding)
    no_binding = ~select(1).select_from(b).where(b.identity_id == m.identity_id,
                                                b.status.in_(("active", "pending"))).exists()
    not_staff = ~select(1).where(Member.userid == ci.user_id).exists()
    for grid_id, identity_id, user_id, name in session.connection().execute(
            select(gc.grid_id, ci.id, ci.user_id, ci.display_name).distinct()
            .select_from(m).join(gc, gc.chat_id == m.chat_id).join(ci, ci.id == m.identity_id)
            .where(m.left_at.is_(None), _grid_filter(gc.grid_id, ids), no_binding, not_staff)
            .order_by(gc.grid_id, ci.id)):
        if grid_id in grids:
            grids[grid_id].unbound.append(Person(identity_id, user_id, name))

    # 4. registrations pending for more than 3 days
    hb = HouseholdBinding
    for r in session.connection().execute(
            select(hb.id, h.grid_id, h.building, h.unit, h.room, ci.user_id, hb.requested_at)
            .join(h, h.id == hb.household_id).join(ci, ci.id == hb.identity_id)
            .where(hb.status == "pending", hb.requested_at < now - PENDING_OVERDUE, _grid_filter(h.grid_id, ids))
            .order_by(hb.requested_at)):
        if r.grid_id in grids:
            grids[r.grid_id].pending_overdue.append(
                Overdue(r.id, address_text(r.building, r.unit, r.room), r.user_id, r.requested_at))

    # 5. represented in the wrong group: the person is in another grid's chat but in none of their own grid's
    m2, gc2, other = aliased(ChatMembership), aliased(GridChat), aliased(Grid)
    m3, gc3 = aliased(ChatMembership), aliased(GridChat)
    in_own = (select(1).select_from(m3).join(gc3, gc3.chat_id == m3.chat_id)
              .where(m3.identity_id == hb.identity_id, m3.left_at.is_(None), gc3.grid_id == h.grid_id)).exists()
    seen: set[tuple[int, int]] = set()
    for r in session.connection().execute(
            select(hb.id, h.grid_id, h.building, h.unit, h.room, ci.user_id, other.code)
            .join(h, h.id == hb.household_id).join(ci, ci.id == hb.identity_id)
            .join(m2, and_(m2.identity_id == hb.identity_id, m2.left_at.is_(None)))
            .join(gc2, and_(gc2.chat_id == m2.chat_id, gc2.grid_id != h.grid_id))
            .join(other, other.id == gc2.grid_id)
            .where(hb.status == "active", h.status == "active", _grid_filter(h.grid_id, ids), ~in_own)
            .order_by(hb.id, other.code)):
        if r.grid_id in grids and (r.id, r.grid_id) not in seen:
            seen.add((r.id, r.grid_id))
            grids[r.grid_id].wrong_group.append(
                WrongGroup(r.id, address_text(r.building, r.unit, r.room), r.user_id, r.code))


def _tags(raw: Any) -> list[str]:
    """Tags selected as text (the driver would otherwise parse 50,000 JSON values on PostgreSQL); most
    households have none, so the JSON is only decoded when there is something in it."""
    if isinstance(raw, str):
        return json.loads(raw) if raw not in ("", "[]", "null") else []
    return list(raw or [])


def sort_tags(tags: list[str] | None) -> list[str]:
    """Key household tags (独居老人, 残疾, ...) first, in their official order; the rest after."""
    if not tags:
        return []
    tags = list(tags)
    key = [t for t in KEY_HOUSEHOLD_TAGS if t in tags]
    return key + [t for t in tags if t not in key]


def _num(s: str) -> tuple[int, str]:
    return (int(s), "") if s.isdigit() else (10 ** 9, s)


def visit_order(u: Uncovered) -> tuple:
    """Key households first, homes marked 空置 (nobody to invite) last, and building, unit, room in numeric
    order within each: a walking route."""
    return (0 if u.key else (2 if "空置" in u.tags else 1), _num(u.building), _num(u.unit), _num(u.room))


def has_building(session: Session, grid_ids: Iterable[int], building: str) -> bool:
    """Whether these grids have active households in `building`, so that "未覆盖 4栋" about another grid's
    building says so instead of "all covered"."""
    ids = sorted(set(grid_ids))
    return bool(ids) and session.scalar(
        select(Household.id).where(Household.grid_id.in_(ids), Household.building == building,
                                   Household.status == "active").limit(1)) is not None


def invitations(session: Session, grid_ids: Iterable[int]) -> dict[int, datetime]:
    """When each household of these grids was last visited with "已邀请进群" noted (走访), one query."""
    return dict(session.connection().execute(
        select(Visit.household_id, func.max(Visit.at)).where(Visit.invited_to_group.is_(True),
                                                             Visit.grid_id.in_(list(grid_ids)))
        .group_by(Visit.household_id)).all())


# -- snapshots --------------------------------------------------------------------------------------
def _local_day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, start + timedelta(days=1)


def take_snapshots(session: Session, now: datetime, day: date | None, tz: str | ZoneInfo,
                   grid_ids: Iterable[int] | None = None) -> list[CoverageSnapshot]:
    """One snapshot per grid for `day` (default: today, local). Running it again the same day updates the row."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    day = day or now.astimezone(zone).date()
    ids = None if grid_ids is None else set(grid_ids)
    report = compute(session, now, ids)
    grids = [g for g in report.grids if g.households]
    covered_ids = {g.grid_id: g.covered_ids for g in grids}

    start, end = _local_day_window(day, zone)
    hb = HouseholdBinding
    bound_by: dict[int, dict[str, int]] = defaultdict(dict)
    for gid, actor, n in session.execute(
            select(Household.grid_id, hb.decided_by, func.count()).join(Household, Household.id == hb.household_id)
            .where(hb.decided_at >= start, hb.decided_at < end, hb.status.in_(("active", "ended")),
                   _grid_filter(Household.grid_id, ids))
            .group_by(Household.grid_id, hb.decided_by)):
        bound_by[gid][actor or "?"] = n
    left: dict[int, int] = dict(session.execute(
        select(GridChat.grid_id, func.count(func.distinct(ChatMembership.identity_id)))
        .join(GridChat, GridChat.chat_id == ChatMembership.chat_id)
        .join(hb, and_(hb.identity_id == ChatMembership.identity_id, hb.status == "active"))
        .join(Household, and_(Household.id == hb.household_id, Household.grid_id == GridChat.grid_id))
        .where(ChatMembership.left_at >= start, ChatMembership.left_at < end, _grid_filter(GridChat.grid_id, ids))
        .group_by(GridChat.grid_id)).all())

    latest = (select(CoverageSnapshot.grid_id, func.max(CoverageSnapshot.day).label("day"))
              .where(CoverageSnapshot.day < day, _grid_filter(CoverageSnapshot.grid_id, ids))
              .group_by(CoverageSnapshot.grid_id).subquery())
    previous = {s.grid_id: s for s in session.scalars(select(CoverageSnapshot).join(
        latest, and_(latest.c.grid_id == CoverageSnapshot.grid_id, latest.c.day == CoverageSnapshot.day)))}
    today = {s.grid_id: s for s in session.scalars(select(CoverageSnapshot).where(
        CoverageSnapshot.day == day, _grid_filter(CoverageSnapshot.grid_id, ids)))}

    out = []
    for g in grids:
        ids_now = covered_ids.get(g.grid_id, [])
        before = set(previous[g.grid_id].covered_ids) if g.grid_id in previous else None
        snap = today.get(g.grid_id) or CoverageSnapshot(grid_id=g.grid_id, day=day)
        snap.households, snap.covered, snap.ratio = g.households, g.covered, g.ratio
        snap.unbound_members, snap.pending_overdue = len(g.unbound), len(g.pending_overdue)
        snap.gained = len(set(ids_now) - before) if before is not None else 0
        snap.lost = len(before - set(ids_now)) if before is not None else 0
        snap.covered_ids = ids_now
        snap.movers = {"bound_by": bound_by.get(g.grid_id, {}), "left_group": left.get(g.grid_id, 0)}
        snap.taken_at = now
        if snap.id is None:
            session.add(snap)
        out.append(snap)
    session.flush()
    return out


@dataclass
class TrendPoint:
    day: date
    households: int
    covered: int
    ratio: float | None
    gained: int
    lost: int


def trend(session: Session, grid_ids: Iterable[int], since: date) -> list[TrendPoint]:
    """The summed daily figures of these grids from `since` on (one query): for digests and the console."""
    s = CoverageSnapshot
    rows = session.execute(
        select(s.day, func.sum(s.households), func.sum(s.covered), func.sum(s.gained), func.sum(s.lost))
        .where(s.grid_id.in_(list(grid_ids)), s.day >= since).group_by(s.day).order_by(s.day)).all()
    return [TrendPoint(d, int(hh), int(cv), round(cv / hh, 4) if hh else None, int(gn), int(ls))
            for d, hh, cv, gn, ls in rows]


def snapshots(session: Session, grid_id: int, since: date) -> list[CoverageSnapshot]:
    return list(session.scalars(select(CoverageSnapshot).where(
        CoverageSnapshot.grid_id == grid_id, CoverageSnapshot.day >= since).order_by(CoverageSnapshot.day)))
