"""`gridbot wecom ...`: operator commands for the WeCom connection."""
from __future__ import annotations

import click

from .base import build_app, echo_json, fail, main


@main.group()
def wecom() -> None:
    """企业微信 (WeCom) 连接."""


@wecom.command("sync-roster")
@click.option("--chat", "chats", multiple=True, help="只同步这些群 (chat id); 默认同步所有已绑定的群")
@click.option("--json", "as_json", is_flag=True)
def sync_roster(chats: tuple[str, ...], as_json: bool) -> None:
    """按企业微信的客户群成员名单，校正已绑定群的成员记录 (externalcontact/groupchat/list + get)."""
    from ..senders import PermanentFailure, TemporaryFailure  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services.membership import sync_roster as run  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..wecom.client import client_for  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    if not app.settings.wecom.api_enabled:
        fail("企业微信接口未配置 (WeCom API not configured): set GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
    try:
        results = run(app.session, client_for(app), app.clock.now, chat_ids=list(chats) or None)
    except (PermanentFailure, TemporaryFailure) as err:
        fail(f"同步失败 (roster sync failed): {err}", code=1)
    if as_json:
        echo_json([{"chat_id": r.chat_id, "joined": r.joined, "left": r.left} for r in results])
        return
    for r in results:
        click.echo(f"{r.chat_id}: 新进 {r.joined}，退出 {r.left}")
    click.echo(f"共 {len(results)} 个群")
