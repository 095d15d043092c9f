"""Hostile servers and DNS, on the lab: every check ends in time, with a finding,
bounded memory and no traceback; the deployed guard never contacts non-public addresses.

What tests/integration/test_check_lab.py and test_guard_lab.py already prove is not
repeated; this adds memory bounds, log cleanliness, the full hostile list and the
non-public address classes behind real DNS answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from bannercheck.codec import to_dict
from bannercheck.model import Report, Session, Severity, StepStatus, Verdict
from bannercheck.scan import check_domain, run_check
from bannercheck.settings import Settings

from tests.lab.spec import NON_PUBLIC_TARGETS
from tests.reportcheck import assert_valid_report

pytestmark = pytest.mark.integration

DEADLINE_S = 3.0
# A check keeps what it reads within Settings' reply caps (64 KiB a reply, 4 KiB a
# line); the whole check, DNS and TLS included (measured: 0.3-0.9 MB), stays well
# below what keeping one 1 MB line (bytes plus text) would cost.
MEMORY_BOUND_BYTES = 1536 * 1024
# The deadline is the engine's; what a busy shared machine adds on top is not.
SCHEDULING_SLACK_S = 1.5

# domain -> (what it does, the finding it must get, that finding's severity, how its
# session ends: nul.test's bytes are data, the session itself goes well).
HOSTILE_SERVERS: dict[str, tuple[str, str, Severity, StepStatus]] = {
    "tarpit.test": ("1 byte per second", "SMTP_NO_BANNER", Severity.FAIL, StepStatus.IO_TIMEOUT),
    "endless.test": (
        "endless 220- continuation lines",
        "SMTP_PROTOCOL_ERROR",
        Severity.FAIL,
        StepStatus.PROTOCOL_ERROR,
    ),
    "hugeline.test": (
        "a 1 MB line",
        "SMTP_PROTOCOL_ERROR",
        Severity.FAIL,
        StepStatus.PROTOCOL_ERROR,
    ),
    "nul.test": (
        "NUL bytes and invalid UTF-8",
        "BANNER_NON_ASCII",
        Severity.WARN,
        StepStatus.OK,
    ),
    "tlsfail.test": (
        "TLS handshake answered with garbage",
        "STARTTLS_FAILED",
        Severity.FAIL,
        StepStatus.TLS_ERROR,
    ),
    "reset.test": (
        "connection reset in the middle of EHLO",
        "SMTP_SESSION_DROPPED",
        Severity.FAIL,
        StepStatus.CONNECTION_RESET,
    ),
    "noread.test": (
        "accepts and never reads",
        "SMTP_SESSION_DROPPED",
        Severity.FAIL,
        StepStatus.IO_TIMEOUT,
    ),
    "garbage.test": (
        "binary garbage without line ends",
        "SMTP_PROTOCOL_ERROR",
        Severity.FAIL,
        StepStatus.PROTOCOL_ERROR,
    ),
    "silent.test": ("never greets", "SMTP_NO_BANNER", Severity.FAIL, StepStatus.IO_TIMEOUT),
}
HOSTILE_DNS = (
    "servfail.test",
    "timeout.test",
    "loop.test",
    "hundredmx.test",
    "selfmx.test",
    "v6.test",
    "mapped.test",
    "nonpublic.test",
)


class _SocketWatch:
    """Every ``socket.connect`` this process makes, via a PEP 578 audit hook.

    Audit hooks see the real call (no patching); the hook cannot be removed, so it
    only records while a watch is active.
    """

    active: _SocketWatch | None = None
    _installed = False
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.targets: list[str] = []

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        watch = cls.active
        if watch is not None and event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and address:
                watch.targets.append(str(address[0]))

    def __enter__(self) -> _SocketWatch:
        with self._lock:
            if not _SocketWatch._installed:
                sys.addaudithook(_SocketWatch._hook)
                _SocketWatch._installed = True
        _SocketWatch.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        _SocketWatch.active = None


def _deployed(lab: Any, **changes: Any) -> Settings:
    """The service's settings (no private addresses) with the lab's resolver and CA."""
    return lab.settings(allow_private=False, timeout_s=DEADLINE_S, **changes)


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage(), record.getMessage()


@pytest.mark.parametrize("domain", sorted(HOSTILE_SERVERS))
def test_hostile_server_ends_in_time_with_a_finding_and_bounded_memory(
    lab: Any, domain: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = lab.settings(timeout_s=DEADLINE_S)
    tracemalloc.start()
    try:
        started = time.monotonic()
        report = run_check(domain, settings)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed <= DEADLINE_S + SCHEDULING_SLACK_S, (domain, elapsed)
    assert peak < MEMORY_BOUND_BYTES, (domain, peak)
    assert_valid_report(to_dict(report))
    _what, code, severity, status = HOSTILE_SERVERS[domain]
    (session,) = report.sessions()
    assert session.status is status, (domain, session.status, session.error)
    assert sum(len(t.text) for t in session.transcript) < 200_000, domain
    found = [f for f in report.findings if f.code == code]
    assert found, (domain, sorted(f.code for f in report.findings))
    assert {f.severity for f in found} == {severity}, (domain, found)
    assert report.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.WARN), domain
    _no_tracebacks(caplog)


@pytest.mark.parametrize("domain", HOSTILE_DNS)
def test_hostile_dns_ends_in_time_and_contacts_nothing_when_deployed(
    lab: Any, domain: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = {ip: lab.connections(ip) for ip in lab.peer_ips()}
    tracemalloc.start()
    try:
        with _SocketWatch() as watch:
            started = time.monotonic()
            report = run_check(domain, _deployed(lab))
            elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed <= DEADLINE_S + SCHEDULING_SLACK_S, (domain, elapsed)
    assert peak < MEMORY_BOUND_BYTES, (domain, peak)
    assert_valid_report(to_dict(report))
    assert report.findings, domain
    # The only connections are DNS (the lab's resolver); no SMTP server saw any.
    resolver_ip = lab.resolver.rsplit(":", 1)[0]
    assert {t for t in watch.targets} <= {resolver_ip}, (domain, watch.targets)
    assert {ip: lab.connections(ip) for ip in lab.peer_ips()} == before
    for session in report.sessions():
        assert session.status is StepStatus.NOT_ATTEMPTED, (domain, session)
    _no_tracebacks(caplog)


def test_hundred_mx_records_are_capped(lab: Any) -> None:
    report = run_check("hundredmx.test", lab.settings(timeout_s=DEADLINE_S))
    assert_valid_report(to_dict(report))
    assert len(report.dns.mx_records) == 100
    assert len([h for h in report.dns.hosts if h.probed]) <= lab.settings().max_mx_hosts
    assert "DNS_TOO_MANY_MX" in {f.code for f in report.findings}


class _Recorder:
    """A transport that records what it was asked to contact instead of connecting."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, host: str, ip: str, settings: Settings, deadline: float) -> Session:
        self.calls.append((host, ip))
        return Session(host=host, ip=ip, port=settings.smtp_port, status=StepStatus.OK)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    yield _Recorder()


def test_non_public_answers_never_reach_the_transport(lab: Any, recorder: _Recorder) -> None:
    """Metadata, RFC 1918, CGNAT, ULA, link-local, NAT64: refused before any transport call."""
    report: Report = asyncio.run(check_domain("nonpublic.test", _deployed(lab), probe_fn=recorder))
    assert_valid_report(to_dict(report))
    assert recorder.calls == []
    (host,) = report.dns.hosts
    answered = {ipaddress.ip_address(a.ip) for a in host.addresses}
    assert answered == {ipaddress.ip_address(ip) for ip in NON_PUBLIC_TARGETS}
    assert all(not a.public for a in host.addresses)
    assert all(
        a.session is None or a.session.status is StepStatus.NOT_ATTEMPTED for a in host.addresses
    )
    not_public = [f for f in report.findings if f.code == "ADDRESS_NOT_PUBLIC"]
    assert not_public
    flagged = " ".join(f"{f.ip} {f.evidence}" for f in not_public)
    assert "169.254.169.254" in flagged


def test_non_public_answers_open_no_socket_with_the_real_transport(lab: Any) -> None:
    with _SocketWatch() as watch:
        report = run_check("nonpublic.test", _deployed(lab))
    assert_valid_report(to_dict(report))
    contacted = {t.split("%")[0] for t in watch.targets}
    assert not contacted & set(NON_PUBLIC_TARGETS), contacted
    assert "ADDRESS_NOT_PUBLIC" in {f.code for f in report.findings}


def test_lab_mode_reaches_loopback_only(lab: Any, recorder: _Recorder) -> None:
    """A lab run allows private addresses, but only the lab's loopback networks."""
    settings = lab.settings(timeout_s=DEADLINE_S)
    assert settings.allow_private and settings.private_networks
    report: Report = asyncio.run(check_domain("nonpublic.test", settings, probe_fn=recorder))
    assert_valid_report(to_dict(report))
    assert recorder.calls == []
    not_public = [f for f in report.findings if f.code == "ADDRESS_NOT_PUBLIC"]
    assert {f.ip for f in not_public} == {a.ip for h in report.dns.hosts for a in h.addresses}
    # Refused, so not a lab note ("probed anyway"), and no session judged either.
    assert all(f.severity is not Severity.INFO and "anyway" not in f.message for f in not_public)
    assert "PROBE_NOT_ATTEMPTED" not in {f.code for f in report.findings}
    with _SocketWatch() as watch:
        run_check("nonpublic.test", settings)
    contacted = {t.split("%")[0] for t in watch.targets}
    assert not contacted & set(NON_PUBLIC_TARGETS), contacted


def test_the_recorder_is_real_in_lab_mode(lab: Any, recorder: _Recorder) -> None:
    """Control: with private addresses allowed the same path does reach the transport."""
    report = asyncio.run(check_domain("single.test", lab.settings(), probe_fn=recorder))
    assert_valid_report(to_dict(report))
    assert recorder.calls == [("mx.single.test", lab.ip("mx.single.test"))]


def test_the_socket_watch_sees_smtp_connections(lab: Any) -> None:
    """Control: the audit hook does see the transport's connect in lab mode."""
    with _SocketWatch() as watch:
        report = run_check("single.test", lab.settings(timeout_s=DEADLINE_S))
    assert_valid_report(to_dict(report))
    assert lab.ip("mx.single.test") in watch.targets
