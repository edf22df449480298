"""The chat archive (issue 16 points 1-5): a resident's plain message in a customer group, put into the embedded
archive, pulled, decrypted and turned into a ticket; exactly once; one puller at a time; key rotation; recall;
consent; a member's answer in the group; the SDK missing. On SQLite and PostgreSQL (db_url)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from gridbot.archive import local, pull
from gridbot.archive.keys import new_key_file
from gridbot.models import (
    ArchiveConsent,
    ArchiveCursor,
    GridChat,
    InboundMessage,
    OutboxMessage,
    Ticket,
    ToolbarItem,
    UnknownChat,
)
from gridbot.models.org import CHAT_CUSTOMER_GROUP
from tests.factories import Bot

RESIDENT = "wmResidentA0001"
OTHER = "wmResidentB0002"
ROOM = "chat-hy-01"


@pytest.fixture(scope="session")
def archive_keys(tmp_path_factory):
    """Two private keys (publickey_ver 1 and 2), made once: RSA key generation is slow."""
    folder = tmp_path_factory.mktemp("archive-keys")
    for ver in (1, 2):
        new_key_file(folder / f"key{ver}.pem")
    return f"1:{folder / 'key1.pem'},2:{folder / 'key2.pem'}"


def archive_env(keys: str, **more: str) -> dict[str, str]:
    return {"GRIDBOT_ARCHIVE_SOURCE": "local", "GRIDBOT_ARCHIVE_PRIVATE_KEYS": keys, **more}


@pytest.fixture
def grid(make_app, db_url, archive_keys):
    """The demo-like community whose grid groups are customer groups fed by the embedded archive."""
    app = make_app(db_url, env=archive_env(archive_keys))
    bot = Bot(app)
    bot.seed()
    with app.session() as s, s.begin():
        s.execute(update(GridChat).values(kind=CHAT_CUSTOMER_GROUP))
    return bot


def tickets_of(app, reporter=RESIDENT):
    with app.session() as s:
        return s.scalars(select(Ticket).where(Ticket.reporter_id == reporter).order_by(Ticket.id)).all()


def rows(app):
    with app.session() as s:
        return s.scalars(select(InboundMessage).where(InboundMessage.platform == "wecom_archive")
                         .order_by(InboundMessage.id)).all()


def cursor(app):
    with app.session() as s:
        return s.scalar(select(ArchiveCursor).where(ArchiveCursor.source == "local"))


def test_a_residents_plain_message_in_a_customer_group_becomes_a_ticket(grid):
    app = grid.app
    msgid = local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")   # no @: there is no bot to mention
    assert msgid.endswith("_external")
    [ticket] = tickets_of(app)
    assert ticket.chat_id == ROOM and ticket.status == "reported" and ticket.category
    [row] = rows(app)
    assert row.status == "done" and row.payload["mentioned"] is False
    assert row.payload["event_data"]["sender_kind"] == "resident"
    assert row.dedupe_key == f"wecom_archive:msg:{msgid}"
    # the acknowledgement is prepared for the group (a ready item the member posts from the chat toolbar), and the
    # member is told privately with the text itself: nothing goes to the customer group by itself
    with app.session() as s:
        outbox = s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == row.id)).all()
        items = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == ROOM)).all()
    assert [(o.target_type, o.target) for o in outbox][:1] == [("user", "mem_zhao")]
    assert [i.status for i in items] == ["ready"] and ticket.number in items[0].text
    assert ticket.number in outbox[0].content["text"]
    assert cursor(app).seq == 1 and cursor(app).pulled_at is not None


def test_chatter_in_the_group_stays_chatter(grid):
    app = grid.app
    local.post(app, ROOM, RESIDENT, "哈哈，今天天气真好")
    assert tickets_of(app) == []
    [row] = rows(app)
    assert row.status == "done"
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.inbound_id == row.id)) == 0


def test_pulling_twice_and_a_crash_before_the_commit_store_each_message_once(grid, monkeypatch):
    app = grid.app
    archive = app.archive
    for i in range(5):
        archive.put(local.message(ROOM, RESIDENT, "text", {"content": f"闲聊 {i}"}, msgid=f"m{i}"))
    # the first pull dies after fetching and decrypting, before its transaction commits
    real = pull._insert

    def crash(*a, **kw):
        real(*a, **kw)
        raise RuntimeError("killed between fetch and commit")

    monkeypatch.setattr(pull, "_insert", crash)
    with pytest.raises(RuntimeError):
        pull.pull(app)
    assert rows(app) == [] and cursor(app).seq == 0
    monkeypatch.setattr(pull, "_insert", real)
    first = pull.pull(app)
    again = pull.pull(app)
    assert (first.stored, again.stored, again.fetched) == (5, 0, 0)
    assert [r.dedupe_key for r in rows(app)] == [f"wecom_archive:msg:m{i}_external" for i in range(5)]
    # the cursor moved back (a lost commit) re-fetches, and the msgid dedupes
    with app.session() as s, s.begin():
        s.execute(update(ArchiveCursor).values(seq=2))
    assert pull.pull(app).stored == 0 and len(rows(app)) == 5 and cursor(app).seq == 5


def test_catch_up_reads_page_after_page(make_app, db_url, archive_keys):
    app = make_app(db_url, env=archive_env(archive_keys, GRIDBOT_ARCHIVE_PULL_LIMIT="3"))
    Bot(app).seed()
    for i in range(10):
        app.archive.put(local.message(ROOM, RESIDENT, "text", {"content": f"闲聊 {i}"}, msgid=f"c{i}"))
    result = pull.pull(app)
    assert (result.fetched, result.stored, result.pages, result.seq) == (10, 10, 4, 10)


def test_two_pullers_at_once_one_skips(grid):
    app = grid.app
    held, release = threading.Event(), threading.Event()

    def hold():
        with pull.puller_lock(app) as lock:
            assert lock is not None
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        assert pull.pull(app).busy
    finally:
        release.set()
        t.join()
    assert not pull.pull(app).busy


def test_key_rotation_reads_both_versions(grid):
    app = grid.app
    app.archive.put(local.message(ROOM, RESIDENT, "text", {"content": "1栋2单元楼道灯坏了好几天了"}),
                    publickey_ver=1)
    app.archive.put(local.message(ROOM, OTHER, "text", {"content": "3栋门口的下水道堵了，污水漫出来了"}),
                    publickey_ver=2)
    assert pull.pull(app).stored == 2
    assert len(tickets_of(app)) == 1 and len(tickets_of(app, OTHER)) == 1


def test_a_version_without_its_key_is_kept_unreadable_and_named(grid, tmp_path, caplog):
    app = grid.app
    other = tmp_path / "other.pem"
    new_key_file(other, bits=1024)
    from gridbot.archive.keys import PrivateKeys

    stranger = local.LocalArchive(app.engine, PrivateKeys.from_files([(3, other)]))
    stranger.put(local.message(ROOM, RESIDENT, "text", {"content": "x"}, msgid="v3"))
    pull.pull(app)
    [row] = rows(app)
    assert row.status == "unreadable" and "publickey_ver 3" in row.error
    assert "-----BEGIN" not in caplog.text and "GRIDBOT_ARCHIVE_PRIVATE_KEYS" in caplog.text


def test_recall_withdraws_the_ticket_it_alone_opened_and_tells_the_member(grid):
    app = grid.app
    msgid = local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    [ticket] = tickets_of(app)
    local.post(app, ROOM, RESIDENT, "", msgtype="revoke", body={"pre_msgid": msgid})
    [ticket] = tickets_of(app)
    assert ticket.status == "rejected"
    with app.session() as s:
        notes = s.scalars(select(OutboxMessage.content).where(OutboxMessage.target_type == "user")).all()
    assert any(ticket.number in n["text"] and "撤回" in n["text"] for n in notes)


def test_a_recall_after_the_ticket_was_accepted_changes_nothing(grid):
    app = grid.app
    msgid = local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    [ticket] = tickets_of(app)
    grid.say(f"受理 {ticket.number}", as_="mem_zhao")
    local.post(app, ROOM, RESIDENT, "", msgtype="revoke", body={"pre_msgid": msgid})
    assert tickets_of(app)[0].status == "accepted"


def test_a_resident_who_declined_archiving_is_not_read(grid):
    app = grid.app
    # the answer to the consent notice comes in the resident's 1:1 chat with a member (no roomid, doc 91774)
    app.archive.put(local.message(None, RESIDENT, "disagree", {"userid": RESIDENT, "disagree_time": 1},
                                  at_ms=int(app.clock.now().timestamp() * 1000)))
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    assert tickets_of(app) == []
    declined = rows(app)[-1]
    assert declined.status == "skipped" and "declined" in declined.error
    assert "楼道灯" not in (declined.raw or "") and "楼道灯" not in str(declined.payload)
    with app.session() as s:
        assert s.scalar(select(ArchiveConsent.agreed).where(ArchiveConsent.external_userid == RESIDENT)) is False
    local.post(app, ROOM, RESIDENT, "", msgtype="agree", body={"userid": RESIDENT, "agree_time": 2})
    local.post(app, ROOM, RESIDENT, "2栋3单元楼道灯坏了好几天了")
    assert len(tickets_of(app)) == 1


def test_a_members_message_in_the_group_is_the_response(grid, clock):
    app = grid.app
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    clock.set(clock.now() + timedelta(minutes=5))
    local.post(app, ROOM, "mem_zhao", "收到，我下午过去看看")
    [ticket] = tickets_of(app)
    assert ticket.status == "accepted" and ticket.accepted_at == clock.now()
    with app.session() as s:
        private = s.scalars(select(OutboxMessage).where(OutboxMessage.target == "mem_zhao")).all()
        to_group = s.scalars(select(OutboxMessage).where(OutboxMessage.target == ROOM)).all()
    assert any(ticket.number in o.content["text"] and "响应" in o.content["text"] for o in private)
    with app.session() as s:
        items = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == ROOM)).all()
    assert to_group == [] and len(items) == 1   # only the acknowledgement, prepared: the member's reply adds none


def test_a_members_command_in_the_group_is_answered_privately(grid):
    app = grid.app
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    [ticket] = tickets_of(app)
    local.post(app, ROOM, "mem_zhao", f"受理 {ticket.number}")
    assert tickets_of(app)[0].status == "accepted"
    with app.session() as s:
        last = s.scalars(select(InboundMessage).where(InboundMessage.sender_id == "mem_zhao")).one()
        answers = s.scalars(select(OutboxMessage).where(OutboxMessage.inbound_id == last.id)).all()
    assert answers and all(o.target_type == "user" and o.target == "mem_zhao" for o in answers)


def test_a_room_bound_to_no_grid_is_kept_unbound_and_recorded(grid):
    app = grid.app
    local.post(app, "wrUnboundRoom", RESIDENT, "1栋2单元楼道灯坏了好几天了")
    [row] = rows(app)
    assert row.status == "unbound" and tickets_of(app) == []
    with app.session() as s:
        assert s.scalar(select(UnknownChat.platform).where(UnknownChat.chat_id == "wrUnboundRoom")) == \
            "wecom_archive"


def test_one_to_one_chats_are_not_read(grid):
    app = grid.app
    app.archive.put(local.message(None, RESIDENT, "text", {"content": "私聊"}, msgid="p1"))
    result = pull.pull(app)
    assert result.fetched == 1 and result.stored == 0 and rows(app) == [] and cursor(app).seq == 1


# -- the SDK missing, the lag ---------------------------------------------------------------------------------
@pytest.fixture
def cli(wecom_env, pg_url, tmp_path, monkeypatch, archive_keys):
    """`gridbot ...` in this process, on PostgreSQL and the fake WeCom, with the archive read through the SDK."""
    env = {**wecom_env, "GRIDBOT_DATABASE_URL": pg_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "cli"),
           "GRIDBOT_ARCHIVE_SOURCE": "sdk", "GRIDBOT_ARCHIVE_SECRET": "archive-secret",
           "GRIDBOT_ARCHIVE_PRIVATE_KEYS": archive_keys}
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str):
        from click.testing import CliRunner

        from gridbot.cli import main
        return CliRunner().invoke(main, list(args))
    return run


def test_without_the_sdk_gridbot_runs_and_wecom_check_says_why(make_app, pg_url, wecom_env, archive_keys, cli,
                                                                 monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pywecomarchive", None)   # not installed here
    env = {**wecom_env, "GRIDBOT_ARCHIVE_SOURCE": "sdk", "GRIDBOT_ARCHIVE_SECRET": "s",
           "GRIDBOT_ARCHIVE_PRIVATE_KEYS": archive_keys}
    app = make_app(pg_url, env=env)
    bot = Bot(app)
    bot.seed()
    assert app.archive is None and "pywecomarchive" in app.archive_problem
    assert "已受理" in bot.said("1栋2单元楼道灯坏了好几天了", as_="res_a") or tickets_of(app, "res_a")
    from gridbot.web import create_app

    ready = create_app(gridbot=app).test_client().get("/readyz").get_json()
    assert ready["archive"]["status"] == "broken" and "gridbot[archive]" in ready["archive"]["detail"]
    result = cli("wecom", "check")
    assert result.exit_code == 1
    assert "会话内容存档读不了" in result.output and "pip install 'gridbot[archive]'" in result.output


def test_an_sdk_that_does_not_load_on_this_machine_is_named(monkeypatch):
    """The package is there but its libWeWorkFinanceSdk_C.so does not load (another OS or CPU)."""
    import types

    from gridbot.archive import sdk

    class SdkError(Exception):
        pass

    def default_library():
        raise SdkError("当前系统或架构不受本地 SDK 支持")

    fake = types.ModuleType("pywecomarchive")
    native = types.ModuleType("pywecomarchive._native")
    native.default_library = default_library
    errors = types.ModuleType("pywecomarchive.errors")
    errors.SdkError = SdkError
    for name, module in (("pywecomarchive", fake), ("pywecomarchive._native", native),
                         ("pywecomarchive.errors", errors)):
        monkeypatch.setitem(__import__("sys").modules, name, module)
    monkeypatch.setattr(sdk, "CLASHING_MODULES", ())   # whatever this test process loaded before
    problem = sdk.load_problem()
    assert "libWeWorkFinanceSdk_C.so" in problem and "Linux x86_64/arm64" in problem


def test_the_lag_is_a_gauge_and_readyz_alarms_past_a_day(grid, clock):
    from gridbot.web import create_app

    app = grid.app
    client = create_app(gridbot=app).test_client()
    assert client.get("/readyz").get_json()["archive"]["status"] == "not_pulled_yet"
    pull.pull(app)
    clock.set(clock.now() + timedelta(hours=2))
    body = client.get("/readyz").get_json()
    assert body["archive"] == {"status": "behind", "lag_seconds": 7200, "source": "local"}
    assert body["status"] == "ok"
    assert "gridbot_archive_lag_seconds 7200.0" in client.get("/metrics").get_data(as_text=True)
    clock.set(clock.now() + timedelta(days=1))
    body = client.get("/readyz").get_json()
    assert body["archive"]["status"] == "alarm" and body["status"] == "degraded"


def test_the_digest_warns_past_an_hour_and_the_console_alarms_past_a_day(grid, clock):
    import re

    from gridbot.services import digest
    from gridbot.web import create_app
    from gridbot.web.auth import create_account
    from tests.console_helpers import login

    app = grid.app
    pull.pull(app)                                   # pulled to the end at T0
    with app.session() as s, s.begin():
        create_account(s, username="wang", password="archive-test-pw", member_userid="sec_wang", now=clock.now())
        create_account(s, username="zhao", password="archive-test-pw", member_userid="mem_zhao", now=clock.now())

    def digest_text(hours_later: int) -> str:
        day = (clock.now() + timedelta(hours=hours_later)).astimezone(app.settings.tz).date()
        with app.session() as s:
            d = digest.build(s, community="HY", day=day, tz=app.settings.tz, console_base_url="http://x")
        return digest.render_markdown(d)

    assert "会话存档" not in digest_text(0)
    assert re.search(r"会话存档已 \d+ 小时没有拉取", digest_text(48))   # the next days' digests: behind

    def banners(user: str) -> list[str]:
        client = create_app({"TESTING": True}, gridbot=app).test_client()
        login(client, user, "archive-test-pw")
        page = client.get("/console/tickets").get_data(as_text=True)
        return re.findall(r'<div class="flash error archive-alarm"[^>]*>([^<]*)</div>', page)

    clock.set(clock.now() + timedelta(hours=23))
    assert banners("wang") == []
    clock.set(clock.now() + timedelta(hours=2))
    [line] = banners("wang")
    assert "25 小时" in line and "5 天" in line
    assert banners("zhao") == []                       # shown to those who configure


def test_gridbot_say_plays_a_resident_in_a_customer_group(make_app, sqlite_url, archive_keys, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gridbot.cli import main

    app = make_app(sqlite_url, env=archive_env(archive_keys))
    Bot(app).seed()
    with app.session() as s, s.begin():
        s.execute(update(GridChat).values(kind=CHAT_CUSTOMER_GROUP))
    for key, value in {**archive_env(archive_keys), "GRIDBOT_DATABASE_URL": sqlite_url,
                       "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance")}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["say", "--chat", ROOM, "--as", RESIDENT, "1栋2单元楼道灯坏了好几天了"])
    assert result.exit_code == 0, result.output
    [ticket] = tickets_of(app)
    assert ticket.number in result.output
    assert rows(app)[0].platform == "wecom_archive"


def test_the_archives_new_messages_event_on_the_app_callback_queues_a_pull(make_app, pg_url, wecom_env, archive_keys,
                                                                          app_signer):
    """产生会话回调事件 (msgaudit_notify) arrives on the app callback: answered 200, and a pull brings the new
    messages in. Redelivered, it pulls nothing twice."""
    from gridbot.web import create_app
    from tests.conftest import T0

    app = make_app(pg_url, env={**wecom_env, **archive_env(archive_keys)})
    Bot(app).seed()
    app.archive.put(local.message(ROOM, RESIDENT, "text", {"content": "1栋2单元楼道灯坏了好几天了"}))
    now = int(T0.timestamp())
    xml = ("<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
           f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[msgaudit_notify]]></Event><AgentID>2000004</AgentID></xml>")
    client = create_app(gridbot=app).test_client()
    for attempt in range(2):
        query, body = app_signer.xml_post(xml, now + attempt)
        assert client.post(f"/wecom/callback?{query}", data=body).status_code == 200
    assert len(tickets_of(app)) == 1 and len(rows(app)) == 1
    with app.session() as s:
        event = s.scalar(select(InboundMessage).where(InboundMessage.platform == "wecom_app"))
    assert event.kind == "event" and event.status == "done"


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
AMR_VOICE = b"#!AMR\n" + b"\x3c" * 64


def test_pictures_and_voice_from_the_group_are_kept_as_the_tickets_evidence(grid):
    from gridbot.services import evidence

    app = grid.app
    local.post(app, ROOM, RESIDENT, "", msgtype="voice", body={"voice_size": 70, "play_length": 3}, media=AMR_VOICE)
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    local.post(app, ROOM, RESIDENT, "", msgtype="image", body={"md5sum": "x", "filesize": 72}, media=PNG)
    [ticket] = tickets_of(app)
    with app.session() as s:
        kept = evidence.of_ticket(s, ticket.id)
    assert [(e.mime, e.status, e.source) for e in kept] == [("audio/amr", "stored", "archive"),
                                                           ("image/png", "stored", "archive")]
    assert (app.settings.instance_dir / kept[1].path).read_bytes() == PNG
    # the member sees the voice as "语音，请收听" on the ticket's page, and can fetch it
    from gridbot.web import create_app
    from gridbot.web.auth import create_account
    from tests.console_helpers import login

    with app.session() as s, s.begin():
        create_account(s, username="zhao", password="archive-test-pw", member_userid="mem_zhao", now=app.clock.now())
    client = create_app({"TESTING": True}, gridbot=app).test_client()
    login(client, "zhao", "archive-test-pw")
    page = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "语音，请收听（1）" in page
    voice = client.get(f"/console/evidence/{kept[0].id}")
    assert voice.status_code == 200 and voice.data == AMR_VOICE and voice.mimetype == "audio/amr"


def test_the_coverage_page_lists_the_residents_who_declined_archiving(grid, clock):
    from gridbot.web import create_app
    from gridbot.web.auth import create_account
    from tests.console_helpers import login

    app = grid.app
    local.post(app, ROOM, RESIDENT, "", msgtype="disagree", body={"userid": RESIDENT, "disagree_time": 1})
    local.post(app, ROOM, RESIDENT, "我不同意存档，但我家楼道灯坏了")
    local.post(app, ROOM, OTHER, "今天天气真好")
    with app.session() as s, s.begin():
        create_account(s, username="zhao", password="archive-test-pw", member_userid="mem_zhao", now=clock.now())
    client = create_app({"TESTING": True}, gridbot=app).test_client()
    login(client, "zhao", "archive-test-pw")
    page = client.get("/console/coverage").get_data(as_text=True)
    assert "不同意会话存档的居民（1）" in page and RESIDENT in page and OTHER not in page


def test_on_sqlite_with_redis_the_lock_is_in_redis_and_a_dead_holders_lock_expires(make_app, sqlite_url, archive_keys,
                                                                                   redis_conn, redis_prefix):
    from tests.conftest import REDIS_URL

    app = make_app(sqlite_url, env=archive_env(archive_keys, GRIDBOT_REDIS_URL=REDIS_URL,
                                               GRIDBOT_REDIS_PREFIX=redis_prefix + ":"))
    Bot(app).seed()
    app.archive.put(local.message(ROOM, RESIDENT, "text", {"content": "闲聊"}))
    key = f"{redis_prefix}:archive:puller"
    redis_conn.set(key, b"a-killed-puller", px=300)   # held by a process that died: expires by itself
    assert pull.pull(app).busy
    import time

    time.sleep(0.4)
    result = pull.pull(app)
    assert not result.busy and result.stored == 1
    assert redis_conn.get(key) is None                 # let go after the pull


def test_link_and_mini_program_cards_are_chatter_unless_their_words_ask(grid):
    app = grid.app
    local.post(app, ROOM, RESIDENT, "", msgtype="link",
               body={"title": "今日菜价", "description": "超市特价", "link_url": "https://example.invalid"})
    local.post(app, ROOM, RESIDENT, "", msgtype="weapp", body={"title": "小区团购", "description": "水果"})
    assert tickets_of(app) == []
    local.post(app, ROOM, OTHER, "", msgtype="mixed", body={"item": [
        {"type": "text", "content": '{"content": "3栋门口的下水道堵了，污水漫出来了"}'}]})
    assert len(tickets_of(app, OTHER)) == 1


def _fresh_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`code` in a new interpreter: what a process loaded before decides whether the SDK's library can load."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parents[2])


def test_the_real_sdk_loads_here_and_its_errors_are_said(sqlite_url, archive_keys, tmp_path):
    """Only where gridbot[archive] is installed (Linux x86_64/arm64): the native library loads in a gridbot process;
    with WeCom out of reach (no network in the tests) GetChatData's error comes back as a sentence, logged once; and
    the digest's chart (matplotlib) is drawn after it in the same process."""
    pytest.importorskip("pywecomarchive")
    from gridbot import migrate

    migrate.upgrade(sqlite_url)
    done = _fresh_python("""
        import logging
        import os
        from gridbot.bootstrap import build, run_as
        from gridbot.config import Settings
        from gridbot.archive import sdk
        from gridbot.jobs import pull_archive
        records = []
        logging.getLogger().addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: records.append(r)})())
        app = build(Settings.from_env(dict(os.environ)), sync_jobs=True)
        assert isinstance(app.archive, sdk.SdkArchive) and app.archive_problem is None, app.archive_problem
        assert run_as(app, pull_archive) == 0
        said = [r.getMessage() for r in records if "GetChatData" in r.getMessage()]
        assert len(said) == 1 and "错误码" in said[0], said
        import matplotlib.pyplot as plt
        fig = plt.figure(); fig.text(0.1, 0.1, "x"); fig.savefig(os.environ["OUT"])
        print("ok")
        """, env={"GRIDBOT_DATABASE_URL": sqlite_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path), "GRIDBOT_REDIS_URL": "",
                  "GRIDBOT_WECOM_CORP_ID": "ww1436e0e65a779aee", "GRIDBOT_ARCHIVE_SOURCE": "sdk",
                  "GRIDBOT_ARCHIVE_SECRET": "not-the-secret", "GRIDBOT_ARCHIVE_PRIVATE_KEYS": archive_keys,
                  "GRIDBOT_ARCHIVE_SDK_TIMEOUT": "1", "OUT": str(tmp_path / "chart.png")})
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_a_process_that_loaded_matplotlib_first_is_told_not_aborted():
    """Loading the SDK's library after kiwisolver (matplotlib's C++ part) aborts the process ("free(): invalid
    pointer", seen in the full test run): such a process gets a sentence that says so instead."""
    pytest.importorskip("pywecomarchive")
    done = _fresh_python("""
        import kiwisolver
        from gridbot.archive import sdk
        print(sdk.load_problem())
        """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "matplotlib" in done.stdout and "重启" in done.stdout


def test_a_catch_up_is_not_a_flood_but_a_flood_in_the_group_still_is(grid, clock):
    app = grid.app
    start = int(clock.now().timestamp() * 1000) - 6 * 3600 * 1000    # written over the last six hours, pulled now
    app.archive.put_many([local.message(ROOM, RESIDENT, "text", {"content": f"闲聊 {i}"}, at_ms=start + i * 600_000)
                          for i in range(14)])
    assert pull.pull(app).stored == 14
    with app.session() as s:
        said = s.scalars(select(OutboxMessage.content)).all()
    assert not any("太快" in c["text"] for c in said)
    assert rows(app)[0].received_at == clock.now() - timedelta(hours=6)
    now = int(clock.now().timestamp() * 1000)
    app.archive.put_many([local.message(ROOM, OTHER, "text", {"content": f"刷屏 {i}"}, at_ms=now - 30_000 + i * 1000)
                          for i in range(12)])
    pull.pull(app)
    with app.session() as s:
        flooded = s.scalars(select(ToolbarItem.text).where(ToolbarItem.chat_id == ROOM)).all()
    assert len(flooded) == 1 and "太快" in flooded[0]   # once, after the tenth of that minute (for the member to post)


def test_a_ticket_answered_in_the_group_or_withdrawn_shows_its_timeline(grid, clock):
    """The member's 工单 command (and the console's ticket page) names every step: a group answer and a recall too."""
    app = grid.app
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    local.post(app, ROOM, "mem_zhao", "收到，我下午过去看看")
    recalled = local.post(app, ROOM, OTHER, "2栋1单元电梯坏了，困了好久")
    local.post(app, ROOM, OTHER, "", msgtype="revoke", body={"pre_msgid": recalled})
    [answered], [withdrawn] = tickets_of(app), tickets_of(app, OTHER)
    assert (answered.status, withdrawn.status) == ("accepted", "rejected")
    answered_text = grid.said(f"工单 {answered.number}", as_="mem_zhao", private=True)
    withdrawn_text = grid.said(f"工单 {withdrawn.number}", as_="mem_zhao", private=True)
    assert "群内答复受理" in answered_text and "收到，我下午过去看看" in answered_text
    assert "居民撤回" in withdrawn_text


def test_a_recall_also_withdraws_the_prepared_acknowledgement(grid, clock):
    """A withdrawn ticket's acknowledgement is not offered for posting, nor counted as 待群内回复."""
    from gridbot.services import toolbar

    app = grid.app
    msgid = local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    local.post(app, ROOM, RESIDENT, "", msgtype="revoke", body={"pre_msgid": msgid})
    clock.set(clock.now() + timedelta(days=1))
    with app.session() as s:
        [item] = s.scalars(select(ToolbarItem).where(ToolbarItem.chat_id == ROOM)).all()
        assert item.status == "dismissed"
        assert toolbar.waiting(s, None, clock.now()) == 0


def test_a_members_own_words_in_the_group_count_as_a_timely_response(grid, clock):
    """Point 4: the member answering in the group is the response, in 响应率 and in 待群内回复 alike; the
    acknowledgement they did not post stops waiting (they are told). Posting one ticket's acknowledgement answers
    that ticket only: another resident's is still to post."""
    from gridbot.services import toolbar
    from gridbot.services.metrics import ticket_metrics

    app = grid.app
    start = clock.now()
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")
    clock.set(clock.now() + timedelta(minutes=5))
    local.post(app, ROOM, "mem_zhao", "收到，我下午过去看看")
    [ticket] = tickets_of(app)
    assert ticket.status == "accepted"
    with app.session() as s:
        told = s.scalars(select(OutboxMessage.content).where(OutboxMessage.target == "mem_zhao")).all()
    assert any("不用再发" in c["text"] for c in told)
    local.post(app, ROOM, OTHER, "2栋1单元电梯坏了，困了好久")
    local.post(app, ROOM, RESIDENT, "1栋1单元门口下水道堵了，味道很大")
    [elevator], [drain] = tickets_of(app, OTHER), tickets_of(app)[1:]
    with app.session() as s:
        ack = s.scalar(select(ToolbarItem.text).where(ToolbarItem.ticket_id == elevator.id))
    local.post(app, ROOM, "mem_zhao", ack)   # the elevator's acknowledgement, posted by hand
    assert [tk.status for tk in (*tickets_of(app, OTHER), *tickets_of(app)[1:])] == ["accepted", "reported"]
    clock.set(start + timedelta(days=1))
    with app.session() as s:
        assert toolbar.waiting(s, None, clock.now()) == 1          # the drain's, not the first two
        [waiting] = s.scalars(select(ToolbarItem).where(ToolbarItem.status == "ready")).all()
        assert waiting.ticket_id == drain.id
        rates = ticket_metrics(s, since=start, until=clock.now())
    assert rates["response_rate"] == pytest.approx(2 / 3, abs=1e-3)   # the drain was never answered


def test_a_group_the_ai_bot_hears_itself_is_not_read_twice(grid):
    """An internal group with the AI bot also shows in the archive (a licensed member is in it): the bot's own
    callback hears it, so the archive's copy is kept, not processed (no second ticket, no second command)."""
    from gridbot.models.org import CHAT_AIBOT_GROUP

    app = grid.app
    room = grid.chat("HY-02")
    with app.session() as s, s.begin():
        s.execute(update(GridChat).where(GridChat.chat_id == room).values(kind=CHAT_AIBOT_GROUP))
    local.post(app, room, "mem_sun", "3栋1单元电梯坏了，有人被困")
    local.post(app, ROOM, RESIDENT, "1栋2单元楼道灯坏了好几天了")   # a customer group's still is
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket).where(Ticket.chat_id == room)) == 0
    first, second = rows(app)
    assert first.status == "skipped" and "AI bot" in first.error
    assert second.status == "done" and len(tickets_of(app)) == 1


def test_a_reply_only_for_one_resident_names_that_resident_to_the_member(grid):
    """Point 9 without 微信客服: the member asked to follow up one to one is told with whom (their name in the
    group, else their id), or they could not."""
    from gridbot.messages import Inbound, Reply
    from gridbot.models import ChatIdentity
    from gridbot.services.outbox import write_replies

    app = grid.app
    with app.session() as s, s.begin():
        s.add(ChatIdentity(platform="wecom", user_id=RESIDENT, display_name="张阿姨"))
    for sender in (RESIDENT, OTHER):
        asked = Inbound(platform="wecom_archive", sender_id=sender, chat_id=ROOM, chat_type="group", text="电话多少",
                        msg_id=f"m-{sender}", event_data={"sender_kind": "resident"})
        with app.session() as s, s.begin():
            write_replies(s, asked, [Reply("请联系 13812345678", to_chat=ROOM)], app.clock.now())
    with app.session() as s:
        notes = [c["text"] for c in s.scalars(select(OutboxMessage.content).where(OutboxMessage.target == "mem_zhao"))]
    assert len(notes) == 2 and all("一对一" in n and "13812345678" in n for n in notes)
    assert "张阿姨" in notes[0] and OTHER in notes[1]
