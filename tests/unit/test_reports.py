"""Evaluation workbooks (考核) and work-log summaries against a hand-counted October in the test community (HY).

October 2026 has 18 working days (国庆 1st-7th off; Saturday the 10th is a 调休 working day; config/calendar.yaml).
Weights and grade lines: config/evaluation.yaml.
  mem_zhao (专职, HY-01): patrol HY-01, visits the key household, logs on 16 working days, one ticket resolved
                           on time and rated 满意; HY-01 coverage 6/12 on 10-31          -> 86.8 合格
  mem_zhou (专职, HY-03): patrol HY-03, visits all 6 households, logs every working day, no tickets,
                           HY-03 coverage 0/6 (no key households: that item is left out)  -> 90.9 优秀
  mem_sun  (专职, HY-02): nothing                                                          -> 0.0 不合格
  mem_qian (兼职, HY-01): nothing; part-time members are not scored on patrols            -> 5.0 不合格
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from gridbot.bootstrap import set_current
from gridbot.cli import main
from gridbot.config import ConfigError
from gridbot.models import Household
from gridbot.periods import parse_period
from gridbot.services import coverage, reports, work
from gridbot.services.roster import bind_resident

from .test_tickets import report

TZ = ZoneInfo("Asia/Shanghai")
YEAR_SHARE = 304 / 365                 # Jan 1 .. Oct 31
OCT_WORKDAYS = [date(2026, 10, d) for d in (8, 9, 10, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 26, 27, 28, 29, 30)]


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def october(bot, clock):
    w = bot.world
    with bot.app.session() as s, s.begin():
        zhao, zhou = w.members["mem_zhao"], w.members["mem_zhou"]
        work.check_in(s, member_id=zhao, grid_id=w.grids["HY-01"], now=at(10, 5), actor="member:mem_zhao",
                      place="小区")
        work.check_out(s, member_id=zhao, now=at(10, 5, 10), actor="member:mem_zhao")
        work.check_in(s, member_id=zhou, grid_id=w.grids["HY-03"], now=at(10, 20), actor="member:mem_zhou",
                      place="小区")
        work.check_out(s, member_id=zhou, now=at(10, 20, 11), actor="member:mem_zhou")
        key = s.scalar(select(Household).where(Household.grid_id == w.grids["HY-01"], Household.building == "1",
                                               Household.unit == "1", Household.room == "101"))
        assert key.tags == ["独居老人"]
        notes = work.read_visit_notes("身体还好")
        work.record_visit(s, member_id=zhao, household=key, now=at(10, 6, 15), actor="member:mem_zhao",
                          note="身体还好", notes=notes)
        for h in s.scalars(select(Household).where(Household.grid_id == w.grids["HY-03"])):
            work.record_visit(s, member_id=zhou, household=h, now=at(10, 21, 15), actor="member:mem_zhou",
                              note="走访", notes=notes)
        for day in OCT_WORKDAYS[:16]:
            work.add_log(s, member_id=zhao, now=at(day.month, day.day, 17), text="巡查小区，入户走访", tz=TZ)
        for day in OCT_WORKDAYS:
            work.add_log(s, member_id=zhou, now=at(day.month, day.day, 18), text="整理台账", tz=TZ)
        for n, room in enumerate(("101", "102", "201"), start=1):
            for unit in ("1", "2"):
                bind_resident(s, "console", f"rep{n}{unit}", f"住户{n}", "HY-01", "2", unit, room,
                              actor="cli:test", now=at(10, 30))
        coverage.take_snapshots(s, at(10, 31, 23, 50), date(2026, 10, 31), TZ)

    clock.set(at(10, 12))
    number = report(bot, "1栋2单元楼道灯坏了", as_="res_a")
    clock.set(at(10, 12, 9, 10))
    bot.say(f"受理 {number}", as_="mem_zhao")
    bot.say(f"处置 {number}", as_="mem_zhao")
    clock.set(at(10, 12, 9, 30))
    bot.say(f"办结 {number} 已更换灯泡", as_="mem_zhao")
    bot.say("满意", as_="res_a")
    bot.say(f"核查 {number}", as_="lead_li")
    bot.say(f"结案 {number}", as_="lead_li")
    clock.set(at(11, 2))
    return number


def _evaluation(bot, period: str = "2026-10") -> dict:
    with bot.app.session() as s:
        return reports.evaluation(s, "HY", parse_period(period), TZ)


def test_evaluation_figures_scores_and_grades(bot, october):
    data = _evaluation(bot)
    rows = {r["userid"]: r for r in data["members"]}
    assert set(rows) == {"mem_zhao", "mem_zhou", "mem_sun", "mem_qian", "lead_li"}      # not the secretary

    zhao = rows["mem_zhao"]
    assert (zhao["patrols"], zhao["grid_months_patrolled"], zhao["grid_months_required"]) == (1, 1, 1)
    assert (zhao["key_visited"], zhao["key_households"]) == (1, 1)
    assert (zhao["households_visited_year"], zhao["households"]) == (1, 12)
    assert (zhao["log_days"], zhao["workdays"]) == (16, 18)
    assert (zhao["tickets_handled"], zhao["on_time_rate"], zhao["satisfaction_rate"]) == (1, 1.0, 1.0)
    assert zhao["coverage"] == 0.5
    all_visits = round(min(1.0, round(1 / 12, 4) / YEAR_SHARE), 4)
    expected = (25 * 1 + 20 * 1 + 10 * all_visits + 15 * round(16 / 18, 4) + 15 * 1 + 10 * 1 + 5 * 0.5) / 100
    assert zhao["score"] == round(100 * expected, 1) == 86.8
    assert zhao["grade"] == "qualified"

    zhou = rows["mem_zhou"]
    assert zhou["components"]["key_visits"] is None and zhou["components"]["on_time"] is None
    assert zhou["components"]["all_visits"] == 1.0 and zhou["components"]["log_days"] == 1.0
    assert zhou["score"] == round(100 * (25 + 10 + 15 + 0) / (25 + 10 + 15 + 5), 1) == 90.9
    assert zhou["grade"] == "excellent"

    assert (rows["mem_sun"]["score"], rows["mem_sun"]["grade"]) == (0.0, "unqualified")
    qian = rows["mem_qian"]
    assert qian["components"]["patrols"] is None                                       # part-time
    assert (qian["score"], qian["grade"]) == (round(100 * 5 * 0.5 / 50, 1), "unqualified")
    assert [r["userid"] for r in data["members"]][:2] == ["mem_zhou", "mem_zhao"]       # best first


def test_grade_lines_and_bad_config(tmp_path):
    rules = reports.EvaluationRules.load()
    assert [rules.grade(s) for s in (100, 90, 89.9, 75, 74.9, 60, 59.9, 0, None)] == [
        "excellent", "excellent", "qualified", "qualified", "basic", "basic", "unqualified", "unqualified",
        "unqualified"]
    (tmp_path / "evaluation.yaml").write_text("weights: {patrols: 1, dancing: 2}\ngrades: {excellent: 90, "
                                              "qualified: 75, basic: 60}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="dancing"):
        reports.EvaluationRules.load(tmp_path)
    (tmp_path / "evaluation.yaml").write_text("weights: {patrols: 1}\ngrades: {excellent: 60, qualified: 75, "
                                              "basic: 60}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="excellent >= qualified >= basic"):
        reports.EvaluationRules.load(tmp_path)


def test_workbook_opens_and_prints_like_a_secretarys(bot, october, tmp_path):
    data = _evaluation(bot)
    path = tmp_path / "考核.xlsx"
    reports.evaluation_xlsx(data, path, at(11, 2, 10))
    ws = load_workbook(path).active
    assert ws["A1"].value == "和园社区 网格员考核表（2026-10）"
    assert "2026-10-01 至 2026-10-31" in ws["A2"].value
    headers = [c.value for c in ws[3]]
    assert headers[:4] == ["姓名", "账号", "角色", "负责网格"] and headers[-2:] == ["得分", "等次"]
    rows = {r[1]: dict(zip(headers, r, strict=True)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]}
    zhao, zhou = rows["mem_zhao"], rows["mem_zhou"]
    assert (zhao["姓名"], zhao["角色"], zhao["负责网格"]) == ("赵网格员", "专职网格员", "第一网格")
    assert (zhao["巡查次数"], zhao["巡查达标（网格·月）"], zhao["重点户走访（已访/应访）"]) == (1, "1/1", "1/1")
    assert (zhao["日志天数"], zhao["办结工单"], zhao["按期办结率"], zhao["满意率"]) == ("16/18", 1, 1.0, 1.0)
    assert (zhao["网格覆盖率"], zhao["得分"], zhao["等次"]) == (0.5, 86.8, "合格")
    assert (zhou["得分"], zhou["等次"], zhou["按期办结率"]) == (90.9, "优秀", "—")
    assert rows["mem_qian"]["巡查达标（网格·月）"] == "—" and rows["mem_sun"]["等次"] == "不合格"
    ws2 = load_workbook(path).active
    rate_cell = next(c for c in ws2[4 + list(rows).index("mem_zhao")] if c.column == headers.index("按期办结率") + 1)
    assert rate_cell.number_format == "0.0%"
    assert ws.freeze_panes == "C4"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.column_dimensions["D"].width >= 12


def test_csv_has_a_bom_and_the_same_figures(bot, october):
    raw = reports.evaluation_csv(_evaluation(bot))
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "姓名" and rows[0][-1] == "等次"
    by_id = {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_id["mem_zhao"]["按期办结率"] == "100%" and by_id["mem_zhao"]["网格覆盖率"] == "50%"
    assert by_id["mem_zhou"]["等次"] == "优秀" and by_id["mem_zhou"]["满意率"] == ""


def test_running_period_counts_only_days_so_far(bot, october):
    with bot.app.session() as s:
        data = reports.evaluation(s, "HY", parse_period("2026Q4"), TZ, today=date(2026, 10, 31))
    assert (data["from"], data["until"]) == ("2026-10-01", "2026-10-31")
    assert {r["userid"]: r["workdays"] for r in data["members"]}["mem_zhou"] == 18


def test_weekly_log_summary_for_review(bot, october):
    with bot.app.session() as s, s.begin():
        work.review_logs(s, reviewer_id=bot.world.members["sec_wang"], member_id=bot.world.members["mem_zhou"],
                         start=date(2026, 10, 5), end=date(2026, 10, 12), now=at(10, 12), actor="member:sec_wang")
    with bot.app.session() as s:
        data = reports.log_summary(s, "HY", parse_period("2026-W41"))
    rows = {r["userid"]: r for r in data["members"]}
    assert "sec_wang" not in rows
    assert (rows["mem_zhao"]["days"], rows["mem_zhao"]["entries"], rows["mem_zhao"]["reviewed"]) == (3, 3, 0)
    assert (rows["mem_zhou"]["reviewed"], rows["mem_sun"]["days"]) == (3, 0)
    # the week of 国庆: 5th-7th are holidays, Saturday the 10th is a 调休 working day
    assert rows["mem_sun"]["missing_workdays"] == ["2026-10-08", "2026-10-09", "2026-10-10"]
    assert data["unreviewed"] == 3
    lines = reports.log_summary_lines(data)
    assert lines[0].startswith("和园社区 工作日志汇总（2026-W41，2026-10-05 至 2026-10-11）")
    assert any(line.startswith("赵网格员（第一网格）：3 天有日志，共 3 条，已审核 0 条") for line in lines)
    assert any("孙网格员" in line and "缺 3 个工作日" in line for line in lines)
    assert "10月8日 巡查小区，入户走访" in "\n".join(lines)
    assert lines[-1].startswith("待审核：3 条")


def test_monthly_log_summary_caps_the_entries(bot, october):
    with bot.app.session() as s:
        data = reports.log_summary(s, "HY", parse_period("2026-10"), entries_per_member=12)
    zhou = {r["userid"]: r for r in data["members"]}["mem_zhou"]
    assert (zhou["entries"], len(zhou["log"]), zhou["more"]) == (18, 12, 6)
    assert "…… 另有 6 条" in "\n".join(reports.log_summary_lines(data))


# -- the CLI ---------------------------------------------------------------------------------------------
def _cli(bot, monkeypatch, *args):
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", bot.app.settings.database_url)
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(bot.app.settings.instance_dir))
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        set_current(bot.app)


def test_cli_evaluation_writes_xlsx_and_csv(bot, october, monkeypatch, tmp_path):
    out = tmp_path / "hy-2026-10.xlsx"
    result = _cli(bot, monkeypatch, "report", "evaluation", "--community", "HY", "--period", "2026-10",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "5 人" in result.output and "优秀 1 人" in result.output and "合格 1 人" in result.output
    assert load_workbook(out).active["A1"].value.startswith("和园社区")
    assert (tmp_path / "hy-2026-10.csv").read_bytes().startswith("\ufeff".encode())


def test_cli_evaluation_refuses_bad_input(bot, monkeypatch, tmp_path):
    bad = _cli(bot, monkeypatch, "report", "evaluation", "--community", "HY", "--period", "Q3",
               "--out", str(tmp_path / "x.xlsx"))
    assert bad.exit_code == 2 and "考核期格式不对" in bad.output
    unknown = _cli(bot, monkeypatch, "report", "evaluation", "--community", "ZZ", "--period", "2026Q3",
                   "--out", str(tmp_path / "x.xlsx"))
    assert unknown.exit_code == 2 and "ZZ" in unknown.output
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_logs(bot, october, monkeypatch):
    result = _cli(bot, monkeypatch, "report", "logs", "--community", "HY", "--period", "2026-W41")
    assert result.exit_code == 0, result.output
    assert "周网格员（第三网格）：3 天有日志，共 3 条" in result.output
