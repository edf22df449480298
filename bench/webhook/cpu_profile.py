"""Where the webhook's CPU goes: bare vs gridbot per request in one process (Flask test client, no HTTP server),
and a CPU-time profile of gridbot's handler split into its parts.

    .venv/bin/python bench/webhook/cpu_profile.py [--requests 500]

Needs the PostgreSQL and Redis of the tests; uses a throw-away database and Redis prefix.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402

PARTS = {
    "store (PostgreSQL INSERT .. ON CONFLICT, pool checkout with pre-ping)": "services/inbound.py:32(store)",
    "RQ job creation": "rq/queue.py:1030(enqueue)",
    "Redis pipeline (RQ job hash + queue push + replay key)": "redis/client.py:2198(execute)",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args()
    os.environ["GRIDBOT_AIBOT_TOKEN"], os.environ["GRIDBOT_AIBOT_AES_KEY"] = bench.TOKEN, bench.AES_KEY
    import bare
    import redis

    from gridbot.bootstrap import build
    from gridbot.config import Settings
    from gridbot.web import create_app

    db = bench.make_database()
    prefix = "prof-" + uuid.uuid4().hex[:6]
    env = {"GRIDBOT_DATABASE_URL": db, "GRIDBOT_REDIS_URL": bench.REDIS_URL, "GRIDBOT_REDIS_PREFIX": prefix + ":",
           "GRIDBOT_QUEUE_PREFIX": prefix, "GRIDBOT_AIBOT_TOKEN": bench.TOKEN, "GRIDBOT_AIBOT_AES_KEY": bench.AES_KEY,
           "GRIDBOT_INSTANCE_DIR": "/tmp/" + prefix, "GRIDBOT_LOG_LEVEL": "WARNING"}
    app = build(Settings.from_env(env))
    try:
        gb_client, bare_client = create_app(gridbot=app).test_client(), bare.app.test_client()
        n = args.requests
        items, _ = bench.payloads(2 * n + 100, 0.001, "prof")
        for query, body in items[:100]:  # warm both (imports, statement caches, pools)
            gb_client.post(f"/wecom/aibot?{query}", data=body)
            bare_client.post(f"/wecom/aibot?{query}", data=body)
        for name, client in (("bare", bare_client), ("gridbot", gb_client)):
            start = time.process_time()
            for query, body in items[100:100 + n]:
                client.post(f"/wecom/aibot?{query}", data=body)
            print(f"{name}: {(time.process_time() - start) / n * 1000:.2f} ms CPU per request (client included)")
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for query, body in items[100 + n:100 + 2 * n]:
            gb_client.post(f"/wecom/aibot?{query}", data=body)
        profiler.disable()
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        cum = {f"{Path(k[0]).parent.name}/{Path(k[0]).name}:{k[1]}({k[2]})": v[3] for k, v in stats.items()}
        handler = next(v for k, v in cum.items() if k.endswith("(_handle)"))
        print(f"gridbot handler under the profiler: {handler / n * 1000:.2f} ms CPU per request; of which")
        for label, key in PARTS.items():
            value = next((v for k, v in cum.items() if k.endswith(key)), 0.0)
            print(f"  {value / handler:5.0%}  {label}")
    finally:
        app.close()
        r = redis.Redis.from_url(bench.REDIS_URL)
        for key in r.scan_iter(match=f"*{prefix}*", count=1000):
            r.delete(key)
        bench.drop_database(db)


if __name__ == "__main__":
    main()
