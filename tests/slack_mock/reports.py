"""Reports for the Slack tests, judged by the real checks.

Sessions are recorded data as the transport would store them (replies parsed
by ``replies.to_reply``); the golden cases' findings, verdict and grade come
from ``checks.run_checks`` and ``report.to_verdict``/``to_grade``, so the golden
files show the catalog's wording exactly as users will read it. ``finding``
builds one finding through ``catalog.to_finding`` for the tests that need a
particular finding (diffs, alerts).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bannercheck.checks import Context, run_checks
from bannercheck.checks.catalog import to_finding
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
    Severity,
    Step,
    StepStatus,
    Timings,
    TlsInfo,
    Verdict,
)
from bannercheck.replies import to_keywords, to_reply
from bannercheck.report import to_grade, to_verdict

CHECKED_AT = "2026-12-03T18:00:00.000Z"
EHLO_NAME = "probe.bannercheck.example"
KEYWORDS = ("PIPELINING", "SIZE 10240000", "8BITMIME")


def reply(code: int, *texts: str) -> Reply:
    """A reply as the transport parses it from ``code`` and these line texts."""
    last = len(texts) - 1
    return to_reply([f"{code}{'-' if i < last else ' '}{t}".encode() for i, t in enumerate(texts)])


def cert(host: str, not_after: str = "2027-03-01T00:00:00Z") -> Certificate:
    return Certificate(
        subject=f"CN={host}",
        issuer="CN=Example CA R1,O=Example CA",
        sans=(host,),
        common_names=(host,),
        not_before="2026-09-01T00:00:00Z",
        not_after=not_after,
        serial="0a1b2c",
        sha256="ab" * 32,
        key_type="EC secp256r1",
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
    """A recorded session: greeting, EHLO, STARTTLS, EHLO again, QUIT.

    ``greeting`` is the text after ``220``; any other ``status`` is a session
    that ended at connect, as a silent firewall leaves it.
    """
    if status is not StepStatus.OK:
        return Session(
            host=host,
            ip=ip,
            port=25,
            status=status,
            failed_step=Step.CONNECT,
            error="no answer within 4.0s",
            timings=Timings(total_ms=4000.0),
        )
    ehlo = reply(250, host, *KEYWORDS, *(("STARTTLS",) if starttls else ()))
    ehlo_tls = reply(250, host, *KEYWORDS) if starttls else None
    tls = TlsInfo(
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
    return Session(
        host=host,
        ip=ip,
        port=25,
        status=status,
        timings=Timings(connect_ms=12.0, greeting_ms=40.0, ehlo_ms=5.0, total_ms=120.0),
        greeting=reply(220, greeting or f"{host} ESMTP"),
        ehlo_command="EHLO",
        ehlo=ehlo,
        keywords=to_keywords(ehlo),
        starttls=reply(220, "2.0.0 Ready to start TLS") if starttls else None,
        tls=tls if starttls else None,
        ehlo_tls=ehlo_tls,
        keywords_tls=to_keywords(ehlo_tls) if ehlo_tls else (),
        quit=reply(221, "2.0.0 Bye"),
    )


def mx(
    name: str,
    preference: int,
    ips: tuple[str, ...],
    *,
    fcrdns: bool = True,
    **session_args: object,
) -> MxHost:
    """An MX host whose addresses' PTR names it (forward-confirmed unless ``fcrdns``)."""
    return MxHost(
        name=name,
        preference=preference,
        a_status=DnsStatus.OK if any(":" not in ip for ip in ips) else DnsStatus.NODATA,
        aaaa_status=DnsStatus.OK if any(":" in ip for ip in ips) else DnsStatus.NODATA,
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
    """One finding of ``code`` with the catalog's remediation and RFC."""
    return to_finding(code, message, host=host, ip=ip, severity=severity, domain="example.com")


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
    """A report with the findings and verdict given (for diffs and alerts)."""
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
            mx_records=("0 .",) if null_mx else tuple(f"{h.preference} {h.name}." for h in hosts),
            hosts=hosts,
        ),
        findings=findings,
    )


def checked(
    domain: str,
    hosts: tuple[MxHost, ...],
    *,
    check_id: str,
    mx_status: DnsStatus = DnsStatus.OK,
    null_mx: bool = False,
) -> Report:
    """The report the checks make of these recorded hosts, as ``scan.check_domain`` would."""
    bare = report(
        domain,
        hosts,
        (),
        verdict=Verdict.PASS,
        grade="A",
        check_id=check_id,
        mx_status=mx_status,
        null_mx=null_mx,
    )
    now = datetime.fromisoformat(CHECKED_AT.replace("Z", "+00:00"))
    findings = run_checks(Context(domain=domain, dns=bare.dns, now=now, ehlo_name=EHLO_NAME))
    return replace(bare, findings=findings, verdict=to_verdict(findings), grade=to_grade(findings))


def clean() -> Report:
    hosts = (
        mx("mx1.clean.example", 10, ("192.0.2.10",)),
        mx("mx2.clean.example", 20, ("192.0.2.20", "2001:db8::20")),
    )
    return checked("clean.example", hosts, check_id="01JEXAMPLE0000000000000000")


def failures() -> Report:
    """Three MX hosts, each wrong differently: the greeting, STARTTLS and PTR, the certificate."""
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
    return checked("broken.example", hosts, check_id="01JEXAMPLE0000000000000001")


def null_mx() -> Report:
    return checked("nomail.example", (), null_mx=True, check_id="01JEXAMPLE0000000000000002")


def nonexistent() -> Report:
    return checked(
        "no-such-domain.example",
        (),
        mx_status=DnsStatus.NXDOMAIN,
        check_id="01JEXAMPLE0000000000000003",
    )


def blocked() -> Report:
    """Port 25 blocked where the probe runs: every connect timed out."""
    hosts = (
        mx("mx1.blocked.example", 10, ("192.0.2.41",), status=StepStatus.CONNECTION_TIMEOUT),
        mx("mx2.blocked.example", 20, ("192.0.2.42",), status=StepStatus.CONNECTION_TIMEOUT),
    )
    return checked("blocked.example", hosts, check_id="01JEXAMPLE0000000000000004")


def _big_host(i: int) -> MxHost:
    """One of 20 MX hosts, each wrong in one of four ways (version, STARTTLS, PTR, certificate)."""
    name = f"mx{i:02d}.big.example"
    ips = (f"192.0.2.{100 + i}", f"2001:db8::{100 + i:x}")
    kind = i % 4
    if kind == 0:
        return mx(name, i * 10, ips, greeting=f"{name} ESMTP Exim 4.9{i % 10}")
    if kind == 1:
        return mx(name, i * 10, ips, starttls=False)
    if kind == 2:
        return mx(name, i * 10, ips, fcrdns=False)
    return mx(name, i * 10, ips, not_after=f"2026-12-{i % 10 + 5:02d}T00:00:00Z")


def oversized() -> Report:
    hosts = tuple(_big_host(i) for i in range(1, 21))
    return checked("big.example", hosts, check_id="01JEXAMPLE0000000000000005")


GOLDEN = {
    "clean": clean,
    "failures_three_mx": failures,
    "null_mx": null_mx,
    "nonexistent": nonexistent,
    "inconclusive_blocked": blocked,
    "oversized": oversized,
}
