"""`gridbot compliance`: members' and grids' compliance figures (履职统计) for a period, for 考核 and the digest."""
from __future__ import annotations

import click

from ..errors import Refusal
from ..periods import PeriodError, parse_period
from .base import echo_json, fail, main
from .coverage import app_at


@main.command("compliance")
@click.option("--community", "community", required=True, metavar="CODE", help="社区编码，如 HY")
@click.option("--period", "period", required=True, metavar="PERIOD",
              help="统计期：2026-11（月）、2026-Q4（季度）、2026（年）或 2026-11-01..2026-11-15")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.option("--now", "now", default=None, metavar="ISO-8601",
              help="假定的当前时间（演示与测试用；本月、上月等按它计算）")
def compliance_command(community: str, period: str, as_json: bool, now: str | None) -> None:
    """履职统计：巡查、走访、日志、工单（每名网格员、每个网格）。"""
    from ..services.compliance import compliance, report_lines  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = app_at(now)
    try:
        chosen = parse_period(period, app.clock.now().astimezone(app.settings.tz).date())
    except PeriodError as err:
        fail(f"统计期格式不对 (bad --period): {err.text}")
    with app.session() as session:
        try:
            data = compliance(session, community, chosen, app.settings.tz)
        except Refusal as err:
            fail(err.text)
    if as_json:
        echo_json(data)
        return
    for line in report_lines(data):
        click.echo(line)
