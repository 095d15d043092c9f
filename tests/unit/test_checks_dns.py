"""DNS findings: one row per situation, positive and negative."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from bannercheck.checks import Context, run_checks
from bannercheck.checks import catalog as c
from bannercheck.checks.dns import is_generic_ptr
from bannercheck.model import DnsResult, DnsStatus, Severity

from tests.unit.builders import (
    Row,
    address,
    assert_row,
    case_table,
    clean_domain,
    codes,
    context,
    dns,
    good_host,
    host,
    session,
)

F, W, N, Q = (
    Severity.FAIL,
    Severity.WARN,
    Severity.INFO,
    Severity.INCONCLUSIVE,
)  # fail, warn, note (info), inconclusive


def _nodata(**changes: object) -> Context:
    return context(DnsResult(mx_status=DnsStatus.NODATA, **changes))  # type: ignore[arg-type]


def _implicit() -> Context:
    implicit = replace(good_host("example.com", "192.0.2.80"), implicit=True, preference=0)
    return context(DnsResult(mx_status=DnsStatus.NODATA, hosts=(implicit,)))


def _single() -> Context:
    return context(dns(good_host("mx.example.com", "192.0.2.10")))


def _unresolvable() -> Context:
    dead = host("mx2.example.com", a_status=DnsStatus.NXDOMAIN, aaaa_status=DnsStatus.NXDOMAIN)
    return context(dns(good_host("mx1.example.com", "192.0.2.10"), dead))


def _all_unresolvable() -> Context:
    dead = host("mx.example.com", a_status=DnsStatus.NODATA, aaaa_status=DnsStatus.NXDOMAIN)
    return context(dns(dead))


def _loop() -> Context:
    looped = host("a.loop.example", a_status=DnsStatus.CNAME_LOOP, aaaa_status=DnsStatus.CNAME_LOOP)
    return context(dns(looped, good_host("mx2.example.com", "192.0.2.20")))


def _aaaa_timeout() -> Context:
    ctx = _single()
    h = replace(ctx.dns.hosts[0], aaaa_status=DnsStatus.TIMEOUT)
    return replace(ctx, dns=dns(h, good_host("mx2.example.com", "192.0.2.20")))


def _cname() -> Context:
    aliased = replace(good_host("mail.example.com", "192.0.2.10"), cname_target="srv.host.test")
    return context(dns(aliased, good_host("mx2.example.com", "192.0.2.20")))


def _literal() -> Context:
    lit = replace(good_host("192.0.2.10", "192.0.2.10"), ip_literal=True)
    return context(dns(lit, good_host("mx2.example.com", "192.0.2.20")))


def _skipped() -> Context:
    ctx = clean_domain()
    return replace(ctx, dns=replace(ctx.dns, skipped_hosts=("mx11.example.com",)))


def _private(allow: bool) -> Context:
    name = "mx.example.com"
    sess = session(name, "10.1.2.3") if allow else None
    private = host(name, address("10.1.2.3", sess, public=False, ptr_status=DnsStatus.NOT_ASKED))
    return context(dns(private, good_host("mx2.example.com", "192.0.2.20")), allow_private=allow)


def _ptr(name: str | None, *, confirmed: bool = True, status: DnsStatus | None = None) -> Context:
    h = host(
        "mx1.example.com",
        address(
            "198.51.100.7",
            session("mx1.example.com", "198.51.100.7"),
            ptr=name,
            confirmed=confirmed,
            ptr_status=status,
        ),
    )
    return context(dns(h, good_host("mx2.example.com", "192.0.2.20")))


# (id, context, code, severity or None = must not fire, host, ip)
CASES: list[tuple[str, Callable[[], Context], str, Severity | None, str | None, str | None]] = [
    (
        "null-mx-mixed",
        lambda: context(
            DnsResult(
                mx_status=DnsStatus.OK, null_mx=True, mx_records=("0 .", "10 mx.example.com.")
            )
        ),
        c.DNS_NULL_MX,
        W,
        None,
        None,
    ),
    ("cname-loop-host", _loop, c.DNS_MX_UNRESOLVABLE, F, "a.loop.example", None),
    ("cname-loop-host-not-inconclusive", _loop, c.DNS_LOOKUP_FAILED, None, None, None),
    (
        "cname-loop-domain",
        lambda: context(DnsResult(mx_status=DnsStatus.CNAME_LOOP)),
        c.DNS_NO_MAIL_HOST,
        F,
        None,
        None,
    ),
    (
        "nxdomain",
        lambda: context(DnsResult(mx_status=DnsStatus.NXDOMAIN)),
        c.DNS_NXDOMAIN,
        F,
        None,
        None,
    ),
    ("clean-no-nxdomain", clean_domain, c.DNS_NXDOMAIN, None, None, None),
    (
        "null-mx",
        lambda: context(DnsResult(mx_status=DnsStatus.OK, null_mx=True, mx_records=("0 .",))),
        c.DNS_NULL_MX,
        N,
        None,
        None,
    ),
    (
        "null-mx-no-single",
        lambda: context(DnsResult(mx_status=DnsStatus.OK, null_mx=True, mx_records=("0 .",))),
        c.DNS_SINGLE_MX,
        None,
        None,
        None,
    ),
    ("clean-no-null", clean_domain, c.DNS_NULL_MX, None, None, None),
    ("implicit", _implicit, c.DNS_IMPLICIT_MX, W, "example.com", None),
    ("implicit-is-a-host", _implicit, c.DNS_NO_MAIL_HOST, None, None, None),
    ("clean-not-implicit", clean_domain, c.DNS_IMPLICIT_MX, None, None, None),
    (
        "no-mx-no-a",
        lambda: _nodata(a_status=DnsStatus.NODATA, aaaa_status=DnsStatus.NXDOMAIN),
        c.DNS_NO_MAIL_HOST,
        F,
        None,
        None,
    ),
    (
        "no-mx-a-timeout",
        lambda: _nodata(a_status=DnsStatus.TIMEOUT, aaaa_status=DnsStatus.NODATA),
        c.DNS_NO_MAIL_HOST,
        None,
        None,
        None,
    ),
    (
        "no-mx-a-timeout-inconclusive",
        lambda: _nodata(a_status=DnsStatus.TIMEOUT, aaaa_status=DnsStatus.NODATA),
        c.DNS_LOOKUP_FAILED,
        Q,
        None,
        None,
    ),
    ("all-mx-unresolvable", _all_unresolvable, c.DNS_NO_MAIL_HOST, F, None, None),
    ("one-mx-unresolvable-not-no-host", _unresolvable, c.DNS_NO_MAIL_HOST, None, None, None),
    ("mx-unresolvable", _unresolvable, c.DNS_MX_UNRESOLVABLE, F, "mx2.example.com", None),
    ("clean-resolvable", clean_domain, c.DNS_MX_UNRESOLVABLE, None, None, None),
    ("aaaa-timeout-not-unresolvable", _aaaa_timeout, c.DNS_MX_UNRESOLVABLE, None, None, None),
    ("aaaa-timeout", _aaaa_timeout, c.DNS_LOOKUP_FAILED, Q, "mx.example.com", None),
    (
        "mx-servfail",
        lambda: context(DnsResult(mx_status=DnsStatus.SERVFAIL, mx_error="SERVFAIL")),
        c.DNS_LOOKUP_FAILED,
        Q,
        None,
        None,
    ),
    (
        "mx-servfail-not-nxdomain",
        lambda: context(DnsResult(mx_status=DnsStatus.SERVFAIL)),
        c.DNS_NO_MAIL_HOST,
        None,
        None,
        None,
    ),
    (
        "mx-timeout",
        lambda: context(DnsResult(mx_status=DnsStatus.TIMEOUT)),
        c.DNS_LOOKUP_FAILED,
        Q,
        None,
        None,
    ),
    ("clean-lookups", clean_domain, c.DNS_LOOKUP_FAILED, None, None, None),
    ("cname", _cname, c.DNS_MX_CNAME, W, "mail.example.com", None),
    ("clean-no-cname", clean_domain, c.DNS_MX_CNAME, None, None, None),
    ("literal", _literal, c.DNS_MX_NOT_HOSTNAME, F, "192.0.2.10", None),
    ("clean-hostnames", clean_domain, c.DNS_MX_NOT_HOSTNAME, None, None, None),
    ("single", _single, c.DNS_SINGLE_MX, N, "mx.example.com", None),
    ("two-mx", clean_domain, c.DNS_SINGLE_MX, None, None, None),
    ("too-many", _skipped, c.DNS_TOO_MANY_MX, N, None, None),
    ("not-too-many", clean_domain, c.DNS_TOO_MANY_MX, None, None, None),
    (
        "private-deployed",
        lambda: _private(False),
        c.ADDRESS_NOT_PUBLIC,
        F,
        "mx.example.com",
        "10.1.2.3",
    ),
    ("private-lab", lambda: _private(True), c.ADDRESS_NOT_PUBLIC, N, "mx.example.com", "10.1.2.3"),
    ("public", clean_domain, c.ADDRESS_NOT_PUBLIC, None, None, None),
    ("ptr-missing", lambda: _ptr(None), c.PTR_MISSING, W, "mx1.example.com", "198.51.100.7"),
    (
        "ptr-empty-ok",
        lambda: _ptr(None, status=DnsStatus.OK),
        c.PTR_MISSING,
        W,
        None,
        "198.51.100.7",
    ),
    ("ptr-present", lambda: _ptr("mx1.example.com"), c.PTR_MISSING, None, None, None),
    (
        "ptr-not-asked",
        lambda: _ptr(None, status=DnsStatus.NOT_ASKED),
        c.PTR_MISSING,
        None,
        None,
        None,
    ),
    (
        "ptr-servfail",
        lambda: _ptr(None, status=DnsStatus.SERVFAIL),
        c.DNS_LOOKUP_FAILED,
        Q,
        None,
        "198.51.100.7",
    ),
    (
        "ptr-servfail-not-missing",
        lambda: _ptr(None, status=DnsStatus.SERVFAIL),
        c.PTR_MISSING,
        None,
        None,
        None,
    ),
    (
        "ptr-unconfirmed",
        lambda: _ptr("mx1.example.com", confirmed=False),
        c.PTR_NOT_FORWARD_CONFIRMED,
        W,
        None,
        "198.51.100.7",
    ),
    (
        "ptr-confirmed",
        lambda: _ptr("mx1.example.com"),
        c.PTR_NOT_FORWARD_CONFIRMED,
        None,
        None,
        None,
    ),
    (
        "ptr-generic-dashes",
        lambda: _ptr("198-51-100-7.dyn.isp.test"),
        c.PTR_GENERIC,
        W,
        None,
        "198.51.100.7",
    ),
    (
        "ptr-generic-reversed",
        lambda: _ptr("7.100.51.198.in-addr.customer.isp.test"),
        c.PTR_GENERIC,
        W,
        None,
        "198.51.100.7",
    ),
    (
        "ptr-generic-word",
        lambda: _ptr("host7.adsl.isp.test"),
        c.PTR_GENERIC,
        W,
        None,
        "198.51.100.7",
    ),
    (
        "ptr-google-not-generic",
        lambda: _ptr("mail-yw1-f170.google.com"),
        c.PTR_GENERIC,
        None,
        None,
        None,
    ),
    ("ptr-own-name-not-generic", lambda: _ptr("mx1.example.com"), c.PTR_GENERIC, None, None, None),
]


@case_table(CASES)
def test_dns_findings(row: Row) -> None:
    assert_row(row)


def test_nxdomain_is_the_only_finding() -> None:
    findings = run_checks(context(DnsResult(mx_status=DnsStatus.NXDOMAIN)))
    assert codes(findings) == {c.DNS_NXDOMAIN}
    assert findings[0].evidence == "example.com MX: NXDOMAIN"


def test_null_mx_gets_no_connection_findings_even_with_hosts_recorded() -> None:
    # Defensive: whatever the engine recorded, a null MX domain is judged on that alone.
    ctx = clean_domain()
    ctx = replace(ctx, dns=replace(ctx.dns, null_mx=True, mx_records=("0 .",)))
    assert codes(run_checks(ctx)) == {c.DNS_NULL_MX}


def test_private_address_without_session_gets_no_connection_findings() -> None:
    findings = run_checks(_private(False))
    mine = {f.code for f in findings if f.ip == "10.1.2.3"}
    assert mine == {c.ADDRESS_NOT_PUBLIC}


@pytest.mark.parametrize(
    ("name", "ip", "generic"),
    [
        ("ec2-54-1-2-3.compute-1.amazonaws.com", "54.1.2.3", True),
        ("3.2.1.54.static.isp.test", "54.1.2.3", True),
        ("host054001002003.isp.test", "54.1.2.3", True),
        ("pool-71-1-2-3.nycmny.fios.verizon.net", "71.1.2.3", True),
        ("dhcp-10.isp.test", "54.1.2.3", True),
        ("xx-in-f26.1e100.net", "142.250.1.26", False),
        ("mail-dm6nam12on2100.outbound.protection.outlook.com", "40.107.1.100", False),
        ("mx1.example.com", "192.0.2.1", False),
        ("mx-154-1-2-3.example.com", "54.1.2.3", False),  # 154 is not 54
        ("mx.example.com", "2001:db8::1", False),
    ],
)
def test_generic_ptr_heuristic(name: str, ip: str, generic: bool) -> None:
    assert is_generic_ptr(name, ip) is generic
