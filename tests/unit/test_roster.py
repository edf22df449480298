"""Roster import: the demo roster loads, a second import changes nothing, a bad file changes nothing and names
every bad row, --dry-run writes nothing. Runs the service on SQLite and PostgreSQL, and the CLI on SQLite."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from gridbot import migrate
from gridbot.cli import main
from gridbot.models import AuditLog, Grid, GridChat, Household, Member
from gridbot.services.roster import COLUMNS, RosterError, import_roster, read_roster

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
DEMO_XLSX = EXAMPLES / "demo-roster.xlsx"
HEADERS = {sheet: list(cols) for sheet, cols in COLUMNS.items()}


# -- helpers ---------------------------------------------------------------------------------------------
def demo_rows() -> dict[str, list[list]]:
    """The demo roster's sheets as lists of rows (header first), to copy and spoil in tests."""
    wb = load_workbook(DEMO_XLSX, read_only=True)
    try:
        return {name: [list(r) for r in wb[name].iter_rows(values_only=True)] for name in ("网格", "成员", "住户")}
    finally:
        wb.close()


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def write_csvs(folder: Path, sheets: dict[str, list[list]], encoding: str = "utf-8-sig") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in sheets.items():
        with (folder / f"{name}.csv").open("w", encoding=encoding, newline="") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in row] for row in rows])
    return folder


def small_roster() -> dict[str, list[list]]:
    return {
        "网格": [HEADERS["网格"],
                 ["XQ", "小区社区", "XQ", "小区社区网格", 1, "", "", "", ""],
                 ["XQ", "小区社区", "XQ-01", "一网格", 2, "XQ", "XQ-02", "chat-xq-01", ""],
                 ["XQ", "小区社区", "XQ-02", "二网格", 2, "XQ", "", "chat-xq-02", ""]],
        "成员": [HEADERS["成员"],
                 ["甲", "u_a", "13900000001", "专职网格员", "XQ-01", "", "u_b", "是"],
                 ["乙", "u_b", "13900000002", "兼职网格员", "XQ-01", "1", "u_a", "否"],
                 ["丙", "u_c", "", "社区书记、网格长", "XQ", "", "", ""]],
        "住户": [HEADERS["住户"],
                 ["XQ-01", "3号楼", "二单元", "101室", "张三", "139 0000 1234", "独居老人、残疾"],
                 ["XQ-01", "3", "2", "102", "李四", "", ""],
                 ["XQ-02", "十栋", "", "501", "", "", "出租房,流动人口"]],
    }


def run(app, source, dry_run: bool = False, actor: str = "test:import"):
    """What the CLI does: validate and apply in one transaction; roll back on errors or for a dry run."""
    raw = read_roster(source)
    with app.session() as session:
        result = import_roster(session, raw, actor, app.clock.now())
        if result.errors or dry_run:
            session.rollback()
        else:
            session.commit()
    return result


def snapshot(app) -> dict:
    """Everything the roster controls, including update times, so 'unchanged' means untouched."""
    with app.session() as s:
        grids = sorted((g.code, g.name, g.level, g.parent.code if g.parent else None,
                        tuple(sorted(n.code for n in g.neighbours)), tuple(sorted(c.chat_id for c in g.chats)))
                       for g in s.scalars(select(Grid).options(selectinload(Grid.neighbours))))
        members = sorted((m.userid, m.name, m.phone, tuple(m.roles), m.partner.userid if m.partner else None,
                          m.on_duty, m.updated_at, tuple(sorted((lk.grid.code, lk.buildings) for lk in m.grid_links)))
                         for m in s.scalars(select(Member)))
        households = sorted((h.grid.code, h.building, h.unit, h.room, h.head_name, h.phone, tuple(h.tags),
                             h.updated_at) for h in s.scalars(select(Household)))
    return {"grids": grids, "members": members, "households": households}


def count(app, model) -> int:
    with app.session() as s:
        return s.scalar(select(func.count()).select_from(model))


# -- the demo roster, on both databases -------------------------------------------------------------------
def test_demo_roster_imports_and_a_second_import_changes_nothing(app, clock):
    first = run(app, DEMO_XLSX)
    assert first.ok, first.errors
    assert first.as_dict() == {"网格": {"created": 5, "updated": 0, "unchanged": 0},
                               "成员": {"created": 13, "updated": 0, "unchanged": 0},
                               "住户": {"created": 300, "updated": 0, "unchanged": 0}}
    before = snapshot(app)
    clock.advance(hours=1)   # a change would now carry a different time
    second = run(app, DEMO_XLSX)
    assert second.ok and second.changes == 0
    assert second.as_dict()["住户"] == {"created": 0, "updated": 0, "unchanged": 300}
    assert snapshot(app) == before


def test_demo_roster_content_is_what_a_community_looks_like(app):
    run(app, DEMO_XLSX)
    with app.session() as s:
        top = s.scalar(select(Grid).where(Grid.level == 1))
        assert top.code == "XF" and top.community.name == "幸福社区"
        grids = s.scalars(select(Grid).where(Grid.level == 2)).all()
        assert 3 <= len(grids) <= 4 and all(g.parent_id == top.id and g.chats for g in grids)
        members = s.scalars(select(Member)).all()
        roles = {r for m in members for r in m.roles}
        assert {"secretary", "grid_leader", "member", "part_time", "building_leader"} <= roles
        pairs = [m for m in members if m.partner is not None]
        assert pairs and all(m.partner.partner_id == m.id for m in pairs)   # A/B pairs are mutual
        tags = [t for h in s.scalars(select(Household)) for t in h.tags]
    assert 250 <= count(app, Household) <= 350
    assert 0.02 < tags.count("独居老人") / 300 < 0.15


def test_csv_files_and_xlsx_hold_the_same_roster(app):
    assert run(app, EXAMPLES).changes == 318
    again = run(app, DEMO_XLSX)
    assert again.ok and again.changes == 0


def test_three_csv_files_can_be_named_one_by_one(app):
    files = [EXAMPLES / "网格.csv", EXAMPLES / "成员.csv", EXAMPLES / "住户.csv"]
    assert run(app, files).as_dict()["成员"]["created"] == 13


# -- normalising and updating ------------------------------------------------------------------------------
def test_addresses_phones_roles_and_tags_are_normalised(sqlite_app, tmp_path):
    result = run(sqlite_app, write_xlsx(tmp_path / "r.xlsx", small_roster()))
    assert result.ok, [str(e) for e in result.errors]
    with sqlite_app.session() as s:
        homes = {(h.building, h.unit, h.room): h for h in s.scalars(select(Household))}
        assert set(homes) == {("3", "2", "101"), ("3", "2", "102"), ("10", "", "501")}
        assert homes[("3", "2", "101")].phone == "13900001234"
        assert homes[("3", "2", "101")].tags == ["独居老人", "残疾"]
        assert homes[("10", "", "501")].tags == ["流动人口", "出租房"]   # canonical order
        b = s.scalar(select(Member).where(Member.userid == "u_b"))
        assert b.roles == ["part_time"] and b.on_duty is False and b.partner.userid == "u_a"
        assert b.grid_links[0].buildings == "1"
        c = s.scalar(select(Member).where(Member.userid == "u_c"))
        assert c.roles == ["grid_leader", "secretary"] and c.on_duty is True
        one = s.scalar(select(Grid).where(Grid.code == "XQ-02"))
        assert [n.code for n in one.neighbours] == ["XQ-01"]   # adjacency is mutual


@pytest.mark.parametrize("cells, chat", [
    (("3号楼", "二单元", "101室"), "3栋2单元101"),
    (("三栋", "2", "一零一"), "三栋二单元一零一"),
    (("二十一幢", "三单元", "五零二"), "二十一栋三单元五零二"),
    (("10", "1", "502"), "10栋1单元502"),
])
def test_roster_addresses_match_what_residents_write_in_chat(cells, chat):
    """A household imported from the roster is found when a resident names it in the group."""
    from gridbot.services.roster import normalise_address
    from gridbot.understanding import parse_address

    said = parse_address(chat)
    assert normalise_address(*cells) == (said.building, said.unit, said.room)


def test_a_changed_row_is_updated_and_audited(sqlite_app, tmp_path):
    sheets = small_roster()
    run(sqlite_app, write_xlsx(tmp_path / "a.xlsx", sheets))
    sheets["住户"][2][6] = "独居老人"          # 3-2-102 now has an elderly person living alone
    sheets["成员"][1][7] = "否"                # 甲 goes off duty
    result = run(sqlite_app, write_xlsx(tmp_path / "b.xlsx", sheets), actor="cli:clerk")
    assert result.as_dict() == {"网格": {"created": 0, "updated": 0, "unchanged": 3},
                                "成员": {"created": 0, "updated": 1, "unchanged": 2},
                                "住户": {"created": 0, "updated": 1, "unchanged": 2}}
    with sqlite_app.session() as s:
        home = s.scalar(select(Household).where(Household.room == "102"))
        assert home.tags == ["独居老人"] and home.updated_by == "cli:clerk"
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "household.update"))
        assert entry.actor == "cli:clerk" and entry.entity_id == str(home.id) and entry.detail["fields"] == ["tags"]
        imports = s.scalars(select(AuditLog).where(AuditLog.action == "roster.import").order_by(AuditLog.id)).all()
        assert [e.detail["住户"]["updated"] for e in imports] == [0, 1]


def test_gbk_csv_from_excel_is_read(sqlite_app, tmp_path):
    folder = write_csvs(tmp_path / "gbk", small_roster(), encoding="gb18030")
    assert run(sqlite_app, folder).as_dict()["住户"]["created"] == 3


# -- bad files ----------------------------------------------------------------------------------------------
def test_every_bad_row_is_named_and_nothing_is_written(app, tmp_path):
    sheets = small_roster()
    sheets["网格"] += [["XQ", "小区社区", "XQ-09", "九网格", 2, "XQ-99", "", "", ""],      # row 5: unknown parent
                       ["XQ", "小区社区", "XQ-01", "重复", 2, "XQ", "", "", ""]]          # row 6: duplicate code
    sheets["成员"] += [["丁", "u_d", "12345", "专职网格员", "XQ-01", "", "", "是"],            # row 5: bad phone
                       ["戊", "u_e", "", "队长", "XQ-01", "", "", "是"],                    # row 6: unknown role
                       ["己", "u_f", "", "兼职网格员", "XQ-01", "", "u_nobody", "是"],      # row 7: partner missing
                       ["", "u_g", "", "兼职网格员", "XQ-01", "", "", "是"]]                # row 8: name missing
    sheets["住户"] += [["XQ-77", "1", "1", "101", "", "", ""],                             # row 5: unknown grid
                       ["XQ-01", "3栋", "2单元", "101", "重复户", "", ""],                   # row 6: duplicate address
                       ["XQ-01", "4", "1", "101", "", "", "有钱人"]]                         # row 7: unknown tag
    result = run(app, write_xlsx(tmp_path / "bad.xlsx", sheets))
    where = [(e.sheet, e.row) for e in result.errors]
    assert where == [("网格", 5), ("网格", 6), ("成员", 5), ("成员", 6), ("成员", 7), ("成员", 8),
                     ("住户", 5), ("住户", 6), ("住户", 7)]
    reasons = {(e.sheet, e.row): e.reason for e in result.errors}
    assert "XQ-99" in reasons[("网格", 5)] and "不存在" in reasons[("网格", 5)]
    assert "重复" in reasons[("网格", 6)] and "第 3 行" in reasons[("网格", 6)]
    assert "手机号" in reasons[("成员", 5)]
    assert "队长" in reasons[("成员", 6)]
    assert "u_nobody" in reasons[("成员", 7)]
    assert "姓名" in reasons[("成员", 8)]
    assert "XQ-77" in reasons[("住户", 5)]
    assert "第 2 行" in reasons[("住户", 6)]
    assert "有钱人" in reasons[("住户", 7)]
    for model in (Grid, Member, Household, GridChat, AuditLog):
        assert count(app, model) == 0


def test_a_half_broken_file_leaves_existing_data_untouched(sqlite_app, tmp_path):
    run(sqlite_app, DEMO_XLSX)
    before = snapshot(sqlite_app)
    sheets = demo_rows()
    for row in sheets["住户"][1:150]:
        row[4] = "新户主"                     # 149 good changes ...
    sheets["住户"][200][0] = "XF-99"          # ... and one bad row (row 201)
    result = run(sqlite_app, write_xlsx(tmp_path / "half.xlsx", sheets))
    assert [(e.sheet, e.row) for e in result.errors] == [("住户", 201)]
    assert snapshot(sqlite_app) == before


def test_a_parent_cycle_is_refused(sqlite_app, tmp_path):
    sheets = small_roster()
    sheets["网格"][1][5] = "XQ-01"            # the top grid's parent is its own child
    result = run(sqlite_app, write_xlsx(tmp_path / "cycle.xlsx", sheets))
    assert result.errors and all("循环" in e.reason for e in result.errors)
    assert {e.row for e in result.errors} >= {2}


def test_a_missing_sheet_or_header_is_reported(tmp_path):
    sheets = small_roster()
    del sheets["住户"]
    with pytest.raises(RosterError) as err:
        read_roster(write_xlsx(tmp_path / "two.xlsx", sheets))
    assert "住户" in str(err.value)
    sheets = small_roster()
    sheets["成员"][0] = ["名字", "企业微信账号", "角色"]
    with pytest.raises(RosterError) as err:
        read_roster(write_xlsx(tmp_path / "hdr.xlsx", sheets))
    assert err.value.errors[0].sheet == "成员" and "姓名" in err.value.errors[0].reason


def test_a_file_level_error_names_no_row(tmp_path):
    with pytest.raises(RosterError) as err:
        read_roster(tmp_path / "不存在.xlsx")
    assert "找不到文件" in str(err.value) and "第 0 行" not in str(err.value)


# -- the command ----------------------------------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(db)
    return {"GRIDBOT_DATABASE_URL": db, "GRIDBOT_INSTANCE_DIR": str(tmp_path / "instance"),
            "GRIDBOT_REDIS_URL": ""}


def households_in(env: dict) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(env["GRIDBOT_DATABASE_URL"])
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(Household.__table__)).scalar()
    engine.dispose()
    return n


def test_cli_dry_run_shows_changes_and_writes_nothing(cli_env):
    runner = CliRunner(env=cli_env)
    dry = runner.invoke(main, ["import", "roster", str(DEMO_XLSX), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "试运行" in dry.output and "住户：新增 300，更新 0，不变 0" in dry.output
    assert households_in(cli_env) == 0
    real = runner.invoke(main, ["import", "roster", str(DEMO_XLSX)])
    assert real.exit_code == 0 and "住户：新增 300" in real.output
    assert households_in(cli_env) == 300
    again = runner.invoke(main, ["import", "roster", str(EXAMPLES)])
    assert again.exit_code == 0 and "没有任何变化" in again.output


def test_cli_names_bad_rows_in_chinese_and_fails(cli_env, tmp_path):
    sheets = small_roster()
    sheets["住户"].append(["XQ-01", "5", "1", "101", "", "1234", ""])
    folder = write_csvs(tmp_path / "bad", sheets)
    result = CliRunner(env=cli_env).invoke(main, ["import", "roster", str(folder)])
    assert result.exit_code == 1
    assert "未导入任何数据" in result.stderr
    assert "【住户】第 5 行" in result.stderr and "联系电话" in result.stderr
    assert households_in(cli_env) == 0


def test_cli_refuses_a_file_that_is_not_a_roster(cli_env, tmp_path):
    junk = tmp_path / "junk.xlsx"
    junk.write_text("not a workbook")
    result = CliRunner(env=cli_env).invoke(main, ["import", "roster", str(junk)])
    assert result.exit_code == 1 and "无法读取文件" in result.stderr


def test_cli_shows_a_progress_bar_for_large_files(cli_env, tmp_path):
    sheets = small_roster()
    sheets["住户"] = [HEADERS["住户"]] + [["XQ-01", str(b), "1", str(r), "", "", ""]
                                          for b in range(1, 31) for r in range(101, 171)]
    folder = write_csvs(tmp_path / "big", sheets)
    result = CliRunner(env=cli_env).invoke(main, ["import", "roster", str(folder)])
    assert result.exit_code == 0, result.output
    assert "导入花名册" in result.stderr and "住户：新增 2100" in result.stdout


def test_committed_examples_match_the_generator(tmp_path):
    """The committed CSVs are what make_demo_roster.py writes (so the xlsx and CSVs cannot drift apart)."""
    import runpy

    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    runpy.run_path(str(copy / "make_demo_roster.py"), run_name="__main__")
    for name in ("网格.csv", "成员.csv", "住户.csv"):
        assert (copy / name).read_bytes() == (EXAMPLES / name).read_bytes(), name
