"""Issue 20 item 8: what residents wrote is never live markdown in the digest (WeCom markdown and the console).

The attack: a ticket summary `[请登录核实](https://evil.example/login)` became a clickable link in the secretary's
morning digest, in WeCom and on the console's 今日简报 page. Every value put into the digest's markdown now passes
through gridbot.markdown.md_text: the marks show as written (full-width), nothing is a link, a heading or bold.
The AI bot's response_url takes only markdown: a plain-text reply (which may repeat what a resident wrote) goes
through md_plain on the way.
"""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from gridbot.markdown import md_text
from gridbot.messages import Inbound, Reply
from gridbot.models import GridChat, Member, Ticket
from gridbot.pipeline import delivery
from gridbot.services import digest, outbox
from tests.console_helpers import build_world
from tests.factories import seed_world

LINK = "[请登录核实](https://evil.example/login)"
DAY = date(2026, 11, 3)        # the morning after the world's tickets (reported 2026-11-02)


@pytest.fixture
def world(bot):
    w = build_world(bot)
    with bot.app.session() as s, s.begin():
        s.scalar(select(Ticket).where(Ticket.number == w.tickets["HY-01"])).summary = LINK
        s.scalar(select(Ticket).where(Ticket.number == w.tickets["HY-03"])).summary = "**加急** \n## 假标题"
        s.scalar(select(Member).where(Member.userid == "mem_zhou")).name = "<font color=\"warning\">周</font>"
    bot.say(f"受理 {w.tickets['HY-03']}", as_="mem_zhou")   # 周's name is the assignee in the digest
    return w


def test_the_wecom_digest_shows_the_link_as_text(world):
    with world.app.session() as s:
        d = digest.build(s, community="HY", day=DAY, tz=ZoneInfo("Asia/Shanghai"),
                         console_base_url="http://console.example")
    text = digest.render_markdown(d)
    assert "［请登录核实］（https://evil" in text      # shown as written (the digest cuts a long summary)
    assert "](https://evil" not in text and "[请登录核实]" not in text
    assert "**加急**" not in text and "\n## 假标题" not in text and "<font color=\"warning\">周" not in text
    # the digest's own marks are still there
    assert text.startswith("## ") and "**" in text and "[打开管理后台查看详情](http://console.example" in text


def test_the_console_digest_page_has_no_resident_link(world):
    page = world.client("secretary").get(f"/console/digest?day={DAY.isoformat()}").get_data(as_text=True)
    assert "请登录核实" in page
    assert 'href="https://evil' not in page and "<b>加急</b>" not in page and "<h2>假标题" not in page
    assert 'class="md-warning">周' not in page


@pytest.mark.parametrize("raw,shown", [
    (LINK, "［请登录核实］（https://evil.example/login）"), ("**粗体**", "＊＊粗体＊＊"), ("# 标题", "＃ 标题"),
    ("> 引用", "＞ 引用"), ("`代码`", "｀代码｀"), ("第一行\n## 第二行", "第一行 ＃＃ 第二行"),
    ("3栋2单元", "3栋2单元"),
    (None, "")])
def test_one_helper_for_every_value(raw, shown):
    assert md_text(raw) == shown


def test_a_plain_reply_through_the_ai_bots_markdown_only_channel_stays_text(make_app, pg_url, wecom_env,
                                                                           fake):
    app = make_app(pg_url, env=wecom_env)
    with app.session() as s, s.begin():
        seed_world(s)
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key="rk"))
    inbound = Inbound(platform="wecom_aibot", sender_id="resident_a", text="我的工单", chat_id="chat-hy-01",
                      msg_id="m1", response_url=fake.response_url("m1"), at=app.clock.now())
    with app.session() as s, s.begin():
        (row,) = outbox.write_replies(s, inbound, [Reply(f"工单 HY-1：{LINK}\n## 假标题")], now=app.clock.now())
        row_id = row.id
    delivery.deliver(app, row_id)   # (already handed over after the commit when jobs run in-process: "skipped")
    (post,) = fake.replies("m1")
    content = post.body["markdown"]["content"]
    assert content == "工单 HY-1：［请登录核实］（https://evil.example/login）\n＃＃ 假标题"
