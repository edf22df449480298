"""/metrics in the Prometheus text format: requests and latency (counted for every request of the app), and at
scrape time the queue depth, the outbox backlog by status and the tickets by status.

Gunicorn with several workers: set PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode) so the
request counters of all workers are summed; the gauges are read from the database and Redis at each scrape.
"""
from __future__ import annotations

import os
import time

from flask import Blueprint, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ..archive.pull import lag as archive_lag
from ..models import ChannelFault, OutboxMessage, Ticket
from ..models.tickets import STATUSES
from . import gridbot_app

bp = Blueprint("metrics", __name__)

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("gridbot_http_requests_total", "HTTP requests by method, endpoint and status",
                   ["method", "endpoint", "status"], registry=REGISTRY)
LATENCY = Histogram("gridbot_http_request_duration_seconds", "HTTP request duration by endpoint", ["endpoint"],
                    registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
QUEUE_DEPTH = Gauge("gridbot_queue_depth", "Jobs waiting per queue", ["queue"], registry=REGISTRY,
                    multiprocess_mode="livemax")
OUTBOX = Gauge("gridbot_outbox_backlog", "Outbox messages by status (sent messages are not counted)", ["status"],
               registry=REGISTRY, multiprocess_mode="livemax")
TICKETS = Gauge("gridbot_tickets", "Tickets by status", ["status"], registry=REGISTRY, multiprocess_mode="livemax")
CHANNEL_FAULT = Gauge("gridbot_channel_fault", "1 while a sending channel is stopped by a configuration fault "
                      "(its messages wait; /readyz says what to fix)", ["channel", "errcode"], registry=REGISTRY,
                      multiprocess_mode="livemax")
JOURNAL = Gauge("gridbot_inbound_journal_backlog",
                "Callbacks kept in the local journal (database down), not yet stored", registry=REGISTRY,
                multiprocess_mode="livemax")

ARCHIVE_LAG = Gauge("gridbot_archive_lag_seconds",
                    "Seconds since the chat archive was last pulled to its end (WeCom keeps it five days)",
                    registry=REGISTRY, multiprocess_mode="livemax")


@bp.before_app_request
def _start_timer() -> None:
    g._metrics_start = time.perf_counter()


@bp.after_app_request
def _count(response: Response) -> Response:
    start = g.pop("_metrics_start", None)
    # the route's rule, not the raw path: label values stay few (no ticket numbers, no 404 scans)
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    key = (request.method, endpoint, response.status_code)
    children = _children.get(key)
    if children is None:   # labels() validates and locks on every call: look each series up once
        children = _children[key] = (REQUESTS.labels(key[0], endpoint, str(key[2])), LATENCY.labels(endpoint))
    children[0].inc()
    if start is not None:
        children[1].observe(time.perf_counter() - start)
    return response


_children: dict[tuple[str, str, int], tuple] = {}   # few: routes x methods x statuses


def _refresh_gauges() -> None:
    app = gridbot_app()
    JOURNAL.set(app.journal.backlog() if app.journal is not None else 0)   # first: read from disk, not the database
    try:
        depth = app.queue.depth()
        pending = app.receiver.pending()
        if pending is not None:   # stored by the webhook, not yet turned into jobs by a dispatcher
            depth["inbound-pending"] = pending
    except Exception:  # noqa: BLE001 - Redis down: the scrape still answers; /readyz reports the outage
        depth = {}
    QUEUE_DEPTH.clear()
    for name, n in depth.items():
        QUEUE_DEPTH.labels(name).set(n)
    try:
        with app.session() as s:
            backlog = dict(s.execute(select(OutboxMessage.status, func.count())
                                     .where(OutboxMessage.status != "sent").group_by(OutboxMessage.status)).all())
            tickets = dict(s.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
            faults = s.execute(select(ChannelFault.channel, ChannelFault.errcode)
                               .where(ChannelFault.cleared_at.is_(None))).all()
            behind = archive_lag(s, app.archive.name, app.clock.now()) if app.archive is not None else None
    except OperationalError:   # the database is down: the scrape still answers, with the journal's backlog
        return
    OUTBOX.clear()
    for status in ("pending", "sending", "dead", "unknown"):
        OUTBOX.labels(status).set(backlog.pop(status, 0))
    for status, n in backlog.items():
        OUTBOX.labels(status).set(n)
    TICKETS.clear()
    for status in STATUSES:
        TICKETS.labels(status).set(tickets.get(status, 0))
    if behind is not None:
        ARCHIVE_LAG.set(behind.total_seconds())
    CHANNEL_FAULT.clear()
    for channel, errcode in faults:
        CHANNEL_FAULT.labels(channel, str(errcode)).set(1)


@bp.get("/metrics")
def metrics():
    _refresh_gauges()
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
