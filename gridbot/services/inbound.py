"""Inbound messages: store once (dedupe), then process once (router inside one transaction with its replies)."""
from __future__ import annotations

import functools
import json
import logging
from datetime import timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..messages import Inbound, Reply
from ..models import InboundMessage, UnknownChat
from ..privacy import mask_text
from ..router import Context
from . import outbox
from .people import grid_for_chat, resolve_speaker

if TYPE_CHECKING:  # pragma: no cover
    from ..bootstrap import Gridbot

log = logging.getLogger(__name__)


def dedupe_key(inbound: Inbound) -> str:
    """MsgId / msgid when the platform gives one; events by sender + time + event name."""
    if inbound.msg_id:
        return f"{inbound.platform}:msg:{inbound.msg_id}"
    at = int(inbound.at.timestamp()) if inbound.at else 0
    return f"{inbound.platform}:evt:{inbound.sender_id}:{at}:{inbound.event or inbound.kind}"


def store(app: "Gridbot", inbound: Inbound, raw: str | None = None) -> tuple[int, bool]:
    """Persist the message under its dedupe key. Returns (id, created); a repeat returns the first id.

    One INSERT .. ON CONFLICT DO NOTHING RETURNING in autocommit (no ORM unit of work, no separate BEGIN/COMMIT).
    The webhook uses it on SQLite or without RQ; on PostgreSQL + RQ its intake stores batches (services/intake.py).
    """
    values = row_values(app, inbound, raw)
    key = values["dedupe_key"]
    if app.engine.dialect.name == "postgresql":
        return _store_pg(app, values)
    from sqlalchemy.dialects.sqlite import insert

    statement = (insert(InboundMessage).values(**values)
                 .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(InboundMessage.id))
    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        new_id = conn.execute(statement).scalar()
        if new_id is not None:
            return new_id, True
        existing = conn.execute(select(InboundMessage.id).where(InboundMessage.dedupe_key == key)).scalar()
    if existing is None:  # pragma: no cover - the conflicting row vanished in between
        raise IntegrityError("inbound dedupe", None, Exception(key))
    return existing, False


def row_values(app: "Gridbot", inbound: Inbound, raw: str | None) -> dict:
    """The inbound_messages row for a message just received (what store and the webhook's intake insert)."""
    if inbound.at is None:
        inbound.at = app.clock.now()
    return dict(platform=inbound.platform, dedupe_key=dedupe_key(inbound), chat_id=inbound.chat_id,
                sender_id=inbound.sender_id, kind=inbound.kind, payload=_payload(inbound), raw=raw,
                received_at=app.clock.now(), status="received", attempts=0)


_FIELDS = None


def _payload(inbound: Inbound) -> dict:
    """Inbound.to_dict() without dataclasses.asdict's deep copies (a tenth of the webhook's CPU); same result."""
    global _FIELDS
    if _FIELDS is None:
        from dataclasses import fields

        _FIELDS = tuple(f.name for f in fields(Inbound))
    data = {name: getattr(inbound, name) for name in _FIELDS}
    data["at"] = inbound.at.isoformat() if inbound.at else None
    if inbound.location is not None:
        loc = inbound.location
        data["location"] = {"latitude": loc.latitude, "longitude": loc.longitude, "label": loc.label,
                            "precision": loc.precision}
    data["event_data"] = dict(inbound.event_data)
    return data


COLUMNS = ("platform", "dedupe_key", "chat_id", "sender_id", "kind", "payload", "raw", "received_at", "status",
           "attempts")
_ROW = "(" + ", ".join("%s::json" if c == "payload" else "%s" for c in COLUMNS) + ")"


@functools.lru_cache(maxsize=64)
def pg_insert_sql(rows: int) -> str:
    """`INSERT .. ON CONFLICT DO NOTHING RETURNING id, dedupe_key` for `rows` rows of insert_params() each."""
    return (f"INSERT INTO inbound_messages ({', '.join(COLUMNS)}) VALUES {', '.join([_ROW] * rows)} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key")


def insert_params(values: dict) -> tuple:
    """row_values() as the positional parameters of pg_insert_sql (the payload as JSON text)."""
    return tuple(json.dumps(values[c], ensure_ascii=False) if c == "payload" else values[c] for c in COLUMNS)


def _store_pg(app: "Gridbot", values: dict) -> tuple[int, bool]:
    """The PostgreSQL path as one plain driver statement (the CLI, the simulator, the webhook without RQ)."""
    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        new_id = conn.exec_driver_sql(pg_insert_sql(1), insert_params(values)).scalar()
        if new_id is not None:
            return new_id, True
        existing = conn.execute(select(InboundMessage.id)
                                .where(InboundMessage.dedupe_key == values["dedupe_key"])).scalar()
    if existing is None:  # pragma: no cover - the conflicting row vanished in between
        raise IntegrityError("inbound dedupe", None, Exception(values["dedupe_key"]))
    return existing, False


def receive(app: "Gridbot", inbound: Inbound, raw: str | None = None) -> tuple[int, bool]:
    """Store, then enqueue processing for a new message. What the webhook does before answering 200."""
    inbound_id, created = store(app, inbound, raw)
    if created:
        app.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound",
                          job_id=f"inbound-{inbound_id}")
    return inbound_id, created


REQUEUE_AFTER = timedelta(minutes=2)


def requeue_received(app: "Gridbot", older_than: timedelta = REQUEUE_AFTER, limit: int = 5000) -> int:
    """Queue again the messages stored but never processed; returns how many. The recovery sweep.

    A row stays 'received' when Redis was down as it arrived (the webhook still answered 200) or when the worker
    holding it died (its transaction rolled back). Processing is idempotent under a row lock, so queuing a row whose
    job still exists costs one skipped run, never a second reply; a job still waiting in the queue is left alone.
    """
    cutoff = app.clock.now() - older_than
    with app.session() as session:
        ids = session.scalars(select(InboundMessage.id)
                              .where(InboundMessage.status == "received", InboundMessage.received_at < cutoff)
                              .order_by(InboundMessage.id).limit(limit)).all()
    if app.intake is not None:   # ids left on the webhook's pending list get a dispatcher (one may have been lost)
        from .intake import ensure_dispatcher

        ensure_dispatcher(app)
    queued = 0
    waiting = _waiting_ids(app) if ids else set()
    for inbound_id in ids:
        if inbound_id in waiting:
            continue
        app.queue.enqueue("gridbot.jobs.process_inbound", inbound_id, queue="inbound",
                          job_id=f"inbound-{inbound_id}-requeue")
        queued += 1
    if queued:
        log.warning("requeued %d inbound message(s) stored but never processed (Redis was down or a worker died)",
                    queued)
    return queued


def _waiting_ids(app: "Gridbot") -> set[int]:
    """The messages still waiting: pushed by the webhook and not yet dispatched, or in an RQ job (single, a
    dispatched chunk, WeCom's retry or ours). Those are a backlog, not a loss.

    Read from the pending list, the inbound queue and its scheduled registry (retries wait there), in chunks;
    the sweep asks only when some row has stayed 'received' for minutes.
    """
    from ..queue import RQQueue

    if not isinstance(app.queue, RQQueue):
        return set()
    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry

    from .intake import pending_key

    waiting = {int(x) for x in app.queue.redis.lrange(pending_key(app), 0, -1)}   # first: ids move on, never back
    q = app.queue.queues["inbound"]
    job_ids = list(q.get_job_ids()) + list(ScheduledJobRegistry(queue=q).get_job_ids())
    waiting_states = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
    for start in range(0, len(job_ids), 500):
        for job in Job.fetch_many(job_ids[start:start + 500], connection=app.queue.redis):
            if job is None or job.get_status(refresh=False) not in waiting_states or not job.args:
                continue
            first = job.args[0]
            waiting.update(first if isinstance(first, (list, tuple)) else [first])
    return waiting


def process(app: "Gridbot", inbound_id: int) -> list[int]:
    """Route the message and write its replies to the outbox, in one transaction. Idempotent.

    Returns the ids of the outbox rows written (empty if the message was already processed).
    """
    try:
        with app.session() as session, session.begin():
            row = session.scalar(
                select(InboundMessage).where(InboundMessage.id == inbound_id).with_for_update()
            )
            if row is None:
                log.warning("inbound %s does not exist", inbound_id)
                return []
            if row.status == "done":
                return []
            inbound = Inbound.from_dict(row.payload)
            inbound.inbound_id = row.id
            if inbound.chat_id and inbound.is_group and grid_for_chat(session, inbound.chat_id) is None:
                _note_unknown_chat(session, inbound, app.clock.now())
            speaker = resolve_speaker(session, inbound.platform, inbound.sender_id, inbound.chat_id,
                                      inbound.sender_name)
            ctx = Context(inbound=inbound, speaker=speaker, session=session, app=app)
            flooding = _flooding(session, row, speaker)
            if flooding is None:
                replies = app.router.dispatch(ctx)
            else:
                replies = flooding
            rows = outbox.write_replies(session, inbound, replies, now=app.clock.now())
            row.status = "done"
            row.attempts += 1
            row.processed_at = app.clock.now()
            row.error = None
        ids = [r.id for r in rows]
    except Exception as exc:
        with app.session() as session, session.begin():
            session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id)
                            .values(status="failed", attempts=InboundMessage.attempts + 1,
                                    error=mask_text(repr(exc))[:2000]))
        raise
    return ids


def process_batch(app: "Gridbot", inbound_ids: list[int]) -> int:
    """Process the messages a web process stored together, each in its own transaction; returns how many
    replies were written.

    One failing does not hold back the others; it is raised at the end so RQ retries the batch, and the retry
    skips every message already done.
    """
    written, failed = 0, None
    for inbound_id in inbound_ids:
        try:
            written += len(process(app, inbound_id))
        except Exception as exc:  # noqa: BLE001 - process() marked the row failed; go on with the rest
            from ..queue import is_job_timeout

            if is_job_timeout(exc):
                raise
            log.warning("inbound %s failed in its batch: %s", inbound_id, type(exc).__name__)
            failed = failed or exc
    if failed is not None:
        raise failed
    return written


FLOOD_LIMIT = 10                  # messages one resident may send to one group ...
FLOOD_WINDOW = timedelta(seconds=60)   # ... within this window before the bot stops reading them


def _flooding(session, row: InboundMessage, speaker) -> list[Reply] | None:  # noqa: ANN001
    """A resident flooding a group (a script, a stuck key): past FLOOD_LIMIT messages a minute they are stored but
    not routed, so a thousand messages cannot open a thousand tickets. The first one over the limit is answered
    once, in Chinese; the rest quietly. Staff are not limited (a member may accept twenty tickets in a minute)."""
    from sqlalchemy import func

    from ..texts import t

    if speaker.is_member or not row.chat_id or not row.sender_id:
        return None
    earlier = session.scalar(select(func.count()).select_from(InboundMessage).where(
        InboundMessage.chat_id == row.chat_id, InboundMessage.sender_id == row.sender_id,
        InboundMessage.received_at > row.received_at - FLOOD_WINDOW, InboundMessage.id < row.id))
    if earlier < FLOOD_LIMIT:
        return None
    log.warning("inbound %s: sender over %d messages in %ss in one chat, not routed", row.id, FLOOD_LIMIT,
                int(FLOOD_WINDOW.total_seconds()))
    return [Reply(t("inbound.slow_down", seconds=int(FLOOD_WINDOW.total_seconds())))] if earlier == FLOOD_LIMIT \
        else []


def _note_unknown_chat(session, inbound: Inbound, now) -> None:  # noqa: ANN001
    known = session.scalar(select(UnknownChat).where(UnknownChat.chat_id == inbound.chat_id))
    if known is None:
        session.add(UnknownChat(platform=inbound.platform, chat_id=inbound.chat_id, first_seen=now, last_seen=now))
        log.warning("message from unbound chat %s (platform %s): a grid leader can bind it with 绑定本群",
                    inbound.chat_id, inbound.platform)
    else:
        known.last_seen = now
        known.messages += 1


def replies_for(app: "Gridbot", inbound_id: int) -> list[Reply]:
    """The replies written for one message (console, `gridbot say`, the simulator)."""
    return outbox.replies_for_inbound(app, inbound_id)


def handle_now(app: "Gridbot", inbound: Inbound) -> list[Reply]:
    """Store, process and deliver in this thread, then return the replies. The console's short path."""
    if inbound.at is None:
        inbound.at = app.clock.now()
    inbound.at = inbound.at.astimezone(timezone.utc)
    inbound_id, created = store(app, inbound)
    if created:
        process(app, inbound_id)
    return replies_for(app, inbound_id)
