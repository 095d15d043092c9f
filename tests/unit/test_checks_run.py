"""run_checks (order, crash containment) and the catalog (codes, severities, docs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from bannercheck.checks import CHECKS, Context, run_checks
from bannercheck.checks import catalog as c
from bannercheck.checks.dns import check_domain_mx
from bannercheck.model import SEVERITY_ORDER, Finding, Severity, Step, StepStatus

from tests.unit.builders import (
    address,
    by_code,
    certificate,
    clean_domain,
    codes,
    context,
    dns,
    ended,
    good_host,
    host,
    tls_info,
    with_session,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "findings.md"

REQUIRED = {
    # DNS
    "DNS_NXDOMAIN", "DNS_NULL_MX", "DNS_IMPLICIT_MX", "DNS_NO_MAIL_HOST", "DNS_MX_CNAME",
    "DNS_MX_NOT_HOSTNAME", "DNS_MX_UNRESOLVABLE", "DNS_SINGLE_MX", "DNS_TOO_MANY_MX",
    "DNS_LOOKUP_FAILED", "ADDRESS_NOT_PUBLIC", "PTR_MISSING", "PTR_NOT_FORWARD_CONFIRMED",
    "PTR_GENERIC",
    # connection
    "SMTP_CONNECT_REFUSED", "SMTP_CONNECT_TIMEOUT", "SMTP_NO_BANNER", "SMTP_PROTOCOL_ERROR",
    "PROBE_EGRESS_BLOCKED", "PROBE_INTERNAL_ERROR", "INTERNAL_CHECK_ERROR",
    # banner
    "BANNER_OK", "BANNER_REJECTED", "BANNER_TEMPFAIL", "BANNER_SYNTAX", "BANNER_MULTILINE",
    "BANNER_HOSTNAME_NOT_FQDN", "BANNER_PTR_MISMATCH", "BANNER_MX_MISMATCH",
    "BANNER_SOFTWARE_DISCLOSED", "BANNER_VERSION_DISCLOSED", "BANNER_VULNERABLE_VERSION",
    "BANNER_SLOW", "BANNER_NON_ASCII", "BANNERS_INCONSISTENT",
    # EHLO
    "EHLO_REJECTED", "EHLO_HELO_ONLY", "EHLO_HOSTNAME_MISMATCH", "STARTTLS_MISSING",
    "AUTH_BEFORE_TLS", "VRFY_ADVERTISED", "EHLO_EXTENSIONS",
    # TLS
    "STARTTLS_FAILED", "STARTTLS_READVERTISED", "TLS_PROTOCOL_OUTDATED", "TLS_CERT_EXPIRED",
    "TLS_CERT_EXPIRING", "TLS_CERT_UNTRUSTED", "TLS_CERT_NAME_MISMATCH", "TLS_OK",
}  # fmt: skip

MUST_FAIL = {
    "DNS_NXDOMAIN", "DNS_NO_MAIL_HOST", "DNS_MX_UNRESOLVABLE", "SMTP_CONNECT_REFUSED",
    "SMTP_NO_BANNER", "STARTTLS_MISSING", "STARTTLS_FAILED", "TLS_CERT_EXPIRED",
    "BANNER_VULNERABLE_VERSION",
}  # fmt: skip
MUST_BE_INCONCLUSIVE = {
    "DNS_LOOKUP_FAILED", "BANNER_TEMPFAIL", "PROBE_EGRESS_BLOCKED", "PROBE_INTERNAL_ERROR",
    "INTERNAL_CHECK_ERROR",
}  # fmt: skip


def test_catalog_defines_every_required_code() -> None:
    assert set(c.CATALOG) >= REQUIRED
    for code, info in c.CATALOG.items():
        assert info.code == code
        assert getattr(c, code) == code  # exported as a constant
        assert info.title and info.remediation
        assert info.rfc is None or re.fullmatch(r"RFC \d+( §\d+(\.\d+)*)?", info.rfc), info.rfc


def test_catalog_severities() -> None:
    for code in MUST_FAIL:
        assert c.CATALOG[code].severity is Severity.FAIL, code
    for code in MUST_BE_INCONCLUSIVE:
        assert c.CATALOG[code].severity is Severity.INCONCLUSIVE, code
    assert c.CATALOG["DNS_NULL_MX"].severity is Severity.INFO
    assert c.CATALOG["BANNER_VERSION_DISCLOSED"].severity is Severity.WARN
    assert c.CATALOG["BANNER_OK"].severity is Severity.PASS
    assert c.CATALOG["TLS_OK"].severity is Severity.PASS


def _documented() -> dict[str, str]:
    """code -> severity as written in the docs' summary table."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\w+) \|", DOCS.read_text(encoding="utf-8"), re.M)
    return dict(rows)


def test_every_code_is_documented_with_its_severity() -> None:
    documented = _documented()
    assert set(documented) == set(c.CATALOG)
    for code, info in c.CATALOG.items():
        assert documented[code] == info.severity.value, code
    text = DOCS.read_text(encoding="utf-8")
    for code in c.CATALOG:
        assert re.search(rf"^### `{code}`$", text, re.M), f"no section for {code}"


def test_clean_domain_passes_and_shows_what_passed() -> None:
    findings = run_checks(clean_domain())
    assert not [f for f in findings if f.severity in (Severity.FAIL, Severity.WARN)], findings
    assert len(by_code(findings, c.BANNER_OK)) == 2
    assert len(by_code(findings, c.TLS_OK)) == 2


def _messy() -> Context:
    """Findings of every severity, over several hosts and addresses."""
    bad = host(
        "mx2.example.com",
        address(
            "192.0.2.30",
            ended("mx2.example.com", "192.0.2.30", StepStatus.CONNECTION_REFUSED, Step.CONNECT),
            ptr="mx2.example.com",
        ),
        address("192.0.2.20", None, ptr=None),
        preference=20,
    )
    ctx = context(dns(good_host("mx1.example.com", "192.0.2.10"), bad))
    return with_session(ctx, tls=tls_info("mx1.example.com", version="TLSv1"))


def test_findings_are_sorted_by_severity_then_host_then_address() -> None:
    findings = run_checks(_messy())
    keys = [(SEVERITY_ORDER[f.severity], f.host or "", f.ip or "") for f in findings]
    assert keys == sorted(keys)
    assert findings[0].severity is Severity.FAIL
    assert {f.severity for f in findings} >= {Severity.FAIL, Severity.WARN, Severity.INFO}


def test_a_crashing_check_becomes_an_inconclusive_finding() -> None:
    def broken(ctx: Context) -> Iterator[Finding]:
        yield from check_domain_mx(ctx)
        raise RuntimeError("bug in a check")

    findings = run_checks(clean_domain(), checks=(broken, *CHECKS))
    (crash,) = by_code(findings, c.INTERNAL_CHECK_ERROR)
    assert crash.severity is Severity.INCONCLUSIVE
    assert "RuntimeError" in crash.message and "bug in a check" in crash.message
    assert crash.remediation
    # The other checks still ran; the broken one's partial output is dropped.
    assert by_code(findings, c.BANNER_OK)
    assert sum(f.code == c.DNS_SINGLE_MX for f in findings) == 0


def test_unparsable_recorded_data_does_not_raise() -> None:
    # A certificate date the checks cannot read: an internal finding, not a traceback.
    broken = certificate("mx1.example.com")
    broken = replace(broken, not_after="not a date")
    ctx = with_session(clean_domain(), tls=tls_info("mx1.example.com", certificate=broken))
    findings = run_checks(ctx)
    assert c.INTERNAL_CHECK_ERROR in codes(findings)
    assert c.BANNER_OK in codes(findings)


@pytest.mark.parametrize("check", CHECKS, ids=[f.__name__ for f in CHECKS])
def test_each_check_is_pure_and_repeatable(check: object) -> None:
    ctx = _messy()
    assert tuple(check(ctx)) == tuple(check(ctx))  # type: ignore[operator]


def _table_rows() -> list[tuple[str, Severity | None]]:
    from tests.unit import (
        test_checks_banner,
        test_checks_connection,
        test_checks_dns,
        test_checks_ehlo_tls,
        test_checks_versions,
    )

    rows: list[tuple[str, Severity | None]] = []
    for module in (
        test_checks_dns,
        test_checks_connection,
        test_checks_banner,
        test_checks_ehlo_tls,
    ):
        rows += [(row[2], row[3]) for row in module.CASES]
    rows += [(row[2], row[3]) for row in test_checks_versions.CASES]
    return rows


def test_every_code_has_positive_and_negative_table_rows() -> None:
    rows = _table_rows()
    positive = {code for code, severity in rows if severity is not None}
    negative = {code for code, severity in rows if severity is None}
    # INTERNAL_CHECK_ERROR needs a broken check: tested above, not in a table.
    expected = set(c.CATALOG) - {c.INTERNAL_CHECK_ERROR}
    assert expected - positive == set()
    assert expected - negative == set()
