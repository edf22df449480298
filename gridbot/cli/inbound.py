"""`gridbot inbound requeue`: the recovery sweep by hand (the scheduler runs it every minute); `gridbot inbound
drain-journal`: store the callbacks kept in the local journal while the database was down (web processes do it
by themselves once it is back; this is for a journal left by a process that is not coming back)."""
from __future__ import annotations

from datetime import timedelta

import click

from ..texts import t
from .base import build_app, fail, load_settings, main


@main.group()
def inbound() -> None:
    """收到的消息 (inbound messages)."""


@inbound.command()
@click.option("--older-than", type=click.IntRange(0), default=120, show_default=True,
              help="只处理收到超过这么多秒仍未处理的消息")
def requeue(older_than: int) -> None:
    """把已收到但未处理的消息重新排队（Redis 故障或工作进程中断之后）。(Queue stored, unprocessed messages again.)"""
    from ..pipeline.dispatch import requeue_received  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app(sync_jobs=not load_settings().redis_url)   # without Redis: process them here and now
    click.echo(f"重新排队 {requeue_received(app, timedelta(seconds=older_than))} 条消息")


@inbound.command("drain-journal")
def drain_journal() -> None:
    """把数据库故障期间记在本地日志里的回调存入数据库并排队处理。(Store the callbacks kept in the journal.)"""
    from ..pipeline.journal import Journal  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app(sync_jobs=not load_settings().redis_url)   # without Redis: process them here and now
    assert isinstance(app.journal, Journal)   # bootstrap.build always makes one
    result = app.journal.drain()
    click.echo(t("journal.drained", stored=result.stored, already=result.already, rejected=result.rejected,
                 rejected_dir=app.settings.journal_path / "rejected"))
    if result.left:
        fail(t("journal.left", left=result.left, directory=app.settings.journal_path), code=1)
