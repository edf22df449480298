"""Members' duties through the bot, as people use them: 签到/签退, 走访/转工单, 日志/审核, 值班/请假, 待走访."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from gridbot.messages import Inbound, Location
from gridbot.models import AuditLog, Household
from gridbot.models.work import Leave, Patrol, Visit, WorkLog
from gridbot.pipeline.process import handle_now
from gridbot.services import work


def rows(bot, model, *where):
    with bot.app.session() as s:
        return list(s.scalars(select(model).where(*where).order_by(model.id)))


def audits(bot, action):
    with bot.app.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action)))


def send_location(bot, as_, lat, lng, label=None, chat=None):
    inbound = Inbound(platform="console", sender_id=as_, kind="location", chat_id=bot.chat(chat) if chat else None,
                      chat_type="group" if chat else "single", msg_id=f"loc-{lat}-{lng}-{as_}",
                      location=Location(lat, lng, label))
    return [r.text for r in handle_now(bot.app, inbound)]


# -- 签到 / 签退 ---------------------------------------------------------------------------------------
def test_checkin_in_grid_group_with_place_then_checkout_records_length(bot, clock):
    reply = bot.said("/签到 3栋门口 检查消防通道", as_="mem_zhao", chat="HY-01")
    assert "已签到：第一网格" in reply and "3栋门口" in reply and "11月2日 09:00" in reply
    clock.advance(minutes=85)
    reply = bot.said("签退 未发现隐患", as_="mem_zhao", chat="HY-01")
    assert "1小时25分钟" in reply and "09:00–10:25" in reply
    (patrol,) = rows(bot, Patrol)
    assert patrol.place == "3栋门口" and patrol.note == "检查消防通道" and patrol.end_note == "未发现隐患"
    assert patrol.ended_at - patrol.started_at == timedelta(minutes=85)


def test_patrol_alias_full_width_and_glued(bot):
    assert "已签到" in bot.said("／巡查　小区东门", as_="mem_zhao", chat="HY-01")
    assert "还没有签退" in bot.said("签到：小区西门", as_="mem_zhao", chat="HY-01")
    assert len(rows(bot, Patrol)) == 1


def test_checkin_in_private_uses_the_members_only_grid(bot):
    assert "第三网格" in bot.said("签到 5栋", as_="mem_zhou", private=True)


def test_checkin_in_private_asks_which_grid_when_several_then_accepts_code(bot):
    reply = bot.said("签到 3栋门口", as_="lead_li", private=True)
    assert "哪个网格" in reply and "HY-01" in reply and "HY-02" in reply
    assert not rows(bot, Patrol)
    assert "第二网格" in bot.said("签到 HY-02 3栋门口", as_="lead_li", private=True)


def test_checkin_naming_only_the_grid_takes_it_as_the_place(bot):
    assert "已签到：第二网格，11月2日 09:00，地点：第二网格" in bot.said("签到 第二网格", as_="lead_li", private=True)


def test_checkin_needs_a_place_or_location(bot):
    reply = bot.said("签到", as_="mem_zhao", chat="HY-01")
    assert "位置" in reply and "用法" in reply and "例如" in reply
    assert not rows(bot, Patrol)


def test_checkin_with_a_wecom_location_message(bot):
    reply = send_location(bot, "mem_zhou", 30.25, 120.16, "和园小区5栋")
    assert "已签到：第三网格" in " ".join(reply) and "和园小区5栋" in " ".join(reply)
    (patrol,) = rows(bot, Patrol)
    assert (patrol.latitude, patrol.longitude) == (30.25, 120.16)


def test_checkin_text_after_location_event_uses_reported_location(bot, clock):
    event = Inbound(platform="console", sender_id="mem_zhou", kind="event", event="LOCATION", chat_type="single",
                    event_data={"Latitude": "30.1", "Longitude": "120.2", "Precision": "30"})
    assert handle_now(bot.app, event) == []          # a location report alone says nothing
    clock.advance(minutes=2)
    assert "已签到" in bot.said("签到", as_="mem_zhou", private=True)
    (patrol,) = rows(bot, Patrol)
    assert (patrol.latitude, patrol.longitude) == (30.1, 120.2)


def test_checkin_in_someone_elses_grid_is_refused_and_audited(bot):
    reply = bot.said("签到 HY-03 5栋", as_="mem_zhao", private=True)
    assert "不负责第三网格" in reply
    assert not rows(bot, Patrol)
    (entry,) = audits(bot, "command.out_of_scope")
    assert entry.actor == "member:mem_zhao" and entry.entity_id == "HY-03"


def test_location_event_during_text_patrol_locates_it_at_checkout(bot, clock):
    bot.say("签到 5栋", as_="mem_zhou", private=True)
    clock.advance(minutes=30)
    event = Inbound(platform="console", sender_id="mem_zhou", kind="event", event="LOCATION", chat_type="single",
                    event_data={"Latitude": "30.3", "Longitude": "120.4"})
    assert handle_now(bot.app, event) == []
    clock.advance(minutes=5)
    assert "35分钟" in bot.said("签退", as_="mem_zhou", private=True)
    (patrol,) = rows(bot, Patrol)
    assert (patrol.place, patrol.latitude, patrol.longitude) == ("5栋", 30.3, 120.4)


def test_checkin_in_another_grids_group_is_refused(bot):
    assert "不负责第三网格" in bot.said("签到 5栋", as_="mem_zhao", chat="HY-03")
    assert not rows(bot, Patrol)
    assert audits(bot, "command.out_of_scope")


def test_checkout_without_patrol(bot):
    assert "没有进行中的巡查" in bot.said("签退", as_="mem_zhao", chat="HY-01")


def test_resident_cannot_check_in_and_is_audited(bot):
    reply = bot.said("签到 3栋", as_="resident_a", chat="HY-01")
    assert "网格员使用的功能" in reply
    assert not rows(bot, Patrol)
    assert audits(bot, "command.refused")


def test_leader_and_secretary_can_patrol_their_grids(bot):
    assert "第二网格" in bot.said("签到 3栋", as_="lead_li", chat="HY-02")
    assert "第三网格" in bot.said("签到 5栋", as_="sec_wang", chat="HY-03")


# -- 走访 / 转工单 --------------------------------------------------------------------------------------
def test_visit_links_household_notes_tags_and_follow_up(bot):
    replies = bot.send("走访 3栋2单元101 独居老人身体良好，需要代买药", as_="mem_sun", chat="HY-02")
    group = [r for r in replies if not r.to_user]
    private = [r for r in replies if r.to_user == "mem_sun"]
    assert group and "私信" in group[0].text and "3栋" not in group[0].text
    assert "已记录走访" in private[0].text and "3栋2单元101" in private[0].text and "需要代买药" in private[0].text
    (v,) = rows(bot, Visit)
    assert v.tags == ["独居老人"] and v.follow_up == "需要代买药" and v.note == "独居老人身体良好，需要代买药"
    with bot.app.session() as s:
        h = s.get(Household, v.household_id)
        assert (h.building, h.unit, h.room) == ("3", "2", "101")
        assert h.tags == ["独居老人"] and h.updated_by == "member:mem_sun"
    assert audits(bot, "household.tags_added")


def test_visit_glued_chinese_numerals_in_private(bot):
    reply = bot.said("走访三栋二单元一零一，一切正常，已邀请进群", as_="mem_sun", private=True)
    assert "已记录走访" in reply and "已邀请进群" in reply and "需跟进" not in reply
    (v,) = rows(bot, Visit)
    assert v.invited_to_group and v.follow_up is None and v.tags == []


def test_visit_without_address_answers_usage(bot):
    reply = bot.said("走访 老人身体很好", as_="mem_sun", chat="HY-02")
    assert "门牌" in reply and "例如" in reply
    assert not rows(bot, Visit)


def test_visit_unknown_household(bot):
    assert "没有找到 3栋2单元909" in bot.said("走访 3栋2单元909 正常", as_="mem_sun", private=True)


def test_visit_outside_scope_is_refused_and_audited(bot):
    reply = bot.said("走访 5栋1单元101 正常", as_="mem_zhao", private=True)
    assert "不在您负责的网格" in reply
    assert not rows(bot, Visit)
    assert audits(bot, "command.out_of_scope")


def test_leader_visits_in_grid_under_them(bot):
    assert "已记录走访" in bot.said("走访 3栋1单元102 正常", as_="lead_li", private=True)
    assert "不在您负责的网格" in bot.said("走访 5栋1单元102 正常", as_="lead_li", private=True)
    assert "已记录走访" in bot.said("走访 5栋1单元102 正常", as_="sec_wang", private=True)


def test_visit_says_the_ledger_was_updated_only_when_it_was(bot):
    first = bot.said("走访 3栋1单元102 独居老人，身体还好", as_="mem_sun", private=True)
    assert "已更新到住户台账" in first
    again = bot.said("走访 3栋1单元102 独居老人，精神不错", as_="mem_sun", private=True)
    assert "已更新到住户台账" not in again and "台账里已有" in again
    assert len(audits(bot, "household.tags_added")) == 1


def test_to_ticket_needs_a_follow_up(bot):
    assert "还没有走访记录" in bot.said("转工单", as_="mem_sun", private=True)
    bot.say("走访 3栋1单元101 一切正常", as_="mem_sun", private=True)
    assert "没有需要跟进的事" in bot.said("转工单", as_="mem_sun", private=True)
    assert "应为数字" in bot.said("转工单 abc", as_="mem_sun", private=True)
    assert "没有编号为 99" in bot.said("转工单 99", as_="mem_sun", private=True)


def test_to_ticket_of_another_grids_visit_is_refused(bot):
    bot.say("走访 5栋1单元101 需要修水管", as_="mem_zhou", private=True)
    (v,) = rows(bot, Visit)
    assert "不在您负责的网格" in bot.say(f"转工单 {v.id}", as_="mem_sun", private=True)[0]


def test_to_ticket_makes_an_assistance_ticket_for_the_household(bot):
    from gridbot.models import Ticket

    bot.say("走访 3栋1单元101 独居老人，需要代买降压药", as_="mem_sun", private=True)
    reply = bot.said("转工单", as_="mem_sun", private=True)
    (v,) = rows(bot, Visit)
    (ticket,) = rows(bot, Ticket)
    assert f"已转为工单 {ticket.number}" in reply and v.ticket_id == ticket.id
    assert (ticket.building, ticket.unit, ticket.room, ticket.grid_id) == ("3", "1", "101", v.grid_id)
    assert ticket.household_id == v.household_id and ticket.category == "assistance"
    again = bot.said(f"转工单 {v.id}", as_="mem_sun", private=True)
    assert f"已经转为工单 {ticket.number}" in again  # the number people know, not the row id
    assert audits(bot, "visit.ticket")


def test_unknown_grid_example_is_one_of_the_members_own_grids(bot):
    text = bot.said("值班 火星", as_="mem_sun", private=True)
    assert "没有找到网格“火星”" in text and "HY-02" in text
    text = bot.said("待走访 火星", as_="mem_zhou", private=True)
    assert "HY-03" in text and "HY-01" not in text


# -- 日志 / 本周日志 / 本月日志 / 审核 ------------------------------------------------------------------
def test_logs_many_a_day_and_week_summary(bot, clock):
    assert "今天第 1 条" in bot.said("日志 巡查1栋", as_="mem_zhao", private=True)
    assert "今天第 2 条" in bot.said("日志：走访3户", as_="mem_zhao", private=True)
    clock.advance(days=1)
    bot.say("日志 协调漏水", as_="mem_zhao", private=True)
    clock.advance(days=6)    # next Monday: a new week
    bot.say("日志 下周的事", as_="mem_zhao", private=True)
    clock.advance(days=-6)
    reply = bot.said("本周日志", as_="mem_zhao", private=True)
    assert "共 3 条，2 天有记录" in reply and "巡查1栋；走访3户" in reply and "下周的事" not in reply
    assert "共 4 条，3 天有记录" in bot.said("本月日志", as_="mem_zhao", private=True)


def test_log_without_text_answers_usage(bot):
    assert "用法" in bot.said("日志", as_="mem_zhao", private=True)
    assert not rows(bot, WorkLog)


def test_week_logs_when_empty(bot):
    assert "还没有工作日志" in bot.said("本周日志", as_="mem_zhao", private=True)


def test_member_cannot_read_anothers_logs_leader_can(bot):
    bot.say("日志 巡查1栋", as_="mem_zhao", private=True)
    assert "不能查看" in bot.said("本周日志 钱网格员", as_="mem_zhao", private=True)
    assert "巡查1栋" in bot.said("本周日志 赵网格员", as_="lead_li", private=True)
    assert "不能查看" in bot.said("本周日志 周网格员", as_="lead_li", private=True)
    assert len(audits(bot, "command.out_of_scope")) == 2


def test_review_lists_pending_then_reviews_and_notifies(bot, clock):
    bot.say("日志 巡查1栋", as_="mem_zhao", private=True)
    bot.say("日志 巡查5栋", as_="mem_zhou", private=True)
    listing = bot.said("审核", as_="sec_wang", private=True)
    assert "赵网格员：1 条" in listing and "周网格员：1 条" in listing
    replies = bot.send("审核 赵网格员 本周 记录详实", as_="sec_wang", private=True)
    assert "已审核赵网格员本周的 1 条工作日志，意见：记录详实" in replies[0].text
    assert replies[1].to_user == "mem_zhao" and "王书记审核了您本周" in replies[1].text
    (entry,) = rows(bot, WorkLog, WorkLog.member_id == bot.world.members["mem_zhao"])
    assert entry.reviewed_by == bot.world.members["sec_wang"] and entry.review_comment == "记录详实"
    assert "没有待审核" in bot.said("审核 赵网格员", as_="sec_wang", private=True)
    assert "审核意见：记录详实" in bot.said("本周日志", as_="mem_zhao", private=True)


def test_log_summary_asked_in_group_goes_privately_and_phones_are_masked(bot):
    bot.say("日志 走访1栋1单元101，家属电话13812345678", as_="mem_zhao", private=True)
    replies = bot.send("本周日志", as_="mem_zhao", chat="HY-01")
    assert [r.to_user for r in replies] == [None, "mem_zhao"]
    assert "138****5678" in replies[1].text and "13812345678" not in replies[1].text
    assert "1栋" not in replies[0].text


def test_visit_reply_masks_phone_in_follow_up(bot):
    reply = bot.said("走访 3栋1单元101 需要联系女儿13812345678", as_="mem_sun", private=True)
    assert "138****5678" in reply and "13812345678" not in reply


def test_review_in_a_group_is_answered_privately(bot):
    bot.say("日志 巡查1栋", as_="mem_zhao", private=True)
    listing = bot.send("审核", as_="lead_li", chat="HY-01")
    assert [r.to_user for r in listing] == [None, "lead_li"] and "赵网格员" not in listing[0].text
    replies = bot.send("审核 赵网格员 本周 再细一点", as_="lead_li", chat="HY-01")
    in_group = [r.text for r in replies if r.to_user is None]
    assert len(in_group) == 1 and "再细一点" not in in_group[0] and "赵网格员" not in in_group[0]
    assert any(r.to_user == "mem_zhao" and "再细一点" in r.text for r in replies)


def test_review_written_with_chinese_commas(bot):
    bot.say("日志 巡查1栋", as_="mem_zhao", private=True)
    reply = bot.said("审核：赵网格员，本周，记录详实，继续保持", as_="lead_li", private=True)
    assert "已审核赵网格员本周的 1 条工作日志" in reply and "记录详实，继续保持" in reply


def test_leave_reason_in_brackets_is_not_bracketed_twice(bot):
    replies = bot.send("请假，到周五（家里有事）", as_="mem_zhao", private=True)
    notice = [r.text for r in replies if r.to_user == "mem_qian"]
    assert notice and "（家里有事）" in notice[0] and "（（" not in notice[0]


def test_leader_cannot_review_own_logs(bot):
    bot.say("日志 巡查", as_="lead_li", private=True)
    assert "不能审核自己" in bot.said("审核 李网格长", as_="lead_li", private=True)


def test_review_is_for_leaders_only(bot):
    bot.say("日志 巡查1栋", as_="mem_qian", private=True)
    assert "没有使用“审核”的权限" in bot.said("审核 钱网格员", as_="mem_zhao", private=True)
    assert "不能查看或审核周网格员" in bot.said("审核 周网格员", as_="lead_li", private=True)
    assert "没有找到网格员" in bot.said("审核 不存在的人", as_="lead_li", private=True)


# -- 值班 / 请假 / 销假 ---------------------------------------------------------------------------------
def test_duty_lists_grid_members(bot):
    reply = bot.said("值班", as_="mem_zhao", chat="HY-01")
    assert "第一网格" in reply and "赵网格员（专职网格员）" in reply and "钱网格员（兼职网格员）" in reply
    assert "13900000000" not in reply


def test_leave_until_friday_hands_over_to_partner(bot, clock):
    replies = bot.send("请假 到周五 家里有事", as_="mem_zhao", chat="HY-01")
    assert "11月6日（周五）" in replies[0].text and "钱网格员" in replies[0].text
    notice = [r for r in replies if r.to_user == "mem_qian"]
    assert notice and "赵网格员请假至 11月6日（周五）（家里有事）" in notice[0].text
    duty = bot.said("值班", as_="mem_qian", chat="HY-01")
    assert "赵网格员 请假至 11月6日（周五），由 钱网格员 代班" in duty
    assert "钱网格员（兼职网格员，代赵网格员值班）" in duty
    with bot.app.session() as s:
        assert work.covering_member(s, bot.world.members["mem_zhao"], clock.now()).userid == "mem_qian"
    clock.set(datetime(2026, 11, 6, 15, 59, tzinfo=UTC))     # Friday 23:59 local: still away
    assert "请假至" in bot.said("值班", as_="mem_qian", chat="HY-01")
    clock.set(datetime(2026, 11, 6, 16, 0, tzinfo=UTC))      # Saturday 00:00 local: back
    assert "请假至" not in bot.said("值班", as_="mem_qian", chat="HY-01")


def test_leave_then_cancel(bot):
    bot.say("请假 3天", as_="mem_zhao", private=True)
    replies = bot.send("销假", as_="mem_zhao", private=True)
    assert "已销假" in replies[0].text and replies[1].to_user == "mem_qian"
    assert "请假至" not in bot.said("值班", as_="mem_zhao", chat="HY-01")
    assert "没有请假" in bot.said("销假", as_="mem_zhao", private=True)


def test_leave_without_partner_says_so(bot):
    reply = bot.said("请假 到明天", as_="mem_sun", private=True)
    assert "没有可以代班" in reply
    (leave,) = rows(bot, Leave)
    assert leave.partner_id is None


def test_a_partner_marked_off_duty_does_not_cover_and_is_shown_off_duty(bot):
    from gridbot.models import Member

    with bot.app.session() as s, s.begin():
        s.get(Member, bot.world.members["mem_qian"]).on_duty = False   # 在岗：否 in the roster
    replies = bot.send("请假 到周五", as_="mem_zhao", chat="HY-01")
    assert "没有可以代班" in replies[0].text and not [r for r in replies if r.to_user == "mem_qian"]
    (leave,) = rows(bot, Leave)
    assert leave.partner_id is None
    duty = bot.said("值班", as_="mem_zhao", chat="HY-01")
    assert "钱网格员（兼职网格员，不在岗）" in duty and "代赵网格员值班" not in duty


def test_leave_for_days_written_in_chinese_and_a_past_day_is_named(bot):
    assert "已登记请假" in bot.said("请假 三天 培训", as_="mem_zhao", private=True)
    (leave,) = rows(bot, Leave)
    assert leave.reason == "培训"
    assert "已经过去了" in bot.said("请假 到昨天", as_="mem_sun", private=True)


def test_leave_hands_the_open_tickets_over(bot):
    import re

    ack = bot.said("1栋2单元楼道灯坏了好几天了", as_="res_a")
    number = re.search(r"HY-\d{8}-\d{4}", ack).group(0)
    replies = bot.send("请假 到周五", as_="mem_zhao", chat="HY-01")
    assert f"1 个未办结工单（{number}）已转给 钱网格员" in replies[0].text   # moved, not left to a 转派
    notice = [r.text for r in replies if r.to_user == "mem_qian"]
    assert notice and number in notice[0]


def test_leave_with_unreadable_date_answers_usage(bot):
    reply = bot.said("请假 过几天", as_="mem_zhao", private=True)
    assert "没看懂" in reply and "例如" in reply
    assert not rows(bot, Leave)


def test_resident_cannot_see_duty(bot):
    assert "网格员使用的功能" in bot.said("值班", as_="resident_a", chat="HY-01")


# -- 待走访 --------------------------------------------------------------------------------------------
def test_due_visits_go_privately_nearest_first_and_shrink_after_visits(bot, clock):
    replies = bot.send("待走访", as_="mem_zhao", chat="HY-01")
    assert [r.to_user for r in replies] == [None, "mem_zhao"]
    assert "1栋" not in replies[0].text
    listing = replies[1].text
    assert "待走访 12 户（重点户 1 户" in listing
    assert "1栋1单元101 【重点户·独居老人，本季度未访】" in listing
    assert "13800000000" not in listing and "住户" not in listing.split("\n", 1)[1]
    bot.say("走访 2栋2单元201 正常", as_="mem_zhao", private=True)
    listing = bot.said("待走访", as_="mem_zhao", private=True)
    assert "待走访 11 户" in listing
    lines = listing.splitlines()[1:]
    assert lines[0].startswith("· 2栋"), "the building last visited comes first"
    assert "2栋2单元201" not in listing


def test_key_household_visited_last_quarter_is_due_again_but_not_overdue(bot, clock):
    clock.set(datetime(2026, 9, 20, 2, tzinfo=UTC))
    bot.say("走访 1栋1单元101 身体好", as_="mem_zhao", private=True)
    clock.set(datetime(2026, 11, 2, 2, tzinfo=UTC))
    listing = bot.said("待走访", as_="mem_zhao", private=True)
    line = next(x for x in listing.splitlines() if "1栋1单元101" in x)
    assert "上次 9月20日" in line and "逾期" not in line
    assert "待走访 12 户（重点户 1 户，逾期 0 户）" in listing   # the key household once, as quarterly


def test_due_visits_for_a_named_grid_and_scope(bot):
    assert "第二网格待走访 6 户" in bot.said("待走访 HY-02", as_="lead_li", private=True)
    assert "不负责第三网格" in bot.said("待走访 HY-03", as_="lead_li", private=True)


# -- pure parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,tags,follow_up,invited", [
    ("独居老人身体良好，需要代买药", ["独居老人"], "需要代买药", False),
    ("低保户，孩子是留守儿童，帮忙申请助学", ["困难", "留守儿童"], "帮忙申请助学", False),
    ("一切正常，不需要帮助", [], None, False),
    ("残疾人家庭，已邀请进群", ["残疾"], None, True),
])
def test_read_visit_notes(text, tags, follow_up, invited):
    notes = work.read_visit_notes(text)
    assert (notes.tags, notes.follow_up, notes.invited) == (tags, follow_up, invited)


@pytest.mark.parametrize("text,expected", [
    ("到周五", date(2026, 11, 6)), ("周一", date(2026, 11, 2)), ("下周一", date(2026, 11, 9)),
    ("到11月10日 看病", date(2026, 11, 10)), ("到1号", date(2026, 12, 1)), ("3天", date(2026, 11, 4)),
    ("到明天", date(2026, 11, 3)), ("至2027-01-03", date(2027, 1, 3)), ("到2月30日", None), ("过几天", None),
])
def test_parse_until(text, expected):
    parsed = work.parse_until(text, date(2026, 11, 2))
    assert (parsed[0] if parsed else None) == expected


# -- roles -----------------------------------------------------------------------------------------------
WORK_COMMANDS = ["签到 3栋", "巡查 3栋", "签退", "走访 1栋1单元101 正常", "转工单", "日志 今天", "本周日志", "本月日志",
                 "审核", "值班", "请假 到周五", "销假", "待走访"]


@pytest.mark.parametrize("text", WORK_COMMANDS)
def test_every_work_command_refuses_residents_politely_and_audits(bot, text):
    reply = bot.said(text, as_="resident_a", chat="HY-01")
    assert "网格员使用的功能" in reply
    refused = audits(bot, "command.refused")
    assert len(refused) == 1 and refused[0].actor == "resident:resident_a"
    for model in (Patrol, Visit, WorkLog, Leave):
        assert not rows(bot, model)


def test_help_lists_work_commands_for_members_not_residents(bot):
    member_help = bot.said("帮助", as_="mem_qian", private=True)
    for name in ("签到", "走访", "日志", "值班", "请假", "待走访"):
        assert name in member_help
    assert "审核" not in member_help            # leaders only
    assert "审核" in bot.said("帮助", as_="lead_li", private=True)
    resident_help = bot.said("帮助", as_="resident_a", chat="HY-01")
    assert "签到" not in resident_help and "待走访" not in resident_help
    assert "用法：走访 楼栋单元门牌 情况说明" in bot.said("帮助 走访", as_="mem_qian", private=True)


def test_part_time_member_does_the_daily_round(bot, clock):
    assert "已签到：第一网格" in bot.said("签到 2栋", as_="mem_qian", chat="HY-01")
    assert "已记录走访" in bot.said("走访 2-1-102 正常", as_="mem_qian", private=True)
    clock.advance(minutes=30)
    assert "30分钟" in bot.said("签退", as_="mem_qian", chat="HY-01")
    assert "今天第 1 条" in bot.said("日志 巡查2栋", as_="mem_qian", private=True)


# -- the daily private 待走访 push (a job the scheduler can run) -------------------------------------------
def test_due_visit_job_sends_each_visiting_member_their_list_once(bot, clock):
    from gridbot import jobs
    from gridbot.models import OutboxMessage

    bot.say("请假 到周五", as_="mem_zhao", private=True)
    assert jobs.send_due_visit_lists() == 3             # mem_qian, mem_sun, mem_zhou; not leaders, not on leave
    assert jobs.send_due_visit_lists() == 0             # the same day again: nothing twice
    pushed = rows(bot, OutboxMessage, OutboxMessage.idempotency_key.like("due-visits:%"))
    assert sorted(r.target for r in pushed) == ["mem_qian", "mem_sun", "mem_zhou"]
    assert all(r.target_type == "user" for r in pushed)
    sun = next(r for r in pushed if r.target == "mem_sun")
    assert "第二网格待走访 6 户" in sun.content["text"] and "13800000000" not in sun.content["text"]
    clock.advance(days=1)
    assert jobs.send_due_visit_lists() == 3


def test_figures_command_for_leaders_privately_scoped(bot, clock):
    bot.say("签到 1栋", as_="mem_zhao", chat="HY-01")
    replies = bot.send("履职", as_="lead_li", chat="HY-01")
    assert [r.to_user for r in replies] == [None, "lead_li"]
    report = replies[1].text
    assert "2026-11" in report and "HY-01 第一网格：巡查 1/1 月 · 1 次" in report
    assert "赵网格员" in report and "孙网格员" in report
    assert "周网格员" not in report and "HY-03" not in report.split("【网格员】")[0]
    assert "周网格员" in bot.said("履职 本月", as_="sec_wang", private=True)
    assert "没看懂统计期" in bot.said("履职 去年夏天", as_="sec_wang", private=True)
    assert "没有使用“履职”的权限" in bot.said("履职", as_="mem_zhao", private=True)
    assert "2026-10" in bot.said("履职 上月", as_="sec_wang", private=True)


def test_a_long_due_list_can_be_read_building_by_building(bot, monkeypatch):
    monkeypatch.setattr(work, "DUE_LIST_LIMIT", 3)
    text = bot.said("待走访", as_="mem_zhao", private=True)
    assert "还有 9 户" in text and "如“待走访 " in text and "网格编码" not in text
    two = bot.said("待走访 2栋", as_="mem_zhao", private=True)
    assert "（2栋）待走访 6 户" in two and "1栋" not in two.replace("如“待走访", "")
