"""The daily digest (每日简报): what a community secretary, or a grid leader for their grids, should act on today.

A digest is "for" a local date D (the morning it is sent) and covers the day before, Y = D-1. Every figure is
taken as it stood at the cut-off, local midnight at the start of D, so the digest of a past date can be printed
again and reads as it did that morning:
- tickets: new and closed on Y, and overdue at the cut-off (tickets.overdue on the status the timeline had then),
  urgent ones first;
- the 三率 and on-time closure rate of the tickets reported in the 7 days before the cut-off, and the same figures
  for the 7 days before those as they stood a week earlier (what last week's digest said): metrics._one and
  metrics.summarize on the timeline up to each cut-off, so the definitions are the metrics module's own;
- coverage per grid from the daily snapshots (Y, and 7 days earlier);
- members behind: a grid they must patrol with no patrol in 30 days, or key households visited this quarter
  behind an even pace to the quarter's end -- services.compliance's figures (grid-months patrolled,
  key_visited_quarter) for one window, counted with three grouped queries per community instead of its
  per-member loops (tests/unit/test_digest.py checks they agree with compliance());
- registrations waiting for a member's decision, and outbox messages that could not be delivered (7 days).

build() returns plain data (JSON-ready); render_markdown()/markdown_parts() make WeCom markdown within its
4096-byte limit, split on line boundaries by the WeCom sender's own split_text.
"""
from __future__ import annotations

import logging
import math
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..errors import Refusal
from ..markdown import md_text as md
from ..messages import Reply
from ..models import (
    ArchiveCursor,
    Community,
    CoverageSnapshot,
    Grid,
    GridChat,
    Household,
    Member,
    OutboxMessage,
    Patrol,
    Ticket,
    TicketEvent,
    ToolbarItem,
    Visit,
)
from ..models.household import KEY_HOUSEHOLD_TAGS
from ..models.tickets import ACTIVE_STATUSES
from ..periods import add_months, day_start, quarter_start
from ..senders.wecom import MARKDOWN_LIMIT, split_text
from ..texts import t
from . import bindings, channel_faults, metrics, outbox, toolbar
from . import tickets as ticket_service
from .charts import FontMissing, digest_chart
from .people import subtree_ids
from .work import work_grids

PATROL_ROLES = frozenset({"member", "grid_leader"})            # 每月至少巡查一次 (seed plan 2)
VISIT_ROLES = frozenset({"member", "part_time"})               # 每季度走访一遍重点户 (the members who visit)
READER_ROLES = frozenset({"secretary", "chief"})               # they read the digest; not listed as behind
LIST_LIMIT = 8            # tickets / members / registrations listed by name; the rest are counted
PATROL_DAYS = 30          # "no patrol in 30 days" = behind on the monthly patrol
DEAD_DAYS = 7
ARCHIVE_WARN_LAG = timedelta(hours=1)   # the chat archive behind by more than this is said (issue 16 point 3)
RATE_KEYS = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_closure_rate")
WEEKDAYS = "一二三四五六日"


class DigestError(Refusal):
    """An unknown community or grid (the text names it)."""


# -- scope ----------------------------------------------------------------------------------------------
@dataclass
class Scope:
    kind: str                  # community | grid
    community_id: int
    community_code: str
    community_name: str
    name: str                  # what the reader sees: 幸福社区 / 第一网格、第二网格
    key: str                   # for idempotency keys: XF / XF-01+XF-02
    grid_ids: list[int]        # the grids where the work happens (leaves), in code order
    all_grid_ids: set[int]     # those and the grids above them within the scope (tickets may sit on either)


def community_scope(session: Session, code: str) -> Scope:
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        raise DigestError("refusal.no_community", code=code)
    ids = set(session.scalars(select(Grid.id).where(Grid.community_id == community.id)))
    leaves = work_grids(session, ids)
    return Scope("community", community.id, community.code, community.name, community.name, community.code,
                 [g.id for g in leaves], ids)


def grids_scope(session: Session, grid_ids: Iterable[int]) -> Scope:
    roots = set(grid_ids)
    leaves = work_grids(session, roots)
    if not leaves:
        raise DigestError("refusal.no_grids")
    community = session.get_one(Community, leaves[0].community_id)   # a grid's community exists (foreign key)
    return Scope("grid", community.id, community.code, community.name,
                 "、".join(g.name for g in leaves), "+".join(g.code for g in leaves), [g.id for g in leaves],
                 subtree_ids(session, roots))


def grid_scope(session: Session, code: str, community_code: str | None = None) -> Scope:
    query = select(Grid).where(Grid.code == code)
    if community_code is not None:
        query = query.join(Community, Community.id == Grid.community_id).where(Community.code == community_code)
    grid = session.scalar(query)
    if grid is None:
        if community_code:
            raise DigestError("refusal.no_grid_in", code=code, community=community_code)
        raise DigestError("refusal.no_grid", code=code)
    return grids_scope(session, [grid.id])


def readers(session: Session, community_id: int) -> list[tuple[Member, Scope | None]]:
    """Who gets which digest: secretaries the community's (scope None), other grid leaders their own grids'."""
    out: list[tuple[Member, Scope | None]] = []
    grid_ids = set(session.scalars(select(Grid.id).where(Grid.community_id == community_id)))
    for member in session.scalars(select(Member).where(Member.community_id == community_id, Member.active.is_(True),
                                                       Member.on_duty.is_(True))     # 在岗=否: no digest
                                  .options(selectinload(Member.grid_links)).order_by(Member.id)):
        roles = set(member.roles or [])
        if "secretary" in roles:
            out.append((member, None))
        elif "grid_leader" in roles and member.grid_links:
            own = {link.grid_id for link in member.grid_links if link.grid_id in grid_ids}
            if own:      # a leader's grids in another community (a roster mistake) are not this one's to report
                out.append((member, grids_scope(session, own)))
    return out


# -- the window ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    day: date                  # D, the digest's date
    tz: ZoneInfo

    @property
    def covers(self) -> date:
        return self.day - timedelta(days=1)

    @property
    def cutoff(self) -> datetime:
        return day_start(self.day, self.tz)

    @property
    def covers_start(self) -> datetime:
        return day_start(self.covers, self.tz)

    @property
    def week_start(self) -> datetime:
        return day_start(self.day - timedelta(days=7), self.tz)

    @property
    def prev_start(self) -> datetime:
        return day_start(self.day - timedelta(days=14), self.tz)


def day_label(day: date) -> str:
    return t("digest.day", month=day.month, day=day.day, weekday=WEEKDAYS[day.weekday()])


# -- the community's raw material, loaded once and shared by every digest of the community -------------
class CommunityData:
    """Everything a community's digests need, in a fixed number of queries; digests filter it by grid."""

    def __init__(self, session: Session, community_id: int, window: Window):
        self.session, self.window = session, window
        w = window
        self.community = session.get(Community, community_id)
        grids = list(session.scalars(select(Grid).where(Grid.community_id == community_id)))
        self.grid = {g.id: g for g in grids}
        self.members = {m.id: m for m in session.scalars(
            select(Member).where(Member.community_id == community_id).options(selectinload(Member.grid_links)))}

        cols = (Ticket.id, Ticket.number, Ticket.grid_id, Ticket.category, Ticket.urgency, Ticket.status,
                Ticket.building, Ticket.summary, Ticket.assignee_id, Ticket.response_due, Ticket.resolution_due,
                Ticket.verify_due, Ticket.created_at, Ticket.concealed, Ticket.about_member_id)
        ev_cols = (TicketEvent.ticket_id, TicketEvent.at, TicketEvent.action, TicketEvent.from_status,
                   TicketEvent.to_status, TicketEvent.detail)
        in_community = Ticket.community_id == community_id
        # 1. tickets reported in the two weeks before the cut-off, and 2. their timelines up to the cut-off
        self.recent = session.execute(select(*cols).where(in_community, Ticket.created_at >= w.prev_start,
                                                          Ticket.created_at < w.cutoff)
                                      .order_by(Ticket.created_at, Ticket.id)).all()
        self.events: dict[int, list[Any]] = defaultdict(list)
        for ev in session.execute(select(*ev_cols).join(Ticket, Ticket.id == TicketEvent.ticket_id)
                                  .where(in_community, Ticket.created_at >= w.prev_start,
                                         Ticket.created_at < w.cutoff, TicketEvent.at < w.cutoff)
                                  .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)):
            self.events[ev.ticket_id].append(ev)
        # 2b. customer groups' prepared replies of those tickets (metrics: the reporter is told when one is posted)
        self.group_replies: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
        for tid, created, posted in session.execute(
                select(ToolbarItem.ticket_id, ToolbarItem.created_at, ToolbarItem.posted_at)
                .join(Ticket, Ticket.id == ToolbarItem.ticket_id)
                .where(in_community, Ticket.created_at >= w.prev_start, Ticket.created_at < w.cutoff)):
            if tid is not None:
                self.group_replies[tid].append((created, posted))
        # 3. closures (结案) in the two weeks, whenever the ticket was reported
        self.closes = session.execute(select(*cols, TicketEvent.at.label("closed_at"))
                                      .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
                                      .where(in_community, TicketEvent.action == "close",
                                             TicketEvent.at >= w.prev_start, TicketEvent.at < w.cutoff)
                                      .order_by(TicketEvent.at)).all()
        # 4. tickets that may have been overdue at the cut-off: unfinished now, or changed since the cut-off,
        #    and 5. the status each had at the cut-off (its last transition before it)
        candidates = session.execute(select(*cols).where(
            in_community, Ticket.created_at < w.cutoff,
            or_(Ticket.status.in_(ACTIVE_STATUSES), Ticket.updated_at >= w.cutoff))).all()
        status_then: dict[int, str] = {}
        if candidates:
            ids = [c.id for c in candidates]
            for chunk in range(0, len(ids), 5000):
                for tid, to_status in session.execute(
                        select(TicketEvent.ticket_id, TicketEvent.to_status)
                        .where(TicketEvent.ticket_id.in_(ids[chunk:chunk + 5000]), TicketEvent.at < w.cutoff,
                               or_(TicketEvent.from_status.is_(None),
                                   TicketEvent.from_status != TicketEvent.to_status))
                        .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)):
                    status_then[tid] = to_status
        self.overdue = []
        for c in candidates:
            status = status_then.get(c.id)
            if status is None:
                continue
            late = ticket_service.overdue(SimpleNamespace(status=status, response_due=c.response_due,
                                                          resolution_due=c.resolution_due,
                                                          verify_due=c.verify_due), w.cutoff)
            if late is not None:
                self.overdue.append((c, status, late))
        # the members a complaint not yet decided is about (监督评议): their digest leaves it out
        self.complained_of = {r.about_member_id for r in [*self.recent, *self.closes, *candidates]
                              if r.concealed and r.about_member_id is not None}
        # 6. coverage snapshots around Y and a week before
        self.snapshots: dict[int, list[Any]] = defaultdict(list)   # rows of CoverageSnapshot columns
        for snap in session.execute(select(CoverageSnapshot.grid_id, CoverageSnapshot.day, CoverageSnapshot.ratio,
                                           CoverageSnapshot.households, CoverageSnapshot.covered,
                                           CoverageSnapshot.gained, CoverageSnapshot.lost)
                                    .where(CoverageSnapshot.grid_id.in_(list(self.grid)),
                                           CoverageSnapshot.day >= w.covers - timedelta(days=14),
                                           CoverageSnapshot.day <= w.covers)
                                    .order_by(CoverageSnapshot.day)):
            self.snapshots[snap.grid_id].append(snap)
        # 7. per member: patrols of each own grid in the 30 days to Y, key households visited this quarter
        self.duty = duty_figures(session, self.grid, list(self.members.values()), window)
        # 8. registrations waiting at the cut-off, 9. undeliverable messages of the last week
        self.pending = [p for p in bindings.pending(session, list(self.grid), w.cutoff) if p.requested_at < w.cutoff]
        self.chats = defaultdict(list)
        for gid, chat_id in session.execute(select(GridChat.grid_id, GridChat.chat_id)
                                            .where(GridChat.grid_id.in_(list(self.grid)))):
            self.chats[gid].append(chat_id)
        userids = [m.userid for m in self.members.values()]
        chat_ids = [c for cs in self.chats.values() for c in cs]
        # 10. sending channels stopped by a configuration fault (one line each, for the secretaries)
        self.faults = [{"channel": f.channel, "errcode": f.errcode, "since": f.first_seen.isoformat(),
                        "line": channel_faults.digest_line(f)} for f in channel_faults.active(session)]
        # 11. the chat archive not pulled for over an hour before the cutoff (residents' group messages unread)
        pulled = session.scalar(select(func.max(ArchiveCursor.pulled_at)))
        self.archive_lag_hours = (int((w.cutoff - pulled).total_seconds() // 3600)
                                  if pulled is not None and w.cutoff - pulled > ARCHIVE_WARN_LAG else None)
        self.dead = session.execute(
            select(OutboxMessage.id, OutboxMessage.target_type, OutboxMessage.target, OutboxMessage.status)
            .where(OutboxMessage.status.in_(("dead", "unknown")),
                   OutboxMessage.created_at >= w.cutoff - timedelta(days=DEAD_DAYS),
                   OutboxMessage.created_at < w.cutoff,
                   or_(and_(OutboxMessage.target_type == "chat", OutboxMessage.target.in_(chat_ids or [""])),
                       and_(OutboxMessage.target_type == "user", OutboxMessage.target.in_(userids or [""]))))
            .order_by(OutboxMessage.id)).all()

    def status_at_cutoff(self, ticket_id: int) -> str | None:
        """A recent ticket's status at the cut-off: the last transition of its timeline before it."""
        return next((ev.to_status for ev in reversed(self.events.get(ticket_id, []))
                     if ev.from_status != ev.to_status), None)

    def grid_name(self, code: str) -> str:
        return next((g.name for g in self.grid.values() if g.code == code), code)


def _leaves(grids: dict[int, Grid], roots: Iterable[int]) -> list[int]:
    """work_grids() on grids already loaded: the given grids and those below them, without the ones that have
    children (where the work happens), in code order."""
    children: dict[int, list[int]] = defaultdict(list)
    for g in grids.values():
        if g.parent_id is not None:
            children[g.parent_id].append(g.id)
    seen, stack = set(), [r for r in roots if r in grids]
    while stack:
        gid = stack.pop()
        if gid not in seen:
            seen.add(gid)
            stack += children.get(gid, [])
    return sorted((gid for gid in seen if not children.get(gid)), key=lambda gid: grids[gid].code)


def duty_figures(session: Session, grids: dict[int, Grid], members: list[Member], window: Window) -> list[dict]:
    """For each active member: their own grids (codes), patrols per own grid in the PATROL_DAYS to the covered
    day, and key households of their area (narrowed to their buildings) with how many they visited this quarter.
    The same definitions as compliance.compliance(), in three grouped queries for the whole community."""
    w = window
    ids = list(grids)
    since = day_start(w.covers - timedelta(days=PATROL_DAYS - 1), w.tz)
    q_start = day_start(quarter_start(w.covers), w.tz)
    patrols = {(m, g): n for m, g, n in session.execute(
        select(Patrol.member_id, Patrol.grid_id, func.count()).where(
            Patrol.grid_id.in_(ids), Patrol.started_at >= since, Patrol.started_at < w.cutoff)
        .group_by(Patrol.member_id, Patrol.grid_id))}
    keys = [(h.id, h.grid_id, h.building) for h in session.execute(
        select(Household.id, Household.grid_id, Household.building, Household.tags)
        .where(Household.grid_id.in_(ids), Household.status == "active",
               cast(Household.tags, String) != "[]"))     # most households have no tags: skip decoding them
        if set(h.tags or []) & set(KEY_HOUSEHOLD_TAGS)]
    visited: dict[int, set[int]] = defaultdict(set)
    for member_id, household_id in session.execute(
            select(Visit.member_id, Visit.household_id).distinct()
            .where(Visit.grid_id.in_(ids), Visit.at >= q_start, Visit.at < w.cutoff)):
        visited[member_id].add(household_id)
    out = []
    for m in members:
        if not m.active:
            continue
        own = _leaves(grids, [link.grid_id for link in m.grid_links])
        narrowed = {link.grid_id: {b.strip() for b in re.split(r"[,，、\s]+", link.buildings) if b.strip()}
                    for link in m.grid_links if link.buildings}
        area = [hid for hid, gid, building in keys if gid in own
                and (not narrowed.get(gid) or building in narrowed[gid])]
        out.append({"userid": m.userid, "name": m.name, "roles": list(m.roles or []),
                    "grids": [grids[g].code for g in own],
                    "patrols_by_grid": {grids[g].code: patrols.get((m.id, g), 0) for g in own},
                    "key_households": len(area),
                    "key_visited_quarter": sum(1 for hid in area if hid in visited.get(m.id, ()))})
    return sorted(out, key=lambda r: r["userid"])


# -- building one digest ----------------------------------------------------------------------------------
def _item(data: CommunityData, row: Any, tz: ZoneInfo, late: tuple[str, datetime] | None = None,
          status: str | None = None) -> dict[str, Any]:
    grid = data.grid.get(row.grid_id)
    assignee = data.members.get(row.assignee_id) if row.assignee_id else None
    out = {"number": row.number, "grid": grid.code if grid else None, "grid_name": grid.name if grid else "",
           "category": row.category, "category_name": ticket_service.category_name(row.category),
           "urgency": row.urgency, "status": status or row.status,
           "status_name": ticket_service.status_name(status or row.status),
           "building": row.building, "summary": row.summary, "assignee": assignee.name if assignee else None,
           "created_at": row.created_at.isoformat()}
    if late is not None:
        kind, since = late
        out.update(overdue_kind=kind, overdue_since=since.isoformat(),
                   overdue_hours=round((data.window.cutoff - since).total_seconds() / 3600, 1))
    return out


def _urgent_first(items: list[dict[str, Any]], key: str = "created_at") -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: (i["urgency"] != "urgent", -(i.get("overdue_hours") or 0), i[key]))


def _rates(data: CommunityData, rows: list[Any], as_of: datetime) -> dict[str, Any]:
    """metrics.summarize over these tickets with their timelines cut at `as_of` (metrics' own definitions)."""
    facts = []
    for row in rows:
        events = [ev for ev in data.events.get(row.id, []) if ev.at < as_of]
        if row.resolution_due is not None and not any(ev.to_status == "dispatched" for ev in events):
            # dispatched only after `as_of`: its resolution clock had not started then
            row = SimpleNamespace(**{**row._mapping, "resolution_due": None})
        # a Row (or a copy) with the Ticket columns _one reads, not a Ticket
        replies = [(c, p if p is not None and p < as_of else None)
                   for c, p in data.group_replies.get(row.id, []) if c < as_of]
        facts.append(metrics._one(row, events, as_of, replies))  # type: ignore[arg-type]  # see the line above
    return metrics.summarize(facts)


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 4)


def _coverage(data: CommunityData, grid_ids: list[int]) -> dict[str, Any]:
    covers = data.window.covers
    week_ago = covers - timedelta(days=7)
    rows, tot_now, tot_before = [], [0, 0], [0, 0]
    for gid in grid_ids:
        snaps = data.snapshots.get(gid) or []
        now = next((s for s in reversed(snaps) if s.day <= covers), None)
        before = next((s for s in reversed(snaps) if s.day <= week_ago), None)
        if now is None or not now.households:
            continue
        grid = data.grid[gid]
        on_day = now.day == covers
        rows.append({"grid": grid.code, "name": grid.name, "day": now.day.isoformat(), "ratio": now.ratio,
                     "households": now.households, "covered": now.covered,
                     "ratio_before": before.ratio if before else None,
                     "change": _change(now.ratio, before.ratio if before else None),
                     "gained": now.gained if on_day else 0, "lost": now.lost if on_day else 0})
        tot_now[0] += now.covered
        tot_now[1] += now.households
        if before is not None and before.households:
            tot_before[0] += before.covered
            tot_before[1] += before.households
    ratio = round(tot_now[0] / tot_now[1], 4) if tot_now[1] else None
    ratio_before = round(tot_before[0] / tot_before[1], 4) if tot_before[1] else None
    return {"total": {"households": tot_now[1], "covered": tot_now[0], "ratio": ratio, "ratio_before": ratio_before,
                      "change": _change(ratio, ratio_before), "gained": sum(r["gained"] for r in rows),
                      "lost": sum(r["lost"] for r in rows)},
            "grids": rows}


def _behind(data: CommunityData, grid_ids: list[int]) -> list[dict[str, Any]]:
    """Members working in these grids who are behind on the monthly patrol or the quarter's key visits."""
    w = data.window
    codes = {data.grid[g].code for g in grid_ids}
    q_first = quarter_start(w.covers)
    q_days = (add_months(q_first, 3) - q_first).days
    elapsed = ((w.covers - q_first).days + 1) / q_days
    by_userid = {m.userid: m for m in data.members.values()}
    out = []
    for row in data.duty:
        member = by_userid.get(row["userid"])
        roles = set(row["roles"])
        if (member is None or not member.on_duty or roles & READER_ROLES  # off duty: their partner covers
                or not set(row["grids"]) & codes):
            continue
        unpatrolled = []
        if roles & PATROL_ROLES:
            unpatrolled = [data.grid_name(code) for code in row["grids"] if code in codes
                           and row["patrols_by_grid"].get(code, 0) == 0]
        key_total, key_done = row["key_households"], row["key_visited_quarter"]
        expected = math.floor(elapsed * key_total + 1e-9)
        key_behind = bool(roles & VISIT_ROLES) and key_total > 0 and key_done < expected
        if unpatrolled or key_behind:
            out.append({"userid": row["userid"], "name": row["name"], "unpatrolled": unpatrolled,
                        "key_households": key_total, "key_visited": key_done,
                        "key_expected": expected if key_behind else None})
    return sorted(out, key=lambda r: (-len(r["unpatrolled"]), -((r["key_expected"] or 0) - r["key_visited"]),
                                      r["userid"]))


def _series(data: CommunityData, all_ids: set[int]) -> list[dict[str, Any]]:
    w = data.window
    days = [w.day - timedelta(days=n) for n in range(14, 0, -1)]
    new: defaultdict[date, int] = defaultdict(int)
    closed: defaultdict[date, int] = defaultdict(int)
    for row in data.recent:
        if row.grid_id in all_ids:
            new[row.created_at.astimezone(w.tz).date()] += 1
    for row in data.closes:
        if row.grid_id in all_ids:
            closed[row.closed_at.astimezone(w.tz).date()] += 1
    return [{"day": d.isoformat(), "label": f"{d.month}/{d.day}", "new": new[d], "closed": closed[d]} for d in days]


def _shown(row: Any, viewer_id: int | None) -> bool:
    """A complaint not yet decided is never shown to the member it is about (监督评议), in chat or on the console."""
    return not (viewer_id is not None and row.concealed and row.about_member_id == viewer_id)


def build_from(data: CommunityData, scope: Scope, console_base_url: str,
               viewer_id: int | None = None) -> dict[str, Any]:
    """One digest from a community's loaded data, for the whole community or some of its grids; `viewer_id`: the
    member who reads it (complaints about them not yet decided are left out of its lists)."""
    w = data.window
    tz = w.tz
    ids = scope.all_grid_ids
    yesterday = [r for r in data.recent if r.grid_id in ids and r.created_at >= w.covers_start
                 and _shown(r, viewer_id)]
    new_list = _urgent_first([_item(data, r, tz, status=data.status_at_cutoff(r.id)) for r in yesterday])
    seen: set[int] = set()
    closed_rows = []
    for r in data.closes:
        if r.grid_id in ids and r.closed_at >= w.covers_start and r.id not in seen and _shown(r, viewer_id):
            seen.add(r.id)
            closed_rows.append(r)
    closed_list = _urgent_first([_item(data, r, tz) for r in closed_rows])
    overdue_list = _urgent_first([_item(data, c, tz, late, status) for c, status, late in data.overdue
                                  if c.grid_id in ids and _shown(c, viewer_id)])
    week = _rates(data, [r for r in data.recent if r.grid_id in ids and r.created_at >= w.week_start], w.cutoff)
    prev = _rates(data, [r for r in data.recent if r.grid_id in ids and r.created_at < w.week_start], w.week_start)
    codes = {data.grid[g].code for g in ids if g in data.grid}
    pending = [p for p in data.pending if p.grid_code in codes]
    chats = {c for g in ids for c in data.chats.get(g, [])}
    userids = {m.userid for m in data.members.values()
               if scope.kind == "community" or any(link.grid_id in ids for link in m.grid_links)}
    dead = [d for d in data.dead if (d.target in chats if d.target_type == "chat" else d.target in userids)]
    coverage = _coverage(data, scope.grid_ids)
    behind = _behind(data, scope.grid_ids)
    # the console's 简报 page (gridbot/web/console): the same digest with its lists in full; scope from the login
    link = f"{console_base_url.rstrip('/')}/console/digest?day={w.day.isoformat()}"
    if scope.kind == "grid" and len(scope.grid_ids) == 1:
        link += f"&grid={data.grid[scope.grid_ids[0]].code}"
    out: dict[str, Any] = {
        "kind": scope.kind, "community": scope.community_code, "community_name": scope.community_name,
        "scope_name": scope.name, "grids": [data.grid[g].code for g in scope.grid_ids],
        "date": w.day.isoformat(), "covers": w.covers.isoformat(), "covers_label": day_label(w.covers),
        "cutoff": w.cutoff.isoformat(),
        "tickets": {"new": len(new_list), "new_urgent": sum(i["urgency"] == "urgent" for i in new_list),
                    "closed": len(closed_list), "overdue": len(overdue_list),
                    "overdue_urgent": sum(i["urgency"] == "urgent" for i in overdue_list),
                    "new_list": new_list, "closed_list": closed_list, "overdue_list": overdue_list},
        "rates": {"since": w.week_start.isoformat(), "until": w.cutoff.isoformat(),
                  "previous_since": w.prev_start.isoformat(),
                  "week": week, "previous": prev,
                  "change": {k: _change(week[k], prev[k]) for k in RATE_KEYS}},
        "coverage": coverage,
        "behind": behind,
        "pending_bindings": {"count": len(pending), "overdue": sum(p.overdue for p in pending),
                             "oldest": [{"number": p.number, "grid": p.grid_code, "address": p.address,
                                         "days": (w.cutoff - p.requested_at).days} for p in pending[:LIST_LIMIT]]},
        "dead_outbox": {"count": len(dead), "ids": [d.id for d in dead]},
        # what secretaries must have fixed (a wrong secret, an untrusted IP): grid leaders cannot fix it
        "channel_faults": data.faults if scope.kind == "community" else [],
        "archive_lag_hours": data.archive_lag_hours if scope.kind == "community" else None,
        "series": _series(data, ids),
        "console_url": link,
        # customer groups' replies not posted within their response time, at the cut-off (待群内回复)
        "toolbar_waiting": toolbar.waiting(data.session, ids, w.cutoff),
    }
    out["quiet"] = is_quiet(out)
    return out


def is_quiet(d: dict[str, Any]) -> bool:
    """Nothing happened and nothing waits: no tickets in or out, none overdue, nobody behind, nothing pending."""
    tk, cov = d["tickets"], d["coverage"]["total"]
    return not (tk["new"] or tk["closed"] or tk["overdue"] or d["behind"] or d["pending_bindings"]["count"]
                or d["dead_outbox"]["count"] or d.get("channel_faults") or cov["gained"] or cov["lost"]
                or d.get("toolbar_waiting") or d.get("archive_lag_hours"))


def build(session: Session, *, community: str, day: date, tz: ZoneInfo, console_base_url: str,
          grid: str | None = None, viewer_id: int | None = None) -> dict[str, Any]:
    """The digest of `community` (or of one of its grids) for the morning of `day` (as `viewer_id` may read it)."""
    scope = grid_scope(session, grid, community) if grid else community_scope(session, community)
    data = CommunityData(session, scope.community_id, Window(day, tz))
    return build_from(data, scope, console_base_url, viewer_id)


def build_for_reader(session: Session, *, community_id: int | None, grid_ids: Iterable[int],
                     scope_grid_ids: Iterable[int], whole_community: bool, day: date, tz: ZoneInfo,
                     console_base_url: str, grid: str = "", viewer_id: int | None = None) -> dict[str, Any]:
    """The digest a person may read (the console's 简报 page and GET /api/v1/digests): one grid of their scope,
    the community for a secretary, else their own grids. LookupError: nothing to show; PermissionError: the grid
    is outside their scope."""
    community = session.get(Community, community_id) if community_id else None
    if community is None:
        raise LookupError("community")
    scope_ids = set(scope_grid_ids)
    try:
        if grid:
            found = session.scalar(select(Grid).where(Grid.code == grid))
            if found is None:
                raise LookupError("grid")
            if found.id not in scope_ids:
                raise PermissionError(grid)
            return build(session, community=community.code, day=day, tz=tz, console_base_url=console_base_url,
                         grid=grid, viewer_id=viewer_id)
        if whole_community:
            return build(session, community=community.code, day=day, tz=tz, console_base_url=console_base_url,
                         viewer_id=viewer_id)
        roots = set(grid_ids) & scope_ids
        if not roots:
            raise LookupError("no grids")
        data = CommunityData(session, community.id, Window(day, tz))
        return build_from(data, grids_scope(session, roots), console_base_url, viewer_id)
    except DigestError:
        raise LookupError("digest") from None


# -- markdown ---------------------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{round(value * 100, 1):g}%"


def _delta(change: float | None) -> str:
    if change is None:
        return t("digest.delta.none")
    points = round(change * 100, 1)
    if points > 0:
        return t("digest.delta.up", points=points)
    if points < 0:
        return t("digest.delta.down", points=-points)
    return t("digest.delta.same")


def _ticket_line(item: dict[str, Any], key: str) -> str:
    urgent = t("digest.urgent") if item["urgency"] == "urgent" else ""
    place = f"{item['building']}栋" if item.get("building") else ""
    extra = ""
    if key == "overdue":
        extra = t(f"digest.overdue_kind.{item['overdue_kind']}", hours=_hours(item["overdue_hours"]))
    elif key == "closed":
        extra = t("digest.closed_mark")
    else:
        extra = item["status_name"]
    return t("digest.ticket_line", urgent=urgent, number=item["number"], grid=md(item["grid_name"]), place=md(place),
             category=item["category_name"], summary=md(_short(item["summary"])),
             assignee=md(item["assignee"]) if item["assignee"] else t("digest.unassigned"), extra=extra)


def _hours(hours: float) -> str:
    """How long overdue: "刚超时" under a minute, minutes under an hour (never "0 小时"), hours, then days."""
    minutes = int(round(hours * 60))
    if minutes < 1:
        return t("digest.just_late")
    if minutes < 60:
        return t("digest.minutes", n=minutes)
    return t("digest.hours", n=int(hours)) if hours < 48 else t("digest.days", n=int(hours // 24))


def _short(text: str, limit: int = 24) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render_markdown(d: dict[str, Any]) -> str:
    """The digest as WeCom markdown (one string; markdown_parts() splits it for sending)."""
    title_key = "digest.title_community" if d["kind"] == "community" else "digest.title_grid"
    day = date.fromisoformat(d["date"])
    title = t(title_key, scope=md(d["scope_name"]), community=md(d["community_name"]), day=day_label(day))
    if d["quiet"]:
        return t("digest.quiet", title=title, covers=d["covers_label"], url=d["console_url"])
    tk = d["tickets"]
    lines = [f"## {title}",
             t("digest.summary", covers=d["covers_label"], new=tk["new"], new_urgent=tk["new_urgent"],
               closed=tk["closed"], overdue=tk["overdue"], overdue_urgent=tk["overdue_urgent"])]
    if d.get("toolbar_waiting"):
        lines.append(t("toolbar.digest_waiting", n=d["toolbar_waiting"]))
    for key, heading in (("overdue", "digest.h_overdue"), ("new", "digest.h_new"), ("closed", "digest.h_closed")):
        items = tk[f"{key}_list"]
        if not items:
            continue
        lines.append(t(heading, n=len(items)))
        lines += [_ticket_line(i, key) for i in items[:LIST_LIMIT]]
        if len(items) > LIST_LIMIT:
            lines.append(t("digest.more", n=len(items) - LIST_LIMIT))

    week, change = d["rates"]["week"], d["rates"]["change"]
    lines.append(t("digest.h_rates", n=week["genuine"]))
    lines.append(t("digest.rates", response=_pct(week["response_rate"]), d_response=_delta(change["response_rate"]),
                   resolution=_pct(week["resolution_rate"]), d_resolution=_delta(change["resolution_rate"]),
                   satisfaction=_pct(week["satisfaction_rate"]),
                   d_satisfaction=_delta(change["satisfaction_rate"]),
                   on_time=_pct(week["on_time_closure_rate"]), d_on_time=_delta(change["on_time_closure_rate"])))

    cov = d["coverage"]
    if cov["grids"]:
        total = cov["total"]
        lines.append(t("digest.h_coverage", ratio=_pct(total["ratio"]), covered=total["covered"],
                       households=total["households"], change=_delta(total["change"])))
        for g in sorted(cov["grids"], key=lambda g: (g["ratio"] if g["ratio"] is not None else 2, g["grid"])):
            moved = t("digest.coverage_moved", gained=g["gained"], lost=g["lost"]) if g["gained"] or g["lost"] else ""
            lines.append(t("digest.coverage_line", name=md(g["name"]), ratio=_pct(g["ratio"]), covered=g["covered"],
                           households=g["households"], change=_delta(g["change"]), moved=moved))
    else:
        lines.append(t("digest.no_snapshot"))

    if d["behind"]:
        lines.append(t("digest.h_behind", n=len(d["behind"])))
        for m in d["behind"][:LIST_LIMIT]:
            parts = []
            if m["unpatrolled"]:
                parts.append(t("digest.behind_patrol", grids="、".join(md(g) for g in m["unpatrolled"]),
                               days=PATROL_DAYS))
            if m["key_expected"] is not None:
                parts.append(t("digest.behind_key", done=m["key_visited"], total=m["key_households"],
                               expected=m["key_expected"]))
            lines.append(t("digest.behind_line", name=md(m["name"]), what="；".join(parts)))
        if len(d["behind"]) > LIST_LIMIT:
            lines.append(t("digest.more_people", n=len(d["behind"]) - LIST_LIMIT))

    pb = d["pending_bindings"]
    if pb["count"]:
        lines.append(t("digest.h_pending", n=pb["count"], overdue=pb["overdue"]))
        for p in pb["oldest"][:3]:
            lines.append(t("digest.pending_line", grid=md(p["grid"]), address=md(p["address"]), days=p["days"],
                           number=p["number"]))
    if d["dead_outbox"]["count"]:
        lines.append(t("digest.dead", n=d["dead_outbox"]["count"], days=DEAD_DAYS))
    lines += [f["line"] for f in d.get("channel_faults") or []]
    if d.get("archive_lag_hours"):
        lines.append(t("digest.archive_lag", hours=d["archive_lag_hours"]))
    lines.append(t("digest.link", url=d["console_url"]))
    return "\n".join(lines)


def markdown_parts(d: dict[str, Any], limit: int = MARKDOWN_LIMIT) -> list[str]:
    """The markdown in pieces of at most `limit` UTF-8 bytes, cut between lines (the WeCom sender's splitter)."""
    return split_text(render_markdown(d), limit)


# -- sending -----------------------------------------------------------------------------------------------
def idempotency_key(d: dict[str, Any], userid: str, part: int) -> str:
    scope = d["community"] if d["kind"] == "community" else "+".join(d["grids"])
    return f"digest:{d['kind']}:{scope}:{d['date']}:{userid}:{part}"


def chart_key(d: dict[str, Any], userid: str) -> str:
    return idempotency_key(d, userid, 0).rsplit(":", 1)[0] + ":chart"


def chart_file(d: dict[str, Any]) -> str:
    """Where the digest's chart is kept, relative to the instance dir (the console shows the community's)."""
    name = d["date"] if d["kind"] == "community" else f"{d['date']}-{'+'.join(d['grids'])}"
    return f"digests/{d['community']}/{name}.png"


def write(session: Session, d: dict[str, Any], userids: Iterable[str], now: datetime,
          platform: str = "wecom_app", chart: str | None = None) -> list[OutboxMessage]:
    """The digest into the outbox, privately to each reader, once per reader and date (idempotency keys).
    `chart`: the rendered chart's file under the instance dir; it follows the markdown as an image row."""
    parts = markdown_parts(d)
    rows: list[OutboxMessage] = []
    for userid in dict.fromkeys(userids):
        keys = [idempotency_key(d, userid, i) for i in range(len(parts))]
        if chart:
            keys.append(chart_key(d, userid))
        taken = set(session.scalars(select(OutboxMessage.idempotency_key)
                                    .where(OutboxMessage.idempotency_key.in_(keys))))
        replies = [Reply(part, markdown=True, to_user=userid, idempotency_key=key)
                   for part, key in zip(parts, keys, strict=False) if key not in taken]
        image = chart is not None and keys[-1] not in taken
        if chart is not None and image:
            replies.append(Reply("", to_user=userid, idempotency_key=keys[-1]))
        if replies:
            written = outbox.write_replies(session, None, replies, now, platform)
            # a file path, not the bytes: the outbox row stays small (see senders.wecom.image_bytes)
            if chart is not None and image:
                written[-1].content = {"kind": "image", "path": chart, "filename": chart.rsplit("/", 1)[-1]}
            rows += written
    return rows


def build_all(session: Session, day: date, tz: ZoneInfo, console_base_url: str,
              communities: Iterable[str] | None = None) -> list[tuple[dict[str, Any], list[str]]]:
    """Every digest due on `day`: each community's for its secretaries, each grid leader's for their grids.
    Returns (digest, reader userids) pairs; one CommunityData per community."""
    query = select(Community).order_by(Community.code)
    if communities is not None:
        query = query.where(Community.code.in_(list(communities)))
    out: list[tuple[dict[str, Any], list[str]]] = []
    for community in session.scalars(query).all():
        who = readers(session, community.id)
        if not who:
            continue
        data = CommunityData(session, community.id, Window(day, tz))
        # readers of one scope share a digest, except one a complaint not yet decided is about: theirs leaves it out
        whole = community_scope(session, community.code)
        by_scope: dict[tuple[str, int | None], tuple[Scope, list[str]]] = {}
        for member, scope in sorted(who, key=lambda pair: pair[1] is not None):     # the secretaries' first
            viewer = member.id if member.id in data.complained_of else None
            scope = scope or whole
            by_scope.setdefault((scope.key, viewer), (scope, []))[1].append(member.userid)
        for (_key, viewer), (scope, userids) in by_scope.items():
            out.append((build_from(data, scope, console_base_url, viewer), userids))
    return out


def send_all(session: Session, day: date, now: datetime, tz: ZoneInfo, console_base_url: str,
             communities: Iterable[str] | None = None,
             charts: Callable[[dict[str, Any]], str | None] | None = None,
             ) -> tuple[list[OutboxMessage], list[dict[str, Any]]]:
    """Write every digest due on `day` to the outbox (idempotent). Returns the rows written and the digests.
    `charts(d)` renders a digest's chart and returns its file under the instance dir, or None when it could not
    (no CJK font): then the markdown goes alone. Quiet digests get no chart."""
    rows: list[OutboxMessage] = []
    digests = []
    for d, userids in build_all(session, day, tz, console_base_url, communities):
        chart = charts(d) if charts is not None and not d["quiet"] else None
        rows += write(session, d, userids, now, chart=chart)
        digests.append(d)
    return rows, digests


def save_chart(instance_dir: Path, data: dict[str, Any]) -> str | None:
    """The digest's chart as a file (for the console, and sent after the markdown); its path under the instance
    dir, or None. A missing CJK font is logged for operators and never stops the digest's text."""

    rel = chart_file(data)
    path = Path(instance_dir) / rel
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")   # two workers at once: each replaces it whole
        tmp.write_bytes(digest_chart(data))
        os.replace(tmp, path)
    except (FontMissing, OSError) as err:
        logging.getLogger(__name__).warning("digest chart for %s %s not saved, the digest goes without it: %s",
                                            data["community"], data["date"], err)
        return None
    return rel
