"""End to end against the lab: real Knot DNS, Postfix and scripted peers.

Each row: a lab domain, the finding codes a correct check must report, and
the verdict. Every report produced is validated against the published schema.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from bannercheck.codec import to_dict, to_report
from bannercheck.model import Report, Severity, Step, StepStatus, Verdict
from bannercheck.scan import check_domains, run_check
from bannercheck.settings import Settings

from tests.lab.spec import SHARED_MX_DOMAINS, build_spec
from tests.reportcheck import assert_valid_report

pytestmark = pytest.mark.integration

TIMEOUT_S = 4.0


def _settings(lab: Any, **changes: Any) -> Settings:
    # The lab's settings, with the tighter deadlines these checks are judged by.
    tight = {"timeout_s": TIMEOUT_S, "slow_greeting_s": 0.5, "dns_lifetime_s": 2.5}
    settings: Settings = lab.settings(**{**tight, "connect_timeout_s": 1.0, **changes})
    return settings


def _check(lab: Any, domain: str, **changes: Any) -> Report:
    report = run_check(domain, _settings(lab, **changes))
    data = to_dict(report)
    assert_valid_report(data)
    assert to_report(data) == report  # stored reports read back losslessly
    return report


def _codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


OK = {"BANNER_OK", "EHLO_EXTENSIONS", "TLS_OK"}  # a well-behaved peer with a lab-CA cert

CASES = [
    ("nullmx.test", {"DNS_NULL_MX"}, Verdict.PASS),
    ("nomail.test", {"DNS_NO_MAIL_HOST"}, Verdict.FAIL),
    ("nothing.test", {"DNS_NXDOMAIN"}, Verdict.FAIL),
    ("implicit.test", {"DNS_IMPLICIT_MX", *OK}, None),
    # The certificate names mx.cname.test, where the CNAME points; SNI and the name
    # check use the MX record's name, alias.cname.test (as Postfix does by default:
    # smtp_cname_overrides_servername = no): the names differ.
    (
        "cname.test",
        {"DNS_MX_CNAME", "BANNER_OK", "EHLO_EXTENSIONS", "TLS_CERT_NAME_MISMATCH"},
        None,
    ),
    ("literal.test", {"DNS_MX_NOT_HOSTNAME"}, None),
    ("unresolvable.test", {"DNS_MX_UNRESOLVABLE"}, Verdict.FAIL),
    ("noptr.test", {"PTR_MISSING", *OK}, None),
    ("badptr.test", {"PTR_NOT_FORWARD_CONFIRMED"}, None),
    ("generic.test", {"PTR_GENERIC"}, None),
    ("single.test", {"DNS_SINGLE_MX", *OK}, Verdict.PASS),
    ("selfmx.test", OK, Verdict.PASS),
    ("hundredmx.test", {"DNS_TOO_MANY_MX"}, None),
    ("loop.test", {"DNS_MX_UNRESOLVABLE"}, None),
    ("servfail.test", {"DNS_LOOKUP_FAILED"}, Verdict.INCONCLUSIVE),
    ("refused.test", {"SMTP_CONNECT_REFUSED"}, Verdict.FAIL),
    ("reject554.test", {"BANNER_REJECTED"}, None),
    ("tempfail421.test", {"BANNER_TEMPFAIL"}, None),
    ("multiline.test", {"BANNER_MULTILINE", *OK}, None),
    ("slow.test", {"BANNER_SLOW"}, None),
    ("silent.test", {"SMTP_NO_BANNER"}, Verdict.FAIL),
    ("tlsfail.test", {"STARTTLS_FAILED"}, Verdict.FAIL),
    ("garbage.test", {"SMTP_PROTOCOL_ERROR"}, None),
    ("heloonly.test", {"EHLO_HELO_ONLY"}, None),
    ("nostarttls.test", {"STARTTLS_MISSING", "AUTH_BEFORE_TLS"}, Verdict.FAIL),
    ("vrfy.test", {"VRFY_ADVERTISED", *OK}, None),
    ("readvertise.test", {"STARTTLS_READVERTISED"}, None),
    ("selfsigned.test", {"TLS_CERT_UNTRUSTED"}, None),
    ("expired.test", {"TLS_CERT_EXPIRED"}, Verdict.FAIL),
    ("mismatch.test", {"TLS_CERT_NAME_MISMATCH"}, None),
    (
        "version.test",
        {"BANNER_SOFTWARE_DISCLOSED", "BANNER_VERSION_DISCLOSED", "BANNER_VULNERABLE_VERSION"},
        Verdict.FAIL,
    ),
    # The peer's EHLO reply names mx.<domain>, which its greeting does not.
    ("nonfqdn.test", {"BANNER_HOSTNAME_NOT_FQDN", "EHLO_HOSTNAME_MISMATCH"}, None),
    (
        "othername.test",
        {"BANNER_MX_MISMATCH", "BANNER_PTR_MISMATCH", "EHLO_HOSTNAME_MISMATCH"},
        None,
    ),
    ("nonascii.test", {"BANNER_NON_ASCII"}, None),
    ("inconsistent.test", {"BANNERS_INCONSISTENT"}, None),
    ("endless.test", {"SMTP_PROTOCOL_ERROR"}, None),
    ("hugeline.test", {"SMTP_PROTOCOL_ERROR"}, None),
    ("nul.test", {"BANNER_NON_ASCII", "BANNER_SYNTAX"}, None),
    ("neverclose.test", OK, Verdict.PASS),
    ("paced.test", {"BANNER_MULTILINE", *OK}, None),
]
# Codes the lab spec lists for a domain that a correct check does not report (see the row).
SPEC_OVERSTATES: dict[str, set[str]] = {}  # codes a spec entry lists that do not fire


def test_every_row_asserts_what_the_lab_spec_expects() -> None:
    """The spec's informative list and the rows stay in step (no lab needed)."""
    spec = build_spec("127.0.0")
    for domain, codes, _ in CASES:
        expected = set(spec.domains[domain].expected) - SPEC_OVERSTATES.get(domain, set())
        assert expected <= codes, f"{domain}: the row does not assert {expected - codes}"


@pytest.mark.parametrize(("domain", "codes", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_lab_domain(lab: Any, domain: str, codes: set[str], verdict: Verdict | None) -> None:
    report = _check(lab, domain)
    missing = codes - _codes(report)
    assert not missing, f"{domain}: missing {missing}; got {sorted(_codes(report))}"
    if verdict is not None:
        assert report.verdict is verdict
    assert report.duration_ms <= TIMEOUT_S * 1000 + 500


def test_good_domain_talks_to_postfix_over_verified_tls(lab: Any) -> None:
    report = _check(lab, "good.test")
    assert [h.name for h in report.dns.hosts] == ["mx1.good.test", "mx2.good.test"]
    sessions = report.sessions()
    assert len(sessions) == 2
    for session in sessions:
        assert session.status is StepStatus.OK, session.error
        assert session.greeting is not None and session.greeting.code == 220
        assert "Postfix" in session.greeting.lines[0]
        assert "STARTTLS" in {k.keyword for k in session.keywords}
        assert session.tls is not None and session.tls.chain_verified
        assert session.tls.name_matches and session.tls.sni == session.host
        assert session.tls.version in ("TLSv1.2", "TLSv1.3")
        # RFC 3207 §4.2: EHLO again after TLS, and STARTTLS is no longer offered.
        assert session.ehlo_tls is not None and session.ehlo_tls.code == 250
        assert "STARTTLS" not in {k.keyword for k in session.keywords_tls}
        sent = [t.text for t in session.transcript if t.direction.value == "C"]
        assert sent == [
            "EHLO probe.bannercheck.test",
            "STARTTLS",
            "EHLO probe.bannercheck.test",
            "QUIT",
        ]
        assert session.timings.connect_ms is not None and session.timings.tls_ms is not None
    for address in (a for h in report.dns.hosts for a in h.addresses):
        assert address.fcrdns
    assert not any(f.severity is Severity.FAIL for f in report.findings)
    assert set(lab.domains["good.test"].expected) <= _codes(report)


def test_never_sends_mail_commands(lab: Any) -> None:
    forbidden = ("MAIL", "RCPT", "DATA", "VRFY", "EXPN")
    for domain in ("good.test", "vrfy.test", "heloonly.test", "reject554.test"):
        for session in _check(lab, domain).sessions():
            for line in session.transcript:
                if line.direction.value == "C":
                    assert not line.text.upper().startswith(forbidden), line.text


def test_half_silent_domain_costs_one_timeout(lab: Any) -> None:
    """4 MX hosts, 2 never greet: the check ends at its deadline, with the good
    hosts' results intact and the silent ones reported as no banner."""
    report = _check(lab, "halfsilent.test")
    by_host = {s.host: s for s in report.sessions()}
    assert by_host["mx1.halfsilent.test"].status is StepStatus.OK
    assert by_host["mx2.halfsilent.test"].status is StepStatus.OK
    for host in ("mx3.halfsilent.test", "mx4.halfsilent.test"):
        assert by_host[host].status is StepStatus.IO_TIMEOUT
        assert by_host[host].failed_step is Step.GREETING
    no_banner = {f.host for f in report.findings if f.code == "SMTP_NO_BANNER"}
    assert no_banner == {"mx3.halfsilent.test", "mx4.halfsilent.test"}
    # The deadline is the contract: one timeout in all, not one per host.
    assert report.duration_ms <= TIMEOUT_S * 1000 + 500


def test_slow_greeting_is_reported_slow_not_missing(lab: Any) -> None:
    report = _check(lab, "slow.test")
    (session,) = report.sessions()
    assert session.status is StepStatus.OK
    assert session.timings.greeting_ms is not None and session.timings.greeting_ms >= 500
    assert "SMTP_NO_BANNER" not in _codes(report)


def test_too_many_mx_hosts_are_skipped_not_probed(lab: Any) -> None:
    report = _check(lab, "manymx.test")
    probed = [h for h in report.dns.hosts if h.probed]
    assert len(probed) <= 10
    assert len(report.dns.skipped_hosts) == 2
    assert {"DNS_TOO_MANY_MX", *lab.domains["manymx.test"].expected} <= _codes(report)


def test_timeout_of_dns_is_inconclusive_not_no_mx(lab: Any) -> None:
    report = _check(lab, "timeout.test")
    assert report.verdict is Verdict.INCONCLUSIVE
    assert "DNS_LOOKUP_FAILED" in _codes(report)
    assert not {"DNS_NO_MAIL_HOST", "DNS_NXDOMAIN"} & _codes(report)


def test_hostile_servers_end_within_the_deadline_with_a_finding(lab: Any) -> None:
    for domain in ("tarpit.test", "endless.test", "hugeline.test", "reset.test", "noread.test"):
        report = _check(lab, domain)
        (session,) = report.sessions()
        assert session.status is not StepStatus.OK, domain
        assert session.status is not StepStatus.INTERNAL_ERROR, domain
        assert report.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE), domain
        assert report.duration_ms <= TIMEOUT_S * 1000 + 500, domain
        assert set(lab.domains[domain].expected) <= _codes(report), domain
        # Capped: no line kept is longer than the limit plus its marker.
        assert all(len(t.text) < 4200 for t in session.transcript), domain


def test_unverified_retry_continues_the_transcript_timeline(lab: Any) -> None:
    """selfsigned.test: the chain does not verify, so a second session records the
    certificate; its lines are timed from the first session's start, after its lines."""
    (session,) = _check(lab, "selfsigned.test").sessions()
    events = [t for t in session.transcript if t.direction.value == "*"]
    connects = [t for t in events if t.text.startswith("connect ")]
    assert len(connects) == 2, [t.text for t in events]
    first_closed = next(t for t in events if t.text == "closed")
    assert connects[1].t_ms >= first_closed.t_ms > connects[0].t_ms
    times = [t.t_ms for t in session.transcript]
    assert times == sorted(times)
    assert session.timings.total_ms is not None and session.timings.total_ms >= times[-1]


def test_server_that_never_closes_is_judged_on_what_it_said(lab: Any) -> None:
    """neverclose.test ignores QUIT (no 221, socket left open): the check still
    completes, and the unanswered QUIT changes nothing already learnt."""
    report = _check(lab, "neverclose.test")
    (session,) = report.sessions()
    assert session.status is StepStatus.OK, session.error
    assert session.failed_step is None
    assert session.tls is not None and session.ehlo_tls is not None
    assert session.quit is None  # no reply to QUIT
    sent = [t.text for t in session.transcript if t.direction.value == "C"]
    assert sent[-1] == "QUIT"
    assert session.transcript[-1].text == "closed"  # we closed it ourselves


def test_probe_waits_for_the_whole_paced_greeting(lab: Any) -> None:
    """paced.test sends its three greeting lines 0.25 s apart and notes whether the
    client sent anything before the final one (RFC 5321 §4.3.1: it must not)."""
    ip = lab.ip("mx.paced.test")
    before = len(lab.early_talkers(ip))
    report = _check(lab, "paced.test")
    (session,) = report.sessions()
    assert session.status is StepStatus.OK, session.error
    assert session.greeting is not None and len(session.greeting.lines) == 3
    assert lab.early_talkers(ip)[before:] == [False]
    received = [t for t in session.transcript if t.direction.value == "S"]
    first_sent = next(t for t in session.transcript if t.direction.value == "C")
    assert first_sent.text.startswith("EHLO ")
    assert first_sent.t_ms >= received[2].t_ms  # after the final greeting line


def test_the_paced_peer_notices_a_client_that_talks_early(lab: Any) -> None:
    """Control: a client that sends EHLO at once is recorded as early."""
    ip = lab.ip("mx.paced.test")
    before = len(lab.early_talkers(ip))
    with socket.create_connection((ip, 25), timeout=5) as sock:
        sock.sendall(b"EHLO early.bannercheck.test\r\n")
        received = b""
        while b"\r\n220 " not in received:
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        sock.sendall(b"QUIT\r\n")
    assert lab.early_talkers(ip)[before:] == [True]


def test_domains_sharing_an_mx_address_get_one_session_at_a_time(lab: Any) -> None:
    """Three domains whose MX names all have one address, checked together in one
    process: the peer behind it never has more than one session open."""
    ip = lab.ip("mx.shared.test")
    assert {h for d in SHARED_MX_DOMAINS for h in lab.addresses(f"mx.{d}")} == {ip}
    lab.take_peak(ip)  # start counting now
    before = lab.connections(ip)

    async def check_all() -> list[Report]:
        return [r async for r in check_domains(SHARED_MX_DOMAINS, _settings(lab))]

    reports = asyncio.run(check_all())
    assert sorted(r.domain for r in reports) == sorted(SHARED_MX_DOMAINS)
    for report in reports:
        assert_valid_report(to_dict(report))
        (session,) = report.sessions()
        assert session.status is StepStatus.OK, session.error
    assert lab.connections(ip) == before + len(SHARED_MX_DOMAINS)
    assert lab.take_peak(ip) == 1


def test_the_shared_peer_counts_overlapping_sessions(lab: Any) -> None:
    """Control: two clients connected at once make a peak of two."""
    ip = lab.ip("mx.shared.test")
    lab.take_peak(ip)
    opened = threading.Barrier(2)

    def client() -> None:
        with socket.create_connection((ip, 25), timeout=5) as sock:
            opened.wait(timeout=5)
            sock.recv(4096)  # the greeting: both sessions are open by now

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert lab.take_peak(ip) == 2


@pytest.mark.parametrize("configured", ["single.test", "probe.single.test", "MX.single.test"])
def test_the_probe_never_announces_the_targets_own_name(lab: Any, configured: str) -> None:
    """An EHLO name that is the domain, under it, or its MX host is replaced by a
    neutral one on the wire, and the report says so."""
    report = _check(lab, "single.test", ehlo_name=configured)
    (session,) = report.sessions()
    sent = [t.text for t in session.transcript if t.direction.value == "C"]
    assert sent[0] == "EHLO bannercheck-probe.example.net"
    assert not [line for line in sent if "single.test" in line.lower()]
    assert report.ehlo_name == "bannercheck-probe.example.net"
    (finding,) = [f for f in report.findings if f.code == "PROBE_EHLO_NAME_REPLACED"]
    assert finding.severity is Severity.INFO and configured in finding.message
    assert session.status is StepStatus.OK


def test_an_ehlo_name_of_our_own_is_announced_as_configured(lab: Any) -> None:
    report = _check(lab, "single.test", ehlo_name="probe.bannercheck.test")
    (session,) = report.sessions()
    sent = [t.text for t in session.transcript if t.direction.value == "C"]
    assert sent[0] == "EHLO probe.bannercheck.test"
    assert "PROBE_EHLO_NAME_REPLACED" not in _codes(report)


def test_a_certificate_inside_the_warning_window_is_expiring(lab: Any) -> None:
    """TLS_CERT_EXPIRING against a real handshake: the lab's certificates live 20 days,
    so the warning window (14 days by default) is moved either side of what is left."""
    (session,) = _check(lab, "single.test").sessions()
    assert session.tls is not None and session.tls.certificate is not None
    not_after = datetime.fromisoformat(session.tls.certificate.not_after.replace("Z", "+00:00"))
    days_left = (not_after - datetime.now(UTC)).total_seconds() / 86400
    assert days_left > 2
    inside = _check(lab, "single.test", cert_expiry_warn_days=math.ceil(days_left) + 1)
    (finding,) = [f for f in inside.findings if f.code == "TLS_CERT_EXPIRING"]
    assert finding.severity is Severity.WARN and finding.host == "mx.single.test"
    assert "TLS_OK" not in _codes(inside)
    outside = _check(lab, "single.test", cert_expiry_warn_days=math.floor(days_left) - 1)
    assert "TLS_CERT_EXPIRING" not in _codes(outside)
    assert "TLS_OK" in _codes(outside)
