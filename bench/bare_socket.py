"""The bare-socket single-domain baseline: bannercheck's one-domain check minus the analysis.

    python -m bench.bare_socket --resolver IP --ca-file CA DOMAIN
        MX and A queries (dnspython, blocking), then one session with blocking
        ``socket``/``ssl``: greeting, EHLO, STARTTLS, TLS handshake (chain
        verified against CA), EHLO, QUIT. Prints the milliseconds the check took
        (interpreter start-up and imports excluded); exit 0 when TLS was established.

It is a module of its own so that its start-up imports only what it uses (no
asyncio, no async resolver): a fresh process of it is the floor that
bannercheck's fresh process is compared with.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
import time

import dns.message
import dns.query
import dns.rdatatype

EHLO = b"EHLO probe.bannercheck.test\r\n"
TIMEOUT_S = 10.0


def tls_context(ca_file: str) -> ssl.SSLContext:
    # Same policy as the engine: chain verified, names left to the checks.
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    return context


def _lines(sock: socket.socket | ssl.SSLSocket, buffer: bytearray) -> bytes:
    while True:
        end = buffer.find(b"\n")
        while end >= 0:
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            if len(line) < 4 or line[3:4] != b"-":
                return line
            end = buffer.find(b"\n")
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        buffer += chunk


def single(domain: str, resolver: str, ca_file: str, port: int = 25) -> bool:
    mx = dns.query.udp(dns.message.make_query(domain, dns.rdatatype.MX), resolver, TIMEOUT_S)
    exchange = min(mx.answer[0], key=lambda r: r.preference).exchange
    a = dns.query.udp(dns.message.make_query(exchange, dns.rdatatype.A), resolver, TIMEOUT_S)
    ip = a.answer[0][0].address
    buffer = bytearray()
    with socket.create_connection((ip, port), TIMEOUT_S) as raw:
        _lines(raw, buffer)
        raw.sendall(EHLO)
        _lines(raw, buffer)
        raw.sendall(b"STARTTLS\r\n")
        if not _lines(raw, buffer).startswith(b"220"):
            return False
        with tls_context(ca_file).wrap_socket(raw, server_hostname=None) as tls:
            buffer.clear()
            tls.sendall(EHLO)
            ok = _lines(tls, buffer).startswith(b"250")
            tls.sendall(b"QUIT\r\n")
            _lines(tls, buffer)
            return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_socket")
    parser.add_argument("domain")
    parser.add_argument("--resolver", required=True)
    parser.add_argument("--ca-file", required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ok = single(args.domain, args.resolver, args.ca_file)
    # The check alone, after start-up and imports: bannercheck reports its duration_ms.
    print(f"{(time.perf_counter() - started) * 1000:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
