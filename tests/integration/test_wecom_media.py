"""Pictures through the outbox against the fake WeCom: app messages and appchats upload (media/upload) and send
the media_id, robots take base64; oversized files die with a reason; and the daily digest's chart reaches the
secretary after the markdown, once. PostgreSQL + Redis + a real HTTP server on loopback."""
from __future__ import annotations

import hashlib
import io
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gridbot.messages import Reply
from gridbot.models import GridChat, OutboxMessage
from gridbot.pipeline import delivery
from gridbot.services import outbox
from tests.factories import Bot, seed_world
from tests.unit.test_digest import DAY, seed_fortnight

ROBOT_KEY = "robot-key-hy01"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def app(make_app, pg_url, wecom_env):
    app = make_app(pg_url, sync_jobs=False, env=wecom_env)   # rows wait in RQ: each test delivers by hand
    with app.session() as s, s.begin():
        seed_world(s)
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-01").values(robot_key=ROBOT_KEY))
    return app


def png_file(app, name: str = "charts/test.png") -> bytes:
    """A small real PNG (drawn by matplotlib) written under the instance dir; its bytes."""
    import numpy as np
    from matplotlib.image import imsave

    out = io.BytesIO()
    imsave(out, np.linspace(0, 1, 64 * 48).reshape(48, 64), format="png")
    path = app.settings.instance_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return out.getvalue()


def big_file(app, name: str, size: int) -> None:
    path = app.settings.instance_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG_SIGNATURE + b"\0" * (size - len(PNG_SIGNATURE)))


def write_image(app, content: dict, **target: str) -> int:
    with app.session() as s, s.begin():
        (r,) = outbox.write_replies(s, None, [Reply("", **target)], now=app.clock.now(), platform="wecom_app")
        r.content = {"kind": "image", **content}
        return r.id


def row(app, oid: int) -> OutboxMessage:
    with app.session() as s:
        return s.get(OutboxMessage, oid)


def decodes(png: bytes) -> tuple[int, ...]:
    from matplotlib.image import imread

    return imread(io.BytesIO(png), format="png").shape


def test_an_app_message_image_is_uploaded_once_and_a_5xx_on_send_does_not_upload_again(app, fake, clock):
    png = png_file(app)
    oid = write_image(app, {"path": "charts/test.png", "filename": "简报.png"}, to_user="mem_zhao")
    fake.fail_only, fake.fail_next = "/cgi-bin/message/send", 1
    assert delivery.deliver(app, oid) == "pending"
    clock.advance(seconds=delivery.BACKOFF_SECONDS[0])
    assert delivery.deliver(app, oid) == "sent"
    (upload,) = fake.uploads()
    assert upload.args["type"] == "image" and upload.body["_fields"] == ["media"]
    assert upload.body["_filename"] == "简报.png"
    assert len([r for r in fake.received if r.path == "/cgi-bin/message/send"]) == 2     # tried twice
    assert fake.images_seen("/cgi-bin/message/send", to="mem_zhao") == [png]              # seen once
    (msg,) = fake.sent("/cgi-bin/message/send")
    assert msg.body["agentid"] == 1000002 and msg.body["enable_duplicate_check"] == 1


def test_a_media_id_older_than_three_days_is_uploaded_again(app, fake, clock):
    png = png_file(app)
    oid = write_image(app, {"path": "charts/test.png"}, to_user="mem_sun")
    with app.session() as s, s.begin():   # an upload from a try 3 days ago: WeCom has forgotten that media_id
        s.execute(update(OutboxMessage).where(OutboxMessage.id == oid).values(content={
            "kind": "image", "path": "charts/test.png", "media_id": "3expired",
            "media_uploaded_at": (clock.now() - timedelta(days=3)).isoformat()}))
    assert delivery.deliver(app, oid) == "sent"
    assert len(fake.uploads()) == 1
    assert fake.images_seen("/cgi-bin/message/send", to="mem_sun") == [png]


def test_a_revoked_token_on_upload_is_fetched_again(app, fake):
    png = png_file(app)
    first, second = (write_image(app, {"path": "charts/test.png"}, to_user=u) for u in ("mem_zhao", "mem_sun"))
    assert delivery.deliver(app, first) == "sent" and fake.token_calls == 1
    fake.revoke_tokens()
    assert delivery.deliver(app, second) == "sent"
    assert fake.token_calls == 2 and len(fake.uploads()) == 2
    assert fake.images_seen("/cgi-bin/message/send", to="mem_sun") == [png]


def test_an_image_to_an_app_chat_is_uploaded_and_sent_by_media_id(app, fake):
    png = png_file(app)
    with app.session() as s, s.begin():   # a group the app created: appchat/send
        s.execute(update(GridChat).where(GridChat.chat_id == "chat-hy-02").values(kind="app_chat"))
    oid = write_image(app, {"path": "charts/test.png"}, to_chat="chat-hy-02")
    assert delivery.deliver(app, oid) == "sent"
    assert fake.images_seen("/cgi-bin/appchat/send", to="chat-hy-02") == [png]
    assert fake.sent("/cgi-bin/webhook/send") == []


def test_a_robot_image_from_a_file_goes_as_base64_with_its_md5(app, fake):
    png = png_file(app)
    oid = write_image(app, {"path": "charts/test.png"}, to_chat="chat-hy-01")
    assert delivery.deliver(app, oid) == "sent"
    (post,) = fake.sent("/cgi-bin/webhook/send")
    assert post.args["key"] == ROBOT_KEY and post.body["image"]["md5"] == hashlib.md5(png).hexdigest()
    assert fake.images_seen("/cgi-bin/webhook/send") == [png]
    assert fake.uploads() == []                       # robots take the picture inline, nothing is uploaded


def test_an_image_over_10_mb_for_an_app_message_is_dead_with_the_reason(app, fake):
    big_file(app, "charts/huge.png", 10 * 1024 * 1024 + 1)
    oid = write_image(app, {"path": "charts/huge.png"}, to_user="mem_zhao")
    assert delivery.deliver(app, oid) == "dead"
    error = row(app, oid).last_error
    assert "huge.png" in error and "10.0 MB" in error and "at most 10 MB" in error
    assert fake.uploads() == [] and fake.sent("/cgi-bin/message/send") == []


def test_an_image_over_2_mb_for_a_robot_is_dead_with_the_reason(app, fake):
    big_file(app, "charts/big.png", 3 * 1024 * 1024)
    oid = write_image(app, {"path": "charts/big.png"}, to_chat="chat-hy-01")
    assert delivery.deliver(app, oid) == "dead"
    assert "3.0 MB" in row(app, oid).last_error and "at most 2 MB for a group robot" in row(app, oid).last_error
    assert fake.sent("/cgi-bin/webhook/send") == []


def test_a_missing_file_or_one_outside_the_instance_dir_is_dead_with_the_reason(app, fake):
    gone = write_image(app, {"path": "charts/never-written.png"}, to_user="mem_zhao")
    outside = write_image(app, {"path": "../../etc/passwd"}, to_user="mem_zhao")
    assert delivery.deliver(app, gone) == "dead" and delivery.deliver(app, outside) == "dead"
    assert "cannot be read" in row(app, gone).last_error
    assert "outside the instance dir" in row(app, outside).last_error
    assert fake.uploads() == [] and fake.received == []


# -- the daily digest's chart, end to end ---------------------------------------------------------------------
@pytest.fixture
def wecom_bot(make_app, pg_url, wecom_env, clock):
    bot = Bot(make_app(pg_url, env=wecom_env))
    bot.seed()
    seed_fortnight(bot, clock)
    return bot


def _digest_rows(app) -> list[OutboxMessage]:
    with app.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("digest:%"))
                              .order_by(OutboxMessage.id)))


def _seen_by(fake, userid: str) -> list[tuple[str, object]]:
    """What `userid` sees from the app, in order: ('markdown', text) or ('image', bytes)."""
    seen = []
    for r in fake.sent("/cgi-bin/message/send"):
        if r.body.get("touser") != userid:
            continue
        kind = r.body["msgtype"]
        seen.append((kind, fake.media[r.body["image"]["media_id"]]["data"] if kind == "image"
                     else r.body[kind]["content"]))
    return seen


def test_the_daily_digest_brings_its_chart_to_the_secretary_once(wecom_bot, fake):
    from PIL import Image

    from gridbot.jobs import send_daily_digests

    app = wecom_bot.app
    before = len(_seen_by(fake, "sec_wang"))          # notifications while the fortnight was played
    assert send_daily_digests(DAY.isoformat(), app=app) == 4
    assert send_daily_digests(DAY.isoformat(), app=app) == 0          # the job runs twice: nothing new
    for r in _digest_rows(app):                        # a late worker finds nothing left to send
        assert delivery.deliver(app, r.id) == "skipped"
    assert {r.status for r in _digest_rows(app)} == {"sent"}
    seen = _seen_by(fake, "sec_wang")[before:]
    assert [kind for kind, _ in seen] == ["markdown", "image"]        # the text first, then its chart
    assert seen[0][1].startswith("## 和园社区")
    png = seen[1][1]
    assert png.startswith(PNG_SIGNATURE) and decodes(png)[0] > 300
    with Image.open(io.BytesIO(png)) as im:
        im.verify()
        assert im.format == "PNG"
    assert png == (app.settings.instance_dir / "digests" / "HY" / f"{DAY.isoformat()}.png").read_bytes()
    assert len(fake.uploads()) == 2                    # one chart per reader (sec_wang, lead_li), uploaded once
    assert [k for k, _ in _seen_by(fake, "lead_li") if k == "image"] == ["image"]   # the grid leader's chart too


def test_without_a_cjk_font_the_digest_text_still_goes_and_operators_are_told(wecom_bot, fake, monkeypatch,
                                                                            caplog):
    from gridbot.jobs import send_daily_digests
    from gridbot.services import charts

    def no_font():
        raise charts.FontMissing("no CJK font found for the digest chart: install fonts-wqy-microhei")

    monkeypatch.setattr(charts, "cjk_font", no_font)
    with caplog.at_level(logging.WARNING, logger="gridbot.jobs"):
        assert send_daily_digests(DAY.isoformat(), app=wecom_bot.app) == 2
    rows = _digest_rows(wecom_bot.app)
    assert [r.content["kind"] for r in rows] == ["markdown", "markdown"] and {r.status for r in rows} == {"sent"}
    assert fake.uploads() == []
    assert "digest chart for HY 2026-11-03 not saved" in caplog.text and "fonts-wqy-microhei" in caplog.text
