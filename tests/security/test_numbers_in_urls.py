"""Issue 20 item 5 (web): 20-digit ids and odd `?page=` values never answer 500.

The attack: console routes with a 20-digit id (`/console/reminders/99999999999999999999/cancel`) and
`?page=99999999999999999999` reached PostgreSQL and overflowed its integer columns (500). Every `<int:...>` route now
matches only ids a row can have (a bounded converter registered in create_app: anything else is 404), list pages clamp
their page number, and the API answers 400. Every route of the app is enumerated, so a new one is covered too.
"""
from __future__ import annotations

import pytest

from tests.console_helpers import build_world, csrf_of

HUGE = "99999999999999999999"
PAGES = [HUGE, "2147483648", "-5", "abc"]


@pytest.fixture
def world(pg_bot):
    return build_world(pg_bot)


def _urls(flask_app, methods: set[str]) -> list[tuple[str, str]]:
    """(method, url) for every route, each variable filled with a 20-digit number."""
    out = []
    for rule in flask_app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & methods):
            url = rule.rule
            for arg in rule.arguments:
                url = url.replace(f"<int:{arg}>", HUGE).replace(f"<{arg}>", HUGE).replace(f"<path:{arg}>", HUGE)
            out.append((method, url))
    return out


def test_every_get_route_with_a_20_digit_number_and_odd_pages(world):
    console, api = world.client("secretary"), world.api("secretary")
    urls = [u for m, u in _urls(world.flask, {"GET"}) if not u.startswith("/static")]
    assert any(u.startswith("/console/") for u in urls) and any(u.startswith("/api/") for u in urls)
    failures = []
    for url in urls:
        for page in PAGES:
            target = f"{url}?page={page}&per_page={page}&days={page}&after={page}"
            try:
                status = console.get(target, headers=api if url.startswith("/api/") else None).status_code
            except Exception as exc:  # noqa: BLE001 - TESTING propagates what would be a 500
                status = type(exc).__name__
            if not isinstance(status, int) or status >= 500:
                failures.append((target, status))
    assert not failures, failures


def test_list_pages_clamp_the_page_number(world):
    client = world.client("secretary")
    for page in (HUGE, "-5", "abc"):
        res = client.get(f"/console/tickets?page={page}")
        assert res.status_code == 200, (page, res.status_code)
    assert world.client("secretary").get(f"/api/v1/tickets?page={HUGE}",
                                        headers=world.api("secretary")).status_code == 400


def test_every_post_route_with_a_20_digit_id_is_not_found(world):
    client = world.client("secretary")
    token = csrf_of(client.get("/console/tickets").get_data(as_text=True))
    posts = [u for m, u in _urls(world.flask, {"POST"}) if HUGE in u and u.startswith("/console/")]
    assert len(posts) >= 5, posts
    failures = []
    for url in posts:
        try:
            status = client.post(url, data={"csrf_token": token, "decision": "approve",
                                            "password": "x" * 12}).status_code
        except Exception as exc:  # noqa: BLE001 - TESTING propagates what would be a 500
            status = type(exc).__name__
        if status != 404:
            failures.append((url, status))
    assert not failures, failures
