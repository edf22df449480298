"""The API's error body, {"error": {"code": <stable code>, "message": <Chinese>}}, in a module of its own: the API
answers with it, and so do the app-wide 400/403/404 handlers (registered by the console) for paths under /api/,
without the API and the console importing each other."""
from __future__ import annotations

from flask import Response, jsonify

from ..texts import t

ERROR_STATUS = {"unauthorized": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405,
                "bad_request": 400, "invalid_transition": 409, "internal": 500}


def error_response(code: str, status: int | None = None, detail: str = "") -> Response:
    template = t(f"console.api.{code}")
    message = t(f"console.api.{code}", detail=detail) if "{detail}" in template else template
    resp = jsonify(error={"code": code, "message": message})
    resp.status_code = status or ERROR_STATUS.get(code, 400)
    if resp.status_code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="gridbot"'
    return resp
