"""Hypothesis fuzz of both WeCom callback routes, in process (Flask test client, SQLite, no queue service).

12,000 generated requests in all: 5,000 free-form against /wecom/callback, 5,000 against /wecom/aibot (any method,
query, headers and body), and 2,000 validly signed requests with one field mutated. Asserted for every one: no 5xx;
and after all of them, nothing was stored or processed (no inbound rows, no outbox rows) — none had a valid signature.

Then, on an app of its own, 400 correctly signed AI-bot and app payloads of any shape (any JSON value in any field,
NULs and lone surrogates in strings, odd XML): every one answered 200 (it was signed: WeCom sent it) and stored.
"""
from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gridbot.models import InboundMessage, OutboxMessage
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message, text_xml
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, vectors
from tests.fakewecom.payloads import Signer

NOW = int(T0.timestamp())
FREE_FORM = 5000
MUTATED = 2000
FUZZ = settings(max_examples=FREE_FORM, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SEEN: dict[str, int] = {}


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One app for the whole module: the fuzz must not store anything, so there is nothing to clean between runs."""
    from gridbot import migrate
    from gridbot.bootstrap import build, set_current
    from gridbot.clock import FrozenClock
    from tests.conftest import make_settings

    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'fuzz.db'}"
    migrate.upgrade(url)
    v = vectors()
    env = {"GRIDBOT_WECOM_CORP_ID": v["corp_id"], "GRIDBOT_WECOM_TOKEN": v["token"],
           "GRIDBOT_WECOM_AES_KEY": v["encoding_aes_key"], "GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN,
           "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY, "GRIDBOT_WECOM_API_BASE": "http://127.0.0.1:9"}
    app = build(make_settings(url, tmp, **env), clock=FrozenClock(T0), sync_jobs=True)
    set_current(app)
    with app.session() as s, s.begin():
        seed_world(s)
    yield app, create_app(gridbot=app).test_client(), Signer(v["token"], v["encoding_aes_key"], v["corp_id"]), \
        Signer(AIBOT_TOKEN, AIBOT_KEY, "")
    set_current(None)
    app.close()


def stored(app) -> tuple[int, int]:
    with app.session() as s:
        return (s.scalar(select(func.count()).select_from(InboundMessage)),
                s.scalar(select(func.count()).select_from(OutboxMessage)))


printable = st.text(alphabet=string.printable, max_size=60)
params = st.dictionaries(st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr", "x"]),
                         st.one_of(printable, st.integers(-2**40, 2**40).map(str), st.just(str(NOW))), max_size=5)
bodies = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=500).map(str.encode),
    st.builds(lambda enc, extra: f"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt>{extra}</xml>"
              .encode(), st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=300), printable),
    st.builds(lambda enc: json.dumps({"encrypt": enc}).encode(),
              st.one_of(st.text(max_size=300), st.integers(), st.none())),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                 lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4)),
                 max_leaves=10).map(lambda v: json.dumps(v).encode()),
)
headers = st.dictionaries(st.sampled_from(["Content-Type", "X-Forwarded-For", "Content-Encoding", "Accept"]),
                          st.text(alphabet=string.printable.strip(), max_size=40), max_size=3)


def _send(client, route: str, method: str, query: dict, body: bytes, hdrs: dict) -> int:
    resp = client.open(route, method=method, query_string=query, data=body, headers=hdrs)
    SEEN[route] = SEEN.get(route, 0) + 1
    return resp.status_code


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE"]), query=params, body=bodies, hdrs=headers)
def test_fuzz_app_callback(target, method, query, body, hdrs):
    app, client, _, _ = target
    assert _send(client, "/wecom/callback", method, query, body, hdrs) < 500


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE"]), query=params, body=bodies, hdrs=headers)
def test_fuzz_aibot_callback(target, method, query, body, hdrs):
    app, client, _, _ = target
    assert _send(client, "/wecom/aibot", method, query, body, hdrs) < 500


@settings(FUZZ, max_examples=MUTATED)
@given(route=st.sampled_from(["/wecom/callback", "/wecom/aibot"]), field=st.sampled_from(["sig", "ts", "nonce",
       "body"]), position=st.integers(0, 10_000), byte=st.integers(1, 255), n=st.integers(0, 10**9))
def test_signed_requests_with_one_field_changed_are_refused(target, route, field, position, byte, n):
    app, client, app_signer, aibot_signer = target
    if route == "/wecom/callback":
        query, body = app_signer.xml_post(text_xml("mem_zhao", "帮助", str(n), NOW), NOW, nonce=f"z{n}")
    else:
        query, body = aibot_signer.json_post(aibot_message(f"f{n}", "resident_a", "@网格小助手 你好",
                                                           chatid="chat-hy-01"), NOW, nonce=f"z{n}")
    args = dict(pair.split("=", 1) for pair in query.split("&"))
    if field == "body":   # change one character of the ciphertext (the part the signature covers)
        text = body.decode()
        start = text.index("<Encrypt><![CDATA[") + 18 if route == "/wecom/callback" else text.index('"encrypt": "') + 12
        end = text.index("]]>", start) if route == "/wecom/callback" else text.index('"', start)
        i = start + position % (end - start)
        alphabet = string.ascii_letters + string.digits + "+/"
        replacement = alphabet[byte % len(alphabet)]
        replacement = replacement if replacement != text[i] else ("A" if text[i] != "A" else "B")
        body = (text[:i] + replacement + text[i + 1:]).encode()
    else:
        key = {"sig": "msg_signature", "ts": "timestamp", "nonce": "nonce"}[field]
        value = args[key]
        i = position % len(value)
        replacement = "0123456789abcdef"[byte % 16] if value[i] != "0123456789abcdef"[byte % 16] else "x"
        args[key] = value[:i] + replacement + value[i + 1:]
    assert 400 <= _send(client, route, "POST", args, body, {}) < 500


def test_nothing_was_stored_and_the_count_is_reached(target):
    """Runs after the fuzz tests above (file order): the total and the 'nothing processed' verdict."""
    app, _, _, _ = target
    if len(SEEN) < 2:
        pytest.skip("run together with the fuzz tests above (the whole file)")
    total = sum(SEEN.values())
    assert total >= 10_000, SEEN
    assert stored(app) == (0, 0), "a request without a valid signature was stored or processed"


SIGNED = 400
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(max_size=12),
              st.sampled_from(["\x00", "a\ud800", "\udfff", "@网格小助手 你好", "text", "mixed"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
aibot_fields = st.fixed_dictionaries(
    {}, optional={"msgid": json_values, "from": st.one_of(json_values, st.fixed_dictionaries({"userid": json_values})),
                  "msgtype": st.one_of(st.sampled_from(["text", "mixed", "image", "voice", "file", "stream", "event"]),
                                       json_values),
                  "chattype": st.sampled_from(["group", "single", 3]), "chatid": json_values,
                  "text": st.one_of(json_values, st.fixed_dictionaries({"content": json_values})),
                  "mixed": st.one_of(json_values, st.fixed_dictionaries({"msg_item": json_values})),
                  "quote": json_values, "response_url": json_values})
# a valid message with one field of any shape, or any mixture of fields
aibot_messages = st.one_of(
    aibot_fields,
    st.builds(lambda key, value, group: {**aibot_message("m", "resident_a", "@网格小助手 你好",
                                                         chatid="chat-hy-01" if group else None), key: value},
              st.sampled_from(["msgid", "from", "msgtype", "chatid", "text", "response_url", "mixed", "quote"]),
              json_values, st.booleans()))
xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
xml_fields = st.dictionaries(st.sampled_from(["FromUserName", "MsgType", "MsgId", "CreateTime", "Content", "Event",
                                              "Location_X", "Location_Y", "PicUrl", "ChatId"]),
                             st.one_of(xml_text, st.just("<a>1</a><a>2</a>"),
                                       st.sampled_from(["text", "event", "location", "LOCATION"])),
                             max_size=8)


@pytest.fixture
def signed_target(make_app, sqlite_url, wecom_env):
    app = make_app(sqlite_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
    v = vectors()
    return app, create_app(gridbot=app).test_client(), Signer(v["token"], v["encoding_aes_key"], v["corp_id"]), \
        Signer(AIBOT_TOKEN, AIBOT_KEY, "")


def _xml(fields: dict) -> str:
    from xml.sax.saxutils import escape

    return "<xml>" + "".join(f"<{k}>{v if v.startswith('<a>') else escape(v)}</{k}>" for k, v in fields.items()) + \
        "</xml>"


@settings(FUZZ, max_examples=SIGNED)
@given(route=st.sampled_from(["/wecom/callback", "/wecom/aibot"]), msg=aibot_messages, fields=xml_fields,
       n=st.integers(0, 10**9))
def test_signed_payloads_of_any_shape_are_answered_200_and_stored(signed_target, route, msg, fields, n):
    app, client, app_signer, aibot_signer = signed_target
    if route == "/wecom/aibot":
        query, body = aibot_signer.json_post(msg, NOW, nonce=f"s{n}", ascii=True)
    else:
        query, body = app_signer.xml_post(_xml(fields), NOW, nonce=f"s{n}")
    status = client.post(f"{route}?{query}", data=body).status_code
    assert status == 200
