"""The Slack function wired to real local parts: moto, the mock Slack, the probe.

Shared by the functional tests (probe against a dead resolver) and the lab
tests (probe against the lab's DNS and SMTP servers).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bannercheck import invoke
from bannercheck.store import CheckStore

from tests.fixtures.dynamodb import CREDENTIALS, REGION, DynamoServer, create_table
from tests.lab.lab import LOOPBACK_NETWORKS
from tests.slack_mock.blocks import assert_valid_message
from tests.slack_mock.events import to_event
from tests.slack_mock.server import MockSlack, Received

ROOT = Path(__file__).resolve().parents[2]
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-0000-token"
CONTEXT = invoke.LocalContext.new("bannercheck-slack")


def new_store(dynamo: DynamoServer) -> CheckStore:
    """A fresh table with the template's keys and indexes."""
    name = create_table(dynamo.client(), f"bc-slack-{uuid.uuid4().hex[:10]}")
    return CheckStore(name, dynamo.client())


def stack_variables(
    dynamo_url: str, table_name: str, slack_api_url: str, *, resolver: str, timeout_s: float
) -> dict[str, str]:
    """The functions' environment: local probe, this table, this mock Slack."""
    return {
        "TABLE_NAME": table_name,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "POWERTOOLS_METRICS_NAMESPACE": "bannercheck",
        "POWERTOOLS_SERVICE_NAME": "bannercheck",
        "BANNERCHECK_LOCAL": "1",
        "BANNERCHECK_RESOLVER": resolver,
        "BANNERCHECK_TIMEOUT": str(timeout_s),
        "BANNERCHECK_ALLOW_PRIVATE": "1",
        "BANNERCHECK_PRIVATE_NETWORKS": ",".join(LOOPBACK_NETWORKS),  # the lab's loopback only
        "BANNERCHECK_EHLO_NAME": "probe.bannercheck.test",
        "BANNERCHECK_DELIVERY_BACKOFF": "0.01",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack_api_url,
    }


def set_stack_env(
    monkeypatch: pytest.MonkeyPatch,
    dynamo: DynamoServer,
    store: CheckStore,
    slack: MockSlack,
    *,
    resolver: str,
    timeout_s: float,
) -> None:
    """The functions' environment (``stack_variables``) set for one test."""
    variables = stack_variables(
        dynamo.url, store.table_name, slack.api_url, resolver=resolver, timeout_s=timeout_s
    )
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API"):
        monkeypatch.delenv(name, raising=False)


def load_slack_function() -> ModuleType:
    """functions/slack/app.py, loaded as Lambda loads it (a fresh app each time)."""
    path = ROOT / "functions" / "slack" / "app.py"
    spec = importlib.util.spec_from_file_location(f"slack_fn_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def post(fn: ModuleType, body: str, **event_args: Any) -> dict[str, Any]:
    response: dict[str, Any] = fn.handler(to_event(body, secret=SECRET, **event_args), CONTEXT)
    return response


def ack_json(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200, response
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    data: dict[str, Any] = json.loads(body)
    if "blocks" in data:
        assert_valid_message(data)  # an acknowledgement is a message Slack shows too
    return data


def check_id_of(message: dict[str, Any]) -> str:
    text = json.dumps(message["blocks"])
    start = text.index("Check `") + len("Check `")
    return text[start : text.index("`", start)]


def delivered(slack: MockSlack, name: str, count: int = 1) -> list[Received]:
    """The posts to one response_url, once the background probe runs are done."""
    invoke.wait_local(60)
    return slack.wait_for(count, path=slack.response_path(name), timeout_s=10)
