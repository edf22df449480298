"""/healthz (the process is up) and /readyz (its database and Redis answer; a sending channel stopped by a
configuration fault is reported as "degraded" with what to fix, still 200: the web keeps taking callbacks and
the messages wait, so taking this instance out of the load balancer would help nobody; the callback journal's
backlog while the database cannot take callbacks)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ..app import Gridbot
from ..archive.pull import ALARM_LAG, WARN_LAG
from ..archive.pull import lag as archive_lag
from ..services import channel_faults
from . import gridbot_app

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    app = gridbot_app()
    checks: dict[str, str] = {}
    try:
        with app.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the probe says which
        checks["database"] = f"error: {type(exc).__name__}"
    if app.redis is not None:
        try:
            app.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the probe says which
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())   # database and Redis: a stopped channel is not "down"
    faults: list[dict[str, object]] = []
    if checks["database"] == "ok":
        try:
            with app.session() as session:
                faults = [{"channel": f.channel, "errcode": f.errcode, "fix": f.message, "ip": f.ip,
                           "since": f.first_seen.isoformat(), "occurrences": f.occurrences}
                          for f in channel_faults.active(session)]
            checks["wecom"] = ("ok" if not faults else "degraded: " + "; ".join(
                f"{f['channel']} stopped by errcode {f['errcode']}: {f['fix']}" for f in faults))
        except Exception as exc:  # noqa: BLE001 - e.g. the schema not migrated yet: say so, keep the probe answering
            checks["wecom"] = f"unknown: {type(exc).__name__} (run gridbot db upgrade)"
    archive = _archive(app) if checks["database"] == "ok" else None
    degraded = bool(faults) or (archive is not None and archive["status"] in ("alarm", "broken"))
    status = "unavailable" if not ok else ("degraded" if degraded else "ok")
    body: dict[str, object] = {"status": status, "checks": checks, "faults": faults}
    if archive is not None:
        body["archive"] = archive
    backlog = app.journal.backlog() if app.journal is not None else 0
    if backlog:   # not a readiness failure by itself: callbacks are kept and answered, just not yet stored
        body["journal"] = {"backlog": backlog,
                           "detail": f"journal: {backlog} callbacks kept, will be stored when the database is back"}
    return jsonify(body), (200 if ok else 503)


def _archive(app: Gridbot) -> dict[str, object] | None:
    """The chat archive's state: how far behind (a day is an alarm: WeCom keeps five), or why it is not read."""
    if not app.settings.archive.enabled:
        return None
    if app.archive is None:
        return {"status": "broken", "detail": app.archive_problem}
    try:
        with app.session() as session:
            behind = archive_lag(session, app.archive.name, app.clock.now())
    except Exception as exc:  # noqa: BLE001 - e.g. the schema not migrated yet: say so, keep the probe answering
        return {"status": "unknown", "detail": type(exc).__name__}
    if behind is None:
        return {"status": "not_pulled_yet", "lag_seconds": None}
    seconds = int(behind.total_seconds())
    state = "alarm" if behind > ALARM_LAG else ("behind" if behind > WARN_LAG else "ok")
    return {"status": state, "lag_seconds": seconds, "source": app.archive.name}
