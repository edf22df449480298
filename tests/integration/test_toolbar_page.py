"""The chat toolbar page's server side (issue 16 point 6) against the fake WeCom: the page wants a sign-in (WeCom
OAuth inside the client), agentConfig's parameters are signed with the app's agent_config ticket for the page's own
URL, the items are the open group's in the member's grids, and "posted" marks the item (how=toolbar, audited)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gridbot.models import AuditLog, GridChat, ToolbarItem
from gridbot.models.org import CHAT_CUSTOMER_GROUP
from gridbot.web import create_app
from gridbot.web.auth import create_account
from gridbot.wecom.jssdk import signature

from ..console_helpers import login
from ..factories import Bot

PASSWORD = "toolbar-pass-1"


@pytest.fixture
def page(make_app, db_url, wecom_env, fake):
    app = make_app(db_url, env=wecom_env)
    bot = Bot(app)
    bot.seed()
    with app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id.in_([bot.chat("HY-01"), bot.chat("HY-03")]))
                  .values(kind=CHAT_CUSTOMER_GROUP))
        for username, userid in (("zhao", "mem_zhao"), ("zhou", "mem_zhou")):
            create_account(s, username=username, password=PASSWORD, member_userid=userid, now=app.clock.now())
    bot.say("1栋2单元楼道灯坏了好几天了", as_="res_a", chat="HY-01")
    bot.say("5栋楼下垃圾好几天没人清运了", as_="res_c", chat="HY-03")
    return bot, create_app({"TESTING": True}, gridbot=app), fake


def _client(flask, username):
    client = flask.test_client()
    login(client, username, PASSWORD)
    return client


def test_inside_wecom_an_anonymous_member_is_sent_to_wecom_sign_in(page):
    _, flask, _ = page
    res = flask.test_client().get("/toolbar/")
    assert res.status_code == 302 and "/console/login/wecom" in res.headers["Location"]
    assert "toolbar" in res.headers["Location"]                     # and back to the page afterwards


def test_agent_config_is_signed_with_the_apps_ticket_for_the_page_url(page):
    _, flask, fake = page
    client = _client(flask, "zhao")
    url = "http://localhost/toolbar/?from=chat"
    cfg = client.get("/toolbar/config", query_string={"url": url + "#x"}).get_json()
    [ticket] = fake.agent_tickets
    assert cfg["ok"] and cfg["corpid"] == fake.corp_id and cfg["agentid"] == "1000002"
    assert cfg["signature"] == signature(ticket, cfg["nonceStr"], cfg["timestamp"], url)
    assert set(cfg["jsApiList"]) == {"getCurExternalChat", "sendChatMessage"}
    client.get("/toolbar/config", query_string={"url": url})
    assert fake.agent_ticket_calls == 1                              # cached
    assert client.get("/toolbar/config", query_string={"url": "https://evil.example/x"}).status_code == 400


def test_the_items_are_the_open_groups_in_the_members_grids_and_posting_marks_one(page):
    bot, flask, _ = page
    app = bot.app
    client = _client(flask, "zhao")
    data = client.get("/toolbar/items", query_string={"chat_id": bot.chat("HY-01")}).get_json()
    [item] = data["items"]
    assert "工单号" in item["text"] and data["group"]
    assert client.get("/toolbar/items", query_string={"chat_id": bot.chat("HY-03")}).status_code == 403
    assert client.post(f"/toolbar/items/{item['id']}/posted").status_code == 400          # no CSRF token
    html = client.get("/toolbar/").get_data(as_text=True)
    token = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    res = client.post(f"/toolbar/items/{item['id']}/posted", headers={"X-CSRF-Token": token})
    assert res.status_code == 200 and res.get_json()["status"] == "posted"
    with app.session() as s:
        row = s.get_one(ToolbarItem, item["id"])
        assert (row.how, row.posted_by, row.seen_at) == ("toolbar", "mem_zhao", None)
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "toolbar.posted"))
    # 周网格员 (HY-03) cannot mark HY-01's items
    other = _client(flask, "zhou")
    html = other.get("/toolbar/").get_data(as_text=True)
    token = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    with app.session() as s:
        hy03 = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == bot.chat("HY-03"))).one()
        hy01_ids = [i.id for i in s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == bot.chat("HY-01")))]
    assert other.post(f"/toolbar/items/{hy01_ids[0]}/posted", headers={"X-CSRF-Token": token}).status_code == 404
    assert other.post(f"/toolbar/items/{hy03.id}/posted", headers={"X-CSRF-Token": token}).status_code == 200
    # the archive then shows 赵网格员's message in the group: the item is confirmed (seen_at), nothing else changes
    bot.say(item["text"], as_="mem_zhao", chat="HY-01")
    with app.session() as s:
        row = s.get_one(ToolbarItem, item["id"])
        assert (row.status, row.how, row.seen_at is not None) == ("posted", "toolbar", True)


def test_through_wecom_the_member_gets_the_text_by_app_message_and_a_notice_goes_as_a_mass_send(page):
    """Points 7 and 8 with the real senders: the prepared reply reaches the member as an app message with the text
    itself (nothing is sent to the customer group); an announcement to the group is an add_msg_template that the
    grid's member confirms."""
    from gridbot.messages import Inbound
    from gridbot.pipeline.receive import store_and_queue
    from gridbot.services import announcements

    bot, _, fake = page
    app = bot.app
    inbound_id, _ = store_and_queue(app, Inbound(
        platform="wecom_archive", sender_id="res_b", text="2栋门口的垃圾三天没人清运了", chat_id=bot.chat("HY-01"),
        msg_id="archive-2", mentioned=True, event_data={"sender_kind": "resident"}, at=app.clock.now()))
    assert not fake.sent("/cgi-bin/webhook/send") and not fake.sent("/cgi-bin/appchat/send")
    assert not fake.sent("/cgi-bin/externalcontact/add_msg_template")
    with app.session() as s:
        item = s.scalars(select(ToolbarItem).where(ToolbarItem.inbound_id == inbound_id)).one()
    told = [m for m in fake.sent("/cgi-bin/message/send") if m.body["touser"] == item.for_member]
    assert any(item.text in m.body["text"]["content"] for m in told)
    with app.session() as s, s.begin():
        announcements.create(s, community_id=bot.world.community_id, author_member_id=None, author_userid="sec_wang",
                             author_name="王书记", actor="member:sec_wang", scope="grid",
                             grid_ids=[bot.world.grids["HY-01"]], text="周六上午停水", mention_all=False,
                             send_at=None, now=app.clock.now())
    (tpl,) = fake.sent("/cgi-bin/externalcontact/add_msg_template")
    assert tpl.body["chat_id_list"] == [bot.chat("HY-01")] and tpl.body["sender"] == "mem_zhao"
    assert "周六上午停水" in tpl.body["text"]["content"]


def test_a_member_may_dismiss_an_item_of_their_grid_and_it_stops_waiting(page, clock):
    from gridbot.services import toolbar

    bot, flask, _ = page
    app = bot.app
    client = _client(flask, "zhao")
    html = client.get("/toolbar/").get_data(as_text=True)
    token = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    [item] = client.get("/toolbar/items", query_string={"chat_id": bot.chat("HY-01")}).get_json()["items"]
    with app.session() as s:
        hy03 = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == bot.chat("HY-03"))).one().id
    assert client.post(f"/toolbar/items/{hy03}/dismissed", headers={"X-CSRF-Token": token}).status_code == 404
    res = client.post(f"/toolbar/items/{item['id']}/dismissed", headers={"X-CSRF-Token": token})
    assert res.status_code == 200 and res.get_json()["status"] == "dismissed"
    assert client.get("/toolbar/items", query_string={"chat_id": bot.chat("HY-01")}).get_json()["items"] == []
    with app.session() as s:
        assert toolbar.waiting(s, None, clock.now() + timedelta(days=2)) == 1          # HY-03's only
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "toolbar.dismissed"))


def test_through_wecom_every_private_note_about_an_archived_message_reaches_the_member(page):
    """The chat archive is a way in, never a way out: the new ticket's note (【新工单】), a recall's and a group
    answer's reach the member by app message, not the local sender (a row of platform wecom_archive had no sender)."""
    from gridbot.messages import Inbound
    from gridbot.models import OutboxMessage, Ticket
    from gridbot.pipeline.receive import store_and_queue

    bot, _, fake = page
    app = bot.app
    store_and_queue(app, Inbound(
        platform="wecom_archive", sender_id="wmResident0009", text="2栋门口的垃圾三天没人清运了",
        chat_id=bot.chat("HY-01"), msg_id="archive-9_external", event_data={"sender_kind": "resident"},
        at=app.clock.now()))
    with app.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.reporter_id == "wmResident0009")).one()
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.target == "mem_zhao")).all()
    assert rows and all(r.status == "sent" for r in rows)
    told = [m.body["text"]["content"] for m in fake.sent("/cgi-bin/message/send") if m.body["touser"] == "mem_zhao"]
    assert any("【新工单】" in text and ticket.number in text for text in told)
