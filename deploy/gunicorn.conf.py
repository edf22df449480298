"""Gunicorn settings for gridbot's web process:  gunicorn -c deploy/gunicorn.conf.py 'gridbot.web:create_app()'.

Tunables come from the environment (GUNICORN_*; see deploy/.env.example) so compose and systemd share this file.
Why these values:
- gthread workers: a callback is "verify, persist, enqueue, answer 200" in milliseconds, but console pages and
  exports can take longer; threads keep one slow page from blocking the callbacks queued behind it. 8 threads:
  the callbacks a worker holds at once are stored together, one INSERT and one Redis call per batch
  (gridbot/pipeline/intake.py), measured in bench/README.md "Webhook ingestion".
- WeCom waits 5 s for a callback's answer. The hard per-request deadline for /wecom/ is nginx's
  proxy_read_timeout (4 s, deploy/nginx/gridbot.conf). `timeout` here is gunicorn's liveness limit for a
  worker whose main loop stops answering (with gthread it is not a per-request limit), kept short so a hung
  worker is replaced quickly, long enough for a worker to boot on a busy 2-core host.
- The access log never contains query strings: WeCom puts msg_signature, timestamp, nonce and echostr there.
"""
from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: must be an integer") from None
    if value < minimum:
        raise SystemExit(f"{name}={raw!r}: must be >= {minimum}")
    return value


bind = os.environ.get("GUNICORN_BIND") or "0.0.0.0:8000"
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1)
threads = _int("GUNICORN_THREADS", 8)
timeout = _int("GUNICORN_TIMEOUT", 15)            # liveness of a worker's main loop, seconds
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)          # nginx keeps upstream connections open (keepalive 32)
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000, minimum=0)   # recycle workers: bounds slow leaks
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 500, minimum=0)
backlog = _int("GUNICORN_BACKLOG", 2048)
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)

# Requests are small; refuse silly request lines and headers before Flask sees them.
limit_request_line = 4094
limit_request_fields = 64
limit_request_field_size = 8190

# Only nginx talks to gunicorn. Trust its X-Forwarded-Proto (so url_for makes https links) from these
# addresses only: 127.0.0.1 on a host install; compose sets the container network's range.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Logs to stdout/stderr (journald or the container runtime collects them).
accesslog = "-"
errorlog = "-"
loglevel = (os.environ.get("GRIDBOT_LOG_LEVEL") or "info").lower()
# %(U)s is the path WITHOUT the query string (never %(r)s, %(q)s or %(u)s: WeCom signs callbacks in the query).
# %({x-real-ip}i)s is the client address nginx saw; %(M)s the request time in milliseconds.
access_log_format = '%({x-real-ip}i)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

proc_name = "gridbot-web"
# The app opens its database pool and Redis connection per worker, after fork: do not preload.
preload_app = False
