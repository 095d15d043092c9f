"""Who may check which domain: the deployment's policy, allowlists, opt-outs.

``BANNERCHECK_POLICY`` picks the mode:

- ``open`` (default): any public domain; the probe only ever takes non-intrusive steps.
- ``allowlist``: only listed domains (``example.com``) or suffixes (``.example.com``:
  the domain and every name below it), globally or per Slack workspace / API key.
- ``verified``: the domain publishes ``_bannercheck.<domain> TXT "<token>"`` with the
  token issued to the requester's workspace or API key.

The opt-out list (owners who asked not to be probed) always wins, in every mode. It
has two parts: ``BANNERCHECK_OPT_OUT`` (deployed with the stack) and the opt-outs an
admin adds at run time (``PUT /opt-outs/{domain}``), kept in the table and read for
every decision (:func:`find_table_opt_out`). :func:`check_policy` is the pure
judgement; :func:`authorize` adds the one DNS lookup the ``verified`` mode needs.

Example::

    config = policy_from_env()
    decision = authorize("example.com", requester, config, settings)
    if not decision.allowed:
        print(decision.message, decision.how_to)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from bannercheck.audit import Action, AuditTrail
from bannercheck.domain import DomainError, to_domain
from bannercheck.ids import new_check_id
from bannercheck.model import DnsStatus
from bannercheck.ratelimit import Outcome, RateLimiter, RateLimits, limits_from_env
from bannercheck.settings import Settings, settings_from_env
from bannercheck.store import CheckStore, OptOut, Requester, Source, StoredCheck
from bannercheck.verification import (
    VerificationLookup,
    resolve_verification,
    to_record_name,
    to_token,
)


class PolicyMode(str, Enum):
    OPEN = "open"
    ALLOWLIST = "allowlist"
    VERIFIED = "verified"


class Reason(str, Enum):
    """Why a request was allowed or refused (stored in the audit trail)."""

    OPEN = "open"
    ALLOWLISTED = "allowlisted"
    VERIFIED = "verified"
    SCHEDULED = "scheduled"  # a watch, authorised when it was created
    OPTED_OUT = "opted_out"
    NOT_ALLOWLISTED = "not_allowlisted"
    NOT_VERIFIED = "not_verified"
    VERIFICATION_UNAVAILABLE = "verification_unavailable"  # DNS failed: try again
    RATE_LIMITED = "rate_limited"
    IN_PROGRESS = "in_progress"  # the domain is being checked by another request
    CACHED = "cached"
    ERASED = "erased"


@dataclass(frozen=True)
class Decision:
    """One answer to "may this requester check this domain?"."""

    allowed: bool
    reason: Reason
    message: str  # one sentence for the requester
    how_to: str = ""  # how to get permission, when refused
    txt_name: str | None = None  # verified mode: what to publish
    txt_value: str | None = None


@dataclass(frozen=True)
class PolicyConfig:
    mode: PolicyMode = PolicyMode.OPEN
    allowlist: tuple[str, ...] = ()  # for every requester
    # Per scope: "slack:<team id>" or "api:<api key id>".
    allowlists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    opt_out: tuple[str, ...] = ()
    verify_secret: str = field(default="", repr=False)  # never printed or logged
    # In AWS: the Secrets Manager secret holding verify_secret, fetched when needed.
    verify_secret_name: str = ""
    contact: str = "the administrator of this bannercheck deployment"


class PolicyConfigError(ValueError):
    """A policy setting that cannot be understood; the message names it."""


def _entries(text: str, setting: str) -> tuple[str, ...]:
    """Comma-separated names in the A-label form requests arrive in.

    ``Bücher.example`` must match the request ``xn--bcher-kva.example``: an opt-out
    written in Unicode would otherwise never match and the owner would still be probed.
    """
    out = []
    for raw in text.replace(";", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        suffix = entry.startswith(".")
        try:
            name = to_domain(entry[1:] if suffix else entry).ascii
        except DomainError as exc:
            raise PolicyConfigError(
                f"{setting}: {entry!r} is not a domain name ({exc}); "
                "write example.com, or .example.com for it and every name below it"
            ) from None
        out.append("." + name if suffix else name)
    return tuple(out)


def policy_from_env(environ: Mapping[str, str] | None = None) -> PolicyConfig:
    """``BANNERCHECK_POLICY``, ``_ALLOWLIST``, ``_ALLOWLISTS`` (JSON), ``_OPT_OUT``,
    ``_VERIFY_SECRET_NAME`` (or, locally, ``_VERIFY_SECRET``), ``_POLICY_CONTACT``.

    The ``verified`` mode fetches its secret here (cached), so a deployment missing
    it fails on the first request instead of refusing everyone."""
    env = os.environ if environ is None else environ
    raw_mode = (env.get("BANNERCHECK_POLICY") or "open").strip().lower()
    try:
        mode = PolicyMode(raw_mode)
    except ValueError:
        choices = ", ".join(m.value for m in PolicyMode)
        raise PolicyConfigError(f"BANNERCHECK_POLICY={raw_mode!r}: use one of {choices}") from None
    scoped: dict[str, tuple[str, ...]] = {}
    if env.get("BANNERCHECK_ALLOWLISTS"):
        try:
            data = json.loads(env["BANNERCHECK_ALLOWLISTS"])
        except ValueError as exc:
            raise PolicyConfigError("BANNERCHECK_ALLOWLISTS is not JSON") from exc
        if not isinstance(data, dict):
            raise PolicyConfigError('BANNERCHECK_ALLOWLISTS must be {"slack:T…": ["example.com"]}')
        for scope, names in data.items():
            if isinstance(names, str):
                names = [names]
            if not isinstance(names, list):
                raise PolicyConfigError(f"BANNERCHECK_ALLOWLISTS[{scope!r}] must be a list")
            scoped[str(scope)] = _entries(
                ",".join(str(n) for n in names), f"BANNERCHECK_ALLOWLISTS[{scope!r}]"
            )
    config = PolicyConfig(
        mode=mode,
        allowlist=_entries(env.get("BANNERCHECK_ALLOWLIST", ""), "BANNERCHECK_ALLOWLIST"),
        allowlists=scoped,
        opt_out=_entries(env.get("BANNERCHECK_OPT_OUT", ""), "BANNERCHECK_OPT_OUT"),
        verify_secret=env.get("BANNERCHECK_VERIFY_SECRET", ""),
        verify_secret_name=env.get("BANNERCHECK_VERIFY_SECRET_NAME", ""),
        contact=env.get("BANNERCHECK_POLICY_CONTACT") or PolicyConfig.contact,
    )
    if mode is PolicyMode.VERIFIED:
        config = with_verify_secret(config)
        if not config.verify_secret:
            raise PolicyConfigError(
                "BANNERCHECK_POLICY=verified needs BANNERCHECK_VERIFY_SECRET_NAME "
                "(a Secrets Manager secret) or, locally, BANNERCHECK_VERIFY_SECRET"
            )
    return config


def with_verify_secret(config: PolicyConfig) -> PolicyConfig:
    """``config`` holding its verification secret, fetched by name when only that is set."""
    if config.verify_secret or not config.verify_secret_name:
        return config
    from bannercheck.secret import fetch_secret  # lazy: boto3 only when a secret is needed

    return replace(config, verify_secret=fetch_secret(config.verify_secret_name))


def to_scope(requester: Requester) -> str | None:
    """The scope tokens and allowlists belong to: a workspace or an API key."""
    if requester.source is Source.SLACK and requester.slack_team_id:
        return f"slack:{requester.slack_team_id}"
    if requester.source is Source.API and requester.api_key_id:
        return f"api:{requester.api_key_id}"
    return None


def matches(domain: str, entry: str) -> bool:
    """``example.com`` matches itself; ``.example.com`` also every name below it.

    >>> matches("mx.example.com", ".example.com"), matches("mx.example.com", "example.com")
    (True, False)
    """
    domain = domain.lower().rstrip(".")
    if entry.startswith("."):
        base = entry[1:]
        return domain == base or domain.endswith(entry)
    return domain == entry


def is_opted_out(domain: str, config: PolicyConfig) -> bool:
    """An owner's opt-out covers the domain and every name below it."""
    return any(matches(domain, e if e.startswith(".") else "." + e) for e in config.opt_out)


def find_table_opt_out(domain: str, config: PolicyConfig, store: CheckStore) -> OptOut | None:
    """The table's opt-out covering ``domain``; not looked up when the env list refuses."""
    return None if is_opted_out(domain, config) else store.find_opt_out(domain)


def to_verification_instructions(
    domain: str, requester: Requester, config: PolicyConfig
) -> Decision:
    """What this requester must publish to prove control of ``domain`` (no DNS)."""
    scope = to_scope(requester)
    if scope is None or not config.verify_secret:
        return Decision(
            allowed=False,
            reason=Reason.NOT_VERIFIED,
            message="Domain verification is only available to Slack workspaces and API keys "
            "of a deployment with a verification secret.",
            how_to=f"Ask {config.contact}.",
        )
    name = to_record_name(domain)
    value = to_token(config.verify_secret, scope)
    return Decision(
        allowed=False,
        reason=Reason.NOT_VERIFIED,
        message=f"To prove you control {domain}, publish a TXT record {name} "
        f'with the value "{value}".',
        how_to=f'Publish {name}. 3600 IN TXT "{value}", wait for DNS to update, then try again.',
        txt_name=name,
        txt_value=value,
    )


def check_policy(
    domain: str,
    requester: Requester,
    config: PolicyConfig,
    verification: VerificationLookup | None = None,
    *,
    opt_out: OptOut | None = None,
) -> Decision:
    """The judgement, pure: ``verification`` is the TXT lookup (verified mode only),
    ``opt_out`` the table's opt-out covering ``domain``, if any."""
    # The same refusal for both lists: the admin's note in the table is not for requesters.
    if opt_out is not None or is_opted_out(domain, config):
        return Decision(
            allowed=False,
            reason=Reason.OPTED_OUT,
            message=f"The owner of {domain} asked not to be checked by this service.",
            how_to=f"If you own {domain} and want checks again, ask {config.contact} "
            "to remove it from the opt-out list.",
        )
    if requester.source is Source.SCHEDULE:
        return Decision(True, Reason.SCHEDULED, "A watch, allowed when it was created.")
    if config.mode is PolicyMode.OPEN:
        return Decision(True, Reason.OPEN, "Any public domain may be checked.")
    if config.mode is PolicyMode.ALLOWLIST:
        scope = to_scope(requester)
        entries = config.allowlist + (config.allowlists.get(scope, ()) if scope else ())
        if any(matches(domain, e) for e in entries):
            return Decision(True, Reason.ALLOWLISTED, f"{domain} is on the allowlist.")
        who = "your Slack workspace" if requester.source is Source.SLACK else "your API key"
        return Decision(
            allowed=False,
            reason=Reason.NOT_ALLOWLISTED,
            message=f"{domain} is not on the list of domains {who} may check.",
            how_to=f"Ask {config.contact} to add {domain} (or .{domain} for its subdomains) "
            f"to the allowlist for {scope or who}.",
        )
    instructions = to_verification_instructions(domain, requester, config)
    if instructions.txt_value is None:
        return instructions
    if verification is None or verification.status.inconclusive:
        status = verification.status.value if verification else "not looked up"
        return Decision(
            allowed=False,
            reason=Reason.VERIFICATION_UNAVAILABLE,
            message=f"The verification record {instructions.txt_name} could not be read "
            f"({status}).",
            how_to="Try again in a minute. " + instructions.how_to,
            txt_name=instructions.txt_name,
            txt_value=instructions.txt_value,
        )
    if verification.status is DnsStatus.OK and instructions.txt_value in verification.texts:
        return Decision(True, Reason.VERIFIED, f"{domain} is verified for {to_scope(requester)}.")
    return Decision(
        allowed=False,
        reason=Reason.NOT_VERIFIED,
        message=f"{domain} is not verified for you: {instructions.txt_name} does not hold "
        "your token.",
        how_to=instructions.how_to,
        txt_name=instructions.txt_name,
        txt_value=instructions.txt_value,
    )


def authorize(
    domain: str,
    requester: Requester,
    config: PolicyConfig,
    settings: Settings,
    *,
    opt_out: OptOut | None = None,
) -> Decision:
    """:func:`check_policy` with the TXT lookup done when (and only when) it matters."""
    verification = None
    if (
        config.mode is PolicyMode.VERIFIED
        and requester.source is not Source.SCHEDULE
        and opt_out is None
        and not is_opted_out(domain, config)
        and to_scope(requester) is not None
        and config.verify_secret
    ):
        verification = resolve_verification(domain, settings)
    return check_policy(domain, requester, config, verification, opt_out=opt_out)


@dataclass(frozen=True)
class Admission:
    """A request that may go ahead: run ``check_id`` now, or answer with ``cached``."""

    check_id: str
    decision: Decision
    cached: StoredCheck | None = None


def admit_request(
    domain: str,
    requester: Requester,
    *,
    store: CheckStore,
    settings: Settings,
    config: PolicyConfig | None = None,
    limits: RateLimits | None = None,
    action: Action = Action.CHECK,
) -> Admission:
    """The point of decision for every front: policy, then rate limits, all recorded.

    Raises ``RefusedError`` (policy, opt-out) or ``RateLimitedError`` from
    ``bannercheck.probe_job``; their message says why and how to get permission.
    ``action=Action.WATCH`` applies the policy only (creating a watch probes nothing).
    """
    from bannercheck.probe_job import RateLimitedError, RefusedError

    config = config if config is not None else policy_from_env()
    trail = AuditTrail(store)
    opt_out = find_table_opt_out(domain, config, store)
    decision = authorize(domain, requester, config, settings, opt_out=opt_out)
    if not decision.allowed:
        trail.record(
            requester,
            domain,
            action=action,
            allowed=False,
            decision=decision.reason.value,
            detail=decision.message,
        )
        raise RefusedError(f"{decision.message} {decision.how_to}".strip())
    if action is not Action.CHECK:
        trail.record(requester, domain, action=action, allowed=True, decision=decision.reason.value)
        return Admission(check_id="", decision=decision)
    limiter = RateLimiter(store, limits if limits is not None else limits_from_env())
    rate = limiter.admit(domain, requester)
    if rate.kind is Outcome.LIMITED:
        trail.record(
            requester,
            domain,
            action=action,
            allowed=False,
            decision=Reason.RATE_LIMITED.value,
            detail=rate.message,
        )
        raise RateLimitedError(rate.message, retry_after_s=rate.retry_after_s)
    if rate.cached is not None:
        cached_id = rate.cached.report.check_id
        trail.record(
            requester,
            domain,
            action=action,
            allowed=True,
            decision=Reason.CACHED.value,
            check_id=cached_id,
            detail=rate.message,
        )
        return Admission(check_id=cached_id, decision=decision, cached=rate.cached)
    check_id = new_check_id()
    trail.record(
        requester,
        domain,
        action=action,
        allowed=True,
        decision=decision.reason.value,
        check_id=check_id,
    )
    return Admission(check_id=check_id, decision=decision)


def verify_instructions(
    domain: str, requester: Requester, *, store: CheckStore, config: PolicyConfig | None = None
) -> Decision:
    """What to publish to verify ``domain`` (``/bannercheck verify``, the API); recorded."""
    # Outside the verified mode the secret is fetched only here, when asked for.
    config = with_verify_secret(config if config is not None else policy_from_env())
    decision = to_verification_instructions(domain, requester, config)
    AuditTrail(store).record(
        requester,
        domain,
        action=Action.VERIFY,
        allowed=decision.txt_value is not None,
        decision=decision.reason.value,
    )
    return decision


def admit_scheduled(
    domain: str,
    requester: Requester,
    check_id: str,
    *,
    store: CheckStore,
    config: PolicyConfig | None = None,
    owner: Requester | None = None,
    settings: Settings | None = None,
) -> bool:
    """A watch's scheduled run: allowed unless permission has gone since; recorded.

    The opt-out always wins, one added after the watch was created too. With
    ``owner`` (who created the watch) the run is also judged as a request of that
    owner under today's policy: a domain taken off the allowlist, or whose
    verification record was removed, is no longer probed on schedule. No rate
    limit applies to the schedule.
    """
    config = config if config is not None else policy_from_env()
    opt_out = find_table_opt_out(domain, config, store)
    decision = check_policy(domain, requester, config, opt_out=opt_out)
    if decision.allowed and owner is not None and config.mode is not PolicyMode.OPEN:
        granted = authorize(domain, owner, config, settings or settings_from_env())
        if not granted.allowed:
            decision = granted
    AuditTrail(store).record(
        requester,
        domain,
        action=Action.CHECK,
        allowed=decision.allowed,
        decision=decision.reason.value,
        check_id=check_id if decision.allowed else None,
        detail="" if decision.allowed else decision.message,
    )
    return decision.allowed


def record_in_progress(domain: str, requester: Requester, *, store: CheckStore) -> None:
    """Put a request refused because the domain is being checked right now on the record."""
    AuditTrail(store).record(
        requester,
        domain,
        action=Action.CHECK,
        allowed=False,
        decision=Reason.IN_PROGRESS.value,
        detail="another check of this domain was running",
    )
