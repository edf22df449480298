"""Settings, privacy masking, time storage and packaging: the ground everything else stands on."""
from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gridbot.config import ConfigError, Settings
from gridbot.models import AuditLog
from gridbot.privacy import MaskingFilter, mask_phone, mask_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env, name", [
    ({"GRIDBOT_TIMEZONE": "Mars/Base"}, "GRIDBOT_TIMEZONE"),
    ({"GRIDBOT_DATABASE_URL": "mysql://x/y"}, "GRIDBOT_DATABASE_URL"),
    ({"GRIDBOT_DATABASE_URL": "gridbot.db"}, "GRIDBOT_DATABASE_URL"),
    ({"GRIDBOT_REDIS_URL": "localhost:6379"}, "GRIDBOT_REDIS_URL"),
    ({"GRIDBOT_CALLBACK_MAX_SKEW": "soon"}, "GRIDBOT_CALLBACK_MAX_SKEW"),
    ({"GRIDBOT_WECOM_AES_KEY": "short"}, "GRIDBOT_WECOM_AES_KEY"),
    ({"GRIDBOT_CONFIG_DIR": "/nonexistent"}, "GRIDBOT_CONFIG_DIR"),
])
def test_a_wrong_setting_is_named_in_one_line(env, name):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_defaults_are_the_embedded_ones(tmp_path):
    s = Settings.from_env({"GRIDBOT_INSTANCE_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'gridbot.db'}"
    assert s.redis_url is None and s.timezone == "Asia/Shanghai"
    assert not s.wecom.app_callback_enabled and not s.wecom.aibot_enabled


def test_phone_and_id_numbers_are_masked():
    text = "我是3栋的，电话13812345678，身份证330106199001011234，座机0571-88886666"
    masked = mask_text(text)
    for secret in ("13812345678", "330106199001011234", "88886666"):
        assert secret not in masked
    assert "3栋" in masked and "138****5678" in masked
    assert mask_phone("139 0000 1234") == "139****1234"
    assert mask_text("3栋2单元101 明天10点") == "3栋2单元101 明天10点"


def test_log_records_are_masked(caplog):
    import logging

    log = logging.getLogger("gridbot.test")
    log.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="gridbot.test"):
        log.info("resident %s called", "13812345678")
    assert "13812345678" not in caplog.text and "138****5678" in caplog.text


def test_times_come_back_aware_utc_on_both_databases(app):
    at = datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    with app.session() as s, s.begin():
        s.add(AuditLog(actor="cli", action="test", at=at))
    with app.session() as s:
        row = s.query(AuditLog).one()
    assert row.at == at and row.at.tzinfo is not None and row.at.utcoffset() == timedelta(0)


def test_every_subpackage_is_shipped():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"gridbot." + ".".join(p.parent.relative_to(ROOT / "gridbot").parts) if p.parent != ROOT / "gridbot"
             else "gridbot" for p in (ROOT / "gridbot").rglob("__init__.py")}
    found = {f.rstrip(".") for f in found} | {"gridbot.handlers"}
    assert found <= declared, f"add to pyproject [tool.setuptools] packages: {sorted(found - declared)}"


def test_behind_nginx_the_callers_address_and_scheme_are_seen(make_app, sqlite_url):
    from flask import request

    from gridbot.web import create_app

    flask_app = create_app(gridbot=make_app(sqlite_url, env={"GRIDBOT_PROXY_HOPS": "1"}))

    @flask_app.get("/_whoami")
    def whoami():
        return f"{request.remote_addr} {request.scheme}"

    body = flask_app.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9",
                                                             "X-Forwarded-Proto": "https"}).text
    assert body == "203.0.113.9 https"
    direct = create_app(gridbot=make_app(sqlite_url))

    @direct.get("/_whoami")
    def whoami2():
        return f"{request.remote_addr} {request.scheme}"

    assert direct.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9"}).text == "127.0.0.1 http"
