"""A fake WeCom API: a real HTTP server on loopback (werkzeug), started in a thread.

Implements gettoken, media/upload (multipart; the bytes are kept by media_id), message/send and appchat/send
(text, markdown, image by a known media_id), webhook/send, externalcontact/groupchat/list and get,
externalcontact/add_msg_template and an AI bot response_url. It records every request it received and can be
told to fail (5xx), time out, rate-limit (errcode 45009) or revoke the tokens it issued (42001), to refuse API calls
from an untrusted IP (60020) and an unfiltered groupchat/list of an app visible to more than 1,000 people (81017).
"""
from __future__ import annotations

import base64
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
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # media_id -> {type, filename, data}
    fail_only: str = ""           # when set, fail_next counts only calls to paths ending with this
    visible_count: int = 0        # people the app is visible to: > 1000 makes an unfiltered groupchat/list fail
    trusted_ips: set[str] | None = None   # when set, API calls from any other IP get 60020 (gettoken still works)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control --------------------------------------------------------------------------------
    def start(self) -> FakeWeCom:
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

    def uploads(self) -> list[Received]:
        """The media/upload calls that stored a file."""
        return self.sent("/cgi-bin/media/upload")

    def images_seen(self, path_suffix: str, to: str | None = None) -> list[bytes]:
        """The pictures a recipient sees: delivered image messages to `path_suffix` (to one touser / chatid),
        as bytes (an app message's media_id looked up; a robot's base64 decoded)."""
        out = []
        for r in self.sent(path_suffix):
            if r.body.get("msgtype") != "image" or (to and to not in (r.body.get("touser"), r.body.get("chatid"))):
                continue
            image = r.body["image"]
            out.append(self.media[image["media_id"]]["data"] if "media_id" in image
                       else base64.b64decode(image["base64"]))
        return out

    # -- the server -----------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        refused = self._untrusted_ip(request)
        if refused is not None:
            return refused(environ, start_response)
        upload = None
        if request.mimetype == "multipart/form-data":  # media/upload: the file is kept aside, its name recorded
            part = request.files.get("media")
            upload = part.read() if part is not None else None
            body = {"_fields": sorted(request.files), "_filename": part.filename if part is not None else None,
                    "_type": request.args.get("type"), "_size": len(upload) if upload is not None else None}
        else:
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                body = {"_raw": request.get_data(as_text=True)}
        response = self._answer(request.path, dict(request.args), body, upload)
        return response(environ, start_response)

    def _json(self, data: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")

    def _answer(self, path: str, args: dict[str, str], body: dict[str, Any], upload: bytes | None = None) -> Response:
        if path == "/cgi-bin/gettoken":
            with self._lock:
                self.token_calls += 1
                refused = self._credentials_refusal(args)
                if refused:
                    return self._json(refused)
                token = uuid.uuid4().hex
                self.tokens.add(token)
            return self._json({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
        record = Received(path, args, body)
        with self._lock:
            self.received.append(record)
            if not self.fail_only or path.endswith(self.fail_only):
                fail, self.fail_next = self.fail_next > 0, max(self.fail_next - 1, 0)
            else:
                fail = False
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
            if path == "/cgi-bin/media/upload":
                result = self._upload(body, upload)
            else:
                result = self._route(path, {**body, "_code": args.get("code", "")} if "code" in args else body)
            if result.get("errcode") == 0 and not result.pop("_duplicate", False):
                record.args["_ok"] = "1"
        if slow:  # delivered, but the answer comes too late for the client
            time.sleep(self.timeout_seconds)
        return self._json(result)

    def _upload(self, body: dict[str, Any], data: bytes | None) -> dict[str, Any]:
        """media/upload as WeCom answers it: multipart field "media", type image <= 10 MB, at least 5 bytes."""
        if data is None or body.get("_fields") != ["media"]:
            return {"errcode": 41001, "errmsg": "media data missing (multipart field must be named media)"}
        if body.get("_type") != "image":
            return {"errcode": 40004, "errmsg": "invalid media type"}
        if not 5 <= len(data) <= 10 * 1024 * 1024:
            return {"errcode": 40009, "errmsg": "invalid image size"}
        media_id = "3" + uuid.uuid4().hex
        self.media[media_id] = {"type": "image", "filename": body.get("_filename"), "data": data}
        return {"errcode": 0, "errmsg": "ok", "type": "image", "media_id": media_id,
                "created_at": str(int(time.time()))}

    def _credentials_refusal(self, args: dict[str, str]) -> dict[str, Any] | None:
        """gettoken's answer to a wrong corp id (40013 invalid corpid) or a wrong secret (40001), as WeCom's global
        error codes list them (developer.work.weixin.qq.com/document/path/90313)."""
        if args.get("corpid") != self.corp_id:
            return {"errcode": 40013, "errmsg": "invalid corpid"}
        if args.get("corpsecret") != self.secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        return None

    def _untrusted_ip(self, request: Request) -> Response | None:
        """An API call (not gettoken, not a robot webhook) from an IP missing from the app's trusted IPs (apps created
        after 2022-06-20 must list them): errcode 60020, the caller's address in errmsg as WeCom writes it (WECOM.md
        "Sending"; developer.work.weixin.qq.com/devtool/query?e=60020)."""
        path = request.path
        if (self.trusted_ips is None or path == "/cgi-bin/gettoken" or not path.startswith("/cgi-bin/")
                or path.startswith("/cgi-bin/webhook/") or request.remote_addr in self.trusted_ips):
            return None
        with self._lock:
            self.received.append(Received(path, dict(request.args), {}))
        return self._json({"errcode": 60020, "errmsg": "not allow to access from your ip, hint: [fake], from ip: "
                           f"{request.remote_addr}, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"})

    def _groupchat_list_refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """groupchat/list as WeCom refuses it (doc 92120): without owner_filter when the app is visible to more than
        1,000 people -> 81017; owner_filter.userid_list over 100 ids -> 40058 (invalid parameter; the doc states the
        limit, the errcode is WeCom's generic one for a parameter out of range: unverified)."""
        owners = ((body.get("owner_filter") or {}).get("userid_list")) or []
        if not owners and self.visible_count > 1000:
            return {"errcode": 81017, "errmsg": "the number of visible range exceeds the limit, use owner_filter"}
        if len(owners) > 100:
            return {"errcode": 40058, "errmsg": "invalid parameter: owner_filter.userid_list exceeds 100"}
        return None

    def _route(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        ok = {"errcode": 0, "errmsg": "ok"}
        if (path in ("/cgi-bin/message/send", "/cgi-bin/appchat/send") and body.get("msgtype") == "image"
                and (body.get("image") or {}).get("media_id") not in self.media):
            return {"errcode": 40007, "errmsg": "invalid media_id"}
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
        if path == "/cgi-bin/get_api_domain_ip":   # read-only: WeCom's API server IPs (doc 92520)
            return {**ok, "ip_list": ["182.254.11.176", "182.254.78.66"]}
        if path == "/cgi-bin/externalcontact/groupchat/list":
            refused = self._groupchat_list_refusal(body)
            if refused:
                return refused
            owners = set((body.get("owner_filter") or {}).get("userid_list") or [])
            ids = sorted(c for c, chat in self.groupchats.items() if not owners or chat.get("owner") in owners)
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
