"""The physical limits bannercheck is measured against: sessions with no analysis.

    python -m bench.baseline bulk --ca-file CA --concurrency 64 ADDRESS_FILE
        the bare asyncio client: one session per line of ADDRESS_FILE (no DNS),
        ``concurrency`` in flight; prints how many sessions completed TLS.
    python -m bench.baseline bulk-dns --resolver IP --ca-file CA DOMAIN_FILE [--no-sessions]
        the same with the DNS bannercheck asks of a one-MX domain first (MX, then
        A and AAAA of the exchange, dnspython's async resolver, no cache); with
        ``--no-sessions`` only the DNS. Prints how many domains completed.

The bare-socket single-domain baseline is ``bench.bare_socket``: it imports
none of this module's asyncio machinery.

A session is what bannercheck's probe does with a healthy server: greeting,
EHLO, STARTTLS, TLS handshake (chain verified against CA), EHLO, QUIT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.resolver

# The light module holds what both share: importing it costs this one nothing.
from bench.bare_socket import EHLO, TIMEOUT_S, tls_context


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
    args = parser.parse_args(argv)
    if args.mode == "bulk":
        ips = args.addresses.read_text().split()
        ok = asyncio.run(run_bulk(ips, args.ca_file, args.concurrency))
        print(ok)
        return 0 if ok == len(ips) else 1
    domains = args.domains.read_text().split()  # bulk-dns
    ok = asyncio.run(
        run_bulk_dns(domains, args.resolver, args.ca_file, args.concurrency, not args.no_sessions)
    )
    print(ok)
    return 0 if ok == len(domains) else 1


if __name__ == "__main__":
    sys.exit(main())
