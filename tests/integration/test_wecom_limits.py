"""Every sender inside WeCom's real limits (issue 15 point 5), through the real outbox -> delivery path to the fake
WeCom, which refuses what WeCom refuses: byte limits per channel, 30 a minute AND 1,000 an hour per member, the
response_url's hour from the callback's arrival and its fallback, add_msg_template's 4,000 bytes, daily cap and
fail_list. Real Redis; SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gridbot.messages import Inbound, Reply
from gridbot.models import GridChat, OutboxMessage, UnknownChat
from gridbot.models.org import CHAT_AIBOT_GROUP, CHAT_APP_CHAT, CHAT_CUSTOMER_GROUP
from gridbot.pipeline import delivery
from gridbot.senders import PermanentFailure
from gridbot.services import outbox
from gridbot.wecom import RateLimiter, WeComClient
from gridbot.wecom.ratelimit import USER_PER_HOUR, USER_PER_MINUTE
from tests.factories import seed_world

ROBOT_KEY = "robot-key-hy01"
GROUP = "wrCustomerGroup01"   # a customer group (add_msg_template)


@pytest.fixture
def app(make_app, db_url, wecom_env):
    app = make_app(db_url, sync_jobs=False, env=wecom_env)   # rows wait in RQ: each test delivers by hand
    with app.session() as s, s.begin():
        seed_world(s)
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key=ROBOT_KEY))
        # what each chat is, as binding or a roster sync records it (the channel follows from it, never the id)
        s.add_all([UnknownChat(platform="wecom_app", chat_id=GROUP, kind=CHAT_CUSTOMER_GROUP),
                   UnknownChat(platform="wecom_app", chat_id="app-created-chat-1", kind=CHAT_APP_CHAT)])
    return app


def write(app, *replies: Reply, inbound: Inbound | None = None, platform: str = "wecom_app", **content) -> list[int]:
    with app.session() as s, s.begin():
        rows = outbox.write_replies(s, inbound, list(replies), now=app.clock.now(),
                                    platform=None if inbound else platform)
        for r in rows:
            r.content = dict(r.content, **content)
        return [r.id for r in rows]


def row(app, oid: int) -> OutboxMessage:
    with app.session() as s:
        return s.get(OutboxMessage, oid)


def by_key(app, key: str) -> int:
    with app.session() as s:
        return s.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))


def lines(n: int, word: str = "楼道灯已修好，请大家注意安全。") -> list[str]:
    return [f"第{i}行：{word}" for i in range(n)]


# -- byte limits ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("markdown", [False, True])
def test_an_app_message_over_2048_bytes_arrives_in_pieces_the_fake_accepts(app, fake, markdown):
    text = lines(150)                                   # ~8,600 bytes: markdown too is 2,048 for message/send
    (oid,) = write(app, Reply("\n".join(text), markdown=markdown, to_user="mem_zhao"))
    assert delivery.deliver(app, oid) == "sent"
    kind = "markdown" if markdown else "text"
    pieces = [p.body[kind]["content"] for p in fake.sent("/cgi-bin/message/send")]
    assert len(pieces) >= 4 and all(len(p.encode()) <= 2048 for p in pieces)
    assert "\n".join(pieces).split("\n") == text        # none dropped, none cut mid-line, in order
    assert row(app, oid).content["parts_sent"] == len(pieces)


def test_an_appchat_markdown_over_2048_bytes_arrives_in_pieces(app, fake):
    text = lines(100)
    (oid,) = write(app, Reply("\n".join(text), markdown=True, to_chat="app-created-chat-1"))
    assert delivery.deliver(app, oid) == "sent"
    pieces = [p.body["markdown"]["content"] for p in fake.sent("/cgi-bin/appchat/send")]
    assert len(pieces) >= 3 and all(len(p.encode()) <= 2048 for p in pieces)
    assert "\n".join(pieces).split("\n") == text


def test_robot_markdown_counts_the_mentions_in_its_4096_bytes(app, fake):
    mentions = [f"member_with_a_long_id_{i:02d}" for i in range(12)]       # ~340 bytes of <@...>
    text = lines(71)                                                       # 4,036 bytes: fits alone, not with them
    assert 3700 < len("\n".join(text).encode()) <= 4096
    (oid,) = write(app, Reply("\n".join(text), markdown=True, mentions=mentions, to_chat="chat-hy-01"))
    assert delivery.deliver(app, oid) == "sent"
    posts = [p.body["markdown"]["content"] for p in fake.sent("/cgi-bin/webhook/send")]
    assert len(posts) == 2 and all(len(p.encode()) <= 4096 for p in posts)
    first, second = posts
    assert first.endswith(" ".join(f"<@{m}>" for m in mentions))          # everyone is mentioned, once
    assert "<@" not in second
    assert (first.rsplit("\n", 1)[0] + "\n" + second).split("\n") == text


def test_the_fake_refuses_what_wecom_refuses(fake):
    client = WeComClient(fake.url, fake.corp_id, fake.secret)
    with pytest.raises(PermanentFailure, match="45002"):
        client.call("/cgi-bin/message/send", {"touser": "a", "msgtype": "markdown", "agentid": 1000002,
                                              "markdown": {"content": "字" * 683}})   # 2,049 bytes
    with pytest.raises(PermanentFailure, match="45002"):
        client.call("/cgi-bin/appchat/send", {"chatid": "c", "msgtype": "text", "text": {"content": "x" * 2049}})
    with pytest.raises(PermanentFailure, match="40058"):
        client.webhook("k", {"msgtype": "markdown", "markdown": {"content": "x" * 4097}})
    with pytest.raises(PermanentFailure, match="40058"):
        client.webhook("k", {"msgtype": "text", "text": {"content": "x" * 2049}})
    with pytest.raises(PermanentFailure, match="45002"):
        client.call("/cgi-bin/externalcontact/add_msg_template", {
            "chat_type": "group", "sender": "s", "chat_id_list": [GROUP], "text": {"content": "x" * 4001}})
    url = fake.response_url("once")
    client.post_url(url, {"msgtype": "markdown", "markdown": {"content": "一"}})
    with pytest.raises(PermanentFailure, match="40029"):   # one use
        client.post_url(url, {"msgtype": "markdown", "markdown": {"content": "二"}})
    late = fake.response_url("late")
    fake.age_response_url("late", 3600)
    with pytest.raises(PermanentFailure, match="40029"):   # one hour
        client.post_url(late, {"msgtype": "markdown", "markdown": {"content": "迟"}})
    assert [r.body["markdown"]["content"] for r in fake.replies("once")] == ["一"] and fake.replies("late") == []


# -- rates --------------------------------------------------------------------------------------------------------
def test_wecom_silently_drops_app_messages_over_30_a_minute_and_1000_an_hour(fake):
    client = WeComClient(fake.url, fake.corp_id, fake.secret)
    for i in range(31):
        client.call("/cgi-bin/message/send", {"touser": "a", "msgtype": "text", "agentid": 1000002,
                                              "text": {"content": str(i)}})
    assert len(fake.sent("/cgi-bin/message/send")) == 30 and len(fake.dropped()) == 1   # answered ok, not delivered
    fake.preload_user_sends("b", 1000, seconds_ago=600)
    client.call("/cgi-bin/message/send", {"touser": "b", "msgtype": "text", "agentid": 1000002,
                                          "text": {"content": "x"}})
    assert len(fake.dropped()) == 2


def test_a_member_over_30_a_minute_waits_and_nothing_is_dropped(app, fake, clock):
    ids = write(app, *[Reply(f"第{i}条通知", to_user="mem_zhao") for i in range(USER_PER_MINUTE + 3)])
    results = [delivery.deliver(app, oid) for oid in ids]
    assert results.count("sent") == USER_PER_MINUTE and results.count("pending") == 3
    waiting = [row(app, oid) for oid, r in zip(ids, results, strict=True) if r == "pending"]
    assert all(w.attempts == 0 and w.not_before > clock.now() for w in waiting)   # a wait, not a failed try
    assert len(fake.sent("/cgi-bin/message/send")) == USER_PER_MINUTE and fake.dropped() == []


def test_a_member_over_1000_an_hour_waits_for_the_hour_and_no_minute_slot_is_used(app, fake, redis_conn):
    limiter = RateLimiter(redis_conn, app.settings.redis_prefix)
    name = "user:1000002:mem_zhao"
    now_ms = int(redis_conn.time()[0]) * 1000
    # 1,000 messages reached mem_zhao 50 to 10 minutes ago: the minute is free, the hour is full
    redis_conn.zadd(limiter.key(name, 3600), {f"earlier-{i}": now_ms - 600_000 - i * 2400 for i in range(1000)})
    fake.preload_user_sends("mem_zhao", USER_PER_HOUR, seconds_ago=600)
    (oid,) = write(app, Reply("通知", to_user="mem_zhao"))
    assert delivery.deliver(app, oid) == "pending"
    waiting = row(app, oid)
    assert waiting.attempts == 0 and "1000/3600s" in waiting.last_error
    wait = (waiting.not_before - app.clock.now()).total_seconds()
    assert 600 < wait <= 3000                             # until the oldest of the hour leaves it, not a minute
    assert redis_conn.zcard(limiter.key(name, 60)) == 0   # refused by the hour: the minute slot was not taken
    assert fake.received == [] and fake.dropped() == []


@pytest.mark.parametrize("with_redis", [True, False])
def test_two_windows_take_a_slot_in_both_or_in_neither(with_redis, request):
    if with_redis:
        limiter = RateLimiter(request.getfixturevalue("redis_conn"), request.getfixturevalue("redis_prefix") + ":")
    else:
        limiter = RateLimiter()
    windows = ((3, 60.0), (4, 3600.0))
    assert [limiter.acquire_all("user:x", windows) for _ in range(3)] == [0.0] * 3
    assert 0 < limiter.acquire_all("user:x", windows) <= 60                 # the minute is full
    assert limiter.acquire_all("user:x", ((10, 60.0), (4, 3600.0))) == 0.0  # a fourth fits both
    refused = limiter.acquire_all("user:x", ((10, 60.0), (4, 3600.0)))
    assert 60 < refused <= 3600                                             # the hour is full: wait for it
    assert limiter.acquire_all("user:x", ((5, 60.0),)) == 0.0               # ... and the refusal took no minute slot


# -- response_url -------------------------------------------------------------------------------------------------
def aibot(app, fake, code: str, chat: str | None = "chat-hy-01", minutes_ago: float = 0) -> Inbound:
    return Inbound(platform="wecom_aibot", sender_id="mem_zhao", text="进度？", chat_id=chat,
                   chat_type="group" if chat else "single", msg_id=code, response_url=fake.response_url(code),
                   at=app.clock.now() - timedelta(minutes=minutes_ago))


def test_the_response_url_hour_runs_from_the_callback_not_from_the_reply_row(app, fake, clock):
    inbound = aibot(app, fake, "r1", minutes_ago=50)   # the reply was written 50 minutes after the callback
    (oid,) = write(app, Reply("工单已派给赵网格员"), inbound=inbound)
    clock.advance(minutes=11)                          # 61 minutes after the callback, 11 after the row
    assert delivery.deliver(app, oid) == "sent"
    assert fake.replies("r1") == []                    # the expired url was not tried
    (post,) = fake.sent("/cgi-bin/webhook/send")       # the group's own robot said it
    assert post.body["text"]["content"] == "工单已派给赵网格员"
    assert "expired" in row(app, oid).content["response_url_fallback"]


def test_a_used_refused_or_too_long_response_url_falls_back_to_the_group(app, fake):
    first, second = write(app, Reply("第一条"), Reply("第二条"), inbound=aibot(app, fake, "r2"))
    refused = write(app, Reply("被拒"), inbound=aibot(app, fake, "r3"))[0]
    fake.age_response_url("r3", 3700)                  # WeCom's clock says expired, ours does not
    long_text = "\n".join(lines(400))                  # ~23 KB: more than one use of 20,480 bytes
    too_long = write(app, Reply(long_text), inbound=aibot(app, fake, "r4"))[0]
    assert [delivery.deliver(app, i) for i in (first, second, refused, too_long)] == ["sent"] * 4
    assert [p.body["markdown"]["content"] for p in fake.replies("r2")] == ["第一条"]
    robot = [p.body["text"]["content"] for p in fake.sent("/cgi-bin/webhook/send")]
    assert robot[:2] == ["第二条", "被拒"]
    assert "\n".join(robot[2:]).split("\n") == long_text.split("\n")   # in pieces, none lost
    assert "already used" in row(app, second).content["response_url_fallback"]
    assert "40029" in row(app, refused).content["response_url_fallback"]
    assert "20480" in row(app, too_long).content["response_url_fallback"]


def test_a_private_reply_falls_back_to_the_members_app_message(app, fake, clock):
    (oid,) = write(app, Reply("您的走访记录已保存"), inbound=aibot(app, fake, "r5", chat=None))
    clock.advance(hours=2)
    assert delivery.deliver(app, oid) == "sent"
    (msg,) = fake.sent("/cgi-bin/message/send")
    assert msg.body["touser"] == "mem_zhao" and msg.body["text"]["content"] == "您的走访记录已保存"


def test_a_group_reply_with_no_group_channel_reaches_the_member_who_asked(app, fake, clock):
    (oid,) = write(app, Reply("本群暂无可用的发送渠道"), inbound=aibot(app, fake, "r6", chat="wrNoSender"))
    clock.advance(hours=2)
    assert delivery.deliver(app, oid) == "sent"   # the template channel needs a sender: the asker reads it instead
    (msg,) = fake.sent("/cgi-bin/message/send")
    assert msg.body["touser"] == "mem_zhao" and msg.body["text"]["content"] == "本群暂无可用的发送渠道"


def test_with_no_channel_left_the_row_is_dead_with_every_reason(make_app, db_url, wecom_env, fake, clock):
    env = {k: v for k, v in wecom_env.items() if k not in ("GRIDBOT_WECOM_CORP_ID", "GRIDBOT_WECOM_SECRET")}
    app = make_app(db_url, sync_jobs=False, env=env)   # the AI bot only: no app messages, no appchat
    with app.session() as s, s.begin():   # an internal group the AI bot heard from (recorded so), with no robot
        s.add(UnknownChat(platform="wecom_aibot", chat_id="chat-no-robot", kind=CHAT_AIBOT_GROUP))
    (oid,) = write(app, Reply("答复"), inbound=aibot(app, fake, "r7", chat="chat-no-robot"))
    clock.advance(hours=2)
    assert delivery.deliver(app, oid) == "dead"
    error = row(app, oid).last_error
    assert "no channel could take this reply" in error and "robot key" in error and "GRIDBOT_WECOM_SECRET" in error


# -- add_msg_template ---------------------------------------------------------------------------------------------
def announce(app, text: str) -> int:
    (oid,) = write(app, Reply(text, to_chat=GROUP), sender="mem_zhao", requested_by="lead_li")
    return oid


def test_a_template_over_4000_bytes_is_refused_and_the_requester_told(app, fake):
    oid = announce(app, "通知" * 700)                  # 4,200 bytes
    assert delivery.deliver(app, oid) == "dead"
    assert "4200 bytes" in row(app, oid).last_error and fake.received == []
    assert delivery.deliver(app, by_key(app, f"template-too-long-{oid}-lead_li")) == "sent"
    notice = [m.body["text"]["content"] for m in fake.sent("/cgi-bin/message/send") if m.body["touser"] == "lead_li"]
    assert notice and "4200" in notice[0] and "4000" in notice[0]


def test_over_the_daily_cap_the_member_posts_it_by_hand_and_the_next_day_it_goes_again(app, fake, clock):
    first = announce(app, "本周六上午小区消杀")
    second = announce(app, "明早8点至12点停水")
    assert delivery.deliver(app, first) == "sent" and delivery.deliver(app, second) == "sent"
    (tpl,) = fake.sent("/cgi-bin/externalcontact/add_msg_template")       # the second was not attempted
    assert tpl.body["text"]["content"] == "本周六上午小区消杀" and tpl.body["chat_id_list"] == [GROUP]
    assert row(app, second).content["handed_to"] == ["lead_li", "mem_zhao"]
    for member in ("lead_li", "mem_zhao"):
        assert delivery.deliver(app, by_key(app, f"template-over-cap-{second}-{member}")) == "sent"
    by_hand = [m.body["text"]["content"] for m in fake.sent("/cgi-bin/message/send")]
    assert len(by_hand) == 2 and all("明早8点至12点停水" in m and "手动" in m for m in by_hand)
    clock.advance(days=1)
    fake.new_day()
    third = announce(app, "周日义诊")
    assert delivery.deliver(app, third) == "sent"
    assert len(fake.sent("/cgi-bin/externalcontact/add_msg_template")) == 2
    assert row(app, third).content["fail_list"] == []


def test_a_group_in_fail_list_is_shown_to_the_member(app, fake):
    fake.mass_sent_by_hand(GROUP)                      # a member mass-sent to it from the client today
    oid = announce(app, "燃气安全检查")
    assert delivery.deliver(app, oid) == "sent"
    assert row(app, oid).content["fail_list"] == [GROUP]
    assert by_key(app, f"template-confirm-{oid}") is None              # nothing for the owner to confirm
    assert delivery.deliver(app, by_key(app, f"template-not-reached-{oid}-lead_li")) == "sent"
    (notice,) = fake.sent("/cgi-bin/message/send")
    assert notice.body["touser"] == "lead_li"
    assert "燃气安全检查" in notice.body["text"]["content"] and "未能" in notice.body["text"]["content"]


def test_a_template_that_failed_to_reach_wecom_gives_its_daily_slot_back(app, fake, clock):
    oid = announce(app, "周三下午社区议事会")
    fake.fail_next, fake.fail_only = 1, "add_msg_template"     # WeCom answered 502: no task was created
    assert delivery.deliver(app, oid) == "pending"
    clock.advance(seconds=delivery.BACKOFF_SECONDS[0])
    assert delivery.deliver(app, oid) == "sent"
    (tpl,) = fake.sent("/cgi-bin/externalcontact/add_msg_template")   # the retry went as a mass send, once
    assert tpl.body["text"]["content"] == "周三下午社区议事会" and "handed_to" not in row(app, oid).content


def test_a_row_written_before_the_arrival_was_recorded_counts_the_hour_from_the_inbound_log(app, fake, clock):
    from gridbot.models import InboundMessage

    with app.session() as s, s.begin():
        log_row = InboundMessage(platform="wecom_aibot", dedupe_key="aibot:old-1", chat_id="chat-hy-01",
                                 sender_id="mem_zhao", received_at=clock.now() - timedelta(minutes=59))
        s.add(log_row)
        s.flush()
        inbound_id = log_row.id
    (oid,) = write(app, Reply("旧行的答复"), inbound=aibot(app, fake, "r8"))
    with app.session() as s, s.begin():   # as an older version wrote it: no arrival on the row
        r = s.get(OutboxMessage, oid)
        r.inbound_id = inbound_id
        r.content = {k: v for k, v in r.content.items() if k != "response_url_at"}
    clock.advance(minutes=2)
    assert delivery.deliver(app, oid) == "sent"
    assert fake.replies("r8") == [] and "expired" in row(app, oid).content["response_url_fallback"]
