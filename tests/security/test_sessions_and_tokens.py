"""Issue 20 item 9: sign-out and a password reset end every session of the account; a reset ends its API tokens;
a new token's secret never sits in the session cookie.

The attack: a session cookie copied before sign-out kept working after it (up to 12 h), and the flash message that
showed a new token's secret carried it inside the signed (not encrypted) session cookie. Now the cookie holds the
account's session epoch, checked on every request; sign-out and a reset raise it. A reset revokes the account's
tokens (the choice documented in docs/console.md). The secret is in the response page only.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gridbot.models.console import ApiToken, ConsoleAccount
from gridbot.web.auth import set_password
from tests.console_helpers import build_world, csrf_of


@pytest.fixture(params=["sqlite", "postgres"])
def world(request):
    return build_world(request.getfixturevalue("bot" if request.param == "sqlite" else "pg_bot"))


def _copy(world, client):
    """Another browser holding a copy of `client`'s session cookie."""
    other = world.flask.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _signed_in(client) -> bool:
    return client.get("/console/dashboard").status_code == 200


def test_a_cookie_copied_before_sign_out_is_refused_after_it(world):
    browser = world.client("member")
    thief = _copy(world, browser)
    elsewhere = world.client("member")          # the same person signed in on another device
    assert _signed_in(thief) and _signed_in(elsewhere)
    token = csrf_of(browser.get("/console/tokens").get_data(as_text=True))
    assert browser.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert not _signed_in(browser) and not _signed_in(thief) and not _signed_in(elsewhere)
    # other accounts are untouched, and signing in again works
    assert _signed_in(world.client("leader")) and _signed_in(world.client("member"))


def test_a_password_reset_ends_every_session_and_the_accounts_tokens(world):
    browser = world.client("member")
    thief = _copy(world, browser)
    api = world.flask.test_client()
    assert api.get("/api/v1/tickets", headers=world.api("member")).status_code == 200
    assert api.get("/api/v1/tickets", headers=world.api("leader")).status_code == 200
    with world.app.session() as s, s.begin():
        account = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == "zhao"))
        set_password(s, account, "a-new-password-1", actor="console:ops", now=world.app.clock.now())
    assert not _signed_in(browser) and not _signed_in(thief)
    assert api.get("/api/v1/tickets", headers=world.api("member")).status_code == 401
    assert api.get("/api/v1/tickets", headers=world.api("leader")).status_code == 200   # another account's
    with world.app.session() as s:
        zhao_tokens = s.scalars(select(ApiToken).join(ConsoleAccount).where(ConsoleAccount.username == "zhao")).all()
    assert zhao_tokens and all(tk.revoked_at is not None for tk in zhao_tokens)


def test_a_new_tokens_secret_is_in_the_page_only_never_in_the_cookie(world):
    console = world.client("leader")
    page = console.get("/console/tokens").get_data(as_text=True)
    resp = console.post("/console/tokens", data={"name": "区平台", "csrf_token": csrf_of(page)})
    assert resp.status_code == 200 and resp.headers.get("Cache-Control") == "no-store"
    secret = re.search(r"gbt_[\w-]+", resp.get_data(as_text=True)).group(0)
    cookie = console.get_cookie("session").value
    data = world.flask.session_interface.get_signing_serializer(world.flask).loads(cookie)
    assert secret not in repr(data) and secret not in cookie
    assert secret not in console.get("/console/tokens").get_data(as_text=True)
    assert world.flask.test_client().get("/api/v1/grids", headers={"Authorization": f"Bearer {secret}"}
                                         ).status_code == 200
