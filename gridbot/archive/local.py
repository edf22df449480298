"""The local archive's `post` (stand-in on the toolbar branch, same signature as the archive part's): a message
said in a customer group without WeCom (the simulator, `gridbot say`) becomes what the chat archive would
produce, the neutral Inbound(platform="wecom_archive", chat_type="group", mentioned=False), stored and processed
by the normal pipeline. The coordinator keeps the archive part's real one at merge."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from ..app import Gridbot
from ..messages import Inbound
from ..models import Member
from ..pipeline.receive import store_and_queue


def post(app: Gridbot, chat_id: str, sender_id: str, text: str, *, msgtype: str = "text") -> str:
    """Put a message into the group as the archive would see it; returns its msgid."""
    with app.session() as session:
        member = session.scalar(select(Member.id).where(Member.userid == sender_id)) is not None
    msgid = f"local-{uuid.uuid4().hex}"
    inbound = Inbound(platform="wecom_archive", sender_id=sender_id, text=text, chat_id=chat_id, chat_type="group",
                      msg_id=msgid, mentioned=False, kind="text" if msgtype == "text" else msgtype,
                      event_data={"sender_kind": "member" if member else "resident"}, at=app.clock.now())
    store_and_queue(app, inbound)
    return msgid
