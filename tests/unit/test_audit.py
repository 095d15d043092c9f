"""The audit trail and erasure on the real table (moto server and dynalite)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from bannercheck.audit import (
    Action,
    AuditTrail,
    erase_domain,
    remove_watch,
    to_csv,
    to_json,
    to_range,
)
from bannercheck.store import CheckStore, Requester, Source, Watch

from tests.fixtures.dynamodb import DynamoServer, dynamo, table  # noqa: F401
from tests.fixtures.reports import sample_report

pytestmark = pytest.mark.integration

SLACK = Requester(
    source=Source.SLACK, slack_team_id="T1", slack_user_id="U1", slack_channel_id="C1"
)
API = Requester(source=Source.API, api_key_id="key-1")
T0 = datetime(2026, 12, 1, 23, 59, 0, tzinfo=UTC)


@pytest.fixture
def store(dynamo: DynamoServer, table: str) -> CheckStore:  # noqa: F811
    return CheckStore(table, client=dynamo.client())


def test_records_round_trip_across_days_in_time_order(store: CheckStore) -> None:
    trail = AuditTrail(store)
    trail.record(
        SLACK, "a.test", action=Action.CHECK, allowed=True, decision="open", check_id="C1", at=T0
    )
    trail.record(
        API,
        "b.test",
        action="check",
        allowed=False,
        decision="opted_out",
        detail="owner asked",
        at=T0 + timedelta(minutes=2),
    )  # the next day
    trail.record(
        API, "c.test", action=Action.WATCH, allowed=True, decision="open", at=T0 + timedelta(days=3)
    )
    got = trail.records(T0, T0 + timedelta(days=1))
    assert [(r.domain, r.allowed, r.decision) for r in got] == [
        ("a.test", True, "open"),
        ("b.test", False, "opted_out"),
    ]
    first = got[0]
    assert (first.source, first.principal, first.check_id) == ("slack", "T1:U1", "C1")
    assert (first.slack_team_id, first.slack_user_id, first.api_key_id) == ("T1", "U1", None)
    assert first.at == "2026-12-01T23:59:00.000Z"
    assert got[1].detail == "owner asked"
    assert trail.records(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))[0].domain == "b.test"
    assert trail.records(T0, T0) == []
    with pytest.raises(ValueError, match="at most"):
        trail.records(T0, T0 + timedelta(days=200))


def test_records_expire_with_the_retention(store: CheckStore, dynamo: DynamoServer) -> None:  # noqa: F811
    AuditTrail(store).record(API, "a.test", action="check", allowed=True, decision="open", at=T0)
    items = dynamo.client().scan(TableName=store.table_name)["Items"]
    audit = [i for i in items if i["kind"]["S"] == "audit"]
    assert len(audit) == 1
    expires = int(audit[0]["expires_at"]["N"])
    now = datetime.now(UTC).timestamp()
    assert abs(expires - (now + store.retention_days * 86400)) < 120


def test_export_json_and_csv(store: CheckStore) -> None:
    trail = AuditTrail(store)
    trail.record(SLACK, "a.test", action="check", allowed=True, decision="open", at=T0)
    trail.record(
        API,
        "=cmd|' /C calc'!A0",
        action="check",
        allowed=False,
        decision="not_allowlisted",
        detail='say "hi", ok',
        at=T0,
    )
    records = trail.records(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    data = json.loads(to_json(records))
    assert [r["domain"] for r in data["records"]][:1] == ["a.test"]
    assert data["records"][0]["principal"] == "T1:U1"
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert len(rows) == 2
    assert rows[0]["allowed"] == "true" and rows[0]["check_id"] == ""
    # A spreadsheet must not run a formula smuggled in as a domain.
    assert rows[1]["domain"].startswith("'=")
    assert rows[1]["detail"] == 'say "hi", ok'
    assert to_csv([]).strip().split(",")[0] == "audit_id"


def test_erase_domain_deletes_checks_and_records_it(store: CheckStore) -> None:
    for i in range(3):
        store.put_check(
            sample_report("gone.test", checked_at=f"2026-12-0{i + 1}T00:00:00.000Z"), API
        )
    store.record_delivery("gone.test", "X", "slack_response_url", ok=True)
    store.put_watch(Watch(domain="gone.test"))
    kept = sample_report("kept.test")
    store.put_check(kept, API)
    assert erase_domain(store, "gone.test", API) == 5
    assert store.latest("gone.test") is None
    assert store.deliveries("gone.test", "X") == []
    assert store.get_watch("gone.test") is None
    assert store.get_check("kept.test", kept.check_id) is not None
    now = datetime.now(UTC)
    trail = AuditTrail(store).records(now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert [(r.action, r.domain, r.detail) for r in trail] == [
        ("erase", "gone.test", "5 stored items deleted")
    ]
    assert erase_domain(store, "gone.test", API) == 0


def test_removing_a_watch_is_recorded_with_who_asked(store: CheckStore) -> None:
    store.put_watch(Watch(domain="watched.test"))
    assert remove_watch(store, "watched.test", SLACK)
    assert store.get_watch("watched.test") is None
    assert not remove_watch(store, "watched.test", API)  # nothing left to remove
    now = datetime.now(UTC)
    trail = AuditTrail(store).records(now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert [(r.action, r.domain, r.source, r.principal, r.allowed, r.decision) for r in trail] == [
        ("unwatch", "watched.test", "slack", "T1:U1", True, "unwatched"),
        ("unwatch", "watched.test", "api", "key-1", True, "not_watched"),
    ]


# --- admin helpers (pure) -------------------------------------------------------------------
def test_admin_keys_come_from_the_environment() -> None:
    from bannercheck.audit import admin_key_ids, is_admin

    env = {"BANNERCHECK_ADMIN_KEY_IDS": " adm1, adm2 ,"}
    assert admin_key_ids(env) == {"adm1", "adm2"}
    assert is_admin(Requester(source=Source.API, api_key_id="adm2"), env)
    assert not is_admin(API, env)
    assert not is_admin(SLACK, env)
    assert not is_admin(Requester(source=Source.API), {"BANNERCHECK_ADMIN_KEY_IDS": ""})


def test_export_range_and_format() -> None:
    from bannercheck.audit import to_export, to_range

    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert to_range(None, None, now) == (now - timedelta(days=7), now)
    since, until = to_range("2026-12-01", "2026-12-02T06:00:00Z")
    assert (since.isoformat(), until.isoformat()) == (
        "2026-12-01T00:00:00+00:00",
        "2026-12-02T06:00:00+00:00",
    )
    for bad, message in [
        (("yesterday", None), "ISO 8601"),
        (("2026-12-02", "2026-12-01"), "before"),
        (("2026-01-01", "2026-12-01"), "at most"),
    ]:
        with pytest.raises(ValueError, match=message):
            to_range(*bad, now)
    assert to_export([], "csv")[0].startswith("text/csv")
    assert json.loads(to_export([], "json")[1]) == {"records": []}
    with pytest.raises(ValueError, match="json, csv"):
        to_export([], "xml")


def test_a_capped_export_says_where_the_next_one_starts(store: CheckStore) -> None:
    trail = AuditTrail(store)
    for minute in range(5):
        trail.record(
            API,
            f"d{minute}.test",
            action=Action.CHECK,
            allowed=True,
            decision="open",
            at=T0 + timedelta(minutes=minute),
        )
    window = (T0, T0 + timedelta(hours=1))
    page, next_since = trail.records_page(*window, limit=3)
    assert [r.domain for r in page] == ["d0.test", "d1.test", "d2.test"]
    assert next_since == "2026-12-02T00:02:00.000Z"  # the fourth record's time
    assert next_since is not None
    rest, after = trail.records_page(to_range(next_since, None, now=window[1])[0], window[1])
    assert [r.domain for r in rest] == ["d3.test", "d4.test"]
    assert after is None
    whole, none = trail.records_page(*window, limit=5)
    assert len(whole) == 5 and none is None
