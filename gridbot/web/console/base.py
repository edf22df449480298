"""What every console page shares: the blueprint, sign-in and scope helpers, pagination, rendering and the
error pages. The pages themselves are the sibling modules; the package's __init__ loads them."""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from ...archive.pull import ALARM_LAG
from ...archive.pull import lag as archive_lag
from ...clock import local
from ...errors import Refusal, log_unexpected
from ...models import Grid
from ...privacy import shown_phone
from ...services import channel_faults
from ...services.roster import MAX_FILE_BYTES
from ...services.scope import Scope
from ...services.tickets import category_name, rating_name, status_name
from ...texts import t
from .. import gridbot_app
from ..auth import Principal, check_csrf, current_principal
from ..json_errors import error_response

bp = Blueprint("console", __name__, url_prefix="/console")
log = logging.getLogger(__name__)
# the app-wide limit (64 KB) is for WeCom callbacks; a roster is one .xlsx or three CSVs of MAX_FILE_BYTES each
UPLOAD_LIMITS = {"console.roster_import": 3 * MAX_FILE_BYTES + 1024 * 1024}


@bp.before_request
def _upload_limit() -> None:
    """Raise the body limit for the upload pages, before the CSRF check reads the form."""
    limit = UPLOAD_LIMITS.get(request.endpoint or "")
    if limit:
        request.max_content_length = limit


bp.before_request(check_csrf)

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000   # as the API: (page - 1) * per_page stays far inside the database's OFFSET


@dataclass
class Page:
    """One page of a server-side paginated list."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def url(self, page: int) -> str:
        args = request.args.to_dict()
        args["page"] = str(page)
        return f"{request.path}?{urlencode(args)}"


def page_args() -> tuple[int, int]:
    page = min(MAX_PAGE, max(1, request.args.get("page", 1, type=int) or 1))
    per_page = min(MAX_PER_PAGE, max(1, request.args.get("per_page", PER_PAGE, type=int) or PER_PAGE))
    return page, per_page


def paginate(session: Session, query: Any, page: int, per_page: int) -> Page:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).all())
    return Page(items, page, per_page, total)


def scope_grids(session: Session, p: Principal) -> list[Grid]:
    return list(session.scalars(Scope.casework(p).grids(select(Grid)).order_by(Grid.level, Grid.code)))


def phone_for(p: Principal, grid_id: int | None, phone: str | None) -> str:
    """The phone in full for people entitled to it in this grid, masked for everyone else."""
    return shown_phone(phone, p.sees_phone(grid_id))


class Caseworker(NamedTuple):
    """The member behind a principal that may do casework (Principal.can_casework needs a member)."""

    member_id: int
    community_id: int
    userid: str


def caseworker(p: Principal) -> Caseworker:
    """The member fields of a casework principal; 403 for anyone else (auth.requires("casework") let none in)."""
    if p.member_id is None or p.community_id is None or p.userid is None:
        abort(403)
    return Caseworker(p.member_id, p.community_id, p.userid)


def render(template: str, **ctx: Any) -> str:
    return render_template(f"console/{template}", me=current_principal(), **ctx)


@bp.record_once
def _jinja_names(state: Any) -> None:
    """Names people see for codes, from config/templates.yaml (the same words the chat uses)."""
    state.app.jinja_env.globals.update(
        status_name=status_name, category_name=category_name, rating_name=rating_name,
        urgency_name=lambda u: t(f"tickets.urgency.{u}"), action_name=lambda a: t(f"tickets.actions.{a}"))
    state.app.jinja_env.globals.update(channel_fault_banners=_channel_fault_banners)
    state.app.jinja_env.globals.update(archive_alarms=_archive_alarms)


def _archive_alarms() -> list[str]:
    """The chat archive not read, or behind by more than a day (WeCom keeps five): one alarm on every page for the
    people who configure."""
    app = gridbot_app()
    if not app.settings.archive.enabled:
        return []
    if app.archive is None:
        return [t("console.archive_broken", problem=app.archive_problem or "")]
    with app.session() as session:
        behind = archive_lag(session, app.archive.name, app.clock.now())
    if behind is None or behind <= ALARM_LAG:
        return []
    return [t("console.archive_lag", hours=int(behind.total_seconds() // 3600))]


def _channel_fault_banners() -> list[str]:
    """One line per sending channel stopped by a configuration fault (base.html shows them to the people who
    configure: secretaries and operators), so one wrong setting is one visible alarm on every page."""
    app = gridbot_app()
    with app.session() as session:
        return [channel_faults.banner(session, f, app.settings.timezone) for f in channel_faults.active(session)]


@bp.app_template_filter("local")
def _local_filter(dt: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if dt is None:
        return ""
    return local(dt, gridbot_app().settings.timezone).strftime(fmt)


@bp.app_template_filter("wecom_md")
def _wecom_markdown(text: str) -> Any:
    """WeCom's small markdown (##, **, >, [..](..), <font color>) as HTML: escaped first, then the few marks."""
    out = []
    for line in str(escape(text or "")).splitlines():
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        line = re.sub(r"&lt;font color=&#34;(\w+)&#34;&gt;(.*?)&lt;/font&gt;", r'<span class="md-\1">\2</span>', line)
        line = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', line)
        if line.startswith("## "):
            line = f"<h2>{line[3:]}</h2>"
        elif line.startswith("&gt; "):
            line = f'<div class="muted">{line[5:]}</div>'
        else:
            line = f"<div>{line}</div>"
        out.append(line)
    return Markup("\n".join(out))


@bp.app_template_filter("pct")
def _pct_filter(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@bp.app_errorhandler(403)
def _forbidden(err: Any) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return error_response("forbidden", 403)
    if request.path.startswith("/console"):
        return render_template("console/error.html", me=current_principal(), code=403,
                               message=t("console.errors.forbidden")), 403
    return err


@bp.app_errorhandler(404)
def _not_found(err: Any) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return error_response("not_found", 404)
    if request.path.startswith("/console"):
        return render_template("console/error.html", me=current_principal(), code=404,
                               message=t("console.errors.not_found")), 404
    return err


@bp.app_errorhandler(400)
def _bad_request(err: Any) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return error_response("bad_request", 400, detail=getattr(err, "description", ""))
    if request.path.startswith("/console"):
        message = getattr(err, "description", None) or t("console.errors.bad_request")
        return render_template("console/error.html", me=current_principal(), code=400, message=message), 400
    return err


@bp.app_errorhandler(Refusal)
def _refused(err: Refusal) -> ResponseReturnValue:
    """A rule said no outside a view's own handling: the person reads why, on the page they came from."""
    if not request.path.startswith("/console"):
        raise err
    flash(err.render(gridbot_app().settings.tz), "error")
    back = request.referrer if request.referrer and request.referrer != request.url else None
    return redirect(back or url_for("console.home"))


@bp.app_errorhandler(Exception)
def _unexpected(err: Exception) -> ResponseReturnValue:
    """A bug on a console page: logged once under an id; the person gets a short page with that id (500)."""
    if isinstance(err, HTTPException):
        return err
    if not request.path.startswith("/console"):
        raise err            # the webhook and the simulator keep their own handling
    error_id = log_unexpected(log, err, f"{request.method} {request.path}")
    message = t("refusal.unexpected_web", error_id=error_id)
    try:
        me = current_principal()
    except Exception:  # noqa: BLE001 - the page must render even when signing in is what broke
        me = None
    try:
        return render_template("console/error.html", me=me, code=500, message=message), 500
    except Exception:  # noqa: BLE001 - a broken template must not hide the id
        return message, 500, {"Content-Type": "text/plain; charset=utf-8"}


@bp.app_errorhandler(413)
def _too_large(err: Any) -> Any:
    """An upload over its limit is refused before it is read, in words the clerk understands."""
    if request.path.startswith("/console"):
        return render_template("console/error.html", me=current_principal(), code=413,
                               message=t("console.errors.too_large", mb=MAX_FILE_BYTES // (1024 * 1024))), 413
    return err


def not_found() -> NoReturn:
    abort(404)
