"""The physical limits bannercheck is measured against: sessions with no analysis.

    python -m bench.baseline bulk --ca-file CA --concurrency 64 ADDRESS_FILE
        the bare asyncio client: one session per line of ADDRESS_FILE (no DNS),
        ``concurrency`` in flight; prints how many sessions completed TLS.
    python -m bench.baseline bulk-dns --resolver IP --ca-file CA DOMAIN_FILE [--no-sessions]
        the same with the DNS bannercheck asks of a one-MX domain first (MX, then
        A and AAAA of the exchange, dnspython's async resolver, no cache); with
        ``--no-sessions`` only the DNS. Prints how many domains completed.
    python -m bench.baseline single --resolver IP --ca-file CA DOMAIN
        the bare-socket single-domain baseline: MX and A queries, then the session,
        with blocking sockets; prints the milliseconds the check took (imports
        excluded); exit 0 when TLS was established.

A session is what bannercheck's probe does with a healthy server: greeting,
EHLO, STARTTLS, TLS handshake (chain verified against CA), EHLO, QUIT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import sys
import time
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import dns.resolver

EHLO = b"EHLO probe.bannercheck.test\r\n"
TIMEOUT_S = 10.0


def tls_context(ca_file: str) -> ssl.SSLContext:
    # Same policy as the engine: chain verified, names left to the checks.
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    return context


# --- the bare asyncio client ----------------------------------------------------
async def _reply(reader: asyncio.StreamReader) -> bytes:
    """Read lines until the last line of a reply ("250 ..." rather than "250-...")."""
    while True:
        line = await reader.readline()
        if len(line) < 4 or line[3:4] != b"-":
            return line


async def session(ip: str, context: ssl.SSLContext, port: int = 25) -> bool:
    reader, writer = await asyncio.open_connection(ip, port)
    try:
        await _reply(reader)
        writer.write(EHLO)
        await _reply(reader)
        writer.write(b"STARTTLS\r\n")
        if not (await _reply(reader)).startswith(b"220"):
            return False
        await writer.start_tls(context, server_hostname=None)
        writer.write(EHLO)
        ok = (await _reply(reader)).startswith(b"250")
        writer.write(b"QUIT\r\n")
        await _reply(reader)
        return ok
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def run_bulk(ips: list[str], ca_file: str, concurrency: int) -> int:
    context = tls_context(ca_file)
    slots = asyncio.Semaphore(concurrency)

    async def one(ip: str) -> bool:
        async with slots:
            try:
                return await asyncio.wait_for(session(ip, context), TIMEOUT_S)
            except (OSError, ssl.SSLError, TimeoutError):
                return False

    results = await asyncio.gather(*(one(ip) for ip in ips))
    return sum(results)


async def _addresses(resolver: dns.asyncresolver.Resolver, domain: str) -> list[str]:
    mx = await resolver.resolve(domain, "MX", search=False)
    exchange = min(mx, key=lambda r: r.preference).exchange

    async def records(rdtype: str) -> list[str]:
        try:
            return [r.to_text() for r in await resolver.resolve(exchange, rdtype)]
        except dns.resolver.NoAnswer:
            return []

    a, aaaa = await asyncio.gather(records("A"), records("AAAA"))
    return a + aaaa


async def run_bulk_dns(
    domains: list[str], resolver_spec: str, ca_file: str, concurrency: int, sessions: bool
) -> int:
    host, _, port = resolver_spec.partition(":")
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [host], int(port or 53)
    resolver.cache = None  # one question per name, as bannercheck's own lists of unique names
    context = tls_context(ca_file)
    slots = asyncio.Semaphore(concurrency)

    async def one(domain: str) -> bool:
        async with slots:
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    ips = await _addresses(resolver, domain)
                    return bool(ips) and (not sessions or await session(ips[0], context))
            except (OSError, ssl.SSLError, TimeoutError, dns.exception.DNSException):
                return False

    return sum(await asyncio.gather(*(one(d) for d in domains)))


# --- the bare-socket single domain -------------------------------------------------
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
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    sub = parser.add_subparsers(dest="mode", required=True)
    bulk = sub.add_parser("bulk")
    bulk.add_argument("addresses", type=Path)
    bulk.add_argument("--ca-file", required=True)
    bulk.add_argument("--concurrency", type=int, default=64)
    with_dns = sub.add_parser("bulk-dns")
    with_dns.add_argument("domains", type=Path)
    with_dns.add_argument("--resolver", required=True)
    with_dns.add_argument("--ca-file", required=True)
    with_dns.add_argument("--concurrency", type=int, default=64)
    with_dns.add_argument("--no-sessions", action="store_true")
    one = sub.add_parser("single")
    one.add_argument("domain")
    one.add_argument("--resolver", required=True)
    one.add_argument("--ca-file", required=True)
    args = parser.parse_args(argv)
    if args.mode == "bulk":
        ips = args.addresses.read_text().split()
        ok = asyncio.run(run_bulk(ips, args.ca_file, args.concurrency))
        print(ok)
        return 0 if ok == len(ips) else 1
    if args.mode == "bulk-dns":
        domains = args.domains.read_text().split()
        ok = asyncio.run(
            run_bulk_dns(
                domains, args.resolver, args.ca_file, args.concurrency, not args.no_sessions
            )
        )
        print(ok)
        return 0 if ok == len(domains) else 1
    started = time.perf_counter()
    ok = single(args.domain, args.resolver, args.ca_file)
    # The check alone, after start-up and imports: bannercheck reports its duration_ms.
    print(f"{(time.perf_counter() - started) * 1000:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
