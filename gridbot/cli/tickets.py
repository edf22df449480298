"""`gridbot tickets ...`: tickets for scripts and operators (list, show, sweep, metrics)."""
from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy import select

from ..clock import FrozenClock
from ..models import Grid, Member
from ..models.tickets import STATUSES
from .base import build_app, echo_json, fail, load_settings, main, parse_when


@main.group()
def tickets() -> None:
    """工单 (tickets)."""


@tickets.command("list")
@click.option("--grid", "grid_code", metavar="CODE", help="只列这个网格的工单（网格编码，如 HY-01）")
@click.option("--status", type=click.Choice(STATUSES), help="只列这个状态的工单")
@click.option("--limit", type=int, default=None, help="最多列出多少个（最新的在前）")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 数组输出")
def list_tickets(grid_code: str | None, status: str | None, limit: int | None, as_json: bool) -> None:
    """列出工单：编号、网格、类别、紧急程度、状态、位置、反映人数、负责人、时间。"""
    from ..services.tickets import list_tickets as query  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    with app.session() as session:
        rows = query(session, grid_code=grid_code, status=status, limit=limit)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("（没有工单）")
    for r in rows:
        place = "".join(f"{v}{u}" for v, u in ((r["building"], "栋"), (r["unit"], "单元"), (r["room"], "")) if v)
        click.echo(f"{r['number']:<18} {r['grid']:<8} {r['category']:<13} {r['urgency']:<7} {r['status']:<12} "
                   f"{place or '-':<12} 反映{r['reporters']}人 负责:{r['assignee'] or '-'}  {r['created_at']}")


@tickets.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
def show(number: str, as_json: bool) -> None:
    """一个工单的处理经过（时间线）。"""
    from ..services.tickets import TicketError, timeline  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    with app.session() as session:
        try:
            events = timeline(session, number.upper())
        except TicketError as err:
            fail(f"{err.text} (no ticket {number!r})", code=1)
    if as_json:
        echo_json(events)
        return
    for ev in events:
        click.echo(f"{ev['at']}  {ev['actor']:<22} {ev['action']:<15} {ev['from'] or '-'} -> {ev['to']}"
                   f"{'  ' + ev['note'] if ev['note'] else ''}")


@tickets.command("sweep")
@click.option("--now", "now", default=None, metavar="ISO-8601", help="假定的当前时间（演示与测试用）")
@click.option("--json", "as_json", is_flag=True)
def sweep(now: str | None, as_json: bool) -> None:
    """运行一次时限巡检：AB岗接手、超时提醒与逐级升级、评价超时。"""
    from ..jobs import sweep_tickets  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    when = parse_when(now, settings.tz)
    app = build_app(clock=FrozenClock(when) if when else None)
    result = sweep_tickets(app=app)
    if as_json:
        echo_json(result)
        return
    click.echo(f"AB岗接手 {len(result['handovers'])}，提醒 {len(result['reminders'])}，"
               f"升级 {len(result['escalations'])}，评价超时 {len(result['ratings_expired'])}")


@tickets.command("metrics")
@click.option("--since", default=None, metavar="ISO-8601", help="起（含），默认 30 天前")
@click.option("--until", default=None, metavar="ISO-8601", help="止（不含），默认现在")
@click.option("--grid", "grid_code", default=None, metavar="CODE", help="只算这个网格")
@click.option("--member", "userid", default=None, metavar="USERID", help="只算这位网格员负责的")
@click.option("--by", type=click.Choice(["grid", "member"]), default=None, help="按网格或网格员分行")
@click.option("--json", "as_json", is_flag=True)
def metrics(since: str | None, until: str | None, grid_code: str | None, userid: str | None, by: str | None,
            as_json: bool) -> None:
    """三率（响应率、解决率、满意率）、按期结案率、返工率。"""
    from ..services.metrics import metrics_by, ticket_metrics  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    app = build_app()
    end = parse_when(until, settings.tz) or app.clock.now()
    start = parse_when(since, settings.tz) or (end - timedelta(days=30))
    with app.session() as session:
        if by:
            rows = metrics_by(session, by, since=start, until=end)
        else:
            grid_id = member_id = None
            if grid_code:
                grid_id = session.scalar(select(Grid.id).where(Grid.code == grid_code))
                if grid_id is None:
                    fail(f"没有网格 {grid_code!r} (unknown grid code)", code=1)
            if userid:
                member_id = session.scalar(select(Member.id).where(Member.userid == userid))
                if member_id is None:
                    fail(f"没有网格员 {userid!r} (unknown member userid)", code=1)
            rows = [ticket_metrics(session, since=start, until=end, grid_id=grid_id, member_id=member_id)]
    if as_json:
        echo_json(rows if by else rows[0])
        return
    for row in rows:
        head = row.get("grid") or row.get("member") or f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"
        click.echo(f"{head}: 工单 {row['tickets']}（有效 {row['genuine']}） 响应率 {_pct(row['response_rate'])} "
                   f"解决率 {_pct(row['resolution_rate'])} 满意率 {_pct(row['satisfaction_rate'])} "
                   f"按期结案率 {_pct(row['on_time_closure_rate'])} 返工率 {_pct(row['reopen_rate'])}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


