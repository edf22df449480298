"""Issue 20, item 1: a secretary took over another community through the roster import.

A one-row 网格.csv re-parented 青山's grid under 和园; an imported 管理员 with a console account became an operator
who reset 青山's secretary's password. Now the import touches only the uploader's own community, names every row
outside it in Chinese and writes nothing; no role above the uploader's own can be granted; operator accounts are
made only by an operator (or `gridbot account` on the server). The server's CLI keeps its full powers.
"""
from __future__ import annotations

import csv
import io

from click.testing import CliRunner
from sqlalchemy import func, select

from gridbot.models import Community, Grid, Household, Member
from gridbot.models.console import ConsoleAccount
from gridbot.services.roster import COLUMNS
from tests.console_helpers import PASSWORD, build_world, csrf_of, login
from tests.security.two_communities import SECRETS, add_other_community

HEADERS = {sheet: list(cols) for sheet, cols in COLUMNS.items()}


def csv_files(grids=(), members=(), households=()):
    """The three CSV uploads, header first, with the given rows."""
    out = []
    for sheet, rows in (("网格", grids), ("成员", members), ("住户", households)):
        buf = io.StringIO()
        csv.writer(buf).writerows([HEADERS[sheet], *rows])
        out.append((io.BytesIO(buf.getvalue().encode("utf-8-sig")), f"{sheet}.csv"))
    return out


def upload(client, files, **extra):
    token = csrf_of(client.get("/console/roster").get_data(as_text=True))
    return client.post("/console/roster", data={"file": files, "csrf_token": token, **extra},
                       content_type="multipart/form-data")


def snapshot(app):
    """What an import could change: grids (community, parent, name), members (community, roles), households."""
    with app.session() as s:
        return (sorted(s.execute(select(Grid.code, Grid.community_id, Grid.parent_id, Grid.name)).all()),
                sorted((m.userid, m.community_id, tuple(m.roles)) for m in s.scalars(select(Member))),
                s.scalar(select(func.count()).select_from(Household)),
                s.scalar(select(func.count()).select_from(Community)))


def test_a_one_row_grid_sheet_no_longer_takes_over_another_community(bot):
    world = build_world(bot)
    other = add_other_community(world)
    wang = world.client("secretary")
    before = snapshot(world.app)
    resp = upload(wang, csv_files(grids=[["HY", "和园社区", "QS-01", "青山甲网格", 2, "HY", "", "", ""]]))
    report = resp.get_data(as_text=True).split('id="roster-report"')[1]
    assert resp.status_code == 400
    assert "QS-01" in report and "属于其他社区" in report
    assert snapshot(world.app) == before
    with world.app.session() as s:
        grid = s.get(Grid, other.grids["QS-01"])
        assert grid.community_id == other.community_id and grid.parent_id == other.grids["QS"]
    page = wang.get("/console/households?per_page=200").get_data(as_text=True)
    assert "青山住户" not in page and "13611112222" not in page


def test_every_row_outside_the_uploaders_community_is_refused_by_name(bot):
    world = build_world(bot)
    add_other_community(world)
    before = snapshot(world.app)
    files = csv_files(
        grids=[["QS", "青山社区", "QS-09", "新网格", 2, "QS", "", "", ""],              # into 青山
               ["ZZ", "新社区", "ZZ", "新社区网格", 1, "", "", "", ""],                 # a new community
               ["HY", "和园社区", "HY-09", "和园新网格", 2, "HY", "QS-02", "", ""]],      # neighbour in 青山
        members=[["青山网格员", "qs_mem", "", "网格员", "HY-01", "", "", "是"],         # 青山's member moved
                 ["冒充者", "evil_op", "", "管理员", "HY-01", "", "", "是"],             # a role above a secretary
                 ["冒充者二", "evil_chief", "", "总网格长", "HY-01", "", "", "是"],
                 ["新人", "new_hy", "", "网格员", "QS-01", "", "", "是"],                # a grid of 青山
                 ["新人二", "new_hy2", "", "网格员", "HY-01", "", "qs_mem", "是"]],      # partner in 青山
        households=[["QS-01", "9", "1", "101", "改名", "13900001111", ""]])             # 青山's household
    resp = upload(world.client("secretary"), files)
    report = resp.get_data(as_text=True).split('id="roster-report"')[1]
    assert resp.status_code == 400
    for needle in ("社区编码 QS 不是您管理的社区", "社区编码 ZZ 不是您管理的社区", "相邻网格 QS-02 属于其他社区",
                   "成员 qs_mem 属于其他社区", "不能授予“管理员”角色", "不能授予“总网格长”角色",
                   "网格 QS-01 不属于您管理的社区", "AB岗搭档 qs_mem 属于其他社区"):
        assert needle in report, needle
    assert report.count("<tr>") >= 10                        # every bad row has its line
    assert snapshot(world.app) == before                     # nothing written


def test_a_secretary_can_still_import_their_own_community(bot):
    world = build_world(bot)
    add_other_community(world)
    files = csv_files(grids=[["HY", "和园社区", "HY-04", "第四网格", 2, "HY", "HY-03", "", ""]],
                      members=[["新网格员", "mem_new", "13700001111", "网格员", "HY-04", "", "", "是"],
                               ["无网格的人", "mem_nogrid", "", "兼职网格员", "", "", "", "是"]],
                      households=[["HY-04", "7", "1", "101", "新住户", "", ""]])
    resp = upload(world.client("secretary"), files)
    assert resp.status_code == 200, resp.get_data(as_text=True)[-3000:]
    with world.app.session() as s:
        hy = bot.world.community_id
        assert s.scalar(select(Grid.community_id).where(Grid.code == "HY-04")) == hy
        assert s.scalar(select(Member.community_id).where(Member.userid == "mem_nogrid")) == hy


def test_no_operator_is_made_by_a_secretary(bot):
    world = build_world(bot)
    other = add_other_community(world)
    app = world.app
    with app.session() as s, s.begin():     # a 管理员 in 和园's roster (imported by the county on the server)
        s.add(Member(community_id=bot.world.community_id, name="县运维", userid="county_op", roles=["operator"]))
    wang = world.client("secretary")
    token = csrf_of(wang.get("/console/accounts").get_data(as_text=True))
    resp = wang.post("/console/accounts", data={"username": "op2", "member": "county_op", "password": PASSWORD,
                                                "csrf_token": token})
    assert resp.status_code == 403
    wang.post("/console/accounts", data={"username": "op3", "operator": "1", "password": PASSWORD,
                                         "csrf_token": token})   # a forged 运维账号 box: ignored, nothing made
    with app.session() as s:
        assert not s.scalar(select(ConsoleAccount.id).where(ConsoleAccount.username.in_(("op2", "op3"))))
    # and 青山's secretary's password is out of reach
    resp = wang.post(f"/console/accounts/{other.account_id}/password", data={"password": "taken-over-1",
                                                                             "csrf_token": token})
    assert resp.status_code == 403
    assert login(world.flask.test_client(), "qsec", PASSWORD).status_code == 302
    # an operator still makes operator accounts
    ops = world.client("operator")
    token = csrf_of(ops.get("/console/accounts").get_data(as_text=True))
    ops.post("/console/accounts", data={"username": "op4", "operator": "1", "password": PASSWORD,
                                        "csrf_token": token})
    with app.session() as s:
        assert s.scalar(select(ConsoleAccount.is_operator).where(ConsoleAccount.username == "op4")) is True


def test_the_server_cli_keeps_its_powers_and_names_what_it_refuses(bot, tmp_path, monkeypatch):
    from gridbot.cli import main

    world = build_world(bot)
    add_other_community(world)
    folder = tmp_path / "roster"
    folder.mkdir()
    for fh, name in csv_files(grids=[["QS", "青山社区", "QS-03", "青山丙网格", 2, "QS", "", "", ""]],
                              members=[["县运维", "county_op", "", "管理员", "QS-03", "", "", "是"]]):
        (folder / name).write_bytes(fh.getvalue())
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", str(world.app.settings.database_url))
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    result = CliRunner().invoke(main, ["import", "roster", str(folder)])
    assert result.exit_code == 0, result.output
    with world.app.session() as s:
        assert s.scalar(select(Member.roles).where(Member.userid == "county_op")) == ["operator"]
    assert not any(secret in result.output for secret in SECRETS if secret.startswith("136"))


def test_the_cli_can_be_held_to_one_community(bot, tmp_path, monkeypatch):
    """`--community HY`: an operator importing a secretary's file gets the console's protection."""
    from gridbot.cli import main

    world = build_world(bot)
    add_other_community(world)
    folder = tmp_path / "roster"
    folder.mkdir()
    for fh, name in csv_files(grids=[["HY", "和园社区", "QS-01", "青山甲网格", 2, "HY", "", "", ""]]):
        (folder / name).write_bytes(fh.getvalue())
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", str(world.app.settings.database_url))
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    before = snapshot(world.app)
    result = CliRunner().invoke(main, ["import", "roster", "--community", "HY", str(folder)])
    assert result.exit_code == 1 and "网格 QS-01 属于其他社区，不能修改" in result.output
    assert snapshot(world.app) == before
