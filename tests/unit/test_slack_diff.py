"""What changed between two checks: the basis of history and change alerts."""

from __future__ import annotations

from dataclasses import replace

from bannercheck.diff import to_changes, to_days_left
from bannercheck.model import DnsStatus, MxHost, Report, Severity, Verdict

from tests.slack_mock import reports


def _again(report: Report, **changes: object) -> Report:
    return replace(report, check_id="01JEXAMPLE00000000000000ZZ", **changes)  # type: ignore[arg-type]


def test_nothing_changed() -> None:
    report = reports.failures()
    changes = to_changes(report, _again(report))
    assert not changes.changed


def test_info_and_pass_findings_never_count() -> None:
    before = reports.clean()
    extra = reports.finding("EHLO_EXTENSIONS", Severity.INFO, "something else")
    after = _again(before, findings=(*before.findings[:1], extra))
    assert not to_changes(before, after).changed


def test_new_and_resolved_findings() -> None:
    before = reports.failures()
    kept = tuple(f for f in before.findings if f.code != "STARTTLS_MISSING")
    new = reports.finding("BANNER_SYNTAX", Severity.WARN, "bad", "mx1.broken.example", "192.0.2.31")
    after = _again(before, findings=(*kept, new))

    changes = to_changes(before, after)

    assert [f.code for f in changes.new_findings] == ["BANNER_SYNTAX"]
    assert [f.code for f in changes.resolved_findings] == ["STARTTLS_MISSING"]


def test_warning_becoming_a_failure_is_new() -> None:
    before = reports.failures()
    worse = tuple(
        replace(f, severity=Severity.FAIL) if f.code == "TLS_CERT_EXPIRING" else f
        for f in before.findings
    )
    changes = to_changes(before, _again(before, findings=worse))
    assert [(f.code, f.severity) for f in changes.new_findings] == [
        ("TLS_CERT_EXPIRING", Severity.FAIL)
    ]
    assert changes.resolved_findings == ()


def test_banner_change_and_starttls_gone_and_expiring_certificate() -> None:
    before = reports.clean()
    hosts = (
        reports.mx("mx1.clean.example", 10, ("192.0.2.10",), greeting="mx1 ESMTP Exim 4.97"),
        reports.mx("mx2.clean.example", 20, ("192.0.2.20", "2001:db8::20"), starttls=False),
    )
    after = _again(
        before,
        dns=replace(before.dns, hosts=hosts),
        verdict=Verdict.FAIL,
    )
    changes = to_changes(before, after)
    assert [(b.host, b.after) for b in changes.banner_changes] == [
        ("mx1.clean.example", "220 mx1 ESMTP Exim 4.97")
    ]
    assert changes.starttls_lost == ("mx2.clean.example",)
    assert changes.verdict_before == "pass" and changes.verdict_after == "fail"

    expiring_hosts = (
        reports.mx("mx1.clean.example", 10, ("192.0.2.10",), not_after="2026-12-15T00:00:00Z"),
        before.dns.hosts[1],
    )
    expiring = _again(before, dns=replace(before.dns, hosts=expiring_hosts))
    [cert] = to_changes(before, expiring).certs_expiring
    assert (cert.host, cert.days_left) == ("mx1.clean.example", 11)
    # Already expiring before: not news any more.
    assert not to_changes(expiring, _again(expiring)).certs_expiring


def test_unreachable_host_is_not_reported_as_starttls_gone() -> None:
    before = reports.clean()
    down = reports.mx(
        "mx1.clean.example", 10, ("192.0.2.10",), status=reports.StepStatus.CONNECTION_TIMEOUT
    )
    after = _again(before, dns=replace(before.dns, hosts=(down, before.dns.hosts[1])))
    assert to_changes(before, after).starttls_lost == ()


def test_days_left() -> None:
    assert to_days_left("2026-12-17T18:00:00Z", "2026-12-03T18:00:00.000Z") == 14
    assert to_days_left("2026-12-01T00:00:00Z", "2026-12-03T18:00:00.000Z") == -3
    assert to_days_left("garbage", "2026-12-03T18:00:00.000Z") is None


def _unreachable(report: Report, status: reports.StepStatus) -> tuple[MxHost, ...]:
    """The report's MX hosts with every session ended at ``status`` (nothing seen)."""
    return tuple(
        reports.mx(h.name, h.preference, tuple(a.ip for a in h.addresses), status=status)
        for h in report.dns.hosts
    )


def test_probe_that_reached_nothing_resolves_nothing() -> None:
    # Port 25 blocked where the probe runs: the old failures were not looked at
    # again, so they must not be announced as resolved.
    before = reports.failures()
    ptr = tuple(f for f in before.findings if f.code == "PTR_NOT_FORWARD_CONFIRMED")
    blocked = reports.finding("PROBE_EGRESS_BLOCKED", Severity.INCONCLUSIVE, "port 25 blocked")
    after = _again(
        before,
        dns=replace(before.dns, hosts=_unreachable(before, reports.StepStatus.CONNECTION_TIMEOUT)),
        findings=(*ptr, blocked),
        verdict=Verdict.INCONCLUSIVE,
    )
    changes = to_changes(before, after)
    assert changes.resolved_findings == ()
    assert not changes.changed


def test_failed_mx_lookup_resolves_nothing() -> None:
    before = reports.failures()
    lookup = reports.finding("DNS_LOOKUP_FAILED", Severity.INCONCLUSIVE, "MX lookup timed out")
    after = _again(
        before,
        dns=replace(before.dns, mx_status=DnsStatus.TIMEOUT, hosts=(), mx_records=()),
        findings=(lookup,),
        verdict=Verdict.INCONCLUSIVE,
    )
    assert not to_changes(before, after).changed


def test_tls_findings_stay_open_when_no_handshake_was_made() -> None:
    # mx3's certificate was expiring; now mx3 offers no STARTTLS: the certificate
    # was not seen, so its warning is not resolved (STARTTLS gone is the news).
    before = reports.failures()
    hosts = (
        *before.dns.hosts[:2],
        reports.mx("mx3.broken.example", 30, ("192.0.2.33",), starttls=False),
    )
    kept = tuple(f for f in before.findings if f.code != "TLS_CERT_EXPIRING")
    after = _again(before, dns=replace(before.dns, hosts=hosts), findings=kept)
    changes = to_changes(before, after)
    assert changes.resolved_findings == ()
    assert changes.starttls_lost == ("mx3.broken.example",)


def test_host_removed_from_the_mx_set_resolves_its_findings() -> None:
    before = reports.failures()
    hosts = tuple(h for h in before.dns.hosts if h.name != "mx2.broken.example")
    kept = tuple(f for f in before.findings if f.host != "mx2.broken.example")
    after = _again(before, dns=replace(before.dns, hosts=hosts), findings=kept)
    resolved = to_changes(before, after).resolved_findings
    assert sorted(f.code for f in resolved) == ["PTR_NOT_FORWARD_CONFIRMED", "STARTTLS_MISSING"]
