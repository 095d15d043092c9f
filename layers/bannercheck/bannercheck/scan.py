"""One check of a domain, start to finish: DNS, sessions, findings, report.

Never raises for anything a server or DNS does. One overall deadline per
domain; every address of every MX host is probed in parallel, with a
process-wide bound on sessions in flight and at most one session per address
at a time, so a hung host costs one timeout, not one per host.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

import dns.resolver

from bannercheck import dns as dnsmod
from bannercheck import transport
from bannercheck.aio import gather_all
from bannercheck.checks import Context, run_checks
from bannercheck.domain import Domain, to_domain
from bannercheck.ids import new_check_id
from bannercheck.model import Address, DnsResult, DnsStatus, MxHost, Report, Session
from bannercheck.netpolicy import may_connect
from bannercheck.report import to_grade, to_verdict
from bannercheck.settings import Settings, to_announced_ehlo_name

# Time kept back from the deadline to judge and build the report.
REPORT_MARGIN_S = 0.25
# Waiting for an address another process holds: backoff bounds, and how long a
# lease outlives the deadline (a crashed holder's lease lapses by itself).
LEASE_FIRST_WAIT_S = 0.1
LEASE_MAX_WAIT_S = 1.0
LEASE_SLACK_S = 5

ProbeFn = Callable[[str, str, Settings, float], Awaitable[Session]]


class AddressLease(Protocol):
    """Holds one target address across processes (the deployed probes share a table).

    ``acquire`` is a blocking call (a conditional write); it returns False while
    another holder has the address.
    """

    def acquire(self, ip: str, ttl_s: int) -> bool: ...

    def release(self, ip: str) -> None: ...


class Limiter:
    """Bounds sessions in flight, and allows one session per address at a time.

    Within a process an asyncio lock per address does it; with a ``lease``, the
    address is also held against other processes for the session's duration.
    """

    def __init__(self, max_concurrency: int, lease: AddressLease | None = None) -> None:
        self._slots = asyncio.Semaphore(max_concurrency)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.lease = lease

    def lock_for(self, ip: str) -> asyncio.Lock:
        lock = self._locks.get(ip)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[ip] = lock
        return lock

    async def run(self, ip: str, job: Callable[[], Awaitable[Session]]) -> Session:
        lock = self.lock_for(ip)  # held by a local for the whole session
        async with lock, self._slots:
            return await job()

    async def hold(self, ip: str, deadline: float) -> bool:
        """Wait (with backoff, until ``deadline``) to hold ``ip`` against other processes."""
        if self.lease is None:
            return True
        loop = asyncio.get_running_loop()
        delay = LEASE_FIRST_WAIT_S
        while True:
            ttl = int(max(1.0, deadline - loop.time())) + LEASE_SLACK_S
            if await asyncio.to_thread(self.lease.acquire, ip, ttl):
                return True
            if loop.time() + delay >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, LEASE_MAX_WAIT_S)

    async def let_go(self, ip: str) -> None:
        if self.lease is not None:
            await asyncio.to_thread(self.lease.release, ip)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def _probe_address(
    host: MxHost,
    address: Address,
    settings: Settings,
    deadline: float,
    limiter: Limiter,
    probe_fn: ProbeFn,
) -> Address:
    if not may_connect(address.ip, settings.allow_private, settings.private_networks):
        # The guard refuses before any socket exists, whatever probe_fn is.
        session = transport.not_attempted(
            host.name, address.ip, settings.smtp_port, "address is not public"
        )
        return replace(address, session=session)

    async def job() -> Session:
        if not await limiter.hold(address.ip, deadline):
            return transport.not_attempted(
                host.name,
                address.ip,
                settings.smtp_port,
                "another check held this address until the deadline",
            )
        try:
            return await probe_fn(host.name, address.ip, settings, deadline)
        finally:
            await limiter.let_go(address.ip)

    return replace(address, session=await limiter.run(address.ip, job))


async def _probe_hosts(
    dns_result: DnsResult,
    settings: Settings,
    deadline: float,
    limiter: Limiter,
    probe_fn: ProbeFn,
) -> DnsResult:
    jobs: list[tuple[int, int]] = []
    coros = []
    for h, host in enumerate(dns_result.hosts):
        if not host.probed or host.ip_literal:
            continue
        for a, address in enumerate(host.addresses):
            jobs.append((h, a))
            coros.append(_probe_address(host, address, settings, deadline, limiter, probe_fn))
    results = await gather_all(coros)
    hosts = [list(host.addresses) for host in dns_result.hosts]
    for (h, a), probed in zip(jobs, results, strict=True):
        hosts[h][a] = probed
    return replace(
        dns_result,
        hosts=tuple(
            replace(host, addresses=tuple(addresses))
            for host, addresses in zip(dns_result.hosts, hosts, strict=True)
        ),
    )


def _announced_ehlo_name(configured: str, target: Domain, dns_result: DnsResult) -> str:
    """Never the target's own name: not the domain, an MX host (or its alias target)."""
    owners = [target.ascii]
    for host in dns_result.hosts:
        owners.append(host.name)
        if host.cname_target:
            owners.append(host.cname_target)
    owners.extend(dns_result.skipped_hosts)
    return to_announced_ehlo_name(configured, owners)


async def check_domain(
    domain: Domain | str,
    settings: Settings,
    *,
    check_id: str | None = None,
    limiter: Limiter | None = None,
    probe_fn: ProbeFn | None = None,
    dns_cache: dns.resolver.LRUCache | None = None,
) -> Report:
    """Check one domain; raises only DomainError for input that is no domain.

    >>> report = asyncio.run(check_domain("example.com", Settings()))  # doctest: +SKIP
    """
    target = domain if isinstance(domain, Domain) else to_domain(domain)
    loop = asyncio.get_running_loop()
    started_at = _now()
    start = loop.time()
    deadline = start + settings.timeout_s - REPORT_MARGIN_S
    limiter = limiter or Limiter(settings.max_concurrency)
    probe_fn = probe_fn or transport.probe
    try:
        dns_result = await dnsmod.resolve_mail_hosts(target.ascii, settings, deadline, dns_cache)
    except Exception as exc:  # noqa: BLE001 - our own bug must not end the check
        dns_result = DnsResult(
            mx_status=DnsStatus.ERROR, mx_error=f"internal error: {type(exc).__name__}: {exc}"
        )
    announced = _announced_ehlo_name(settings.ehlo_name, target, dns_result)
    replaced_ehlo: str | None = None  # the configured name, when it was the target's own
    if announced != settings.ehlo_name:
        replaced_ehlo, settings = settings.ehlo_name, settings.with_(ehlo_name=announced)
    dns_result = await _probe_hosts(dns_result, settings, deadline, limiter, probe_fn)
    findings = run_checks(
        Context(
            domain=target.ascii,
            dns=dns_result,
            now=started_at,
            ehlo_name=settings.ehlo_name,
            configured_ehlo_name=replaced_ehlo,
            slow_greeting_s=settings.slow_greeting_s,
            cert_expiry_warn_days=settings.cert_expiry_warn_days,
            allow_private=settings.allow_private,
            private_networks=settings.private_networks,
        )
    )
    return Report(
        check_id=check_id or new_check_id(),
        domain=target.ascii,
        domain_unicode=target.unicode,
        checked_at=_iso_ms(started_at),
        duration_ms=round((loop.time() - start) * 1000, 1),
        ehlo_name=settings.ehlo_name,
        verdict=to_verdict(findings),
        grade=to_grade(findings),
        dns=dns_result,
        findings=findings,
    )


def run_check(
    domain: Domain | str,
    settings: Settings,
    *,
    check_id: str | None = None,
    lease: AddressLease | None = None,
) -> Report:
    """Synchronous :func:`check_domain` (Lambda handlers, scripts).

    ``lease`` holds each target address against other processes (the deployed
    probe passes one backed by the table).
    """
    limiter = Limiter(settings.max_concurrency, lease) if lease is not None else None
    return asyncio.run(check_domain(domain, settings, check_id=check_id, limiter=limiter))


async def check_domains(
    domains: Iterable[Domain | str],
    settings: Settings,
    *,
    max_domains: int = 32,
    probe_fn: ProbeFn | None = None,
) -> AsyncIterator[Report]:
    """Check many domains concurrently, yielding each report as it completes.

    At most ``max_domains`` run at once and finished reports are not kept, so
    memory stays flat however long the list is.
    """
    limiter = Limiter(settings.max_concurrency)
    dns_cache = dnsmod.new_cache()
    pending: set[asyncio.Task[Report]] = set()
    iterator = iter(domains)
    exhausted = False
    while True:
        while not exhausted and len(pending) < max_domains:
            try:
                item = next(iterator)
            except StopIteration:
                exhausted = True
                break
            pending.add(
                asyncio.create_task(
                    check_domain(
                        item, settings, limiter=limiter, probe_fn=probe_fn, dns_cache=dns_cache
                    )
                )
            )
        if not pending:
            return
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            yield task.result()
