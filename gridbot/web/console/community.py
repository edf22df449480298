"""Households and coverage (uncovered lists, pending registrations, tags), members (duties, A/B pairs, compliance),
reminders and announcements. Every list is narrowed to the person's grids; changes call the chat's services."""
from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session, selectinload

from ... import periods
from ...models import (
    HOUSEHOLD_TAGS,
    Announcement,
    Grid,
    Household,
    HouseholdBinding,
    Member,
    MemberGrid,
    Reminder,
    Ticket,
)
from ...models.work import Leave, Patrol, Visit, WorkLog
from ...schedule.parse import ScheduleError, parse
from ...services import announcements as ann_svc
from ...services import bindings as bindings_svc
from ...services import coverage as coverage_svc
from ...services import group_chat
from ...services import reminders as reminders_svc
from ...services.audit import record
from ...services.scope import Scope
from ...texts import t
from .. import gridbot_app
from ..auth import Principal, forbid, requires, signed_in
from .base import bp, caseworker, not_found, page_args, paginate, phone_for, render, scope_grids

HOUSEHOLD_STATUSES = ("active", "moved_out", "vacant")


def _grid_in_scope(session: Session, p: Principal, code: str) -> Grid | None:
    """The grid named by a filter; a grid outside one's scope is refused (403, audited)."""
    if not code:
        return None
    grid = session.scalar(select(Grid).where(Grid.code == code))
    if grid is None:
        return None
    if not Scope.casework(p).has_grid(grid.id):
        forbid("grid outside scope", "grid", code)
    return grid


def household_query(session: Session, p: Principal, args: Any) -> tuple[Any, dict[str, str]]:
    filters = {k: (args.get(k) or "").strip() for k in ("grid", "building", "tag", "status", "covered")}
    query = (select(Household, Grid.code, Grid.name).join(Grid, Grid.id == Household.grid_id)
             .where(Scope.casework(p).in_grids(Household.grid_id)))
    grid = _grid_in_scope(session, p, filters["grid"])
    if grid is not None:
        query = query.where(Household.grid_id == grid.id)
    else:
        filters["grid"] = ""
    if filters["building"]:
        query = query.where(Household.building == filters["building"])
    if filters["tag"] in HOUSEHOLD_TAGS:
        # tags are a JSON list: match the quoted tag in its text (portable across SQLite and PostgreSQL)
        # (stored by json.dumps, so as \\uXXXX escapes; "!" as the LIKE escape keeps the backslashes literal)
        text = cast(Household.tags, String)
        escaped = filters["tag"].encode("unicode_escape").decode()
        query = query.where(text.like(f'%"{filters["tag"]}"%', escape="!") | text.like(f"%{escaped}%", escape="!"))
    else:
        filters["tag"] = ""
    if filters["status"] in HOUSEHOLD_STATUSES:
        query = query.where(Household.status == filters["status"])
    else:
        filters["status"] = ""
    covered = coverage_svc._covered_households(set(p.scope_grid_ids))  # the coverage rule, once
    if filters["covered"] == "yes":
        query = query.where(Household.id.in_(covered))
    elif filters["covered"] == "no":
        query = query.where(Household.id.not_in(covered), Household.status == "active")
    else:
        filters["covered"] = ""
    return query.order_by(Grid.code, Household.building, Household.unit, Household.room), filters


@bp.get("/households")
@requires("casework")
def households() -> str:
    p = signed_in()
    app = gridbot_app()
    page, per_page = page_args()
    with app.session() as s:
        query, filters = household_query(s, p, request.args)
        result = paginate(s, query, page, per_page)
        rows = [{"h": h, "grid": gname, "code": gcode, "phone": phone_for(p, h.grid_id, h.phone)}
                for h, gcode, gname in result.items]
        grids = scope_grids(s, p)
    return render("households.html", page=result, rows=rows, filters=filters, grids=grids, tags=HOUSEHOLD_TAGS,
                  statuses=HOUSEHOLD_STATUSES, export_args=request.args.to_dict())


@bp.get("/coverage")
@requires("casework")
def coverage() -> str:
    p = signed_in()
    app = gridbot_app()
    now = app.clock.now()
    with app.session() as s:
        grid = _grid_in_scope(s, p, (request.args.get("grid") or "").strip())
        ids = {grid.id} if grid else set(p.scope_grid_ids)
        report = coverage_svc.compute(s, now, ids, with_lists=grid is not None)
        pending = bindings_svc.pending(s, ids, now)
        invited = coverage_svc.invitations(s, ids) if grid is not None else {}
        grids = scope_grids(s, p)
        declined = group_chat.declined_archiving(s, ids)
    rows = sorted(report.grids, key=lambda g: g.code)
    uncovered = sorted(rows[0].uncovered, key=coverage_svc.visit_order) if grid is not None and rows else []
    return render("coverage.html", rows=rows, total=report.total(), grid=grid, uncovered=uncovered,
                  pending=pending, invited=invited, grids=grids, detail=rows[0] if grid is not None and rows else None,
                  declined=declined)


@bp.post("/bindings/<int:binding_id>/decide")
@requires("casework")
def binding_decide(binding_id: int) -> ResponseReturnValue:
    """确认 / 驳回 a pending registration, as the chat's 确认/驳回 commands do (same service, same scope check)."""
    p = signed_in()
    app = gridbot_app()
    approve = request.form.get("decision") == "approve"
    with app.session() as s:
        binding = s.get(HouseholdBinding, binding_id)
        if binding is None:
            not_found()
        if not p.in_scope(binding.household.grid_id):
            forbid("binding outside scope", "household_binding", binding_id)
    with app.session() as s:
        try:
            with s.begin():
                bindings_svc.decide(s, binding_id, approve=approve, actor=p.actor, scope_grid_ids=p.scope_grid_ids,
                                    now=app.clock.now(), reason=request.form.get("reason") or None)
            flash(t("console.flash.binding_decided"))
        except bindings_svc.BindingError as err:
            flash(err.text, "error")
    return redirect(request.referrer or url_for("console.coverage"))


# -- members -------------------------------------------------------------------------------------------------
def member_figures(session: Session, member_ids: list[int], period: Any, tz: Any) -> dict[int, dict[str, int]]:
    """履职 figures for many members over a period, in five grouped queries (compliance.compliance computes the
    full report per member — quarter and year visits, grid-months — which takes minutes for a large community;
    `gridbot report evaluation` keeps that one)."""
    if not member_ids:
        return {}
    start = datetime.combine(period.start, time(0), tzinfo=tz)
    end = datetime.combine(period.end, time(0), tzinfo=tz)
    out: dict[int, dict[str, int]] = {i: {"patrols": 0, "patrol_grids": 0, "visits": 0, "households_visited": 0,
                                          "log_days": 0, "tickets_handled": 0, "tickets_on_time": 0,
                                          "days": (period.end - period.start).days} for i in member_ids}
    for mid, n, grids in session.execute(
            select(Patrol.member_id, func.count(), func.count(Patrol.grid_id.distinct()))
            .where(Patrol.member_id.in_(member_ids), Patrol.started_at >= start, Patrol.started_at < end)
            .group_by(Patrol.member_id)):
        out[mid].update(patrols=n, patrol_grids=grids)
    for mid, n, homes in session.execute(
            select(Visit.member_id, func.count(), func.count(Visit.household_id.distinct()))
            .where(Visit.member_id.in_(member_ids), Visit.at >= start, Visit.at < end).group_by(Visit.member_id)):
        out[mid].update(visits=n, households_visited=homes)
    for mid, days in session.execute(
            select(WorkLog.member_id, func.count(WorkLog.day.distinct()))
            .where(WorkLog.member_id.in_(member_ids), WorkLog.day >= period.start, WorkLog.day < period.end)
            .group_by(WorkLog.member_id)):
        out[mid]["log_days"] = days
    on_time = func.sum(case((Ticket.resolved_at <= Ticket.resolution_due, 1), else_=0))
    for mid, n, ok in session.execute(
            select(Ticket.assignee_id, func.count(), on_time)
            .where(Ticket.assignee_id.in_(member_ids), Ticket.resolved_at.is_not(None), Ticket.resolved_at >= start,
                   Ticket.resolved_at < end).group_by(Ticket.assignee_id)):
        out[mid].update(tickets_handled=n, tickets_on_time=int(ok or 0))
    return out


@bp.get("/members")
@requires("casework")
def members() -> str:
    p = signed_in()
    app = gridbot_app()
    now = app.clock.now()
    tz = app.settings.tz
    today = periods.local_day(now, tz)
    period_text = (request.args.get("period") or "本月").strip()
    try:
        period = periods.parse_period(period_text, today)
    except periods.PeriodError:
        period = periods.parse_period("本月", today)
    with app.session() as s:
        linked = select(MemberGrid.member_id).where(Scope.casework(p).in_grids(MemberGrid.grid_id))
        in_scope = list(s.scalars(
            select(Member).where(Member.id.in_(linked), Member.active.is_(True))
            .options(selectinload(Member.grid_links).selectinload(MemberGrid.grid), selectinload(Member.partner))
            .order_by(Member.name)))
        leaves = {lv.member_id: lv for lv in s.scalars(select(Leave).where(
            Leave.member_id.in_([m.id for m in in_scope]), Leave.cancelled_at.is_(None),
            Leave.starts_at <= now, Leave.ends_at > now))}   # one query, not work.duty_roster per grid
        names = {m.id: m.name for m in in_scope}
        covering: dict[int, list[str]] = {}
        for lv in leaves.values():
            if lv.partner_id:
                covering.setdefault(lv.partner_id, []).append(names.get(lv.member_id, ""))
        figures = member_figures(s, [m.id for m in in_scope], period, tz)
        rows = [{"m": m, "grids": [link.grid.name for link in m.grid_links],
                 "partner": m.partner.name if m.partner else "",
                 "phone": m.phone if p.is_leader or m.id == p.member_id else "",
                 "leave": leaves.get(m.id), "covering": covering.get(m.id, []),
                 "f": figures.get(m.id)} for m in in_scope]
    return render("members.html", rows=rows, period=period)


# -- reminders and announcements ------------------------------------------------------------------------------------
@bp.route("/reminders", methods=["GET", "POST"])
@requires("casework")
def reminders() -> ResponseReturnValue:
    p = signed_in()
    me = caseworker(p)
    app = gridbot_app()
    now = app.clock.now()
    if request.method == "POST":
        when = request.form.get("when", "").strip()
        text = request.form.get("text", "").strip()[:500]
        target = request.form.get("target", "me")
        with app.session() as s, s.begin():
            try:
                if not text:
                    raise reminders_svc.ReminderError("need_text")
                schedule = parse(when, now, app.settings.timezone)
                kw: dict[str, Any] = {"target_type": "member", "target_member_id": p.member_id}
                if target == "community":
                    if not p.is_leader:
                        forbid("community reminder needs a leader", "reminder", None)
                    kw = {"target_type": "community"}
                elif target.startswith("grid:"):
                    grid = _grid_in_scope(s, p, target[5:])
                    if grid is None:
                        not_found()
                    kw = {"target_type": "grids", "grid_ids": [grid.id]}
                reminders_svc.create_reminder(s, community_id=me.community_id, owner_member_id=p.member_id,
                                              created_by=p.actor, schedule=schedule, text=text, now=now, **kw)
                flash(t("console.flash.reminder_created"))
            except ScheduleError as err:
                flash(t("schedule.reminder.bad_time", detail=err.text), "error")
            except reminders_svc.ReminderError as err:
                flash(err.text, "error")
        return redirect(url_for("console.reminders"))
    with app.session() as s:
        rows = reminders_svc.visible_reminders(s, me.member_id, set(p.scope_grid_ids))
        if p.is_leader:   # leaders also see every reminder to a grid in their area
            more = s.scalars(select(Reminder).where(Reminder.active.is_(True), Reminder.kind == "user",
                                                    Reminder.target_type == "grids",
                                                    Reminder.community_id == me.community_id))
            seen = {r.id for r in rows}
            rows += [r for r in more if r.id not in seen and {int(g) for g in r.grid_ids} <= set(p.scope_grid_ids)]
        listed = [{"r": r, "target": reminders_svc.describe_target(s, r, p.member_id)} for r in rows]
        anns = list(s.scalars(select(Announcement).where(Announcement.community_id == me.community_id)
                              .order_by(Announcement.id.desc()).limit(50)))
        anns = [a for a in anns if a.scope == "community" and p.is_secretary
                or {int(g) for g in a.grid_ids} & set(p.scope_grid_ids) or a.author_member_id == p.member_id]
        ann_rows = [{"a": a, "grids": "、".join(ann_svc.grid_names(s, [int(g) for g in a.grid_ids]))
                     if a.scope != "community" else "全社区"} for a in anns]
        grids = scope_grids(s, p)
    return render("reminders.html", reminders=listed, announcements=ann_rows, grids=grids)


@bp.post("/reminders/<int:reminder_id>/cancel")
@requires("casework")
def reminder_cancel(reminder_id: int) -> ResponseReturnValue:
    p = signed_in()
    app = gridbot_app()
    with app.session() as s:
        reminder = s.get(Reminder, reminder_id)
        if reminder is None or reminder.community_id != p.community_id:
            not_found()
        # who may cancel (the owner; a leader over its grids): checked before anything else, as for a ticket
        grids = {int(g) for g in reminder.grid_ids}
        over = p.is_leader and ((reminder.target_type == "grids" and grids <= set(p.scope_grid_ids))
                                or (reminder.target_type == "community" and p.is_secretary))
        if reminder.owner_member_id != p.member_id and not over:
            forbid("reminder of someone else", "reminder", reminder_id)
    with app.session() as s:
        try:
            with s.begin():
                reminders_svc.cancel_reminder(s, reminder_id, actor=p.actor, member_id=p.member_id, roles=p.roles,
                                              scope_grid_ids=p.scope_grid_ids, now=app.clock.now())
            flash(t("console.flash.reminder_cancelled"))
        except reminders_svc.ReminderError as err:
            flash(err.text, "error")
    return redirect(url_for("console.reminders"))


@bp.post("/announcements")
@requires("casework")
def announcement_create() -> ResponseReturnValue:
    p = signed_in()
    me = caseworker(p)
    app = gridbot_app()
    now = app.clock.now()
    text = request.form.get("text", "").strip()[:1000]
    codes = request.form.getlist("grids")
    mention_all = bool(request.form.get("mention_all"))
    send_at = None
    if request.form.get("send_at"):
        try:
            send_at = datetime.fromisoformat(request.form["send_at"]).replace(tzinfo=app.settings.tz)
        except ValueError:
            flash(t("console.errors.bad_request"), "error")
            return redirect(url_for("console.reminders"))
    if not text:
        flash(t("schedule.announcement.need_text"), "error")
        return redirect(url_for("console.reminders"))
    with app.session() as s, s.begin():
        if "community" in codes:
            if not p.is_secretary:
                forbid("community announcement needs the secretary", "announcement", None)
            scope, grid_ids = "community", []
        else:
            grids = [_grid_in_scope(s, p, c) for c in codes]
            grid_ids = [g.id for g in grids if g is not None]
            if not grid_ids:
                flash(t("schedule.announcement.need_grid"), "error")
                return redirect(url_for("console.reminders"))
            scope = "grid" if len(grid_ids) == 1 else "grids"
        _, rows = ann_svc.create(s, community_id=me.community_id, author_member_id=me.member_id,
                                 author_userid=me.userid, author_name=p.name, actor=p.actor, scope=scope,
                                 grid_ids=grid_ids, text=text, mention_all=mention_all, send_at=send_at, now=now)
    flash(t("console.flash.announcement_created"))
    return redirect(url_for("console.reminders"))


@bp.post("/announcements/<int:ann_id>/cancel")
@requires("casework")
def announcement_cancel(ann_id: int) -> ResponseReturnValue:
    """A scheduled announcement not yet sent is cancelled by its author, or a leader over all its grids."""
    p = signed_in()
    app = gridbot_app()
    with app.session() as s, s.begin():
        ann = s.get(Announcement, ann_id)
        if ann is None or ann.community_id != p.community_id:
            not_found()
        mine = ann.author_member_id == p.member_id
        over = (p.is_secretary if ann.scope == "community"
                else p.is_leader and {int(g) for g in ann.grid_ids} <= set(p.scope_grid_ids))
        if not (mine or over):
            forbid("announcement of someone else", "announcement", ann_id)
        if ann.status == "scheduled":
            ann.status = "cancelled"
            record(s, p.actor, "announcement.cancel", "announcement", ann.id, {"text": ann.text[:200]},
                   at=app.clock.now())
            flash(t("console.flash.announcement_cancelled"))
    return redirect(url_for("console.reminders"))
