"""Functional tests of the serverless application: DynamoDB servers and the functions' env."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bannercheck import invoke

from tests.fixtures.dynamodb import DynamoServer, aws_env, dynamo, table  # noqa: F401
from tests.lab import Lab
from tests.lab.lab import LOOPBACK_NETWORKS
from tests.slack_mock.server import MockSlack


@pytest.fixture
def stack_env(
    monkeypatch: pytest.MonkeyPatch,
    aws_env: DynamoServer,  # noqa: F811
    lab: Lab,
) -> Iterator[DynamoServer]:
    """Every function's environment in the local stack: this table, the lab as the internet."""
    settings = {
        "BANNERCHECK_LOCAL": "1",
        "BANNERCHECK_RESOLVER": lab.resolver,
        "BANNERCHECK_ALLOW_PRIVATE": "1",
        "BANNERCHECK_PRIVATE_NETWORKS": ",".join(LOOPBACK_NETWORKS),  # the lab's loopback only
        "BANNERCHECK_EHLO_NAME": "probe.bannercheck.test",
        "BANNERCHECK_TIMEOUT": "10",
        "BANNERCHECK_DELIVERY_BACKOFF": "0.01",
        "POWERTOOLS_SERVICE_NAME": "bannercheck",
        "POWERTOOLS_METRICS_NAMESPACE": "bannercheck",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for name in ("BANNERCHECK_POLICY", "BANNERCHECK_ALLOWLIST", "AWS_LAMBDA_RUNTIME_API"):
        monkeypatch.delenv(name, raising=False)
    yield aws_env
    invoke.wait_local(60)


@pytest.fixture
def slack() -> Iterator[MockSlack]:
    with MockSlack() as server:
        yield server
