"""resolve_* — the only module that queries DNS (dnspython's async resolver).

Each question's outcome becomes a :class:`~bannercheck.model.DnsStatus`; a
timeout or SERVFAIL is recorded as such (inconclusive), never as "no MX".
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from bannercheck.model import Address, DnsResult, DnsStatus, MxHost
from bannercheck.netpolicy import is_public
from bannercheck.settings import Settings

MAX_PTR_NAMES = 5  # forward-confirm at most this many PTR names per address


@dataclass(frozen=True)
class Lookup:
    status: DnsStatus
    records: tuple[str, ...] = ()
    canonical: str | None = None  # set when the answer followed a CNAME
    error: str | None = None


def parse_resolver(spec: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]:PORT`` or a bare IPv6 -> (address, port).

    >>> parse_resolver("127.0.0.53:5353")
    ('127.0.0.53', 5353)
    """
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
        port = int(port_text)
    else:
        host, port = spec, 53
    ipaddress.ip_address(host)  # raises ValueError for a name
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


CACHE_ENTRIES = 2048


def new_cache() -> dns.resolver.LRUCache:
    """A TTL-honouring answer cache, shared by the checks of one run.

    Domain lists share MX providers, and many MX hosts share addresses: their
    A, AAAA and PTR answers are asked once per run instead of once per domain.
    Bounded (least recently used out), so memory stays flat on long lists.
    """
    return dns.resolver.LRUCache(max_size=CACHE_ENTRIES)


ResolverT = TypeVar("ResolverT", dns.resolver.Resolver, dns.asyncresolver.Resolver)


def configure_resolver(resolver_class: type[ResolverT], settings: Settings) -> ResolverT:
    """A resolver (sync or async) asking ``settings.resolver`` or the system's."""
    if settings.resolver:
        host, port = parse_resolver(settings.resolver)
        resolver = resolver_class(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        try:
            resolver = resolver_class()
        except dns.resolver.NoResolverConfiguration:
            resolver = resolver_class(configure=False)
            resolver.nameservers = ["127.0.0.53"]
    resolver.timeout = settings.dns_try_timeout_s
    resolver.lifetime = settings.dns_lifetime_s
    resolver.cache = None
    return resolver


def make_resolver(
    settings: Settings, cache: dns.resolver.LRUCache | None = None
) -> dns.asyncresolver.Resolver:
    resolver = configure_resolver(dns.asyncresolver.Resolver, settings)
    resolver.cache = cache
    return resolver


class Resolver:
    """Asks questions within one check's deadline and records the outcome."""

    def __init__(
        self, settings: Settings, deadline: float, cache: dns.resolver.LRUCache | None = None
    ) -> None:
        self._settings = settings
        self._deadline = deadline
        self._resolver = make_resolver(settings, cache)

    def _lifetime(self) -> float:
        remaining = self._deadline - asyncio.get_running_loop().time()
        return max(0.05, min(self._settings.dns_lifetime_s, remaining))

    async def lookup(self, name: str | dns.name.Name, rdtype: str) -> Lookup:
        qname = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
        try:
            answer = await self._resolver.resolve(
                qname, rdtype, lifetime=self._lifetime(), search=False
            )
        except dns.resolver.NXDOMAIN:
            return Lookup(DnsStatus.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return Lookup(DnsStatus.NODATA)
        except dns.resolver.NoNameservers as exc:
            if _is_chain_too_long(exc):
                return Lookup(DnsStatus.CNAME_LOOP, error=f"CNAME chain of {qname} never ends")
            return Lookup(DnsStatus.SERVFAIL, error=_short(exc))
        except dns.resolver.LifetimeTimeout:
            return Lookup(DnsStatus.TIMEOUT, error=f"no answer to {rdtype} {qname}")
        except dns.exception.DNSException as exc:
            return Lookup(DnsStatus.ERROR, error=_short(exc))
        canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
        asked = qname.to_text(omit_final_dot=True).lower()
        return Lookup(
            DnsStatus.OK,
            records=tuple(r.to_text() for r in answer),
            canonical=canonical if canonical != asked else None,
        )


def _is_chain_too_long(exc: dns.resolver.NoNameservers) -> bool:
    # dnspython reports a CNAME loop as every server "failing" with ChainTooLong.
    errors = exc.kwargs.get("errors") or []
    return bool(errors) and all(isinstance(e[3], dns.message.ChainTooLong) for e in errors)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


async def resolve_address(resolver: Resolver, ip: str, settings: Settings) -> Address:
    """PTR of one address and which PTR names resolve back to it (FCrDNS)."""
    family = ipaddress.ip_address(ip).version
    public = is_public(ip)
    ptr = await resolver.lookup(dns.reversename.from_address(ip), "PTR")
    names = tuple(r.rstrip(".").lower() for r in ptr.records)
    confirmed: list[str] = []
    parsed = ipaddress.ip_address(ip)
    # An IPv4-mapped address (::ffff:a.b.c.d) is confirmed by the A record.
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    target = mapped or parsed
    rdtype = "A" if target.version == 4 else "AAAA"
    forward = await asyncio.gather(*(resolver.lookup(n, rdtype) for n in names[:MAX_PTR_NAMES]))
    for name, answer in zip(names, forward, strict=False):
        if any(ipaddress.ip_address(r) == target for r in answer.records):
            confirmed.append(name)
    return Address(
        ip=ip,
        family=family,
        public=public,
        ptr_status=ptr.status,
        ptr_names=names,
        ptr_confirmed=tuple(confirmed),
    )


async def resolve_host(
    resolver: Resolver, name: str, preference: int, settings: Settings, *, implicit: bool = False
) -> MxHost:
    """A and AAAA of one MX host, then PTR/FCrDNS of each address."""
    host = MxHost(name=name, preference=preference, implicit=implicit)
    if _is_ip_literal(name):
        # Not a host name (RFC 5321 §5.1): a sender looks it up as a name,
        # it never connects to the literal.
        host = replace(host, ip_literal=True)
    a, aaaa = await asyncio.gather(resolver.lookup(name, "A"), resolver.lookup(name, "AAAA"))
    ips = list(dict.fromkeys([*a.records, *aaaa.records]))
    addresses = await asyncio.gather(*(resolve_address(resolver, ip, settings) for ip in ips))
    return replace(
        host,
        cname_target=a.canonical or aaaa.canonical,
        a_status=a.status,
        aaaa_status=aaaa.status,
        addresses=tuple(addresses),
    )


def _mx_records(records: Sequence[str]) -> list[tuple[int, str]]:
    parsed: list[tuple[int, str]] = []
    for text in records:
        pref, _, target = text.partition(" ")
        parsed.append((int(pref), target.strip()))
    return parsed


async def resolve_mail_hosts(
    domain: str,
    settings: Settings,
    deadline: float,
    cache: dns.resolver.LRUCache | None = None,
) -> DnsResult:
    """MX (or implicit MX) of ``domain`` with every host's addresses and PTRs."""
    resolver = Resolver(settings, deadline, cache or new_cache())
    mx = await resolver.lookup(domain, "MX")
    result = DnsResult(
        mx_status=mx.status, mx_error=mx.error, mx_records=mx.records, resolver=settings.resolver
    )
    if mx.status is DnsStatus.OK:
        records = _mx_records(mx.records)
        # RFC 7505: null MX is preference 0 and the root name as exchange.
        if any(target == "." for _pref, target in records):
            return replace(result, null_mx=True)
        best: dict[str, int] = {}
        for pref, target in records:
            name = target.rstrip(".").lower()
            best[name] = min(pref, best.get(name, pref))
        ordered = sorted(best.items(), key=lambda item: (item[1], item[0]))
        probed = ordered[: settings.max_mx_hosts]
        skipped = tuple(name for name, _pref in ordered[settings.max_mx_hosts :])
        hosts = await asyncio.gather(
            *(resolve_host(resolver, name, pref, settings) for name, pref in probed)
        )
        return replace(result, hosts=tuple(hosts), skipped_hosts=skipped)
    if mx.status is not DnsStatus.NODATA:
        return result
    # RFC 5321 §5.1: no MX, but an address record makes the domain its own MX.
    implicit = await resolve_host(resolver, domain, 0, settings, implicit=True)
    result = replace(result, a_status=implicit.a_status, aaaa_status=implicit.aaaa_status)
    if implicit.addresses:
        return replace(result, hosts=(implicit,))
    return result
