"""Pytest fixtures for WeCom integration tests: the fake WeCom and an app wired to it on PostgreSQL + Redis."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .payloads import Signer
from .server import FakeWeCom

# Tencent's official callback samples, copied into the project (the tests never read anything outside it).
VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "wecom-vectors.json"
AIBOT_TOKEN = "aibotTokenForTests0123456789abcd"
AIBOT_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def vectors() -> dict:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def fake():
    server = FakeWeCom().start()
    yield server
    server.stop()


@pytest.fixture
def wecom_env(fake, redis_conn, redis_prefix):
    from tests.conftest import REDIS_URL

    v = vectors()
    return {
        "GRIDBOT_REDIS_URL": REDIS_URL, "GRIDBOT_REDIS_PREFIX": redis_prefix + ":",
        "GRIDBOT_QUEUE_PREFIX": redis_prefix, "GRIDBOT_WECOM_API_BASE": fake.url,
        "GRIDBOT_WECOM_CORP_ID": v["corp_id"], "GRIDBOT_WECOM_AGENT_ID": "1000002",
        "GRIDBOT_WECOM_SECRET": fake.secret, "GRIDBOT_WECOM_TOKEN": v["token"],
        "GRIDBOT_WECOM_AES_KEY": v["encoding_aes_key"], "GRIDBOT_AIBOT_TOKEN": AIBOT_TOKEN,
        "GRIDBOT_AIBOT_AES_KEY": AIBOT_KEY, "GRIDBOT_WECOM_TIMEOUT": "1",
    }


@pytest.fixture
def app_signer():
    v = vectors()
    return Signer(v["token"], v["encoding_aes_key"], v["corp_id"])


@pytest.fixture
def aibot_signer():
    return Signer(AIBOT_TOKEN, AIBOT_KEY, "")
