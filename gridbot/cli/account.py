"""`gridbot account ...`: console accounts and API tokens from the command line (the embedded default has no other
way to make the first operator or secretary account)."""
from __future__ import annotations

import click

from .base import build_app, echo_json, fail, main


@main.group()
def account() -> None:
    """管理台账号与 API 令牌。"""


def _password(value: str | None) -> str:
    if value:
        return value
    return click.prompt("密码 (password)", hide_input=True, confirmation_prompt=True)


@account.command("create")
@click.argument("username")
@click.option("--member", "member_userid", help="关联的网格员企业微信账号（角色和网格取自花名册）")
@click.option("--operator", is_flag=True, help="运维账号：只做配置，不办理工单")
@click.option("--password", help="不给则交互输入（不会回显）")
def create(username: str, member_userid: str | None, operator: bool, password: str | None) -> None:
    """新建管理台账号：gridbot account create wang --member sec_wang"""
    from ..web.auth import create_account  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    try:
        with app.session() as s, s.begin():
            create_account(s, username=username, password=_password(password), member_userid=member_userid,
                           operator=operator, actor="cli", now=app.clock.now())
    finally:   # a Refusal (name taken, password too short) is said by the CLI group
        app.close()
    click.echo(f"账号 {username} 已创建")


@account.command("reset-password")
@click.argument("username")
@click.option("--password", help="不给则交互输入（不会回显）")
def reset_password(username: str, password: str | None) -> None:
    """重置密码（同时解除登录锁定，其他已登录的会话失效）。"""
    from sqlalchemy import select  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    from ..models.console import ConsoleAccount  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..web.auth import set_password  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    try:
        with app.session() as s, s.begin():
            acc = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == username))
            if acc is None:
                fail(f"找不到账号 {username} (no such account)")
            set_password(s, acc, _password(password), actor="cli", now=app.clock.now())
    finally:   # a Refusal (name taken, password too short) is said by the CLI group
        app.close()
    click.echo(f"账号 {username} 的密码已重置")


@account.command("token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="令牌用途")
@click.option("--revoke", "revoke_id", type=int, help="吊销这个编号的令牌，而不是新建")
@click.option("--json", "as_json", is_flag=True)
def token(username: str, name: str, revoke_id: int | None, as_json: bool) -> None:
    """为账号生成 API 令牌（只显示一次），或 --revoke 编号 吊销。"""
    from sqlalchemy import select  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    from ..models.console import ApiToken, ConsoleAccount  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..web.auth import create_token, revoke_token  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    try:
        with app.session() as s, s.begin():
            acc = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == username))
            if acc is None:
                fail(f"找不到账号 {username} (no such account)")
            if revoke_id is not None:
                tk = s.scalar(select(ApiToken).where(ApiToken.id == revoke_id, ApiToken.account_id == acc.id))
                if tk is None:
                    fail(f"账号 {username} 没有编号为 {revoke_id} 的令牌")
                revoke_token(s, tk, actor="cli", now=app.clock.now())
                result = {"revoked": revoke_id}
            else:
                tk, secret = create_token(s, acc, name, actor="cli", now=app.clock.now())
                result = {"id": tk.id, "name": tk.name, "token": secret}
    finally:
        app.close()
    if as_json:
        echo_json(result)
    elif "token" in result:
        click.echo(f"令牌 #{result['id']}（{result['name']}），只显示这一次：\n{result['token']}")
    else:
        click.echo(f"令牌 #{revoke_id} 已吊销")
