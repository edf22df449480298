"""`gridbot account create/reset-password/token`, and the demo's console accounts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridbot import migrate
from gridbot.cli import main

DEMO_XLSX = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-roster.xlsx"


@pytest.fixture
def env(tmp_path):
    env = {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance"), "GRIDBOT_REDIS_URL": ""}
    migrate.upgrade(env["GRIDBOT_DATABASE_URL"])
    result = CliRunner(env=env).invoke(main, ["import", "roster", str(DEMO_XLSX)])
    assert result.exit_code == 0, result.output
    return env


def _flask(env):
    from gridbot.bootstrap import build
    from gridbot.config import Settings
    from gridbot.web import create_app

    app = build(Settings.from_env(env), sync_jobs=True)
    return app, create_app({"TESTING": True}, gridbot=app)


def test_account_create_sign_in_reset_and_token(env):
    from tests.console_helpers import login

    run = CliRunner(env=env).invoke
    result = run(main, ["account", "create", "liu", "--member", "xf_liu", "--password", "secret-123"])
    assert result.exit_code == 0 and "已创建" in result.output
    again = run(main, ["account", "create", "liu", "--member", "xf_liu", "--password", "secret-123"])
    assert again.exit_code != 0 and "已存在" in again.output
    short = run(main, ["account", "create", "x", "--member", "xf_chen", "--password", "123"])
    assert short.exit_code != 0 and "至少 8 位" in short.output
    nobody = run(main, ["account", "create", "y", "--member", "nobody", "--password", "secret-123"])
    assert nobody.exit_code != 0 and "找不到网格员 nobody" in nobody.output
    app, flask_app = _flask(env)
    try:
        assert login(flask_app.test_client(), "liu", "secret-123").status_code == 302
        assert run(main, ["account", "reset-password", "liu", "--password", "another-123"]).exit_code == 0
        assert login(flask_app.test_client(), "liu", "secret-123").status_code == 401
        assert login(flask_app.test_client(), "liu", "another-123").status_code == 302
        made = run(main, ["account", "token", "liu", "--name", "大屏", "--json"])
        token = json.loads(made.output)
        resp = flask_app.test_client().get("/api/v1/grids", headers={"Authorization": f"Bearer {token['token']}"})
        assert resp.status_code == 200 and len(resp.json["items"]) > 1
        assert run(main, ["account", "token", "liu", "--revoke", str(token["id"])]).exit_code == 0
        resp = flask_app.test_client().get("/api/v1/grids", headers={"Authorization": f"Bearer {token['token']}"})
        assert resp.status_code == 401
    finally:
        app.close()


def test_demo_has_console_accounts_for_each_role(tmp_path, monkeypatch):
    from gridbot.cli.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, build_demo
    from tests.console_helpers import login

    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path))
    settings, _ = build_demo(tmp_path)
    app, flask_app = _flask({"GRIDBOT_DATABASE_URL": settings.database_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path)})
    try:
        pages = {}
        for username, _, _ in DEMO_ACCOUNTS:
            client = flask_app.test_client()
            assert login(client, username, DEMO_PASSWORD).status_code == 302
            pages[username] = client.get("/console/", follow_redirects=True).get_data(as_text=True)
        assert "刘建华" in pages["liu"] and "响应率" in pages["liu"]
        assert "张敏" in pages["zhang"]
        assert "发送失败的消息" in pages["admin"]
    finally:
        app.close()
