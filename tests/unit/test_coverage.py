"""Coverage (一户一代表进群) against hand counts, the visiting list, privacy, snapshots and the CLI contract.

The seeded community: HY-01 has 12 households (buildings 1–2), HY-02 6 (building 3), HY-03 6 (building 5);
1栋1单元101 is tagged 独居老人. `scenario()` then does, through the bot as people would:

  HY-01  res_a registers 1-1-101, confirmed                     -> covered
         res_b registers 1-1-102, confirmed                     -> covered
         res_c is bound directly to 2-1-101 by mem_zhao         -> covered
         res_d registers 1-2-101, nobody confirms yet           -> uncovered (pending)
         res_e is in the group, never registers                 -> unbound member
         res_f is bound to 2-2-201, then leaves the group       -> uncovered (away)
         res_h (bound to HY-02's 3-1-102) sits in HY-01's group -> not unbound here
         mem_zhao is in the group                               -> staff, not unbound
  HY-02  res_g registers 3-1-101, confirmed by mem_sun          -> covered
         res_h is bound to 3-1-102 by lead_li, never joins HY-02 -> uncovered, wrong group (in HY-01's)
  HY-03  5-1-101 moves out                                      -> 5 households, none covered

Hand count: HY-01 3/12, HY-02 1/6, HY-03 0/5; community 4/23. Unbound: HY-01 1 (res_e), others 0.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import event

from gridbot.services import coverage

from ..membership_helpers import join, leave


def _number(replies) -> int:
    return int(re.search(r"登记号 (\d+)", replies[0].text).group(1))


def registers(bot, user, address, grid):
    join(bot, user, grid, name=f"居民{user[-1].upper()}")
    return _number(bot.send(f"登记 {address}", as_=user, chat=grid))


def scenario(bot) -> None:
    join(bot, "mem_zhao", "HY-01", name="赵网格员")
    bot.say(f"确认 {registers(bot, 'res_a', '1栋1单元101', 'HY-01')}", as_="mem_zhao", private=True)
    bot.say(f"确认 {registers(bot, 'res_b', '1栋1单元102', 'HY-01')}", as_="mem_zhao", private=True)
    join(bot, "res_c", "HY-01", name="居民C")
    bot.say("绑定 @res_c 2栋1单元101", as_="mem_zhao", chat="HY-01")
    registers(bot, "res_d", "1栋2单元101", "HY-01")
    join(bot, "res_e", "HY-01", name="居民E")
    join(bot, "res_f", "HY-01", name="居民F")
    bot.say("绑定 @res_f 2栋2单元201", as_="mem_zhao", private=True)
    leave(bot, "res_f", "HY-01")
    bot.say(f"确认 {registers(bot, 'res_g', '3栋1单元101', 'HY-02')}", as_="mem_sun", private=True)
    join(bot, "res_h", "HY-01", name="居民H")
    bot.say("绑定 @res_h 3栋1单元102", as_="lead_li", private=True)
    bot.say("迁出 5栋1单元101", as_="mem_zhou", private=True)


def figures(bot) -> dict[str, tuple[int, int]]:
    with bot.app.session() as s:
        report = coverage.compute(s, bot.app.clock.now())
    return {g.code: (g.covered, g.households) for g in report.grids}


def test_coverage_matches_the_hand_count(bot):
    scenario(bot)
    with bot.app.session() as s:
        report = coverage.compute(s, bot.app.clock.now())
    grids = report.by_code()
    assert {c: (g.covered, g.households) for c, g in grids.items()} == {
        "HY-01": (3, 12), "HY-02": (1, 6), "HY-03": (0, 5)}
    assert grids["HY-01"].ratio == 0.25
    assert [p.user_id for p in grids["HY-01"].unbound] == ["res_e"]
    assert grids["HY-02"].unbound == [] and grids["HY-03"].unbound == []
    assert [(w.address, w.user_id, w.found_in) for w in grids["HY-02"].wrong_group] == [
        ("3栋1单元102", "res_h", "HY-01")]
    assert grids["HY-01"].wrong_group == []
    (community,) = report.communities()
    assert (community.name, community.covered, community.households) == ("HY", 4, 23)
    assert (report.total().covered, report.total().households) == (4, 23)
    reasons = {u.address: u.reason for u in grids["HY-01"].uncovered}
    assert reasons["1栋2单元101"] == "pending" and reasons["2栋2单元201"] == "away"
    assert reasons["1栋2单元102"] == "none" and len(reasons) == 9


def test_a_representative_leaving_and_rejoining_moves_the_figure(bot):
    scenario(bot)
    assert figures(bot)["HY-01"] == (3, 12)
    leave(bot, "res_a", "HY-01")
    assert figures(bot)["HY-01"] == (2, 12)
    join(bot, "res_a", "HY-01")
    assert figures(bot)["HY-01"] == (3, 12)


def test_a_second_representative_keeps_the_household_covered_when_one_leaves(bot):
    scenario(bot)
    bot.say(f"确认 {registers(bot, 'res_x', '1栋1单元101', 'HY-01')}", as_="mem_zhao", private=True)
    leave(bot, "res_a", "HY-01")
    assert figures(bot)["HY-01"] == (3, 12)


def test_wrong_group_is_fixed_by_joining_the_right_group(bot):
    scenario(bot)
    join(bot, "res_h", "HY-02")
    with bot.app.session() as s:
        grids = coverage.compute(s, bot.app.clock.now()).by_code()
    assert (grids["HY-02"].covered, grids["HY-02"].wrong_group) == (2, [])


def test_unbinding_and_rejection_uncover(bot):
    scenario(bot)
    bot.say("解绑", as_="res_b", chat="HY-01")
    assert figures(bot)["HY-01"] == (2, 12)
    with bot.app.session() as s:
        assert "res_b" in [p.user_id for p in coverage.compute(s, bot.app.clock.now()).by_code()["HY-01"].unbound]


def test_household_in_two_grids_counts_where_it_is_and_shows_as_wrong_group(bot):
    """1栋1单元101 entered in HY-02 too: HY-02 now has 7 households; its registration in HY-02's group is
    confirmed by HY-02's member, but the person sits in HY-01's group only -> HY-02 lists it as wrong group."""
    from gridbot.models import Household

    scenario(bot)
    with bot.app.session() as s, s.begin():
        s.add(Household(grid_id=bot.world.grids["HY-02"], building="1", unit="1", room="101", tags=[]))
    join(bot, "res_y", "HY-01")            # in HY-01's group only, but registers from HY-02's
    number = _number(bot.send("登记 1栋1单元101", as_="res_y", chat="HY-02"))
    assert "已确认" in bot.said(f"确认 {number}", as_="mem_sun", private=True)
    with bot.app.session() as s:
        grids = coverage.compute(s, bot.app.clock.now()).by_code()
    assert (grids["HY-02"].covered, grids["HY-02"].households) == (1, 7)
    assert "res_y" in [w.user_id for w in grids["HY-02"].wrong_group]
    assert (grids["HY-01"].covered, grids["HY-01"].households) == (3, 12)


def test_pending_older_than_three_days(bot):
    scenario(bot)
    with bot.app.session() as s:
        assert coverage.compute(s, bot.app.clock.now()).by_code()["HY-01"].pending_overdue == []
    bot.app.clock.advance(timedelta(days=3, minutes=1))
    with bot.app.session() as s:
        overdue = coverage.compute(s, bot.app.clock.now()).by_code()["HY-01"].pending_overdue
    assert [(o.address, o.user_id) for o in overdue] == [("1栋2单元101", "res_d")]


def test_statement_count_does_not_depend_on_household_count(bot):
    from gridbot.models import Household

    def count_statements() -> int:
        seen = []

        def listener(*a, **k):
            seen.append(1)

        event.listen(bot.app.engine, "before_cursor_execute", listener)
        try:
            with bot.app.session() as s:
                coverage.compute(s, bot.app.clock.now())
        finally:
            event.remove(bot.app.engine, "before_cursor_execute", listener)
        return len(seen)

    scenario(bot)
    before = count_statements()
    with bot.app.session() as s, s.begin():
        s.add_all(Household(grid_id=bot.world.grids["HY-03"], building="6", unit="1", room=str(100 + i), tags=[])
                  for i in range(200))
    assert count_statements() == before <= 5


# -- chat commands ------------------------------------------------------------------------------------
def test_coverage_command_member_sees_their_grid_leader_their_subtree(bot):
    scenario(bot)
    member = bot.said("覆盖率", as_="mem_zhao", chat="HY-01")
    assert "HY-01" in member and "3/12 户（25.0%）" in member and "HY-02" not in member
    assert "群里有 1 人未登记户代表" in member
    leader = bot.said("覆盖率", as_="lead_li", private=True)
    assert "HY-01" in leader and "HY-02" in leader and "HY-03" not in leader
    assert "合计：4/18 户" in leader
    secretary = bot.said("覆盖率", as_="sec_wang", private=True)
    assert "合计：4/23 户" in secretary
    assert "网格员使用的功能" in bot.said("覆盖率", as_="res_a")


def test_uncovered_list_is_private_useful_and_key_households_first(bot):
    join(bot, "mem_zhao", "HY-01")
    replies = bot.send("未覆盖", as_="mem_zhao", chat="HY-01")
    group = [r for r in replies if r.to_user is None]
    assert len(group) == 1 and "私信" in group[0].text and "栋" not in group[0].text
    private = [r for r in replies if r.to_user == "mem_zhao"]
    assert len(private) == 1
    lines = private[0].text.splitlines()
    rooms = [ln for ln in lines if ln.startswith(("★", "·")) and "单元" in ln]
    assert len(rooms) == 12
    assert rooms[0].startswith("★ 1栋1单元101") and "独居老人" in rooms[0] and "未登记" in rooms[0]
    assert rooms[1].startswith("· 1栋1单元102")
    assert rooms[-1].startswith("· 2栋2单元201")


def test_uncovered_by_building_and_reasons(bot):
    scenario(bot)
    text = bot.said("未覆盖 2栋", as_="mem_zhao", private=True)
    assert "2栋1单元101" not in text                 # covered by res_c
    assert "2栋2单元201 代表不在本群" in text
    assert "1栋" not in text
    assert "1栋2单元101 已申请待确认" in bot.said("未覆盖1栋", as_="mem_zhao", private=True)
    hy02 = bot.said("未覆盖", as_="mem_sun", private=True)
    assert "3栋1单元102 的代表在 HY-01 的群里" in hy02
    assert "HY-01" not in hy02.replace("在 HY-01 的群里", "")    # another grid's list is not shown


def test_uncovered_is_never_for_residents_or_other_grids(bot):
    assert "网格员使用的功能" in bot.said("未覆盖", as_="res_a")
    text = bot.said("未覆盖", as_="mem_zhou", private=True)
    assert "5栋" in text and "1栋" not in text and "3栋" not in text


def test_uncovered_for_a_building_outside_the_members_grids_says_so_not_all_covered(bot):
    text = bot.said("未覆盖 3栋", as_="mem_zhao", private=True)      # 3栋 is HY-02's
    assert "没有 3栋" in text and "都已有代表" not in text
    assert "没有 9栋" in bot.said("未覆盖 9栋", as_="mem_zhao", private=True)


# -- snapshots and trend ------------------------------------------------------------------------------
def test_snapshots_show_the_trend_and_who_moved_it(bot):
    tz = bot.app.settings.tz
    with bot.app.session() as s, s.begin():
        first = {x.grid_id: x for x in coverage.take_snapshots(s, bot.app.clock.now(), None, tz)}
    day1 = bot.app.clock.now().astimezone(tz).date()
    hy01 = bot.world.grids["HY-01"]
    assert (first[hy01].covered, first[hy01].households, first[hy01].gained) == (0, 12, 0)

    bot.app.clock.advance(timedelta(days=1))
    scenario(bot)
    with bot.app.session() as s, s.begin():
        second = {x.grid_id: x for x in coverage.take_snapshots(s, bot.app.clock.now(), None, tz)}
    assert (second[hy01].covered, second[hy01].gained, second[hy01].lost) == (3, 3, 0)
    assert second[hy01].movers["bound_by"] == {"member:mem_zhao": 4}   # res_a, res_b, res_c, res_f
    assert second[hy01].movers["left_group"] == 1                       # res_f left

    bot.app.clock.advance(timedelta(days=1))
    leave(bot, "res_a", "HY-01")
    with bot.app.session() as s, s.begin():
        third = {x.grid_id: x for x in coverage.take_snapshots(s, bot.app.clock.now(), None, tz)}
        again = {x.grid_id: x for x in coverage.take_snapshots(s, bot.app.clock.now(), None, tz)}
    assert (third[hy01].covered, third[hy01].gained, third[hy01].lost) == (2, 0, 1)
    assert again[hy01].id == third[hy01].id                              # same day: updated, not duplicated

    with bot.app.session() as s:
        points = coverage.trend(s, [hy01], day1)
        community = coverage.trend(s, list(bot.world.grids.values()), day1)
    assert [(p.day, p.covered, p.households) for p in points] == [
        (day1, 0, 12), (day1 + timedelta(days=1), 3, 12), (day1 + timedelta(days=2), 2, 12)]
    assert [p.covered for p in community] == [0, 4, 3]
    assert [p.households for p in community] == [24, 23, 23]
    text = bot.said("覆盖率 HY-01", as_="mem_zhao", private=True)
    assert "较 2 天前：+2 户" in text


def test_snapshot_job_runs_for_the_current_app(bot):
    from sqlalchemy import func, select

    from gridbot import jobs
    from gridbot.models import CoverageSnapshot

    assert jobs.snapshot_coverage() == 3
    assert jobs.snapshot_coverage("2026-11-01") == 3
    with bot.app.session() as s:
        assert s.scalar(select(func.count()).select_from(CoverageSnapshot)) == 6


# -- the CLI contract ---------------------------------------------------------------------------------
def _cli(bot, *args):
    from click.testing import CliRunner

    from gridbot.cli import main

    env = {"GRIDBOT_DATABASE_URL": bot.app.settings.database_url,
           "GRIDBOT_INSTANCE_DIR": str(bot.app.settings.instance_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_json_contract(bot):
    scenario(bot)
    result = _cli(bot, "coverage", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["grid"] for r in rows] == ["HY-01", "HY-02", "HY-03"]
    first = rows[0]
    assert {"grid", "households", "covered", "ratio", "uncovered", "unbound_members"} <= set(first)
    assert (first["households"], first["covered"], first["ratio"], first["unbound_members"]) == (12, 3, 0.25, 1)
    assert first["uncovered"][:2] == [{"building": "1", "unit": "1", "room": "201", "tags": []},
                                      {"building": "1", "unit": "2", "room": "101", "tags": []}]
    assert len(first["uncovered"]) == 9
    assert "13800000000" not in result.output

    one = json.loads(_cli(bot, "coverage", "--grid", "HY-02", "--json").output)
    assert [(r["grid"], r["covered"], r["households"]) for r in one] == [("HY-02", 1, 6)]
    community = json.loads(_cli(bot, "coverage", "--community", "HY", "--json").output)
    assert len(community) == 3


def test_cli_unknown_grid_and_table(bot):
    result = _cli(bot, "coverage", "--grid", "NOPE")
    assert result.exit_code == 2 and "NOPE" in result.output
    table = _cli(bot, "coverage").output
    assert "HY-01" in table and "0/24" in table


def test_cli_snapshot(bot):
    result = _cli(bot, "coverage", "snapshot", "--date", "2026-11-20", "--json")
    rows = json.loads(result.output)
    assert {r["day"] for r in rows} == {"2026-11-20"} and len(rows) == 3
    assert _cli(bot, "coverage", "snapshot", "--date", "20/11").exit_code == 2


def test_uncovered_list_shows_who_was_already_invited_on_a_visit(bot):
    from gridbot.models import Household, Visit

    with bot.app.session() as s, s.begin():
        home = s.query(Household).filter_by(grid_id=bot.world.grids["HY-01"], building="1", unit="1",
                                            room="102").one()
        s.add(Visit(member_id=bot.world.members["mem_zhao"], household_id=home.id, grid_id=home.grid_id,
                    at=bot.app.clock.now() - timedelta(days=2), invited_to_group=True))
    text = bot.said("未覆盖 1栋", as_="mem_zhao", private=True)
    line = next(ln for ln in text.splitlines() if "1栋1单元102" in ln)
    assert "10-31 走访时已邀请" in line
    assert "已邀请" not in next(ln for ln in text.splitlines() if "1栋1单元201" in ln)


# -- end to end: WeCom membership events, registration, confirmation ------------------------------------
def _event(bot, change: str, user_id: str, grid: str = "HY-01") -> None:
    """A change_external_chat event as the WeCom adapter hands it to the pipeline."""
    import uuid

    from gridbot.messages import Inbound
    from gridbot.pipeline.process import handle_now

    bot.app.clock.advance(timedelta(seconds=1))
    handle_now(bot.app, Inbound(platform="wecom_app", sender_id="sys", kind="event", event="change_external_chat",
                                chat_id=bot.world.chats[grid], msg_id=uuid.uuid4().hex,
                                event_data={"ChatId": bot.world.chats[grid], "ChangeType": "update",
                                            "UpdateDetail": change, "MemChangeList": {"Item": user_id}}))


def _wecom_says(bot, text: str, user_id: str, grid: str | None = "HY-01"):
    import uuid

    from gridbot.messages import Inbound
    from gridbot.pipeline.process import handle_now

    chat = bot.world.chats[grid] if grid else None
    return handle_now(bot.app, Inbound(platform="wecom_app", sender_id=user_id, text=text, chat_id=chat,
                                       chat_type="group" if chat else "single", msg_id=uuid.uuid4().hex))


def test_joining_registering_confirming_and_leaving_through_wecom_move_the_figure(bot):
    assert figures(bot)["HY-01"] == (0, 12)
    _event(bot, "add_member", "wm_resident1")                         # joins the group: not yet a representative
    assert figures(bot)["HY-01"] == (0, 12)
    replies = _wecom_says(bot, "登记 一栋一单元一零二", "wm_resident1")    # the shared parser reads Chinese numerals
    number = _number(replies)
    assert figures(bot)["HY-01"] == (0, 12)                          # pending does not cover
    _wecom_says(bot, f"确认 {number}", "mem_zhao", grid=None)
    assert figures(bot)["HY-01"] == (1, 12)
    _event(bot, "del_member", "wm_resident1")                         # leaves: no longer covers
    assert figures(bot)["HY-01"] == (0, 12)
    _event(bot, "add_member", "wm_resident1")                         # rejoins: covers again, no re-registration
    assert figures(bot)["HY-01"] == (1, 12)
    text = "\n".join(r.text for r in _wecom_says(bot, "未覆盖", "mem_zhao", grid=None))
    assert "1栋1单元102" not in text and "★ 1栋1单元101（独居老人） 未登记" in text


def test_vacant_homes_come_last_in_the_visiting_list(bot):
    from gridbot.models import Household

    with bot.app.session() as s, s.begin():
        home = s.query(Household).filter_by(grid_id=bot.world.grids["HY-01"], building="1", unit="1",
                                            room="102").one()
        home.tags = ["空置"]
    rows = [ln for ln in bot.said("未覆盖", as_="mem_zhao", private=True).splitlines() if "单元" in ln]
    assert rows[0].startswith("★ 1栋1单元101") and rows[1].startswith("· 1栋1单元201")
    assert rows[-1].startswith("· 1栋1单元102（空置）")


def test_an_empty_pending_list_is_answered_where_asked(bot):
    replies = bot.send("待确认", as_="mem_zhao", chat="HY-01")
    assert len(replies) == 1 and replies[0].to_user is None and "没有待确认" in replies[0].text


def test_the_more_hint_names_a_building_of_the_members_own_grid(bot, monkeypatch):
    from gridbot.handlers import coverage as handler

    monkeypatch.setattr(handler, "LIST_LIMIT", 2)
    text = bot.said("未覆盖", as_="mem_sun", private=True)    # HY-02: building 3 only
    assert "还有" in text and "如“未覆盖 3栋”" in text
    text = bot.said("未覆盖", as_="mem_zhou", private=True)   # HY-03: building 5 only
    assert "如“未覆盖 5栋”" in text
