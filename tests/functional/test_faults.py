"""Delivery and storage faults, with real parts on loopback.

- Slack answering 500 or not answering at all (timeouts): the report is stored first,
  the delivery is retried with growing pauses, the outcome is recorded.
- DynamoDB throttling: a small HTTP proxy in front of the moto server answers
  ``ProvisionedThroughputExceededException`` (a real fault on the wire, not a patch).
- SQS (moto): a message that keeps failing lands in the dead-letter queue after the
  template's ``maxReceiveCount``; a redelivered message gives one stored check and one
  Slack message. The Lambda poller is emulated: receive, run the probe handler with
  the SQS event, delete what succeeded, release what failed.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from bannercheck import invoke, notify
from bannercheck.ids import new_check_id
from bannercheck.invoke import LocalContext
from bannercheck.probe_job import handle_event, run_payload, to_payload
from bannercheck.settings import settings_from_env
from bannercheck.store import CheckStore, Requester, Source
from botocore.config import Config

from tests.fixtures.dynamodb import CREDENTIALS, REGION, DynamoServer, free_port, moto_server
from tests.fixtures.reports import sample_report
from tests.slack_mock.server import MockSlack
from tests.slack_mock.stack import new_store, set_stack_env
from tests.unit.test_compliance_template import resources

pytestmark = pytest.mark.integration

REQUESTER = Requester(source=Source.SLACK, slack_team_id="T1", slack_user_id="U1")
THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()


# --- a throttling proxy in front of the DynamoDB server --------------------------------------
class ThrottlingProxy(ThreadingHTTPServer):
    """Forwards DynamoDB requests; throttles the next ``n`` (or all, while ``always``)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.remaining = 0
        self.always = False
        self.throttled: list[str] = []
        self.forwarded: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def throttle(self, n: int) -> None:
        with self.lock:
            self.remaining = n

    def should_throttle(self, operation: str, body: bytes) -> bool:
        with self.lock:
            if self.selects(operation, body):
                self.throttled.append(operation)
                return True
            self.forwarded.append(operation)
            return False

    def selects(self, operation: str, body: bytes) -> bool:
        """Whether to throttle this request (called under the lock; subclasses choose)."""
        if self.always or self.remaining > 0:
            self.remaining = max(0, self.remaining - 1)
            return True
        return False


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ThrottlingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        operation = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        if self.server.should_throttle(operation, body):
            self._reply(400, {"Content-Type": "application/x-amz-json-1.0"}, THROTTLED)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, out, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, out, raw = error.code, dict(error.headers), error.read()
        self._reply(status, out, raw)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in (
                "content-length",
                "connection",
                "transfer-encoding",
                "server",
                "date",
            ):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --- a Slack endpoint that does not answer in time --------------------------------------------
class SlowSlack:
    """Holds the first ``hold`` connections without answering; answers 200 afterwards."""

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/commands/slow"
        self.arrivals: list[float] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.arrivals.append(time.monotonic())
            if len(self.arrivals) <= self.hold:
                self._held.append(conn)  # read nothing, answer nothing
                continue
            conn.settimeout(2)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self.sock.close()


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto() -> Iterator[DynamoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def proxy(moto: DynamoServer) -> Iterator[ThrottlingProxy]:
    server = ThrottlingProxy(moto.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def slack() -> Iterator[MockSlack]:
    with MockSlack() as server:
        yield server


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, moto: DynamoServer, proxy: ThrottlingProxy, slack: MockSlack
) -> Iterator[CheckStore]:
    """The probe function's environment; its DynamoDB endpoint is the throttling proxy."""
    store = new_store(moto)
    dead_resolver = f"127.{random.randint(16, 250)}.{random.randint(0, 255)}.53:{free_port()}"
    set_stack_env(monkeypatch, moto, store, slack, resolver=dead_resolver, timeout_s=1.0)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    # The SDK's own retries are part of what is tested; keep them few so tests stay short.
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    yield store  # a direct client (no proxy) to look at what was stored
    invoke.wait_local(30)


def _payload(slack: MockSlack, name: str, domain: str = "faults.example") -> dict[str, Any]:
    reply_to = {"kind": "slack_response_url", "url": slack.response_url(name)}
    return to_payload(domain, REQUESTER, check_id=new_check_id(), reply_to=reply_to)


# --- Slack faults -------------------------------------------------------------------------------
def test_slack_timeouts_are_retried_with_growing_pauses(moto: DynamoServer) -> None:
    store = new_store(moto)
    slow = SlowSlack(hold=2)
    try:
        report = sample_report("slow.example")
        store.put_check(report, REQUESTER)
        policy = notify.DeliveryPolicy(attempts=3, backoff_s=0.1, timeout_s=0.3)
        started = time.monotonic()
        outcome = notify.deliver(
            report, {"kind": "slack_response_url", "url": slow.url}, store=store, policy=policy
        )
        elapsed = time.monotonic() - started
    finally:
        slow.close()
    assert outcome is not None and outcome.ok and outcome.attempts == 3
    assert len(slow.arrivals) == 3
    # Two timeouts, then pauses of 0.1 s and 0.2 s (doubling): a lower bound only,
    # which a constant pause (0.6 + 0.1 + 0.1) cannot reach.
    assert elapsed >= 2 * 0.3 + 0.1 + 0.2
    [record] = store.deliveries(report.domain, report.check_id)
    assert record["ok"] is True and "after 3 attempt(s)" in record["detail"]
    assert store.get_check(report.domain, report.check_id) is not None


def test_slack_that_never_answers_is_recorded_as_failed(moto: DynamoServer) -> None:
    store = new_store(moto)
    slow = SlowSlack(hold=100)
    try:
        report = sample_report("down.example")
        store.put_check(report, REQUESTER)
        policy = notify.DeliveryPolicy(attempts=2, backoff_s=0.01, timeout_s=0.2)
        outcome = notify.deliver(
            report, {"kind": "slack_response_url", "url": slow.url}, store=store, policy=policy
        )
    finally:
        slow.close()
    assert outcome is not None and not outcome.ok and outcome.attempts == 2
    [record] = store.deliveries(report.domain, report.check_id)
    assert record["ok"] is False and "timed out" in record["detail"].lower()
    assert store.get_check(report.domain, report.check_id) is not None


def test_slack_500_then_ok_through_the_probe_run(
    env: CheckStore, slack: MockSlack, proxy: ThrottlingProxy
) -> None:
    payload = _payload(slack, "five-hundred")
    slack.fail_next(slack.response_path("five-hundred"), 2, status=500)
    run_payload(payload, store=_proxied_store(env, proxy), settings=settings_from_env())
    stored = env.get_check(payload["domain"], payload["check_id"])
    assert stored is not None
    [record] = env.deliveries(payload["domain"], payload["check_id"])
    assert record["ok"] is True and "after 3 attempt(s)" in record["detail"]
    assert len(slack.requests(slack.response_path("five-hundred"))) == 3


def test_expired_response_url_is_recorded_and_not_retried(
    env: CheckStore, slack: MockSlack, proxy: ThrottlingProxy
) -> None:
    payload = _payload(slack, "expired")
    slack.fail_next(slack.response_path("expired"), 10, status=404, body="expired_url")
    run_payload(payload, store=_proxied_store(env, proxy), settings=settings_from_env())
    assert env.get_check(payload["domain"], payload["check_id"]) is not None
    [record] = env.deliveries(payload["domain"], payload["check_id"])
    assert record["ok"] is False and record["detail"] == "HTTP 404 after 1 attempt(s)"


# --- DynamoDB throttling -------------------------------------------------------------------------
def _proxied_store(store: CheckStore, proxy: ThrottlingProxy, attempts: int = 5) -> CheckStore:
    client = boto3.client(
        "dynamodb",
        endpoint_url=proxy.url,
        region_name=REGION,
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
        **CREDENTIALS,
    )
    return CheckStore(store.table_name, client)


def test_throttled_writes_are_retried_and_the_check_is_stored(
    env: CheckStore, slack: MockSlack, proxy: ThrottlingProxy
) -> None:
    payload = _payload(slack, "throttled")
    proxy.throttle(3)
    run_payload(payload, store=_proxied_store(env, proxy), settings=settings_from_env())
    assert len(proxy.throttled) == 3  # the fault really happened
    assert env.get_check(payload["domain"], payload["check_id"]) is not None
    assert len(slack.requests(slack.response_path("throttled"))) == 1


# --- SQS: dead-letter queue and redelivery ------------------------------------------------------
class Queues:
    """The template's probe queue and DLQ on the moto server, and a Lambda-like poller."""

    def __init__(self, moto: DynamoServer) -> None:
        self.sqs = boto3.client("sqs", endpoint_url=moto.url, region_name=REGION, **CREDENTIALS)
        suffix = uuid.uuid4().hex[:8]
        props = resources()["ProbeQueue"]["Properties"]
        self.max_receive = int(props["RedrivePolicy"]["maxReceiveCount"])
        self.dlq_url = self.sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": self.max_receive}
        self.url = self.sqs.create_queue(
            QueueName=f"probe-{suffix}",
            Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "30"},
        )["QueueUrl"]

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def poll_once(self) -> tuple[int, int]:
        """One receive + one handler run; returns (received, failed)."""
        got = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=5, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return 0, 0
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:probe",
                    "awsRegion": REGION,
                }
                for m in got
            ]
        }
        try:
            result = handle_event(event, LocalContext.new("probe"))
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        except BatchProcessingError:
            # Every record failed: Powertools raises, and Lambda returns the whole batch.
            failed = {m["MessageId"] for m in got}
        for m in got:
            if m["MessageId"] in failed:
                # What Lambda does after a partial failure: the message shows again.
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return len(got), len(failed)

    def dead_letters(self) -> list[str]:
        got = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10)
        return [m["Body"] for m in got.get("Messages", [])]


def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue(
    env: CheckStore, moto: DynamoServer
) -> None:
    queues = Queues(moto)
    queues.send("this is not a probe payload")
    outcomes = [queues.poll_once() for _ in range(queues.max_receive + 1)]
    assert outcomes[: queues.max_receive] == [(1, 1)] * queues.max_receive
    assert outcomes[-1] == (0, 0)  # moved away instead of shown a fourth time
    assert queues.dead_letters() == ["this is not a probe payload"]


def test_throttling_fails_the_message_and_redelivery_stores_one_check(
    env: CheckStore, moto: DynamoServer, slack: MockSlack, proxy: ThrottlingProxy
) -> None:
    queues = Queues(moto)
    payload = _payload(slack, "redelivered")
    body = json.dumps(payload)
    queues.send(body)
    proxy.always = True
    assert queues.poll_once() == (1, 1)  # the SDK's retries ran out: the message fails
    assert proxy.throttled
    proxy.always = False
    assert queues.poll_once() == (1, 0)
    # SQS delivers at least once: the same message again changes nothing.
    queues.send(body)
    assert queues.poll_once() == (1, 0)
    invoke.wait_local(30)
    history = env.history(payload["domain"], limit=10)
    assert [s.report.check_id for s in history.items] == [payload["check_id"]]
    assert len(slack.requests(slack.response_path("redelivered"))) == 1
    deliveries = env.deliveries(payload["domain"], payload["check_id"])
    assert [d["ok"] for d in deliveries] == [True]
    assert queues.dead_letters() == []
