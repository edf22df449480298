"""Compliance figures on a seeded month, counted by hand; then a whole month of duties through the chat."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gridbot.models import Household, Ticket
from gridbot.periods import parse_period
from gridbot.services import work
from gridbot.services.compliance import compliance

SH = ZoneInfo("Asia/Shanghai")


def at(month, day, hour=10, minute=0, year=2026):
    """A local (Asia/Shanghai) time as aware UTC, as the services take it."""
    return datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


class Seeder:
    def __init__(self, bot):
        self.bot, self.w = bot, bot.world

    def _hh(self, s, address):
        b, u, r = address.split("-")
        return s.scalar(select(Household).where(Household.building == b, Household.unit == u, Household.room == r))

    def patrol(self, userid, grid, start, minutes=None):
        with self.bot.app.session() as s, s.begin():
            work.check_in(s, member_id=self.w.members[userid], grid_id=self.w.grids[grid], now=start,
                          actor=f"member:{userid}", place="巡查点")
            if minutes is not None:
                work.check_out(s, member_id=self.w.members[userid], now=start + timedelta(minutes=minutes),
                               actor=f"member:{userid}")

    def visit(self, userid, address, when, note="正常"):
        with self.bot.app.session() as s, s.begin():
            work.record_visit(s, member_id=self.w.members[userid], household=self._hh(s, address), now=when,
                              actor=f"member:{userid}", note=note, notes=work.read_visit_notes(note))

    def log(self, userid, when, text="巡查"):
        with self.bot.app.session() as s, s.begin():
            work.add_log(s, member_id=self.w.members[userid], now=when, text=text, tz=SH)

    def ticket(self, n, userid, grid, resolved, due):
        with self.bot.app.session() as s, s.begin():
            s.add(Ticket(number=f"HY-T-{n}", community_id=self.w.community_id, grid_id=self.w.grids[grid],
                         category="repair", status="resolved", summary="楼道灯", reporter_platform="console",
                         reporter_id="resident_a", assignee_id=self.w.members[userid], response_due=resolved,
                         created_at=resolved - timedelta(days=2), dispatched_at=resolved - timedelta(days=2),
                         resolution_due=due, resolved_at=resolved))


@pytest.fixture
def seeded(bot):
    sd = Seeder(bot)
    # Patrols. mem_zhao: 3 in November in HY-01 (one at 23:30 on the 30th, local), one in October and one at
    # 00:30 on 1 December (local) that do not count. lead_li: one in HY-02 only.
    sd.patrol("mem_zhao", "HY-01", at(10, 30), 45)
    sd.patrol("mem_zhao", "HY-01", at(11, 3, 9), 90)
    sd.patrol("mem_zhao", "HY-01", at(11, 17, 14), 60)
    sd.patrol("mem_zhao", "HY-01", at(11, 30, 23, 30), 20)
    sd.patrol("mem_zhao", "HY-01", at(12, 1, 0, 30), 20)
    sd.patrol("lead_li", "HY-02", at(11, 10), 30)
    sd.patrol("mem_qian", "HY-01", at(11, 25))            # never ended: counts as a patrol, no minutes
    # Visits. 1-1-101 is the seeded key household (独居老人); the visit to 2-2-201 marks it 残疾 (a new key one).
    sd.visit("mem_zhao", "2-1-101", at(9, 15))             # this year, last quarter
    sd.visit("mem_zhao", "1-1-101", at(10, 10))            # this quarter, before November
    sd.visit("mem_zhao", "1-1-102", at(11, 5))
    sd.visit("mem_zhao", "2-2-201", at(11, 6), "残疾人家庭，需要申请补贴")
    sd.visit("mem_zhao", "1-1-102", at(11, 20))            # the same household again
    sd.visit("mem_zhao", "1-2-102", at(12, 1, 0, 10))      # December, local: outside
    sd.visit("mem_zhao", "1-2-201", at(12, 20, year=2025))  # last year: outside
    sd.visit("mem_qian", "1-2-101", at(11, 12))
    sd.visit("mem_sun", "3-1-101", at(11, 8))
    # Logs: mem_zhao on 2 Nov (twice), 3 Nov, 30 Nov 23:50 local; 1 Dec 00:05 local does not count.
    sd.log("mem_zhao", at(11, 2, 9))
    sd.log("mem_zhao", at(11, 2, 18))
    sd.log("mem_zhao", at(11, 3, 18))
    sd.log("mem_zhao", at(11, 30, 23, 50))
    sd.log("mem_zhao", at(12, 1, 0, 5))
    sd.log("mem_sun", at(11, 4))
    with bot.app.session() as s, s.begin():        # the secretary reviews the first week (3 entries)
        work.review_logs(s, reviewer_id=bot.world.members["sec_wang"], member_id=bot.world.members["mem_zhao"],
                         start=date(2026, 11, 2), end=date(2026, 11, 9), now=at(11, 9), actor="member:sec_wang")
    # Tickets resolved: mem_zhao one on time, one late; mem_qian one on time; mem_sun's was in October.
    sd.ticket(1, "mem_zhao", "HY-01", at(11, 10), at(11, 11))
    sd.ticket(2, "mem_zhao", "HY-01", at(11, 15), at(11, 14))
    sd.ticket(3, "mem_qian", "HY-01", at(11, 16), at(11, 16, 12))
    sd.ticket(4, "mem_sun", "HY-02", at(10, 31), at(11, 1))
    return bot


def figures(bot, period="2026-11"):
    with bot.app.session() as s:
        data = compliance(s, "HY", parse_period(period), SH)
    return data, {g["grid"]: g for g in data["grids"]}, {m["userid"]: m for m in data["members"]}


def test_member_figures_for_a_seeded_month(seeded):
    data, _, members = figures(seeded)
    assert (data["from"], data["until"], data["quarter_from"], data["months"]) == (
        "2026-11-01", "2026-11-30", "2026-10-01", ["2026-11"])
    zhao = members["mem_zhao"]
    assert zhao["grids"] == ["HY-01"]
    assert zhao["patrols"] == 3 and zhao["patrol_minutes"] == 90 + 60 + 20
    assert zhao["patrols_by_grid_month"] == {"HY-01": {"2026-11": 3}}
    assert (zhao["grid_months_patrolled"], zhao["grid_months_required"]) == (1, 1)
    assert zhao["visits"] == 3 and zhao["households_visited"] == 2
    assert (zhao["key_visited_quarter"], zhao["key_households"]) == (2, 2)      # 1-1-101 in Oct, 2-2-201
    assert (zhao["households_visited_year"], zhao["households"]) == (4, 12)     # 2-1-101, 1-1-101, 1-1-102, 2-2-201
    assert (zhao["log_days"], zhao["log_entries"], zhao["log_entries_reviewed"], zhao["days"]) == (3, 4, 3, 30)
    assert (zhao["tickets_handled"], zhao["tickets_on_time"]) == (2, 1)

    qian = members["mem_qian"]
    assert qian["patrols"] == 1 and qian["patrol_minutes"] == 0
    assert (qian["visits"], qian["key_visited_quarter"], qian["key_households"]) == (1, 0, 2)
    assert qian["households_visited_year"] == 1 and qian["log_days"] == 0
    assert (qian["tickets_handled"], qian["tickets_on_time"]) == (1, 1)

    li = members["lead_li"]
    assert li["grids"] == ["HY-01", "HY-02"]
    assert li["patrols_by_grid_month"] == {"HY-01": {"2026-11": 0}, "HY-02": {"2026-11": 1}}
    assert (li["grid_months_patrolled"], li["grid_months_required"]) == (1, 2)

    sun = members["mem_sun"]
    assert (sun["visits"], sun["households_visited_year"], sun["households"]) == (1, 1, 6)
    assert (sun["key_households"], sun["tickets_handled"], sun["log_days"]) == (0, 0, 1)
    assert members["sec_wang"]["grids"] == ["HY-01", "HY-02", "HY-03"]


def test_grid_figures_for_a_seeded_month(seeded):
    _, grids, _ = figures(seeded)
    assert list(grids) == ["HY-01", "HY-02", "HY-03"]
    one = grids["HY-01"]
    assert one["patrols_by_month"] == {"2026-11": 4} and one["months_patrolled"] == 1
    assert one["visits"] == 4
    assert (one["key_visited_quarter"], one["key_households"]) == (2, 2)
    assert (one["households_visited_year"], one["households"]) == (5, 12)
    assert (one["tickets_handled"], one["tickets_on_time"]) == (3, 2)
    two = grids["HY-02"]
    assert two["patrols"] == 1 and two["visits"] == 1 and two["households_visited_year"] == 1
    assert two["tickets_handled"] == 0
    three = grids["HY-03"]
    assert (three["patrols"], three["months_patrolled"], three["visits"], three["households"]) == (0, 0, 0, 6)


def test_quarter_period_splits_patrols_by_month(seeded):
    data, grids, members = figures(seeded, "2026-Q4")
    assert data["months"] == ["2026-10", "2026-11", "2026-12"]
    assert grids["HY-01"]["patrols_by_month"] == {"2026-10": 1, "2026-11": 4, "2026-12": 1}
    assert members["mem_zhao"]["grid_months_patrolled"] == 3
    assert members["mem_zhao"]["visits"] == 5       # Oct 10, Nov 5, Nov 6, Nov 20, Dec 1
    assert members["mem_zhao"]["tickets_handled"] == 2 and members["mem_sun"]["tickets_handled"] == 1


def test_cli_compliance_json_and_text(seeded, monkeypatch):
    from gridbot.cli import main

    monkeypatch.setenv("GRIDBOT_DATABASE_URL", seeded.app.settings.database_url)
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(seeded.app.settings.instance_dir))
    runner = CliRunner()
    result = runner.invoke(main, ["compliance", "--community", "HY", "--period", "2026-11", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    zhao = next(m for m in data["members"] if m["userid"] == "mem_zhao")
    assert zhao["patrols"] == 3 and zhao["tickets_on_time"] == 1
    text = runner.invoke(main, ["compliance", "--community", "HY", "--period", "2026-11"])
    assert text.exit_code == 0, text.output
    assert "赵网格员" in text.output and "HY-01" in text.output and "13900000000" not in text.output
    bad = runner.invoke(main, ["compliance", "--community", "HY", "--period", "11月"])
    assert bad.exit_code != 0 and "2026-11" in bad.output
    missing = runner.invoke(main, ["compliance", "--community", "NOPE", "--period", "2026-11"])
    assert missing.exit_code != 0 and "NOPE" in missing.output


def test_a_whole_month_of_duties_through_the_chat(bot, clock):
    """mem_zhao's November: a weekly patrol, visits, daily logs, a week on leave; then the month's figures."""
    say = bot.said
    clock.set(at(11, 2, 8, 30))
    patrols = visits = log_days = 0
    rooms = ["1-1-101", "1-1-102", "1-1-201", "1-2-101", "1-2-102", "2-1-101", "2-1-102", "2-1-201"]
    for offset in range(29):       # 2..30 November
        today = at(11, 2 + offset, 8, 30)
        clock.set(today)
        weekday = (today.astimezone(SH)).weekday()
        if 2 + offset in range(16, 21):                    # on leave the week of the 16th
            if 2 + offset == 16:
                assert "钱网格员" in say("请假 到周五 培训", as_="mem_zhao", private=True)
            continue
        if 2 + offset == 23:
            assert "请假" not in say("值班", as_="mem_zhao", chat="HY-01")
        if weekday == 0:                                    # Monday patrol, in the group
            assert "已签到" in say("签到 小区东门", as_="mem_zhao", chat="HY-01")
            clock.advance(minutes=50)
            assert "50分钟" in say("签退", as_="mem_zhao", chat="HY-01")
            patrols += 1
        if weekday in (1, 3) and rooms:                    # Tuesday and Thursday visits, privately
            b, u, r = rooms.pop(0).split("-")
            assert "已记录走访" in say(f"走访{b}栋{u}单元{r} 情况良好", as_="mem_zhao", private=True)
            visits += 1
        if weekday < 5:
            clock.set(today + timedelta(hours=9))
            assert "已记录" in say("日志 巡查、走访、处理群内诉求", as_="mem_zhao", private=True)
            log_days += 1
    clock.set(at(11, 30, 20))
    review = bot.said("审核 赵网格员 本月 按时记录", as_="sec_wang", private=True)
    assert f"{log_days} 条" in review
    assert "待走访 6 户" in bot.said("待走访", as_="mem_zhao", private=True)   # 12 households, 6 visited

    _, grids, members = figures(bot)
    zhao = members["mem_zhao"]
    # Mondays in November 2026: 2, 9, (16 on leave), 23, 30 -> 4 patrols of 50 minutes.
    assert patrols == 4 and zhao["patrols"] == 4 and zhao["patrol_minutes"] == 200
    assert zhao["grid_months_patrolled"] == zhao["grid_months_required"] == 1
    # Tue/Thu outside the leave: 3, 5, 10, 12, 24, 26 = 6 visits (rooms list had 8).
    assert visits == 6 and zhao["visits"] == 6 and zhao["households_visited"] == 6
    assert (zhao["key_visited_quarter"], zhao["key_households"]) == (1, 1)      # 1-1-101 was first
    assert (zhao["households_visited_year"], zhao["households"]) == (6, 12)
    # Weekdays in November 2026: 21; minus the leave week (16-20): 16 log days, all reviewed.
    assert log_days == 16 and zhao["log_days"] == 16 and zhao["log_entries_reviewed"] == 16
    assert grids["HY-01"]["patrols"] == 4 and grids["HY-01"]["visits"] == 6
