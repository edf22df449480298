"""Talking to the bot without WeCom: `gridbot say` and `gridbot console`."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import click

from ..clock import FrozenClock
from ..messages import Inbound, Reply
from .base import build_app, echo_json, fail, load_settings, main, parse_when

if TYPE_CHECKING:
    from ..app import Gridbot


def _inbound(chat: str | None, user: str, text: str, name: str | None) -> Inbound:
    return Inbound(platform="console", sender_id=user, sender_name=name, text=text, chat_id=chat,
                   chat_type="group" if chat else "single", msg_id=uuid.uuid4().hex, mentioned=True)


def _describe(reply: Reply, chat: str | None, user: str | None = None) -> str:
    if reply.to_user and not (chat is None and reply.to_user == user):
        return f"[私信 → {reply.to_user}] {reply.text}"
    if reply.to_chat and reply.to_chat != chat:
        return f"[群 {reply.to_chat}] {reply.text}"
    return reply.text


def _reply_json(reply: Reply) -> dict:
    return {"text": reply.text, "markdown": reply.markdown, "mentions": reply.mentions,
            "to_user": reply.to_user, "to_chat": reply.to_chat, "urgent": reply.urgent}


@main.command()
@click.option("--chat", "chat", metavar="CHAT_ID", help="群聊 id（不填则为与机器人的单聊）")
@click.option("--as", "user", required=True, metavar="USERID", help="说话人的 userid")
@click.option("--name", default=None, help="说话人的昵称")
@click.option("--now", "now", default=None, metavar="ISO-8601", help="假定的当前时间（演示与测试用）")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出回复")
@click.option("--kf", "kf_grid", default=None, metavar="GRID_CODE",
              help="以居民身份通过该网格的微信客服发消息（--as 填居民的 external_userid，如 wmXF02a）")
@click.argument("text")
def say(chat: str | None, user: str, name: str | None, now: str | None, as_json: bool, kf_grid: str | None,
        text: str) -> None:
    """发一条消息给机器人，打印它的回复。(One message in, the bot's replies out.)"""
    from ..archive.simulate import plays_customer_group, say_in_group  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..pipeline.kf_sync import local_message  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..pipeline.process import handle_now  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    when = parse_when(now, settings.tz)
    app = build_app(clock=FrozenClock(when) if when else None)
    if kf_grid and chat:
        fail("--kf 与 --chat 不能同时使用：微信客服是居民与网格的单聊")
    if kf_grid:
        replies = local_message(app, kf_grid, user, text, name=name)
    elif plays_customer_group(app, chat):   # a customer group: through the embedded chat archive (no @ needed)
        replies = say_in_group(app, chat or "", user, text)[1]
    else:
        replies = handle_now(app, _inbound(chat, user, text, name))
    if as_json:
        echo_json([_reply_json(r) for r in replies])
    else:
        for reply in replies:
            click.echo(_describe(reply, chat, user))
            click.echo("")


@main.command()
@click.option("--chat", "chat", metavar="CHAT_ID", help="群聊 id（不填则为单聊）")
@click.option("--as", "user", required=True, metavar="USERID", help="说话人的 userid")
def console(chat: str | None, user: str) -> None:
    """在终端里和机器人对话。(An interactive session in the terminal.)

    Lines starting with ':' are console commands: ':as USERID', ':chat CHAT_ID', ':private', ':quit'; in a
    customer group a member's chat toolbar: ':toolbar' lists the prepared replies, ':post N' posts reply N.
    """
    from ..archive.simulate import plays_customer_group, say_in_group  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..pipeline.process import handle_now  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    where = "群 " + chat if chat else "单聊"
    click.echo(f"gridbot 控制台：当前身份 {user}，{where}。输入 :quit 退出，:as / :chat 切换。")
    while True:
        try:
            line = click.prompt(f"{user}@{chat or '单聊'}", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo("")
            return
        line = line.strip()
        if not line:
            continue
        if line in (":quit", ":q", ":exit"):
            return
        if line.startswith(":as "):
            user = line[4:].strip()
            continue
        if line.startswith(":chat "):
            chat = line[6:].strip() or None
            continue
        if line == ":private":
            chat = None
            continue
        if line == ":toolbar" or line.startswith(":post "):
            _toolbar_line(app, line, chat, user)
            continue
        if plays_customer_group(app, chat):   # a customer group: through the embedded chat archive
            replies = say_in_group(app, chat or "", user, line)[1]
        else:
            replies = handle_now(app, _inbound(chat, user, line, None))
        for reply in replies:
            click.echo(_describe(reply, chat, user))


def _toolbar_line(app: Gridbot, line: str, chat: str | None, user: str) -> None:
    """A customer group's chat toolbar in the terminal: the member's prepared replies for this group; posting one
    puts it in the group as the archive will see it (archive.local.post), which closes it."""
    from sqlalchemy import select  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    from ..archive import local  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..models import Member  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services import toolbar  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    with app.session() as s:
        member = s.scalar(select(Member).where(Member.userid == user))
        grids = [link.grid_id for link in member.grid_links] if member is not None else []
        items = [(i.id, i.text) for i in toolbar.ready_for_chat(s, chat, grids)] if chat else []
    if line == ":toolbar":
        for number, (_, text) in enumerate(items, 1):
            click.echo(f"[{number}] {text}")
        click.echo(f"共 {len(items)} 条待发送")
        return
    try:
        _, text = items[int(line.split()[1]) - 1]
    except (ValueError, IndexError):
        click.echo("没有这一条，先用 :toolbar 查看")
        return
    local.post(app, chat or "", user, text)
    click.echo(f"[群 {chat}] {user}：{text}")


# -- `gridbot chat ...`: what each chat is (its kind decides the channel a reply takes) ----------------------------
@main.group("chat")
def chat_group() -> None:
    """群：查看群的类型，设置类型，从命令行绑定 (what a chat is decides how the bot can speak in it)."""


def _kind_label(kind: str) -> str:
    from ..texts import t  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    return t(f"wecom.chat_kinds.{kind}")


KIND_HELP = ("unknown | aibot_group (内部群·智能机器人) | robot_group (内部群·群机器人, 需 --robot-key) | app_chat "
             "(应用创建的群) | customer_group (客户群) | single (单聊) | kf (微信客服)")


@chat_group.command("list")
@click.option("--unknown", "only_unknown", is_flag=True, help="只列出类型未知的群")
@click.option("--json", "as_json", is_flag=True)
def chat_list(only_unknown: bool, as_json: bool) -> None:
    """列出已绑定的群和未绑定但发过消息的群，及其类型。"""
    from ..services.membership import list_chats  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    with app.session() as s:
        rows = list_chats(s, only_unknown_kind=only_unknown)
    if as_json:
        echo_json([vars(r) for r in rows])
        return
    for r in rows:
        where = f"网格 {r.grid_code}" if r.bound else f"未绑定（{r.platform}，{r.messages} 条消息）"
        robot = "，有群机器人" if r.has_robot else ""
        click.echo(f"{r.chat_id}  {r.kind}（{_kind_label(r.kind)}）  {where}{robot}")
    click.echo(f"共 {len(rows)} 个群")


@chat_group.command("set-kind", help="设置群的类型（决定机器人怎样把话发进这个群）。KIND: " + KIND_HELP)
@click.argument("chat_id")
@click.argument("kind", metavar="KIND")
@click.option("--robot-key", default=None, help="群机器人 webhook 的 key（robot_group 必填）")
def chat_set_kind(chat_id: str, kind: str, robot_key: str | None) -> None:
    from ..services.membership import set_chat_kind  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..texts import t  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    with app.session() as s, s.begin():
        set_chat_kind(s, chat_id, kind, "cli", app.clock.now(), robot_key=robot_key)
    click.echo(t("wecom.chat.kind_set", chat_id=chat_id, kind=kind, label=_kind_label(kind)))


@chat_group.command("bind")
@click.argument("chat_id")
@click.argument("grid_code")
@click.option("--kind", required=True, help=KIND_HELP)
@click.option("--robot-key", default=None, help="群机器人 webhook 的 key")
@click.option("--name", default=None, help="群名")
def chat_bind(chat_id: str, grid_code: str, kind: str, robot_key: str | None, name: str | None) -> None:
    """把群绑定到网格并写明群的类型（客户群等机器人进不去的群，只能这样绑定）。"""
    from ..services.membership import bind_chat, find_grid  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..texts import t  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    with app.session() as s, s.begin():
        grid = find_grid(s, grid_code)
        if grid is None:
            fail(t("wecom.bind.no_grid", code=grid_code))
        result = bind_chat(s, chat_id, grid, "cli", app.clock.now(), name=name, kind=kind, robot_key=robot_key)
    click.echo(t(f"wecom.bind.{result.outcome}", grid=result.grid_name, code=result.grid_code))
