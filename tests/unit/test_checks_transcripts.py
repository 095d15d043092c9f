"""Realistic recorded sessions (tests/unit/transcripts/*.json) judged end to end.

The JSON files are stored reports (schema-valid, read with the codec); the
findings are recomputed here from their recorded DNS data and sessions.
"""

from __future__ import annotations

import json

import pytest
from bannercheck.checks import catalog as c
from bannercheck.checks import run_checks
from bannercheck.model import Finding, Severity

from tests.reportcheck import assert_valid_report
from tests.unit.builders import TRANSCRIPTS, by_code, codes, context_of, load_report

NAMES = ["postfix", "exim", "exchange", "google", "microsoft365", "sendmail", "tarpit"]


def _findings(name: str) -> tuple[Finding, ...]:
    return run_checks(context_of(load_report(name)))


def _severities(findings: tuple[Finding, ...], code: str) -> set[Severity]:
    return {f.severity for f in by_code(findings, code)}


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_a_valid_stored_report(name: str) -> None:
    assert_valid_report(json.loads((TRANSCRIPTS / f"{name}.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", NAMES)
def test_every_finding_is_complete(name: str) -> None:
    for f in _findings(name):
        assert f.code in c.CATALOG
        assert f.message.strip() and f.remediation.strip()
        assert "\n" not in f.message + f.remediation
        if f.code not in {c.DNS_SINGLE_MX, c.DNS_TOO_MANY_MX, c.PROBE_EGRESS_BLOCKED}:
            assert f.evidence, f


@pytest.mark.parametrize("name", ["google", "microsoft365"])
def test_large_providers_are_not_failed_or_warned(name: str) -> None:
    """Their banner names differ from MX and PTR by design; FCrDNS passes."""
    findings = _findings(name)
    assert not [f for f in findings if f.severity in (Severity.FAIL, Severity.WARN)], findings
    assert _severities(findings, c.BANNER_PTR_MISMATCH) == {Severity.INFO}
    assert _severities(findings, c.BANNER_MX_MISMATCH) == {Severity.INFO}
    assert c.BANNERS_INCONSISTENT not in codes(findings)  # session ids / node names vary
    sessions = load_report(name).sessions()
    assert len(by_code(findings, c.BANNER_OK)) == len(sessions)
    assert len(by_code(findings, c.TLS_OK)) == len(sessions)


def test_google_ptr_is_not_generic() -> None:
    assert c.PTR_GENERIC not in codes(_findings("google"))


def test_postfix_debian_default() -> None:
    findings = _findings("postfix")
    assert _severities(findings, c.VRFY_ADVERTISED) == {Severity.WARN}
    assert _severities(findings, c.BANNER_SOFTWARE_DISCLOSED) == {Severity.INFO}
    assert c.BANNER_VERSION_DISCLOSED not in codes(findings)
    assert {c.BANNER_OK, c.TLS_OK} <= codes(findings)
    assert not [f for f in findings if f.severity is Severity.FAIL]


def test_exim_with_version() -> None:
    findings = _findings("exim")
    (vulnerable,) = by_code(findings, c.BANNER_VULNERABLE_VERSION)
    assert vulnerable.severity is Severity.FAIL
    assert (vulnerable.host, vulnerable.ip) == ("mx.example.net", "203.0.113.40")
    assert "CVE-2019-15846" in vulnerable.message and "backport" in vulnerable.message
    assert "Exim 4.92" in (vulnerable.evidence or "")
    assert _severities(findings, c.BANNER_VERSION_DISCLOSED) == {Severity.WARN}
    assert _severities(findings, c.AUTH_BEFORE_TLS) == {Severity.WARN}
    assert c.EHLO_HOSTNAME_MISMATCH not in codes(findings)


def test_exchange_default_certificate() -> None:
    findings = _findings("exchange")
    assert _severities(findings, c.TLS_CERT_UNTRUSTED) == {Severity.WARN}
    assert _severities(findings, c.TLS_CERT_NAME_MISMATCH) == {Severity.WARN}
    assert _severities(findings, c.AUTH_BEFORE_TLS) == {Severity.INFO}  # NTLM only
    assert c.TLS_OK not in codes(findings)
    assert c.BANNER_VERSION_DISCLOSED not in codes(findings)
    assert not [f for f in findings if f.severity is Severity.FAIL]


def test_sendmail_old_primary_new_backup() -> None:
    findings = _findings("sendmail")
    (vulnerable,) = by_code(findings, c.BANNER_VULNERABLE_VERSION)
    assert vulnerable.host == "mail.example.edu"
    assert "CVE-2023-51765" in vulnerable.message
    assert {f.host for f in by_code(findings, c.BANNER_VERSION_DISCLOSED)} == {
        "mail.example.edu",
        "mx2.example.edu",
    }
    (expiring,) = by_code(findings, c.TLS_CERT_EXPIRING)
    assert expiring.host == "mail.example.edu" and "9.1 days" in expiring.message


def test_tarpit_slow_is_slow_and_silent_is_missing() -> None:
    findings = _findings("tarpit")
    (slow,) = by_code(findings, c.BANNER_SLOW)
    assert (slow.host, slow.severity) == ("mx1.tarpit.example", Severity.WARN)
    (missing,) = by_code(findings, c.SMTP_NO_BANNER)
    assert (missing.host, missing.ip, missing.severity) == (
        "mx2.tarpit.example",
        "203.0.113.12",
        Severity.FAIL,
    )
    assert "never finished" in missing.message
    assert missing.evidence == "220 mx2.tarpit.exa"
    assert c.BANNER_MULTILINE in codes(findings)
    assert {f.host for f in by_code(findings, c.BANNER_OK)} == {"mx1.tarpit.example"}
