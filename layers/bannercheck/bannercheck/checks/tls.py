"""Judgement of STARTTLS and what it negotiated: protocol, certificate, EHLO after TLS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from bannercheck.checks import catalog as c
from bannercheck.checks.context import Context
from bannercheck.checks.ehlo import to_keyword_map
from bannercheck.checks.walk import to_evidence_line, to_sessions
from bannercheck.model import Certificate, Finding, Session, Step, StepStatus, TlsInfo

# RFC 8996 deprecates TLS 1.0 and 1.1; SSL is long gone (RFC 7568, RFC 6176).
_OUTDATED = frozenset({"SSLV2", "SSLV3", "TLSV1", "TLSV1.0", "TLSV1.1"})
_TLS_FAILURE_STEPS = (Step.STARTTLS, Step.TLS_HANDSHAKE, Step.EHLO_TLS)
_NOT_SERVER_FAULTS = (StepStatus.OK, StepStatus.NOT_ATTEMPTED, StepStatus.INTERNAL_ERROR)


def to_utc(value: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive means UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _starttls_failure(s: Session) -> str | None:
    """Why STARTTLS did not give a usable TLS session, or None if it did / was not tried."""
    if s.starttls is not None and s.starttls.code is not None and s.starttls.code != 220:
        return f"STARTTLS answered {s.starttls.code}"
    if s.ehlo_tls is not None and s.ehlo_tls.code is not None and s.ehlo_tls.code != 250:
        return f"EHLO after TLS answered {s.ehlo_tls.code}"
    if s.failed_step in _TLS_FAILURE_STEPS and s.status not in _NOT_SERVER_FAULTS:
        detail = f": {s.error}" if s.error else ""
        step = s.failed_step.value if s.failed_step else "TLS"
        return f"{step} ended with {s.status.value}{detail}"
    return None


def check_tls(ctx: Context) -> Iterator[Finding]:
    """STARTTLS works, stays unadvertised inside TLS, and negotiates something sound."""
    for host, _address, s in to_sessions(ctx):
        who = f"{host.name} ({s.ip})"
        failure = _starttls_failure(s)
        if failure is not None:
            failed_reply = s.ehlo_tls if s.ehlo_tls is not None else s.starttls
            lines = failed_reply.lines if failed_reply is not None else ()
            yield c.to_finding(
                c.STARTTLS_FAILED,
                f"{who} offers STARTTLS but it fails: {failure}",
                host=host.name,
                ip=s.ip,
                evidence=to_evidence_line(lines) or s.error or failure,
            )
            continue
        if s.tls is not None:
            yield from _check_negotiated(ctx, host.name, s, s.tls, who)


def _check_negotiated(
    ctx: Context, host: str, s: Session, tls: TlsInfo, who: str
) -> Iterator[Finding]:
    ok = True
    if "STARTTLS" in to_keyword_map(s.keywords_tls):
        ok = False
        yield c.to_finding(
            c.STARTTLS_READVERTISED,
            f"{who} still advertises STARTTLS after TLS started",
            host=host,
            ip=s.ip,
            evidence=to_evidence_line(s.ehlo_tls.lines) if s.ehlo_tls else None,
        )
    if tls.version and tls.version.replace(" ", "").upper() in _OUTDATED:
        ok = False
        yield c.to_finding(
            c.TLS_PROTOCOL_OUTDATED,
            f"{who} negotiated {tls.version}, a deprecated protocol",
            host=host,
            ip=s.ip,
            evidence=f"{tls.version} {tls.cipher or ''}".strip(),
        )
    cert = tls.certificate
    expired = False
    if cert is not None:
        findings = list(_check_validity(ctx, host, s.ip, cert, who))
        expired = any(f.code == c.TLS_CERT_EXPIRED for f in findings)
        ok = ok and not findings
        yield from findings
    # OpenSSL reports a wrong name as a verify error; TLS_CERT_NAME_MISMATCH says it.
    name_only = "hostname mismatch" in (tls.verify_error or "").lower()
    if not tls.chain_verified and not expired and not name_only:
        ok = False
        if cert is None:
            why = "no certificate was presented"
        elif cert.self_signed:
            why = "the certificate is self-signed"
        else:
            why = tls.verify_error or "the chain does not verify"
        yield c.to_finding(
            c.TLS_CERT_UNTRUSTED,
            f"The certificate of {who} is not trusted: {why}",
            host=host,
            ip=s.ip,
            evidence=_cert_evidence(cert, tls.verify_error),
        )
    if cert is not None and not tls.name_matches:
        ok = False
        names = ", ".join(cert.sans or cert.common_names) or "no names"
        yield c.to_finding(
            c.TLS_CERT_NAME_MISMATCH,
            f"The certificate of {who} names {names}, not {host}",
            host=host,
            ip=s.ip,
            evidence=_cert_evidence(cert, None),
        )
    if ok:
        yield c.to_finding(
            c.TLS_OK,
            f"{who} STARTTLS: {tls.version or 'TLS'}, valid certificate until "
            f"{cert.not_after if cert else '?'}",
            host=host,
            ip=s.ip,
            evidence=f"{tls.version} {tls.cipher or ''}".strip(),
        )


def _cert_evidence(cert: Certificate | None, verify_error: str | None) -> str:
    if cert is None:
        return verify_error or "no certificate"
    parts = [f"subject={cert.subject}", f"issuer={cert.issuer}"]
    if cert.sans:
        parts.append("SAN=" + ",".join(cert.sans))
    parts.append(f"notAfter={cert.not_after}")
    if verify_error:
        parts.append(f"error={verify_error}")
    return "; ".join(parts)


def _check_validity(
    ctx: Context, host: str, ip: str, cert: Certificate, who: str
) -> Iterator[Finding]:
    not_before = to_utc(cert.not_before)
    not_after = to_utc(cert.not_after)
    evidence = f"notBefore={cert.not_before}; notAfter={cert.not_after}"
    if ctx.now > not_after:
        yield c.to_finding(
            c.TLS_CERT_EXPIRED,
            f"The certificate of {who} expired on {cert.not_after}",
            host=host,
            ip=ip,
            evidence=evidence,
        )
    elif ctx.now < not_before:
        yield c.to_finding(
            c.TLS_CERT_EXPIRED,
            f"The certificate of {who} is not valid before {cert.not_before}",
            host=host,
            ip=ip,
            evidence=evidence,
        )
    elif not_after - ctx.now < timedelta(days=ctx.cert_expiry_warn_days):
        days = (not_after - ctx.now).total_seconds() / 86400
        yield c.to_finding(
            c.TLS_CERT_EXPIRING,
            f"The certificate of {who} expires in {days:.1f} days ({cert.not_after})",
            host=host,
            ip=ip,
            evidence=evidence,
            not_after=cert.not_after,
        )
