"""微信客服: read kf/sync_msg for one kf account, exactly once.

The app callback's `kf_msg_or_event` event (its Token and OpenKfId) is stored like any callback and queues this
sync (handlers/events.py -> gridbot.jobs.sync_kf). Doc 94670 (kf/sync_msg): body {cursor, token, limit <= 1000,
open_kfid}; answer {next_cursor, has_more, msg_list}; the token of the callback (valid 10 minutes) is passed so
the call is not held to the strict rate of a sync without one; msgid is unique.

Each page is one transaction: the kf account's cursor row is locked (one sync at a time per account), the page is
fetched, its messages are stored (inbound_messages' INSERT .. ON CONFLICT on the msgid), the residents' sessions
updated, and the cursor advanced, all in that transaction. A worker killed before its commit leaves the old cursor:
the next sync reads the same page again and stores nothing twice. A worker killed after its commit but before
queueing leaves rows 'received': the recovery sweep (dispatch.requeue_received) queues them. Nothing is lost or
repeated.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..adapters import Unreadable
from ..adapters.wecom_kf import ORIGIN_RESIDENT, decode
from ..app import Gridbot
from ..errors import Refusal
from ..messages import Inbound, Reply
from ..models.kf import KfCursor
from ..senders import PermanentFailure
from ..services import kf
from .process import handle_now
from .store import SKIPPED, UNREADABLE, insert_params, insert_sql, row_values

log = logging.getLogger(__name__)

SYNC_LIMIT = 1000   # doc 94670: limit <= 1000 (the default)
MAX_PAGES = 100     # a runaway has_more stops here; the next callback's sync goes on from the cursor


def _ensure_cursor(app: Gridbot, open_kfid: str) -> None:
    try:
        with app.session() as session, session.begin():
            if session.scalar(select(KfCursor.id).where(KfCursor.open_kfid == open_kfid)) is None:
                session.add(KfCursor(open_kfid=open_kfid))
    except IntegrityError:   # another sync created it a moment ago
        pass


def sync(app: Gridbot, open_kfid: str, token: str | None = None) -> int:
    """Read every new message of one kf account; returns how many were stored new."""
    _ensure_cursor(app, open_kfid)
    stored = 0
    for _page in range(MAX_PAGES):
        with app.session() as session, session.begin():
            cursor = session.scalar(select(KfCursor).where(KfCursor.open_kfid == open_kfid).with_for_update())
            assert cursor is not None
            body: dict[str, Any] = {"open_kfid": open_kfid, "limit": SYNC_LIMIT}
            if cursor.cursor:
                body["cursor"] = cursor.cursor
            data, token = _fetch(app, body, token)
            now = app.clock.now()
            new_ids, released = store_page(session, data.get("msg_list") or [], now)
            cursor.cursor = str(data.get("next_cursor") or "") or cursor.cursor
            cursor.synced_at = now
        stored += len(new_ids)
        for inbound_id in new_ids:
            app.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound",
                              job_id=f"inbound-{inbound_id}")
        for outbox_id in released:
            app.queue.enqueue("gridbot.jobs.send_outbound", outbox_id, queue="outbound", retries=0)
        if not data.get("has_more"):
            break
    else:
        log.warning("kf sync %s: still has_more after %d pages; the next sync goes on", open_kfid, MAX_PAGES)
    return stored


def _fetch(app: Gridbot, body: dict[str, Any], token: str | None) -> tuple[dict[str, Any], str | None]:
    """One sync_msg call with the callback's token; a token WeCom no longer takes (valid 10 minutes: the job may have
    waited longer) is dropped and the page asked for without it (doc 94670: allowed, at a stricter rate)."""
    try:
        return app.wecom_client.call("/cgi-bin/kf/sync_msg", {**body, **({"token": token} if token else {})}), token
    except PermanentFailure:
        if not token:
            raise
        log.warning("kf sync %s: the callback's token was refused (expired?); reading without it", body["open_kfid"])
        return app.wecom_client.call("/cgi-bin/kf/sync_msg", body), None


def store_page(session: Session, items: list[Any], now: datetime) -> tuple[list[int], list[int]]:
    """Store one page's messages in this transaction; returns (new inbound ids to process, held replies released)."""
    dialect = session.get_bind().dialect.name
    new_ids: list[int] = []
    released: list[int] = []
    for item in items:
        try:
            inbound, why = decode(item)
        except Unreadable as err:
            raw = json.dumps(item, ensure_ascii=False)
            values = row_values(Inbound(platform=kf.PLATFORM, sender_id=err.sender or "", chat_type="single",
                                        msg_id=err.msg_id or None, kind="unreadable", at=now), raw, now,
                                UNREADABLE, err.reason)
            _insert(session, values, dialect)
            continue
        values = row_values(inbound, json.dumps(item, ensure_ascii=False), now,
                            SKIPPED if why else "received", why)
        new_id = _insert(session, values, dialect)
        if new_id is None or values["status"] != "received":
            continue   # seen before (a page read again), or kept but not for the bot
        new_ids.append(new_id)
        open_kfid = str(inbound.event_data.get("open_kfid") or "")
        at = inbound.at or now
        if inbound.kind == "event" and inbound.event == "enter_session":
            kf.entered(session, open_kfid, inbound.sender_id, inbound.event_data.get("scene_param"),
                       inbound.event_data.get("welcome_code"), at)
        elif inbound.kind == "event" and inbound.event == "session_status_change":
            change = inbound.event_data.get("change_type")
            kf.state_changed(session, open_kfid, inbound.sender_id, int(change) if change is not None else None,
                             inbound.event_data.get("new_servicer_userid"), at)
        elif inbound.event_data.get("origin") == ORIGIN_RESIDENT:
            _, ids = kf.customer_wrote(session, open_kfid, inbound.sender_id, at)
            released += ids
    return new_ids, released


def _insert(session: Session, values: dict[str, Any], dialect: str) -> int | None:
    """The inbound INSERT (store.insert_sql: ON CONFLICT on the dedupe key) inside this transaction."""
    result = session.connection().exec_driver_sql(insert_sql(1, dialect), insert_params(values, dialect))
    return result.scalar()


LOCAL_KFID = kf.LOCAL_KFID   # the embedded kf account of the simulator and `gridbot say --kf` (no WeCom configured)


def local_message(app: Gridbot, grid_code: str, userid: str, text: str, menu_id: str | None = None,
                  name: str | None = None) -> list[Reply]:
    """A resident's 微信客服 message without WeCom (the simulator, `gridbot say --kf`): as if they scanned the grid's
    code and wrote, through the same session bookkeeping and pipeline a synced message takes. Returns the bot's
    replies."""
    now = app.clock.now()
    with app.session() as session, session.begin():
        row = kf.session_for(session, LOCAL_KFID, userid, now)
        if kf.grid_by_scene(session, grid_code) is None:
            raise KfLocalError(grid_code)
        if row.scene != grid_code:
            kf.entered(session, LOCAL_KFID, userid, grid_code, None, now)
        _, released = kf.customer_wrote(session, LOCAL_KFID, userid, now)
    for outbox_id in released:
        app.queue.enqueue("gridbot.jobs.send_outbound", outbox_id, queue="outbound", retries=0)
    data: dict[str, Any] = {"open_kfid": LOCAL_KFID, "origin": ORIGIN_RESIDENT}
    if menu_id:
        data["menu_id"] = menu_id
    inbound = Inbound(platform=kf.PLATFORM, sender_id=userid, sender_name=name, text=text, chat_id=None,
                      chat_type="single", msg_id=f"local-{uuid.uuid4().hex}", mentioned=True, event_data=data,
                      at=now)
    return handle_now(app, inbound)


class KfLocalError(Refusal):
    def __init__(self, grid_code: str):
        super().__init__("kf.unknown_grid", code=grid_code)
