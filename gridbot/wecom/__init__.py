"""The WeCom server API: the client (access_token shared in Redis) and the rate limiter shared by workers."""
from .client import WeComClient, WeComError, client_for
from .ratelimit import RateLimited, RateLimiter

__all__ = ["WeComClient", "WeComError", "client_for", "RateLimited", "RateLimiter"]
