"""The AWS code paths of invoke.py, over real HTTP, without AWS.

Outside the local stack, the API invokes the probe through the Lambda Invoke API
and the dispatcher sends to SQS with boto3. Here boto3 talks to a small Lambda
Invoke endpoint on loopback (it runs the real probe handler, as Lambda would) and
to moto's SQS server; the probe queue's messages are then received and handed to
the probe handler as the SQS event Lambda's poller would build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from bannercheck import invoke
from bannercheck.local.events import to_response, to_rest_event, to_scheduler_event
from bannercheck.store import CheckStore, Source, Watch

from tests.fixtures.dynamodb import CREDENTIALS, REGION, DynamoServer, moto_server
from tests.reportcheck import assert_valid_report

ROOT = Path(__file__).resolve().parents[2]
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class FakeLambda(ThreadingHTTPServer):
    """Lambda's Invoke API on loopback: runs a handler for one function name."""

    daemon_threads = True

    def __init__(self, function_name: str, handler: Any) -> None:
        super().__init__(("127.0.0.1", 0), _InvokeHandler)
        self.function_name = function_name
        self.handler = handler
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _InvokeHandler(BaseHTTPRequestHandler):
    server: FakeLambda

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        match = INVOKE_PATH.match(self.path.split("?")[0])
        if match is None or match.group(1) != self.server.function_name:
            self._reply(404, {"Type": "User", "message": "Function not found"})
            return
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.invocations.append((kind, payload))
        if kind == "Event":
            threading.Thread(target=self._run, args=(payload,), daemon=True).start()
            self._reply(202, None)
            return
        try:
            if self.server.fail:
                raise RuntimeError("boom")
            result = self._run(payload)
        except Exception as exc:  # noqa: BLE001 - Lambda reports any unhandled error so
            self._reply(200, {"errorMessage": str(exc)}, {"X-Amz-Function-Error": "Unhandled"})
            return
        self._reply(200, result)

    def _run(self, payload: dict[str, Any]) -> Any:
        return self.server.handler(payload, invoke.LocalContext.new("probe"))

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def moto_sqs() -> Iterator[DynamoServer]:
    with moto_server() as server:  # moto's server answers every service, SQS included
        yield server


@pytest.fixture
def aws(stack_env: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    """The functions' AWS mode: no BANNERCHECK_LOCAL, boto3 for Lambda and SQS."""
    monkeypatch.delenv("BANNERCHECK_LOCAL")
    probe = invoke.load_function_handler("probe")
    fake = FakeLambda("bannercheck-probe", probe)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PROBE_FUNCTION_NAME", fake.function_name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
    try:
        yield fake
    finally:
        fake.shutdown()
        fake.server_close()


def _store(server: DynamoServer) -> CheckStore:
    return CheckStore(os.environ["TABLE_NAME"], client=server.client())


def test_api_runs_the_probe_through_the_lambda_invoke_api(
    aws: FakeLambda, stack_env: DynamoServer
) -> None:
    api = invoke.load_function_handler("api")
    event = to_rest_event("POST", "/checks", body=b'{"domain": "good.test"}', api_key_id="k1")
    status, _, body = to_response(api(event, invoke.LocalContext.new("api")))
    assert status == 201, body
    report = json.loads(body)
    assert_valid_report(report)
    [(kind, payload)] = aws.invocations
    assert kind == "RequestResponse"
    assert payload["domain"] == "good.test" and payload["check_id"] == report["check_id"]
    assert payload["requester"]["api_key_id"] == "k1"
    assert _store(stack_env).get_check("good.test", report["check_id"]) is not None


def test_a_failing_probe_function_is_a_502_json_error(aws: FakeLambda) -> None:
    aws.fail = True
    api = invoke.load_function_handler("api")
    event = to_rest_event("POST", "/checks", body=b'{"domain": "good.test"}', api_key_id="k1")
    status, _, body = to_response(api(event, invoke.LocalContext.new("api")))
    assert status == 502
    assert json.loads(body)["error"]["code"] == "probe_failed"


def test_invoke_probe_is_an_event_invoke(aws: FakeLambda, stack_env: DynamoServer) -> None:
    payload = {
        "domain": "single.test",
        "check_id": "01JEB3Z8Q6T0V1W2X3Y4Z5A6C0",
        "requester": {"source": "slack", "slack_team_id": "T1", "slack_user_id": "U1"},
        "reply_to": None,
    }
    invoke.invoke_probe(payload)
    assert aws.invocations == [("Event", payload)]
    store = _store(stack_env)
    for _ in range(200):  # the fake runs Event invokes in the background, like Lambda
        if store.get_check("single.test", payload["check_id"]) is not None:
            break
        threading.Event().wait(0.05)
    stored = store.get_check("single.test", payload["check_id"])
    assert stored is not None and stored.requester.slack_user_id == "U1"


def test_dispatch_sends_to_sqs_and_the_probe_consumes_it(
    aws: FakeLambda,
    stack_env: DynamoServer,
    moto_sqs: DynamoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_sqs.url, region_name=REGION, **CREDENTIALS)
    queue_url = sqs.create_queue(QueueName=f"probe-{os.getpid()}-{id(aws)}")["QueueUrl"]
    monkeypatch.setenv("PROBE_QUEUE_URL", queue_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_sqs.url)
    store = _store(stack_env)
    for domain in ("good.test", "single.test", "nothing.test"):
        store.put_watch(Watch(domain=domain))

    dispatch = invoke.load_function_handler("dispatch")
    result = dispatch(to_scheduler_event("nightly"), invoke.LocalContext.new("dispatch"))
    assert result == {"due": 3, "queued": 3, "skipped": 0}

    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    assert len(messages) == 3
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
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:probe",
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }
    probe = invoke.load_function_handler("probe")
    assert probe(event, invoke.LocalContext.new("probe")) == {"batchItemFailures": []}
    for domain in ("good.test", "single.test", "nothing.test"):
        [stored] = store.history(domain).items
        assert stored.requester.source is Source.SCHEDULE
        assert stored.requester.schedule_name == "nightly-dispatch"


def test_handlers_import_without_aws_clients_or_the_engine() -> None:
    """Import stays light: no boto3 client, no network, no SMTP engine before a request."""
    for name in ("api", "probe", "dispatch"):
        code = (
            "import sys, app\n"
            "heavy = [m for m in ('boto3', 'bannercheck.scan', 'bannercheck.transport',"
            " 'dns.resolver', 'cryptography') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # any call would fail loudly
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT / "functions" / name,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
