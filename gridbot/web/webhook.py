"""WeCom callbacks: /wecom/callback (self-built app, XML) and /wecom/aibot (AI bot, JSON).

Each view is "adapter -> receive": the route's adapter (gridbot/adapters) checks size, timestamp window and
signature (constant time), decrypts and decodes to an Inbound; the app's receiver (gridbot/pipeline/receive.py)
stores it under its dedupe key and queues processing; the view answers 200, all in milliseconds.

WeCom counts every non-200 as a failed delivery (WECOM.md "Timing and retries"), so every correctly signed and
decryptable callback is answered 200: a duplicate (even byte for byte: a retry may carry the same signature), a
message from a chat bound to no grid (stored 'unbound', the chat recorded), a type the bot does not handle (stored
'skipped'), a payload it cannot read (stored raw, 'unreadable'). A 4xx only for a bad signature, failed decryption,
a timestamp outside the window, an oversized or malformed body, each with one log line an operator can act on
(route, reason, client address; never the message text or user ids). A route whose settings are missing answers 404.
When the database is down or too slow the callback is kept in the local journal
(gridbot/pipeline/journal.py) and answered 200; 503 only when the journal cannot be written either.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from ..adapters import Arrival, wecom_aibot, wecom_app
from ..adapters.wecom_crypto import CallbackCrypto, CallbackRejected, SignedQuery, signed_query, url_check
from ..app import Gridbot
from ..pipeline.receive import Unavailable
from . import gridbot_app

log = logging.getLogger(__name__)

bp = Blueprint("wecom_webhook", __name__)

Read = Callable[[CallbackCrypto, SignedQuery, bytes, datetime], "Arrival | None"]


@bp.record_once
def _announce(state: BlueprintSetupState) -> None:
    """Say at start-up which callback routes are off, and which setting would turn them on."""
    gb = state.app.extensions.get("gridbot")
    if gb is None:
        return
    wc = gb.settings.wecom
    if not wc.app_callback_enabled:
        log.warning("/wecom/callback disabled (answers 404): set GRIDBOT_WECOM_CORP_ID, GRIDBOT_WECOM_TOKEN "
                    "and GRIDBOT_WECOM_AES_KEY to enable the app callback")
    if not wc.aibot_enabled:
        log.warning("/wecom/aibot disabled (answers 404): set GRIDBOT_AIBOT_TOKEN and GRIDBOT_AIBOT_AES_KEY "
                    "to enable the AI bot callback")


def _refuse(route: str, err: CallbackRejected) -> Response:
    log.warning("wecom %s refused %d from %s: %s", route, err.status, request.remote_addr, err.reason)
    return Response(err.reason if err.status != 404 else "", status=err.status, mimetype="text/plain")


def _body(limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise CallbackRejected(413, f"body of {length} bytes exceeds GRIDBOT_MAX_BODY_BYTES")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise CallbackRejected(413, "body exceeds GRIDBOT_MAX_BODY_BYTES")
    return body


def _handle(route: str, read: Read) -> Response:
    gb = gridbot_app()
    crypto = gb.callback_crypto.get(route)
    if crypto is None:
        return Response("", status=404)
    arrival: Arrival | None = None
    try:
        query = signed_query(request.args)
        now = gb.clock.now()
        if request.method == "GET":  # URL verification: answer the decrypted echostr as the bare body
            return Response(url_check(crypto, query, request.args, now.timestamp()), mimetype="text/plain")
        arrival = read(crypto, query, _body(gb.settings.max_body_bytes), now)
        if arrival is not None:  # None: a stream refresh or an event we do not store
            gb.receiver.receive(arrival)
    except CallbackRejected as err:
        return _refuse(route, err)
    except (OperationalError, RedisError, Unavailable) as exc:
        return _keep_in_journal(gb, route, arrival, exc)
    return Response("", status=200)


def _keep_in_journal(gb: Gridbot, route: str, arrival: Arrival | None, exc: BaseException) -> Response:
    """The database (or Redis before the row was stored) failed: keep the signed callback in the local journal and
    answer 200, since WeCom may never retry a non-200 (doc 90930). 503 only when even the journal fails."""
    if arrival is not None and gb.journal is not None:
        try:
            gb.journal.keep(route, arrival)
            return Response("", status=200)
        except OSError as err:
            log.error("wecom %s: database unavailable (%s) and the journal failed too, answering 503: %s "
                      "(check the disk of GRIDBOT_JOURNAL_DIR)", route, type(exc).__name__, err)
            return Response("", status=503)
    log.error("wecom %s: database or Redis unavailable, answering 503: %s", route, type(exc).__name__)
    return Response("", status=503)


@bp.route("/wecom/callback", methods=["GET", "POST"])
def app_callback() -> Response:
    return _handle("app", wecom_app.read)


@bp.route("/wecom/aibot", methods=["GET", "POST"])
def aibot_callback() -> Response:
    bot_name = gridbot_app().settings.wecom.aibot_name
    return _handle("aibot", lambda crypto, query, body, now: wecom_aibot.read(crypto, query, body, now, bot_name))
