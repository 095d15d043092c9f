"""Writes the recorded-session fixtures in this directory (run from the repo root).

    .venv/bin/python -m tests.unit.transcripts.make_transcripts

The sessions are reconstructed from what these MTAs typically say on port 25
(greeting, EHLO keywords, certificates) — not captures of real hosts: names are
example names, addresses documentation ranges or plausible provider ranges, and
nothing here or in the tests connects anywhere. Findings are not stored: the
tests recompute them from the recorded data.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from bannercheck.checks import Context, run_checks
from bannercheck.codec import to_dict
from bannercheck.model import (
    Direction,
    DnsResult,
    DnsStatus,
    MxHost,
    Report,
    Session,
    Step,
    StepStatus,
    Timings,
    TranscriptLine,
)
from bannercheck.report import to_grade, to_verdict

from tests.unit.builders import (
    EHLO_NAME,
    NOW,
    TRANSCRIPTS,
    address,
    certificate,
    ehlo_reply,
    host,
    iso,
    reply,
    session,
    tls_info,
)


def to_transcript(s: Session) -> tuple[TranscriptLine, ...]:
    """The transcript a session with these replies would have recorded."""
    t = 0.0
    out: list[TranscriptLine] = []

    def add(direction: Direction, text: str, step_ms: float = 2.0) -> None:
        nonlocal t
        t += step_ms
        out.append(TranscriptLine(round(t, 1), direction, text))

    add(Direction.EVENT, f"connect {s.ip} port {s.port}", 0.0)
    if s.greeting is not None:
        for line in s.greeting.lines:
            add(Direction.RECEIVED, line, s.timings.greeting_ms or 2.0)
    if s.ehlo is not None:
        add(Direction.SENT, f"{s.ehlo_command or 'EHLO'} {EHLO_NAME}")
        for line in s.ehlo.lines:
            add(Direction.RECEIVED, line)
    if s.starttls is not None:
        add(Direction.SENT, "STARTTLS")
        for line in s.starttls.lines:
            add(Direction.RECEIVED, line)
    if s.tls is not None:
        add(Direction.EVENT, f"TLS established: {s.tls.version} {s.tls.cipher}", 30.0)
    if s.ehlo_tls is not None:
        add(Direction.SENT, f"EHLO {EHLO_NAME}")
        for line in s.ehlo_tls.lines:
            add(Direction.RECEIVED, line)
    if s.quit is not None:
        add(Direction.SENT, "QUIT")
        for line in s.quit.lines:
            add(Direction.RECEIVED, line)
    if s.failed_step is not None:
        add(Direction.EVENT, f"{s.failed_step.value}: {s.status.value}: {s.error}")
    add(Direction.EVENT, "closed")
    return tuple(out)


def recorded(s: Session) -> Session:
    return replace(s, transcript=to_transcript(s))


def _report(domain: str, result: DnsResult) -> Report:
    findings = run_checks(Context(domain=domain, dns=result, now=NOW, ehlo_name=EHLO_NAME))
    return Report(
        # A fixed ULID per fixture (the schema requires the ULID shape).
        check_id="01KBX" + f"{sum(map(ord, domain)):021d}",
        domain=domain,
        domain_unicode=domain,
        checked_at=iso(NOW).replace("Z", ".000Z"),
        duration_ms=812.4,
        ehlo_name=EHLO_NAME,
        verdict=to_verdict(findings),
        grade=to_grade(findings),
        dns=result,
        findings=(),
        notes=("findings omitted in this fixture: the tests recompute them",),
    )


def _dns(*hosts: MxHost) -> DnsResult:
    return DnsResult(
        mx_status=DnsStatus.OK,
        mx_records=tuple(f"{h.preference} {h.name}." for h in hosts),
        hosts=hosts,
        resolver="192.0.2.53",
    )


def postfix() -> Report:
    name, ip = "mail.example.org", "198.51.100.25"
    keywords = (
        "PIPELINING",
        "SIZE 10240000",
        "VRFY",
        "ETRN",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
    )
    cert = certificate(name, sans=(name, "example.org"))
    s = session(
        name,
        ip,
        greeting=f"220 {name} ESMTP Postfix (Debian/GNU)",
        keywords=keywords,
        tls=tls_info(name, certificate=cert),
        starttls=reply("220 2.0.0 Ready to start TLS"),
    )
    mx = host(name, address(ip, recorded(s), ptr=name), preference=10)
    return _report("example.org", _dns(mx))


def exim() -> Report:
    name, ip = "mx.example.net", "203.0.113.40"
    greeting = f"220 {name} ESMTP Exim 4.92 #2 Thu, 03 Dec 2026 18:00:00 +0000"
    keywords: tuple[str, ...] = ("SIZE 52428800", "8BITMIME", "PIPELINING", "AUTH PLAIN LOGIN")
    keywords += ("CHUNKING", "STARTTLS", "HELP")
    s = session(
        name, ip, greeting=greeting, keywords=keywords, tls=tls_info(name, version="TLSv1.2")
    )
    s = replace(s, ehlo=ehlo_reply(f"{name} Hello {EHLO_NAME} [192.0.2.99]", *keywords))
    mx1 = host(name, address(ip, recorded(s), ptr=name), preference=10)
    return _report("example.net", _dns(mx1))


def exchange() -> Report:
    name, ip = "mail.contoso.example", "203.0.113.80"
    greeting = f"220 {name} Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 18:00:00 +0000"
    keywords = (
        "SIZE 37748736",
        "PIPELINING",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "X-ANONYMOUSTLS",
        "AUTH NTLM",
        "X-EXPS GSSAPI NTLM",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "SMTPUTF8",
        "XRDST",
    )
    # Exchange's out-of-the-box certificate: self-signed, named after the server.
    cert = certificate("EXCH01", sans=("EXCH01", "EXCH01.corp.contoso.local"), self_signed=True)
    tls = tls_info(
        name,
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES256-GCM-SHA384",
        certificate=cert,
        chain_verified=False,
        verify_error="self-signed certificate",
        name_matches=False,
        chain_length=1,
    )
    s = session(name, ip, greeting=greeting, keywords=keywords, tls=tls)
    s = replace(s, ehlo=ehlo_reply(f"{name} Hello [192.0.2.99]", *keywords))
    mx = host(name, address(ip, recorded(s), ptr=name), preference=10)
    return _report("contoso.example", _dns(mx))


def google() -> Report:
    keywords = (
        "SIZE 157286400",
        "8BITMIME",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
        "CHUNKING",
        "SMTPUTF8",
    )
    cert = certificate(
        "mx.google.com",
        sans=(
            "mx.google.com",
            "*.gmail-smtp-in.l.google.com",
            "gmail-smtp-in.l.google.com",
            "alt1.gmail-smtp-in.l.google.com",
        ),
    )
    ids = iter(
        (
            "5b1f17b1804b1-43f2e4c5a1fsi98765wmb.77",
            "ffacd0b85a97d-38a1c2b3d4esi123456f8f.201",
            "a640c23a62f3a-aa5b6c7d8e9si7654321rb.512",
        )
    )

    def google_session(mx: str, ip: str) -> Session:
        s = session(
            mx,
            ip,
            greeting=f"220 mx.google.com ESMTP {next(ids)} - gsmtp",
            keywords=keywords,
            tls=tls_info(mx, certificate=cert, cipher="TLS_AES_256_GCM_SHA384"),
            starttls=reply("220 2.0.0 Ready to start TLS"),
        )
        ehlo = ehlo_reply("mx.google.com at your service, [192.0.2.99]", *keywords)
        return recorded(replace(s, ehlo=ehlo))

    main = "gmail-smtp-in.l.google.com"
    alt = "alt1.gmail-smtp-in.l.google.com"
    hosts = (
        host(
            main,
            address(
                "142.250.102.26", google_session(main, "142.250.102.26"), ptr="wq-in-f26.1e100.net"
            ),
            address(
                "2a00:1450:400c:c0a::1a",
                google_session(main, "2a00:1450:400c:c0a::1a"),
                ptr="wq-in-x1a.1e100.net",
            ),
            preference=5,
        ),
        host(
            alt,
            address(
                "142.250.153.27", google_session(alt, "142.250.153.27"), ptr="ea-in-f27.1e100.net"
            ),
            preference=10,
        ),
    )
    return _report("gmail.com", _dns(*hosts))


def microsoft365() -> Report:
    mx = "contoso-com.mail.protection.outlook.com"
    keywords = (
        "SIZE 157286400",
        "PIPELINING",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "SMTPUTF8",
    )
    cert = certificate(
        "mail.protection.outlook.com",
        sans=(
            "*.mail.protection.outlook.com",
            "mail.protection.outlook.com",
            "*.mail.eo.outlook.com",
        ),
    )

    def node_session(ip: str, node: str) -> Session:
        s = session(
            mx,
            ip,
            greeting=f"220 {node} Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 "
            "18:00:00 +0000",
            keywords=keywords,
            tls=tls_info(
                mx, version="TLSv1.2", cipher="ECDHE-RSA-AES256-GCM-SHA384", certificate=cert
            ),
            starttls=reply("220 2.0.0 SMTP server ready"),
        )
        return recorded(replace(s, ehlo=ehlo_reply(f"{node} Hello [192.0.2.99]", *keywords)))

    h = host(
        mx,
        address(
            "52.101.68.10",
            node_session("52.101.68.10", "AM4PEPF00027A5F.eurprd04.prod.outlook.com"),
            ptr="mail-am0eur02on2010.inbound.protection.outlook.com",
        ),
        address(
            "52.101.68.18",
            node_session("52.101.68.18", "DB5PEPF00014B9C.eurprd02.prod.outlook.com"),
            ptr="mail-am0eur02on2018.inbound.protection.outlook.com",
        ),
        preference=0,
    )
    return _report("contoso.com", _dns(h))


def sendmail() -> Report:
    name, ip = "mail.example.edu", "198.51.100.60"
    greeting = f"220 {name} ESMTP Sendmail 8.15.2/8.15.2; Thu, 3 Dec 2026 18:00:00 GMT"
    keywords = (
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
        "8BITMIME",
        "SIZE",
        "DSN",
        "ETRN",
        "AUTH DIGEST-MD5 CRAM-MD5",
        "DELIVERBY",
        "HELP",
        "STARTTLS",
    )
    cert = certificate(name, not_after=NOW + timedelta(days=9, hours=3))
    s = session(
        name,
        ip,
        greeting=greeting,
        keywords=keywords,
        tls=tls_info(name, version="TLSv1.2", certificate=cert),
        starttls=reply("220 2.0.0 Ready to start TLS"),
    )
    s = replace(
        s, ehlo=ehlo_reply(f"{name} Hello probe [192.0.2.99], pleased to meet you", *keywords)
    )
    backup = "mx2.example.edu", "198.51.100.61"
    s2 = session(*backup, greeting=f"220 {backup[0]} ESMTP Sendmail 8.18.1/8.18.1; Thu, 3 Dec 2026")
    return _report(
        "example.edu",
        _dns(
            host(name, address(ip, recorded(s), ptr=name), preference=10),
            host(backup[0], address(backup[1], recorded(s2), ptr=backup[0]), preference=20),
        ),
    )


def tarpit() -> Report:
    """mx1 pauses 6.2 s before a postscreen-style greeting; mx2 never finishes one."""
    slow_name, slow_ip = "mx1.tarpit.example", "203.0.113.11"
    slow = session(
        slow_name,
        slow_ip,
        greeting=reply(f"220-{slow_name} ESMTP", f"220 {slow_name} ESMTP"),
        greeting_ms=6200.0,
    )
    dead_name, dead_ip = "mx2.tarpit.example", "203.0.113.12"
    dead = Session(
        host=dead_name,
        ip=dead_ip,
        port=25,
        status=StepStatus.IO_TIMEOUT,
        failed_step=Step.GREETING,
        error="no complete reply within 29.0s",
        timings=Timings(connect_ms=31.5, total_ms=29010.2),
        transcript=(
            TranscriptLine(0.0, Direction.EVENT, f"connect {dead_ip} port 25"),
            TranscriptLine(29001.0, Direction.RECEIVED, "220 mx2.tarpit.exa"),
            TranscriptLine(
                29001.2,
                Direction.EVENT,
                "greeting: io_timeout: no complete reply within 29.0s",
            ),
            TranscriptLine(29010.2, Direction.EVENT, "closed"),
        ),
    )
    return _report(
        "tarpit.example",
        _dns(
            host(slow_name, address(slow_ip, recorded(slow), ptr=slow_name), preference=10),
            host(dead_name, address(dead_ip, dead, ptr=dead_name), preference=20),
        ),
    )


FIXTURES = {
    "postfix": postfix,
    "exim": exim,
    "exchange": exchange,
    "google": google,
    "microsoft365": microsoft365,
    "sendmail": sendmail,
    "tarpit": tarpit,
}


def main() -> None:
    for name, build in FIXTURES.items():
        path = TRANSCRIPTS / f"{name}.json"
        text = json.dumps(to_dict(build()), indent=1, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
