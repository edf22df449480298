"""Migration 0004: chats bound before kinds existed get one from what is known (a robot key, messages the AI bot
delivered from the chat), else "unknown"; on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from gridbot import migrate


def test_existing_chats_get_a_kind_from_what_is_known(db_url):
    before = ScriptDirectory.from_config(migrate.alembic_config(db_url)).get_revision("0004").down_revision
    migrate.upgrade(db_url, str(before))
    engine = create_engine(db_url)
    at = "2026-12-01 08:00:00"
    with engine.begin() as c:
        c.execute(text("INSERT INTO communities (id, code, name, created_at) VALUES (1, 'HY', '和园', :at)"),
                  {"at": at})
        c.execute(text("INSERT INTO grids (id, community_id, code, name, level, created_at) "
                       "VALUES (1, 1, 'HY-01', '一网格', 2, :at)"), {"at": at})
        for chat_id, key in (("wrRobot", "rk"), ("wrAibot", None), ("wrNothing", None)):
            c.execute(text("INSERT INTO grid_chats (grid_id, chat_id, robot_key, bound_at) VALUES (1, :c, :k, :at)"),
                      {"c": chat_id, "k": key, "at": at})
        c.execute(text("INSERT INTO inbound_messages (platform, dedupe_key, chat_id, kind, payload, status, attempts, "
                       "received_at) VALUES ('wecom_aibot', 'k1', 'wrAibot', 'text', '{}', 'done', 1, :at)"),
                  {"at": at})
        c.execute(text("INSERT INTO unknown_chats (platform, chat_id, first_seen, last_seen, messages) VALUES "
                       "('wecom_aibot', 'wrHeard', :at, :at, 1), ('console', 'c-1', :at, :at, 1)"), {"at": at})
    migrate.upgrade(db_url)
    with engine.connect() as c:
        bound = dict(c.execute(text("SELECT chat_id, kind FROM grid_chats")).all())
        unknown = dict(c.execute(text("SELECT chat_id, kind FROM unknown_chats")).all())
    engine.dispose()
    assert bound == {"wrRobot": "robot_group", "wrAibot": "aibot_group", "wrNothing": "unknown"}
    assert unknown == {"wrHeard": "aibot_group", "c-1": "unknown"}
