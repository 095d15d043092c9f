"""Software/version detection in greetings and the curated vulnerable table."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from importlib import resources

import pytest
from bannercheck.checks import Context, run_checks
from bannercheck.checks import catalog as c
from bannercheck.checks.versions import (
    Software,
    load_vulnerable_table,
    to_software,
    to_vulnerabilities,
)
from bannercheck.model import Severity

from tests.unit.builders import assert_case, by_code, clean_domain, reply, with_session

F, W, N = Severity.FAIL, Severity.WARN, Severity.INFO
HOST, IP = "mx1.example.com", "192.0.2.10"


def _greets(line: str) -> Callable[[], Context]:
    return lambda: with_session(clean_domain(), greeting=reply(line))


CASES: list[tuple[str, str, str, Severity | None]] = [
    (
        "postfix-name",
        "220 mx1.example.com ESMTP Postfix (Debian/GNU)",
        c.BANNER_SOFTWARE_DISCLOSED,
        N,
    ),
    (
        "postfix-no-version",
        "220 mx1.example.com ESMTP Postfix (Debian/GNU)",
        c.BANNER_VERSION_DISCLOSED,
        None,
    ),
    ("hidden", "220 mx1.example.com ESMTP", c.BANNER_SOFTWARE_DISCLOSED, None),
    ("hidden-no-version", "220 mx1.example.com ESMTP", c.BANNER_VERSION_DISCLOSED, None),
    (
        "exim-current",
        "220 mx1.example.com ESMTP Exim 4.98.1 Thu, 03 Dec 2026 18:00:00 +0000",
        c.BANNER_VERSION_DISCLOSED,
        W,
    ),
    (
        "exim-current-name",
        "220 mx1.example.com ESMTP Exim 4.98.1 Thu, 03 Dec 2026 18:00:00 +0000",
        c.BANNER_SOFTWARE_DISCLOSED,
        N,
    ),
    (
        "exim-current-not-vulnerable",
        "220 mx1.example.com ESMTP Exim 4.98.1 Thu, 03 Dec 2026 18:00:00 +0000",
        c.BANNER_VULNERABLE_VERSION,
        None,
    ),
    (
        "exim-wizard",
        "220 mx1.example.com ESMTP Exim 4.87 #1 Thu, 03 Dec 2026 18:00:00 +0000",
        c.BANNER_VULNERABLE_VERSION,
        F,
    ),
    ("exim-4.96", "220 mx1.example.com ESMTP Exim 4.96 #2", c.BANNER_VULNERABLE_VERSION, F),
    (
        "sendmail-old",
        "220 mx1.example.com ESMTP Sendmail 8.14.4/8.14.4; Thu, 3 Dec 2026 18:00:00 GMT",
        c.BANNER_VULNERABLE_VERSION,
        F,
    ),
    (
        "sendmail-new",
        "220 mx1.example.com ESMTP Sendmail 8.18.1/8.18.1; Thu, 3 Dec 2026 18:00:00 GMT",
        c.BANNER_VULNERABLE_VERSION,
        None,
    ),
    (
        "sendmail-new-version",
        "220 mx1.example.com ESMTP Sendmail 8.18.1/8.18.1; Thu, 3 Dec 2026 18:00:00 GMT",
        c.BANNER_VERSION_DISCLOSED,
        W,
    ),
    (
        "opensmtpd-cve-2020-7247",
        "220 mx1.example.com ESMTP OpenSMTPD 6.6.1p1",
        c.BANNER_VULNERABLE_VERSION,
        F,
    ),
    ("opensmtpd-name", "220 mx1.example.com ESMTP OpenSMTPD", c.BANNER_SOFTWARE_DISCLOSED, N),
    (
        "exchange-2003",
        "220 mx1.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.4675 ready at "
        " Thu, 3 Dec 2026 18:00:00 +0000",
        c.BANNER_VULNERABLE_VERSION,
        F,
    ),
    (
        "exchange-modern",
        "220 mx1.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 18:00:00 +0000",
        c.BANNER_SOFTWARE_DISCLOSED,
        N,
    ),
    (
        "exchange-modern-no-version",
        "220 mx1.example.com Microsoft ESMTP MAIL Service ready at Thu, 3 Dec 2026 18:00:00 +0000",
        c.BANNER_VERSION_DISCLOSED,
        None,
    ),
    (
        "postfix-smuggling",
        "220 mx1.example.com ESMTP Postfix (3.7.9)",
        c.BANNER_VULNERABLE_VERSION,
        F,
    ),
    (
        "postfix-fixed-branch",
        "220 mx1.example.com ESMTP Postfix (3.7.10)",
        c.BANNER_VULNERABLE_VERSION,
        None,
    ),
    ("postfix-3.9", "220 mx1.example.com ESMTP Postfix (3.9.0)", c.BANNER_VULNERABLE_VERSION, None),
    ("hostname-is-not-software", "220 exim.example.com ESMTP", c.BANNER_SOFTWARE_DISCLOSED, None),
    # Only a complete 220 greeting is judged for software and version.
    (
        "554-greeting-not-judged",
        "554 mx1.example.com ESMTP Exim 4.87 no service here",
        c.BANNER_SOFTWARE_DISCLOSED,
        None,
    ),
    (
        "554-greeting-not-vulnerable",
        "554 mx1.example.com ESMTP Exim 4.87 no service here",
        c.BANNER_VULNERABLE_VERSION,
        None,
    ),
    (
        "421-greeting-not-judged",
        "421 mx1.example.com ESMTP Postfix (3.7.9) busy",
        c.BANNER_VERSION_DISCLOSED,
        None,
    ),
    (
        "cut-off-greeting-not-judged",
        "220-mx1.example.com ESMTP Exim 4.87",
        c.BANNER_SOFTWARE_DISCLOSED,
        None,
    ),
    (
        "cut-off-greeting-not-vulnerable",
        "220-mx1.example.com ESMTP Exim 4.87",
        c.BANNER_VULNERABLE_VERSION,
        None,
    ),
    ("no-code-not-judged", "ESMTP Exim 4.87 ready", c.BANNER_SOFTWARE_DISCLOSED, None),
]


@pytest.mark.parametrize(
    ("line", "code", "severity"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_version_findings(line: str, code: str, severity: Severity | None) -> None:
    assert_case(run_checks(_greets(line)()), code, severity, host=HOST, ip=IP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ESMTP Postfix (Debian/GNU)", Software("postfix", "Postfix", None, "Debian")),
        ("ESMTP Postfix (Ubuntu)", Software("postfix", "Postfix", None, "Ubuntu")),
        ("ESMTP Postfix (3.4.13)", Software("postfix", "Postfix", "3.4.13", None)),
        ("ESMTP Exim 4.92 #2 Thu, 03 Dec 2026", Software("exim", "Exim", "4.92", None)),
        ("ESMTP Exim 4.94.2 Ubuntu", Software("exim", "Exim", "4.94.2", "Ubuntu")),
        (
            "ESMTP Sendmail 8.15.2/8.15.2/Debian-22; Thu, 3 Dec 2026",
            Software("sendmail", "Sendmail", "8.15.2", "Debian"),
        ),
        ("ESMTP OpenSMTPD", Software("opensmtpd", "OpenSMTPD", None, None)),
        (
            "Microsoft ESMTP MAIL Service, Version: 8.5.9600.16384 ready at",
            Software("microsoft", "Microsoft Exchange/SMTP Service", "8.5.9600.16384", None),
        ),
        ("ESMTP Haraka 3.0.3 ready", Software("haraka", "Haraka", "3.0.3", None)),
        ("ESMTP d75a77b69052e-4a5f1b3c0e2si1234567qtb.123 - gsmtp", None),
        ("ESMTP ready", None),
    ],
)
def test_to_software(text: str, expected: Software | None) -> None:
    assert to_software(text) == expected


def test_vulnerable_message_names_cves_and_backports() -> None:
    ctx = _greets("220 mx1.example.com ESMTP Exim 4.87 #1 Thu, 03 Dec 2026 18:00:00 +0000")()
    (finding,) = by_code(run_checks(ctx), c.BANNER_VULNERABLE_VERSION)
    assert "CVE-2019-10149" in finding.message
    assert "backport" in finding.message
    assert "Exim" in finding.remediation and "4.98" in finding.remediation
    assert finding.evidence is not None and finding.evidence.startswith("220 mx1.example.com")


def test_debian_package_is_named_in_the_backport_note() -> None:
    software = to_software("ESMTP Sendmail 8.15.2/8.15.2/Debian-22;")
    assert software is not None
    assert {cve for row in to_vulnerabilities(software) for cve in row.cves} >= {"CVE-2023-51765"}
    ctx = _greets("220 mx1.example.com ESMTP Sendmail 8.15.2/8.15.2/Debian-22; Thu")()
    (finding,) = by_code(run_checks(ctx), c.BANNER_VULNERABLE_VERSION)
    assert "Debian packages often backport" in finding.message


def test_a_complete_multiline_220_greeting_is_judged() -> None:
    greeting = reply("220-mx1.example.com ESMTP", "220 Exim 4.87 ready")
    findings = run_checks(with_session(clean_domain(), greeting=greeting))
    (finding,) = by_code(findings, c.BANNER_VULNERABLE_VERSION)
    assert finding.ip == IP


def test_an_oversized_greeting_is_not_judged() -> None:
    greeting = replace(reply("220 mx1.example.com ESMTP Exim 4.87"), truncated=True)
    findings = run_checks(with_session(clean_domain(), greeting=greeting))
    assert not [f for f in by_code(findings, c.BANNER_SOFTWARE_DISCLOSED) if f.ip == IP]
    assert not by_code(findings, c.BANNER_VULNERABLE_VERSION)


def test_no_version_means_no_vulnerability_lookup() -> None:
    assert to_vulnerabilities(Software("exim", "Exim", None, None)) == ()


def test_table_is_dated_and_well_formed() -> None:
    raw = resources.files("bannercheck").joinpath("data/vulnerable_versions.json").read_text()
    data = json.loads(raw)
    date.fromisoformat(data["reviewed"])
    table = load_vulnerable_table()
    assert len(table) == len(data["entries"])
    assert {row.software for row in table} >= {
        "exim",
        "postfix",
        "sendmail",
        "opensmtpd",
        "microsoft",
    }
    for row in table:
        assert row.cves and all(re.fullmatch(r"CVE-\d{4}-\d{4,}", cve) for cve in row.cves), row
        date.fromisoformat(row.published)
        assert re.fullmatch(r"\d+(\.\d+)+", row.fixed), row
        assert row.introduced is None or re.fullmatch(r"\d+(\.\d+)+", row.introduced), row
        assert row.summary
