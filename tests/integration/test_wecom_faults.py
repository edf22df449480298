"""Issue 15 points 7 and 8 against the fake WeCom, on PostgreSQL + Redis.

7. A configuration fault (60020: the calling IP is not trusted; 40001: a wrong secret) is one alarm, not a thousand
   dead rows: one fault row; every row of the channel waits (pending, no try counted); readyz, /metrics, the
   console banner and the secretary's digest say what to fix, once; when it is fixed one probe releases them all,
   each delivered once. -1 (system busy) is retried at most three times.
8. A send whose outcome is unknown is re-sent where WeCom drops duplicates (message/send with
   enable_duplicate_check) and listed for a person elsewhere (a group robot): one click re-sends it, audited.
"""
from __future__ import annotations

import logging
import re
import time
from datetime import date

import pytest
from sqlalchemy import func, select, update

from gridbot.messages import Reply
from gridbot.models import AuditLog, ChannelFault, GridChat, OutboxMessage
from gridbot.pipeline import delivery
from gridbot.services import channel_faults, digest, outbox
from gridbot.web import create_app
from gridbot.web.auth import create_account
from tests.console_helpers import csrf_of, login
from tests.factories import seed_world

ROBOT_KEY = "robot-key-hy01"
MEMBERS = ("mem_zhao", "mem_qian", "mem_sun", "mem_zhou", "lead_li", "sec_wang")


@pytest.fixture
def app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)   # rows wait in RQ: each test delivers by hand
    with app.session() as s, s.begin():
        seed_world(s)
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key=ROBOT_KEY))
        create_account(s, username="wang", password="faults-test-pw", member_userid="sec_wang", now=app.clock.now())
        create_account(s, username="zhao", password="faults-test-pw", member_userid="mem_zhao", now=app.clock.now())
    return app


def write(app, *replies: Reply) -> list[int]:
    with app.session() as s, s.begin():
        return [r.id for r in outbox.write_replies(s, None, list(replies), now=app.clock.now(), platform="wecom_app")]


def rows(app) -> list[OutboxMessage]:
    with app.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def faults(app) -> list[ChannelFault]:
    with app.session() as s:
        return list(s.scalars(select(ChannelFault)))


def burst(app, n: int = 50) -> list[int]:
    return write(app, *[Reply(f"第{i}号通知：请查收", to_user=MEMBERS[i % len(MEMBERS)]) for i in range(n)])


def signed_in(app, username: str):
    client = create_app({"TESTING": True}, gridbot=app).test_client()
    login(client, username, "faults-test-pw")
    return client


def probe_and_deliver_all(app, clock) -> list[str]:
    """The scheduler's probe after PROBE_EVERY, then every row it released (RQ would run them)."""
    clock.advance(channel_faults.PROBE_EVERY)
    assert delivery.probe_faults(app) == 1
    with app.session() as s:
        due = list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending",
                                                            OutboxMessage.not_before <= clock.now())
                             .order_by(OutboxMessage.id)))
    first = [delivery.deliver(app, due[0])]     # the probe: it clears the fault and releases the others
    with app.session() as s:
        rest = list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending",
                                                             OutboxMessage.not_before <= clock.now())
                              .order_by(OutboxMessage.id)))
    return first + [delivery.deliver(app, oid) for oid in rest]


def test_60020_on_a_burst_is_one_alarm_with_the_ip_and_the_fixed_probe_delivers_all_once(app, fake, clock, caplog):
    fake.trusted_ips = {"203.0.113.9"}      # the app's trusted IPs do not list the server (127.0.0.1)
    ids = burst(app)
    with caplog.at_level(logging.INFO, logger="gridbot.pipeline.delivery"):
        assert [delivery.deliver(app, oid) for oid in ids] == ["pending"] * 50
    (fault,) = faults(app)
    assert (fault.channel, fault.errcode, fault.ip, fault.cleared_at) == ("wecom_app", 60020, "127.0.0.1", None)
    assert "add 127.0.0.1 to the app's trusted IPs" in fault.message
    held = rows(app)
    assert {r.status for r in held} == {"pending"} and all(r.attempts == 0 for r in held)   # no try burnt, none dead
    assert all(r.channel == "wecom_app" for r in held)
    # WeCom was asked once: the other 49 waited for the probe instead of failing one by one
    assert len([r for r in fake.received if r.path == "/cgi-bin/message/send"]) == 1
    stopped = [r for r in caplog.records if r.levelno == logging.ERROR and "stopped" in r.getMessage()]
    assert len(stopped) == 1 and "127.0.0.1" in stopped[0].getMessage()

    web = create_app({"TESTING": True}, gridbot=app).test_client()
    ready = web.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "degraded"
    assert "60020" in ready.json["checks"]["wecom"] and "127.0.0.1" in ready.json["checks"]["wecom"]
    metrics = web.get("/metrics").get_data(as_text=True)
    assert re.findall(r"^gridbot_channel_fault\{.*$", metrics, re.M) == [
        'gridbot_channel_fault{channel="wecom_app",errcode="60020"} 1.0']
    page = signed_in(app, "wang").get("/console/tickets").get_data(as_text=True)
    banners = re.findall(r'<div class="flash error channel-fault"[^>]*>([^<]*)</div>', page)
    assert len(banners) == 1 and "127.0.0.1" in banners[0] and "企业可信IP" in banners[0]
    assert "50 条待发消息在排队" in banners[0]
    assert "channel-fault" not in signed_in(app, "zhao").get("/console/tickets").get_data(as_text=True)
    with app.session() as s:
        d = digest.build(s, community="HY", day=date(2026, 11, 2), tz=app.settings.tz, console_base_url="http://x")
    text = digest.render_markdown(d)
    assert text.count("已暂停发送") == 1 and "127.0.0.1" in text

    fake.trusted_ips = None                 # the operator added the IP
    with caplog.at_level(logging.INFO, logger="gridbot.pipeline.delivery"):
        assert probe_and_deliver_all(app, clock) == ["sent"] * 50
    assert any("works again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    delivered = sorted(r.body["text"]["content"] for r in fake.sent("/cgi-bin/message/send"))
    assert delivered == sorted(f"第{i}号通知：请查收" for i in range(50))      # each once
    assert faults(app)[0].cleared_at is not None
    assert web.get("/readyz").json["status"] == "ok"
    assert "gridbot_channel_fault{" not in web.get("/metrics").get_data(as_text=True)
    assert "channel-fault" not in signed_in(app, "wang").get("/console/tickets").get_data(as_text=True)


def test_40001_at_gettoken_holds_the_rows_and_names_the_secret_setting(app, fake, clock):
    fake.secret = "the-secret-wecom-has-now"    # someone reset the app's Secret in WeCom's admin
    ids = burst(app, 20)
    assert [delivery.deliver(app, oid) for oid in ids] == ["pending"] * 20
    assert fake.token_calls == 1                # one refused gettoken, not twenty
    (fault,) = faults(app)
    assert fault.errcode == 40001 and "GRIDBOT_WECOM_SECRET" in fault.message
    assert {(r.status, r.attempts) for r in rows(app)} == {("pending", 0)}
    web = create_app({"TESTING": True}, gridbot=app).test_client()
    assert "GRIDBOT_WECOM_SECRET" in web.get("/readyz").json["checks"]["wecom"]
    assert "GRIDBOT_WECOM_SECRET" in signed_in(app, "wang").get("/console/dashboard").get_data(as_text=True)

    clock.advance(channel_faults.PROBE_EVERY)   # still wrong at the probe: still one fault, nothing dead
    assert delivery.probe_faults(app) == 1 and delivery.deliver(app, ids[0]) == "pending"
    (fault,) = faults(app)
    assert fault.occurrences == 2 and fault.cleared_at is None
    assert {(r.status, r.attempts) for r in rows(app)} == {("pending", 0)}

    fake.secret = "fake-secret"                 # GRIDBOT_WECOM_SECRET matches again
    assert probe_and_deliver_all(app, clock) == ["sent"] * 20
    assert len(fake.sent("/cgi-bin/message/send")) == 20


def test_a_robot_fault_stops_only_that_robot(app, fake, clock):
    robot, member = write(app, Reply("群通知", to_chat="chat-hy-01"), Reply("私信", to_user="mem_zhao"))
    fake.errcode_next, fake.errcode_only = [93000], "/webhook/send"
    assert delivery.deliver(app, robot) == "pending"
    (fault,) = faults(app)
    assert fault.channel.startswith("robot:") and ROBOT_KEY not in fault.channel and fault.errcode == 93000
    assert delivery.deliver(app, member) == "sent"        # the app's own channel is not stopped
    assert faults(app)[0].cleared_at is None


def test_system_busy_is_retried_three_times_then_dead(app, fake, clock):
    (oid,) = write(app, Reply("通知", to_user="mem_zhao"))
    fake.errcode_next = [-1, -1, -1, -1]
    results = []
    for _ in range(4):
        results.append(delivery.deliver(app, oid))
        clock.advance(hours=1)
    assert results == ["pending", "pending", "pending", "dead"]
    (row,) = rows(app)
    assert row.attempts == 4 and "3 retries" in row.last_error
    assert faults(app) == [] and fake.sent("/cgi-bin/message/send") == []


def test_system_busy_twice_then_delivered_once(app, fake, clock):
    (oid,) = write(app, Reply("通知", to_user="mem_zhao"))
    fake.errcode_next = [-1, -1]
    assert delivery.deliver(app, oid) == "pending"
    clock.advance(hours=1)
    assert delivery.deliver(app, oid) == "pending"
    clock.advance(hours=1)
    assert delivery.deliver(app, oid) == "sent"
    assert len(fake.sent("/cgi-bin/message/send")) == 1


def test_an_app_message_left_in_sending_is_resent_and_the_member_sees_it_once(app, fake, clock):
    (oid,) = write(app, Reply("请今天完成走访", to_user="mem_sun"))
    assert delivery.deliver(app, oid) == "sent"
    # as if the worker died after WeCom took it and before the row was marked
    with app.session() as s, s.begin():
        s.execute(update(OutboxMessage).where(OutboxMessage.id == oid).values(status="sending", sent_at=None))
    clock.advance(minutes=11)
    assert delivery.sweep_stuck(app) == 1
    assert rows(app)[0].status == "pending"
    assert delivery.deliver(app, oid) == "sent"
    assert len([r for r in fake.received if r.path == "/cgi-bin/message/send"]) == 2   # sent twice
    assert len(fake.sent("/cgi-bin/message/send")) == 1                               # seen once


def test_a_timed_out_robot_post_is_listed_and_one_click_resends_it_audited(app, fake, clock):
    (oid,) = write(app, Reply("明早8点停水", to_chat="chat-hy-01"))
    fake.timeout_seconds, fake.lose_next = 2.0, 1     # no answer in time; WeCom did not post it (nobody knows yet)
    assert delivery.deliver(app, oid) == "unknown"
    time.sleep(1.2)     # the fake finishes the slow request
    assert fake.sent("/cgi-bin/webhook/send") == []
    wang = signed_in(app, "wang")
    page = wang.get("/console/outbox").get_data(as_text=True)
    assert "明早8点停水" in page and "结果不明" in page and "已确认送达" in page
    resp = wang.post(f"/console/outbox/{oid}/retry", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302
    assert delivery.deliver(app, oid) == "sent"
    assert [r.body["text"]["content"] for r in fake.sent("/cgi-bin/webhook/send")] == ["明早8点停水"]
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "outbox.retry", AuditLog.entity_id == str(oid),
            AuditLog.actor.contains("wang"))) == 1


def test_already_delivered_dismisses_an_unknown_row_audited(app, fake, clock):
    (oid,) = write(app, Reply("周六消杀", to_chat="chat-hy-01"))
    fake.timeout_seconds, fake.timeout_next = 2.0, 1
    assert delivery.deliver(app, oid) == "unknown"
    time.sleep(2.2)
    wang = signed_in(app, "wang")
    token = csrf_of(wang.get("/console/outbox").get_data(as_text=True))
    assert wang.post(f"/console/outbox/{oid}/confirm", data={"csrf_token": token}).status_code == 302
    assert rows(app)[0].status == "sent"
    assert "周六消杀" not in wang.get("/console/outbox").get_data(as_text=True)
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "outbox.confirm_delivered", AuditLog.entity_id == str(oid))) == 1
    assert len(fake.sent("/cgi-bin/webhook/send")) == 1      # nothing sent again


def test_a_stopped_robot_is_probed_until_its_key_works_again_then_its_posts_go_once(app, fake, clock):
    ids = write(app, *[Reply(f"群通知{i}", to_chat="chat-hy-01") for i in range(5)])
    fake.errcode_next, fake.errcode_only = [93000, 93000], "/webhook/send"
    assert [delivery.deliver(app, oid) for oid in ids] == ["pending"] * 5
    (fault,) = faults(app)
    assert all(r.channel == fault.channel for r in rows(app))
    clock.advance(channel_faults.PROBE_EVERY)
    assert delivery.probe_faults(app) == 1 and delivery.deliver(app, ids[0]) == "pending"   # still refused
    assert faults(app)[0].occurrences == 2 and faults(app)[0].cleared_at is None
    assert probe_and_deliver_all(app, clock) == ["sent"] * 5                                 # the key works again
    assert faults(app)[0].cleared_at is not None
    assert sorted(p.body["text"]["content"] for p in fake.sent("/cgi-bin/webhook/send")) == [
        f"群通知{i}" for i in range(5)]
    assert len([r for r in fake.received if r.path == "/cgi-bin/webhook/send"]) == 7   # 5 posts and 2 refusals


def test_the_client_says_which_channel_is_misconfigured_and_how_to_fix_it(fake):
    from gridbot.senders import ConfigurationFault, PermanentFailure
    from gridbot.wecom.client import WeComClient, calling_ip

    client = WeComClient(fake.url, fake.corp_id, fake.secret)
    fake.trusted_ips = {"198.51.100.7"}
    with pytest.raises(ConfigurationFault) as err:
        client.call("/cgi-bin/message/send", {"touser": "a", "msgtype": "text", "text": {"content": "1"}})
    assert (err.value.channel, err.value.errcode, err.value.ip) == ("wecom_app", 60020, "127.0.0.1")
    fake.trusted_ips = None
    fake.errcode_next = [48002, 48002, 301002, 40078]
    with pytest.raises(ConfigurationFault) as err:
        client.call("/cgi-bin/externalcontact/add_msg_template", {})
    assert err.value.channel == "externalcontact" and "可调用应用" in err.value.fix
    with pytest.raises(ConfigurationFault) as err:
        client.call("/cgi-bin/appchat/send", {})
    assert err.value.channel == "appchat"
    with pytest.raises(ConfigurationFault) as err:      # app-wide whatever the API
        client.call("/cgi-bin/appchat/send", {})
    assert err.value.channel == "wecom_app" and "GRIDBOT_WECOM_AGENT_ID" in err.value.fix
    with pytest.raises(PermanentFailure) as err:        # about this message, not the channel
        client.call("/cgi-bin/message/send", {})
    assert not isinstance(err.value, ConfigurationFault)
    assert calling_ip("not allow to access from your ip, hint: [x], from ip: 10.1.2.3, more info at https://") \
        == "10.1.2.3"
