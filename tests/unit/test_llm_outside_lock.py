"""The large model is asked outside the message's transaction: a slow endpoint holds no row lock and no connection.

process() locks the inbound row (SELECT ... FOR UPDATE) for the whole of its transaction. A second opinion asked
inside it would hold that lock and a pooled connection for up to timeout_seconds per message, on every worker: under
a storm the pool runs dry. These tests make the fake endpoint slow and look at the database while it thinks.
"""
from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gridbot.config import DEFAULT_CONFIG_DIR, Settings
from gridbot.models import InboundMessage, Ticket
from gridbot.pipeline import process as process_module
from gridbot.understanding import llm, understand
from tests.factories import Bot
from tests.fakellm import FakeLLM
from tests.fakellm import fixtures as llm_fixtures

# the large model's fixtures (tests/fakellm/fixtures.py): its fake endpoint, replacing the fake WeCom's `fake`, and
# an empty call budget around every test
fake = llm_fixtures.fake
_fresh_budget = llm_fixtures.fresh_budget

# Neither the rules nor the learned model place this one: without the model it is forwarded to a member as unclear
# (tests/unit/test_unclear_messages.py); the model is asked about it.
UNSEEN_ELDER = "上回跟你们讲的那个情况 现在还是老样子 你们看着办吧"
RAISE = {"is_request": True, "urgent": True, "category": "assistance", "reason": "独居老人多日未见"}
URGENT_TEXT = "3栋2单元楼道里着火了 好大的烟 快来人"


def _llm_env(fake: FakeLLM) -> dict[str, str]:
    return {"GRIDBOT_LLM_BASE_URL": fake.base_url, "GRIDBOT_LLM_API_KEY": "test-key", "GRIDBOT_LLM_MODEL": "qwen-test"}


@pytest.fixture
def runs(monkeypatch):
    """How many times process() ran (its re-runs call the module's name, so they are counted too)."""
    calls: list[int] = []
    real = process_module.process

    def counted(app, inbound_id, *args, **kw):
        calls.append(inbound_id)
        return real(app, inbound_id, *args, **kw)

    monkeypatch.setattr(process_module, "process", counted)
    return calls


def _tickets(app) -> list[Ticket]:
    with app.session() as s:
        return list(s.scalars(select(Ticket)))


def test_a_slow_model_holds_no_row_lock_and_no_connection(make_app, db_url, fake, runs):
    """While the (1.5 s) call is in flight another connection locks the inbound row with NOWAIT, and the pool has
    nothing checked out; the message then ends processed with the model's answer applied (urgent)."""
    fake.mode, fake.slow_seconds = "slow", 1.5
    fake.answers[UNSEEN_ELDER] = RAISE
    app = make_app(db_url, env=_llm_env(fake))
    bot = Bot(app)
    bot.seed()
    done: dict[str, object] = {}

    def send() -> None:
        try:
            done["replies"] = bot.send(UNSEEN_ELDER, as_="resident_a", chat="HY-01")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread to be raised there
            done["error"] = exc

    worker = threading.Thread(target=send)
    worker.start()
    deadline = time.monotonic() + 10
    while not fake.calls and time.monotonic() < deadline:     # the fake records the call, then sleeps 1.5 s
        time.sleep(0.01)
    assert fake.calls, "the model was never asked"
    checked_out = app.engine.pool.checkedout()
    with app.engine.connect() as conn:      # another worker: it must get the row at once, not wait for the model
        inbound_id = conn.scalar(select(func.max(InboundMessage.id)))
        status = conn.scalar(select(InboundMessage.status).where(InboundMessage.id == inbound_id)
                             .with_for_update(nowait=True))
        conn.rollback()
    still_asking = worker.is_alive()
    worker.join(15)
    assert "error" not in done, done.get("error")
    assert still_asking                     # the looks above happened while the model was thinking
    assert checked_out == 0                 # no session, no transaction open during the call
    assert status is not None
    found = _tickets(app)
    assert len(found) == 1 and found[0].urgency == "urgent"     # the model's answer applied
    assert len(fake.calls) == 1                                 # asked once, though process() ran twice
    assert runs == [inbound_id, inbound_id]
    with app.session() as s:
        assert s.get(InboundMessage, inbound_id).status == "done"


def test_without_the_model_a_message_costs_one_transaction(make_app, sqlite_url, runs):
    """No GRIDBOT_LLM_BASE_URL: the message the model would be asked about is processed once, as before."""
    app = make_app(sqlite_url)
    bot = Bot(app)
    bot.seed()
    bot.send(UNSEEN_ELDER, as_="resident_a", chat="HY-01")
    assert len(runs) == 1


def test_a_message_the_model_is_not_asked_about_costs_one_transaction(make_app, sqlite_url, fake, runs):
    app = make_app(sqlite_url, env=_llm_env(fake))
    bot = Bot(app)
    bot.seed()
    bot.send(URGENT_TEXT, as_="resident_a", chat="HY-01")          # urgent by the rules: never asked
    bot.send("谢谢网格员辛苦了 大家早上好", as_="resident_a", chat="HY-01")   # chatter: not unsure
    assert len(runs) == 2 and fake.calls == []
    assert [tk.urgency for tk in _tickets(app)] == ["urgent"]


@pytest.mark.parametrize("mode", ["slow", "error", "garbage"])
def test_a_failing_or_slow_model_leaves_the_message_handled_as_without_it(make_app, tmp_path, fake, runs, mode,
                                                                          monkeypatch):
    """Timeout, HTTP error, garbage: the re-run gets "no answer" and handles the message exactly as an app without
    the model does (forwarded to a member as unclear), asked once, the budget taken once."""
    fake.mode, fake.slow_seconds = mode, 1.5
    fake.answers[UNSEEN_ELDER] = RAISE
    cfg = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, cfg)
    data = yaml.safe_load((cfg / "llm.yaml").read_text(encoding="utf-8"))
    data["timeout_seconds"] = 0.3
    (cfg / "llm.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    plain = Bot(make_app(f"sqlite:///{tmp_path / 'plain.db'}"))
    plain.seed()
    expected = plain.say(UNSEEN_ELDER, as_="resident_a", chat="HY-01")
    runs.clear()
    taken: list[bool] = []
    real_take = llm.BUDGET.take

    def take(*args, **kw):
        taken.append(real_take(*args, **kw))
        return taken[-1]

    app = make_app(f"sqlite:///{tmp_path / 'asked.db'}", env={**_llm_env(fake), "GRIDBOT_CONFIG_DIR": str(cfg)})
    bot = Bot(app)
    bot.seed()
    monkeypatch.setattr(llm.BUDGET, "take", take)
    said = bot.say(UNSEEN_ELDER, as_="resident_a", chat="HY-01")
    assert said == expected and expected
    assert len(fake.calls) == 1 and taken == [True] and len(runs) == 2
    assert _tickets(app) == []
    with app.session() as s:
        assert s.scalar(select(InboundMessage.status).order_by(InboundMessage.id.desc()).limit(1)) == "done"


def test_a_rerun_that_finds_the_message_done_does_nothing(make_app, sqlite_url, fake, runs, monkeypatch):
    """Another worker finished the message while this one asked the model: the re-run writes nothing more."""
    fake.answers[UNSEEN_ELDER] = RAISE
    app = make_app(sqlite_url, env=_llm_env(fake))
    bot = Bot(app)
    bot.seed()
    real_ask = llm.ask_outside

    def ask_while_another_worker_finishes(settings, q, now, redis=None):
        answer = real_ask(settings, q, now, redis)
        with app.session() as s, s.begin():          # no lock held by us: the other worker is not kept waiting
            row = s.scalar(select(InboundMessage).order_by(InboundMessage.id.desc()).limit(1))
            row.status = "done"
        return answer

    monkeypatch.setattr(llm, "ask_outside", ask_while_another_worker_finishes)
    assert bot.send(UNSEEN_ELDER, as_="resident_a", chat="HY-01") == []
    assert len(runs) == 2 and len(fake.calls) == 1
    assert _tickets(app) == []


def _with_redis(app, redis_conn, redis_prefix):
    app.redis = redis_conn
    app.settings = app.settings.with_overrides(redis_prefix=f"{redis_prefix}:")
    return app


def test_a_retry_after_the_rerun_failed_uses_the_kept_answer(make_app, sqlite_url, fake, runs, monkeypatch,
                                                             redis_conn, redis_prefix):
    """The database goes away in the re-run: the message is failed and RQ retries it. The retry does not ask the
    model again (nor count the budget): the answer was kept in Redis under the message."""
    fake.answers[UNSEEN_ELDER] = RAISE
    app = _with_redis(make_app(sqlite_url, env=_llm_env(fake)), redis_conn, redis_prefix)
    bot = Bot(app)
    bot.seed()
    real_write = process_module.write_replies
    failures = [OperationalError("INSERT", {}, Exception("server closed the connection"))]

    def write_once_failing(*args, **kw):
        if failures:
            raise failures.pop()
        return real_write(*args, **kw)

    monkeypatch.setattr(process_module, "write_replies", write_once_failing)
    with pytest.raises(OperationalError):
        bot.send(UNSEEN_ELDER, as_="resident_a", chat="HY-01")
    inbound_id = runs[0]
    with app.session() as s:
        assert s.get(InboundMessage, inbound_id).status == "failed"
    llm.BUDGET.reset()
    process_module.process(app, inbound_id)             # the RQ retry
    assert len(fake.calls) == 1
    assert [tk.urgency for tk in _tickets(app)] == ["urgent"]
    assert redis_conn.get(f"{redis_prefix}:llm:budget:day:20261102") == b"1"      # counted once


def test_a_second_worker_waits_for_the_answer_being_asked(tmp_path, fake, redis_conn, redis_prefix):
    """The same message on two workers at once: the second waits for the first one's answer instead of asking."""
    settings = Settings.from_env({**_llm_env(fake), "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance"),
                                  "GRIDBOT_REDIS_PREFIX": f"{redis_prefix}:"})
    q = llm.Question(text=UNSEEN_ELDER, understanding=understand(UNSEEN_ELDER),
                     cfg=llm.load_llm_config(DEFAULT_CONFIG_DIR), ref="inbound 7")
    fake.answers[UNSEEN_ELDER] = RAISE
    fake.mode, fake.slow_seconds = "slow", 0.5
    now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    got: list[llm.Answer | None] = []
    first = threading.Thread(target=lambda: got.append(llm.answer_once(settings, q, now, redis_conn, 7)))
    first.start()
    while not fake.calls:
        time.sleep(0.01)
    second = llm.answer_once(settings, q, now, redis_conn, 7)
    first.join(10)
    assert len(fake.calls) == 1
    assert got[0] is not None and got[0].urgent and second is not None and second.urgent
    assert second.reason == ""                         # the model's words are not kept
