"""The recorded data of one check: frozen dataclasses and ``str`` enums.

Everything here is stored and serialised, so names are stable public
interface (the JSON Schema in ``schema/report.schema.json`` mirrors them).
Nothing in this module does I/O or judges anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

SCHEMA_VERSION = "1.0"


class Severity(str, Enum):
    FAIL = "fail"
    WARN = "warn"
    INCONCLUSIVE = "inconclusive"
    INFO = "info"
    PASS = "pass"


# Order used to sort findings: what needs action first.
SEVERITY_ORDER: dict[Severity, int] = {
    Severity.FAIL: 0,
    Severity.INCONCLUSIVE: 1,
    Severity.WARN: 2,
    Severity.INFO: 3,
    Severity.PASS: 4,
}


class Verdict(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class DnsStatus(str, Enum):
    """Outcome of one DNS question, as dnspython reports it."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"  # the name exists, no record of this type
    SERVFAIL = "servfail"  # no nameserver gave a usable answer
    TIMEOUT = "timeout"
    ERROR = "error"  # malformed answer and the like
    CNAME_LOOP = "cname_loop"  # the alias chain never ends: a definite misconfiguration
    NOT_ASKED = "not_asked"

    @property
    def inconclusive(self) -> bool:
        return self in (DnsStatus.SERVFAIL, DnsStatus.TIMEOUT, DnsStatus.ERROR)


class StepStatus(str, Enum):
    """How an SMTP session ended (zgrab2's vocabulary, plus ours).

    ``internal_error`` is a bug of ours and is never reported as a server fault.
    """

    OK = "ok"
    NOT_ATTEMPTED = "not_attempted"  # refused by policy (not public) or deadline
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_TIMEOUT = "connection_timeout"
    CONNECTION_RESET = "connection_reset"
    NETWORK_ERROR = "network_error"  # unreachable, no route, ...
    IO_TIMEOUT = "io_timeout"  # connected, but a reply did not come in time
    CLOSED = "closed"  # the server closed the connection mid-session
    PROTOCOL_ERROR = "protocol_error"  # garbage, oversized reply, bad code
    TLS_ERROR = "tls_error"
    INTERNAL_ERROR = "internal_error"


class Step(str, Enum):
    """The steps of one session, in order."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    HELO = "helo"
    STARTTLS = "starttls"
    TLS_HANDSHAKE = "tls_handshake"
    EHLO_TLS = "ehlo_tls"
    QUIT = "quit"


class Direction(str, Enum):
    SENT = "C"  # client (us) to server
    RECEIVED = "S"
    EVENT = "*"  # connect, TLS handshake, close: not protocol lines


@dataclass(frozen=True)
class TranscriptLine:
    t_ms: float  # milliseconds since the session started
    direction: Direction
    text: str


@dataclass(frozen=True)
class Reply:
    """One complete SMTP reply (RFC 5321 §4.2), possibly multi-line.

    ``lines`` holds the raw lines as received (decoded with ``surrogateescape``
    replaced by U+FFFD, without CRLF). ``code`` is None when the reply did not
    start with three digits.
    """

    code: int | None
    lines: tuple[str, ...]
    texts: tuple[str, ...] = ()  # the text after "NNN-" / "NNN " per line
    truncated: bool = False  # capped by our limits
    non_ascii: bool = False  # bytes outside printable US-ASCII were seen
    well_formed: bool = True  # every line had the same code and a proper separator

    @property
    def multiline(self) -> bool:
        return len(self.lines) > 1


@dataclass(frozen=True)
class EhloKeyword:
    keyword: str  # upper-cased ehlo-keyword
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Certificate:
    subject: str  # RFC 4514 string
    issuer: str
    sans: tuple[str, ...]  # DNS names of subjectAltName
    common_names: tuple[str, ...]
    not_before: str  # ISO 8601 UTC
    not_after: str
    serial: str
    sha256: str  # fingerprint of the DER
    key_type: str
    key_bits: int | None
    signature_algorithm: str | None
    self_signed: bool


@dataclass(frozen=True)
class TlsInfo:
    version: str | None  # "TLSv1.3"
    cipher: str | None
    cipher_bits: int | None
    sni: str
    certificate: Certificate | None
    chain_length: int | None
    chain_verified: bool
    verify_error: str | None  # the verifier's reason when not verified
    name_matches: bool  # certificate names cover the MX host name


@dataclass(frozen=True)
class Timings:
    connect_ms: float | None = None
    greeting_ms: float | None = None  # from connected to the end of the greeting
    ehlo_ms: float | None = None
    tls_ms: float | None = None  # STARTTLS command to handshake done
    total_ms: float | None = None


@dataclass(frozen=True)
class Session:
    """Everything recorded while talking to one address of one MX host."""

    host: str
    ip: str
    port: int
    status: StepStatus
    failed_step: Step | None = None
    error: str | None = None
    timings: Timings = field(default_factory=Timings)
    greeting: Reply | None = None
    ehlo_command: str | None = None  # "EHLO" or "HELO" (what was accepted last)
    ehlo: Reply | None = None  # the reply to the first EHLO (or HELO fallback)
    ehlo_rejected: Reply | None = None  # EHLO reply when HELO had to be used
    keywords: tuple[EhloKeyword, ...] = ()
    starttls: Reply | None = None
    tls: TlsInfo | None = None
    ehlo_tls: Reply | None = None
    keywords_tls: tuple[EhloKeyword, ...] = ()
    quit: Reply | None = None
    transcript: tuple[TranscriptLine, ...] = ()
    transcript_truncated: bool = False


@dataclass(frozen=True)
class Address:
    ip: str
    family: int  # 4 or 6
    public: bool
    ptr_status: DnsStatus = DnsStatus.NOT_ASKED
    ptr_names: tuple[str, ...] = ()
    # PTR names that resolve back to this address (FCrDNS).
    ptr_confirmed: tuple[str, ...] = ()
    session: Session | None = None

    @property
    def fcrdns(self) -> bool:
        return bool(self.ptr_confirmed)


@dataclass(frozen=True)
class MxHost:
    name: str  # ASCII, no trailing dot; for an IP-literal target, the literal
    preference: int
    implicit: bool = False  # RFC 5321 §5.1: the domain itself, no MX
    cname_target: str | None = None  # set when the MX target is an alias
    ip_literal: bool = False  # the MX target looks like an address
    a_status: DnsStatus = DnsStatus.NOT_ASKED
    aaaa_status: DnsStatus = DnsStatus.NOT_ASKED
    addresses: tuple[Address, ...] = ()
    probed: bool = True  # False past the MX host limit


@dataclass(frozen=True)
class DnsResult:
    mx_status: DnsStatus
    mx_error: str | None = None
    null_mx: bool = False
    # Raw MX records "pref target" as answered, before sorting and limits.
    mx_records: tuple[str, ...] = ()
    hosts: tuple[MxHost, ...] = ()
    skipped_hosts: tuple[str, ...] = ()  # over the probe limit
    # Fallback lookups when there is no MX (implicit MX).
    a_status: DnsStatus = DnsStatus.NOT_ASKED
    aaaa_status: DnsStatus = DnsStatus.NOT_ASKED
    resolver: str | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    remediation: str
    host: str | None = None
    ip: str | None = None
    evidence: str | None = None
    rfc: str | None = None


@dataclass(frozen=True)
class Report:
    check_id: str
    domain: str  # ASCII (A-labels)
    domain_unicode: str
    checked_at: str  # ISO 8601 UTC, millisecond precision
    duration_ms: float
    ehlo_name: str
    verdict: Verdict
    grade: str
    dns: DnsResult
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()  # e.g. "transcript trimmed for storage"
    schema_version: str = SCHEMA_VERSION

    def sessions(self) -> tuple[Session, ...]:
        return tuple(
            a.session for h in self.dns.hosts for a in h.addresses if a.session is not None
        )
