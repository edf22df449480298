"""Issue 16 points 7 and 9: a customer group's replies become ready items a member posts; the archive's view of the
group closes them. On SQLite and PostgreSQL (the item rows, the match under a row lock)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gridbot.models import GridChat, OutboxMessage, Ticket, ToolbarItem
from gridbot.models.org import CHAT_CUSTOMER_GROUP
from gridbot.services import toolbar

from ..factories import Bot


@pytest.fixture
def cbot(make_app, db_url):
    """The test community with HY-01's group a customer group (residents on personal WeChat), heard through the
    embedded chat archive."""
    app = make_app(db_url, env={"GRIDBOT_ARCHIVE_SOURCE": "local"})
    bot = Bot(app)
    bot.seed()
    with app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id == bot.chat("HY-01")).values(kind=CHAT_CUSTOMER_GROUP))
    return bot


def _rows(app, **where):
    with app.session() as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            q = q.where(getattr(OutboxMessage, key) == value)
        return list(s.scalars(q))


def _items(app):
    with app.session() as s:
        return list(s.scalars(select(ToolbarItem).order_by(ToolbarItem.id)))


def test_a_residents_request_in_a_customer_group_becomes_an_item_the_member_is_told_with_its_text(cbot):
    app = cbot.app
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    with app.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        number, due = ticket.number, ticket.response_due
    assert not _rows(app, target=cbot.chat("HY-01"))          # nothing the bot could not deliver
    [item] = _items(app)
    assert (item.kind, item.status, item.chat_id) == ("ack", "ready", cbot.chat("HY-01"))
    assert number in item.text and item.due_at == due
    told = [r for r in _rows(app, target_type="user") if r.content["text"].startswith("已为")]
    assert len(told) == 1 and told[0].target == item.for_member
    assert item.text in told[0].content["text"]                # the text itself, to copy by hand


def test_a_member_posting_the_text_by_hand_closes_the_item(cbot):
    app = cbot.app
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    [item] = _items(app)
    cbot.say("大家好，" + item.text.replace("，", ",") + " 谢谢", as_="mem_zhao")   # a greeting, other commas
    [item] = _items(app)
    assert (item.status, item.posted_by, item.how) == ("posted", "mem_zhao", "by_hand")


def test_a_residents_message_never_closes_an_item(cbot):
    app = cbot.app
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    [item] = _items(app)
    cbot.say(item.text, as_="res_b")
    assert _items(app)[0].status == "ready"


def test_a_reply_with_a_phone_number_never_becomes_a_group_item(cbot):
    app = cbot.app
    from gridbot.messages import Reply
    from gridbot.services.outbox import write_replies

    with app.session() as s, s.begin():
        write_replies(s, None, [Reply("请联系 13812345678 的住户", to_chat=cbot.chat("HY-01"))], app.clock.now())
    assert not _items(app)
    assert not _rows(app, target=cbot.chat("HY-01"))
    [private] = _rows(app, target_type="user")
    assert "一对一" in private.content["text"] and "13812345678" in private.content["text"]


def test_a_private_reply_to_a_resident_who_uses_weixin_kefu_goes_there_not_to_the_group_nor_the_member(cbot):
    """Issue 16 point 9: a reply that concerns one resident goes through 微信客服 when that resident has a session;
    only without one is the member asked to follow up one to one."""
    app = cbot.app
    from gridbot.messages import Inbound, Reply
    from gridbot.models.kf import KfSession
    from gridbot.services.outbox import write_replies

    room = cbot.chat("HY-01")
    with app.session() as s, s.begin():
        s.add(KfSession(open_kfid="wkCounty", external_userid="wm_res_kf", last_customer_msg_at=app.clock.now()))
    asked = Inbound(platform="wecom_archive", sender_id="wm_res_kf", text="我的工单", chat_id=room, chat_type="group",
                    msg_id="archive-kf-1", event_data={"sender_kind": "resident"}, at=app.clock.now())
    with app.session() as s, s.begin():
        write_replies(s, asked, [Reply("您登记的电话 13812345678 已更新", to_chat=room)], app.clock.now())
    assert not _items(app) and not _rows(app, target=room)
    [private] = _rows(app, target_type="user")
    assert private.target == "wm_res_kf" and "13812345678" in private.content["text"]


def test_a_notice_to_a_customer_group_stays_a_mass_send_with_the_member_who_confirms(cbot):
    app = cbot.app
    from gridbot.messages import Reply
    from gridbot.services.outbox import write_replies

    with app.session() as s, s.begin():
        write_replies(s, None, [Reply("明天上午停水", to_chat=cbot.chat("HY-01"))], app.clock.now())
    assert not _items(app)
    [row] = _rows(app, target=cbot.chat("HY-01"))
    assert row.content["sender"] == "mem_zhao"


def test_items_past_their_response_time_are_counted_as_waiting(cbot, clock):
    app = cbot.app
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    [item] = _items(app)
    with app.session() as s:
        assert toolbar.waiting(s, None, clock.now()) == 0
        assert toolbar.waiting(s, None, item.due_at + timedelta(seconds=1)) == 1
        assert toolbar.waiting(s, [999], item.due_at + timedelta(seconds=1)) == 0


@pytest.mark.parametrize(("item", "message", "expected"), [
    ("已收到您的诉求，工单号 HY-1（照明）。", "已收到您的诉求 工单号HY-1(照明)", True),
    ("已收到您的诉求，工单号 HY-1（照明）。", "@张阿姨 已收到您的诉求，工单号 HY-1（照明）。稍等", True),
    ("已收到您的诉求，工单号 HY-20261204-0001（照明，1栋）。网格员会尽快处理",
     "已收到诉求，工单号 HY-20261204-0001（照明，1栋）。网格员会尽快处理", True),
    ("好的", "好的呀", True),
    ("工单 HY-20261204-0001 已处理", "工单 HY-20261204-0002 还没处理", False),
    ("收到", "", False),
])
def test_the_match_rule(item, message, expected):
    assert toolbar.matches(item, message) is expected


def test_the_archive_seeing_the_text_from_the_member_closes_the_item_and_a_residents_archived_request_is_told_by_app(
        cbot):
    from gridbot.archive import local
    from gridbot.messages import Inbound
    from gridbot.pipeline.receive import store_and_queue

    app = cbot.app
    # what the archive makes of a resident's request (the archive part also reads it without the @-mention)
    store_and_queue(app, Inbound(platform="wecom_archive", sender_id="res_a", text="1栋2单元楼道灯坏了好几天了",
                                 chat_id=cbot.chat("HY-01"), msg_id="archive-1", mentioned=True,
                                 event_data={"sender_kind": "resident"}, at=app.clock.now()))
    [item] = _items(app)
    [told] = [r for r in _rows(app, target_type="user") if r.content["text"].startswith("已为")]
    assert told.platform == "wecom_app"            # the archive is a way in only: the member hears by app message
    local.post(app, cbot.chat("HY-01"), "mem_zhao", item.text)
    [item] = _items(app)
    assert (item.status, item.posted_by, item.how) == ("posted", "mem_zhao", "by_hand")


def test_a_members_command_in_a_customer_group_is_answered_privately(cbot):
    app = cbot.app
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    with app.session() as s:
        number = s.scalars(select(Ticket)).one().number
    cbot.say(f"受理 {number}", as_="mem_zhao")
    assert not _rows(app, target=cbot.chat("HY-01"))
    assert any("已立案" in r.content["text"] for r in _rows(app, target="mem_zhao"))


def test_the_digest_and_the_dashboard_say_how_many_replies_wait_to_be_posted(cbot, clock):
    from gridbot.services import digest
    from gridbot.web import create_app
    from gridbot.web.auth import create_account

    from ..console_helpers import login

    app = cbot.app
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    [item] = _items(app)
    clock.advance(item.due_at - clock.now() + timedelta(days=1))     # the next morning, the reply never posted
    with app.session() as s:
        d = digest.build(s, community="HY", day=clock.now().date() + timedelta(days=1), tz=app.settings.tz,
                         console_base_url="http://x")
    assert d["toolbar_waiting"] == 1 and not d["quiet"]
    assert "待群内回复 **1** 条" in digest.render_markdown(d)
    with app.session() as s, s.begin():
        create_account(s, username="zhao", password="toolbar-pass-1", member_userid="mem_zhao", now=clock.now())
    client = create_app({"TESTING": True}, gridbot=app).test_client()
    login(client, "zhao", "toolbar-pass-1")
    html = client.get("/console/dashboard").get_data(as_text=True)
    assert 'id="toolbar-waiting"' in html and "待群内回复" in html


def test_a_ticket_accepted_in_time_whose_group_reply_is_posted_late_did_not_respond_in_time(cbot, clock):
    """Point 7: in a customer group the reporter hears only what the member posts, so the prepared reply counts
    against the response time (响应率), whatever the acceptance's own time."""
    from gridbot.services import metrics

    app = cbot.app
    start = clock.now()
    cbot.say("1栋2单元楼道灯坏了好几天了", as_="res_a")
    with app.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        number, due = ticket.number, ticket.response_due
    cbot.say(f"受理 {number}", as_="mem_zhao")                     # accepted at once
    with app.session() as s:
        rates = metrics.ticket_metrics(s, since=start, until=due - timedelta(minutes=1))
    assert rates["response_rate"] is None                       # the ack not posted, the limit not passed: not judged
    clock.advance(due - clock.now() + timedelta(minutes=5))
    ack = [i for i in _items(app) if i.kind == "ack"][0]
    cbot.say(ack.text, as_="mem_zhao")                             # posted, but after the limit
    with app.session() as s:
        assert metrics.ticket_metrics(s, since=start, until=clock.now())["response_rate"] == 0
        s.execute(update(ToolbarItem).where(ToolbarItem.ticket_id == ticket.id)
                  .values(posted_at=due - timedelta(minutes=1)))
        assert metrics.ticket_metrics(s, since=start, until=clock.now())["response_rate"] == 1
