"""Webhook ingestion benchmark: gridbot's /wecom/aibot versus a bare wechatpy verify+decrypt endpoint.

Both run under gunicorn (2 gthread workers) on loopback in the same run, alternating rounds; gridbot persists
every message in PostgreSQL and enqueues it in Redis (RQ). The load generator is Python (processes x threads,
keep-alive connections), posting AI bot callbacks signed and encrypted as WeCom does, with every message
unique plus a share of repeated deliveries. At the end it checks: every unique message stored exactly once and
enqueued for processing once (a repeated delivery adds one more job, which finds the message done and does
nothing: it covers a first attempt that stored but failed to enqueue), every answer 200.

    .venv/bin/python bench/webhook/run.py [--messages 4000] [--rounds 2] [--write]

Needs the PostgreSQL at 127.0.0.1:5432 and the Redis at 127.0.0.1:6379 (same as the tests). --write puts the
figures into bench/README.md, section "Webhook ingestion".
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fakewecom.payloads import Signer, aibot_message

PG_ADMIN = os.environ.get("GRIDBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GRIDBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "benchTokenForWebhookIngestion0123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CHAT = "chat-bench-01"
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "8"))   # deploy/gunicorn.conf.py's default
GUNICORN = [str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-k", "gthread", "--threads", str(GUNICORN_THREADS),
            "--log-level", "warning"]


def make_database() -> str:
    from sqlalchemy import create_engine, text

    name = f"gridbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    from gridbot import migrate
    from gridbot.db import make_engine, make_sessionmaker
    from gridbot.models import Community, Grid, GridChat

    migrate.upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s, s.begin():
        c = Community(code="BENCH", name="压测社区")
        s.add(c)
        s.flush()
        g = Grid(community_id=c.id, code="BENCH-01", name="压测网格", level=2)
        s.add(g)
        s.flush()
        s.add(GridChat(grid_id=g.id, chat_id=CHAT, name="压测群"))
    engine.dispose()
    return url


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def start(args: list[str], env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen:
    proc = subprocess.Popen(GUNICORN + ["-b", f"127.0.0.1:{port}"] + args, env=env, cwd=str(cwd),
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server on port {port} did not start")


def payloads(n_unique: int, dup_share: float, tag: str) -> tuple[list[tuple[str, bytes]], int]:
    """Signed, encrypted AI bot callbacks: n_unique messages, plus re-signed repeats of some of them."""
    signer = Signer(TOKEN, AES_KEY, "")
    now = int(time.time())
    out = []
    for i in range(n_unique):
        msg = aibot_message(f"{tag}-{i}", f"resident{i % 97}", f"@网格小助手 3栋{i % 6 + 1}单元楼道灯坏了 #{i}",
                            chatid=CHAT, response_url=f"http://127.0.0.1:9/resp/{i}")
        out.append((msg, signer.json_post(msg, now)))
        if i % int(1 / dup_share) == 0:  # WeCom's retry of the same message, newly signed
            out.append((msg, signer.json_post(msg, now + 1)))
    return [p for _, p in out], n_unique


def _worker(port: int, items: list[tuple[str, bytes]], threads: int, queue: mp.Queue) -> None:
    results: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    chunks = [items[i::threads] for i in range(threads)]

    def run(chunk: list[tuple[str, bytes]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        for query, body in chunk:
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/wecom/aibot?{query}", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = 0
            mine.append((t0, time.perf_counter(), status))
        with lock:
            results.extend(mine)

    ts = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    queue.put(results)


def load(port: int, items: list[tuple[str, bytes]], procs: int, threads: int) -> dict:
    q: mp.Queue = mp.Queue()
    workers = [mp.Process(target=_worker, args=(port, items[i::procs], threads, q)) for i in range(procs)]
    for w in workers:
        w.start()
    results = []
    for _ in workers:
        results.extend(q.get())
    for w in workers:
        w.join()
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    lat = sorted((r[1] - r[0]) * 1000 for r in results)
    return {"requests": len(results), "seconds": end - start, "rps": len(results) / (end - start),
            "p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "non200": sum(1 for r in results if r[2] != 200)}


def paced(port: int, items: list[tuple[str, bytes]], rate: float, threads: int = 16) -> dict:
    """Open loop at a fixed rate: latency counted from each request's scheduled time (no coordinated omission)."""
    t0 = time.perf_counter() + 0.2
    lat: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def run(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for k in range(offset, len(items), threads):
            due = t0 + k / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            query, body = items[k]
            try:
                conn.request("POST", f"/wecom/aibot?{query}", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = 0
            with lock:
                lat.append((time.perf_counter() - due) * 1000)
                statuses.append(status)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    return {"rate": rate, "p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "non200": sum(1 for s in statuses if s != 200)}


def _processes_cpu_seconds(wanted) -> float:
    """CPU time (user + system) of the processes for which wanted(name, ppid) is true, from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        if wanted(name, int(fields[1])):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def service_cpu_seconds(prefix: str) -> float:
    """CPU time of every process whose name starts with prefix ("postgres", "redis")."""
    return _processes_cpu_seconds(lambda name, ppid: name.startswith(prefix))


def host_busy_seconds() -> float:
    """CPU time the whole host spent busy (all CPUs, everything but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def worker_cpu_seconds(master_pid: int) -> float:
    """CPU time of a gunicorn master's worker processes."""
    return _processes_cpu_seconds(lambda name, ppid: ppid == master_pid)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=4000, help="unique messages per round and target")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--dup-share", type=float, default=0.1, help="share of messages delivered twice")
    ap.add_argument("--write", action="store_true", help="write the figures to bench/README.md")
    ap.add_argument("--rates", type=float, nargs="*", default=[50.0, 100.0],
                    help="fixed request rates (req/s) for the open-loop latency runs")
    ap.add_argument("--paced-seconds", type=float, default=10.0)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="run gridbot's workers under cProfile (bench/webhook/profiled.py) and list the N functions "
                         "with the most own CPU time; the figures are then not comparable, so --write is refused")
    args = ap.parse_args()

    import redis
    from rq import Queue
    from rq.job import Job
    from sqlalchemy import create_engine, func, select, text

    from gridbot.models import InboundMessage

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    db = make_database()
    r = redis.Redis.from_url(REDIS_URL)
    base_env = {**os.environ, "GRIDBOT_AIBOT_TOKEN": TOKEN, "GRIDBOT_AIBOT_AES_KEY": AES_KEY,
                "GRIDBOT_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    gb_env = {**base_env, "GRIDBOT_DATABASE_URL": db, "GRIDBOT_REDIS_URL": REDIS_URL,
              "GRIDBOT_REDIS_PREFIX": prefix + ":", "GRIDBOT_QUEUE_PREFIX": prefix,
              "GRIDBOT_INSTANCE_DIR": f"/tmp/{prefix}"}
    if args.profile and args.write:
        raise SystemExit("--profile slows gridbot down: its figures must not go into bench/README.md")
    profile_dir = None
    gb_app, gb_cwd = ["gridbot.web:create_app()"], ROOT
    if args.profile:
        import tempfile

        profile_dir = tempfile.mkdtemp(prefix="gridbot-profile-")
        for sub in ("gridbot", "bare"):
            os.mkdir(os.path.join(profile_dir, sub))
        gb_env["GRIDBOT_BENCH_PROFILE_DIR"] = os.path.join(profile_dir, "gridbot")
        gb_app, gb_cwd = ["profiled:app"], ROOT / "bench/webhook"
    bare_target, bare_env = ["bare:app"], base_env
    if profile_dir:
        bare_target = ["profiled:bare_app"]
        bare_env = {**base_env, "GRIDBOT_BENCH_PROFILE_DIR": os.path.join(profile_dir, "bare")}
    servers = [start(gb_app, gb_env, 18081, gb_cwd),
               start(bare_target, bare_env, 18082, ROOT / "bench/webhook")]
    figures: dict[str, list[dict]] = {"bare": [], "gridbot": []}
    unique_total = 0
    sent_total = 0
    gb_requests = 0
    try:
        warm, _ = payloads(200, 0.1, "warm")
        load(18082, warm, args.procs, args.threads)
        load(18081, warm, args.procs, args.threads)
        for rnd in range(args.rounds):
            items, n = payloads(args.messages, args.dup_share, f"r{rnd}")
            for name, port, server in (("bare", 18082, servers[1]), ("gridbot", 18081, servers[0])):
                cpu0, pg0, redis0, host0 = (worker_cpu_seconds(server.pid), service_cpu_seconds("postgres"),
                                            service_cpu_seconds("redis"), host_busy_seconds())
                result = load(port, items, args.procs, args.threads)
                per_request = 1000 / result["requests"]
                result["cpu_ms"] = (worker_cpu_seconds(server.pid) - cpu0) * per_request
                result["pg_ms"] = (service_cpu_seconds("postgres") - pg0) * per_request
                result["redis_ms"] = (service_cpu_seconds("redis") - redis0) * per_request
                result["host_ms"] = (host_busy_seconds() - host0) * per_request
                figures[name].append(result)
            unique_total += n
            sent_total += len(items)
            gb_requests += len(items)
            print(f"round {rnd + 1}: bare {figures['bare'][-1]['rps']:.0f} rps, "
                  f"gridbot {figures['gridbot'][-1]['rps']:.0f} rps", flush=True)
        steady = []
        for rate in args.rates:
            n_rate = int(rate * args.paced_seconds)
            items, n = payloads(n_rate, args.dup_share, f"paced{int(rate)}")
            steady.append(("bare", paced(18082, items, rate)))
            items2, n2 = payloads(n_rate, args.dup_share, f"pacedg{int(rate)}")
            steady.append(("gridbot", paced(18081, items2, rate)))
            unique_total += n2
            gb_requests += len(items2)
            print(f"paced {rate} rps: bare p99 {steady[-2][1]['p99']:.1f} ms, gridbot p99 "
                  f"{steady[-1][1]['p99']:.1f} ms", flush=True)
        engine = create_engine(db)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(InboundMessage)
                                  .where(InboundMessage.dedupe_key.notlike("wecom_aibot:msg:warm-%"))).scalar()
            distinct = conn.execute(text("SELECT count(DISTINCT dedupe_key) FROM inbound_messages")).scalar()
            total = conn.execute(text("SELECT count(*) FROM inbound_messages")).scalar()
        engine.dispose()
        # Stored messages wait as ids on the pending list until a worker's dispatcher turns them into jobs
        # (no worker runs here); a dispatcher job is queued whenever a push finds none queued.
        pending = [int(x) for x in r.lrange(f"{prefix}:inbound:pending", 0, -1)]
        job_ids = Queue(f"{prefix}-inbound", connection=r).get_job_ids()
        jobs = [job for start_at in range(0, len(job_ids), 500)
                for job in Job.fetch_many(job_ids[start_at:start_at + 500], connection=r) if job is not None]
        dispatchers = sum(1 for job in jobs if job.func_name.endswith("dispatch_inbound"))
        in_jobs = [i for job in jobs if job.args
                   for i in (job.args[0] if isinstance(job.args[0], list) else [job.args[0]])]
        queued_ids = pending + in_jobs
        enqueued = len(set(queued_ids)) - 200  # minus the warm-up
        repeats = len(queued_ids) - len(set(queued_ids))
    finally:
        for s in servers:
            os.killpg(s.pid, signal.SIGTERM)
            s.wait()
        if profile_dir:
            import pstats

            for target in ("bare", "gridbot"):
                dumps = sorted(Path(profile_dir, target).glob("*.prof"))
                if not dumps:
                    continue
                print(f"==== {target}: profile of its gunicorn workers (all threads) ====")
                merged = pstats.Stats(str(dumps[0]))
                for extra in dumps[1:]:
                    merged.add(str(extra))
                merged.sort_stats("tottime").print_stats(args.profile)
                merged.sort_stats("cumulative").print_stats("gridbot/", args.profile)
            print(f"profiles kept in {profile_dir}")
        for key in r.scan_iter(match=f"*{prefix}*", count=1000):
            r.delete(key)
        drop_database(db)

    def avg(name: str, key: str) -> float:
        return statistics.mean(f[key] for f in figures[name])

    ratio = avg("gridbot", "rps") / avg("bare", "rps")
    lost = unique_total - stored
    lines = [
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; gunicorn 2 gthread workers x {GUNICORN_THREADS} threads each; load generator "
        f"{args.procs} processes x {args.threads} keep-alive connections on the same host; {args.rounds} rounds "
        f"of {sent_total // args.rounds} requests per target ({args.messages} unique AI bot text callbacks, "
        f"{args.dup_share:.0%} delivered twice).",
        "",
        "| endpoint | throughput (req/s) | p50 (ms) | p99 (ms) | non-200 |",
        "|---|---|---|---|---|",
        f"| bare wechatpy verify + decrypt | {avg('bare', 'rps'):.0f} | {avg('bare', 'p50'):.1f} | "
        f"{avg('bare', 'p99'):.1f} | {sum(f['non200'] for f in figures['bare'])} |",
        f"| gridbot /wecom/aibot (verify, decrypt, replay check, bound-chat check, PostgreSQL insert, queued in Redis) "
        f"| {avg('gridbot', 'rps'):.0f} | {avg('gridbot', 'p50'):.1f} | {avg('gridbot', 'p99'):.1f} | "
        f"{sum(f['non200'] for f in figures['gridbot'])} |",
        "",
        "Per round (req/s, bare / gridbot): " + ", ".join(f"{b['rps']:.0f} / {g['rps']:.0f}" for b, g in
                                                         zip(figures["bare"], figures["gridbot"], strict=False)) + ".",
        "",
        "CPU per request (from /proc; the host is CPU-bound at saturation, so req/s follows the whole host's CPU "
        "per request):",
        "",
        "| endpoint | gunicorn workers (ms) | PostgreSQL (ms) | Redis (ms) | whole host, load generator and kernel "
        "included (ms) |",
        "|---|---|---|---|---|",
        *[f"| {name} | {avg(name, 'cpu_ms'):.2f} | {avg(name, 'pg_ms'):.2f} | {avg(name, 'redis_ms'):.2f} | "
          f"{avg(name, 'host_ms'):.2f} |" for name in ("bare", "gridbot")],
        "",
        f"So on this host the ratio can be at most about {avg('bare', 'host_ms') / avg('gridbot', 'host_ms'):.2f}x "
        f"(whole-host CPU per request, bare / gridbot); the workers alone would allow "
        f"{avg('bare', 'cpu_ms') / avg('gridbot', 'cpu_ms'):.2f}x.",
        "",
        "Open loop at fixed rates (latency from each request's scheduled time):",
        "",
        "| rate (req/s) | endpoint | p50 (ms) | p99 (ms) | non-200 |",
        "|---|---|---|---|---|",
        *[f"| {r['rate']:.0f} | {name} | {r['p50']:.1f} | {r['p99']:.1f} | {r['non200']} |" for name, r in steady],
        "",
        f"gridbot / bare throughput at saturation: **{ratio:.2f}x** (target >= 0.6x). p99 target < 50 ms.",
        f"Integrity: {unique_total} unique messages sent to gridbot ({gb_requests} requests with repeats); stored "
        f"{stored}, lost {lost}, duplicated rows {total - distinct}; enqueued for processing {enqueued} "
        f"(pending for the dispatcher or in jobs; {repeats} ids pushed twice by repeated deliveries, which find the "
        f"message done and do nothing); {dispatchers} dispatcher job(s) queued for {len(pending)} pending ids.",
        "",
        verdict(ratio, avg("gridbot", "p99"), lost, total - distinct),
        "",
        HOW,
        "",
        WHERE,
        "",
        "Reproduce: `.venv/bin/python bench/webhook/run.py --write` (PostgreSQL and Redis as for the tests); "
        "the CPU split: `.venv/bin/python bench/webhook/cpu_profile.py`.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_section(report)


HOW = (
    "How gridbot gets there: the request thread verifies, decrypts and decodes, then gives the row to its "
    "process's intake (`gridbot/pipeline/intake.py`). The first request to find the intake's connection free stores "
    "its own callback and every one that queued meanwhile with one multi-row `INSERT .. ON CONFLICT DO NOTHING "
    "RETURNING`, hands the connection to the next request waiting, and with one Redis script call sets their replay "
    "keys and pushes their ids onto a pending list; each request answers 200 only once its own row is committed. "
    "Alone, a message is a batch of one written by its own thread. The RQ jobs are made on a worker: a push that "
    "finds no dispatcher queued queues one, which processes the first 20 pending messages itself and queues the "
    "rest as jobs of 20. So a busy web process builds no RQ job and pays one INSERT and one Redis trip per batch "
    "rather than per message; hiredis parses Redis's replies in C. Before this (2026-11-29, same script) the ratio "
    "was 0.17x: each callback checked out a pooled connection (with pre-ping), inserted alone and built its own RQ "
    "job. Until 2026-12-03 a writer thread per process did the writing: every callback then cost two thread "
    "wake-ups, and side by side it took 1.29 ms of worker CPU per request where the request threads' own writing "
    "takes 1.11 ms (869 vs 1003 req/s)."
)

WHERE = (
    "Where gridbot's extra CPU goes (2026-12-03; several gunicorn servers side by side in one run, rounds "
    "interleaved, the workers' CPU per request from /proc): with the storage step taken out (the intake answering "
    "at once, nothing stored) gridbot's workers cost 0.04 to 0.2 ms more than bare's, so verifying, decrypting, "
    "decoding, the bound-chat check, the request metrics and Flask's extra hooks are close to the bare endpoint. "
    "The storage step costs about 0.5 ms of the process's CPU per request under load: about 0.3 ms is the "
    "leading requests' own INSERT and Redis script for batches of about 3, the rest is the waiting requests being "
    "woken and the GIL changing hands. Taking Redis's part out saves about 0.05 ms, the request metrics "
    "nothing measurable, a shorter GIL switch interval nothing; more client connections raise gridbot's CPU per "
    "request (more requests contend in each process). On a host where the load generator, PostgreSQL and Redis "
    "share two CPUs with the web, this keeps the ratio near 0.5x: 0.44x to 0.52x in the runs of 2026-12-03, "
    "0.55x to 0.66x on the host of 2026-12-02, where every system call cost more (bare's workers took 1.31 ms "
    "per request there, 0.47 ms here). Reaching 0.6x here would take the storage step down to about a third of "
    "its cost, which Python-level batching does not reach: it would need the INSERT and the Redis call issued "
    "from native code, or the storing done in a process of its own."
)


def verdict(ratio: float, p99: float, lost: int, duplicated: int) -> str:
    met = ratio >= 0.6 and p99 < 50 and lost == 0 and duplicated == 0
    head = ("**Verdict: met** — at least 0.6x the bare endpoint's throughput, p99 under 50 ms at saturation, nothing "
            "lost or duplicated." if met else
            f"**Verdict: not met on this host** — ratio {ratio:.2f}x (target 0.6x), p99 {p99:.0f} ms (target 50 ms), "
            f"lost {lost}, duplicated {duplicated}.")
    return (f"{head} The load generator, PostgreSQL and Redis run on the same CPUs as the web, and other tenants "
            "of this virtual machine vary from minute to minute, so req/s varies between rounds and runs; the CPU "
            "per request is the steadier figure.")


def write_section(body: str) -> None:
    """Replace (or add) only the "Webhook ingestion" section of bench/README.md."""
    path = ROOT / "bench/README.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    header = "## Webhook ingestion"
    section = f"{header}\n\n{body}\n"
    if header in text:
        before, rest = text.split(header, 1)
        nxt = rest.find("\n## ")
        text = before + section + ("\n" + rest[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
