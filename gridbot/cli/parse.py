"""`gridbot parse`: what the bot makes of a message, for people tuning categories.yaml and for scripts.

Needs no database: only the config dir (GRIDBOT_CONFIG_DIR) is read.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..config import ConfigError
from .base import echo_json, fail, load_settings, main

if TYPE_CHECKING:
    from ..understanding import Understanding


def _describe(u: Understanding) -> str:
    if not u.is_request:
        return f"不是诉求（闲聊/通知/致谢）  摘要：{u.summary}"
    where = str(u.location) or "未识别"
    urgent = "【紧急】" if u.is_urgent else ""
    phones = "，".join(u.phones) or "无"
    return f"{urgent}诉求  类别：{u.category}  位置：{where}  电话：{phones}  摘要：{u.summary}"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（脚本用；键：is_request, category, urgency, "
              "location（building, unit, room, phase, zone）, phones, summary, source, category_by, urgent_by, "
              "urgent_overruled, model）")
@click.argument("text")
def parse(as_json: bool, text: str) -> None:
    """看机器人如何理解一条消息；TEXT 为 - 时从标准输入逐行读取。(How gridbot understands a message.)"""
    from ..understanding import get_engine  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    settings = load_settings()
    try:
        understander = get_engine(settings.config_dir, settings.instance_dir)  # rules + the learned model
    except ConfigError as err:
        fail(f"配置错误 (configuration error): {err}")
    lines = (line.rstrip("\r\n") for line in sys.stdin) if text == "-" else iter([text])
    for line in lines:
        u = understander.understand(line)
        if as_json:
            echo_json(u.to_dict())
        else:
            click.echo(_describe(u))
