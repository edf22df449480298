"""What the inbound log can hold: a row PostgreSQL would refuse (NUL, a lone surrogate, an id longer than its column)
is stored escaped and 'unreadable' rather than failing its INSERT, and WeCom's redelivery still finds it."""
from __future__ import annotations

from datetime import UTC, datetime

from gridbot.messages import Inbound
from gridbot.pipeline.store import dedupe_key, row_values, store

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _inbound(**kw) -> Inbound:
    return Inbound(**{"platform": "wecom_aibot", "sender_id": "zhang", "text": "你好", "msg_id": "m1", "at": NOW, **kw})


def test_a_clean_row_is_stored_as_received():
    values = row_values(_inbound(), '{"msgid": "m1"}', NOW)
    assert (values["status"], values["error"], values["payload"]["text"]) == ("received", None, "你好")


def test_nul_and_lone_surrogates_anywhere_are_escaped_and_marked_unreadable():
    for inbound, raw, where in [(_inbound(msg_id="m\x001"), "{}", "dedupe_key"),
                                (_inbound(sender_id="zh\ud800ang"), "{}", "sender_id"),
                                (_inbound(text="坏\udfff字"), '{"text": "\\udfff"}', "payload"),
                                (_inbound(), "raw\x00text", "raw")]:
        values = row_values(inbound, raw, NOW)
        assert values["status"] == "unreadable" and where in values["error"], where
        assert values["payload"] == {}
        assert not any(("\x00" in str(v) or "\ud800" in str(v) or "\udfff" in str(v)) for v in values.values())
    assert row_values(_inbound(msg_id="m\x001"), "{}", NOW)["dedupe_key"] == "wecom_aibot:msg:m\\u00001"


def test_ids_too_long_for_their_columns_are_cut_and_the_key_hashed_the_same_way_each_time():
    long_id = "x" * 400
    first = row_values(_inbound(msg_id=long_id, chat_id="c" * 300), "{}", NOW)
    again = row_values(_inbound(msg_id=long_id, chat_id="c" * 300), "{}", NOW)
    assert first["status"] == "unreadable" and len(first["dedupe_key"]) <= 255 and len(first["chat_id"]) == 128
    assert first["dedupe_key"] == again["dedupe_key"] != dedupe_key(_inbound(msg_id=long_id))


def test_an_unreadable_row_is_stored_once_on_each_database(app):
    values = row_values(_inbound(msg_id="m\x002", text="坏\ud800"), "bad\x00raw", NOW)
    first_id, created = store(app.engine, values)
    again_id, again_created = store(app.engine, row_values(_inbound(msg_id="m\x002", text="坏\ud800"), "bad\x00raw",
                                                           NOW))
    assert created and not again_created and first_id == again_id
