"""The whole benchmark suite in one run; writes the summary table into bench/README.md (`make bench`).

    .venv/bin/python bench/run.py                 # full sizes (a county: 300 grids x 365 days; the storm at 1.0)
    .venv/bin/python bench/run.py --quick         # small sizes, a few minutes (same code paths)
    .venv/bin/python bench/run.py --no-write      # print only

What it measures (PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379, as the tests; nothing else needed):
1. webhook ingestion vs the bare wechatpy endpoint: runs bench/webhook/run.py (gunicorn, both endpoints), reads
   its table: throughput ratio, p50/p99;
2. understanding throughput: bench/understanding.py --json (messages per CPU-second);
3. coverage and the daily digests at county scale, on a county made by `gridbot seed synthetic`;
4. a live stack — gunicorn web (2 workers), `gridbot worker` processes (3 inbound, 1 outbound), the fake WeCom on
   loopback — for end-to-end latency (a resident's callback → the reply received by WeCom), the RSS of each web and
   worker process, and the storm-day burst: 3 x a county's peak hour in one minute (arithmetic below, from
   DOMAIN.md, the product brief). During the burst every callback must be answered 200 within WeCom's 5 s; afterwards
   the queue must drain and nothing be lost: inbound rows = callbacks sent, all done; outbox rows sent = replies
   expected = the posts the fake WeCom received.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakewecom.payloads import Signer, aibot_message
from tests.fakewecom.server import FakeWeCom

PY = str(ROOT / ".venv/bin/python")
GRIDBOT = str(ROOT / ".venv/bin/gridbot")
PG_ADMIN = os.environ.get("GRIDBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GRIDBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
README = ROOT / "bench" / "README.md"
START, END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"
TZ = ZoneInfo("Asia/Shanghai")
TOKEN = "benchTokenForTheWholeSuite0123456"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

# -- the storm, sized from DOMAIN.md ------------------------------------------------------------------------------
COUNTY_HOUSEHOLDS = 35_000        # "a county seat: 10 communities, ... ≈ 35,000 households"
HOUSEHOLDS_PER_GRID = 350         # "grids (网格, 300–500 households)": the middle
MESSAGES_PER_GRID_DAY = 200       # "20–200 chat messages per grid per day": the top (a storm day's baseline)
PEAK_HOUR_SHARE = 0.10            # ASSUMPTION: the busiest hour carries a tenth of the day (evening, after work)
BURST = 3                         # "Bursts of 3× on storm days"
COUNTY_GRIDS = COUNTY_HOUSEHOLDS // HOUSEHOLDS_PER_GRID                     # 100 grids
PEAK_HOUR = int(COUNTY_GRIDS * MESSAGES_PER_GRID_DAY * PEAK_HOUR_SHARE)    # 100 x 200 x 0.10 = 2,000 messages
STORM = BURST * PEAK_HOUR                                                   # 6,000 messages, sent within 60 s
ARITHMETIC = (f"county seat {COUNTY_HOUSEHOLDS:,} households / {HOUSEHOLDS_PER_GRID} per grid = {COUNTY_GRIDS} "
              f"grids; x {MESSAGES_PER_GRID_DAY} messages per grid per day x {PEAK_HOUR_SHARE:.0%} in the peak hour "
              f"(assumed) = {PEAK_HOUR:,} messages in the peak hour; x {BURST} (storm) = {STORM:,} messages, all "
              f"sent within one minute ({STORM / 60:.0f}/s)")


def sh(cmd: list[str], timeout: float = 3600, env: dict | None = None) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def new_database(prefix: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, grids: int, households: int, days: int) -> float:
    env = {"GRIDBOT_DATABASE_URL": url}
    sh([GRIDBOT, "db", "upgrade"], env=env)
    t = time.perf_counter()
    sh([GRIDBOT, "seed", "synthetic", "--grids", str(grids), "--households", str(households), "--days", str(days),
        "--until", "2026-11-29T06:00"], env=env)
    return time.perf_counter() - t


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


# -- 1, 2: the existing benchmarks ----------------------------------------------------------------------------------
def webhook(quick: bool) -> dict:
    out = sh([PY, "bench/webhook/run.py", "--messages", "600" if quick else "2000", "--rounds", "1" if quick else "3",
              "--rates", "50"])
    rows = re.findall(r"^\| (bare wechatpy[^|]*|gridbot /wecom/aibot[^|]*)"
                      r" \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|", out, re.M)
    (bare, gb) = [dict(rps=float(r[1]), p50=float(r[2]), p99=float(r[3]), bad=int(r[4])) for r in rows[:2]]
    return {"bare": bare, "gridbot": gb, "ratio": gb["rps"] / bare["rps"]}


def understanding(quick: bool) -> dict:
    out = sh([PY, "bench/understanding.py", "--passes", "3" if quick else "20", "--runs", "3" if quick else "5",
              "--json"])
    return json.loads(out.strip().splitlines()[-1])


# -- 3: coverage and digests at county scale -------------------------------------------------------------------------
def county(quick: bool) -> dict:
    grids, days = (60, 60) if quick else (300, 365)
    url = new_database("gridbot_bench_county")
    try:
        seed_s = seed(url, grids, grids * HOUSEHOLDS_PER_GRID, days)
        from gridbot.db import make_engine, make_sessionmaker
        from gridbot.services import coverage, digest

        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)

        def best(fn, runs: int = 3) -> float:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return min(times)

        def cov() -> None:
            with factory() as s:
                coverage.compute(s, now)

        n = {}

        def dig() -> None:
            with factory() as s:
                out = digest.build_all(s, date(2026, 11, 29), TZ, "http://console")
                for d, _ in out:
                    digest.markdown_parts(d)
                n["digests"] = len(out)

        result = {"grids": grids, "days": days, "households": grids * HOUSEHOLDS_PER_GRID, "seed_s": seed_s,
                  "coverage_s": best(cov), "digest_s": best(dig, 2), "digests": 0}
        result["digests"] = n.get("digests", 0)
        from sqlalchemy import text

        with engine.connect() as conn:
            result["tickets"] = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
            result["events"] = conn.execute(text("SELECT count(*) FROM ticket_events")).scalar()
        engine.dispose()
        return result
    finally:
        drop_database(url)


# -- 4: the live stack ---------------------------------------------------------------------------------------------
class TimedWeCom(FakeWeCom):
    """The fake WeCom, noting when each request first arrived (for end-to-end latency)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrived: dict[str, float] = {}

    def _answer(self, path, *args, **kw):
        self.arrived.setdefault(path, time.monotonic())
        return super()._answer(path, *args, **kw)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return out


class Stack:
    def __init__(self, url: str, fake: FakeWeCom, inbound_workers: int) -> None:
        self.port = free_port()
        self.prefix = f"gridbot-bench-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "GRIDBOT_DATABASE_URL": url, "GRIDBOT_REDIS_URL": REDIS_URL,
                    "GRIDBOT_REDIS_PREFIX": self.prefix + ":", "GRIDBOT_QUEUE_PREFIX": self.prefix,
                    "GRIDBOT_WECOM_API_BASE": fake.url, "GRIDBOT_AIBOT_TOKEN": TOKEN, "GRIDBOT_AIBOT_AES_KEY": AES_KEY,
                    "GRIDBOT_WECOM_CORP_ID": fake.corp_id, "GRIDBOT_WECOM_SECRET": fake.secret,
                    "GRIDBOT_WECOM_AGENT_ID": "1000002",
                    "GRIDBOT_LOG_LEVEL": "WARNING", "GRIDBOT_INSTANCE_DIR": f"/tmp/{self.prefix}"}
        self.web = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-k", "gthread", "--threads", "8",
                                     "--log-level", "warning", "-b", f"127.0.0.1:{self.port}",
                                     "gridbot.web:create_app()"], env=self.env, cwd=ROOT, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers = [subprocess.Popen([GRIDBOT, "worker", "--queue", q], env=self.env, cwd=ROOT,
                                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        for q in ["inbound"] * inbound_workers + ["outbound"]]
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the web did not start")
            time.sleep(0.2)
        # Measure the steady state: wait until every worker has warmed up (jieba, config) and registered with RQ.
        import redis

        conn = redis.Redis.from_url(REDIS_URL)
        want = {f"rq:workers:{self.prefix}-inbound": inbound_workers, f"rq:workers:{self.prefix}-outbound": 1}
        while any(conn.scard(key) < n for key, n in want.items()):
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
        conn.close()

    def rss(self) -> dict:
        web = [rss_mb(p) for p in children(self.web.pid)]
        workers = [rss_mb(w.pid) for w in self.workers]
        return {"web": max(web) if web else float("nan"), "web_master": rss_mb(self.web.pid),
                "worker": max(workers) if workers else float("nan")}

    def stop(self) -> None:
        import signal

        for proc in [self.web, *self.workers]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [self.web, *self.workers]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        import redis

        conn = redis.Redis.from_url(REDIS_URL)
        for key in conn.scan_iter(match=f"*{self.prefix}*", count=1000):
            conn.delete(key)


def residents(url: str) -> list[tuple[str, str]]:
    """(user id, chat id) of bound representatives in their groups, from the synthetic county."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT i.user_id, m.chat_id FROM chat_memberships m JOIN chat_identities i "
                                 "ON i.id = m.identity_id WHERE i.user_id LIKE 'syn-r%' AND m.left_at IS NULL "
                                 "ORDER BY m.id")).all()
    engine.dispose()
    return [(r[0], r[1]) for r in rows]


TEXTS = ["@网格小助手 {b}栋2单元楼道灯坏了", "@网格小助手 {b}栋楼下积水很深，车出不去", "@网格小助手 你好",
         "@网格小助手 {b}栋电梯停了，老人下不了楼", "@网格小助手 谢谢", "@网格小助手 {b}栋门口的树倒了压着电线"]


def messages(people: list[tuple[str, str]], n: int, tag: str, fake: FakeWeCom) -> list[tuple[str, str, bytes]]:
    signer = Signer(TOKEN, AES_KEY, "")
    now = int(time.time())
    out = []
    for i in range(n):
        user, chat = people[i % len(people)]
        msgid = f"{tag}-{i}"
        text = TEXTS[i % len(TEXTS)].format(b=i % 20 + 1)
        msg = aibot_message(msgid, user, text, chatid=chat, response_url=f"{fake.url}/aibot/response/{msgid}")
        query, body = signer.json_post(msg, now, nonce=uuid.uuid4().hex[:12])
        out.append((msgid, query, body))
    return out


STATUS: dict[int, int] = {}


def paced(port: int, items: list, seconds: float, threads: int = 32) -> tuple[list[float], int, dict[str, float]]:
    """Open loop: item i is due at i * seconds / n; latency counts from its due time. Returns latencies (s), non-200
    answers, and the send time of each message id."""
    n = len(items)
    start = time.monotonic() + 0.5
    lat: list[float] = []
    bad = [0]
    codes: dict[int, int] = {}
    sent: dict[str, float] = {}
    lock = threading.Lock()
    cursor = iter(range(n))

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            due = start + i * seconds / n
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            msgid, query, body = items[i]
            ok, code = False, 0
            for _attempt in range(2):   # the server closed an idle keep-alive connection: reconnect once
                try:
                    conn.request("POST", f"/wecom/aibot?{query}", body=body,
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    ok, code = resp.status == 200, resp.status
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                except OSError:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    break
            done = time.monotonic()
            with lock:
                lat.append(done - due)
                sent[msgid] = due
                bad[0] += 0 if ok else 1
                codes[code] = codes.get(code, 0) + 1

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    STATUS.update(codes)
    return lat, bad[0], sent


def counts(url: str, like: str) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        inbound = dict(conn.execute(text("SELECT status, count(*) FROM inbound_messages WHERE dedupe_key LIKE :k "
                                         "GROUP BY status"), {"k": f"%:msg:{like}%"}).all())
        out = dict(conn.execute(text("SELECT o.status, count(*) FROM outbox o JOIN inbound_messages i ON "
                                     "i.id = o.inbound_id WHERE i.dedupe_key LIKE :k AND o.target_type = 'chat' "
                                     "GROUP BY o.status"), {"k": f"%:msg:{like}%"}).all())
    engine.dispose()
    return {"inbound": inbound, "replies": out}


def live(quick: bool, storm_scale: float) -> dict:
    url = new_database("gridbot_bench_live")
    fake = TimedWeCom().start()
    stack = None
    try:
        seed(url, COUNTY_GRIDS, COUNTY_HOUSEHOLDS, 1)
        people = residents(url)
        stack = Stack(url, fake, inbound_workers=3)
        result: dict = {}
        # end-to-end: a resident's callback → the reply arriving at WeCom, at a calm 2 messages a second
        e2e = messages(people, 20 if quick else 60, "e2e", fake)
        _, bad, sent = paced(stack.port, e2e, seconds=len(e2e) / 2, threads=4)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(f"/aibot/response/{m}" in fake.arrived for m in sent) < len(sent):
            time.sleep(0.05)
        e2e_lat = [fake.arrived[f"/aibot/response/{m}"] - t for m, t in sent.items()
                   if f"/aibot/response/{m}" in fake.arrived]
        result["e2e"] = {"n": len(e2e), "p50": pct(e2e_lat, 0.5), "p99": pct(e2e_lat, 0.99),
                         "answered": len(e2e_lat), "bad": bad}
        result["rss"] = stack.rss()
        # the storm
        n = max(60, int(STORM * storm_scale))
        burst = messages(people, n, "storm", fake)
        t0 = time.monotonic()
        STATUS.clear()
        lat, bad, sent = paced(stack.port, burst, seconds=60.0, threads=64)
        status = dict(STATUS)
        send_s = time.monotonic() - t0 - 0.5
        deadline = time.monotonic() + (600 if quick else 1800)
        while time.monotonic() < deadline:
            c = counts(url, "storm-")
            waiting = sum(v for k, v in c["replies"].items() if k in ("pending", "sending"))
            if c["inbound"].get("done", 0) + c["inbound"].get("failed", 0) >= n - bad and not waiting:
                break
            time.sleep(1)
        drain_s = time.monotonic() - t0 - 0.5
        c = counts(url, "storm-")
        posts = sum(1 for m in sent if f"/aibot/response/{m}" in fake.arrived)
        result["storm"] = {"n": n, "send_s": send_s, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat),
                           "over_5s": sum(1 for x in lat if x > 5), "bad": bad, "status": status, "drain_s": drain_s,
                           "inbound": c["inbound"], "replies": c["replies"], "posts": posts,
                           "lost": n - c["inbound"].get("done", 0) + (c["replies"].get("sent", 0) - posts)
                           + sum(v for k, v in c["replies"].items() if k != "sent")}
        result["rss_after_storm"] = stack.rss()
        return result
    finally:
        if stack:
            stack.stop()
        fake.stop()
        drop_database(url)


# -- the table ----------------------------------------------------------------------------------------------------
def table(r: dict, command: str) -> str:
    load = os.getloadavg()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Run: {when} on {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"load average at the end {load[0]:.1f}. Command: `{command}`.", "",
             "| what | figure |", "|---|---|"]
    if "webhook" in r:
        w = r["webhook"]
        lines.append(f"| webhook ingestion, gridbot vs bare wechatpy (saturated) | {w['gridbot']['rps']:.0f} vs "
                     f"{w['bare']['rps']:.0f} req/s = **{w['ratio']:.2f}x**; p50 {w['gridbot']['p50']:.0f} vs "
                     f"{w['bare']['p50']:.0f} ms, p99 {w['gridbot']['p99']:.0f} vs {w['bare']['p99']:.0f} ms; "
                     f"non-200 {w['gridbot']['bad']} |")
    if "understanding" in r:
        u = r["understanding"]
        lines.append(f"| understanding throughput | **{u['understand']:,.0f} messages / CPU-second** "
                     f"({u['messages']} corpus messages, {u['ratio_vs_jieba_lcut']:.2f}x jieba.lcut alone) |")
    if "county" in r:
        c = r["county"]
        lines.append(f"| county made by `gridbot seed synthetic` | {c['grids']} grids, {c['households']:,} households, "
                     f"{c['days']} days: {c['tickets']:,} tickets, {c['events']:,} ticket events in "
                     f"{c['seed_s']:.0f} s |")
        lines.append(f"| coverage at county scale (every grid, every list) | **{c['coverage_s']:.2f} s** |")
        lines.append(f"| daily digests at county scale (all {c['digests']} readers) | **{c['digest_s']:.2f} s** |")
    if "live" in r:
        lv = r["live"]
        e = lv["e2e"]
        lines.append(f"| end-to-end: callback → reply received by WeCom (calm, 2/s, {e['n']} messages) | p50 "
                     f"**{e['p50'] * 1000:.0f} ms**, p99 **{e['p99'] * 1000:.0f} ms**; answered {e['answered']}/"
                     f"{e['n']} |")
        m, m2 = lv["rss"], lv["rss_after_storm"]
        lines.append(f"| memory (RSS) per process | web worker {m['web']:.0f} MB (after the storm {m2['web']:.0f} MB), "
                     f"gunicorn master {m['web_master']:.0f} MB, RQ worker {m['worker']:.0f} MB "
                     f"({m2['worker']:.0f} MB after) |")
        s = lv["storm"]
        lines.append(f"| storm burst: {s['n']:,} callbacks in {s['send_s']:.0f} s ({s['n'] / 60:.0f}/s) | webhook "
                     f"p50 {s['p50'] * 1000:.0f} ms, p99 {s['p99'] * 1000:.0f} ms, max {s['max']:.1f} s; over 5 s: "
                     f"**{s['over_5s']}**; non-200: **{s['bad']}** (answers by status: {s['status']}) |")
        lines.append(f"| storm: queue drained | **{s['drain_s']:.0f} s** after the first callback; inbound "
                     f"{s['inbound']}; replies {s['replies']}; posts received by WeCom {s['posts']:,} |")
        lines.append(f"| storm: lost | **{s['lost']}** |")
        lines += ["", f"Storm size: {ARITHMETIC}."]
    return "\n".join(lines)


def put_between_markers(section: str, start: str, end: str, place_new: Callable[[str, str], str]) -> None:
    """Replace what stands between the markers in bench/README.md; the first time, place_new(text, block) puts it."""
    text = README.read_text(encoding="utf-8")
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = place_new(text, block)
    README.write_text(text, encoding="utf-8")


def write(section: str) -> None:
    def first_time(text: str, block: str) -> str:
        head, _, rest = text.partition("\n## ")
        return (f"{head}\n## Summary: `make bench`\n\nOne command runs the suite (`bench/run.py`); the sections below "
                f"have the detail of each benchmark.\n\n{block}\n\n## {rest}")

    put_between_markers(section, START, END, first_time)


def main() -> None:
    import logging
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # stop the stack and drop its database on SIGTERM too
    logging.getLogger("werkzeug").setLevel(logging.WARNING)    # the fake WeCom's access log
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes, same code paths)")
    ap.add_argument("--storm-scale", type=float, default=None, help="fraction of the full storm (default 1, quick 0.1)")
    ap.add_argument("--only", nargs="*", choices=["webhook", "understanding", "county", "live"])
    ap.add_argument("--no-write", action="store_true", help="print the table, leave bench/README.md alone")
    args = ap.parse_args()
    scale = args.storm_scale if args.storm_scale is not None else (0.1 if args.quick else 1.0)
    parts = args.only or ["webhook", "understanding", "county", "live"]
    results: dict = {}
    for part in parts:
        t = time.perf_counter()
        print(f"== {part} ...", flush=True)
        if part == "webhook":
            results[part] = webhook(args.quick)
        elif part == "understanding":
            results[part] = understanding(args.quick)
        elif part == "county":
            results[part] = county(args.quick)
        else:
            results[part] = live(args.quick, scale)
        print(f"   {time.perf_counter() - t:.0f} s: {json.dumps(results[part], default=str)[:600]}", flush=True)
    command = "make bench" if not (args.quick or args.only or args.storm_scale) else \
        "python bench/run.py " + " ".join(sys.argv[1:])
    section = table(results, command)
    print(section)
    if not args.no_write:
        write(section)


if __name__ == "__main__":
    main()
