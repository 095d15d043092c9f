"""Judgement of the greeting (RFC 5321 §4.3.1): code, syntax, name, speed.

Software and version disclosure lives in ``versions.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bannercheck.checks import catalog as c
from bannercheck.checks.context import Context
from bannercheck.checks.parse import (
    is_address_literal,
    is_fqdn,
    to_greeting_domain,
    to_name,
)
from bannercheck.checks.walk import is_complete_reply, to_evidence_line, to_sessions, to_welcome
from bannercheck.model import Address, Finding, MxHost, Reply, Session

# How the transport shows control bytes (replies.to_text escapes them as \xNN).
_CONTROL_RE = re.compile(r"\\x(?:[01][0-9a-f]|7f)")

# Parts of a greeting that change from one connection to the next.
_VOLATILE_RES = (
    # RFC 5322 date-time: "Thu, 3 Dec 2026 18:00:00 +0000 (UTC)"
    re.compile(
        r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+)?\d{1,2}\s+[A-Z][a-z]{2}\s+\d{2,4}"
        r"\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[+-]\d{4})?(?:\s*\([A-Za-z ]+\))?",
    ),
    re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b"),
    # Session/queue ids: long tokens mixing letters and digits, long digit runs.
    re.compile(r"[^\s/]*(?:[A-Za-z][^\s/]*\d|\d[^\s/]*[A-Za-z])[^\s/]*(?<=[^\s/]{8})"),
    re.compile(r"\d{6,}"),
)


def to_comparable_greeting(reply: Reply) -> str:
    """The greeting with timestamps and session ids blanked, for comparing servers.

    >>> to_comparable_greeting(Reply(220, ("220 mx.google.com ESMTP a1b2c3d4e5si1 - gsmtp",)))
    '220 mx.google.com ESMTP # - gsmtp'
    """
    text = " ".join(reply.lines)
    for pattern in _VOLATILE_RES:
        text = pattern.sub("#", text)
    return " ".join(text.split())


def _complete(greeting: Reply | None) -> Reply | None:
    # A greeting cut off midway is SMTP_NO_BANNER's or SMTP_PROTOCOL_ERROR's business.
    return greeting if is_complete_reply(greeting) else None


def check_greetings(ctx: Context) -> Iterator[Finding]:
    """Code, syntax, name and timing of every greeting received."""
    for host, address, s in to_sessions(ctx):
        greeting = _complete(s.greeting)
        if greeting is not None:
            yield from _check_greeting(ctx, host, address, s, greeting)


def _check_greeting(
    ctx: Context, host: MxHost, address: Address, s: Session, g: Reply
) -> Iterator[Finding]:
    evidence = to_evidence_line(g.lines)
    who = f"{host.name} ({s.ip})"
    code = g.code or 0
    if 500 <= code < 600:
        yield c.to_finding(
            c.BANNER_REJECTED,
            f"{who} greets with {code}: it rejects the connection",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
        return
    if 400 <= code < 500:
        yield c.to_finding(
            c.BANNER_TEMPFAIL,
            f"{who} greets with {code}: temporarily not accepting connections",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
        return
    ok = True
    if code != 220:
        yield c.to_finding(
            c.BANNER_SYNTAX,
            f"{who} greets with code {code}, not 220",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
        return
    if g.non_ascii:
        ok = False
        yield c.to_finding(
            c.BANNER_NON_ASCII,
            f"{who} greets with bytes outside printable ASCII",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
    if g.multiline:
        yield c.to_finding(
            c.BANNER_MULTILINE,
            f"{who} greets with {len(g.lines)} lines",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
    domain = to_greeting_domain(g)
    controls = g.non_ascii and any(_CONTROL_RE.search(line) for line in g.lines)
    if not g.well_formed or domain is None or controls:
        ok = False
        if not g.well_formed:
            why = "mixes codes or separators"
        elif domain is None:
            why = "does not start with a domain"
        else:
            why = "contains control characters (textstring allows only TAB and printable ASCII)"
        yield c.to_finding(
            c.BANNER_SYNTAX,
            f"The greeting of {who} {why}",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
    if domain is not None and not is_address_literal(domain):
        if not is_fqdn(domain):
            ok = False
            yield c.to_finding(
                c.BANNER_HOSTNAME_NOT_FQDN,
                f"{who} greets as '{domain}', not a fully qualified host name",
                host=host.name,
                ip=s.ip,
                evidence=evidence,
            )
        else:
            yield from _check_names(host, address, domain, who, evidence)
    slow_ms = ctx.slow_greeting_s * 1000
    greeting_ms = s.timings.greeting_ms
    if greeting_ms is not None and greeting_ms > slow_ms:
        yield c.to_finding(
            c.BANNER_SLOW,
            f"{who} took {greeting_ms / 1000:.1f} s to greet (over {ctx.slow_greeting_s:g} s)",
            host=host.name,
            ip=s.ip,
            evidence=f"greeting after {greeting_ms:.0f} ms: {evidence}",
        )
    if ok:
        yield c.to_finding(
            c.BANNER_OK,
            f"{who} greets properly as {domain}",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )


def _check_names(
    host: MxHost, address: Address, domain: str, who: str, evidence: str | None
) -> Iterator[Finding]:
    name = to_name(domain)
    if name != to_name(host.name):
        yield c.to_finding(
            c.BANNER_MX_MISMATCH,
            f"{who} greets as {domain}, not as the MX host name",
            host=host.name,
            ip=address.ip,
            evidence=evidence,
        )
    ptr_names = {to_name(p) for p in address.ptr_names}
    # No PTR at all is PTR_MISSING's business; a name matching the MX host or
    # any PTR name is consistent.
    if not ptr_names or name in ptr_names or name == to_name(host.name):
        return
    confirmed = ", ".join(address.ptr_confirmed)
    listed = ", ".join(address.ptr_names)
    if address.fcrdns:
        # Large providers (Google: mx.google.com vs *.1e100.net) differ by design;
        # the address is forward-confirmed, so this is only a note.
        message = f"{who} greets as {domain}; its forward-confirmed PTR is {confirmed}"
        severity = c.INFO
    else:
        message = f"{who} greets as {domain}; its PTR is {listed} (not forward-confirmed)"
        severity = None
    yield c.to_finding(
        c.BANNER_PTR_MISMATCH,
        message,
        host=host.name,
        ip=address.ip,
        evidence=f"{evidence}; PTR {listed}",
        severity=severity,
    )


def check_banner_consistency(ctx: Context) -> Iterator[Finding]:
    """Do all addresses of one MX host greet alike (ignoring volatile parts)?"""
    by_host: dict[str, list[tuple[str, Reply]]] = {}
    for host, _address, s in to_sessions(ctx):
        greeting = to_welcome(s.greeting)
        if greeting is not None:
            by_host.setdefault(host.name, []).append((s.ip, greeting))
    for name, greetings in by_host.items():
        distinct = {to_comparable_greeting(g) for _ip, g in greetings}
        if len(distinct) > 1:
            yield c.to_finding(
                c.BANNERS_INCONSISTENT,
                f"The {len(greetings)} addresses of {name} greet in {len(distinct)} different ways",
                host=name,
                evidence="; ".join(f"{ip}: {g.lines[0]}" for ip, g in greetings),
            )
