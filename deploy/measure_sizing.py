"""Measure the per-unit figures behind deploy/README.md's sizing, on this machine's PostgreSQL and Redis.

    .venv/bin/python deploy/measure_sizing.py [postgresql+psycopg://postgres@127.0.0.1:5432/test] [rows]

1. PostgreSQL bytes per row (table + indexes + TOAST) of the high-volume tables: a scratch database beside the
   given one, migrated, gets `rows` realistic callbacks (an AI-bot group @-mention: decrypted body and neutral
   payload) and as many outbox replies through the real models; VACUUM ANALYZE; bytes/row; dropped after.
2. Redis bytes per queued job: `rows` inbound jobs through gridbot's RQ queue under a scratch prefix (deleted).
3. Resident memory of one gunicorn worker (deploy/gunicorn.conf.py, after 200 requests) and of a process that
   has loaded the app and jieba's dictionary (what a `gridbot worker` holds once it has understood a message).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gridbot import migrate
from gridbot.messages import Inbound
from gridbot.models.messaging import InboundMessage, OutboxMessage

TEXTS = ["@网格助手 3栋2单元楼道灯坏了好几天了，晚上很黑，老人上下楼不方便",
         "@网格助手 10号楼门口垃圾两天没人清运了，味道很大",
         "@网格助手 请问办理居住证需要什么材料？",
         "@网格助手 21栋3单元502楼上半夜装修，吵得睡不着"]


def raw_body(i: int, chat: str, user: str, content: str) -> str:
    """A decrypted AI-bot callback as WeCom sends it (JSON; response_url is a long signed URL)."""
    return json.dumps({"msgid": uuid.uuid4().hex, "aibotid": "aib" + "x" * 20, "chatid": chat, "chattype": "group",
                       "from": {"userid": user},
                       "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code="
                                       + uuid.uuid4().hex * 3,
                       "msgtype": "text", "text": {"content": content}}, ensure_ascii=False, separators=(",", ":"))


def measure_rows(base_url: str, rows: int) -> None:
    name = f"gridbot_sizing_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{base_url.rsplit('/', 1)[0]}/{name}"
    try:
        migrate.upgrade(url)
        engine = create_engine(url)
        t0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
        with Session(engine) as s, s.begin():
            for i in range(rows):
                chat, user, content = f"wrkSFfCgAA{i % 1500:06d}xyzGRID", f"resident{i % 90000:05d}", TEXTS[i % 4]
                at = t0 + timedelta(seconds=i)
                inbound = Inbound(platform="wecom_aibot", chat_id=chat, sender_id=user, text=content.split(" ", 1)[1],
                                  msg_id=uuid.uuid4().hex, mentioned=True, at=at)
                row = InboundMessage(platform="wecom_aibot", dedupe_key=f"wecom_aibot:{inbound.msg_id}", chat_id=chat,
                                     sender_id=user, kind="text", payload=inbound.to_dict(),
                                     raw=raw_body(i, chat, user, content), status="done", attempts=1,
                                     received_at=at, processed_at=at)
                s.add(row)
                s.flush()
                reply = f"已受理，工单号 HY-20261102-{i % 10000:04d}，网格员张三将在30分钟内联系您。"
                s.add(OutboxMessage(idempotency_key=f"reply:{row.id}:0", platform="wecom_aibot", target_type="chat",
                                    target=chat, content={"kind": "text", "text": reply, "mentions": [user]},
                                    status="sent", attempts=1, inbound_id=row.id, created_at=at, sent_at=at))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE inbound_messages"))
            conn.execute(text("VACUUM ANALYZE outbox"))
            for table in ("inbound_messages", "outbox"):
                total = conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar_one()
                print(f"{table}: {total / rows:.0f} bytes/row (table+indexes+toast, {rows} rows)")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure_redis(redis_url: str, rows: int) -> None:
    import redis

    from gridbot.queue import RQQueue

    conn = redis.Redis.from_url(redis_url)
    prefix = f"gridbot-sizing-{uuid.uuid4().hex[:8]}"
    queue = RQQueue(conn, prefix)
    before = conn.info("memory")["used_memory"]
    try:
        for i in range(rows):
            queue.enqueue("gridbot.jobs.process_inbound", 1_000_000 + i, queue="inbound")
        after = conn.info("memory")["used_memory"]
        print(f"redis: {(after - before) / rows:.0f} bytes per queued job ({rows} jobs)")
    finally:
        for key in conn.scan_iter(match=f"*{prefix}*", count=1000):
            conn.delete(key)
        conn.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def measure_memory() -> None:
    root = Path(__file__).resolve().parent.parent
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "GRIDBOT_DATABASE_URL": f"sqlite:///{tmp}/gridbot.db", "GRIDBOT_INSTANCE_DIR": tmp,
               "GRIDBOT_REDIS_URL": "", "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
        subprocess.run([str(bindir / "gridbot"), "db", "upgrade"], env=env, check=True, capture_output=True)
        proc = subprocess.Popen([str(bindir / "gunicorn"), "-c", str(root / "deploy" / "gunicorn.conf.py"),
                                 "gridbot.web:create_app()"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            for _ in range(200):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read()
            children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            for pid in children:
                print(f"gunicorn worker: {rss_kb(pid) / 1024:.0f} MB RSS after 200 requests")
            print(f"gunicorn arbiter: {rss_kb(proc.pid) / 1024:.0f} MB RSS")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    # A fresh process, so nothing measured above inflates it.
    code = ("import logging, resource, jieba, gridbot.bootstrap, gridbot.jobs, gridbot.understanding\n"
            "jieba.setLogLevel(logging.WARNING); jieba.initialize()\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    peak = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    print(f"app + jieba dictionary (a worker's floor): {peak / 1024:.0f} MB peak RSS")

if __name__ == "__main__":
    pg = sys.argv[1] if len(sys.argv) > 1 else "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    measure_rows(pg, n)
    measure_redis(os.environ.get("GRIDBOT_SIZING_REDIS_URL", "redis://127.0.0.1:6379/0"), n)
    measure_memory()
