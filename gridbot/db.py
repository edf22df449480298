"""Engine and sessions. Nothing connects at import time; bootstrap.py calls these."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kw.setdefault("pool_pre_ping", True)
    if "poolclass" not in kw:
        kw.setdefault("pool_size", 10)
        kw.setdefault("max_overflow", 20)
    return create_engine(url, **kw)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def hand_over_after_commit(factory: sessionmaker[Session], model: type, hand_over: Callable[[list[Any]], None]) -> None:
    """Installed once by the composition root: rows of `model` inserted in a transaction are handed to `hand_over`
    after that transaction commits, and never when it rolls back. Callers only write rows; none has to remember to
    schedule what it wrote (the outbox uses this to queue deliveries)."""
    key = f"hand_over:{model.__name__}"

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _flush_context: Any) -> None:
        rows = [obj for obj in session.new if isinstance(obj, model)]
        if rows:
            session.info.setdefault(key, []).extend(rows)

    @event.listens_for(factory, "after_commit")
    def _hand_over(session: Session) -> None:
        # a rolled-back savepoint's rows are transient: only what this commit kept goes
        rows = [row for row in session.info.pop(key, ()) if inspect(row).persistent]
        if rows:
            hand_over(rows)

    @event.listens_for(factory, "after_soft_rollback")
    def _forget(session: Session, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:   # the whole transaction rolled back, not just a savepoint
            session.info.pop(key, None)


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` once the session's transaction commits, never if it rolls back: a job that reads what the
    transaction writes must not start inside it (the in-process queue runs jobs at once; an RQ worker may be quick)."""
    if not session.info.get("after_commit_listening"):
        event.listen(session, "after_commit", _run_after_commit)
        event.listen(session, "after_soft_rollback", _drop_after_commit)
        session.info["after_commit_listening"] = True
    session.info.setdefault("after_commit_fns", []).append(fn)


def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop("after_commit_fns", []):
        fn()


def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:   # the whole transaction rolled back, not just a savepoint
        session.info.pop("after_commit_fns", None)
