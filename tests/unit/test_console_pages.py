"""Console pages as the people using them see them: ticket filters and pagination, a ticket walked through its
life cycle from the browser forms, households and coverage, registrations, members, reminders and announcements,
the roster import report, dead outbox messages, exports, accounts — each within the person's scope."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, func, select

from gridbot.models import (
    Announcement,
    AuditLog,
    Household,
    HouseholdBinding,
    Member,
    MemberGrid,
    OutboxMessage,
    Reminder,
    Ticket,
)
from gridbot.web.auth import create_account
from tests.console_helpers import PASSWORD, build_world, csrf_of, login, report_ticket

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


@pytest.fixture(params=["sqlite", "postgres"])
def world(request):
    """The console world on both supported databases (PostgreSQL is stricter: JSON columns, DISTINCT, LIKE)."""
    return build_world(request.getfixturevalue("bot" if request.param == "sqlite" else "pg_bot"))


def post(client, url: str, data: dict, page: str = "/console/tokens", **kw):
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kw)


def numbers_on(html: str) -> list[str]:
    return re.findall(r'/console/tickets/([A-Z]+-\d{8}-\d{4})"', html)


def building_leader(world) -> object:
    """陈楼栋长: a 楼栋长 of HY-01 (a contact, not a handler): sees the grid, phones masked."""
    app = world.app
    with app.session() as s, s.begin():
        m = Member(community_id=world.bot.world.community_id, name="陈楼栋长", userid="bl_chen",
                   roles=["building_leader"])
        s.add(m)
        s.flush()
        s.add(MemberGrid(member_id=m.id, grid_id=world.bot.world.grids["HY-01"]))
        s.flush()
        create_account(s, username="chen", password=PASSWORD, member_userid="bl_chen", now=app.clock.now())
    client = world.flask.test_client()
    login(client, "chen", PASSWORD)
    return client


# -- tickets --------------------------------------------------------------------------------------------------
def test_ticket_list_filters_and_paginates_within_scope(world, clock):
    bot = world.bot
    clock.advance(timedelta(days=1))
    extra = [report_ticket(bot, "HY-02", f"3栋1单元10{i} 楼下有人私拉电线给电动车充电，很危险", f"res_y{i}")
             for i in range(3)]
    leader = world.client("leader")
    html = leader.get("/console/tickets").get_data(as_text=True)
    assert set(numbers_on(html)) == {world.tickets["HY-01"], *extra}        # HY-03 is not the leader's
    html = leader.get("/console/tickets?grid=HY-02&category=fire_hazard").get_data(as_text=True)
    assert set(numbers_on(html)) == set(extra)
    html = leader.get("/console/tickets?per_page=2").get_data(as_text=True)
    assert "共 4 条" in html and len(numbers_on(html)) == 2 and 'id="next-page"' in html
    html2 = leader.get("/console/tickets?per_page=2&page=2").get_data(as_text=True)
    assert set(numbers_on(html)) | set(numbers_on(html2)) == {world.tickets["HY-01"], *extra}
    day = (clock.now() + timedelta(hours=8)).date().isoformat()           # local date of the extra tickets
    html = leader.get(f"/console/tickets?from={day}&to={day}").get_data(as_text=True)
    assert set(numbers_on(html)) == set(extra)
    html = leader.get("/console/tickets?status=open&urgency=normal").get_data(as_text=True)
    assert world.tickets["HY-01"] in numbers_on(html)
    assert leader.get("/console/tickets?grid=HY-03").status_code == 403
    html = world.client("secretary").get("/console/tickets").get_data(as_text=True)
    assert world.tickets["HY-03"] in numbers_on(html)


def test_a_ticket_walked_through_its_life_cycle_from_the_console(world):
    client = world.client("member")
    number = world.tickets["HY-01"]
    url = f"/console/tickets/{number}"
    page = client.get(url).get_data(as_text=True)
    assert "13812345678" in page and "楼道灯" in page          # the member of the grid sees the phone
    assert 'data-action="accept"' in page and 'data-action="close"' not in page

    def act(action, **data):
        resp = post(client, f"{url}/action", {"action": action, **data}, page=url, follow_redirects=True)
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    assert "立案成功" in act("accept")
    assert "派遣成功" in act("dispatch", to="mem_qian")
    html = act("resolve")                                         # a note is needed: refused, in Chinese
    assert "办结" in html and 'class="flash error"' in html
    act("resolve", note="已更换灯泡")
    act("verify", note="现场已亮")
    html = act("close")
    assert '<span class="badge" id="ticket-status">已结案</span>' in html
    for word in ("上报", "立案", "派遣", "反馈办结", "核查通过", "结案"):
        assert word in html.split('id="timeline"')[1]
    assert 'data-action="reopen"' in html
    html = act("reopen", note="灯又不亮了")
    assert "处置中" in html
    with world.app.session() as s:
        tk = s.scalar(select(Ticket).where(Ticket.number == number))
        assert (tk.status, tk.reopen_count, tk.assignee.userid) == ("in_progress", 1, "mem_qian")
        actors = set(s.scalars(select(AuditLog.actor).where(AuditLog.entity_id == number)))
        assert "member:mem_zhao" in actors
        # the reporter heard about it in the group, as when the member types 受理 in chat
        texts = [r.content.get("text", "") for r in s.scalars(select(OutboxMessage))]
    assert any(number in text and "受理" in text or "立案" in text for text in texts)


def test_building_leader_sees_the_grid_but_phones_are_masked(world):
    client = building_leader(world)
    page = client.get(f"/console/tickets/{world.tickets['HY-01']}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page
    page = client.get("/console/households").get_data(as_text=True)
    assert "138****0000" in page and "13800000000" not in page
    data = client.get("/console/export/tickets.csv").get_data(as_text=True)
    assert "138****5678" in data and "13812345678" not in data


# -- households, coverage, registrations -------------------------------------------------------------------------
def test_households_filters_and_phones(world):
    client = world.client("member")
    page = client.get("/console/households").get_data(as_text=True)
    assert "共 12 条" in page and "13800000000" in page
    page = client.get("/console/households?tag=独居老人").get_data(as_text=True)
    assert "共 1 条" in page and "1栋1单元101" in page
    page = client.get("/console/households?covered=no&building=2").get_data(as_text=True)
    assert "共 6 条" in page
    assert client.get("/console/households?grid=HY-02").status_code == 403


def test_coverage_page_lists_uncovered_and_confirms_a_registration(world):
    client = world.client("member")
    page = client.get("/console/coverage?grid=HY-01").get_data(as_text=True)
    assert "1栋1单元102" in page.split('id="pending-list"')[1] and "钱阿姨" in page
    assert "独居老人" in page.split('id="uncovered-list"')[1]
    resp = post(client, f"/console/bindings/{world.ids['binding']}/decide", {"decision": "approve"},
                follow_redirects=True)
    assert "登记已处理" in resp.get_data(as_text=True)
    with world.app.session() as s:
        assert s.get(HouseholdBinding, world.ids["binding"]).status == "active"


# -- members, reminders, announcements ------------------------------------------------------------------------------
def test_members_page_shows_duties_and_ab_pairs(world):
    page = world.client("leader").get("/console/members").get_data(as_text=True)
    rows = page.split('id="member-list"')[1]
    assert "赵网格员" in rows and "孙网格员" in rows and "周网格员" not in rows     # HY-03 is not the leader's
    zhao_row = next(r for r in rows.split("<tr>") if "赵网格员" in r.split("</td>")[0])
    assert "钱网格员" in zhao_row and "在岗" in zhao_row


def test_reminder_and_announcement_created_and_cancelled(world):
    client = world.client("leader")
    resp = post(client, "/console/reminders", {"when": "每周五 16点", "text": "交本周工作日志", "target": "grid:HY-02"},
                follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "提醒已创建" in html and "交本周工作日志" in html
    resp = post(client, "/console/reminders", {"when": "乱写的时间", "text": "x"}, follow_redirects=True)
    assert 'class="flash error"' in resp.get_data(as_text=True)
    with world.app.session() as s:
        rid = s.scalar(select(Reminder.id).where(Reminder.text == "交本周工作日志"))
    post(client, f"/console/reminders/{rid}/cancel", {})
    with world.app.session() as s:
        assert s.get(Reminder, rid).active is False
    resp = post(client, "/console/announcements", {"text": "周日上午消防演练", "grids": "HY-02",
                                                   "send_at": "2026-11-08T09:00"}, follow_redirects=True)
    assert "公告已排期" in resp.get_data(as_text=True)
    with world.app.session() as s:
        ann = s.scalar(select(Announcement).where(Announcement.text == "周日上午消防演练"))
        assert ann.status == "scheduled" and ann.send_at.hour == 1      # 09:00 in Shanghai = 01:00 UTC
    post(client, f"/console/announcements/{ann.id}/cancel", {})
    with world.app.session() as s:
        assert s.get(Announcement, ann.id).status == "cancelled"
    # a member cannot announce to a grid that is not theirs
    assert post(world.client("member"), "/console/announcements", {"text": "x", "grids": "HY-03"}).status_code == 403


# -- roster import, outbox, accounts -------------------------------------------------------------------------------
def test_roster_import_reports_errors_and_imports_a_good_file(world):
    client = world.client("operator")
    households = (EXAMPLES / "住户.csv").read_text(encoding="utf-8-sig") + "NOPE-9,1,1,101,张三,,独居老人\n"
    files = [(io.BytesIO((EXAMPLES / name).read_bytes()), name) for name in ("网格.csv", "成员.csv")]
    files.append((io.BytesIO(households.encode("utf-8-sig")), "住户.csv"))
    resp = post(client, "/console/roster", {"file": files}, content_type="multipart/form-data")
    for fh, _ in files:
        fh.close()
    html = resp.get_data(as_text=True)
    report = html.split('id="roster-report"')[1]
    assert resp.status_code == 400 and "NOPE-9" in report and "住户" in report
    assert re.search(r'data-label="行号">\d+<', report)                        # the row the clerk looks for
    with world.app.session() as s:                                            # nothing was written
        assert s.scalar(select(func.count()).select_from(Member).where(Member.userid.like("xf_%"))) == 0
    resp = post(client, "/console/roster", {"file": (io.BytesIO(b"x"), "\u4f4f\u6237.csv")},
                content_type="multipart/form-data")
    assert resp.status_code == 400 and "缺少文件" in resp.get_data(as_text=True)
    with open(EXAMPLES / "demo-roster.xlsx", "rb") as fh:
        resp = post(client, "/console/roster", {"file": (fh, "demo-roster.xlsx"), "dry_run": "1"},
                    content_type="multipart/form-data")
    assert resp.status_code == 200 and "只校验，未写入" in resp.get_data(as_text=True)
    with world.app.session() as s:
        assert s.scalar(select(func.count()).select_from(Member).where(Member.userid.like("xf_%"))) == 0
    with open(EXAMPLES / "demo-roster.xlsx", "rb") as fh:
        resp = post(client, "/console/roster", {"file": (fh, "demo-roster.xlsx")}, content_type="multipart/form-data",
                    follow_redirects=True)
    assert "花名册已导入" in resp.get_data(as_text=True)
    with world.app.session() as s:
        assert s.scalar(select(func.count()).select_from(Household).join(Household.grid)
                        .where(Household.grid.has(code="XF-01"))) > 0
    resp = post(client, "/console/roster", {"file": (io.BytesIO(b"not a roster"), "x.txt")},
                content_type="multipart/form-data")
    assert resp.status_code == 400 and "请选择花名册文件" in resp.get_data(as_text=True)


def test_dead_outbox_message_is_listed_masked_and_retried(world):
    app = world.app
    with app.session() as s, s.begin():
        row = OutboxMessage(platform="console", target_type="user", target="mem_zhao",
                            content={"kind": "text", "text": "新工单，联系电话 13812345678"}, status="dead",
                            attempts=6, last_error="WeCom errcode 60020", created_at=app.clock.now())
        s.add(row)
        s.flush()
        oid = row.id
    client = world.client("operator")
    page = client.get("/console/outbox").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page and "60020" in page
    resp = post(client, f"/console/outbox/{oid}/retry", {}, page="/console/outbox", follow_redirects=True)
    assert f"消息 #{oid} 已重新排队发送" in resp.get_data(as_text=True)
    with app.session() as s:
        assert s.get(OutboxMessage, oid).status in ("pending", "sent")
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "outbox.retry")) == "console:ops"


def test_accounts_by_secretary_and_operator(world):
    sec = world.client("secretary")
    resp = post(sec, "/console/accounts", {"username": "qian", "member": "mem_qian", "password": "qian-pass-1",
                                           "operator": "1"}, follow_redirects=True)
    assert "账号 qian 已创建" in resp.get_data(as_text=True)
    client = world.flask.test_client()
    assert login(client, "qian", "qian-pass-1").status_code == 302
    assert "钱网格员" in client.get("/console/dashboard").get_data(as_text=True)
    with world.app.session() as s:
        from gridbot.models.console import ConsoleAccount

        assert s.scalar(select(ConsoleAccount.is_operator).where(ConsoleAccount.username == "qian")) is False
    resp = post(sec, "/console/accounts", {"username": "short", "member": "mem_sun", "password": "123"},
                follow_redirects=True)
    assert "密码至少 8 位" in resp.get_data(as_text=True)


# -- exports -------------------------------------------------------------------------------------------------------
def test_exports_follow_filters_scope_and_are_audited(world):
    client = world.client("member")
    resp = client.get("/console/export/tickets.xlsx?status=open")
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(resp.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "网格", "类别") and len(rows) == 2
    assert rows[1][0] == world.tickets["HY-01"] and "13812345678" in rows[1]
    resp = client.get("/console/export/households.csv?tag=独居老人")
    text = resp.get_data(as_text=True)
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][0] == "网格" and len(table) == 2 and table[1][1:4] == ["1", "1", "101"]
    with world.app.session() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == "console.export")))
    assert [(r.entity_type, r.detail["rows"]) for r in rows] == [("tickets", 1), ("households", 1)]


# -- speed: pages do a fixed number of queries, whatever the number of rows ----------------------------------------
def _queries(world, client, url: str) -> int:
    count = 0

    def on(*_a):
        nonlocal count
        count += 1

    event.listen(world.app.engine, "before_cursor_execute", on)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(world.app.engine, "before_cursor_execute", on)
    return count


@pytest.mark.parametrize("url", ["/console/tickets", "/console/households", "/console/members",
                                 "/console/coverage?grid=HY-01", "/console/export/tickets.csv"])
def test_no_query_per_row(world, url):
    client = world.client("secretary")
    client.get(url)   # warm up (first-request work)
    before = _queries(world, client, url)
    for i in range(6):
        report_ticket(world.bot, "HY-01", f"2栋2单元10{i % 2}{i} 门口垃圾没人收，臭了好几天", f"res_n{i}")
    with world.app.session() as s, s.begin():
        for i in range(10):
            s.add(Household(grid_id=world.bot.world.grids["HY-01"], building="9", unit="1", room=f"{i + 1}01",
                            phone="13600000000"))
    assert _queries(world, client, url) == before


def test_digest_page_shows_the_morning_digest_for_ones_scope(world):
    page = world.client("secretary").get("/console/digest").get_data(as_text=True)
    assert "和园社区" in page.split('id="digest"')[1]
    member = world.client("member")
    assert member.get("/console/digest").status_code == 200
    assert member.get("/console/digest?grid=HY-03").status_code == 403


def test_members_page_counts_handled_tickets(world):
    from gridbot.services import tickets as svc
    from gridbot.services.people import resolve_speaker

    app = world.app
    number = world.tickets["HY-01"]
    with app.session() as s, s.begin():
        sp = resolve_speaker(s, "console", "mem_zhao")
        policy = svc.policy_for(app)
        svc.start(s, policy, sp, number, app.clock.now())
        svc.resolve(s, policy, sp, number, "修好了", app.clock.now())
    page = world.client("member").get("/console/members").get_data(as_text=True)
    zhao_row = next(r for r in page.split('id="member-list"')[1].split("<tr>") if "赵网格员" in r.split("</td>")[0])
    assert ">1/1<" in zhao_row            # 办结 1, on time 1


def test_a_large_roster_upload_is_not_refused_for_its_size(world):
    """The app refuses bodies over 64 KB (WeCom callbacks); a roster of a few thousand households is bigger."""
    rows = "".join(f"XF-01,{100 + i // 40},1,{i % 40 + 101},住户{i},,\n" for i in range(3000))
    households = "网格编码,楼栋,单元,室,户主姓名,联系电话,标签\n" + rows
    assert len(households.encode()) > 64 * 1024
    files = [(io.BytesIO((EXAMPLES / name).read_bytes()), name) for name in ("网格.csv", "成员.csv")]
    files.append((io.BytesIO(households.encode("utf-8-sig")), "住户.csv"))
    # the county's operator: the example roster is another community's (XF), out of 和园's secretary's reach
    resp = post(world.client("operator"), "/console/roster", {"file": files, "dry_run": "1"},
                content_type="multipart/form-data")
    for fh, _ in files:
        fh.close()
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, html[-500:]
    assert "3000" in html.split('id="roster-report"')[1]
