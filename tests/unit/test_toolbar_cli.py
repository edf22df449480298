"""`gridbot say` and `gridbot console` play a customer group (issue 16 point 10, the outbound half): the bot says
nothing in the group itself, the member hears privately what is ready, `:toolbar` lists it, `:post N` puts it in the
group (through the local archive) and closes it."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from gridbot import migrate
from gridbot.cli import main

DEMO_XLSX = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-roster.xlsx"


def test_say_and_the_console_toolbar_in_a_customer_group(tmp_path):
    env = {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance"), "GRIDBOT_REDIS_URL": "",
           "GRIDBOT_ARCHIVE_SOURCE": "local"}   # the customer group is heard through the embedded chat archive
    migrate.upgrade(env["GRIDBOT_DATABASE_URL"])
    run = CliRunner(env=env).invoke
    assert run(main, ["import", "roster", str(DEMO_XLSX)]).exit_code == 0
    bound = run(main, ["chat", "bind", "wrCustomer01", "XF-01", "--kind", "customer_group",
                       "--name", "幸福一网格居民群"])
    assert bound.exit_code == 0, bound.output
    said = run(main, ["say", "--chat", "wrCustomer01", "--as", "res_new", "1栋1单元楼道灯坏了好几天了"])
    assert said.exit_code == 0, said.output
    replies = [r for r in said.output.split("\n\n") if r.strip()]
    assert replies and all(r.startswith("[私信 → ") for r in replies)     # nothing said in the group itself
    ready = next(r for r in replies if "已为群“幸福一网格居民群”准备好回复" in r)   # a name ending in 群: no “…群”群
    assert "工单号" in ready                                              # the text itself, to copy by hand
    member = ready.split("→ ", 1)[1].split("]", 1)[0]
    console = run(main, ["console", "--chat", "wrCustomer01", "--as", member],
                  input=":toolbar\n:post 1\n:toolbar\n:quit\n")
    assert console.exit_code == 0, console.output
    assert "[1] 已收到您的诉求" in console.output and "共 0 条待发送" in console.output

    from gridbot.bootstrap import build
    from gridbot.config import Settings
    from gridbot.models import ToolbarItem

    app = build(Settings.from_env(env))
    try:
        with app.session() as s:
            item = s.scalars(select(ToolbarItem)).one()
            assert (item.status, item.posted_by) == ("posted", member)
    finally:
        app.close()
