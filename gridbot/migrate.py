"""Apply and create migrations (Alembic) against gridbot's configured database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_heads(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        heads = set(MigrationContext.configure(conn).get_current_heads())
    engine.dispose()
    return heads


def revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)


def script_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
