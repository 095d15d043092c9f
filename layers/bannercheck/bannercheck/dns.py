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

import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.reversename

from bannercheck.aio import gather_all
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


class _Datagrams(asyncio.DatagramProtocol):
    """Hands each datagram to the question waiting for its message id."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, asyncio.Future[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        future = self.waiting.get(int.from_bytes(data[:2], "big")) if len(data) >= 2 else None
        if future is not None and not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error (port unreachable) answers no question in particular:
        # the waiting questions time out, and the resolver tries again.
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(dns.exception.Timeout())


class MultiplexedNameserver(dns.nameserver.Do53Nameserver):
    """A Do53 nameserver whose UDP questions share one socket.

    dnspython opens and tears down a socket (an asyncio transport) per
    question: a tenth of a bulk run's CPU. The questions of one check go out on
    one connected socket instead, matched to their answers by message id and
    question (``is_response``) as dnspython's own ``udp()`` matches them; the
    kernel drops datagrams from any other source. Retries, the fall-back to
    TCP on truncation, timeouts, CNAME chains and the cache stay dnspython's
    resolver. The socket lives for one check, so the source port changes from
    check to check — and after a question times out: a server that spreads its
    work by source address (SO_REUSEPORT workers) may have one stuck worker
    behind that port, and dnspython's retry must not be sent to it again, as
    with a socket per question it would not be.
    """

    def __init__(self, address: str, port: int = 53) -> None:
        super().__init__(address, port)
        self._endpoint: _Datagrams | None = None
        self._opening: asyncio.Lock | None = None
        self._retired: list[_Datagrams] = []  # still awaited by questions sent on them

    def _retire(self, endpoint: _Datagrams) -> None:
        """Send no new question on ``endpoint`` (it closes once nothing awaits it)."""
        if self._endpoint is endpoint:
            self._endpoint = None
            self._retired.append(endpoint)

    async def _datagrams(self) -> _Datagrams:
        if self._endpoint is not None and self._endpoint.transport is not None:
            return self._endpoint
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._endpoint is None or self._endpoint.transport is None:
                loop = asyncio.get_running_loop()
                _transport, self._endpoint = await loop.create_datagram_endpoint(
                    _Datagrams, remote_addr=(self.address, self.port)
                )
        return self._endpoint

    def close(self) -> None:
        for endpoint in [*self._retired, self._endpoint]:
            if endpoint is not None and endpoint.transport is not None:
                endpoint.transport.close()
        self._endpoint = None
        self._retired.clear()

    async def async_query(
        self,
        request: dns.message.QueryMessage,
        timeout: float,
        source: str | None,
        source_port: int,
        max_size: bool,
        backend: dns.asyncbackend.Backend,
        one_rr_per_rrset: bool = False,
        ignore_trailing: bool = False,
    ) -> dns.message.Message:
        if max_size or source or source_port:
            # TCP (after a truncated answer), or a source the caller chose.
            return await super().async_query(
                request, timeout, source, source_port, max_size, backend,
                one_rr_per_rrset, ignore_trailing,
            )  # fmt: skip
        endpoint = await self._datagrams()
        assert endpoint.transport is not None
        while request.id in endpoint.waiting:
            request.set_random_id()
        qid = request.id
        loop = asyncio.get_running_loop()
        expiration = loop.time() + timeout
        endpoint.transport.sendto(request.to_wire())
        try:
            while True:
                future: asyncio.Future[bytes] = loop.create_future()
                endpoint.waiting[qid] = future
                try:
                    async with asyncio.timeout_at(expiration):
                        wire = await future
                except TimeoutError:
                    self._retire(endpoint)  # the retry leaves from a new port
                    raise dns.exception.Timeout(timeout=timeout) from None
                try:
                    response = dns.message.from_wire(
                        wire,
                        one_rr_per_rrset=one_rr_per_rrset,
                        ignore_trailing=ignore_trailing,
                        raise_on_truncation=True,
                    )
                except dns.message.Truncated as exc:
                    if request.is_response(exc.message()):
                        raise  # the resolver asks again over TCP
                    continue
                except dns.exception.DNSException:
                    continue  # not DNS, though it carries our id: wait on, as udp() does
                if request.is_response(response):
                    return response
        finally:
            endpoint.waiting.pop(qid, None)
            if endpoint in self._retired and not endpoint.waiting and endpoint.transport:
                endpoint.transport.close()


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
    # Each address becomes one shared-socket nameserver (dnspython would make
    # a Do53Nameserver, and a socket, per question).
    resolver.nameservers = [
        MultiplexedNameserver(ns, resolver.nameserver_ports.get(ns, resolver.port))
        if isinstance(ns, str) and dns.inet.is_address(ns)
        else ns
        for ns in resolver.nameservers
    ]
    return resolver


class Resolver:
    """Asks questions within one check's deadline and records the outcome."""

    def __init__(
        self, settings: Settings, deadline: float, cache: dns.resolver.LRUCache | None = None
    ) -> None:
        self._settings = settings
        self._deadline = deadline
        self._resolver = make_resolver(settings, cache)

    def close(self) -> None:
        """Close the socket this check's questions shared."""
        for nameserver in self._resolver.nameservers:
            if isinstance(nameserver, MultiplexedNameserver):
                nameserver.close()

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
        # Name equality ignores case; the text is needed only after a CNAME.
        followed = answer.canonical_name != qname
        return Lookup(
            DnsStatus.OK,
            records=tuple(r.to_text() for r in answer),
            canonical=answer.canonical_name.to_text(omit_final_dot=True).lower()
            if followed
            else None,
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
    forward = await gather_all([resolver.lookup(n, rdtype) for n in names[:MAX_PTR_NAMES]])
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
    addresses = await gather_all([resolve_address(resolver, ip, settings) for ip in ips])
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
    try:
        return await _resolve_mail_hosts(resolver, domain, settings)
    finally:
        resolver.close()


async def _resolve_mail_hosts(resolver: Resolver, domain: str, settings: Settings) -> DnsResult:
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
        hosts = await gather_all(
            [resolve_host(resolver, name, pref, settings) for name, pref in probed]
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
