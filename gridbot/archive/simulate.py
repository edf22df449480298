"""Playing a customer group without WeCom (`gridbot say`, `gridbot console`, the simulator): a message goes into
the embedded archive, the puller brings it in, and the replies it caused are read back, as in production."""
from __future__ import annotations

import time

from sqlalchemy import select

from ..app import Gridbot
from ..messages import ARCHIVE_PLATFORM, Reply
from ..models import GridChat, InboundMessage
from ..models.org import CHAT_CUSTOMER_GROUP
from ..pipeline.process import process, replies_for
from . import local, pull

WAIT_SECONDS = 5.0   # another puller (the queued one) may hold the lock for a moment


def plays_customer_group(app: Gridbot, chat_id: str | None) -> bool:
    """True when this chat is a customer group and the app reads the embedded archive."""
    if chat_id is None or not isinstance(app.archive, local.LocalArchive):
        return False
    with app.session() as session:
        return session.scalar(select(GridChat.kind).where(GridChat.chat_id == chat_id)) == CHAT_CUSTOMER_GROUP


def say_in_group(app: Gridbot, chat_id: str, sender_id: str, text: str) -> tuple[int | None, list[Reply]]:
    """Post into the embedded archive, pull, process; returns (inbound id, the replies it caused)."""
    archive = app.archive
    assert isinstance(archive, local.LocalArchive)
    msg = local.message(chat_id, sender_id, "text", {"content": text},
                        at_ms=int(app.clock.now().timestamp() * 1000))
    archive.put(msg)
    key = f"{ARCHIVE_PLATFORM}:msg:{msg['msgid']}"
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        pull.pull(app)
        with app.session() as session:
            inbound_id = session.scalar(select(InboundMessage.id).where(InboundMessage.dedupe_key == key))
        if inbound_id is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)   # the lock was busy: that pull reads to the end, this message included
    if inbound_id is None:
        return None, []
    process(app, inbound_id)   # idempotent: a job that got there first has done it
    return inbound_id, replies_for(app, inbound_id)
