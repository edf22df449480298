"""The router says every refusal a handler lets through, once, for every command: a rule's no as its text (times in
GRIDBOT_TIMEZONE), bad arguments as the reason plus the command's usage and example."""
from __future__ import annotations

from datetime import UTC, datetime

from gridbot.errors import Refusal
from gridbot.router import EVERYONE, Command
from gridbot.texts import t


def _refuse(ctx, args):
    raise Refusal("work.patrol_already_open", grid="第一网格", since=datetime(2026, 11, 2, 1, 30, tzinfo=UTC))


def test_a_refusal_from_a_handler_is_said_with_local_times(bot):
    bot.app.router.command(Command("拒绝测试", _refuse, roles=EVERYONE))
    reply = bot.said("拒绝测试", as_="mem_zhao")
    assert "第一网格" in reply and "11月2日 09:30" in reply          # 01:30 UTC is 09:30 in Asia/Shanghai


def test_a_usage_error_names_the_reason_then_the_usage(bot):
    lines = bot.said("请假 改天吧", as_="mem_zhao").splitlines()
    assert lines[0] == t("work.leave_bad_until")
    assert lines[1] == t("router.usage_line", usage=t("commands.请假.usage"))
    assert lines[2] == t("router.example_line", example=t("commands.请假.example"))
