"""Archive intake: messages per CPU-second from a fetched batch to committed inbound rows, decryption included, and
the catch-up time for five days of a county (issue 16, bench/README.md "Archive intake").

    .venv/bin/python bench/archive.py                  # 20,000 messages, 2048-bit keys
    .venv/bin/python bench/archive.py --messages 5000  # quicker
    .venv/bin/python bench/archive.py --json

What is measured, on PostgreSQL at 127.0.0.1:5432 (a fresh database, dropped afterwards):
- archive: the puller (gridbot/archive/pull.py) reading the embedded archive to its end in pages of 1,000: fetch
  (a SELECT here; the SDK's GetChatData over the network in production), RSA-open each message's key (PKCS#1 v1.5,
  2048-bit), decrypt the message, decode it, classify it (bound chat, consent, roster), the one inbound INSERT and
  the cursor, committed per page. Processing (routing, tickets) is the workers' and is not counted (jobs are
  dropped), as the webhook's is not in its benchmark.
- baseline, side by side on the same database: the AI bot's webhook intake without HTTP — signature check, AES
  decryption and decoding of a signed callback (adapters/wecom_aibot.read), the row, the same INSERT in batches of
  64 (the intake's group commit).
CPU is this process's (time.process_time); PostgreSQL's own CPU is not in either figure. The catch-up time for
1.5 million messages (1,500 groups x 200 a day x 5 days) is extrapolated from the measured wall-clock rate, plus a
network round trip per page of 1,000 for the real SDK (assumed 0.2 s: not measured here).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import drop_database, new_database
from tests.fakewecom.payloads import Signer, aibot_message

COUNTY_MESSAGES = 1_500 * 200 * 5     # 1,500 groups x 200 messages a day x 5 days WeCom keeps = 1.5 million
SDK_ROUND_TRIP = 0.2                  # ASSUMPTION: seconds per GetChatData page of 1,000 over the network
TOKEN = "benchTokenForTheWholeSuite0123456"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEXTS = ["1栋2单元楼道灯坏了好几天了", "哈哈，今天天气真好", "3栋门口的下水道堵了，污水漫出来了，电话13812345678",
         "明天几点停水？", "收到，谢谢网格员"]


class NoJobs:
    """Processing is the workers' business: the benchmark measures intake only."""

    def enqueue(self, *args, **kwargs) -> None:
        return None

    def depth(self) -> dict:
        return {}


def build(url: str, instance: Path, keys: str):
    from gridbot import migrate
    from gridbot.bootstrap import build as build_app
    from gridbot.config import Settings

    migrate.upgrade(url)
    settings = Settings.from_env({"GRIDBOT_DATABASE_URL": url, "GRIDBOT_INSTANCE_DIR": str(instance),
                                  "GRIDBOT_ARCHIVE_SOURCE": "local", "GRIDBOT_ARCHIVE_PRIVATE_KEYS": keys})
    return build_app(settings, queue=NoJobs())


def measure_archive(app, n: int) -> dict:
    from gridbot.archive import local, pull
    from tests.factories import seed_world

    with app.session() as s, s.begin():
        seed_world(s)
    rooms = ["chat-hy-01", "chat-hy-02", "chat-hy-03"]
    batch = []
    for i in range(n):
        batch.append(local.message(rooms[i % 3], f"wmResident{i % 500:04d}", "text", {"content": TEXTS[i % 5]},
                                   msgid=f"b{i:07d}"))
        if len(batch) == 5000:
            app.archive.put_many(batch)
            batch = []
    if batch:
        app.archive.put_many(batch)
    cpu, wall = time.process_time(), time.perf_counter()
    result = pull.pull(app)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert result.stored == n, result
    return {"messages": n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "per_cpu_s": round(n / cpu),
            "per_wall_s": round(n / wall), "pages": result.pages}


def measure_webhook(app, n: int) -> dict:
    from gridbot.adapters import wecom_aibot
    from gridbot.adapters.wecom_crypto import CallbackCrypto, SignedQuery
    from gridbot.pipeline.store import insert_params, insert_sql, row_values

    signer = Signer(TOKEN, AES_KEY, "")
    crypto = CallbackCrypto(TOKEN, AES_KEY, "", 300)
    now = datetime.now(UTC)
    posts = []
    for i in range(n):
        query, body = signer.json_post(aibot_message(f"w{i:07d}", f"res_{i % 500}", "@网格小助手 " + TEXTS[i % 5],
                                                     chatid="chat-hy-01"), int(now.timestamp()), nonce=f"n{i}")
        args = dict(p.split("=", 1) for p in query.split("&"))
        posts.append((SignedQuery(args["msg_signature"], args["timestamp"], args["nonce"]), body))
    cpu, wall = time.process_time(), time.perf_counter()
    with app.engine.connect() as conn:
        for start in range(0, n, 64):
            rows = []
            for query, body in posts[start:start + 64]:
                arrival = wecom_aibot.read(crypto, query, body, now)
                rows.append(row_values(arrival.inbound, arrival.raw, now, arrival.status, arrival.error))
            params = [p for v in rows for p in insert_params(v)]
            conn.exec_driver_sql(insert_sql(len(rows)), tuple(params))
            conn.commit()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"messages": n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "per_cpu_s": round(n / cpu),
            "per_wall_s": round(n / wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from gridbot.archive.keys import new_key_file

    work = Path("/tmp") / f"gridbot-bench-archive-{uuid.uuid4().hex[:8]}"
    new_key_file(work / "key1.pem")
    url = new_database("bench_archive")
    app = build(url, work / "instance", f"1:{work / 'key1.pem'}")
    try:
        archive = measure_archive(app, args.messages)
        webhook = measure_webhook(app, args.messages)
    finally:
        app.close()
        drop_database(url)
    pages = COUNTY_MESSAGES / 1000
    catch_up = COUNTY_MESSAGES / archive["per_wall_s"] + pages * SDK_ROUND_TRIP
    out = {"archive": archive, "webhook_baseline": webhook,
           "ratio_cpu": round(archive["per_cpu_s"] / webhook["per_cpu_s"], 2),
           "catch_up_1_5m_s": round(catch_up), "catch_up_assumes_sdk_round_trip_s": SDK_ROUND_TRIP}
    if args.json:
        print(json.dumps(out))
        return
    print(f"archive intake: {archive['per_cpu_s']:,} messages / CPU-second ({archive['messages']:,} in "
          f"{archive['cpu_s']} CPU-s, {archive['wall_s']} s wall, {archive['pages']} pages)")
    print(f"AI-bot webhook intake (baseline, same database): {webhook['per_cpu_s']:,} messages / CPU-second")
    print(f"ratio archive / webhook: {out['ratio_cpu']}x")
    print(f"catch-up of {COUNTY_MESSAGES:,} messages: {catch_up / 60:.0f} min (at {archive['per_wall_s']:,}/s wall, "
          f"+ {SDK_ROUND_TRIP} s per page of 1,000 for the SDK's network round trip, assumed)")


if __name__ == "__main__":
    main()
