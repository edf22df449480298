"""Compliance figures (履职统计) per member and grid over a period: the raw material for 考核 and the digest.

The rules counted are the seed's rhythms (DOMAIN.md "Rhythms"): each grid patrolled at least once a month, key
households (独居老人, 残疾, 困难, 留守儿童, 流动人口) visited at least once a quarter, every household at least once a
year, a daily work log, and tickets resolved within their limit. Quarter and year figures run from the start of
the quarter / year that holds the period's last day up to the period's end, so a month's report shows how far
the quarter has come. Periods are local calendar days (the configured zone, passed in as tz); the database holds UTC.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..errors import Refusal
from ..models import Community, Grid, Household, Member, Ticket
from ..models.household import KEY_HOUSEHOLD_TAGS
from ..models.work import Patrol, Visit, WorkLog
from ..periods import Period, add_months, day_start, local_day, quarter_start
from ..texts import t
from ..workcal import WorkCalendar, calendar_for
from .work import leave_days, member_buildings, work_grids


def _is_key(household: Household) -> bool:
    return bool(set(household.tags or []) & set(KEY_HOUSEHOLD_TAGS))


def _month_key(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m")


def member_since(session: Session, member: Member, tz: ZoneInfo) -> date:
    """The local day a member was on the roster: the day their row was made, or the day of their first recorded
    duty if that is earlier (a roster imported after the work began)."""
    firsts = [member.created_at,
              session.scalar(select(func.min(Patrol.started_at)).where(Patrol.member_id == member.id)),
              session.scalar(select(func.min(Visit.at)).where(Visit.member_id == member.id))]
    days = [local_day(at, tz) for at in firsts if at is not None]
    first_log = session.scalar(select(func.min(WorkLog.day)).where(WorkLog.member_id == member.id))
    if first_log is not None:
        days.append(first_log)
    return min(days)


def compliance(session: Session, community_code: str, period: Period, tz: ZoneInfo,
               calendar: WorkCalendar | None = None) -> dict[str, Any]:
    """Figures for every grid and every active member of a community over `period`. Plain data (JSON-ready).

    A member's log days are due on the working days (config/calendar.yaml, with 调休) since they were on the
    roster, less their leave days; patrols are due in the months since then."""
    cal = calendar or calendar_for(None, tz)
    community = session.scalar(select(Community).where(Community.code == community_code))
    if community is None:
        raise Refusal("refusal.no_community", code=community_code)
    start, end = day_start(period.start, tz), day_start(period.end, tz)
    q_first = quarter_start(period.last_day)
    q_start, y_start = day_start(q_first, tz), day_start(date(period.last_day.year, 1, 1), tz)
    months = [m.strftime("%Y-%m") for m in period.months()]

    all_grid_ids = list(session.scalars(select(Grid.id).where(Grid.community_id == community.id)))
    grids = work_grids(session, all_grid_ids)
    code_of = {g.id: g.code for g in session.scalars(select(Grid).where(Grid.community_id == community.id))}
    households = list(session.scalars(select(Household).where(Household.grid_id.in_(all_grid_ids),
                                                               Household.status == "active")))
    patrols = list(session.scalars(select(Patrol).where(Patrol.grid_id.in_(all_grid_ids),
                                                        Patrol.started_at >= start, Patrol.started_at < end)))
    visits = list(session.scalars(select(Visit).where(Visit.grid_id.in_(all_grid_ids), Visit.at >= y_start,
                                                      Visit.at < end)))
    members = list(session.scalars(select(Member).where(Member.community_id == community.id,
                                                        Member.active.is_(True))
                                   .options(selectinload(Member.grid_links)).order_by(Member.id)))
    tickets = list(session.scalars(select(Ticket).where(Ticket.community_id == community.id,
                                                        Ticket.resolved_at.is_not(None),
                                                        Ticket.resolved_at >= start, Ticket.resolved_at < end)))

    def on_time(tk: Ticket) -> bool:
        return (tk.resolved_at is not None and tk.resolution_due is not None
                and tk.resolved_at <= tk.resolution_due)

    def household_figures(chosen: list[Household], visit_rows: list[Visit]) -> dict[str, int]:
        in_quarter = {v.household_id for v in visit_rows if v.at >= q_start}
        in_year = {v.household_id for v in visit_rows}
        keys = [h for h in chosen if _is_key(h)]
        return {"key_households": len(keys),
                "key_visited_quarter": sum(1 for h in keys if h.id in in_quarter),
                "households": len(chosen),
                "households_visited_year": sum(1 for h in chosen if h.id in in_year)}

    grid_rows = []
    for grid in grids:
        by_month = {m: 0 for m in months}
        for p in patrols:
            if p.grid_id == grid.id:
                by_month[_month_key(p.started_at, tz)] += 1
        grid_visits = [v for v in visits if v.grid_id == grid.id]
        grid_tickets = [tk for tk in tickets if tk.grid_id == grid.id]
        grid_rows.append({
            "grid": grid.code, "name": grid.name,
            "patrols": sum(by_month.values()), "patrols_by_month": by_month,
            "months_patrolled": sum(1 for n in by_month.values() if n), "months": len(months),
            "visits": sum(1 for v in grid_visits if v.at >= start),
            **household_figures([h for h in households if h.grid_id == grid.id], grid_visits),
            "tickets_handled": len(grid_tickets), "tickets_on_time": sum(1 for tk in grid_tickets if on_time(tk)),
        })

    member_rows = []
    for member in members:
        since = member_since(session, member, tz)
        first_day = max(period.start, since)
        away = leave_days(session, member.id, first_day, period.end, cal) if first_day < period.end else set()
        due_days = [d for d in cal.workdays(first_day, period.end) if d not in away]
        on_roster = {m.strftime("%Y-%m") for m in period.months() if add_months(m, 1) > since}
        own = [g.id for g in work_grids(session, [link.grid_id for link in member.grid_links])]
        narrowed = member_buildings(session, member.id)
        area = [h for h in households if h.grid_id in own
                and (not narrowed.get(h.grid_id) or h.building in narrowed[h.grid_id])]
        mine = [p for p in patrols if p.member_id == member.id]
        patrolled = sorted({p.grid_id for p in mine} | set(own), key=lambda gid: code_of.get(gid, ""))
        by_grid = {code_of[gid]: {m: 0 for m in months} for gid in patrolled}
        for p in mine:
            by_grid[code_of[p.grid_id]][_month_key(p.started_at, tz)] += 1
        required = [(code_of[gid], m) for gid in own for m in months if m in on_roster]
        my_visits = [v for v in visits if v.member_id == member.id]
        logs = list(session.execute(
            select(WorkLog.day, func.count(), func.count(WorkLog.reviewed_at))
            .where(WorkLog.member_id == member.id, WorkLog.day >= period.start, WorkLog.day < period.end)
            .group_by(WorkLog.day)).all())
        my_tickets = [tk for tk in tickets if tk.assignee_id == member.id]
        minutes = sum(int((p.ended_at - p.started_at).total_seconds() // 60) for p in mine if p.ended_at)
        member_rows.append({
            "userid": member.userid, "name": member.name, "roles": list(member.roles or []),
            "grids": [code_of[gid] for gid in own],
            "patrols": len(mine), "patrol_minutes": minutes, "patrols_by_grid_month": by_grid,
            "grid_months_required": len(required),
            "grid_months_patrolled": sum(1 for code, m in required if by_grid[code][m] > 0),
            "visits": sum(1 for v in my_visits if v.at >= start),
            "households_visited": len({v.household_id for v in my_visits if v.at >= start}),
            **household_figures(area, my_visits),
            "since": since.isoformat(), "on_duty": member.on_duty,
            "workdays_due": len(due_days), "leave_days": len({d for d in away if cal.is_workday(d)}),
            "missing_log_days": [d.isoformat() for d in due_days if d not in {day for day, _, _ in logs}],
            "log_days": len(logs), "log_entries": sum(n for _, n, _ in logs),
            "log_entries_reviewed": sum(r for _, _, r in logs),
            "days": (period.end - period.start).days,
            "tickets_handled": len(my_tickets), "tickets_on_time": sum(1 for tk in my_tickets if on_time(tk)),
        })

    return {
        "community": community.code, "community_name": community.name, "period": period.label,
        "from": period.start.isoformat(), "until": period.last_day.isoformat(),
        "quarter_from": q_first.isoformat(), "year_from": date(period.last_day.year, 1, 1).isoformat(),
        "months": months, "grids": grid_rows, "members": member_rows,
    }


def _ratio(done: int, total: int) -> str:
    return f"{done}/{total}"


def report_lines(data: dict[str, Any], grid_codes: set[str] | None = None,
                 userids: set[str] | None = None) -> list[str]:
    """The figures as people read them (CLI and the 履职 command); optionally only some grids and members."""
    lines = [t("work.compliance.title", community=data["community_name"], period=data["period"],
               start=data["from"], end=data["until"]), t("work.compliance.grids_header")]
    for g in data["grids"]:
        if grid_codes is not None and g["grid"] not in grid_codes:
            continue
        lines.append(t("work.compliance.grid_line", code=g["grid"], name=g["name"],
                       months=_ratio(g["months_patrolled"], g["months"]), patrols=g["patrols"], visits=g["visits"],
                       key_ratio=_ratio(g["key_visited_quarter"], g["key_households"]),
                       year=_ratio(g["households_visited_year"], g["households"]),
                       tickets=_ratio(g["tickets_on_time"], g["tickets_handled"])))
    lines.append(t("work.compliance.members_header"))
    for m in data["members"]:
        if userids is not None and m["userid"] not in userids:
            continue
        lines.append(t("work.compliance.member_line", name=m["name"], userid=m["userid"],
                       grids=",".join(m["grids"]) or "-",
                       months=_ratio(m["grid_months_patrolled"], m["grid_months_required"]), patrols=m["patrols"],
                       hours=round(m["patrol_minutes"] / 60, 1), visits=m["visits"],
                       key_ratio=_ratio(m["key_visited_quarter"], m["key_households"]),
                       year=_ratio(m["households_visited_year"], m["households"]),
                       logs=_ratio(m["log_days"], m["workdays_due"]), reviewed=m["log_entries_reviewed"],
                       tickets=_ratio(m["tickets_on_time"], m["tickets_handled"])))
    lines.append(t("work.compliance.footer", quarter=data["quarter_from"], year=data["year_from"]))
    return lines


def for_speaker(session: Session, *, community_id: int, scope_grid_ids: set[int], member_id: int,
                period: Period, tz: ZoneInfo, calendar: WorkCalendar | None = None,
                today: date | None = None) -> list[str]:
    """The 履职 report a leader may see: the grids in their scope and the members working in them.
    A period still running on `today` counts log days due up to and including today."""
    community = session.get_one(Community, community_id)    # the speaker's own community
    if today is not None and period.end > today + timedelta(days=1) > period.start:
        period = replace(period, end=today + timedelta(days=1))
    data = compliance(session, community.code, period, tz, calendar)
    codes = set(session.scalars(select(Grid.code).where(Grid.id.in_(scope_grid_ids))))
    users = set()
    for member in session.scalars(select(Member).where(Member.community_id == community_id)
                                  .options(selectinload(Member.grid_links))):
        if member.id == member_id or any(link.grid_id in scope_grid_ids for link in member.grid_links):
            users.add(member.userid)
    return report_lines(data, codes, users)
