"""Hostile input through the real webhook, the router and the pages people read.

- XML entity attacks (billion laughs, an external entity), signed as WeCom would sign them: refused, nothing read
  from disk, nothing stored.
- Oversized bodies (5 MiB on each route): 413, nothing stored.
- Replays: one accepted callback replayed 200 times on each route: each answered 200 (WeCom's retry may be byte
  for byte the same), stored once, processed and answered once.
- A flood: one resident sends 1,000 problem reports to a group in a minute: at most FLOOD_LIMIT reach the router
  (a handful of tickets, not a thousand), one Chinese "slow down" reply, every message still stored.
- SQL injection and XSS in chat text reach the simulator feed and the console's ticket pages as inert, escaped text;
  the tables are intact.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gridbot.models import Household, InboundMessage, Ticket
from gridbot.pipeline.process import FLOOD_LIMIT
from gridbot.texts import t
from gridbot.web import create_app
from tests.conftest import T0
from tests.console_helpers import build_world
from tests.factories import seed_world
from tests.fakewecom import aibot_message, text_xml
from tests.fakewecom.payloads import wecom_encrypt, wecom_signature

NOW = int(T0.timestamp())


@pytest.fixture
def world_app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
    return app


@pytest.fixture
def client(world_app):
    return create_app(gridbot=world_app).test_client()


def count(app, model, *where) -> int:
    with app.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def signed_outer(signer, outer_template: str, inner: str, nonce: str) -> tuple[str, bytes]:
    encrypt = wecom_encrypt(signer.aes_key, inner, signer.receive_id)
    sig = wecom_signature(signer.token, str(NOW), nonce, encrypt)
    return (f"msg_signature={sig}&timestamp={NOW}&nonce={nonce}",
            outer_template.replace("ENCRYPT", encrypt).encode())


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">' +
          "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)) +
          ']><xml><ToUserName>&i;</ToUserName><Encrypt><![CDATA[ENCRYPT]]></Encrypt></xml>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            '<xml><ToUserName>&e;</ToUserName><Encrypt><![CDATA[ENCRYPT]]></Encrypt></xml>')


@pytest.mark.parametrize("outer", [LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_entity_attacks_in_the_outer_xml_are_refused(client, world_app, app_signer, outer):
    query, body = signed_outer(app_signer, outer, text_xml("mem_zhao", "帮助", "1", NOW), "n1")
    resp = client.post(f"/wecom/callback?{query}", data=body)
    assert resp.status_code == 400 and b"root:" not in resp.data
    assert count(world_app, InboundMessage) == 0


@pytest.mark.parametrize("entity", ['<!ENTITY e SYSTEM "file:///etc/passwd">', '<!ENTITY e "&#x41;&#x41;">'])
def test_entity_attacks_inside_the_encrypted_message_are_not_expanded(client, world_app, app_signer, entity):
    """Signed: WeCom's (or someone holding our token and key), so answered 200 and kept raw, 'unreadable'; never
    expanded, never processed."""
    inner = (f'<?xml version="1.0"?><!DOCTYPE xml [{entity}]><xml><ToUserName>x</ToUserName>'
             f"<FromUserName>mem_zhao</FromUserName><CreateTime>{NOW}</CreateTime><MsgType>text</MsgType>"
             f"<Content>&e;</Content><MsgId>42</MsgId></xml>")
    query, body = signed_outer(app_signer, "<xml><Encrypt><![CDATA[ENCRYPT]]></Encrypt></xml>", inner, "n2")
    resp = client.post(f"/wecom/callback?{query}", data=body)
    assert resp.status_code == 200
    with world_app.session() as s:
        rows = s.scalars(select(InboundMessage)).all()
        texts = [json.dumps(r.payload, ensure_ascii=False) + (r.raw or "") for r in rows]
    assert [r.status for r in rows] == ["unreadable"] and "entit" in rows[0].error
    assert not any("root:" in x or "AA" in x for x in texts)


@pytest.mark.parametrize("route", ["/wecom/callback", "/wecom/aibot"])
def test_oversized_bodies_are_refused_before_reading(client, world_app, app_signer, route):
    query, _ = app_signer.xml_post(text_xml("mem_zhao", "帮助", "2", NOW), NOW)
    resp = client.post(f"{route}?{query}", data=b"<xml>" + b"A" * (5 * 1024 * 1024) + b"</xml>")
    assert resp.status_code == 413 and count(world_app, InboundMessage) == 0


def test_replayed_callbacks_are_answered_200_and_stored_and_answered_once(client, world_app, app_signer, aibot_signer,
                                                                          fake):
    q1, b1 = app_signer.xml_post(text_xml("mem_zhao", "帮助", "31", NOW), NOW)
    q2, b2 = aibot_signer.json_post(aibot_message("r2", "resident_a", "@网格小助手 你好", chatid="chat-hy-01",
                                                  response_url=fake.response_url("r2")), NOW)
    statuses = [client.post(f"/wecom/callback?{q1}", data=b1).status_code,
                client.post(f"/wecom/aibot?{q2}", data=b2).status_code]
    for _ in range(200):
        statuses.append(client.post(f"/wecom/callback?{q1}", data=b1).status_code)
        statuses.append(client.post(f"/wecom/aibot?{q2}", data=b2).status_code)
    assert set(statuses) == {200}
    assert count(world_app, InboundMessage) == 2
    assert len(fake.replies("r2")) == 1


def test_a_flood_from_one_sender_opens_a_handful_of_tickets_not_a_thousand(bot):
    places = [f"{b}栋{u}单元{r}" for b in range(1, 11) for u in (1, 2) for r in (101, 201, 301, 402, 502)]
    problems = ("楼道灯坏了", "垃圾没人清运", "水管漏水", "有人私拉电线充电", "半夜装修太吵")
    replies = []
    for i in range(1000):
        replies += bot.say(f"{places[i % len(places)]}{problems[i % len(problems)]}", as_="flooder", chat="HY-01")
    app = bot.app
    tickets = count(app, Ticket)
    slow_down = t("inbound.slow_down", seconds=60)
    assert count(app, InboundMessage, InboundMessage.sender_id == "flooder") == 1000   # all kept for the record
    assert 1 <= tickets <= FLOOD_LIMIT                       # the first ones are real reports; the rest are not
    assert replies.count(slow_down) == 1                     # told once, in Chinese
    # staff are not limited: a member may send many commands in a minute
    for i in range(FLOOD_LIMIT + 5):
        assert slow_down not in bot.said(f"我的工单 {i}", as_="mem_zhao", chat="HY-01")


ATTACKS = ["'; DROP TABLE tickets; --", "1' OR '1'='1", "\" OR 1=1 --", "3栋'); DELETE FROM households; --",
           "<script>alert('x')</script>", "<img src=x onerror=alert(1)>", "\"><svg/onload=alert(1)>",
           "javascript:alert(1)", "{{7*7}}", "${7*7}"]


def test_injection_in_chat_text_stays_inert_in_the_simulator_and_the_console(pg_bot):
    world = build_world(pg_bot)
    app = world.app
    before = count(app, Household)
    for i, attack in enumerate(ATTACKS):
        pg_bot.say(f"{i + 1}栋2单元101 楼道灯坏了 {attack}", as_=f"attacker{i}", chat="HY-01")
    assert count(app, Household) == before and count(app, Ticket) >= 2   # tables intact
    numbers = [n for (n,) in app.session().execute(select(Ticket.number))]
    # the simulator feed: JSON, rendered by textContent on the page
    sim = create_app({"TESTING": True, "GRIDBOT_SIMULATOR": True}, gridbot=app).test_client()
    feed = sim.get("/simulator/outbox?after=0")
    assert feed.status_code == 200 and feed.is_json
    page = sim.get("/").get_data(as_text=True)
    assert "innerHTML" not in page.replace("never innerHTML", "")
    # the console: every ticket page a leader opens shows the attack escaped, never as markup
    client = world.client("secretary")
    pages = [client.get("/console/tickets").get_data(as_text=True)]
    pages += [client.get(f"/console/tickets/{n}").get_data(as_text=True) for n in numbers]
    html = "\n".join(pages)
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg/onload" not in html
    assert "&lt;script&gt;alert" in html or "&lt;script&gt;" in html
    assert "49" not in [line.strip() for line in html.splitlines()]     # no template evaluation of {{7*7}}
