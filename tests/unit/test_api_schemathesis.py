"""API tests generated from /api/v1/openapi.json by schemathesis, run in-process against the Flask app (WSGI):
no request it makes — valid or not, with the secretary's token and with a member's — gets a 5xx, and every answer
conforms to the document (status codes, content type, response schemas).

(schemathesis.pytest.from_fixture does not work with this pytest, so each operation's strategy is driven by
hypothesis directly: the same generation, one test per operation.)"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.console_helpers import module_world


@pytest.fixture(scope="module")
def world(db_templates, tmp_path_factory):
    return module_world(db_templates, tmp_path_factory.mktemp("schemathesis"))


@pytest.fixture(scope="module")
def operations(world):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", world.flask)
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


LABELS = ["GET /tickets", "GET /tickets/{number}", "POST /tickets/{number}/transition", "GET /grids",
          "GET /coverage", "GET /digests"]   # (schemathesis leaves out the document itself)


def test_the_document_has_these_operations(operations):
    assert sorted(operations) == sorted(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_operation_conforms_and_never_fails(operations, world, label):
    operation = operations[label]

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        for role in ("secretary", "member"):
            case.call_and_validate(headers=world.api(role))

    run()
