"""Human-readable CLI output: a summary per MX host, then findings by severity."""

from __future__ import annotations

from collections.abc import Iterable

from bannercheck.model import Address, Finding, MxHost, Report, Severity, StepStatus
from bannercheck.report import to_counts

_COLOURS = {
    Severity.FAIL: "31",  # red
    Severity.INCONCLUSIVE: "35",  # magenta
    Severity.WARN: "33",  # yellow
    Severity.INFO: "36",  # cyan
    Severity.PASS: "32",  # green
}
_ORDER = (Severity.FAIL, Severity.INCONCLUSIVE, Severity.WARN, Severity.INFO, Severity.PASS)


class _Paint:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def bold(self, text: str) -> str:
        return self(text, "1")


def _address_line(address: Address) -> str:
    ptr = ", ".join(address.ptr_names) or f"no PTR ({address.ptr_status.value})"
    confirmed = "forward-confirmed" if address.fcrdns else "not forward-confirmed"
    if not address.ptr_names:
        confirmed = ""
    parts = [f"    {address.ip}  PTR {ptr}" + (f" ({confirmed})" if confirmed else "")]
    session = address.session
    if session is None:
        parts.append("      not probed")
        return "\n".join(parts)
    if session.greeting is not None:
        for line in session.greeting.lines[:5]:
            parts.append(f"      greeting: {line}")
    timings = session.timings
    facts = []
    if timings.connect_ms is not None:
        facts.append(f"connect {timings.connect_ms:.0f} ms")
    if timings.greeting_ms is not None:
        facts.append(f"greeting {timings.greeting_ms:.0f} ms")
    if session.keywords:
        facts.append("EHLO " + " ".join(k.keyword for k in session.keywords))
    if session.tls is not None:
        tls = session.tls
        cert = tls.certificate
        expiry = f", cert expires {cert.not_after[:10]}" if cert else ""
        trust = "trusted" if tls.chain_verified else f"untrusted: {tls.verify_error}"
        facts.append(f"{tls.version} {tls.cipher} ({trust}{expiry})")
    if session.status is not StepStatus.OK:
        step = session.failed_step.value if session.failed_step else "?"
        facts.append(f"ended at {step}: {session.status.value} ({session.error})")
    for fact in facts:
        parts.append(f"      {fact}")
    return "\n".join(parts)


def _host_block(host: MxHost) -> str:
    label = "implicit MX" if host.implicit else f"MX {host.preference}"
    alias = f" -> CNAME {host.cname_target}" if host.cname_target else ""
    lines = [f"  {label} {host.name}{alias}"]
    if not host.probed:
        lines.append("    skipped (over the MX host limit)")
    elif not host.addresses:
        lines.append(f"    no address (A {host.a_status.value}, AAAA {host.aaaa_status.value})")
    lines.extend(_address_line(a) for a in host.addresses)
    return "\n".join(lines)


def _finding_line(finding: Finding, paint: _Paint) -> str:
    where = " ".join(x for x in (finding.host, finding.ip and f"[{finding.ip}]") if x)
    head = paint(f"{finding.severity.value.upper():<12}", _COLOURS[finding.severity])
    text = f"  {head} {finding.code}" + (f"  {where}" if where else "")
    text += f"\n               {finding.message}"
    if finding.severity in (Severity.FAIL, Severity.WARN, Severity.INCONCLUSIVE):
        text += f"\n               fix: {finding.remediation}"
    if finding.evidence:
        text += f"\n               seen: {finding.evidence}"
    if finding.rfc:
        text += f"  ({finding.rfc})"
    return text


def to_text(report: Report, *, colour: bool = False) -> str:
    """The report as a person reads it in a terminal."""
    paint = _Paint(colour)
    name = report.domain
    if report.domain_unicode != report.domain:
        name = f"{report.domain_unicode} ({report.domain})"
    counts = to_counts(report.findings)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts[s])
    verdict = paint(
        f"{report.verdict.value.upper()} (grade {report.grade})",
        _COLOURS[Severity(report.verdict.value)],
    )
    out = [
        paint.bold(name) + f"  {verdict}",
        f"  {summary or 'no findings'}; {report.duration_ms / 1000:.1f} s; "
        f"check {report.check_id}; EHLO {report.ehlo_name}",
    ]
    if report.dns.hosts:
        out.append("")
        out.extend(_host_block(h) for h in report.dns.hosts)
    for severity in _ORDER:
        group = [f for f in report.findings if f.severity is severity]
        if group:
            out.append("")
            out.append(paint.bold(f"{severity.value.capitalize()} ({len(group)})"))
            out.extend(_finding_line(f, paint) for f in group)
    for note in report.notes:
        out.append(f"note: {note}")
    return "\n".join(out)


def to_texts(reports: Iterable[Report], *, colour: bool = False) -> str:
    return "\n\n".join(to_text(r, colour=colour) for r in reports)
