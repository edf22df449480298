"""The console in a real browser (headless Chromium): sign in, filter tickets, walk a ticket through its life cycle,
import a roster, export xlsx, and a member refused another grid's ticket. On a phone-sized window the main pages
fit the screen (no sideways scrolling). Screenshots go to $GRIDBOT_SCREENSHOTS_DIR when it is set
(`GRIDBOT_SCREENSHOTS_DIR=docs/screenshots pytest tests/e2e` refreshes docs/screenshots/)."""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from .conftest import PHONE, PHONE_UA

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
WAIT = 15


def wait_for(driver, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(driver, live, username: str, password: str = "demo1234") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{live.url}/console/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, "header.top")


def click_to_next_page(driver, button) -> None:
    """Click and wait until the next page has loaded. The old page is told apart by a mark in its window, not by
    Selenium's staleness check: mid-navigation Chrome can answer that check with an inspector error ("Node with
    given id does not belong to the document") instead of "stale element", which failed CI once."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__gridbotOldPage = true")
    button.click()
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return document.readyState === 'complete' && !window.__gridbotOldPage")
    )


def text_of(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def shot(driver, name: str) -> None:
    folder = os.environ.get("GRIDBOT_SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_sign_in_shows_the_dashboard_and_a_wrong_password_does_not(browser_factory, live):
    from selenium.webdriver.common.by import By

    driver = browser_factory()
    driver.get(f"{live.url}/console/login")
    shot(driver, "login-desktop")
    driver.find_element(By.NAME, "username").send_keys("liu")
    driver.find_element(By.NAME, "password").send_keys("not-the-password")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert "账号或密码不对" in wait_for(driver, "#login-error").text
    sign_in(driver, live, "liu")
    body = text_of(driver)
    assert "刘建华" in body and "响应率" in body and "各网格覆盖率" in body
    shot(driver, "dashboard-desktop")


def test_filter_tickets(browser_factory, live):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser_factory()
    sign_in(driver, live, "chen")                    # 陈静: XF-01 and XF-02
    driver.get(f"{live.url}/console/tickets")
    listed = wait_for(driver, "#ticket-list").text
    assert live.tickets["XF-01"] in listed and live.tickets["XF-02"] in listed
    assert live.tickets["XF-03"] not in listed       # not her grids
    Select(driver.find_element(By.NAME, "grid")).select_by_value("XF-02")
    click_to_next_page(driver, driver.find_element(By.CSS_SELECTOR, "#ticket-filters button[type=submit]"))
    wait_for(driver, "#ticket-list")
    listed = driver.find_element(By.ID, "ticket-list").text
    assert live.tickets["XF-02"] in listed and live.tickets["XF-01"] not in listed
    assert "grid=XF-02" in driver.current_url
    shot(driver, "tickets-desktop")


def test_walk_a_ticket_through_its_life_cycle(browser_factory, live):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser_factory()
    sign_in(driver, live, "zhang")                   # 张敏, member of XF-01
    number = live.tickets["XF-01"]
    driver.get(f"{live.url}/console/tickets/{number}")
    assert "13912345678" in text_of(driver)          # the grid's own member sees the phone
    shot(driver, "ticket-desktop")
    phone = browser_factory(PHONE, PHONE_UA)
    sign_in(phone, live, "zhang")
    phone.get(f"{live.url}/console/tickets/{number}")
    wait_for(phone, "#ticket-actions")
    assert phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 1
    shot(phone, "ticket-phone")

    def act(action: str, note: str | None = None, to: str | None = None) -> str:
        form = wait_for(driver, f'form[data-action="{action}"]')
        if to:
            Select(form.find_element(By.NAME, "to")).select_by_value(to)
        if note:
            form.find_element(By.NAME, "note").send_keys(note)
        click_to_next_page(driver, form.find_element(By.CSS_SELECTOR, "button"))     # the next page, not this one
        flash = wait_for(driver, ".flash")
        assert "error" not in (flash.get_attribute("class") or ""), flash.text
        return wait_for(driver, "#ticket-status").text

    assert act("accept") == "已立案"
    assert act("dispatch", to="xf_wu") == "已派遣"
    assert act("start") == "处置中"
    assert act("resolve", note="已联系物业更换灯泡") == "已反馈（待核查）"
    assert act("verify", note="晚上去看过，灯亮了") == "已核查"
    assert act("close") == "已结案"
    timeline = driver.find_element(By.ID, "timeline").text
    for word in ("上报", "立案", "派遣", "开始处置", "反馈办结", "核查通过", "结案"):
        assert word in timeline
    assert "吴桂芳" in text_of(driver)                # the assignee she dispatched to


def test_import_a_roster(browser_factory, live):
    from selenium.webdriver.common.by import By

    driver = browser_factory()
    sign_in(driver, live, "admin")
    driver.get(f"{live.url}/console/roster")
    driver.find_element(By.NAME, "file").send_keys(str(EXAMPLES / "demo-roster.xlsx"))
    driver.find_element(By.CSS_SELECTOR, "#roster-form button[type=submit]").click()
    report = wait_for(driver, "#roster-report").text
    assert "网格" in report and "住户" in report and "未变" in report      # the same roster again: nothing new
    assert "花名册已导入" in text_of(driver)
    shot(driver, "roster-desktop")


def test_export_xlsx(browser_factory, live, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser_factory(downloads=tmp_path)
    sign_in(driver, live, "liu")
    driver.get(f"{live.url}/console/tickets?status=open")
    driver.find_element(By.ID, "export-xlsx").click()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not list(tmp_path.glob("*.xlsx")):
        time.sleep(0.2)
    files = list(tmp_path.glob("*.xlsx"))
    assert files, "no xlsx downloaded"
    rows = list(load_workbook(io.BytesIO(files[0].read_bytes())).active.iter_rows(values_only=True))
    assert rows[0][0] == "编号"
    numbers = {r[0] for r in rows[1:]}
    assert live.tickets["XF-03"] in numbers and live.tickets["XF-02"] in numbers


def test_member_cannot_open_another_grids_ticket(browser_factory, live):
    driver = browser_factory()
    sign_in(driver, live, "xu")                      # 徐强, XF-03
    driver.get(f"{live.url}/console/tickets/{live.tickets['XF-01']}")
    body = text_of(driver)
    assert "403" in body and "无权访问" in body
    assert "13912345678" not in body and "楼道灯" not in body
    shot(driver, "forbidden-desktop")


PAGES = ["dashboard", "digest", "tickets", "households", "coverage?grid=XF-01", "members", "reminders"]


@pytest.mark.parametrize("page", PAGES)
def test_pages_fit_a_phone_screen(browser_factory, live, page):
    driver = browser_factory(PHONE, PHONE_UA)
    sign_in(driver, live, "chen")
    driver.get(f"{live.url}/console/{page}")
    wait_for(driver, "main")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page}: the page is {overflow}px wider than the phone"
    shot(driver, f"{page.split('?')[0]}-phone")


@pytest.mark.parametrize("page", ["households", "coverage?grid=XF-01", "members", "reminders", "outbox", "digest"])
def test_desktop_screenshots(browser_factory, live, page):
    driver = browser_factory()
    sign_in(driver, live, "admin" if page == "outbox" else "liu")
    driver.get(f"{live.url}/console/{page}")
    wait_for(driver, "main h1")
    assert "500" not in driver.title
    shot(driver, f"{page.split('?')[0]}-desktop")
