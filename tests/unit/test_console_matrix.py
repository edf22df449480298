"""The authorization matrix: every role × every console page/action and every API endpoint, generated from the
app's URL map, so a new page or endpoint cannot escape it (an unmarked view fails test_every_view_says_who_may_open_it,
an unknown rule fails the matrix for want of an expectation).

Roles: anonymous, a member with no grid, a member (HY-01), a grid leader (HY-01, HY-02), the secretary (all),
an operator (configuration only) and a member of another grid (HY-03). The objects in URLs live in HY-01.
"""
from __future__ import annotations

import pytest

from tests.console_helpers import csrf_of, module_world

ROLES = [None, "gridless_member", "member", "leader", "secretary", "operator", "other_member"]
CASEWORK = {"gridless_member", "member", "leader", "secretary", "other_member"}
CONFIGURE = {"operator", "secretary"}
EVERYONE = {"gridless_member", "member", "leader", "secretary", "operator", "other_member"}
HY01 = {"member", "leader", "secretary"}          # whose scope includes HY-01

# endpoint -> the signed-in roles that may use it (anonymous is always sent to sign in, except "public")
EXPECTED: dict[str, set[str] | str] = {
    "auth.login": "public",
    "auth.wecom_login": "public",
    "auth.wecom_callback": "public",
    "auth.logout": EVERYONE,
    "console.home": EVERYONE,
    "console.dashboard": CASEWORK,
    "console.digest": CASEWORK,
    "console.tickets": CASEWORK,
    "console.ticket_detail": HY01,
    "console.ticket_action": HY01,
    "console.ticket_category": {"leader", "secretary"},   # a category correction: leaders, in scope
    "console.ticket_evidence": HY01,                       # a picture kept with the HY-01 ticket
    "console.households": CASEWORK,
    "console.coverage": CASEWORK,
    "console.binding_decide": HY01,
    "console.members": CASEWORK,
    "console.reminders": CASEWORK,
    "console.reminder_cancel": {"member"},                  # 赵网格员's own reminder to himself
    "console.announcement_create": CASEWORK,
    "console.announcement_cancel": {"member", "leader", "secretary"},   # the author, leaders over HY-01
    "console.export_tickets": CASEWORK,
    "console.export_households": CASEWORK,
    "console.roster_import": CONFIGURE,
    "console.outbox": CONFIGURE,
    "console.outbox_retry": CONFIGURE,
    "console.outbox_confirm": CONFIGURE,
    "console.accounts": CONFIGURE,
    "console.chats": CONFIGURE,
    "console.chat_kind": CONFIGURE,                        # chat-hy-01: the secretary's community; operators
    "console.kf_links_page": CONFIGURE,                    # 微信客服 links and QR codes of the person's grids
    "console.kf_link_sheet": CONFIGURE,                    # HY-01's printable sheet (404 until a link is made)
    "console.account_password": CONFIGURE,
    "console.tokens": EVERYONE,
    "console.token_revoke": {"member", "operator"},        # the owner (赵网格员) and operators
    # API (bearer tokens)
    "api.openapi": "public",
    "api.tickets_list": CASEWORK,
    "api.ticket_get": HY01,
    "api.ticket_transition": HY01,
    "api.grids": CASEWORK,
    "api.coverage": CASEWORK,
    "api.digests": CASEWORK,
}


@pytest.fixture(scope="module")
def world(db_templates, tmp_path_factory):
    world = module_world(db_templates, tmp_path_factory.mktemp("matrix"))
    world.ids["evidence"] = _picture_on(world, world.tickets["HY-01"])
    return world


def _picture_on(world, number: str) -> int:
    """A picture kept with a ticket, as the AI bot's pictures are (gridbot/pipeline/media.py)."""
    from sqlalchemy import select

    from gridbot.models import InboundMessage, Ticket, TicketEvidence

    app = world.app
    path = app.settings.instance_dir / "evidence" / "2026" / "11" / ("a" * 64 + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    with app.session() as s, s.begin():
        inbound = InboundMessage(platform="wecom_aibot", dedupe_key="wecom_aibot:msg:matrix-photo", sender_id="res_a",
                                 payload={}, status="done")
        s.add(inbound)
        s.flush()
        row = TicketEvidence(ticket_id=s.scalar(select(Ticket.id).where(Ticket.number == number)),
                             inbound_id=inbound.id, position=0, status="stored", path="evidence/2026/11/" + path.name,
                             sha256="a" * 64, mime="image/png", size=40, added_by="res_a")
        s.add(row)
        s.flush()
        return row.id


def _rules():
    # the URL map only (no database is touched)
    import tempfile
    from pathlib import Path

    from gridbot.bootstrap import build
    from gridbot.config import Settings
    from gridbot.web import create_app

    tmp = Path(tempfile.mkdtemp())
    app = build(Settings.from_env({"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp / 'x.db'}",
                                   "GRIDBOT_INSTANCE_DIR": str(tmp)}))
    flask_app = create_app({"TESTING": True}, gridbot=app)
    out = []
    for rule in flask_app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("auth", "console", "api"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, rule.rule, method))
    app.close()
    return out, flask_app


RULES, _FLASK = _rules()


def test_every_view_says_who_may_open_it():
    for endpoint, _, _ in RULES:
        assert endpoint in EXPECTED, f"{endpoint}: add it to the authorization matrix"
        if endpoint.startswith(("console.", "auth.")):
            view = _FLASK.view_functions[endpoint]
            assert getattr(view, "_access", None), f"{endpoint}: mark it with @requires(...)"


def _url(world, rule: str) -> str:
    values = {"<number>": world.tickets["HY-01"], "<fmt>": "xlsx", "<int:binding_id>": str(world.ids["binding"]),
              "<int:reminder_id>": str(world.ids["reminder"]), "<int:ann_id>": str(world.ids["announcement"]),
              "<int:account_id>": str(world.ids["account"]), "<int:token_id>": str(world.ids["token"]),
              "<int:outbox_id>": "999999", "<int:evidence_id>": str(world.ids["evidence"]),
              "<chat_id>": "chat-hy-01", "<code>": "HY-01"}
    for key, value in values.items():
        rule = rule.replace(key, value)
    assert "<" not in rule, f"no sample value for {rule}"
    return rule


def _refusals(world) -> int:
    from sqlalchemy import func, select

    from gridbot.models import AuditLog

    with world.app.session() as s:
        return s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action.in_(("console.forbidden", "api.forbidden")))) or 0


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("endpoint,rule,method", RULES, ids=[f"{m} {r}" for _, r, m in RULES])
def test_matrix(world, role, endpoint, rule, method):
    expected = EXPECTED[endpoint]
    url = _url(world, rule)
    refused_before = _refusals(world)
    if endpoint.startswith("api."):
        headers = world.api(role) if role else {}
        if method == "POST":
            resp = world.flask.test_client().post(url, json={"action": "close"}, headers=headers)
        else:
            resp = world.flask.test_client().get(url, headers=headers)
        assert resp.status_code < 500
        assert resp.is_json
        if expected == "public":
            assert resp.status_code == 200
        elif role is None:
            assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"
        elif role in expected:
            assert resp.status_code not in (401, 403), resp.json
        else:
            assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"
            assert _refusals(world) == refused_before + 1      # every refusal is audited
        return
    client = world.client(role)
    if method == "POST":
        page = client.get("/console/login" if role is None else "/console/tokens").get_data(as_text=True)
        resp = client.post(url, data={"csrf_token": csrf_of(page)})
    else:
        resp = client.get(url)
    assert resp.status_code < 500, resp.get_data(as_text=True)[-2000:]
    if expected == "public":
        assert resp.status_code != 403
    elif role is None:
        assert resp.status_code == 302 and "/console/login?next=" in resp.headers["Location"]
    elif role in expected:
        assert resp.status_code != 403
        assert "/console/login?next=" not in resp.headers.get("Location", "")   # not sent to sign in
    else:
        assert resp.status_code == 403
        assert _refusals(world) == refused_before + 1
