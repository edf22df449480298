"""The chat toolbar page (聊天工具栏, issue 16 point 6) in headless Chromium on a phone-sized window, with a stand-in
for WeCom's `wx` object injected before the page's scripts: it records agentConfig, answers getCurExternalChat
with the open group's chat id and records what sendChatMessage would post. The member signs in, sees that
group's items only, taps one: the stand-in got the exact text, and the item is marked posted."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, update

from .conftest import PHONE, PHONE_UA, _need_chromium
from .test_console_browser import wait_for

PASSWORD = "toolbar-pass-1"

STAND_IN = """
window.__wx = {config: null, sent: [], chatId: %s};
window.wx = {
  agentConfig: function (c) {
    window.__wx.config = c;
    setTimeout(function () { c.success({errMsg: 'agentConfig:ok'}); }, 0);
  },
  invoke: function (name, args, cb) {
    if (name === 'getCurExternalChat') { cb({err_msg: 'getCurExternalChat:ok', chatId: window.__wx.chatId}); }
    else if (name === 'sendChatMessage') { window.__wx.sent.push(args); cb({err_msg: 'sendChatMessage:ok'}); }
    else { cb({err_msg: name + ':fail'}); }
  }
};
"""


@pytest.fixture
def served(make_app, sqlite_url, wecom_env, fake):
    """The test community on SQLite, HY-01 and HY-02 customer groups with a reply ready each, served on loopback."""
    _need_chromium()
    from werkzeug.serving import make_server

    from gridbot.models import GridChat
    from gridbot.web import create_app
    from gridbot.web.auth import create_account
    from tests.factories import Bot

    app = make_app(sqlite_url, env=wecom_env)
    bot = Bot(app)
    bot.seed()
    with app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id.in_([bot.chat("HY-01"), bot.chat("HY-02")]))
                  .values(kind="customer_group"))
        create_account(s, username="zhao", password=PASSWORD, member_userid="mem_zhao", now=app.clock.now())
        create_account(s, username="li", password=PASSWORD, member_userid="lead_li", now=app.clock.now())
    bot.say("1栋2单元楼道灯坏了好几天了", as_="res_a", chat="HY-01")
    bot.say("3栋门口的垃圾三天没人清运了", as_="res_b", chat="HY-02")
    server = make_server("127.0.0.1", 0, create_app({"TESTING": True}, gridbot=app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield bot, f"http://127.0.0.1:{server.server_port}", fake
    server.shutdown()


def test_the_member_taps_a_prepared_reply_and_the_stand_in_posts_its_exact_text(served, browser_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from gridbot.models import ToolbarItem
    from gridbot.wecom.jssdk import signature

    bot, url, fake = served
    app = bot.app
    with app.session() as s:
        mine = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == bot.chat("HY-01"))).one()
        other = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == bot.chat("HY-02"))).one()
        mine_id, mine_text, other_text = mine.id, mine.text, other.text
    driver = browser_factory(PHONE, PHONE_UA)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": STAND_IN % json.dumps(bot.chat("HY-01"))})
    # sign in (李网格长 has HY-01 and HY-02: the page must still show only the open group's items)
    driver.get(f"{url}/console/login?next=/toolbar/")
    driver.find_element(By.NAME, "username").send_keys("li")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, ".item button")
    items = driver.find_elements(By.CSS_SELECTOR, ".item")
    assert [i.get_attribute("data-id") for i in items] == [str(mine_id)]
    page_text = driver.find_element(By.TAG_NAME, "body").text
    assert mine_text.splitlines()[0] in page_text and other_text.splitlines()[0] not in page_text
    # fits the phone: no sideways scrolling
    assert driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 1
    config = driver.execute_script("return window.__wx.config")
    [ticket] = fake.agent_tickets
    assert config["signature"] == signature(ticket, config["nonceStr"], config["timestamp"],
                                            driver.current_url.split("#")[0])
    assert set(config["jsApiList"]) == {"getCurExternalChat", "sendChatMessage"}
    items[0].find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_element(By.CSS_SELECTOR, ".item button").text == "已发送")
    sent = driver.execute_script("return window.__wx.sent")
    assert sent == [{"msgtype": "text", "enterChat": False, "text": {"content": mine_text}}]
    with app.session() as s:
        row = s.get_one(ToolbarItem, mine_id)
        assert (row.status, row.how, row.posted_by) == ("posted", "toolbar", "lead_li")
