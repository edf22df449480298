"""A small WeCom API client: the access_token is cached in Redis, shared by all processes, fetched under a lock
and fetched again when WeCom revokes it; errors become TemporaryFailure / PermanentFailure / RateLimited.

wechatpy's WeChatClient caches tokens too, but without a cross-process lock and with no group-robot webhook:
the calls we need are a handful of JSON POSTs, so they are made here with requests.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from ..senders import PermanentFailure, TemporaryFailure
from .ratelimit import RateLimited

log = logging.getLogger(__name__)

TOKEN_ERRCODES = {40014, 42001, 40001}   # invalid / expired / revoked access_token: fetch a new one
BUSY_ERRCODES = {-1, 45033}              # system busy, too many concurrent calls: try later
RATE_ERRCODES = {45009, 45011, 45047}    # API frequency / quota limits: wait
UPLOAD_TIMEOUT = 30.0                    # seconds for a media upload (up to 10 MB), whatever the API timeout
TOKEN_MARGIN = 300                       # forget a token this many seconds before WeCom says it expires


class AmbiguousFailure(TemporaryFailure):
    """WeCom may or may not have delivered (the answer timed out): re-sending could post twice."""

    ambiguous = True


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
            if code in BUSY_ERRCODES or code in RATE_ERRCODES:
                raise TemporaryFailure(f"gettoken: errcode {code}", retry_after=30)
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
    def _check(path: str, data: dict) -> dict:
        code = int(data.get("errcode") or 0)
        if code == 0:
            return data
        where = path.rsplit("/", 2)[-2:]
        if code in RATE_ERRCODES:
            raise RateLimited(f"WeCom {'/'.join(where)}: rate limited (errcode {code})", retry_after=60)
        if code in BUSY_ERRCODES:
            raise TemporaryFailure(f"WeCom {'/'.join(where)}: busy (errcode {code})")
        raise PermanentFailure(f"WeCom {'/'.join(where)}: errcode {code} {data.get('errmsg', '')[:120]}")

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
                                                               params={"key": key}, body=body))

    def post_url(self, url: str, body: dict) -> dict:
        """An AI bot response_url (one use)."""
        return self._check("/aibot/response_url", self._http("POST", url, body=body))


class _HasClient(Protocol):
    wecom_client: WeComClient


def client_for(app: _HasClient) -> WeComClient:
    """The app's client (bootstrap makes one per app: it holds an HTTP connection pool and the token cache)."""
    return app.wecom_client
