"""`gridbot demo`: a fresh embedded database with the demo community, and the web server with the chat simulator."""
from __future__ import annotations

import sys
import threading
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import PROJECT_ROOT, Settings
from .base import fail, load_settings, main

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..app import Gridbot
    from ..services.roster import ImportResult

DEMO_ROSTER = PROJECT_ROOT / "config" / "examples" / "demo-roster.xlsx"
DEMO_DB_NAME = "demo.db"

# Residents to talk as in the simulator: (userid, name, grid, building, unit, room). No room = not bound yet.
DEMO_RESIDENTS = [
    ("res_li", "李阿姨", "XF-01", "1", "1", "101"),
    ("res_wang", "王先生", "XF-02", "4", "2", "302"),
    ("res_zhao", "赵女士", "XF-03", "7", "1", "502"),
    ("res_new", "新搬来的住户", "XF-01", None, "", None),
]

# Console accounts of the demo (web console /console/): (username, member userid or None = operator, who).
DEMO_PASSWORD = "demo1234"
DEMO_ACCOUNTS = [
    ("liu", "xf_liu", "刘建华 · 社区书记"),
    ("chen", "xf_chen", "陈静 · 网格长（第一、第二网格）"),
    ("zhang", "xf_zhang", "张敏 · 网格员（第一网格）"),
    ("admin", None, "运维账号（配置，不办案）"),
]


def build_demo(instance_dir: Path, roster: Path = DEMO_ROSTER) -> tuple[Settings, ImportResult]:
    """Remove the old demo database, migrate a new one, import the roster and bind the demo residents."""
    from .. import migrate  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..bootstrap import build  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services.roster import RosterError, bind_resident, import_roster, read_roster  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    base = load_settings()
    db_path = instance_dir / DEMO_DB_NAME
    instance_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    # The grid groups are customer groups of residents, read through the embedded chat archive (issue 16).
    settings = base.with_overrides(database_url=f"sqlite:///{db_path}", redis_url=None, instance_dir=instance_dir,
                                   archive=replace(base.archive, source="local", private_keys=()))
    migrate.upgrade(settings.database_url)
    app = build(settings, sync_jobs=True)
    try:
        raw = read_roster(roster)
        with app.session() as session, session.begin():
            now = app.clock.now()
            result = import_roster(session, raw, "cli:demo", now)
            if result.errors:
                raise RosterError(result.errors)
            _customer_groups(session)
            for userid, name, grid, building, unit, room in DEMO_RESIDENTS:
                bind_resident(session, "console", userid, name, grid, building, unit, room, actor="cli:demo", now=now)
            from ..web.auth import create_account  # noqa: PLC0415 - loaded when the command runs: --help stays quick

            for username, member_userid, _ in DEMO_ACCOUNTS:
                create_account(session, username=username, password=DEMO_PASSWORD, member_userid=member_userid,
                               operator=member_userid is None, actor="cli:demo", now=now)
    finally:
        app.close()
    return settings, result


def _customer_groups(session: Session) -> None:
    """The demo's grid groups are customer groups (一网格一微信群: residents on personal WeChat)."""
    from sqlalchemy import update  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    from ..models import GridChat  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..models.org import CHAT_CUSTOMER_GROUP  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    session.execute(update(GridChat).values(kind=CHAT_CUSTOMER_GROUP))


def _own_command() -> str:
    """How to type this very `gridbot` from the current directory (`.venv/bin/gridbot` after `make demo`): a hint
    must work as typed, and the venv is not on the PATH."""
    exe = Path(sys.argv[0]).resolve()
    if exe.name != "gridbot":
        return "gridbot"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def _leaf_grids(app: Gridbot) -> int:
    """Grids that hold households (the community's own level-1 grid is not one)."""
    from sqlalchemy import func, select  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from sqlalchemy.orm import aliased  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    from ..models import Grid  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    child = aliased(Grid)
    with app.session() as session:
        return session.scalar(select(func.count(Grid.id)).where(~select(child.id).where(child.parent_id == Grid.id)
                                                                 .exists())) or 0


def _port_free(host: str, port: int) -> bool:
    import socket  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    try:
        with socket.create_server((host, port)):
            return True
    except OSError:
        return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-browser", is_flag=True, help="不自动打开浏览器")
def demo(host: str, port: int, no_browser: bool) -> None:
    """新建演示库（幸福社区：4 个网格、300 户、13 名网格员），启动带聊天模拟器的 Web 服务。"""
    from ..bootstrap import build, set_current  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..privacy import configure_logging  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services.roster import RosterError  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..web import create_app  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from .serve import start_embedded_scheduler  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    base = load_settings()
    if not _port_free(host, port):
        fail(f"端口 {port} 已被占用 (port in use)：换一个端口再试，例如 make demo PORT={port + 1}"
             f"（或 {_own_command()} demo --port {port + 1}）")
    try:
        settings, result = build_demo(base.instance_dir)
    except RosterError as err:
        fail("演示花名册有错误 (demo roster is broken):\n" + "\n".join(f"  {e}" for e in err.errors))
    configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    app = build(settings, sync_jobs=False)
    set_current(app)
    flask_app = create_app({"GRIDBOT_SIMULATOR": True}, gridbot=app)
    start_embedded_scheduler(app)
    counts = result.counts
    grids = _leaf_grids(app)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    click.echo(f"演示库：{settings.database_url.split('///', 1)[-1]}")
    click.echo(f"已导入：网格 {grids} 个（另有社区一级网格），成员 {counts['成员'].created} 名，"
               f"住户 {counts['住户'].created} 户")
    click.echo("在命令行里试试（另开一个终端）：")
    click.echo(f"  GRIDBOT_DATABASE_URL={settings.database_url} {_own_command()} say --chat chat-xf-01 "
               "--as xf_zhang 帮助")
    click.echo("居民在客户群里说话（不用 @，经内置会话存档读到）：")
    click.echo(f"  GRIDBOT_DATABASE_URL={settings.database_url} GRIDBOT_ARCHIVE_SOURCE=local "
               f"GRIDBOT_INSTANCE_DIR={settings.instance_dir} {_own_command()} say --as res_li --chat chat-xf-01 "
               "1栋1单元楼道灯坏了")
    click.echo(f"管理台：{url}console/ （演示账号，密码都是 {DEMO_PASSWORD}）")
    for username, _, who in DEMO_ACCOUNTS:
        click.echo(f"  {username:<6} {who}")
    click.echo(f"gridbot 演示已启动，打开 {url} 和机器人聊天（Ctrl+C 退出）", color=False)
    if not no_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    try:
        flask_app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        app.close()
