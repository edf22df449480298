"""`gridbot import roster FILE...`: load grids, members and households from a clerk's spreadsheet."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..texts import t

if TYPE_CHECKING:
    from ..services.roster import ImportResult
from .base import build_app, echo_json, fail, main


@main.group("import")
def import_() -> None:
    """导入数据 (import data)."""


def print_result(result: ImportResult, source: str, dry_run: bool) -> None:
    click.echo(t("roster.summary_title", mode=t("roster.mode_dry_run") if dry_run else t("roster.mode_real"),
                 source=source))
    for sheet, counts in result.counts.items():
        click.echo(t("roster.sheet_line", sheet=sheet, created=counts.created, updated=counts.updated,
                     unchanged=counts.unchanged))
    click.echo(t("roster.changes", count=result.changes) if result.changes else t("roster.no_changes"))
    if dry_run and result.changes:
        click.echo(t("roster.dry_run_hint"))


def print_errors(errors: Sequence[object]) -> None:
    click.echo(t("roster.failed", count=len(errors)), err=True)
    for error in errors:
        click.echo(f"  {error}", err=True)


@import_.command("roster")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="只显示会有哪些变化（新增/更新/不变），不写入数据库")
@click.option("--as", "actor", default="cli:import", show_default=True, help="审计日志中记录的操作人")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出结果")
@click.option("--community", "community", metavar="CODE",
              help="只允许改动这个社区（如替社区书记导入其花名册）：其他社区的行逐行拒绝，角色最高到总网格长")
def import_roster_cmd(files: tuple[Path, ...], dry_run: bool, actor: str, as_json: bool,
                      community: str | None) -> None:
    """导入花名册：一个 .xlsx（工作表 网格 / 成员 / 住户），或 网格.csv、成员.csv、住户.csv 三个文件（或其所在目录）。

    重复导入同一文件不会产生变化；有任何一行错误则什么也不写入，并列出每一处错误。
    在服务器上运行时可改动所有社区；加 --community 则只改动该社区，越界的行逐行列出并拒绝。
    上限：每张表最多 20000 行数据、60 列，每个文件最多 10 MB。
    """
    from ..services.roster import LARGE_ROWS, RosterError, import_roster, read_roster  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    try:
        raw = read_roster(list(files))
    except RosterError as err:
        print_errors(err.errors)
        sys.exit(1)
    scope = None
    if community:
        from sqlalchemy import select  # noqa: PLC0415 - loaded when the command runs: --help stays quick

        from ..models import Community  # noqa: PLC0415 - loaded when the command runs: --help stays quick
        from ..models.org import ROLE_CHIEF  # noqa: PLC0415 - loaded when the command runs: --help stays quick
        from ..services.scope import Scope  # noqa: PLC0415 - loaded when the command runs: --help stays quick

        with app.session() as s:
            community_id = s.scalar(select(Community.id).where(Community.code == community))
        if community_id is None:
            fail(t("roster.err.outside_community", code=community))
        scope = Scope(community_ids=frozenset({community_id}), roles=frozenset({ROLE_CHIEF}))
    source = ", ".join(str(f) for f in files)
    show_bar = not as_json and (sys.stderr.isatty() or raw.total > LARGE_ROWS)
    session = app.session()
    try:
        bar_cm = (click.progressbar(length=raw.total, label=t("roster.progress"), file=sys.stderr)
                  if show_bar else contextlib.nullcontext())
        with bar_cm as bar:
            result = import_roster(session, raw, actor, app.clock.now(),
                                   progress=bar.update if bar is not None else None, scope=scope)
        if result.errors or dry_run:
            session.rollback()
        else:
            session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
    if as_json:
        echo_json({"ok": result.ok, "dry_run": dry_run, "counts": result.as_dict(), "changes": result.changes,
                   "errors": [{"sheet": e.sheet, "row": e.row, "reason": e.reason} for e in result.errors]})
        if result.errors:
            sys.exit(1)
        return
    if result.errors:
        print_errors(result.errors)
        sys.exit(1)
    print_result(result, source, dry_run)


__all__ = ["import_", "fail"]
