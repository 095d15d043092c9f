"""Rate limits: per requester (Slack user, workspace, API key) and per target domain.

Built on the table's conditional writes, so every function instance shares them:

- A domain checked less than ``repeat_interval_s`` ago (default 60 s) is not probed
  again: the stored result is returned, marked cached. While the first check is
  still running, repeats are told to retry shortly (nothing stored yet to return).
- Each requester key has a fixed one-minute window counter; over its limit the
  request is refused with a ``Retry-After``.

Example::

    limiter = RateLimiter(store)
    outcome = limiter.admit("example.com", requester)
    if outcome.kind is Outcome.CACHED: ...  # answer with outcome.cached.report
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from bannercheck.store import PK, SK, TTL, CheckStore, Requester, Source, StoredCheck

WINDOW_S = 60


@dataclass(frozen=True)
class RateLimits:
    repeat_interval_s: int = 60  # per target domain
    per_slack_user: int = 10  # checks per minute
    per_slack_team: int = 60
    per_api_key: int = 30
    per_other: int = 30


def limits_from_env(environ: Mapping[str, str] | None = None) -> RateLimits:
    """``BANNERCHECK_REPEAT_INTERVAL`` and ``BANNERCHECK_RATE_<KIND>`` per minute."""
    env = os.environ if environ is None else environ
    base = RateLimits()

    def _int(name: str, default: int) -> int:
        raw = env.get(name)
        if not raw:
            return default
        value = int(raw)
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return value

    return RateLimits(
        repeat_interval_s=_int("BANNERCHECK_REPEAT_INTERVAL", base.repeat_interval_s),
        per_slack_user=_int("BANNERCHECK_RATE_SLACK_USER", base.per_slack_user),
        per_slack_team=_int("BANNERCHECK_RATE_SLACK_TEAM", base.per_slack_team),
        per_api_key=_int("BANNERCHECK_RATE_API_KEY", base.per_api_key),
        per_other=_int("BANNERCHECK_RATE_OTHER", base.per_other),
    )


class Outcome(str, Enum):
    RUN = "run"  # probe now
    CACHED = "cached"  # answer with the stored result
    LIMITED = "limited"  # refuse; retry later


@dataclass(frozen=True)
class RateDecision:
    kind: Outcome
    message: str = ""
    retry_after_s: int = 0
    cached: StoredCheck | None = None


def to_requester_keys(requester: Requester, limits: RateLimits) -> tuple[tuple[str, int], ...]:
    """(counter key, limit per minute) for every key the requester counts against."""
    if requester.source is Source.SLACK:
        team = requester.slack_team_id or "-"
        return (
            (f"slack-user:{team}:{requester.slack_user_id or '-'}", limits.per_slack_user),
            (f"slack-team:{team}", limits.per_slack_team),
        )
    if requester.source is Source.API:
        return ((f"api:{requester.api_key_id or '-'}", limits.per_api_key),)
    return ((f"{requester.source.value}:{requester.principal}", limits.per_other),)


def to_age_s(checked_at: str, now: float | None = None) -> float:
    """Seconds since ``checked_at`` (ISO 8601, UTC when unzoned); inf when unreadable.

    >>> to_age_s("2026-12-01T00:00:00.000Z", now=1796083230.5)
    30.5
    """
    if now is None:
        now = time.time()
    try:
        t = datetime.fromisoformat(checked_at.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return now - t.timestamp()


class RateLimiter:
    """Shares ``store``'s boto3 client and table."""

    def __init__(self, store: CheckStore, limits: RateLimits | None = None) -> None:
        self.store = store
        self.limits = limits or RateLimits()

    def recent(self, domain: str, now: float | None = None) -> StoredCheck | None:
        """The domain's latest stored check when younger than the repeat interval."""
        if self.limits.repeat_interval_s <= 0:
            return None
        latest = self.store.latest(domain)
        if latest is None:
            return None
        age = to_age_s(latest.report.checked_at, now)
        return latest if age < self.limits.repeat_interval_s else None

    def take(self, key: str, limit: int, now: float | None = None) -> int:
        """Count one request against ``key``; 0 when allowed, else seconds to wait."""
        t = int(now if now is not None else time.time())
        window = t - t % WINDOW_S
        if limit <= 0:  # this kind of requester may not run checks at all
            return window + WINDOW_S - t
        client = self.store.client
        try:
            client.update_item(
                TableName=self.store.table_name,
                Key={PK: {"S": f"RATE#{key}"}, SK: {"S": str(window)}},
                UpdateExpression="ADD #n :one SET #ttl = :ttl, #kind = :kind",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "count", "#ttl": TTL, "#kind": "kind"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(window + 2 * WINDOW_S)},
                    ":kind": {"S": "rate"},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return max(1, window + WINDOW_S - t)
        return 0

    def admit(self, domain: str, requester: Requester, now: float | None = None) -> RateDecision:
        """Cached, limited or run: the domain first (cheap for everyone), then the requester."""
        cached = self.recent(domain, now)
        if cached is not None:
            return RateDecision(
                Outcome.CACHED,
                f"{domain} was checked less than {self.limits.repeat_interval_s} s ago; "
                "this is that result.",
                cached=cached,
            )
        interval = self.limits.repeat_interval_s
        domain_key = f"rate#domain#{domain}"
        if interval > 0 and not self.store.claim(domain_key, interval):
            return RateDecision(
                Outcome.LIMITED,
                f"{domain} is being checked right now; its result will be available shortly.",
                retry_after_s=max(1, min(interval, 10)),
            )
        for key, limit in to_requester_keys(requester, self.limits):
            wait = self.take(key, limit, now)
            if wait:
                if interval > 0:
                    self.store.release(domain_key)
                return RateDecision(
                    Outcome.LIMITED,
                    f"Too many checks: at most {limit} a minute for {key.split(':', 1)[0]}.",
                    retry_after_s=wait,
                )
        return RateDecision(Outcome.RUN)
