"""The point of decision: policy, then rate limits, every outcome in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bannercheck.audit import Action, AuditRecord, AuditTrail
from bannercheck.policy import (
    PolicyConfig,
    PolicyMode,
    Reason,
    admit_request,
    admit_scheduled,
    verify_instructions,
)
from bannercheck.probe_job import RateLimitedError, RefusedError
from bannercheck.ratelimit import RateLimits
from bannercheck.settings import Settings
from bannercheck.store import CheckStore, Requester, Source
from bannercheck.verification import to_token

from tests.fixtures.dynamodb import DynamoServer, dynamo, table  # noqa: F401
from tests.fixtures.reports import sample_report

pytestmark = pytest.mark.integration

SECRET = "admission-test-secret-0815"
SLACK = Requester(source=Source.SLACK, slack_team_id="T1", slack_user_id="U1")
API = Requester(source=Source.API, api_key_id="key-1")
# No DNS is asked in these tests (open and allowlist modes); an unroutable resolver
# on loopback makes any accidental lookup fail fast instead of leaving the machine.
SETTINGS = Settings(resolver="127.0.0.1:9", dns_try_timeout_s=0.1, dns_lifetime_s=0.2)


@pytest.fixture
def store(dynamo: DynamoServer, table: str) -> CheckStore:  # noqa: F811
    return CheckStore(table, client=dynamo.client())


def _trail(store: CheckStore) -> list[AuditRecord]:
    now = datetime.now(UTC)
    return AuditTrail(store).records(now - timedelta(minutes=5), now + timedelta(minutes=1))


def test_allowed_then_cached_then_recorded(store: CheckStore) -> None:
    limits = RateLimits(repeat_interval_s=60)
    first = admit_request(
        "example.test", API, store=store, settings=SETTINGS, config=PolicyConfig(), limits=limits
    )
    assert first.cached is None and first.check_id and first.decision.reason is Reason.OPEN
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    report = sample_report("example.test", check_id=first.check_id, checked_at=now)
    store.put_check(report, API)
    second = admit_request(
        "example.test", SLACK, store=store, settings=SETTINGS, config=PolicyConfig(), limits=limits
    )
    assert second.cached is not None and second.check_id == first.check_id
    trail = _trail(store)
    assert [(r.principal, r.decision, r.check_id, r.allowed) for r in trail] == [
        ("key-1", "open", first.check_id, True),
        ("T1:U1", "cached", first.check_id, True),
    ]


def test_refusals_say_why_and_how_and_are_recorded(store: CheckStore) -> None:
    config = PolicyConfig(
        mode=PolicyMode.ALLOWLIST, allowlist=("ok.test",), opt_out=("ok.test", "gone.test")
    )
    with pytest.raises(RefusedError, match="asked not to be checked") as opted:
        admit_request("ok.test", API, store=store, settings=SETTINGS, config=config)
    assert opted.value.status == 403 and "opt-out list" in str(opted.value)
    with pytest.raises(RefusedError, match="not on the list") as listed:
        admit_request("other.test", SLACK, store=store, settings=SETTINGS, config=config)
    assert "Ask the administrator" in str(listed.value)
    trail = _trail(store)
    assert [(r.domain, r.allowed, r.decision) for r in trail] == [
        ("ok.test", False, "opted_out"),
        ("other.test", False, "not_allowlisted"),
    ]


def test_rate_limited_is_recorded(store: CheckStore) -> None:
    limits = RateLimits(repeat_interval_s=0, per_api_key=1)
    admit_request(
        "a.test", API, store=store, settings=SETTINGS, config=PolicyConfig(), limits=limits
    )
    with pytest.raises(RateLimitedError) as limited:
        admit_request(
            "b.test", API, store=store, settings=SETTINGS, config=PolicyConfig(), limits=limits
        )
    assert limited.value.status == 429 and limited.value.retry_after_s >= 1
    assert [r.decision for r in _trail(store)] == ["open", "rate_limited"]


def test_watch_creation_checks_policy_only(store: CheckStore) -> None:
    from bannercheck.audit import Action

    limits = RateLimits(repeat_interval_s=60, per_slack_user=0)
    admission = admit_request(
        "w.test",
        SLACK,
        store=store,
        settings=SETTINGS,
        config=PolicyConfig(),
        limits=limits,
        action=Action.WATCH,
    )
    assert admission.check_id == "" and admission.cached is None
    assert [(r.action, r.allowed) for r in _trail(store)] == [("watch", True)]


def test_verify_instructions_name_the_exact_record(store: CheckStore) -> None:
    config = PolicyConfig(mode=PolicyMode.VERIFIED, verify_secret=SECRET)
    decision = verify_instructions("example.test", SLACK, store=store, config=config)
    assert decision.txt_name == "_bannercheck.example.test"
    assert decision.txt_value == to_token(SECRET, "slack:T1")
    assert f'"{decision.txt_value}"' in decision.message
    assert [(r.action, r.domain) for r in _trail(store)] == [("verify", "example.test")]
    assert all(SECRET not in r.detail for r in _trail(store))


def test_scheduled_runs_stop_when_the_owner_opts_out(store: CheckStore) -> None:

    tick = Requester(source=Source.SCHEDULE, schedule_name="tick")
    config = PolicyConfig(mode=PolicyMode.ALLOWLIST, opt_out=("gone.test",))
    assert admit_scheduled("kept.test", tick, "C1", store=store, config=config)
    assert not admit_scheduled("mx.gone.test", tick, "C2", store=store, config=config)
    assert [(r.domain, r.source, r.allowed, r.decision, r.check_id) for r in _trail(store)] == [
        ("kept.test", "schedule", True, "scheduled", "C1"),
        ("mx.gone.test", "schedule", False, "opted_out", None),
    ]


def test_an_opt_out_added_at_run_time_wins_at_once_and_is_lifted_at_once(
    store: CheckStore,
) -> None:
    config = PolicyConfig(mode=PolicyMode.ALLOWLIST, allowlist=(".owner.test",))
    admit_request("mx.owner.test", API, store=store, settings=SETTINGS, config=config)
    store.put_opt_out("owner.test", API, "ticket 7")
    for name, who in (("owner.test", API), ("mx.owner.test", SLACK)):
        with pytest.raises(RefusedError, match="asked not to be checked"):
            admit_request(name, who, store=store, settings=SETTINGS, config=config)
    with pytest.raises(RefusedError, match="asked not to be checked"):
        admit_request(
            "a.owner.test", API, store=store, settings=SETTINGS, config=config, action=Action.WATCH
        )
    tick = Requester(source=Source.SCHEDULE, schedule_name="tick")
    assert not admit_scheduled("mx.owner.test", tick, "C1", store=store, config=config)
    store.delete_opt_out("owner.test")
    assert admit_scheduled("mx.owner.test", tick, "C2", store=store, config=config)
    assert [(r.domain, r.action, r.allowed, r.decision) for r in _trail(store)] == [
        ("mx.owner.test", "check", True, "allowlisted"),
        ("owner.test", "check", False, "opted_out"),
        ("mx.owner.test", "check", False, "opted_out"),
        ("a.owner.test", "watch", False, "opted_out"),
        ("mx.owner.test", "check", False, "opted_out"),
        ("mx.owner.test", "check", True, "scheduled"),
    ]


def test_scheduled_runs_stop_when_permission_is_withdrawn(store: CheckStore) -> None:
    """A watch passed the policy when created; a later allowlist or TXT change still counts."""

    tick = Requester(source=Source.SCHEDULE, schedule_name="tick")
    allowlist = PolicyConfig(mode=PolicyMode.ALLOWLIST, allowlists={"api:key-1": ("kept.test",)})
    assert admit_scheduled("kept.test", tick, "C1", store=store, config=allowlist, owner=API)
    assert not admit_scheduled("dropped.test", tick, "C2", store=store, config=allowlist, owner=API)
    # The TXT record cannot be read (nothing answers): not verified, so not probed.
    verified = PolicyConfig(mode=PolicyMode.VERIFIED, verify_secret=SECRET)
    assert not admit_scheduled(
        "kept.test", tick, "C3", store=store, config=verified, owner=SLACK, settings=SETTINGS
    )
    assert [(r.domain, r.source, r.allowed, r.decision, r.check_id) for r in _trail(store)] == [
        ("kept.test", "schedule", True, "scheduled", "C1"),
        ("dropped.test", "schedule", False, "not_allowlisted", None),
        ("kept.test", "schedule", False, "verification_unavailable", None),
    ]


def test_dispatcher_judges_each_watch_for_its_creator(
    store: CheckStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bannercheck.dispatch import dispatch_due
    from bannercheck.store import Watch

    monkeypatch.setenv("BANNERCHECK_POLICY", "allowlist")
    monkeypatch.setenv("BANNERCHECK_ALLOWLISTS", '{"api:key-1": ["kept.test"]}')
    due = "2000-01-01T00:00:00.000Z"
    store.put_watch(Watch(domain="kept.test", next_due=due, created_by=API))
    store.put_watch(Watch(domain="dropped.test", next_due=due, created_by=API))
    sent: list[Mapping[str, Any]] = []

    def send(payloads: Sequence[Mapping[str, Any]]) -> list[int]:
        sent.extend(payloads)
        return list(range(len(payloads)))

    result = dispatch_due(store, send=send)
    assert (result.due, result.queued, result.refused) == (2, 1, 1)
    assert [p["domain"] for p in sent] == ["kept.test"]
