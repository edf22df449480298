"""A small WeCom API client: the access_token is cached in Redis, shared by all processes, fetched under a lock
and fetched again when WeCom revokes it; errors become TemporaryFailure / PermanentFailure / RateLimited, and
the errcodes that mean a misconfigured app (CONFIG_ERRCODES) a ConfigurationFault naming the channel and the fix.

wechatpy's WeChatClient caches tokens too, but without a cross-process lock and with no group-robot webhook:
the calls we need are a handful of JSON POSTs, so they are made here with requests.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from ..senders import ConfigurationFault, PermanentFailure, TemporaryFailure
from .ratelimit import RateLimited

log = logging.getLogger(__name__)

TOKEN_ERRCODES = {40014, 42001, 40001}   # invalid / expired / revoked access_token: fetch a new one
BUSY_ERRCODES = {-1, 45033}              # system busy, too many concurrent calls: try later
SYSTEM_BUSY = -1                         # WeCom: "建议重试次数不超过3次" (global error codes, doc 90313)

# Errcodes that are the app's configuration, not the message: every row of the channel would fail the same way,
# so the channel stops and an operator is told what to fix (pipeline/delivery.py holds the rows).
# Sources: WeCom's global error codes (developer.work.weixin.qq.com/document/path/90313, mirrored in WxJava's
# WxCpErrorMsgEnum); 301002 "not allow operate another agent with this accesstoken" (agentid of another app than
# the secret's: developers.weixin.qq.com/community/enterprisewechat/doc/000446b0f1802886278972a2c51400);
# 60020's errmsg carries "from ip: x.x.x.x" (github.com/easychen/wecomchan/issues/62); 93000 "invalid webhook url"
# for a robot key that is wrong or whose robot was removed (github.com/qd-today/qd/issues/586).
# Left out on purpose: 41001 (access_token missing) is a bug of ours, not a setting; 40014/42001 refetch the token.
APP_WIDE_ERRCODES: dict[int, str] = {    # the whole app (its token) is unusable, whatever the API
    40001: "invalid secret: check GRIDBOT_WECOM_SECRET (the app's Secret, 应用管理 → the app → Secret)",
    40013: "invalid corp id: check GRIDBOT_WECOM_CORP_ID (我的企业 → 企业ID)",
    40091: "the secret belongs to another corp: check GRIDBOT_WECOM_SECRET and GRIDBOT_WECOM_CORP_ID",
    40056: "invalid agent id: check GRIDBOT_WECOM_AGENT_ID (the app's AgentId)",
    301002: "GRIDBOT_WECOM_AGENT_ID is not the app whose GRIDBOT_WECOM_SECRET is set: use the AgentId and Secret of "
            "the same app",
    50003: "the app is disabled: enable it in 应用管理",
    60020: "WeCom refuses calls from this server: add {ip} to the app's trusted IPs (应用管理 → the app → 企业可信IP)",
}
API_ERRCODES: dict[int, str] = {         # this API (this channel) is closed to the app
    48001: "API not authorized for this app ({where}): grant the app the permission in 应用管理",
    48002: "API forbidden ({where}): for externalcontact list the app under 客户联系 → 可调用应用; otherwise grant "
           "the app this API's permission",
    60011: "no privilege ({where}): widen the app's visible range (可见范围) to the members and groups it sends to",
    93000: "invalid robot webhook key ({where}): the group's robot was removed or its key is wrong; set "
           "grid_chats.robot_key again",
}
CONFIG_ERRCODES = set(APP_WIDE_ERRCODES) | set(API_ERRCODES)
APP_CHANNEL = "wecom_app"
FROM_IP = re.compile(r"from ip:\s*([0-9A-Fa-f.:]+)")
RATE_ERRCODES = {45009, 45011, 45047}    # API frequency / quota limits: wait
UPLOAD_TIMEOUT = 30.0                    # seconds for a media upload (up to 10 MB), whatever the API timeout
TOKEN_MARGIN = 300                       # forget a token this many seconds before WeCom says it expires


class AmbiguousFailure(TemporaryFailure):
    """WeCom may or may not have delivered (the answer timed out): re-sending could post twice."""

    ambiguous = True


class SystemBusy(TemporaryFailure):
    """WeCom's -1: worth a retry, but not many (delivery gives up after BUSY_RETRIES)."""

    system_busy = True


def calling_ip(errmsg: str) -> str | None:
    """The IP WeCom saw us call from, as its errmsg says ("..., from ip: 1.2.3.4, more info at ...")."""
    found = FROM_IP.search(errmsg or "")
    return found.group(1).rstrip(".") if found else None


def channel_of(path: str) -> str:
    """The sending channel a WeCom API path belongs to (a fault on one does not stop the others)."""
    if "/appchat/" in path:
        return "appchat"
    if "/externalcontact/" in path:
        return "externalcontact"
    return APP_CHANNEL


def robot_channel(key: str) -> str:
    """A group robot's channel: its key hashed (the key is a secret)."""
    return "robot:" + hashlib.sha1(key.encode()).hexdigest()[:16]


def config_fault(channel: str, where: str, code: int, errmsg: str) -> ConfigurationFault | None:
    """The ConfigurationFault an errcode means, or None when it is about the message, not the channel."""
    ip = calling_ip(errmsg)
    if code in APP_WIDE_ERRCODES:
        return ConfigurationFault(APP_CHANNEL, code, APP_WIDE_ERRCODES[code].format(ip=ip or "this server's IP"),
                                  ip)
    if code in API_ERRCODES:
        return ConfigurationFault(channel, code, API_ERRCODES[code].format(where=where), ip)
    return None


class WeComError(Exception):
    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeComClient:
    def __init__(self, api_base: str, corp_id: str | None, secret: str | None, redis_conn: Any = None,
                 prefix: str = "gridbot:", timeout: float = 5.0, http: requests.Session | None = None):
        self.api_base = api_base.rstrip("/")
        self.corp_id = corp_id
        self.secret = secret
        self.redis = redis_conn
        self.prefix = prefix
        self.timeout = timeout
        self.http = http or requests.Session()
        self._local_token: tuple[str, float] | None = None
        self._local_lock = threading.Lock()

    # -- access_token -----------------------------------------------------------------------------
    @property
    def _token_key(self) -> str:
        return f"{self.prefix}wecom:token:{self.corp_id}:{(self.secret or '')[-6:]}"

    def _cached(self) -> str | None:
        if self.redis is not None:
            value = self.redis.get(self._token_key)
            return value.decode() if value else None
        if self._local_token and self._local_token[1] > time.monotonic():
            return self._local_token[0]
        return None

    def token(self, stale: str | None = None) -> str:
        """A valid access_token. `stale` is one WeCom just refused: it is not handed out again."""
        cached = self._cached()
        if cached and cached != stale:
            return cached
        if self.redis is not None:
            with self.redis.lock(self._token_key + ":lock", timeout=15, blocking_timeout=15):
                cached = self._cached()  # another process may have fetched it while we waited
                if cached and cached != stale:
                    return cached
                token, ttl = self._fetch_token()
                self.redis.set(self._token_key, token, ex=max(ttl - TOKEN_MARGIN, 60))
                return token
        with self._local_lock:
            cached = self._cached()
            if cached and cached != stale:
                return cached
            token, ttl = self._fetch_token()
            self._local_token = (token, time.monotonic() + max(ttl - TOKEN_MARGIN, 60))
            return token

    def _fetch_token(self) -> tuple[str, int]:
        if not (self.corp_id and self.secret):
            raise PermanentFailure("WeCom API not configured: set GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
        data = self._http("GET", "/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
        if data.get("errcode"):
            code = int(data["errcode"])
            if code == SYSTEM_BUSY:
                raise SystemBusy(f"gettoken: system busy (errcode {code})", retry_after=30)
            if code in BUSY_ERRCODES or code in RATE_ERRCODES:
                raise TemporaryFailure(f"gettoken: errcode {code}", retry_after=30)
            fault = config_fault(APP_CHANNEL, "gettoken", code, str(data.get("errmsg") or ""))
            if fault is not None:
                raise fault
            raise PermanentFailure(f"gettoken refused (errcode {code}): check GRIDBOT_WECOM_CORP_ID and "
                                   "GRIDBOT_WECOM_SECRET")
        log.info("fetched a new WeCom access_token")
        return data["access_token"], int(data.get("expires_in") or 7200)

    def forget_token(self) -> None:
        if self.redis is not None:
            self.redis.delete(self._token_key)
        self._local_token = None

    # -- calls ------------------------------------------------------------------------------------
    def _http(self, method: str, path_or_url: str, params: dict | None = None, body: dict | None = None,
              files: dict | None = None) -> dict:
        url = path_or_url if path_or_url.startswith("http") else self.api_base + path_or_url
        try:
            resp = self.http.request(method, url, params=params, files=files,
                                     data=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                                     headers={"Content-Type": "application/json"} if body is not None else None,
                                     timeout=max(self.timeout, UPLOAD_TIMEOUT) if files else self.timeout)
        except requests.ConnectTimeout:
            raise TemporaryFailure("WeCom: connection timed out (nothing sent)") from None
        except requests.Timeout:
            raise AmbiguousFailure(f"WeCom {self._where(path_or_url)}: no answer within {self.timeout} s "
                                   "(it may have been delivered)") from None
        except requests.RequestException as exc:
            raise TemporaryFailure(f"WeCom unreachable: {type(exc).__name__}") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TemporaryFailure(f"WeCom answered HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise PermanentFailure(f"WeCom answered HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise TemporaryFailure("WeCom answered something that is not JSON") from None

    @staticmethod
    def _where(path_or_url: str) -> str:
        return "/".join(path_or_url.split("?")[0].rstrip("/").rsplit("/", 2)[-2:])

    @staticmethod
    def _check(path: str, data: dict, channel: str | None = None) -> dict:
        code = int(data.get("errcode") or 0)
        if code == 0:
            return data
        where = "/".join(path.rsplit("/", 2)[-2:])
        if code in RATE_ERRCODES:
            raise RateLimited(f"WeCom {where}: rate limited (errcode {code})", retry_after=60)
        if code in BUSY_ERRCODES:
            if code == SYSTEM_BUSY:
                raise SystemBusy(f"WeCom {where}: system busy (errcode {code})")
            raise TemporaryFailure(f"WeCom {where}: busy (errcode {code})")
        fault = config_fault(channel or channel_of(path), where, code, str(data.get("errmsg") or ""))
        if fault is not None:
            raise fault
        raise PermanentFailure(f"WeCom {where}: errcode {code} {str(data.get('errmsg', ''))[:120]}")

    def call(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        """An authenticated API call; a revoked token is replaced and the call made once more."""
        return self._authed(path, lambda token: self._http(method, path, params={"access_token": token}, body=body))

    def upload_media(self, data: bytes, filename: str, kind: str = "image") -> str:
        """media/upload (multipart, field "media"): the media_id, valid 3 days, for message/send or appchat/send."""
        path = "/cgi-bin/media/upload"
        mime = "image/png" if filename.lower().endswith(".png") else "application/octet-stream"
        result = self._authed(path, lambda token: self._http(
            "POST", path, params={"access_token": token, "type": kind}, files={"media": (filename, data, mime)}))
        if not result.get("media_id"):
            raise TemporaryFailure("WeCom media/upload answered without a media_id")
        return str(result["media_id"])

    def _authed(self, path: str, request: Callable[[str], dict]) -> dict:
        """request(token) with the cached token; a revoked one is replaced and the request made once more."""
        token = self.token()
        data = request(token)
        if int(data.get("errcode") or 0) in TOKEN_ERRCODES:
            log.warning("WeCom refused the access_token (errcode %s): fetching a new one", data.get("errcode"))
            token = self.token(stale=token)
            data = request(token)
            if int(data.get("errcode") or 0) in TOKEN_ERRCODES:
                self.forget_token()
                raise TemporaryFailure(f"WeCom refused a fresh access_token (errcode {data.get('errcode')})")
        return self._check(path, data)

    def webhook(self, key: str, body: dict) -> dict:
        """Group robot webhook (no access_token; the key is the secret)."""
        return self._check("/cgi-bin/webhook/send", self._http("POST", "/cgi-bin/webhook/send",
                                                               params={"key": key}, body=body), robot_channel(key))

    def post_url(self, url: str, body: dict) -> dict:
        """An AI bot response_url (one use)."""
        return self._check("/aibot/response_url", self._http("POST", url, body=body), "aibot")


class _HasClient(Protocol):
    wecom_client: WeComClient


def client_for(app: _HasClient) -> WeComClient:
    """The app's client (bootstrap makes one per app: it holds an HTTP connection pool and the token cache)."""
    return app.wecom_client
