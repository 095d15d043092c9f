"""Greeting findings (RFC 5321 §4.3.1): code, syntax, names, timing, consistency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from bannercheck.checks import Context, run_checks
from bannercheck.checks import catalog as c
from bannercheck.checks.banner import to_comparable_greeting
from bannercheck.model import Severity, Step, StepStatus, Timings

from tests.unit.builders import (
    Row,
    address,
    assert_row,
    by_code,
    case_table,
    clean_domain,
    context,
    dns,
    ended,
    good_host,
    host,
    reply,
    session,
    with_session,
)

# fail, warn, note (info), inconclusive, pass
F, W, N, Q, P = (
    Severity.FAIL,
    Severity.WARN,
    Severity.INFO,
    Severity.INCONCLUSIVE,
    Severity.PASS,
)
MX1, IP1 = "mx1.example.com", "192.0.2.10"


def _greets(*lines: str | bytes, **changes: object) -> Callable[[], Context]:
    return lambda: with_session(clean_domain(), greeting=reply(*lines), **changes)


def _refused_greeting(line: str) -> Callable[[], Context]:
    """A 4xx/5xx greeting: the transport sends QUIT and records nothing else."""

    def build() -> Context:
        sess = replace(
            ended(MX1, IP1, StepStatus.OK, Step.GREETING, greeting=reply(line)), failed_step=None
        )
        return context(
            dns(host(MX1, address(IP1, sess, ptr=MX1)), good_host("mx2.example.com", "192.0.2.20"))
        )

    return build


def _ptr(greeting_name: str, ptr: str, confirmed: bool) -> Callable[[], Context]:
    def build() -> Context:
        sess = session(MX1, IP1, greeting=f"220 {greeting_name} ESMTP")
        h = host(MX1, address(IP1, sess, ptr=ptr, confirmed=confirmed))
        return context(dns(h, good_host("mx2.example.com", "192.0.2.20")))

    return build


def _slow(ms: float, threshold_s: float = 5.0) -> Callable[[], Context]:
    return lambda: replace(
        with_session(clean_domain(), timings=Timings(connect_ms=3.0, greeting_ms=ms)),
        slow_greeting_s=threshold_s,
    )


def _two_addresses(first: str, second: str) -> Callable[[], Context]:
    def build() -> Context:
        h = host(
            MX1,
            address(IP1, session(MX1, IP1, greeting=first), ptr=MX1),
            address("2001:db8::10", session(MX1, "2001:db8::10", greeting=second), ptr=MX1),
        )
        return context(dns(h, good_host("mx2.example.com", "192.0.2.20")))

    return build


CASES: list[tuple[str, Callable[[], Context], str, Severity | None, str | None, str | None]] = [
    ("ok", clean_domain, c.BANNER_OK, P, MX1, IP1),
    ("ok-with-text", _greets("220 mx1.example.com ESMTP ready"), c.BANNER_OK, P, MX1, IP1),
    ("address-literal-ok", _greets("220 [192.0.2.10] ESMTP"), c.BANNER_OK, P, MX1, IP1),
    (
        "reject-554",
        _refused_greeting("554 5.7.1 mx1.example.com no SMTP service here"),
        c.BANNER_REJECTED,
        W,
        MX1,
        IP1,
    ),
    ("reject-554-no-ok", _refused_greeting("554 5.7.1 no service"), c.BANNER_OK, None, MX1, IP1),
    (
        "reject-554-no-ehlo-findings",
        _refused_greeting("554 5.7.1 no service"),
        c.STARTTLS_MISSING,
        None,
        MX1,
        IP1,
    ),
    ("clean-not-rejected", clean_domain, c.BANNER_REJECTED, None, None, None),
    (
        "tempfail-421",
        _refused_greeting("421 4.3.2 mx1.example.com busy, try later"),
        c.BANNER_TEMPFAIL,
        Q,
        MX1,
        IP1,
    ),
    ("tempfail-450", _refused_greeting("450 too many connections"), c.BANNER_TEMPFAIL, Q, MX1, IP1),
    ("clean-not-tempfail", clean_domain, c.BANNER_TEMPFAIL, None, None, None),
    ("no-domain", _greets("220 ESMTP Postfix"), c.BANNER_SYNTAX, W, MX1, IP1),
    ("no-domain-not-ok", _greets("220 ESMTP Postfix"), c.BANNER_OK, None, MX1, IP1),
    ("bare-220", _greets("220"), c.BANNER_SYNTAX, W, MX1, IP1),
    ("underscore-name", _greets("220 mx_1.example.com ESMTP"), c.BANNER_SYNTAX, W, MX1, IP1),
    ("code-250", _greets("250 mx1.example.com hello"), c.BANNER_SYNTAX, W, MX1, IP1),
    (
        "mixed-codes",
        _greets("220-mx1.example.com ESMTP", "250 ready"),
        c.BANNER_SYNTAX,
        W,
        MX1,
        IP1,
    ),
    (
        "nul-bytes",
        _greets(b"220 mx1.example.com ESMTP \x00\xff lab\x00"),
        c.BANNER_SYNTAX,
        W,
        MX1,
        IP1,
    ),
    (
        "utf8-is-not-syntax",
        _greets("220 mx1.example.com ESMTP Grüße".encode()),
        c.BANNER_SYNTAX,
        None,
        MX1,
        IP1,
    ),
    ("clean-syntax", clean_domain, c.BANNER_SYNTAX, None, None, None),
    (
        "multiline",
        _greets("220-mx1.example.com ESMTP", "220-Welcome", "220 Go ahead"),
        c.BANNER_MULTILINE,
        N,
        MX1,
        IP1,
    ),
    (
        "multiline-still-ok",
        _greets("220-mx1.example.com ESMTP", "220 Go ahead"),
        c.BANNER_OK,
        P,
        MX1,
        IP1,
    ),
    ("single-line", clean_domain, c.BANNER_MULTILINE, None, None, None),
    ("not-fqdn", _greets("220 mailhost ESMTP ready"), c.BANNER_HOSTNAME_NOT_FQDN, W, MX1, IP1),
    (
        "localhost",
        _greets("220 localhost.localdomain ESMTP"),
        c.BANNER_HOSTNAME_NOT_FQDN,
        W,
        MX1,
        IP1,
    ),
    (
        "dot-local",
        _greets("220 exch01.corp.local Microsoft ESMTP MAIL Service ready"),
        c.BANNER_HOSTNAME_NOT_FQDN,
        W,
        MX1,
        IP1,
    ),
    ("fqdn", clean_domain, c.BANNER_HOSTNAME_NOT_FQDN, None, None, None),
    (
        "literal-not-fqdn-finding",
        _greets("220 [192.0.2.10] ESMTP"),
        c.BANNER_HOSTNAME_NOT_FQDN,
        None,
        None,
        None,
    ),
    (
        "ptr-mismatch-unconfirmed",
        _ptr("smtp.other.test", "host.hosting.test", False),
        c.BANNER_PTR_MISMATCH,
        W,
        MX1,
        IP1,
    ),
    (
        "ptr-mismatch-fcrdns-is-info",
        _ptr("mx.google.com", "xx-in-f26.1e100.net", True),
        c.BANNER_PTR_MISMATCH,
        N,
        MX1,
        IP1,
    ),
    (
        "banner-equals-ptr",
        _ptr("host.hosting.test", "host.hosting.test", True),
        c.BANNER_PTR_MISMATCH,
        None,
        None,
        None,
    ),
    (
        "banner-equals-unconfirmed-ptr",
        _ptr("host.hosting.test", "HOST.hosting.test", False),
        c.BANNER_PTR_MISMATCH,
        None,
        None,
        None,
    ),
    (
        "banner-equals-mx",
        _ptr(MX1, "host.hosting.test", False),
        c.BANNER_PTR_MISMATCH,
        None,
        None,
        None,
    ),
    (
        "no-ptr-is-ptr-missing-only",
        _ptr("smtp.other.test", "", True),
        c.BANNER_PTR_MISMATCH,
        None,
        None,
        None,
    ),
    ("mx-mismatch", _greets("220 smtp.elsewhere.example ESMTP"), c.BANNER_MX_MISMATCH, N, MX1, IP1),
    (
        "mx-match-case-insensitive",
        _greets("220 MX1.Example.COM ESMTP"),
        c.BANNER_MX_MISMATCH,
        None,
        None,
        None,
    ),
    ("slow", _slow(7200.0), c.BANNER_SLOW, W, MX1, IP1),
    ("slow-custom-threshold", _slow(700.0, 0.5), c.BANNER_SLOW, W, MX1, IP1),
    ("fast", _slow(4900.0), c.BANNER_SLOW, None, None, None),
    (
        "non-ascii",
        _greets("220 mx1.example.com ESMTP Grüße ☃".encode()),
        c.BANNER_NON_ASCII,
        W,
        MX1,
        IP1,
    ),
    (
        "non-ascii-not-ok",
        _greets("220 mx1.example.com ESMTP Grüße".encode()),
        c.BANNER_OK,
        None,
        MX1,
        IP1,
    ),
    ("ascii", clean_domain, c.BANNER_NON_ASCII, None, None, None),
    (
        "inconsistent-software",
        _two_addresses(
            "220 mx1.example.com ESMTP Postfix (Debian/GNU)",
            "220 mx1.example.com ESMTP Exim 4.96 #2",
        ),
        c.BANNERS_INCONSISTENT,
        W,
        MX1,
        None,
    ),
    (
        "inconsistent-version",
        _two_addresses(
            "220 mx1.example.com ESMTP Exim 4.96 #2", "220 mx1.example.com ESMTP Exim 4.97 #2"
        ),
        c.BANNERS_INCONSISTENT,
        W,
        MX1,
        None,
    ),
    (
        "same-but-timestamps",
        _two_addresses(
            "220 mx1.example.com ESMTP Exim 4.97 #2 Thu, 03 Dec 2026 18:00:01 +0000",
            "220 mx1.example.com ESMTP Exim 4.97 #2 Thu, 03 Dec 2026 18:00:02 +0000",
        ),
        c.BANNERS_INCONSISTENT,
        None,
        None,
        None,
    ),
    (
        "same-but-session-ids",
        _two_addresses(
            "220 mx.google.com ESMTP d75a77b69052e-4a5f1b3c0e2si1234567qtb.123 - gsmtp",
            "220 mx.google.com ESMTP 5b1f17b1804b1-43f2e4c5a1fsi98765wmb.77 - gsmtp",
        ),
        c.BANNERS_INCONSISTENT,
        None,
        None,
        None,
    ),
    (
        "same-exchange-dates",
        _two_addresses(
            "220 mx1.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 18:00:01"
            " +0000",
            "220 mx1.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 18:00:03"
            " +0000",
        ),
        c.BANNERS_INCONSISTENT,
        None,
        None,
        None,
    ),
    (
        "sendmail-versions-kept",
        _two_addresses(
            "220 mx1.example.com ESMTP Sendmail 8.15.2/8.15.2; Thu, 3 Dec 2026 18:00:01 GMT",
            "220 mx1.example.com ESMTP Sendmail 8.17.1/8.17.1; Thu, 3 Dec 2026 18:00:01 GMT",
        ),
        c.BANNERS_INCONSISTENT,
        W,
        MX1,
        None,
    ),
    ("one-address-per-host", clean_domain, c.BANNERS_INCONSISTENT, None, None, None),
]


@case_table(CASES)
def test_banner_findings(row: Row) -> None:
    assert_row(row)


def test_greeting_finding_carries_the_greeting_line() -> None:
    findings = run_checks(_greets("220 mailhost ESMTP ready")())
    (finding,) = by_code(findings, c.BANNER_HOSTNAME_NOT_FQDN)
    assert finding.evidence == "220 mailhost ESMTP ready"
    assert finding.rfc == "RFC 5321 §4.1.2"
    assert "mailhost" in finding.message


def test_slow_finding_names_the_delay() -> None:
    (finding,) = by_code(run_checks(_slow(12345.0)()), c.BANNER_SLOW)
    assert "12.3 s" in finding.message
    assert "12345 ms" in (finding.evidence or "")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            "220 a.test ESMTP Exim 4.97 #2 Thu, 03 Dec 2026 18:00:01 +0000",
            "220 a.test ESMTP Exim 4.97 #2 Fri, 04 Dec 2026 01:02:03 -0500",
            True,
        ),
        (
            "220 a.test ESMTP ready at 2026-12-03T18:00:01Z",
            "220 a.test ESMTP ready at 2026-12-03T18:07:09Z",
            True,
        ),
        ("220 a.test ESMTP queue 4Jq8Zx2Yb1z9", "220 a.test ESMTP queue 7Kp2Wq9Lm3x1", True),
        ("220 a.test ESMTP Exim 4.97", "220 a.test ESMTP Exim 4.98", False),
        ("220 a.test ESMTP Postfix", "220 b.test ESMTP Postfix", False),
    ],
)
def test_comparable_greeting(a: str, b: str, same: bool) -> None:
    assert (to_comparable_greeting(reply(a)) == to_comparable_greeting(reply(b))) is same
