"""The JSON API: bearer tokens (hashed, revocable, scoped), pagination and filters, transitions through the ticket
services, stable JSON errors, the OpenAPI document agreeing with the routes, and /metrics."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gridbot.models import AuditLog, Ticket
from gridbot.models.console import ApiToken
from tests.console_helpers import build_world, csrf_of, report_ticket


@pytest.fixture(params=["sqlite", "postgres"])
def world(request):
    """The console world on both supported databases (PostgreSQL is stricter: JSON columns, DISTINCT, LIKE)."""
    return build_world(request.getfixturevalue("bot" if request.param == "sqlite" else "pg_bot"))


def test_openapi_document_lists_exactly_the_api_routes(world):
    doc = world.flask.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in world.flask.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
            routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    assert doc["servers"][0]["url"].endswith("/api/v1")


def test_no_token_bad_token_and_revoked_token_get_401_json(world):
    client = world.flask.test_client()
    for headers in ({}, {"Authorization": "Bearer gbt_nope"}, {"Authorization": "Basic eDp5"}):
        resp = client.get("/api/v1/tickets", headers=headers)
        assert resp.status_code == 401
        assert resp.json["error"]["code"] == "unauthorized" and resp.json["error"]["message"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    with world.app.session() as s:
        assert world.tokens["member"] not in {t.token_hash for t in s.scalars(select(ApiToken))}  # stored hashed
    # revoked in the console: the next call is refused
    console = world.client("member")
    page = console.get("/console/tokens").get_data(as_text=True)
    with world.app.session() as s:
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.name == "member token"))
    assert console.post(f"/console/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert client.get("/api/v1/tickets", headers=world.api("member")).status_code == 401


def test_token_made_in_the_console_is_shown_once_and_works(world):
    console = world.client("leader")
    page = console.get("/console/tokens").get_data(as_text=True)
    resp = console.post("/console/tokens", data={"name": "区平台", "csrf_token": csrf_of(page)},
                        follow_redirects=True)
    secret = re.search(r"gbt_[\w-]+", resp.get_data(as_text=True)).group(0)
    again = console.get("/console/tokens").get_data(as_text=True)
    assert secret not in again and "区平台" in again
    data = world.flask.test_client().get("/api/v1/grids", headers={"Authorization": f"Bearer {secret}"}).json
    assert [g["code"] for g in data["items"]] == ["HY-01", "HY-02"]   # the leader's scope, no more


def test_ticket_list_is_scoped_paginated_and_filtered(world):
    for i in range(3):
        report_ticket(world.bot, "HY-01", f"2栋1单元20{i} 家门口水管漏水了，麻烦来看看", f"res_x{i}")
    client = world.flask.test_client()
    page1 = client.get("/api/v1/tickets?per_page=2", headers=world.api("member")).json
    assert page1["total"] == 4 and len(page1["items"]) == 2 and page1["page"] == 1
    page2 = client.get("/api/v1/tickets?per_page=2&page=2", headers=world.api("member")).json
    numbers = [t["number"] for t in page1["items"] + page2["items"]]
    assert len(set(numbers)) == 4 and world.tickets["HY-03"] not in numbers
    assert {t["grid"] for t in page1["items"]} == {"HY-01"}
    sec = client.get("/api/v1/tickets?grid=HY-03", headers=world.api("secretary")).json
    assert [t["number"] for t in sec["items"]] == [world.tickets["HY-03"]]
    lit = client.get("/api/v1/tickets?category=repair", headers=world.api("secretary")).json
    assert {t["category"] for t in lit["items"]} == {"repair"} and lit["total"] == 4
    # a grid outside the token's scope is refused and audited, not silently emptied
    resp = client.get("/api/v1/tickets?grid=HY-03", headers=world.api("member"))
    assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"
    bad = client.get("/api/v1/tickets?per_page=9999", headers=world.api("member"))
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_request"
    bad = client.get("/api/v1/tickets?status=nonsense", headers=world.api("member"))
    assert bad.status_code == 400


def test_phone_is_shown_to_entitled_roles_only(world):
    client = world.flask.test_client()
    number = world.tickets["HY-01"]
    assert client.get(f"/api/v1/tickets/{number}", headers=world.api("member")).json["contact_phone"] == "13812345678"
    secretary_view = client.get(f"/api/v1/tickets/{number}", headers=world.api("secretary")).json
    assert secretary_view["contact_phone"] == "13812345678"


def test_transition_walks_the_life_cycle_through_the_services(world):
    client = world.flask.test_client()
    number = world.tickets["HY-01"]
    h = world.api("member")

    def step(action, **kw):
        return client.post(f"/api/v1/tickets/{number}/transition", json={"action": action, **kw}, headers=h)

    assert step("accept").json["status"] == "accepted"
    assert step("start").json["status"] == "in_progress"
    resp = step("resolve")                                           # 办结 needs a note
    assert resp.status_code == 409 and resp.json["error"]["code"] == "invalid_transition"
    assert "办结" in resp.json["error"]["message"]
    assert step("resolve", note="已更换灯泡").json["status"] == "resolved"
    assert step("verify", note="现场已亮").json["status"] == "verified"
    done = step("close").json
    assert done["status"] == "closed"
    assert [e["action"] for e in done["events"]][:1] == ["report"]
    assert "reopen" in done["actions"]
    assert step("close").status_code == 409
    with world.app.session() as s:
        actors = set(s.scalars(select(AuditLog.actor).where(AuditLog.entity_id == number,
                                                             AuditLog.action.like("ticket.%"))))
    assert "member:mem_zhao" in actors


def test_transition_refuses_bad_bodies_with_json_errors(world):
    client = world.flask.test_client()
    url = f"/api/v1/tickets/{world.tickets['HY-01']}/transition"
    for body in (None, [], {"action": "fly"}, {"action": "accept", "note": 5}):
        resp = client.post(url, json=body, headers=world.api("member")) if body is not None else \
            client.post(url, data="x", headers=world.api("member"))
        assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_request"
    resp = client.get("/api/v1/tickets/NOPE-1", headers=world.api("member"))
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    resp = client.delete("/api/v1/tickets", headers=world.api("member"))
    assert resp.status_code == 405 and resp.json["error"]["code"] == "method_not_allowed"
    resp = client.get("/api/v1/nothing-here", headers=world.api("member"))
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"


def test_out_of_scope_ticket_is_refused_and_audited(world):
    client = world.flask.test_client()
    number = world.tickets["HY-01"]
    resp = client.post(f"/api/v1/tickets/{number}/transition", json={"action": "accept"},
                       headers=world.api("other_member"))
    assert resp.status_code == 403
    with world.app.session() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.number == number)) == "reported"
        row = s.scalar(select(AuditLog).where(AuditLog.action == "api.forbidden"))
    assert (row.actor, row.entity_id) == ("member:mem_zhou", number)


def test_coverage_and_digest(world):
    client = world.flask.test_client()
    cov = client.get("/api/v1/coverage?grid=HY-01", headers=world.api("leader")).json
    assert cov["total"]["households"] == 12 and len(cov["grids"][0]["uncovered"]) == 12
    assert client.get("/api/v1/coverage?grid=HY-03", headers=world.api("leader")).status_code == 403
    digest = client.get("/api/v1/digests", headers=world.api("secretary")).json
    assert "和园社区" in digest["markdown"]


def test_metrics_in_prometheus_text_format(world):
    client = world.flask.test_client()
    client.get("/api/v1/tickets", headers=world.api("member"))
    client.get(f"/api/v1/tickets/{world.tickets['HY-01']}", headers=world.api("member"))
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert re.search(r'gridbot_http_requests_total\{endpoint="/api/v1/tickets/<number>",method="GET",'
                     r'status="200"\} [1-9]', text)
    assert "gridbot_http_request_duration_seconds_bucket{" in text
    assert re.search(r'gridbot_tickets\{status="reported"\} 2\.0', text)
    assert 'gridbot_outbox_backlog{status="dead"} 0.0' in text
    assert re.search(r'gridbot_queue_depth\{queue="\w+"\}', text)
    assert "HY-20" not in text          # ticket numbers never become label values


def test_dates_at_the_edges_of_the_calendar_are_accepted_not_a_500(world):
    # Found by schemathesis: 0001-01-01 at 00:00 UTC+8 is before year 1 in UTC, and 9999-12-31 + 1 day overflows.
    client = world.flask.test_client()
    everything = client.get("/api/v1/tickets", headers=world.api("secretary")).json["total"]
    for query in ("from=0001-01-01", "to=9999-12-31", "from=0001-01-01&to=9999-12-31"):
        resp = client.get(f"/api/v1/tickets?{query}", headers=world.api("secretary"))
        assert resp.status_code == 200 and resp.json["total"] == everything, query
    bad = client.get("/api/v1/tickets?from=2026-13-01", headers=world.api("secretary"))
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_request"
