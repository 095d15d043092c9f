"""Block Kit messages from reports (pure: dicts in, dicts out, no Slack SDK).

Every message stays inside Slack's limits whatever the report holds: at most
50 blocks, 3,000 characters per section text, 150 per header and 10 fields;
what does not fit is collapsed into a pointer to ``history`` or the API.
Text from remote servers (banners, certificate names) is escaped so that a
hostile banner cannot mention ``@channel`` or break out of a code span.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bannercheck.diff import Changes, offers_starttls, to_changes, to_days_left
from bannercheck.model import (
    SEVERITY_ORDER,
    Address,
    DnsStatus,
    Finding,
    MxHost,
    Report,
    Severity,
    Verdict,
)

Block = dict[str, Any]
Message = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2000
MAX_FALLBACK_TEXT = 3000
MAX_HOST_BLOCKS = 10  # MX hosts shown in full; the rest are counted
MAX_GREETING_CHARS = 200
ACTIONABLE_SEVERITIES = (Severity.FAIL, Severity.INCONCLUSIVE, Severity.WARN)

# Stable action ids: the Slack app routes button clicks by these.
ACTION_RERUN = "bannercheck_rerun"
ACTION_WATCH_DAILY = "bannercheck_watch_daily"
ACTION_SHARE = "bannercheck_share"

VERDICT_EMOJI: dict[Verdict, str] = {
    Verdict.PASS: ":white_check_mark:",
    Verdict.WARN: ":warning:",
    Verdict.FAIL: ":x:",
    Verdict.INCONCLUSIVE: ":grey_question:",
}
SEVERITY_EMOJI: dict[Severity, str] = {
    Severity.FAIL: ":x:",
    Severity.WARN: ":warning:",
    Severity.INCONCLUSIVE: ":grey_question:",
    Severity.INFO: ":information_source:",
    Severity.PASS: ":white_check_mark:",
}


# --- text helpers ----------------------------------------------------------
def to_escaped(text: str) -> str:
    """Slack's three control characters escaped (mrkdwn and plain text alike)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_code(text: str, limit: int = MAX_GREETING_CHARS) -> str:
    """An inline code span of untrusted text: backticks cannot close it early."""
    clean = " ".join(text.replace("`", "'").split())
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f"`{to_escaped(clean)}`" if clean else "`(empty)`"


def _open_code(text: str) -> str:
    """The closing that an unterminated code block or span in ``text`` needs, if any."""
    if text.count("```") % 2:
        return "```"
    return "`" if text.replace("```", "").count("`") % 2 else ""


def to_truncated(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a boundary that is safe for mrkdwn.

    Text is escaped before it is assembled, so a plain cut could split an entity
    (``&am``, which Slack shows as typed) or leave a code span open, which turns
    the rest of the block into code. The cut backs off an entity and closes an
    open span instead.
    """
    if len(text) <= limit:
        return text
    keep = limit - 1
    while True:
        cut = text[:keep]
        amp = cut.rfind("&")
        if amp != -1 and len(cut) - amp < len("&amp;") and ";" not in cut[amp:]:
            cut = cut[:amp]
        closing = _open_code(cut + "…")
        if len(cut) + 1 + len(closing) <= limit:
            return cut + "…" + closing
        keep = max(len(cut) - len(closing), 0)


def section(text: str) -> Block:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": to_truncated(text, MAX_SECTION_TEXT)},
    }


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": to_truncated(text, MAX_HEADER_TEXT), "emoji": True},
    }


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": to_truncated(t, MAX_CONTEXT_TEXT)} for t in texts[:10]
        ],
    }


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": to_truncated(value, 2000),
    }
    if style is not None:
        element["style"] = style
    return element


def to_duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def to_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return counts


def to_counts_text(counts: dict[Severity, int]) -> str:
    parts = [f"{n} {severity.value}" for severity, n in counts.items() if n]
    return " · ".join(parts) if parts else "no findings"


def to_timestamp(iso: str) -> str:
    """ "2026-12-03T18:00:00.000Z" -> "2026-12-03 18:00 UTC" (stable, no locale)."""
    date, _, time = iso.partition("T")
    return f"{date} {time[:5]} UTC" if time else iso


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


# --- the findings message --------------------------------------------------
def _title(report: Report) -> str:
    name = report.domain_unicode or report.domain
    if report.domain_unicode and report.domain_unicode != report.domain:
        name = f"{report.domain_unicode} ({report.domain})"
    return f"{VERDICT_EMOJI[report.verdict]} {name} — {report.verdict.value} · grade {report.grade}"


def _dns_summary(report: Report) -> str | None:
    dns = report.dns
    if dns.null_mx:
        return (
            ":no_entry_sign: *Null MX* (RFC 7505): this domain states that it accepts no mail. "
            "No mail server was contacted."
        )
    if dns.mx_status == DnsStatus.NXDOMAIN:
        return ":no_entry_sign: *The domain does not exist* (NXDOMAIN): no MX host to check."
    if dns.mx_status.inconclusive:
        reason = f": {to_escaped(dns.mx_error)}" if dns.mx_error else ""
        return f":grey_question: *The MX lookup failed* ({dns.mx_status.value}{reason})."
    if not dns.hosts:
        return ":grey_question: No mail server was found for this domain."
    return None


def _address_line(host: MxHost, address: Address, expiry_days: int, checked_at: str) -> str:
    facts: list[str] = []
    if address.ptr_confirmed:
        facts.append(
            f"PTR {to_escaped(address.ptr_confirmed[0])} :white_check_mark: forward-confirmed"
        )
    elif address.ptr_names:
        facts.append(f"PTR {to_escaped(address.ptr_names[0])} :warning: not forward-confirmed")
    elif address.ptr_status != DnsStatus.NOT_ASKED:
        facts.append(f"no PTR ({address.ptr_status.value})")
    if not address.public:
        facts.append("not a public address")
    lines = [f"• `{to_escaped(address.ip)}` " + " · ".join(facts)]
    session = address.session
    if session is None:
        lines.append("   not probed")
        return "\n".join(lines)
    if session.greeting is not None and session.greeting.lines:
        greeting = to_code(session.greeting.lines[0])
        more = len(session.greeting.lines) - 1
        lines.append(f"   Greeting {greeting}" + (f" (+{more} lines)" if more else ""))
    if session.status.value != "ok":
        step = f" at {session.failed_step.value}" if session.failed_step else ""
        lines.append(f"   :grey_question: {session.status.value.replace('_', ' ')}{step}")
    tls_facts: list[str] = []
    if session.tls is not None:
        tls_facts.append(f"STARTTLS :lock: {to_escaped(session.tls.version or 'TLS')}")
        cert = session.tls.certificate
        if cert is not None:
            days = to_days_left(cert.not_after, checked_at)
            when = to_timestamp(cert.not_after).split(" ")[0]
            if days is None:
                tls_facts.append(f"certificate expires {to_escaped(cert.not_after)}")
            elif days < 0:
                tls_facts.append(f":x: certificate expired {when}")
            else:
                mark = ":warning: " if days <= expiry_days else ""
                tls_facts.append(f"{mark}certificate expires {when} ({days} days)")
    elif offers_starttls(session):
        tls_facts.append(":warning: STARTTLS offered, handshake failed")
    elif session.ehlo is not None:
        tls_facts.append(":x: no STARTTLS")
    if tls_facts:
        lines.append("   " + " · ".join(tls_facts))
    return "\n".join(lines)


def _host_block(host: MxHost, report: Report, expiry_days: int) -> Block:
    label = "implicit MX (A/AAAA)" if host.implicit else f"MX {host.preference}"
    head = f"*{to_escaped(host.name)}*  _{label}_"
    if host.cname_target:
        head += f"  (alias of {to_escaped(host.cname_target)})"
    if not host.probed:
        return section(head + "\n   not probed (over the MX host limit)")
    if not host.addresses:
        a = host.a_status.value
        return section(head + f"\n   no address (A {a}, AAAA {host.aaaa_status.value})")
    body = [_address_line(host, a, expiry_days, report.checked_at) for a in host.addresses]
    text = "\n".join([head, *body])
    if len(text) > MAX_SECTION_TEXT:
        shown = to_truncated(text, MAX_SECTION_TEXT - 40)
        text = shown + f"\n…{len(host.addresses)} addresses in all"
    return section(text)


def _names_host(finding: Finding) -> bool:
    """The message already says where (the checks' messages mostly start with the host)."""
    return finding.host is not None and finding.host in finding.message


def _finding_text(finding: Finding) -> str:
    where = ""
    if finding.host and not _names_host(finding):
        where = f" — {to_escaped(finding.host)}"
        if finding.ip:
            where += f" ({to_escaped(finding.ip)})"
    text = (
        f"{SEVERITY_EMOJI[finding.severity]} *{finding.severity.value.upper()}* "
        f"`{to_escaped(finding.code)}`{where}\n{to_escaped(finding.message)}"
    )
    if finding.remediation:
        text += f"\n_What to do:_ {to_escaped(finding.remediation)}"
    if finding.rfc:
        text += f" ({to_escaped(finding.rfc)})"
    if finding.evidence:
        text += f"\nEvidence: {to_code(finding.evidence)}"
    return text


def _notes_text(notes: Sequence[Finding]) -> str:
    """Informational findings, one line each: facts, nothing to do."""
    lines = [f"{SEVERITY_EMOJI[Severity.INFO]} *Notes*"]
    for finding in notes:
        where = (
            f" ({to_escaped(finding.host)})" if finding.host and not _names_host(finding) else ""
        )
        lines.append(f"• `{to_escaped(finding.code)}`{where}: {to_escaped(finding.message)}")
    text = "\n".join(lines)
    if len(text) > MAX_SECTION_TEXT:
        text = to_truncated(text, MAX_SECTION_TEXT - 30) + f"\n…{len(notes)} notes in all"
    return text


def _passed_text(passed: Sequence[Finding]) -> str:
    codes = sorted({f.code for f in passed})
    listed = ", ".join(f"`{to_escaped(c)}`" for c in codes)
    checks = "check" if len(passed) == 1 else "checks"
    return f":white_check_mark: *Passed:* {len(passed)} {checks} — {listed}"


def to_fallback_text(report: Report) -> str:
    """Plain text for notifications and screen readers."""
    counts = to_counts(report.findings)
    lines = [
        f"{report.domain_unicode or report.domain}: {report.verdict.value} (grade {report.grade})"
        f" — {to_counts_text(counts)}. Check {report.check_id}."
    ]
    lines += [
        f"{f.severity.value.upper()} {f.code}: {f.message}"
        for f in sorted_findings(report.findings)
        if f.severity in ACTIONABLE_SEVERITIES
    ][:10]
    return to_escaped(to_truncated("\n".join(lines), MAX_FALLBACK_TEXT))


def to_message(report: Report, *, shareable: bool = True, expiry_days: int = 14) -> Message:
    """The findings message: ``{"blocks": [...], "text": fallback}``.

    ``shareable`` adds the "Share in channel" button (for ephemeral results).

    >>> to_message(report)["blocks"][0]["type"]
    'header'
    """
    counts = to_counts(report.findings)
    domain = report.domain
    api_path = f"GET /checks/{to_escaped(domain)}/{to_escaped(report.check_id)}"
    top: list[Block] = [
        header(_title(report)),
        section(
            f"{to_counts_text(counts)} — checked in {to_duration(report.duration_ms)}"
            + (f", {len(report.dns.hosts)} MX hosts" if len(report.dns.hosts) > 1 else "")
        ),
    ]
    dns_text = _dns_summary(report)
    if dns_text is not None:
        top.append(section(dns_text))

    footer: list[Block] = [
        context(
            f"Check `{to_escaped(report.check_id)}`",
            to_timestamp(report.checked_at),
            f"probe EHLO name `{to_escaped(report.ehlo_name)}`",
        ),
    ]
    buttons = [
        button("Re-run", ACTION_RERUN, domain),
        button("Watch daily", ACTION_WATCH_DAILY, domain),
    ]
    if shareable:
        buttons.append(
            button("Share in channel", ACTION_SHARE, f"{domain} {report.check_id}", "primary")
        )
    footer.append({"type": "actions", "elements": buttons})

    hosts = list(report.dns.hosts)
    host_blocks = [_host_block(h, report, expiry_days) for h in hosts[:MAX_HOST_BLOCKS]]
    if len(hosts) > MAX_HOST_BLOCKS:
        rest = hosts[MAX_HOST_BLOCKS:]
        names = ", ".join(to_escaped(h.name) for h in rest[:20])
        host_blocks.append(
            context(
                f"…and {len(rest)} more MX hosts ({names}) — full details via the API "
                f"(`{api_path}`)."
            )
        )
    if report.dns.skipped_hosts:
        host_blocks.append(
            context(
                f"{len(report.dns.skipped_hosts)} further MX hosts were not probed "
                "(over the limit of hosts per check)."
            )
        )

    findings = sorted_findings(report.findings)
    passed = [f for f in findings if f.severity == Severity.PASS]
    notes = [f for f in findings if f.severity == Severity.INFO]
    listed = [f for f in findings if f.severity in ACTIONABLE_SEVERITIES]
    # Each block with the findings it shows, so an overflow can count what it hides.
    shown: list[tuple[Block, list[Finding]]] = [(section(_finding_text(f)), [f]) for f in listed]
    if notes:
        shown.append((section(_notes_text(notes)), notes))
    if passed:
        shown.append((context(_passed_text(passed)), passed))
    finding_blocks = [block for block, _ in shown]

    # Two dividers separate hosts from findings from the footer.
    budget = MAX_BLOCKS - len(top) - len(footer) - 2 - len(host_blocks)
    if len(finding_blocks) > budget:
        keep = max(budget - 1, 0)
        hidden = [f for _, group in shown[keep:] for f in group]
        hidden_counts = to_counts_text(to_counts(hidden))
        pointer = section(
            f"…and {len(hidden)} more findings ({hidden_counts}). "
            f"See `/bannercheck history {to_escaped(domain)}` or the API "
            f"(`{api_path}`) for the full report."
        )
        finding_blocks = [*finding_blocks[:keep], pointer]

    blocks = [*top, *host_blocks]
    if host_blocks:
        blocks.append(divider())
    blocks += finding_blocks
    blocks.append(divider())
    blocks += footer
    return {"blocks": blocks[:MAX_BLOCKS], "text": to_fallback_text(report)}


# --- other report-derived messages -----------------------------------------
def to_failure_message(domain: str, check_id: str, reason: str) -> Message:
    """A check that crashed or ran out of time still answers, with its id."""
    text = (
        f":boom: The check of *{to_escaped(domain)}* did not finish: {to_escaped(reason)}.\n"
        "Nothing was concluded about the mail servers. Try again in a minute; if it "
        "keeps failing, report the check id below."
    )
    return {
        "blocks": [
            section(text),
            context(f"Check `{to_escaped(check_id)}`"),
            {"type": "actions", "elements": [button("Re-run", ACTION_RERUN, domain)]},
        ],
        "text": to_escaped(f"The check of {domain} did not finish ({reason}). Check {check_id}."),
    }


def to_unrendered_message(domain: str, check_id: str) -> Message:
    """A stored check whose findings message could not be built (our bug): where to read it."""
    api_path = f"GET /checks/{to_escaped(domain)}/{to_escaped(check_id)}"
    text = (
        f":boom: The check of *{to_escaped(domain)}* finished and is stored, but its findings "
        f"could not be shown here (a bug of ours). Read them with "
        f"`/bannercheck history {to_escaped(domain)}` or the API (`{api_path}`)."
    )
    return {
        "blocks": [section(text), context(f"Check `{to_escaped(check_id)}`")],
        "text": to_escaped(f"The check of {domain} finished; see check {check_id}."),
    }


def _changes_lines(changes: Changes, limit: int = 12) -> list[str]:
    lines: list[str] = []
    for f in changes.new_findings:
        where = f" — {to_escaped(f.host)}" if f.host else ""
        lines.append(
            f"{SEVERITY_EMOJI[f.severity]} *New {f.severity.value}* `{to_escaped(f.code)}`"
            f"{where}: {to_escaped(f.message)}"
        )
    for f in changes.resolved_findings:
        where = f" — {to_escaped(f.host)}" if f.host else ""
        lines.append(f":heavy_check_mark: *Resolved* `{to_escaped(f.code)}`{where}")
    for b in changes.banner_changes:
        lines.append(
            f":speech_balloon: *Banner changed* on {to_escaped(b.host)}: "
            f"{to_code(b.before, 120)} → {to_code(b.after, 120)}"
        )
    for name in changes.starttls_lost:
        lines.append(f":unlock: *STARTTLS gone* on {to_escaped(name)}")
    for e in changes.certs_expiring:
        when = to_timestamp(e.not_after).split(" ")[0]
        state = "expired" if e.days_left < 0 else f"expires in {e.days_left} days"
        lines.append(f":hourglass: *Certificate {state}* on {to_escaped(e.host)} ({when})")
    if len(lines) > limit:
        lines = [*lines[:limit], f"…and {len(lines) - limit} more changes"]
    return lines


def to_changes_text(changes: Changes) -> str:
    """The changes as mrkdwn lines (also used between history entries)."""
    return "\n".join(_changes_lines(changes))


def to_alert_message(changes: Changes, report: Report) -> Message:
    """The change alert for a watched domain, posted to the watch's channel."""
    verdict = changes.verdict_after
    if changes.verdict_before != changes.verdict_after:
        verdict = f"{changes.verdict_before} → {changes.verdict_after}"
    blocks: list[Block] = [
        header(f"{VERDICT_EMOJI[report.verdict]} {report.domain_unicode or report.domain} changed"),
        section(f"Scheduled check: *{verdict}* · grade {report.grade}\n{to_changes_text(changes)}"),
        context(
            f"Check `{to_escaped(changes.current_check_id)}`",
            f"previous `{to_escaped(changes.previous_check_id)}`",
            to_timestamp(report.checked_at),
        ),
        {
            "type": "actions",
            "elements": [button("Re-run", ACTION_RERUN, report.domain)],
        },
    ]
    summary = (
        f"{report.domain}: {len(changes.new_findings)} new, "
        f"{len(changes.resolved_findings)} resolved"
        + (", banner changed" if changes.banner_changes else "")
        + (", STARTTLS gone" if changes.starttls_lost else "")
        + (", certificate expiring" if changes.certs_expiring else "")
        + f" (now {changes.verdict_after})."
    )
    return {"blocks": blocks, "text": to_escaped(summary)}


def to_history_message(domain: str, reports: Sequence[Report], *, limit: int = 10) -> Message:
    """The last checks of a domain, newest first, with what changed between them."""
    if not reports:
        name = to_escaped(domain)
        text = f"No checks of *{name}* are stored yet. Try `/bannercheck {name}`."
        return {"blocks": [section(text)], "text": to_escaped(f"No checks of {domain} yet.")}
    shown = list(reports[:limit])
    blocks: list[Block] = [header(f"History of {shown[0].domain_unicode or domain}")]
    for index, report in enumerate(shown):
        counts = to_counts_text(to_counts(report.findings))
        line = (
            f"{VERDICT_EMOJI[report.verdict]} *{to_timestamp(report.checked_at)}* — "
            f"{report.verdict.value} · grade {report.grade} · {counts}\n"
            f"Check `{to_escaped(report.check_id)}`"
        )
        older = shown[index + 1] if index + 1 < len(shown) else None
        if older is not None:
            changes = to_changes(older, report)
            line += "\n" + (
                to_changes_text(changes)
                if changes.changed
                else "_no change since the check before_"
            )
        blocks.append(section(line))
    if len(reports) > limit:
        blocks.append(context(f"Showing the last {limit} checks; the API has the full history."))
    latest = shown[0]
    text = (
        f"History of {domain}: {len(shown)} checks, "
        f"latest {latest.verdict.value} (grade {latest.grade})."
    )
    return {"blocks": blocks[:MAX_BLOCKS], "text": to_escaped(text)}
