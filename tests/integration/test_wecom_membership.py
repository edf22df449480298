"""Membership from change_external_chat events (signed callbacks) and from `gridbot wecom sync-roster`."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gridbot.cli import main
from gridbot.models import ChatIdentity, ChatMembership
from gridbot.services import membership
from gridbot.web import create_app
from gridbot.wecom.client import client_for
from tests.conftest import T0
from tests.factories import seed_world
from tests.fakewecom import chat_change_xml

NOW = int(T0.timestamp())


@pytest.fixture
def app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
    return app


def stays(app, chat_id: str) -> dict[str, tuple]:
    """user id -> (joined_at, left_at, source) of the latest stay."""
    with app.session() as s:
        rows = s.execute(select(ChatIdentity.user_id, ChatMembership.joined_at, ChatMembership.left_at,
                                ChatMembership.source).join(ChatIdentity)
                         .where(ChatMembership.chat_id == chat_id).order_by(ChatMembership.id)).all()
    return {u: (joined, left, src) for u, joined, left, src in rows}


def member(userid: str, join: int, kind: int = 2, nick: str = "") -> dict:
    return {"userid": userid, "type": kind, "join_time": join, "join_scene": 1, "group_nickname": nick}


def test_membership_events_open_and_close_stays(app, app_signer, fake):
    client = create_app(gridbot=app).test_client()
    fake.groupchats["chat-hy-01"] = {"chat_id": "chat-hy-01", "member_list": [member("wmOwner", NOW - 60, 1)]}

    def event(change: str, at: int, detail: str = "", members: list[str] | None = None) -> int:
        query, body = app_signer.xml_post(chat_change_xml("chat-hy-01", change, at, detail, members), at)
        return client.post(f"/wecom/callback?{query}", data=body).status_code

    assert event("create", NOW) == 200           # says nothing about who: the roster is asked
    assert event("update", NOW + 10, "add_member", ["wmResA", "wmResB"]) == 200
    assert event("update", NOW + 10, "add_member", ["wmResA", "wmResB"]) == 200  # WeCom's retry: same event
    assert event("update", NOW + 20, "del_member", ["wmResB"]) == 200
    s = stays(app, "chat-hy-01")
    def at(t: int) -> datetime:
        return datetime.fromtimestamp(t, UTC)
    assert s["wmOwner"] == (at(NOW - 60), None, "sync")
    assert s["wmResA"] == (at(NOW + 10), None, "event")
    assert s["wmResB"] == (at(NOW + 10), at(NOW + 20), "event")
    assert event("dismiss", NOW + 30) == 200
    after = stays(app, "chat-hy-01")
    assert after["wmOwner"][1] == after["wmResA"][1] == at(NOW + 30) and after["wmResB"][1] == at(NOW + 20)
    with app.session() as session:
        assert len(membership.open_memberships(session, "chat-hy-01")) == 0


def test_sync_roster_reconciles_bound_groups_from_the_cli(app, fake, wecom_env, pg_url, tmp_path,
                                                         monkeypatch):
    with app.session() as s, s.begin():
        membership.join(s, "chat-hy-01", "wmGone", T0, source="event")
        membership.join(s, "chat-hy-01", "wmStays", T0, source="event")
    fake.groupchats = {
        "chat-hy-01": {"chat_id": "chat-hy-01", "member_list": [member("wmStays", NOW - 500),
                                                                member("wmNew", NOW - 100, nick="张阿姨")]},
        "chat-hy-02": {"chat_id": "chat-hy-02", "member_list": [member("wmSun", NOW - 50, 1)]},
        "wrNotBound": {"chat_id": "wrNotBound", "member_list": [member("wmStranger", NOW)]},
    }
    for key, value in {**wecom_env, "GRIDBOT_DATABASE_URL": pg_url,
                       "GRIDBOT_INSTANCE_DIR": str(tmp_path / "cli")}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["wecom", "sync-roster"])
    assert result.exit_code == 0, result.output
    assert "chat-hy-01: 新进 1，退出 1" in result.output and "chat-hy-02: 新进 1，退出 0" in result.output
    s1 = stays(app, "chat-hy-01")
    assert s1["wmGone"][1] is not None and s1["wmStays"][1] is None and s1["wmNew"][2] == "sync"
    assert stays(app, "wrNotBound") == {}
    with app.session() as s:
        assert s.scalar(select(ChatIdentity.display_name).where(ChatIdentity.user_id == "wmNew")) == "张阿姨"
    again = CliRunner().invoke(main, ["wecom", "sync-roster", "--json"])
    assert again.exit_code == 0 and '"joined": 0, "left": 0' in again.output


def test_sync_roster_asks_per_bound_chat_and_never_lists_unfiltered(app, fake):
    """An app visible to 5,000 people: an unfiltered groupchat/list would fail with 81017; the sync never makes one."""
    fake.visible_count = 5000
    fake.groupchats = {f"wrX{i:04d}": {"chat_id": f"wrX{i:04d}", "member_list": []} for i in range(1500)}
    fake.groupchats["chat-hy-03"] = {"chat_id": "chat-hy-03", "member_list": [member("wmZ", NOW)]}
    results = membership.sync_roster(app.session, client_for(app), app.clock.now)
    assert [r.chat_id for r in results] == ["chat-hy-03"] and results[0].joined == 1
    lists = [r for r in fake.received if r.path.endswith("/groupchat/list")]
    assert lists and all(r.body.get("owner_filter", {}).get("userid_list") for r in lists)   # never unfiltered
    assert all(r.args.get("_ok") == "1" for r in lists)
