"""The daily digest on the real PostgreSQL: the same hand-counted figures as on SQLite, and two workers sending
the morning's digests at the same moment write each reader's digest once."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from gridbot.models import OutboxMessage
from gridbot.services import digest

from ..unit.test_digest import DAY, TZ, seed_fortnight

pytestmark = pytest.mark.postgres


def test_figures_on_postgresql(pg_bot, clock):
    numbers = seed_fortnight(pg_bot, clock)
    with pg_bot.app.session() as s:
        d = digest.build(s, community="HY", day=DAY, tz=TZ, console_base_url="http://console")
    tk = d["tickets"]
    assert (tk["new"], tk["new_urgent"], tk["closed"], tk["overdue"]) == (3, 1, 1, 2)
    assert [i["number"] for i in tk["overdue_list"]] == [numbers["b"], numbers["d"]]
    assert d["rates"]["week"]["response_rate"] == 0.5 and d["rates"]["change"]["response_rate"] == 0.5
    assert d["coverage"]["total"]["ratio"] == 0.125
    assert [m["userid"] for m in d["behind"]] == ["lead_li", "mem_sun", "mem_zhou"]
    assert d["pending_bindings"]["count"] == 1 and d["dead_outbox"]["count"] == 1


def test_two_workers_send_each_digest_once(pg_bot, clock):
    from gridbot.jobs import send_daily_digests

    seed_fortnight(pg_bot, clock)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(send_daily_digests(DAY.isoformat(), app=pg_bot.app))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    assert sorted(results) == [0, 4]                      # one wrote both digests (markdown + chart), the other nothing
    with pg_bot.app.session() as s:
        rows = s.execute(select(OutboxMessage.target, func.count()).where(
            OutboxMessage.idempotency_key.like("digest:%")).group_by(OutboxMessage.target)).all()
    assert dict(rows) == {"sec_wang": 2, "lead_li": 2}
    assert send_daily_digests(DAY.isoformat(), app=pg_bot.app) == 0
