"""Synthetic data at any scale, for benchmarks and load tests (`gridbot seed synthetic`).

A county as DOMAIN.md describes it: communities of ~30 grids, one chat group per grid, an A/B pair of grid members
(专职 + 兼职, partners of each other) per grid, a grid leader per three grids, a secretary per community; households in
buildings/units/rooms with tags (8% key households, rentals, shops); ~85% of households with a representative bound
and sitting in their grid's group (一户一代表), some pending registrations and people bound to nothing; D days of
tickets at 0.5–2 per grid per day (each grid its own rate) with a realistic category and urgency mix, full event
histories (report → accept → dispatch → start → resolve → rate → verify → close, rejections, reopenings after 不满意)
and satisfaction; patrols, household visits, work logs and daily coverage snapshots.

Bulk inserts only: COPY on PostgreSQL, Core executemany elsewhere — 300 grids × 365 days is a few minutes at most.
Deterministic: the same arguments and --seed give the same rows. Into an empty (migrated) database only, so ids stay
dense and codes cannot collide with real data.
"""
from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.engine import Engine

from ..models import (
    ChatIdentity,
    ChatMembership,
    Community,
    CoverageSnapshot,
    Grid,
    GridChat,
    Household,
    HouseholdBinding,
    Member,
    MemberGrid,
    Patrol,
    Ticket,
    TicketEvent,
    TicketReporter,
    TicketSequence,
    Visit,
    WorkLog,
    grid_neighbours,
)
from .tickets import Policy

# Category mix of grid-reported events (weights, roughly what the seed plans' statistics show: repairs and
# sanitation lead; fire hazards and health are rare but mostly urgent).
CATEGORY_WEIGHTS = {"repair": 28, "sanitation": 16, "parking": 10, "noise": 9, "consultation": 9, "dispute": 6,
                    "assistance": 6, "construction": 5, "security": 4, "fire_hazard": 3, "health": 2, "other": 2}
URGENT_SHARE = {"fire_hazard": 0.6, "health": 0.3, "security": 0.15, "assistance": 0.1, "repair": 0.03}
SUMMARIES = {
    "repair": ["楼道灯坏了", "电梯停运", "水管漏水", "门禁坏了", "路灯不亮"],
    "sanitation": ["垃圾没清运", "化粪池满溢", "楼下有老鼠", "污水外溢"],
    "parking": ["乱停车堵路", "僵尸车占车位", "消防通道停车"],
    "noise": ["半夜装修噪音", "广场舞太吵", "狗叫扰民"],
    "consultation": ["居住证怎么办理", "医保怎么续", "低保需要什么材料"],
    "dispute": ["邻里纠纷", "楼上漏水协商不理", "物业纠纷"],
    "assistance": ["独居老人需要送餐", "残疾人买药困难", "留守儿童无人照看"],
    "construction": ["楼顶私搭乱建", "占道经营摆摊"],
    "security": ["电动车被盗", "可疑人员徘徊", "电信诈骗"],
    "fire_hazard": ["楼道电动车充电", "私拉电线", "煤气味很重", "消防通道堵塞"],
    "health": ["老人摔倒受伤", "发烧需要帮助"],
    "other": ["小区围墙破损", "建议增加健身器材"],
}
RATINGS = ("satisfied",) * 15 + ("basic",) * 3 + ("dissatisfied",) + ("none",)  # 75% / 15% / 5% / 5%
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红建国志文"
KEY_TAGS = ("独居老人", "残疾", "困难", "留守儿童", "流动人口")
PLATFORM = "wecom"

Row = dict[str, Any]     # one row to insert: column name -> value


@dataclass(frozen=True)
class Spec:
    grids: int
    households: int
    days: int
    communities: int
    seed: int = 1
    end: datetime | None = None     # the moment the history ends (defaults to the app clock's now)
    coverage: float = 0.85          # households with a representative in their grid's group


class NotEmpty(Exception):
    """The database already holds communities or grids."""


def _name(rnd: random.Random) -> str:
    return rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))


def generate(engine: Engine, spec: Spec, tz: str, now: datetime | None = None) -> dict[str, int]:
    """Fill an empty migrated database. Returns the row count per kind. Commits (it owns its connection)."""
    zone = ZoneInfo(tz)
    end = (spec.end or now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=spec.days)
    t0 = start - timedelta(days=30)         # the roster existed before the history began
    rnd = random.Random(spec.seed)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(Grid)).scalar() or \
                conn.execute(select(func.count()).select_from(Community)).scalar():
            raise NotEmpty("database already has communities or grids")
    w = _Writer(engine)
    n_comm = max(1, min(spec.communities, spec.grids))

    # -- organisation ----------------------------------------------------------------------------
    communities: list[Row] = [
        {"id": c + 1, "code": f"S{c + 1:02d}", "name": f"{_name(rnd)[0]}园社区{c + 1}", "created_at": t0}
        for c in range(n_comm)]
    grids: list[Row] = [
        {"id": c + 1, "community_id": c + 1, "code": f"S{c + 1:02d}", "name": f"{communities[c]['name']}网格",
         "level": 1, "parent_id": None, "created_at": t0} for c in range(n_comm)]
    leaves: list[Row] = []
    chats: list[Row] = []
    for g in range(spec.grids):
        cid = g * n_comm // spec.grids + 1
        gid = n_comm + g + 1
        leaves.append({"id": gid, "community_id": cid, "code": f"S{cid:02d}-{g + 1:04d}", "name": f"第{g + 1}网格",
                       "level": 2, "parent_id": cid, "created_at": t0})
        chats.append({"id": g + 1, "grid_id": gid, "chat_id": f"syn-chat-{gid}", "name": f"第{g + 1}网格群",
                      "robot_key": None, "bound_by": "synthetic", "bound_at": t0})
    w.put(Community, communities)
    w.put(Grid, grids + leaves)
    w.put(GridChat, chats)
    neighbours = [{"grid_id": a["id"], "neighbour_id": b["id"]} for a, b in itertools.pairwise(leaves)
                  if a["community_id"] == b["community_id"]]
    neighbours += [{"grid_id": b, "neighbour_id": a} for a, b in ((r["grid_id"], r["neighbour_id"])
                                                                   for r in neighbours)]
    if neighbours:
        with engine.begin() as conn:
            conn.execute(insert(grid_neighbours), neighbours)

    members: list[Row] = []
    links: list[Row] = []
    staff_of: dict[int, list[Row]] = {}

    def member(cid: int, userid: str, roles: list[str], partner: int | None = None) -> Row:
        row = {"id": len(members) + 1, "community_id": cid, "name": _name(rnd), "userid": userid,
               "phone": f"139{rnd.randrange(10 ** 8):08d}", "roles": roles, "partner_id": partner,
               "on_duty": True, "active": True, "created_at": t0, "updated_at": t0}
        members.append(row)
        return row

    for c in communities:
        sec = member(c["id"], f"syn-sec-{c['id']}", ["secretary", "grid_leader"])
        links.append({"member_id": sec["id"], "grid_id": c["id"], "buildings": None})
    for i, g in enumerate(leaves):
        a = member(g["community_id"], f"syn-a-{g['id']}", ["member"])
        b = member(g["community_id"], f"syn-b-{g['id']}", ["part_time"], partner=a["id"])
        a["partner_id"] = b["id"]                # AB岗: each covers the other
        staff_of[g["id"]] = [a, b]
        links += [{"member_id": a["id"], "grid_id": g["id"], "buildings": None},
                  {"member_id": b["id"], "grid_id": g["id"], "buildings": None}]
        if i % 3 == 0:
            lead = member(g["community_id"], f"syn-lead-{g['id']}", ["grid_leader"])
            links += [{"member_id": lead["id"], "grid_id": x["id"], "buildings": None} for x in leaves[i:i + 3]
                      if x["community_id"] == g["community_id"]]
            staff_of[g["id"]].append(lead)
    w.put(Member, [dict(m, partner_id=None) for m in members])     # partners point forward: set them after
    with engine.begin() as conn:
        conn.execute(update(Member).where(Member.id == bindparam("mid"))
                     .values(partner_id=bindparam("pid")),
                     [{"mid": m["id"], "pid": m["partner_id"]} for m in members if m["partner_id"]])
    w.put(MemberGrid, [dict(r, id=k + 1) for k, r in enumerate(links)])

    # -- households, representatives, group memberships -------------------------------------------
    households: list[Row] = []
    identities: list[Row] = []
    bindings: list[Row] = []
    stays: list[Row] = []
    reps_of: dict[int, list[tuple[str, int]]] = {}     # grid -> [(user id, household id)] of bound, in-group people
    homes_of: dict[int, list[Row]] = {}

    def identity(user_id: str, name: str | None) -> int:
        identities.append({"id": len(identities) + 1, "platform": PLATFORM, "user_id": user_id,
                           "display_name": name, "created_at": t0})
        return len(identities)

    def stay(chat: str, iid: int, joined: datetime, left: datetime | None = None, source: str = "event") -> None:
        stays.append({"id": len(stays) + 1, "chat_id": chat, "identity_id": iid, "joined_at": joined,
                      "left_at": left, "source": source})

    for g in leaves:
        for m in staff_of[g["id"]]:
            stay(f"syn-chat-{g['id']}", identity(m["userid"], m["name"]), t0, source="sync")
    bind_share = min(1.0, spec.coverage / 0.96)     # 4% of the bound leave the group again
    for i in range(spec.households):
        g = leaves[i * len(leaves) // spec.households]
        n = i - (i * len(leaves) // spec.households) * spec.households // len(leaves)
        building, rest = divmod(n, 36)
        unit, floor_room = divmod(rest, 12)
        floor, room = divmod(floor_room, 2)
        roll = rnd.random()
        tags = ([rnd.choice(KEY_TAGS)] if roll < 0.08 else ["出租房"] if roll < 0.13 else ["商户"] if roll < 0.15
                else [])
        status = "moved_out" if rnd.random() < 0.03 else "vacant" if rnd.random() < 0.02 else "active"
        hid = len(households) + 1
        head = _name(rnd)
        households.append({"id": hid, "grid_id": g["id"], "building": str(building + 1), "unit": str(unit + 1),
                           "room": f"{floor + 1}{room + 1:02d}", "head_name": head,
                           "phone": f"138{rnd.randrange(10 ** 8):08d}", "tags": tags, "status": status,
                           "created_at": t0, "updated_at": t0, "updated_by": "synthetic"})
        homes_of.setdefault(g["id"], []).append(households[-1])
        chat = f"syn-chat-{g['id']}"
        if status != "active" or rnd.random() >= bind_share:
            continue
        for k in range(2 if rnd.random() < 0.1 else 1):
            uid = f"syn-r{hid}-{k}"
            iid = identity(uid, head if k == 0 else _name(rnd))
            joined = t0 + timedelta(days=rnd.randint(0, 30))
            bindings.append({"household_id": hid, "identity_id": iid, "status": "active", "requested_at": joined,
                             "requested_by": f"resident:{uid}", "decided_at": joined + timedelta(hours=5),
                             "decided_by": f"member:{staff_of[g['id']][0]['userid']}", "ended_at": None,
                             "end_reason": None})
            if rnd.random() < 0.04:
                stay(chat, iid, joined, end - timedelta(days=rnd.randint(1, max(1, spec.days))))
            else:
                stay(chat, iid, joined)
                reps_of.setdefault(g["id"], []).append((uid, hid))
    for _ in range(max(1, spec.households // 100)):       # pending registrations, some overdue
        h = households[rnd.randrange(len(households))]
        uid = f"syn-p{len(identities) + 1}"
        iid = identity(uid, _name(rnd))
        bindings.append({"household_id": h["id"], "identity_id": iid, "status": "pending",
                         "requested_at": end - timedelta(days=rnd.choice((1, 2, 5))), "requested_by": f"resident:{uid}",
                         "decided_at": None, "decided_by": None, "ended_at": None, "end_reason": None})
        stay(f"syn-chat-{h['grid_id']}", iid, end - timedelta(days=6))
    for _ in range(spec.households // 20):                  # neighbours, relatives, shops: bound to nothing
        g = rnd.choice(leaves)
        stay(f"syn-chat-{g['id']}", identity(f"syn-g{len(identities) + 1}", _name(rnd)), t0)
    w.put(Household, households)
    w.put(ChatIdentity, identities)
    w.put(HouseholdBinding, [dict(r, id=k + 1) for k, r in enumerate(bindings)])
    w.put(ChatMembership, stays)

    # -- tickets with their histories -----------------------------------------------------------------
    policy = Policy.load(None, zone)
    cats, weights = zip(*CATEGORY_WEIGHTS.items(), strict=True)
    tickets: list[Row] = []
    events: list[Row] = []
    reporters: list[Row] = []
    seqs: dict[str, int] = {}
    code_of = {c["id"]: c["code"] for c in communities}
    for g in leaves:
        rate = rnd.uniform(0.5, 2.0)                        # this grid's tickets per day
        staff = staff_of[g["id"]]
        reps: list[tuple[str, int | None]] = [*reps_of.get(g["id"], [])] or [(f"syn-x{g['id']}", None)]
        for day in range(spec.days):
            for _ in range(_poisson(rnd, rate)):
                created = start + timedelta(days=day, seconds=rnd.randint(7 * 3600, 22 * 3600) - 8 * 3600)
                if created >= end or created < start:
                    continue
                tickets.append(_ticket(rnd, policy, zone, g, staff, reps, created, end, cats, weights, code_of,
                                       seqs, len(tickets) + 1, events, reporters))
    w.put(Ticket, tickets)
    w.put(TicketReporter, reporters)
    w.put(TicketEvent, events)
    w.put(TicketSequence, [{"prefix": p, "last": n} for p, n in seqs.items()])

    # -- work: patrols, visits, logs; coverage snapshots ---------------------------------------------------
    patrols: list[Row] = []
    visits: list[Row] = []
    logs: list[Row] = []
    snaps: list[Row] = []
    for g in leaves:
        homes = [h for h in homes_of.get(g["id"], []) if h["status"] == "active"]
        for m in staff_of[g["id"]][:2]:
            every = rnd.choice((5, 7, 10)) if "member" in m["roles"] else rnd.choice((14, 21, 28))
            d = start + timedelta(hours=rnd.randint(1, 8))
            while d < end:
                patrols.append({"id": len(patrols) + 1, "member_id": m["id"], "grid_id": g["id"], "started_at": d,
                                "ended_at": d + timedelta(minutes=rnd.randint(40, 150)), "place": "小区主干道",
                                "latitude": None, "longitude": None, "note": None, "end_note": "无异常"})
                d += timedelta(days=every, hours=rnd.randint(-3, 3))
        # everyone at least yearly (split between the pair), key households quarterly
        if homes:
            per_day = len(homes) / 365 + sum(1 for h in homes if set(h["tags"]) & set(KEY_TAGS)) * 4 / 365
            for day in range(spec.days):
                for _ in range(_poisson(rnd, per_day)):
                    h = rnd.choice(homes)
                    m = staff_of[g["id"]][rnd.randrange(2)]
                    visits.append({"id": len(visits) + 1, "member_id": m["id"], "household_id": h["id"],
                                   "grid_id": g["id"], "at": start + timedelta(days=day, hours=rnd.randint(1, 9)),
                                   "note": "入户走访", "tags": list(h["tags"]), "follow_up": None,
                                   "invited_to_group": rnd.random() < 0.1, "ticket_id": None})
        for m in staff_of[g["id"]][:2]:
            for day in range(spec.days):
                at = start + timedelta(days=day, hours=10)
                if at.astimezone(zone).weekday() < 5 and rnd.random() < (0.8 if "member" in m["roles"] else 0.4):
                    logs.append({"id": len(logs) + 1, "member_id": m["id"], "day": at.astimezone(zone).date(),
                                 "at": at, "text": rnd.choice(("巡查网格，无异常", "入户走访3户", "处理工单",
                                                               "协助调解邻里纠纷")),
                                 "reviewed_by": None, "reviewed_at": None, "review_comment": None})
        total = len(homes)
        covered_now = sum(1 for uid, hid in reps_of.get(g["id"], []) if uid.endswith("-0"))
        span = min(spec.days, 60)
        for k in range(span):
            day = (end - timedelta(days=span - k)).astimezone(zone).date()
            covered = max(0, covered_now - (span - k) // 6)
            snaps.append({"id": len(snaps) + 1, "grid_id": g["id"], "day": day, "households": total,
                          "covered": covered, "ratio": round(covered / total, 4) if total else None,
                          "unbound_members": 0, "pending_overdue": 0, "gained": 1 if k % 6 == 0 else 0, "lost": 0,
                          "covered_ids": [], "movers": {}, "taken_at": end - timedelta(days=span - k - 1)})
    w.put(Patrol, patrols)
    w.put(Visit, visits)
    w.put(WorkLog, logs)
    w.put(CoverageSnapshot, snaps)
    w.finish()
    return {"communities": len(communities), "grids": len(leaves), "members": len(members),
            "households": len(households), "identities": len(identities), "bindings": len(bindings),
            "memberships": len(stays), "tickets": len(tickets), "ticket_events": len(events),
            "patrols": len(patrols), "visits": len(visits), "work_logs": len(logs),
            "coverage_snapshots": len(snaps)}


def _poisson(rnd: random.Random, lam: float) -> int:
    """Knuth's method; lam is small (≤ a few)."""
    limit, k, p = pow(2.718281828459045, -lam), 0, rnd.random()
    while p > limit:
        k += 1
        p *= rnd.random()
    return k


def _ticket(rnd: random.Random, policy: Any, zone: ZoneInfo, g: dict, staff: list[dict],
            reps: list[tuple[str, int | None]], created: datetime, end: datetime, cats: tuple, weights: tuple,
            code_of: dict, seqs: dict, tid: int, events: list, reporters: list) -> dict:
    """One ticket and its history up to `end`: the path a real one takes, with the system's time limits."""
    category = rnd.choices(cats, weights)[0]
    urgency = "urgent" if rnd.random() < URGENT_SHARE.get(category, 0.01) else "normal"
    limits = policy.limits(category, urgency)
    prefix = f"{code_of[g['community_id']]}-{created.astimezone(zone):%Y%m%d}"
    seqs[prefix] = seqs.get(prefix, 0) + 1
    worker = staff[0] if rnd.random() < 0.7 else staff[1]
    uid, hid = rnd.choice(reps)
    summary = rnd.choice(SUMMARIES[category])
    tk = {"id": tid, "number": f"{prefix}-{seqs[prefix]:04d}", "community_id": g["community_id"], "grid_id": g["id"],
          "category": category, "urgency": urgency, "status": "reported", "building": str(rnd.randint(1, 9)),
          "unit": str(rnd.randint(1, 3)), "room": None, "summary": summary, "description": summary,
          "contact_phone": None, "reporter_platform": PLATFORM, "reporter_id": uid, "reporter_name": None,
          "chat_id": f"syn-chat-{g['id']}", "household_id": hid, "assignee_id": worker["id"], "reporters": 1,
          "merged_into_id": None, "escalation_level": 0, "escalated_for": None, "handover_due": None,
          "rating_due": None,
          "response_due": created + limits.response, "resolution_due": None, "verify_due": None,
          "rating": None, "reopen_count": 0, "created_at": created, "updated_at": created, "accepted_at": None,
          "dispatched_at": None, "resolved_at": None, "closed_at": None}
    reporters.append({"id": len(reporters) + 1, "ticket_id": tid, "platform": PLATFORM, "user_id": uid, "name": None,
                      "chat_id": tk["chat_id"], "text": summary, "joined_at": created, "rating": None})
    who = f"member:{worker['userid']}"
    evs: list[tuple] = [(created, f"resident:{uid}", "report", None, "reported", {})]

    def ev(at: datetime, actor: str, action: str, frm: str, to: str, **detail: Any) -> bool:
        if at >= end:
            return False
        evs.append((at, actor, action, frm, to, detail))
        tk["status"], tk["updated_at"] = to, at
        return True

    if rnd.random() < 0.04:
        action, to = rnd.choice((("reject", "rejected"), ("duplicate", "duplicate")))
        ev(created + timedelta(minutes=rnd.randint(5, 40)), who, action, "reported", to)
    else:
        late = rnd.random() < 0.08                        # some miss the response limit
        t = created + limits.response * (rnd.uniform(1.1, 3) if late else rnd.uniform(0.1, 0.9))
        if ev(t, who, "accept", "reported", "accepted"):
            tk["accepted_at"] = t
            t += timedelta(minutes=rnd.randint(1, 10))
            if ev(t, who, "dispatch", "accepted", "dispatched"):
                tk["dispatched_at"], tk["resolution_due"] = t, t + limits.resolution
                ev(t + timedelta(minutes=rnd.randint(10, 90)), who, "start", "dispatched", "in_progress")
                rounds = 2 if rnd.random() < 0.05 else 1
                t_res = t + limits.resolution * (rnd.uniform(1.05, 2.5) if rnd.random() < 0.1 else
                                                 rnd.uniform(0.1, 0.95))
                for r in range(rounds):
                    if tk["status"] != "in_progress" or not ev(t_res, who, "resolve", "in_progress", "resolved"):
                        break
                    tk["resolved_at"] = t_res
                    tk["verify_due"] = t_res + limits.verify
                    rating = "dissatisfied" if r < rounds - 1 else rnd.choice(RATINGS)
                    t_rate = t_res + timedelta(hours=rnd.uniform(0.5, 30))
                    if rating == "dissatisfied":
                        if ev(t_rate, f"resident:{uid}", "rate", "resolved", "resolved", rating=rating):
                            tk["rating"] = rating
                            if ev(t_rate, "system", "reopen", "resolved", "in_progress"):
                                tk["reopen_count"] += 1
                                t_res = t_rate + limits.resolution * rnd.uniform(0.2, 0.9)
                        continue
                    t_ver = t_res + limits.verify * rnd.uniform(0.2, 0.95)
                    if ev(t_ver, who, "verify", "resolved", "verified") and \
                            ev(t_ver + timedelta(minutes=5), who, "close", "verified", "closed"):
                        tk["closed_at"] = t_ver + timedelta(minutes=5)
                        t_rate = max(t_rate, t_ver + timedelta(minutes=10))
                        if rating == "none":
                            ev(t_rate + timedelta(days=3), "system", "rating_expired", "closed", "closed")
                        elif ev(t_rate, f"resident:{uid}", "rate", "closed", "rated", rating=rating):
                            tk["rating"] = rating
                            reporters[-1]["rating"] = rating
    for at, actor, action, frm, to, detail in evs:
        events.append({"id": len(events) + 1, "ticket_id": tid, "at": at, "actor": actor, "action": action,
                       "from_status": frm, "to_status": to, "member_id": worker["id"], "note": None,
                       "detail": detail})
    return tk


class _Writer:
    """Bulk rows into tables: COPY on PostgreSQL (a tenth of executemany's time), Core executemany elsewhere."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.tables: list[str] = []

    def put(self, model: Any, rows: list[dict]) -> None:
        if not rows:
            return
        table = model.__table__
        if "id" in table.columns:
            self.tables.append(table.name)
        cols = [c.name for c in table.columns if c.name in rows[0]]
        if self.engine.dialect.name != "postgresql":
            with self.engine.begin() as conn:
                for i in range(0, len(rows), 5000):
                    conn.execute(insert(table), rows[i:i + 5000])
            return
        json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        with self.engine.begin() as conn:
            raw = conn.connection.driver_connection
            if raw is None:  # pragma: no cover - an open connection has its driver's
                raise RuntimeError("no DBAPI connection to COPY into")
            with raw.cursor().copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([json.dumps(row[c], ensure_ascii=False) if c in json_cols else row[c]
                                    for c in cols])

    def finish(self) -> None:
        """Move id sequences past the copied ids (PostgreSQL) and refresh planner statistics."""
        if self.engine.dialect.name != "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in dict.fromkeys(self.tables):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"coalesce((SELECT max(id) FROM {name}), 1))"))
            conn.execute(text("ANALYZE"))


def iter_counts(counts: dict[str, int]) -> Iterable[str]:
    for k, v in counts.items():
        yield f"{k:<20} {v:>10,}"
