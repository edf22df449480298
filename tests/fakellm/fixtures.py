"""Pytest fixtures for tests of the optional large model. A test module binds them by name (`fake = fixtures.fake`):
the name `fake` is the fake WeCom's in tests/conftest.py, so a module of large-model tests rebinds it."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from gridbot.understanding import llm

from . import FakeLLM


@pytest.fixture(autouse=True)
def fresh_budget() -> Iterator[None]:
    """Every test starts and ends with the per-process call budget empty (it is module state)."""
    llm.BUDGET.reset()
    yield
    llm.BUDGET.reset()


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    """The fake OpenAI-compatible endpoint on loopback."""
    with FakeLLM() as server:
        yield server
