"""A resident's ordinary sentence must never be eaten by a command that merely shares its first word.

Found by walking the demo as residents: "提醒一下物业，2栋电梯又坏了，困了人" was refused as the members'
提醒 command and no ticket was made; "帮助：1栋1单元101老人摔倒了" answered "没有这个命令".
"""
import pytest
from sqlalchemy import func, select

from gridbot.models import AuditLog, Ticket


def count_tickets(bot) -> int:
    with bot.app.session() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


@pytest.mark.parametrize("text", [
    "提醒一下物业，2栋电梯又坏了，困了人",
    "值班的网格员在吗？1栋楼道有人私拉电线给电动车充电",
    "公告栏旁边2栋的路灯坏了好几天了",
    "走访的时候能不能看看1栋1单元101的水管，一直漏水",
])
def test_sentence_starting_with_a_members_command_word_reaches_the_ticket_rules(bot, text):
    replies = bot.said(text, as_="res_a")
    assert "网格员使用的功能" not in replies
    assert "工单号" in replies
    assert count_tickets(bot) == 1


def test_help_followed_by_an_emergency_is_a_request_not_an_unknown_command(bot):
    text = bot.said("帮助：1栋1单元101老人摔倒了起不来", as_="res_a")
    assert "这个命令" not in text
    assert "工单号" in text and count_tickets(bot) == 1


def test_help_with_an_unknown_short_word_still_says_there_is_no_such_command(bot):
    assert "没有“飞行”这个命令" in bot.said("帮助 飞行", as_="res_a")


@pytest.mark.parametrize("text", ["登记一下，我家1栋1单元101厨房水管漏水了", "登记的事情怎么办理？需要什么材料"])
def test_sentence_starting_with_dengji_is_not_a_registration(bot, text):
    replies = bot.said(text, as_="res_a")
    assert "门牌" not in replies or "工单号" in replies
    assert "登记申请" not in replies and "用法：登记" not in replies


def test_glued_registration_with_an_address_still_registers(bot):
    assert "登记申请已收到" in bot.said("登记1栋1单元101", as_="res_a")
    assert "登记申请已收到" in bot.said("登记二栋一单元一零一", as_="res_b")


def test_resident_typing_a_members_command_is_still_told_it_is_for_members_and_audited(bot):
    assert "网格员使用的功能" in bot.said("确认 1", as_="res_b")
    assert "网格员使用的功能" in bot.said("签到", as_="res_b")
    with bot.app.session() as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.action == "command.refused")).all()
    assert sorted(r.entity_id for r in refused) == ["确认", "签到"]


def test_free_text_keeps_its_chinese_punctuation(bot):
    bot.say("日志 巡查1栋，处理漏水一起；走访2户！", as_="mem_zhao")
    text = bot.said("本周日志", as_="mem_zhao", private=True)
    assert "巡查1栋，处理漏水一起；走访2户！" in text


def test_full_width_arguments_are_still_understood(bot):
    assert "已设置提醒" in bot.said("提醒　明天下午３：００　交周报", as_="mem_zhao")
    assert "已签到" in bot.said("／签到：１栋门口", as_="mem_zhao")


@pytest.mark.parametrize("text,expected", [("值班？", "值班："), ("待办。", "待办工单"), ("销假！", "没有请假"),
                                           ("确认#99", "登记号为 99")])
def test_a_bare_command_with_an_end_mark_or_hash_is_still_the_command(bot, text, expected):
    assert expected in bot.said(text, as_="mem_zhao", private=True)


def test_a_residents_bare_command_with_a_question_mark_is_still_the_command(bot):
    assert "您还没有提交过诉求" in bot.said("我的工单？", as_="res_a")
