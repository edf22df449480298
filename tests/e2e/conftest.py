"""Browser tests: Debian's chromium driven by Selenium through /usr/bin/chromedriver (installed by `make test` via
the Makefile's $(STAMP) recipe, never downloaded by the test tool), against the console served on loopback.

Chromium missing: under CI (CI=true) the tests FAIL; on a laptop they are skipped with the reason.
The world is the demo community (幸福社区, the demo roster and the demo console accounts) with a few tickets.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("GRIDBOT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GRIDBOT_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
DESKTOP = (1366, 900)
PHONE = (390, 844)
PHONE_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
            "Mobile Safari/537.36 wxwork/4.1.22 MicroMessenger/7.0.1")


def _need_chromium() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() and os.access(p, os.X_OK))]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        reason = f"browser tests need {', '.join(missing)} (make test installs chromium and chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_factory():
    """Make Chromium sessions (desktop or phone), each with a fresh profile; all quit at the end."""
    _need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers, dirs = [], []

    def make(size: tuple[int, int] = DESKTOP, user_agent: str | None = None, downloads: Path | None = None):
        profile = tempfile.mkdtemp(prefix="gridbot-chromium-")
        dirs.append(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        options.add_argument("--lang=zh-CN")
        if user_agent:
            options.add_argument(f"--user-agent={user_agent}")
        if downloads is not None:
            options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                      "download.prompt_for_download": False})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(30)
        if downloads is not None:
            driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        drivers.append(driver)
        return driver

    yield make
    for d in drivers:
        with contextlib.suppress(Exception):  # a browser that already died cannot quit; close the others all the same
            d.quit()
    for p in dirs:
        shutil.rmtree(p, ignore_errors=True)


class Live:
    """The demo console served by werkzeug on a loopback port, in a thread."""

    def __init__(self, tmp: Path):
        from werkzeug.serving import make_server

        from gridbot.bootstrap import build, set_current
        from gridbot.cli.demo import build_demo
        from gridbot.config import Settings
        from gridbot.web import create_app
        from gridbot.web.auth import create_account

        settings, _ = build_demo(tmp)
        env = {"GRIDBOT_DATABASE_URL": settings.database_url, "GRIDBOT_INSTANCE_DIR": str(tmp),
               "GRIDBOT_REDIS_URL": ""}
        self.app = build(Settings.from_env(env), sync_jobs=True)
        set_current(self.app)
        with self.app.session() as s, s.begin():
            # a member of another grid (徐强, XF-03), for the refusal scenario
            create_account(s, username="xu", password="demo1234", member_userid="xf_xu", now=self.app.clock.now())
        self.tickets = {
            "XF-01": self.report("chat-xf-01", "res_li", "1栋1单元楼道灯坏了好几天了，晚上太黑，电话13912345678"),
            "XF-01b": self.report("chat-xf-01", "res_li", "2栋门口的垃圾三天没人清运了，味道很大"),
            "XF-02": self.report("chat-xf-02", "res_wang", "4栋有人把电动车推进楼道充电，很危险"),
            "XF-03": self.report("chat-xf-03", "res_zhao", "7栋楼上装修从早到晚都在砸墙，太吵了"),
        }
        # some history, so the dashboard and lists look like a working week: one ticket done and rated by chat
        done = self.tickets["XF-01b"]
        for command in (f"受理 {done}", f"处置 {done}", f"办结 {done} 已联系环卫清运", f"核查 {done}", f"结案 {done}"):
            self.say("chat-xf-01", "xf_zhang", command)
        self.say("chat-xf-01", "res_li", "满意，谢谢")
        for chat, who, text in (("chat-xf-02", "res_wang", "5栋2单元门禁坏了，刷卡没反应"),
                                ("chat-xf-03", "res_zhao", "8栋楼下有辆僵尸车乱停半年了，堵路，请处理"),
                                ("chat-xf-04", "res_new", "10栋一单元楼顶水箱漏水，楼道里都是水"),
                                ("chat-xf-02", "res_wang", "6栋独居的张大爷三天没见人了，敲门也不应")):
            self.say(chat, who, text)      # scenery only: no test depends on these
        flask_app = create_app({"TESTING": True, "GRIDBOT_SIMULATOR": True}, gridbot=self.app)
        self.server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def say(self, chat_id: str, user_id: str, text: str) -> list:
        from gridbot.messages import Inbound
        from gridbot.pipeline.process import handle_now

        return handle_now(self.app, Inbound(platform="console", sender_id=user_id, text=text, chat_id=chat_id,
                                            chat_type="group", msg_id=uuid.uuid4().hex, mentioned=True))

    def report(self, chat_id: str, user_id: str, text: str) -> str:
        import re

        replies = self.say(chat_id, user_id, text)
        for reply in replies:
            m = re.search(r"[A-Z]+-\d{8}-\d{4}", reply.text)
            if m:
                return m.group(0)
        raise AssertionError(f"no ticket from {text!r}: {[r.text for r in replies]}")

    def stop(self) -> None:
        self.server.shutdown()
        self.app.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    _need_chromium()
    server = Live(tmp_path_factory.mktemp("e2e"))
    yield server
    server.stop()
