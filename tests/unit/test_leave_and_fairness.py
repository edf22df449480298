"""Issue 18 points 6, 11, 14 and 15 on a controlled clock, on SQLite and PostgreSQL:
leave hands work over to the A/B partner and back; members not at work get nothing; a visit's need keeps its
substance; 考核 measures from joining, on working days less leave, lists inactive members apart and marks a first
month as 数据不足; `gridbot coverage` / `gridbot compliance` take --now.

The seeded community (tests/factories.py): mem_zhao (专职, HY-01) and mem_qian (兼职, HY-01) are A/B partners;
the clock starts on Monday 2 November 2026, 09:00 Asia/Shanghai.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gridbot import jobs
from gridbot.bootstrap import set_current
from gridbot.models import Member, MemberGrid, OutboxMessage, Reminder, Ticket, TicketEvent
from gridbot.periods import parse_period
from gridbot.services import reminders, reports, work
from gridbot.services.compliance import compliance
from gridbot.workcal import calendar_for

from ..factories import Bot

SH = ZoneInfo("Asia/Shanghai")


def local(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def dbot(make_app, db_url):
    """The seeded community on each database (SQLite, and PostgreSQL when it is running)."""
    bot = Bot(make_app(db_url))
    bot.seed()
    return bot


def report(bot, text: str, as_: str) -> str:
    return re.search(r"HY-\d{8}-\d{4}", bot.said(text, as_=as_)).group(0)


def ticket(bot, number: str) -> Ticket:
    with bot.app.session() as s:
        tk = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        s.expunge(tk)
        return tk


def assignee(bot, number: str) -> str | None:
    with bot.app.session() as s:
        return s.scalar(select(Member.userid).join(Ticket, Ticket.assignee_id == Member.id)
                        .where(Ticket.number == number))


def events(bot, number: str, action: str) -> list[TicketEvent]:
    with bot.app.session() as s:
        rows = list(s.scalars(select(TicketEvent).join(Ticket).where(Ticket.number == number,
                                                                     TicketEvent.action == action)
                              .order_by(TicketEvent.id)))
        s.expunge_all()
        return rows


def reminder_target(bot, text: str) -> str | None:
    with bot.app.session() as s:
        r = s.scalars(select(Reminder).where(Reminder.text == text)).one()
        return s.get(Member, r.target_member_id).userid if r.target_member_id else None


def outbox_to(bot, userid: str) -> list[str]:
    with bot.app.session() as s:
        return [r.content.get("text", "") for r in s.scalars(select(OutboxMessage).where(OutboxMessage.target == userid)
                                                              .order_by(OutboxMessage.id))]


# -- 6. leave hands work over ------------------------------------------------------------------------------
def test_leave_hands_open_tickets_and_reminders_to_the_partner_and_back_when_it_ends(dbot, clock):
    bot = dbot
    light = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    assert assignee(bot, light) == "mem_zhao"
    assert "开会" in bot.said("提醒我明天下午3点 开会", as_="mem_zhao", private=True)

    replies = bot.send("请假 到下周三 培训", as_="mem_zhao", private=True)          # Mon 2 Nov -> Wed 11 Nov
    assert "11月11日（周三）" in replies[0].text
    assert f"1 个未办结工单（{light}）已转给 钱网格员" in replies[0].text
    notice = [r.text for r in replies if r.to_user == "mem_qian"]
    assert len(notice) == 1 and light in notice[0] and "代办" in notice[0]    # one private message, the tickets
    assert assignee(bot, light) == "mem_qian"
    (moved,) = events(bot, light, "leave_handover")
    assert moved.actor == "member:mem_zhao" and moved.detail["to"] == "mem_qian"
    assert reminder_target(bot, "开会") == "mem_qian"                       # the reminder goes to who covers

    # during the leave the partner works the ticket: a second one arrives and is resolved by the partner
    clock.set(local(11, 4))
    gate = report(bot, "2栋1单元门口的垃圾桶满了好几天没人倒", as_="res_b")
    assert assignee(bot, gate) == "mem_qian"                               # new work goes to whoever covers

    clock.set(local(11, 11, 23, 59))                                       # still away on the last day
    assert jobs.end_leaves(app=bot.app) == 0
    assert assignee(bot, light) == "mem_qian"
    clock.set(local(11, 12, 0, 5))                                         # Thursday: the leave is over
    assert jobs.end_leaves(app=bot.app) == 1
    assert assignee(bot, light) == "mem_zhao"
    (back,) = events(bot, light, "leave_handback")
    assert back.actor == "system:leave" and back.detail["to"] == "mem_zhao"
    assert assignee(bot, gate) == "mem_qian"                               # never handed over: stays
    assert reminder_target(bot, "开会") == "mem_zhao"
    told = [text for text in outbox_to(bot, "mem_zhao") if "请假已结束" in text]
    assert len(told) == 1 and light in told[0]
    assert jobs.end_leaves(app=bot.app) == 0                               # once
    assert len(events(bot, light, "leave_handback")) == 1


def test_cancelling_leave_returns_what_is_still_open_and_keeps_what_the_partner_finished(bot, clock):
    first = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    clock.advance(minutes=5)
    second = report(bot, "2栋2单元下水道堵了", as_="res_b")
    assert {assignee(bot, first), assignee(bot, second)} == {"mem_zhao"}
    bot.say("请假 3天", as_="mem_zhao", private=True)
    assert {assignee(bot, first), assignee(bot, second)} == {"mem_qian"}
    with bot.app.session() as s, s.begin():            # the partner passes one ticket on to the grid leader
        tk = s.scalars(select(Ticket).where(Ticket.number == second)).one()
        tk.assignee_id = bot.world.members["lead_li"]
    clock.advance(hours=3)
    replies = bot.send("销假", as_="mem_zhao", private=True)
    assert "已销假" in replies[0].text and first in replies[0].text and second not in replies[0].text
    partner = [r.text for r in replies if r.to_user == "mem_qian"]
    assert partner and first in partner[0]
    assert (assignee(bot, first), assignee(bot, second)) == ("mem_zhao", "lead_li")
    assert jobs.end_leaves(app=bot.app) == 0                  # handed back already


def test_leave_days_are_not_missing_log_days(dbot, clock):
    bot = dbot
    bot.say("请假 到周三", as_="mem_zhao", private=True)            # Mon 2 .. Wed 4 November
    for day in (5, 6):
        clock.set(local(11, day, 17))
        bot.say("日志 巡查1栋", as_="mem_zhao", private=True)
    cal = calendar_for(None, SH)
    with bot.app.session() as s:
        week = reports.log_summary(s, "HY", parse_period("2026-W45"), calendar=cal)
        figures = compliance(s, "HY", parse_period("2026-W45"), SH, cal)
    zhao = {r["userid"]: r for r in week["members"]}["mem_zhao"]
    sun = {r["userid"]: r for r in week["members"]}["mem_sun"]
    assert zhao["missing_workdays"] == [] and zhao["leave_days"] == 3
    assert len(sun["missing_workdays"]) == 5
    line = next(x for x in reports.log_summary_lines(week) if x.startswith("赵网格员"))
    assert "缺" not in line
    member = {m["userid"]: m for m in figures["members"]}["mem_zhao"]
    assert (member["workdays_due"], member["leave_days"], member["log_days"]) == (2, 3, 2)


def test_members_not_at_work_get_no_reminders_rhythms_or_visit_lists(bot, clock):
    assert "开会" in bot.said("提醒我明天下午3点 开会", as_="mem_zhao", private=True)
    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_zhao"]).on_duty = False       # 在岗：否 in the roster
        rows = list(s.scalars(select(Reminder).where(Reminder.text == "开会")))
        assert reminders.targets(s, rows[0]) == []
        rhythm = Reminder(community_id=bot.world.community_id, kind="builtin", target_type="members",
                          text="monthly_patrol", dtstart=clock.now(), created_by="test")
        sent_to = {x.id for x in reminders.targets(s, rhythm)}
        assert "mem_zhao" not in sent_to and "mem_sun" in sent_to
        ids = work.send_due_visit_lists(s, now=clock.now(), tz=SH)
        pushed = {r.target for r in s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    assert "mem_zhao" not in pushed and "mem_sun" in pushed


# -- 11. a visit's need keeps its substance -----------------------------------------------------------------
def test_a_visit_need_becomes_a_ticket_that_says_what_is_needed(dbot):
    bot = dbot
    replies = bot.send("走访 3栋1单元101 独居老人，降压药快吃完了，需要代买", as_="mem_sun", private=True)
    assert "降压药快吃完了，需要代买" in replies[0].text
    reply = bot.said("转工单", as_="mem_sun", private=True)
    number = re.search(r"HY-\d{8}-\d{4}", reply).group(0)
    tk = ticket(bot, number)
    assert tk.summary == "代买降压药"
    assert "降压药快吃完了，需要代买" in tk.description and tk.summary != "需要代买"


@pytest.mark.parametrize("note,follow_up,summary", [
    ("降压药快吃完了，需要代买", "降压药快吃完了，需要代买", "代买降压药"),
    ("腿脚不便，需要帮忙", "腿脚不便，需要帮忙", "腿脚不便，需要帮忙"),
    ("独居老人，需要代买药", "需要代买药", "需要代买药"),               # the need says it all: as before
    ("独居老人，需要帮忙", "需要帮忙", "需要帮忙"),                     # a tag is not what is needed
    ("一切正常，不需要帮助", None, None),
])
def test_visit_need_reading(note, follow_up, summary):
    found = work.read_visit_notes(note).follow_up
    assert found == follow_up
    if found:
        assert work.need_summary(found) == summary


# -- 14. fair evaluation ------------------------------------------------------------------------------------
def _join(bot, userid: str, name: str, grid: str, joined: datetime) -> None:
    with bot.app.session() as s, s.begin():
        m = Member(community_id=bot.world.community_id, name=name, userid=userid, roles=["member"],
                   created_at=joined, updated_at=joined)
        s.add(m)
        s.flush()
        s.add(MemberGrid(member_id=m.id, grid_id=bot.world.grids[grid]))


def test_evaluation_is_fair_to_newcomers_people_on_leave_and_lists_inactive_apart(dbot, clock):
    bot = dbot
    cal = calendar_for(None, SH)
    november = cal.workdays(date(2026, 11, 1), date(2026, 12, 1))
    assert len(november) == 21
    _join(bot, "mem_new", "吴网格员", "HY-02", local(11, 20, 10))      # joined on Friday the 20th
    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_qian"]).on_duty = False        # 在岗：否
        gone = s.get(Member, bot.world.members["mem_sun"])
        gone.active, gone.updated_at = False, local(11, 10)                 # taken off the roster on the 10th
    clock.set(local(11, 16, 8))
    bot.say("请假 到周五", as_="mem_zhou", private=True)                     # 16..20 November away
    for day in november:
        clock.set(local(day.month, day.day, 17))
        if not date(2026, 11, 16) <= day <= date(2026, 11, 20):
            bot.say("日志 走访", as_="mem_zhou", private=True)
        if day >= date(2026, 11, 20):
            bot.say("日志 熟悉网格", as_="mem_new", private=True)
    clock.set(local(11, 30, 18))
    with bot.app.session() as s:
        data = reports.evaluation(s, "HY", parse_period("2026-11"), SH, calendar=cal, today=date(2026, 11, 30))
    rows = {r["userid"]: r for r in data["members"]}
    zhou = rows["mem_zhou"]
    assert (zhou["workdays"], zhou["leave_days"], zhou["log_days"]) == (16, 5, 16)
    assert zhou["components"]["log_days"] == 1.0                       # leave is not missing log days
    new = rows["mem_new"]
    assert (new["since"], new["workdays"], new["log_days"]) == ("2026-11-20", 7, 7)
    assert new["grade"] == "insufficient_first" and new["components"]["log_days"] == 1.0
    assert rows["mem_zhao"]["grade"] == "unqualified"                  # a whole month on the roster, nothing done
    assert "mem_qian" not in rows and "mem_sun" not in rows             # not graded 0
    assert {(r["userid"], r["why"]) for r in data["inactive"]} == {("mem_qian", "off_duty"), ("mem_sun", "left")}
    assert data["members"][-1]["userid"] == "mem_new"                  # after the graded members

    raw = reports.evaluation_csv(data).decode("utf-8-sig")
    assert "数据不足（首月）" in raw and "未在岗" in raw and "钱网格员" in raw


def test_evaluation_workbook_has_an_inactive_sheet(bot, clock, tmp_path):
    from openpyxl import load_workbook

    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_qian"]).on_duty = False
    with bot.app.session() as s:
        data = reports.evaluation(s, "HY", parse_period("2026-10"), SH)
    path = tmp_path / "考核.xlsx"
    reports.evaluation_xlsx(data, path, clock.now())
    wb = load_workbook(path)
    assert wb.sheetnames == ["考核", "未在岗"]
    names = [r[0] for r in wb["未在岗"].iter_rows(min_row=3, values_only=True)]
    assert names == ["钱网格员"]
    assert "钱网格员" not in [r[0] for r in wb["考核"].iter_rows(min_row=4, values_only=True)]


def test_minimum_measured_is_configured(tmp_path):
    from gridbot.config import ConfigError

    (tmp_path / "evaluation.yaml").write_text(
        "weights: {log_days: 1}\ngrades: {excellent: 90, qualified: 75, basic: 60}\n"
        "minimum: {workdays: 3, components: 1}\n", encoding="utf-8")
    rules = reports.EvaluationRules.load(tmp_path)
    assert (rules.min_workdays, rules.min_components) == (3, 1)
    (tmp_path / "evaluation.yaml").write_text(
        "grades: {excellent: 90, qualified: 75, basic: 60}\nminimum: {workdays: 很多}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="minimum"):
        reports.EvaluationRules.load(tmp_path)


# -- 15. --now for coverage and compliance ------------------------------------------------------------------
def _cli(bot, *args):
    from gridbot.cli import main

    env = {"GRIDBOT_DATABASE_URL": bot.app.settings.database_url,
           "GRIDBOT_INSTANCE_DIR": str(bot.app.settings.instance_dir)}
    try:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    finally:
        set_current(bot.app)


def test_coverage_takes_now_like_say(dbot):
    from ..membership_helpers import join

    bot = dbot
    join(bot, "res_d", "HY-01", name="居民D")
    bot.say("登记 1栋2单元101", as_="res_d", chat="HY-01")               # pending from Monday 2 Nov 09:00
    soon = json.loads(_cli(bot, "coverage", "--grid", "HY-01", "--json", "--now", "2026-11-03T09:00").output)
    later = json.loads(_cli(bot, "coverage", "--grid", "HY-01", "--json", "--now", "2026-11-05T09:01").output)
    assert (soon[0]["pending_overdue"], later[0]["pending_overdue"]) == (0, 1)
    snap = json.loads(_cli(bot, "coverage", "snapshot", "--json", "--now", "2026-11-20T23:30").output)
    assert {r["day"] for r in snap} == {"2026-11-20"}
    bad = _cli(bot, "coverage", "--now", "明天")
    assert bad.exit_code != 0 and "ISO-8601" in bad.output


def test_compliance_takes_now_like_say(dbot):
    bot = dbot
    with bot.app.session() as s, s.begin():
        work.add_log(s, member_id=bot.world.members["mem_zhao"], now=local(11, 3, 17), text="巡查", tz=SH)
    result = _cli(bot, "compliance", "--community", "HY", "--period", "本月", "--json", "--now", "2026-11-20T10:00")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["from"], data["until"]) == ("2026-11-01", "2026-11-30")
    assert {m["userid"]: m["log_days"] for m in data["members"]}["mem_zhao"] == 1
    october = json.loads(_cli(bot, "compliance", "--community", "HY", "--period", "上月", "--json",
                              "--now", "2026-11-20T10:00").output)
    assert october["from"] == "2026-10-01"
    bad = _cli(bot, "compliance", "--community", "HY", "--period", "本月", "--now", "20/11")
    assert bad.exit_code != 0 and "ISO-8601" in bad.output



def test_figures_command_counts_log_days_due_so_far_less_leave(bot, clock):
    for day in (2, 3):
        clock.set(local(11, day, 17))
        bot.say("日志 巡查", as_="mem_zhao", private=True)
    clock.set(local(11, 5, 9))
    bot.say("请假 明天", as_="mem_zhao", private=True)              # Thursday 5th and Friday 6th away
    clock.set(local(11, 6, 10))
    text = bot.said("履职 本月", as_="lead_li", private=True)
    zhao = next(line for line in text.splitlines() if "赵网格员" in line)
    assert "日志 2/3 天" in zhao            # due: Mon 2, Tue 3, Wed 4 (not the leave, not the rest of the month)


def test_members_not_at_work_get_no_digest_and_no_registration_notices(bot):
    from gridbot.services import bindings, digest

    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["lead_li"]).on_duty = False        # 在岗：否
        s.get(Member, bot.world.members["mem_zhao"]).on_duty = False
        readers = {m.userid for m, _ in digest.readers(s, bot.world.community_id)}
        told = bindings.grid_member_userids(s, bot.world.grids["HY-01"])
    assert "lead_li" not in readers and "sec_wang" in readers
    assert told == ["mem_qian"]


def test_cli_evaluation_names_the_inactive_and_the_first_month(dbot, tmp_path):
    bot = dbot
    _join(bot, "mem_new", "吴网格员", "HY-02", local(11, 25, 10))
    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_qian"]).on_duty = False
    out = tmp_path / "hy-2026-11.xlsx"
    result = _cli(bot, "report", "evaluation", "--community", "HY", "--period", "2026-11", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "数据不足（首月） 1 人" in result.output and "未在岗 1 人另列" in result.output


def test_escalations_and_reminders_skip_members_marked_not_at_work(bot, clock):
    """在岗=否 gets nothing: an overdue ticket's steps go past an off-duty grid leader (to the grid above's leader)
    and an off-duty assignee's reminder goes to who covers (the A/B partner)."""
    light = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    clock.advance(minutes=10)
    bot.say(f"受理 {light}", as_="mem_zhao", private=True)
    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["lead_li"]).on_duty = False        # 在岗：否 in the roster
        s.get(Member, bot.world.members["mem_zhao"]).on_duty = False
    before = {u: len(outbox_to(bot, u)) for u in ("lead_li", "mem_zhao", "mem_qian", "sec_wang")}
    steps = []
    for hour in (9, 11, 13, 15, 17):                                       # Tuesday, after the 1-day limit
        clock.set(local(11, 3, hour, 15))
        result = jobs.sweep_tickets(app=bot.app)
        steps += result["reminders"] + [e["number"] for e in result["escalations"]]
    # the reminder to who covers (mem_qian: the partner step would be her again), then the grid leader step, which
    # the grid above's leader takes (sec_wang: the secretary step would be him again)
    assert steps == [light, light]
    assert len(outbox_to(bot, "lead_li")) == before["lead_li"]
    assert len(outbox_to(bot, "mem_zhao")) == before["mem_zhao"]
    assert [x for x in outbox_to(bot, "mem_qian")[before["mem_qian"]:] if light in x]
    assert len([x for x in outbox_to(bot, "sec_wang")[before["sec_wang"]:] if light in x]) == 1


def test_no_ticket_is_handed_to_a_member_not_at_work(bot):
    """派遣/转派 to someone marked 在岗=否 or on leave is refused with who covers, and nothing moves."""
    light = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_sun"]).on_duty = False
    said = bot.said(f"转派 {light} @孙网格员 属于第二网格", as_="mem_zhao", private=True)
    assert "孙网格员" in said and "不在岗" in said
    assert assignee(bot, light) == "mem_zhao" and events(bot, light, "transfer") == []
    bot.say("请假 到周三", as_="mem_qian", private=True)
    said = bot.said(f"派遣 {light} @钱网格员", as_="lead_li", private=True)
    assert "请假" in said and assignee(bot, light) == "mem_zhao"


def test_a_member_on_leave_with_nobody_covering_is_not_reminded_the_grid_leader_is(bot, clock):
    light = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    clock.advance(minutes=10)
    bot.say(f"受理 {light}", as_="mem_zhao", private=True)
    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_qian"]).on_duty = False       # the partner cannot cover
    bot.say("请假 到周五", as_="mem_zhao", private=True)
    assert assignee(bot, light) == "mem_zhao"                              # nobody to hand it to
    before = len(outbox_to(bot, "mem_zhao"))
    clock.set(local(11, 3, 9, 15))                                         # past the 1-day limit
    assert jobs.sweep_tickets(app=bot.app)["reminders"] == [light]
    assert len(outbox_to(bot, "mem_zhao")) == before
    assert any(light in x and "超时提醒" in x for x in outbox_to(bot, "lead_li"))


def test_a_grid_leader_on_leave_is_passed_over_by_escalations_the_grid_above_stands_in(bot, clock):
    """请假 counts like 在岗=否 for the ladder: an overdue ticket's grid-leader step goes to the grid above's leader
    while the grid's own leader is on leave."""
    light = report(bot, "1栋2单元楼道灯坏了好几天了", as_="res_a")
    clock.advance(minutes=10)
    bot.say(f"受理 {light}", as_="mem_zhao", private=True)
    bot.say("请假 到周三", as_="lead_li", private=True)
    before = {u: len(outbox_to(bot, u)) for u in ("lead_li", "sec_wang")}
    for hour in (9, 11, 13, 15, 17):                                       # Tuesday, after the 1-day limit
        clock.set(local(11, 3, hour, 15))
        jobs.sweep_tickets(app=bot.app)
    assert not [x for x in outbox_to(bot, "lead_li")[before["lead_li"]:] if light in x]
    assert [x for x in outbox_to(bot, "sec_wang")[before["sec_wang"]:] if light in x]
