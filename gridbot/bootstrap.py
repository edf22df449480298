"""The composition root: settings -> engine, sessions, Redis, queue, receiver, senders, router, clock.

Only this module and web.create_app() wire things together. Jobs find the app through current():
the process-wide app (an RQ worker builds it from the environment) or the one an in-process queue runs for.
"""
from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy.engine import Engine

from .adapters.wecom_crypto import CallbackCrypto
from .app import Gridbot, Receiver
from .archive.wiring import open_archive
from .clock import Clock
from .config import Settings
from .db import hand_over_after_commit, make_engine, make_sessionmaker
from .handlers import MODULES
from .models import OutboxMessage
from .pipeline import delivery
from .pipeline.intake import Intake
from .pipeline.journal import Journal
from .pipeline.receive import BoundChats, LocalReceiver, RQReceiver, SeenSignatures
from .queue import InProcessQueue, JobQueue, RQQueue
from .router import build_router
from .senders import wecom
from .senders.local import LocalSender
from .services.outbox import write_replies
from .services.tickets.sla import Policy
from .texts import use_config_dir
from .understanding import use_instance_dir
from .wecom.client import WeComClient

__all__ = ["Gridbot", "build", "current", "run_as", "set_current", "default_handler_modules"]

log = logging.getLogger(__name__)

_current: Gridbot | None = None
_context: contextvars.ContextVar[Gridbot | None] = contextvars.ContextVar("gridbot_app", default=None)


def set_current(app: Gridbot | None) -> None:
    global _current
    _current = app


def current() -> Gridbot:
    app = _context.get() or _current
    if app is None:
        # An RQ worker process started by a plain `rq worker`: build from the environment once.
        app = build(Settings.from_env())
        set_current(app)
    return app


def run_as(app: Gridbot, fn: Callable[[], Any]) -> Any:
    token = _context.set(app)
    try:
        return fn()
    finally:
        _context.reset(token)


def default_handler_modules() -> list[str]:
    return list(MODULES)


def build(settings: Settings, *, clock: Clock | None = None, queue: JobQueue | None = None,
          sync_jobs: bool = False, handler_modules: list[str] | None = None) -> Gridbot:
    """Wire an app. `sync_jobs` runs in-process jobs at once in the caller's thread (CLI, tests)."""
    use_config_dir(settings.config_dir, settings.timezone)
    use_instance_dir(settings.instance_dir)   # the community's own understanding model, when it trained one
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    clock = clock or Clock()
    redis_conn: redis.Redis | None = None
    if settings.redis_url:
        # Timeouts so a Redis that hangs (rather than refuses) fails fast: the webhook answers 200 with the message
        # stored and the recovery sweep queues it later. RQ's worker raises the read timeout above its BLPOP wait.
        timeout = settings.redis_timeout_ms / 1000
        redis_conn = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    on_close: list[Callable[[], None]] = []
    if queue is None:
        if redis_conn is not None and not sync_jobs:
            queue = RQQueue(redis_conn, prefix=settings.queue_prefix)
        else:
            in_process = InProcessQueue(sync=sync_jobs, around=lambda fn: run_as(app, fn))
            on_close.append(in_process.stop)
            queue = in_process
    elif isinstance(queue, InProcessQueue):
        on_close.append(queue.stop)
    bound = BoundChats(engine, sessions, clock)
    journal = Journal(settings.journal_path, engine, queue, clock, bound)
    on_close.insert(0, journal.close)   # before an in-process queue stops: a drain pass may still queue jobs
    wc = settings.wecom
    archive, archive_keys, archive_problem = open_archive(settings, engine)
    app = Gridbot(settings=settings, engine=engine, session=sessions, queue=queue,
                  router=build_router(handler_modules or default_handler_modules()), clock=clock,
                  receiver=_receiver(settings, engine, bound, clock, queue, redis_conn),
                  wecom_client=WeComClient(wc.api_base, wc.corp_id, wc.secret, redis_conn, settings.redis_prefix,
                                           timeout=wc.api_timeout),
                  redis=redis_conn, callback_crypto=_callback_crypto(settings), on_close=on_close,
                  ticket_policy=Policy.load(settings.config_dir, settings.timezone),   # sla.yaml checked at start-up
                  journal=journal, archive=archive, archive_keys=archive_keys, archive_problem=archive_problem)
    app.senders["console"] = LocalSender()
    wecom.wire(app, write_replies)   # WeCom senders when WeCom is configured; the local sender otherwise
    hand_over_after_commit(app.session, OutboxMessage, lambda rows: delivery.hand_over(app.queue, rows))
    return app


def _receiver(settings: Settings, engine: Engine, bound: BoundChats, clock: Clock, queue: JobQueue,
              redis_conn: redis.Redis | None) -> Receiver:
    """How this app makes a callback durable: the intake's group commit on PostgreSQL + RQ (it connects with the
    first callback, in the process that takes it); one row and one job per callback otherwise."""
    if isinstance(queue, RQQueue):
        if engine.dialect.name == "postgresql":
            return Intake(bound, engine.url, redis_conn or queue.redis, settings.redis_prefix, queue, clock)
        return RQReceiver(bound, engine, clock, queue, SeenSignatures(queue.redis, settings.redis_prefix))
    return LocalReceiver(bound, engine, clock, queue, SeenSignatures(redis_conn, settings.redis_prefix))


def _callback_crypto(settings: Settings) -> dict[str, CallbackCrypto]:
    """The crypto of each callback route that is configured (a route without one answers 404)."""
    wc, skew = settings.wecom, settings.callback_max_skew
    crypto = {}
    if wc.app_callback_enabled and wc.token and wc.aes_key and wc.corp_id:   # enabled means all three are set
        crypto["app"] = CallbackCrypto(wc.token, wc.aes_key, wc.corp_id, skew)
    if wc.aibot_enabled and wc.aibot_token and wc.aibot_aes_key:
        crypto["aibot"] = CallbackCrypto(wc.aibot_token, wc.aibot_aes_key, "", skew)
    return crypto
