"""Process: one stored message, once. Who speaks, what the router answers, the replies written to the outbox in
the same transaction as every change the message caused; the row is then 'done'.

An error the chat did not expect (not a Refusal, not a database or Redis outage) is rolled back, logged once with a
short id, the row is marked failed with that id, and the person is told the id, politely: a bug costs one apology,
not three retries of it. An outage (OperationalError, a lost connection) still fails the job, so RQ retries it.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session

from ..app import Gridbot
from ..errors import Refusal, log_unexpected
from ..messages import ARCHIVE_PLATFORM, Inbound, Reply
from ..models import InboundMessage
from ..privacy import mask_text
from ..queue import is_job_timeout
from ..router import Context
from ..services import kf
from ..services.outbox import replies_for_inbound, write_replies
from ..services.people import Speaker, grid_for_chat, resolve_speaker
from ..services.toolbar import match_posted
from ..texts import t
from ..understanding import llm
from ..understanding.llm import Answer
from .media import fetch_evidence, picture_urls
from .receive import note_unknown_chat
from .store import NOT_PROCESSED, row_values, store

log = logging.getLogger(__name__)

# Infrastructure failing, not the chat: the job fails and RQ tries again later.
TRANSIENT = (OperationalError, DisconnectionError, RedisError, ConnectionError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT) or is_job_timeout(exc):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class _PicturesFirst(Exception):
    """Raised in process()'s transaction for a message whose pictures are not fetched yet: nothing is changed."""


def process(app: Gridbot, inbound_id: int, pictures_fetched: bool = False,
            llm_answers: dict[int, Answer | None] | None = None) -> list[int]:
    """Route the message and write its replies to the outbox, in one transaction. Idempotent.

    Returns the ids of the outbox rows written (empty if the message was already processed). A message with
    pictures (the AI bot's image urls, valid five minutes) has them fetched first, outside the transaction and
    its row lock (media.py), then is routed; a message without costs nothing more.

    Likewise a message the optional large model is to be asked about (handlers/tickets.py raises llm.AskFirst):
    the transaction is rolled back having changed nothing, the model asked with no session open (a slow endpoint
    would otherwise hold the row lock and a pooled connection for up to its timeout, per message, on every
    worker), then the message is run again with the answer in `llm_answers` (inbound id -> answer, None when
    there is none: handled as without the model). Asked once: the re-run finds its answer, or finds the message
    done by another worker meanwhile and does nothing; with Redis the answer is kept under the message, so an RQ
    retry (the re-run failed) does not ask again (llm.answer_once). Without the model, or for a message it is not
    asked about, nothing is raised: one transaction.
    """
    try:
        with app.session() as session, session.begin():
            row = session.scalar(
                select(InboundMessage).where(InboundMessage.id == inbound_id).with_for_update()
            )
            if row is None:
                log.warning("inbound %s does not exist", inbound_id)
                return []
            if row.status == "done" or row.status in NOT_PROCESSED:   # unbound, skipped, unreadable: kept, not run
                return []
            if not pictures_fetched and picture_urls(row.payload):
                raise _PicturesFirst
            inbound = _inbound_of(row)
            if inbound.chat_id and inbound.is_group and grid_for_chat(session, inbound.chat_id) is None:
                note_unknown_chat(session, inbound, app.clock.now())
            speaker = resolve_speaker(session, inbound.platform, inbound.sender_id, inbound.chat_id,
                                      inbound.sender_name)
            silent = False
            if inbound.platform == kf.PLATFORM:   # 微信客服: the grid of the link; silent while a person has it
                speaker, silent = kf.speaker_in_session(session, inbound, speaker)
            if speaker.is_member and inbound.is_group and inbound.chat_id and inbound.text:
                # a member's message in a customer group may be a ready item posted (issue 16 point 7)
                match_posted(session, inbound.chat_id, inbound.sender_id, inbound.text, inbound.at or app.clock.now())
            ctx = Context(inbound=inbound, speaker=speaker, session=session, app=app,
                          llm_answers=dict(llm_answers or {}))
            flooding = _flooding(session, row, speaker)
            if flooding is None:
                flooding = [] if silent else None
            replies = app.router.dispatch(ctx) if flooding is None else flooding
            if inbound.platform == ARCHIVE_PLATFORM and speaker.is_member:
                replies = _privately(replies, inbound.sender_id)
            rows = write_replies(session, inbound, replies, now=app.clock.now())
            row.status = "done"
            row.attempts += 1
            row.processed_at = app.clock.now()
            row.error = None
        ids = [r.id for r in rows]
    except _PicturesFirst:
        _fetch_pictures(app, inbound_id)
        return process(app, inbound_id, pictures_fetched=True, llm_answers=llm_answers)
    except llm.AskFirst as first:
        answer = llm.answer_once(app.settings, first.question, app.clock.now(), app.redis, inbound_id)
        return process(app, inbound_id, pictures_fetched=pictures_fetched,
                       llm_answers={**(llm_answers or {}), inbound_id: answer})
    except Exception as exc:
        if isinstance(exc, Refusal) or is_transient(exc):
            _mark_failed(app, inbound_id, mask_text(repr(exc))[:2000])
            raise
        return _apologise(app, inbound_id, exc)
    return ids


def _privately(replies: list[Reply], user_id: str) -> list[Reply]:
    """A member's command in a customer group (read from the archive) is answered to them privately: the bot has
    no voice in that group, and the residents are not to read members' lists."""
    return [r if r.to_user or r.to_chat else replace(r, to_user=user_id, mentions=[]) for r in replies]


def _fetch_pictures(app: Gridbot, inbound_id: int) -> None:
    """The message's pictures, before it is routed. A bug there costs the pictures, never the message; an outage
    is raised like any other (the job is retried, and pictures already kept are skipped)."""
    try:
        fetch_evidence(app, inbound_id)
    except Exception as exc:   # a picture never fails its message: logged once with an id, routed anyway
        if is_transient(exc):
            raise
        log_unexpected(log, exc, f"inbound {inbound_id} pictures")


def _inbound_of(row: InboundMessage) -> Inbound:
    inbound = Inbound.from_dict(row.payload)
    inbound.inbound_id = row.id
    return inbound


def _mark_failed(app: Gridbot, inbound_id: int, error: str) -> None:
    with app.session() as session, session.begin():
        session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id)
                        .values(status="failed", attempts=InboundMessage.attempts + 1, error=error))


def _apologise(app: Gridbot, inbound_id: int, exc: Exception) -> list[int]:
    """The unexpected error's one log line (with its id), the row failed with that id, the person told the id."""
    ref = log_unexpected(log, exc, f"inbound {inbound_id}")   # one id scheme for the chat, the web and the CLI
    with app.session() as session, session.begin():
        row = session.get(InboundMessage, inbound_id)
        if row is None:  # pragma: no cover - the row was there a moment ago
            return []
        row.status = "failed"
        row.attempts += 1
        row.error = f"ref {ref}: {mask_text(repr(exc))}"[:2000]
        rows = write_replies(session, _inbound_of(row), [Reply(t("router.unexpected", ref=ref))],
                             now=app.clock.now())
        return [r.id for r in rows]


def process_batch(app: Gridbot, inbound_ids: list[int]) -> int:
    """Process the messages a web process stored together, each in its own transaction; returns how many
    replies were written.

    One failing does not hold back the others; it is raised at the end so RQ retries the batch, and the retry
    skips every message already done.
    """
    written, failed = 0, None
    for inbound_id in inbound_ids:
        try:
            written += len(process(app, inbound_id))
        except Exception as exc:  # process() marked the row failed; go on with the rest
            if is_job_timeout(exc):
                raise
            log.warning("inbound %s failed in its batch: %s", inbound_id, type(exc).__name__)
            failed = failed or exc
    if failed is not None:
        raise failed
    return written


FLOOD_LIMIT = 10                  # messages one resident may send to one group ...
FLOOD_WINDOW = timedelta(seconds=60)   # ... within this window before the bot stops reading them


def _flooding(session: Session, row: InboundMessage, speaker: Speaker) -> list[Reply] | None:
    """A resident flooding a group (a script, a stuck key): past FLOOD_LIMIT messages a minute they are stored but
    not routed, so a thousand messages cannot open a thousand tickets. The first one over the limit is answered
    once, in Chinese; the rest quietly. Staff are not limited (a member may accept twenty tickets in a minute)."""
    if speaker.is_member or not row.chat_id or not row.sender_id:
        return None
    earlier = session.scalar(select(func.count()).select_from(InboundMessage).where(
        InboundMessage.chat_id == row.chat_id, InboundMessage.sender_id == row.sender_id,
        InboundMessage.received_at > row.received_at - FLOOD_WINDOW, InboundMessage.id < row.id)) or 0
    if earlier < FLOOD_LIMIT:
        return None
    log.warning("inbound %s: sender over %d messages in %ss in one chat, not routed", row.id, FLOOD_LIMIT,
                int(FLOOD_WINDOW.total_seconds()))
    return [Reply(t("inbound.slow_down", seconds=int(FLOOD_WINDOW.total_seconds())))] if earlier == FLOOD_LIMIT \
        else []


def replies_for(app: Gridbot, inbound_id: int) -> list[Reply]:
    """The replies written for one message (console, `gridbot say`, the simulator)."""
    with app.session() as session:
        return replies_for_inbound(session, inbound_id)


def handle_now(app: Gridbot, inbound: Inbound) -> list[Reply]:
    """Store, process and deliver in this thread, then return the replies. The console's short path."""
    if inbound.at is None:
        inbound.at = app.clock.now()
    inbound.at = inbound.at.astimezone(UTC)
    inbound_id, created = store(app.engine, row_values(inbound, None, app.clock.now()))
    if created:
        process(app, inbound_id)
    return replies_for(app, inbound_id)
