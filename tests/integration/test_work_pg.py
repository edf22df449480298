"""Members' duties and compliance figures on the real PostgreSQL: local-day boundaries, JSON tags, dates."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from gridbot.models import Household
from gridbot.models.work import Leave, Patrol, Visit, WorkLog
from gridbot.periods import parse_period
from gridbot.services import work
from gridbot.services.compliance import compliance
from tests.unit.test_compliance import Seeder, at

pytestmark = pytest.mark.postgres


def test_chat_duties_on_postgres(pg_bot, clock):
    bot = pg_bot
    clock.set(at(11, 2, 9))
    assert "已签到：第一网格" in bot.said("签到 1栋门口", as_="mem_zhao", chat="HY-01")
    clock.advance(minutes=40)
    assert "40分钟" in bot.said("签退", as_="mem_zhao", chat="HY-01")
    replies = bot.send("走访 2栋2单元201 残疾人家庭，需要申请补贴", as_="mem_zhao", chat="HY-01")
    assert [r.to_user for r in replies] == [None, "mem_zhao"]
    clock.set(at(11, 2, 23, 50))              # late evening, local: still 2 November
    assert "今天第 1 条" in bot.said("日志 走访2栋", as_="mem_zhao", private=True)
    assert "11月6日（周五）" in bot.said("请假 到周五", as_="mem_zhao", private=True)
    assert "代赵网格员值班" in bot.said("值班", as_="mem_qian", chat="HY-01")
    with bot.app.session() as s:
        (log,) = s.scalars(select(WorkLog)).all()
        assert log.day == date(2026, 11, 2)
        (visit,) = s.scalars(select(Visit)).all()
        assert visit.tags == ["残疾"] and visit.follow_up == "需要申请补贴"
        assert s.get(Household, visit.household_id).tags == ["残疾"]
        (leave,) = s.scalars(select(Leave)).all()
        assert leave.ends_at == at(11, 7, 0)
        (patrol,) = s.scalars(select(Patrol)).all()
        assert patrol.ended_at - patrol.started_at == timedelta(minutes=40)
    listing = bot.said("待走访", as_="mem_zhao", private=True)
    assert "待走访 11 户（重点户 1 户" in listing and listing.splitlines()[1].startswith("· 2栋")


def test_compliance_month_on_postgres(pg_bot):
    sd = Seeder(pg_bot)
    sd.patrol("mem_zhao", "HY-01", at(11, 30, 23, 30), 20)    # 30 Nov local: counts
    sd.patrol("mem_zhao", "HY-01", at(12, 1, 0, 30), 20)      # 1 Dec local (still 30 Nov in UTC): does not
    sd.visit("mem_zhao", "1-1-101", at(10, 1, 0, 10))         # first minutes of Q4, local
    sd.visit("mem_zhao", "1-1-102", at(9, 30, 23, 50))        # last minutes of Q3: this year, not this quarter
    sd.log("mem_zhao", at(11, 1, 0, 5))
    sd.log("mem_zhao", at(12, 1, 0, 5))
    sd.ticket(1, "mem_zhao", "HY-01", at(11, 10), at(11, 10))  # resolved exactly at the limit: on time
    with pg_bot.app.session() as s:
        data = compliance(s, "HY", parse_period("2026-11"), pg_bot.app.settings.tz)
    zhao = next(m for m in data["members"] if m["userid"] == "mem_zhao")
    assert zhao["patrols"] == 1 and zhao["patrol_minutes"] == 20
    assert (zhao["key_visited_quarter"], zhao["key_households"]) == (1, 1)
    assert zhao["households_visited_year"] == 2 and zhao["visits"] == 0
    assert zhao["log_days"] == 1
    assert (zhao["tickets_handled"], zhao["tickets_on_time"]) == (1, 1)
    with pg_bot.app.session() as s:
        due = work.due_visits(s, grid_ids=[pg_bot.world.grids["HY-01"]], now=at(11, 30), tz=pg_bot.app.settings.tz)
    assert len(due) == 10 and not any(d.household.building == "1" and d.household.room == "101"
                                      and d.household.unit == "1" for d in due)
