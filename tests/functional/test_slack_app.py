"""``/bannercheck`` end to end: signed API Gateway events through the real
``functions/slack/app.py`` handler (Bolt's ``SlackRequestHandler``), the store on
a moto server, the probe function run in-process by ``invoke_probe`` (local
mode), and Slack itself replaced by a recording HTTP server on loopback.

The probe really runs: its resolver is a loopback address where nothing
answers, so checks end quickly as inconclusive DNS failures, which is still a
full report to store and deliver.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from bannercheck import invoke, notify
from bannercheck.audit import Action as AuditAction
from bannercheck.audit import AuditTrail
from bannercheck.render.slack import to_message
from bannercheck.store import CheckStore, Interval, Requester, Source, Watch
from botocore.config import Config

from tests.fixtures.dynamodb import (
    DynamoServer,
    free_port,
    moto_server,
)
from tests.functional.test_faults import ThrottlingProxy
from tests.slack_mock import reports
from tests.slack_mock.blocks import assert_valid_message
from tests.slack_mock.events import action_body, command_body, to_event
from tests.slack_mock.server import MockSlack, Received
from tests.slack_mock.stack import (
    BOT_TOKEN,
    CONTEXT,
    ROOT,
    SECRET,
    ack_json,
    check_id_of,
    delivered,
    load_slack_function,
    new_store,
    post,
    set_stack_env,
)


@pytest.fixture(scope="module")
def dynamo() -> Iterator[DynamoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def slack() -> Iterator[MockSlack]:
    with MockSlack() as server:
        yield server


@pytest.fixture
def store(dynamo: DynamoServer) -> CheckStore:
    return new_store(dynamo)


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, dynamo: DynamoServer, store: CheckStore, slack: MockSlack
) -> None:
    # A resolver address in a /24 of our own where nothing listens: DNS fails fast.
    dead_resolver = f"127.{random.randint(16, 250)}.{random.randint(0, 255)}.53:{free_port()}"
    set_stack_env(monkeypatch, dynamo, store, slack, resolver=dead_resolver, timeout_s=1.5)


@pytest.fixture
def slack_fn(env: None) -> Iterator[ModuleType]:
    yield load_slack_function()
    invoke.wait_local(30)


# --- the check: acknowledgement, then the asynchronous findings message ------
def test_check_is_acknowledged_then_findings_arrive_at_response_url(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    url = slack.response_url("cmd1")
    ack = ack_json(post(slack_fn, command_body("Bücher.example", response_url=url)))

    assert ack["response_type"] == "ephemeral"
    assert "Checking *bücher.example*…" in ack["text"]
    check_id = check_id_of(ack)

    [result] = delivered(slack, "cmd1")
    message = result.json
    assert message["response_type"] == "ephemeral"
    assert message["replace_original"] is False
    assert_valid_message(message)
    assert check_id_of({"blocks": message["blocks"][-2:]}) == check_id
    assert "xn--bcher-kva.example" in message["blocks"][0]["text"]["text"]
    assert message["blocks"][-1]["elements"][-1]["action_id"] == "bannercheck_share"

    stored = store.get_check("xn--bcher-kva.example", check_id)
    assert stored is not None and stored.requester.slack_user_id == "U0001"
    assert stored.requester.source is Source.SLACK
    [record] = store.deliveries("xn--bcher-kva.example", check_id)
    assert record["ok"] is True and record["kind"] == "slack_response_url"
    # Nothing else went to Slack: no auth.test or other Web API call delays the ack.
    assert [r.path for r in slack.requests()] == [slack.response_path("cmd1")]


def test_result_is_stored_before_it_is_sent(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    stored_on_arrival: list[bool] = []

    def look_in_the_store(record: Received) -> None:
        blocks = record.body.get("blocks") if isinstance(record.body, dict) else None
        if record.path == slack.response_path("order") and blocks and blocks[0]["type"] == "header":
            check_id = check_id_of({"blocks": blocks[-2:]})
            stored_on_arrival.append(store.get_check("example.com", check_id) is not None)

    slack.on_receive = look_in_the_store
    post(slack_fn, command_body("example.com", response_url=slack.response_url("order")))

    delivered(slack, "order")
    assert stored_on_arrival == [True]


def test_forged_or_stale_requests_get_401_and_start_nothing(
    slack_fn: ModuleType, slack: MockSlack
) -> None:
    body = command_body("example.com", response_url=slack.response_url("forged"))
    forged = post(slack_fn, body, signature="v0=" + "0" * 64)
    stale = post(slack_fn, body, timestamp=int(time.time()) - 6 * 60)
    other_secret = slack_fn.handler(to_event(body, secret="not-the-secret"), CONTEXT)

    assert [r["statusCode"] for r in (forged, stale, other_secret)] == [401, 401, 401]
    invoke.wait_local(30)
    assert slack.requests() == []


def test_signing_secret_replaced_after_the_container_started_is_used(
    slack_fn: ModuleType, slack: MockSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The container's first request is served while the template's placeholder is set.
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "replace-me")
    help_body = command_body("help", response_url=slack.response_url("rot"))
    before = post(slack_fn, help_body)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)  # the admin sets the real one
    after = post(slack_fn, help_body)
    rotated = "rotated-" + SECRET[8:]
    monkeypatch.setenv("SLACK_SIGNING_SECRET", rotated)  # and later rotates it
    old = post(slack_fn, help_body)
    new = slack_fn.handler(to_event(help_body, secret=rotated), CONTEXT)

    assert before["statusCode"] == 401
    assert "How to use" in ack_json(after)["text"]
    assert old["statusCode"] == 401  # the replaced secret no longer verifies
    assert "How to use" in ack_json(new)["text"]


# --- the signing secret in Secrets Manager ------------------------------------
@pytest.fixture
def secrets_manager(
    dynamo: DynamoServer, monkeypatch: pytest.MonkeyPatch, env: None
) -> Iterator[ThrottlingProxy]:
    """Secrets Manager (moto) behind a proxy that counts its calls; the signing secret
    is read from it by name, as in AWS (a new endpoint: an empty five-minute cache)."""
    proxy = ThrottlingProxy(dynamo.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", proxy.url)
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def _signing_secret_in_secrets_manager(
    dynamo: DynamoServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> Any:
    client = boto3.client(
        "secretsmanager", endpoint_url=dynamo.url, region_name=os.environ["AWS_REGION"]
    )
    name = f"bannercheck-slack-signing-{random.randrange(10**9)}"
    client.create_secret(Name=name, SecretString=value)
    monkeypatch.setenv("SLACK_SIGNING_SECRET_NAME", name)
    return lambda new: client.put_secret_value(SecretId=name, SecretString=new)


def _secret_reads(proxy: ThrottlingProxy) -> int:
    return proxy.forwarded.count("GetSecretValue")


def test_secret_set_after_the_placeholder_was_cached_is_used_at_once(
    dynamo: DynamoServer,
    secrets_manager: ThrottlingProxy,
    slack: MockSlack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_secret = _signing_secret_in_secrets_manager(dynamo, monkeypatch, "replace-me")
    slack_fn = load_slack_function()
    help_body = command_body("help", response_url=slack.response_url("sm"))
    placeholder = slack_fn.handler(to_event(help_body, secret="replace-me"), CONTEXT)
    assert placeholder["statusCode"] == 200  # the placeholder is what the container cached
    reads = _secret_reads(secrets_manager)

    set_secret(SECRET)  # the admin sets the real one; the cache has 5 minutes to go
    first = post(slack_fn, help_body)
    second = post(slack_fn, help_body)

    assert "How to use" in ack_json(first)["text"]  # the very first request, not 5 min later
    assert "How to use" in ack_json(second)["text"]
    assert _secret_reads(secrets_manager) == reads + 1  # one read past the cache, then cached


def test_a_burst_of_forged_requests_reads_the_secret_at_most_once(
    dynamo: DynamoServer,
    secrets_manager: ThrottlingProxy,
    slack: MockSlack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _signing_secret_in_secrets_manager(dynamo, monkeypatch, SECRET)
    slack_fn = load_slack_function()
    body = command_body("example.com", response_url=slack.response_url("burst"))
    help_body = command_body("help", response_url=slack.response_url("burst"))
    assert ack_json(post(slack_fn, help_body))  # the container is warm
    reads = _secret_reads(secrets_manager)

    def forge(i: int) -> int:
        forged = to_event(body, secret=f"forged-{i}-" + SECRET[12:])
        return int(slack_fn.handler(forged, CONTEXT)["statusCode"])

    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(forge(-1))) for _ in range(8)]
    for t in threads:
        t.start()
    statuses += [forge(i) for i in range(40)]
    for t in threads:
        t.join()

    assert statuses == [401] * 48
    # The first refusal looked past the cache (the secret was unchanged); the 47
    # others, within 30 s of it, did not.
    assert _secret_reads(secrets_manager) - reads == 1
    invoke.wait_local(30)
    assert slack.requests() == []


def test_the_secret_is_looked_at_again_once_the_interval_has_passed(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    from bannercheck.slack.app import make_app
    from bannercheck.slack.handler import SecretRefreshingHandler
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler

    # Secrets Manager's value and the cached one; the cache never lapses here.
    secret = {"stored": "replace-me", "cached": "replace-me"}
    forced: list[float] = []
    now = [1000.0]

    def read_secret(*, force: bool = False) -> str:
        if force:
            forced.append(now[0])
            secret["cached"] = secret["stored"]
        return secret["cached"]

    def build(signing_secret: str) -> SlackRequestHandler:
        app = make_app(signing_secret=signing_secret, store=store, invoke=invoke.invoke_probe)
        return SlackRequestHandler(app)

    handler = SecretRefreshingHandler(
        build, read_secret, recheck_interval_s=30, clock=lambda: now[0]
    )
    help_body = command_body("help", response_url=slack.response_url("later"))

    forged = handler.handle(to_event(help_body, secret="forged"), CONTEXT)
    secret["stored"] = SECRET  # the admin sets the real one
    now[0] += 29
    refused = handler.handle(to_event(help_body, secret=SECRET), CONTEXT)
    now[0] += 1
    accepted = handler.handle(to_event(help_body, secret=SECRET), CONTEXT)

    assert forged["statusCode"] == 401  # looked again: still the placeholder
    assert refused["statusCode"] == 401  # within 30 s of the last look: not read again
    assert "How to use" in ack_json(accepted)["text"]
    assert forced == [1000.0, 1030.0]


def test_logs_are_json_with_the_http_api_request_id(slack_fn: ModuleType, slack: MockSlack) -> None:
    body = command_body("example.com", response_url=slack.response_url("log"))
    ack_json(post(slack_fn, body))
    delivered(slack, "log")  # the probe (in this process here) has finished logging
    # Powertools writes JSON to the stream it was given first; read this request's lines.
    [powertools] = logging.getLogger("bannercheck").handlers
    assert isinstance(powertools, logging.StreamHandler)
    out = io.StringIO()
    previous, powertools.stream = powertools.stream, out  # the old one may be closed
    try:
        retry = to_event(body, secret=SECRET, headers={"x-slack-retry-num": "1"})
        slack_fn.handler(retry, CONTEXT)
    finally:
        powertools.stream = previous

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    [ignored] = [line for line in lines if line["message"] == "duplicate slack request ignored"]
    assert ignored["correlation_id"] == retry["requestContext"]["requestId"]
    assert ignored["level"] == "INFO" and ignored["service"] == "bannercheck"
    assert ignored["function_name"] == CONTEXT.function_name
    assert ignored["claim"].startswith("slack:")


def test_slack_retry_of_the_same_command_starts_one_check(
    slack_fn: ModuleType, slack: MockSlack
) -> None:
    body = command_body("example.com", response_url=slack.response_url("retry"))
    first = ack_json(post(slack_fn, body))
    retried = post(
        slack_fn, body, headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    )

    assert "Checking" in first["text"]
    assert retried["statusCode"] == 200 and not retried["body"]
    delivered(slack, "retry")
    time.sleep(0.2)  # a second delivery, if any, would be on its way by now
    assert len(slack.requests(slack.response_path("retry"))) == 1


def test_same_command_without_trigger_id_is_answered_not_silenced(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore, dynamo: DynamoServer
) -> None:
    # Without a trigger_id, who typed what where is the request's identity.
    def again(name: str, **event_args: Any) -> dict[str, Any]:
        url = slack.response_url(name)
        body = command_body("example.com", response_url=url, with_trigger_id=False)
        return post(slack_fn, body, **event_args)

    first = ack_json(again("fb1"))
    running = ack_json(again("fb2"))  # typed again while the check runs
    retried = again("fb3", headers={"x-slack-retry-num": "1"})

    assert "Checking *example.com*" in first["text"]
    assert "moments ago: that check is running" in running["text"]
    assert retried["statusCode"] == 200 and not retried["body"]  # Slack's own copy
    [result] = delivered(slack, "fb1")
    assert result.json["blocks"][0]["type"] == "header"
    check_id = check_id_of(first)
    answered = ack_json(again("fb4"))  # typed again once it is done: the result, with its id
    assert answered["blocks"][0]["type"] == "header"
    assert check_id in json.dumps(answered["blocks"])
    invoke.wait_local(30)
    assert [r.path for r in slack.requests()] == [slack.response_path("fb1")]
    # The identity is held over Slack's retry horizon only, not for an hour.
    claims = [
        item
        for item in dynamo.client().scan(TableName=store.table_name)["Items"]
        if item["pk"]["S"].startswith("CLAIM#slack:") and "action" not in item["pk"]["S"]
    ]
    [claim] = claims
    assert int(claim["expires_at"]["N"]) - time.time() <= 60


@pytest.mark.parametrize(
    ("text", "explains"),
    [
        ("https://example.com/mail", "looks like a URL"),
        ("postmaster@example.com", "`/bannercheck example.com`"),
        ("not a domain", "one domain at a time"),
        ("exa_mple..com", "not a domain I can check"),
        ("192.0.2.1", "IP address"),
        ("watch example.com hourly", "`daily` or `weekly`"),
        ("history", "Which domain?"),
    ],
)
def test_bad_input_gets_a_friendly_ephemeral_explanation(
    slack_fn: ModuleType, slack: MockSlack, text: str, explains: str
) -> None:
    ack = ack_json(post(slack_fn, command_body(text, response_url=slack.response_url("bad"))))

    assert ack["response_type"] == "ephemeral"
    assert explains in ack["text"]
    assert_valid_message(ack)
    invoke.wait_local(30)
    assert slack.requests() == []


@pytest.mark.parametrize("text", ["", "help", "  HELP "])
def test_help_and_empty_command_show_usage(
    slack_fn: ModuleType, slack: MockSlack, text: str
) -> None:
    ack = ack_json(post(slack_fn, command_body(text, response_url=slack.response_url("help"))))

    assert ack["response_type"] == "ephemeral"
    assert "/bannercheck watch example.com [daily|weekly]" in json.dumps(ack["blocks"])
    assert_valid_message(ack)


# --- watches and history ----------------------------------------------------
def test_watch_list_and_unwatch_from_a_channel(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    url = slack.response_url("w")
    watched = ack_json(post(slack_fn, command_body("watch Example.COM weekly", response_url=url)))
    assert watched["response_type"] == "in_channel"
    assert "weekly" in watched["text"] and "<#C0001>" in json.dumps(watched["blocks"])
    watch = store.get_watch("example.com")
    assert watch is not None
    assert (watch.interval, watch.slack_channel, watch.slack_team_id) == (
        Interval.WEEKLY,
        "C0001",
        "T0001",
    )

    elsewhere = ack_json(
        post(slack_fn, command_body("watch example.com", response_url=url, channel_id="C0002"))
    )
    assert "already watched from <#C0001>" in elsewhere["text"]

    listed = ack_json(post(slack_fn, command_body("watches", response_url=url)))
    assert "*example.com* — weekly" in listed["text"]
    other = ack_json(post(slack_fn, command_body("watches", response_url=url, channel_id="C0002")))
    assert "No domain is watched" in other["text"]

    refused = ack_json(
        post(slack_fn, command_body("unwatch example.com", response_url=url, channel_id="C0002"))
    )
    assert "already watched from <#C0001>" in refused["text"]
    assert store.get_watch("example.com") is not None

    gone = ack_json(post(slack_fn, command_body("unwatch example.com", response_url=url)))
    assert "no longer watched" in gone["text"]
    assert store.get_watch("example.com") is None

    # Removals are on the audit trail like the watch itself, refused ones included.
    now = datetime.now(UTC)
    trail = AuditTrail(store).records(now - timedelta(hours=1), now + timedelta(hours=1))
    unwatches = [
        (r.decision, r.allowed, r.slack_user_id)
        for r in trail
        if r.action == AuditAction.UNWATCH and r.domain == "example.com"
    ]
    assert sorted(unwatches) == [
        ("unwatched", True, "U0001"),
        ("watched_elsewhere", False, "U0001"),
    ]


def test_watch_from_a_direct_message_alerts_the_user(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    body = command_body(
        "watch example.org", response_url=slack.response_url("dm"), channel_id="D0001"
    )
    ack = ack_json(post(slack_fn, body))
    watch = store.get_watch("example.org")
    assert watch is not None and watch.slack_channel == "U0001"
    assert "posted in this conversation" in json.dumps(ack["blocks"])

    url = slack.response_url("dm")
    listed = ack_json(post(slack_fn, command_body("watches", response_url=url, channel_id="D0001")))
    assert "*example.org* — daily" in listed["text"]
    elsewhere = ack_json(post(slack_fn, command_body("watch example.org", response_url=url)))
    assert "a direct message of <@U0001>" in elsewhere["text"]


def test_history_lists_checks_with_what_changed(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    requester = Requester(source=Source.SLACK, slack_team_id="T0001", slack_user_id="U0001")
    older = reports.clean()
    newer = reports.report(
        "clean.example",
        reports.failures().dns.hosts,
        reports.failures().findings,
        verdict=reports.Verdict.FAIL,
        grade="D",
        check_id="01JEXAMPLE000000000000000Z",
        checked_at="2026-12-04T18:00:00.000Z",
    )
    store.put_check(older, requester)
    store.put_check(newer, requester)

    ack = ack_json(
        post(slack_fn, command_body("history clean.example", response_url=slack.response_url("h")))
    )

    assert ack["response_type"] == "ephemeral"
    assert_valid_message(ack)
    text = json.dumps(ack["blocks"], ensure_ascii=False)
    assert text.index(newer.check_id) < text.index(older.check_id)  # newest first
    assert "*New fail* `STARTTLS_MISSING`" in text
    assert "*Banner changed* on" not in text  # other host names: not the same hosts
    none = ack_json(
        post(
            slack_fn, command_body("history unknown.example", response_url=slack.response_url("h"))
        )
    )
    assert "No checks of *unknown.example*" in json.dumps(none["blocks"])


# --- buttons ------------------------------------------------------------------
def test_share_button_posts_the_stored_result_in_channel(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    report = reports.failures()
    store.put_check(report, Requester(source=Source.SLACK))
    url = slack.response_url("share")
    value = f"{report.domain} {report.check_id}"

    response = post(slack_fn, action_body("bannercheck_share", value, response_url=url))
    again = post(slack_fn, action_body("bannercheck_share", value, response_url=url))

    assert response["statusCode"] == 200 and again["statusCode"] == 200
    [shared] = slack.wait_for(1, path=slack.response_path("share"))
    time.sleep(0.2)
    assert len(slack.requests(slack.response_path("share"))) == 1  # the double click
    message = shared.json
    assert message["response_type"] == "in_channel"
    assert message["replace_original"] is False
    assert_valid_message(message)
    assert "shared by <@U0001>" in json.dumps(message["blocks"])
    assert all(e["action_id"] != "bannercheck_share" for e in message["blocks"][-1]["elements"])


def test_rerun_clicked_twice_starts_one_check(slack_fn: ModuleType, slack: MockSlack) -> None:
    url = slack.response_url("rerun")
    for _ in range(2):
        response = post(slack_fn, action_body("bannercheck_rerun", "example.net", response_url=url))
        assert response["statusCode"] == 200

    posts = delivered(slack, "rerun", count=2)  # "Checking…" and the result
    time.sleep(0.2)
    posts = slack.requests(slack.response_path("rerun"))
    assert len(posts) == 2
    assert "Checking *example.net*" in posts[0].json["text"]
    assert posts[1].json["blocks"][0]["type"] == "header"


def test_watch_daily_button_creates_a_watch(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    url = slack.response_url("wd")
    post(slack_fn, action_body("bannercheck_watch_daily", "example.com", response_url=url))

    [reply] = slack.wait_for(1, path=slack.response_path("wd"))
    assert reply.json["response_type"] == "in_channel"
    watch = store.get_watch("example.com")
    assert watch is not None and watch.interval is Interval.DAILY


# --- delivery: retries and their record ------------------------------------------
def test_failed_delivery_is_retried_and_recorded(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    report = reports.clean()
    store.put_check(report, Requester(source=Source.SLACK))
    slack.fail_next(slack.response_path("flaky"), 2, status=503)

    outcome = notify.deliver(
        report, {"kind": "slack_response_url", "url": slack.response_url("flaky")}, store=store
    )

    assert outcome is not None and outcome.ok and outcome.attempts == 3
    assert len(slack.requests(slack.response_path("flaky"))) == 3
    [record] = store.deliveries(report.domain, report.check_id)
    assert record["ok"] is True and "after 3 attempt(s)" in record["detail"]


def test_delivery_that_keeps_failing_is_recorded_as_failed(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    report = reports.clean()
    slack.fail_next(slack.response_path("down"), 100, status=500)
    policy = notify.DeliveryPolicy(attempts=3, backoff_s=0.01)

    outcome = notify.deliver(
        report,
        {"kind": "slack_response_url", "url": slack.response_url("down")},
        store=store,
        policy=policy,
    )

    assert outcome is not None and not outcome.ok
    [record] = store.deliveries(report.domain, report.check_id)
    assert record["ok"] is False and record["detail"] == "HTTP 500 after 3 attempt(s)"


def test_malformed_answer_is_retried_and_recorded(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    # Not an OSError: http.client raises BadStatusLine for an answer that is not HTTP.
    report = reports.clean()
    slack.fail_next(slack.response_path("garbled"), 1, status=0)

    outcome = notify.deliver(
        report, {"kind": "slack_response_url", "url": slack.response_url("garbled")}, store=store
    )

    assert outcome is not None and outcome.ok and outcome.attempts == 2
    [record] = store.deliveries(report.domain, report.check_id)
    assert record["ok"] is True and "after 2 attempt(s)" in record["detail"]


def test_client_errors_are_not_retried(slack: MockSlack, store: CheckStore, env: None) -> None:
    report = reports.clean()
    slack.fail_next(slack.response_path("expired"), 100, status=404, body="expired_url")

    outcome = notify.deliver(
        report, {"kind": "slack_response_url", "url": slack.response_url("expired")}, store=store
    )

    assert outcome is not None and not outcome.ok and outcome.attempts == 1


def test_response_url_must_be_slack_inside_lambda(
    slack: MockSlack, store: CheckStore, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    report = reports.clean()

    outcome = notify.deliver(
        report, {"kind": "slack_response_url", "url": slack.response_url("x")}, store=store
    )

    assert outcome is not None and not outcome.ok and outcome.attempts == 0
    assert slack.requests() == []


# --- change alerts of scheduled checks ----------------------------------------------
def _watch(channel: str = "C0WATCH") -> Watch:
    return Watch(domain="clean.example", slack_channel=channel, slack_team_id="T0001")


def test_change_alert_posts_once_to_the_watch_channel(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    before = reports.clean()
    after = reports.report(
        "clean.example",
        (
            reports.mx(
                "mx1.clean.example",
                10,
                ("192.0.2.10",),
                starttls=False,
                greeting="mx1 ESMTP Exim 4.96",
            ),
        ),
        (
            reports.finding(
                "STARTTLS_MISSING", reports.Severity.FAIL, "No STARTTLS.", "mx1.clean.example"
            ),
        ),
        verdict=reports.Verdict.FAIL,
        grade="F",
        check_id="01JEXAMPLE00000000000000AB",
    )

    changes = notify.alert_changes(before, after, _watch(), store=store)

    assert changes is not None and changes.changed
    [posted] = slack.wait_for(1, path="/api/chat.postMessage")
    assert posted.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    message = posted.json
    assert message["channel"] == "C0WATCH"
    assert_valid_message(message)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert "*New fail* `STARTTLS_MISSING`" in text
    assert "*STARTTLS gone* on mx1.clean.example" in text
    assert "*Banner changed* on mx1.clean.example" in text
    assert "pass → fail" in text
    [record] = store.deliveries(after.domain, after.check_id)
    assert record["kind"] == "slack_alert" and record["ok"] is True


def test_no_alert_when_nothing_changed(slack: MockSlack, store: CheckStore, env: None) -> None:
    same = reports.clean()
    again = reports.report(
        same.domain,
        same.dns.hosts,
        same.findings,
        verdict=same.verdict,
        grade=same.grade,
        check_id="01JEXAMPLE00000000000000CD",
    )

    assert notify.alert_changes(same, again, _watch(), store=store) is None
    assert notify.alert_changes(None, again, _watch(), store=store) is None
    assert slack.requests() == []


def test_alert_to_a_channel_the_bot_cannot_post_in_is_recorded(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    before, after = reports.clean(), reports.failures()
    after = reports.report(
        before.domain,
        after.dns.hosts,
        after.findings,
        verdict=after.verdict,
        grade="D",
        check_id="01JEXAMPLE00000000000000EF",
    )

    notify.alert_changes(before, after, _watch(channel=""), store=store)
    assert slack.requests() == []  # no channel: nothing to post to

    slack.fail_next(
        "/api/chat.postMessage", 1, status=200, body='{"ok": false, "error": "not_in_channel"}'
    )
    notify.alert_changes(before, after, _watch(), store=store)
    [record] = store.deliveries(after.domain, after.check_id)
    assert record["ok"] is False
    assert record["detail"] == "not_in_channel after 1 attempt(s)"  # not retried


# --- checks that cannot start or cannot finish ------------------------------------
# The probe function fails as it should (Lambda sees the error); here in its thread.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_crashed_check_still_answers_with_its_id(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bannercheck.scan

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug of ours")

    # The engine is not under test here: what the user hears when it breaks is.
    monkeypatch.setattr(bannercheck.scan, "run_check", crash)
    url = slack.response_url("crash")
    check_id = check_id_of(ack_json(post(slack_fn, command_body("example.com", response_url=url))))

    [reply] = delivered(slack, "crash")

    assert reply.json["response_type"] == "ephemeral"
    assert_valid_message(reply.json)
    assert "did not finish" in reply.json["text"] and check_id in reply.json["text"]
    assert store.get_check("example.com", check_id) is None
    [record] = store.deliveries("example.com", check_id)
    assert record["ok"] is True


def test_report_that_cannot_be_rendered_still_gets_an_answer(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    # A severity this renderer does not know (a report from a newer version, or a
    # bug of ours): the requester is still told where the stored result is.
    good = reports.clean()
    odd = dataclasses.replace(good.findings[0], severity="critical")  # type: ignore[arg-type]
    report = dataclasses.replace(good, findings=(odd, *good.findings[1:]))
    with pytest.raises(KeyError):
        to_message(report)

    outcome = notify.deliver(
        report, {"kind": "slack_response_url", "url": slack.response_url("odd")}, store=store
    )

    assert outcome is not None and outcome.ok
    [reply] = slack.requests(slack.response_path("odd"))
    assert reply.json["response_type"] == "ephemeral"
    assert "could not be shown here" in reply.json["blocks"][0]["text"]["text"]
    assert report.check_id in json.dumps(reply.json["blocks"])
    [record] = store.deliveries(report.domain, report.check_id)
    assert record["ok"] is True


def test_probe_that_cannot_be_invoked_gets_a_reply_with_the_id(
    store: CheckStore, slack: MockSlack, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the per-domain repeat interval, which would hold the retry for a minute.
    monkeypatch.setenv("BANNERCHECK_REPEAT_INTERVAL", "0")
    from bannercheck.invoke import ProbeInvokeError
    from bannercheck.slack.app import make_app
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler

    calls: list[dict[str, Any]] = []

    def broken_invoke(payload: dict[str, Any]) -> None:
        calls.append(payload)
        if len(calls) == 1:
            raise ProbeInvokeError("throttled")

    app = make_app(signing_secret=SECRET, store=store, invoke=broken_invoke)
    handler = SlackRequestHandler(app)
    body = command_body("example.com", response_url=slack.response_url("x"))

    first = ack_json(handler.handle(to_event(body, secret=SECRET), CONTEXT))
    retried = ack_json(handler.handle(to_event(body, secret=SECRET), CONTEXT))

    assert "could not be started" in first["text"]
    assert calls[0]["check_id"] in json.dumps(first["blocks"])
    assert "Checking" in retried["text"]  # the claim was released: the retry may start it
    assert len(calls) == 2


def test_sample_event_from_events_dir_signed_at_test_time(
    slack_fn: ModuleType, slack: MockSlack
) -> None:
    import base64
    import urllib.parse

    from tests.slack_mock.events import sign

    event = json.loads((ROOT / "events" / "slack-command.json").read_text(encoding="utf-8"))
    fields = dict(urllib.parse.parse_qsl(base64.b64decode(event["body"]).decode()))
    fields["response_url"] = slack.response_url("sample")  # never Slack's real hooks
    body = urllib.parse.urlencode(fields)
    timestamp = int(time.time())
    event["body"] = base64.b64encode(body.encode()).decode()
    event["headers"]["x-slack-request-timestamp"] = str(timestamp)
    event["headers"]["x-slack-signature"] = sign(SECRET, timestamp, body)

    ack = ack_json(slack_fn.handler(event, CONTEXT))

    assert f"Checking *{fields['text']}*" in ack["text"]
    [result] = delivered(slack, "sample")
    assert_valid_message(result.json)


# --- the deployment's admission point: policy, rate limits, cache ------------------
def test_allowlist_policy_refuses_with_how_to_and_starts_nothing(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANNERCHECK_POLICY", "allowlist")
    monkeypatch.setenv("BANNERCHECK_ALLOWLISTS", json.dumps({"slack:T0001": [".allowed.example"]}))
    url = slack.response_url("policy")

    refused = ack_json(post(slack_fn, command_body("other.example", response_url=url)))
    watch = ack_json(post(slack_fn, command_body("watch other.example", response_url=url)))
    allowed = ack_json(post(slack_fn, command_body("mx.allowed.example", response_url=url)))

    assert refused["response_type"] == "ephemeral"
    assert "*other.example* was not checked" in refused["text"]
    assert "not on the list of domains your Slack workspace may check" in refused["text"]
    assert "was not checked" in watch["text"] and store.get_watch("other.example") is None
    assert "Checking *mx.allowed.example*" in allowed["text"]
    [posted] = delivered(slack, "policy")
    assert "mx.allowed.example" in posted.json["blocks"][0]["text"]["text"]


def test_an_opt_out_added_by_an_admin_is_refused_in_a_friendly_way(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    admin = Requester(source=Source.API, api_key_id="admin-key")
    store.put_opt_out("owner.example", admin, "ticket 99")
    url = slack.response_url("optout")

    refused = ack_json(post(slack_fn, command_body("mx.owner.example", response_url=url)))
    watch = ack_json(post(slack_fn, command_body("watch owner.example", response_url=url)))

    assert refused["response_type"] == "ephemeral"
    assert "*mx.owner.example* was not checked" in refused["text"]
    assert "owner of mx.owner.example asked not to be checked" in refused["text"]
    assert "ticket" not in json.dumps(refused)  # the admin's note stays with the admins
    assert "was not checked" in watch["text"] and store.get_watch("owner.example") is None
    invoke.wait_local(30)
    assert slack.requests(slack.response_path("optout")) == []  # no probe, no findings
    assert store.latest("mx.owner.example") is None
    now = datetime.now(UTC)
    trail = AuditTrail(store).records(now - timedelta(hours=1), now + timedelta(hours=1))
    assert [(r.domain, r.action, r.allowed, r.decision) for r in trail] == [
        ("mx.owner.example", "check", False, "opted_out"),
        ("owner.example", "watch", False, "opted_out"),
    ]


def test_domain_checked_a_moment_ago_is_answered_from_the_store(
    slack_fn: ModuleType, slack: MockSlack
) -> None:
    first = ack_json(
        post(slack_fn, command_body("example.com", response_url=slack.response_url("a")))
    )
    delivered(slack, "a")

    again = ack_json(
        post(slack_fn, command_body("example.com", response_url=slack.response_url("b")))
    )

    assert again["response_type"] == "ephemeral"
    assert_valid_message(again)
    assert again["blocks"][0]["type"] == "header"  # the findings, in the acknowledgement
    assert check_id_of(first) in json.dumps(again["blocks"])
    assert "probed at most once a minute" in json.dumps(again["blocks"])
    invoke.wait_local(30)
    assert slack.requests(slack.response_path("b")) == []  # nothing else is coming


def test_verify_tells_what_to_publish(
    slack_fn: ModuleType, slack: MockSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANNERCHECK_POLICY", "verified")
    monkeypatch.setenv("BANNERCHECK_VERIFY_SECRET", "verify-secret-for-tests-only")
    url = slack.response_url("verify")

    reply = ack_json(post(slack_fn, command_body("verify example.com", response_url=url)))

    assert reply["response_type"] == "ephemeral"
    assert_valid_message(reply)
    assert "_bannercheck.example.com. 3600 IN TXT" in reply["text"]
    assert "verify-secret-for-tests-only" not in json.dumps(reply)


def test_mock_slack_rejects_what_slack_would_reject() -> None:
    # Every message the tests send through MockSlack is validated on arrival;
    # this is what makes a test fail when a message would get invalid_blocks.
    too_many = {"text": "x", "blocks": [{"type": "divider"}] * 51}
    long_header = {
        "text": "x",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    }
    once = notify.DeliveryPolicy(attempts=1)
    mock = MockSlack()
    with pytest.raises(AssertionError, match="invalid_blocks"), mock:
        to_url = notify.send(
            too_many,
            {"kind": "slack_response_url", "url": mock.response_url("big")},
            policy=once,
        )
        environ = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": mock.api_url}
        to_channel = notify.send(
            long_header,
            {"kind": "slack_channel", "channel": "C1"},
            policy=once,
            environ=environ,
        )
    assert (to_url.ok, to_url.detail) == (False, "HTTP 400")
    assert (to_channel.ok, to_channel.detail) == (False, "invalid_blocks")
    assert [path for path, _ in mock.invalid] == ["/response/big", "/api/chat.postMessage"]


# --- a check that ran but could not be stored ------------------------------------------
class _CheckWritesFail(ThrottlingProxy):
    """DynamoDB through a proxy that throttles every write of a report, nothing else."""

    def selects(self, operation: str, body: bytes) -> bool:
        return operation == "PutItem" and b'"CHECK#' in body


def test_check_that_cannot_be_stored_answers_with_its_id(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    from bannercheck.probe_job import run_payload, to_payload
    from bannercheck.settings import settings_from_env
    from botocore.exceptions import ClientError

    proxy = _CheckWritesFail(os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=proxy.url,
            region_name=os.environ["AWS_REGION"],
            config=Config(retries={"mode": "standard", "max_attempts": 2}),
        )
        failing = CheckStore(store.table_name, client)
        requester = Requester(source=Source.SLACK, slack_team_id="T0001", slack_user_id="U0001")
        reply_to = {"kind": "slack_response_url", "url": slack.response_url("unstored")}
        payload = to_payload("example.com", requester, reply_to=reply_to)

        with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
            run_payload(payload, store=failing, settings=settings_from_env())
    finally:
        proxy.shutdown()
        proxy.server_close()

    assert len(proxy.throttled) >= 2  # the report's write and the SDK's retries of it
    [reply] = slack.requests(slack.response_path("unstored"))
    assert_valid_message(reply.json)
    assert reply.json["response_type"] == "ephemeral"
    assert "did not finish (its result could not be stored)" in reply.json["text"]
    assert payload["check_id"] in reply.json["text"]
    assert store.get_check("example.com", payload["check_id"]) is None
    [record] = store.deliveries("example.com", payload["check_id"])
    assert record["ok"] is True


# --- button clicks: signatures, double clicks, the events/ sample -------------------------
def test_forged_or_stale_button_clicks_get_401_and_start_nothing(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    url = slack.response_url("forged-click")
    rerun = action_body("bannercheck_rerun", "example.com", response_url=url)
    watch = action_body("bannercheck_watch_daily", "example.com", response_url=url)
    forged = post(slack_fn, rerun, signature="v0=" + "0" * 64)
    stale = post(slack_fn, watch, timestamp=int(time.time()) - 6 * 60)
    other_secret = slack_fn.handler(to_event(watch, secret="not-the-secret"), CONTEXT)

    assert [r["statusCode"] for r in (forged, stale, other_secret)] == [401, 401, 401]
    invoke.wait_local(30)
    assert slack.requests() == []
    assert store.get_watch("example.com") is None
    assert store.latest("example.com") is None


def test_watch_daily_double_click_creates_one_watch_and_one_acknowledgement(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    url = slack.response_url("wd2")
    click = action_body("bannercheck_watch_daily", "example.org", response_url=url)
    responses = [post(slack_fn, click) for _ in range(2)]

    assert [r["statusCode"] for r in responses] == [200, 200]
    [reply] = slack.wait_for(1, path=slack.response_path("wd2"))
    time.sleep(0.2)  # a second acknowledgement, if any, would be on its way by now
    assert len(slack.requests(slack.response_path("wd2"))) == 1
    assert "set a *daily* watch on *example.org*" in json.dumps(reply.json["blocks"])
    assert [w.domain for w in store.watches()] == ["example.org"]


def test_sample_block_actions_event_from_events_dir(slack_fn: ModuleType, slack: MockSlack) -> None:
    import base64
    import urllib.parse

    from tests.slack_mock.events import sign

    event = json.loads((ROOT / "events" / "slack-block-actions.json").read_text(encoding="utf-8"))
    fields = dict(urllib.parse.parse_qsl(base64.b64decode(event["body"]).decode()))
    payload = json.loads(fields["payload"])
    assert payload["type"] == "block_actions"
    payload["response_url"] = slack.response_url("sample-click")  # never Slack's real hooks
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    timestamp = int(time.time())
    event["body"] = base64.b64encode(body.encode()).decode()
    event["headers"]["x-slack-request-timestamp"] = str(timestamp)
    event["headers"]["x-slack-signature"] = sign(SECRET, timestamp, body)

    response = slack_fn.handler(event, CONTEXT)

    assert response["statusCode"] == 200
    checking, result = delivered(slack, "sample-click", count=2)
    assert f"Checking *{payload['actions'][0]['value']}*" in checking.json["text"]
    assert_valid_message(result.json)
    assert result.json["blocks"][0]["type"] == "header"


def test_change_alert_shows_a_certificate_expiring_within_14_days(
    slack: MockSlack, store: CheckStore, env: None
) -> None:
    before = reports.clean()
    host = before.dns.hosts[0]
    # Checked 2026-12-03 18:00: a certificate ending 2026-12-13 00:00 has 9 whole days left.
    expiring = reports.mx(
        host.name,
        host.preference,
        tuple(a.ip for a in host.addresses),
        greeting=host.addresses[0].session.greeting.texts[0],  # type: ignore[union-attr]
        not_after="2026-12-13T00:00:00Z",
    )
    after = reports.report(
        before.domain,
        (expiring, *before.dns.hosts[1:]),
        before.findings,
        verdict=before.verdict,
        grade=before.grade,
        check_id="01JEXAMPLE00000000000000GH",
    )

    changes = notify.alert_changes(before, after, _watch(), store=store)

    assert changes is not None and changes.certs_expiring
    [posted] = slack.wait_for(1, path="/api/chat.postMessage")
    message = posted.json
    assert_valid_message(message)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert f"*Certificate expires in 9 days* on {host.name} (2026-12-13)" in text
    assert "certificate expiring" in message["text"]
