"""`gridbot compliance`: members' and grids' compliance figures (履职统计) for a period, for 考核 and the digest."""
from __future__ import annotations

import click

from ..texts import t
from .base import build_app, echo_json, fail, main


def _ratio(done: int, total: int) -> str:
    return f"{done}/{total}"


@main.command("compliance")
@click.option("--community", "community", required=True, metavar="CODE", help="社区编码，如 HY")
@click.option("--period", "period", required=True, metavar="PERIOD",
              help="统计期：2026-11（月）、2026-Q4（季度）、2026（年）或 2026-11-01..2026-11-15")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
def compliance_command(community: str, period: str, as_json: bool) -> None:
    """履职统计：巡查、走访、日志、工单（每名网格员、每个网格）。"""
    from ..services.compliance import PeriodError, compliance, parse_period

    try:
        chosen = parse_period(period)
    except PeriodError as err:
        fail(f"统计期格式不对 (bad --period): {err}")
    app = build_app()
    with app.session() as session:
        try:
            data = compliance(session, community, chosen, app.settings.tz)
        except LookupError:
            fail(f"没有这个社区 (no community with code {community!r})")
    if as_json:
        echo_json(data)
        return
    click.echo(t("work.compliance.title", community=data["community_name"], period=data["period"],
                 start=data["from"], end=data["until"]))
    click.echo(t("work.compliance.grids_header"))
    for g in data["grids"]:
        click.echo(t("work.compliance.grid_line", code=g["grid"], name=g["name"],
                     months=_ratio(g["months_patrolled"], g["months"]), patrols=g["patrols"], visits=g["visits"],
                     key_ratio=_ratio(g["key_visited_quarter"], g["key_households"]),
                     year=_ratio(g["households_visited_year"], g["households"]),
                     tickets=_ratio(g["tickets_on_time"], g["tickets_handled"])))
    click.echo(t("work.compliance.members_header"))
    for m in data["members"]:
        click.echo(t("work.compliance.member_line", name=m["name"], userid=m["userid"],
                     grids=",".join(m["grids"]) or "-",
                     months=_ratio(m["grid_months_patrolled"], m["grid_months_required"]), patrols=m["patrols"],
                     hours=round(m["patrol_minutes"] / 60, 1), visits=m["visits"],
                     key_ratio=_ratio(m["key_visited_quarter"], m["key_households"]),
                     year=_ratio(m["households_visited_year"], m["households"]),
                     logs=_ratio(m["log_days"], m["days"]), reviewed=m["log_entries_reviewed"],
                     tickets=_ratio(m["tickets_on_time"], m["tickets_handled"])))
    click.echo(t("work.compliance.footer", quarter=data["quarter_from"], year=data["year_from"]))
