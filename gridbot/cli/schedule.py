"""`gridbot schedule parse` (the recurrence contract) and `gridbot scheduler run` (the tick loop)."""
from __future__ import annotations

import time as _time

import click

from ..clock import Clock, FrozenClock
from ..privacy import mask_text
from ..schedule.parse import ScheduleError, parse
from .base import build_app, echo_json, fail, load_settings, main, parse_when


@main.group()
def schedule() -> None:
    """时间表达式 (schedule expressions)."""


@schedule.command("parse")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出 {rrule, next}")
@click.option("--now", "now", default=None, metavar="ISO-8601", help="假定的当前时间（默认：现在）")
@click.option("--count", default=3, show_default=True, help="列出几次")
def parse_cmd(text: str, as_json: bool, now: str | None, count: int) -> None:
    """把中文时间（如“每月第一周周二 9:00”）解析为 RRULE 和接下来几次。

    Prints {"rrule": RRULE value or null, "next": [ISO-8601 with +08:00, ...]}. Text it cannot read exits 2
    with a message naming what it did not understand.
    """
    settings = load_settings()
    when = parse_when(now, settings.tz) or Clock().now()
    try:
        s = parse(text, when, settings.timezone)
    except ScheduleError as err:
        fail(f"看不懂的时间 (cannot read schedule): {err.text}")
    nxt = [d.isoformat() for d in s.next(when, count=count)]
    if as_json:
        echo_json({"rrule": s.rrule, "next": nxt})
        return
    click.echo(f"时间：{s.label}")
    click.echo(f"RRULE：{s.rrule or '（一次性）'}")
    if s.text:
        click.echo(f"内容：{s.text}")
    for d in nxt:
        click.echo(f"  {d}")


@main.group()
def scheduler() -> None:
    """定时任务调度 (the scheduler)."""


@scheduler.command("run")
@click.option("--once", is_flag=True, help="只跑一轮（cron / 测试用）")
@click.option("--interval", default=None, type=float, help="两轮之间的秒数（默认取 config/schedules.yaml，约 20 秒）")
@click.option("--now", "now", default=None, metavar="ISO-8601", help="假定的当前时间（只和 --once 一起用）")
def run_cmd(once: bool, interval: float | None, now: str | None) -> None:
    """每隔约 20 秒检查一次到期的提醒、公告和系统任务。可以同时运行多个（每次只会发一次）。"""
    from ..schedule.scheduler import load_config, tick  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    when = parse_when(now, settings.tz)
    if when is not None and not once:
        fail("--now 只能和 --once 一起用 (--now needs --once)")
    # Jobs go to the real queue when Redis is configured (RQ workers run them); in-process otherwise.
    app = build_app(sync_jobs=not settings.redis_url, clock=FrozenClock(when) if when else None)
    pause = (interval if interval is not None
             else float(load_config(settings.config_dir, settings.timezone).tick_seconds))
    while True:
        try:
            result = tick(app)
        except Exception as exc:  # a lost database connection must not end the loop
            if once:
                raise
            click.echo(f"tick failed, retrying: {exc.__class__.__name__}: {mask_text(str(exc))}", err=True)
            _time.sleep(pause)
            continue
        if once or result.busy:
            click.echo(f"{app.clock.now().isoformat(timespec='seconds')} {result.summary()}", err=not once)
        if once:
            return
        _time.sleep(pause)
