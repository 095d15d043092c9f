"""Reports built from ``bannercheck.model`` with fixed times, for Slack tests."""

from __future__ import annotations

from bannercheck.model import (
    Address,
    Certificate,
    DnsResult,
    DnsStatus,
    EhloKeyword,
    Finding,
    MxHost,
    Reply,
    Report,
    Session,
    Severity,
    StepStatus,
    TlsInfo,
    Verdict,
)

CHECKED_AT = "2026-12-03T18:00:00.000Z"
EHLO_NAME = "probe.bannercheck.example"


def reply(code: int, *texts: str) -> Reply:
    lines = tuple(f"{code}{'-' if i < len(texts) - 1 else ' '}{t}" for i, t in enumerate(texts))
    return Reply(code=code, lines=lines, texts=tuple(texts))


def cert(host: str, not_after: str = "2027-03-01T00:00:00Z") -> Certificate:
    return Certificate(
        subject=f"CN={host}",
        issuer="CN=Lab CA",
        sans=(host,),
        common_names=(host,),
        not_before="2026-09-01T00:00:00Z",
        not_after=not_after,
        serial="01",
        sha256="ab" * 32,
        key_type="ECDSA",
        key_bits=256,
        signature_algorithm="ecdsa-with-SHA256",
        self_signed=False,
    )


def session(
    host: str,
    ip: str,
    *,
    greeting: str | None = None,
    starttls: bool = True,
    not_after: str = "2027-03-01T00:00:00Z",
    status: StepStatus = StepStatus.OK,
) -> Session:
    if status is not StepStatus.OK:
        return Session(host=host, ip=ip, port=25, status=status, error="timed out")
    keywords = (EhloKeyword("PIPELINING"), EhloKeyword("SIZE", ("10240000",)))
    if starttls:
        keywords += (EhloKeyword("STARTTLS"),)
    tls = (
        TlsInfo(
            version="TLSv1.3",
            cipher="TLS_AES_256_GCM_SHA384",
            cipher_bits=256,
            sni=host,
            certificate=cert(host, not_after),
            chain_length=2,
            chain_verified=True,
            verify_error=None,
            name_matches=True,
        )
        if starttls
        else None
    )
    return Session(
        host=host,
        ip=ip,
        port=25,
        status=status,
        greeting=reply(220, greeting or f"{host} ESMTP"),
        ehlo_command="EHLO",
        ehlo=reply(250, host, "PIPELINING", "SIZE 10240000", *(["STARTTLS"] if starttls else [])),
        keywords=keywords,
        starttls=reply(220, "2.0.0 Ready to start TLS") if starttls else None,
        tls=tls,
    )


def mx(
    name: str,
    preference: int,
    ips: tuple[str, ...],
    *,
    fcrdns: bool = True,
    **session_args: object,
) -> MxHost:
    return MxHost(
        name=name,
        preference=preference,
        a_status=DnsStatus.OK,
        aaaa_status=DnsStatus.NODATA,
        addresses=tuple(
            Address(
                ip=ip,
                family=6 if ":" in ip else 4,
                public=True,
                ptr_status=DnsStatus.OK,
                ptr_names=(name,),
                ptr_confirmed=(name,) if fcrdns else (),
                session=session(name, ip, **session_args),  # type: ignore[arg-type]
            )
            for ip in ips
        ),
    )


def finding(
    code: str, severity: Severity, message: str, host: str | None = None, ip: str | None = None
) -> Finding:
    return Finding(
        code=code,
        severity=severity,
        message=message,
        remediation=f"Fix {code.lower().replace('_', ' ')} on the server.",
        host=host,
        ip=ip,
        rfc="RFC 5321 §4.3.1" if code.startswith("BANNER") else None,
    )


def report(
    domain: str,
    hosts: tuple[MxHost, ...],
    findings: tuple[Finding, ...],
    *,
    verdict: Verdict,
    grade: str,
    check_id: str = "01JEXAMPLE0000000000000000",
    mx_status: DnsStatus = DnsStatus.OK,
    null_mx: bool = False,
    checked_at: str = CHECKED_AT,
) -> Report:
    return Report(
        check_id=check_id,
        domain=domain,
        domain_unicode=domain,
        checked_at=checked_at,
        duration_ms=2345.6,
        ehlo_name=EHLO_NAME,
        verdict=verdict,
        grade=grade,
        dns=DnsResult(
            mx_status=mx_status,
            null_mx=null_mx,
            mx_records=tuple(f"{h.preference} {h.name}." for h in hosts),
            hosts=hosts,
        ),
        findings=findings,
    )


def clean() -> Report:
    hosts = (
        mx("mx1.clean.example", 10, ("192.0.2.10",)),
        mx("mx2.clean.example", 20, ("192.0.2.20", "2001:db8::20")),
    )
    return report(
        "clean.example",
        hosts,
        (
            finding("BANNER_OK", Severity.PASS, "Banners name the MX host."),
            finding("TLS_OK", Severity.PASS, "STARTTLS with a valid certificate."),
            finding("EHLO_EXTENSIONS", Severity.INFO, "PIPELINING, SIZE, STARTTLS offered."),
        ),
        verdict=Verdict.PASS,
        grade="A",
    )


def failures() -> Report:
    hosts = (
        mx(
            "mx1.broken.example",
            10,
            ("192.0.2.31",),
            greeting="mail.internal ESMTP Postfix 2.10.1 (Ubuntu) <!channel> `x`",
        ),
        mx("mx2.broken.example", 20, ("192.0.2.32",), starttls=False, fcrdns=False),
        mx("mx3.broken.example", 30, ("192.0.2.33",), not_after="2026-12-10T00:00:00Z"),
    )
    return report(
        "broken.example",
        hosts,
        (
            finding(
                "BANNER_VERSION_DISCLOSED",
                Severity.WARN,
                "The banner discloses Postfix 2.10.1.",
                "mx1.broken.example",
                "192.0.2.31",
            ),
            finding(
                "BANNER_MX_MISMATCH",
                Severity.FAIL,
                "The banner names mail.internal, not mx1.broken.example.",
                "mx1.broken.example",
                "192.0.2.31",
            ),
            finding(
                "STARTTLS_MISSING",
                Severity.FAIL,
                "No STARTTLS offered.",
                "mx2.broken.example",
                "192.0.2.32",
            ),
            finding(
                "PTR_NOT_FORWARD_CONFIRMED",
                Severity.WARN,
                "The PTR name does not resolve back.",
                "mx2.broken.example",
                "192.0.2.32",
            ),
            finding(
                "TLS_CERT_EXPIRING",
                Severity.WARN,
                "The certificate expires in 6 days.",
                "mx3.broken.example",
                "192.0.2.33",
            ),
            finding(
                "BANNER_OK",
                Severity.PASS,
                "mx3 greets with its name.",
                "mx3.broken.example",
                "192.0.2.33",
            ),
        ),
        verdict=Verdict.FAIL,
        grade="D",
        check_id="01JEXAMPLE0000000000000001",
    )


def null_mx() -> Report:
    return report(
        "nomail.example",
        (),
        (
            finding(
                "DNS_NULL_MX", Severity.INFO, "The domain publishes a null MX: it accepts no mail."
            ),
        ),
        verdict=Verdict.PASS,
        grade="A",
        null_mx=True,
        check_id="01JEXAMPLE0000000000000002",
    )


def nonexistent() -> Report:
    return report(
        "no-such-domain.example",
        (),
        (finding("DNS_NXDOMAIN", Severity.FAIL, "The domain does not exist."),),
        verdict=Verdict.FAIL,
        grade="F",
        mx_status=DnsStatus.NXDOMAIN,
        check_id="01JEXAMPLE0000000000000003",
    )


def blocked() -> Report:
    hosts = (
        mx("mx1.blocked.example", 10, ("192.0.2.41",), status=StepStatus.CONNECTION_TIMEOUT),
        mx("mx2.blocked.example", 20, ("192.0.2.42",), status=StepStatus.CONNECTION_TIMEOUT),
    )
    return report(
        "blocked.example",
        hosts,
        (
            finding(
                "PROBE_EGRESS_BLOCKED",
                Severity.INCONCLUSIVE,
                "No MX host answered on port 25; outbound port 25 is probably blocked "
                "where the probe runs.",
            ),
        ),
        verdict=Verdict.INCONCLUSIVE,
        grade="?",
        check_id="01JEXAMPLE0000000000000004",
    )


def oversized() -> Report:
    hosts = tuple(
        mx(f"mx{i:02d}.big.example", i * 10, (f"192.0.2.{100 + i}", f"2001:db8::{100 + i:x}"))
        for i in range(1, 21)
    )
    severities = (Severity.FAIL, Severity.WARN, Severity.INCONCLUSIVE, Severity.INFO, Severity.PASS)
    findings = tuple(
        finding(
            f"BANNER_CHECK_{i:02d}",
            severities[i % len(severities)],
            f"Finding number {i} " + "with a long explanation " * 10,
            f"mx{(i % 20) + 1:02d}.big.example",
            f"192.0.2.{100 + (i % 20) + 1}",
        )
        for i in range(60)
    )
    return report(
        "big.example",
        hosts,
        findings,
        verdict=Verdict.FAIL,
        grade="F",
        check_id="01JEXAMPLE0000000000000005",
    )


GOLDEN = {
    "clean": clean,
    "failures_three_mx": failures,
    "null_mx": null_mx,
    "nonexistent": nonexistent,
    "inconclusive_blocked": blocked,
    "oversized": oversized,
}
