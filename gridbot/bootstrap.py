"""The composition root: settings -> engine, sessions, Redis, queue, senders, router, clock.

Only this module and web.create_app() wire things together. Jobs find the app through current():
the process-wide app (an RQ worker builds it from the environment) or the one an in-process queue runs for.
"""
from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock
from .config import Settings
from .db import hand_over_after_commit, make_engine, make_sessionmaker
from .models import OutboxMessage
from .queue import InProcessQueue, JobQueue, RQQueue
from .router import Router, build_router
from .senders import Sender
from .senders.local import LocalSender
from .texts import use_config_dir

log = logging.getLogger(__name__)


@dataclass
class Gridbot:
    settings: Settings
    engine: Engine
    session: sessionmaker[Session]
    queue: JobQueue
    router: Router
    clock: Clock
    redis: Any = None
    senders: dict[str, Sender] = field(default_factory=dict)
    default_sender: Sender = field(default_factory=LocalSender)
    sender_resolver: Callable[["Gridbot", Any], Sender] | None = None
    intake: Any = None   # services/intake.Intake: the webhook's group commit (PostgreSQL + RQ only)

    def sender_for(self, row: Any) -> Sender:
        """The sender for an outbox row: by platform, unless a resolver (WeCom) decides by target too."""
        if self.sender_resolver is not None:
            return self.sender_resolver(self, row)
        return self.senders.get(row.platform, self.default_sender)

    def close(self) -> None:
        if self.intake is not None:
            self.intake.stop()
        if isinstance(self.queue, InProcessQueue):
            self.queue.stop()
        self.engine.dispose()


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
    from gridbot.handlers import MODULES

    return list(MODULES)


def build(settings: Settings, *, clock: Clock | None = None, queue: JobQueue | None = None,
          sync_jobs: bool = False, handler_modules: list[str] | None = None) -> Gridbot:
    """Wire an app. `sync_jobs` runs in-process jobs at once in the caller's thread (CLI, tests)."""
    use_config_dir(settings.config_dir)
    engine = make_engine(settings.database_url)
    redis_conn = None
    if settings.redis_url:
        import redis

        # Timeouts so a Redis that hangs (rather than refuses) fails fast: the webhook answers 200 with the message
        # stored and the recovery sweep queues it later. RQ's worker raises the read timeout above its BLPOP wait.
        timeout = settings.redis_timeout_ms / 1000
        redis_conn = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    app = Gridbot(settings=settings, engine=engine, session=make_sessionmaker(engine), queue=None,  # type: ignore[arg-type]
                  router=build_router(handler_modules or default_handler_modules()), clock=clock or Clock(),
                  redis=redis_conn)
    if queue is not None:
        app.queue = queue
    elif redis_conn is not None and not sync_jobs:
        app.queue = RQQueue(redis_conn, prefix=settings.queue_prefix)
    else:
        app.queue = InProcessQueue(sync=sync_jobs, around=lambda fn: run_as(app, fn))
    if isinstance(app.queue, RQQueue) and engine.dialect.name == "postgresql":
        from .services.intake import Intake

        app.intake = Intake(app)   # connects with the first callback, in the process that takes it
    _wire_senders(app)
    hand_over_after_commit(app.session, OutboxMessage, lambda rows: _queue_deliveries(app, rows))
    return app


def _queue_deliveries(app: Gridbot, rows: list[OutboxMessage]) -> None:
    """Every outbox row goes to the sender once its transaction commits (at its not_before when held)."""
    for row in rows:
        app.queue.enqueue("gridbot.jobs.send_outbound", row.id, queue="outbound", at=row.not_before, retries=0)


def _wire_senders(app: Gridbot) -> None:
    """WeCom senders when WeCom is configured; the local sender otherwise (embedded demo, console)."""
    app.senders["console"] = LocalSender()
    from .senders import wecom

    wecom.wire(app)
