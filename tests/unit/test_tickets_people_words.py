"""Issue 18, people and words: 转派 across grids, complaints about a member (监督评议), ratings as people write
them, two problems in one message, simple questions answered, what the group sees, 办结 from 受理 (urgent), a
failed 核查 drops its rating. Each on a controlled clock, on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gridbot.jobs import sweep_tickets
from gridbot.models import OutboxMessage, Ticket
from gridbot.privacy import group_text
from gridbot.understanding.split import split_problems
from tests.factories import Bot
from tests.unit.test_tickets import NUMBER, number_in, outbox_to, report, ticket


@pytest.fixture
def both(make_app, db_url):
    bot = Bot(make_app(db_url))
    bot.seed()
    return bot


def _count(bot) -> int:
    with bot.app.session() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


def _resolved(bot, text="1栋2单元楼道灯坏了", as_="res_a"):
    number = report(bot, text, as_=as_)
    bot.say(f"处置 {number}", as_="mem_zhao", private=True)
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao", private=True)
    return number


# -- 7. 转派 across grids ------------------------------------------------------------------------------------
def test_a_ticket_transferred_to_another_grid_is_handled_there_and_climbs_that_ladder(both, clock):
    bot = both
    number = report(bot, "1栋2单元楼道灯坏了")
    assert "转派给" in bot.said(f"转派 {number} @周网格员 属于第三网格", as_="mem_zhao", private=True)
    assert "处置中" in bot.said(f"处置 {number}", as_="mem_zhou", private=True)
    tk = ticket(bot, number)
    assert tk.grid.code == "HY-03" and tk.assignee.userid == "mem_zhou"
    for _ in range(2):                                     # past the resolution limit: reminder, then the leader
        clock.advance(days=1)
        sweep_tickets(app=bot.app)
    assert any(number in n for n in outbox_to(bot, "sec_wang"))      # HY-03's leader is the one above it
    assert not any(number in n and "升级" in n for n in outbox_to(bot, "lead_li"))
    assert "已反馈" in bot.said(f"办结 {number} 已更换灯泡", as_="mem_zhou", private=True)


# -- 8. complaints go past the member ------------------------------------------------------------------------
def test_a_complaint_about_a_member_goes_to_the_leader_and_stays_hidden_from_the_member(both, clock):
    bot = both
    text = bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_a")
    number = number_in(text)
    assert "赵" not in text and "网格长" in text
    tk = ticket(bot, number)
    assert tk.kind == "complaint" and tk.concealed and tk.assignee.userid == "lead_li"
    assert any(number in n for n in outbox_to(bot, "lead_li"))
    assert not any(number in n for n in outbox_to(bot, "mem_zhao"))
    assert number not in bot.said("待办", as_="mem_zhao", private=True)
    assert "没有找到" in bot.said(f"工单 {number}", as_="mem_zhao", private=True)
    assert "没有找到" in bot.said(f"受理 {number}", as_="mem_zhao", private=True)
    for _ in range(3):
        clock.advance(hours=3)
        sweep_tickets(app=bot.app)
    assert not any(number in n for n in outbox_to(bot, "mem_zhao"))      # escalations skip the member too
    with bot.app.session() as s:                                          # nothing in the group names the member
        group = [r.content["text"] for r in s.scalars(select(OutboxMessage)
                                                        .where(OutboxMessage.target == bot.chat("HY-01")))]
    assert not any("赵" in g for g in group)
    assert "派遣给" in bot.said(f"派遣 {number} @钱网格员", as_="lead_li", private=True)   # the leader decides
    assert not ticket(bot, number).concealed


def test_a_complaint_about_the_grid_leader_goes_to_the_secretary(bot):
    number = number_in(bot.said("李网格长办事推诿，找了几次都不理人", as_="res_a"))
    tk = ticket(bot, number)
    assert tk.kind == "complaint" and tk.assignee.userid == "sec_wang"
    assert not any(number in n for n in outbox_to(bot, "lead_li"))
    assert "没有找到" in bot.said(f"工单 {number}", as_="lead_li", private=True)


# -- 9. ratings as people write them --------------------------------------------------------------------------
@pytest.mark.parametrize("words,rating", [("谢谢 满意", "satisfied"), ("满意👍", "satisfied"),
                                          ("非常满意", "satisfied"), ("还行吧", "basic")])
def test_ratings_as_people_write_them(bot, words, rating):
    number = _resolved(bot)
    assert number in bot.said(words, as_="res_a")
    assert ticket(bot, number).rating == rating


def test_loose_words_with_nothing_to_rate_are_not_a_rating(bot):
    assert "没有待评价" not in bot.said("还行吧", as_="res_a")


def test_several_waiting_ask_which_and_the_number_picks_one(both):
    bot = both
    first = _resolved(bot, "1栋2单元楼道灯坏了")
    second = _resolved(bot, "2栋1单元门口垃圾好几天没人清运了")
    text = bot.said("满意", as_="res_a")
    assert first in text and second in text and ticket(bot, first).rating is None
    assert first in bot.said(f"满意 {first}", as_="res_a")
    assert ticket(bot, first).rating == "satisfied" and ticket(bot, second).rating is None
    assert second in bot.said("基本满意", as_="res_a")             # one waits now: no number needed
    assert ticket(bot, second).rating == "basic"


# -- 10. two problems, two tickets -----------------------------------------------------------------------------
def test_split_problems_is_conservative():
    assert split_problems("反映两个事 一是1栋门口路灯不亮 二是2栋旁边垃圾桶满了好几天没人倒") == \
        ["1栋门口路灯不亮", "2栋旁边垃圾桶满了好几天没人倒"]
    assert split_problems("第一，3栋楼道灯坏了；第二，5栋门口积水") == ["3栋楼道灯坏了", "5栋门口积水"]
    assert len(split_problems("1栋楼道灯坏了。还有2栋门口垃圾没人清")) == 2
    for one in ("3栋楼道灯坏了。好几天了，晚上很黑", "楼道灯坏了，还有点暗", "第二天还是没人来修"):
        assert split_problems(one) == [one]


def test_two_problems_open_two_tickets_each_with_its_place(both):
    bot = both
    text = bot.said("反映两个事 一是1栋门口路灯不亮 二是2栋旁边垃圾桶满了好几天没人倒", as_="res_a")
    numbers = NUMBER.findall(text)
    assert len(set(numbers)) == 2 and _count(bot) == 2
    a, b = ticket(bot, numbers[0]), ticket(bot, numbers[1])
    assert (a.building, b.building) == ("1", "2") and a.category != b.category


def test_one_problem_in_two_sentences_stays_one_ticket(bot):
    bot.said("1栋2单元楼道灯坏了。好几天了，晚上很黑", as_="res_a")
    assert _count(bot) == 1


# -- 12. simple questions --------------------------------------------------------------------------------------
def test_simple_questions_are_answered_not_ticketed(both):
    bot = both
    assert "8:30" in bot.said("社区几点上班？", as_="res_a")
    assert "身份证" in bot.said("办居住证要带什么？", as_="res_b", private=True)
    assert _count(bot) == 0


def test_asking_for_a_person_makes_a_ticket(bot):
    assert "工单号" in bot.said("办居住证的事电话打不通，找人帮我问一下吗", as_="res_a")
    assert _count(bot) == 1


# -- 13. what the group sees -----------------------------------------------------------------------------------
def test_the_group_reads_the_building_only_and_the_ticket_keeps_the_note(both):
    bot = both
    number = report(bot, "3栋1单元302家里燃气软管老化了")
    bot.say(f"处置 {number}", as_="mem_sun", private=True)
    bot.say(f"办结 {number} 3栋1单元302燃气软管老化已更换", as_="mem_sun", private=True)
    told = outbox_to(bot, bot.chat("HY-01"))[-1]
    assert "3栋 燃气软管老化已更换" in told and "302" not in told
    assert any(ev.note == "3栋1单元302燃气软管老化已更换" for ev in ticket(bot, number).events)
    assert group_text("已更换3号楼2单元302室水管，电话13812345678") == "已更换3号楼 水管，电话138****5678"


# -- 15. 办结 from 受理 (urgent, on the spot); a failed 核查 drops the rating --------------------------------------
def test_urgent_ticket_handled_on_the_spot_is_resolved_from_accepted(both):
    bot = both
    number = number_in(bot.said("1栋楼道里冒烟了，有煤气味", as_="res_a"))
    bot.say(f"受理 {number}", as_="mem_zhao", private=True)
    assert "已反馈" in bot.said(f"办结 {number} 已关阀开窗，燃气公司已处理", as_="mem_zhao", private=True)
    tk = ticket(bot, number)
    assert tk.status == "resolved" and tk.dispatched_at is not None
    dispatch = [ev for ev in tk.events if ev.action == "dispatch"]
    assert dispatch and dispatch[-1].detail.get("on_the_spot")


def test_normal_ticket_still_needs_dispatch_before_resolve(bot):
    number = report(bot)
    bot.say(f"受理 {number}", as_="mem_zhao")
    assert "不能“办结”" in bot.said(f"办结 {number} 已更换", as_="mem_zhao")


def test_a_failed_check_drops_the_rating_and_asks_again(both, clock):
    bot = both
    number = _resolved(bot)
    bot.say("满意", as_="res_a")
    assert ticket(bot, number).rating == "satisfied"
    assert "核查未通过" in bot.said(f"核查 {number} 不合格 灯还是不亮", as_="lead_li", private=True)
    tk = ticket(bot, number)
    assert tk.rating is None and all(r.rating is None for r in tk.reporter_links)
    clock.advance(hours=2)
    bot.say(f"办结 {number} 换了整个灯座", as_="mem_zhao", private=True)
    assert number in bot.said("满意", as_="res_a")
    assert ticket(bot, number).rating == "satisfied"


def test_the_console_and_the_api_hide_a_complaint_from_the_member_it_is_about(bot):
    from tests.console_helpers import build_world

    world = build_world(bot)
    number = number_in(bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_b"))
    assert number not in world.client("member").get("/console/tickets").get_data(as_text=True)
    assert world.client("member").get(f"/console/tickets/{number}").status_code == 404
    assert world.flask.test_client().get(f"/api/v1/tickets/{number}", headers=world.api("member")).status_code == 404
    listed = world.flask.test_client().get("/api/v1/tickets?per_page=200", headers=world.api("member")).json
    assert number not in {item["number"] for item in listed["items"]}
    page = world.client("leader").get(f"/console/tickets/{number}").get_data(as_text=True)
    assert "监督评议" in page and "被反映人不可见" in page


def test_a_member_sees_a_ticket_transferred_in_from_another_grid_in_the_console(bot):
    from tests.console_helpers import build_world

    world = build_world(bot)
    number = world.tickets["HY-01"]
    bot.say(f"转派 {number} @周网格员", as_="mem_zhao", private=True)
    assert world.client("other_member").get(f"/console/tickets/{number}").status_code == 200
    assert number in world.client("other_member").get("/console/tickets").get_data(as_text=True)


def test_several_waiting_the_group_answered_in_picks_its_own(bot):
    here = _resolved(bot, "1栋2单元楼道灯坏了")
    number = number_in(bot.said("3栋1单元门口垃圾好几天没人清运了", as_="res_a", chat="HY-02"))
    bot.say(f"处置 {number}", as_="mem_sun", private=True)
    bot.say(f"办结 {number} 已清运", as_="mem_sun", private=True)
    assert here in bot.said("谢谢 满意", as_="res_a")              # said in HY-01's group: the one reported there
    assert ticket(bot, here).rating == "satisfied" and ticket(bot, number).rating is None


def test_only_a_leader_decides_a_complaint_and_its_reporter_hears_privately(bot):
    number = number_in(bot.said("你们网格员态度太差了，叫了三次都不来", as_="res_a"))
    assert "网格长或书记" in bot.said(f"派遣 {number} @钱网格员", as_="mem_qian", private=True)
    assert ticket(bot, number).concealed
    assert "不予立案" in bot.said(f"不予立案 {number} 已当面沟通，网格员已道歉", as_="lead_li", private=True)
    assert not ticket(bot, number).concealed
    assert any(number in n for n in outbox_to(bot, "res_a"))           # privately, not in the group
    assert not any(number in n for n in outbox_to(bot, bot.chat("HY-01")))


def test_a_broken_answers_file_answers_nothing_and_loses_nothing(tmp_path):
    from gridbot.config import ConfigError
    from gridbot.services import answers

    (tmp_path / "answers.yaml").write_text("answers:\n  - name: 坏的\n    words: [居住证]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="第 1 条"):
        answers.parse({"answers": [{"name": "坏的", "words": ["居住证"]}]})
    book = answers.load(tmp_path)
    assert answers.find_answer(book, "办居住证要带什么？") is None
    ok = answers.parse({"community": {"centre_phone": "0571-1"}, "question_cues": ["？"],
                        "answers": [{"name": "电话", "words": ["电话"], "answer": "电话：{centre_phone}"}]})
    assert answers.find_answer(ok, "社区电话多少？").text == "电话：0571-1"
    assert answers.find_answer(ok, "社区电话") is None                   # not a question: not answered
