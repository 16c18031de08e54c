"""Property-based tests of the HTTP API against its own OpenAPI document (schemathesis).

Every operation is called with generated valid and invalid input, authenticated as an admin (so
routes are reached, not stopped at 401/403); the checks require no 5xx, documented status codes,
content types and response bodies that match the schema.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    response_schema_conformance,
    status_code_conformance,
)

from web_helpers import finding, make_env  # noqa: E402

_TMP = Path(tempfile.mkdtemp(prefix="minewatch-schemathesis-"))
ENV = make_env(_TMP, [finding(i, src=f"10.1.2.{i}") for i in range(10)])
TOKEN = ENV.tokens["admin"]

# The document itself needs a log-in or a token, like every route but the log-in page.
schema = schemathesis.openapi.from_asgi("/api/openapi.json", ENV.app, headers={"Authorization": f"Bearer {TOKEN}"}).exclude(
    path_regex=r".*/(uploads|attachments)$"
)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
