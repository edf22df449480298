"""What a person sees when a rule says no (a Refusal) or when something breaks, on the console, the API and the
CLI: the rule's Chinese text; or a short polite message with an error id that was logged once (with the traceback)."""
from __future__ import annotations

import logging
import re

import pytest
from click.testing import CliRunner

from gridbot.errors import Refusal
from gridbot.web.console import community
from tests.console_helpers import build_world

ID = re.compile(r"错误编号\s*([0-9a-f]{8})")


@pytest.fixture
def world(bot):
    return build_world(bot)


def _boom(*_args, **_kwargs):
    raise RuntimeError("boom: 13800000000")


def _no(*_args, **_kwargs):
    raise Refusal("refusal.no_community", code="ZZ")


def _logged_once_with_the_traceback(caplog, error_id: str) -> None:
    records = [r.getMessage() for r in caplog.records if error_id in r.getMessage()]
    assert len(records) == 1
    assert "Traceback" in records[0] and "RuntimeError: boom" in records[0]
    assert "13800000000" not in records[0] and "138****0000" in records[0]     # no phone numbers in logs


def test_a_console_page_that_breaks_answers_a_polite_page_with_the_logged_id(world, monkeypatch, caplog):
    monkeypatch.setattr(community, "member_figures", _boom)
    with caplog.at_level(logging.ERROR):
        resp = world.client("secretary").get("/console/members")
    assert resp.status_code == 500
    page = resp.get_data(as_text=True)
    assert "抱歉，系统出了点问题" in page and "boom" not in page and "Traceback" not in page
    error_id = ID.search(page).group(1)
    _logged_once_with_the_traceback(caplog, error_id)


def test_a_refusal_on_a_console_page_is_flashed(world, monkeypatch):
    monkeypatch.setattr(community, "member_figures", _no)
    client = world.client("secretary")
    resp = client.get("/console/members", follow_redirects=True)
    assert resp.status_code == 200
    assert "没有编码为“ZZ”的社区。" in resp.get_data(as_text=True)


def test_an_api_call_that_breaks_answers_json_with_the_logged_id(world, monkeypatch, caplog):
    from gridbot.web import api

    monkeypatch.setattr(api.coverage_svc, "compute", _boom)
    with caplog.at_level(logging.ERROR):
        resp = world.flask.test_client().get("/api/v1/coverage", headers=world.api("secretary"))
    assert resp.status_code == 500
    error = resp.json["error"]
    assert error["code"] == "internal" and re.fullmatch(r"[0-9a-f]{8}", error["id"])
    assert error["id"] in error["message"] and "抱歉" in error["message"] and "boom" not in error["message"]
    _logged_once_with_the_traceback(caplog, error["id"])


def test_a_refusal_in_the_api_answers_its_key_and_text(world, monkeypatch):
    from gridbot.web import api

    monkeypatch.setattr(api.coverage_svc, "compute", _no)
    resp = world.flask.test_client().get("/api/v1/coverage", headers=world.api("secretary"))
    assert resp.status_code == 409
    assert resp.json["error"] == {"code": "refused", "key": "refusal.no_community",
                                  "message": "没有编码为“ZZ”的社区。"}


def _cli(bot, monkeypatch, *args):
    from gridbot.cli import main

    monkeypatch.setenv("GRIDBOT_DATABASE_URL", bot.app.settings.database_url)
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(bot.app.settings.instance_dir))
    return CliRunner().invoke(main, list(args))


def test_a_cli_command_that_breaks_prints_a_polite_line_with_the_logged_id(bot, monkeypatch, caplog):
    from gridbot.services import compliance

    monkeypatch.setattr(compliance, "compliance", _boom)
    with caplog.at_level(logging.ERROR):
        result = _cli(bot, monkeypatch, "compliance", "--community", "HY", "--period", "2026-11")
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]           # the log (stderr) has the traceback; the person's line ends
    assert last.startswith("抱歉，出了意外的错误")
    error_id = ID.search(last).group(1)
    _logged_once_with_the_traceback(caplog, error_id)


def test_a_refusal_in_the_cli_is_said_plainly(bot, monkeypatch):
    from gridbot.services import compliance

    monkeypatch.setattr(compliance, "compliance", _no)
    result = _cli(bot, monkeypatch, "compliance", "--community", "HY", "--period", "2026-11")
    assert result.exit_code == 2 and "没有编码为“ZZ”的社区。" in result.output
