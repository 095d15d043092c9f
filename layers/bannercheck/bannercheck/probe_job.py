"""One check, start to finish: decide, run, store, hand off.

Two entry points share this module:

- :func:`request_check` is what the API's ``POST /checks`` calls: it decides
  whether the check may run (the admission hook: policy, rate limits), answers a
  repeat from the store, keeps two concurrent probes of one domain apart, and runs
  the check through the probe function.
- :func:`run_payload` is what the probe function runs for each payload (direct
  invoke or SQS message): run the check, store it *before* handing it off,
  then deliver it to whoever asked (Slack ``response_url``/channel, watch alerts).

Example::

    report = run_payload({"domain": "example.com", "check_id": new_check_id(),
                          "requester": {"source": "api", "api_key_id": "k1"},
                          "reply_to": None}, store=store, settings=settings)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bannercheck.codec import to_dict
from bannercheck.domain import Domain, to_domain
from bannercheck.ids import is_accepted_check_id, new_check_id
from bannercheck.invoke import run_probe
from bannercheck.model import Report
from bannercheck.settings import Settings
from bannercheck.store import CheckStore, Requester, Source, to_requester, to_timestamp

if TYPE_CHECKING:
    from bannercheck.policy import Admission

log = logging.getLogger(__name__)
metrics = Metrics()  # shares its buffer with the handler's Metrics(); flushed there

REPLY_KINDS = ("slack_response_url", "slack_channel")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")  # as to_timestamp
DELIVERY_CLAIM_TTL_S = 86_400
# Kept back from the invocation's remaining time for storing the report and
# delivering it (Slack, with its retries) after the check.
HAND_OFF_MARGIN_S = 5.0
MIN_CHECK_S = 0.5  # too little left: the check gives up at once and says so


class AdmissionError(Exception):
    """Base of the reasons a check is not run; ``code`` is the API's error code."""

    code = "refused"
    status = 403


class RefusedError(AdmissionError):
    """Refused by policy (opted-out domain, not allowed for this requester)."""


class RateLimitedError(AdmissionError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CheckInProgressError(RateLimitedError):
    """A check of the same target is running: the per-target rate limit (429)."""

    code = "check_in_progress"


class BadPayloadError(ValueError):
    """A probe payload that cannot be a check (wrong shape, bad domain)."""


class ProbeBusyError(Exception):
    """Another worker is running this check id right now (SQS: retry later)."""


# The admission hook: the point of decision (policy, rate limits, audit trail).
# Raises an AdmissionError to refuse; returns the check id to run or a cached check.
Admit = Callable[[Domain, Requester, CheckStore, Settings], "Admission"]


def admit_by_policy(
    domain: Domain, requester: Requester, store: CheckStore, settings: Settings
) -> Admission:
    """The deployment's policy (``BANNERCHECK_POLICY``), rate limits and audit trail."""
    from bannercheck.policy import admit_request  # lazy: only the API path needs it

    return admit_request(domain.ascii, requester, store=store, settings=settings)


def admit_watch(
    domain: Domain, requester: Requester, store: CheckStore, settings: Settings
) -> None:
    """The policy for creating a watch (it probes nothing now; scheduled runs rely on it)."""
    from bannercheck.audit import Action
    from bannercheck.policy import admit_request

    admit_request(domain.ascii, requester, store=store, settings=settings, action=Action.WATCH)


@dataclass(frozen=True)
class CheckResult:
    report: dict[str, Any]
    cached: bool  # a recent stored check was returned instead of probing again


@dataclass(frozen=True)
class Job:
    domain: Domain
    check_id: str
    requester: Requester
    reply_to: Mapping[str, Any] | None
    requested_at: str | None = None  # when it was asked for (None: when it is stored)


def to_payload(
    domain: Domain | str,
    requester: Requester,
    *,
    check_id: str | None = None,
    reply_to: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The probe payload of docs/CONTRACTS.md (Lambda invoke and SQS body alike)."""
    return {
        "domain": str(domain),
        "check_id": check_id or new_check_id(),
        "requester": to_dict(requester),
        "reply_to": dict(reply_to) if reply_to else None,
        # A queued check may run minutes later: the record says when it was asked for.
        "requested_at": to_timestamp(),
    }


def to_job(payload: Mapping[str, Any]) -> Job:
    """Validate a payload; raises BadPayloadError with a reason."""
    if not isinstance(payload, Mapping):
        raise BadPayloadError("payload is not an object")
    try:
        domain = to_domain(str(payload.get("domain", "")))
    except ValueError as exc:
        raise BadPayloadError(f"bad domain: {exc}") from exc
    check_id = payload.get("check_id")
    if not is_accepted_check_id(check_id):
        raise BadPayloadError("check_id missing or malformed")
    requester_data = payload.get("requester") or {"source": "cli"}
    try:
        requester = to_requester(requester_data)
    except (ValueError, AttributeError) as exc:
        raise BadPayloadError(f"bad requester: {exc}") from exc
    reply_to = payload.get("reply_to")
    if reply_to is not None and (
        not isinstance(reply_to, Mapping) or reply_to.get("kind") not in REPLY_KINDS
    ):
        raise BadPayloadError("reply_to has an unknown kind")
    requested_at = payload.get("requested_at")
    if requested_at is not None and not (
        isinstance(requested_at, str) and _TIMESTAMP.fullmatch(requested_at)
    ):
        raise BadPayloadError("requested_at is not an ISO 8601 UTC time")
    return Job(
        domain=domain,
        check_id=check_id,
        requester=requester,
        reply_to=reply_to,
        requested_at=requested_at,
    )


def request_check(
    domain: Domain,
    requester: Requester,
    *,
    store: CheckStore,
    settings: Settings,
    admit: Admit = admit_by_policy,
) -> CheckResult:
    """Decide, then run one check synchronously through the probe.

    Raises an AdmissionError subclass when the check is not run.
    """
    # A fresh stored result is answered without probing, so it needs no in-flight
    # claim: repeats arriving together all get it rather than colliding on the claim
    # (the admission still judges the policy and records the cached answer).
    recent = _is_recent(domain, store)
    claimed = False if recent else _claim_inflight(domain, requester, store, settings)
    try:
        admission = admit(domain, requester, store, settings)
        if admission.cached is not None:
            return CheckResult(report=to_dict(admission.cached.report), cached=True)
        if not claimed:  # the stored result aged out between the two reads
            claimed = _claim_inflight(domain, requester, store, settings)
        payload = to_payload(domain, requester, check_id=admission.check_id or None)
        return CheckResult(report=run_probe(payload), cached=False)
    finally:
        if claimed:
            store.release(_inflight_key(domain))


def _inflight_key(domain: Domain) -> str:
    return f"inflight#{domain.ascii}"


def _is_recent(domain: Domain, store: CheckStore) -> bool:
    """Whether the domain has a stored check within the repeat interval (one read)."""
    from bannercheck.ratelimit import RateLimiter, limits_from_env

    return RateLimiter(store, limits_from_env()).recent(domain.ascii) is not None


def _claim_inflight(
    domain: Domain, requester: Requester, store: CheckStore, settings: Settings
) -> bool:
    """Keep two simultaneous probes of one domain apart; raises CheckInProgressError.

    Taken before the admission counts the request, so that a refused attempt costs
    the requester no quota.
    """
    if store.claim(_inflight_key(domain), ttl_s=int(settings.timeout_s) + 5):
        return True
    from bannercheck.policy import record_in_progress  # every refusal is audited

    record_in_progress(domain.ascii, requester, store=store)
    raise CheckInProgressError(
        f"a check of {domain.ascii} is already running; retry shortly", retry_after_s=5
    )


class TableAddressLease:
    """One SMTP session per target address across every probe instance.

    Probes of different domains can share an MX address and run in different
    Lambda instances at once; a claim per address in the table serialises them.
    """

    def __init__(self, store: CheckStore) -> None:
        self._store = store

    def acquire(self, ip: str, ttl_s: int) -> bool:
        return self._store.claim(f"address#{ip}", ttl_s)

    def release(self, ip: str) -> None:
        self._store.release(f"address#{ip}")


def run_payload(
    payload: Mapping[str, Any], *, store: CheckStore, settings: Settings
) -> dict[str, Any]:
    """Run, store, hand off one probe payload; returns the report as a dict.

    Idempotent per check id: a redelivered message returns the stored report
    and never runs the check or posts the result twice.
    """
    job = to_job(payload)
    stage = "check"  # what failed, for the requester: the check, storing it, its hand-off
    try:
        stored = store.get_check(job.domain.ascii, job.check_id)
        if stored is not None:
            report = stored.report
        else:
            # Covers one run; a crashed run's claim lapses before SQS shows the message again.
            if not store.claim(f"probe#{job.check_id}", ttl_s=int(settings.timeout_s) * 2 + 30):
                raise ProbeBusyError(f"check {job.check_id} is already running")
            from bannercheck.scan import run_check  # lazy: the engine is the heavy import

            report = run_check(
                job.domain, settings, check_id=job.check_id, lease=TableAddressLease(store)
            )
            stage = "store"
            report = store.put_check(report, job.requester, requested_at=job.requested_at).report
            _record_metrics(report)
        stage = "hand_off"
        hand_off(report, job, store=store)
    except ProbeBusyError:
        raise  # the other run answers
    except Exception as error:
        _tell_failure(job, stage, error, store=store)
        raise
    result: dict[str, Any] = to_dict(report)
    return result


def _tell_failure(job: Job, stage: str, error: Exception, *, store: CheckStore) -> None:
    """A check that failed anywhere still answers whoever asked, with its check id (Slack)."""
    if not job.reply_to:
        return
    from bannercheck import notify

    try:
        if store.claim(f"failed#{job.check_id}", ttl_s=DELIVERY_CLAIM_TTL_S):
            notify.deliver_failure(
                job.domain.ascii,
                job.check_id,
                notify.to_failure_reason(stage, error),
                job.reply_to,
                store=store,
                stored=stage == "hand_off",
            )
    except Exception:
        # The store cannot take even the claim: the redelivery (SQS, Lambda's retries
        # of an async invoke) answers instead, so the requester is not told twice.
        log.exception("requester not told of the failure", extra={"check_id": job.check_id})


def hand_off(report: Report, job: Job, *, store: CheckStore) -> None:
    """Deliver a stored report to whoever asked, at most once per check."""
    if job.requester.source is Source.SCHEDULE:
        _after_scheduled(report, store=store)
    if job.reply_to and store.claim(f"deliver#{job.check_id}", ttl_s=DELIVERY_CLAIM_TTL_S):
        from bannercheck import notify  # lazy: Slack rendering is not needed otherwise

        notify.deliver(report, job.reply_to, store=store)


def _after_scheduled(report: Report, *, store: CheckStore) -> None:
    watch = store.get_watch(report.domain)
    if watch is None:
        return
    previous = None
    if watch.last_check_id and watch.last_check_id != report.check_id:
        found = store.get_check(report.domain, watch.last_check_id)
        previous = found.report if found else None
    store.record_watch_result(report.domain, report)
    if watch.slack_channel and store.claim(f"alert#{report.check_id}", DELIVERY_CLAIM_TTL_S):
        from bannercheck import notify

        notify.alert_changes(previous, report, watch, store=store)


def _record_metrics(report: Report) -> None:
    metrics.add_metric(name="ChecksRun", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ProbeLatency", unit=MetricUnit.Milliseconds, value=report.duration_ms)
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    for severity, count in sorted(counts.items()):
        metrics.add_metric(name=f"Findings_{severity}", unit=MetricUnit.Count, value=count)


def to_bounded_settings(settings: Settings, context: Any) -> Settings:
    """``settings`` with the check's deadline cut to what the invocation has left.

    A check that outlived the function would die with it: nothing stored and the
    requester never told. Read per payload, as an SQS batch uses the time up.
    """
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return settings
    left_s = remaining_ms() / 1000 - HAND_OFF_MARGIN_S
    if left_s >= settings.timeout_s:
        return settings
    return settings.with_(timeout_s=max(left_s, MIN_CHECK_S))


def handle_event(event: Mapping[str, Any], context: Any) -> Any:
    """The probe function: an SQS batch (partial failures) or one direct payload."""
    from bannercheck.settings import settings_from_env
    from bannercheck.store import cached_store_from_env

    store = cached_store_from_env()
    settings = settings_from_env()
    if "Records" in event:
        return _handle_sqs(event, context, store=store, settings=settings)
    return run_payload(event, store=store, settings=to_bounded_settings(settings, context))


def _handle_sqs(
    event: Mapping[str, Any], context: Any, *, store: CheckStore, settings: Settings
) -> Any:
    import json

    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    def record_handler(record: SQSRecord) -> None:
        try:
            payload = json.loads(record.body)
        except ValueError as exc:
            raise BadPayloadError("message body is not JSON") from exc
        run_payload(payload, store=store, settings=to_bounded_settings(settings, context))

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(dict(event), record_handler, processor, context)
