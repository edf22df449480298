"""`gridbot report evaluation` (考核表, xlsx + csv) and `gridbot report logs` (工作日志周/月汇总)."""
from __future__ import annotations

from pathlib import Path

import click

from .. import periods
from ..config import ConfigError
from ..errors import Refusal
from ..texts import t
from ..workcal import calendar_for
from .base import build_app, echo_json, fail, main


@main.group("report")
def report() -> None:
    """考核表与工作日志汇总。(Evaluation workbooks and work-log summaries.)"""


@report.command("evaluation")
@click.option("--community", required=True, metavar="CODE", help="社区编码，如 XF")
@click.option("--period", required=True, metavar="PERIOD", help="考核期：2026Q3（季度）、2026（年度）或 2026-11（月）")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.xlsx",
              help="Excel 文件；同名 .csv 一并写出（或用 --csv 另指定）")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv",
              help="CSV 文件（UTF-8 带 BOM，Excel 可直接打开）")
@click.option("--json", "as_json", is_flag=True, help="同时在标准输出打印 JSON")
def evaluation_command(community: str, period: str, out: Path, csv_path: Path | None, as_json: bool) -> None:
    """网格员考核表：巡查、走访、日志、工单、满意率、覆盖率、得分与等次（优秀/合格/基本合格/不合格）。"""
    from ..services import reports  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    try:
        chosen = periods.parse_period(period)
    except periods.PeriodError as err:
        fail(f"考核期格式不对 (bad --period): {err.text}")
    if out.suffix.lower() != ".xlsx":
        fail(f"--out 应为 .xlsx 文件 (got {out.name!r})")
    if not out.parent.exists():
        fail(f"目录不存在 (no such directory): {out.parent}")
    csv_path = csv_path or out.with_suffix(".csv")
    app = build_app()
    try:
        rules = reports.EvaluationRules.load(app.settings.config_dir)
    except ConfigError as err:
        fail(f"配置错误 (configuration error): {err}")
    with app.session() as session:
        try:
            data = reports.evaluation(session, community, chosen, app.settings.tz, rules,
                                      today=app.clock.now().astimezone(app.settings.tz).date(),
                                      calendar=calendar_for(app.settings.config_dir, app.settings.tz))
        except Refusal as err:
            fail(f"找不到 (not found): {err.text}")
    now = app.clock.now().astimezone(app.settings.tz)
    reports.evaluation_xlsx(data, out, now)
    csv_path.write_bytes(reports.evaluation_csv(data))
    if as_json:
        echo_json(data)
    counts: dict[str, int] = {}
    for row in data["members"]:
        counts[row["grade"]] = counts.get(row["grade"], 0) + 1
    summary = "，".join(f"{t(f'reports.evaluation.grades.{g}')} {counts[g]} 人" for g in reports.GRADES if g in counts)
    away = f"；未在岗 {len(data['inactive'])} 人另列，不参加考核" if data.get("inactive") else ""
    click.echo(f"已生成 {out} 和 {csv_path}：{len(data['members'])} 人（{summary or '无'}）{away}", err=as_json)


@report.command("logs")
@click.option("--community", required=True, metavar="CODE", help="社区编码，如 XF")
@click.option("--period", metavar="PERIOD", help="2026-W45（周）或 2026-11（月）；默认本周")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
def logs_command(community: str, period: str | None, as_json: bool) -> None:
    """工作日志周/月汇总，供书记审核：每人有日志的天数、条数、已审核条数、缺的工作日和日志内容。"""
    from ..services import reports  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    try:
        chosen = periods.parse_period(period or "本周", periods.local_day(app.clock.now(), app.settings.tz))
    except periods.PeriodError as err:
        fail(f"统计期格式不对 (bad --period): {err.text}")
    with app.session() as session:
        try:
            data = reports.log_summary(session, community, chosen,
                                       calendar=calendar_for(app.settings.config_dir, app.settings.tz))
        except Refusal as err:
            fail(f"找不到 (not found): {err.text}")
    if as_json:
        echo_json(data)
        return
    for line in reports.log_summary_lines(data):
        click.echo(line)
