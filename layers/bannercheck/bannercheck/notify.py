"""Sending results to Slack: a command's ``response_url`` or a channel.

Called by the probe function after the report is stored, so a message never
points at a check that does not exist. Each delivery is retried with
exponential backoff on what can heal (network errors, HTTP 5xx, rate limits)
and its outcome is recorded next to the check in the store.

Example::

    deliver(report, {"kind": "slack_response_url", "url": url}, store=store)
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bannercheck.diff import Changes, to_changes
from bannercheck.model import Report
from bannercheck.render.slack import (
    Message,
    to_alert_message,
    to_failure_message,
    to_message,
    to_unrendered_message,
)
from bannercheck.slack import secrets

if TYPE_CHECKING:
    from bannercheck.store import CheckStore, Watch

log = logging.getLogger(__name__)

KIND_RESPONSE_URL = "slack_response_url"
KIND_CHANNEL = "slack_channel"
KIND_ALERT = "slack_alert"
SLACK_HOOKS_PREFIX = "https://hooks.slack.com/"
DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF_S = 0.5
DEFAULT_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 30.0
# Errors of chat.postMessage worth another try; the rest (channel_not_found,
# not_in_channel, invalid_auth, ...) will not heal by themselves.
RETRYABLE_API_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


@dataclass(frozen=True)
class DeliveryPolicy:
    attempts: int = DEFAULT_ATTEMPTS
    backoff_s: float = DEFAULT_BACKOFF_S  # doubles after every failed attempt
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Delivery:
    """What happened to one message."""

    kind: str
    ok: bool
    attempts: int
    detail: str  # "HTTP 200", "channel_not_found", "URLError: ..."


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    retry: bool
    detail: str
    retry_after_s: float | None = None


class DeliveryError(ValueError):
    """A ``reply_to`` that cannot be delivered to (unknown kind, disallowed URL)."""


def policy_from_env(environ: Mapping[str, str] | None = None) -> DeliveryPolicy:
    env = os.environ if environ is None else environ
    return DeliveryPolicy(
        attempts=int(env.get("BANNERCHECK_DELIVERY_ATTEMPTS") or DEFAULT_ATTEMPTS),
        backoff_s=float(env.get("BANNERCHECK_DELIVERY_BACKOFF") or DEFAULT_BACKOFF_S),
    )


def check_response_url(url: str, environ: Mapping[str, str] | None = None) -> None:
    """Refuse URLs that are not Slack's, so a payload cannot make us POST anywhere.

    Loopback is allowed outside Lambda only (the local stack and tests); inside
    Lambda, loopback is the runtime API.
    """
    env = os.environ if environ is None else environ
    if url.startswith(SLACK_HOOKS_PREFIX):
        return
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https") and "AWS_LAMBDA_RUNTIME_API" not in env:
        host = parts.hostname or ""
        try:
            if host == "localhost" or ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise DeliveryError(f"response_url is not a Slack URL: {parts.scheme}://{parts.hostname}")


def _post_json(
    url: str, body: Mapping[str, Any], timeout_s: float, headers: Mapping[str, str] | None = None
) -> tuple[int, str, Mapping[str, str]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return (
                response.status,
                response.read().decode("utf-8", "replace"),
                dict(response.headers),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace"), dict(error.headers or {})


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return min(float(headers.get("Retry-After", "")), MAX_RETRY_AFTER_S)
    except ValueError:
        return None


def _http_attempt(status: int, headers: Mapping[str, str]) -> _Attempt:
    if 200 <= status < 300:
        return _Attempt(True, False, f"HTTP {status}")
    retry = status == 429 or status >= 500
    return _Attempt(
        False, retry, f"HTTP {status}", _retry_after(headers) if status == 429 else None
    )


def _to_response_url(url: str, message: Message, policy: DeliveryPolicy) -> Callable[[], _Attempt]:
    def attempt() -> _Attempt:
        status, _body, headers = _post_json(url, message, policy.timeout_s)
        return _http_attempt(status, headers)

    return attempt


def _to_channel(
    channel: str, message: Message, policy: DeliveryPolicy, token: str, api: str
) -> Callable[[], _Attempt]:
    body = {"channel": channel, "unfurl_links": False, "unfurl_media": False, **message}

    def attempt() -> _Attempt:
        status, text, headers = _post_json(
            api + "chat.postMessage", body, policy.timeout_s, {"Authorization": f"Bearer {token}"}
        )
        result = _http_attempt(status, headers)
        if not result.ok:
            return result
        try:
            answer = json.loads(text)
        except ValueError:
            return _Attempt(False, True, "chat.postMessage: not JSON")
        if answer.get("ok") is True:
            return _Attempt(True, False, f"ts={answer.get('ts', '')}")
        error = str(answer.get("error", "unknown_error"))
        return _Attempt(False, error in RETRYABLE_API_ERRORS, error, _retry_after(headers))

    return attempt


def _with_retries(attempt: Callable[[], _Attempt], policy: DeliveryPolicy) -> tuple[_Attempt, int]:
    result = _Attempt(False, False, "not attempted")
    for number in range(1, max(policy.attempts, 1) + 1):
        try:
            result = attempt()
        # HTTPException: an answer that is not HTTP (BadStatusLine, IncompleteRead),
        # which is not an OSError but heals like one.
        except (OSError, http.client.HTTPException) as error:
            result = _Attempt(False, True, f"{type(error).__name__}: {error}")
        if result.ok or not result.retry or number == policy.attempts:
            return result, number
        delay = policy.backoff_s * 2 ** (number - 1)
        time.sleep(max(delay, result.retry_after_s or 0.0))
    return result, max(policy.attempts, 1)


def send(
    message: Message,
    reply_to: Mapping[str, Any],
    *,
    policy: DeliveryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> Delivery:
    """Send one message where ``reply_to`` says (no store involved)."""
    policy = policy or policy_from_env(environ)
    kind = str(reply_to.get("kind", ""))
    if kind == KIND_RESPONSE_URL:
        url = str(reply_to.get("url", ""))
        check_response_url(url, environ)
        body = {
            "response_type": reply_to.get("response_type", "ephemeral"),
            "replace_original": bool(reply_to.get("replace_original", False)),
            **message,
        }
        attempt = _to_response_url(url, body, policy)
    elif kind in (KIND_CHANNEL, KIND_ALERT):
        token = secrets.bot_token(environ)
        attempt = _to_channel(
            str(reply_to["channel"]), message, policy, token, secrets.api_url(environ)
        )
    else:
        raise DeliveryError(f"unknown reply_to kind {kind!r}")
    result, attempts = _with_retries(attempt, policy)
    return Delivery(kind=kind, ok=result.ok, attempts=attempts, detail=result.detail)


def _send_and_record(
    message: Message,
    reply_to: Mapping[str, Any],
    domain: str,
    check_id: str,
    *,
    store: CheckStore,
    policy: DeliveryPolicy | None,
    environ: Mapping[str, str] | None,
    kind: str | None = None,
) -> Delivery:
    try:
        delivery = send(message, reply_to, policy=policy, environ=environ)
    except (DeliveryError, secrets.SlackConfigError, KeyError) as error:
        delivery = Delivery(str(reply_to.get("kind", "")), False, 0, f"not sent: {error}")
    kind = kind or delivery.kind
    detail = f"{delivery.detail} after {delivery.attempts} attempt(s)"
    if not delivery.ok:
        log.warning("slack delivery failed", extra={"check_id": check_id, "detail": detail})
    store.record_delivery(domain, check_id, kind, ok=delivery.ok, detail=detail)
    return delivery


def deliver(
    report: Report,
    reply_to: Mapping[str, Any] | None,
    *,
    store: CheckStore,
    policy: DeliveryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> Delivery | None:
    """Post the findings message for a stored report; None when nobody asked for one.

    Ephemeral results (to a ``response_url``) carry the "Share in channel" button.
    """
    if not reply_to:
        return None
    shareable = reply_to.get("kind") == KIND_RESPONSE_URL
    try:
        message = to_message(report, shareable=shareable)
    except Exception:
        # The boundary: the report is stored, so a rendering bug of ours must not
        # leave the requester with "Checking…" and nothing after it.
        log.exception("findings message not rendered", extra={"check_id": report.check_id})
        message = to_unrendered_message(report.domain, report.check_id)
    return _send_and_record(
        message,
        reply_to,
        report.domain,
        report.check_id,
        store=store,
        policy=policy,
        environ=environ,
    )


def to_failure_reason(stage: str, error: BaseException) -> str:
    """What the requester is told about a failed check, by where it failed.

    >>> to_failure_reason("store", RuntimeError())
    'its result could not be stored'
    """
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    if stage == "store":
        return "its result could not be stored"
    if isinstance(error, TimeoutError | ConnectTimeoutError | ReadTimeoutError):
        return "it timed out"
    return "an internal error stopped it"


def deliver_failure(
    domain: str,
    check_id: str,
    reason: str,
    reply_to: Mapping[str, Any] | None,
    *,
    store: CheckStore,
    policy: DeliveryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
    stored: bool = False,
) -> Delivery | None:
    """Tell the requester that a check crashed or ran out of time, with its id.

    ``stored``: the check finished and is stored, only handing it on failed.
    """
    if not reply_to:
        return None
    if stored:
        message = to_unrendered_message(domain, check_id)
    else:
        message = to_failure_message(domain, check_id, reason)
    return _send_and_record(
        message, reply_to, domain, check_id, store=store, policy=policy, environ=environ
    )


def alert_changes(
    previous: Report | None,
    current: Report,
    watch: Watch,
    *,
    store: CheckStore,
    policy: DeliveryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> Changes | None:
    """Post what changed since the previous scheduled check to the watch's channel.

    Returns the changes when a message was due (sent or not: the outcome is
    recorded), None when there is nothing to say: no previous check, no
    channel, or nothing changed.
    """
    if previous is None or not watch.slack_channel:
        return None
    changes = to_changes(previous, current)
    if not changes.changed:
        return None
    _send_and_record(
        to_alert_message(changes, current),
        {"kind": KIND_CHANNEL, "channel": watch.slack_channel, "team_id": watch.slack_team_id},
        current.domain,
        current.check_id,
        store=store,
        policy=policy,
        environ=environ,
        kind=KIND_ALERT,
    )
    return changes
