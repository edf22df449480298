"""A fake WeCom API: a real HTTP server on loopback (werkzeug), started in a thread.

Implements gettoken, message/send, appchat/send, webhook/send, externalcontact/groupchat/list and get,
externalcontact/add_msg_template and an AI bot response_url. It records every request it received and can be
told to fail (5xx), time out, rate-limit (errcode 45009) or revoke the tokens it issued (42001).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Received:
    path: str
    args: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeWeCom:
    corp_id: str = "ww1436e0e65a779aee"
    secret: str = "fake-secret"
    received: list[Received] = field(default_factory=list)
    groupchats: dict[str, dict[str, Any]] = field(default_factory=dict)  # chat_id -> groupchat/get "group_chat"
    tokens: set[str] = field(default_factory=set)
    token_calls: int = 0
    fail_next: int = 0            # answer HTTP 502 to the next n API calls (not gettoken)
    timeout_next: int = 0         # sleep `timeout_seconds` before answering the next n calls
    timeout_seconds: float = 3.0
    ratelimit_next: int = 0       # answer errcode 45009 to the next n calls
    hold_after_record: float = 0  # record the request, then wait this long before answering
    oauth_codes: dict[str, str] = field(default_factory=dict)  # web-login code -> userid (auth/getuserinfo)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control --------------------------------------------------------------------------------
    def start(self) -> "FakeWeCom":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def sent(self, path_suffix: str) -> list[Received]:
        """The delivered sends to one endpoint (recorded and answered with errcode 0)."""
        return [r for r in self.received if r.path.endswith(path_suffix) and r.args.get("_ok") == "1"]

    # -- the server -----------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):  # noqa: ANN001, ANN201
        request = Request(environ)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            body = {"_raw": request.get_data(as_text=True)}
        response = self._answer(request.path, dict(request.args), body)
        return response(environ, start_response)

    def _json(self, data: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")

    def _answer(self, path: str, args: dict[str, str], body: dict[str, Any]) -> Response:
        if path == "/cgi-bin/gettoken":
            with self._lock:
                self.token_calls += 1
                if args.get("corpid") != self.corp_id or args.get("corpsecret") != self.secret:
                    return self._json({"errcode": 40001, "errmsg": "invalid credential"})
                token = uuid.uuid4().hex
                self.tokens.add(token)
            return self._json({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
        record = Received(path, args, body)
        with self._lock:
            self.received.append(record)
            fail, self.fail_next = self.fail_next > 0, max(self.fail_next - 1, 0)
            slow, self.timeout_next = self.timeout_next > 0, max(self.timeout_next - 1, 0)
            limited, self.ratelimit_next = self.ratelimit_next > 0, max(self.ratelimit_next - 1, 0)
            hold = self.hold_after_record
        if fail:
            return Response("bad gateway", status=502)
        needs_token = path.startswith("/cgi-bin/") and not path.startswith("/cgi-bin/webhook/")
        if needs_token and args.get("access_token") not in self.tokens:
            return self._json({"errcode": 42001, "errmsg": "access_token expired"})
        if limited:
            return self._json({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
        if hold:
            time.sleep(hold)
        with self._lock:
            result = self._route(path, {**body, "_code": args.get("code", "")} if "code" in args else body)
            if result.get("errcode") == 0 and not result.pop("_duplicate", False):
                record.args["_ok"] = "1"
        if slow:  # delivered, but the answer comes too late for the client
            time.sleep(self.timeout_seconds)
        return self._json(result)

    def _route(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        ok = {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/message/send" and body.get("enable_duplicate_check"):
            # WeCom drops the same content to the same user within duplicate_check_interval.
            same = [r for r in self.received if r.path == path and r.args.get("_ok") == "1"
                    and r.body.get("touser") == body.get("touser")
                    and r.body.get(r.body.get("msgtype")) == body.get(body.get("msgtype"))]
            return {**ok, "_duplicate": bool(same)}
        if path in ("/cgi-bin/message/send", "/cgi-bin/appchat/send", "/cgi-bin/webhook/send"):
            return ok
        if path.startswith("/aibot/response/"):
            return ok
        if path == "/cgi-bin/auth/getuserinfo":   # web authorization: GET ?code=, a code is good once
            userid = self.oauth_codes.pop(body.get("_code", ""), None)
            return {**ok, "userid": userid} if userid else {"errcode": 40029, "errmsg": "invalid code"}
        if path == "/cgi-bin/externalcontact/add_msg_template":
            return {**ok, "fail_list": [], "msgid": "msg" + uuid.uuid4().hex[:8]}
        if path == "/cgi-bin/externalcontact/groupchat/list":
            ids = sorted(self.groupchats)
            start = int(body.get("cursor") or 0)
            limit = int(body.get("limit") or 100)
            page = ids[start:start + limit]
            nxt = str(start + limit) if start + limit < len(ids) else ""
            return {**ok, "group_chat_list": [{"chat_id": c, "status": 0} for c in page], "next_cursor": nxt}
        if path == "/cgi-bin/externalcontact/groupchat/get":
            chat = self.groupchats.get(body.get("chat_id"))
            if chat is None:
                return {"errcode": 701008, "errmsg": "chat not found"}
            return {**ok, "group_chat": chat}
        return {"errcode": 404, "errmsg": f"fake WeCom has no {path}"}
