"""Recorded-data builders for the checks' unit tests.

Replies go through the transport's own parser (``replies.to_reply``) so the
tests see exactly the shapes a real session records. Addresses are
documentation/example values: nothing here touches a network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bannercheck.checks import Context, run_checks
from bannercheck.codec import from_dict
from bannercheck.model import (
    Address,
    Certificate,
    DnsResult,
    DnsStatus,
    Finding,
    MxHost,
    Reply,
    Report,
    Session,
    Step,
    StepStatus,
    Timings,
    TlsInfo,
)
from bannercheck.replies import to_keywords, to_reply

NOW = datetime(2026, 12, 3, 18, 0, 0, tzinfo=UTC)
EHLO_NAME = "probe.bannercheck.test"
TRANSCRIPTS = Path(__file__).parent / "transcripts"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def reply(*lines: str | bytes) -> Reply:
    """A reply as the transport parses it from these raw lines."""
    return to_reply([line if isinstance(line, bytes) else line.encode() for line in lines])


def ehlo_reply(host: str, *keywords: str) -> Reply:
    lines = [f"250-{host}"] + [f"250-{k}" for k in keywords]
    if keywords:
        lines[-1] = "250 " + lines[-1][4:]
    else:
        lines[0] = f"250 {host}"
    return reply(*lines)


def certificate(
    host: str,
    *,
    sans: tuple[str, ...] | None = None,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=60),
    self_signed: bool = False,
) -> Certificate:
    return Certificate(
        subject=f"CN={host}",
        issuer=f"CN={host}" if self_signed else "CN=Example CA R1,O=Example CA",
        sans=(host,) if sans is None else sans,
        common_names=(host,),
        not_before=iso(not_before),
        not_after=iso(not_after),
        serial="0a1b2c",
        sha256="00" * 32,
        key_type="EC secp256r1",
        key_bits=256,
        signature_algorithm="ecdsa-with-SHA256",
        self_signed=self_signed,
    )


def tls_info(host: str, **changes: Any) -> TlsInfo:
    info = TlsInfo(
        version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        cipher_bits=256,
        sni=host,
        certificate=certificate(host),
        chain_length=2,
        chain_verified=True,
        verify_error=None,
        name_matches=True,
    )
    return replace(info, **changes)


def session(
    host: str,
    ip: str,
    *,
    greeting: str | bytes | Reply | None = None,
    keywords: Iterable[str] = ("PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME"),
    tls: TlsInfo | None = None,
    greeting_ms: float = 40.0,
    **changes: Any,
) -> Session:
    """A clean session (greeting, EHLO, STARTTLS, EHLO) unless changed.

    ``tls`` defaults to a verified TLS 1.3 session when STARTTLS is offered.
    """
    if not isinstance(greeting, Reply):
        greeting = reply(greeting if greeting is not None else f"220 {host} ESMTP Postfix")
    keywords = tuple(keywords)
    ehlo = ehlo_reply(host, *keywords)
    offered = "STARTTLS" in keywords
    after_tls = ehlo_reply(host, *(k for k in keywords if k != "STARTTLS")) if offered else None
    base = Session(
        host=host,
        ip=ip,
        port=25,
        status=StepStatus.OK,
        timings=Timings(connect_ms=12.0, greeting_ms=greeting_ms, ehlo_ms=5.0, total_ms=120.0),
        greeting=greeting,
        ehlo_command="EHLO",
        ehlo=ehlo,
        keywords=to_keywords(ehlo),
        starttls=reply("220 2.0.0 Ready to start TLS") if offered else None,
        tls=(tls or tls_info(host)) if offered else None,
        ehlo_tls=after_tls,
        keywords_tls=to_keywords(after_tls) if after_tls else (),
        quit=reply("221 2.0.0 Bye"),
    )
    return replace(base, **changes)


def ended(host: str, ip: str, status: StepStatus, step: Step, **changes: Any) -> Session:
    """A session that ended early at ``step``: nothing after it was recorded."""
    base = Session(host=host, ip=ip, port=25, status=status, failed_step=step, error=status.value)
    return replace(base, **changes)


def address(
    ip: str,
    sess: Session | None,
    *,
    ptr: str | None = None,
    confirmed: bool = True,
    public: bool = True,
    ptr_status: DnsStatus | None = None,
) -> Address:
    names = (ptr,) if ptr else ()
    if ptr_status is None:
        ptr_status = DnsStatus.OK if ptr else DnsStatus.NXDOMAIN
    return Address(
        ip=ip,
        family=6 if ":" in ip else 4,
        public=public,
        ptr_status=ptr_status,
        ptr_names=names,
        ptr_confirmed=names if confirmed else (),
        session=sess,
    )


def host(name: str, *addresses: Address, preference: int = 10, **changes: Any) -> MxHost:
    four = any(a.family == 4 for a in addresses)
    six = any(a.family == 6 for a in addresses)
    base = MxHost(
        name=name,
        preference=preference,
        a_status=DnsStatus.OK if four else DnsStatus.NODATA,
        aaaa_status=DnsStatus.OK if six else DnsStatus.NODATA,
        addresses=addresses,
    )
    return replace(base, **changes)


def good_host(name: str, ip: str, *, preference: int = 10, **session_changes: Any) -> MxHost:
    """An MX host with one address, FCrDNS to its own name, and a clean session."""
    return host(
        name,
        address(ip, session(name, ip, **session_changes), ptr=name),
        preference=preference,
    )


def dns(*hosts: MxHost, **changes: Any) -> DnsResult:
    base = DnsResult(
        mx_status=DnsStatus.OK,
        mx_records=tuple(f"{h.preference} {h.name}." for h in hosts),
        hosts=hosts,
    )
    return replace(base, **changes)


def context(result: DnsResult, domain: str = "example.com", **changes: Any) -> Context:
    base = Context(domain=domain, dns=result, now=NOW, ehlo_name=EHLO_NAME)
    return replace(base, **changes)


def clean_domain() -> Context:
    """Two MX hosts, each with one address, everything right."""
    return context(
        dns(
            good_host("mx1.example.com", "192.0.2.10"),
            good_host("mx2.example.com", "192.0.2.20", preference=20),
        )
    )


def with_session(ctx: Context, **changes: Any) -> Context:
    """``ctx`` with the first session changed (the first host's first address)."""
    first = ctx.dns.hosts[0]
    addr = first.addresses[0]
    assert addr.session is not None
    new_addr = replace(addr, session=replace(addr.session, **changes))
    new_host = replace(first, addresses=(new_addr, *first.addresses[1:]))
    return replace(ctx, dns=replace(ctx.dns, hosts=(new_host, *ctx.dns.hosts[1:])))


def load_report(name: str) -> Report:
    data = json.loads((TRANSCRIPTS / f"{name}.json").read_text(encoding="utf-8"))
    return from_dict(Report, data)


def context_of(report: Report) -> Context:
    return Context(
        domain=report.domain,
        dns=report.dns,
        now=datetime.fromisoformat(report.checked_at.replace("Z", "+00:00")),
        ehlo_name=report.ehlo_name,
    )


def codes(findings: Iterable[Finding]) -> set[str]:
    return {f.code for f in findings}


def by_code(findings: Iterable[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def assert_case(
    findings: Iterable[Finding],
    code: str,
    severity: object,
    *,
    host: str | None = None,
    ip: str | None = None,
) -> None:
    """``code`` present with ``severity`` (and host/ip), or absent when severity is None."""
    found = by_code(findings, code)
    if severity is None:
        # Absent (for this host/address when given; other hosts may be fine).
        found = [f for f in found if host in (None, f.host) and ip in (None, f.ip)]
        assert not found, f"{code} should not fire: {found}"
        return
    assert found, f"{code} missing; got {sorted(codes(findings))}"
    assert {f.severity for f in found} == {severity}, found
    for f in found:
        assert f.message.strip() and f.remediation.strip(), f
        assert "\n" not in f.message and "\n" not in f.remediation, f
        # Every template placeholder was filled ("?"/"None" mark a missing value).
        assert "?" not in f.remediation and "None" not in f.remediation, f
    if host is not None:
        assert host in {f.host for f in found}, found
    if ip is not None:
        assert ip in {f.ip for f in found}, found


# A row of a finding table: (id, context factory, code, severity or None for
# "must not fire", host, ip).
Row = tuple[Callable[[], Context], str, object, str | None, str | None]


def case_table(cases: Sequence[tuple[Any, ...]]) -> pytest.MarkDecorator:
    """Parametrize a test over ``cases`` rows, the first item of each being its id."""
    return pytest.mark.parametrize("row", [c[1:] for c in cases], ids=[c[0] for c in cases])


def assert_row(row: Row) -> None:
    ctx, code, severity, host_, ip = row
    assert_case(run_checks(ctx()), code, severity, host=host_, ip=ip)
