"""The callback journal (gridbot/pipeline/journal.py): what the webhook keeps when the database cannot take a callback
is fsync'd, read back whole (a torn last line skipped), drained by whoever may (a live writer's segment is its own),
and stored and processed exactly once however often a drain is repeated or interrupted. SQLite and PostgreSQL."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import func, select

from gridbot.adapters import Arrival
from gridbot.messages import Inbound
from gridbot.models import InboundMessage, OutboxMessage
from gridbot.pipeline.journal import Journal, encode, read_records
from gridbot.pipeline.receive import Unavailable
from gridbot.web import create_app
from tests.conftest import T0
from tests.fakewecom import aibot_message
from tests.fakewecom.fixtures import AIBOT_KEY, AIBOT_TOKEN, Signer

NOW = int(T0.timestamp())


def arrival(i: int, text: str = "帮助") -> Arrival:
    inbound = Inbound(platform="wecom_aibot", sender_id=f"resident_{i}", text=text, chat_type="single",
                      msg_id=f"journal-{i}", at=T0)
    return Arrival(inbound, raw=f'{{"msgid": "journal-{i}"}}', replay_key=f"sig-{i}", replay_ttl=600)


def quiet(journal: Journal) -> Journal:
    """No background drain during the test: it drains when the test says so."""
    journal.retry_seconds = 3600
    return journal


def counts(app) -> tuple[dict, int]:
    with app.session() as s:
        inbound = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        replies = s.scalar(select(func.count()).select_from(OutboxMessage))
    return inbound, replies


def test_kept_callbacks_are_read_back_whole_and_a_torn_last_line_is_skipped(app):
    journal = quiet(app.journal)
    for i in range(3):
        journal.keep("aibot", arrival(i, text="帮助\n第二行"))   # a newline in a message stays inside its record
    [segment] = journal.segments()
    assert segment.stat().st_mode & 0o077 == 0   # personal data: readable by this service's user only
    with open(segment, "ab") as f:   # a crash in the middle of the next write (never answered 200)
        f.write(b'J1 120 0badc0de {"route":"aibot","row":{"dedupe_')
    records, bad = read_records(segment.read_bytes())
    assert [r["row"]["dedupe_key"] for r in records] == [f"wecom_aibot:msg:journal-{i}" for i in range(3)]
    assert bad == 1 and records[0]["route"] == "aibot" and records[0]["row"]["payload"]["text"] == "帮助\n第二行"
    assert journal.backlog() == 3   # whole lines: the torn one was never a callback kept

    result = journal.drain()
    assert (result.stored, result.already, result.left) == (3, 0, 0)
    assert journal.segments() == [] and journal.backlog() == 0
    inbound, replies = counts(app)
    assert inbound == {"done": 3} and replies == 3   # processed, each answered once


def test_a_record_the_database_refuses_is_set_aside_and_the_others_are_stored(app):
    journal = quiet(app.journal)
    for i in range(1, 4):
        journal.keep("aibot", arrival(i))
    journal.close()   # the writer is gone; its segment is edited as a bug or an old version might have written it
    [segment] = journal.segments()
    records, _ = read_records(segment.read_bytes())
    records[1]["row"]["dedupe_key"] = None   # NOT NULL: refused for what it is, not because the database is down
    segment.write_bytes(b"".join(encode(r) for r in records))
    result = journal.drain()
    assert (result.stored, result.rejected, result.left) == (2, 1, 0) and journal.backlog() == 0
    [aside] = (journal.directory / "rejected").iterdir()
    [record], _ = read_records(aside.read_bytes())
    assert record["row"]["sender_id"] == "resident_2"
    assert counts(app)[0] == {"done": 2}


def test_drained_twice_or_interrupted_after_the_insert_each_callback_is_stored_and_processed_once(app, tmp_path):
    journal = quiet(app.journal)
    for i in range(4):
        journal.keep("aibot", arrival(i))
    [segment] = journal.segments()
    shutil.copyfile(segment, tmp_path / "before-drain")

    first = journal.drain()
    assert (first.stored, first.already) == (4, 0)
    assert journal.drain().stored == 0   # nothing left: a second pass is a no-op

    # A crash after the INSERTs, before the segment was removed: the same segment is found again at start-up.
    shutil.copyfile(tmp_path / "before-drain", segment)
    again = journal.drain()
    assert (again.stored, again.already, again.left) == (0, 4, 0)
    inbound, replies = counts(app)
    assert inbound == {"done": 4} and replies == 4   # no second row, no second processing, no second reply


def test_a_segment_held_by_a_live_process_is_its_own_and_drained_by_another_once_that_process_dies(app):
    journal = quiet(app.journal)
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from gridbot.adapters import Arrival
        from gridbot.clock import Clock
        from gridbot.messages import Inbound
        from gridbot.pipeline.journal import Journal
        j = Journal(Path({str(journal.directory)!r}), None, None, Clock(), retry_seconds=3600)
        for i in (10, 11):
            inbound = Inbound(platform="wecom_aibot", sender_id="r", text="帮助", chat_type="single",
                              msg_id=f"journal-{{i}}")
            j.keep("aibot", Arrival(inbound, raw=None, replay_key=str(i), replay_ttl=600))
        print("kept", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "kept"
        journal.keep("aibot", arrival(1))
        assert journal.backlog() == 3

        mine = journal.drain()   # the other process is alive and holds its segment: only this one's is drained
        assert (mine.stored, mine.left) == (1, 0) and journal.backlog() == 2
    finally:
        os.kill(writer.pid, signal.SIGKILL)   # dies without a word: its lock goes with it
        writer.wait()
    theirs = journal.drain()
    assert (theirs.stored, theirs.left) == (2, 0) and journal.backlog() == 0
    assert counts(app)[0] == {"done": 3}


def test_webhook_keeps_a_callback_the_database_cannot_take_answers_200_and_readyz_and_metrics_show_the_backlog(
        make_app, sqlite_url, monkeypatch):
    app = make_app(sqlite_url, env={"GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN, "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY})
    journal = quiet(app.journal)
    client = create_app(gridbot=app).test_client()
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")

    def down(_arrival):
        raise Unavailable("not stored within 3 s (database slow?)")

    monkeypatch.setattr(app.receiver, "receive", down)
    for i in range(2):
        query, body = signer.json_post(aibot_message(f"web-{i}", f"resident_{i}", "帮助"), NOW, nonce=f"w{i}")
        assert client.post(f"/wecom/aibot?{query}", data=body).status_code == 200
    ready = client.get("/readyz").get_json()
    assert ready["journal"] == {"backlog": 2, "detail": "journal: 2 callbacks kept, will be stored when the "
                                                       "database is back"}
    assert "gridbot_inbound_journal_backlog 2.0" in client.get("/metrics").get_data(as_text=True)
    assert counts(app)[0] == {}

    journal.drain()
    assert counts(app)[0] == {"done": 2}
    assert "journal" not in client.get("/readyz").get_json()
    assert "gridbot_inbound_journal_backlog 0.0" in client.get("/metrics").get_data(as_text=True)


def test_webhook_answers_503_only_when_the_journal_cannot_be_written_either(make_app, sqlite_url, tmp_path,
                                                                             monkeypatch):
    not_a_dir = tmp_path / "journal-is-a-file"
    not_a_dir.write_text("")
    app = make_app(sqlite_url, env={"GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN, "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY,
                                    "GRIDBOT_JOURNAL_DIR": str(not_a_dir)})
    client = create_app(gridbot=app).test_client()

    def down(_arrival):
        raise Unavailable("database down")

    monkeypatch.setattr(app.receiver, "receive", down)
    query, body = Signer(AIBOT_TOKEN, AIBOT_KEY, "").json_post(aibot_message("x", "resident_x", "帮助"), NOW)
    assert client.post(f"/wecom/aibot?{query}", data=body).status_code == 503


def test_a_drainer_thread_starts_with_the_first_callback_kept_and_stops_once_all_is_stored(app):
    journal = app.journal
    journal.retry_seconds = 0.05
    journal.keep("aibot", arrival(1))
    for _ in range(200):
        if journal._thread is None:
            break
        journal._stop.wait(0.05)
    assert journal._thread is None and journal.backlog() == 0
    assert counts(app)[0] == {"done": 1}


def test_gridbot_inbound_drain_journal_stores_what_a_process_that_is_gone_left(make_app, sqlite_url, tmp_path):
    from click.testing import CliRunner

    from gridbot.cli import main

    app = make_app(sqlite_url)
    journal = quiet(app.journal)
    for i in range(2):
        journal.keep("aibot", arrival(i))
    journal.close()   # the process that kept them is gone (its segment lock with it)
    env = {"GRIDBOT_DATABASE_URL": sqlite_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance")}
    result = CliRunner(env=env).invoke(main, ["inbound", "drain-journal"])
    assert result.exit_code == 0, result.output
    assert "日志中的回调已入库 2 条，此前已入库 0 条" in result.output
    assert counts(app)[0] == {"done": 2} and journal.backlog() == 0


def test_a_stalled_database_costs_no_callback_more_than_4_seconds_and_none_is_stored_twice(
        make_app, pg_url, wecom_env, redis_conn, fake):
    """The inbound table locked (a stalled database, not a down one) while callbacks keep arriving on the intake
    path: each is answered 200 in under 4 s (nginx's limit; WeCom's is 5 s), journaled when its batch cannot commit
    in time; once the lock goes the journal drains and each message has one row, whichever stored it."""
    import threading
    import time

    from sqlalchemy import create_engine, text

    from tests.factories import seed_world

    app = make_app(pg_url, sync_jobs=False, env=wecom_env)
    journal = quiet(app.journal)
    with app.session() as s, s.begin():
        seed_world(s)
    flask_app = create_app(gridbot=app)
    signer = Signer(AIBOT_TOKEN, AIBOT_KEY, "")

    def post(i: int) -> tuple[int, float]:
        msg = aibot_message(f"stall-{i}", f"resident_{i}", "@网格小助手 你好", chatid="chat-hy-01")
        query, body = signer.json_post(msg, NOW, nonce=f"stall-{i}")
        t0 = time.monotonic()
        status = flask_app.test_client().post(f"/wecom/aibot?{query}", data=body).status_code
        return status, time.monotonic() - t0

    assert post(0)[0] == 200   # connected, the chat known to be bound
    locker = create_engine(pg_url).connect()
    tx = locker.begin()
    locker.execute(text("LOCK TABLE inbound_messages IN EXCLUSIVE MODE"))
    answers: dict[int, tuple[int, float]] = {}

    def send(first: int) -> None:
        for i in range(first, first + 16, 4):
            answers[i] = post(i)
            time.sleep(0.1)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(1, 5)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        tx.rollback()
        locker.close()
    assert sorted(answers) == list(range(1, 17))
    assert {status for status, _ in answers.values()} == {200}
    slowest = max(latency for _, latency in answers.values())
    print(f"\nstalled database: slowest answer {slowest:.2f} s, {journal.backlog()} of 16 journaled")
    assert slowest < 4.0, f"slowest answer {slowest:.2f} s"   # nginx gives up at 4 s, WeCom at 5 s
    assert journal.backlog() > 0
    journal.drain()
    with app.session() as s:
        keys = s.scalars(select(InboundMessage.dedupe_key)).all()
    assert sorted(keys) == sorted(f"wecom_aibot:msg:stall-{i}" for i in range(17))


def test_kept_callbacks_keep_their_status_and_one_from_an_unbound_group_is_stored_unbound_when_drained(app):
    """A callback kept while the database was down skipped the bound-chat check: it is made when drained. One from
    a group bound to no grid is stored 'unbound' (its chat recorded for a leader), one already 'skipped' stays so:
    neither is processed or answered."""
    from gridbot.models import UnknownChat

    journal = quiet(app.journal)
    group = Inbound(platform="wecom_aibot", sender_id="resident_9", text="3栋漏水", chat_type="group",
                    chat_id="chat-nobody-bound", msg_id="journal-unbound", at=T0)
    journal.keep("aibot", Arrival(group, raw="{}", replay_key="sig-u", replay_ttl=600))
    skipped = Arrival(Inbound(platform="wecom_aibot", sender_id="resident_8", kind="file", chat_type="single",
                              msg_id="journal-file", at=T0), raw="{}", replay_key="sig-f", replay_ttl=600,
                      status="skipped", error="file: not handled")
    journal.keep("aibot", skipped)
    journal.keep("aibot", arrival(1))
    result = journal.drain()
    assert (result.stored, result.left) == (3, 0)
    inbound, replies = counts(app)
    assert inbound == {"unbound": 1, "skipped": 1, "done": 1} and replies == 1
    with app.session() as s:
        assert s.scalars(select(UnknownChat.chat_id)).all() == ["chat-nobody-bound"]
