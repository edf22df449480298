"""微信客服 without WeCom (issue 17's "Done when"): the simulator's 微信客服 mode and `gridbot say --kf` play a resident
who scanned grid XF-02's code on the demo community; they report privately, hear the ticket number, ask 我的工单 and
rate it 满意 after the member resolves it, and the ticket shows it. SQLite (the demo's database)."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gridbot.bootstrap import build, set_current
from gridbot.cli import main
from gridbot.cli.demo import build_demo
from gridbot.clock import FrozenClock
from gridbot.models import Ticket
from gridbot.models.kf import KfSession
from gridbot.web import create_app
from tests.unit.test_cli import demo_env, env  # noqa: F401 - the CLI's demo database fixtures

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
NUMBER = re.compile(r"XF-\d{8}-\d{4}")


@pytest.fixture
def demo(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("GRIDBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDBOT_REDIS_URL", raising=False)
    settings, _ = build_demo(tmp_path / "instance")
    app = build(settings, sync_jobs=True, clock=FrozenClock(T0))
    flask_app = create_app({"TESTING": True, "GRIDBOT_SIMULATOR": True}, gridbot=app)
    yield app, flask_app.test_client()
    set_current(None)
    app.close()


def say(client, text: str, user: str, chat: str | None = None, kf: str | None = None) -> list[str]:
    res = client.post("/simulator/say", json={"chat_id": chat, "kf": kf, "user_id": user, "text": text})
    assert res.status_code == 200, res.get_data(as_text=True)
    data = res.get_json()
    assert data["ok"], data
    return [r["text"] for r in data["replies"] if r["to"] == user]


def test_simulator_kf_mode_a_resident_of_xf02_reports_asks_and_rates(demo):
    app, client = demo
    assert "微信客服" in client.get("/").get_data(as_text=True)
    told = say(client, "5栋1单元楼道灯坏了，晚上很黑", "wmScanXF02", kf="XF-02")
    number = NUMBER.search(" ".join(told)).group()
    with app.session() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket.grid.code == "XF-02" and ticket.reporter_platform == "wecom_kf"
        assert s.scalar(select(KfSession.scene).where(KfSession.external_userid == "wmScanXF02")) == "XF-02"
    assert any(number in x for x in say(client, "我的工单", "wmScanXF02", kf="XF-02"))
    for command in (f"受理 {number}", f"处置 {number}", f"办结 {number} 灯已换好"):
        say(client, command, "xf_huang")
    rated = say(client, "满意", "wmScanXF02", kf="XF-02")
    assert any(number in x and "满意" in x for x in rated)
    with app.session() as s:
        assert s.scalar(select(Ticket.rating).where(Ticket.number == number)) == "satisfied"


def test_simulator_kf_mode_refuses_an_unknown_grid(demo):
    _, client = demo
    res = client.post("/simulator/say", json={"kf": "NOPE-9", "user_id": "wmX", "text": "你好"})
    assert res.status_code == 400 and "NOPE-9" in res.get_json()["error"]


def test_say_kf_plays_a_resident_who_scanned_the_grid_code(request):
    runner = CliRunner(env=request.getfixturevalue("demo_env"))
    first = runner.invoke(main, ["say", "--kf", "XF-02", "--as", "wmCliXF02", "5栋1单元楼道灯坏了"])
    assert first.exit_code == 0, first.output + first.stderr
    number = NUMBER.search(first.output).group()
    mine = runner.invoke(main, ["say", "--kf", "XF-02", "--as", "wmCliXF02", "我的工单"])
    assert number in mine.output
    both = runner.invoke(main, ["say", "--kf", "XF-02", "--chat", "chat-xf-02", "--as", "wmCliXF02", "你好"])
    assert both.exit_code != 0


def test_simulator_kf_to_person_silences_the_bot_in_that_session(demo):
    """The embedded account has no WeCom to hand over on: 转人工 hands the session over at once, so the simulator
    shows what a resident sees (the bot says it is handing over, then stays silent), not a bot that goes on."""
    app, client = demo
    told = say(client, "转人工", "wmPersonXF02", kf="XF-02")
    assert told and "转接" in told[0]
    assert say(client, "还在吗", "wmPersonXF02", kf="XF-02") == []
    with app.session() as s:
        row = s.scalar(select(KfSession).where(KfSession.external_userid == "wmPersonXF02"))
        assert row.servicer and row.service_state == 3


def test_simulator_kf_mode_shows_the_rating_as_a_menu_and_a_tap_rates(demo):
    """Done when: the resident taps 满意 on the menu. The simulator gives the rating's choices with the message, and
    a tap (its words and the item's id, as kf/sync_msg gives it) rates the ticket."""
    app, client = demo
    number = NUMBER.search(" ".join(say(client, "6栋1单元电梯坏了", "wmTapXF02", kf="XF-02"))).group()
    for command in (f"受理 {number}", f"处置 {number}"):
        say(client, command, "xf_huang")
    res = client.post("/simulator/say", json={"user_id": "xf_huang", "text": f"办结 {number} 电梯已修好"})
    menus = [r["choices"] for r in res.get_json()["replies"] if r["to"] == "wmTapXF02" and r["choices"]]
    assert menus and [words for _, words in menus[0]] == ["满意", "基本满意", "不满意"]
    menu_id, words = menus[0][0]
    res = client.post("/simulator/say", json={"kf": "XF-02", "user_id": "wmTapXF02", "text": words,
                                              "menu_id": menu_id})
    assert res.status_code == 200 and res.get_json()["ok"]
    with app.session() as s:
        assert s.scalar(select(Ticket.rating).where(Ticket.number == number)) == "satisfied"
    assert "menu_id" in client.get("/").get_data(as_text=True), "the page sends a tap with the item's id"
