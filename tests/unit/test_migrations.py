"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL, and go back down."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gridbot import migrate
from gridbot.models import Base


def test_migrations_match_models(db_url):
    migrate.upgrade(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migrations_downgrade_to_empty_and_back(db_url):
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    engine = create_engine(db_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(db_url)
    assert migrate.current_heads(db_url) == migrate.script_heads()
