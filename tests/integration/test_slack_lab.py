"""``/bannercheck`` against the lab: the probe checks real Knot DNS and Postfix,
and the message Slack would show arrives at the mock ``response_url``.

Also scheduled checks of a watched lab domain through the probe function:
identical results post nothing, a changed result posts one alert.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from types import ModuleType

import pytest
from bannercheck import invoke
from bannercheck.ids import new_check_id
from bannercheck.probe_job import to_payload
from bannercheck.store import CheckStore, Requester, Source, Watch

from tests.fixtures.dynamodb import DynamoServer, moto_server
from tests.lab import Lab
from tests.slack_mock import reports
from tests.slack_mock.blocks import assert_valid_message
from tests.slack_mock.events import command_body
from tests.slack_mock.server import MockSlack
from tests.slack_mock.stack import (
    ack_json,
    check_id_of,
    delivered,
    load_slack_function,
    new_store,
    post,
    set_stack_env,
)

pytestmark = pytest.mark.integration


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
def slack_fn(
    monkeypatch: pytest.MonkeyPatch,
    lab: Lab,
    dynamo: DynamoServer,
    store: CheckStore,
    slack: MockSlack,
) -> Iterator[ModuleType]:
    set_stack_env(monkeypatch, dynamo, store, slack, resolver=lab.resolver, timeout_s=10)
    yield load_slack_function()
    invoke.wait_local(60)


def test_good_domain_message_shows_hosts_greetings_and_tls(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    ack = ack_json(post(slack_fn, command_body("good.test", response_url=slack.response_url("g"))))
    check_id = check_id_of(ack)

    [result] = delivered(slack, "g")

    message = result.json
    assert message["response_type"] == "ephemeral"
    assert_valid_message(message)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert "good.test" in message["blocks"][0]["text"]["text"]
    assert "*mx1.good.test*  _MX 10_" in text and "*mx2.good.test*  _MX 20_" in text
    assert "Greeting `220 mx1.good.test ESMTP" in text
    assert "STARTTLS :lock: TLSv1." in text
    assert "probe EHLO name `probe.bannercheck.test`" in text
    stored = store.get_check("good.test", check_id)
    assert stored is not None
    assert f"Check `{check_id}`" in text


@pytest.mark.parametrize(
    ("domain", "says"),
    [
        ("nullmx.test", "*Null MX* (RFC 7505)"),
        ("nothing.test", "*The domain does not exist*"),
    ],
)
def test_domains_without_mail_hosts_say_why(
    slack_fn: ModuleType, slack: MockSlack, domain: str, says: str
) -> None:
    post(slack_fn, command_body(domain, response_url=slack.response_url(domain)))

    [result] = delivered(slack, domain)

    assert_valid_message(result.json)
    assert says in json.dumps(result.json["blocks"], ensure_ascii=False)


def test_many_mx_hosts_still_render(slack_fn: ModuleType, slack: MockSlack) -> None:
    post(slack_fn, command_body("hundredmx.test", response_url=slack.response_url("many")))

    [result] = delivered(slack, "many")

    assert_valid_message(result.json)


def test_scheduled_check_alerts_only_when_something_changed(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore
) -> None:
    from bannercheck.probe_job import handle_event

    schedule = Requester(source=Source.SCHEDULE, schedule_name="watch")
    store.put_watch(Watch(domain="good.test", slack_channel="C0LAB", slack_team_id="T0001"))

    def scheduled_run() -> str:
        payload = {
            "domain": "good.test",
            "check_id": new_check_id(),
            "requester": {"source": "schedule", "schedule_name": "watch"},
            "reply_to": None,
        }
        return str(handle_event(payload, None)["check_id"])

    first = scheduled_run()
    second = scheduled_run()
    assert first != second
    assert slack.requests("/api/chat.postMessage") == []  # first run, then no change

    # The last stored result had a failure that the next run no longer shows.
    last = store.get_check("good.test", second)
    assert last is not None
    broken = replace(
        last.report,
        check_id=new_check_id(),
        findings=(
            *last.report.findings,
            reports.finding("STARTTLS_MISSING", reports.Severity.FAIL, "gone", "mx1.good.test"),
        ),
    )
    store.put_check(broken, schedule)
    store.record_watch_result("good.test", broken)
    scheduled_run()

    [alert] = slack.wait_for(1, path="/api/chat.postMessage")
    assert alert.json["channel"] == "C0LAB"
    assert_valid_message(alert.json)
    assert "*Resolved* `STARTTLS_MISSING`" in json.dumps(alert.json["blocks"])


def test_ack_does_not_wait_for_a_server_that_never_greets(
    slack_fn: ModuleType, slack: MockSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # silent.test accepts connections and never speaks: the check lasts its whole deadline.
    monkeypatch.setenv("BANNERCHECK_TIMEOUT", "3")
    ack = ack_json(
        post(slack_fn, command_body("silent.test", response_url=slack.response_url("s")))
    )

    assert "Checking *silent.test*" in ack["text"]
    assert slack.requests(slack.response_path("s")) == []  # answered before the check ended

    [result] = delivered(slack, "s")
    assert_valid_message(result.json)
    assert check_id_of(ack) in json.dumps(result.json["blocks"])
    assert result.json["blocks"][0]["text"]["text"].split(" — ")[1].split(" ")[0] in (
        "fail",
        "inconclusive",
    )


def test_verified_policy_with_a_silent_nameserver_still_answers(
    slack_fn: ModuleType, slack: MockSlack, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The TXT lookup of the verified policy happens before the acknowledgement;
    # a nameserver that never answers must cost a short budget, not the deadline.
    monkeypatch.setenv("BANNERCHECK_POLICY", "verified")
    monkeypatch.setenv("BANNERCHECK_VERIFY_SECRET", "verify-secret-for-tests-only")
    monkeypatch.setenv("BANNERCHECK_RESOLVER", lab.silent_resolver)
    url = slack.response_url("v")

    reply = ack_json(post(slack_fn, command_body("good.test", response_url=url)))

    assert "*good.test* was not checked" in reply["text"]
    assert "could not be read (timeout)" in reply["text"]
    assert "_bannercheck.good.test" in reply["text"]
    invoke.wait_local(30)
    assert slack.requests() == []


@dataclasses.dataclass(frozen=True)
class _EndingContext(invoke.LocalContext):
    """A Lambda context whose invocation ends at ``ends_at`` (time.monotonic)."""

    ends_at: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.ends_at - time.monotonic()) * 1000), 0)


def test_a_check_never_outlives_the_probe_function(
    slack_fn: ModuleType, slack: MockSlack, store: CheckStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tarpit.test greets one byte a second: left alone, the check would use its
    # whole 30 s deadline; the invocation has 8 s. The requester must still get
    # the findings, with time to spare for storing and delivering them.
    monkeypatch.setenv("BANNERCHECK_TIMEOUT", "30")
    probe_handler = invoke.load_function_handler("probe")  # as the local stack runs it
    arrived: list[float] = []
    slack.on_receive = lambda record: arrived.append(time.monotonic())
    requester = Requester(source=Source.SLACK, slack_team_id="T0001", slack_user_id="U0001")
    reply_to = {"kind": "slack_response_url", "url": slack.response_url("tarpit")}
    payload = to_payload("tarpit.test", requester, reply_to=reply_to)
    start = time.monotonic()
    context = _EndingContext(aws_request_id=str(uuid.uuid4()), ends_at=start + 8.0)

    report = probe_handler(payload, context)
    returned = time.monotonic()

    [result] = slack.wait_for(1, path=slack.response_path("tarpit"), timeout_s=1)
    assert arrived[0] < context.ends_at and returned < context.ends_at
    assert returned - start < 8.0 - 2.0  # the margin is kept for storing and delivering
    message = result.json
    assert_valid_message(message)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert payload["check_id"] in text
    assert report["verdict"] in ("fail", "inconclusive")
    assert store.get_check("tarpit.test", payload["check_id"]) is not None
    [session] = [a["session"] for h in report["dns"]["hosts"] for a in h["addresses"]]
    assert session["status"] != "ok"  # cut short, as the tarpit never finished greeting
