"""EHLO findings (keywords, names) and TLS findings (STARTTLS, protocol, certificate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bannercheck.checks import Context, run_checks
from bannercheck.checks import catalog as c
from bannercheck.model import Severity, Step, StepStatus
from bannercheck.replies import to_keywords

from tests.unit.builders import (
    NOW,
    Row,
    assert_row,
    by_code,
    case_table,
    certificate,
    clean_domain,
    ehlo_reply,
    reply,
    session,
    tls_info,
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


def _keywords(*keywords: str) -> Callable[[], Context]:
    def build() -> Context:
        fresh = session(MX1, IP1, keywords=keywords)
        return with_session(clean_domain(), **{f: getattr(fresh, f) for f in _SESSION_FIELDS})

    return build


_SESSION_FIELDS = ("ehlo", "keywords", "starttls", "tls", "ehlo_tls", "keywords_tls")


def _helo_only() -> Context:
    return with_session(
        clean_domain(),
        ehlo_command="HELO",
        ehlo_rejected=reply("502 5.5.2 Error: command not recognized"),
        ehlo=reply("250 mx1.example.com"),
        keywords=(),
        starttls=None,
        tls=None,
        ehlo_tls=None,
        keywords_tls=(),
    )


def _ehlo_refused(line: str, helo: str | None = None) -> Context:
    return with_session(
        clean_domain(),
        ehlo_command="HELO" if helo else "EHLO",
        ehlo_rejected=reply(line) if helo else None,
        ehlo=reply(helo or line),
        keywords=(),
        starttls=None,
        tls=None,
        ehlo_tls=None,
        keywords_tls=(),
    )


def _ehlo_names(greeting: str, ehlo_first: str) -> Callable[[], Context]:
    def build() -> Context:
        base = with_session(clean_domain(), greeting=reply(greeting))
        ehlo = ehlo_reply(ehlo_first, "PIPELINING", "STARTTLS")
        return with_session(base, ehlo=ehlo)

    return build


def _tls(**changes: object) -> Callable[[], Context]:
    return lambda: with_session(clean_domain(), tls=tls_info(MX1, **changes))


def _cert(**changes: object) -> Callable[[], Context]:
    return _tls(certificate=certificate(MX1, **changes))  # type: ignore[arg-type]


def _tls_failed(status: StepStatus, step: Step, **changes: object) -> Callable[[], Context]:
    return lambda: with_session(
        clean_domain(),
        status=status,
        failed_step=step,
        error="wrong version number",
        tls=None,
        ehlo_tls=None,
        keywords_tls=(),
        quit=None,
        **changes,
    )


def _starttls_454() -> Context:
    return with_session(
        clean_domain(),
        starttls=reply("454 4.7.0 TLS not available due to local problem"),
        tls=None,
        ehlo_tls=None,
        keywords_tls=(),
    )


def _readvertised() -> Context:
    again = ehlo_reply(MX1, "PIPELINING", "STARTTLS")
    return with_session(clean_domain(), ehlo_tls=again, keywords_tls=to_keywords(again))


EXPIRED: dict[str, Any] = {
    "not_after": NOW - timedelta(days=3),
    "not_before": NOW - timedelta(days=93),
}

CASES: list[tuple[str, Callable[[], Context], str, Severity | None, str | None, str | None]] = [
    # EHLO
    ("ehlo-5xx", lambda: _ehlo_refused("550 5.7.1 go away"), c.EHLO_REJECTED, W, MX1, IP1),
    (
        "ehlo-and-helo-5xx",
        lambda: _ehlo_refused("502 no", "550 5.7.1 go away"),
        c.EHLO_REJECTED,
        W,
        MX1,
        IP1,
    ),
    ("ehlo-4xx", lambda: _ehlo_refused("421 4.7.0 try later"), c.EHLO_REJECTED, Q, MX1, IP1),
    (
        "ehlo-4xx-no-starttls-finding",
        lambda: _ehlo_refused("421 4.7.0 try later"),
        c.STARTTLS_MISSING,
        None,
        MX1,
        IP1,
    ),
    ("ehlo-ok", clean_domain, c.EHLO_REJECTED, None, None, None),
    ("helo-only", _helo_only, c.EHLO_HELO_ONLY, W, MX1, IP1),
    ("helo-only-no-starttls", _helo_only, c.STARTTLS_MISSING, F, MX1, IP1),
    ("ehlo-not-helo-only", clean_domain, c.EHLO_HELO_ONLY, None, None, None),
    (
        "ehlo-name-differs",
        _ehlo_names("220 mx1.example.com ESMTP", "relay7.example.com"),
        c.EHLO_HOSTNAME_MISMATCH,
        N,
        MX1,
        IP1,
    ),
    (
        "ehlo-name-case",
        _ehlo_names("220 mx1.example.com ESMTP", "MX1.EXAMPLE.COM"),
        c.EHLO_HOSTNAME_MISMATCH,
        None,
        None,
        None,
    ),
    ("ehlo-name-same", clean_domain, c.EHLO_HOSTNAME_MISMATCH, None, None, None),
    (
        "our-ehlo-name-replaced",
        lambda: replace(
            clean_domain(),
            configured_ehlo_name="probe.example.com",
            ehlo_name="bannercheck-probe.example.net",
        ),
        c.PROBE_EHLO_NAME_REPLACED,
        N,
        None,
        None,
    ),
    ("our-ehlo-name-kept", clean_domain, c.PROBE_EHLO_NAME_REPLACED, None, None, None),
    (
        "no-starttls",
        _keywords("PIPELINING", "SIZE 10240000", "8BITMIME"),
        c.STARTTLS_MISSING,
        F,
        MX1,
        IP1,
    ),
    (
        "starttls-lowercase-parsed",
        _keywords("PIPELINING", "starttls"),
        c.STARTTLS_MISSING,
        None,
        None,
        None,
    ),
    (
        "starttls-inside-other-word",
        _keywords("X-NOSTARTTLS", "PIPELINING"),
        c.STARTTLS_MISSING,
        F,
        MX1,
        IP1,
    ),
    ("starttls", clean_domain, c.STARTTLS_MISSING, None, None, None),
    ("auth-plain", _keywords("AUTH PLAIN LOGIN", "PIPELINING"), c.AUTH_BEFORE_TLS, W, MX1, IP1),
    (
        "auth-cram",
        _keywords("AUTH CRAM-MD5 SCRAM-SHA-256", "STARTTLS"),
        c.AUTH_BEFORE_TLS,
        N,
        MX1,
        IP1,
    ),
    ("no-auth", clean_domain, c.AUTH_BEFORE_TLS, None, None, None),
    ("vrfy", _keywords("VRFY", "STARTTLS"), c.VRFY_ADVERTISED, W, MX1, IP1),
    ("no-vrfy", clean_domain, c.VRFY_ADVERTISED, None, None, None),
    ("extensions", clean_domain, c.EHLO_EXTENSIONS, N, MX1, IP1),
    ("no-extensions", _keywords(), c.EHLO_EXTENSIONS, None, MX1, IP1),
    # TLS
    ("tls-ok", clean_domain, c.TLS_OK, P, MX1, IP1),
    (
        "handshake-garbage",
        _tls_failed(StepStatus.TLS_ERROR, Step.TLS_HANDSHAKE),
        c.STARTTLS_FAILED,
        F,
        MX1,
        IP1,
    ),
    (
        "handshake-timeout",
        _tls_failed(StepStatus.IO_TIMEOUT, Step.TLS_HANDSHAKE),
        c.STARTTLS_FAILED,
        F,
        MX1,
        IP1,
    ),
    (
        "starttls-no-reply",
        _tls_failed(StepStatus.IO_TIMEOUT, Step.STARTTLS, starttls=None),
        c.STARTTLS_FAILED,
        F,
        MX1,
        IP1,
    ),
    (
        "ehlo-after-tls-closed",
        _tls_failed(StepStatus.CLOSED, Step.EHLO_TLS),
        c.STARTTLS_FAILED,
        F,
        MX1,
        IP1,
    ),
    ("starttls-454", _starttls_454, c.STARTTLS_FAILED, F, MX1, IP1),
    (
        "ehlo-after-tls-rejected",
        lambda: with_session(clean_domain(), ehlo_tls=reply("554 5.7.0 go away"), keywords_tls=()),
        c.STARTTLS_FAILED,
        F,
        MX1,
        IP1,
    ),
    (
        "handshake-fail-no-tls-ok",
        _tls_failed(StepStatus.TLS_ERROR, Step.TLS_HANDSHAKE),
        c.TLS_OK,
        None,
        MX1,
        IP1,
    ),
    ("tls-not-failed", clean_domain, c.STARTTLS_FAILED, None, None, None),
    ("no-starttls-not-failed", _keywords("PIPELINING"), c.STARTTLS_FAILED, None, None, None),
    ("readvertised", _readvertised, c.STARTTLS_READVERTISED, W, MX1, IP1),
    ("not-readvertised", clean_domain, c.STARTTLS_READVERTISED, None, None, None),
    ("tls-1.0", _tls(version="TLSv1"), c.TLS_PROTOCOL_OUTDATED, W, MX1, IP1),
    ("tls-1.1", _tls(version="TLSv1.1"), c.TLS_PROTOCOL_OUTDATED, W, MX1, IP1),
    ("sslv3", _tls(version="SSLv3"), c.TLS_PROTOCOL_OUTDATED, W, MX1, IP1),
    ("tls-1.2", _tls(version="TLSv1.2"), c.TLS_PROTOCOL_OUTDATED, None, None, None),
    ("tls-1.3", clean_domain, c.TLS_PROTOCOL_OUTDATED, None, None, None),
    ("expired", _cert(**EXPIRED), c.TLS_CERT_EXPIRED, F, MX1, IP1),
    ("not-yet-valid", _cert(not_before=NOW + timedelta(days=2)), c.TLS_CERT_EXPIRED, F, MX1, IP1),
    (
        "expired-not-also-untrusted",
        _tls(
            certificate=certificate(MX1, **EXPIRED),
            chain_verified=False,
            verify_error="certificate has expired",
        ),
        c.TLS_CERT_UNTRUSTED,
        None,
        None,
        None,
    ),
    ("valid", clean_domain, c.TLS_CERT_EXPIRED, None, None, None),
    ("expiring", _cert(not_after=NOW + timedelta(days=5)), c.TLS_CERT_EXPIRING, W, MX1, IP1),
    (
        "expiring-not-expired",
        _cert(not_after=NOW + timedelta(days=5)),
        c.TLS_CERT_EXPIRED,
        None,
        None,
        None,
    ),
    (
        "not-expiring",
        _cert(not_after=NOW + timedelta(days=15)),
        c.TLS_CERT_EXPIRING,
        None,
        None,
        None,
    ),
    (
        "self-signed",
        _tls(
            certificate=certificate(MX1, self_signed=True),
            chain_verified=False,
            verify_error="self-signed certificate",
        ),
        c.TLS_CERT_UNTRUSTED,
        W,
        MX1,
        IP1,
    ),
    (
        "unknown-ca",
        _tls(chain_verified=False, verify_error="unable to get local issuer certificate"),
        c.TLS_CERT_UNTRUSTED,
        W,
        MX1,
        IP1,
    ),
    (
        "no-certificate",
        _tls(certificate=None, chain_verified=False, name_matches=False),
        c.TLS_CERT_UNTRUSTED,
        W,
        MX1,
        IP1,
    ),
    ("trusted", clean_domain, c.TLS_CERT_UNTRUSTED, None, None, None),
    (
        "name-mismatch",
        _tls(
            certificate=certificate(MX1, sans=("other.example.net",)),
            name_matches=False,
            chain_verified=False,
            verify_error="Hostname mismatch, certificate is not valid for 'mx1.example.com'.",
        ),
        c.TLS_CERT_NAME_MISMATCH,
        W,
        MX1,
        IP1,
    ),
    (
        "name-mismatch-not-untrusted",
        _tls(
            certificate=certificate(MX1, sans=("other.example.net",)),
            name_matches=False,
            chain_verified=False,
            verify_error="Hostname mismatch, certificate is not valid for 'mx1.example.com'.",
        ),
        c.TLS_CERT_UNTRUSTED,
        None,
        None,
        None,
    ),
    ("name-mismatch-not-ok", _tls(name_matches=False), c.TLS_OK, None, MX1, IP1),
    ("name-matches", clean_domain, c.TLS_CERT_NAME_MISMATCH, None, None, None),
]


@case_table(CASES)
def test_ehlo_and_tls_findings(row: Row) -> None:
    assert_row(row)


def test_extensions_info_lists_keywords_and_size() -> None:
    (finding,) = [f for f in by_code(run_checks(clean_domain()), c.EHLO_EXTENSIONS) if f.ip == IP1]
    assert "STARTTLS" in finding.message and "PIPELINING" in finding.message
    assert "SIZE 10240000 bytes" in finding.message


def test_expiring_names_the_date_and_days() -> None:
    ctx = _cert(not_after=NOW + timedelta(days=5, hours=12))()
    (finding,) = by_code(run_checks(ctx), c.TLS_CERT_EXPIRING)
    assert "5.5 days" in finding.message
    assert "2026-12-09T06:00:00Z" in finding.remediation


def test_expiry_threshold_is_the_context_setting() -> None:
    ctx = replace(_cert(not_after=NOW + timedelta(days=20))(), cert_expiry_warn_days=30)
    assert by_code(run_checks(ctx), c.TLS_CERT_EXPIRING)


def test_untrusted_message_says_why() -> None:
    ctx = _tls(
        certificate=certificate(MX1, self_signed=True),
        chain_verified=False,
        verify_error="self-signed certificate",
    )()
    (finding,) = by_code(run_checks(ctx), c.TLS_CERT_UNTRUSTED)
    assert "self-signed" in finding.message
    assert finding.evidence is not None and "issuer=CN=mx1.example.com" in finding.evidence
