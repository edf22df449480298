"""`gridbot coverage`: 一户一代表 coverage per grid, as a table or as JSON; `gridbot coverage snapshot`.

JSON contract (a list, one object per grid that has households or a chat group):
  {"grid": code, "households": n, "covered": n, "ratio": covered/households rounded to 4 places (null when the
   grid has no households), "uncovered": [{"building", "unit", "room", "tags"}] (key households first, then by
   building, unit, room), "unbound_members": n}
where unbound_members is the COUNT of people with an open membership in one of the grid's chats who are not staff
and have no active or pending binding to any household (the people to prompt to 登记). Extra keys ("name",
"community", "pending_overdue", "wrong_group") may be added; consumers should ignore keys they do not know.
"""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import click

from ..clock import FrozenClock
from ..errors import Refusal
from .base import build_app, echo_json, fail, load_settings, main, parse_when

if TYPE_CHECKING:
    from ..bootstrap import Gridbot


def app_at(now: str | None) -> Gridbot:
    """The app, on a frozen clock at `--now` (the same ISO-8601 form as `gridbot say --now`) when given."""
    when = parse_when(now, load_settings().tz)
    return build_app(clock=FrozenClock(when) if when else None)


@main.group(invoke_without_command=True)
@click.option("--grid", "grids", multiple=True, metavar="CODE", help="只看这些网格（可重复）")
@click.option("--community", metavar="CODE", help="只看这个社区的网格")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（每个网格一个对象）")
@click.option("--now", "now", default=None, metavar="ISO-8601", help="假定的当前时间（演示与测试用）")
@click.pass_context
def coverage(ctx: click.Context, grids: tuple[str, ...], community: str | None, as_json: bool,
             now: str | None) -> None:
    """“一户一代表”进群覆盖率。(Household representative coverage per grid.)"""
    if ctx.invoked_subcommand is not None:
        return
    from ..services import coverage as svc  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = app_at(now)
    with app.session() as session:
        try:
            ids = svc.grid_ids_for(session, grids, community)
        except Refusal as err:
            fail(f"找不到 (not found): {err.text}")
        report = svc.compute(session, app.clock.now(), ids)
    if as_json:
        echo_json([g.as_dict() for g in report.grids])
        return
    for g in report.grids:
        pct = "-" if g.ratio is None else f"{g.ratio * 100:.1f}%"
        click.echo(f"{g.code:<16} {g.name:<12} 覆盖 {g.covered:>5}/{g.households:<5} {pct:>7}  "
                   f"未覆盖 {len(g.uncovered):<5} 群内未登记 {len(g.unbound):<4} 超3天待确认 "
                   f"{len(g.pending_overdue):<3} 在他群 {len(g.wrong_group)}")
    for c in report.communities():
        pct = "-" if c.ratio is None else f"{c.ratio * 100:.1f}%"
        click.echo(f"社区 {c.name}: {c.covered}/{c.households} {pct}（{c.grids} 个网格）")
    total = report.total()
    pct = "-" if total.ratio is None else f"{total.ratio * 100:.1f}%"
    click.echo(f"全部: {total.covered}/{total.households} {pct}")


@coverage.command("snapshot")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="快照日期（默认今天，按 GRIDBOT_TIMEZONE）")
@click.option("--json", "as_json", is_flag=True)
@click.option("--now", "now", default=None, metavar="ISO-8601", help="假定的当前时间（演示与测试用）")
def snapshot(day: str | None, as_json: bool, now: str | None) -> None:
    """记录今天（或指定日期）每个网格的覆盖率快照；同一天再运行会更新。"""
    from ..services import coverage as svc  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"日期格式不对 (expected YYYY-MM-DD): {day!r}")
    app = app_at(now)
    with app.session() as session, session.begin():
        snaps = svc.take_snapshots(session, app.clock.now(), when, app.settings.tz)
        rows = [{"grid_id": s.grid_id, "day": s.day.isoformat(), "households": s.households, "covered": s.covered,
                 "ratio": s.ratio, "gained": s.gained, "lost": s.lost} for s in snaps]
    if as_json:
        echo_json(rows)
    else:
        click.echo(f"已记录 {len(rows)} 个网格的覆盖率快照（{rows[0]['day'] if rows else day or '今天'}）")
