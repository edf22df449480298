"""The chat simulator: pick a grid group (or a 1:1 chat) and a person, talk to the bot in a browser.

Honest by construction: a message goes through services.inbound.handle_now with platform "console", the same
store → router → outbox pipeline a WeCom message takes. Only the delivery differs (the page reads the outbox).
It lets anyone speak as anyone and read every outbox row without signing in, so it is on only when explicitly asked
for: `gridbot demo` (GRIDBOT_SIMULATOR in the Flask config) or the setting GRIDBOT_SIMULATOR=1 (warned about at
start-up). Otherwise every route answers 404, whatever the WeCom callback settings are (a production stack whose
callbacks are not configured yet must not expose it).
"""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from sqlalchemy import and_, func, or_, select

from ..archive import local as local_archive
from ..archive.simulate import plays_customer_group, say_in_group
from ..config import load_yaml
from ..errors import Refusal
from ..ids import ID_MAX
from ..messages import Inbound
from ..models import GridChat, Member, OutboxMessage, ToolbarItem
from ..models.org import CHAT_CUSTOMER_GROUP
from ..models.toolbar import ITEM_READY
from ..pipeline.kf_sync import local_message
from ..pipeline.process import handle_now
from ..services import toolbar
from ..services.people import resolve_speaker
from ..services.roster import directory
from ..texts import t
from . import gridbot_app

log = logging.getLogger(__name__)

bp = Blueprint("simulator", __name__)

MAX_TEXT = 2000


def _enabled_for(flask_app: Flask | App) -> bool:
    """Only an explicit yes turns it on: the demo's Flask config, or the GRIDBOT_SIMULATOR setting."""
    if flask_app.config.get("GRIDBOT_SIMULATOR"):
        return True
    gb = flask_app.extensions.get("gridbot")
    return bool(gb is not None and gb.settings.simulator)


def enabled() -> bool:
    return _enabled_for(current_app)


@bp.record_once
def _announce(state: BlueprintSetupState) -> None:
    """Warn at start-up when the simulator is on: anyone reaching the server can speak as anyone."""
    if _enabled_for(state.app):
        log.warning("chat simulator ENABLED at / and /simulator/* without sign-in: anyone who reaches this server "
                    "can speak as any member and read every outbox message; never enable it on a real installation")


@bp.before_request
def _only_when_enabled():
    if not enabled():
        abort(404)


def _directory() -> dict:

    with gridbot_app().session() as session:
        return directory(session)


def _page_texts() -> dict[str, str]:

    texts = load_yaml(gridbot_app().settings.config_dir, "templates.yaml")["simulator"]["page"]
    return {k: str(v) for k, v in texts.items()}


@bp.get("/")
def index():
    texts = _page_texts()
    cursor = {"after": _last_outbox_id(), "since": gridbot_app().clock.now().isoformat()}
    return render_template("simulator/index.html", directory=_directory(), T=texts, cursor=cursor,
                           quick=[q for q in texts["quick"].split("|") if q])


@bp.get("/simulator/directory")
def directory_json():
    return jsonify(_directory())


def _error(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify(ok=False, error=message), status


@bp.post("/simulator/say")
def say():
    """{chat_id|null, user_id, text, mentioned?, name?} -> the bot's replies, sorted by where they went."""

    if not request.is_json:  # also keeps plain cross-site form posts out
        return _error(t("simulator.err_json"), 415)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(t("simulator.err_json"))
    user_id = str(data.get("user_id") or "").strip()
    text = str(data.get("text") or "")
    chat_id = str(data.get("chat_id") or "").strip() or None
    if not user_id or len(user_id) > 128:
        return _error(t("simulator.err_user"))
    if not text.strip():
        return _error(t("simulator.err_empty"))
    if len(text) > MAX_TEXT:
        return _error(t("simulator.err_long", limit=MAX_TEXT))
    name = data.get("name")
    app = gridbot_app()
    kf_grid = str(data.get("kf") or "").strip()
    if kf_grid:   # 微信客服 mode: a resident who scanned this grid's code writes privately (issue 17)
        before = _last_outbox_id()
        try:
            # a tap on a menu item comes back as its words with the item's id, as kf/sync_msg gives it
            menu_id = str(data.get("menu_id") or "")[:128] or None
            local_message(app, kf_grid, user_id, text, menu_id=menu_id, name=str(name)[:64] if name else None)
        except Refusal as err:
            return _error(err.text)
        rows, cursor = _due_after(before)
        who = {"user_id": user_id, "name": name or user_id, "kind": "resident", "households": 0, "kf": kf_grid}
        return jsonify(ok=True, speaker=who, replies=[_shown(r, None, user_id) for r in rows], cursor=cursor)
    inbound = Inbound(platform="console", sender_id=user_id, sender_name=str(name)[:64] if name else None,
                      text=text, chat_id=chat_id, chat_type="group" if chat_id else "single",
                      msg_id=f"sim-{uuid.uuid4().hex}", mentioned=bool(data.get("mentioned", True)))
    before = _last_outbox_id()
    if plays_customer_group(app, chat_id):   # a customer group: through the embedded chat archive (no @ needed)
        say_in_group(app, chat_id or "", user_id, text)
    else:
        handle_now(app, inbound)
    with app.session() as session:
        speaker = resolve_speaker(session, "console", user_id, chat_id)
    # Everything the message caused: the answers, and notifications written with inbound_id None
    # (a new ticket's alert to the grid member, an urgent alert to neighbouring grids).
    rows, cursor = _due_after(before)  # the page keeps polling from its own cursor; seen ids are skipped
    who = {"user_id": user_id, "name": speaker.name or name or user_id,
           "kind": "member" if speaker.is_member else "resident",
           "households": len(speaker.household_ids)}
    return jsonify(ok=True, speaker=who, replies=[_shown(r, chat_id, user_id) for r in rows], cursor=cursor)


@bp.get("/simulator/outbox")
def outbox_after():
    """Messages due after `after` (reminders, escalations, digests the in-process jobs send later).

    The page polls with the cursor it was given (last id seen, and when it last asked), so a message written
    earlier but due later (a reminder) still shows once it is due; the page skips ids it has already shown.
    """
    after = min(max(request.args.get("after", type=int) or 0, 0), ID_MAX)
    try:
        since = datetime.fromisoformat(request.args["since"]) if request.args.get("since") else None
    except ValueError:
        since = None
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows, cursor = _due_after(after, since)
    return jsonify(ok=True, messages=[_shown(r, None, None) for r in rows], cursor=cursor)


def _last_outbox_id() -> int:

    with gridbot_app().session() as session:
        return session.scalar(select(func.max(OutboxMessage.id))) or 0


def _due_after(after: int, since: datetime | None = None, limit: int = 200) -> tuple[list, dict]:
    """Outbox rows after id `after` that are due now, plus rows written earlier that fell due since `since`
    (a reminder). Returns them and the cursor ({"after", "since"}) to ask from next time."""

    app = gridbot_app()
    now = app.clock.now()
    due_now = or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)
    with app.session() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id > after, due_now)
                                    .order_by(OutboxMessage.id).limit(limit)))
        if since is not None:
            later = session.scalars(select(OutboxMessage).where(
                OutboxMessage.id <= after, and_(OutboxMessage.not_before > since, OutboxMessage.not_before <= now))
                .order_by(OutboxMessage.id).limit(limit))
            rows = sorted({r.id: r for r in [*later, *rows]}.values(), key=lambda r: r.id)
    last = max([after, *[r.id for r in rows]])
    return rows, {"after": last, "since": now.isoformat()}


def _shown(row: OutboxMessage, chat_id: str | None, user_id: str | None) -> dict[str, Any]:
    """Where the page shows a message: in the conversation ("here"), as a private message, or in another group."""
    if row.target_type == "chat":
        where = "here" if chat_id is not None and row.target == chat_id else "other_chat"
    elif chat_id is None and user_id is not None and row.target == user_id:
        where = "here"
    else:
        where = "private"
    content = row.content or {}
    return {"id": row.id, "where": where, "target_type": row.target_type, "to": row.target,
            "text": _shown_text(content), "markdown": content.get("kind") == "markdown",
            "mentions": content.get("mentions") or [], "urgent": row.urgent,
            "choices": content.get("choices") or []}   # 微信客服 shows these as a tappable menu (msgmenu)


def _shown_text(content: dict) -> str:
    """What a person sees of a row: its text, or for a picture (the digest's chart) a line naming it."""
    if content.get("kind") == "image":
        return t("simulator.image", name=content.get("filename") or content.get("path") or "")
    return content.get("text", "")


# -- the chat toolbar of a customer group (issue 16 point 10) ------------------------------------------------------
def _member_grids(session: Any, user_id: str) -> list[int] | None:
    member = session.scalar(select(Member).where(Member.userid == user_id, Member.active.is_(True)))
    return None if member is None else [link.grid_id for link in member.grid_links]


@bp.get("/simulator/toolbar")
def toolbar_items():
    """What a member's chat toolbar shows in a customer group: the ready items of that group in their grids."""
    chat_id = request.args.get("chat_id", "")[:128]
    user_id = request.args.get("user_id", "")[:128]
    with gridbot_app().session() as session:
        chat = session.scalar(select(GridChat).where(GridChat.chat_id == chat_id))
        grids = _member_grids(session, user_id)
        if chat is None or chat.kind != CHAT_CUSTOMER_GROUP or grids is None:
            return jsonify(ok=True, customer_group=bool(chat and chat.kind == CHAT_CUSTOMER_GROUP), items=[])
        rows = toolbar.ready_for_chat(session, chat_id, grids)
        return jsonify(ok=True, customer_group=True, items=[{"id": r.id, "kind": t(f"toolbar.kind.{r.kind}"),
                                                              "text": r.text} for r in rows])


@bp.post("/simulator/toolbar/post")
def toolbar_post():
    """The member taps 发送: the text goes into the group as the archive will see it (archive.local.post), and
    the archive's copy closes the item. Returns the item's state and the new outbox rows."""
    if not request.is_json:
        return _error(t("simulator.err_json"), 415)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(t("simulator.err_json"))
    user_id = str(data.get("user_id") or "")[:128]
    try:
        item_id = int(data.get("item_id") or 0)
    except (TypeError, ValueError):
        return _error(t("simulator.err_json"))
    app = gridbot_app()
    with app.session() as session:
        item = session.get(ToolbarItem, item_id) if 0 < item_id <= ID_MAX else None
        grids = _member_grids(session, user_id)
        if item is None or grids is None or item.grid_id not in grids or item.status != ITEM_READY:
            return _error(t("toolbar.none"), 404)
        chat_id, text = item.chat_id, item.text
    before = _last_outbox_id()
    local_archive.post(app, chat_id, user_id, text)
    with app.session() as session:
        status = session.get_one(ToolbarItem, item_id).status
    rows, cursor = _due_after(before)
    return jsonify(ok=True, status=status, chat_id=chat_id, text=text,
                   replies=[_shown(r, chat_id, user_id) for r in rows], cursor=cursor)
