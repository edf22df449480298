"""A sliding-window rate limiter shared by every worker through Redis (in-process without Redis).

WeCom silently drops app messages over the per-member limits and refuses robot messages over 20/min, so we
hold back instead: acquire() says how long to wait, and the outbox reschedules the row for then.
A name may have several windows (30 a minute AND 1,000 an hour): a slot is taken in all of them or in none,
so a send refused by the hour never uses up a minute slot (one Lua script in Redis; one lock in-process).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from ..senders import TemporaryFailure

Windows = Sequence[tuple[int, float]]   # (limit, window in seconds), all of which must have room

# The limits are WeCom's own (WECOM.md "Sending"; doc numbers developer.work.weixin.qq.com/document/path/N).
ROBOT_PER_MINUTE = 20        # group robot webhook: 20 messages / minute / robot (doc 91770)
USER_PER_MINUTE = 30         # app message (message/send) to one member, per app: 30 a minute ... (doc 90236, 90312)
USER_PER_HOUR = 1000         # ... and 1,000 an hour; over either, WeCom answers ok and silently drops the message
APPCHAT_PER_MINUTE = 200     # appchat/send: each member receives at most 200 a minute (doc 90248), excess dropped
ROBOT_WINDOWS: Windows = ((ROBOT_PER_MINUTE, 60.0),)
USER_WINDOWS: Windows = ((USER_PER_MINUTE, 60.0), (USER_PER_HOUR, 3600.0))
APPCHAT_WINDOWS: Windows = ((APPCHAT_PER_MINUTE, 60.0),)

# KEYS: one zset of send times per window; ARGV: now (ms), member, then (window ms, limit) per key.
# Every window is trimmed and counted first; only when all have room is the send recorded in all of them.
# Returns the ms to wait (0 = go): the longest wait among the full windows.
_LUA = """
local now, member = tonumber(ARGV[1]), ARGV[2]
local wait = 0
for i, key in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, 1, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, tonumber(ARGV[1 + 2 * i]))
end
return 0
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

    def key(self, name: str, window: float) -> str:
        """The Redis key of one window of `name` (tests fill it to stand for earlier sends)."""
        return f"{self.prefix}wecom:rate:{name}:{int(window)}s"

    def acquire_all(self, name: str, windows: Windows) -> float:
        """Take one slot of `name` in every window; 0.0 if taken, else the seconds until all have room (nothing
        taken in any of them)."""
        now = self._now_ms()
        if self._script is not None:
            args: list[Any] = [now, f"{now}-{uuid.uuid4().hex[:8]}"]
            for limit, window in windows:
                args += [int(window * 1000), limit]
            wait_ms = self._script(keys=[self.key(name, window) for _limit, window in windows], args=args)
            return int(wait_ms) / 1000.0
        with self._lock:
            wait = 0
            for limit, window in windows:
                q = self._local[f"{name}:{int(window)}s"]
                window_ms = int(window * 1000)
                while q and q[0] <= now - window_ms:
                    q.popleft()
                if len(q) >= limit:
                    wait = max(wait, 1, int(q[0] + window_ms - now))
            if wait:
                return wait / 1000.0
            for _limit, window in windows:
                self._local[f"{name}:{int(window)}s"].append(now)
            return 0.0

    def acquire(self, name: str, limit: int, window: float = 60.0) -> float:
        """One window: acquire_all(name, [(limit, window)])."""
        return self.acquire_all(name, ((limit, window),))

    def check_all(self, name: str, windows: Windows) -> None:
        """acquire_all(), raising RateLimited(retry_after) when a window is full."""
        wait = self.acquire_all(name, windows)
        if wait > 0:
            spelled = " and ".join(f"{limit}/{int(window)}s" for limit, window in windows)
            raise RateLimited(f"rate limit {spelled} reached for {name.split(':')[0]}", retry_after=wait)

    def check(self, name: str, limit: int, window: float = 60.0) -> None:
        """check_all() with one window."""
        self.check_all(name, ((limit, window),))
