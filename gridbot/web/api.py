"""The JSON API /api/v1/: tickets (list, get, transition), grids, coverage, digests. Described by /api/v1/openapi.json.

Bearer tokens (made in the console or by `gridbot account token`) act with their account's role and grids: the
same Principal and scope as the console. Errors are {"error": {"code": <stable code>, "message": <Chinese>}};
a request outside one's scope is refused (403) and audited.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from ..clock import local
from ..errors import Refusal, log_unexpected
from ..models import Grid, Ticket
from ..models.tickets import STATUSES
from ..privacy import shown_phone
from ..services import coverage as coverage_svc
from ..services import digest as digest_svc
from ..services import tickets as tickets_svc
from ..services.grids import grid_overview
from ..texts import t
from . import gridbot_app
from .auth import Principal, audit_event, principal_for_token
from .json_errors import ERROR_STATUS, error_response
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

MAX_PER_PAGE = 200


class ApiError(Exception):
    def __init__(self, code: str, status: int | None = None, detail: str = ""):
        super().__init__(code)
        self.code = code
        self.status = status or ERROR_STATUS[code]
        self.detail = detail


@bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> ResponseReturnValue:
    return error_response(err.code, err.status, err.detail)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> ResponseReturnValue:
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
        err.code or 400, "bad_request")
    return error_response(code, err.code, detail=err.description or "")


@bp.app_errorhandler(405)
def _method_not_allowed(err: HTTPException) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return error_response("method_not_allowed", 405)
    return err


@bp.errorhandler(Refusal)
def _refused(err: Refusal) -> ResponseReturnValue:
    """A rule said no: the template key (stable, for programs) and the Chinese text (for people)."""
    resp = jsonify(error={"code": "refused", "key": err.key, "message": err.render(gridbot_app().settings.tz)})
    resp.status_code = 409
    return resp


@bp.errorhandler(Exception)
def _crash(err: Exception) -> ResponseReturnValue:
    error_id = log_unexpected(logging.getLogger(__name__), err, f"API {request.method} {request.path}")
    resp = jsonify(error={"code": "internal", "id": error_id, "message": t("console.api.internal", detail=error_id)})
    resp.status_code = 500
    return resp


# -- who is asking ------------------------------------------------------------------------------------------
@bp.before_request
def _authenticate() -> None:
    """Every endpoint but the OpenAPI document needs a valid bearer token."""
    if request.endpoint == "api.openapi":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError("unauthorized")
    app = gridbot_app()
    with app.session() as s, s.begin():
        principal = principal_for_token(s, secret.strip(), app.clock.now())
    if principal is None:
        audit_event("anonymous", "api.unauthorized", detail="bad or revoked token")
        raise ApiError("unauthorized")
    g.api_principal = principal


def me() -> Principal:
    return g.api_principal


def refuse(reason: str, entity_type: str | None = None, entity_id: Any = None) -> None:
    audit_event(me().actor, "api.forbidden", entity_type, entity_id, reason=reason)
    raise ApiError("forbidden")


def need_casework() -> Principal:
    p = me()
    if not p.can_casework:
        refuse("needs casework")
    return p


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("bad_request", detail=f"{name} 应为整数") from None
    if not low <= value <= high:
        raise ApiError("bad_request", detail=f"{name} 应在 {low}–{high} 之间")
    return value


def _page() -> tuple[int, int]:
    return _int_arg("page", 1, 1, 1_000_000), _int_arg("per_page", 50, 1, MAX_PER_PAGE)


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def _date_arg(name: str) -> str:
    raw = (request.args.get(name) or "").strip()
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ApiError("bad_request", detail=f"{name} 应为 YYYY-MM-DD") from None
        # Any valid date is accepted; the calendar's edges (0001-01-01 in UTC+8 is before year 1) are clamped.
        raw = min(max(day, EARLIEST), LATEST).isoformat()
    return raw


# -- tickets --------------------------------------------------------------------------------------------------
def ticket_json(p: Principal, tk: Any, grid_code: str, assignee: str | None) -> dict[str, Any]:
    return {"number": tk.number, "grid": grid_code, "category": tk.category, "urgency": tk.urgency,
            "status": tk.status, "building": tk.building, "unit": tk.unit, "room": tk.room,
            "summary": tk.summary, "contact_phone": shown_phone(tk.contact_phone, p.sees_phone(tk.grid_id)) or None,
            "assignee": assignee, "reporters": tk.reporters, "escalation_level": tk.escalation_level,
            "rating": tk.rating, "created_at": tk.created_at.isoformat(),
            "response_due": tk.response_due.isoformat() if tk.response_due else None,
            "resolution_due": tk.resolution_due.isoformat() if tk.resolution_due else None,
            "closed_at": tk.closed_at.isoformat() if tk.closed_at else None}


@bp.get("/tickets")
def tickets_list():
    p = need_casework()
    page, per_page = _page()
    args = {k: (request.args.get(k) or "").strip() for k in ("grid", "category", "status", "urgency", "assignee")}
    allowed = {"category": tickets_svc.category_codes(), "status": STATUSES + tickets_svc.PSEUDO_STATUSES,
               "urgency": tickets_svc.URGENCIES}
    for key, values in allowed.items():
        if args[key] and args[key] not in values:
            raise ApiError("bad_request", detail=f"{key} 取值无效")
    args["from"], args["to"] = _date_arg("from"), _date_arg("to")
    app = gridbot_app()
    with app.session() as s:
        if args["grid"] and s.scalar(select(Grid.id).where(Grid.code == args["grid"])) is None:
            raise ApiError("not_found", detail="grid")
        try:
            query, _ = tickets_svc.ticket_query(s, p.scope_grid_ids, args, app.clock.now(), app.settings.tz,
                                                viewer_id=p.member_id)
        except tickets_svc.OutOfScope as err:
            refuse("grid filter outside scope", "grid", err.grid_code)
        total = s.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = s.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
        items = [ticket_json(p, tk, code, None) | {"assignee": name} for tk, code, _n, name in rows]
    return jsonify(items=items, page=page, per_page=per_page, total=total)


def _load(s: Any, p: Principal, number: str) -> Ticket:
    tk = tickets_svc.load_by_number(s, number)
    if tk is None or tickets_svc.concealed_from(tk, p.member_id):   # a complaint about this member (监督评议)
        raise ApiError("not_found")
    if not p.in_scope(tk.grid_id) and not (p.member_id and tk.assignee_id == p.member_id):
        refuse("ticket outside scope", "ticket", tk.number)
    return tk


def _detail(p: Principal, tk: Any) -> dict[str, Any]:
    out = ticket_json(p, tk, tk.grid.code, tk.assignee.userid if tk.assignee else None)
    out["events"] = [{"at": ev.at.isoformat(), "actor": ev.actor, "action": ev.action, "from": ev.from_status,
                      "to": ev.to_status, "note": ev.note} for ev in tk.events]
    out["actions"] = tickets_svc.allowed_actions(p.speaker(), tk)
    return out


@bp.get("/tickets/<number>")
def ticket_get(number: str) -> ResponseReturnValue:
    p = need_casework()
    with gridbot_app().session() as s:
        return jsonify(_detail(p, _load(s, p, number)))


@bp.post("/tickets/<number>/transition")
def ticket_transition(number: str) -> ResponseReturnValue:
    """{"action": accept|reject|not_request|dispatch|start|resolve|verify|verify_failed|close|reopen|transfer|escalate,
    "note": "...", "to": "<userid>"} — the same service call as the chat command."""
    p = need_casework()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("bad_request", detail="需要 JSON 对象")
    action = body.get("action")
    note, to = body.get("note", ""), body.get("to", "")
    if action not in tickets_svc.ACTIONS:
        raise ApiError("bad_request", detail="action 取值无效")
    if not isinstance(note, str) or not isinstance(to, str):
        raise ApiError("bad_request", detail="note 和 to 应为字符串")
    app = gridbot_app()
    with app.session() as s:
        tk = _load(s, p, number)
        number = tk.number
    with app.session() as s:
        try:
            with s.begin():
                tickets_svc.run_action(s, tickets_svc.policy_for(app), p.speaker(), number, action,
                                       note.strip()[:500], to.strip()[:128], app.clock.now())
        except tickets_svc.TicketError as err:
            raise ApiError("invalid_transition", detail=err.text) from None
    with app.session() as s:
        return jsonify(_detail(p, _load(s, p, number)))


# -- grids, coverage, digests ------------------------------------------------------------------------------------
@bp.get("/grids")
def grids():
    """The grids of the token's scope (services.grids.grid_overview, the same overview as `gridbot grids list`)."""
    p = need_casework()
    with gridbot_app().session() as s:
        rows = grid_overview(s, grid_ids=p.scope_grid_ids)
    items = [{k: row[k] for k in ("code", "name", "level", "parent", "households")} for row in rows]
    return jsonify(items=items)


@bp.get("/coverage")
def coverage():
    p = need_casework()
    code = (request.args.get("grid") or "").strip()
    app = gridbot_app()
    with app.session() as s:
        ids = set(p.scope_grid_ids)
        if code:
            grid = s.scalar(select(Grid).where(Grid.code == code))
            if grid is None:
                raise ApiError("not_found", detail="grid")
            if grid.id not in ids:
                refuse("grid outside scope", "grid", code)
            ids = {grid.id}
        report = coverage_svc.compute(s, app.clock.now(), ids, with_lists=bool(code))
    grids_out = []
    for gc in sorted(report.grids, key=lambda x: x.code):
        item = {"grid": gc.code, "name": gc.name, "households": gc.households, "covered": gc.covered,
                "ratio": gc.ratio}
        if code:
            item["uncovered"] = [u.as_dict() for u in gc.uncovered]
        grids_out.append(item)
    total = report.total()
    return jsonify(total={"households": total.households, "covered": total.covered, "ratio": total.ratio},
                   grids=grids_out)


def digest_for(p: Principal, day: date, code: str = "") -> dict[str, Any]:
    """services.digest.build_for_reader for this person (LookupError: nothing to show; PermissionError: the grid
    is outside their scope)."""
    app = gridbot_app()
    with app.session() as s:
        return digest_svc.build_for_reader(
            s, community_id=p.community_id, grid_ids=p.grid_ids, scope_grid_ids=p.scope_grid_ids,
            whole_community=p.is_secretary, day=day, tz=app.settings.tz,
            console_base_url=app.settings.console_base_url, grid=code,
            viewer_id=p.member_id)


@bp.get("/digests")
def digests():
    """The morning digest (as sent in chat) for the token's scope: the community for a secretary, one's grids else."""
    p = need_casework()
    app = gridbot_app()
    raw = _date_arg("day")
    day = date.fromisoformat(raw) if raw else local(app.clock.now(), app.settings.timezone).date()
    if not 2000 <= day.year <= 2099:
        raise ApiError("bad_request", detail="day 超出范围")
    code = (request.args.get("grid") or "").strip()
    try:
        d = digest_for(p, day, code)
    except LookupError:
        raise ApiError("not_found") from None
    except PermissionError:
        refuse("grid outside scope", "grid", code)
    return jsonify(digest=d, markdown=digest_svc.render_markdown(d))


@bp.get("/openapi.json")
def openapi():
    return jsonify(document(request.host_url.rstrip("/")))
