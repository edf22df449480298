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

import run as bench

PARTS = {  # label -> (file, function) pairs whose cumulative CPU is that part
    "verify + decrypt (wechatpy)": [("adapters/wecom_crypto.py", "open_json")],
    "decode to an Inbound, bound-chat check": [("adapters/wecom_aibot.py", "decode"),
                                               ("pipeline/receive.py", "known_or_binding")],
    "row values (payload dict)": [("pipeline/store.py", "row_values")],
    "store: INSERT .. ON CONFLICT (one per batch on PostgreSQL + RQ)": [("pipeline/intake.py", "_store_batch"),
                                                                       ("pipeline/store.py", "store")],
    "RQ job creation": [("rq/queue.py", "enqueue")],
    "Redis: replay keys and pending ids (one script call per batch)": [("pipeline/intake.py", "_enqueue"),
                                                                       ("redis/client.py", "execute")],
}


def _profile_concurrently(app, flask_app, items, threads: int) -> pstats.Stats:
    """Requests from several threads at once, as gunicorn's gthread workers take them, so the intake forms
    batches (written by the request threads themselves); one profiler per thread, merged."""
    import threading

    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def profiled(fn):
        def run(*a):
            prof = cProfile.Profile(time.thread_time)
            with lock:
                profilers.append(prof)
            prof.enable()
            try:
                return fn(*a)
            finally:
                prof.disable()
        return run

    barrier = threading.Barrier(threads)

    def post(share) -> None:
        client = flask_app.test_client()
        barrier.wait()
        for query, body in share:
            client.post(f"/wecom/aibot?{query}", data=body)

    workers = [threading.Thread(target=profiled(post), args=(items[k::threads],)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stats = pstats.Stats(profilers[0])
    for prof in profilers[1:]:
        stats.add(prof)
    return stats


def as_stats(profiler) -> pstats.Stats:
    return profiler if isinstance(profiler, pstats.Stats) else pstats.Stats(profiler)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--callers", default="", help="also list who calls the functions matching this pattern")
    ap.add_argument("--concurrent", type=int, default=1,
                    help="post from this many threads at once (gthread-like; lets the intake batch)")
    ap.add_argument("--top", type=int, default=0, help="also list the N functions with the most own CPU time")
    args = ap.parse_args()
    os.environ["GRIDBOT_AIBOT_TOKEN"], os.environ["GRIDBOT_AIBOT_AES_KEY"] = bench.TOKEN, bench.AES_KEY
    import bare
    import redis

    from gridbot.bootstrap import build
    from gridbot.config import Settings
    from gridbot.pipeline.intake import Intake
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
        profiled = items[100 + n:100 + 2 * n]
        if args.concurrent > 1:
            profiler = _profile_concurrently(app, create_app(gridbot=app), profiled, args.concurrent)
        else:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for query, body in profiled:
                gb_client.post(f"/wecom/aibot?{query}", data=body)
            profiler.disable()
        intake = app.receiver
        if isinstance(intake, Intake) and intake.batches:
            print(f"intake: {intake.messages} messages in {intake.batches} batches")
        stats = as_stats(profiler).stats
        total = sum(v[2] for v in stats.values())   # own time of every function, all threads
        cum = {(f"{Path(k[0]).parent.name}/{Path(k[0]).name}", k[2]): v[3] for k, v in stats.items()}
        print(f"gridbot under the profiler: {total / n * 1000:.2f} ms CPU per request, all threads; of which")
        for label, keys in PARTS.items():
            value = sum(cum.get(key, 0.0) for key in keys)
            print(f"  {value / total:5.0%}  {label}")
        if args.top:
            as_stats(profiler).sort_stats("tottime").print_stats(args.top)
        if args.callers:
            as_stats(profiler).print_callers(args.callers)
    finally:
        app.close()
        r = redis.Redis.from_url(bench.REDIS_URL)
        for key in r.scan_iter(match=f"*{prefix}*", count=1000):
            r.delete(key)
        bench.drop_database(db)


if __name__ == "__main__":
    main()
