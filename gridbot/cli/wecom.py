"""`gridbot wecom ...`: operator commands for the WeCom connection."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .base import build_app, echo_json, fail, main

if TYPE_CHECKING:
    from ..wecom.check import Finding


@main.group()
def wecom() -> None:
    """企业微信 (WeCom) 连接."""


@wecom.command("sync-roster")
@click.option("--chat", "chats", multiple=True, help="只同步这些群 (chat id); 默认同步所有已绑定的群")
@click.option("--json", "as_json", is_flag=True)
def sync_roster(chats: tuple[str, ...], as_json: bool) -> None:
    """按企业微信的客户群成员名单，校正已绑定群的成员记录 (externalcontact/groupchat/list + get)."""
    from ..senders import PermanentFailure, TemporaryFailure  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services.membership import sync_roster as run  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..wecom.client import client_for  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    if not app.settings.wecom.api_enabled:
        fail("企业微信接口未配置 (WeCom API not configured): set GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
    try:
        results = run(app.session, client_for(app), app.clock.now, chat_ids=list(chats) or None)
    except (PermanentFailure, TemporaryFailure) as err:
        fail(f"同步失败 (roster sync failed): {err}", code=1)
    if as_json:
        echo_json([{"chat_id": r.chat_id, "joined": r.joined, "left": r.left} for r in results])
        return
    for r in results:
        click.echo(f"{r.chat_id}: 新进 {r.joined}，退出 {r.left}")
    click.echo(f"共 {len(results)} 个群")


@wecom.command("check")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
def check(as_json: bool) -> None:
    """检查企业微信接入：取 access_token（Secret、企业ID、可信IP）、各回调的 Token/EncodingAESKey、AgentId、
    群机器人 key、类型未知的群；并列出无法从内部检查的事项（ICP 备案、可信IP、客户联系“可调用应用”）。
    有问题时退出码为 1。"""
    from ..archive.pull import lag  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..config import ConfigError, Settings  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..models.org import CHAT_ROBOT_GROUP, CHAT_UNKNOWN  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services.membership import list_chats  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..texts import t  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..wecom.check import (  # noqa: PLC0415 - loaded when the command runs: --help stays quick
        FAIL,
        MANUAL,
        OK,
        SKIP,
        Finding,
        check_api_call,
        check_archive,
        check_gettoken,
        check_settings,
        check_toolbar,
    )

    manual = [t(f"wecom_check.manual.{key}") for key in MANUAL]
    try:   # a setting the app cannot start with is a finding too, not a traceback
        Settings.from_env()
    except ConfigError as err:
        _report([Finding("settings", "env", FAIL, t("wecom_check.config_error", error=str(err)))], manual, [], as_json)
        return
    app = build_app()
    wc = app.settings.wecom
    got_token, token = check_gettoken(wc)
    findings = [got_token]
    if token:   # gettoken is not held to the trusted IPs; an API call is
        findings.append(check_api_call(wc, token))
        findings.append(check_toolbar(wc, token, app_url(app.settings.console_base_url)))
    findings += check_settings(wc)
    with app.session() as s:
        bound = [c for c in list_chats(s) if c.bound]
        behind = lag(s, app.archive.name, app.clock.now()) if app.archive is not None else None
    findings.append(check_archive(app.settings.archive.source, app.archive_problem,
                                  app.archive_keys.versions if app.archive_keys else [],
                                  behind.total_seconds() if behind is not None else None))
    robots = [c for c in bound if c.has_robot]
    findings.append(Finding("robots", "keys", OK if robots else SKIP,
                            t("wecom_check.robots_ok", count=len(robots)) if robots else t("wecom_check.robots_none")))
    findings += [Finding("robots", c.chat_id, FAIL, t("wecom_check.robot_missing", chat_id=c.chat_id, grid=c.grid_code))
                 for c in bound if c.kind == CHAT_ROBOT_GROUP and not c.has_robot]
    unknown = [c for c in bound if c.kind == CHAT_UNKNOWN]
    findings += [Finding("chats", c.chat_id, FAIL, t("wecom_check.chat_unknown", chat_id=c.chat_id, grid=c.grid_code))
                 for c in unknown]
    if not unknown:
        findings.append(Finding("chats", "kinds", OK, t("wecom_check.chats_ok")))
    _report(findings, manual, [c.chat_id for c in unknown], as_json)


def app_url(base: str) -> str:
    """The chat toolbar page's address, to configure in the app's 聊天工具栏 (deploy/README.md)."""
    return base.rstrip("/") + "/toolbar/"


def _report(findings: list[Finding], manual: list[str], unknown: list[str], as_json: bool) -> None:
    """Print the findings and the manual checklist; exit 1 when something is wrong."""
    from ..texts import t  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..wecom.check import FAIL, OK, SKIP  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    counts = {status: sum(f.status == status for f in findings) for status in (OK, FAIL, SKIP)}
    if as_json:
        echo_json({"ok": counts[FAIL] == 0, "checks": [f.as_dict() for f in findings],
                   "unknown_kind_chats": unknown, "manual": manual})
    else:
        click.echo(t("wecom_check.title"))
        for f in findings:
            mark = {OK: "✔", FAIL: "✘", SKIP: "–"}[f.status]
            click.echo(f"{mark} [{t(f'wecom_check.routes.{f.route}')}] {f.message}")
        click.echo("")
        click.echo(t("wecom_check.manual_title"))
        for line in manual:
            click.echo(f"□ {line}")
        click.echo("")
        click.echo(t("wecom_check.summary_fail" if counts[FAIL] else "wecom_check.summary_ok", **counts))
    if counts[FAIL]:
        raise SystemExit(1)


@wecom.command("kf-links")
@click.option("--open-kfid", "open_kfid", required=True, metavar="OPEN_KFID", help="微信客服账号 ID（wk 开头）")
@click.option("--grid", "codes", multiple=True, help="只为这些网格生成（网格编号）；默认所有二级及以下网格")
@click.option("--renew", is_flag=True, help="已有链接的网格也重新生成")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="A4 打印稿（PNG）保存目录，默认 <实例目录>/kf-links")
@click.option("--json", "as_json", is_flag=True)
def kf_links(open_kfid: str, codes: tuple[str, ...], renew: bool, out_dir: str | None, as_json: bool) -> None:
    """为每个网格生成微信客服链接和二维码（kf/add_contact_way，场景值 = 网格编号），并生成 A4 打印稿。"""
    from pathlib import Path  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    from ..senders import PermanentFailure, TemporaryFailure  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..services import kf_links as links  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..texts import t  # noqa: PLC0415 - loaded when the command runs: --help stays quick
    from ..wecom.client import client_for  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app()
    if not app.settings.wecom.api_enabled:
        fail("企业微信接口未配置 (WeCom API not configured): set GRIDBOT_WECOM_CORP_ID and GRIDBOT_WECOM_SECRET")
    out = Path(out_dir) if out_dir else Path(app.settings.instance_dir) / "kf-links"
    out.mkdir(parents=True, exist_ok=True)
    with app.session() as s:
        rows = [r for r in links.grids_for_links(s) if not codes or r.code in codes]
    missing = set(codes) - {r.code for r in rows}
    if missing:
        fail(f"没有这些网格 (unknown grids): {', '.join(sorted(missing))}")
    done = []
    for row in rows:
        if not links.valid_scene(row.code):
            click.echo(t("kf.links.bad_scene", code=row.code), err=True)
            continue
        if row.url is None or renew:
            try:
                answer = client_for(app).call("/cgi-bin/kf/add_contact_way", {"open_kfid": open_kfid,
                                                                               "scene": row.code})
            except (PermanentFailure, TemporaryFailure) as err:
                fail(f"生成 {row.code} 的链接失败 (kf/add_contact_way failed): {err}", code=1)
            row.url = str(answer.get("url") or "")
            with app.session() as s, s.begin():
                links.save_link(s, row.grid_id, open_kfid, row.code, row.url, "cli:kf-links", app.clock.now())
        sheet = out / f"{row.code}.png"
        try:
            sheet.write_bytes(links.sheet_png(row))
        except links.FontMissing as err:
            fail(str(err), code=1)
        done.append({"code": row.code, "name": row.name, "url": row.url, "sheet": str(sheet)})
        if not as_json:
            click.echo(t("kf.links.created", code=row.code, url=row.url) + f"  {sheet}")
    if as_json:
        echo_json(done)
