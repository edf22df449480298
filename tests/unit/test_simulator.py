"""The chat simulator page on the demo community: pick a chat and a person, talk, see the replies."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gridbot.bootstrap import build, set_current
from gridbot.cli.demo import build_demo
from gridbot.clock import FrozenClock
from gridbot.models import InboundMessage, OutboxMessage, Ticket
from gridbot.services.roster import bind_resident
from gridbot.web import create_app

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """The demo database exactly as `gridbot demo` builds it, and a Flask test client on it."""
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("GRIDBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDBOT_REDIS_URL", raising=False)
    settings, result = build_demo(tmp_path / "instance")
    app = build(settings, sync_jobs=True, clock=FrozenClock(T0))
    flask_app = create_app({"TESTING": True, "GRIDBOT_SIMULATOR": True}, gridbot=app)
    yield app, flask_app.test_client(), result
    set_current(None)
    app.close()


def say(client, text: str, user: str, chat: str | None = "chat-xf-01"):
    res = client.post("/simulator/say", json={"chat_id": chat, "user_id": user, "text": text})
    assert res.status_code == 200, res.get_data(as_text=True)
    return res.get_json()


def test_demo_build_is_fresh_every_time(demo, tmp_path):
    _, _, first = demo
    assert first.as_dict()["住户"]["created"] == 300
    _, again = build_demo(tmp_path / "instance")          # the old demo.db is removed, not re-used
    assert again.as_dict()["住户"]["created"] == 300


def test_page_offers_the_grid_chats_and_the_people(demo):
    _, client, _ = demo
    html = client.get("/").get_data(as_text=True)
    assert "聊天模拟器" in html
    for chat in ("chat-xf-01", "chat-xf-02", "chat-xf-03", "chat-xf-04"):
        assert f'value="{chat}"' in html
    assert "单聊" in html
    assert "张敏" in html and "专职网格员" in html            # members with their roles
    assert "李阿姨" in html and "1栋1单元101" in html          # a resident bound to a household
    assert "新搬来的住户" in html
    assert "孙丽（兼职网格员 · XF-03 · 不在岗）" in html and "张敏（专职网格员 · XF-01）" in html  # 在岗：否


def test_talking_in_a_group_goes_through_the_real_pipeline(demo):
    """The demo's grid groups are customer groups: a message there is read through the embedded chat archive, and a
    member's command there is answered privately (the bot has no voice in a customer group)."""
    app, client, _ = demo
    data = say(client, "帮助", "xf_zhang")
    assert data["ok"] and data["speaker"]["kind"] == "member"
    here = [r for r in data["replies"] if r["where"] == "here"]
    elsewhere = [r for r in data["replies"] if r["where"] != "here"]
    assert here == []                                          # nothing said into the residents' group
    assert any("张敏，您好" in r["text"] for r in elsewhere)
    with app.session() as s:
        inbound = s.scalars(select(InboundMessage)).all()
        assert [(m.platform, m.chat_id, m.sender_id, m.status) for m in inbound] == [
            ("wecom_archive", "chat-xf-01", "xf_zhang", "done")]
        assert inbound[0].payload["event_data"]["sender_kind"] == "member"
        outbox = s.scalars(select(OutboxMessage)).all()
        assert {(o.target_type, o.target, o.status) for o in outbox} == {("user", "xf_zhang", "sent")}


def test_a_residents_plain_message_in_a_demo_group_becomes_a_ticket_through_the_archive(demo):
    app, client, _ = demo
    data = say(client, "1栋1单元楼道灯坏了好几天了", "res_li")          # no @: there is no bot to mention
    assert data["speaker"]["kind"] == "resident"
    with app.session() as s:
        [row] = s.scalars(select(InboundMessage)).all()
        [ticket] = s.scalars(select(Ticket)).all()
    assert row.platform == "wecom_archive" and row.payload["mentioned"] is False
    assert ticket.reporter_id == "res_li" and ticket.chat_id == "chat-xf-01"
    assert any(ticket.number in r["text"] for r in data["replies"])


def test_a_bound_resident_is_known_as_the_household_representative(demo):
    _, client, _ = demo
    data = say(client, "帮助", "res_li")
    assert data["speaker"]["kind"] == "resident" and data["speaker"]["households"] == 1
    assert "网格小助手" in data["replies"][0]["text"]
    assert say(client, "帮助", "res_new")["speaker"]["households"] == 0


def test_a_private_chat_answers_in_the_conversation(demo):
    _, client, _ = demo
    data = say(client, "帮助", "xf_chen", chat=None)
    assert [r["where"] for r in data["replies"]] == ["here"] and "陈静" in data["replies"][0]["text"]


def test_names_from_chat_are_escaped_on_the_page(demo):
    app, client, _ = demo
    nasty = '<img src=x onerror=alert(1)>"</script><script>alert(2)</script>'
    with app.session() as s, s.begin():
        bind_resident(s, "console", "evil", nasty, "XF-01", actor="test", now=app.clock.now())
    html = client.get("/").get_data(as_text=True)
    assert "<img src=x" not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_bad_requests_get_a_chinese_error_and_change_nothing(demo):
    app, client, _ = demo
    form = client.post("/simulator/say", data={"user_id": "xf_zhang", "text": "帮助"})
    assert form.status_code == 415 and "JSON" in form.get_json()["error"]
    empty = client.post("/simulator/say", json={"chat_id": "chat-xf-01", "user_id": "xf_zhang", "text": "  "})
    assert empty.status_code == 400 and "不能为空" in empty.get_json()["error"]
    nobody = client.post("/simulator/say", json={"chat_id": "chat-xf-01", "user_id": "", "text": "帮助"})
    assert nobody.status_code == 400 and "说话人" in nobody.get_json()["error"]
    with app.session() as s:
        assert s.scalars(select(InboundMessage)).all() == []


def test_simulator_is_off_when_wecom_is_configured(make_app, sqlite_url):
    app = make_app(sqlite_url, env={"GRIDBOT_WECOM_CORP_ID": "wwdemo", "GRIDBOT_WECOM_TOKEN": "token",
                                    "GRIDBOT_WECOM_AES_KEY": "a" * 43})
    client = create_app({"TESTING": True}, gridbot=app).test_client()
    assert client.get("/").status_code == 404
    assert client.post("/simulator/say", json={"user_id": "x", "text": "帮助"}).status_code == 404


def test_later_messages_reach_the_page_once_when_due(demo):
    """Notifications and reminders written by the jobs show up on the page's poll, each once, when due."""
    from gridbot.messages import Reply
    from gridbot.services import outbox

    app, client, _ = demo
    cursor = {"after": 0, "since": app.clock.now().isoformat()}

    def poll():
        nonlocal cursor
        data = client.get("/simulator/outbox", query_string=cursor).get_json()
        cursor = data["cursor"]
        return [(m["target_type"], m["to"], m["text"]) for m in data["messages"]]

    with app.session() as s, s.begin():
        outbox.write_replies(s, None, [Reply("新工单待处理", to_user="xf_zhang"),
                                       Reply("明早9点安全检查", to_chat="chat-xf-01",
                                             not_before=app.clock.now() + timedelta(hours=1))],
                             app.clock.now(), platform="console")
    assert poll() == [("user", "xf_zhang", "新工单待处理")]
    assert poll() == []
    app.clock.advance(hours=2)
    assert poll() == [("chat", "chat-xf-01", "明早9点安全检查")]
    assert poll() == []


def test_a_picture_row_shows_as_a_named_picture_not_an_empty_message():
    from gridbot.web.simulator import _shown_text

    image = {"kind": "image", "path": "digests/XF/2026-11-29.png", "filename": "简报.png"}
    assert _shown_text(image) == "[图片] 简报.png"
    assert _shown_text({"kind": "text", "text": "你好"}) == "你好"


def test_a_customer_groups_toolbar_shows_the_prepared_reply_and_sending_it_closes_the_item(demo):
    """Issue 16 point 10: the member's chat toolbar in a customer group lists the prepared reply; 发送 puts it in
    the group through the local archive, whose copy closes the item."""
    from sqlalchemy import update

    from gridbot.models import GridChat, ToolbarItem

    app, client, _ = demo
    with app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-xf-01").values(kind="customer_group"))
    data = say(client, "1栋1单元楼道灯坏了好几天了", "res_li")
    assert not [r for r in data["replies"] if r["where"] == "here"]       # the bot says nothing in the group itself
    assert any(r["where"] == "private" and r["text"].startswith("已为") for r in data["replies"])
    shown = client.get("/simulator/toolbar?chat_id=chat-xf-01&user_id=xf_zhang").get_json()
    assert shown["customer_group"] and len(shown["items"]) == 1
    item = shown["items"][0]
    assert "工单号" in item["text"]
    other = client.get("/simulator/toolbar?chat_id=chat-xf-01&user_id=res_li").get_json()
    assert other["items"] == []                                          # a resident has no toolbar
    res = client.post("/simulator/toolbar/post", json={"item_id": item["id"], "user_id": "xf_zhang"})
    assert res.status_code == 200 and res.get_json()["status"] == "posted"
    with app.session() as s:
        row = s.get_one(ToolbarItem, item["id"])
        assert (row.posted_by, row.seen_at is not None) == ("xf_zhang", True)
    assert client.get("/simulator/toolbar?chat_id=chat-xf-01&user_id=xf_zhang").get_json()["items"] == []
