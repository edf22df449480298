"""Queue entry points. Plain functions taking ids or small dicts; each finds the current app and calls the
pipeline (gridbot/pipeline) or a service. Jobs are named by import path ("gridbot.jobs.process_inbound")."""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from .app import Gridbot
from .archive import pull as archive_pull
from .archive.port import ArchiveUnavailable
from .bootstrap import current
from .pipeline import delivery, dispatch, kf_sync, process
from .schedule.scheduler import release_held, tick
from .services import coverage, digest, membership, tickets, work

log = logging.getLogger(__name__)


def process_inbound(inbound_id: int) -> list[int]:
    return process.process(current(), inbound_id)


def sync_kf(open_kfid: str, token: str | None = None) -> int:
    """微信客服: read the kf account's new messages with kf/sync_msg (pipeline/kf_sync.py), exactly once."""
    return kf_sync.sync(current(), open_kfid, token)


def dispatch_inbound() -> int:
    """The webhook's pending ids into processing jobs (pipeline/dispatch.py)."""
    return dispatch.dispatch(current())


def process_inbound_batch(inbound_ids: list[int]) -> int:
    """A chunk of the messages the webhook stored (pipeline/dispatch.py dispatches them)."""
    return process.process_batch(current(), inbound_ids)


def pull_archive() -> int:
    """The chat archive to its end (queued by its "new messages" event, the embedded archive, and every minute as
    a backstop: the event comes at most every 15 s and can be missed). Returns the new rows; 0 when off or busy."""
    app = current()
    if app.archive is None:
        return 0
    try:
        return archive_pull.pull(app).stored
    except ArchiveUnavailable as exc:   # WeCom refused or is unreachable: said once a minute, the lag alarms
        log.error("archive: pull failed: %s", exc)
        return 0


def send_outbound(outbox_id: int) -> str:
    return delivery.deliver(current(), outbox_id)


def snapshot_coverage(day: str | None = None) -> int:
    """The daily coverage snapshot of every grid (idempotent: a second run the same day updates the rows)."""
    app = current()
    with app.session() as session, session.begin():
        snaps = coverage.take_snapshots(session, app.clock.now(), date.fromisoformat(day) if day else None,
                                        app.settings.tz)
    return len(snaps)


def sync_roster() -> int:
    """Nightly: reconcile every bound group's members with WeCom (API-made changes raise no event)."""
    app = current()
    if not app.settings.wecom.api_enabled:
        return 0
    return len(membership.sync_roster(app.session, app.wecom_client, app.clock.now))


def sync_chat_roster(chat_id: str) -> int:
    """One group's members from WeCom, after an event that did not say who joined."""
    app = current()
    if not app.settings.wecom.api_enabled:
        return 0
    return len(membership.sync_roster(app.session, app.wecom_client, app.clock.now, chat_ids=[chat_id]))


def sweep_stuck_outbox() -> int:
    """Rows a dead worker left in `sending` become `unknown` (visible, never re-sent blindly)."""
    return delivery.sweep_stuck(current())


def scheduler_tick() -> str:
    """One scheduler pass (reminders, announcements, system jobs); the same as `gridbot scheduler run --once`."""
    return tick(current()).summary()


def release_held_outbox() -> int:
    """Outbox rows whose not_before has come (quiet hours over, or their writer died before enqueuing them), and
    for each channel stopped by a configuration fault whose probe is due, its oldest held row (the probe)."""
    app = current()
    return release_held(app) + delivery.probe_faults(app)


def sweep_tickets(now: str | None = None, app: Gridbot | None = None) -> dict[str, Any]:
    """Ticket time limits: A/B handover, reminders, escalation up the ladder, expired ratings. Idempotent."""
    app = app or current()
    when = datetime.fromisoformat(now) if now else app.clock.now()
    with app.session() as session, session.begin():
        result = tickets.sweep(session, tickets.policy_for(app), when)
    return result.as_dict()


def send_due_visit_lists(now: str | None = None) -> int:
    """Each visiting member gets their 待走访 list privately (once a day at most; idempotent)."""
    app = current()
    when = datetime.fromisoformat(now) if now else app.clock.now()
    with app.session() as session, session.begin():
        ids = work.send_due_visit_lists(session, now=when, tz=app.settings.tz)
    return len(ids)


def end_leaves(now: str | None = None, app: Gridbot | None = None) -> int:
    """Leaves whose last day is over: the handed-over tickets and reminders still with the partner go back to the
    member, who is told privately (idempotent: a leave is handed back once)."""
    app = app or current()
    when = datetime.fromisoformat(now) if now else app.clock.now()
    with app.session() as session, session.begin():
        ended = work.end_leaves(session, now=when)
    return len(ended)


def send_daily_digests(date_iso: str | None = None, app: Gridbot | None = None) -> int:
    """The morning digests (每日简报): each community's to its secretaries, each grid leader's for their grids,
    privately. Idempotent per reader and date (outbox idempotency keys): a second run, a second worker or a late
    occurrence writes nothing new. Each digest's chart is kept under instance/digests/<community>/<date>.png (a grid
leader's: <date>-<grids>.png) and follows the markdown as an image (when a CJK font is installed)."""
    app = app or current()
    tz = app.settings.tz
    now = app.clock.now()
    day = date.fromisoformat(date_iso) if date_iso else now.astimezone(tz).date()
    try:
        with app.session() as session, session.begin():
            rows, digests = digest.send_all(session, day, now, tz, app.settings.console_base_url,
                                            charts=lambda d: digest.save_chart(app.settings.instance_dir, d))
            due = [(r.id, r.not_before) for r in rows]
    except IntegrityError:  # another worker wrote the same digests a moment ago: theirs go out, not ours
        log.info("digests for %s already written by another worker", day)
        return 0
    return len(due)


def requeue_received_inbound() -> int:
    """The recovery sweep: messages stored but never processed (Redis was down, a worker died) are queued again."""
    return dispatch.requeue_received(current())
