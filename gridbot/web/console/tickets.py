"""Tickets: the list (filters on indexed columns, server-side pagination), the detail with its timeline, and the
life-cycle actions, which call the same services.tickets functions as the chat commands (受理, 派遣, 办结 ...)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask import flash, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...models import Grid, Member, MemberGrid, Ticket
from ...models.tickets import ACTIVE_STATUSES, OPEN_STATUSES, STATUSES
from ...services import tickets as svc
from ...texts import t
from .. import gridbot_app
from ..auth import Principal, current_principal, forbid, requires
from . import bp, not_found, page_args, paginate, phone_for, render, scope_grids
from .dashboard import overdue_clause

CATEGORIES = ("repair", "sanitation", "fire_hazard", "security", "dispute", "noise", "construction", "parking",
              "assistance", "health", "consultation", "other")
URGENCIES = ("urgent", "normal")
PSEUDO_STATUSES = ("open", "overdue")

# action -> (statuses it applies to, what the form needs: "note" | "to" | "to_note" | "").
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": (("reported",), ""),
    "reject": (("reported", "accepted"), "note"),
    "dispatch": (("reported", "accepted"), "to"),
    "start": (("reported", "accepted", "dispatched"), ""),
    "resolve": (("dispatched", "in_progress"), "note"),
    "verify": (("resolved",), "note_optional"),
    "verify_failed": (("resolved",), "note"),
    "close": (("verified",), ""),
    "reopen": (("resolved", "verified", "closed", "rated"), "note"),
    "transfer": (OPEN_STATUSES, "to_note"),
    "escalate": (ACTIVE_STATUSES, "note_optional"),
}


def allowed_actions(p: Principal, ticket: Ticket) -> list[str]:
    """The actions this person may take on this ticket now (the buttons on its page)."""
    if not p.in_scope(ticket.grid_id):
        return []
    out = [a for a, (statuses, _) in ACTIONS.items() if ticket.status in statuses]
    if ticket.escalation_level >= 3 and "escalate" in out:
        out.remove("escalate")
    return out


def run_action(session: Session, p: Principal, number: str, action: str, note: str, to: str,
               now: datetime) -> Ticket:
    """One life-cycle step through services.tickets; raises TicketError (Chinese text) when refused."""
    app = gridbot_app()
    policy = svc.policy_for(app)
    sp = p.speaker()
    calls: dict[str, Callable[[], Any]] = {
        "accept": lambda: svc.accept(session, policy, sp, number, now),
        "reject": lambda: svc.reject(session, sp, number, note, now),
        "dispatch": lambda: svc.dispatch(session, policy, sp, number, to, now),
        "start": lambda: svc.start(session, policy, sp, number, now),
        "resolve": lambda: svc.resolve(session, policy, sp, number, note, now),
        "verify": lambda: svc.verify(session, policy, sp, number, note, now),
        "verify_failed": lambda: svc.verify(session, policy, sp, number, "不通过 " + note, now),
        "close": lambda: svc.close(session, sp, number, now),
        "reopen": lambda: svc.reopen(session, policy, sp, number, note, now),
        "transfer": lambda: svc.transfer(session, policy, sp, number, to, note, now),
        "escalate": lambda: svc.escalate(session, policy, sp, number, note, now),
    }
    result = calls[action]()
    return result[0] if isinstance(result, tuple) else result


def _local_day(text: str | None, tz: ZoneInfo, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    day = min(max(day, date(2000, 1, 1)), date(2100, 12, 31))  # the calendar's edges overflow in UTC
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start + timedelta(days=1) if end else start


def ticket_query(session: Session, p: Principal, args: Any, now: datetime) -> tuple[Any, dict[str, Any]]:
    """The filtered, scoped query (Ticket, grid code, grid name, assignee name) and the filters as applied.

    A grid outside one's scope is refused (403, audited), not silently emptied."""
    tz = gridbot_app().settings.tz
    filters: dict[str, Any] = {k: (args.get(k) or "").strip() for k in
                               ("grid", "category", "status", "urgency", "assignee", "from", "to", "q")}
    query = (select(Ticket, Grid.code, Grid.name, Member.name).join(Grid, Grid.id == Ticket.grid_id)
             .outerjoin(Member, Member.id == Ticket.assignee_id)
             .where(Ticket.grid_id.in_(list(p.scope_grid_ids))))
    if filters["grid"]:
        grid = session.scalar(select(Grid).where(Grid.code == filters["grid"]))
        if grid is None:
            filters["grid"] = ""
        elif grid.id not in p.scope_grid_ids:
            forbid("grid filter outside scope", "grid", grid.code)
        else:
            from ...services.people import subtree_ids

            query = query.where(Ticket.grid_id.in_(list(subtree_ids(session, {grid.id}) & p.scope_grid_ids)))
    if filters["category"] in CATEGORIES:
        query = query.where(Ticket.category == filters["category"])
    else:
        filters["category"] = ""
    status = filters["status"]
    if status == "open":
        query = query.where(Ticket.status.in_(OPEN_STATUSES))
    elif status == "overdue":
        query = query.where(overdue_clause(now))
    elif status in STATUSES:
        query = query.where(Ticket.status == status)
    else:
        filters["status"] = ""
    if filters["urgency"] in URGENCIES:
        query = query.where(Ticket.urgency == filters["urgency"])
    else:
        filters["urgency"] = ""
    if filters["assignee"]:
        query = query.where(Member.userid == filters["assignee"])
    since, until = _local_day(filters["from"], tz), _local_day(filters["to"], tz, end=True)
    if since:
        query = query.where(Ticket.created_at >= since)
    if until:
        query = query.where(Ticket.created_at < until)
    if filters["q"]:
        query = query.where(Ticket.number.like(f"%{filters['q'].upper()}%"))
    return query.order_by(Ticket.created_at.desc(), Ticket.id.desc()), filters


def scope_members(session: Session, p: Principal) -> list[Member]:
    # IN (subquery), not JOIN + DISTINCT: PostgreSQL cannot compare the JSON roles column for DISTINCT
    in_scope = select(MemberGrid.member_id).where(MemberGrid.grid_id.in_(list(p.scope_grid_ids)))
    return list(session.scalars(select(Member).where(Member.id.in_(in_scope), Member.active.is_(True))
                                .order_by(Member.name)))


@bp.get("/tickets")
@requires("casework")
def tickets():  # noqa: ANN201
    p = current_principal()
    app = gridbot_app()
    page, per_page = page_args()
    with app.session() as s:
        query, filters = ticket_query(s, p, request.args, app.clock.now())
        result = paginate(s, query, page, per_page)
        grids = scope_grids(s, p)
        members = scope_members(s, p)
    return render("tickets.html", page=result, filters=filters, grids=grids, members=members,
                  categories=CATEGORIES, statuses=STATUSES, urgencies=URGENCIES, now=app.clock.now(),
                  export_args=request.args.to_dict())


def load_ticket(session: Session, p: Principal, number: str) -> Ticket:
    """The ticket by full number, in the person's scope; 404 if unknown, 403 (audited) if outside scope."""
    ticket = session.scalar(select(Ticket).where(Ticket.number == number.upper())
                            .options(selectinload(Ticket.events), selectinload(Ticket.reporter_links),
                                     selectinload(Ticket.assignee), selectinload(Ticket.grid)))
    if ticket is None:
        not_found()
    if not p.in_scope(ticket.grid_id):
        forbid("ticket outside scope", "ticket", ticket.number)
    return ticket


def who(session: Session, actor: str, names: dict[str, str]) -> str:
    kind, _, uid = actor.partition(":")
    if kind == "member":
        return names.get(uid, uid)
    if kind == "resident":
        return t("tickets.resident")
    return t("tickets.system")


@bp.get("/tickets/<number>")
@requires("casework")
def ticket_detail(number: str):  # noqa: ANN201
    p = current_principal()
    app = gridbot_app()
    with app.session() as s:
        ticket = load_ticket(s, p, number)
        uids = {ev.actor.partition(":")[2] for ev in ticket.events if ev.actor.startswith("member:")}
        names = dict(s.execute(select(Member.userid, Member.name).where(Member.userid.in_(uids))).all())
        timeline = [{"at": ev.at, "action": ev.action, "who": who(s, ev.actor, names), "note": ev.note,
                     "from": ev.from_status, "to": ev.to_status} for ev in ticket.events]
        members = scope_members(s, p)
        actions = allowed_actions(p, ticket)
        phone = phone_for(p, ticket.grid_id, ticket.contact_phone)
        late = svc.overdue(ticket, app.clock.now())
        return render("ticket.html", ticket=ticket, timeline=timeline, actions=actions, members=members,
                      phone=phone, late=late, needs={a: ACTIONS[a][1] for a in actions},
                      next_steps=svc.next_steps(ticket))


@bp.post("/tickets/<number>/action")
@requires("casework")
def ticket_action(number: str):  # noqa: ANN201
    p = current_principal()
    app = gridbot_app()
    action = request.form.get("action", "")
    note = request.form.get("note", "").strip()[:500]
    to = request.form.get("to", "").strip()[:128]
    with app.session() as s:
        ticket = load_ticket(s, p, number)    # 403 before anything else when out of scope
        number = ticket.number
    if action not in ACTIONS:
        flash(t("console.errors.unknown_action"), "error")
        return redirect(url_for("console.ticket_detail", number=number))
    with app.session() as s:
        try:
            with s.begin():
                run_action(s, p, number, action, note, to, app.clock.now())
            flash(t("console.flash.done", number=number, action=t(f"tickets.actions.{action}")))
        except svc.TicketError as err:
            flash(err.text, "error")
    return redirect(url_for("console.ticket_detail", number=number))
