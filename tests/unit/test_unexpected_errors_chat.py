"""A handler that fails unexpectedly: the person gets a short polite reply with an error id, the operator finds
the same id once in the log (without the message or who sent it), and nothing half-done is kept. An outage of
the database still fails the job, so RQ retries it.

This module is also a handler module (register below), added to the app's own with build(handler_modules=...).
"""
from __future__ import annotations

import logging
import re
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gridbot.handlers import MODULES
from gridbot.messages import Inbound
from gridbot.models import AuditLog, InboundMessage, OutboxMessage
from gridbot.pipeline.process import handle_now, process
from gridbot.pipeline.store import row_values, store
from gridbot.router import Command, Context, Router
from gridbot.services.audit import record
from gridbot.texts import t
from tests.factories import Bot


def _boom(ctx: Context, args: str) -> list:
    record(ctx.session, "test", "test.half_done", "test", 1, at=ctx.now)   # written, then the handler fails
    raise RuntimeError("内部细节 13800138000")


def _database_down(ctx: Context, args: str) -> list:
    raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


def register(router: Router) -> None:
    router.command(Command("测试出错", _boom, roles=None))
    router.command(Command("测试断库", _database_down, roles=None))


@pytest.fixture
def buggy_bot(make_app, sqlite_url):
    bot = Bot(make_app(sqlite_url, handler_modules=[*MODULES, __name__]))
    bot.seed()
    return bot


def test_an_unexpected_error_gets_a_polite_reply_with_an_id_the_log_and_the_row_share(buggy_bot, caplog):
    caplog.set_level(logging.INFO)
    replies = buggy_bot.send("测试出错", as_="resident_a")

    assert len(replies) == 1
    ref = re.search(r"编号 ([0-9a-f]{8})", replies[0].text).group(1)
    assert replies[0].text == t("router.unexpected", ref=ref)
    assert "抱歉" in replies[0].text
    with buggy_bot.app.session() as s:
        row = s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row.status == "failed" and ref in row.error
        assert s.scalars(select(AuditLog).where(AuditLog.action == "test.half_done")).all() == []   # rolled back
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == row.id)).all()
    assert [r.status for r in sent] == ["sent"]          # the apology went out like any answer
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR and "Traceback" in logged[0].getMessage()
    assert "测试出错" not in logged[0].getMessage() and "resident_a" not in logged[0].getMessage()
    assert "13800138000" not in logged[0].getMessage()         # what the exception said is masked too


def test_a_second_unexpected_error_gets_its_own_id(buggy_bot):
    first = buggy_bot.said("测试出错")
    second = buggy_bot.said("测试出错")
    assert first != second and "编号" in first and "编号" in second


def test_the_database_failing_still_fails_the_job_so_it_is_retried(buggy_bot):
    app = buggy_bot.app
    inbound = Inbound(platform="console", sender_id="resident_a", text="测试断库",
                      chat_id=buggy_bot.chat("HY-01"), msg_id=uuid.uuid4().hex)
    inbound_id, _ = store(app.engine, row_values(inbound, None, app.clock.now()))
    with pytest.raises(OperationalError):
        process(app, inbound_id)
    with app.session() as s:
        row = s.get(InboundMessage, inbound_id)
        assert row.status == "failed" and "OperationalError" in row.error
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == inbound_id)).all() == []


def test_an_ordinary_message_is_answered_as_before(buggy_bot):
    replies = handle_now(buggy_bot.app, Inbound(platform="console", sender_id="resident_a", text="你好",
                                                msg_id=uuid.uuid4().hex))
    assert replies and not any("编号" in r.text for r in replies)
