"""一户一代表 bindings through the bot, as residents and members use them: 登记, 确认, 驳回, 绑定, 解绑, 迁出."""
from __future__ import annotations

from sqlalchemy import select

from gridbot.models import AuditLog, ChatIdentity, Household, HouseholdBinding

from ..membership_helpers import join


def household(bot, building, unit, room, grid="HY-01"):
    with bot.app.session() as s:
        return s.scalar(select(Household).where(Household.grid_id == bot.world.grids[grid],
                                                Household.building == building, Household.unit == unit,
                                                Household.room == room))


def bindings_of(bot, user_id):
    """(address, status, end_reason) of every binding of this person, oldest first."""
    with bot.app.session() as s:
        rows = s.execute(select(Household.building, Household.unit, Household.room, HouseholdBinding.status,
                                HouseholdBinding.end_reason)
                         .join(Household, Household.id == HouseholdBinding.household_id)
                         .join(ChatIdentity, ChatIdentity.id == HouseholdBinding.identity_id)
                         .where(ChatIdentity.user_id == user_id).order_by(HouseholdBinding.id)).all()
    return [(f"{b}-{u}-{r}", st, why) for b, u, r, st, why in rows]


def number_in(text: str) -> int:
    import re

    return int(re.search(r"登记号 (\d+)", text).group(1))


def register(bot, user, address, chat="HY-01"):
    join(bot, user, chat, name=f"居民{user}")
    replies = bot.send(f"登记 {address}", as_=user, chat=chat, name=f"居民{user}")
    return replies, number_in(replies[0].text)


def test_registration_is_pending_and_members_of_that_grid_are_told_privately(bot):
    replies, number = register(bot, "res_a", "1栋1单元101")
    assert "登记申请已收到" in replies[0].text and replies[0].to_user is None
    assert "1栋1单元101" not in replies[0].text          # the group does not hear the address
    told = {r.to_user: r.text for r in replies[1:]}
    assert set(told) == {"mem_zhao", "mem_qian"}         # HY-01's members, privately
    assert f"确认 {number}" in told["mem_zhao"] and "1栋1单元101" in told["mem_zhao"]
    assert bindings_of(bot, "res_a") == [("1-1-101", "pending", None)]


def test_register_glued_and_other_address_forms(bot):
    join(bot, "res_a", "HY-01")
    assert "登记申请已收到" in bot.said("登记1栋2单元201", as_="res_a")
    assert bindings_of(bot, "res_a") == [("1-2-201", "pending", None)]


def test_unreadable_or_unknown_address_is_refused_clearly(bot):
    assert "没看懂门牌" in bot.said("登记 我家", as_="res_a")
    assert "没有找到 9栋1单元101" in bot.said("登记 9栋1单元101", as_="res_a")
    assert bindings_of(bot, "res_a") == []


def test_confirmation_makes_the_binding_active_and_tells_the_resident(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    replies = bot.send(f"确认 {number}", as_="mem_zhao", chat=None, private=True)
    assert "已确认" in replies[0].text and "1栋1单元101" in replies[0].text
    assert any(r.to_user == "res_a" and "已由网格员确认" in r.text for r in replies)
    assert bindings_of(bot, "res_a") == [("1-1-101", "active", None)]
    assert "已处理过" in bot.said(f"确认 {number}", as_="mem_zhao", private=True)
    with bot.app.session() as s:
        actions = [a for a, in s.execute(select(AuditLog.action).where(AuditLog.entity_type == "household_binding"))]
    assert actions == ["binding.request", "binding.confirm"]


def test_confirm_in_the_group_keeps_details_private(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    replies = bot.send(f"确认 {number}", as_="mem_zhao", chat="HY-01")
    in_group = [r for r in replies if r.to_user is None]
    assert len(in_group) == 1 and "私信" in in_group[0].text and "1栋1单元101" not in in_group[0].text
    assert any(r.to_user == "mem_zhao" and "1栋1单元101" in r.text for r in replies)


def test_only_members_of_that_grid_or_their_leaders_may_decide(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    assert "不在您负责的网格" in bot.said(f"确认 {number}", as_="mem_sun", private=True)   # HY-02's member
    assert "网格员使用的功能" in bot.said(f"确认 {number}", as_="res_b")                    # a resident
    assert bindings_of(bot, "res_a") == [("1-1-101", "pending", None)]
    assert "已确认" in bot.said(f"确认 {number}", as_="lead_li", private=True)             # leader of HY-01


def test_rejection_with_reason(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    replies = bot.send(f"驳回 {number} 门牌不符", as_="mem_qian", private=True)
    assert "已驳回" in replies[0].text
    assert any(r.to_user == "res_a" and "门牌不符" in r.text for r in replies)
    assert bindings_of(bot, "res_a") == [("1-1-101", "rejected", None)]


def test_confirm_without_number_gives_usage(bot):
    text = bot.said("确认", as_="mem_zhao", private=True)
    assert "登记号" in text and "确认 12" in text


def test_direct_binding_by_a_member(bot):
    join(bot, "res_b", "HY-01", name="张阿姨")
    replies = bot.send("绑定 @张阿姨 2栋1单元102", as_="mem_zhao", private=True)
    assert "已绑定" in replies[0].text and "张阿姨" in replies[0].text
    assert any(r.to_user == "res_b" and "2栋1单元102" in r.text for r in replies)
    assert bindings_of(bot, "res_b") == [("2-1-102", "active", None)]
    assert "无需再绑定" in bot.said("绑定 @res_b 2栋1单元102", as_="mem_zhao", private=True)


def test_direct_binding_confirms_a_pending_request_for_the_same_household(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    bot.say("绑定 @res_a 1栋1单元101", as_="mem_zhao", private=True)
    assert bindings_of(bot, "res_a") == [("1-1-101", "active", None)]


def test_direct_binding_outside_the_members_grids_is_refused(bot):
    join(bot, "res_b", "HY-03")
    assert "5栋1单元101 不在您负责的网格内" in bot.said("绑定 @res_b 5栋1单元101", as_="mem_zhao", private=True)
    assert "没有找到“nobody”" in bot.said("绑定 @nobody 1栋1单元101", as_="mem_zhao", private=True)
    assert bindings_of(bot, "res_b") == []


def test_one_person_represents_one_household_the_new_binding_replaces_the_old(bot):
    _, first = register(bot, "res_a", "1栋1单元101")
    bot.say(f"确认 {first}", as_="mem_zhao", private=True)
    _, second = register(bot, "res_a", "1栋1单元102")
    assert bindings_of(bot, "res_a") == [("1-1-101", "active", None), ("1-1-102", "pending", None)]
    text = bot.said(f"确认 {second}", as_="mem_zhao", private=True)
    assert "自动解绑" in text
    assert bindings_of(bot, "res_a") == [("1-1-101", "ended", "replaced"), ("1-1-102", "active", None)]


def test_a_new_registration_supersedes_the_pending_one(bot):
    register(bot, "res_a", "1栋1单元101")
    register(bot, "res_a", "1栋1单元102")
    assert bindings_of(bot, "res_a") == [("1-1-101", "ended", "superseded"), ("1-1-102", "pending", None)]
    assert "正在等待" in bot.said("登记 1栋1单元102", as_="res_a")


def test_a_household_may_have_several_representatives(bot):
    _, a = register(bot, "res_a", "1栋1单元101")
    _, b = register(bot, "res_b", "1栋1单元101")
    bot.say(f"确认 {a}", as_="mem_zhao", private=True)
    bot.say(f"确认 {b}", as_="mem_zhao", private=True)
    assert bindings_of(bot, "res_a") == [("1-1-101", "active", None)]
    assert bindings_of(bot, "res_b") == [("1-1-101", "active", None)]


def test_resident_unbinds_themselves_and_the_row_is_kept(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    bot.say(f"确认 {number}", as_="mem_zhao", private=True)
    assert "已解除" in bot.said("解绑", as_="res_a")
    assert bindings_of(bot, "res_a") == [("1-1-101", "ended", "unbound")]
    assert "没有登记" in bot.said("解绑", as_="res_a")
    assert "只能解除自己的" in bot.said("解绑 @res_b", as_="res_a")


def test_member_unbinds_a_person_by_name_or_number(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    bot.say(f"确认 {number}", as_="mem_zhao", private=True)
    replies = bot.send("解绑 @res_a", as_="mem_zhao", private=True)
    assert "1栋1单元101" in replies[0].text
    assert any(r.to_user == "res_a" for r in replies)
    assert bindings_of(bot, "res_a") == [("1-1-101", "ended", "unbound")]
    _, again = register(bot, "res_a", "1栋1单元101")
    assert "不在您负责的网格" in bot.said(f"解绑 {again}", as_="mem_sun", private=True)
    bot.say(f"解绑 {again}", as_="mem_qian", private=True)
    assert bindings_of(bot, "res_a")[-1] == ("1-1-101", "ended", "unbound")


def test_moving_out_ends_bindings_and_keeps_everything(bot):
    _, a = register(bot, "res_a", "1栋1单元101")
    bot.say(f"确认 {a}", as_="mem_zhao", private=True)
    register(bot, "res_b", "1栋1单元101")
    text = bot.said("迁出 1栋1单元101", as_="mem_zhao", private=True)
    assert "迁出" in text and "2 条" in text
    assert household(bot, "1", "1", "101").status == "moved_out"
    assert bindings_of(bot, "res_a") == [("1-1-101", "ended", "moved_out")]
    assert bindings_of(bot, "res_b") == [("1-1-101", "ended", "moved_out")]
    assert "没有找到" in bot.said("登记 1栋1单元101", as_="res_c")
    with bot.app.session() as s:
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "household.move_out")) == "member:mem_zhao"


def test_move_out_needs_a_member_of_that_grid(bot):
    assert "不在您负责的网格内" in bot.said("迁出 1栋1单元101", as_="mem_zhou", private=True)  # exists, not his
    assert household(bot, "1", "1", "101").status == "active"
    assert "没有找到" in bot.said("迁出 1栋1单元909", as_="mem_zhou", private=True)


def test_two_households_sharing_one_phone_are_still_two_households(bot):
    """Every seeded household has the phone 13800000000: a phone is not a representative."""
    _, number = register(bot, "res_a", "1栋1单元101")
    replies = bot.send(f"确认 {number}", as_="mem_zhao", private=True)
    text = bot.said("未覆盖 1栋", as_="mem_zhao", private=True)
    assert "1栋1单元102" in text and "1栋1单元101 " not in text
    everything = [r.text for r in replies] + [text, bot.said("覆盖率", as_="mem_zhao", chat="HY-01")]
    assert not any("13800000000" in t or "138****" in t for t in everything)


def test_household_in_two_grids_by_mistake(bot):
    """1栋1单元101 also entered in HY-02: the chat decides; in private the bot asks rather than guesses."""
    with bot.app.session() as s, s.begin():
        s.add(Household(grid_id=bot.world.grids["HY-02"], building="1", unit="1", room="101", tags=[]))
    assert "对应多户" in bot.said("登记 1栋1单元101", as_="res_a", private=True)
    join(bot, "res_a", "HY-02")
    replies = bot.send("登记 1栋1单元101", as_="res_a", chat="HY-02")
    assert {r.to_user for r in replies[1:]} == {"mem_sun"}      # HY-02's member decides
    join(bot, "res_b", "HY-01")
    replies = bot.send("登记 1栋1单元101", as_="res_b", chat="HY-01")
    assert {r.to_user for r in replies[1:]} == {"mem_zhao", "mem_qian"}


def test_pending_list_is_private_and_marks_old_requests(bot):
    from datetime import timedelta

    register(bot, "res_a", "1栋1单元101")
    bot.app.clock.advance(timedelta(days=4))
    register(bot, "res_b", "2栋2单元201")
    replies = bot.send("待确认", as_="mem_zhao", chat="HY-01")
    assert replies[0].to_user is None and "私信" in replies[0].text
    private = replies[1]
    assert private.to_user == "mem_zhao"
    lines = private.text.splitlines()
    assert "（2 条）" in lines[0]
    assert "1栋1单元101" in lines[1] and "已超3天" in lines[1]
    assert "2栋2单元201" in lines[2] and "已超3天" not in lines[2]
    assert "没有待确认" in bot.said("待确认", as_="mem_zhou", private=True)


def test_new_commands_have_help(bot):
    for name in ("登记", "确认", "驳回", "绑定", "解绑", "迁出", "覆盖率", "未覆盖", "待确认"):
        text = bot.said(f"帮助 {name}", as_="mem_zhao")
        assert "用法" in text and "例如" in text
    resident_help = bot.said("帮助", as_="res_a")
    assert "登记" in resident_help and "覆盖率" not in resident_help


def test_reject_without_number_shows_a_reject_example_not_a_confirm_one(bot):
    text = bot.said("驳回", as_="mem_zhao", private=True)
    assert "驳回 12" in text and "确认 12" not in text


def test_actions_in_the_group_are_acknowledged_as_done_not_as_a_list(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    for command in (f"确认 {number}", "迁出 1栋1单元101"):
        in_group = [r.text for r in bot.send(command, as_="mem_zhao", chat="HY-01") if r.to_user is None]
        assert in_group and "名单" not in in_group[0] and "已办理" in in_group[0], in_group


def test_unbinding_a_pending_request_says_it_was_withdrawn(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    text = bot.said("解绑", as_="res_a")
    assert "撤回" in text and str(number) in text and "已解除您的户代表" not in text
    assert bindings_of(bot, "res_a") == [("1-1-101", "ended", "unbound")]


def test_registering_a_second_household_warns_that_the_first_will_be_replaced(bot):
    _, number = register(bot, "res_a", "1栋1单元101")
    bot.say(f"确认 {number}", as_="mem_zhao", private=True)
    replies = bot.send("登记 1栋1单元102", as_="res_a", chat="HY-01")
    assert "已是另一户的户代表" in replies[0].text and "1栋1单元" not in replies[0].text  # no flats in the group
    to_member = [r.text for r in replies if r.to_user == "mem_zhao"]
    assert to_member and "现为 1栋1单元101 的户代表" in to_member[0]
    privately = bot.said("登记 1栋1单元201", as_="res_a", private=True)
    assert "您现在是 1栋1单元101 的户代表" in privately and "1栋1单元201" in privately
