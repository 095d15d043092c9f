"""The lab itself: Knot answers as specified, Postfix speaks STARTTLS with the lab CA,
and each scripted peer misbehaves exactly as documented in tests/lab/README.md.

Plain sockets, ssl and dnspython only: bannercheck's own code is what the lab tests.
"""

from __future__ import annotations

import os
import random
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.resolver
import dns.reversename
import pytest
from cryptography import x509

from tests.lab import Lab, LabError, leftovers
from tests.lab.net import listening, pick_prefix, sockets
from tests.lab.pki import WRONG_NAME

pytestmark = pytest.mark.integration

QUIET_S = 0.3  # "says nothing": no byte within this long


# --- a minimal SMTP client -----------------------------------------------------------
class Client:
    def __init__(self, ip: str, timeout_s: float = 3.0) -> None:
        self.sock: socket.socket = socket.create_connection((ip, 25), timeout=timeout_s)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            if not self._fill():
                raise EOFError(self.buffer)
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def reply(self) -> list[str]:
        lines = []
        while True:
            line = self.line().decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if line[3:4] != "-":
                return lines

    def send(self, command: str) -> None:
        self.sock.sendall(command.encode() + b"\r\n")

    def command(self, command: str) -> list[str]:
        self.send(command)
        return self.reply()

    def says_nothing(self) -> bool:
        """No byte and no close within QUIET_S."""
        self.sock.settimeout(QUIET_S)
        try:
            self.sock.recv(1)
        except TimeoutError:
            return True
        return False

    def starttls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        assert self.command("STARTTLS")[0].startswith("220")
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)


def keywords(ehlo: list[str]) -> set[str]:
    return {line[4:].split(" ", 1)[0].upper() for line in ehlo[1:]}


Connect = Callable[[str], Client]


@pytest.fixture
def connect(lab: Lab) -> Iterator[Connect]:
    clients: list[Client] = []

    def open_client(name: str) -> Client:
        client = Client(lab.ip(name))
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def lab_ca(lab: Lab) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=lab.ca_file)


def no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# --- DNS -----------------------------------------------------------------------------
@pytest.fixture
def resolver(lab: Lab) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [lab.resolver]
    # Generous: a busy 2-core CI machine can answer late; timeouts are tested apart.
    res.timeout = 1.0
    res.lifetime = 4.0
    return res


def test_good_test_has_two_mx_with_forward_confirmed_ptrs(
    lab: Lab, resolver: dns.resolver.Resolver
) -> None:
    mx = sorted((r.preference, r.exchange.to_text()) for r in resolver.resolve("good.test", "MX"))
    assert mx == [(10, "mx1.good.test."), (20, "mx2.good.test.")]
    for host in ("mx1.good.test", "mx2.good.test"):
        (a,) = resolver.resolve(host, "A")
        (ptr,) = resolver.resolve(dns.reversename.from_address(a.to_text()), "PTR")
        assert ptr.to_text() == f"{host}."


def test_every_server_address_has_the_ptr_the_spec_says(
    lab: Lab, resolver: dns.resolver.Resolver
) -> None:
    for ip in lab.peer_ips():
        name = dns.reversename.from_address(ip)
        expected = lab.spec.ptrs.get(ip)
        if expected is None:
            with pytest.raises(dns.resolver.NXDOMAIN):
                resolver.resolve(name, "PTR")
        else:
            assert [r.to_text() for r in resolver.resolve(name, "PTR")] == [f"{expected}."]


@pytest.mark.parametrize(
    ("name", "rtype", "outcome"),
    [
        ("nullmx.test", "MX", ["0 ."]),
        ("nothing.test", "MX", dns.resolver.NXDOMAIN),
        ("nomail.test", "MX", dns.resolver.NoAnswer),
        ("nomail.test", "A", dns.resolver.NoAnswer),
        ("servfail.test", "MX", dns.resolver.NoNameservers),
        ("a.loop.test", "A", dns.resolver.NoNameservers),  # dnspython: CNAME chain too long
        ("ghost.unresolvable.test", "A", dns.resolver.NXDOMAIN),
        ("ghost.badptr.test", "A", dns.resolver.NXDOMAIN),
        ("v6.test", "AAAA", ["::1"]),
        ("alias.cname.test", "CNAME", ["mx.cname.test."]),
        ("selfmx.test", "MX", ["10 selfmx.test."]),
        ("example.com", "A", dns.resolver.NoNameservers),  # not a lab zone: REFUSED
    ],
)
def test_dns_outcomes(
    resolver: dns.resolver.Resolver, name: str, rtype: str, outcome: object
) -> None:
    if isinstance(outcome, list):
        assert sorted(r.to_text() for r in resolver.resolve(name, rtype)) == outcome
    else:
        with pytest.raises(outcome):  # type: ignore[call-overload]
            resolver.resolve(name, rtype)


def test_mx_counts_and_special_targets(lab: Lab, resolver: dns.resolver.Resolver) -> None:
    assert len(resolver.resolve("manymx.test", "MX")) == 12
    hundred = resolver.resolve("hundredmx.test", "MX")
    assert len(hundred) == 100
    assert all(resolver.resolve(r.exchange, "A") for r in list(hundred)[:3])
    (literal,) = resolver.resolve("literal.test", "MX")
    assert literal.exchange.to_text() == f"{lab.ip('mx.literal.test')}."
    (mapped,) = resolver.resolve("mapped.test", "AAAA")
    assert mapped.to_text() == f"::ffff:{lab.ip('mx.mapped.test')}"
    assert len(resolver.resolve("mx.inconsistent.test", "A")) == 2
    (generic,) = resolver.resolve(dns.reversename.from_address(lab.ip("mx.generic.test")), "PTR")
    assert ".dyn.pool.isp.test." in generic.to_text()
    assert resolver.resolve(generic.target, "A")[0].to_text() == lab.ip("mx.generic.test")


def test_timeout_zone_and_silent_resolver_time_out(
    lab: Lab, resolver: dns.resolver.Resolver
) -> None:
    resolver.timeout, resolver.lifetime = 0.5, 1.0
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("timeout.test", "MX")
    resolver.nameservers = [lab.silent_resolver]
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("good.test", "MX")


# --- Postfix ---------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["mx1.good.test", "mx2.good.test"])
def test_postfix_greets_and_starttls_verifies_against_the_lab_ca(
    lab: Lab, connect: Connect, host: str
) -> None:
    before = lab.connections(lab.ip(host))
    client = connect(host)
    assert client.reply() == [f"220 {host} ESMTP Postfix"]
    ehlo = client.command("EHLO probe.test")
    assert ehlo[0] == f"250-{host}"
    assert "STARTTLS" in keywords(ehlo)
    client.starttls(lab_ca(lab), host)
    assert isinstance(client.sock, ssl.SSLSocket)
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    after_tls = client.command("EHLO probe.test")
    assert "STARTTLS" not in keywords(after_tls)
    # No relaying, and nothing is delivered anywhere.
    assert client.command("MAIL FROM:<a@probe.test>")[0].startswith("250")
    assert client.command("RCPT TO:<b@example.com>")[0][:1] in ("4", "5")
    assert client.command("QUIT")[0].startswith("221")
    deadline = time.monotonic() + 3
    while lab.connections(lab.ip(host)) == before and time.monotonic() < deadline:
        time.sleep(0.02)  # smtpd's log line lands a moment after the connection
    assert lab.connections(lab.ip(host)) == before + 1


# --- scripted peers --------------------------------------------------------------------
GREETINGS = {
    "mx.version.test": ["220 mx.version.test ESMTP Exim 4.87 #1"],
    "mx.nonfqdn.test": ["220 mailhost ESMTP ready"],
    "mx.othername.test": ["220 smtp.elsewhere.example ESMTP"],
    "mx.nonascii.test": ["220 mx.nonascii.test ESMTP Grüße ☃"],
    "mx.multiline.test": [
        "220-mx.multiline.test ESMTP lab peer",
        "220-This lab server greets in three lines",
        "220 Be nice",
    ],
    "mx.reject554.test": ["554 5.3.2 mx.reject554.test No SMTP service here"],
    "mx1.halfsilent.test": ["220 mx1.halfsilent.test ESMTP lab peer"],
}


@pytest.mark.parametrize("host", sorted(GREETINGS))
def test_greetings(connect: Connect, host: str) -> None:
    client = connect(host)
    assert client.reply() == GREETINGS[host]


def test_good_peer_starttls_with_the_lab_ca_and_no_readvertising(
    lab: Lab, connect: Connect
) -> None:
    client = connect("mx.single.test")
    client.reply()
    assert {"STARTTLS", "PIPELINING", "SIZE"} <= keywords(client.command("EHLO probe.test"))
    client.starttls(lab_ca(lab), "mx.single.test")
    assert "STARTTLS" not in keywords(client.command("EHLO probe.test"))
    assert client.command("QUIT") == ["221 2.0.0 Bye"]
    with pytest.raises(EOFError):
        client.line()


def test_readvertise_offers_starttls_again_after_tls(lab: Lab, connect: Connect) -> None:
    client = connect("mx.readvertise.test")
    client.reply()
    client.command("EHLO probe.test")
    client.starttls(lab_ca(lab), "mx.readvertise.test")
    assert "STARTTLS" in keywords(client.command("EHLO probe.test"))


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("mx.selfsigned.test", "self-signed certificate"),
        ("mx.expired.test", "certificate has expired"),
        ("mx.mismatch.test", "Hostname mismatch"),
    ],
)
def test_bad_certificates_fail_verification_for_the_stated_reason(
    lab: Lab, connect: Connect, host: str, error: str
) -> None:
    client = connect(host)
    client.reply()
    client.command("EHLO probe.test")
    with pytest.raises(ssl.SSLCertVerificationError, match=error):
        client.starttls(lab_ca(lab), host)


def test_bad_certificates_are_what_they_claim(lab: Lab, connect: Connect) -> None:
    names = {}
    for host in ("mx.selfsigned.test", "mx.expired.test", "mx.mismatch.test"):
        client = connect(host)
        client.reply()
        client.command("EHLO probe.test")
        client.starttls(no_verify(), host)
        assert isinstance(client.sock, ssl.SSLSocket)
        der = client.sock.getpeercert(binary_form=True)
        assert der is not None
        names[host] = ssl.DER_cert_to_PEM_cert(der)
    certs = {host: x509.load_pem_x509_certificate(pem.encode()) for host, pem in names.items()}
    selfsigned = certs["mx.selfsigned.test"]
    assert selfsigned.issuer == selfsigned.subject
    assert certs["mx.expired.test"].not_valid_after_utc.timestamp() < time.time()
    san = certs["mx.mismatch.test"].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == [WRONG_NAME]


def test_tlsfail_answers_220_then_breaks_the_handshake(lab: Lab, connect: Connect) -> None:
    client = connect("mx.tlsfail.test")
    client.reply()
    assert "STARTTLS" in keywords(client.command("EHLO probe.test"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.starttls(lab_ca(lab), "mx.tlsfail.test")


def test_421_greeting_then_close(connect: Connect) -> None:
    client = connect("mx.tempfail421.test")
    assert client.reply()[0].startswith("421 ")
    with pytest.raises(EOFError):
        client.line()


def test_554_greeting_then_503_until_quit(connect: Connect) -> None:
    client = connect("mx.reject554.test")
    assert client.reply()[0].startswith("554 ")
    assert client.command("EHLO probe.test")[0].startswith("503 ")
    assert client.command("HELO probe.test")[0].startswith("503 ")
    assert client.command("QUIT")[0].startswith("221 ")


def test_slow_greeting_arrives_after_the_configured_delay(lab: Lab, connect: Connect) -> None:
    (peer,) = [p for p in lab.spec.peers if p.host == "mx.slow.test"]
    started = time.monotonic()
    client = connect("mx.slow.test")
    assert client.reply() == ["220 mx.slow.test ESMTP lab peer"]
    assert time.monotonic() - started >= peer.delay_s * 0.9


@pytest.mark.parametrize("host", ["mx.silent.test", "mx3.halfsilent.test", "mx4.halfsilent.test"])
def test_silent_peers_accept_and_say_nothing(connect: Connect, host: str) -> None:
    client = connect(host)
    assert client.says_nothing()


def test_garbage_has_no_line_end_and_closes(connect: Connect) -> None:
    client = connect("mx.garbage.test")
    while client._fill():
        pass
    assert client.buffer and b"\n" not in client.buffer and b"\r" not in client.buffer


def test_neverclose_ignores_quit(connect: Connect) -> None:
    client = connect("mx.neverclose.test")
    client.reply()
    client.command("EHLO probe.test")
    client.send("QUIT")
    assert client.says_nothing()


def test_heloonly_rejects_ehlo_and_accepts_helo(connect: Connect) -> None:
    client = connect("mx.heloonly.test")
    client.reply()
    assert client.command("EHLO probe.test")[0].startswith("502 ")
    assert client.command("HELO probe.test") == ["250 mx.heloonly.test"]


def test_nostarttls_offers_auth_in_clear(connect: Connect) -> None:
    client = connect("mx.nostarttls.test")
    client.reply()
    ehlo = client.command("EHLO probe.test")
    assert "STARTTLS" not in keywords(ehlo)
    assert "250-AUTH PLAIN LOGIN" in ehlo
    assert client.command("STARTTLS")[0].startswith("502 ")


def test_vrfy_is_advertised(connect: Connect) -> None:
    client = connect("mx.vrfy.test")
    client.reply()
    assert "VRFY" in keywords(client.command("EHLO probe.test"))


def test_nul_greeting_has_nul_and_invalid_utf8(connect: Connect) -> None:
    client = connect("mx.nul.test")
    raw = client.line()
    assert raw.startswith(b"220 mx.nul.test ") and b"\x00" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_inconsistent_addresses_greet_differently(lab: Lab) -> None:
    greetings = set()
    for ip in lab.addresses("mx.inconsistent.test"):
        client = Client(ip)
        try:
            greetings.add(tuple(client.reply()))
        finally:
            client.close()
    assert len(greetings) == 2


def test_tarpit_sends_one_byte_per_interval(lab: Lab, connect: Connect) -> None:
    (peer,) = [p for p in lab.spec.peers if p.host == "mx.tarpit.test"]
    client = connect("mx.tarpit.test")
    first = client.sock.recv(100)
    started = time.monotonic()
    second = client.sock.recv(100)
    assert (first, second) == (b"2", b"2")
    assert time.monotonic() - started >= peer.delay_s * 0.8


def test_endless_never_ends_its_greeting(connect: Connect) -> None:
    client = connect("mx.endless.test")
    lines = [client.line() for _ in range(500)]
    assert all(line.startswith(b"220-") for line in lines)


def test_hugeline_is_one_megabyte_line(connect: Connect) -> None:
    client = connect("mx.hugeline.test")
    line = client.line()
    assert line.startswith(b"220 ") and len(line) > 1 << 20


def test_reset_in_the_middle_of_ehlo(connect: Connect) -> None:
    client = connect("mx.reset.test")
    client.reply()
    client.send("EHLO probe.test")
    assert client.line() == b"250-mx.reset.test\r\n"
    with pytest.raises(ConnectionResetError):
        client.line()


def test_noread_greets_then_never_answers(connect: Connect) -> None:
    client = connect("mx.noread.test")
    assert client.reply()[0].startswith("220 ")
    client.send("EHLO probe.test")
    assert client.says_nothing()


def test_refused_address_refuses(lab: Lab) -> None:
    assert lab.ip("mx.refused.test") == lab.refused_ip
    with pytest.raises(ConnectionRefusedError):
        Client(lab.refused_ip)


def test_connections_counts_each_accepted_connection(lab: Lab) -> None:
    ip = lab.ip("mx.vrfy.test")
    before = lab.connections(ip)
    for _ in range(3):
        client = Client(ip)
        client.reply()
        client.close()
    assert lab.connections(ip) == before + 3
    with pytest.raises(KeyError):
        lab.connections(lab.refused_ip)


# --- life cycle ------------------------------------------------------------------------
def test_a_second_lab_starts_elsewhere_and_stops_without_leftovers(lab: Lab) -> None:
    other = Lab.start()
    try:
        assert other.prefix != lab.prefix
        assert listening(other.resolver, 53, "udp")
        assert listening(other.ip("mx1.good.test"), 25)
        pids = [other.knot.pid] if other.knot else []
        directory = other.directory
    finally:
        other.stop()
    assert not any(s.ip.startswith(other.prefix + ".") for s in sockets())
    assert not directory.exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    other.stop()  # twice is harmless


def test_a_lab_whose_owner_was_killed_is_swept_by_the_next_start() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_MAKER],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        directory_text, *pid_texts = owner.stdout.readline().split()
    finally:
        owner.kill()  # SIGKILL: no atexit, no stop()
        owner.wait()
    directory, pids = Path(directory_text), [int(p) for p in pid_texts]
    assert directory.exists()
    for pid in pids:
        os.kill(pid, 0)  # orphaned, still running
    assert directory in leftovers.sweep()
    assert not directory.exists()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)  # SIGKILLed orphans are reaped by init, a moment later
    assert not any(_alive(pid) for pid in pids)


_ORPHAN_MAKER = """
import sys
from tests.lab import Lab
lab = Lab.start()
print(lab.directory, lab.knot.pid, lab.postfix.process.pid, flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_settings_point_at_the_lab(lab: Lab) -> None:
    settings = lab.settings(timeout_s=3.0)
    assert (settings.resolver, settings.ca_file) == (lab.resolver, lab.ca_file)
    assert settings.allow_private and settings.timeout_s == 3.0


class _Fixed(random.Random):
    """Proposes the given /24s in turn."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.values = [int(x) for p in prefixes for x in p.split(".")[1:]]

    def randint(self, a: int, b: int) -> int:
        return self.values.pop(0)


def test_pick_prefix_skips_a_busy_24(lab: Lab) -> None:
    free = next(
        f"127.250.{b}"
        for b in range(256)
        if not any(s.ip.startswith(f"127.250.{b}.") for s in sockets())
    )
    assert pick_prefix(_Fixed(lab.prefix, free)) == free
    with pytest.raises(LabError):
        pick_prefix(_Fixed(*[lab.prefix] * 3), attempts=3)
