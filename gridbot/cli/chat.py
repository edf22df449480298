"""Talking to the bot without WeCom: `gridbot say` and `gridbot console`."""
from __future__ import annotations

import uuid

import click

from ..clock import FrozenClock
from ..messages import Inbound, Reply
from .base import build_app, echo_json, load_settings, main, parse_when


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
@click.argument("text")
def say(chat: str | None, user: str, name: str | None, now: str | None, as_json: bool, text: str) -> None:
    """发一条消息给机器人，打印它的回复。(One message in, the bot's replies out.)"""
    from ..pipeline.process import handle_now  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    when = parse_when(now, settings.tz)
    app = build_app(clock=FrozenClock(when) if when else None)
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

    Lines starting with ':' are console commands: ':as USERID', ':chat CHAT_ID', ':private', ':quit'.
    """
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
        for reply in handle_now(app, _inbound(chat, user, line, None)):
            click.echo(_describe(reply, chat, user))
