"""One rule, one place: what is overdue, which actions a person may take on a ticket, the category list, how a
member is named. The chat, the console and the API each ask the same function; these tests check they agree."""
from __future__ import annotations

import re

import yaml
from sqlalchemy import select

from gridbot.jobs import sweep_tickets
from gridbot.models import Ticket
from gridbot.services import people, tickets, work
from gridbot.services.grids import grid_overview
from gridbot.services.people import resolve_speaker
from tests.console_helpers import build_world, report_ticket

NUMBER = re.compile(r"[A-Z]+-\d{8}-\d{4}")


def _console_numbers(world, role: str, query: str) -> set[str]:
    page = world.client(role).get(f"/console/tickets?{query}").get_data(as_text=True)
    return set(NUMBER.findall(page.split("<tbody", 1)[1])) if "<tbody" in page else set()


def _api_numbers(world, role: str, query: str) -> set[str]:
    data = world.flask.test_client().get(f"/api/v1/tickets?{query}&per_page=200", headers=world.api(role)).json
    return {item["number"] for item in data["items"]}


def _buttons(world, role: str, number: str) -> list[str]:
    page = world.client(role).get(f"/console/tickets/{number}").get_data(as_text=True)
    return re.findall(r'data-action="(\w+)"', page)


def _api_actions(world, role: str, number: str) -> list[str]:
    return world.flask.test_client().get(f"/api/v1/tickets/{number}", headers=world.api(role)).json["actions"]


def test_overdue_is_one_rule_for_the_console_the_api_and_the_sweep(bot, clock):
    world = build_world(bot)
    late_a, late_b = world.tickets["HY-01"], world.tickets["HY-03"]      # reported: respond within 60 min
    busy = report_ticket(bot, "HY-01", "2栋1单元201 楼下垃圾好几天没人清运了", "res_x")
    assert "处置中" in bot.said(f"处置 {busy}", as_="mem_zhao", private=True)   # in progress: a day to resolve
    clock.advance(minutes=45)
    sweep_tickets(app=bot.app)                                            # the A/B handovers happen now
    clock.advance(minutes=180)
    expected = {late_a, late_b}
    with bot.app.session() as s:
        now = bot.app.clock.now()
        rows = s.scalars(select(Ticket)).all()
        assert {tk.number for tk in rows if tickets.overdue(tk, now)} == expected
        assert set(s.scalars(select(Ticket.number).where(tickets.overdue_clause(now)))) == expected
    assert _console_numbers(world, "secretary", "status=overdue") == expected
    assert _api_numbers(world, "secretary", "status=overdue") == expected
    dashboard = world.client("secretary").get("/console/dashboard").get_data(as_text=True)
    assert re.search(r'<div class="n">(\d+)</div><div class="l">已超时</div>', dashboard).group(1) == "2"
    assert "已超时" in world.client("secretary").get(f"/console/tickets/{late_a}").get_data(as_text=True)
    assert "badge late" not in world.client("secretary").get(f"/console/tickets/{busy}").get_data(as_text=True)
    assert set(sweep_tickets(app=bot.app)["reminders"]) == expected     # the chat: members are reminded


def test_escalation_follows_the_ladder_everywhere(bot):
    """The console hid 升级 from level 3 while the service allowed level 4: the ladder (LADDER) decides. Issue 18:
    a normal ticket stops at the secretary unless the secretary escalates it (the grid leader's buttons agree)."""
    world = build_world(bot)
    number = world.tickets["HY-01"]
    with bot.app.session() as s, s.begin():
        s.scalar(select(Ticket).where(Ticket.number == number)).escalation_level = 3     # the grid leader
    assert "escalate" in _buttons(world, "leader", number)
    assert "escalate" in _api_actions(world, "leader", number)
    assert "社区书记" in bot.said(f"升级 {number} 物业不配合", as_="lead_li", private=True)
    assert "escalate" not in _buttons(world, "leader", number)
    assert "escalate" not in _api_actions(world, "leader", number)
    assert "由社区书记决定" in bot.said(f"升级 {number}", as_="lead_li", private=True)
    assert "总网格长" in bot.said(f"升级 {number} 需要街道协调", as_="sec_wang", private=True)
    assert "不能再升级" in bot.said(f"升级 {number}", as_="sec_wang", private=True)


def test_console_api_and_service_agree_on_the_actions_at_every_step(bot):
    """At each step of a ticket's life the console's buttons, the API's "actions" and what the service (the chat
    commands' service) accepts are the same list."""
    world = build_world(bot)
    number = world.tickets["HY-01"]
    walk = [None, "受理 {n}", "处置 {n}", "办结 {n} 已更换灯泡", "核查 {n}", "结案 {n}", "重开 {n} 又坏了"]
    for command in walk:
        if command:
            bot.say(command.format(n=number), as_="mem_zhao", private=True)
        buttons = _buttons(world, "member", number)
        assert buttons == _api_actions(world, "member", number), command
        with bot.app.session() as s:
            speaker = resolve_speaker(s, "console", "mem_zhao")
            ticket = tickets.find_ticket(s, number)
            assert buttons == tickets.allowed_actions(speaker, ticket)
            policy = tickets.policy_for(bot.app)
            for action in tickets.ACTIONS:
                s.begin_nested()
                try:
                    tickets.run_action(s, policy, speaker, number, action, "说明", "mem_qian", bot.app.clock.now())
                    taken = True
                except tickets.TicketError:
                    taken = False
                s.rollback()
                assert taken == (action in buttons), (command, action)
    assert _buttons(world, "other_member", number) == []           # outside one's grids: nothing


def test_a_finished_ticket_comes_back_through_reopen_not_start(bot):
    """处置 on a resolved ticket used to move it back silently (its verify and rating clocks left running); the
    console and the hint already said 重开. Now the chat refuses it too and names 重开."""
    world = build_world(bot)
    number = world.tickets["HY-01"]
    bot.say(f"处置 {number}", as_="mem_zhao")
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    text = bot.said(f"处置 {number}", as_="mem_zhao", private=True)
    assert "不能“处置”" in text and "重开" in text
    with bot.app.session() as s:
        assert tickets.find_ticket(s, number).status == "resolved"


def test_the_category_list_comes_from_categories_yaml(bot):
    world = build_world(bot)
    config = yaml.safe_load((bot.app.settings.config_dir / "categories.yaml").read_text(encoding="utf-8"))
    expected = list(config["categories"]) + ["other"]
    assert list(tickets.category_codes()) == expected
    page = world.client("secretary").get("/console/tickets").get_data(as_text=True)
    select_html = page.split('name="category"', 1)[1].split("</select>", 1)[0]
    assert [c for c in re.findall(r'value="(\w*)"', select_html) if c] == expected
    doc = world.flask.test_client().get("/api/v1/openapi.json").json
    assert doc["components"]["schemas"]["Ticket"]["properties"]["category"]["enum"] == expected
    bad = world.flask.test_client().get("/api/v1/tickets?category=plumbing", headers=world.api("secretary"))
    assert bad.status_code == 400
    assert all(tickets.category_name(code) != code for code in expected)    # each has a name people read


def test_members_are_found_and_on_leave_the_same_way_in_tickets_and_work(bot):
    assert tickets.find_member is people.find_member and work.find_member is people.find_member
    assert tickets.on_leave is people.on_leave and work.active_leave is people.on_leave
    number = report_ticket(bot, "HY-01", "1栋1单元101 楼道灯坏了好几天了", "res_a")
    assert "钱" in bot.said(f"派遣 {number} ＠钱", as_="mem_zhao", private=True)   # a unique name prefix, full-width @


def test_the_api_grids_are_the_grid_overview_of_ones_scope(bot):
    world = build_world(bot)
    items = world.flask.test_client().get("/api/v1/grids", headers=world.api("leader")).json["items"]
    with bot.app.session() as s:
        leader = resolve_speaker(s, "console", "lead_li")
        overview = grid_overview(s, grid_ids=leader.scope_grid_ids)
    assert items == [{k: row[k] for k in ("code", "name", "level", "parent", "households")} for row in overview]
    assert [g["code"] for g in items] == ["HY-01", "HY-02"]
