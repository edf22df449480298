"""A fake WeCom API: a real HTTP server on loopback (werkzeug), started in a thread.

Implements gettoken, media/upload (multipart; the bytes are kept by media_id), message/send and appchat/send
(text, markdown, image by a known media_id), webhook/send, externalcontact/groupchat/list and get,
externalcontact/add_msg_template and an AI bot response_url. It records every request it received and can be
told to fail (5xx), time out, rate-limit (errcode 45009) or revoke the tokens it issued (42001), to refuse API calls
from an untrusted IP (60020) and an unfiltered groupchat/list of an app visible to more than 1,000 people (81017).

It refuses what WeCom refuses on the send endpoints (`_limits`, `_dropped`): contents over the byte limits, a robot
over 20 a minute, a response_url used twice or after its hour, a customer group's mass sends over the daily cap (in
`fail_list`); and, like WeCom, it answers ok to app messages over 30 a minute or 1,000 an hour per member and
silently does not deliver them (`dropped()` shows them to a test).
It also serves the AI bot's encrypted pictures (`aibot_image`, GET /aibot/media/<id>), valid five minutes.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
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
    # configuration faults (issue 15 point 7): an untrusted calling IP, errcodes told in advance
    trusted_ips: set[str] | None = None   # when set, API calls from any other IP get 60020 (gettoken still works)
    errcode_next: list[int] = field(default_factory=list)   # answer these errcodes, one per call, in order
    errcode_only: str = ""        # when set, errcode_next counts only calls to paths ending with this
    lose_next: int = 0            # the next n calls time out and are NOT delivered (sleep timeout_seconds, then 504)
    visible_count: int = 0        # people the app is visible to: > 1000 makes an unfiltered groupchat/list fail
    url: str = ""
    # send limits (see _limits / _dropped)
    user_sends: dict[str, list[float]] = field(default_factory=dict)   # "agentid:touser" -> delivery times
    robot_sends: dict[str, list[float]] = field(default_factory=dict)  # robot key -> delivery times
    template_per_day: int = 1     # mass sends a customer group receives a day (doc 92135: the admin's strictest rule)
    template_counts: dict[str, int] = field(default_factory=dict)     # "chat_id:YYYY-MM-DD" -> mass sends
    response_codes: dict[str, float] = field(default_factory=dict)    # response_code -> when it was issued
    used_response_codes: set[str] = field(default_factory=set)
    # -- the AI bot's pictures (see "AI bot media" below) --
    aibot_files: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {data (encrypted), expires}
    media_clock: Callable[[], float] = time.time   # the pictures' clock (url expiry): tests point it at a FrozenClock
    # -- 微信客服 (kf, issue 17; see "微信客服" below) --
    kf_clock: Callable[[], float] = time.time      # the 48 h window's and the welcome_code's clock
    kf_messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # open_kfid -> msg_list, in order
    kf_tokens: dict[str, float] = field(default_factory=dict)        # callback Token -> when issued (10 minutes)
    kf_page_size: int = 1000                        # sync_msg answers at most this many a page (a test makes it 2)
    kf_last_customer: dict[str, float] = field(default_factory=dict)  # "open_kfid:userid" -> their last message
    kf_sends: dict[str, int] = field(default_factory=dict)            # "open_kfid:userid" -> sends since then
    kf_refused: list[Received] = field(default_factory=list)          # send_msg calls WeCom refused (the window)
    kf_welcome_codes: dict[str, float] = field(default_factory=dict)  # welcome_code -> when issued (20 s, once)
    kf_states: dict[str, dict[str, Any]] = field(default_factory=dict)  # "open_kfid:userid" -> state, servicer
    kf_links: dict[str, str] = field(default_factory=dict)            # scene -> url (add_contact_way)
    # -- the JS-SDK's app ticket (see "jsapi ticket" below) --
    agent_tickets: dict[str, float] = field(default_factory=dict)   # ticket -> when it expires
    agent_ticket_calls: int = 0

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

    # -- send limits: control and inspection ------------------------------------------------------
    def response_url(self, code: str) -> str:
        """A response_url as the AI bot's callback carries it (doc 101138), issued now: valid one hour, one use."""
        with self._lock:
            self.response_codes[code] = time.time()
        return f"{self.url}/cgi-bin/aibot/response?response_code={code}"

    def age_response_url(self, code: str, seconds: float) -> None:
        """Make a response_url `seconds` older (WeCom's hour runs on its own clock)."""
        with self._lock:
            self.response_codes[code] -= seconds

    def replies(self, code: str) -> list[Received]:
        """What reached the chat through one response_url."""
        return [r for r in self.sent("/cgi-bin/aibot/response") if r.args.get("response_code") == code]

    def dropped(self, path_suffix: str = "/cgi-bin/message/send") -> list[Received]:
        """Sends WeCom answered ok but never delivered (over a member's per-minute or per-hour limit)."""
        return [r for r in self.received if r.path.endswith(path_suffix) and r.args.get("_dropped") == "1"]

    def preload_user_sends(self, touser: str, count: int, seconds_ago: float, agentid: int = 1000002) -> None:
        """Stand for `count` app messages delivered to `touser` `seconds_ago` (to reach the hour limit quickly)."""
        with self._lock:
            self.user_sends.setdefault(f"{agentid}:{touser}", []).extend([time.time() - seconds_ago] * count)

    def new_day(self) -> None:
        """A new day for the customer groups' mass-send caps."""
        with self._lock:
            self.template_counts.clear()

    def mass_sent_by_hand(self, chat_id: str) -> None:
        """A member mass-sent to a customer group from the client today: it counts toward the group's cap."""
        with self._lock:
            key = f"{chat_id}:{time.strftime('%Y-%m-%d')}"
            self.template_counts[key] = self.template_counts.get(key, 0) + 1

    def _limits(self, path: str, args: dict[str, str], body: dict[str, Any]) -> dict[str, Any] | None:
        """WeCom's refusals on the send endpoints, or None. Sources: doc numbers of
        developer.work.weixin.qq.com/document/path/N; errcodes marked unverified are the fake's best guess."""
        msgtype = body.get("msgtype")
        content = str((body.get(msgtype) or {}).get("content", "")) if isinstance(msgtype, str) else ""
        size = len(content.encode())
        # doc 90236 / 90248: <= 2,048 bytes; 45002 "content size out of limit" (seen in the wild)
        if path in ("/cgi-bin/message/send", "/cgi-bin/appchat/send") and msgtype in ("text", "markdown") \
                and size > 2048:
            return {"errcode": 45002, "errmsg": "content size out of limit"}
        if path == "/cgi-bin/webhook/send":
            limit = 4096 if msgtype == "markdown" else 2048   # doc 91770: markdown (mentions included), text
            if msgtype in ("text", "markdown") and size > limit:   # 40058: seen for markdown; for text unverified
                return {"errcode": 40058, "errmsg": f"{msgtype}.content exceed max length {limit}"}
            now = time.time()
            sends = [at for at in self.robot_sends.get(args.get("key", ""), []) if at > now - 60]
            if len(sends) >= 20:   # doc 91770: 20 messages a minute per robot; errcode unverified
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
        if path == "/cgi-bin/externalcontact/add_msg_template":
            text = str((body.get("text") or {}).get("content", ""))
            if len(text.encode()) > 4000:   # doc 92135: text <= 4,000 bytes; errcode unverified
                return {"errcode": 45002, "errmsg": "content size out of limit"}
        # The real path is /cgi-bin/aibot/response?response_code= (doc 101138, fake.response_url()).
        if path == "/cgi-bin/aibot/response":
            code = args.get("response_code") or ""
            issued = self.response_codes.get(code, 0.0)   # a code the fake never issued is refused like an old one
            if code in self.used_response_codes or time.time() - issued >= 3600:
                # doc 101138: one use, valid one hour; the errcode is unverified
                return {"errcode": 40029, "errmsg": "invalid response_code (used or expired)"}
            if size > 20480:   # doc 101138: markdown <= 20,480 bytes; errcode unverified
                return {"errcode": 40058, "errmsg": "markdown.content exceed max length 20480"}
        return None

    def _dropped(self, path: str, args: dict[str, str], body: dict[str, Any], result: dict[str, Any]) -> bool:
        """After an ok answer: record the delivery against the limits; True when WeCom would silently drop it
        (message/send over 30 a minute or 1,000 an hour per member per app: doc 90236, 90312)."""
        now = time.time()
        if path == "/cgi-bin/message/send":
            for user in str(body.get("touser", "")).split("|"):
                sends = self.user_sends.setdefault(f"{body.get('agentid')}:{user}", [])
                if len([at for at in sends if at > now - 60]) >= 30 or len([at for at in sends
                                                                             if at > now - 3600]) >= 1000:
                    return True
                sends.append(now)
        if path == "/cgi-bin/webhook/send":
            self.robot_sends.setdefault(args.get("key", ""), []).append(now)
        if path == "/cgi-bin/aibot/response":
            self.used_response_codes.add(args.get("response_code") or "")
        if path == "/cgi-bin/externalcontact/add_msg_template":
            day = time.strftime("%Y-%m-%d", time.localtime(now))
            fail = []
            for chat in body.get("chat_id_list") or []:
                key = f"{chat}:{day}"
                if self.template_counts.get(key, 0) >= self.template_per_day:
                    fail.append(chat)   # doc 92135: over its cap a group receives no more mass sends
                else:
                    self.template_counts[key] = self.template_counts.get(key, 0) + 1
            result["fail_list"] = fail
        return False

    # -- the server -----------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/aibot/media/"):
            return self._aibot_media(request)(environ, start_response)
        refused = self._refuse(request)
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

    # -- configuration faults and told errcodes -------------------------------------------------------
    ERRMSGS = {  # WeCom's errmsg texts (global error codes, doc 90313); "from ip" as WeCom appends it
        -1: "system busy", 40001: "invalid credential", 48002: "api forbidden",
        60020: "not allow to access from your ip", 301002: "not allow operate another agent with this accesstoken.",
        93000: "invalid webhook url",
    }

    def _refuse(self, request: Request) -> Response | None:
        """60020 for an API call from an IP not in trusted_ips (apps created after 2022-06-20 must list them;
        gettoken is not checked), or the next told errcode. The request is recorded, not delivered."""
        path = request.path
        if path == "/cgi-bin/gettoken":
            return None
        code = None
        with self._lock:
            lose, self.lose_next = self.lose_next > 0, max(self.lose_next - 1, 0)
            if lose:
                self.received.append(Received(path, dict(request.args), {"_lost": True}))
        if lose:
            time.sleep(self.timeout_seconds)
            return Response("gateway timeout", status=504)
        with self._lock:
            needs_ip = path.startswith("/cgi-bin/") and not path.startswith("/cgi-bin/webhook/")
            if needs_ip and self.trusted_ips is not None and request.remote_addr not in self.trusted_ips:
                code = 60020
            elif self.errcode_next and (not self.errcode_only or path.endswith(self.errcode_only)):
                code = self.errcode_next.pop(0)
            if code is None:
                return None
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                body = {}
            self.received.append(Received(path, dict(request.args), body))
        errmsg = (f"{self.ERRMSGS.get(code, 'error')}, hint: [{uuid.uuid4().hex[:24]}], from ip: "
                  f"{request.remote_addr}, more info at https://open.work.weixin.qq.com/devtool/query?e={code}")
        return self._json({"errcode": code, "errmsg": errmsg})

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
        needs_token = (path.startswith("/cgi-bin/") and not path.startswith("/cgi-bin/webhook/")
                       and path != "/cgi-bin/aibot/response")   # a response_url carries its own code
        if needs_token and args.get("access_token") not in self.tokens:
            return self._json({"errcode": 42001, "errmsg": "access_token expired"})
        if limited:
            return self._json({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
        if hold:
            time.sleep(hold)
        with self._lock:
            if path == "/cgi-bin/ticket/get":
                result = self._agent_ticket(args)
            elif path == "/cgi-bin/media/upload":
                result = self._upload(body, upload)
            else:
                result = self._limits(path, args, body) or self._route(
                    path, {**body, "_code": args.get("code", "")} if "code" in args else body)
            if result.get("errcode") == 0 and not result.pop("_duplicate", False):
                record.args["_dropped" if self._dropped(path, args, body, result) else "_ok"] = "1"
        if slow:  # delivered, but the answer comes too late for the client
            time.sleep(self.timeout_seconds)
        return self._json(result)

    # -- jsapi ticket ---------------------------------------------------------------------------------
    AGENT_TICKET_LIFETIME = 7200

    def _agent_ticket(self, args: dict[str, str]) -> dict[str, Any]:
        """ticket/get?type=agent_config (doc 90506 获取应用的jsapi_ticket): with a valid access_token (checked before
        this), a ticket valid 7,200 s. Another `type` is refused (40058 invalid parameter: the errcode unverified)."""
        if args.get("type") != "agent_config":
            return {"errcode": 40058, "errmsg": "invalid parameter: type must be agent_config"}
        self.agent_ticket_calls += 1
        ticket = "kgt8ON7yVITDhtdwci0qe" + uuid.uuid4().hex
        self.agent_tickets[ticket] = time.time() + self.AGENT_TICKET_LIFETIME
        return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": self.AGENT_TICKET_LIFETIME}

    def valid_agent_ticket(self, ticket: str) -> bool:
        return self.agent_tickets.get(ticket, 0) > time.time()

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
        if path.startswith("/cgi-bin/kf/"):
            return self._kf_route(path, body)
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
        if path == "/cgi-bin/aibot/response":
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

    # -- AI bot media -----------------------------------------------------------------------------
    # Doc 100719 (接收消息, 结构体说明 › 图片): an image or mixed message carries `image.url`, a download url valid five
    # minutes, of a file encrypted like the callback body (doc 101033): AES-256-CBC, key = base64(EncodingAESKey+"="),
    # IV = key[:16], PKCS#7 padding. What WeCom answers for an expired url is not documented (unverified): here 403,
    # so a client must take any non-200 as "not kept".
    AIBOT_MEDIA_LIFETIME = 300

    def aibot_image(self, data: bytes, aes_key43: str, lifetime: float | None = None) -> str:
        """Encrypt `data` as WeCom does and serve it; returns the url an AI bot message would carry."""
        key = base64.b64decode(aes_key43 + "=")
        pad = 32 - len(data) % 32
        raw = data + bytes([pad]) * pad
        enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        media_id = uuid.uuid4().hex
        with self._lock:
            self.aibot_files[media_id] = {
                "data": enc.update(raw) + enc.finalize(),
                "expires": self.media_clock() + (self.AIBOT_MEDIA_LIFETIME if lifetime is None else lifetime)}
        return f"{self.url}/aibot/media/{media_id}"

    def media_downloads(self) -> list[Received]:
        return [r for r in self.received if r.path.startswith("/aibot/media/")]

    def _aibot_media(self, request: Request) -> Response:
        with self._lock:
            self.received.append(Received(request.path, dict(request.args), {}))
            file = self.aibot_files.get(request.path.rsplit("/", 1)[-1])
            if request.method != "GET":
                return Response("method not allowed", status=405)
            if file is None:
                return Response("not found", status=404)
            if self.media_clock() > file["expires"]:
                return Response("url expired", status=403)
            if self.fail_next > 0 and request.path.endswith(self.fail_only or "/"):   # a hiccup of the file server
                self.fail_next -= 1
                return Response("bad gateway", status=502)
            return Response(file["data"], status=200, mimetype="application/octet-stream")


    # -- 微信客服 (kf) ------------------------------------------------------------------------------
    # Doc 94665 add_contact_way: {open_kfid, scene <= 32 bytes of [0-9a-zA-Z_-]} -> {url}; the scene comes back as
    # scene_param in enter_session. Doc 94670 sync_msg: {cursor, token, limit <= 1000, open_kfid} -> {next_cursor,
    # has_more, msg_list}; the callback's token is valid 10 minutes. Doc 94677 send_msg: within 48 hours after the
    # resident's last message, at most 5 per message of theirs; msgtype text (<= 2,048 bytes) or msgmenu. Doc 95122
    # send_msg_on_event: the enter_session welcome_code, 20 seconds, once. Doc 94669 service_state get/trans.
    # The errcodes WeCom gives for a send outside the window and for a used/expired welcome_code are not confirmed
    # (unverified): the fake answers 95001 and 95002 (invalid code); gridbot never relies on them (it counts itself).
    KF_WINDOW = 48 * 3600
    KF_SENDS = 5
    KF_WELCOME_TTL = 20
    KF_TOKEN_TTL = 600

    def kf_callback_token(self) -> str:
        """A Token as the kf_msg_or_event callback carries it (valid 10 minutes for sync_msg)."""
        token = "ENC" + uuid.uuid4().hex
        with self._lock:
            self.kf_tokens[token] = self.kf_clock()
        return token

    def _kf_add(self, open_kfid: str, item: dict[str, Any]) -> dict[str, Any]:
        item = {"msgid": uuid.uuid4().hex, "open_kfid": open_kfid, "send_time": int(self.kf_clock()), **item}
        with self._lock:
            self.kf_messages.setdefault(open_kfid, []).append(item)
        return item

    def kf_enter(self, open_kfid: str, userid: str, scene_param: str) -> str:
        """The resident opens the chat from a link (enter_session, origin 4): returns the welcome_code."""
        code = "WC" + uuid.uuid4().hex
        with self._lock:
            self.kf_welcome_codes[code] = self.kf_clock()
            self.kf_states.setdefault(f"{open_kfid}:{userid}", {"service_state": 0, "servicer_userid": ""})
        self._kf_add(open_kfid, {"external_userid": userid, "origin": 4, "msgtype": "event", "event": {
            "event_type": "enter_session", "open_kfid": open_kfid, "external_userid": userid, "scene": "grid",
            "scene_param": scene_param, "welcome_code": code}})
        return code

    def kf_write(self, open_kfid: str, userid: str, text: str, menu_id: str | None = None,
                 msgtype: str = "text", obj: dict[str, Any] | None = None) -> dict[str, Any]:
        """The resident writes (origin 3): the window opens again for 48 h and 5 sends."""
        key = f"{open_kfid}:{userid}"
        with self._lock:
            self.kf_last_customer[key] = self.kf_clock()
            self.kf_sends[key] = 0
        body = obj if obj is not None else {"content": text, **({"menu_id": menu_id} if menu_id else {})}
        return self._kf_add(open_kfid, {"external_userid": userid, "origin": 3, "msgtype": msgtype, msgtype: body})

    def kf_end(self, open_kfid: str, userid: str) -> None:
        """The person ends the session in WeCom (session_status_change change_type 3)."""
        with self._lock:
            self.kf_states[f"{open_kfid}:{userid}"] = {"service_state": 4, "servicer_userid": ""}
        self._kf_add(open_kfid, {"external_userid": userid, "origin": 4, "msgtype": "event", "event": {
            "event_type": "session_status_change", "open_kfid": open_kfid, "external_userid": userid,
            "change_type": 3}})

    def kf_delivered(self, userid: str) -> list[dict[str, Any]]:
        """What the resident saw: the send_msg and send_msg_on_event calls WeCom accepted, to this resident."""
        out = []
        for r in self.received:
            if r.args.get("_ok") != "1":
                continue
            to = r.body.get("touser") if r.path == "/cgi-bin/kf/send_msg" else r.body.get("_touser")
            if r.path in ("/cgi-bin/kf/send_msg", "/cgi-bin/kf/send_msg_on_event") and to == userid:
                out.append(r.body)
        return out

    def _kf_route(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        ok = {"errcode": 0, "errmsg": "ok"}
        now = self.kf_clock()
        if path == "/cgi-bin/kf/add_contact_way":
            scene = str(body.get("scene") or "")
            if len(scene.encode()) > 32 or any(not (c.isascii() and (c.isalnum() or c in "_-")) for c in scene):
                return {"errcode": 40058, "errmsg": "invalid scene"}   # doc 94665: <= 32 bytes, [0-9a-zA-Z_-]
            url = f"https://work.weixin.qq.com/kfid/kfc{uuid.uuid4().hex[:16]}?enc_scene={scene}"
            self.kf_links[scene] = url
            return {**ok, "url": url}
        if path == "/cgi-bin/kf/sync_msg":
            token = body.get("token")
            if token is not None and now - self.kf_tokens.get(str(token), -1e18) > self.KF_TOKEN_TTL:
                return {"errcode": 95007, "errmsg": "invalid msg token"}
            limit = int(body.get("limit") or 1000)
            if not 1 <= limit <= 1000:
                return {"errcode": 40058, "errmsg": "invalid limit"}
            items = self.kf_messages.get(str(body.get("open_kfid") or ""), [])
            start = int(str(body.get("cursor") or "c0")[1:])
            end = min(start + min(limit, self.kf_page_size), len(items))
            return {**ok, "next_cursor": f"c{end}", "has_more": int(end < len(items)),
                    "msg_list": items[start:end]}
        if path == "/cgi-bin/kf/send_msg":
            key = f"{body.get('open_kfid')}:{body.get('touser')}"
            last = self.kf_last_customer.get(key)
            if last is None or now - last > self.KF_WINDOW or self.kf_sends.get(key, 0) >= self.KF_SENDS:
                self.kf_refused.append(Received(path, {}, body))
                return {"errcode": 95001, "errmsg": "send msg out of limit (48 h / 5 messages)"}
            if self.kf_states.get(key, {}).get("service_state") == 3:
                self.kf_refused.append(Received(path, {}, body))
                return {"errcode": 95001, "errmsg": "session is served by a person"}
            if body.get("msgtype") not in ("text", "msgmenu", "image", "voice", "video", "file", "link", "location"):
                return {"errcode": 40008, "errmsg": "invalid message type"}
            if body.get("msgtype") == "text" and len(str((body.get("text") or {}).get("content", "")).encode()) > 2048:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
            self.kf_sends[key] = self.kf_sends.get(key, 0) + 1
            return {**ok, "msgid": uuid.uuid4().hex}
        if path == "/cgi-bin/kf/send_msg_on_event":
            code = str(body.get("code") or "")
            issued = self.kf_welcome_codes.pop(code, None)
            if issued is None or now - issued > self.KF_WELCOME_TTL:
                return {"errcode": 95002, "errmsg": "invalid welcome code"}
            for items in self.kf_messages.values():   # whom the code was for, so a test can read what they saw
                for item in items:
                    if (item.get("event") or {}).get("welcome_code") == code:
                        body["_touser"] = item["external_userid"]
            return {**ok, "msgid": uuid.uuid4().hex}
        if path == "/cgi-bin/kf/service_state/get":
            state = self.kf_states.get(f"{body.get('open_kfid')}:{body.get('external_userid')}",
                                       {"service_state": 0, "servicer_userid": ""})
            return {**ok, **state}
        if path == "/cgi-bin/kf/service_state/trans":
            if body.get("service_state") == 3 and not body.get("servicer_userid"):
                return {"errcode": 95014, "errmsg": "servicer_userid required"}   # unverified errcode
            self.kf_states[f"{body.get('open_kfid')}:{body.get('external_userid')}"] = {
                "service_state": body.get("service_state"), "servicer_userid": body.get("servicer_userid") or ""}
            return {**ok, "msg_code": uuid.uuid4().hex}
        return {"errcode": 404, "errmsg": f"fake WeCom has no {path}"}
