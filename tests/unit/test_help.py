"""帮助 and the router's basic manners, through the bot as a person would use it."""
import pytest


def test_resident_help_lists_only_what_residents_may_do(bot):
    text = bot.said("帮助", as_="resident_a")
    assert "网格小助手" in text
    assert "帮助" in text
    assert "直接@我" in text


def test_member_help_greets_by_name(bot):
    text = bot.said("帮助", as_="mem_zhao")
    assert "赵网格员" in text


def test_help_for_one_command_gives_usage_and_example(bot):
    text = bot.said("帮助 帮助", as_="mem_zhao")
    assert "用法" in text and "例如" in text


def test_help_for_unknown_command_says_so(bot):
    assert "没有“飞行”这个命令" in bot.said("帮助 飞行", as_="mem_zhao")


def test_full_width_slash_and_spaces_are_accepted(bot):
    assert "网格小助手" in bot.said("／帮助　", as_="resident_a")


def test_unrecognised_resident_text_is_acknowledged_politely(bot):
    replies = bot.say("明天团购的鸡蛋几点到", as_="resident_a")
    assert len(replies) == 1 and "收到" in replies[0]


@pytest.mark.parametrize("text", ["谢谢", "收到，谢谢", "好的，辛苦了！", "谢谢网格员"])
def test_thanks_get_a_thank_you_not_a_prompt_to_report_a_repair(bot, text):
    (reply,) = bot.say(text, as_="resident_a")
    assert "不客气" in reply and "报事报修" not in reply


@pytest.mark.parametrize("text", ["你好", "大家早上好", "在吗？"])
def test_greetings_are_greeted(bot, text):
    (reply,) = bot.say(text, as_="resident_a")
    assert reply.startswith("您好") and "收到，谢谢" not in reply


def test_same_message_delivered_twice_is_processed_once(bot):
    from gridbot.messages import Inbound
    from gridbot.pipeline.process import handle_now

    msg = dict(platform="console", sender_id="resident_a", text="帮助", chat_id=bot.chat("HY-01"), msg_id="m-1")
    first = handle_now(bot.app, Inbound(**msg))
    second = handle_now(bot.app, Inbound(**msg))
    assert [r.text for r in first] == [r.text for r in second]
    from sqlalchemy import func, select

    from gridbot.models import InboundMessage, OutboxMessage

    with bot.app.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_member_help_in_a_group_goes_privately_grouped_by_kind_of_work(bot):
    replies = bot.send("帮助", as_="mem_zhao", chat="HY-01")
    in_group = [r.text for r in replies if r.to_user is None]
    private = [r.text for r in replies if r.to_user == "mem_zhao"]
    assert len(in_group) == 1 and "私信" in in_group[0] and "受理" not in in_group[0]
    assert private and "【工单】" in private[0] and "【一户一代表】" in private[0] and "受理" in private[0]


def test_member_help_in_a_private_chat_is_answered_there(bot):
    replies = bot.send("帮助", as_="mem_zhao", private=True)
    assert len(replies) == 1 and "赵网格员" in replies[0].text and "【工单】" in replies[0].text


def test_resident_help_explains_their_own_use_of_shared_commands_and_rating(bot):
    text = bot.said("帮助", as_="resident_a")
    assert "同“办结”" not in text and "网格员可按登记号" not in text
    assert "满意" in text
    one = bot.said("帮助 反馈", as_="resident_a")
    assert "工单号" not in one and "用法：反馈" in one


def test_a_report_in_a_group_no_grid_owns_is_told_it_reaches_nobody_yet(bot):
    text = bot.said("1栋楼道灯坏了", as_="resident_a", chat="chat-unbound-9")
    assert "还没有绑定到网格" in text and "请说明具体情况" not in text


def test_a_bare_mention_is_greeted_not_ignored(bot):
    (reply,) = bot.say("", as_="resident_a")          # "@网格小助手" with nothing after it
    assert reply.startswith("您好")


def test_a_members_urgent_report_is_not_answered_with_not_understood(bot):
    from sqlalchemy import func, select

    from gridbot.models import Ticket

    text = bot.said("1栋电梯坏了，有人困在里面", as_="mem_qian")
    assert "没有听懂" not in text and "工单号" in text
    bot.say("1栋2单元楼道灯明天上午停电检修", as_="mem_zhao")     # a member's notice stays a notice
    with bot.app.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
