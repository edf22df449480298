"""Tickets: the list (filters on indexed columns, server-side pagination), the detail with its timeline, and the
life-cycle actions, which call the same services.tickets functions as the chat commands (受理, 派遣, 办结 ...).
Which buttons a ticket shows is services.tickets.allowed_actions, the rule the services themselves apply."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, flash, redirect, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Member, MemberGrid, Ticket, TicketEvidence
from ...models.tickets import STATUSES
from ...services import evidence
from ...services import tickets as svc
from ...services.tickets.lifecycle import event
from ...texts import t
from .. import gridbot_app
from ..auth import Principal, forbid, requires, signed_in
from .base import bp, not_found, page_args, paginate, phone_for, render, scope_grids


def ticket_query(session: Session, p: Principal, args: Any, now: datetime) -> tuple[Any, dict[str, Any]]:
    """services.tickets.ticket_query in the person's scope; a grid outside it is refused (403, audited)."""
    try:
        return svc.ticket_query(session, p.scope_grid_ids, args, now, gridbot_app().settings.tz,
                                viewer_id=p.member_id)
    except svc.OutOfScope as err:
        forbid("grid filter outside scope", "grid", err.grid_code)
        raise  # pragma: no cover - forbid() aborts


def scope_members(session: Session, p: Principal) -> list[Member]:
    # IN (subquery), not JOIN + DISTINCT: PostgreSQL cannot compare the JSON roles column for DISTINCT
    in_scope = select(MemberGrid.member_id).where(MemberGrid.grid_id.in_(list(p.scope_grid_ids)))
    return list(session.scalars(select(Member).where(Member.id.in_(in_scope), Member.active.is_(True))
                                .order_by(Member.name)))


@bp.get("/tickets")
@requires("casework")
def tickets() -> str:
    p = signed_in()
    app = gridbot_app()
    page, per_page = page_args()
    with app.session() as s:
        query, filters = ticket_query(s, p, request.args, app.clock.now())
        result = paginate(s, query, page, per_page)
        grids = scope_grids(s, p)
        members = scope_members(s, p)
    return render("tickets.html", page=result, filters=filters, grids=grids, members=members,
                  categories=svc.category_codes(), statuses=STATUSES, urgencies=svc.URGENCIES, now=app.clock.now(),
                  export_args=request.args.to_dict())


def load_ticket(session: Session, p: Principal, number: str) -> Ticket:
    """The ticket by full number, in the person's scope; 404 if unknown, 403 (audited) if outside scope."""
    ticket = svc.load_by_number(session, number)
    if ticket is None or svc.concealed_from(ticket, p.member_id):   # a complaint about them: not shown (监督评议)
        not_found()
    if not p.in_scope(ticket.grid_id) and not (p.member_id and ticket.assignee_id == p.member_id):
        forbid("ticket outside scope", "ticket", ticket.number)
    return ticket


@bp.get("/tickets/<number>")
@requires("casework")
def ticket_detail(number: str) -> str:
    p = signed_in()
    app = gridbot_app()
    with app.session() as s:
        ticket = load_ticket(s, p, number)
        names = svc.member_names(s, [ev.actor for ev in ticket.events])
        timeline = [{"at": ev.at, "action": svc.shown_action(ev), "who": svc.actor_name(ev.actor, names),
                     "note": ev.note, "from": ev.from_status, "to": ev.to_status} for ev in ticket.events]
        members = scope_members(s, p)
        actions = svc.allowed_actions(p.speaker(), ticket)
        phone = phone_for(p, ticket.grid_id, ticket.contact_phone)
        late = svc.overdue(ticket, app.clock.now())
        pictures = evidence.of_ticket(s, ticket.id)
        by_voice = any(ev.action == "report" and (ev.detail or {}).get("via") == "voice" for ev in ticket.events)
        return render("ticket.html", ticket=ticket, timeline=timeline, actions=actions, members=members,
                      phone=phone, late=late, needs={a: svc.ACTIONS[a][1] for a in actions},
                      next_steps=svc.next_steps(ticket), pictures=pictures, by_voice=by_voice, t=t,
                      recategorize=can_recategorize(p), categories=svc.category_codes())


@bp.get("/evidence/<int:evidence_id>")
@requires("casework")
def ticket_evidence(evidence_id: int) -> Response:
    """A ticket's picture, to people whose scope covers the ticket's grid (404 unknown, 403 audited outside)."""
    p = signed_in()
    app = gridbot_app()
    with app.session() as s:
        row = s.get(TicketEvidence, evidence_id)
        if row is None or row.ticket_id is None or row.status != "stored" or not row.path:
            not_found()
        ticket = s.get(Ticket, row.ticket_id)
        if ticket is None:  # pragma: no cover - the foreign key cascades
            not_found()
        if not p.in_scope(ticket.grid_id):
            forbid("evidence outside scope", "ticket", ticket.number)
        rel, mime = row.path, row.mime
    root = (app.settings.instance_dir / evidence.EVIDENCE_DIR).resolve()
    path = (app.settings.instance_dir / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file() or mime not in evidence.MIMES:
        not_found()
    resp = send_file(path, mimetype=mime, conditional=True, max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"    # a resident's picture: no shared cache keeps it
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.post("/tickets/<number>/action")
@requires("casework")
def ticket_action(number: str) -> ResponseReturnValue:
    p = signed_in()
    app = gridbot_app()
    action = request.form.get("action", "")
    note = request.form.get("note", "").strip()[:500]
    to = request.form.get("to", "").strip()[:128]
    with app.session() as s:
        ticket = load_ticket(s, p, number)    # 403 before anything else when out of scope
        number = ticket.number
    if action not in svc.ACTIONS:
        flash(t("console.errors.unknown_action"), "error")
        return redirect(url_for("console.ticket_detail", number=number))
    with app.session() as s:
        try:
            with s.begin():
                svc.run_action(s, svc.policy_for(app), p.speaker(), number, action, note, to, app.clock.now())
            flash(t("console.flash.done", number=number, action=t(f"tickets.actions.{action}")))
        except svc.TicketError as err:
            flash(err.text, "error")
    return redirect(url_for("console.ticket_detail", number=number))


# A ticket's category, corrected by a secretary, chief or grid leader: recorded as a ticket event with the actor
# ("recategorize", detail from/to), which `gridbot understanding train` learns from.
RECATEGORIZE_ROLES = frozenset({"grid_leader", "secretary", "chief"})


def can_recategorize(p: Principal) -> bool:
    return bool(p.roles & RECATEGORIZE_ROLES)


@bp.post("/tickets/<number>/category")
@requires("casework")
def ticket_category(number: str) -> ResponseReturnValue:
    p = signed_in()
    app = gridbot_app()
    new = request.form.get("category", "").strip()
    with app.session() as s:
        ticket = load_ticket(s, p, number)    # 403 before anything else when out of scope
        number = ticket.number
    if not can_recategorize(p):
        forbid("recategorize needs a leader's role", "ticket", number)
    if new not in svc.category_codes():
        flash(t("console.errors.bad_category"), "error")
        return redirect(url_for("console.ticket_detail", number=number))
    with app.session() as s, s.begin():
        ticket = load_ticket(s, p, number)
        old = ticket.category
        if old == new:
            flash(t("console.flash.same_category", number=number, new=svc.category_name(new)))
        else:
            ticket.category = new
            event(s, ticket, p.actor, "recategorize", app.clock.now(), member_id=p.member_id,
                  detail={"from": old, "to": new})
            flash(t("console.flash.recategorized", number=number, old=svc.category_name(old),
                    new=svc.category_name(new)))
    return redirect(url_for("console.ticket_detail", number=number))
