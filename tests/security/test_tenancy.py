"""Issue 20, item 10: one community never touches another's, checked over everything that exists.

Two communities (和园 HY, 青山 QS). For every console and API route (from the URL map), every CLI command that takes
a community or grid (from the click group) and every chat command (from the router), people of 和园 — the
secretary, a grid leader, a member — act on 青山's ids and codes. Each request is refused (403/404/400) or answers
without anything of 青山 in it (its grid names, members, residents, addresses, phone numbers), and 青山's rows are
exactly as before. A new route or command that is not classified here fails the test until it is.
"""
from __future__ import annotations

import io
import json
from typing import Any

import click
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import inspect, or_, select

from gridbot.models import Base, Grid, Household, Member, OutboxMessage, Ticket
from tests.console_helpers import csrf_of, module_world
from tests.security.two_communities import SECRETS, add_other_community

PEOPLE = ("secretary", "leader", "member")        # 和园's 王书记, 李网格长, 赵网格员

# Routes that carry no community's data, and why (everything else must be in REQUESTS below).
NOT_COMMUNITY_DATA = {
    "static": "stylesheets and scripts",
    "health.healthz": "liveness probe", "health.readyz": "readiness probe",
    "metrics.metrics": "process counters by endpoint, queue and status; no community label",
    "wecom_webhook.app_callback": "signed by WeCom, not a person's request",
    "wecom_webhook.aibot_callback": "signed by WeCom, not a person's request",
    "auth.login": "sign-in", "auth.logout": "sign-out", "auth.wecom_login": "sign-in",
    "auth.wecom_callback": "sign-in",
    "simulator.index": "the demo's chat simulator: off in production (gridbot demo only)",
    "simulator.directory_json": "the demo's chat simulator", "simulator.say": "the demo's chat simulator",
    "simulator.outbox_after": "the demo's chat simulator",
    "simulator.toolbar_items": "the demo's chat simulator", "simulator.toolbar_post": "the demo's chat simulator",
    "api.openapi": "the API's description",
}


def requests_for(o: dict[str, Any]) -> dict[str, list[tuple[str, str, Any]]]:
    """endpoint -> the requests 和园's people make with 青山's ids: (method, url, form data or JSON)."""
    n = o["ticket"]
    return {
        "console.home": [("GET", "/console/", None)],
        "console.dashboard": [("GET", "/console/dashboard", None), ("GET", "/console/dashboard?grid=QS-01", None)],
        "console.digest": [("GET", "/console/digest", None), ("GET", "/console/digest?grid=QS-01", None)],
        "console.tickets": [("GET", "/console/tickets?per_page=200", None),
                            ("GET", "/console/tickets?grid=QS-01", None), ("GET", f"/console/tickets?q={n}", None)],
        "console.ticket_detail": [("GET", f"/console/tickets/{n}", None)],
        "console.ticket_evidence": [("GET", f"/console/evidence/{o['evidence']}", None)],
        "console.ticket_action": [("POST", f"/console/tickets/{n}/action", {"action": a, "note": "x", "to": "mem_zhao"})
                                  for a in ("accept", "start", "resolve", "close", "reassign", "escalate", "reopen",
                                            "note")],
        "console.ticket_category": [("POST", f"/console/tickets/{n}/category", {"category": "noise"})],
        "console.households": [("GET", "/console/households?per_page=200", None),
                               ("GET", "/console/households?grid=QS-01", None)],
        "console.coverage": [("GET", "/console/coverage", None), ("GET", "/console/coverage?grid=QS-01", None)],
        "console.binding_decide": [("POST", f"/console/bindings/{o['binding']}/decide", {"decision": "approve"})],
        "console.members": [("GET", "/console/members", None)],
        "console.reminders": [("GET", "/console/reminders", None),
                              ("POST", "/console/reminders",
                               {"when": "每周一 9点", "text": "越界", "target": "grid:QS-01"})],
        "console.reminder_cancel": [("POST", f"/console/reminders/{o['reminder']}/cancel", {})],
        "console.announcement_create": [("POST", "/console/announcements", {"text": "越界公告", "grids": "QS-01"})],
        "console.announcement_cancel": [("POST", f"/console/announcements/{o['announcement']}/cancel", {})],
        "console.export_tickets": [("GET", "/console/export/tickets.xlsx", None),
                                   ("GET", "/console/export/tickets.csv?grid=QS-01", None)],
        "console.export_households": [("GET", "/console/export/households.xlsx", None),
                                      ("GET", "/console/export/households.csv?grid=QS-01", None)],
        "console.roster_import": [("GET", "/console/roster", None), ("UPLOAD", "/console/roster", None)],
        "console.outbox": [("GET", "/console/outbox?per_page=200", None)],
        "console.outbox_retry": [("POST", f"/console/outbox/{o['outbox']}/retry", {})],
        "console.outbox_confirm": [("POST", f"/console/outbox/{o['outbox']}/confirm", {})],
        "console.accounts": [("GET", "/console/accounts", None),
                             ("POST", "/console/accounts", {"username": "cross", "member": "qs_mem",
                                                            "password": "cross-pass-1"})],
        "console.account_password": [("POST", f"/console/accounts/{o['account']}/password",
                                      {"password": "taken-over-1"})],
        "console.tokens": [("GET", "/console/tokens", None)],
        "console.chats": [("GET", "/console/chats", None)],
        "console.kf_links_page": [("GET", "/console/kf-links", None)],
        "console.kf_link_sheet": [("GET", "/console/kf-links/QS-01.png", None)],
        "console.chat_kind": [("POST", "/console/chats/chat-qs-01/kind", {"kind": "app_chat"})],
        "console.token_revoke": [("POST", f"/console/tokens/{o['token']}/revoke", {})],
        # the chat toolbar page (issue 16): 青山's customer group and its ready item, asked for by 和园's people
        "toolbar.page": [("GET", "/toolbar/", None)],
        "toolbar.config": [("GET", "/toolbar/config?url=http://localhost/toolbar/", None)],
        "toolbar.items": [("GET", "/toolbar/items?chat_id=chat-qs-01", None)],
        "toolbar.posted": [("POST", f"/toolbar/items/{o['toolbar_item']}/posted", {})],
        "toolbar.dismissed": [("POST", f"/toolbar/items/{o['toolbar_item']}/dismissed", {})],
        "api.tickets_list": [("API", "/api/v1/tickets", None), ("API", "/api/v1/tickets?grid=QS-01", None)],
        "api.ticket_get": [("API", f"/api/v1/tickets/{n}", None)],
        "api.ticket_transition": [("APIPOST", f"/api/v1/tickets/{n}/transition", {"action": a, "note": "x"})
                                  for a in ("accept", "start", "resolve", "close")],
        "api.grids": [("API", "/api/v1/grids", None)],
        "api.coverage": [("API", "/api/v1/coverage", None), ("API", "/api/v1/coverage?grid=QS-01", None)],
        "api.digests": [("API", "/api/v1/digests", None), ("API", "/api/v1/digests?grid=QS-01", None)],
    }


@pytest.fixture(scope="module")
def two(db_templates, tmp_path_factory):
    """和园's console world, 青山 beside it, and 青山's objects a URL can name."""
    from datetime import timedelta

    from gridbot.models.console import ApiToken
    from gridbot.schedule.parse import parse
    from gridbot.services import announcements, bindings, reminders

    world = module_world(db_templates, tmp_path_factory.mktemp("tenancy"))
    other = add_other_community(world)
    app = world.app
    now = app.clock.now()
    ids: dict[str, Any] = {"ticket": other.ticket, "account": other.account_id}
    with app.session() as s, s.begin():
        change = bindings.register(s, platform="console", user_id="res_qs2", display_name="青山住户丙",
                                   address=bindings.AddressParts("9", "1", "102"), now=now,
                                   chat_grid_id=other.grids["QS-01"])
        ids["binding"] = change.binding.id
        r = reminders.create_reminder(s, community_id=other.community_id, owner_member_id=other.members["qs_sec"],
                                      created_by="member:qs_sec", target_type="grids",
                                      grid_ids=[other.grids["QS-01"]],
                                      schedule=parse("每周一 9点", now, "Asia/Shanghai"),
                                      text="青山乙网格例会", now=now)
        ids["reminder"] = r.id
        ann, _ = announcements.create(s, community_id=other.community_id, author_member_id=other.members["qs_sec"],
                                      author_userid="qs_sec", author_name="青山书记", actor="member:qs_sec",
                                      scope="grid", grid_ids=[other.grids["QS-01"]], text="青山乙网格停水",
                                      mention_all=False, send_at=now + timedelta(days=2), now=now)
        ids["announcement"] = ann.id
        ids["token"] = s.scalar(select(ApiToken.id).where(ApiToken.account_id == other.account_id))
        row = OutboxMessage(platform="console", target_type="chat", target="chat-qs-01", status="dead",
                            content={"kind": "text", "text": "青山住户101 的消息"}, attempts=5)
        s.add(row)
        s.flush()
        ids["outbox"] = row.id
        ids["evidence"] = _other_evidence(s, app, other.ticket)
        ids["toolbar_item"] = _other_toolbar_item(s, other, now)
    return world, other, ids


def _other_evidence(s, app, number: str) -> int:
    """A picture on 青山's ticket (as the AI bot's pictures are kept): its file holds a 青山 secret."""
    from gridbot.models import InboundMessage, TicketEvidence

    inbound = InboundMessage(platform="wecom_aibot", dedupe_key="wecom_aibot:msg:qs-photo", sender_id="res_qs",
                             payload={}, status="done")
    s.add(inbound)
    s.flush()
    path = app.settings.instance_dir / "evidence" / "2026" / "11" / ("0" * 64 + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + SECRETS[0].encode())
    row = TicketEvidence(ticket_id=s.scalar(select(Ticket.id).where(Ticket.number == number)), inbound_id=inbound.id,
                         position=0, status="stored", path=str(path.relative_to(app.settings.instance_dir)),
                         sha256="0" * 64, mime="image/png", size=path.stat().st_size, added_by="res_qs")
    s.add(row)
    s.flush()
    return row.id


def _other_toolbar_item(s, other, now) -> int:
    """青山's group as a customer group with a reply ready for its member to post (a 青山 secret in it)."""
    from sqlalchemy import update

    from gridbot.models import GridChat, ToolbarItem

    s.execute(update(GridChat).where(GridChat.chat_id == "chat-qs-01").values(kind="customer_group"))
    item = ToolbarItem(chat_id="chat-qs-01", grid_id=other.grids["QS-01"], kind="reply", text="青山住户甲，已收到",
                       for_member="qs_mem", status="ready", created_at=now, due_at=now)
    s.add(item)
    s.flush()
    return item.id


def other_rows(app, other) -> list[tuple]:
    """Every row that belongs to 青山, column by column: whatever 和园's people did must leave it as it was."""
    grid_ids = set(other.grids.values())
    with app.session() as s:
        member_ids = set(s.scalars(select(Member.id).where(Member.community_id == other.community_id)))
        ticket_ids = set(s.scalars(select(Ticket.id).where(Ticket.grid_id.in_(grid_ids))))
        household_ids = set(s.scalars(select(Household.id).where(Household.grid_id.in_(grid_ids))))
        out = []
        for mapper in Base.registry.mappers:
            model = mapper.class_
            cols = {c.key: c for c in inspect(model).columns}
            keys = [("grid_id", grid_ids), ("community_id", {other.community_id}), ("member_id", member_ids),
                    ("ticket_id", ticket_ids), ("household_id", household_ids)]
            conds = [cols[k].in_(v) for k, v in keys if k in cols and v]
            if model is Grid:
                conds.append(Grid.id.in_(grid_ids))
            if model is Member:
                conds.append(Member.id.in_(member_ids))
            if model is Ticket or model is Household:
                conds.append(cols["id"].in_(ticket_ids if model is Ticket else household_ids))
            only = None
            if model is OutboxMessage:   # notifications to 青山 (a reply to whoever spoke in its group is no change)
                conds.append(OutboxMessage.target.in_(["chat-qs-01", "chat-qs-02", "qs_sec", "qs_mem"]))
                only = OutboxMessage.inbound_id.is_(None)
            if not conds:
                continue
            query = select(model).where(or_(*conds))
            for obj in s.scalars(query.where(only) if only is not None else query):
                out.append((model.__name__, tuple(sorted((k, repr(getattr(obj, k))) for k in cols))))
        return sorted(out)


def body_text(resp) -> str:
    if resp.mimetype and resp.mimetype.endswith("spreadsheetml.sheet"):
        wb = load_workbook(io.BytesIO(resp.data), read_only=True)
        return "\n".join(str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row if v is not None)
    return resp.get_data(as_text=True)


def leaked(text: str, said: str = "") -> list[str]:
    return [s for s in SECRETS if s in text and s not in said]


def test_every_route_is_classified(two):
    world, _, ids = two
    known = set(requests_for(ids)) | set(NOT_COMMUNITY_DATA)
    missing = sorted({r.endpoint for r in world.flask.url_map.iter_rules()} - known)
    assert not missing, f"classify these routes in tests/security/test_tenancy.py: {missing}"


@pytest.mark.parametrize("person", PEOPLE)
def test_no_console_or_api_route_crosses_to_another_community(two, person):
    world, other, ids = two
    before = other_rows(world.app, other)
    client = world.client(person)
    token = csrf_of(client.get("/console/tokens").get_data(as_text=True))
    api = {"Authorization": f"Bearer {world.tokens[person]}"}
    problems = []
    for endpoint, reqs in requests_for(ids).items():
        for method, url, data in reqs:
            if method == "GET":
                resp = client.get(url, follow_redirects=True)
            elif method == "POST":
                resp = client.post(url, data={**data, "csrf_token": token}, follow_redirects=True)
            elif method == "UPLOAD":
                grids = "社区编码,社区名称,网格编码,网格名称,层级,上级网格编码\nHY,和园社区,QS-01,青山甲网格,2,HY\n"
                files = [(io.BytesIO(grids.encode("utf-8-sig")), "网格.csv"),
                         (io.BytesIO("姓名,企业微信账号,角色\n".encode("utf-8-sig")), "成员.csv"),
                         (io.BytesIO("网格编码,楼栋,室\n".encode("utf-8-sig")), "住户.csv")]
                resp = client.post(url, data={"file": files, "csrf_token": token},
                                   content_type="multipart/form-data")
                data = {"sent": grids}
            elif method == "API":
                resp = world.flask.test_client().get(url, headers=api)
            else:
                resp = world.flask.test_client().post(url, json=data, headers=api)
            said = json.dumps(data, ensure_ascii=False) if data else ""
            if resp.status_code >= 500:
                problems.append((endpoint, url, resp.status_code))
            elif resp.status_code < 400 or method == "UPLOAD":
                found = leaked(body_text(resp), said)
                if found:
                    problems.append((endpoint, method, url, resp.status_code, found))
    assert not problems, problems
    assert other_rows(world.app, other) == before


# -- the CLI ---------------------------------------------------------------------------------------------------------
SCOPE_PARAMS = {"community", "grid", "grids", "grid_code", "chat", "chats", "userid"}

# command -> arguments naming 和园 (the CLI runs on the server with every power; what it is asked about 和园
# must not bring 青山 along). None: takes a chat or a person, not a community (why given).
CLI_CASES: dict[str, list[str] | None] = {
    "coverage": ["coverage", "--community", "HY", "--json"],
    "compliance": ["compliance", "--community", "HY", "--period", "2026-11"],
    "tickets list": ["tickets", "list", "--grid", "HY-01", "--json"],
    "tickets metrics": ["tickets", "metrics", "--grid", "HY-01", "--by", "member", "--json"],
    "digest": ["digest", "--community", "HY"],
    "report evaluation": ["report", "evaluation", "--community", "HY", "--period", "2026-11", "--out", "{tmp}/e.xlsx",
                          "--json"],
    "report logs": ["report", "logs", "--community", "HY", "--json"],
    # held to 和园, a row re-parenting 青山's grid is refused (exit 1), nothing written
    "import roster": ["import", "roster", "--community", "HY", "{tmp}/roster"],
    "say": None,            # speaks as one person in one chat: the chat test below covers what people can say
    "console": None,        # the same, interactively
    "wecom sync-roster": None,   # reads WeCom's member lists of the named chats into the database
    "seed synthetic": None,      # --grids is a number: makes a synthetic county for benchmarks and demos
    "chat bind": None,           # the server's operator binds a chat to any grid, saying what it is (no output of data)
}


def cli_commands() -> dict[str, click.Command]:
    from gridbot.cli import main

    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: list[str]) -> None:
        if path and any(p.name in SCOPE_PARAMS for p in cmd.params):
            out[" ".join(path)] = cmd
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])

    walk(main, [])
    return out


def test_every_cli_command_that_takes_a_community_or_grid_keeps_to_it(two, tmp_path, monkeypatch):
    world, other, _ = two
    from gridbot.cli import main

    commands = cli_commands()
    unclassified = sorted(set(commands) - set(CLI_CASES))
    assert not unclassified, f"classify these CLI commands in tests/security/test_tenancy.py: {unclassified}"
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", str(world.app.settings.database_url))
    monkeypatch.setenv("GRIDBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    (tmp_path / "roster").mkdir()
    for sheet, text in (("网格",
                         "社区编码,社区名称,网格编码,网格名称,层级,上级网格编码\nHY,和园社区,QS-01,青山甲网格,2,HY\n"),
                        ("成员", "姓名,企业微信账号,角色\n"), ("住户", "网格编码,楼栋,室\n")):
        (tmp_path / "roster" / f"{sheet}.csv").write_text(text, encoding="utf-8-sig")
    expected_exit = {"import roster": 1}
    before = other_rows(world.app, other)
    problems = []
    for name, args in CLI_CASES.items():
        if args is None:
            continue
        args = [a.replace("{tmp}", str(tmp_path)) for a in args]
        result = CliRunner().invoke(main, args)
        out = result.output
        if args[-1] == "--json" and "--out" in args:
            out += "".join(str(c.value) for ws in load_workbook(tmp_path / "e.xlsx") for row in ws for c in row
                           if c.value is not None)
        if result.exit_code != expected_exit.get(name, 0):
            problems.append((name, "exit", result.exit_code, out[-500:]))
        found = leaked(out, " ".join(args) + "青山甲网格")
        if found:
            problems.append((name, found))
    assert not problems, problems
    assert other_rows(world.app, other) == before


# -- the chat ----------------------------------------------------------------------------------------------------------
CHAT_PEOPLE = ("sec_wang", "lead_li", "mem_zhao")


def test_no_chat_command_crosses_to_another_community(two):
    world, other, ids = two
    bot = world.bot
    commands = list(world.app.router.commands)
    assert len(commands) >= 20
    args = [ids["ticket"], "QS-01", "青山甲网格", "qs_mem", "青山网格员", "9栋1单元101", f"{ids['ticket']} 已处理好了"]
    problems = []
    # resident commands first (anyone may ask to represent a household anywhere: 登记 leaves a request pending for
    # that grid's member to decide), then staff commands, after which 青山's rows must be as they were
    commands.sort(key=lambda c: c.roles is not None)
    before = None
    for cmd in commands:
        if cmd.roles is not None and before is None:
            before = other_rows(world.app, other)
        for user in CHAT_PEOPLE:
            for arg in args:
                text = f"{cmd.name} {arg}"
                for where in ({"private": True}, {"chat": "HY-01"}, {"chat": "chat-not-bound-yet"}):
                    reply = "\n".join(bot.say(text, as_=user, **where))
                    found = leaked(reply, text)
                    if found:
                        problems.append((user, text, where, found))
    assert not problems, problems
    assert other_rows(world.app, other) == before
    # staff commands said by 和园's people inside 青山's group: there they are only people in a group (a report
    # becomes a resident's ticket), so 青山's existing rows stay as they were and nothing new carries their
    # authority (no action as member:..., no patrol, visit, log or leave in 青山's grids)
    for cmd in commands:
        if cmd.roles is None:
            continue
        for user in CHAT_PEOPLE:
            for arg in ("", ids["ticket"]):
                bot.say(f"{cmd.name} {arg}".strip(), as_=user, chat="QS-01")
    after = other_rows(world.app, other)
    assert set(before) <= set(after), sorted(set(before) - set(after))[:3]
    resident_acts = ("('action', \"'report'\")", "('action', \"'follow_up'\")")   # what anyone in a group does
    new = [row for row in set(after) - set(before)
           if row[0] in ("Patrol", "Visit", "WorkLog", "Leave")
           or (any(f"member:{u}" in repr(row) for u in CHAT_PEOPLE)
               and not any(act in repr(row) for act in resident_acts))]
    assert not new, new[:3]
