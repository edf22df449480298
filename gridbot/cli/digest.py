"""`gridbot digest`: print (or send) the daily digest of a community or a grid for one morning."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ..services.charts import FontMissing, digest_chart
from ..texts import t
from .base import build_app, echo_json, fail, main


@main.command("digest")
@click.option("--community", "community", required=True, metavar="CODE", help="社区编码，如 XF")
@click.option("--grid", "grid", metavar="CODE", help="只看这个网格（网格长版简报），如 XF-01")
@click.option("--date", "day", metavar="YYYY-MM-DD",
              help="简报日期（当天早上发送，统计前一天；默认今天，按 GRIDBOT_TIMEZONE）")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--chart", "chart", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png",
              help="同时把图表写到这个 PNG 文件")
@click.option("--send", is_flag=True, help="写入待发送队列，私信发给书记（或该网格的网格长）")
def digest_command(community: str, grid: str | None, day: str | None, fmt: str, chart: Path | None,
                   send: bool) -> None:
    """每日简报：昨日工单、三率、覆盖率、巡查走访滞后、待确认登记。默认只打印不发送。"""
    from ..services import digest as svc  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services.tickets import community_role, grid_leaders  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    tz = app.settings.tz
    try:
        when = date.fromisoformat(day) if day else app.clock.now().astimezone(tz).date()
    except ValueError:
        fail(f"日期格式不对 (expected YYYY-MM-DD): {day!r}")
    with app.session() as session, session.begin():
        try:
            data = svc.build(session, community=community, day=when, tz=tz,
                             console_base_url=app.settings.console_base_url, grid=grid)
        except svc.DigestError as err:
            fail(f"找不到 (not found): {err.text}")
        rows = []
        if send:
            scope = svc.grid_scope(session, grid, community) if grid else svc.community_scope(session, community)
            if grid:
                readers = {m.userid for g in scope.grid_ids for m in grid_leaders(session, g)}
            else:
                readers = {m.userid for m in community_role(session, scope.community_id, "secretary")}
            if not readers:
                fail("没有收件人 (no recipient): 该社区没有书记 / 该网格没有网格长，请先在花名册里设置角色")
            rows = svc.write(session, data, sorted(readers), app.clock.now(),
                             chart=svc.save_chart(app.settings.instance_dir, data))
    if chart is not None:
        try:
            chart.write_bytes(digest_chart(data))
        except FontMissing as err:
            fail(str(err))
    if fmt == "json":
        echo_json(data)
    else:
        click.echo(svc.render_markdown(data))
        if not send:
            click.echo(t("digest.printed_only"), err=True)
    if send:
        click.echo(t("digest.sent", n=len(rows), who="、".join(sorted({r.target for r in rows})) or "-"), err=True)
