"""A bounded load test on the local stack: 50 concurrent clients POST /checks.

The stack is the real one on loopback (LocalGateway -> API function -> probe against the
lab -> moto or dynalite). Every answer must be 201 (checked and stored), 200 (the same
domain was checked moments ago: the stored result, marked ``X-Bannercheck-Cached: true``,
nothing new stored) or 429 (rate limited, including "the domain is being checked right
now": nothing stored); latency stays within the check deadline plus ``SLACK_S``; stored
checks equal the 201 answers, one for one.

``BANNERCHECK_LOAD_SECONDS`` (default 10) and ``BANNERCHECK_LOAD_CLIENTS`` (default 50)
size the run; the README reports a 30 s run.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from bannercheck import invoke
from bannercheck.local.server import LocalGateway

from tests.fixtures.dynamodb import DynamoServer

# Saturates both cores for a while: runs alone, after the parallel suite (see Makefile).
pytestmark = [pytest.mark.integration, pytest.mark.heavy]

SECONDS = float(os.environ.get("BANNERCHECK_LOAD_SECONDS") or 10)
CLIENTS = int(os.environ.get("BANNERCHECK_LOAD_CLIENTS") or 50)
CHECK_TIMEOUT_S = 10.0  # BANNERCHECK_TIMEOUT of the stack (tests/functional/conftest.py)
# What an answer may take beyond the check's deadline: the admission's table reads and
# writes before the probe, storing the report after it, and the HTTP round trip, all
# on a 2-core machine shared with the lab, DynamoDB and the 50 clients.
SLACK_S = 2.0
# Lab domains that answer quickly, good and bad alike.
DOMAINS = (
    "good.test",
    "single.test",
    "implicit.test",
    "cname.test",
    "multiline.test",
    "vrfy.test",
    "version.test",
    "nostarttls.test",
    "nonfqdn.test",
    "nomail.test",
    "nothing.test",
    "nullmx.test",
    "refused.test",
    "reject554.test",
)


@dataclass(frozen=True)
class Answer:
    status: int
    latency_s: float
    check_id: str | None
    domain: str
    cached: str | None  # the X-Bannercheck-Cached header


@pytest.fixture
def gateway(stack_env: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalGateway]:
    monkeypatch.setenv("BANNERCHECK_TIMEOUT", str(CHECK_TIMEOUT_S))
    invoke.load_function_handler.cache_clear()
    server = LocalGateway(("127.0.0.1", 0), api_key=secrets.token_urlsafe(16))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        invoke.wait_local(60)


def _client(url: str, key: str, worker: int, until: float, out: list[Answer]) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=CHECK_TIMEOUT_S + 20)
    n = worker
    try:
        while time.monotonic() < until:
            domain = DOMAINS[n % len(DOMAINS)]
            n += CLIENTS
            body = json.dumps({"domain": domain})
            started = time.monotonic()
            conn.request(
                "POST",
                "/checks",
                body,
                {"Content-Type": "application/json", "x-api-key": key},
            )
            response = conn.getresponse()
            raw = response.read()
            latency = time.monotonic() - started
            data = json.loads(raw) if raw else {}
            cached = response.getheader("X-Bannercheck-Cached")
            out.append(Answer(response.status, latency, data.get("check_id"), domain, cached))
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    finally:
        conn.close()


def test_concurrent_posts_get_documented_answers_and_each_201_is_stored(
    gateway: LocalGateway, stack_env: DynamoServer
) -> None:
    answers: list[Answer] = []
    lock = threading.Lock()
    per_worker: list[list[Answer]] = [[] for _ in range(CLIENTS)]
    until = time.monotonic() + SECONDS
    threads = [
        threading.Thread(
            target=_client, args=(gateway.url, gateway.api_key, i, until, per_worker[i])
        )
        for i in range(CLIENTS)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    invoke.wait_local(60)
    with lock:
        for part in per_worker:
            answers.extend(part)

    statuses = Counter(a.status for a in answers)
    latencies = sorted(a.latency_s for a in answers)
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\nload: {CLIENTS} clients, {elapsed:.1f} s, {len(answers)} requests "
        f"({len(answers) / elapsed:.0f}/s), statuses {dict(sorted(statuses.items()))}, "
        f"latency p50 {p50 * 1000:.0f} ms p99 {p99 * 1000:.0f} ms max {latencies[-1] * 1000:.0f} ms"
    )

    assert answers
    assert set(statuses) <= {200, 201, 429}, statuses
    assert statuses[201] >= 1
    assert latencies[-1] <= CHECK_TIMEOUT_S + SLACK_S
    created = [a for a in answers if a.status == 201]
    assert len({a.check_id for a in created}) == len(created)
    # One stored check per 201, none for the rest.
    client = stack_env.client()
    items = []
    kwargs = {"TableName": os.environ["TABLE_NAME"]}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    stored = {i["check_id"]["S"] for i in items if i.get("kind", {}).get("S") == "check"}
    assert stored == {a.check_id for a in created}
    # A 200 is a stored check of the same domain, and says so; a 201 is not cached.
    for answer in answers:
        if answer.status == 200:
            assert answer.check_id in stored and answer.cached == "true", answer
        elif answer.status == 201:
            assert answer.cached == "false", answer
