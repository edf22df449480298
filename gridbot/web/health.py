"""/healthz (the process is up) and /readyz (its database and Redis answer)."""
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
    return jsonify(status="ok" if ok else "unavailable", checks=checks), (200 if ok else 503)
