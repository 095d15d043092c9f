"""No secret ever reaches a log line or a stored item; no Slack name is stored.

Full flows run through the local stack (API and Slack endpoint over real HTTP, the
probe against the lab, moto or dynalite) with known test secrets and every logger
at DEBUG: the API key, the Slack signing secret, the bot token and the
verification secret. Every captured log record, everything written to stdout and
stderr (Powertools writes its JSON logs there) and every stored item is searched.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from bannercheck import invoke, notify
from bannercheck.local.server import LocalGateway
from bannercheck.store import CheckStore, Requester, Source

from tests.fixtures.dynamodb import DynamoServer
from tests.fixtures.reports import sample_report
from tests.slack_mock.events import command_body, sign
from tests.slack_mock.server import MockSlack

pytestmark = pytest.mark.integration

API_KEY = "apikey-Zq8vN3xTt5LwPp0R7yBc2Hd9"
SIGNING_SECRET = "signing-6f1e0c8d2b7a4e95a3c1d7f0e2b4a6c8"
BOT_TOKEN = "xoxb-1111-2222-SecretBotTokenW4x9Kq"
VERIFY_SECRET = "verify-secret-Mh2Jv7Rt4Np8Lk3Q"
SECRETS = (API_KEY, SIGNING_SECRET, BOT_TOKEN, VERIFY_SECRET)


def _call(base: str, method: str, path: str, body: Any = None, key: str = API_KEY) -> int:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "x-api-key": key}
    request = urllib.request.Request(base + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def _slack_command(base: str, text: str, response_url: str) -> int:
    body = command_body(text, response_url=response_url)
    ts = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
    }
    request = urllib.request.Request(base + "/slack/events", body.encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return int(response.status)


@pytest.fixture
def gateway(
    stack_env: DynamoServer, monkeypatch: pytest.MonkeyPatch, slack: MockSlack
) -> Iterator[str]:
    for name, value in {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "BANNERCHECK_VERIFY_SECRET": VERIFY_SECRET,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "BANNERCHECK_REPEAT_INTERVAL": "60",
    }.items():
        monkeypatch.setenv(name, value)
    # Function modules are cached per process (warm containers); this test's table and
    # secrets are new, so start cold.
    invoke.load_function_handler.cache_clear()
    server = LocalGateway(("127.0.0.1", 0), api_key=API_KEY)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        invoke.wait_local(60)


def test_full_flows_log_no_secret(
    gateway: str,
    slack: MockSlack,
    stack_env: DynamoServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    # API: a check, its cached repeat, reads, a watch, a wrong key, a bad body.
    assert _call(gateway, "POST", "/checks", {"domain": "single.test"}) == 201
    assert _call(gateway, "POST", "/checks", {"domain": "single.test"}) == 200
    assert _call(gateway, "GET", "/checks/single.test") == 200
    assert _call(gateway, "PUT", "/watches/single.test", {"slack_channel": "C0123ABCD"}) == 201
    assert _call(gateway, "POST", "/checks", {"domain": "good.test"}, key=API_KEY[:-1]) == 403
    assert _call(gateway, "POST", "/checks", {"domain": 7}) == 400
    # Verified mode: the refusal names the TXT record to publish (derived from the secret).
    monkeypatch.setenv("BANNERCHECK_POLICY", "verified")
    assert _call(gateway, "POST", "/checks", {"domain": "good.test"}) == 403
    monkeypatch.setenv("BANNERCHECK_POLICY", "open")
    # Slack: a signed command whose report is delivered to the response_url.
    assert _slack_command(gateway, "good.test", slack.response_url("flow")) == 200
    invoke.wait_local(60)
    slack.wait_for(1, path=slack.response_path("flow"), timeout_s=20)
    # Slack: a channel post with the bot token, refused once (the failure is logged).
    store = CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())
    report = sample_report("secrets.example")
    store.put_check(report, Requester(source=Source.SLACK, slack_team_id="T1"))
    slack.fail_next("/api/chat.postMessage", 1, status=500)
    outcome = notify.deliver(
        report,
        {"kind": "slack_channel", "channel": "C0123ABCD", "team_id": "T1"},
        store=store,
        policy=notify.DeliveryPolicy(attempts=2, backoff_s=0.01),
    )
    assert outcome is not None and outcome.ok
    posts = slack.requests("/api/chat.postMessage")
    assert posts and posts[-1].headers["authorization"] == f"Bearer {BOT_TOKEN}"
    invoke.wait_local(60)

    out, err = capfd.readouterr()
    texts = [out, err]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(json.dumps(record.__dict__, default=str))
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    assert len(caplog.records) > 10, "nothing was logged: the test would prove nothing"
    leaks = [(s[:12] + "…", t[:200]) for s in SECRETS for t in texts if s in t]
    assert leaks == []

    # Nor in anything stored: checks, audit records, deliveries, claims.
    items = stack_env.client().scan(TableName=os.environ["TABLE_NAME"])["Items"]
    dumped = json.dumps(items, default=str)
    assert "single.test" in dumped
    assert [s[:12] for s in SECRETS if s in dumped] == []
    # Slack sends names with every command (user_name "ada", team "example-team",
    # channel "mail-ops"); only the ids are kept.
    assert "U0001" in dumped and "T0001" in dumped
    for name in ("example-team", "mail-ops", '"ada"', "user_name", "team_domain"):
        assert name not in dumped, name
