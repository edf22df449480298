"""The chat simulator: pick a grid group (or a 1:1 chat) and a person, talk to the bot in a browser.

Honest by construction: a message goes through services.inbound.handle_now with platform "console", the same
store → router → outbox pipeline a WeCom message takes. Only the delivery differs (the page reads the outbox).
It lets anyone speak as anyone, so it is on only when asked for (GRIDBOT_SIMULATOR in the Flask config, set by
`gridbot demo`) or when WeCom is not configured at all (a local try-out); a WeCom deployment answers 404.
"""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from ..messages import Inbound
from . import gridbot_app

bp = Blueprint("simulator", __name__)

MAX_TEXT = 2000


def enabled() -> bool:
    flag = current_app.config.get("GRIDBOT_SIMULATOR")
    if flag is not None:
        return bool(flag)
    wecom = gridbot_app().settings.wecom
    return not (wecom.app_callback_enabled or wecom.aibot_enabled)


@bp.before_request
def _only_when_enabled():  # noqa: ANN202
    if not enabled():
        abort(404)


def _directory() -> dict:
    from ..services.roster import directory

    with gridbot_app().session() as session:
        return directory(session)


def _page_texts() -> dict[str, str]:
    from ..config import load_yaml

    texts = load_yaml(gridbot_app().settings.config_dir, "templates.yaml")["simulator"]["page"]
    return {k: str(v) for k, v in texts.items()}


@bp.get("/")
def index():  # noqa: ANN201
    texts = _page_texts()
    return render_template("simulator/index.html", directory=_directory(), T=texts,
                           quick=[q for q in texts["quick"].split("|") if q])


@bp.get("/simulator/directory")
def directory_json():  # noqa: ANN201
    return jsonify(_directory())


def _error(message: str, status: int = 400):  # noqa: ANN202
    return jsonify(ok=False, error=message), status


@bp.post("/simulator/say")
def say():  # noqa: ANN201
    """{chat_id|null, user_id, text, mentioned?, name?} -> the bot's replies, sorted by where they went."""
    from ..services.inbound import handle_now
    from ..services.people import resolve_speaker
    from ..texts import t

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
    inbound = Inbound(platform="console", sender_id=user_id, sender_name=str(name)[:64] if name else None,
                      text=text, chat_id=chat_id, chat_type="group" if chat_id else "single",
                      msg_id=f"sim-{uuid.uuid4().hex}", mentioned=bool(data.get("mentioned", True)))
    replies = handle_now(app, inbound)
    with app.session() as session:
        speaker = resolve_speaker(session, "console", user_id, chat_id)
    out = []
    for reply in replies:
        if reply.to_user and (chat_id is not None or reply.to_user != user_id):
            where, target = "private", reply.to_user
        elif reply.to_chat and reply.to_chat != chat_id:
            where, target = "other_chat", reply.to_chat
        else:
            where, target = "here", chat_id or user_id
        out.append({"where": where, "to": target, "text": reply.text, "markdown": reply.markdown,
                    "mentions": reply.mentions, "urgent": reply.urgent})
    who = {"user_id": user_id, "name": speaker.name or name or user_id,
           "kind": "member" if speaker.is_member else "resident",
           "households": len(speaker.household_ids)}
    return jsonify(ok=True, speaker=who, replies=out)
