"""Issue 15, point 6: what the AI bot sends is used. A voice message's transcript (voice.content) is the message's
text; pictures (an image message, the images of a mixed one) are downloaded from the fake WeCom within their five
minutes, decrypted, kept as the ticket's evidence and shown in the console to people whose scope covers the ticket,
never sent to a group. Signed callbacks over HTTP, PostgreSQL + Redis where it matters, SQLite for the rest."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest
from sqlalchemy import select

from gridbot.adapters import wecom_aibot
from gridbot.models import (
    AuditLog,
    ChatIdentity,
    Household,
    HouseholdBinding,
    InboundMessage,
    OutboxMessage,
    Ticket,
    TicketEvidence,
)
from gridbot.pipeline import media, process
from gridbot.web import create_app
from gridbot.web.auth import create_account
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom.fixtures import AIBOT_KEY

NOW = int(T0.timestamp())
PASSWORD = "evidence-pass-1"
NUMBER = re.compile(r"[A-Z]+-\d{8}-\d{4}")


def png(seed: int = 0) -> bytes:
    """A small real PNG (matplotlib), different for each seed."""
    import numpy as np
    from matplotlib.image import imsave

    out = io.BytesIO()
    imsave(out, (np.arange(24 * 32).reshape(24, 32) + seed) % 7, format="png")
    return out.getvalue()


def aibot(msgid: str, userid: str, msgtype: str, body: dict, chatid: str | None = None,
          response_url: str = "https://example.invalid/response") -> dict:
    """An AI bot message of any type, shaped as doc 100719 shows it."""
    msg = {"msgid": msgid, "aibotid": "AIBOT", "chattype": "group" if chatid else "single",
           "from": {"userid": userid}, "response_url": response_url, "msgtype": msgtype, msgtype: body}
    if chatid:
        msg["chatid"] = chatid
    return msg


def mixed(text: str, urls: list[str]) -> dict:
    return {"msg_item": [{"msgtype": "text", "text": {"content": text}}]
            + [{"msgtype": "image", "image": {"url": u}} for u in urls]}


# -- decoding (no services) --------------------------------------------------------------------------------------
def test_a_voice_message_is_its_transcript_and_kind_voice():
    msg = aibot("v1", "res_a", "voice", {"content": "3栋2单元楼道灯坏了"})
    inbound = wecom_aibot.decode(json.dumps(msg, ensure_ascii=False), T0)
    assert (inbound.text, inbound.kind, inbound.is_text, inbound.chat_id) == ("3栋2单元楼道灯坏了", "voice", True,
                                                                               None)
    empty = wecom_aibot.decode(json.dumps(aibot("v2", "res_a", "voice", {}), ensure_ascii=False), T0)
    assert (empty.text, empty.kind) == ("", "voice")


def test_every_image_url_of_an_image_or_mixed_message_is_kept():
    one = wecom_aibot.decode(json.dumps(aibot("i1", "res_a", "image", {"url": "https://img.invalid/a"})), T0)
    assert (one.kind, one.event_data["images"], one.image_url) == ("image", ["https://img.invalid/a"],
                                                                  "https://img.invalid/a")
    two = aibot("m1", "res_a", "mixed", mixed("@网格小助手 看这里", ["https://img.invalid/1", "https://img.invalid/2"]),
                chatid="chat-hy-01")
    two["mixed"]["msg_item"].append({"msgtype": "image", "image": {"url": ""}})    # an image without a url: skipped
    decoded = wecom_aibot.decode(json.dumps(two, ensure_ascii=False), T0)
    assert (decoded.text, decoded.kind) == ("看这里", "text")
    assert decoded.event_data["images"] == ["https://img.invalid/1", "https://img.invalid/2"]


def test_decrypting_a_picture_checks_padding_and_that_it_is_an_image(fake):
    import requests

    picture = png()
    data = requests.get(fake.aibot_image(picture, AIBOT_KEY), timeout=5).content
    assert data != picture and media.decrypt(data, AIBOT_KEY) == picture
    with pytest.raises(media.MediaError, match="padding"):
        media.decrypt(data, "B" * 43)
    with pytest.raises(media.MediaError, match="not a PNG"):
        media.fetch(fake.aibot_image(b"<html>not a picture</html>", AIBOT_KEY), AIBOT_KEY, 5)


# -- end to end, on PostgreSQL + Redis, and SQLite ---------------------------------------------------------------
@pytest.fixture(params=["postgresql", "sqlite"])
def world_app(request, make_app, wecom_env, fake, clock):
    fake.media_clock = lambda: clock.now().timestamp()      # the pictures' five minutes run on the test's clock
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")
    app = make_app(url, env=wecom_env)
    with app.session() as s, s.begin():
        world = seed_world(s)
        home = s.scalar(select(Household).where(Household.grid_id == world.grids["HY-01"],
                                                Household.building == "1", Household.unit == "2",
                                                Household.room == "201"))
        ident = ChatIdentity(platform="wecom_aibot", user_id="res_a", display_name="住户甲")
        s.add(ident)
        s.flush()
        s.add(HouseholdBinding(household_id=home.id, identity_id=ident.id, status="active"))
        create_account(s, username="wang", password=PASSWORD, member_userid="sec_wang", now=clock.now())
        create_account(s, username="zhou", password=PASSWORD, member_userid="mem_zhou", now=clock.now())
    return app


@pytest.fixture
def web(world_app):
    return create_app({"TESTING": True}, gridbot=world_app)


def post(web, aibot_signer, msg: dict, at: int = NOW) -> int:
    query, body = aibot_signer.json_post(msg, at)
    return web.test_client().post(f"/wecom/aibot?{query}", data=body).status_code


def replies_to(app, msgid: str) -> list[str]:
    with app.session() as s:
        inbound_id = s.scalar(select(InboundMessage.id).where(InboundMessage.dedupe_key == f"wecom_aibot:msg:{msgid}"))
        return [r.content.get("text", "") for r in s.scalars(select(OutboxMessage)
                                                            .where(OutboxMessage.inbound_id == inbound_id))]


def evidence_of(app, number: str) -> list[TicketEvidence]:
    with app.session() as s:
        tid = s.scalar(select(Ticket.id).where(Ticket.number == number))
        return list(s.scalars(select(TicketEvidence).where(TicketEvidence.ticket_id == tid)
                              .order_by(TicketEvidence.position)))


def signed_in(web, username: str):
    from tests.console_helpers import login

    client = web.test_client()
    login(client, username, PASSWORD)
    return client


def test_a_voice_message_becomes_a_ticket_with_the_transcript_and_the_console_says_so(world_app, web,
                                                                                     aibot_signer):
    said = "1栋2单元201 楼道的灯坏了好几天了"
    assert post(web, aibot_signer, aibot("voice-1", "res_a", "voice", {"content": said})) == 200
    (reply,) = replies_to(world_app, "voice-1")
    number = NUMBER.search(reply).group(0)
    with world_app.session() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert (ticket.description, ticket.reporter_id, ticket.building) == (said, "res_a", "1")
        assert s.scalar(select(InboundMessage.kind).where(InboundMessage.sender_id == "res_a")) == "voice"
    page = signed_in(web, "wang").get(f"/console/tickets/{number}").get_data(as_text=True)
    assert said in page and "语音转文字" in page


def test_a_mixed_message_with_two_pictures_brings_both_to_the_ticket_and_none_to_the_group(world_app, web,
                                                                                           aibot_signer, fake):
    pictures = [png(1), png(2)]
    urls = [fake.aibot_image(p, AIBOT_KEY) for p in pictures]
    msg = aibot("mixed-1", "res_b", "mixed", mixed("@网格小助手 1栋1单元楼道漏水了，地上全是水", urls),
                chatid="chat-hy-01", response_url=fake.response_url("mixed-1"))
    assert post(web, aibot_signer, msg) == 200
    (reply,) = replies_to(world_app, "mixed-1")
    number = NUMBER.search(reply).group(0)
    assert "已收到照片 2 张" in reply
    rows = evidence_of(world_app, number)
    assert [(r.status, r.mime, r.source, r.added_by, r.chat_id) for r in rows] == \
        [("stored", "image/png", "aibot", "res_b", "chat-hy-01")] * 2
    kept = [(world_app.settings.instance_dir / r.path).read_bytes() for r in rows]
    assert kept == pictures                                          # decrypted to the very bytes sent
    assert all(re.fullmatch(r"evidence/2026/11/[0-9a-f]{64}\.png", r.path) for r in rows)
    assert len(fake.media_downloads()) == 2
    # the group hears words only: no picture, no url, through any channel
    group_posts = [r for r in fake.received if not r.path.startswith("/aibot/media/")]
    assert group_posts and all(r.body.get("msgtype") != "image" and "aibot/media" not in json.dumps(r.body)
                               for r in group_posts)
    with world_app.session() as s:
        assert all(r.content.get("kind") != "image" for r in s.scalars(select(OutboxMessage)))
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "ticket.evidence")).all()
    assert [(a.actor, a.entity_id, a.detail["stored"]) for a in audit] == [("resident:res_b", number, 2)]


def test_the_same_picture_twice_is_one_file(world_app, web, aibot_signer, fake):
    picture = png(5)
    for n in (1, 2):
        msg = aibot(f"dup-{n}", f"res_{n}", "mixed", mixed(f"@网格小助手 {n}栋1单元电梯坏了，困在里面出不来",
                                                           [fake.aibot_image(picture, AIBOT_KEY)]),
                    chatid="chat-hy-01")
        assert post(web, aibot_signer, msg) == 200
    with world_app.session() as s:
        rows = s.scalars(select(TicketEvidence)).all()
    assert len(rows) == 2 and len({r.path for r in rows}) == 1
    assert len(list((world_app.settings.instance_dir / "evidence").rglob("*.png"))) == 1


def test_a_photo_right_after_a_report_joins_that_ticket(world_app, web, aibot_signer, fake, clock):
    assert post(web, aibot_signer, aibot("t-1", "res_a", "text", {"content": "1栋2单元201 下水道堵了，污水漫出来"})) \
        == 200
    number = NUMBER.search(replies_to(world_app, "t-1")[0]).group(0)
    clock.advance(minutes=2)
    picture = png(3)
    assert post(web, aibot_signer, aibot("p-1", "res_a", "image", {"url": fake.aibot_image(picture, AIBOT_KEY)}),
                at=NOW + 120) == 200
    assert replies_to(world_app, "p-1") == [f"已收到照片 1 张，已附到工单 {number}。"]
    (row,) = evidence_of(world_app, number)
    assert (world_app.settings.instance_dir / row.path).read_bytes() == picture
    with world_app.session() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert [ev.action for ev in ticket.events][-1] == "evidence"


def test_an_expired_url_still_makes_the_ticket_records_the_failure_and_logs_it_once(
        make_app, pg_url, wecom_env, fake, clock, aibot_signer, caplog):
    fake.media_clock = lambda: clock.now().timestamp()
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)      # stored now, processed later (a backlog)
    with app.session() as s, s.begin():
        seed_world(s)
    web = create_app({"TESTING": True}, gridbot=app)
    url = fake.aibot_image(png(), AIBOT_KEY)
    msg = aibot("late-1", "res_c", "mixed", mixed("@网格小助手 2栋1单元门口的路灯不亮了", [url]), chatid="chat-hy-01")
    assert post(web, aibot_signer, msg) == 200
    clock.advance(minutes=6)                                   # past the url's five minutes
    with app.session() as s:
        inbound_id = s.scalar(select(InboundMessage.id))
    with caplog.at_level(logging.WARNING, logger="gridbot.pipeline.media"):
        process.process(app, inbound_id)
        process.process(app, inbound_id)                       # a retry: nothing fetched or logged again
    assert "照片没能保存" in replies_to(app, "late-1")[0]         # the resident is asked to send it again
    lines = [r for r in caplog.records if r.name == "gridbot.pipeline.media"]
    assert len(lines) == 1 and "HTTP 403" in lines[0].getMessage() and "360 s" in lines[0].getMessage()
    with app.session() as s:
        ticket = s.scalar(select(Ticket))
        (row,) = s.scalars(select(TicketEvidence)).all()
        assert ticket is not None and row.ticket_id == ticket.id
        assert (row.status, row.path) == ("failed", None) and "url expired" in row.error
        assert s.scalar(select(InboundMessage.status)) == "done"
    assert len(fake.media_downloads()) == 1
    page = signed_in_new(web, app, clock).get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "第 1 张照片未能保存" in page


def signed_in_new(web, app, clock):
    with app.session() as s, s.begin():
        create_account(s, username="wang", password=PASSWORD, member_userid="sec_wang", now=clock.now())
    return signed_in(web, "wang")


def test_the_console_shows_the_pictures_to_the_ticket_grid_scope_only(world_app, web, aibot_signer, fake):
    picture = png(4)
    url = fake.aibot_image(picture, AIBOT_KEY)
    msg = aibot("c-1", "res_d", "mixed", mixed("@网格小助手 1栋2单元楼顶漏雨，墙面发霉", [url]), chatid="chat-hy-01")
    assert post(web, aibot_signer, msg) == 200
    number = NUMBER.search(replies_to(world_app, "c-1")[0]).group(0)
    (row,) = evidence_of(world_app, number)
    secretary = signed_in(web, "wang")
    page = secretary.get(f"/console/tickets/{number}").get_data(as_text=True)
    assert f"/console/evidence/{row.id}" in page
    resp = secretary.get(f"/console/evidence/{row.id}")
    assert (resp.status_code, resp.mimetype, resp.data) == (200, "image/png", picture)
    assert resp.headers["Cache-Control"] == "private, no-store" and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert signed_in(web, "zhou").get(f"/console/evidence/{row.id}").status_code == 403   # 周: HY-03 only
    assert web.test_client().get(f"/console/evidence/{row.id}").status_code in (302, 401)   # signed out
    assert secretary.get("/console/evidence/999999").status_code == 404


def test_a_bug_while_fetching_pictures_costs_the_pictures_not_the_message(world_app, web, aibot_signer, fake,
                                                                          monkeypatch, caplog):
    def broken(*_a, **_k):
        raise RuntimeError("a bug in the picture code")

    monkeypatch.setattr(media, "fetch", broken)
    url = fake.aibot_image(png(), AIBOT_KEY)
    msg = aibot("bug-1", "res_e", "mixed", mixed("@网格小助手 1栋1单元电梯坏了", [url]), chatid="chat-hy-01")
    with caplog.at_level(logging.ERROR):
        assert post(web, aibot_signer, msg) == 200
    (reply,) = replies_to(world_app, "bug-1")
    assert NUMBER.search(reply)                                   # the ticket is made all the same
    assert [r for r in caplog.records if "pictures" in r.getMessage()]    # logged once, with an id
    with world_app.session() as s:
        assert s.scalar(select(InboundMessage.status)) == "done"


def test_a_5xx_from_the_file_server_is_tried_once_more_while_the_url_lives(world_app, web, aibot_signer, fake):
    picture = png(6)
    url = fake.aibot_image(picture, AIBOT_KEY)
    fake.fail_only, fake.fail_next = url.rsplit("/", 1)[-1], 1
    msg = aibot("retry-1", "res_f", "mixed", mixed("@网格小助手 2栋2单元102 水管爆了", [url]), chatid="chat-hy-01")
    assert post(web, aibot_signer, msg) == 200
    number = NUMBER.search(replies_to(world_app, "retry-1")[0]).group(0)
    (row,) = evidence_of(world_app, number)
    assert row.status == "stored" and (world_app.settings.instance_dir / row.path).read_bytes() == picture
    assert len(fake.media_downloads()) == 2
