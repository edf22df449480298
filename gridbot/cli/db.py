"""`gridbot db ...`: schema migrations. Never run silently at web start: an explicit step."""
from __future__ import annotations

import click

from .base import load_settings, main


@main.group()
def db() -> None:
    """数据库结构迁移 (database migrations)."""


@db.command()
@click.option("--revision", default="heads", show_default=True)
def upgrade(revision: str) -> None:
    """升级数据库结构到最新。(Apply migrations.)"""
    from .. import migrate  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    migrate.upgrade(settings.database_url, revision)
    click.echo(f"数据库已升级到 {revision}")


@db.command()
def current() -> None:
    """显示数据库当前的迁移版本。"""
    from .. import migrate  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    click.echo(", ".join(sorted(migrate.current_heads(settings.database_url))) or "(空库 empty)")
