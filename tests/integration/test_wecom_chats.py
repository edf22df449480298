"""What a chat is decides the channel (issue 15 point 4), membership without gaps (point 9) and `gridbot wecom check`
(point 10), against the fake WeCom on PostgreSQL + Redis."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from gridbot.cli import main
from gridbot.messages import Inbound, Reply
from gridbot.models import (
    ChatIdentity,
    ChatMembership,
    GridChat,
    InboundMessage,
    Member,
    OutboxMessage,
    UnknownChat,
)
from gridbot.pipeline import delivery
from gridbot.pipeline.store import dedupe_key
from gridbot.services import membership, outbox
from gridbot.web import create_app
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import aibot_message, chat_change_xml

NOW = int(T0.timestamp())


@pytest.fixture
def app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
    return app


@pytest.fixture
def client(app):
    return create_app(gridbot=app).test_client()


@pytest.fixture
def cli(app, wecom_env, pg_url, tmp_path, monkeypatch):
    """`gridbot ...` in this process, on the test's database and the fake WeCom."""
    for key, value in {**wecom_env, "GRIDBOT_DATABASE_URL": pg_url,
                       "GRIDBOT_INSTANCE_DIR": str(tmp_path / "cli")}.items():
        monkeypatch.setenv(key, value)

    def run(*args: str):
        return CliRunner().invoke(main, list(args))
    return run


def notice(app, chat_id: str, text: str = "明早8点停水", **content) -> OutboxMessage:
    """A notice to a group (no message it answers), delivered at once (sync jobs); the row as it ended."""
    with app.session() as s, s.begin():
        (r,) = outbox.write_replies(s, None, [Reply(text, to_chat=chat_id)], now=app.clock.now(), platform="wecom_app")
        if content:
            r.content = dict(r.content, **content)
        oid = r.id
    delivery.deliver(app, oid)
    with app.session() as s:
        return s.get_one(OutboxMessage, oid)


def kind_of(app, chat_id: str) -> str | None:
    with app.session() as s:
        return s.scalar(select(GridChat.kind).where(GridChat.chat_id == chat_id))


# -- point 4: the channel from what a chat is ----------------------------------------------------------------
def test_a_wr_group_bound_through_the_ai_bot_is_an_internal_group_and_never_gets_a_template(app, client, aibot_signer,
                                                                                           fake):
    def say(msgid: str, user: str, text: str) -> int:
        msg = aibot_message(msgid, user, text, chatid="wrInternal07", response_url=fake.response_url(msgid))
        query, body = aibot_signer.json_post(msg, NOW)
        return client.post(f"/wecom/aibot?{query}", data=body).status_code

    say("k1", "resident_a", "@网格小助手 你好")        # not bound yet: recorded, with what the route says it is
    with app.session() as s:
        assert s.scalar(select(UnknownChat.kind).where(UnknownChat.chat_id == "wrInternal07")) == "aibot_group"
    assert say("k2", "lead_li", "@网格小助手 绑定本群 hy-02") == 200
    assert kind_of(app, "wrInternal07") == "aibot_group"

    dead = notice(app, "wrInternal07")    # no response_url, no robot, answers nobody: no way in, and it says so
    assert dead.status == "dead" and "robot key" in dead.last_error and "set-kind wrInternal07" in dead.last_error
    assert fake.sent("/cgi-bin/externalcontact/add_msg_template") == []

    with app.session() as s:   # a reply whose response_url is used already goes privately to the member it answers
        first = s.scalar(select(OutboxMessage).where(OutboxMessage.target == "wrInternal07",
                                                     OutboxMessage.status == "sent"))
        assert first is not None and first.inbound_id is not None
        inbound_id, content = first.inbound_id, {k: v for k, v in first.content.items() if k != "response_url_claimed"}
    with app.session() as s, s.begin():
        again = OutboxMessage(platform="wecom_aibot", target_type="chat", target="wrInternal07",
                              content=dict(content, text="补充：请带上身份证"), inbound_id=inbound_id,
                              created_at=app.clock.now())
        s.add(again)
        s.flush()
        oid = again.id
    delivery.deliver(app, oid)
    (private,) = fake.sent("/cgi-bin/message/send")
    assert private.body["touser"] == "lead_li" and private.body["text"]["content"] == "补充：请带上身份证"
    assert fake.sent("/cgi-bin/externalcontact/add_msg_template") == []


def test_a_customer_group_bound_from_the_cli_gets_add_msg_template(app, cli, fake):
    result = cli("chat", "bind", "wrCustomer01", "HY-01", "--kind", "customer_group", "--name", "和园一网格居民群")
    assert result.exit_code == 0, result.output
    assert kind_of(app, "wrCustomer01") == "customer_group"
    row = notice(app, "wrCustomer01", "周六上午小区消杀", sender="mem_zhao")
    assert row.status == "sent"
    (tpl,) = fake.sent("/cgi-bin/externalcontact/add_msg_template")
    assert tpl.body["chat_id_list"] == ["wrCustomer01"] and tpl.body["sender"] == "mem_zhao"
    assert fake.sent("/cgi-bin/appchat/send") == [] and fake.sent("/cgi-bin/webhook/send") == []


def test_a_chat_of_unknown_kind_is_dead_with_the_command_to_set_it_then_goes_once_set(app, cli, fake):
    dead = notice(app, "chat-hy-03")
    assert dead.status == "dead" and "unknown kind" in dead.last_error
    assert "gridbot chat set-kind chat-hy-03 <kind>" in dead.last_error
    assert [r for r in fake.received if "/send" in r.path or "add_msg_template" in r.path] == []

    refused = cli("chat", "set-kind", "chat-hy-03", "internal")
    assert refused.exit_code != 0 and "群类型“internal”无效" in refused.output
    no_key = cli("chat", "set-kind", "chat-hy-03", "robot_group")
    assert no_key.exit_code != 0 and "--robot-key" in no_key.output
    result = cli("chat", "set-kind", "chat-hy-03", "app_chat")
    assert result.exit_code == 0 and "app_chat" in result.output, result.output
    listed = json.loads(cli("chat", "list", "--json").output)
    assert {"chat_id": "chat-hy-03", "kind": "app_chat"}.items() <= next(
        c for c in listed if c["chat_id"] == "chat-hy-03").items()
    assert delivery.retry_dead(app, dead.id, "cli")
    with app.session() as s:
        assert s.get_one(OutboxMessage, dead.id).status == "sent"
        assert s.scalar(select(func.count()).select_from(UnknownChat)) == 0
    assert [r.body["chatid"] for r in fake.sent("/cgi-bin/appchat/send")] == ["chat-hy-03"]


# -- point 9: membership without gaps ------------------------------------------------------------------------
def versioned(chat_id: str, at: int, detail: str, members: list[str], last: str, cur: str) -> str:
    xml = chat_change_xml(chat_id, "update", at, detail, members)
    return xml.replace("</xml>", f"<LastMemVer><![CDATA[{last}]]></LastMemVer>"
                                 f"<CurMemVer><![CDATA[{cur}]]></CurMemVer></xml>")


def open_members(app, chat_id: str) -> dict[str, str]:
    with app.session() as s:
        rows = s.execute(select(ChatIdentity.user_id, ChatMembership.source).join(ChatIdentity)
                         .where(ChatMembership.chat_id == chat_id, ChatMembership.left_at.is_(None))).all()
    return dict(rows)


def test_change_external_chat_delivered_twice_with_other_timestamps_is_applied_once(app, client, app_signer, fake):
    def post(at: int) -> int:
        query, body = app_signer.xml_post(versioned("chat-hy-01", at, "add_member", ["wmA"], "v0", "v1"), at)
        return client.post(f"/wecom/callback?{query}", data=body).status_code

    assert post(NOW) == 200
    assert post(NOW + 7) == 200          # WeCom's second delivery, stamped again: the same ChatId + CurMemVer
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert s.scalar(select(func.count()).select_from(ChatMembership)) == 1
        assert s.scalar(select(GridChat.mem_ver).where(GridChat.chat_id == "chat-hy-01")) == "v1"
    assert kind_of(app, "chat-hy-01") == "customer_group"     # only customer groups raise this event
    assert fake.sent("/groupchat/get") == []
    one = Inbound(platform="wecom_app", sender_id="sys", kind="event", event="change_external_chat",
                  event_data={"ChatId": "c", "CurMemVer": "v9", "UpdateDetail": "add_member"}, msg_id="evt:1")
    other = Inbound(platform="wecom_app", sender_id="sys", kind="event", event="change_external_chat",
                    event_data={"ChatId": "c", "CurMemVer": "v9", "UpdateDetail": "add_member"}, msg_id="evt:2")
    assert dedupe_key(one) == dedupe_key(other) == "wecom_app:evt:change_external_chat:c:v9:add_member"


def test_a_lost_event_is_noticed_by_its_version_gap_and_the_group_is_fetched(app, client, app_signer, fake):
    def post(at: int, members: list[str], last: str, cur: str) -> int:
        query, body = app_signer.xml_post(versioned("chat-hy-01", at, "add_member", members, last, cur), at)
        return client.post(f"/wecom/callback?{query}", data=body).status_code

    assert post(NOW, ["wmA"], "v0", "v1") == 200
    assert fake.sent("/groupchat/get") == []
    # v1 -> v2 (wmB joined) never arrives; then v2 -> v3: the gap is seen and WeCom asked for the member list
    fake.groupchats["chat-hy-01"] = {"chat_id": "chat-hy-01", "member_version": "v3", "member_list": [
        {"userid": "wmA", "type": 2, "join_time": NOW}, {"userid": "wmB", "type": 2, "join_time": NOW + 5},
        {"userid": "wmC", "type": 2, "join_time": NOW + 9}]}
    assert post(NOW + 10, ["wmC"], "v2", "v3") == 200
    assert [r.body["chat_id"] for r in fake.sent("/groupchat/get")] == ["chat-hy-01"]
    assert open_members(app, "chat-hy-01") == {"wmA": "event", "wmB": "sync", "wmC": "event"}
    with app.session() as s:
        assert s.scalar(select(GridChat.mem_ver).where(GridChat.chat_id == "chat-hy-01")) == "v3"
    assert post(NOW + 20, ["wmD"], "v3", "v4") == 200          # in order again: no fetch
    assert len(fake.sent("/groupchat/get")) == 1 and "wmD" in open_members(app, "chat-hy-01")


def test_roster_sync_of_an_app_visible_to_5000_people_never_hits_81017(app, cli, fake):
    fake.visible_count = 5000
    with app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-02").values(kind="aibot_group"))
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(kind="customer_group"))
    fake.groupchats = {"chat-hy-01": {"chat_id": "chat-hy-01", "member_version": "m7",
                                      "member_list": [{"userid": "wmA", "type": 2, "join_time": NOW}]}}
    fake.groupchats["wrOwnedByZhao"] = {"chat_id": "wrOwnedByZhao", "owner": "mem_zhao", "member_list": []}
    with app.session() as s, s.begin():   # a roster of 150 members: two owner-filtered pages, never an unfiltered one
        community = s.scalar(select(Member.community_id).limit(1))
        s.add_all([Member(community_id=community, name=f"成员{i}", userid=f"u{i:03d}") for i in range(150)])
    result = cli("wecom", "sync-roster")
    assert result.exit_code == 0, result.output
    assert "chat-hy-01: 新进 1" in result.output
    lists = [r for r in fake.received if r.path.endswith("/groupchat/list")]
    assert len(lists) == 2 and all(0 < len(r.body["owner_filter"]["userid_list"]) <= 100 for r in lists)
    assert all(r.args.get("_ok") == "1" for r in lists)
    with app.session() as s:   # a customer group a member owns and nobody bound: listed for binding
        assert s.scalar(select(UnknownChat.kind).where(UnknownChat.chat_id == "wrOwnedByZhao")) == "customer_group"
    asked = {r.body["chat_id"] for r in fake.received if r.path.endswith("/groupchat/get")}
    assert "chat-hy-02" not in asked       # an internal group is no customer group: not asked
    with app.session() as s:
        assert s.scalar(select(GridChat.mem_ver).where(GridChat.chat_id == "chat-hy-01")) == "m7"
        assert s.scalar(select(GridChat.kind).where(GridChat.chat_id == "chat-hy-03")) == "unknown"


def test_the_fake_refuses_groupchat_list_as_wecom_does_and_owner_batches_stay_within_100(app, fake):
    from gridbot.senders import PermanentFailure
    from gridbot.wecom.client import client_for

    fake.visible_count = 5000
    fake.groupchats = {"wrA": {"chat_id": "wrA", "owner": "mem_zhao"}, "wrB": {"chat_id": "wrB", "owner": "x"}}
    client = client_for(app)
    with pytest.raises(PermanentFailure, match="81017"):
        client.call("/cgi-bin/externalcontact/groupchat/list", {"limit": 100})
    with pytest.raises(PermanentFailure, match="40058"):
        client.call("/cgi-bin/externalcontact/groupchat/list",
                    {"limit": 100, "owner_filter": {"userid_list": [f"u{i}" for i in range(101)]}})
    owners = ["mem_zhao"] + [f"u{i}" for i in range(150)]
    assert [len(b) for b in membership.owner_batches(owners)] == [100, 51]
    assert membership.list_customer_groups(client, owners) == {"wrA"}


# -- point 10: gridbot wecom check ---------------------------------------------------------------------------
def set_all_kinds(app, kind: str = "aibot_group") -> None:
    with app.session() as s, s.begin():
        s.execute(update(GridChat).values(kind=kind))


def test_wecom_check_passes_and_prints_what_cannot_be_checked_from_inside(app, cli):
    set_all_kinds(app)
    result = cli("wecom", "check")
    assert result.exit_code == 0, result.output
    assert "获取 access_token 成功" in result.output and "AgentId 1000002" in result.output
    assert "调用接口成功" in result.output
    assert "聊天工具栏的 JS-SDK 票据获取成功" in result.output and "/toolbar/" in result.output   # issue 16
    assert "ICP 备案" in result.output and "企业可信IP" in result.output and "可调用应用" in result.output
    data = json.loads(cli("wecom", "check", "--json").output)
    assert data["ok"] is True and data["unknown_kind_chats"] == [] and len(data["manual"]) == 5


def test_wecom_check_prints_the_ip_to_add_on_60020(app, cli, fake):
    set_all_kinds(app)
    fake.trusted_ips = {"203.0.113.9"}          # gettoken still answers; API calls from 127.0.0.1 get 60020
    result = cli("wecom", "check")
    assert result.exit_code == 1
    assert "获取 access_token 成功" in result.output
    assert "errcode 60020" in result.output and "企业可信IP" in result.output and "添加 127.0.0.1" in result.output


def test_wecom_check_names_the_secret_on_40001_and_lists_chats_of_unknown_kind(app, cli, monkeypatch):
    monkeypatch.setenv("GRIDBOT_WECOM_SECRET", "not-the-secret")
    result = cli("wecom", "check")
    assert result.exit_code == 1
    assert "errcode 40001" in result.output and "GRIDBOT_WECOM_SECRET" in result.output
    assert "群 chat-hy-03（网格 HY-03）类型未知" in result.output
    assert "gridbot chat set-kind chat-hy-03" in result.output
    data = json.loads(cli("wecom", "check", "--json").output)
    assert data["ok"] is False and "chat-hy-03" in data["unknown_kind_chats"]


def test_wecom_check_names_the_corp_id_on_40013(app, cli, monkeypatch):
    set_all_kinds(app)
    monkeypatch.setenv("GRIDBOT_WECOM_CORP_ID", "wwNotOurCorp")
    result = cli("wecom", "check")
    assert result.exit_code == 1 and "errcode 40013" in result.output and "GRIDBOT_WECOM_CORP_ID" in result.output


def test_wecom_check_finds_a_malformed_aes_key(app, cli, monkeypatch):
    set_all_kinds(app)
    monkeypatch.setenv("GRIDBOT_AIBOT_AES_KEY", "!" * 43)   # 43 characters, but not base64
    result = cli("wecom", "check")
    assert result.exit_code == 1 and "GRIDBOT_AIBOT_AES_KEY: EncodingAESKey 不是合法的 base64" in result.output
    assert "ICP 备案" in result.output          # the checklist is printed all the same


def test_roster_sync_with_a_wrong_secret_fails_loudly_instead_of_skipping_every_chat(app, cli, monkeypatch):
    monkeypatch.setenv("GRIDBOT_WECOM_SECRET", "not-the-secret")
    result = cli("wecom", "sync-roster")
    assert result.exit_code == 1 and "40001" in result.output


def test_a_customer_group_not_bound_yet_is_listed_as_one_and_binding_keeps_the_kind(app, client, app_signer, cli):
    query, body = app_signer.xml_post(chat_change_xml("wrResidents9", "update", NOW, "add_member", ["wmA"]), NOW)
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 200
    with app.session() as s:
        assert s.scalar(select(UnknownChat.kind).where(UnknownChat.chat_id == "wrResidents9")) == "customer_group"
    listed = json.loads(cli("chat", "list", "--json").output)
    assert {"chat_id": "wrResidents9", "kind": "customer_group", "bound": False}.items() <= next(
        c for c in listed if c["chat_id"] == "wrResidents9").items()
    result = cli("chat", "bind", "wrResidents9", "HY-02", "--kind", "unknown")   # the kind already known is kept
    assert result.exit_code == 0, result.output
    assert kind_of(app, "wrResidents9") == "customer_group"
