"""CheckStore against real DynamoDB-compatible servers (moto server and dynalite)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bannercheck.codec import to_dict
from bannercheck.model import Reply
from bannercheck.store import (
    COMPRESS_OVER_BYTES,
    MAX_OPT_OUT_REASON,
    MAX_STORED_FINDINGS,
    NOTE_FINDINGS_CAPPED,
    NOTE_REPLIES_SHORTENED,
    NOTE_TRIMMED,
    TTL,
    CheckStore,
    CursorError,
    Interval,
    Requester,
    Source,
    StoreError,
    Watch,
    table_definition,
)

from tests.fixtures.dynamodb import TEMPLATE, DynamoServer, dynamo, table  # noqa: F401
from tests.fixtures.reports import sample_report

pytestmark = pytest.mark.integration

API = Requester(source=Source.API, api_key_id="key-1")
SLACK = Requester(source=Source.SLACK, slack_team_id="T1", slack_user_id="U1")


@pytest.fixture
def store(dynamo: DynamoServer, table: str) -> CheckStore:  # noqa: F811
    return CheckStore(table, client=dynamo.client())


def test_table_definition_comes_from_the_template() -> None:
    spec = table_definition(str(TEMPLATE))
    assert [k["AttributeName"] for k in spec["KeySchema"]] == ["pk", "sk"]
    assert {i["IndexName"] for i in spec["LocalSecondaryIndexes"]} == {"by_time"}
    assert {i["IndexName"] for i in spec["GlobalSecondaryIndexes"]} == {"by_requester"}


def test_put_and_get_round_trip(store: CheckStore) -> None:
    report = sample_report()
    stored = store.put_check(report, API)
    assert not stored.compressed
    got = store.get_check(report.domain, report.check_id)
    assert got is not None
    assert got.report == report
    assert got.requester == API
    assert got.requested_at == stored.requested_at


def test_unknown_check_is_none(store: CheckStore) -> None:
    assert store.get_check("example.test", "01ARZ3NDEKTSV4RRFFQ69G5FAV") is None
    assert store.latest("example.test") is None


def test_second_put_of_same_check_keeps_the_first(store: CheckStore) -> None:
    report = sample_report()
    store.put_check(report, API)
    store.put_check(dataclasses.replace(report, grade="F"), SLACK)
    got = store.get_check(report.domain, report.check_id)
    assert got is not None and got.report.grade == "B" and got.requester == API


def test_history_is_newest_first_and_paginates(store: CheckStore) -> None:
    base = datetime(2026, 12, 1, tzinfo=UTC)
    reports = [
        sample_report(checked_at=(base + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"))
        for i in range(5)
    ]
    for r in reversed(reports):  # stored out of order on purpose
        store.put_check(r, API)
    store.put_check(sample_report("other.test"), API)

    first = store.history("example.test", limit=2)
    assert [s.report.check_id for s in first.items] == [reports[4].check_id, reports[3].check_id]
    assert first.cursor
    second = store.history("example.test", limit=2, cursor=first.cursor)
    assert [s.report.check_id for s in second.items] == [reports[2].check_id, reports[1].check_id]
    third = store.history("example.test", limit=2, cursor=second.cursor)
    assert [s.report.check_id for s in third.items] == [reports[0].check_id]
    latest = store.latest("example.test")
    assert latest is not None and latest.report.check_id == reports[4].check_id


def test_history_ignores_other_items_of_the_domain(store: CheckStore) -> None:
    report = sample_report()
    store.put_check(report, API)
    store.record_delivery(report.domain, report.check_id, "slack_channel", ok=True, detail="ok")
    page = store.history(report.domain)
    assert [s.report.check_id for s in page.items] == [report.check_id]
    assert store.deliveries(report.domain, report.check_id)[0]["ok"] is True


def test_bad_cursor_is_a_cursor_error(store: CheckStore) -> None:
    for cursor in ("not-base64!!", "eyJ4IjogMX0", "W10"):  # garbage, {"x": 1}, []
        with pytest.raises(CursorError):
            store.history("example.test", cursor=cursor)


@pytest.mark.parametrize("sort_key", ["", "x" * 1100, "CHECK#\ud800"])
def test_cursor_with_a_key_dynamodb_refuses_is_a_cursor_error(
    store: CheckStore, sort_key: str
) -> None:
    # moto runs such a query; dynalite and DynamoDB answer ValidationException (a 500).
    start = {"pk": "DOMAIN#a.test", "sk": sort_key, "lsi1sk": "2026-12-01T00:00:00.000Z#1"}
    cursor = base64.urlsafe_b64encode(json.dumps(start).encode()).decode().rstrip("=")
    with pytest.raises(CursorError):
        store.history("a.test", cursor=cursor)


def test_cursor_of_another_domain_or_index_is_refused(store: CheckStore) -> None:
    for i in range(2):
        store.put_check(sample_report("a.test", checked_at=f"2026-12-0{i + 1}T00:00:00.000Z"), API)
        store.put_check(sample_report("b.test", checked_at=f"2026-12-0{i + 1}T00:00:00.000Z"), API)
    of_a = store.history("a.test", limit=1).cursor
    assert of_a is not None
    with pytest.raises(CursorError):
        store.history("b.test", cursor=of_a)
    with pytest.raises(CursorError):
        store.by_requester(API, cursor=of_a)
    audit = store.by_requester(API, limit=1).cursor
    assert audit is not None
    with pytest.raises(CursorError):
        store.history("a.test", cursor=audit)


def test_audit_by_requester(store: CheckStore) -> None:
    mine = [sample_report(f"d{i}.test") for i in range(3)]
    for i, r in enumerate(mine):
        store.put_check(r, API, requested_at=f"2026-12-03T10:00:0{i}.000Z")
    store.put_check(sample_report("x.test"), SLACK)
    page = store.by_requester(API)
    assert [s.report.domain for s in page.items] == ["d2.test", "d1.test", "d0.test"]
    assert [s.report.domain for s in store.by_requester(SLACK).items] == ["x.test"]


def test_large_report_is_compressed(store: CheckStore) -> None:
    report = sample_report(transcript_lines=3000)
    stored = store.put_check(report, API)
    assert stored.stored_bytes > 0 and stored.compressed
    got = store.get_check(report.domain, report.check_id)
    assert got is not None and got.report == report  # nothing lost


def test_report_over_the_item_limit_is_trimmed_with_a_note(store: CheckStore) -> None:
    # ~1.2 MB of random hex: gzip cannot bring it under 400 KB.
    report = sample_report(transcript_lines=10_000, random_text=True)
    stored = store.put_check(report, API)
    assert NOTE_TRIMMED in stored.report.notes
    got = store.get_check(report.domain, report.check_id)
    assert got is not None
    assert NOTE_TRIMMED in got.report.notes
    assert got.report.findings == report.findings
    session = got.report.sessions()[0]
    assert session.transcript == () and session.transcript_truncated


def test_small_reports_stay_plain_json(store: CheckStore) -> None:
    report = sample_report()
    assert len(str(to_dict(report))) < COMPRESS_OVER_BYTES
    assert not store.put_check(report, API).compressed


def test_retention_sets_ttl(dynamo: DynamoServer, table: str) -> None:  # noqa: F811
    store = CheckStore(table, client=dynamo.client(), retention_days=7)
    report = sample_report()
    store.put_check(report, API)
    item = dynamo.client().get_item(
        TableName=table,
        Key={"pk": {"S": "DOMAIN#example.test"}, "sk": {"S": f"CHECK#{report.check_id}"}},
    )["Item"]
    expires = int(item["expires_at"]["N"])
    assert abs(expires - (time.time() + 7 * 86400)) < 120


def test_claim_is_first_come_once(store: CheckStore) -> None:
    assert store.claim("slack#abc", ttl_s=300)
    assert not store.claim("slack#abc", ttl_s=300)
    assert store.claim("slack#other", ttl_s=300)
    store.release("slack#abc")
    assert store.claim("slack#abc", ttl_s=300)


def test_expired_claim_can_be_taken_again(store: CheckStore) -> None:
    assert store.claim("k", ttl_s=-1)  # already expired, not yet swept by TTL
    assert store.claim("k", ttl_s=300)
    assert not store.claim("k", ttl_s=300)


def test_watch_crud(store: CheckStore) -> None:
    assert list(store.watches()) == []
    w = store.put_watch(
        Watch(domain="a.test", interval=Interval.HOURLY, slack_channel="C1", created_by=API)
    )
    assert w.next_due and w.created_at
    store.put_watch(Watch(domain="b.test"))
    assert store.get_watch("a.test") == w
    assert [x.domain for x in store.watches()] == ["a.test", "b.test"]
    assert store.delete_watch("a.test")
    assert not store.delete_watch("a.test")
    assert store.get_watch("a.test") is None


def test_due_watches_and_advance(store: CheckStore) -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    iso = lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    store.put_watch(Watch(domain="due.test", next_due=iso(now - timedelta(minutes=5))))
    store.put_watch(Watch(domain="now.test", next_due=iso(now)))
    store.put_watch(Watch(domain="later.test", next_due=iso(now + timedelta(minutes=5))))
    due = list(store.due_watches(now))
    assert [w.domain for w in due] == ["due.test", "now.test"]

    advanced = store.advance_watch(due[0], now)
    assert advanced is not None and advanced.next_due == iso(now + timedelta(days=1))
    # An overlapping tick holding the old value loses.
    assert store.advance_watch(due[0], now) is None
    assert [w.domain for w in store.due_watches(now)] == ["now.test"]


def test_record_watch_result(store: CheckStore) -> None:
    store.put_watch(Watch(domain="example.test"))
    report = sample_report()
    store.record_watch_result("example.test", report)
    w = store.get_watch("example.test")
    assert w is not None and w.last_check_id == report.check_id and w.last_verdict == "warn"
    store.record_watch_result("gone.test", report)  # no watch: nothing created
    assert store.get_watch("gone.test") is None


def test_domain_named_attribute_query_passes_only_with_placeholders(
    dynamo: DynamoServer,  # noqa: F811
    table: str,  # noqa: F811
) -> None:
    """Why every expression uses placeholders: DynamoDB rejects reserved words."""
    client = dynamo.client()
    from botocore.exceptions import ClientError

    raw = {
        "TableName": table,
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "domain = :d",
        "ExpressionAttributeValues": {":p": {"S": "WATCH"}, ":d": {"S": "x"}},
    }
    if dynamo.backend == "dynalite":
        with pytest.raises(ClientError, match="reserved keyword"):
            client.query(**raw)
    raw["FilterExpression"] = "#d = :d"
    raw["ExpressionAttributeNames"] = {"#d": "domain"}
    assert client.query(**raw)["Count"] == 0


def test_hostile_replies_over_the_item_limit_are_shortened_not_lost(store: CheckStore) -> None:
    # Ten MX hosts whose greetings are ~60 KB of random hex each (under the reply cap):
    # dropping the transcripts alone leaves ~1.2 MB, far over DynamoDB's 400 KB.
    base = sample_report(transcript_lines=0)
    [address] = base.dns.hosts[0].addresses
    assert address.session is not None
    hosts = []
    for n in range(10):
        lines = tuple(f"220-{os.urandom(2000).hex()}" for _ in range(15))
        greeting = Reply(code=220, lines=lines, texts=tuple(x[4:] for x in lines), truncated=True)
        session = dataclasses.replace(
            address.session, host=f"mx{n}.example.test", greeting=greeting
        )
        hosts.append(
            dataclasses.replace(
                base.dns.hosts[0],
                name=f"mx{n}.example.test",
                addresses=(dataclasses.replace(address, session=session),),
            )
        )
    report = dataclasses.replace(base, dns=dataclasses.replace(base.dns, hosts=tuple(hosts)))

    stored = store.put_check(report, API)
    got = store.get_check(report.domain, report.check_id)
    assert got is not None and got.report == stored.report
    assert NOTE_REPLIES_SHORTENED in got.report.notes
    assert got.report.findings == report.findings
    assert (got.report.verdict, got.report.grade) == (report.verdict, report.grade)
    sessions = got.report.sessions()
    assert [s.host for s in sessions] == [f"mx{n}.example.test" for n in range(10)]
    for s in sessions:
        assert s.greeting is not None and s.greeting.code == 220 and s.greeting.truncated


def test_findings_are_capped_as_the_last_resort(store: CheckStore) -> None:
    base = sample_report()
    [finding] = base.findings
    # 300 findings, each with 4 KB of incompressible evidence: ~660 KB even gzipped.
    findings = tuple(
        dataclasses.replace(finding, evidence=os.urandom(2048).hex()) for _ in range(300)
    )
    report = dataclasses.replace(base, findings=findings)

    store.put_check(report, API)
    got = store.get_check(report.domain, report.check_id)
    assert got is not None
    assert NOTE_FINDINGS_CAPPED in got.report.notes
    assert len(got.report.findings) == MAX_STORED_FINDINGS
    assert [f.code for f in got.report.findings] == [f.code for f in findings[:MAX_STORED_FINDINGS]]
    assert (got.report.verdict, got.report.grade) == (report.verdict, report.grade)


# --- opt-outs ---------------------------------------------------------------------------
def test_opt_outs_are_added_listed_replaced_and_lifted(store: CheckStore) -> None:
    assert list(store.opt_outs()) == []
    added, created = store.put_opt_out("example.com", API, "ticket 1234")
    assert created and added.added_by == API and added.reason == "ticket 1234"
    assert not store.put_opt_out("example.com", SLACK, "x" * 2000)[1]
    store.put_opt_out("other.test", API)
    store.put_watch(Watch(domain="example.com"))  # another kind of item, by domain too
    listed = list(store.opt_outs())
    assert [(o.domain, o.added_by, len(o.reason)) for o in listed] == [
        ("example.com", SLACK, MAX_OPT_OUT_REASON),
        ("other.test", API, 0),
    ]
    assert [w.domain for w in store.watches()] == ["example.com"]
    assert store.delete_opt_out("example.com")
    assert not store.delete_opt_out("example.com")
    assert [o.domain for o in store.opt_outs()] == ["other.test"]


def test_an_opt_out_covers_the_domain_and_every_name_below_it(store: CheckStore) -> None:
    store.put_opt_out("example.com", API, "parent")
    store.put_opt_out("mx.example.com", API, "closer")
    assert store.find_opt_out("example.com").reason == "parent"  # type: ignore[union-attr]
    assert store.find_opt_out("a.b.example.com").reason == "parent"  # type: ignore[union-attr]
    assert store.find_opt_out("x.mx.example.com").reason == "closer"  # type: ignore[union-attr]
    for name in ("notexample.com", "com", "example.org", "example.com.evil.test"):
        assert store.find_opt_out(name) is None, name
    store.delete_opt_out("example.com")
    assert store.find_opt_out("a.example.com") is None  # lifted at once: nothing cached


def test_opt_outs_do_not_expire_with_the_retention(store: CheckStore) -> None:
    store.put_opt_out("example.com", API)
    item = store.client.get_item(
        TableName=store.table_name,
        Key={"pk": {"S": "OPTOUT"}, "sk": {"S": "DOMAIN#example.com"}},
    )["Item"]
    assert TTL not in item and item["kind"] == {"S": "opt_out"}


class _Unprocessed:
    """The real client, except that BatchGetItem leaves every key unprocessed
    ``times`` times first, as DynamoDB does when it throttles."""

    def __init__(self, client: Any, times: int) -> None:
        self._client = client
        self.times = times
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.times:
            return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}
        return dict(self._client.batch_get_item(**kwargs))


def test_unprocessed_keys_are_asked_again_and_never_read_as_no_opt_out(
    store: CheckStore,
) -> None:
    store.put_opt_out("example.com", API)
    throttled = _Unprocessed(store.client, times=2)
    retrying = CheckStore(store.table_name, client=throttled)
    assert retrying.find_opt_out("mx.example.com") is not None
    assert throttled.calls == 3
    never = CheckStore(store.table_name, client=_Unprocessed(store.client, times=99))
    with pytest.raises(StoreError, match="opt-out list could not be read"):
        never.find_opt_out("mx.example.com")
