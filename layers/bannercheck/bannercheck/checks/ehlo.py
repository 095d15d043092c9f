"""Judgement of the EHLO exchange before TLS: acceptance, name, offered extensions.

Keywords come parsed (``Session.keywords``); nothing here searches reply text
for "STARTTLS" (zgrab2's substring search matched it inside other words).
"""

from __future__ import annotations

from collections.abc import Iterator

from bannercheck.checks import catalog as c
from bannercheck.checks.context import Context
from bannercheck.checks.parse import to_greeting_domain, to_name
from bannercheck.checks.walk import to_evidence_line, to_sessions
from bannercheck.model import EhloKeyword, Finding, Reply

# SASL mechanisms that send the password itself (RFC 4954 §4).
_PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})


def to_keyword_map(keywords: tuple[EhloKeyword, ...]) -> dict[str, tuple[str, ...]]:
    return {k.keyword.upper(): k.params for k in keywords}


def to_ehlo_domain(reply: Reply) -> str | None:
    """The domain the server names in its EHLO/HELO reply (first word of line one)."""
    if not reply.texts or not reply.texts[0].strip():
        return None
    return reply.texts[0].split()[0]


def _evidence(reply: Reply) -> str | None:
    return to_evidence_line(reply.lines)


def check_ehlo_name(ctx: Context) -> Iterator[Finding]:
    """Say so when the configured EHLO name was the target's own and was not used."""
    configured = ctx.configured_ehlo_name  # set only when scan replaced it
    if configured is None:
        return
    yield c.to_finding(
        c.PROBE_EHLO_NAME_REPLACED,
        f"The configured EHLO name {configured} is {ctx.domain}'s own (the domain or an MX "
        f"host name, or under one): the probe announced {ctx.ehlo_name} instead",
        evidence=f"EHLO {ctx.ehlo_name}",
    )


def check_ehlo(ctx: Context) -> Iterator[Finding]:
    """EHLO/HELO accepted? Same name as the greeting? STARTTLS, AUTH, VRFY offered?"""
    for host, _address, s in to_sessions(ctx):
        reply = s.ehlo
        if reply is None or reply.code is None:
            continue
        if s.greeting is None or s.greeting.code != 220:
            continue  # a 4xx/5xx greeting refuses the session; EHLO answers mean nothing
        who = f"{host.name} ({s.ip})"
        command = s.ehlo_command or "EHLO"
        if reply.code != 250:
            tried = " and HELO" if s.ehlo_rejected is not None else ""
            rejected = [r for r in (s.ehlo_rejected, reply) if r is not None]
            yield c.to_finding(
                c.EHLO_REJECTED,
                f"{who} answered {reply.code} to our EHLO{tried} {ctx.ehlo_name}",
                host=host.name,
                ip=s.ip,
                evidence=" || ".join(filter(None, (_evidence(r) for r in rejected))),
                # 4xx is "try again later": not a judgement of the server yet.
                severity=c.INCONCLUSIVE if 400 <= reply.code < 500 else None,
            )
            continue
        if command.upper() == "HELO":
            yield c.to_finding(
                c.EHLO_HELO_ONLY,
                f"{who} rejected EHLO and accepted only HELO",
                host=host.name,
                ip=s.ip,
                evidence=_evidence(s.ehlo_rejected) if s.ehlo_rejected else _evidence(reply),
            )
        ehlo_domain = to_ehlo_domain(reply)
        greeting_domain = to_greeting_domain(s.greeting) if s.greeting else None
        if (
            ehlo_domain is not None
            and greeting_domain is not None
            and to_name(ehlo_domain) != to_name(greeting_domain)
        ):
            yield c.to_finding(
                c.EHLO_HOSTNAME_MISMATCH,
                f"{who} greets as {greeting_domain} but answers EHLO as {ehlo_domain}",
                host=host.name,
                ip=s.ip,
                evidence=f"{s.greeting.lines[0] if s.greeting else ''} / {reply.lines[0]}",
            )
        yield from _check_keywords(who, host.name, s.ip, command, reply, s.keywords)


def _check_keywords(
    who: str,
    host: str,
    ip: str,
    command: str,
    reply: Reply,
    keywords: tuple[EhloKeyword, ...],
) -> Iterator[Finding]:
    offered = to_keyword_map(keywords)
    evidence = _evidence(reply)
    if "STARTTLS" not in offered:
        yield c.to_finding(
            c.STARTTLS_MISSING,
            f"{who} does not offer STARTTLS"
            + (" (HELO only: no extensions at all)" if command.upper() == "HELO" else ""),
            host=host,
            ip=ip,
            evidence=evidence,
        )
    if "AUTH" in offered:
        mechanisms = tuple(m.upper() for m in offered["AUTH"])
        plaintext = sorted(_PLAINTEXT_MECHANISMS.intersection(mechanisms))
        yield c.to_finding(
            c.AUTH_BEFORE_TLS,
            f"{who} offers AUTH {' '.join(mechanisms) or '(no mechanisms)'} before TLS"
            + (f"; {'/'.join(plaintext)} send the password in clear" if plaintext else ""),
            host=host,
            ip=ip,
            evidence=evidence,
            # Challenge-response mechanisms do not expose the password itself.
            severity=None if plaintext or not mechanisms else c.INFO,
        )
    if "VRFY" in offered:
        yield c.to_finding(
            c.VRFY_ADVERTISED,
            f"{who} advertises VRFY",
            host=host,
            ip=ip,
            evidence=evidence,
        )
    if offered:
        size = offered.get("SIZE")
        size_text = f"; SIZE {size[0]} bytes" if size else ""
        yield c.to_finding(
            c.EHLO_EXTENSIONS,
            f"{who} offers {' '.join(sorted(offered))}{size_text}",
            host=host,
            ip=ip,
            evidence=evidence,
        )
