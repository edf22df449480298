"""Dispatch: the ids the intake pushed become processing jobs, and the recovery sweep queues what was stored but
never processed.

The RQ jobs are built on a worker, not in the web process: a push that finds no dispatcher queued queues one
(`jobs.dispatch_inbound`), which processes the first DISPATCH_CHUNK pending messages itself and queues the rest as
`process_inbound_batch` jobs of that size, so a burst is shared by all the workers.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from ..app import Gridbot
from ..models import InboundMessage
from ..queue import JobQueue, RQQueue, is_job_timeout
from .process import process_batch

log = logging.getLogger(__name__)

DISPATCH_FLAG_SECONDS = 60   # a dispatcher job lost with its worker is replaced by the next push after this
DISPATCH_CHUNK = 20          # messages per processing job: small enough for many workers to share a burst
DISPATCH_MAX = 5000          # ids one dispatcher run takes; more waiting: it queues the next dispatcher


def pending_key(prefix: str) -> str:
    """The Redis list the intake pushes stored ids onto (`prefix` is settings.redis_prefix)."""
    return f"{prefix}inbound:pending"


def dispatch_flag_key(prefix: str) -> str:
    return f"{prefix}inbound:dispatch-queued"


def dispatch(app: Gridbot) -> int:
    """Process the first DISPATCH_CHUNK pending messages here and queue the rest as jobs of that size; returns how
    many ids it took.

    Runs as an RQ job on a worker, so the web process never builds an RQ job under load; a calm message is processed
    by this job itself (no second hop), a burst is shared out to every inbound worker. The flag is cleared first and
    the intake pushes before it sets the flag, so an id is either taken below or queues the next dispatcher. A worker
    that dies while holding ids leaves their rows 'received': the recovery sweep finds them.
    """
    r = app.redis
    assert r is not None, "the dispatcher runs only where the intake pushes ids, on Redis"
    prefix = app.settings.redis_prefix
    r.delete(dispatch_flag_key(prefix))
    ids: list[int] = []
    while len(ids) < DISPATCH_MAX:
        taken = r.lpop(pending_key(prefix), 500)
        if not taken:
            break
        ids.extend(int(x) for x in taken)
    if len(ids) >= DISPATCH_MAX and r.set(dispatch_flag_key(prefix), b"1", nx=True, ex=DISPATCH_FLAG_SECONDS):
        queue_dispatcher(app.queue)
    unique = list(dict.fromkeys(ids))   # a retry's id next to its first: one job processes it once
    chunks = [unique[start:start + DISPATCH_CHUNK] for start in range(0, len(unique), DISPATCH_CHUNK)]
    for chunk in chunks[1:]:
        _queue_batch(app.queue, chunk)
    if chunks:
        try:
            process_batch(app, chunks[0])
        except Exception as exc:  # the failed ones get RQ's retries with backoff in their own job
            log.warning("dispatch: a message of %d failed here (%s); the chunk is queued again with retries",
                        len(chunks[0]), type(exc).__name__)
            _queue_batch(app.queue, chunks[0])
            if is_job_timeout(exc):
                raise
    return len(ids)


def _queue_batch(queue: JobQueue, chunk: list[int]) -> None:
    queue.enqueue("gridbot.jobs.process_inbound_batch", chunk, queue="inbound")


def queue_dispatcher(queue: JobQueue) -> None:
    queue.enqueue("gridbot.jobs.dispatch_inbound", queue="inbound", retries=0)   # lost: the sweep queues one


REQUEUE_AFTER = timedelta(minutes=2)


def requeue_received(app: Gridbot, older_than: timedelta = REQUEUE_AFTER, limit: int = 5000) -> int:
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
    app.receiver.recover()   # ids left on the intake's pending list get a dispatcher (one may have been lost)
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


def _waiting_ids(app: Gridbot) -> set[int]:
    """The messages still waiting: pushed by the webhook and not yet dispatched, or in an RQ job (single, a
    dispatched chunk, WeCom's retry or ours). Those are a backlog, not a loss.

    Read from the pending list, the inbound queue and its scheduled registry (retries wait there), in chunks;
    the sweep asks only when some row has stayed 'received' for minutes.
    """
    if not isinstance(app.queue, RQQueue):   # in-process jobs leave nothing behind in Redis to look at
        return set()
    redis = app.queue.redis
    waiting = {int(x) for x in redis.lrange(pending_key(app.settings.redis_prefix), 0, -1)}   # first: ids move on
    q = app.queue.queues["inbound"]
    job_ids = list(q.get_job_ids()) + list(ScheduledJobRegistry(queue=q).get_job_ids())
    waiting_states = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
    for start in range(0, len(job_ids), 500):
        for job in Job.fetch_many(job_ids[start:start + 500], connection=redis):
            if job is None or job.get_status(refresh=False) not in waiting_states or not job.args:
                continue
            first = job.args[0]
            waiting.update(first if isinstance(first, (list, tuple)) else [first])
    return waiting
