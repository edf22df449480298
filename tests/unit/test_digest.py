"""The daily digest against a hand-counted fortnight in the test community (HY), a quiet day, splitting, sending.

The fortnight (local Asia/Shanghai times; the digest is for the morning of Tue 11-03 and covers Mon 11-02):
  E  10-24 HY-01 repair, accepted 2 h late, resolved, 满意, verified, closed          (the week before)
  D  11-01 HY-01 sanitation, never accepted                                         -> overdue (response)
  A  11-02 HY-01 repair, accepted in 10 min, resolved, 满意, verified, closed        -> new, closed
  B  11-02 HY-02 gas smell, urgent, never accepted                                  -> new, overdue, urgent
  C  11-02 HY-03 sanitation, accepted in 10 min, in progress (limit 24 h not passed) -> new
Patrols: mem_sun HY-02 on 10-01 (outside the 30 days), mem_zhao and lead_li HY-01 on 11-02.
Coverage snapshots: 10-26 HY-01 2/12; 11-02 HY-01 3/12; HY-02 and HY-03 0/6 on both days.
A registration waits since 10-28 (HY-02); one outbox message to lead_li is dead.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gridbot.bootstrap import set_current
from gridbot.cli import main
from gridbot.models import OutboxMessage, Ticket
from gridbot.senders.wecom import MARKDOWN_LIMIT
from gridbot.services import coverage, digest, work
from gridbot.services.roster import bind_resident

from .test_tickets import report

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 3)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def _patrol(bot, userid: str, grid: str, when: datetime) -> None:
    with bot.app.session() as s, s.begin():
        work.check_in(s, member_id=bot.world.members[userid], grid_id=bot.world.grids[grid], now=when,
                      actor=f"member:{userid}", place="小区")
        work.check_out(s, member_id=bot.world.members[userid], now=when + timedelta(hours=1),
                       actor=f"member:{userid}")


def _bind(bot, n: int, room: str, when: datetime) -> None:
    with bot.app.session() as s, s.begin():
        bind_resident(s, "console", f"rep{n}", f"住户{n}", "HY-01", "1", "1" if n < 4 else "2", room,
                      actor="cli:test", now=when)


def _snapshot(bot, when: datetime) -> None:
    with bot.app.session() as s, s.begin():
        coverage.take_snapshots(s, when, when.date(), TZ)


@pytest.fixture
def fortnight(bot, clock):
    return seed_fortnight(bot, clock)


def seed_fortnight(bot, clock) -> dict:
    """The fortnight of the module docstring, through the chat and the services; the clock ends at 11-03 07:30."""
    clock.set(at(10, 1))
    _patrol(bot, "mem_sun", "HY-02", clock.now())

    clock.set(at(10, 23, 10))                       # a Friday: normal limits count working time (issue 18)
    e = report(bot, "1栋1单元水管漏水了，楼道全是水", as_="res_e")
    clock.set(at(10, 23, 12))                       # 2 hours: the 60-minute limit is missed
    bot.say(f"受理 {e}", as_="mem_zhao")
    bot.say(f"处置 {e}", as_="mem_zhao")
    clock.set(at(10, 23, 14))
    bot.say(f"办结 {e} 已修好", as_="mem_zhao")
    bot.say("满意", as_="res_e")
    bot.say(f"核查 {e}", as_="lead_li")
    bot.say(f"结案 {e}", as_="lead_li")

    clock.set(at(10, 26, 20))
    _bind(bot, 1, "101", clock.now())
    _bind(bot, 2, "102", clock.now())
    _snapshot(bot, at(10, 26, 23, 50))

    clock.set(at(10, 28, 10))
    bot.say("登记 3栋1单元101", as_="res_p", chat="HY-02")

    clock.set(at(11, 1, 10))
    d = report(bot, "2栋门口的垃圾好几天没人清运了", as_="res_d")

    clock.set(at(11, 2, 9))
    a = report(bot, "1栋2单元楼道灯坏了", as_="res_a")
    b = report(bot, "3栋2单元有煤气味，好像漏气了，快来人", as_="res_b", chat="HY-02")
    _patrol(bot, "mem_zhao", "HY-01", clock.now())
    _patrol(bot, "lead_li", "HY-01", clock.now())
    clock.set(at(11, 2, 9, 10))
    bot.say(f"受理 {a}", as_="mem_zhao")
    bot.say(f"处置 {a}", as_="mem_zhao")
    clock.set(at(11, 2, 9, 30))
    bot.say(f"办结 {a} 已更换灯泡", as_="mem_zhao")
    bot.say("满意", as_="res_a")
    bot.say(f"核查 {a}", as_="lead_li")
    clock.set(at(11, 2, 9, 40))
    bot.say(f"结案 {a}", as_="lead_li")
    clock.set(at(11, 2, 10))
    c = report(bot, "5栋门口垃圾两天没清运了", as_="res_c", chat="HY-03")
    clock.set(at(11, 2, 10, 10))
    bot.say(f"受理 {c}", as_="mem_zhou")
    bot.say(f"处置 {c}", as_="mem_zhou")

    with bot.app.session() as s, s.begin():
        s.add(OutboxMessage(platform="wecom_app", target_type="user", target="lead_li",
                            content={"kind": "text", "text": "提醒"}, status="dead", created_at=at(11, 2, 12)))
    clock.set(at(11, 2, 20))
    _bind(bot, 3, "201", clock.now())
    _snapshot(bot, at(11, 2, 23, 50))

    with bot.app.session() as s:
        urgency = {tk.number: tk.urgency for tk in s.scalars(select(Ticket))}
    assert urgency[b] == "urgent" and urgency[a] == urgency[c] == urgency[d] == urgency[e] == "normal"
    clock.set(at(11, 3, 7, 30))
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def _digest(bot, grid: str | None = None, day: date = DAY) -> dict:
    with bot.app.session() as s:
        return digest.build(s, community="HY", day=day, tz=TZ, console_base_url="http://console.example",
                            grid=grid)


def test_community_digest_figures(bot, fortnight):
    d = _digest(bot)
    tk = d["tickets"]
    assert (d["date"], d["covers"]) == ("2026-11-03", "2026-11-02")
    assert (tk["new"], tk["new_urgent"], tk["closed"], tk["overdue"], tk["overdue_urgent"]) == (3, 1, 1, 2, 1)
    assert [i["number"] for i in tk["new_list"]][0] == fortnight["b"]           # urgent first
    assert {i["number"] for i in tk["new_list"]} == {fortnight[k] for k in "abc"}
    assert [i["number"] for i in tk["closed_list"]] == [fortnight["a"]]
    assert [i["number"] for i in tk["overdue_list"]] == [fortnight["b"], fortnight["d"]]
    assert [i["overdue_kind"] for i in tk["overdue_list"]] == ["response", "response"]

    week, prev, change = d["rates"]["week"], d["rates"]["previous"], d["rates"]["change"]
    assert (week["tickets"], week["genuine"]) == (4, 4)                          # D, A, B, C
    assert week["response_rate"] == 0.5                                         # A, C on time; B, D never
    assert week["resolution_rate"] == round(1 / 3, 4)                           # A of A, B, D (C not due yet)
    assert week["satisfaction_rate"] == 1.0 and week["on_time_closure_rate"] == 1.0
    assert prev["tickets"] == 1 and prev["response_rate"] == 0.0 and prev["resolution_rate"] == 1.0
    assert change["response_rate"] == 0.5
    assert change["resolution_rate"] == round(round(1 / 3, 4) - 1.0, 4)
    assert change["satisfaction_rate"] == 0.0

    cov = {g["grid"]: g for g in d["coverage"]["grids"]}
    assert (cov["HY-01"]["covered"], cov["HY-01"]["households"], cov["HY-01"]["ratio"]) == (3, 12, 0.25)
    assert cov["HY-01"]["ratio_before"] == round(2 / 12, 4)
    assert (cov["HY-01"]["gained"], cov["HY-01"]["lost"]) == (1, 0)
    assert cov["HY-02"]["ratio"] == 0.0 and cov["HY-02"]["change"] == 0.0
    total = d["coverage"]["total"]
    assert (total["covered"], total["households"], total["ratio"], total["ratio_before"]) == (3, 24, 0.125, 0.0833)

    behind = {m["userid"]: m for m in d["behind"]}
    assert list(behind) == ["lead_li", "mem_sun", "mem_zhou"]
    assert behind["lead_li"]["unpatrolled"] == ["第二网格"] and behind["mem_zhou"]["unpatrolled"] == ["第三网格"]
    assert d["pending_bindings"]["count"] == 1 and d["pending_bindings"]["overdue"] == 1
    assert d["dead_outbox"]["count"] == 1
    assert d["quiet"] is False
    assert d["console_url"] == "http://console.example/console/digest?day=2026-11-03"


def test_markdown_reads_like_a_briefing(bot, fortnight):
    text = digest.render_markdown(_digest(bot))
    lines = text.split("\n")
    assert "和园社区" in lines[0] and "11月3日" in lines[0]
    assert "新工单 **3** 件（紧急 1）" in text and "结案 **1** 件" in text and "**2**" in text
    overdue_at = lines.index(next(line for line in lines if line.startswith("**⚠️ 逾期未办 2 件")))
    assert fortnight["b"] in lines[overdue_at + 1] and "【紧急】" in lines[overdue_at + 1]
    assert "超时未受理" in lines[overdue_at + 1]
    assert "响应率 50%（↑50.0个百分点）" in text and "解决率 33.3%（↓66.7个百分点）" in text
    assert "一户一代表覆盖率 12.5%" in text and "第一网格 25%" in text and "昨日新增 1 户" in text
    assert "李网格长：第二网格 近30天未巡查" in text
    assert "待确认登记 1 户" in text and "发送失败消息 1 条" in text
    assert "13800000000" not in text and "13900000000" not in text                # no phones
    assert lines[-1] == "[打开管理后台查看详情](http://console.example/console/digest?day=2026-11-03)"


def test_grid_leader_digest_sees_only_their_grid(bot, fortnight):
    d = _digest(bot, grid="HY-02")
    assert d["kind"] == "grid" and d["grids"] == ["HY-02"] and d["scope_name"] == "第二网格"
    assert d["console_url"].endswith("/console/digest?day=2026-11-03&grid=HY-02")
    tk = d["tickets"]
    assert (tk["new"], tk["closed"], tk["overdue"]) == (1, 0, 1)
    assert [g["grid"] for g in d["coverage"]["grids"]] == ["HY-02"]
    assert [m["userid"] for m in d["behind"]] == ["lead_li", "mem_sun"]
    assert d["behind"][0]["unpatrolled"] == ["第二网格"]
    assert d["pending_bindings"]["count"] == 1 and d["dead_outbox"]["count"] == 1   # lead_li works in HY-02
    assert _digest(bot, grid="HY-03")["dead_outbox"]["count"] == 0


def test_a_past_digest_reads_as_it_did_that_morning(bot, fortnight, clock):
    before = _digest(bot)
    clock.set(at(11, 3, 8))
    for ref, member in ((fortnight["b"], "mem_sun"), (fortnight["d"], "mem_zhao")):
        bot.say(f"处置 {ref}", as_=member)
        bot.say(f"办结 {ref} 已处理", as_=member)
        bot.say(f"核查 {ref}", as_="lead_li")
        bot.say(f"结案 {ref}", as_="lead_li")
    after = _digest(bot)
    assert after["tickets"] == before["tickets"] and after["rates"] == before["rates"]
    following = _digest(bot, day=DAY + timedelta(days=1))["tickets"]
    assert {i["number"] for i in following["closed_list"]} == {fortnight["b"], fortnight["d"]}
    assert [(i["number"], i["overdue_kind"]) for i in following["overdue_list"]] == [(fortnight["c"], "resolution")]


def test_quiet_day_is_one_line(bot, clock):
    clock.set(at(11, 1, 10))
    for userid, grid in (("mem_zhao", "HY-01"), ("lead_li", "HY-01"), ("lead_li", "HY-02"), ("mem_sun", "HY-02"),
                         ("mem_zhou", "HY-03")):
        _patrol(bot, userid, grid, clock.now())
    _snapshot(bot, at(11, 1, 23, 50))
    _snapshot(bot, at(11, 2, 23, 50))
    d = _digest(bot)
    assert d["quiet"] is True
    text = digest.render_markdown(d)
    assert "\n" not in text
    assert "平稳" in text and "无新工单" in text and "http://console.example" in text


def test_unknown_community_or_grid(bot):
    with bot.app.session() as s, pytest.raises(digest.DigestError, match="ZZ"):
        digest.build(s, community="ZZ", day=DAY, tz=TZ, console_base_url="x")
    with bot.app.session() as s, pytest.raises(digest.DigestError, match="HY-09"):
        digest.build(s, community="HY", day=DAY, tz=TZ, console_base_url="x", grid="HY-09")


# -- splitting ---------------------------------------------------------------------------------------------
def test_long_digest_splits_between_lines_within_wecom_bytes(bot, fortnight):
    d = _digest(bot)
    one = d["coverage"]["grids"][0]
    d["coverage"]["grids"] = [dict(one, grid=f"HY-{n:03d}", name=f"和平里第{n}网格（含东西两区及沿街商铺）")
                              for n in range(120)]
    text = digest.render_markdown(d)
    assert len(text.encode()) > 2 * MARKDOWN_LIMIT
    parts = digest.markdown_parts(d)
    assert len(parts) >= 3
    assert all(len(p.encode("utf-8")) <= MARKDOWN_LIMIT for p in parts)
    assert "\n".join(parts) == text                                              # nothing lost, nothing added
    whole_lines = set(text.split("\n"))
    assert all(line in whole_lines for p in parts for line in p.split("\n"))    # no line cut in two
    small = digest.markdown_parts(d, limit=700)
    assert all(len(p.encode()) <= 700 for p in small) and "\n".join(small) == text


# -- sending ---------------------------------------------------------------------------------------------
def _digest_rows(bot) -> list[OutboxMessage]:
    with bot.app.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("digest:%"))
                              .order_by(OutboxMessage.id)))


def test_job_sends_each_reader_their_digest_once(bot, fortnight):
    from gridbot.jobs import send_daily_digests

    assert send_daily_digests("2026-11-03", app=bot.app) == 4                  # each reader: markdown, then chart
    rows = _digest_rows(bot)
    assert {(r.target_type, r.target) for r in rows} == {("user", "sec_wang"), ("user", "lead_li")}
    assert all(r.platform == "wecom_app" for r in rows)
    assert [(r.target, r.content["kind"]) for r in rows if r.target == "sec_wang"] == [("sec_wang", "markdown"),
                                                                                        ("sec_wang", "image")]
    by_user = {r.target: r.content["text"] for r in rows if r.content["kind"] == "markdown"}
    assert by_user["sec_wang"].startswith("## 和园社区") and "第一网格、第二网格" in by_user["lead_li"]
    assert fortnight["c"] not in by_user["lead_li"] and fortnight["c"] in by_user["sec_wang"]   # C is in HY-03
    assert send_daily_digests("2026-11-03", app=bot.app) == 0                   # a second run: nothing new
    assert len(_digest_rows(bot)) == 4
    chart = bot.app.settings.instance_dir / "digests" / "HY" / "2026-11-03.png"
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_digest_written_at_night_waits_for_the_morning(bot, fortnight, clock):
    from gridbot.jobs import send_daily_digests

    clock.set(at(11, 3, 5))                                                     # inside quiet hours 22:00-07:00
    send_daily_digests("2026-11-03", app=bot.app)
    rows = _digest_rows(bot)
    assert rows and all(r.status == "pending" and r.not_before is not None for r in rows)
    assert all(r.not_before.astimezone(TZ).hour == 7 for r in rows)


# -- the CLI ---------------------------------------------------------------------------------------------
def _cli(bot, monkeypatch, *args):
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", bot.app.settings.database_url)
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(bot.app.settings.instance_dir))
    monkeypatch.setenv("GRIDBOT_CONSOLE_BASE_URL", "https://grid.example.gov.cn")
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        set_current(bot.app)


def test_cli_prints_without_sending(bot, fortnight, monkeypatch):
    result = _cli(bot, monkeypatch, "digest", "--community", "HY", "--date", "2026-11-03", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tickets"]["new"] == 3 and data["rates"]["week"]["response_rate"] == 0.5
    assert data["console_url"].startswith("https://grid.example.gov.cn/")
    md = _cli(bot, monkeypatch, "digest", "--community", "HY", "--grid", "HY-02", "--date", "2026-11-03")
    assert md.exit_code == 0 and md.stdout.startswith("## 第二网格 每日简报")
    assert _digest_rows(bot) == []


def test_cli_send_writes_the_outbox_once(bot, fortnight, monkeypatch, tmp_path):
    chart = tmp_path / "c.png"
    args = ("digest", "--community", "HY", "--date", "2026-11-03", "--send", "--chart", str(chart))
    first = _cli(bot, monkeypatch, *args)
    assert first.exit_code == 0, first.output
    assert re.search(r"已写入待发送：2 条（sec_wang）", first.stderr)   # the markdown, then the chart
    assert chart.read_bytes().startswith(b"\x89PNG")
    again = _cli(bot, monkeypatch, *args)
    assert "已写入待发送：0 条" in again.stderr
    rows = _digest_rows(bot)
    assert [r.target for r in rows] == ["sec_wang", "sec_wang"]
    assert [r.content["kind"] for r in rows] == ["markdown", "image"]


def test_cli_unknown_community_is_one_clear_line(bot, monkeypatch):
    result = _cli(bot, monkeypatch, "digest", "--community", "ZZ")
    assert result.exit_code == 2 and "找不到" in result.stderr and "ZZ" in result.stderr
    bad = _cli(bot, monkeypatch, "digest", "--community", "HY", "--date", "11/03")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr


# -- the chart -------------------------------------------------------------------------------------------
def _glyph_pixels(text: str, family: str):
    """`text` drawn alone with `family` on an Agg canvas, as an RGBA array."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(0.6, 0.6), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, text, fontfamily=family, fontsize=28, ha="center", va="center")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_chart_font_has_chinese_glyphs():
    """Fails (not skips) on a machine without a CJK font: `make install` installs fonts-wqy-microhei."""
    import warnings

    import numpy as np

    from gridbot.services.charts import cjk_font, has_glyphs

    family, path = cjk_font()
    assert has_glyphs(path, "网格覆盖率工单新增结案每日简报第一二三四社区")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # DejaVu's "Glyph missing" warnings, expected here
        boxes = _glyph_pixels("网", "DejaVu Sans"), _glyph_pixels("格", "DejaVu Sans")
    # A font without the glyphs draws the same empty box for every character: this is what must not happen.
    assert np.array_equal(*boxes)
    drawn = _glyph_pixels("网", family), _glyph_pixels("格", family)
    assert not np.array_equal(*drawn)
    assert not np.array_equal(drawn[0], boxes[0])
    assert (drawn[0][..., :3] < 128).any()                 # ink on the canvas


def test_digest_chart_png_renders_every_chinese_label(bot, fortnight):
    import io
    import warnings

    from matplotlib.image import imread

    from gridbot.services.charts import digest_chart

    d = _digest(bot)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = digest_chart(d)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert png.startswith(b"\x89PNG")
    image = imread(io.BytesIO(png))
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert (image[..., :3] < 0.5).any()


def test_missing_font_is_an_operator_message(monkeypatch):
    from matplotlib import font_manager

    from gridbot.services import charts

    charts.cjk_font.cache_clear()
    monkeypatch.setattr(font_manager.fontManager, "ttflist",
                        [f for f in font_manager.fontManager.ttflist if f.name not in charts.CJK_FAMILIES])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])      # and none on disk
    try:
        with pytest.raises(charts.FontMissing, match="fonts-wqy-microhei"):
            charts.cjk_font()
    finally:
        charts.cjk_font.cache_clear()


def test_duty_figures_agree_with_compliance(bot, fortnight, clock):
    """The digest counts patrols and key visits with grouped queries; they must be compliance()'s figures."""
    from gridbot.models import Grid, Household, Member, MemberGrid
    from gridbot.services import compliance

    with bot.app.session() as s, s.begin():                          # a narrowed member and a key visit
        s.get(MemberGrid, s.scalar(select(MemberGrid.id).where(
            MemberGrid.member_id == bot.world.members["mem_qian"]))).buildings = "1"
        key = s.scalar(select(Household).where(Household.tags.is_not(None), Household.building == "1",
                                               Household.unit == "1", Household.room == "101"))
        work.record_visit(s, member_id=bot.world.members["mem_qian"], household=key, now=at(11, 2, 15),
                          actor="member:mem_qian", note="好", notes=work.read_visit_notes("好"))
    window = digest.Window(DAY, TZ)
    with bot.app.session() as s:
        grids = {g.id: g for g in s.scalars(select(Grid))}
        members = list(s.scalars(select(Member)))
        mine = {r["userid"]: r for r in digest.duty_figures(s, grids, members, window)}
        theirs = compliance.compliance(s, "HY", compliance.Period(date(2026, 10, 4), DAY, "30d"), TZ)
    assert mine["mem_qian"]["key_visited_quarter"] == 1
    for row in theirs["members"]:
        got = mine[row["userid"]]
        assert got["grids"] == row["grids"]
        assert got["key_households"] == row["key_households"]
        assert got["key_visited_quarter"] == row["key_visited_quarter"]
        assert got["patrols_by_grid"] == {code: sum(row["patrols_by_grid_month"][code].values())
                                          for code in row["grids"]}


def test_font_installed_after_matplotlib_cached_its_list_is_found(monkeypatch):
    from matplotlib import font_manager

    from gridbot.services import charts

    charts.cjk_font.cache_clear()
    family, path = charts.cjk_font()
    monkeypatch.setattr(font_manager.fontManager, "ttflist",
                        [f for f in font_manager.fontManager.ttflist if f.name not in charts.CJK_FAMILIES])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [path])
    charts.cjk_font.cache_clear()
    try:
        assert charts.cjk_font() == (family, path)
    finally:
        charts.cjk_font.cache_clear()
