"""The `gridbot` command group and what every command shares: settings, the app, clean failure."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, NoReturn

import click
from sqlalchemy.exc import OperationalError

from ..config import ConfigError, Settings
from ..errors import Refusal, log_unexpected
from ..privacy import configure_logging
from ..texts import t

if TYPE_CHECKING:
    from ..bootstrap import Gridbot

log = logging.getLogger("gridbot.cli")


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as err:
        fail(f"配置错误 (configuration error): {err}")


def build_app(sync_jobs: bool = True, clock: Any = None, require_schema: bool = True) -> Gridbot:
    """The app for a CLI command. Jobs run in this process unless told otherwise."""
    from ..bootstrap import build, set_current  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    configure_logging(settings.log_level if settings.log_level != "INFO" else "WARNING")
    try:
        app = build(settings, sync_jobs=sync_jobs, clock=clock)
    except ConfigError as err:
        fail(f"配置错误 (configuration error): {err}")
    if require_schema:
        ensure_schema(app)
    set_current(app)
    return app


def ensure_schema(app: Gridbot) -> None:
    from .. import migrate  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    try:
        heads = migrate.current_heads(app.settings.database_url)
    except OperationalError as err:
        fail(f"无法连接数据库 (cannot connect to GRIDBOT_DATABASE_URL): {str(err.orig).strip().splitlines()[0]}")
    if heads != migrate.script_heads():
        fail("数据库结构不是最新 (database schema is not at the latest migration): 请先运行 `gridbot db upgrade`"
             "，或用 `gridbot demo` 建一个演示库")


def parse_when(value: str | None, tz: tzinfo) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"时间格式不对 (expected ISO-8601, e.g. 2026-11-29T09:00): {value!r}")
    return when if when.tzinfo else when.replace(tzinfo=tz)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


class Commands(click.Group):
    """Every command answers a rule's no (a Refusal) with its text, and an unexpected error with a polite line
    and the id it was logged under (exit 1), never a traceback on the person's screen."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Refusal as err:
            fail(err.text)
        except Exception as err:  # noqa: BLE001 - the one place a CLI bug is turned into an id
            error_id = log_unexpected(log, err, f"gridbot {ctx.invoked_subcommand}")
            fail(t("refusal.unexpected_cli", error_id=error_id), code=1)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gridbot")
def main() -> None:
    """gridbot: 网格化管理群机器人 (a WeCom bot for community grid governance).

    Settings come from GRIDBOT_* environment variables; see README.md.
    """
