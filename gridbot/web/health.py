"""/healthz (the process is up) and /readyz (its database and Redis answer; the callback journal's backlog)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

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
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "unavailable", "checks": checks}
    backlog = app.journal.backlog() if app.journal is not None else 0
    if backlog:   # not a readiness failure by itself: callbacks are kept and answered, just not yet stored
        body["journal"] = {"backlog": backlog,
                           "detail": f"journal: {backlog} callbacks kept, will be stored when the database is back"}
    return jsonify(body), (200 if ok else 503)
