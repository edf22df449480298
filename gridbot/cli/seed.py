"""`gridbot seed synthetic`: a realistic county of any size, for benchmarks and load tests (never for production)."""
from __future__ import annotations

import time

import click

from .base import build_app, fail, main, parse_when


@main.group()
def seed() -> None:
    """生成测试数据 (synthetic data for benchmarks)."""


@seed.command()
@click.option("--grids", type=click.IntRange(1), default=30, show_default=True, help="网格数")
@click.option("--households", type=click.IntRange(1), default=None, help="户数（默认 每网格 350 户）")
@click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True, help="生成多少天的工单和工作记录")
@click.option("--communities", type=click.IntRange(1), default=None, help="社区数（默认 每 30 个网格一个社区）")
@click.option("--seed", "seed_", type=int, default=1, show_default=True, help="随机种子：相同参数和种子生成相同数据")
@click.option("--until", metavar="ISO", help="历史截止时间（默认现在）")
def synthetic(grids: int, households: int | None, days: int, communities: int | None, seed_: int,
              until: str | None) -> None:
    """在空库中生成一个县规模的模拟数据（社区、网格、群、网格员AB岗、住户、一户一代表、工单及其全过程、巡查、走访、日志）。

    (Fill an empty, migrated database with synthetic data. Deterministic with --seed.)
    """
    from ..services import synthetic as svc  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    households = households or grids * 350
    if households < grids:
        fail(f"户数太少 (need at least one household per grid): --households {households} < --grids {grids}")
    spec = svc.Spec(grids=grids, households=households, days=days, communities=communities or -(-grids // 30),
                    seed=seed_, end=parse_when(until, app.settings.tz) if until else app.clock.now())
    started = time.perf_counter()
    try:
        counts = svc.generate(app.engine, spec, tz=app.settings.timezone)
    except svc.NotEmpty:
        fail("数据库里已有社区或网格，模拟数据只写入空库 (database not empty: use a fresh database, "
             "then `gridbot db upgrade`)")
    for line in svc.iter_counts(counts):
        click.echo(line)
    click.echo(f"用时 {time.perf_counter() - started:.1f} 秒 (seconds)")
