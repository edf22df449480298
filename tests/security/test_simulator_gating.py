"""Issue 20 item 2: the chat simulator (speak as anyone, read every outbox row, no sign-in) is on only when asked for.

The attack: a production stack whose WeCom callbacks were not configured yet answered the simulator at `/`, so anyone
could read every outbox message and speak as the secretary. Now it is on only with `gridbot demo` (the Flask config)
or the setting GRIDBOT_SIMULATOR=1, which logs a warning at start-up; otherwise every simulator route answers 404.
"""
from __future__ import annotations

import logging

import pytest

from gridbot.config import ConfigError, Settings
from gridbot.web import create_app
from tests.factories import seed_world

ROUTES = [("get", "/"), ("get", "/simulator/directory"), ("get", "/simulator/outbox?after=0"),
          ("post", "/simulator/say"), ("get", "/simulator/toolbar?chat_id=c&user_id=u"),
          ("post", "/simulator/toolbar/post")]


def _statuses(client) -> list[int]:
    out = []
    for method, path in ROUTES:
        if method == "post":
            res = client.post(path, json={"chat_id": "chat-hy-01", "user_id": "sec_wang", "text": "帮助"})
        else:
            res = client.get(path)
        out.append(res.status_code)
    return out


def test_simulator_is_off_on_a_stack_without_callbacks_unless_enabled(make_app, sqlite_url, caplog):
    app = make_app(sqlite_url)   # no WeCom settings at all: a production stack not configured yet
    with app.session() as s, s.begin():
        seed_world(s)
    assert not app.settings.simulator
    with caplog.at_level(logging.WARNING, logger="gridbot.web.simulator"):
        client = create_app({"TESTING": True}, gridbot=app).test_client()
    assert _statuses(client) == [404] * len(ROUTES)
    assert not [r for r in caplog.records if r.name == "gridbot.web.simulator"]


def test_the_setting_turns_it_on_with_a_warning(make_app, sqlite_url, caplog):
    app = make_app(sqlite_url, env={"GRIDBOT_SIMULATOR": "1"})
    assert app.settings.simulator
    with caplog.at_level(logging.WARNING, logger="gridbot.web.simulator"):
        client = create_app({"TESTING": True}, gridbot=app).test_client()
    assert any("simulator ENABLED" in r.getMessage() for r in caplog.records if r.name == "gridbot.web.simulator")
    assert client.get("/").status_code == 200


def test_the_demo_flag_turns_it_on_even_with_callbacks(make_app, sqlite_url):
    app = make_app(sqlite_url, env={"GRIDBOT_WECOM_CORP_ID": "wwdemo", "GRIDBOT_WECOM_TOKEN": "token",
                                    "GRIDBOT_WECOM_AES_KEY": "a" * 43})
    assert create_app({"TESTING": True}, gridbot=app).test_client().get("/").status_code == 404
    assert create_app({"TESTING": True, "GRIDBOT_SIMULATOR": True}, gridbot=app).test_client().get("/").status_code \
        == 200


@pytest.mark.parametrize("raw,expected", [("", False), ("0", False), ("off", False), ("1", True), ("true", True)])
def test_the_setting_is_parsed_strictly(tmp_path, raw, expected):
    env = {"GRIDBOT_INSTANCE_DIR": str(tmp_path), "GRIDBOT_SIMULATOR": raw}
    assert Settings.from_env(env).simulator is expected


def test_a_wrong_value_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="GRIDBOT_SIMULATOR"):
        Settings.from_env({"GRIDBOT_INSTANCE_DIR": str(tmp_path), "GRIDBOT_SIMULATOR": "maybe"})
