"""Console sign-in: passwords, sessions and cookies, CSRF, lock-out, logout, WeCom web login, and the audit trail."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from gridbot.models import AuditLog, Ticket
from gridbot.models.console import ConsoleAccount
from gridbot.web import create_app
from tests.console_helpers import PASSWORD, build_world, csrf_of, login
from tests.factories import Bot
from tests.fakewecom.server import FakeWeCom


@pytest.fixture
def world(bot):
    return build_world(bot)


def audits(app, action):
    with app.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_password_is_stored_hashed_and_sign_in_works(world):
    with world.app.session() as s:
        account = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == "zhao"))
        assert PASSWORD not in account.password_hash and account.password_hash.startswith("scrypt:")
    client = world.flask.test_client()
    resp = login(client, "zhao", PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/dashboard")
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert "赵网格员" in page and "响应率" in page
    assert [a.actor for a in audits(world.app, "console.login")] == ["member:mem_zhao"]


def test_session_cookie_is_httponly_and_lax(world):
    resp = login(world.flask.test_client(), "zhao", PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie      # TESTING: plain HTTP


def test_session_cookie_is_secure_outside_tests_and_demo(bot):
    world = build_world(bot)
    prod = create_app({}, gridbot=world.app)
    client = prod.test_client()
    page = client.get("/console/login", base_url="https://console.example")
    resp = client.post("/console/login", base_url="https://console.example",
                       data={"username": "zhao", "password": PASSWORD,
                             "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]


def test_wrong_password_is_refused_and_audited(world):
    resp = login(world.flask.test_client(), "zhao", "wrong-password")
    assert resp.status_code == 401
    assert "账号或密码不对" in resp.get_data(as_text=True)
    assert len(audits(world.app, "console.login_failed")) == 1
    # an unknown account gets the same answer (no hint which usernames exist)
    resp = login(world.flask.test_client(), "nobody", "whatever1")
    assert resp.status_code == 401 and "账号或密码不对" in resp.get_data(as_text=True)


def test_five_failures_lock_the_account_for_fifteen_minutes(world, clock):
    client = world.flask.test_client()
    for _ in range(5):
        assert login(client, "zhao", "wrong-password").status_code == 401
    assert len(audits(world.app, "console.locked")) == 1
    resp = login(client, "zhao", PASSWORD)          # the right password does not help while locked
    assert resp.status_code == 401 and "锁定" in resp.get_data(as_text=True)
    assert client.get("/console/dashboard").status_code == 302
    clock.advance(timedelta(minutes=16))
    assert login(client, "zhao", PASSWORD).status_code == 302
    assert client.get("/console/dashboard").status_code == 200


def test_post_without_csrf_token_is_refused_and_changes_nothing(world):
    client = world.client("member")
    number = world.tickets["HY-01"]
    resp = client.post(f"/console/tickets/{number}/action", data={"action": "accept"})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    resp = client.post(f"/console/tickets/{number}/action", data={"action": "accept", "csrf_token": "forged"})
    assert resp.status_code == 400
    with world.app.session() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.number == number)) == "reported"
    assert len(audits(world.app, "console.csrf_refused")) == 2
    # the login form is protected too
    resp = world.flask.test_client().post("/console/login", data={"username": "zhao", "password": PASSWORD})
    assert resp.status_code == 400


def test_logout_ends_the_session(world):
    client = world.client("member")
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert client.post("/console/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert client.get("/console/dashboard").status_code == 302
    assert [a.actor for a in audits(world.app, "console.logout")] == ["member:mem_zhao"]


def test_member_opening_another_grids_ticket_gets_403_and_an_audit_row(world):
    client = world.client("other_member")       # 周网格员, HY-03
    number = world.tickets["HY-01"]
    resp = client.get(f"/console/tickets/{number}")
    assert resp.status_code == 403
    body = resp.get_data(as_text=True)
    assert "无权访问" in body and "13812345678" not in body and "楼道灯" not in body
    rows = audits(world.app, "console.forbidden")
    assert [(r.actor, r.entity_type, r.entity_id) for r in rows] == [("member:mem_zhou", "ticket", number)]


def test_password_reset_signs_out_other_sessions(world):
    client = world.client("member")
    assert client.get("/console/dashboard").status_code == 200
    sec = world.client("secretary")
    page = sec.get("/console/accounts").get_data(as_text=True)
    with world.app.session() as s:
        account_id = s.scalar(select(ConsoleAccount.id).where(ConsoleAccount.username == "zhao"))
    resp = sec.post(f"/console/accounts/{account_id}/password",
                    data={"password": "a-new-password", "csrf_token": csrf_of(page)})
    assert resp.status_code == 302
    assert client.get("/console/dashboard").status_code == 302       # the old session is gone
    assert login(world.flask.test_client(), "zhao", "a-new-password").status_code == 302


def test_next_never_leaves_the_site(world):
    client = world.flask.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    resp = client.post("/console/login?next=//evil.example/x",
                       data={"username": "zhao", "password": PASSWORD, "csrf_token": csrf_of(page)})
    assert resp.headers["Location"].endswith("/console/dashboard")


# -- WeCom web authorization (企业微信网页授权 / 扫码登录) against the fake WeCom ---------------------------
@pytest.fixture
def wecom_world(make_app, sqlite_url):
    fake = FakeWeCom().start()
    app = make_app(sqlite_url, env={"GRIDBOT_WECOM_API_BASE": fake.url, "GRIDBOT_WECOM_CORP_ID": fake.corp_id,
                                    "GRIDBOT_WECOM_SECRET": fake.secret, "GRIDBOT_WECOM_AGENT_ID": "1000002"})
    bot = Bot(app)
    bot.seed()
    yield fake, create_app({"TESTING": True}, gridbot=app), app
    fake.stop()


def _start(client, user_agent: str = "Mozilla/5.0") -> str:
    resp = client.get("/console/login/wecom", headers={"User-Agent": user_agent})
    assert resp.status_code == 302
    return resp.headers["Location"]


def test_wecom_qr_login_signs_a_member_in(wecom_world):
    fake, flask_app, app = wecom_world
    client = flask_app.test_client()
    target = urlparse(_start(client))
    assert target.netloc == "login.work.weixin.qq.com"
    query = parse_qs(target.query)
    assert query["appid"] == [fake.corp_id] and query["agentid"] == ["1000002"]
    assert query["redirect_uri"][0].endswith("/console/login/wecom/callback")
    fake.oauth_codes["code-1"] = "mem_zhao"
    resp = client.get(f"/console/login/wecom/callback?code=code-1&state={query['state'][0]}")
    assert resp.status_code == 302
    assert "赵网格员" in client.get("/console/dashboard").get_data(as_text=True)
    assert any(r.path == "/cgi-bin/auth/getuserinfo" and r.args.get("code") == "code-1" for r in fake.received)
    with app.session() as s:
        account = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == "mem_zhao"))
        assert account.password_hash is None and account.member.userid == "mem_zhao"
    assert [a.detail.get("via") for a in audits(app, "console.login")] == ["wecom"]


def test_wecom_browser_gets_the_oauth_authorize_page(wecom_world):
    _, flask_app, _ = wecom_world
    target = urlparse(_start(flask_app.test_client(), "Mozilla/5.0 wxwork/4.1.22 MicroMessenger/7.0.1"))
    assert target.netloc == "open.weixin.qq.com" and "scope=snsapi_base" in target.query


def test_wecom_login_refuses_bad_state_bad_code_and_non_members(wecom_world):
    fake, flask_app, app = wecom_world
    client = flask_app.test_client()
    state = parse_qs(urlparse(_start(client)).query)["state"][0]
    fake.oauth_codes["code-2"] = "mem_zhao"
    assert client.get("/console/login/wecom/callback?code=code-2&state=forged").status_code == 400
    state = parse_qs(urlparse(_start(client)).query)["state"][0]
    resp = client.get(f"/console/login/wecom/callback?code=unknown&state={state}")
    assert resp.status_code == 401 and "企业微信登录失败" in resp.get_data(as_text=True)
    state = parse_qs(urlparse(_start(client)).query)["state"][0]
    fake.oauth_codes["code-3"] = "some_resident"
    resp = client.get(f"/console/login/wecom/callback?code=code-3&state={state}")
    assert resp.status_code == 403 and "不是本社区登记的网格员" in resp.get_data(as_text=True)
    assert client.get("/console/dashboard").status_code == 302
    assert len(audits(app, "console.login_failed")) == 3
