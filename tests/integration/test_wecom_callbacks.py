"""WeCom callbacks end to end: official vectors, payloads signed as WeCom does, every bad input refused with a 4xx
and nothing stored, every signed callback answered 200 (duplicates byte for byte, unbound chats, types the bot does
not handle), and a delivery repeated three times processed and answered once. PostgreSQL + Redis, and SQLite."""
from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from gridbot.adapters import wecom_aibot, wecom_app
from gridbot.adapters.wecom_crypto import CallbackCrypto, CallbackRejected
from gridbot.models import GridChat, InboundMessage, OutboxMessage, UnknownChat
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message, text_xml, wecom_encrypt
from tests.fakewecom.fixtures import vectors

NOW = int(T0.timestamp())


# -- the official vectors (no services needed) ----------------------------------------------------------
def test_official_url_check_vector_decrypts_to_its_plaintext():
    v = vectors()
    crypto = CallbackCrypto(v["token"], v["encoding_aes_key"], v["corp_id"])
    u = v["url_check"]
    assert crypto.open(u["msg_signature"], u["timestamp"], u["nonce"], u["echostr"]) == u["plaintext"]


def test_official_message_vector_verifies_and_decodes_to_the_text_message():
    v = vectors()
    m = v["message"]
    crypto = CallbackCrypto(v["token"], v["encoding_aes_key"], v["corp_id"])
    body = (f"<xml><ToUserName><![CDATA[{v['corp_id']}]]></ToUserName><Encrypt><![CDATA[{m['encrypt']}]]></Encrypt>"
            f"<AgentID><![CDATA[{m['agent_id']}]]></AgentID></xml>").encode()
    inbound = wecom_app.decode(crypto.open_xml(body, m["msg_signature"], m["timestamp"], m["nonce"],
                                               now=float(m["timestamp"]) + 10))
    assert (inbound.sender_id, inbound.text, inbound.msg_id, inbound.kind) == (m["from_user"], m["content"],
                                                                                 m["msg_id"], "text")
    with pytest.raises(CallbackRejected) as stale:  # the same vector today is far outside the window
        crypto.open_xml(body, m["msg_signature"], m["timestamp"], m["nonce"], now=float(m["timestamp"]) + 3600)
    assert stale.value.status == 403
    with pytest.raises(CallbackRejected) as wrong_corp:
        CallbackCrypto(v["token"], v["encoding_aes_key"], "wwSomeoneElse").open_xml(
            body, m["msg_signature"], m["timestamp"], m["nonce"])
    assert wrong_corp.value.status == 403


def test_aibot_mention_is_stripped_and_response_url_kept():
    msg = aibot_message("m1", "zhang", "@网格小助手 3栋2单元楼道灯坏了", chatid="chat-hy-01",
                        response_url="https://x.invalid/r")
    inbound = wecom_aibot.decode(json.dumps(msg, ensure_ascii=False), T0)
    assert inbound.text == "3栋2单元楼道灯坏了"
    assert (inbound.chat_id, inbound.response_url, inbound.msg_id) == ("chat-hy-01", "https://x.invalid/r", "m1")
    mixed = {"msgid": "m2", "chattype": "group", "chatid": "c", "from": {"userid": "u"}, "msgtype": "mixed",
             "mixed": {"msg_item": [{"msgtype": "text", "text": {"content": "@bot 看这里"}},
                                    {"msgtype": "image", "image": {"url": "https://img.invalid/1"}}]}}
    decoded = wecom_aibot.decode(json.dumps(mixed, ensure_ascii=False), T0)
    assert (decoded.text, decoded.image_url) == ("看这里", "https://img.invalid/1")


# -- over HTTP, on PostgreSQL + Redis -----------------------------------------------------------------
@pytest.fixture
def world_app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
    return app


@pytest.fixture
def client(world_app):
    return create_app(gridbot=world_app).test_client()


def count(app, model) -> int:
    with app.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_url_verification_answers_the_decrypted_echostr_on_both_routes(client, app_signer, aibot_signer):
    query, plain = app_signer.url_check("1288432023552776189", NOW)
    resp = client.get(f"/wecom/callback?{query}")
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, plain)
    query, plain = aibot_signer.url_check("aibot-echo-42", NOW)
    resp = client.get(f"/wecom/aibot?{query}")
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, plain)


def test_a_text_message_to_the_app_is_stored_processed_and_answered_by_app_message(
        client, world_app, app_signer, fake):
    query, body = app_signer.xml_post(text_xml("mem_zhao", "帮助", "900001", NOW), NOW)
    resp = client.post(f"/wecom/callback?{query}", data=body)
    assert resp.status_code == 200
    with world_app.session() as s:
        row = s.scalar(select(InboundMessage))
        assert (row.sender_id, row.status, row.payload["text"]) == ("mem_zhao", "done", "帮助")
    sent = fake.sent("/cgi-bin/message/send")  # the help text may come in parts (2048-byte limit)
    assert sent and all(p.body["touser"] == "mem_zhao" and p.body["enable_duplicate_check"] == 1 for p in sent)
    assert "赵网格员" in sent[0].body["text"]["content"]
    with world_app.session() as s:
        (reply,) = s.scalars(select(OutboxMessage)).all()
    assert reply.status == "sent" and "".join(p.body["text"]["content"] for p in sent).replace("\n", "") \
        == reply.content["text"].replace("\n", "")


def test_a_delivery_repeated_three_times_is_processed_once_and_answered_once(client, world_app, aibot_signer,
                                                                            fake):
    msg = aibot_message("msg-abc-1", "resident_a", "@网格小助手 你好", chatid="chat-hy-01",
                        response_url=fake.response_url("1"))
    statuses = []
    for attempt in range(3):  # WeCom's retries: same message, newly signed each time
        query, body = aibot_signer.json_post(msg, NOW + attempt, nonce=f"n{attempt}")
        statuses.append(client.post(f"/wecom/aibot?{query}", data=body).status_code)
    assert statuses == [200, 200, 200]
    assert count(world_app, InboundMessage) == 1
    with world_app.session() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert len(rows) == 1 and rows[0].status == "sent"
    posts = fake.replies("1")
    assert len(posts) == 1
    assert posts[0].body["msgtype"] == "markdown" and posts[0].body["markdown"]["content"] == rows[0].content["text"]


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                  b'<xml><Encrypt>&lol2;</Encrypt></xml>')


def _bad_requests(app_signer, aibot_signer, fake):
    good_xml = text_xml("mem_zhao", "13812345678 漏水", "700001", NOW)
    q, body = app_signer.xml_post(good_xml, NOW)
    bad_sig = q.replace("msg_signature=", "msg_signature=0")
    wrong_corp = app_signer.xml_post(good_xml, NOW, receive_id="wwNotOurCorp0000")
    stale = app_signer.xml_post(good_xml, NOW - 3600)
    aq, _ = aibot_signer.json_post(aibot_message("m-x", "resident_a", "@bot 你好", chatid="chat-unknown-9"), NOW)
    return {
        "bad signature": ("/wecom/callback", bad_sig, body, 403),
        "wrong corp id": ("/wecom/callback", *wrong_corp, 403),
        "stale timestamp": ("/wecom/callback", *stale, 403),
        "malformed XML": ("/wecom/callback", q, b"<xml><Encrypt>oops", 400),
        "entity-laden XML": ("/wecom/callback", q, BILLION_LAUGHS, 400),
        "missing query": ("/wecom/callback", "", body, 400),
        "malformed JSON": ("/wecom/aibot", aq, b'{"encrypt": ', 400),
        "garbage ciphertext": ("/wecom/aibot", aibot_signer.query("bm90IGFlcw==", NOW),
                               b'{"encrypt": "bm90IGFlcw=="}', 400),
        "oversized body": ("/wecom/callback", q, b"<xml>" + b"x" * (70 * 1024) + b"</xml>", 413),
        "deep JSON list": ("/wecom/aibot", aq, b"[" * (60 * 1024), 400),   # json.loads: RecursionError
        "deep JSON object": ("/wecom/aibot", aq, b'{"a":' * 10000 + b"1" + b"}" * 10000, 400),
        "JSON not an object": ("/wecom/aibot", aq, b'"encrypt"', 400),
        "deep XML": ("/wecom/callback", q, b"<xml>" + b"<a>" * 8000 + b"</a>" * 8000 + b"</xml>", 400),
    }


@pytest.mark.parametrize("case", ["bad signature", "wrong corp id", "stale timestamp", "malformed XML",
                                  "entity-laden XML", "missing query", "malformed JSON", "garbage ciphertext",
                                  "oversized body", "deep JSON list", "deep JSON object", "JSON not an object",
                                  "deep XML"])
def test_bad_input_is_refused_with_a_4xx_an_operator_log_line_and_nothing_stored(
        case, client, world_app, app_signer, aibot_signer, fake, caplog):
    path, query, body, status = _bad_requests(app_signer, aibot_signer, fake)[case]
    with caplog.at_level(logging.WARNING, logger="gridbot"):
        resp = client.post(f"{path}?{query}", data=body)
    assert resp.status_code == status
    assert count(world_app, InboundMessage) == 0 and count(world_app, OutboxMessage) == 0
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and str(status) in refusals[0]
    assert "13812345678" not in caplog.text and "resident_a" not in caplog.text


def test_a_byte_identical_repeat_is_answered_200_and_stored_and_answered_once(client, world_app, app_signer, fake):
    """A retry may carry the same signature, timestamp and nonce (WECOM.md "Timing and retries"): not an attack."""
    query, body = app_signer.xml_post(text_xml("mem_zhao", "帮助", "800001", NOW), NOW)
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 200
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 200
    assert count(world_app, InboundMessage) == 1 and count(world_app, OutboxMessage) == 1


def test_an_unknown_chat_is_recorded_and_a_grid_leader_binds_it(client, world_app, aibot_signer, fake):
    def say(msgid: str, user: str, text: str) -> int:
        msg = aibot_message(msgid, user, text, chatid="chat-new-7", response_url=fake.response_url(f"{msgid}"))
        query, body = aibot_signer.json_post(msg, NOW)
        return client.post(f"/wecom/aibot?{query}", data=body).status_code

    assert say("u1", "resident_a", "@网格小助手 你好") == 200   # WeCom sent it: answered, stored, not processed
    assert say("u1", "resident_a", "@网格小助手 你好") == 200   # its retry: stored once, the chat counted once
    with world_app.session() as s:
        assert [(c.chat_id, c.messages) for c in s.scalars(select(UnknownChat))] == [("chat-new-7", 1)]
        (row,) = s.scalars(select(InboundMessage)).all()
        assert (row.status, row.chat_id, row.attempts) == ("unbound", "chat-new-7", 0) and "绑定本群" in row.error
    assert count(world_app, OutboxMessage) == 0   # nothing processed: no reply
    assert say("u2", "mem_zhao", "@网格小助手 绑定本群 HY-01") == 200  # a plain member may not
    assert "没有使用" in fake.replies("u2")[0].body["markdown"]["content"]
    assert say("u3", "lead_li", "@网格小助手 绑定本群 HY-03") == 200   # not lead_li's grid
    assert "不在您负责" in fake.replies("u3")[0].body["markdown"]["content"]
    assert say("u4", "lead_li", "@网格小助手 绑定本群 hy-02") == 200
    assert "第二网格" in fake.replies("u4")[0].body["markdown"]["content"]
    with world_app.session() as s:
        chat = s.scalar(select(GridChat).where(GridChat.chat_id == "chat-new-7"))
        assert chat is not None and chat.bound_by == "member:lead_li"
        assert s.scalar(select(func.count()).select_from(UnknownChat)) == 0
    assert say("u5", "resident_a", "@网格小助手 你好") == 200   # bound now: processed and answered
    with world_app.session() as s:
        statuses = dict(s.execute(select(InboundMessage.dedupe_key, InboundMessage.status)).all())
    assert statuses["wecom_aibot:msg:u5"] == "done" and statuses["wecom_aibot:msg:u1"] == "unbound"
    with world_app.session() as s:
        answered = set(s.scalars(select(InboundMessage.dedupe_key).join(
            OutboxMessage, OutboxMessage.inbound_id == InboundMessage.id).where(OutboxMessage.status == "sent")))
    assert "wecom_aibot:msg:u5" in answered and "wecom_aibot:msg:u1" not in answered


def test_a_route_without_settings_answers_404(make_app, pg_url, app_signer):
    app = make_app(pg_url)
    client = create_app(gridbot=app).test_client()
    query, body = app_signer.xml_post(text_xml("mem_zhao", "帮助", "1", NOW), NOW)
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 404
    assert client.get("/wecom/aibot?msg_signature=a&timestamp=1&nonce=2&echostr=x").status_code == 404


def test_a_self_made_encoder_agrees_with_wechatpy():
    """The tests' encoder is checked against wechatpy's decryptor (and so against the vectors above)."""
    from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

    v = vectors()
    key = WeChatCrypto(v["token"], v["encoding_aes_key"], v["corp_id"]).key
    assert PrpCrypto(key).decrypt(wecom_encrypt(v["encoding_aes_key"], "网格 ok", v["corp_id"]), v["corp_id"]) \
        == "网格 ok"


def test_on_rq_a_repeated_delivery_and_a_byte_identical_repeat_are_answered_200_and_processed_once(
        make_app, pg_url, wecom_env, aibot_signer, redis_conn, redis_prefix, fake):
    from rq import SimpleWorker

    app = make_app(pg_url, env=wecom_env, sync_jobs=False)
    with app.session() as s, s.begin():
        seed_world(s)
    client = create_app(gridbot=app).test_client()
    msg = aibot_message("rq-1", "resident_a", "@网格小助手 你好", chatid="chat-hy-01",
                        response_url=fake.response_url("rq-1"))
    first = aibot_signer.json_post(msg, NOW, nonce="a")
    assert client.post(f"/wecom/aibot?{first[0]}", data=first[1]).status_code == 200
    again = aibot_signer.json_post(msg, NOW + 1, nonce="b")
    assert client.post(f"/wecom/aibot?{again[0]}", data=again[1]).status_code == 200
    assert client.post(f"/wecom/aibot?{first[0]}", data=first[1]).status_code == 200
    SimpleWorker(list(app.queue.queues.values()), connection=redis_conn, name=f"{redis_prefix}-w").work(burst=True)
    with app.session() as s:
        (row,) = s.scalars(select(InboundMessage)).all()
        replies = s.scalars(select(OutboxMessage)).all()
    assert (row.status, row.attempts) == ("done", 1)  # the retry's extra job found it done
    assert len(replies) == 1 and replies[0].status == "sent"
    assert len(fake.replies("rq-1")) == 1


# -- every signed callback answered 200 (issue 15 points 1 and 3) --------------------------------------------------
def _official_delivery() -> tuple[str, bytes, int]:
    """Tencent's official app-callback sample as WeCom posts it: (query, body, its timestamp)."""
    v = vectors()
    m = v["message"]
    body = (f"<xml><ToUserName><![CDATA[{v['corp_id']}]]></ToUserName><Encrypt><![CDATA[{m['encrypt']}]]></Encrypt>"
            f"<AgentID><![CDATA[{m['agent_id']}]]></AgentID></xml>").encode()
    return (f"msg_signature={m['msg_signature']}&timestamp={m['timestamp']}&nonce={m['nonce']}", body,
            int(m["timestamp"]))


@pytest.mark.parametrize("where", ["postgresql-intake", "sqlite-local"])
def test_the_official_sample_delivered_three_times_byte_for_byte_is_answered_200_thrice_and_processed_once(
        where, make_app, pg_url, sqlite_url, wecom_env, clock, redis_conn, redis_prefix):
    from datetime import UTC, datetime

    from rq import SimpleWorker

    from gridbot.pipeline.intake import Intake
    from gridbot.pipeline.receive import LocalReceiver

    query, body, at = _official_delivery()
    clock.set(datetime.fromtimestamp(at + 10, UTC))   # inside the sample's timestamp window
    app = make_app(pg_url, sync_jobs=False, env=wecom_env) if where == "postgresql-intake" \
        else make_app(sqlite_url, env=wecom_env)
    assert isinstance(app.receiver, Intake if where == "postgresql-intake" else LocalReceiver)
    client = create_app(gridbot=app).test_client()
    assert [client.post(f"/wecom/callback?{query}", data=body).status_code for _ in range(3)] == [200, 200, 200]
    if where == "postgresql-intake":
        SimpleWorker(list(app.queue.queues.values()), connection=redis_conn, name=f"{redis_prefix}-w").work(burst=True)
    with app.session() as s:
        (row,) = s.scalars(select(InboundMessage)).all()
        replies = s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == row.id)).all()
    assert (row.sender_id, row.payload["text"], row.status, row.attempts) == ("ChenJiaShun", "你好", "done", 1)
    assert len(replies) == 1   # processed once: one answer written


AIBOT_SKIPPED = [("file", {"file": {"url": "https://x.invalid/f"}}), ("video", {"video": {"url": "https://x.invalid/v"}}),
                 ("hologram", {"hologram": {}})]


def test_types_the_bot_does_not_handle_are_stored_skipped_answered_200_and_logged_once_per_type(
        client, world_app, aibot_signer, app_signer, caplog):
    posts = []
    for n in range(3):   # three of each: one log line per (route, type), not per message
        for kind, extra in AIBOT_SKIPPED:
            msg = {"msgid": f"skip-{kind}-{n}", "chattype": "single", "from": {"userid": "mem_zhao"},
                   "msgtype": kind, **extra}
            posts.append(("/wecom/aibot", *aibot_signer.json_post(msg, NOW)))
        voice = (f"<xml><ToUserName>x</ToUserName><FromUserName>mem_zhao</FromUserName><CreateTime>{NOW}</CreateTime>"
                 f"<MsgType>video</MsgType><MediaId>m</MediaId><MsgId>77{n}</MsgId></xml>")
        posts.append(("/wecom/callback", *app_signer.xml_post(voice, NOW)))
        event = (f"<xml><ToUserName>x</ToUserName><FromUserName>mem_zhao</FromUserName><CreateTime>{NOW + n}"
                 "</CreateTime><MsgType>event</MsgType><Event>click_something_new</Event></xml>")
        posts.append(("/wecom/callback", *app_signer.xml_post(event, NOW)))
    with caplog.at_level(logging.WARNING, logger="gridbot"):
        assert {client.post(f"{path}?{q}", data=b).status_code for path, q, b in posts} == {200}
    with world_app.session() as s:
        rows = s.scalars(select(InboundMessage)).all()
    assert len(rows) == 15 and {r.status for r in rows} == {"skipped"} and all(r.attempts == 0 for r in rows)
    assert count(world_app, OutboxMessage) == 0
    said = [r.getMessage() for r in caplog.records if "not handled" in r.getMessage()]
    assert len(said) == 5, said   # file, video, hologram, app video, app event click_something_new


ODD_SHAPES = {
    "from a string": {"msgid": "odd-1", "chattype": "single", "from": "mem_zhao", "msgtype": "text",
                      "text": {"content": "你好"}},
    "text a string": {"msgid": "odd-2", "chattype": "single", "from": {"userid": "mem_zhao"}, "msgtype": "text",
                      "text": "你好"},
    "mixed a string": {"msgid": "odd-3", "chattype": "single", "from": {"userid": "mem_zhao"}, "msgtype": "mixed",
                       "mixed": "你好"},
    "mixed items not objects": {"msgid": "odd-4", "chattype": "single", "from": {"userid": "mem_zhao"},
                                "msgtype": "mixed", "mixed": {"msg_item": ["你好", 3, None]}},
    "msg_item a dict": {"msgid": "odd-5", "chattype": "single", "from": {"userid": "mem_zhao"}, "msgtype": "mixed",
                        "mixed": {"msg_item": {"msgtype": "text"}}},
    "NUL in msgid": {"msgid": "odd\x006", "chattype": "single", "from": {"userid": "mem_zhao"}, "msgtype": "text",
                     "text": {"content": "你好"}},
    "NUL in chatid": {"msgid": "odd-7", "chattype": "group", "chatid": "chat\x00hy", "from": {"userid": "mem_zhao"},
                      "msgtype": "text", "text": {"content": "你好"}},
    "NUL in userid": {"msgid": "odd-8", "chattype": "single", "from": {"userid": "mem\x00zhao"}, "msgtype": "text",
                      "text": {"content": "你好"}},
    "lone surrogate in text": {"msgid": "odd-9", "chattype": "single", "from": {"userid": "mem_zhao"},
                               "msgtype": "text", "text": {"content": "坏\ud800字"}},
    "numbers for strings": {"msgid": 10, "chattype": "single", "from": {"userid": 42}, "msgtype": "text",
                            "text": {"content": 3.5}},
    "objects for ids": {"msgid": {"x": 1}, "chattype": "single", "from": {"userid": ["a"]}, "msgtype": "text",
                        "text": {"content": "你好"}},
    "msgid too long": {"msgid": "m" * 400, "chattype": "single", "from": {"userid": "mem_zhao"}, "msgtype": "text",
                       "text": {"content": "你好"}},
    "a list": [1, 2, 3],
}


@pytest.mark.parametrize("shape", list(ODD_SHAPES))
def test_signed_json_of_odd_shapes_is_answered_200_and_never_5xx(shape, client, world_app, aibot_signer):
    plaintext = json.dumps(ODD_SHAPES[shape])   # ASCII: a lone surrogate travels as the escape "\ud800"
    query, body = _raw_json_post(aibot_signer, plaintext)
    assert client.post(f"/wecom/aibot?{query}", data=body).status_code == 200
    with world_app.session() as s:
        (row,) = s.scalars(select(InboundMessage)).all()
    if shape == "numbers for strings":   # WeCom's ids as numbers are read as their digits
        assert (row.status, row.sender_id, row.dedupe_key) == ("done", "42", "wecom_aibot:msg:10")
        return
    assert row.status == "unreadable" and row.error and row.attempts == 0
    assert "\x00" not in (row.raw or "") and row.raw   # kept raw, escaped
    # WeCom's redelivery of the same payload finds the same row
    again = _raw_json_post(aibot_signer, plaintext, NOW + 1)
    assert client.post(f"/wecom/aibot?{again[0]}", data=again[1]).status_code == 200
    assert count(world_app, InboundMessage) == 1


def test_signed_payloads_that_do_not_parse_are_kept_unreadable_with_200(client, world_app, aibot_signer, app_signer):
    deep = "[" * 20_000 + "]" * 20_000   # inside the encryption: signed, so WeCom's; too deep to parse
    cases = [("/wecom/aibot", *_raw_json_post(aibot_signer, deep)),
             ("/wecom/aibot", *_raw_json_post(aibot_signer, "not json at all")),
             ("/wecom/callback", *app_signer.xml_post("<xml><MsgType>text</MsgType>", NOW)),
             ("/wecom/callback", *app_signer.xml_post("<xml><FromUserName>a</FromUserName><MsgType>text</MsgType>"
                                                      "<CreateTime>soon</CreateTime><MsgId>5</MsgId></xml>", NOW))]
    for path, query, body in cases:
        assert client.post(f"{path}?{query}", data=body).status_code == 200, path
    with world_app.session() as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [r.status for r in rows] == ["unreadable"] * 4
    assert rows[3].dedupe_key == "wecom_app:msg:5" and rows[3].sender_id == "a"


def _raw_json_post(signer, plaintext: str, at: int = NOW) -> tuple[str, bytes]:
    """A signed AI-bot POST of this exact plaintext."""
    encrypt = wecom_encrypt(signer.aes_key, plaintext, signer.receive_id)
    return signer.query(encrypt, at), json.dumps({"encrypt": encrypt}).encode()


def test_fifty_callbacks_at_once_with_one_poisoned_are_all_answered_200_and_stored(
        make_app, pg_url, wecom_env, aibot_signer, redis_conn, fake):
    """A lone surrogate in one signed payload used to fail its whole INSERT batch (22 of 336 answered 500)."""
    import threading

    from gridbot.pipeline.intake import Intake

    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    assert isinstance(app.receiver, Intake)
    with app.session() as s, s.begin():
        seed_world(s)
    posts = [aibot_signer.json_post(aibot_message(f"p-{i}", "resident_a", f"@网格小助手 {i}号楼", chatid="chat-hy-01"),
                                    NOW) for i in range(50)]
    posts[23] = _raw_json_post(aibot_signer, json.dumps(aibot_message("p-23", "resident_a", "@网格小助手 坏\ud800字",
                                                                      chatid="chat-hy-01")))
    flask_app = create_app(gridbot=app)
    statuses: list[int] = []
    start = threading.Barrier(10)

    def post(share: list) -> None:
        client = flask_app.test_client()
        start.wait()
        for query, body in share:
            statuses.append(client.post(f"/wecom/aibot?{query}", data=body).status_code)

    threads = [threading.Thread(target=post, args=(posts[k::10],)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 50
    with app.session() as s:
        rows = {r.dedupe_key: r for r in s.scalars(select(InboundMessage))}
    assert len(rows) == 50
    poisoned = rows.pop("wecom_aibot:msg:p-23")
    assert poisoned.status == "unreadable" and "\\ud800" in poisoned.raw and "surrogate" in poisoned.error
    assert {r.status for r in rows.values()} == {"received"}
