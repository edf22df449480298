"""Shared fixtures. Storage tests run on SQLite and on the real PostgreSQL; queue tests on the real Redis.

Each test gets its own database (a temp SQLite file, or a fresh PostgreSQL database that is dropped after)
and its own Redis key prefix (deleted after). The services are left as they were found.
If PostgreSQL or Redis is unreachable the run fails; GRIDBOT_TEST_SKIP_SERVICES=1 skips those tests instead
(for a laptop without them; CI never sets it).
"""
from __future__ import annotations

import os
import shutil
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest

from gridbot import migrate
from gridbot.bootstrap import build, set_current
from gridbot.clock import FrozenClock
from gridbot.config import Settings

from .factories import Bot
from .fakewecom.fixtures import aibot_signer, app_signer, fake, wecom_env  # noqa: F401 - the fake WeCom's fixtures, for every test

PG_URL = os.environ.get("GRIDBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GRIDBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SKIP_SERVICES = os.environ.get("GRIDBOT_TEST_SKIP_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


SERVICES = {"postgres": _reachable(PG_URL, 5432), "redis": _reachable(REDIS_URL, 6379)}


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [name for name, ok in SERVICES.items() if not ok]
    if missing and not SKIP_SERVICES:
        pytest.exit(f"required test services unreachable: {', '.join(missing)} "
                    f"(PostgreSQL {PG_URL}, Redis {REDIS_URL}); start them or set GRIDBOT_TEST_SKIP_SERVICES=1",
                    returncode=3)


def need(service: str) -> None:
    if not SERVICES[service]:
        pytest.skip(f"{service} unreachable and GRIDBOT_TEST_SKIP_SERVICES=1")


# -- databases ------------------------------------------------------------------------------------
def _admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    need("postgres")
    from sqlalchemy import text

    name = f"gridbot_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'gridbot.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """Both supported databases: the test runs once on each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gridbot.db'}"
    return request.getfixturevalue("pg_url")


# -- redis ------------------------------------------------------------------------------------------
@pytest.fixture
def redis_prefix():
    return f"gridbot-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_conn(redis_prefix):
    """The real Redis; every key containing this test's prefix is deleted afterwards."""
    need("redis")
    import redis

    conn = redis.Redis.from_url(REDIS_URL)
    try:
        yield conn
    finally:
        for key in conn.scan_iter(match=f"*{redis_prefix}*", count=1000):
            conn.delete(key)
        for registry in ("rq:queues", "rq:workers"):  # RQ's global sets name our queues and workers too
            ours = [m for m in conn.smembers(registry) if redis_prefix.encode() in m]
            if ours:
                conn.srem(registry, *ours)
        conn.close()


# -- the app ----------------------------------------------------------------------------------------
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai


@pytest.fixture
def clock():
    return FrozenClock(T0)


def make_settings(db_url: str, tmp_path: Path, **env: str) -> Settings:
    base = {"GRIDBOT_DATABASE_URL": db_url, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance")}
    base.update(env)
    return Settings.from_env(base)


class _Templates:
    """Migrated template databases, made once per test session: a fresh database is cloned from them
    (CREATE DATABASE ... TEMPLATE on PostgreSQL, a file copy on SQLite) instead of replaying every migration."""

    def __init__(self, tmp_dir: Path):
        self.tmp_dir = tmp_dir
        self.sqlite_path: Path | None = None
        self.pg_name: str | None = None

    def fill(self, db_url: str) -> None:
        if db_url.startswith("sqlite"):
            path = Path(db_url.split("///", 1)[1])
            if path.exists() and path.stat().st_size > 0:
                return
            if self.sqlite_path is None:
                self.sqlite_path = self.tmp_dir / "template.db"
                migrate.upgrade(f"sqlite:///{self.sqlite_path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.sqlite_path, path)
            return
        from sqlalchemy import create_engine, inspect, text

        engine = create_engine(db_url)
        empty = not inspect(engine).get_table_names()
        engine.dispose()
        if not empty:
            return
        admin = _admin_engine()
        with admin.connect() as conn:
            if self.pg_name is None:
                self.pg_name = f"gridbot_tmpl_{uuid.uuid4().hex[:12]}"
                conn.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
                migrate.upgrade(f"{PG_URL.rsplit('/', 1)[0]}/{self.pg_name}")
            name = db_url.rsplit("/", 1)[1]
            conn.execute(text(f'DROP DATABASE "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_name}"'))
        admin.dispose()

    def drop(self) -> None:
        if self.pg_name:
            from sqlalchemy import text

            admin = _admin_engine()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory):
    templates = _Templates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.drop()


@pytest.fixture
def make_app(tmp_path, clock, db_templates):
    """Build apps on a migrated database (cloned from a template when empty); closes them afterwards."""
    apps = []

    def _make(db_url: str, sync_jobs: bool = True, **kw):
        settings = make_settings(db_url, tmp_path, **kw.pop("env", {}))
        db_templates.fill(settings.database_url)
        migrate.upgrade(settings.database_url)
        app = build(settings, clock=kw.pop("clock", clock), sync_jobs=sync_jobs, **kw)
        set_current(app)
        apps.append(app)
        return app

    yield _make
    set_current(None)
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app, db_url):
    """An app with in-process synchronous jobs on each database."""
    return make_app(db_url)


@pytest.fixture
def sqlite_app(make_app, sqlite_url):
    """An app on SQLite only, for tests of pure chat behaviour where the database does not matter."""
    return make_app(sqlite_url)


@pytest.fixture
def bot(sqlite_app):
    """The demo-like community on SQLite, and bot.say(text, as_=..., chat=...) -> list of reply texts."""
    bot = Bot(sqlite_app)
    bot.seed()
    return bot


@pytest.fixture
def pg_bot(make_app, pg_url):
    bot = Bot(make_app(pg_url))
    bot.seed()
    return bot
