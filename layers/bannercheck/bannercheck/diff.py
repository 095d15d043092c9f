"""What changed between two checks of the same domain (pure).

Used by ``history`` (what changed between consecutive checks) and by change
alerts of watched domains. Only what someone would act on counts as a change:
informational and passing findings never do, so an alert is never noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bannercheck.model import SEVERITY_ORDER, Finding, Report, Session, Severity

ACTIONABLE = frozenset({Severity.FAIL, Severity.WARN})
DEFAULT_EXPIRY_DAYS = 14


@dataclass(frozen=True)
class BannerChange:
    host: str
    before: str
    after: str


@dataclass(frozen=True)
class CertExpiry:
    host: str
    not_after: str  # ISO 8601 UTC
    days_left: int


@dataclass(frozen=True)
class Changes:
    """The differences worth telling someone about, current vs previous."""

    domain: str
    previous_check_id: str
    current_check_id: str
    verdict_before: str
    verdict_after: str
    new_findings: tuple[Finding, ...] = ()  # new or worsened failures and warnings
    resolved_findings: tuple[Finding, ...] = ()  # as they were in the previous check
    banner_changes: tuple[BannerChange, ...] = ()
    starttls_lost: tuple[str, ...] = ()  # MX host names
    certs_expiring: tuple[CertExpiry, ...] = ()  # newly within the warning window

    @property
    def changed(self) -> bool:
        return bool(
            self.new_findings
            or self.resolved_findings
            or self.banner_changes
            or self.starttls_lost
            or self.certs_expiring
        )


# By host, not address: round-robin DNS or a renumbered MX host must not
# read as "resolved here, new there".
FindingKey = tuple[str, str | None]


def _key(finding: Finding) -> FindingKey:
    return (finding.code, finding.host)


def _actionable(report: Report) -> dict[FindingKey, Finding]:
    found: dict[FindingKey, Finding] = {}
    for finding in report.findings:
        if finding.severity not in ACTIONABLE:
            continue
        seen = found.get(_key(finding))
        if seen is None or SEVERITY_ORDER[finding.severity] < SEVERITY_ORDER[seen.severity]:
            found[_key(finding)] = finding
    return found


def _reach(session: Session | None) -> int:
    """How far one session got: 0 nothing, 1 a greeting, 2 EHLO/HELO answered, 3 TLS up."""
    if session is None:
        return 0
    if session.tls is not None:
        return 3
    if session.ehlo is not None:
        return 2
    return 1 if session.greeting is not None else 0


def _reach_by_host(report: Report) -> dict[str, int]:
    return {
        host.name: max((_reach(a.session) for a in host.addresses), default=0)
        for host in report.dns.hosts
    }


def _looked_again(
    finding: Finding, current: Report, reach_before: dict[str, int], reach_now: dict[str, int]
) -> bool:
    """Whether the current check saw enough to say that ``finding`` is gone.

    A probe that could not look (MX lookup failed, port 25 blocked where the
    probe runs, a 4xx greeting, no TLS handshake this time) has not seen a
    failure go away: "resolved" would be false good news.
    """
    if current.dns.mx_status.inconclusive:
        return False
    if finding.host is None:
        return True
    if finding.host not in reach_now:
        return True  # the host left the MX set: its findings went with it
    return reach_now[finding.host] >= reach_before.get(finding.host, 0)


def to_greeting_text(session: Session) -> str | None:
    """The greeting as one line ("220 mx.example.com ESMTP"), None if none came."""
    if session.greeting is None or not session.greeting.lines:
        return None
    return " / ".join(session.greeting.lines)


def _greetings(report: Report) -> dict[str, tuple[str, ...]]:
    by_host: dict[str, set[str]] = {}
    for host in report.dns.hosts:
        for address in host.addresses:
            if address.session is None:
                continue
            text = to_greeting_text(address.session)
            if text is not None:
                by_host.setdefault(host.name, set()).add(text)
    return {name: tuple(sorted(texts)) for name, texts in by_host.items()}


def offers_starttls(session: Session) -> bool:
    return session.tls is not None or any(k.keyword == "STARTTLS" for k in session.keywords)


def _starttls_by_host(report: Report) -> dict[str, bool]:
    """Per MX host that answered EHLO: whether any of its addresses offered STARTTLS.

    Hosts that could not be reached are left out: losing a host is reported
    by its own findings, not as "STARTTLS gone".
    """
    offered: dict[str, bool] = {}
    for host in report.dns.hosts:
        for address in host.addresses:
            session = address.session
            if session is None or session.ehlo is None or session.ehlo_command != "EHLO":
                continue
            offered[host.name] = offered.get(host.name, False) or offers_starttls(session)
    return offered


def _parse_utc(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def to_days_left(not_after: str, now_iso: str) -> int | None:
    """Whole days from ``now_iso`` to ``not_after`` (negative once expired)."""
    end, now = _parse_utc(not_after), _parse_utc(now_iso)
    if end is None or now is None:
        return None
    return (end - now) // timedelta(days=1)


def _expiring(report: Report, within_days: int) -> dict[str, CertExpiry]:
    soonest: dict[str, CertExpiry] = {}
    for host in report.dns.hosts:
        for address in host.addresses:
            session = address.session
            if session is None or session.tls is None or session.tls.certificate is None:
                continue
            not_after = session.tls.certificate.not_after
            days = to_days_left(not_after, report.checked_at)
            if days is None or days > within_days:
                continue
            seen = soonest.get(host.name)
            if seen is None or days < seen.days_left:
                soonest[host.name] = CertExpiry(host.name, not_after, days)
    return soonest


def to_changes(
    previous: Report, current: Report, *, expiry_days: int = DEFAULT_EXPIRY_DAYS
) -> Changes:
    """Compare two checks of one domain; ``Changes.changed`` is False when nothing did.

    >>> to_changes(report, report).changed
    False
    """
    before, after = _actionable(previous), _actionable(current)
    new = tuple(
        f
        for key, f in after.items()
        if key not in before or SEVERITY_ORDER[f.severity] < SEVERITY_ORDER[before[key].severity]
    )
    reach_before, reach_now = _reach_by_host(previous), _reach_by_host(current)
    resolved = tuple(
        f
        for key, f in before.items()
        if key not in after and _looked_again(f, current, reach_before, reach_now)
    )

    greetings_before, greetings_after = _greetings(previous), _greetings(current)
    banners = tuple(
        BannerChange(name, " | ".join(greetings_before[name]), " | ".join(texts))
        for name, texts in greetings_after.items()
        if name in greetings_before and greetings_before[name] != texts
    )

    tls_before, tls_after = _starttls_by_host(previous), _starttls_by_host(current)
    lost = tuple(
        name for name, offered in tls_after.items() if not offered and tls_before.get(name, False)
    )

    expiring_before = _expiring(previous, expiry_days)
    expiring = tuple(
        e for name, e in _expiring(current, expiry_days).items() if name not in expiring_before
    )

    return Changes(
        domain=current.domain,
        previous_check_id=previous.check_id,
        current_check_id=current.check_id,
        verdict_before=previous.verdict.value,
        verdict_after=current.verdict.value,
        new_findings=tuple(sorted(new, key=lambda f: SEVERITY_ORDER[f.severity])),
        resolved_findings=tuple(sorted(resolved, key=lambda f: SEVERITY_ORDER[f.severity])),
        banner_changes=banners,
        starttls_lost=lost,
        certs_expiring=expiring,
    )
