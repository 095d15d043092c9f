"""Every finding code, defined once: default severity, title, RFC, remediation.

Codes are stable public identifiers (stored in DynamoDB, shown in Slack,
documented in ``docs/findings.md``); never rename one, add a new code instead.
Remediation texts are ``str.format`` templates filled from the values a check
passes to :func:`to_finding` (``{host}``, ``{ip}``, ``{domain}``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from bannercheck.model import Finding, Severity

FAIL = Severity.FAIL
WARN = Severity.WARN
INCONCLUSIVE = Severity.INCONCLUSIVE
INFO = Severity.INFO
PASS = Severity.PASS


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: Severity  # the default; a check may lower it with a reason
    title: str
    rfc: str | None
    remediation: str  # str.format template


# --- DNS -------------------------------------------------------------------
DNS_NXDOMAIN = "DNS_NXDOMAIN"
DNS_NULL_MX = "DNS_NULL_MX"
DNS_IMPLICIT_MX = "DNS_IMPLICIT_MX"
DNS_NO_MAIL_HOST = "DNS_NO_MAIL_HOST"
DNS_MX_CNAME = "DNS_MX_CNAME"
DNS_MX_NOT_HOSTNAME = "DNS_MX_NOT_HOSTNAME"
DNS_MX_UNRESOLVABLE = "DNS_MX_UNRESOLVABLE"
DNS_SINGLE_MX = "DNS_SINGLE_MX"
DNS_TOO_MANY_MX = "DNS_TOO_MANY_MX"
DNS_LOOKUP_FAILED = "DNS_LOOKUP_FAILED"
ADDRESS_NOT_PUBLIC = "ADDRESS_NOT_PUBLIC"
PTR_MISSING = "PTR_MISSING"
PTR_NOT_FORWARD_CONFIRMED = "PTR_NOT_FORWARD_CONFIRMED"
PTR_GENERIC = "PTR_GENERIC"
# --- connection --------------------------------------------------------------
SMTP_CONNECT_REFUSED = "SMTP_CONNECT_REFUSED"
SMTP_CONNECT_TIMEOUT = "SMTP_CONNECT_TIMEOUT"
SMTP_CONNECT_FAILED = "SMTP_CONNECT_FAILED"
SMTP_NO_BANNER = "SMTP_NO_BANNER"
SMTP_PROTOCOL_ERROR = "SMTP_PROTOCOL_ERROR"
SMTP_SESSION_DROPPED = "SMTP_SESSION_DROPPED"
PROBE_EGRESS_BLOCKED = "PROBE_EGRESS_BLOCKED"
PROBE_NOT_ATTEMPTED = "PROBE_NOT_ATTEMPTED"
PROBE_INTERNAL_ERROR = "PROBE_INTERNAL_ERROR"
PROBE_EHLO_NAME_REPLACED = "PROBE_EHLO_NAME_REPLACED"
INTERNAL_CHECK_ERROR = "INTERNAL_CHECK_ERROR"
# --- banner ------------------------------------------------------------------
BANNER_OK = "BANNER_OK"
BANNER_REJECTED = "BANNER_REJECTED"
BANNER_TEMPFAIL = "BANNER_TEMPFAIL"
BANNER_SYNTAX = "BANNER_SYNTAX"
BANNER_MULTILINE = "BANNER_MULTILINE"
BANNER_HOSTNAME_NOT_FQDN = "BANNER_HOSTNAME_NOT_FQDN"
BANNER_PTR_MISMATCH = "BANNER_PTR_MISMATCH"
BANNER_MX_MISMATCH = "BANNER_MX_MISMATCH"
BANNER_SOFTWARE_DISCLOSED = "BANNER_SOFTWARE_DISCLOSED"
BANNER_VERSION_DISCLOSED = "BANNER_VERSION_DISCLOSED"
BANNER_VULNERABLE_VERSION = "BANNER_VULNERABLE_VERSION"
BANNER_SLOW = "BANNER_SLOW"
BANNER_NON_ASCII = "BANNER_NON_ASCII"
BANNERS_INCONSISTENT = "BANNERS_INCONSISTENT"
# --- EHLO --------------------------------------------------------------------
EHLO_REJECTED = "EHLO_REJECTED"
EHLO_HELO_ONLY = "EHLO_HELO_ONLY"
EHLO_HOSTNAME_MISMATCH = "EHLO_HOSTNAME_MISMATCH"
STARTTLS_MISSING = "STARTTLS_MISSING"
AUTH_BEFORE_TLS = "AUTH_BEFORE_TLS"
VRFY_ADVERTISED = "VRFY_ADVERTISED"
EHLO_EXTENSIONS = "EHLO_EXTENSIONS"
# --- TLS ---------------------------------------------------------------------
STARTTLS_FAILED = "STARTTLS_FAILED"
STARTTLS_READVERTISED = "STARTTLS_READVERTISED"
TLS_PROTOCOL_OUTDATED = "TLS_PROTOCOL_OUTDATED"
TLS_CERT_EXPIRED = "TLS_CERT_EXPIRED"
TLS_CERT_EXPIRING = "TLS_CERT_EXPIRING"
TLS_CERT_UNTRUSTED = "TLS_CERT_UNTRUSTED"
TLS_CERT_NAME_MISMATCH = "TLS_CERT_NAME_MISMATCH"
TLS_OK = "TLS_OK"


def _info(code: str, severity: Severity, title: str, rfc: str | None, remediation: str) -> CodeInfo:
    return CodeInfo(code, severity, title, rfc, remediation)


CATALOG: dict[str, CodeInfo] = {
    i.code: i
    for i in (
        # DNS
        _info(
            DNS_NXDOMAIN,
            FAIL,
            "The domain does not exist",
            "RFC 5321 §5.1",
            "Check the spelling of {domain}, or register it and publish MX records.",
        ),
        _info(
            DNS_NULL_MX,
            INFO,
            "The domain declares that it accepts no mail (null MX)",
            "RFC 7505",
            "Nothing to do if {domain} should receive no mail; otherwise replace the "
            "'0 .' MX record with your mail servers.",
        ),
        _info(
            DNS_IMPLICIT_MX,
            WARN,
            "No MX records: mail goes to the domain's own address (implicit MX)",
            "RFC 5321 §5.1",
            "Publish an explicit MX record for {domain} naming your mail server "
            "(or '0 .' if it accepts no mail).",
        ),
        _info(
            DNS_NO_MAIL_HOST,
            FAIL,
            "No mail server address can be found for the domain",
            "RFC 5321 §5.1",
            "Publish MX records for {domain} whose host names have A/AAAA records "
            "(or a null MX '0 .' if it accepts no mail).",
        ),
        _info(
            DNS_MX_CNAME,
            WARN,
            "An MX target is an alias (CNAME)",
            "RFC 2181 §10.3",
            "Point the MX record at the canonical name {target} instead of the alias {host}.",
        ),
        _info(
            DNS_MX_NOT_HOSTNAME,
            FAIL,
            "An MX target is an IP address, not a host name",
            "RFC 5321 §5.1",
            "Give the server a host name with an A/AAAA record and use that name in the MX "
            "record instead of {host}.",
        ),
        _info(
            DNS_MX_UNRESOLVABLE,
            FAIL,
            "An MX host name has no address",
            "RFC 5321 §5.1",
            "Publish A and/or AAAA records for {host}, or remove it from the MX records.",
        ),
        _info(
            DNS_SINGLE_MX,
            INFO,
            "Only one MX host",
            "RFC 5321 §5.1",
            "Nothing is broken; senders queue and retry, but a second MX host (or several "
            "addresses) avoids a single point of failure.",
        ),
        _info(
            DNS_TOO_MANY_MX,
            INFO,
            "More MX hosts than the probe checks",
            "RFC 5321 §5.1",
            "Nothing to do unless the list is unintended; check the skipped hosts separately.",
        ),
        _info(
            DNS_LOOKUP_FAILED,
            INCONCLUSIVE,
            "A DNS lookup gave no usable answer",
            None,
            "Check that the authoritative name servers of {name} answer (e.g. dig {name} "
            "{rtype}) and retry the check.",
        ),
        _info(
            ADDRESS_NOT_PUBLIC,
            FAIL,
            "An MX address is not reachable from the internet",
            "RFC 6890",
            "Publish the public address of {host} in DNS; {ip} is a private/special-purpose "
            "address no sender on the internet can reach.",
        ),
        _info(
            PTR_MISSING,
            WARN,
            "The address has no reverse DNS (PTR)",
            "RFC 1912 §2.1",
            "Ask whoever controls {ip} (your hosting provider) to set its PTR record to {host}.",
        ),
        _info(
            PTR_NOT_FORWARD_CONFIRMED,
            WARN,
            "Reverse DNS does not point back to the address (no FCrDNS)",
            "RFC 1912 §2.1",
            "Make the PTR name of {ip} resolve back to {ip} (add an A/AAAA record), or change "
            "the PTR to a name that does.",
        ),
        _info(
            PTR_GENERIC,
            WARN,
            "The reverse DNS name looks generic (dynamic/ISP pool)",
            None,
            "Set the PTR of {ip} to the server's own name (e.g. {host}) instead of the "
            "provider's generated name.",
        ),
        # connection
        _info(
            SMTP_CONNECT_REFUSED,
            FAIL,
            "Port 25 refused the connection",
            "RFC 5321 §4.5.4.1",
            "Start the SMTP service on {ip} port 25 or allow port 25 in its firewall; "
            "otherwise remove {host} from the MX records.",
        ),
        _info(
            SMTP_CONNECT_TIMEOUT,
            WARN,
            "The connection to port 25 timed out",
            "RFC 5321 §4.5.4.1",
            "Check that {ip} is up and that firewalls allow inbound TCP port 25 from the internet.",
        ),
        _info(
            SMTP_CONNECT_FAILED,
            INCONCLUSIVE,
            "The connection could not be made (network error)",
            None,
            "Retry from a network with a route to {ip} (IPv6 needs an IPv6-capable probe).",
        ),
        _info(
            SMTP_NO_BANNER,
            FAIL,
            "Connected, but no greeting came",
            "RFC 5321 §4.3.1",
            "Make the SMTP service on {ip} send its 220 greeting promptly; check that it is "
            "not overloaded or stuck behind a proxy that swallows it.",
        ),
        _info(
            SMTP_PROTOCOL_ERROR,
            FAIL,
            "The server did not speak valid SMTP",
            "RFC 5321 §4.2",
            "Check what listens on {ip} port 25 (a non-SMTP service or a broken proxy).",
        ),
        _info(
            SMTP_SESSION_DROPPED,
            FAIL,
            "The server stopped answering in the middle of the session",
            "RFC 5321 §4.1.1.1",
            "Check the SMTP server logs on {ip} for why it dropped the session after {step}.",
        ),
        _info(
            PROBE_EGRESS_BLOCKED,
            INCONCLUSIVE,
            "Every port 25 connection timed out: the probe's own network may block port 25",
            None,
            "Run the check from a network that allows outbound TCP port 25 (many cloud and "
            "home networks block it) before blaming the servers.",
        ),
        _info(
            PROBE_NOT_ATTEMPTED,
            INCONCLUSIVE,
            "The address was not probed",
            None,
            "Retry the check (with a longer timeout if the deadline ran out).",
        ),
        _info(
            PROBE_EHLO_NAME_REPLACED,
            INFO,
            "The probe's EHLO name belongs to the checked domain: a neutral name was announced",
            "RFC 5321 §4.1.4",
            "Nothing to do for the domain; give the probe an EHLO name of its own, outside the "
            "domains it checks (BANNERCHECK_EHLO_NAME / --ehlo-name).",
        ),
        _info(
            PROBE_INTERNAL_ERROR,
            INCONCLUSIVE,
            "The probe hit an internal error (our bug, not the server's)",
            None,
            "Retry; if it persists, report it to the bannercheck maintainers with the check id.",
        ),
        _info(
            INTERNAL_CHECK_ERROR,
            INCONCLUSIVE,
            "A check crashed (our bug, not the server's)",
            None,
            "Report it to the bannercheck maintainers with the check id.",
        ),
        # banner
        _info(
            BANNER_OK,
            PASS,
            "The greeting is well formed and names the server",
            "RFC 5321 §4.3.1",
            "Nothing to do.",
        ),
        _info(
            BANNER_REJECTED,
            WARN,
            "The server rejected the connection in its greeting (5xx)",
            "RFC 5321 §3.1",
            "If {host} should receive mail, make it greet with 220; if it rejected only the "
            "probe, check its blocklists/connection policy.",
        ),
        _info(
            BANNER_TEMPFAIL,
            INCONCLUSIVE,
            "The server is temporarily refusing connections (4xx greeting)",
            "RFC 5321 §4.2.5",
            "Check the load and connection limits on {host}; retry the check later.",
        ),
        _info(
            BANNER_SYNTAX,
            WARN,
            "The greeting is not '220 <domain> <text>'",
            "RFC 5321 §4.3.1",
            "Make the greeting start with '220 ' and the server's FQDN, e.g. set "
            "smtpd_banner = $myhostname ESMTP in Postfix main.cf.",
        ),
        _info(
            BANNER_MULTILINE,
            INFO,
            "The greeting spans several lines",
            "RFC 5321 §4.2",
            "Nothing is wrong; a one-line greeting is friendlier to old clients (Postfix "
            "postscreen uses '220-' on purpose to catch pre-greeting bots).",
        ),
        _info(
            BANNER_HOSTNAME_NOT_FQDN,
            WARN,
            "The greeting does not name a fully qualified host",
            "RFC 5321 §4.1.2",
            "Make the server greet with its FQDN (e.g. {host}): myhostname in Postfix, "
            "primary_hostname in Exim, the receive connector FQDN in Exchange.",
        ),
        _info(
            BANNER_PTR_MISMATCH,
            WARN,
            "The greeting name differs from the address's reverse DNS",
            "RFC 5321 §4.1.4",
            "Make the greeting name, the PTR of {ip} and its A/AAAA record agree.",
        ),
        _info(
            BANNER_MX_MISMATCH,
            INFO,
            "The greeting name differs from the MX host name",
            None,
            "Nothing to do if this is a shared or hosted server; otherwise greet with {host}.",
        ),
        _info(
            BANNER_SOFTWARE_DISCLOSED,
            INFO,
            "The greeting names the mail server software",
            "RFC 5321 §7.5",
            "Optional: hide the product name (e.g. smtpd_banner = $myhostname ESMTP in "
            "Postfix, smtp_banner in Exim).",
        ),
        _info(
            BANNER_VERSION_DISCLOSED,
            WARN,
            "The greeting discloses the software version",
            "RFC 5321 §7.5",
            "Remove the version from the greeting (smtpd_banner in Postfix, smtp_banner in "
            "Exim, SmtpGreetingMessage in Sendmail).",
        ),
        _info(
            BANNER_VULNERABLE_VERSION,
            FAIL,
            "The greeting announces a version with known vulnerabilities",
            None,
            "Upgrade {software} to {fixed} or later (or confirm your distribution backported "
            "the fixes), then hide the version.",
        ),
        _info(
            BANNER_SLOW,
            WARN,
            "The greeting came late",
            "RFC 5321 §4.5.3.2",
            "If this is a deliberate greet pause/tarpit keep it well under a minute; "
            "otherwise look for slow DNS lookups or load on {host}.",
        ),
        _info(
            BANNER_NON_ASCII,
            WARN,
            "The greeting contains bytes outside printable ASCII",
            "RFC 5321 §4.2",
            "Use only printable US-ASCII in the greeting text.",
        ),
        _info(
            BANNERS_INCONSISTENT,
            WARN,
            "Addresses of one MX host greet differently",
            None,
            "Configure every server behind {host} alike (same name, software and version).",
        ),
        # EHLO
        _info(
            EHLO_REJECTED,
            WARN,
            "The server did not accept EHLO or HELO",
            "RFC 5321 §4.1.1.1",
            "Accept EHLO from any syntactically valid client name; reject senders later "
            "(at MAIL/RCPT), not at EHLO.",
        ),
        _info(
            EHLO_HELO_ONLY,
            WARN,
            "The server supports only HELO (no ESMTP)",
            "RFC 5321 §4.1.1.1",
            "Enable ESMTP (EHLO) on {host}; without it STARTTLS, SIZE and 8BITMIME are "
            "unavailable.",
        ),
        _info(
            EHLO_HOSTNAME_MISMATCH,
            INFO,
            "The EHLO reply names a different host than the greeting",
            "RFC 5321 §4.1.1.1",
            "Use one name for the greeting and the EHLO reply (Postfix: myhostname for both).",
        ),
        _info(
            STARTTLS_MISSING,
            FAIL,
            "STARTTLS is not offered",
            "RFC 3207",
            "Enable STARTTLS with a valid certificate for {host} (Postfix: smtpd_tls_security_"
            "level = may plus smtpd_tls_chain_files).",
        ),
        _info(
            AUTH_BEFORE_TLS,
            WARN,
            "AUTH is offered before TLS",
            "RFC 4954 §4",
            "Offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only = yes), or not on "
            "port 25 at all.",
        ),
        _info(
            VRFY_ADVERTISED,
            WARN,
            "VRFY is advertised (address harvesting)",
            "RFC 5321 §7.3",
            "Disable VRFY (Postfix: disable_vrfy_command = yes).",
        ),
        _info(
            EHLO_EXTENSIONS,
            INFO,
            "ESMTP extensions offered",
            "RFC 5321 §4.1.1.1",
            "Nothing to do.",
        ),
        # TLS
        _info(
            STARTTLS_FAILED,
            FAIL,
            "STARTTLS is offered but fails",
            "RFC 3207 §4",
            "Fix the TLS setup on {host} (certificate/key files, protocol and cipher "
            "settings); a broken STARTTLS is worse than none.",
        ),
        _info(
            STARTTLS_READVERTISED,
            WARN,
            "STARTTLS is advertised again inside TLS",
            "RFC 3207 §4.2",
            "Stop advertising STARTTLS after TLS is active (check a TLS proxy in front of {host}).",
        ),
        _info(
            TLS_PROTOCOL_OUTDATED,
            WARN,
            "An outdated TLS/SSL protocol version was negotiated",
            "RFC 8996",
            "Enable TLS 1.2 and 1.3 on {host} (Postfix: smtpd_tls_protocols = >=TLSv1.2 "
            "only after checking your senders).",
        ),
        _info(
            TLS_CERT_EXPIRED,
            FAIL,
            "The certificate is expired or not yet valid",
            "RFC 5280 §4.1.2.5",
            "Renew the certificate of {host} and reload the mail server.",
        ),
        _info(
            TLS_CERT_EXPIRING,
            WARN,
            "The certificate expires soon",
            "RFC 5280 §4.1.2.5",
            "Renew the certificate of {host} before {not_after} (automate it, e.g. ACME).",
        ),
        _info(
            TLS_CERT_UNTRUSTED,
            WARN,
            "The certificate chain does not verify",
            "RFC 8461 §4.2",
            "Use a certificate from a public CA and send the full chain (intermediates) on {host}.",
        ),
        _info(
            TLS_CERT_NAME_MISMATCH,
            WARN,
            "The certificate does not name the MX host",
            "RFC 8461 §4.2",
            "Add {host} to the certificate's subjectAltName.",
        ),
        _info(
            TLS_OK,
            PASS,
            "TLS works with a current protocol and a valid certificate",
            "RFC 3207",
            "Nothing to do.",
        ),
    )
}


MAX_EVIDENCE_CHARS = 300  # a 1 MB greeting line must not become a 1 MB finding


def to_short(text: str | None, limit: int = MAX_EVIDENCE_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class _Blank(dict[str, object]):
    """Template values a check did not give render as '?', never KeyError."""

    def __missing__(self, key: str) -> str:
        return "?"


def to_finding(
    code: str,
    message: str,
    *,
    host: str | None = None,
    ip: str | None = None,
    evidence: str | None = None,
    severity: Severity | None = None,
    **values: object,
) -> Finding:
    """A :class:`Finding` of ``code`` with its catalog remediation and RFC.

    >>> to_finding(PTR_MISSING, "1.2.3.4 has no PTR", host="mx.x.test", ip="1.2.3.4").rfc
    'RFC 1912 §2.1'
    """
    info = CATALOG[code]
    remediation = info.remediation.format_map(_Blank(host=host, ip=ip, **values))
    return Finding(
        code=code,
        severity=info.severity if severity is None else severity,
        message=to_short(message, 2 * MAX_EVIDENCE_CHARS) or "",
        remediation=remediation,
        host=host,
        ip=ip,
        evidence=to_short(evidence),
        rfc=info.rfc,
    )
