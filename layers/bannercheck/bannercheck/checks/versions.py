"""Which MTA and version a greeting announces, and whether that version is known bad.

The vulnerable table is ``bannercheck/data/vulnerable_versions.json``: curated
by hand, dated, and read once per process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bannercheck.checks import catalog as c
from bannercheck.checks.context import Context
from bannercheck.checks.parse import to_greeting_text
from bannercheck.checks.walk import to_evidence_line, to_sessions, to_welcome
from bannercheck.model import Finding

_V = r"(\d+\.\d+(?:\.\d+)*)"


@dataclass(frozen=True)
class Software:
    key: str  # the vulnerable table's "software"
    name: str  # what a reader calls it
    version: str | None
    distribution: str | None  # a packager named next to it: fixes may be backported


@dataclass(frozen=True)
class VulnerableRange:
    software: str
    introduced: str | None  # None: every version before ``fixed``
    fixed: str
    cves: tuple[str, ...]
    published: str
    summary: str


# (table key, display name, pattern whose group 1 is the version if present)
_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("exim", "Exim", re.compile(rf"\bExim\b(?:\s+{_V})?", re.I)),
    ("postfix", "Postfix", re.compile(rf"\bPostfix\b(?:\s*\(?{_V}\)?)?", re.I)),
    ("sendmail", "Sendmail", re.compile(rf"\bSendmail\b(?:\s+{_V})?", re.I)),
    ("opensmtpd", "OpenSMTPD", re.compile(rf"\bOpenSMTPD\b(?:\s+{_V}(?:p\d+)?)?", re.I)),
    (
        "microsoft",
        "Microsoft Exchange/SMTP Service",
        re.compile(rf"\bMicrosoft ESMTP MAIL Service\b(?:,?\s*Version:\s*{_V})?", re.I),
    ),
    (
        "other",
        "",
        re.compile(
            r"\b(qmail|Haraka|hMailServer|MDaemon|Kerio Connect|CommuniGate Pro|IceWarp|"
            rf"MailEnable|Zimbra|Axigen|Courier|Exchange Server|Sophos|FortiMail)\b(?:\s+v?{_V})?",
            re.I,
        ),
    ),
)
_DISTRIBUTION_RE = re.compile(
    r"\b(Debian|Ubuntu|Red Hat|RHEL|CentOS|Rocky|AlmaLinux|Fedora|SUSE|FreeBSD|OpenBSD|"
    r"NetBSD|Gentoo|Alpine)\b",
    re.I,
)


def to_software(text: str) -> Software | None:
    """The first MTA a greeting text names, with its version when given.

    >>> to_software("ESMTP Exim 4.92 #2 Thu, 03 Dec 2026 18:00:00 +0000")
    Software(key='exim', name='Exim', version='4.92', distribution=None)
    """
    best: tuple[int, Software] | None = None
    for key, name, pattern in _PATTERNS:
        match = pattern.search(text)
        if match is None or (best is not None and best[0] <= match.start()):
            continue
        if key == "other":
            found = Software(match.group(1).lower(), match.group(1), match.group(2), None)
        else:
            found = Software(key, name, match.group(1), None)
        best = (match.start(), found)
    if best is None:
        return None
    distribution = _DISTRIBUTION_RE.search(text)
    software = best[1]
    return Software(
        software.key,
        software.name,
        software.version,
        distribution.group(1) if distribution else None,
    )


def _to_numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _less(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)) < b + (0,) * (width - len(b))


@cache
def load_vulnerable_table() -> tuple[VulnerableRange, ...]:
    """The curated table shipped in the package."""
    path = resources.files("bannercheck").joinpath("data/vulnerable_versions.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        VulnerableRange(
            software=e["software"],
            introduced=e["introduced"],
            fixed=e["fixed"],
            cves=tuple(e["cves"]),
            published=e["published"],
            summary=e["summary"],
        )
        for e in data["entries"]
    )


def to_vulnerabilities(software: Software) -> tuple[VulnerableRange, ...]:
    """Table rows whose range holds the announced version (none without a version)."""
    if software.version is None:
        return ()
    version = _to_numbers(software.version)
    return tuple(
        row
        for row in load_vulnerable_table()
        if row.software == software.key
        and (row.introduced is None or not _less(version, _to_numbers(row.introduced)))
        and _less(version, _to_numbers(row.fixed))
    )


def check_software(ctx: Context) -> Iterator[Finding]:
    """Software and version named in each greeting, and known-vulnerable versions."""
    for host, _address, s in to_sessions(ctx):
        greeting = to_welcome(s.greeting)
        if greeting is None:
            continue
        software = to_software(to_greeting_text(greeting))
        if software is None:
            continue
        evidence = to_evidence_line(greeting.lines)
        label = f"{software.name} {software.version}" if software.version else software.name
        # Three separate facts, three findings: the name, the version, known CVEs.
        yield c.to_finding(
            c.BANNER_SOFTWARE_DISCLOSED,
            f"{host.name} ({s.ip}) names its software: {software.name}",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
        if software.version is None:
            continue
        yield c.to_finding(
            c.BANNER_VERSION_DISCLOSED,
            f"{host.name} ({s.ip}) announces its software version: {label}",
            host=host.name,
            ip=s.ip,
            evidence=evidence,
        )
        vulnerabilities = to_vulnerabilities(software)
        if vulnerabilities:
            cves = sorted({cve for row in vulnerabilities for cve in row.cves})
            fixed = max((row.fixed for row in vulnerabilities), key=_to_numbers)
            packagers = (
                f"{software.distribution} packages" if software.distribution else "distributions"
            )
            yield c.to_finding(
                c.BANNER_VULNERABLE_VERSION,
                f"{host.name} ({s.ip}) announces {label}, affected by {', '.join(cves)} "
                f"(fixed in {fixed}); {packagers} often backport fixes without "
                "changing the version string",
                host=host.name,
                ip=s.ip,
                evidence=evidence,
                software=software.name,
                fixed=fixed,
            )
