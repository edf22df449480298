"""A sliding-window rate limiter shared by every worker through Redis (in-process without Redis).

WeCom silently drops app messages over the per-member limit and refuses robot messages over 20/min, so we
hold back instead: acquire() says how long to wait, and the outbox reschedules the row for then.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from typing import Any

from ..senders import TemporaryFailure

ROBOT_PER_MINUTE = 20        # group robot webhook: 20 messages / minute / robot (doc 91770)
USER_PER_MINUTE = 30         # app message to one member: doc 90236 says 30/min; WECOM.md quotes 200 — take the lower
APPCHAT_PER_MINUTE = 20      # appchat: conservative, like a robot

# KEYS[1] zset of send times; ARGV: now (ms), window (ms), limit, member. Returns ms to wait (0 = go).
_LUA = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimited(TemporaryFailure):
    """Held back by our own limiter or WeCom's: wait, and do not count it as a failed try."""

    rate_limited = True


class RateLimiter:
    def __init__(self, redis_conn: Any = None, prefix: str = "gridbot:"):
        self.redis = redis_conn
        self.prefix = prefix
        self._script = redis_conn.register_script(_LUA) if redis_conn is not None else None
        self._local: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        if self.redis is not None:
            sec, usec = self.redis.time()  # one clock for every worker
            return sec * 1000 + usec // 1000
        return int(time.time() * 1000)

    def acquire(self, name: str, limit: int, window: float = 60.0) -> float:
        """Take one slot of `name`; returns 0.0 if taken, else the seconds until a slot frees (nothing taken)."""
        window_ms = int(window * 1000)
        now = self._now_ms()
        if self._script is not None:
            wait_ms = self._script(keys=[f"{self.prefix}wecom:rate:{name}"],
                                   args=[now, window_ms, limit, f"{now}-{uuid.uuid4().hex[:8]}"])
            return int(wait_ms) / 1000.0
        with self._lock:
            q = self._local[name]
            while q and q[0] <= now - window_ms:
                q.popleft()
            if len(q) < limit:
                q.append(now)
                return 0.0
            return max(1, q[0] + window_ms - now) / 1000.0

    def check(self, name: str, limit: int, window: float = 60.0) -> None:
        """acquire(), raising RateLimited(retry_after) when the slot is not free."""
        wait = self.acquire(name, limit, window)
        if wait > 0:
            raise RateLimited(f"rate limit {limit}/{int(window)}s reached for {name.split(':')[0]}",
                              retry_after=wait)
