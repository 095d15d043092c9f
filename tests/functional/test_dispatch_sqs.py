"""The dispatcher against an SQS endpoint that takes only part of what is sent.

boto3 talks over real HTTP to a small SQS ``SendMessageBatch`` endpoint on loopback
(the JSON protocol botocore speaks). It fails what real SQS can fail: single entries
of a batch (``Failed``, as SQS answers for an internal error) and a whole batch (an
error answer). moto's SQS accepts every well-formed message, so it cannot show this.
A watch whose message was not queued must stay due and be queued by the next tick;
a queued one must move on and not be queued again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from bannercheck.dispatch import DispatchResult, dispatch_due
from bannercheck.store import CheckStore, Watch

from tests.fixtures.dynamodb import DynamoServer
from tests.unit.test_compliance_template import dynamodb_actions

DUE = "2000-01-01T00:00:00.000Z"


class FakeSqs(ThreadingHTTPServer):
    """``SendMessageBatch`` on loopback; records the bodies it accepted."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SqsHandler)
        self.accepted: list[dict[str, Any]] = []
        self.fail_domains: set[str] = set()  # entries answered as Failed
        self.fail_batches: set[int] = set()  # n-th batch (from 0) answered with an error
        self.batches = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SqsHandler(BaseHTTPRequestHandler):
    server: FakeSqs

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if target != "AmazonSQS.SendMessageBatch":
            self._reply(400, {"__type": "com.amazonaws.sqs#InvalidAction", "message": target})
            return
        with self.server.lock:
            batch = self.server.batches
            self.server.batches += 1
            if batch in self.server.fail_batches:
                error = {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "gone"}
                self._reply(400, error, {"x-amzn-query-error": "QueueDoesNotExist;Sender"})
                return
            ok, failed = [], []
            for entry in request["Entries"]:
                body = json.loads(entry["MessageBody"])
                if body["domain"] in self.server.fail_domains:
                    failed.append(
                        {
                            "Id": entry["Id"],
                            "SenderFault": False,
                            "Code": "InternalError",
                            "Message": "try again",
                        }
                    )
                    continue
                self.server.accepted.append(body)
                md5 = hashlib.md5(entry["MessageBody"].encode()).hexdigest()
                ok.append(
                    {"Id": entry["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5}
                )
        self._reply(200, {"Successful": ok, "Failed": failed})

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def sqs(stack_env: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSqs]:
    """The dispatch function's AWS mode: no BANNERCHECK_LOCAL, boto3 for SQS."""
    monkeypatch.delenv("BANNERCHECK_LOCAL")
    fake = FakeSqs()
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", fake.url)
    monkeypatch.setenv("PROBE_QUEUE_URL", f"{fake.url}/123456789012/probe")
    try:
        yield fake
    finally:
        fake.shutdown()
        fake.server_close()


def test_only_queued_watches_move_on_the_rest_are_queued_by_the_next_tick(
    sqs: FakeSqs, stack_env: DynamoServer
) -> None:
    import os

    client = stack_env.client()
    calls: set[str] = set()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.add(model.name))
    store = CheckStore(os.environ["TABLE_NAME"], client=client)
    domains = [f"w{i:02d}.test" for i in range(12)]  # two batches: 10 and 2
    for domain in domains:
        store.put_watch(Watch(domain=domain, next_due=DUE))
    sqs.fail_domains = {"w03.test", "w07.test"}  # single entries of the first batch
    sqs.fail_batches = {1}  # the whole second batch
    before = datetime.now(UTC).isoformat()
    made: set[str] = set()  # DynamoDB calls of the dispatcher alone

    def tick() -> DispatchResult:
        calls.clear()
        result = dispatch_due(store, schedule_name="nightly")
        made.update(calls)
        return result

    first = tick()

    unsent = {"w03.test", "w07.test", "w10.test", "w11.test"}
    assert (first.due, first.queued, first.unsent, first.skipped) == (12, 8, 4, 0)
    assert sorted(m["domain"] for m in sqs.accepted) == sorted(set(domains) - unsent)
    assert set(first.check_ids) == {m["check_id"] for m in sqs.accepted}
    for domain in domains:
        watch = store.get_watch(domain)
        assert watch is not None
        if domain in unsent:
            assert watch.next_due == DUE, domain  # still due: not skipped for an interval
        else:
            assert watch.next_due > before, domain

    # SQS is well again: the next tick queues exactly what was left, nothing twice.
    sqs.fail_domains, sqs.fail_batches = set(), set()
    second = tick()
    assert (second.due, second.queued, second.unsent) == (4, 4, 0)
    assert sorted(m["domain"] for m in sqs.accepted) == sorted(domains)
    assert tick().due == 0
    # What the template's DispatchFunction statements allow (no DeleteItem, no GetItem).
    assert made <= dynamodb_actions("DispatchFunction"), made
    assert all(w.next_due > before for w in store.watches())


def test_overlapping_ticks_queue_a_watch_once(sqs: FakeSqs, stack_env: DynamoServer) -> None:
    import os

    store = CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())
    store.put_watch(Watch(domain="w00.test", next_due=DUE))
    # A tick that read the watch as due, after another tick has taken it.
    [stale] = store.due_watches()
    assert dispatch_due(store).queued == 1
    store.put_watch(stale)  # as it was when the second tick read it
    late = dispatch_due(store)
    assert (late.due, late.queued, late.skipped) == (1, 0, 1)
    assert [m["domain"] for m in sqs.accepted] == ["w00.test"]
