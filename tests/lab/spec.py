"""What the lab contains: domains, DNS records, PTRs and the servers behind them.

Pure data, built for one /24 (``127.A.B``). tests/lab/README.md lists the same domains
for people; ``LabDomain.expected`` names the finding codes a correct checker should
report (informative: the checks' own unit tests are the authority).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from bannercheck.verification import to_token

from tests.lab.pki import TlsKind

# Fixed addresses inside the lab's /24.
MX1_GOOD = 1
MX2_GOOD = 2
KNOT = 53  # authoritative for every lab zone
SILENT_DNS = 54  # a nameserver that never answers (drops UDP, holds TCP)
REFUSED = 55  # nothing listens here: connections are refused
_RESERVED = {MX1_GOOD, MX2_GOOD, KNOT, SILENT_DNS, REFUSED}
_FIRST_PEER = 10

# Zones Knot serves besides ``test.`` and the reverse zone.
SERVFAIL_ZONE = "servfail.test"  # its zone file does not exist, so Knot answers SERVFAIL
TIMEOUT_ZONE = "timeout.test"  # forwarded to the silent server, so lookups time out


# The verified policy: BANNERCHECK_VERIFY_SECRET of tests that use the lab's TXT tokens.
LAB_VERIFY_SECRET = "lab-verification-secret"
LAB_VERIFIED_SCOPES = ("api:local-key", "slack:T0001")

# nonpublic.test: addresses outside the lab that no build may ever send a packet to.
NON_PUBLIC_TARGETS = (
    "169.254.169.254",  # cloud metadata service
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",  # CGNAT
    "192.0.2.1",  # documentation
    "fd00::1",  # unique-local
    "fe80::1",  # link-local
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
)


class Mode(str, Enum):
    """How a scripted SMTP peer runs a session (see peers.py)."""

    NORMAL = "normal"  # greeting (after delay_s), then a well-behaved command loop
    SILENT = "silent"  # accepts, never says anything, keeps the socket open
    GREET_AND_CLOSE = "greet_and_close"  # sends the greeting, then closes (421)
    REJECTED = "rejected"  # 554 greeting, then 503 to everything but QUIT (RFC 5321 §3.1)
    GARBAGE = "garbage"  # binary bytes without any line end, then closes
    TLS_GARBAGE = "tls_garbage"  # STARTTLS -> 220, then garbage instead of a handshake
    NEVER_CLOSE = "never_close"  # ignores QUIT: no reply, never closes
    HELO_ONLY = "helo_only"  # EHLO -> 502, HELO -> 250
    TARPIT = "tarpit"  # greeting one byte every delay_s seconds
    ENDLESS = "endless"  # "220-" continuation lines forever
    RESET_IN_EHLO = "reset_in_ehlo"  # first EHLO line, then TCP RST
    NO_READ = "no_read"  # greets, then never reads a byte
    PACED_GREETING = "paced_greeting"  # multi-line greeting, delay_s between lines; notes
    # whether the client sent anything before the final line (lab.early_talkers)


@dataclass(frozen=True)
class PeerSpec:
    """One scripted SMTP server on ``ip`` port 25."""

    ip: str
    host: str  # the lab name whose A record is ip
    greeting: bytes  # raw bytes, CRLFs included
    mode: Mode = Mode.NORMAL
    tls: TlsKind = TlsKind.LAB_CA
    extensions: tuple[str, ...] = ()  # extra EHLO keywords, e.g. "VRFY", "AUTH PLAIN LOGIN"
    readvertise_starttls: bool = False
    delay_s: float = 0.0  # NORMAL: before the greeting; TARPIT: between bytes


@dataclass(frozen=True)
class PostfixHost:
    ip: str
    host: str


@dataclass(frozen=True)
class LabDomain:
    """A lab domain: what it is for and what a checker should find (informative)."""

    name: str
    description: str
    expected: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    owner: str  # absolute, without the trailing dot
    rtype: str
    rdata: str  # zone-file syntax; names in it are absolute with a trailing dot


@dataclass(frozen=True)
class LabSpec:
    prefix: str  # "127.A.B"
    domains: dict[str, LabDomain]
    records: tuple[Record, ...]  # the ``test.`` zone (apex SOA/NS are added by knot.py)
    ptrs: dict[str, str]  # ip -> name
    peers: tuple[PeerSpec, ...]
    postfix: tuple[PostfixHost, ...]

    def ip(self, octet: int) -> str:
        return f"{self.prefix}.{octet}"

    @property
    def knot_ip(self) -> str:
        return self.ip(KNOT)

    @property
    def silent_dns_ip(self) -> str:
        return self.ip(SILENT_DNS)

    @property
    def refused_ip(self) -> str:
        return self.ip(REFUSED)

    def addresses(self, name: str) -> tuple[str, ...]:
        """A and AAAA data of ``name`` in the lab zone (no CNAME chasing)."""
        name = name.rstrip(".").lower()
        return tuple(r.rdata for r in self.records if r.owner == name and r.rtype in ("A", "AAAA"))


def _greeting(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


@dataclass
class _Builder:
    prefix: str
    domains: dict[str, LabDomain] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    ptrs: dict[str, str] = field(default_factory=dict)
    peers: list[PeerSpec] = field(default_factory=list)
    next_octet: int = _FIRST_PEER

    def allocate(self) -> str:
        while self.next_octet in _RESERVED:
            self.next_octet += 1
        if self.next_octet > 254:
            raise RuntimeError("the lab spec needs more than one /24")
        octet, self.next_octet = self.next_octet, self.next_octet + 1
        return f"{self.prefix}.{octet}"

    def domain(self, name: str, description: str, *expected: str) -> None:
        self.domains[name] = LabDomain(name, description, tuple(expected))

    def add(self, owner: str, rtype: str, rdata: str) -> None:
        self.records.append(Record(owner, rtype, rdata))

    def mx(self, domain: str, preference: int, target: str) -> None:
        self.add(domain, "MX", f"{preference} {target}.")

    def peer(
        self,
        host: str,
        *,
        greeting: bytes | None = None,
        ptr: str | None = "",  # "" = the host itself; None = no PTR
        **options: object,
    ) -> str:
        ip = self.allocate()
        self.add(host, "A", ip)
        if ptr is not None:
            self.ptrs[ip] = ptr or host
        banner = greeting if greeting is not None else _greeting(f"220 {host} ESMTP lab peer")
        self.peers.append(PeerSpec(ip=ip, host=host, greeting=banner, **options))  # type: ignore[arg-type]
        return ip

    def mx_peer(self, domain: str, **options: object) -> str:
        """``domain`` gets one MX, ``mx.<domain>``, served by a peer."""
        host = f"mx.{domain}"
        self.mx(domain, 10, host)
        return self.peer(host, **options)  # type: ignore[arg-type]


# Pause between the lines of paced.test's greeting: long enough that a client that
# does not wait for the final line would speak in it, short enough for every test run.
PACED_LINE_S = 0.25
# Domains whose MX hosts (different names) all have the one address of one peer.
SHARED_MX_DOMAINS = ("shared1.test", "shared2.test", "shared3.test")
# That peer greets after this pause, so overlapping sessions would overlap for real.
SHARED_GREETING_DELAY_S = 0.2


def build_spec(prefix: str, *, slow_greeting_s: float = 1.5, tarpit_byte_s: float = 1.0) -> LabSpec:
    """The lab for ``127.A.B`` (``prefix``)."""
    b = _Builder(prefix)
    p = prefix
    ok = ("BANNER_OK", "TLS_OK", "EHLO_EXTENSIONS")

    # --- DNS shapes ----------------------------------------------------------
    b.domain("good.test", "Two Postfix MX hosts, STARTTLS with a lab-CA cert, FCrDNS ok", *ok)
    b.mx("good.test", 10, "mx1.good.test")
    b.mx("good.test", 20, "mx2.good.test")
    postfix = (
        PostfixHost(f"{p}.{MX1_GOOD}", "mx1.good.test"),
        PostfixHost(f"{p}.{MX2_GOOD}", "mx2.good.test"),
    )
    for mta in postfix:
        b.add(mta.host, "A", mta.ip)
        b.ptrs[mta.ip] = mta.host
    b.add("good.test", "TXT", '"v=spf1 mx -all"')

    b.domain("nullmx.test", "Null MX (RFC 7505): accepts no mail; no connection", "DNS_NULL_MX")
    b.mx("nullmx.test", 0, "")  # "0 ." once the trailing dot is added

    b.domain("implicit.test", "No MX; the A record is the implicit MX", "DNS_IMPLICIT_MX", *ok)
    b.peer("implicit.test")

    b.domain("nomail.test", "Exists (TXT only): no MX, no A/AAAA", "DNS_NO_MAIL_HOST")
    b.add("nomail.test", "TXT", '"v=spf1 -all"')

    b.domain("nothing.test", "Does not exist (NXDOMAIN)", "DNS_NXDOMAIN")

    # The certificate names the CNAME's target (mx.cname.test); a sender checks it
    # against the MX name it connected for (alias.cname.test), so the names differ.
    b.domain(
        "cname.test",
        "MX target is a CNAME to a good host whose certificate names the CNAME target",
        "DNS_MX_CNAME",
        "BANNER_OK",
        "EHLO_EXTENSIONS",
        "TLS_CERT_NAME_MISMATCH",
    )
    b.mx("cname.test", 10, "alias.cname.test")
    b.add("alias.cname.test", "CNAME", "mx.cname.test.")
    b.peer("mx.cname.test")

    literal_ip = b.allocate()
    b.domain(
        "literal.test",
        f"MX target is the numeric name {literal_ip}. (a good peer listens there)",
        "DNS_MX_NOT_HOSTNAME",
    )
    b.mx("literal.test", 10, literal_ip)
    b.peers.append(
        PeerSpec(literal_ip, "mx.literal.test", _greeting("220 mx.literal.test ESMTP lab peer"))
    )
    b.add("mx.literal.test", "A", literal_ip)
    b.ptrs[literal_ip] = "mx.literal.test"

    b.domain("unresolvable.test", "MX target does not exist", "DNS_MX_UNRESOLVABLE")
    b.mx("unresolvable.test", 10, "ghost.unresolvable.test")

    b.domain("noptr.test", "The MX address has no PTR", "PTR_MISSING", *ok)
    b.mx_peer("noptr.test", ptr=None)

    b.domain("badptr.test", "PTR name does not resolve back", "PTR_NOT_FORWARD_CONFIRMED")
    b.mx_peer("badptr.test", ptr="ghost.badptr.test")

    generic_ip = b.allocate()
    generic_ptr = f"{generic_ip.replace('.', '-')}.dyn.pool.isp.test"
    b.domain("generic.test", f"PTR is generic ({generic_ptr}), forward-confirmed", "PTR_GENERIC")
    b.mx("generic.test", 10, "mx.generic.test")
    b.add("mx.generic.test", "A", generic_ip)
    b.add(generic_ptr, "A", generic_ip)
    b.ptrs[generic_ip] = generic_ptr
    b.peers.append(
        PeerSpec(generic_ip, "mx.generic.test", _greeting("220 mx.generic.test ESMTP lab peer"))
    )

    b.domain("single.test", "Exactly one MX host", "DNS_SINGLE_MX", *ok)
    b.mx_peer("single.test")

    b.domain("manymx.test", "12 MX hosts, all good peers", *ok)
    for i in range(1, 13):
        host = f"mx{i:02d}.manymx.test"
        b.mx("manymx.test", i * 10, host)
        b.peer(host)

    b.domain("hundredmx.test", "100 MX records over 10 good peers (mx-pool-N)", "DNS_TOO_MANY_MX")
    pool = [b.peer(f"mx-pool-{i}.hundredmx.test") for i in range(10)]
    for i in range(100):
        host = f"mx{i:03d}.hundredmx.test"
        b.mx("hundredmx.test", 10 + i, host)
        b.add(host, "A", pool[i % 10])

    b.domain("selfmx.test", "The MX is the domain itself, which has an A record", *ok)
    b.mx("selfmx.test", 10, "selfmx.test")
    b.peer("selfmx.test")

    b.domain("loop.test", "MX target is a CNAME loop", "DNS_MX_UNRESOLVABLE")
    b.mx("loop.test", 10, "a.loop.test")
    b.add("a.loop.test", "CNAME", "b.loop.test.")
    b.add("b.loop.test", "CNAME", "a.loop.test.")

    b.domain(
        "servfail.test",
        "Its zone cannot load: Knot answers SERVFAIL (dnspython: NoNameservers)",
        "DNS_LOOKUP_FAILED",
    )
    b.domain(
        "timeout.test",
        "Knot forwards it to the silent server and waits 30 s: lookups time out",
        "DNS_LOOKUP_FAILED",
    )
    b.domain("v6.test", "MX host has only AAAA ::1 (private-address guard)", "ADDRESS_NOT_PUBLIC")
    b.mx("v6.test", 10, "v6.test")
    b.add("v6.test", "AAAA", "::1")

    mapped_ip = b.peer("mx.mapped.test")
    b.domain(
        "mapped.test",
        f"MX host has only AAAA ::ffff:{mapped_ip} (IPv4-mapped; private-address guard)",
        "ADDRESS_NOT_PUBLIC",
    )
    b.mx("mapped.test", 10, "mapped.test")
    b.add("mapped.test", "AAAA", f"::ffff:{mapped_ip}")

    # The usual spellings of loopback, whatever /24 the lab runs on: 127.0.0.1 and its
    # IPv4-mapped form (a test listens on 127.0.0.1:25 and must see no connection).
    b.domain(
        "loop4.test", "MX host has only A 127.0.0.1 (private-address guard)", "ADDRESS_NOT_PUBLIC"
    )
    b.mx("loop4.test", 10, "loop4.test")
    b.add("loop4.test", "A", "127.0.0.1")
    b.domain(
        "loopmapped.test",
        "MX host has only AAAA ::ffff:127.0.0.1 (IPv4-mapped loopback; private-address guard)",
        "ADDRESS_NOT_PUBLIC",
    )
    b.mx("loopmapped.test", 10, "loopmapped.test")
    b.add("loopmapped.test", "AAAA", "::ffff:127.0.0.1")

    b.domain("refused.test", "Nothing listens on port 25 of the MX", "SMTP_CONNECT_REFUSED")
    b.mx("refused.test", 10, "mx.refused.test")
    b.add("mx.refused.test", "A", f"{p}.{REFUSED}")
    b.ptrs[f"{p}.{REFUSED}"] = "mx.refused.test"

    # --- scripted peers --------------------------------------------------------
    def greeting_of(domain: str, text: str) -> bytes:
        return _greeting(text.format(host=f"mx.{domain}"))

    b.domain("reject554.test", "554 greeting, 503 to EHLO", "BANNER_REJECTED")
    b.mx_peer(
        "reject554.test",
        greeting=greeting_of("reject554.test", "554 5.3.2 {host} No SMTP service here"),
        mode=Mode.REJECTED,
    )
    b.domain("tempfail421.test", "421 greeting, then close", "BANNER_TEMPFAIL")
    b.mx_peer(
        "tempfail421.test",
        greeting=greeting_of("tempfail421.test", "421 4.3.2 {host} Service not available"),
        mode=Mode.GREET_AND_CLOSE,
    )
    b.domain("multiline.test", "Three-line 220- greeting", "BANNER_MULTILINE", *ok)
    b.mx_peer(
        "multiline.test",
        greeting=_greeting(
            "220-mx.multiline.test ESMTP lab peer",
            "220-This lab server greets in three lines",
            "220 Be nice",
        ),
    )
    b.domain(
        "paced.test",
        f"Three-line 220- greeting, {PACED_LINE_S} s between lines; notes early talkers",
        "BANNER_MULTILINE",
        *ok,
    )
    b.mx_peer(
        "paced.test",
        greeting=_greeting(
            "220-mx.paced.test ESMTP lab peer",
            "220-This greeting takes its time",
            "220 Now you may speak",
        ),
        mode=Mode.PACED_GREETING,
        delay_s=PACED_LINE_S,
    )
    b.domain("slow.test", f"Greets after {slow_greeting_s} s", "BANNER_SLOW")
    b.mx_peer("slow.test", delay_s=slow_greeting_s)
    b.domain("silent.test", "Accepts, never greets, keeps the socket open", "SMTP_NO_BANNER")
    b.mx_peer("silent.test", mode=Mode.SILENT)
    b.domain("tlsfail.test", "Advertises STARTTLS, answers 220, sends garbage", "STARTTLS_FAILED")
    b.mx_peer("tlsfail.test", mode=Mode.TLS_GARBAGE)
    b.domain("garbage.test", "Binary garbage without line ends, then close", "SMTP_PROTOCOL_ERROR")
    b.mx_peer("garbage.test", greeting=b"", mode=Mode.GARBAGE)
    b.domain("neverclose.test", "Ignores QUIT: no reply, never closes", *ok)
    b.mx_peer("neverclose.test", mode=Mode.NEVER_CLOSE)
    b.domain("heloonly.test", "EHLO -> 502, HELO -> 250", "EHLO_HELO_ONLY")
    b.mx_peer("heloonly.test", mode=Mode.HELO_ONLY, tls=TlsKind.NONE)
    b.domain(
        "nostarttls.test",
        "No STARTTLS, AUTH PLAIN LOGIN offered in clear",
        "STARTTLS_MISSING",
        "AUTH_BEFORE_TLS",
    )
    b.mx_peer("nostarttls.test", tls=TlsKind.NONE, extensions=("AUTH PLAIN LOGIN",))
    b.domain("vrfy.test", "Advertises VRFY", "VRFY_ADVERTISED", *ok)
    b.mx_peer("vrfy.test", extensions=("VRFY",))
    b.domain("readvertise.test", "Advertises STARTTLS again after TLS", "STARTTLS_READVERTISED")
    b.mx_peer("readvertise.test", readvertise_starttls=True)
    b.domain("selfsigned.test", "STARTTLS with a self-signed certificate", "TLS_CERT_UNTRUSTED")
    b.mx_peer("selfsigned.test", tls=TlsKind.SELF_SIGNED)
    b.domain("expired.test", "STARTTLS with an expired lab-CA certificate", "TLS_CERT_EXPIRED")
    b.mx_peer("expired.test", tls=TlsKind.EXPIRED)
    b.domain(
        "mismatch.test", "STARTTLS with a lab-CA cert for another name", "TLS_CERT_NAME_MISMATCH"
    )
    b.mx_peer("mismatch.test", tls=TlsKind.WRONG_NAME)
    b.domain(
        "version.test",
        "Banner discloses Exim 4.87",
        "BANNER_SOFTWARE_DISCLOSED",
        "BANNER_VERSION_DISCLOSED",
        "BANNER_VULNERABLE_VERSION",
    )
    b.mx_peer("version.test", greeting=greeting_of("version.test", "220 {host} ESMTP Exim 4.87 #1"))
    b.domain("nonfqdn.test", "Banner names 'mailhost' (not a FQDN)", "BANNER_HOSTNAME_NOT_FQDN")
    b.mx_peer("nonfqdn.test", greeting=_greeting("220 mailhost ESMTP ready"))
    b.domain(
        "othername.test",
        "Banner names smtp.elsewhere.example: neither the MX name nor the PTR",
        "BANNER_MX_MISMATCH",
        "BANNER_PTR_MISMATCH",
    )
    b.mx_peer("othername.test", greeting=_greeting("220 smtp.elsewhere.example ESMTP"))
    b.domain("nonascii.test", "Banner with UTF-8 non-ASCII text", "BANNER_NON_ASCII")
    b.mx_peer("nonascii.test", greeting="220 mx.nonascii.test ESMTP Grüße ☃\r\n".encode())
    b.domain(
        "inconsistent.test",
        "One MX host, two A records, two peers that greet differently",
        "BANNERS_INCONSISTENT",
    )
    b.mx("inconsistent.test", 10, "mx.inconsistent.test")
    b.peer(
        "mx.inconsistent.test",
        greeting=_greeting("220 mx.inconsistent.test ESMTP Postfix (Debian/GNU)"),
    )
    b.peer(
        "mx.inconsistent.test",
        greeting=_greeting("220 mx.inconsistent.test ESMTP Exim 4.96 #2"),
    )
    b.domain("tarpit.test", f"Greeting arrives one byte every {tarpit_byte_s} s", "SMTP_NO_BANNER")
    b.mx_peer("tarpit.test", mode=Mode.TARPIT, delay_s=tarpit_byte_s)
    b.domain("endless.test", "220- continuation lines forever", "SMTP_PROTOCOL_ERROR")
    b.mx_peer("endless.test", greeting=b"", mode=Mode.ENDLESS)
    b.domain("hugeline.test", "A 1 MB greeting line", "SMTP_PROTOCOL_ERROR")
    b.mx_peer("hugeline.test", greeting=b"220 mx.hugeline.test " + b"x" * (1 << 20) + b"\r\n")
    b.domain("nul.test", "Greeting with NUL bytes and invalid UTF-8", "BANNER_NON_ASCII")
    b.mx_peer("nul.test", greeting=b"220 mx.nul.test ESMTP \x00\xff\xfe\xc3\x28 lab\x00\r\n")
    b.domain("reset.test", "Sends the first EHLO line, then resets the connection")
    b.mx_peer("reset.test", mode=Mode.RESET_IN_EHLO)
    b.domain("noread.test", "Greets, then never reads (EHLO goes unanswered)")
    b.mx_peer("noread.test", mode=Mode.NO_READ)
    b.domain("halfsilent.test", "4 MX hosts: mx1, mx2 good; mx3, mx4 never greet", "SMTP_NO_BANNER")
    for i in range(1, 5):
        host = f"mx{i}.halfsilent.test"
        b.mx("halfsilent.test", i * 10, host)
        b.peer(host, mode=Mode.NORMAL if i <= 2 else Mode.SILENT)

    shared_ip = b.peer(
        "mx.shared.test",
        delay_s=SHARED_GREETING_DELAY_S,
        greeting=_greeting("220 mx.shared.test ESMTP"),
    )
    for domain in SHARED_MX_DOMAINS:
        b.domain(domain, f"MX mx.{domain} has the address of mx.shared.test (one peer)")
        b.mx(domain, 10, f"mx.{domain}")
        b.add(f"mx.{domain}", "A", shared_ip)

    # --- addresses the deployed guard must never contact (compliance) ----------
    b.domain(
        "nonpublic.test",
        "The MX host resolves to metadata, RFC 1918, CGNAT, ULA, link-local and other "
        "non-public addresses only",
        "ADDRESS_NOT_PUBLIC",
    )
    b.mx("nonpublic.test", 10, "mx.nonpublic.test")
    for ip in NON_PUBLIC_TARGETS:
        b.add("mx.nonpublic.test", "AAAA" if ":" in ip else "A", ip)
    # single.test is verified (policy "verified") for the local stack's API key and the
    # mock Slack workspace, with the lab's verification secret.
    for scope in LAB_VERIFIED_SCOPES:
        b.add("_bannercheck.single.test", "TXT", f'"{to_token(LAB_VERIFY_SECRET, scope)}"')

    return LabSpec(
        prefix=prefix,
        domains=dict(sorted(b.domains.items())),
        records=tuple(b.records),
        ptrs=b.ptrs,
        peers=tuple(b.peers),
        postfix=postfix,
    )
