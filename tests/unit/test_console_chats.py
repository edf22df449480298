"""The console's chats page: each chat's kind shown, set by an admin (audited), within the person's community;
the chats heard from but bound to no grid are an operator's."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from gridbot.models import AuditLog, GridChat, UnknownChat
from tests.console_helpers import build_world, csrf_of


@pytest.fixture(params=["sqlite", "postgres"])
def world(request):
    return build_world(request.getfixturevalue("bot" if request.param == "sqlite" else "pg_bot"))


def set_kind(client, chat_id: str, **form):
    token = csrf_of(client.get("/console/chats").get_data(as_text=True))
    return client.post(f"/console/chats/{chat_id}/kind", data={**form, "csrf_token": token}, follow_redirects=True)


def test_an_admin_sees_each_chats_kind_and_sets_it(world):
    app = world.app
    with app.session() as s, s.begin():
        s.add(UnknownChat(platform="wecom_aibot", chat_id="wrHeard01", kind="aibot_group", first_seen=app.clock.now(),
                          last_seen=app.clock.now(), messages=3))
    sec = world.client("secretary")
    page = sec.get("/console/chats").get_data(as_text=True)
    assert "chat-hy-01" in page and "未知（请设置）" in page
    assert "wrHeard01" not in page                     # bound to no grid: an operator's
    done = set_kind(sec, "chat-hy-01", kind="customer_group").get_data(as_text=True)
    assert "群 chat-hy-01 的类型已设为 customer_group（客户群（居民））" in done
    refused = set_kind(sec, "chat-hy-02", kind="robot_group").get_data(as_text=True)
    assert "需要群机器人的 webhook key" in refused
    assert set_kind(sec, "chat-hy-02", kind="robot_group", robot_key="rk-2").status_code == 200
    with app.session() as s:
        kinds = dict(s.execute(select(GridChat.chat_id, GridChat.kind)).all())
        assert kinds["chat-hy-01"] == "customer_group" and kinds["chat-hy-02"] == "robot_group"
        assert s.scalar(select(GridChat.robot_key).where(GridChat.chat_id == "chat-hy-02")) == "rk-2"
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "chat.kind").limit(1)) == "member:sec_wang"
    assert set_kind(sec, "wrHeard01", kind="app_chat").status_code == 403
    ops = world.client("operator")
    assert "wrHeard01" in ops.get("/console/chats").get_data(as_text=True)
    assert "类型已设为 app_chat" in set_kind(ops, "wrHeard01", kind="app_chat").get_data(as_text=True)
