"""The compliance routes through the local stack: verification, audit export, erasure."""

from __future__ import annotations

import csv
import io
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
from bannercheck.verification import to_token

from tests.fixtures.dynamodb import DynamoServer
from tests.lab import Lab

pytestmark = pytest.mark.integration

VERIFY_SECRET = "compliance-api-secret-42"
KEY_ID = "local-key"  # the local gateway's API key id


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Api:
    base: str
    key: str

    def call(self, method: str, path: str, body: Any = None) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "x-api-key": self.key}
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read().decode())


@pytest.fixture
def api(stack_env: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("BANNERCHECK_VERIFY_SECRET", VERIFY_SECRET)
    monkeypatch.setenv("BANNERCHECK_ADMIN_KEY_IDS", KEY_ID)
    invoke.load_function_handler.cache_clear()
    gateway = LocalGateway(("127.0.0.1", 0), api_key=secrets.token_urlsafe(16), api_key_id=KEY_ID)
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()
    try:
        yield Api(gateway.url, gateway.api_key)
    finally:
        gateway.shutdown()
        gateway.server_close()
        invoke.wait_local(60)


def test_verification_says_exactly_what_to_publish(api: Api) -> None:
    reply = api.call("GET", "/verification/B%C3%BCcher.example")
    assert reply.status == 200, reply
    body = reply.json
    assert body["domain"] == "xn--bcher-kva.example"
    assert body["record"] == {
        "name": "_bannercheck.xn--bcher-kva.example",
        "type": "TXT",
        "value": to_token(VERIFY_SECRET, f"api:{KEY_ID}"),
    }
    assert body["record"]["value"] in body["instructions"]
    assert VERIFY_SECRET not in reply.text


def test_verified_policy_refuses_until_the_record_is_published(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANNERCHECK_POLICY", "verified")
    refused = api.call("POST", "/checks", {"domain": "good.test"})
    assert refused.status == 403
    message = refused.json["error"]["message"]
    assert (
        "_bannercheck.good.test" in message and to_token(VERIFY_SECRET, "api:local-key") in message
    )


def test_audit_export_json_and_csv_shows_refusals_too(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.call("POST", "/checks", {"domain": "single.test"}).status == 201
    monkeypatch.setenv("BANNERCHECK_OPT_OUT", "optout.test")
    assert api.call("POST", "/checks", {"domain": "mx.optout.test"}).status == 403
    exported = api.call("GET", "/audit")
    assert exported.status == 200 and exported.headers["Content-Type"].startswith(
        "application/json"
    )
    records = exported.json["records"]
    assert [(r["domain"], r["allowed"], r["decision"], r["source"]) for r in records] == [
        ("single.test", True, "open", "api"),
        ("mx.optout.test", False, "opted_out", "api"),
    ]
    assert records[0]["check_id"] and records[0]["api_key_id"] == KEY_ID
    as_csv = api.call("GET", "/audit?format=csv&since=2020-01-01T00:00:00Z&until=2020-02-01")
    assert as_csv.status == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(as_csv.text))) == []
    # The first export is itself on the record.
    again = api.call("GET", "/audit?format=csv")
    rows = list(csv.DictReader(io.StringIO(again.text)))
    assert [r["action"] for r in rows][-2:] == ["export", "export"]
    bad = api.call("GET", "/audit?since=last-week")
    assert bad.status == 400 and "ISO 8601" in bad.json["error"]["message"]
    assert api.call("GET", "/audit?format=xml").status == 400


def test_admin_routes_need_an_admin_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANNERCHECK_ADMIN_KEY_IDS", "someone-else")
    for method, path in (("GET", "/audit"), ("DELETE", "/checks/single.test")):
        reply = api.call(method, path)
        assert reply.status == 403, (method, path)
        assert "admin API key" in reply.json["error"]["message"]
    # The refused attempts are on the record, as an admin sees them.
    monkeypatch.setenv("BANNERCHECK_ADMIN_KEY_IDS", KEY_ID)
    trail = api.call("GET", "/audit").json["records"]
    assert [(r["action"], r["domain"], r["allowed"], r["decision"]) for r in trail[:2]] == [
        ("export", "*", False, "not_admin"),
        ("erase", "single.test", False, "not_admin"),
    ]
    assert all(r["api_key_id"] == KEY_ID for r in trail[:2])


def test_erasure_deletes_the_checks_and_is_recorded(api: Api) -> None:
    assert api.call("POST", "/checks", {"domain": "single.test"}).status == 201
    assert api.call("PUT", "/watches/single.test", {}).status == 201
    assert api.call("GET", "/checks/single.test").status == 200
    erased = api.call("DELETE", "/checks/single.test")
    assert erased.status == 200 and erased.json == {"domain": "single.test", "deleted": 2}
    assert api.call("GET", "/checks/single.test").status == 404
    assert api.call("GET", "/watches").json == {"watches": []}
    trail = api.call("GET", "/audit").json["records"]
    assert [(r["action"], r["domain"], r["decision"]) for r in trail if r["action"] == "erase"] == [
        ("erase", "single.test", "erased")
    ]


def test_removing_a_watch_is_recorded(api: Api) -> None:
    assert api.call("PUT", "/watches/single.test", {}).status == 201
    assert api.call("DELETE", "/watches/single.test").status == 204
    assert api.call("DELETE", "/watches/single.test").status == 404
    trail = api.call("GET", "/audit").json["records"]
    removals = [r for r in trail if r["action"] == "unwatch"]
    assert [(r["domain"], r["source"], r["api_key_id"], r["decision"]) for r in removals] == [
        ("single.test", "api", KEY_ID, "unwatched"),
        ("single.test", "api", KEY_ID, "not_watched"),
    ]


def test_a_watched_domain_that_opts_out_is_no_longer_checked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.call("PUT", "/watches/single.test", {}).status == 201
    monkeypatch.setenv("BANNERCHECK_OPT_OUT", "single.test")
    tick = api.call("POST", "/_local/tick")
    assert tick.status == 200 and tick.json == {"due": 1, "queued": 0, "skipped": 0}
    invoke.wait_local(60)
    assert api.call("GET", "/checks/single.test").status == 404
    trail = api.call("GET", "/audit").json["records"]
    scheduled = [r for r in trail if r["source"] == "schedule"]
    assert [(r["domain"], r["allowed"], r["decision"]) for r in scheduled] == [
        ("single.test", False, "opted_out")
    ]


def test_a_request_refused_as_in_progress_is_recorded(api: Api, stack_env: DynamoServer) -> None:
    import os

    from bannercheck.store import CheckStore

    store = CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())
    assert store.claim("inflight#good.test", ttl_s=60)  # another instance is checking it
    assert api.call("POST", "/checks", {"domain": "good.test"}).status == 429
    store.release("inflight#good.test")
    trail = api.call("GET", "/audit").json["records"]
    assert [(r["domain"], r["allowed"], r["decision"]) for r in trail] == [
        ("good.test", False, "in_progress")
    ]


def test_verified_policy_allows_a_domain_with_the_published_token(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.lab.spec import LAB_VERIFY_SECRET

    monkeypatch.setenv("BANNERCHECK_POLICY", "verified")
    monkeypatch.setenv("BANNERCHECK_VERIFY_SECRET", LAB_VERIFY_SECRET)
    # The lab publishes _bannercheck.single.test with this API key's token.
    assert api.call("POST", "/checks", {"domain": "single.test"}).status == 201
    assert api.call("POST", "/checks", {"domain": "good.test"}).status == 403
    trail = api.call("GET", "/audit").json["records"]
    assert [(r["domain"], r["decision"]) for r in trail if r["action"] == "check"] == [
        ("single.test", "verified"),
        ("good.test", "not_verified"),
    ]


# --- opt-outs at run time (PUT /opt-outs/{domain}) --------------------------------------
def test_an_opt_out_refuses_checks_of_the_domain_and_below_and_probes_nothing(
    api: Api, lab: Lab
) -> None:
    (ip,) = lab.addresses("mx.single.test")
    before = lab.connections(ip)
    added = api.call("PUT", "/opt-outs/.Single.test", {"reason": "owner's request, ticket 12"})
    assert added.status == 201 and added.headers["Location"] == "/opt-outs/single.test"
    assert {k: added.json[k] for k in ("domain", "added_by", "source", "reason")} == {
        "domain": "single.test",
        "added_by": KEY_ID,
        "source": "api",
        "reason": "owner's request, ticket 12",
    }
    assert api.call("PUT", "/opt-outs/single.test", {"reason": "ticket 13"}).status == 200
    assert [o["reason"] for o in api.call("GET", "/opt-outs").json["opt_outs"]] == ["ticket 13"]

    # mx.single.test has no MX: its A record (the same peer) would be probed.
    for name in ("single.test", "mx.single.test"):
        refused = api.call("POST", "/checks", {"domain": name})
        assert refused.status == 403, name
        assert refused.json["error"]["code"] == "refused"
        assert f"The owner of {name} asked not to be checked" in refused.json["error"]["message"]
        assert "ticket" not in refused.text
    assert api.call("PUT", "/watches/single.test", {}).status == 403
    invoke.wait_local(60)
    assert lab.connections(ip) == before
    assert api.call("GET", "/checks/single.test").status == 404

    assert api.call("DELETE", "/opt-outs/single.test").status == 204
    assert api.call("DELETE", "/opt-outs/single.test").status == 404
    assert api.call("GET", "/opt-outs").json == {"opt_outs": []}
    assert api.call("POST", "/checks", {"domain": "single.test"}).status == 201
    assert lab.connections(ip) > before  # the control: a check does reach the peer

    trail = api.call("GET", "/audit").json["records"]
    assert [(r["action"], r["domain"], r["allowed"], r["decision"]) for r in trail] == [
        ("opt_out", "single.test", True, "opted_out"),
        ("opt_out", "single.test", True, "opt_out_replaced"),
        ("list_opt_outs", "*", True, "admin"),
        ("check", "single.test", False, "opted_out"),
        ("check", "mx.single.test", False, "opted_out"),
        ("watch", "single.test", False, "opted_out"),
        ("lift_opt_out", "single.test", True, "lifted"),
        ("lift_opt_out", "single.test", True, "not_opted_out"),
        ("list_opt_outs", "*", True, "admin"),
        ("check", "single.test", True, "open"),
    ]
    assert trail[0]["detail"] == "owner's request, ticket 12" and trail[0]["api_key_id"] == KEY_ID


def test_opt_out_routes_need_an_admin_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANNERCHECK_ADMIN_KEY_IDS", "someone-else")
    for method, path in (
        ("GET", "/opt-outs"),
        ("PUT", "/opt-outs/single.test"),
        ("DELETE", "/opt-outs/single.test"),
    ):
        reply = api.call(method, path)
        assert reply.status == 403, (method, path)
        assert "needs an admin API key" in reply.json["error"]["message"]
    monkeypatch.setenv("BANNERCHECK_ADMIN_KEY_IDS", KEY_ID)
    assert api.call("GET", "/opt-outs").json == {"opt_outs": []}
    trail = api.call("GET", "/audit").json["records"]
    assert [(r["action"], r["domain"], r["allowed"], r["decision"]) for r in trail[:3]] == [
        ("list_opt_outs", "*", False, "not_admin"),
        ("opt_out", "single.test", False, "not_admin"),
        ("lift_opt_out", "single.test", False, "not_admin"),
    ]


def test_an_opt_out_body_is_checked_like_the_others(api: Api) -> None:
    for body, code in (
        ({"reason": 5}, "invalid_reason"),
        ({"reason": "x" * 501}, "invalid_reason"),
        ({"why": "x"}, "invalid_body"),
        (["single.test"], "invalid_body"),
    ):
        reply = api.call("PUT", "/opt-outs/single.test", body)
        assert (reply.status, reply.json["error"]["code"]) == (400, code), body
    assert api.call("PUT", "/opt-outs/not%20a%20domain").status == 400
    assert api.call("PUT", "/opt-outs/single.test").json["reason"] == ""  # no body: no reason
    assert api.call("GET", "/opt-outs").json["opt_outs"][0]["domain"] == "single.test"


def test_a_watch_whose_owner_opts_out_afterwards_is_skipped_by_the_dispatcher(
    api: Api, lab: Lab
) -> None:
    assert api.call("PUT", "/watches/single.test", {}).status == 201
    assert api.call("PUT", "/opt-outs/single.test", {"reason": "ticket 14"}).status == 201
    (ip,) = lab.addresses("mx.single.test")
    before = lab.connections(ip)
    tick = api.call("POST", "/_local/tick")
    assert tick.status == 200 and tick.json == {"due": 1, "queued": 0, "skipped": 0}
    invoke.wait_local(60)
    assert lab.connections(ip) == before
    assert api.call("GET", "/checks/single.test").status == 404
    trail = api.call("GET", "/audit").json["records"]
    scheduled = [r for r in trail if r["source"] == "schedule"]
    assert [(r["domain"], r["allowed"], r["decision"]) for r in scheduled] == [
        ("single.test", False, "opted_out")
    ]
    # The watch stays (judged again at its next run, a day on), the opt-out wins each time.
    assert [w["domain"] for w in api.call("GET", "/watches").json["watches"]] == ["single.test"]
