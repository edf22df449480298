"""三率 and friends, computed from the ticket timeline, per community, grid and member; and the tickets CLI."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from gridbot.bootstrap import set_current
from gridbot.cli import main
from gridbot.jobs import sweep_tickets
from gridbot.services.metrics import metrics_by, ticket_metrics

from .test_tickets import report


@pytest.fixture
def month(bot, clock):
    """Four tickets with known fates. A: on time, satisfied. B: accepted late, 不满意 (reopened).
    C: rejected. D: resolved late, no rating in 3 days."""
    t0 = clock.now()
    a = report(bot, "1栋2单元楼道灯坏了", as_="res_a")
    b = report(bot, "2栋半夜装修噪音太吵了", as_="res_b")
    c = report(bot, "3栋门口有人摆摊占道", as_="res_c", chat="HY-02")
    d = report(bot, "3栋2单元楼道灯坏了", as_="res_d", chat="HY-02")
    clock.advance(minutes=10)
    bot.say(f"受理 {a}", as_="mem_zhao")
    bot.say(f"处置 {a}", as_="mem_zhao")
    bot.say(f"处置 {d}", as_="mem_sun")
    bot.say(f"不予立案 {c} 属城管执法范围，已转告", as_="mem_sun")
    clock.advance(minutes=10)
    bot.say(f"办结 {a} 已更换灯泡", as_="mem_zhao")
    bot.say("满意", as_="res_a")
    bot.say(f"核查 {a}", as_="lead_li")
    bot.say(f"结案 {a}", as_="lead_li")
    clock.advance(minutes=50)
    bot.say(f"受理 {b}", as_="mem_zhao")
    bot.say(f"处置 {b}", as_="mem_zhao")
    bot.say(f"办结 {b} 已上门劝导", as_="mem_zhao")
    bot.say("不满意 晚上还在装", as_="res_b")
    clock.advance(hours=25)
    bot.say(f"办结 {d} 已修好", as_="mem_sun")
    bot.say(f"核查 {d}", as_="lead_li")
    bot.say(f"结案 {d}", as_="lead_li")
    clock.advance(days=3, minutes=1)
    sweep_tickets(app=bot.app)
    return {"a": a, "b": b, "c": c, "d": d, "since": t0 - timedelta(hours=1), "until": clock.now()}


def test_community_rates(bot, month):
    with bot.app.session() as s:
        m = ticket_metrics(s, since=month["since"], until=month["until"], community_id=bot.world.community_id)
    assert (m["tickets"], m["genuine"], m["excluded"]) == (4, 3, 1)
    assert m["response_rate"] == round(2 / 3, 4)          # B accepted after its 30-minute limit
    assert m["resolution_rate"] == round(2 / 3, 4)        # B was sent back by its reporter
    assert m["satisfaction_rate"] == round(1 / 3, 4)      # A 满意; B 不满意; D no answer = not satisfied
    assert m["on_time_closure_rate"] == 0.5               # D resolved 25 h after dispatch (limit 24 h)
    assert m["reopen_rate"] == round(1 / 3, 4)


def test_rates_per_grid_and_member(bot, month):
    with bot.app.session() as s:
        grids = {r["grid"]: r for r in metrics_by(s, "grid", since=month["since"], until=month["until"])}
        members = {r["member"]: r for r in metrics_by(s, "member", since=month["since"], until=month["until"])}
        sun = ticket_metrics(s, since=month["since"], until=month["until"], member_id=bot.world.members["mem_sun"])
    assert grids["HY-01"]["response_rate"] == 0.5 and grids["HY-01"]["reopen_rate"] == 0.5
    assert grids["HY-02"]["genuine"] == 1 and grids["HY-02"]["satisfaction_rate"] == 0.0
    assert members["mem_zhao"]["tickets"] == 2 and members["mem_zhao"]["satisfaction_rate"] == 0.5
    assert sun["on_time_closure_rate"] == 0.0


def test_period_outside_has_no_rates(bot, month):
    with bot.app.session() as s:
        m = ticket_metrics(s, since=month["until"], until=month["until"] + timedelta(days=1))
    assert m["tickets"] == 0 and m["response_rate"] is None and m["satisfaction_rate"] is None


def _cli(bot, monkeypatch, *args):
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", bot.app.settings.database_url)
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(bot.app.settings.instance_dir))
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        set_current(bot.app)


def test_cli_list_json_has_the_contract_keys(bot, month, monkeypatch):
    result = _cli(bot, monkeypatch, "tickets", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 4
    keys = {"number", "grid", "category", "urgency", "status", "building", "unit", "room", "reporters",
            "assignee", "created_at"}
    assert all(keys <= set(r) for r in rows)
    by_number = {r["number"]: r for r in rows}
    assert by_number[month["c"]]["status"] == "rejected" and by_number[month["c"]]["grid"] == "HY-02"
    assert by_number[month["a"]]["assignee"] == "mem_zhao" and by_number[month["a"]]["reporters"] == 1


def test_cli_list_filters_by_grid_and_status(bot, month, monkeypatch):
    rows = json.loads(_cli(bot, monkeypatch, "tickets", "list", "--grid", "HY-01", "--status", "in_progress",
                           "--json").output)
    assert [r["number"] for r in rows] == [month["b"]]
    bad = _cli(bot, monkeypatch, "tickets", "list", "--status", "done")
    assert bad.exit_code != 0 and "done" in bad.output


def test_cli_show_and_metrics(bot, month, monkeypatch):
    show = _cli(bot, monkeypatch, "tickets", "show", month["a"], "--json")
    assert show.exit_code == 0, show.output
    assert [e["action"] for e in json.loads(show.output)][:2] == ["report", "assign"]
    missing = _cli(bot, monkeypatch, "tickets", "show", "HY-20990101-0001")
    assert missing.exit_code == 1 and "没有找到工单" in missing.output
    since = month["since"].isoformat()
    until = month["until"].isoformat()
    result = _cli(bot, monkeypatch, "tickets", "metrics", "--since", since, "--until", until, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["reopen_rate"] == round(1 / 3, 4)


def test_a_fresh_ticket_inside_its_limit_is_not_judged_yet(bot, clock):
    since = clock.now()
    report(bot)
    with bot.app.session() as s:
        now = ticket_metrics(s, since=since, until=clock.now() + timedelta(minutes=1))
        later = ticket_metrics(s, since=since, until=clock.now() + timedelta(minutes=61))
    assert now["tickets"] == 1 and now["response_rate"] is None and now["resolution_rate"] is None
    assert later["response_rate"] == 0.0 and later["resolution_rate"] == 0.0
