"""A function run with exactly the environment template.yaml gives it.

The variables are read from the template, not written out here: parameters take
their defaults (or the values a test deploys with), resources become the physical
ids of their stand-ins — the table on a DynamoDB server on loopback, the probe
queue and the verification secret on moto's server. Added are only what the Lambda
runtime provides (region, credentials), the endpoints standing in for AWS, and the
lab's resolver standing in for the internet's DNS.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from bannercheck import invoke
from bannercheck.audit import AuditTrail
from bannercheck.cfn import load_template
from bannercheck.store import CheckStore, Requester, Source, Watch, cached_store_from_env

from tests.fixtures.dynamodb import CREDENTIALS, REGION, DynamoServer, moto_server
from tests.lab import Lab
from tests.lab.spec import LAB_VERIFY_SECRET

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# The project's own variables: all cleared first, so only the template's are set.
PROJECT_VARIABLE = re.compile(
    r"^(BANNERCHECK|SLACK|PROBE|POWERTOOLS)_|^(TABLE_NAME|RETENTION_DAYS)$"
)


def template_environment(
    function: str, resources: Mapping[str, str], parameters: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``function``'s variables (Globals and its own) with every value resolved.

    ``resources`` maps logical ids to what ``Ref`` returns for them; an intrinsic
    this cannot evaluate fails the test, so a changed template is never half-read.
    """
    t = load_template(TEMPLATE)
    chosen = dict(parameters or {})
    variables = {
        **t["Globals"]["Function"]["Environment"]["Variables"],
        **t["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}),
    }

    def ref(name: str) -> str:
        if name in resources:
            return resources[name]
        if name in t["Parameters"]:
            return str(chosen.get(name, t["Parameters"][name].get("Default", "")))
        raise AssertionError(f"{function}: no stand-in for !Ref {name}")

    def condition(node: Any) -> bool:
        if set(node) == {"Condition"}:
            return condition(t["Conditions"][node["Condition"]])
        if set(node) == {"Not"}:
            return not condition(node["Not"][0])
        if set(node) == {"Equals"}:
            left, right = node["Equals"]
            return value(left) == value(right)
        raise AssertionError(f"{function}: cannot evaluate {node!r}")

    def value(node: Any) -> str | None:
        if isinstance(node, str | int | float) and not isinstance(node, bool):
            return str(node)
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return None if node["Ref"] == "AWS::NoValue" else ref(node["Ref"])
        if isinstance(node, dict) and set(node) == {"If"}:
            name, then, otherwise = node["If"]
            return value(then if condition(t["Conditions"][name]) else otherwise)
        raise AssertionError(f"{function}: cannot evaluate {node!r}")

    unknown = set(chosen) - set(t["Parameters"])
    assert not unknown, f"not parameters of the template: {unknown}"
    resolved = {name: value(node) for name, node in variables.items()}
    return {name: v for name, v in resolved.items() if v is not None}


def granted_dynamodb(function: str) -> set[tuple[str, bool]]:
    """(action, on an index) pairs the template grants ``function`` on the table."""
    t = load_template(TEMPLATE)
    out = set()
    for policy in t["Resources"][function]["Properties"]["Policies"]:
        for stmt in policy.get("Statement", []):
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            on_index = "/index/" in json.dumps(stmt["Resource"])
            out |= {(a.removeprefix("dynamodb:"), on_index) for a in actions}
    return out


class DynamoCalls:
    """The DynamoDB operations a boto3 client makes, as IAM would authorise them."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.deleted_keys: list[str] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, bool(params.get("IndexName"))))
        if model.name == "DeleteItem":
            self.deleted_keys.append(params["Key"]["pk"]["S"])


@pytest.fixture(scope="module")
def moto() -> Iterator[DynamoServer]:
    with moto_server() as server:  # moto's server answers SQS and Secrets Manager too
        yield server


def _client(service: str, server: DynamoServer) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, **CREDENTIALS)


def _deploy(
    monkeypatch: pytest.MonkeyPatch,
    env: Mapping[str, str],
    *,
    dynamo: DynamoServer,
    moto: DynamoServer,
    lab: Lab,
) -> None:
    """Replace the process's environment by a deployed function's."""
    for name in list(os.environ):
        if PROJECT_VARIABLE.match(name) or name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, val in env.items():
        monkeypatch.setenv(name, val)
    runtime = {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_ENDPOINT_URL_DYNAMODB": dynamo.url,
        "AWS_ENDPOINT_URL_SQS": moto.url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.url,
        "BANNERCHECK_RESOLVER": lab.resolver,
    }
    assert not set(runtime) & set(env), "the template sets what the test stands in for"
    for name, val in runtime.items():
        monkeypatch.setenv(name, val)


def test_dispatch_under_the_verified_policy_with_the_templates_environment(
    monkeypatch: pytest.MonkeyPatch, dynamo: DynamoServer, table: str, moto: DynamoServer, lab: Lab
) -> None:
    # The stack's generated key, here given the value the lab's TXT tokens were made with.
    secret_arn = _client("secretsmanager", moto).create_secret(
        Name=f"bannercheck-verification-{uuid.uuid4().hex[:8]}", SecretString=LAB_VERIFY_SECRET
    )["ARN"]
    sqs = _client("sqs", moto)
    queue_url = sqs.create_queue(QueueName=f"probe-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    env = template_environment(
        "DispatchFunction",
        {"Table": table, "ProbeQueue": queue_url, "VerificationSecret": secret_arn},
        {"Policy": "verified"},
    )
    assert env["BANNERCHECK_POLICY"] == "verified"
    assert "BANNERCHECK_VERIFY_SECRET" not in env  # only the secret's name
    _deploy(monkeypatch, env, dynamo=dynamo, moto=moto, lab=lab)

    store = CheckStore(table, client=dynamo.client())
    # Both watches were created by the API key the lab's TXT records verify
    # single.test for; good.test publishes no token.
    owner = Requester(source=Source.API, api_key_id="local-key")
    for domain in ("single.test", "good.test"):
        store.put_watch(Watch(domain=domain, created_by=owner))

    # The handler's own client (cached for the table), observed, not replaced.
    dynamodb = DynamoCalls(cached_store_from_env().client)
    dispatch = invoke.load_function_handler("dispatch")
    event = json.loads((ROOT / "events" / "scheduler-dispatch.json").read_text())
    result = dispatch(event, invoke.LocalContext.new("dispatch"))

    assert result == {"due": 2, "queued": 1, "skipped": 0}
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["domain"] for m in messages] == ["single.test"]
    now = datetime.now(UTC)
    trail = AuditTrail(store).records(now - timedelta(hours=1), now + timedelta(hours=1))
    decisions = {(r.domain, r.allowed, r.decision) for r in trail}
    assert decisions == {("single.test", True, "scheduled"), ("good.test", False, "not_verified")}
    # Every grant is used, nothing else is needed (moto and dynalite enforce no IAM).
    assert set(dynamodb.calls) == granted_dynamodb("DispatchFunction")

    # The probe consumes the message with its own template environment.
    _deploy(
        monkeypatch,
        template_environment(
            "ProbeFunction",
            {"Table": table, "SlackBotToken": f"{secret_arn}-bot-token-unused"},
            {"Policy": "verified", "EhloName": "probe.bannercheck.test"},
        ),
        dynamo=dynamo,
        moto=moto,
        lab=lab,
    )
    dynamodb.calls.clear()
    probe = invoke.load_function_handler("probe")
    event = invoke.to_sqs_event([json.loads(m["Body"]) for m in messages])
    assert probe(event, invoke.LocalContext.new("probe")) == {"batchItemFailures": []}
    [stored] = store.history("single.test").items
    assert stored.requester.source is Source.SCHEDULE
    assert set(dynamodb.calls) <= granted_dynamodb("ProbeFunction")
    assert all(key.startswith("CLAIM#") for key in dynamodb.deleted_keys)
