"""schemathesis against openapi.yaml on the local stack: no 5xx, every response as documented.

The stack is the real one (LocalGateway -> the API function -> the probe against the
lab's DNS and SMTP servers -> moto or dynalite). Examples are few per operation so the
run stays well under a minute in CI; ``SCHEMATHESIS_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from bannercheck import invoke
from bannercheck.local.server import LocalGateway
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.dynamodb import DynamoServer

# Saturates both cores for a while: runs alone, after the parallel suite (see Makefile).
pytestmark = [pytest.mark.integration, pytest.mark.heavy]

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES") or 8)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Methods a path does not have (TRACE, PATCH, ...) are answered by API Gateway itself in
# AWS, never by the function; the local stand-in's own answer to them is not under test.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"unexpected-methods": []}}})
schema = schemathesis.openapi.from_path(str(OPENAPI), config=CONFIG)


class Stack:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key


@pytest.fixture
def stack(stack_env: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # Generated domains are nonsense names: the lab's DNS answers NXDOMAIN at once.
    monkeypatch.setenv("BANNERCHECK_RATE_API_KEY", "100000")
    monkeypatch.setenv("BANNERCHECK_TIMEOUT", "3")
    # The admin and verification routes answer for real, not just with 403/404.
    monkeypatch.setenv("BANNERCHECK_ADMIN_KEY_IDS", "local-key")
    monkeypatch.setenv("BANNERCHECK_VERIFY_SECRET", "schemathesis-verify-secret")
    invoke.load_function_handler.cache_clear()
    gateway = LocalGateway(("127.0.0.1", 0), api_key=secrets.token_urlsafe(16))
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stack(gateway.url, gateway.api_key)
    finally:
        gateway.shutdown()
        gateway.server_close()
        invoke.wait_local(60)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, stack: Stack) -> None:
    case.call_and_validate(
        base_url=stack.url, headers={"x-api-key": stack.key}, checks=CHECKS, timeout=30
    )
