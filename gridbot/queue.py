"""Job queues behind one interface: RQ on Redis when GRIDBOT_REDIS_URL is set, in-process otherwise.

Jobs are named by import path ("gridbot.jobs.process_inbound") and take ids or small dicts, never ORM objects.
Queues: "inbound" (process messages), "outbound" (send the outbox), "scheduled" (reminders, sweeps, digests).
"""
from __future__ import annotations

import heapq
import importlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.timeouts import BaseTimeoutException

log = logging.getLogger(__name__)

QUEUES = ("inbound", "outbound", "scheduled")


def resolve(func_path: str) -> Callable[..., Any]:
    module, _, name = func_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def is_job_timeout(exc: BaseException) -> bool:
    """RQ's job timeout (SIGALRM in a worker that runs jobs in its own process) must end the job: code that goes on
    after one failed item (a batch of messages) re-raises it."""
    return isinstance(exc, BaseTimeoutException)


class JobQueue(Protocol):
    def enqueue(self, func_path: str, *args: Any, queue: str = "inbound", at: datetime | None = None,
                job_id: str | None = None, retries: int = 3) -> None: ...

    def depth(self) -> dict[str, int]: ...


class InProcessQueue:
    """Runs jobs in this process. `sync=True` runs each job at once, in the caller's thread (CLI, tests);
    otherwise one background thread works through them in time order (the embedded web server).

    `around` wraps every job run, so the app can make itself current for the job.
    """

    def __init__(self, sync: bool = False, around: Callable[[Callable[[], Any]], Any] | None = None):
        self.sync = sync
        self.around = around or (lambda fn: fn())
        self._heap: list[tuple[float, int, str, tuple, int]] = []
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._seen_ids: set[str] = set()
        self.failures: list[tuple[str, tuple, str]] = []

    def enqueue(self, func_path: str, *args: Any, queue: str = "inbound", at: datetime | None = None,
                job_id: str | None = None, retries: int = 3) -> None:
        if job_id is not None:
            if job_id in self._seen_ids:
                return
            self._seen_ids.add(job_id)
        due = at.timestamp() if at is not None else 0.0
        if self.sync and (at is None or at <= datetime.now(UTC)):
            self._run(func_path, args, retries)
            return
        with self._cv:
            heapq.heappush(self._heap, (due, next(self._counter), func_path, args, retries))
            self._cv.notify()
        self._ensure_thread()

    def _run(self, func_path: str, args: tuple, retries: int) -> None:
        for attempt in range(retries + 1):
            try:
                self.around(lambda: resolve(func_path)(*args))
                return
            except Exception as exc:  # noqa: BLE001 - a job's failure must not kill the worker
                log.warning("job %s%r failed (try %d/%d): %s", func_path, args, attempt + 1, retries + 1, exc)
                if attempt == retries:
                    self.failures.append((func_path, args, repr(exc)))
                elif not self.sync:
                    time.sleep(min(2 ** attempt, 10))

    def _ensure_thread(self) -> None:
        if self.sync or (self._thread and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._loop, name="gridbot-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped:
            with self._cv:
                while not self._heap and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                due, _, func_path, args, retries = self._heap[0]
                wait = due - time.time()
                if wait > 0:
                    self._cv.wait(timeout=min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
            self._run(func_path, args, retries)

    def run_due(self, now: datetime | None = None) -> int:
        """Run every queued job due by `now` in this thread (tests with a controllable clock)."""
        limit = (now or datetime.now(UTC)).timestamp()
        ran = 0
        while True:
            with self._cv:
                if not self._heap or self._heap[0][0] > limit:
                    return ran
                _, _, func_path, args, retries = heapq.heappop(self._heap)
            self._run(func_path, args, retries)
            ran += 1

    def depth(self) -> dict[str, int]:
        return {"inbound": len(self._heap), "outbound": 0, "scheduled": 0}

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()


class RQQueue:
    """RQ on Redis. Scheduled jobs use RQ's scheduler (`gridbot worker` starts workers with_scheduler)."""

    def __init__(self, redis_conn: Redis, prefix: str = "gridbot"):
        self.redis = redis_conn
        self.prefix = prefix
        self.queues = {name: Queue(f"{prefix}-{name}", connection=redis_conn) for name in QUEUES}

    def names(self) -> list[str]:
        return [q.name for q in self.queues.values()]

    def enqueue(self, func_path: str, *args: Any, queue: str = "inbound", at: datetime | None = None,
                job_id: str | None = None, retries: int = 3, pipeline: Pipeline | None = None) -> None:
        """`pipeline`: a Redis pipeline the caller executes (the webhook sends job and replay key in one trip)."""
        q = self.queues[queue]
        kwargs: dict[str, Any] = {
            "args": args,
            "retry": Retry(max=retries, interval=[1, 5, 30, 120][:max(retries, 1)]) if retries else None,
            "result_ttl": 300,
            "failure_ttl": 7 * 24 * 3600,
        }
        if pipeline is not None and at is None:
            kwargs["pipeline"] = pipeline
        # Every job id carries the prefix, so one deployment's (or one test's) keys can be found and removed.
        kwargs["job_id"] = f"{self.prefix}-{job_id or uuid.uuid4().hex}"
        if at is not None:
            q.enqueue_at(at, func_path, **kwargs)
        else:
            q.enqueue(func_path, **kwargs)

    def depth(self) -> dict[str, int]:
        return {name: q.count for name, q in self.queues.items()}
