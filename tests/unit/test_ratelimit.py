"""Rate limits on the real table (moto server and dynalite): per domain, per requester."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from bannercheck.ratelimit import (
    Outcome,
    RateLimiter,
    RateLimits,
    limits_from_env,
    to_requester_keys,
)
from bannercheck.store import CheckStore, Requester, Source

from tests.fixtures.dynamodb import DynamoServer, dynamo, table  # noqa: F401
from tests.fixtures.reports import sample_report

pytestmark = pytest.mark.integration

USER = Requester(source=Source.SLACK, slack_team_id="T1", slack_user_id="U1")
TEAMMATE = Requester(source=Source.SLACK, slack_team_id="T1", slack_user_id="U2")
KEY = Requester(source=Source.API, api_key_id="key-1")


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def store(dynamo: DynamoServer, table: str) -> CheckStore:  # noqa: F811
    return CheckStore(table, client=dynamo.client())


def test_repeat_within_interval_returns_the_stored_result(store: CheckStore) -> None:
    limiter = RateLimiter(store, RateLimits(repeat_interval_s=60))
    first = limiter.admit("example.test", KEY)
    assert first.kind is Outcome.RUN
    # While the first check runs there is nothing to return yet: retry shortly.
    busy = limiter.admit("example.test", USER)
    assert busy.kind is Outcome.LIMITED and 1 <= busy.retry_after_s <= 10
    report = sample_report("example.test", checked_at=_iso(datetime.now(UTC)))
    store.put_check(report, KEY)
    again = limiter.admit("example.test", USER)
    assert again.kind is Outcome.CACHED
    assert again.cached is not None and again.cached.report.check_id == report.check_id
    assert "less than 60 s" in again.message
    # Another domain is unaffected.
    assert limiter.admit("other.test", KEY).kind is Outcome.RUN


def test_an_old_result_is_not_served_as_cached(store: CheckStore) -> None:
    old = datetime.now(UTC) - timedelta(seconds=61)
    store.put_check(sample_report("example.test", checked_at=_iso(old)), KEY)
    limiter = RateLimiter(store, RateLimits(repeat_interval_s=60))
    assert limiter.recent("example.test") is None
    assert limiter.admit("example.test", KEY).kind is Outcome.RUN


def test_per_requester_limit_and_window(store: CheckStore) -> None:
    limiter = RateLimiter(store, RateLimits(repeat_interval_s=0, per_api_key=3))
    now = 1_800_000_000.0  # the start of a one-minute window
    kinds = [limiter.admit(f"d{i}.test", KEY, now=now + i).kind for i in range(4)]
    assert kinds == [Outcome.RUN, Outcome.RUN, Outcome.RUN, Outcome.LIMITED]
    refused = limiter.admit("d9.test", KEY, now=now + 50)
    assert refused.kind is Outcome.LIMITED and refused.retry_after_s == 10
    assert "at most 3 a minute" in refused.message
    other = Requester(source=Source.API, api_key_id="key-2")
    assert limiter.admit("d9.test", other, now=now + 50).kind is Outcome.RUN
    # The next window starts afresh.
    assert limiter.admit("d9.test", KEY, now=now + 60).kind is Outcome.RUN


def test_slack_user_and_workspace_both_count(store: CheckStore) -> None:
    limiter = RateLimiter(
        store, RateLimits(repeat_interval_s=0, per_slack_user=2, per_slack_team=3)
    )
    now = 1_800_000_000.0
    assert limiter.admit("a.test", USER, now=now).kind is Outcome.RUN
    assert limiter.admit("b.test", USER, now=now).kind is Outcome.RUN
    assert limiter.admit("c.test", USER, now=now).kind is Outcome.LIMITED  # user limit
    assert limiter.admit("d.test", TEAMMATE, now=now).kind is Outcome.RUN  # team: 3rd
    assert limiter.admit("e.test", TEAMMATE, now=now).kind is Outcome.LIMITED  # team limit


def test_a_limited_requester_does_not_block_the_domain(store: CheckStore) -> None:
    limiter = RateLimiter(store, RateLimits(repeat_interval_s=60, per_api_key=0))
    assert limiter.admit("example.test", KEY).kind is Outcome.LIMITED
    unlimited = RateLimiter(store, RateLimits(repeat_interval_s=60))
    assert unlimited.admit("example.test", USER).kind is Outcome.RUN


def test_concurrent_requests_for_one_domain_run_once(store: CheckStore) -> None:
    limiter = RateLimiter(store, RateLimits(repeat_interval_s=60, per_api_key=1000))
    results: list[Outcome] = []
    lock = threading.Lock()

    def ask() -> None:
        kind = limiter.admit("race.test", KEY).kind
        with lock:
            results.append(kind)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Outcome.RUN) == 1
    assert results.count(Outcome.LIMITED) == 11


def test_requester_keys_hold_ids_only() -> None:
    keys = to_requester_keys(USER, RateLimits())
    assert [k for k, _ in keys] == ["slack-user:T1:U1", "slack-team:T1"]
    assert to_requester_keys(KEY, RateLimits())[0][0] == "api:key-1"


def test_limits_from_env() -> None:
    limits = limits_from_env({"BANNERCHECK_REPEAT_INTERVAL": "5", "BANNERCHECK_RATE_API_KEY": "7"})
    assert limits.repeat_interval_s == 5 and limits.per_api_key == 7
    with pytest.raises(ValueError, match="negative"):
        limits_from_env({"BANNERCHECK_RATE_API_KEY": "-1"})
