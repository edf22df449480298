"""WeCom callbacks: /wecom/callback (self-built app, XML) and /wecom/aibot (AI bot, JSON).

Ack fast, work later: check size, timestamp window and signature (constant time), decrypt, refuse
replays, decode to an Inbound, store it under its dedupe key and enqueue processing, answer 200 — all in
milliseconds. Every bad request gets a 4xx and one log line an operator can act on (route, reason, client
address; never the message text or user ids). A route whose settings are missing answers 404.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from flask import Blueprint, Response, request
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from ..adapters import wecom_aibot, wecom_app
from ..adapters.wecom_crypto import CallbackCrypto, CallbackRejected
from ..messages import Inbound
from ..router import normalize
from ..services.intake import REPLAY, IntakeUnavailable
from . import gridbot_app

log = logging.getLogger(__name__)

bp = Blueprint("wecom_webhook", __name__)

BIND_COMMAND = "绑定本群"


@bp.record_once
def _announce(state) -> None:  # noqa: ANN001
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


def _crypto(route: str) -> CallbackCrypto | None:
    gb = gridbot_app()
    cache = gb.__dict__.setdefault("_callback_crypto", {})
    if route not in cache:
        wc, skew = gb.settings.wecom, gb.settings.callback_max_skew
        if route == "app":
            cache[route] = (CallbackCrypto(wc.token, wc.aes_key, wc.corp_id, skew)
                            if wc.app_callback_enabled else None)
        else:
            cache[route] = (CallbackCrypto(wc.aibot_token, wc.aibot_aes_key, "", skew)
                            if wc.aibot_enabled else None)
    return cache[route]


class _SeenSignatures:
    """Signatures already accepted, kept for the timestamp window, so a byte-identical replay is refused.

    In Redis (shared by all workers) when there is one; otherwise in this process.
    """

    def __init__(self) -> None:
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str, ttl: int) -> bool:
        gb = gridbot_app()
        if gb.redis is not None:
            return bool(gb.redis.set(f"{gb.settings.redis_prefix}wecom:seen:{key}", b"1", nx=True, ex=ttl))
        now = time.monotonic()
        with self._lock:
            if len(self._local) > 100_000:
                self._local = {k: v for k, v in self._local.items() if v > now}
            if self._local.get(key, 0) > now:
                return False
            self._local[key] = now + ttl
            return True


_seen = _SeenSignatures()


def _refuse(route: str, err: CallbackRejected) -> Response:
    log.warning("wecom %s refused %d from %s: %s", route, err.status, request.remote_addr, err.reason)
    return Response(err.reason if err.status != 404 else "", status=err.status, mimetype="text/plain")


def _query() -> tuple[str, str, str]:
    args = request.args
    sig, ts, nonce = args.get("msg_signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    if not (sig and ts and nonce):
        raise CallbackRejected(400, "missing msg_signature, timestamp or nonce in the query string")
    return sig, ts, nonce


def _handle(route: str, crypto: CallbackCrypto | None,
            open_body: Callable[[CallbackCrypto, bytes, str, str, str, float], str],
            decode: Callable[[str], Inbound | None]) -> Response:
    if crypto is None:
        return Response("", status=404)
    gb = gridbot_app()
    try:
        sig, ts, nonce = _query()
        now = gb.clock.now().timestamp()
        if request.method == "GET":  # URL verification: answer the decrypted echostr as the bare body
            echostr = request.args.get("echostr", "").replace(" ", "+")  # an unencoded '+' arrives as a space
            if not echostr:
                raise CallbackRejected(400, "URL check without echostr")
            return Response(crypto.open(sig, ts, nonce, echostr, now), mimetype="text/plain")
        length = request.content_length
        if length is not None and length > gb.settings.max_body_bytes:
            raise CallbackRejected(413, f"body of {length} bytes exceeds GRIDBOT_MAX_BODY_BYTES")
        body = request.get_data(cache=False)
        if len(body) > gb.settings.max_body_bytes:
            raise CallbackRejected(413, "body exceeds GRIDBOT_MAX_BODY_BYTES")
        plaintext = open_body(crypto, body, sig, ts, nonce, now)
        inbound = decode(plaintext)
        if inbound is None:  # a stream refresh or an event we do not store
            return Response("", status=200)
        if inbound.is_group and not _chat_known_or_binding(gb, inbound):
            raise CallbackRejected(404, f"message from unbound chat on {route}: a grid leader can bind it "
                                        f"by sending '{BIND_COMMAND} <网格编码>' in that group")
        _receive(gb, inbound, plaintext, f"{route}:{sig}", 2 * crypto.max_skew)
    except CallbackRejected as err:
        return _refuse(route, err)
    except (OperationalError, RedisError, IntakeUnavailable) as exc:
        log.error("wecom %s: database or Redis unavailable, answering 503 so WeCom retries: %s", route,
                  type(exc).__name__)
        return Response("", status=503)
    return Response("", status=200)


BOUND_CACHE_SECONDS = 60.0
_bound_until: dict[str, float] = {}  # chat id -> until when this process takes it as bound without asking


def _receive(gb, inbound: Inbound, plaintext: str, seen_key: str, ttl: int) -> None:  # noqa: ANN001
    """Store (dedupe), then remember the signature and enqueue processing.

    A new message: the replay key and the job go to Redis in one pipeline. A known message (WeCom's retry, newly
    signed) is fine; the same signature a second time is a replay: 409. On PostgreSQL + RQ the process's intake
    does this for all the callbacks in hand at once (services/intake.py).
    """
    from ..services.inbound import row_values, store

    if gb.intake is not None:
        _, outcome = gb.intake.submit(row_values(gb, inbound, plaintext), seen_key, ttl)
        if outcome == REPLAY:
            raise CallbackRejected(409, "replayed request (same signature already accepted)")
        return
    inbound_id, created = store(gb, inbound, plaintext)
    try:
        _enqueue(gb, inbound_id, created, seen_key, ttl)
    except RedisError as exc:
        # Stored is what WeCom needs: answer 200. The row stays 'received' and the recovery sweep
        # (gridbot.jobs.requeue_received_inbound, `gridbot inbound requeue`) queues it once Redis is back.
        log.error("wecom: Redis unavailable, inbound %s stored and left for the recovery sweep: %s", inbound_id,
                  type(exc).__name__)


def _enqueue(gb, inbound_id: int, created: bool, seen_key: str, ttl: int) -> None:  # noqa: ANN001
    from ..queue import RQQueue

    job = ("gridbot.jobs.process_inbound", inbound_id)
    if not created:
        if not _seen.first_time(seen_key, ttl):
            raise CallbackRejected(409, "replayed request (same signature already accepted)")
        # WeCom's retry: maybe our first answer failed after storing but before enqueuing. Enqueue again;
        # processing is idempotent (a message already done is skipped), so nothing is processed twice.
        gb.queue.enqueue(*job, queue="inbound", job_id=f"inbound-{inbound_id}-again")
        return
    if isinstance(gb.queue, RQQueue):
        pipe = gb.redis.pipeline()
        gb.queue.enqueue(*job, queue="inbound", job_id=f"inbound-{inbound_id}", pipeline=pipe)
        pipe.set(f"{gb.settings.redis_prefix}wecom:seen:{seen_key}", b"1", ex=ttl)
        pipe.execute()
    else:
        _seen.first_time(seen_key, ttl)
        gb.queue.enqueue(*job, queue="inbound", job_id=f"inbound-{inbound_id}")


def _chat_known_or_binding(gb, inbound: Inbound) -> bool:  # noqa: ANN001
    """True if the group is bound to a grid, or the message is the bind command; else record the chat.

    A bound chat is remembered for a minute (bindings are added, rarely removed), saving a query per message.
    """
    now = time.monotonic()
    if _bound_until.get(inbound.chat_id or "", 0) > now:
        return True
    from ..models import GridChat
    from ..services.inbound import _note_unknown_chat

    with gb.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        bound = conn.execute(select(GridChat.id).where(GridChat.chat_id == inbound.chat_id)).first()
    if bound is not None:
        if len(_bound_until) > 50_000:
            _bound_until.clear()
        _bound_until[inbound.chat_id] = now + BOUND_CACHE_SECONDS
        return True
    if normalize(inbound.text).lstrip("/").startswith(BIND_COMMAND):
        return True
    try:
        with gb.session() as session, session.begin():
            _note_unknown_chat(session, inbound, gb.clock.now())
    except IntegrityError:  # two first messages at once: the other request recorded it
        pass
    return False


@bp.route("/wecom/callback", methods=["GET", "POST"])
def app_callback() -> Response:
    return _handle("app", _crypto("app"),
                   lambda c, body, sig, ts, nonce, now: c.open_xml(body, sig, ts, nonce, now),
                   wecom_app.decode)


@bp.route("/wecom/aibot", methods=["GET", "POST"])
def aibot_callback() -> Response:
    gb = gridbot_app()
    return _handle("aibot", _crypto("aibot"),
                   lambda c, body, sig, ts, nonce, now: c.open_json(body, sig, ts, nonce, now),
                   lambda text: wecom_aibot.decode(text, gb.clock.now(), gb.settings.wecom.aibot_name))
