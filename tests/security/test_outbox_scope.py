"""Issue 20, item 3: the dead-outbox page (发送失败) showed and re-sent every community's messages.

A row belongs to the community of its target chat's grid, or its target member; failing both, to its inbound
message's chat. A secretary sees and re-sends only their community's rows; a row nobody can attribute is an
operator's only; re-sending another community's row by id answers 404 and changes nothing.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from gridbot.models import InboundMessage, OutboxMessage
from tests.console_helpers import build_world, csrf_of
from tests.security.two_communities import add_other_community


def dead(app, target_type: str, target: str, text: str, inbound_chat: str | None = None) -> int:
    with app.session() as s, s.begin():
        inbound_id = None
        if inbound_chat:
            inbound = InboundMessage(platform="console", dedupe_key=f"k-{text}", chat_id=inbound_chat, payload={})
            s.add(inbound)
            s.flush()
            inbound_id = inbound.id
        row = OutboxMessage(platform="console", target_type=target_type, target=target, status="dead",
                            content={"kind": "text", "text": text}, attempts=5, inbound_id=inbound_id,
                            last_error="boom")
        s.add(row)
        s.flush()
        return row.id


def listed(client) -> set[str]:
    return set(re.findall(r"死信-\w+", client.get("/console/outbox?per_page=200").get_data(as_text=True)))


def test_the_dead_outbox_page_is_scoped_to_ones_community(bot):
    world = build_world(bot)
    add_other_community(world)
    app = world.app
    ids = {"hy_chat": dead(app, "chat", "chat-hy-01", "死信-hy_chat"),
           "hy_user": dead(app, "user", "mem_zhao", "死信-hy_user"),
           "qs_chat": dead(app, "chat", "chat-qs-01", "死信-qs_chat"),
           "qs_user": dead(app, "user", "qs_mem", "死信-qs_user"),
           "qs_reply": dead(app, "response_url", "https://example.invalid/r", "死信-qs_reply", "chat-qs-02"),
           "nobody": dead(app, "user", "stranger", "死信-nobody")}
    wang = world.client("secretary")
    assert listed(wang) == {"死信-hy_chat", "死信-hy_user"}
    qsec = world.flask.test_client()
    from tests.console_helpers import PASSWORD, login

    login(qsec, "qsec", PASSWORD)
    assert listed(qsec) == {"死信-qs_chat", "死信-qs_user", "死信-qs_reply"}
    assert listed(world.client("operator")) == {f"死信-{k}" for k in ids}
    token = csrf_of(wang.get("/console/outbox").get_data(as_text=True))
    for key in ("qs_chat", "qs_user", "qs_reply", "nobody"):
        resp = wang.post(f"/console/outbox/{ids[key]}/retry", data={"csrf_token": token})
        assert resp.status_code == 404, key
    with app.session() as s:
        assert set(s.scalars(select(OutboxMessage.status).where(OutboxMessage.id != ids["hy_chat"]))) >= {"dead"}
        assert {s.get(OutboxMessage, ids[k]).status for k in ("qs_chat", "qs_user", "qs_reply", "nobody")} == {"dead"}
    resp = wang.post(f"/console/outbox/{ids['hy_chat']}/retry", data={"csrf_token": token})
    assert resp.status_code == 302
    with app.session() as s:
        assert s.get(OutboxMessage, ids["hy_chat"]).status != "dead"
