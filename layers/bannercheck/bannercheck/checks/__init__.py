"""Findings: small pure functions over the recorded data of one check.

Each topic module (``dns``, ``connection``, ``banner``, ``versions``, ``ehlo``,
``tls``) exposes ``check_*`` functions taking a :class:`Context` and returning
an iterable of :class:`~bannercheck.model.Finding`. ``CHECKS`` lists them all,
in the order their findings appear before sorting; ``catalog`` defines every
code. No function here does I/O.
"""

from __future__ import annotations

from bannercheck.checks import banner, catalog, connection, dns, ehlo, tls, versions
from bannercheck.checks.context import CheckFn, Context
from bannercheck.model import SEVERITY_ORDER, Finding

__all__ = ["CHECKS", "CheckFn", "Context", "run_checks"]

CHECKS: tuple[CheckFn, ...] = (
    dns.check_domain_mx,
    dns.check_mx_hosts,
    dns.check_addresses,
    connection.check_egress,
    connection.check_sessions,
    banner.check_greetings,
    banner.check_banner_consistency,
    versions.check_software,
    ehlo.check_ehlo_name,
    ehlo.check_ehlo,
    tls.check_tls,
)


def _sort_key(finding: Finding) -> tuple[int, str, str]:
    return (SEVERITY_ORDER[finding.severity], finding.host or "", finding.ip or "")


def run_checks(ctx: Context, checks: tuple[CheckFn, ...] = CHECKS) -> tuple[Finding, ...]:
    """All findings for ``ctx``: what needs action first, then by host and address.

    A check that raises is our bug, not the server's: it becomes one
    ``INTERNAL_CHECK_ERROR`` finding (inconclusive) and the other checks still run.
    """
    findings: list[Finding] = []
    for check in checks:
        try:
            produced = tuple(check(ctx))
        # Deliberately broad: a bug in one judgement must not lose the others.
        except Exception as exc:  # noqa: BLE001
            name = getattr(check, "__qualname__", repr(check))
            findings.append(
                catalog.to_finding(
                    catalog.INTERNAL_CHECK_ERROR,
                    f"The check {name} failed: {type(exc).__name__}: {exc}",
                    evidence=f"{ctx.domain}: {type(exc).__name__}",
                )
            )
        else:
            findings.extend(produced)
    return tuple(sorted(findings, key=_sort_key))
