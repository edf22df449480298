"""`gridbot grids ...`: the grid hierarchy as the database has it."""
from __future__ import annotations

import click

from .base import build_app, echo_json, main


@main.group()
def grids() -> None:
    """网格 (grids)."""


@grids.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_grids(as_json: bool) -> None:
    """列出网格：编码、名称、层级、上级、群、住户数。"""
    from ..services.grids import grid_overview  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    with app.session() as session:
        rows = grid_overview(session)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['code']:<16} {row['name']:<12} 层级{row['level']}  上级:{row['parent'] or '-':<12} "
                   f"住户:{row['households']:<5} 群:{','.join(row['chat_ids']) or '-'}")
