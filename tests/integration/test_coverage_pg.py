"""Coverage on the real PostgreSQL: the same hand-counted community, snapshots, and a query count that does not
grow with the number of households."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from gridbot.models import Household
from gridbot.services import coverage

from ..membership_helpers import join, leave
from ..unit.test_coverage import scenario

pytestmark = pytest.mark.postgres


def _report(bot):
    with bot.app.session() as s:
        return coverage.compute(s, bot.app.clock.now()).by_code()


def test_hand_count_on_postgres(pg_bot):
    scenario(pg_bot)
    grids = _report(pg_bot)
    assert {c: (g.covered, g.households) for c, g in grids.items()} == {
        "HY-01": (3, 12), "HY-02": (1, 6), "HY-03": (0, 5)}
    assert [p.user_id for p in grids["HY-01"].unbound] == ["res_e"]
    assert [w.user_id for w in grids["HY-02"].wrong_group] == ["res_h"]
    assert grids["HY-01"].uncovered[0].address == "1栋1单元201"
    leave(pg_bot, "res_a", "HY-01")
    assert _report(pg_bot)["HY-01"].covered == 2
    join(pg_bot, "res_a", "HY-01")
    assert _report(pg_bot)["HY-01"].covered == 3


def test_snapshots_on_postgres(pg_bot):
    tz = pg_bot.app.settings.tz
    with pg_bot.app.session() as s, s.begin():
        coverage.take_snapshots(s, pg_bot.app.clock.now(), None, tz)
    pg_bot.app.clock.advance(timedelta(days=1))
    scenario(pg_bot)
    with pg_bot.app.session() as s, s.begin():
        snaps = {x.grid_id: x for x in coverage.take_snapshots(s, pg_bot.app.clock.now(), None, tz)}
    hy01 = snaps[pg_bot.world.grids["HY-01"]]
    assert (hy01.covered, hy01.gained, hy01.lost, hy01.movers["left_group"]) == (3, 3, 0, 1)
    text = pg_bot.said("覆盖率", as_="sec_wang", private=True)
    assert "合计：4/23 户" in text and "较 1 天前：+4 户" in text


def test_constant_statement_count_on_postgres(pg_bot):
    scenario(pg_bot)

    def statements() -> int:
        seen: list[str] = []

        def listener(_c, _cur, stmt, *_a):
            seen.append(stmt)

        event.listen(pg_bot.app.engine, "before_cursor_execute", listener)
        try:
            with pg_bot.app.session() as s:
                coverage.compute(s, pg_bot.app.clock.now())
        finally:
            event.remove(pg_bot.app.engine, "before_cursor_execute", listener)
        return len(seen)

    before = statements()
    with pg_bot.app.session() as s, s.begin():
        s.add_all(Household(grid_id=pg_bot.world.grids["HY-02"], building="4", unit="1", room=str(100 + i), tags=[])
                  for i in range(300))
    assert statements() == before
    assert _report(pg_bot)["HY-02"].households == 306
