"""/healthz (the process is up) and /readyz (its database and Redis answer; a sending channel stopped by a
configuration fault is reported as "degraded" with what to fix, still 200: the web keeps taking callbacks and
the messages wait, so taking this instance out of the load balancer would help nobody; the callback journal's
backlog while the database cannot take callbacks)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

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
    status = "unavailable" if not ok else ("degraded" if faults else "ok")
    body: dict[str, object] = {"status": status, "checks": checks, "faults": faults}
    backlog = app.journal.backlog() if app.journal is not None else 0
    if backlog:   # not a readiness failure by itself: callbacks are kept and answered, just not yet stored
        body["journal"] = {"backlog": backlog,
                           "detail": f"journal: {backlog} callbacks kept, will be stored when the database is back"}
    return jsonify(body), (200 if ok else 503)
