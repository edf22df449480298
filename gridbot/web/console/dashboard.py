"""The dashboard: 三率 and on-time closure, open and overdue tickets, coverage by grid, trends — within one's scope."""
from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from ...bootstrap import Gridbot
from ...clock import local
from ...models import Grid, Ticket
from ...models.tickets import OPEN_STATUSES
from ...services import coverage as coverage_svc
from ...services import digest as digest_svc
from ...services import metrics as metrics_svc
from ...services import toolbar as toolbar_svc
from ...services.tickets import overdue_clause
from ...texts import t
from .. import gridbot_app
from ..auth import Principal, forbid, requires, signed_in
from .base import bp, not_found, render, scope_grids

PERIODS = (7, 30, 90)
CACHE_SECONDS = 60      # the figures of one scope and period are computed at most once a minute per process
_cache: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}


@bp.get("/")
@requires("login")
def home() -> ResponseReturnValue:
    p = signed_in()
    if p.can_casework:
        return redirect(url_for("console.dashboard"))
    return redirect(url_for("console.outbox"))


@bp.get("/dashboard")
@requires("casework")
def dashboard() -> str:
    p = signed_in()
    app = gridbot_app()
    now = app.clock.now()
    days = request.args.get("days", 7, type=int)
    days = days if days in PERIODS else 7
    key = (app.settings.database_url, frozenset(p.scope_grid_ids), days, now.replace(second=0, microsecond=0))
    hit = _cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        figures = hit[1]
    else:
        figures = _figures(app, p, now, days)
        if len(_cache) > 500:
            _cache.clear()
        _cache[key] = (time.monotonic() + CACHE_SECONDS, figures)
    return render("dashboard.html", days=days, periods=PERIODS, **figures)


def _figures(app: Gridbot, p: Principal, now: datetime, days: int) -> dict[str, Any]:
    since = now - timedelta(days=days)
    ids = list(p.scope_grid_ids)
    with app.session() as s:
        grids = scope_grids(s, p)
        facts = metrics_svc._facts(s, since, now, grid_ids=ids)  # the same facts the digest uses
        rates = metrics_svc.summarize(f for _, f in facts)
        in_scope = Ticket.grid_id.in_(ids)
        open_by_status = dict(s.execute(select(Ticket.status, func.count()).where(
            in_scope, Ticket.status.in_(OPEN_STATUSES + ("resolved", "verified"))).group_by(Ticket.status)).all())
        overdue = s.scalar(select(func.count()).select_from(Ticket).where(in_scope, overdue_clause(now))) or 0
        urgent_open = s.scalar(select(func.count()).select_from(Ticket).where(
            in_scope, Ticket.urgency == "urgent", Ticket.status.in_(OPEN_STATUSES))) or 0
        report = coverage_svc.compute(s, now, ids, with_lists=False)
        cov_rows = sorted(report.grids, key=lambda g: g.code)
        total = report.total()
        tz = app.settings.timezone
        start = now - timedelta(days=14)
        per_day = Counter(local(at, tz).date() for at in s.scalars(
            select(Ticket.created_at).where(in_scope, Ticket.created_at >= start)))
        today = local(now, tz).date()
        trend = [(today - timedelta(days=i), per_day.get(today - timedelta(days=i), 0)) for i in range(13, -1, -1)]
        cov_trend = coverage_svc.trend(s, ids, today - timedelta(days=14)) if ids else []
        toolbar_waiting = toolbar_svc.waiting(s, ids, now)   # customer groups' replies past due (待群内回复)
    peak = max([n for _, n in trend] + [1])
    return dict(rates=rates, open_by_status=open_by_status, open_total=sum(open_by_status.values()), overdue=overdue,
                urgent_open=urgent_open, coverage=cov_rows, coverage_total=total, trend=trend, peak=peak,
                cov_trend=cov_trend, grids=grids, toolbar_waiting=toolbar_waiting,
                toolbar_label=t("toolbar.dashboard_waiting"))


@bp.get("/digest")
@requires("casework")
def digest() -> str:
    """今日简报: the same digest the secretary and grid leaders receive in WeCom each morning, for one's scope."""
    p = signed_in()
    app = gridbot_app()
    today = local(app.clock.now(), app.settings.timezone).date()
    try:
        day = date.fromisoformat(request.args.get("day") or today.isoformat())
    except ValueError:
        day = today
    if not 2000 <= day.year <= 2099:
        day = today
    code = (request.args.get("grid") or "").strip()
    try:
        with app.session() as s:
            d = digest_svc.build_for_reader(
                s, community_id=p.community_id, grid_ids=p.grid_ids, scope_grid_ids=p.scope_grid_ids,
                whole_community=p.is_secretary, day=day, tz=app.settings.tz,
                console_base_url=app.settings.console_base_url, grid=code,
                viewer_id=p.member_id)
    except LookupError:
        not_found()
    except PermissionError:
        forbid("grid outside scope", "grid", code)
    return render("digest.html", d=d, markdown=digest_svc.render_markdown(d), day=day, grids=scope_grids_of(p),
                  code=code)


def scope_grids_of(p: Principal) -> list[Grid]:
    with gridbot_app().session() as s:
        return scope_grids(s, p)
