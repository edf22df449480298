"""The simulator's 微信客服 mode in headless Chromium (issue 17's Done-when): a resident who scanned XF-02's code
reports, the member resolves the ticket, the rating's choices appear as a menu under the bot's message, and a tap
on 满意 rates the ticket (the page sends the words with the menu item's id, as kf/sync_msg gives a tap)."""
from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from .conftest import _need_chromium
from .test_console_browser import wait_for

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)   # 09:00 in Beijing: nothing waits for quiet hours
RESIDENT = "wmBrowserXF02"


@pytest.fixture
def served(tmp_path, monkeypatch):
    _need_chromium()
    from werkzeug.serving import make_server

    from gridbot.bootstrap import build, set_current
    from gridbot.cli.demo import build_demo
    from gridbot.clock import FrozenClock
    from gridbot.web import create_app

    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("GRIDBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDBOT_REDIS_URL", raising=False)
    settings, _ = build_demo(tmp_path / "instance")
    app = build(settings, sync_jobs=True, clock=FrozenClock(T0))
    flask_app = create_app({"TESTING": True, "GRIDBOT_SIMULATOR": True}, gridbot=app)
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, flask_app.test_client(), f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    set_current(None)
    app.close()


def test_a_kf_resident_taps_satisfied_on_the_menu(served, browser_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from gridbot.models import Ticket

    app, client, url = served
    driver = browser_factory()
    driver.get(url + "/")
    Select(driver.find_element(By.ID, "chat")).select_by_value("kf:XF-02")
    Select(driver.find_element(By.ID, "user")).select_by_value("__custom__")
    driver.find_element(By.ID, "custom-user").send_keys(RESIDENT)
    driver.find_element(By.ID, "text").send_keys("6栋1单元电梯坏了")
    driver.find_element(By.ID, "send").click()
    WebDriverWait(driver, 15).until(lambda d: re.search(r"XF-\d{8}-\d{4}", d.find_element(By.ID, "log").text))
    with app.session() as s:
        number = s.scalar(select(Ticket.number).where(Ticket.reporter_id == RESIDENT))
    for command in (f"受理 {number}", f"处置 {number}", f"办结 {number} 电梯已修好"):
        assert client.post("/simulator/say", json={"user_id": "xf_huang", "text": command}).get_json()["ok"]
    wait_for(driver, ".menu .choice")   # the page's poll brings the resolution with its choices
    choices = driver.find_elements(By.CSS_SELECTOR, ".menu .choice")
    assert [c.text for c in choices] == ["满意", "基本满意", "不满意"]
    choices[0].click()

    def rated(_driver) -> bool:
        with app.session() as s:
            return s.scalar(select(Ticket.rating).where(Ticket.number == number)) == "satisfied"

    WebDriverWait(driver, 15).until(rated)
