"""The chat toolbar page (聊天工具栏, issue 16 point 6): a page of the self-built app that WeCom shows inside a
customer group's chat window. It knows which group is open (JS-SDK `getCurExternalChat`), lists what gridbot has
ready for that group (services/toolbar.py), and posts each item with one tap as the member (`sendChatMessage`),
then tells the server (how=toolbar); the chat archive's copy of the message confirms it (match_posted).

Sign-in is the console's (a session cookie; inside WeCom the OAuth2 silent sign-in, auth.wecom_login). The page is
plain HTML and a little script, no build step, sized for WeCom's phone browser. The JS-SDK's `wx.agentConfig`
needs a signature from the app's jsapi_ticket (wecom/jssdk.py) for the page's own URL, whose domain must be one
of the app's trusted domains (可信域名, doc 94313). State changes carry the session's CSRF token.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..clock import local
from ..errors import log_unexpected
from ..models import GridChat, ToolbarItem
from ..models.org import CHAT_CUSTOMER_GROUP
from ..services import toolbar
from ..texts import t
from ..wecom.client import client_for
from ..wecom.jssdk import agent_ticket, signature
from . import gridbot_app
from .auth import Principal, audit_event, check_csrf, current_principal, requires

log = logging.getLogger(__name__)
bp = Blueprint("toolbar", __name__, url_prefix="/toolbar")
bp.before_request(check_csrf)

# What the page asks agentConfig for (doc 94313: the interfaces it will call).
JS_API_LIST = ["getCurExternalChat", "sendChatMessage"]


def _member() -> Principal:
    """A signed-in grid member; anyone else signs in first (inside WeCom: OAuth, silently) or is refused."""
    principal = current_principal()
    if principal is None:
        target = request.full_path.rstrip("?")
        if gridbot_app().settings.wecom.corp_id:
            abort(redirect(url_for("auth.wecom_login", next=target)))
        abort(redirect(url_for("auth.login", next=target)))
    if principal.member_id is None:
        audit_event(principal.actor, "console.forbidden", reason="toolbar is for grid members")
        abort(403)
    return principal


def _texts() -> dict[str, Any]:
    keys = ("title", "no_group", "not_bound", "none", "send", "sent", "copy_hint", "send_failed", "dismiss",
            "dismissed")
    return {k: t(f"toolbar.{k}", error="{error}") if k == "send_failed" else t(f"toolbar.{k}") for k in keys}


@bp.get("/")
@requires("public")   # signs the person in itself (_member): WeCom's OAuth inside the client
def page():
    _member()
    wc = gridbot_app().settings.wecom
    return render_template("toolbar/index.html", T=_texts(), corp_id=wc.corp_id or "", agent_id=wc.agent_id or "",
                           jsapi=bool(wc.api_enabled))


@bp.get("/config")
@requires("public")
def config():
    """wx.agentConfig's parameters for the page at ?url= (which must be on this server)."""
    _member()
    app = gridbot_app()
    wc = app.settings.wecom
    url = request.args.get("url", "")
    allowed = {urlsplit(request.host_url).netloc, urlsplit(app.settings.console_base_url).netloc}
    if urlsplit(url).netloc not in allowed:
        abort(400)
    if not wc.api_enabled:
        return jsonify(ok=False, error="GRIDBOT_WECOM_CORP_ID / GRIDBOT_WECOM_SECRET not set")
    try:
        ticket = agent_ticket(client_for(app))
    except Exception as exc:  # noqa: BLE001 - WeCom refused or is unreachable: the page says so, with an id
        ref = log_unexpected(log, exc, "toolbar jsapi_ticket")
        return jsonify(ok=False, error=f"jsapi_ticket ({ref})"), 502
    nonce = secrets.token_urlsafe(12)
    timestamp = int(app.clock.now().timestamp())
    return jsonify(ok=True, corpid=wc.corp_id, agentid=wc.agent_id, timestamp=timestamp, nonceStr=nonce,
                   signature=signature(ticket, nonce, timestamp, url), jsApiList=JS_API_LIST)


@bp.get("/items")
@requires("public")
def items():
    """The ready items of the open group (?chat_id= from getCurExternalChat) that this member may post."""
    principal = _member()
    chat_id = request.args.get("chat_id", "")[:128]
    app = gridbot_app()
    with app.session() as s:
        chat = s.scalar(select(GridChat).where(GridChat.chat_id == chat_id)) if chat_id else None
        if chat is None or chat.kind != CHAT_CUSTOMER_GROUP:
            return jsonify(ok=True, group=None, message=t("toolbar.not_bound"), items=[])
        if chat.grid_id not in principal.scope_grid_ids:
            audit_event(principal.actor, "console.forbidden", "grid_chat", chat.id, reason="scope")
            abort(403)
        rows = toolbar.ready_for_chat(s, chat_id, principal.scope_grid_ids)
        tz = app.settings.tz
        shown = [{"id": r.id, "kind": t(f"toolbar.kind.{r.kind}"), "text": r.text,
                  "due": t("toolbar.due", due=f"{local(r.due_at, tz):%m-%d %H:%M}")} for r in rows]
        return jsonify(ok=True, group=t("toolbar.heading", group=chat.name or chat.chat_id), items=shown)


def _item_action(item_id: int, act: Callable[..., ToolbarItem | None]) -> ResponseReturnValue:
    """A member's action on a ready item of their grids (audited); another grid's item is not there for them."""
    principal = _member()
    app = gridbot_app()
    with app.session() as s, s.begin():
        item = act(s, item_id, principal.userid or principal.actor, principal.scope_grid_ids, app.clock.now())
        status = item.status if item is not None else None
    if status is None:
        audit_event(principal.actor, "console.forbidden", "toolbar_item", item_id, reason="scope")
        abort(404)
    return jsonify(ok=True, status=status)


@bp.post("/items/<int:item_id>/posted")
@requires("public")
def posted(item_id: int) -> ResponseReturnValue:
    """sendChatMessage succeeded: the item is posted (how=toolbar), audited."""
    return _item_action(item_id, toolbar.post_from_toolbar)


@bp.post("/items/<int:item_id>/dismissed")
@requires("public")
def dismissed(item_id: int) -> ResponseReturnValue:
    """The member will not post it (answered otherwise): it stops waiting, audited."""
    return _item_action(item_id, toolbar.dismiss)
