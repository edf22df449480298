"""The JS-SDK's agentConfig: the app's jsapi_ticket (cached like the access token) and the page's signature.

The chat toolbar page (gridbot/web/toolbar.py) calls `wx.agentConfig` before `getCurExternalChat` and
`sendChatMessage` (doc 94313: agentConfig injects the app's identity; its signature is computed exactly like
wx.config's, but from the ticket of `/cgi-bin/ticket/get?type=agent_config`, doc 90506 "获取应用的jsapi_ticket").
The ticket is valid 7,200 s and fetching it is capped (400 an hour per corp, 100 per app: doc 90506), so it is
cached in Redis, shared by all processes, and fetched under a lock; without Redis, in this process.
"""
from __future__ import annotations

import hashlib
import threading
import time

from ..senders import TemporaryFailure
from .client import TOKEN_MARGIN, WeComClient

AGENT_TICKET_PATH = "/cgi-bin/ticket/get?type=agent_config"
_local: dict[str, tuple[str, float]] = {}
_local_lock = threading.Lock()


def _key(client: WeComClient) -> str:
    return f"{client.prefix}wecom:jsapi:agent:{client.corp_id}:{(client.secret or '')[-6:]}"


def _fetch(client: WeComClient) -> tuple[str, int]:
    data = client.call(AGENT_TICKET_PATH, method="GET")
    ticket = data.get("ticket")
    if not ticket:
        raise TemporaryFailure("WeCom ticket/get answered without a ticket")
    return str(ticket), int(data.get("expires_in") or 7200)


def agent_ticket(client: WeComClient) -> str:
    """The app's agent_config jsapi_ticket, from the cache or fetched once for every process."""
    key = _key(client)
    if client.redis is not None:
        cached = client.redis.get(key)
        if cached:
            return cached.decode()
        with client.redis.lock(key + ":lock", timeout=15, blocking_timeout=15):
            cached = client.redis.get(key)   # another process may have fetched it while we waited
            if cached:
                return cached.decode()
            ticket, ttl = _fetch(client)
            client.redis.set(key, ticket, ex=max(ttl - TOKEN_MARGIN, 60))
            return ticket
    with _local_lock:
        found = _local.get(key)
        if found and found[1] > time.monotonic():
            return found[0]
        ticket, ttl = _fetch(client)
        _local[key] = (ticket, time.monotonic() + max(ttl - TOKEN_MARGIN, 60))
        return ticket


def signature(ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    """sha1 of "jsapi_ticket=..&noncestr=..&timestamp=..&url=.." with raw (unescaped) values, the url without its
    #fragment (附录-JS-SDK使用权限签名算法, doc 90506)."""
    page = url.split("#", 1)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(plain.encode()).hexdigest()
