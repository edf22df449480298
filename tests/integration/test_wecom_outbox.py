"""The outbox against the fake WeCom: channels, long texts, 5xx, timeouts, token revocation, rate limits, dead rows,
and a worker killed between sending and marking. PostgreSQL + Redis + a real HTTP server on loopback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gridbot.bootstrap import build
from gridbot.config import Settings
from gridbot.messages import Reply
from gridbot.models import GridChat, OutboxMessage
from gridbot.pipeline import delivery
from gridbot.senders.wecom import split_text
from gridbot.services import outbox
from tests.factories import seed_world

ROBOT_KEY = "robot-key-hy01"


@pytest.fixture
def app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)   # rows wait in RQ: each test delivers by hand
    with app.session() as s, s.begin():
        seed_world(s)
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key=ROBOT_KEY))
    return app


def write(app, *replies: Reply, platform: str = "wecom_app") -> list[int]:
    with app.session() as s, s.begin():
        return [r.id for r in outbox.write_replies(s, None, list(replies), now=app.clock.now(), platform=platform)]


def row(app, oid: int) -> OutboxMessage:
    with app.session() as s:
        return s.get(OutboxMessage, oid)


def test_group_robot_text_carries_mentions_and_long_text_is_split_on_lines(app, fake):
    lines = [f"第{i}行：楼道灯已修好，请大家注意安全。" for i in range(120)]
    (oid,) = write(app, Reply("\n".join(lines), mentions=["mem_zhao"], to_chat="chat-hy-01"))
    assert delivery.deliver(app, oid) == "sent"
    posts = fake.sent("/cgi-bin/webhook/send")
    assert len(posts) > 1 and all(p.args["key"] == ROBOT_KEY for p in posts)
    texts = [p.body["text"]["content"] for p in posts]
    assert all(len(t.encode()) <= 2048 for t in texts)
    assert "\n".join(texts).split("\n") == lines  # nothing lost, nothing cut mid-line, in order
    assert posts[0].body["text"]["mentioned_list"] == ["mem_zhao"]
    assert row(app, oid).status == "sent"


def test_split_text_never_exceeds_the_limit_even_for_one_long_line():
    parts = split_text("短\n" + "长" * 1000 + "\n尾", 2048)
    assert all(len(p.encode()) <= 2048 for p in parts) and "".join(parts).replace("\n", "") == "短" + "长" * 1000 + "尾"


def test_markdown_to_a_group_and_an_app_message_to_a_member(app, fake):
    md, user = write(app, Reply("**停水通知**", markdown=True, mentions=["lead_li"], to_chat="chat-hy-01"),
                     Reply("您有一张新工单", to_user="mem_zhao"))
    assert delivery.deliver(app, md) == "sent" and delivery.deliver(app, user) == "sent"
    (robot,) = fake.sent("/cgi-bin/webhook/send")
    assert robot.body == {"msgtype": "markdown", "markdown": {"content": "**停水通知**\n<@lead_li>"}}
    (msg,) = fake.sent("/cgi-bin/message/send")
    assert msg.body["touser"] == "mem_zhao" and msg.body["agentid"] == 1000002
    assert msg.body["text"]["content"] == "您有一张新工单" and msg.body["enable_duplicate_check"] == 1


def test_external_group_announcement_goes_as_a_template_and_the_requester_is_told_to_confirm(app, fake):
    with app.session() as s, s.begin():   # bound as what it is: a customer group (never guessed from "wr")
        s.add(GridChat(grid_id=s.scalar(select(GridChat.grid_id).where(GridChat.chat_id == "chat-hy-01")),
                       chat_id="wrExternalGroup01", kind="customer_group"))
    with app.session() as s, s.begin():
        (r,) = outbox.write_replies(s, None, [Reply("本周六上午小区消杀", to_chat="wrExternalGroup01")],
                                    now=app.clock.now(), platform="wecom_app")
        r.content = dict(r.content, sender="mem_zhao", requested_by="mem_zhao")
        oid = r.id
    assert delivery.deliver(app, oid) == "sent"
    (tpl,) = fake.sent("/cgi-bin/externalcontact/add_msg_template")
    assert tpl.body["chat_type"] == "group" and tpl.body["chat_id_list"] == ["wrExternalGroup01"]
    assert tpl.body["sender"] == "mem_zhao" and tpl.body["text"]["content"] == "本周六上午小区消杀"
    with app.session() as s:   # the notice the sender wrote waits in RQ like any row: deliver it here
        notice_id = s.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == f"template-confirm-{oid}"))
    assert delivery.deliver(app, notice_id) == "sent"
    (notice,) = fake.sent("/cgi-bin/message/send")
    assert notice.body["touser"] == "mem_zhao" and "确认" in notice.body["text"]["content"]


def test_5xx_is_retried_with_backoff_then_sent_once(app, fake, clock):
    (oid,) = write(app, Reply("通知", to_user="mem_zhao"))
    fake.fail_next = 2
    assert delivery.deliver(app, oid) == "pending"
    first = row(app, oid)
    assert first.not_before == clock.now() + timedelta(seconds=delivery.BACKOFF_SECONDS[0])
    assert delivery.deliver(app, oid) == "skipped"  # not due yet
    clock.advance(seconds=delivery.BACKOFF_SECONDS[0])
    assert delivery.deliver(app, oid) == "pending"
    assert row(app, oid).not_before == clock.now() + timedelta(seconds=delivery.BACKOFF_SECONDS[1])
    clock.advance(seconds=delivery.BACKOFF_SECONDS[1])
    assert delivery.deliver(app, oid) == "sent"
    assert len(fake.sent("/cgi-bin/message/send")) == 1 and row(app, oid).attempts == 3


def test_after_the_last_try_the_row_is_dead_and_visible(app, fake, clock, caplog):
    (oid,) = write(app, Reply("通知", to_chat="chat-hy-01"))
    fake.fail_next = 100
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.deliver(app, oid)
        clock.advance(hours=1)
    dead = row(app, oid)
    assert dead.status == "dead" and "502" in dead.last_error and dead.attempts == delivery.MAX_ATTEMPTS
    with app.session() as s:
        assert s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "dead")).all() == [oid]
    assert "is dead after its last try" in caplog.text
    assert fake.sent("/cgi-bin/webhook/send") == []


def test_a_timed_out_app_message_is_retried_and_wecom_duplicate_check_keeps_it_single(app, fake, clock):
    (oid,) = write(app, Reply("请今天完成走访", to_user="mem_sun"))
    fake.timeout_seconds, fake.timeout_next = 2.0, 1
    assert delivery.deliver(app, oid) == "pending"
    clock.advance(minutes=1)
    assert delivery.deliver(app, oid) == "sent"
    assert len([r for r in fake.received if r.path == "/cgi-bin/message/send"]) == 2  # tried twice
    assert len(fake.sent("/cgi-bin/message/send")) == 1                               # delivered once


def test_a_timed_out_group_post_is_not_resent_but_marked_unknown(app, fake, clock):
    (oid,) = write(app, Reply("明早8点停水", to_chat="chat-hy-01"))
    fake.timeout_seconds, fake.timeout_next = 2.0, 1
    assert delivery.deliver(app, oid) == "unknown"
    clock.advance(hours=1)
    assert delivery.deliver(app, oid) == "skipped"
    time.sleep(1.2)  # let the fake finish answering the slow request before counting
    assert len(fake.sent("/cgi-bin/webhook/send")) == 1
    assert "check the chat" in row(app, oid).last_error


def test_a_revoked_token_is_fetched_again_and_shared_through_redis(app, fake, wecom_env, pg_url, tmp_path):
    a, b = write(app, Reply("一", to_user="mem_zhao"), Reply("二", to_user="mem_sun"))
    assert delivery.deliver(app, a) == "sent" and fake.token_calls == 1
    fake.revoke_tokens()
    assert delivery.deliver(app, b) == "sent"
    assert fake.token_calls == 2 and len(fake.sent("/cgi-bin/message/send")) == 2
    # another process (another app on the same Redis) uses the shared token without asking WeCom
    other = build(Settings.from_env({**wecom_env, "GRIDBOT_DATABASE_URL": pg_url,
                                     "GRIDBOT_INSTANCE_DIR": str(tmp_path / "other")}), sync_jobs=True)
    try:
        (c,) = write(app, Reply("三", to_user="mem_zhou"))
        assert delivery.deliver(other, c) == "sent"
    finally:
        other.close()
    assert fake.token_calls == 2 and len(fake.sent("/cgi-bin/message/send")) == 3


def test_a_robot_over_20_per_minute_waits_and_nothing_is_dropped(app, fake, clock):
    ids = write(app, *[Reply(f"第{i}条", to_chat="chat-hy-01") for i in range(23)])
    results = [delivery.deliver(app, oid) for oid in ids]
    assert results.count("sent") == 20 and results.count("pending") == 3
    waiting = [row(app, oid) for oid, r in zip(ids, results, strict=True) if r == "pending"]
    assert all(w.not_before > clock.now() and w.attempts == 0 for w in waiting)
    assert len(fake.sent("/cgi-bin/webhook/send")) == 20


def test_wecom_rate_limit_errcode_reschedules_and_never_makes_the_row_dead(app, fake, clock):
    (oid,) = write(app, Reply("通知", to_user="mem_zhao"))
    fake.ratelimit_next = delivery.MAX_ATTEMPTS + 2
    for _ in range(delivery.MAX_ATTEMPTS + 2):
        assert delivery.deliver(app, oid) == "pending"
        assert row(app, oid).attempts == 0
        clock.advance(minutes=2)
    assert delivery.deliver(app, oid) == "sent"
    assert len(fake.sent("/cgi-bin/message/send")) == 1


WORKER = """
import sys
from gridbot.bootstrap import build, set_current
from gridbot.config import Settings
from gridbot.pipeline.delivery import deliver
app = build(Settings.from_env(), sync_jobs=True)
set_current(app)
print(deliver(app, int(sys.argv[1])), flush=True)
"""


def test_a_worker_killed_between_sending_and_marking_leaves_no_double_post(app, fake, clock, wecom_env, pg_url,
                                                                          tmp_path):
    (oid,) = write(app, Reply("紧急：3栋燃气泄漏，请勿使用明火", to_chat="chat-hy-01", urgent=True))
    fake.hold_after_record = 5.0  # WeCom has the message; the worker has not heard back yet
    env = {**os.environ, **wecom_env, "GRIDBOT_DATABASE_URL": pg_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "w")}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(oid)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not [r for r in fake.received if r.path == "/cgi-bin/webhook/send"]:
        assert time.monotonic() < deadline and worker.poll() is None, worker.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    fake.hold_after_record = 0
    assert row(app, oid).status == "sending"
    assert delivery.deliver(app, oid) == "skipped"           # RQ's retry of the job finds it claimed
    clock.advance(minutes=11)
    assert delivery.sweep_stuck(app) == 1
    stuck = row(app, oid)
    assert stuck.status == "unknown" and "check the group" in stuck.last_error
    assert delivery.deliver(app, oid) == "skipped"
    assert len([r for r in fake.received if r.path == "/cgi-bin/webhook/send"]) == 1


def test_an_image_goes_to_the_group_robot_as_base64_with_its_md5(app, fake):
    import base64
    import hashlib

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    (oid,) = write(app, Reply("", to_chat="chat-hy-01"))
    with app.session() as s, s.begin():
        s.execute(update(OutboxMessage).where(OutboxMessage.id == oid).values(
            content={"kind": "image", "base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()}))
    assert delivery.deliver(app, oid) == "sent"
    (post,) = fake.sent("/cgi-bin/webhook/send")
    assert post.body["msgtype"] == "image"
    assert base64.b64decode(post.body["image"]["base64"]) == png
    assert post.body["image"]["md5"] == hashlib.md5(png).hexdigest()
