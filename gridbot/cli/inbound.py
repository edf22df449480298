"""`gridbot inbound requeue`: the recovery sweep by hand (the scheduler runs it every minute)."""
from __future__ import annotations

from datetime import timedelta

import click

from .base import build_app, load_settings, main


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
