"""The HTTPS API end to end through the local stack's HTTP server.

Requests go over a real socket to ``LocalGateway``, become REST API events,
run ``functions/api/app.py``, which runs the probe (in-process, as ``make run``
does) against the lab's DNS and SMTP servers and stores in moto or dynalite.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bannercheck import invoke
from bannercheck.local.server import LocalGateway
from bannercheck.store import CheckStore

from tests.fixtures.dynamodb import DynamoServer
from tests.reportcheck import assert_valid_report


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Client:
    base: str
    key: str

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = "") -> Reply:
        data = body if isinstance(body, bytes) else None
        if body is not None and data is None:
            data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["x-api-key"] = key or self.key
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, hdrs, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, hdrs, raw = error.code, dict(error.headers), error.read()
        return Reply(status, hdrs, json.loads(raw) if raw else None)


@pytest.fixture
def api(stack_env: DynamoServer) -> Iterator[Client]:
    gateway = LocalGateway(("127.0.0.1", 0), api_key=secrets.token_urlsafe(16))
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()
    try:
        yield Client(gateway.url, gateway.api_key)
    finally:
        gateway.shutdown()
        gateway.server_close()
        invoke.wait_local(60)


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    message = reply.body["error"]["message"]
    assert isinstance(message, str) and message and "Traceback" not in message


def test_post_check_stores_and_returns_the_report(api: Client) -> None:
    created = api.call("POST", "/checks", {"domain": "good.test"})
    assert created.status == 201, created
    report = created.body
    assert_valid_report(report)
    assert report["domain"] == "good.test"
    assert report["dns"]["mx_status"] == "ok"
    assert [h["name"] for h in report["dns"]["hosts"]] == ["mx1.good.test", "mx2.good.test"]
    assert created.headers["Location"] == f"/checks/good.test/{report['check_id']}"

    one = api.call("GET", created.headers["Location"])
    assert one.status == 200 and one.body == report

    listing = api.call("GET", "/checks/good.test")
    assert listing.status == 200
    assert listing.body["latest"] == report
    assert [h["check_id"] for h in listing.body["history"]] == [report["check_id"]]
    assert listing.body["history"][0]["source"] == "api"
    # The local stack serves the API at its root: its links have no stage to follow.
    assert listing.body["history"][0]["href"] == created.headers["Location"]
    assert listing.body["cursor"] is None


def test_unicode_domain_is_accepted_and_stored_as_a_labels(api: Client) -> None:
    reply = api.call("POST", "/checks", {"domain": "Bücher.test"})
    assert reply.status == 201, reply
    assert reply.body["domain"] == "xn--bcher-kva.test"
    assert reply.body["domain_unicode"] == "bücher.test"
    assert reply.body["dns"]["mx_status"] == "nxdomain"


def test_repeat_within_the_interval_is_answered_from_the_store(api: Client) -> None:
    first = api.call("POST", "/checks", {"domain": "single.test"})
    again = api.call("POST", "/checks", {"domain": "single.test"})
    assert (first.status, again.status) == (201, 200)
    assert again.body["check_id"] == first.body["check_id"]
    assert len(api.call("GET", "/checks/single.test").body["history"]) == 1
    # Said in so many words, not only by the status: a stored result, and how old.
    assert first.headers["X-Bannercheck-Cached"] == "false" and "Age" not in first.headers
    assert again.headers["X-Bannercheck-Cached"] == "true"
    assert 0 <= int(again.headers["Age"]) < 60
    assert again.headers["Location"] == first.headers["Location"]


def test_repeat_while_another_check_runs_gets_the_stored_result(
    api: Client, stack_env: DynamoServer
) -> None:
    import os

    first = api.call("POST", "/checks", {"domain": "single.test"})
    assert first.status == 201, first
    # Another API instance is answering a repeat of its own at this moment.
    store = CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())
    assert store.claim("inflight#single.test", ttl_s=60)
    try:
        again = api.call("POST", "/checks", {"domain": "single.test"})
    finally:
        store.release("inflight#single.test")
    assert again.status == 200, again
    assert again.body["check_id"] == first.body["check_id"]
    assert again.headers["X-Bannercheck-Cached"] == "true"


def test_history_paginates_newest_first(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANNERCHECK_REPEAT_INTERVAL", "0")
    ids = [
        api.call("POST", "/checks", {"domain": "nothing.test"}).body["check_id"] for _ in range(3)
    ]
    seen: list[str] = []
    cursor = ""
    for _ in range(3):
        page = api.call(
            "GET", f"/checks/nothing.test?limit=1{'&cursor=' + cursor if cursor else ''}"
        )
        assert page.status == 200, page
        assert page.body["latest"]["check_id"] == ids[-1]
        seen += [h["check_id"] for h in page.body["history"]]
        cursor = page.body["cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_gateway_refuses_requests_without_the_api_key(api: Client) -> None:
    assert_error(api.call("POST", "/checks", {"domain": "good.test"}, key=None), 403, "gateway")
    assert_error(api.call("GET", "/watches", key="wrong"), 403, "gateway")


def _cursor(**keys: str) -> str:
    """A history cursor of good.test as the store encodes one, with ``keys`` changed."""
    start = {"pk": "DOMAIN#good.test", "sk": "CHECK#1", "lsi1sk": "2026-12-03T18:00:00.000Z#1"}
    raw = json.dumps({**start, **keys}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/checks", b"{not json", 400, "invalid_json"),
        ("POST", "/checks", b"[1, 2]", 400, "invalid_body"),
        ("POST", "/checks", {}, 400, "invalid_domain"),
        ("POST", "/checks", {"domain": 42}, 400, "invalid_domain"),
        ("POST", "/checks", {"domain": "https://good.test/"}, 400, "invalid_domain"),
        ("POST", "/checks", {"domain": "postmaster@good.test"}, 400, "invalid_domain"),
        ("POST", "/checks", {"domain": "192.0.2.1"}, 400, "invalid_domain"),
        ("POST", "/checks", {"domain": "x" * 300}, 400, "invalid_domain"),
        ("POST", "/checks", b'{"domain": "' + b"a" * 5000 + b'"}', 413, "too_large"),
        ("GET", "/checks/never-checked.test", None, 404, "not_found"),
        ("GET", "/checks/good.test/01ARZ3NDEKTSV4RRFFQ69G5FAV", None, 404, "not_found"),
        ("GET", "/checks/bad_domain!", None, 400, "invalid_domain"),
        ("GET", "/checks/good.test?limit=0", None, 400, "invalid_limit"),
        ("GET", "/checks/good.test?limit=abc", None, 400, "invalid_limit"),
        ("GET", "/checks/good.test?cursor=bm9wZQ", None, 400, "invalid_cursor"),
        # Keys DynamoDB (and dynalite) refuse, moto accepts: empty or over 1024 bytes.
        ("GET", "/checks/good.test?cursor=" + _cursor(sk=""), None, 400, "invalid_cursor"),
        ("GET", "/checks/good.test?cursor=" + _cursor(sk="x" * 1100), None, 400, "invalid_cursor"),
        ("GET", "/checks/good.test/" + "A" * 2000, None, 400, "invalid_check_id"),
        ("GET", "/checks/good.test/01ARZ3NDEKTSV4RRFFQ69G5FAV%0A", None, 400, "invalid_check_id"),
        ("GET", "/nothing-here", None, 404, "not_found"),
        ("PUT", "/watches/good.test", {"interval": "yearly"}, 400, "invalid_interval"),
        ("PUT", "/watches/good.test", {"slack_channel": "#general"}, 400, "invalid_channel"),
        ("DELETE", "/watches/unwatched.test", None, 404, "not_found"),
    ],
)
def test_errors_are_json_with_the_right_status(
    api: Client, method: str, path: str, body: Any, status: int, code: str
) -> None:
    assert_error(api.call(method, path, body), status, code)


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "says"),
    [
        ("POST", "/checks", [{"domain": "good.test"}], "invalid_body", "JSON object"),
        ("POST", "/checks", "good.test", "invalid_body", "JSON object"),
        ("POST", "/checks", None, "invalid_domain", '{"domain": "example.com"}'),
        ("POST", "/checks", {"domain": None}, "invalid_domain", '{"domain": "example.com"}'),
        ("POST", "/checks", {"domain": ["good.test"]}, "invalid_domain", "253 characters"),
        ("POST", "/checks", {"domain": "good.test", "watch": True}, "invalid_body", "field watch"),
        ("PUT", "/watches/good.test", ["hourly"], "invalid_body", "JSON object"),
        ("PUT", "/watches/good.test", {"interval": 24}, "invalid_interval", "hourly, daily"),
        ("PUT", "/watches/good.test", {"interval": None}, "invalid_interval", "hourly, daily"),
        ("PUT", "/watches/good.test", {"slack_channel": 123}, "invalid_channel", "C0123ABCD"),
        ("PUT", "/watches/good.test", {"slack_channel": "C01\n"}, "invalid_channel", "C0123"),
        ("PUT", "/watches/good.test", {"slack_team_id": "T-1"}, "invalid_team", "T0123ABCD"),
        ("PUT", "/watches/good.test", {"channel": "C0123ABCD"}, "invalid_body", "field channel"),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_naming_the_field(
    api: Client, method: str, path: str, body: Any, code: str, says: str
) -> None:
    reply = api.call(method, path, body)
    assert_error(reply, 400, code)
    assert says in reply.body["error"]["message"], reply
    # Refused before anything ran or was stored.
    assert api.call("GET", "/watches").body == {"watches": []}
    assert_error(api.call("GET", "/checks/good.test"), 404, "not_found")


def test_policy_refusal_is_403(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANNERCHECK_POLICY", "allowlist")
    monkeypatch.setenv("BANNERCHECK_ALLOWLIST", "good.test")
    assert_error(api.call("POST", "/checks", {"domain": "single.test"}), 403, "refused")
    assert_error(api.call("PUT", "/watches/single.test", {}), 403, "refused")
    assert api.call("POST", "/checks", {"domain": "good.test"}).status == 201


def test_rate_limit_is_429_with_retry_after(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANNERCHECK_RATE_API_KEY", "1")
    assert api.call("POST", "/checks", {"domain": "nothing.test"}).status == 201
    limited = api.call("POST", "/checks", {"domain": "nomail.test"})
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0


def test_check_already_running_is_429(api: Client, stack_env: DynamoServer) -> None:
    import os

    # Another API instance holds the in-flight claim for this domain.
    store = CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())
    assert store.claim("inflight#good.test", ttl_s=60)
    assert_error(api.call("POST", "/checks", {"domain": "good.test"}), 429, "check_in_progress")
    store.release("inflight#good.test")
    assert api.call("POST", "/checks", {"domain": "good.test"}).status == 201


def test_watches_crud(api: Client) -> None:
    assert api.call("GET", "/watches").body == {"watches": []}
    created = api.call(
        "PUT", "/watches/good.test", {"interval": "hourly", "slack_channel": "C0123ABCD"}
    )
    assert created.status == 201, created
    assert created.headers["Location"] == "/watches/good.test"
    assert api.call("DELETE", created.headers["Location"]).status == 204
    created = api.call(
        "PUT", "/watches/good.test", {"interval": "hourly", "slack_channel": "C0123ABCD"}
    )
    assert created.status == 201, created
    assert created.body["interval"] == "hourly" and created.body["slack_channel"] == "C0123ABCD"
    updated = api.call("PUT", "/watches/good.test", {"interval": "weekly"})
    assert updated.status == 200
    assert updated.body["created_at"] == created.body["created_at"]
    listed = api.call("GET", "/watches").body["watches"]
    assert [(w["domain"], w["interval"]) for w in listed] == [("good.test", "weekly")]
    delete = api.call("DELETE", "/watches/good.test")
    assert delete.status == 204 and delete.body is None
    assert api.call("GET", "/watches").body == {"watches": []}


def test_tick_dispatches_due_watches_to_the_probe(api: Client) -> None:
    assert api.call("PUT", "/watches/single.test", {}).status == 201
    tick = api.call("POST", "/_local/tick", key=None)
    assert tick.status == 200 and tick.body == {"due": 1, "queued": 1, "skipped": 0}
    invoke.wait_local(60)
    listing = api.call("GET", "/checks/single.test")
    assert listing.status == 200
    assert [h["source"] for h in listing.body["history"]] == ["schedule"]
    watch = api.call("GET", "/watches").body["watches"][0]
    assert watch["last_check_id"] == listing.body["latest"]["check_id"]
    # Not due again until the next interval.
    assert api.call("POST", "/_local/tick", key=None).body == {"due": 0, "queued": 0, "skipped": 0}
