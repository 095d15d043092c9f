"""Connection findings: how each session ended, and the probe's own egress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from bannercheck import transport
from bannercheck.checks import Context, run_checks
from bannercheck.checks import catalog as c
from bannercheck.model import (
    Direction,
    Session,
    Severity,
    Step,
    StepStatus,
    Timings,
    TranscriptLine,
)
from bannercheck.settings import Settings

from tests.unit.builders import (
    Row,
    address,
    assert_row,
    by_code,
    case_table,
    clean_domain,
    codes,
    context,
    dns,
    ended,
    good_host,
    host,
    reply,
    with_session,
)

# fail, warn, note (info), inconclusive
F, W, N, Q = Severity.FAIL, Severity.WARN, Severity.INFO, Severity.INCONCLUSIVE
MX1, IP1 = "mx1.example.com", "192.0.2.10"


def _ended(status: StepStatus, step: Step, **changes: object) -> Callable[[], Context]:
    """The clean domain with its first session ended early."""

    def build() -> Context:
        ctx = clean_domain()
        first = ended(MX1, IP1, status, step, **changes)
        h = replace(ctx.dns.hosts[0], addresses=(address(IP1, first, ptr=MX1),))
        return replace(ctx, dns=replace(ctx.dns, hosts=(h, *ctx.dns.hosts[1:])))

    return build


def _all(status: StepStatus) -> Context:
    """Every address of a two-host domain ended at connect with ``status``."""
    hosts = [
        host(name, address(ip, ended(name, ip, status, Step.CONNECT), ptr=name))
        for name, ip in ((MX1, IP1), ("mx2.example.com", "2001:db8::25"))
    ]
    return context(dns(*hosts))


def _mixed_timeout_refused() -> Context:
    return context(
        dns(
            host(MX1, address(IP1, ended(MX1, IP1, StepStatus.CONNECTION_TIMEOUT, Step.CONNECT))),
            host(
                "mx2.example.com",
                address(
                    "192.0.2.20",
                    ended(
                        "mx2.example.com", "192.0.2.20", StepStatus.CONNECTION_REFUSED, Step.CONNECT
                    ),
                ),
            ),
        )
    )


def _timeout_among_good() -> Context:
    return context(
        dns(
            host(MX1, address(IP1, ended(MX1, IP1, StepStatus.CONNECTION_TIMEOUT, Step.CONNECT))),
            good_host("mx2.example.com", "192.0.2.20"),
        )
    )


def _greeted_then(status: StepStatus, step: Step) -> Callable[[], Context]:
    greeting = reply(f"220 {MX1} ESMTP Postfix")
    return _ended(status, step, greeting=greeting)


def _not_attempted(public: bool, allow: bool) -> Context:
    sess = ended(MX1, IP1, StepStatus.NOT_ATTEMPTED, Step.CONNECT, error="deadline reached")
    h = host(MX1, address(IP1, sess, ptr=MX1, public=public))
    return context(dns(h, good_host("mx2.example.com", "192.0.2.20")), allow_private=allow)


def _slow() -> Context:
    return with_session(clean_domain(), timings=Timings(connect_ms=1.0, greeting_ms=9000.0))


GARBAGE = (TranscriptLine(1.0, Direction.RECEIVED, "\\x16\\x03\\x01\\x00\\xa5 binary"),)

CASES: list[tuple[str, Callable[[], Context], str, Severity | None, str | None, str | None]] = [
    (
        "network-error-mid-ehlo",
        _greeted_then(StepStatus.NETWORK_ERROR, Step.EHLO),
        c.SMTP_SESSION_DROPPED,
        F,
        MX1,
        IP1,
    ),
    (
        "network-error-mid-ehlo-is-not-unreachable",
        _greeted_then(StepStatus.NETWORK_ERROR, Step.EHLO),
        c.SMTP_CONNECT_FAILED,
        None,
        MX1,
        IP1,
    ),
    ("clean-no-timeout", clean_domain, c.SMTP_CONNECT_TIMEOUT, None, None, None),
    (
        "refused-is-not-timeout",
        _ended(StepStatus.CONNECTION_REFUSED, Step.CONNECT),
        c.SMTP_CONNECT_TIMEOUT,
        None,
        MX1,
        IP1,
    ),
    ("clean-no-network-error", clean_domain, c.SMTP_CONNECT_FAILED, None, None, None),
    (
        "timeout-is-not-network-error",
        _timeout_among_good,
        c.SMTP_CONNECT_FAILED,
        None,
        MX1,
        IP1,
    ),
    ("clean-no-internal-error", clean_domain, c.PROBE_INTERNAL_ERROR, None, None, None),
    (
        "refused",
        _ended(StepStatus.CONNECTION_REFUSED, Step.CONNECT),
        c.SMTP_CONNECT_REFUSED,
        F,
        MX1,
        IP1,
    ),
    (
        "reset-at-connect",
        _ended(StepStatus.CONNECTION_RESET, Step.CONNECT),
        c.SMTP_CONNECT_REFUSED,
        F,
        MX1,
        IP1,
    ),
    ("clean-not-refused", clean_domain, c.SMTP_CONNECT_REFUSED, None, None, None),
    ("timeout-among-good", _timeout_among_good, c.SMTP_CONNECT_TIMEOUT, W, MX1, IP1),
    ("timeout-among-good-no-egress", _timeout_among_good, c.PROBE_EGRESS_BLOCKED, None, None, None),
    (
        "all-timeout-egress",
        lambda: _all(StepStatus.CONNECTION_TIMEOUT),
        c.PROBE_EGRESS_BLOCKED,
        Q,
        None,
        None,
    ),
    (
        "all-timeout-servers-not-blamed",
        lambda: _all(StepStatus.CONNECTION_TIMEOUT),
        c.SMTP_CONNECT_TIMEOUT,
        N,
        MX1,
        IP1,
    ),
    ("refused-proves-path", _mixed_timeout_refused, c.PROBE_EGRESS_BLOCKED, None, None, None),
    (
        "refused-proves-path-timeout-warns",
        _mixed_timeout_refused,
        c.SMTP_CONNECT_TIMEOUT,
        W,
        MX1,
        IP1,
    ),
    (
        "all-refused-no-egress",
        lambda: _all(StepStatus.CONNECTION_REFUSED),
        c.PROBE_EGRESS_BLOCKED,
        None,
        None,
        None,
    ),
    (
        "all-unreachable-no-egress",
        lambda: _all(StepStatus.NETWORK_ERROR),
        c.PROBE_EGRESS_BLOCKED,
        None,
        None,
        None,
    ),
    (
        "unreachable",
        _ended(StepStatus.NETWORK_ERROR, Step.CONNECT),
        c.SMTP_CONNECT_FAILED,
        Q,
        MX1,
        IP1,
    ),
    ("clean-no-egress", clean_domain, c.PROBE_EGRESS_BLOCKED, None, None, None),
    ("silent", _ended(StepStatus.IO_TIMEOUT, Step.GREETING), c.SMTP_NO_BANNER, F, MX1, IP1),
    (
        "closed-before-greeting",
        _ended(StepStatus.CLOSED, Step.GREETING),
        c.SMTP_NO_BANNER,
        F,
        MX1,
        IP1,
    ),
    (
        "reset-before-greeting",
        _ended(StepStatus.CONNECTION_RESET, Step.GREETING),
        c.SMTP_NO_BANNER,
        F,
        MX1,
        IP1,
    ),
    (
        "cut-multiline-greeting",
        _ended(StepStatus.CLOSED, Step.GREETING, greeting=reply("220-mx1.example.com ESMTP")),
        c.SMTP_NO_BANNER,
        F,
        MX1,
        IP1,
    ),
    ("slow-is-not-missing", _slow, c.SMTP_NO_BANNER, None, None, None),
    (
        "greeted-then-closed",
        _greeted_then(StepStatus.CLOSED, Step.GREETING),
        c.SMTP_NO_BANNER,
        None,
        None,
        None,
    ),
    (
        "greeted-then-closed-dropped",
        _greeted_then(StepStatus.CLOSED, Step.GREETING),
        c.SMTP_SESSION_DROPPED,
        F,
        MX1,
        IP1,
    ),
    (
        "421-then-closed-not-dropped",
        _ended(StepStatus.CLOSED, Step.GREETING, greeting=reply("421 mx1.example.com busy")),
        c.SMTP_SESSION_DROPPED,
        None,
        None,
        None,
    ),
    (
        "421-then-closed-not-no-banner",
        _ended(StepStatus.CLOSED, Step.GREETING, greeting=reply("421 mx1.example.com busy")),
        c.SMTP_NO_BANNER,
        None,
        None,
        None,
    ),
    (
        "no-read-ehlo",
        _greeted_then(StepStatus.IO_TIMEOUT, Step.EHLO),
        c.SMTP_SESSION_DROPPED,
        F,
        MX1,
        IP1,
    ),
    (
        "reset-in-ehlo",
        _greeted_then(StepStatus.CONNECTION_RESET, Step.EHLO),
        c.SMTP_SESSION_DROPPED,
        F,
        MX1,
        IP1,
    ),
    ("clean-not-dropped", clean_domain, c.SMTP_SESSION_DROPPED, None, None, None),
    (
        "quit-ignored",
        _greeted_then(StepStatus.IO_TIMEOUT, Step.QUIT),
        c.SMTP_SESSION_DROPPED,
        None,
        None,
        None,
    ),
    (
        "garbage",
        _ended(StepStatus.PROTOCOL_ERROR, Step.GREETING, transcript=GARBAGE),
        c.SMTP_PROTOCOL_ERROR,
        F,
        MX1,
        IP1,
    ),
    (
        "oversized",
        _ended(
            StepStatus.PROTOCOL_ERROR,
            Step.GREETING,
            greeting=reply("220-mx1.example.com", *["220-xxxx"] * 5),
        ),
        c.SMTP_PROTOCOL_ERROR,
        F,
        MX1,
        IP1,
    ),
    (
        "oversized-not-no-banner",
        _ended(StepStatus.PROTOCOL_ERROR, Step.GREETING),
        c.SMTP_NO_BANNER,
        None,
        None,
        None,
    ),
    ("clean-no-protocol-error", clean_domain, c.SMTP_PROTOCOL_ERROR, None, None, None),
    (
        "tls-garbage-is-tls",
        _greeted_then(StepStatus.TLS_ERROR, Step.TLS_HANDSHAKE),
        c.SMTP_PROTOCOL_ERROR,
        None,
        None,
        None,
    ),
    (
        "internal",
        _ended(StepStatus.INTERNAL_ERROR, Step.CONNECT, error="internal error: KeyError"),
        c.PROBE_INTERNAL_ERROR,
        Q,
        MX1,
        IP1,
    ),
    (
        "internal-not-server-fault",
        _ended(StepStatus.INTERNAL_ERROR, Step.CONNECT),
        c.SMTP_CONNECT_REFUSED,
        None,
        None,
        None,
    ),
    (
        "not-attempted-deadline",
        lambda: _not_attempted(True, False),
        c.PROBE_NOT_ATTEMPTED,
        Q,
        MX1,
        IP1,
    ),
    (
        "not-attempted-private",
        lambda: _not_attempted(False, False),
        c.PROBE_NOT_ATTEMPTED,
        None,
        None,
        None,
    ),
    ("clean-attempted", clean_domain, c.PROBE_NOT_ATTEMPTED, None, None, None),
]


@case_table(CASES)
def test_connection_findings(row: Row) -> None:
    assert_row(row)


def test_egress_blocked_keeps_the_verdict_off_the_servers() -> None:
    findings = run_checks(_all(StepStatus.CONNECTION_TIMEOUT))
    assert not [f for f in findings if f.severity is Severity.FAIL]
    assert codes(findings) >= {c.PROBE_EGRESS_BLOCKED, c.SMTP_CONNECT_TIMEOUT}
    (egress,) = by_code(findings, c.PROBE_EGRESS_BLOCKED)
    assert "192.0.2.10:25" in (egress.evidence or "")
    assert "2001:db8::25:25" in (egress.evidence or "")


def test_protocol_error_evidence_is_capped() -> None:
    huge = (TranscriptLine(1.0, Direction.RECEIVED, "220 mx1.example.com " + "x" * 5000),)
    ctx = _ended(StepStatus.PROTOCOL_ERROR, Step.GREETING, transcript=huge)()
    (finding,) = by_code(run_checks(ctx), c.SMTP_PROTOCOL_ERROR)
    assert finding.evidence is not None and len(finding.evidence) <= 300


def _recorded_past_deadline(name: str, ip: str) -> Session:
    """What the transport records when the deadline passed before it could connect.

    No socket is opened: the deadline is already behind us when probe starts.
    """

    async def run() -> Session:
        past = asyncio.get_running_loop().time() - 1.0
        return await transport.probe(name, ip, Settings(allow_private=True), past)

    return asyncio.run(run())


def test_deadline_before_connecting_is_not_the_servers_fault() -> None:
    hosts = [
        host(name, address(ip, _recorded_past_deadline(name, ip), ptr=name))
        for name, ip in ((MX1, IP1), ("mx2.example.com", "2001:db8::25"))
    ]
    recorded = hosts[0].addresses[0].session
    assert recorded is not None
    assert recorded.status is StepStatus.NOT_ATTEMPTED
    assert recorded.error == "deadline reached before connecting"
    findings = run_checks(context(dns(*hosts)))
    assert not codes(findings) & {
        c.PROBE_EGRESS_BLOCKED,
        c.SMTP_CONNECT_TIMEOUT,
        c.SMTP_NO_BANNER,
    }
    not_attempted = by_code(findings, c.PROBE_NOT_ATTEMPTED)
    assert {f.ip for f in not_attempted} == {IP1, "2001:db8::25"}
    assert all(f.severity is Q for f in not_attempted)


def test_deadline_before_the_greeting_wait_is_not_a_missing_banner() -> None:
    ctx = _ended(
        StepStatus.NOT_ATTEMPTED,
        Step.GREETING,
        error="deadline reached before the greeting reply",
        timings=Timings(connect_ms=900.0),
    )()
    findings = run_checks(ctx)
    assert c.SMTP_NO_BANNER not in codes(findings)
    (finding,) = by_code(findings, c.PROBE_NOT_ATTEMPTED)
    assert finding.severity is Q and "probed to the end" in finding.message
