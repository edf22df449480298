"""Issue 20 item 6: 40 concurrent sign-in guesses check at most 5 passwords.

The attack: the lock-out counted failures after checking the password, so 40 guesses sent at once each saw fewer
than five failures and 18-20 passwords were checked instead of 5. Now each attempt records its failure (committed)
before the password is checked and counts the failures including its own: at most five can go on in the window.
Real threads against the Flask app, on SQLite and PostgreSQL; the password check is counted where it happens.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from gridbot.models.console import LoginFailure
from gridbot.web import auth
from tests.console_helpers import PASSWORD, build_world, csrf_of

GUESSES = 40


@pytest.fixture(params=["sqlite", "postgres"])
def world(request):
    return build_world(request.getfixturevalue("bot" if request.param == "sqlite" else "pg_bot"))


def _counting_checks(monkeypatch) -> list[int]:
    calls: list[int] = []
    lock = threading.Lock()
    real = auth.check_password_hash

    def counted(pwhash: str, password: str) -> bool:
        with lock:
            calls.append(1)
        return real(pwhash, password)

    monkeypatch.setattr(auth, "check_password_hash", counted)
    return calls


def _race(world, username: str, password_for) -> list[int]:
    """GUESSES clients, each with its own session and CSRF token, post at the same moment."""
    clients = []
    for _ in range(GUESSES):
        client = world.flask.test_client()
        clients.append((client, csrf_of(client.get("/console/login").get_data(as_text=True))))
    start = threading.Barrier(GUESSES)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def guess(i: int) -> None:
        client, token = clients[i]
        start.wait()
        try:
            res = client.post("/console/login", data={"username": username, "password": password_for(i),
                                                      "csrf_token": token})
            statuses.append(res.status_code)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors
    return statuses


def test_forty_concurrent_guesses_check_at_most_five_passwords(world, monkeypatch):
    calls = _counting_checks(monkeypatch)
    statuses = _race(world, "zhao", lambda i: f"wrong-guess-{i}")
    assert len(statuses) == GUESSES and set(statuses) == {401}
    assert len(calls) <= auth.MAX_FAILURES, f"{len(calls)} passwords checked"   # 0 when all 40 counted late
    with world.app.session() as s:
        failures = s.scalars(select(LoginFailure).where(LoginFailure.username == "zhao")).all()
    assert len(failures) == len(calls)   # each checked guess is one failure; refused ones leave none
    # later guesses in the window get no more checks than the five, and the right password then is refused
    client = world.flask.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    for i in range(10):
        client.post("/console/login", data={"username": "zhao", "password": f"later-{i}", "csrf_token": token})
    assert len(calls) == auth.MAX_FAILURES
    res = client.post("/console/login", data={"username": "zhao", "password": PASSWORD, "csrf_token": token})
    assert res.status_code == 401 and "锁定" in res.get_data(as_text=True) and len(calls) == auth.MAX_FAILURES


def test_the_race_holds_for_an_unknown_username_too(world, monkeypatch):
    """The dummy-hash check for a name that has no account is limited as well (no free oracle for guessing)."""
    calls = _counting_checks(monkeypatch)
    _race(world, "nobody-here", lambda i: f"guess-{i}")
    assert len(calls) <= auth.MAX_FAILURES
