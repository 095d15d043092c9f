"""Judgement of the DNS data: MX records, their addresses, reverse DNS."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from bannercheck.checks import catalog as c
from bannercheck.checks.context import Context
from bannercheck.checks.walk import to_addresses
from bannercheck.model import Address, DnsStatus, Finding, MxHost

_NO_DATA = (DnsStatus.NXDOMAIN, DnsStatus.NODATA, DnsStatus.CNAME_LOOP)

# Words ISPs put in the names they generate for customer/pool addresses.
_GENERIC_WORD_RE = re.compile(
    r"(?:^|[.\-_])(?:dynamic|dyn|dhcp|dsl|adsl|vdsl|xdsl|pool|ppp|pppoe|dialup|dial|"
    r"cable|broadband|customer|cust|client|unassigned)(?=[.\-_\d]|$)"
)


def _status_text(status: DnsStatus) -> str:
    return status.value.upper()


def _mx_evidence(ctx: Context) -> str:
    records = "; ".join(ctx.dns.mx_records) or _status_text(ctx.dns.mx_status)
    return f"{ctx.domain} MX: {records}"


def _lookup_failed(
    name: str,
    rtype: str,
    status: DnsStatus,
    *,
    host: str | None = None,
    ip: str | None = None,
) -> Finding:
    return c.to_finding(
        c.DNS_LOOKUP_FAILED,
        f"The {rtype} lookup for {name} gave no usable answer ({status.value})",
        evidence=f"{name} {rtype}: {_status_text(status)}",
        name=name,
        rtype=rtype,
        host=host,
        ip=ip,
    )


def check_domain_mx(ctx: Context) -> Iterator[Finding]:
    """Does the domain exist, publish MX (or null MX), and lead to any mail host?"""
    dns = ctx.dns
    if dns.mx_status is DnsStatus.NXDOMAIN:
        yield c.to_finding(
            c.DNS_NXDOMAIN,
            f"{ctx.domain} does not exist (NXDOMAIN)",
            evidence=_mx_evidence(ctx),
            domain=ctx.domain,
        )
        return
    if dns.null_mx:
        # RFC 7505: a deliberate "no mail here"; nothing else is judged.
        mixed = len(dns.mx_records) > 1
        yield c.to_finding(
            c.DNS_NULL_MX,
            f"{ctx.domain} publishes a null MX: it accepts no mail"
            + ("; but it also lists other MX records, which RFC 7505 §3 forbids" if mixed else ""),
            evidence=_mx_evidence(ctx),
            domain=ctx.domain,
            severity=c.WARN if mixed else None,
        )
        return
    if dns.mx_status.inconclusive:
        yield _lookup_failed(ctx.domain, "MX", dns.mx_status)
        return
    if dns.mx_status is DnsStatus.CNAME_LOOP:
        yield c.to_finding(
            c.DNS_NO_MAIL_HOST,
            f"{ctx.domain} is an alias whose CNAME chain never ends: no mail host can be found",
            evidence=f"{ctx.domain} MX: CNAME_LOOP"
            + (f" ({dns.mx_error})" if dns.mx_error else ""),
            domain=ctx.domain,
        )
        return
    if dns.mx_status is DnsStatus.NODATA:
        yield from _check_implicit(ctx)
        return
    names = [h.name for h in dns.hosts if not h.implicit] + list(dns.skipped_hosts)
    if len(names) == 1:
        yield c.to_finding(
            c.DNS_SINGLE_MX,
            f"{ctx.domain} has a single MX host, {names[0]}",
            host=names[0],
            evidence=_mx_evidence(ctx),
        )
    if dns.skipped_hosts:
        yield c.to_finding(
            c.DNS_TOO_MANY_MX,
            f"{ctx.domain} has {len(names)} MX hosts; not probed: " + ", ".join(dns.skipped_hosts),
            evidence=_mx_evidence(ctx),
        )
    probed = [h for h in dns.hosts if h.probed and not h.ip_literal]
    unresolvable = [h for h in probed if not h.addresses and _conclusively_empty(h)]
    if probed and len(unresolvable) == len(probed) and not any(h.ip_literal for h in dns.hosts):
        yield c.to_finding(
            c.DNS_NO_MAIL_HOST,
            f"None of the MX hosts of {ctx.domain} has an address",
            evidence=_mx_evidence(ctx),
            domain=ctx.domain,
        )


def _check_implicit(ctx: Context) -> Iterator[Finding]:
    dns = ctx.dns
    implicit = [h for h in dns.hosts if h.implicit and h.addresses]
    if implicit:
        ips = ", ".join(a.ip for h in implicit for a in h.addresses)
        yield c.to_finding(
            c.DNS_IMPLICIT_MX,
            f"{ctx.domain} has no MX records; mail goes to its own address ({ips})",
            host=ctx.domain,
            evidence=f"{ctx.domain} MX: NODATA; A/AAAA: {ips}",
            domain=ctx.domain,
        )
        return
    failed = [
        (rtype, status)
        for rtype, status in (("A", dns.a_status), ("AAAA", dns.aaaa_status))
        if status.inconclusive
    ]
    if failed:
        for rtype, status in failed:
            yield _lookup_failed(ctx.domain, rtype, status)
        return
    yield c.to_finding(
        c.DNS_NO_MAIL_HOST,
        f"{ctx.domain} has no MX records and no A/AAAA address",
        evidence=(
            f"{ctx.domain} MX: NODATA; A: {_status_text(dns.a_status)}; "
            f"AAAA: {_status_text(dns.aaaa_status)}"
        ),
        domain=ctx.domain,
    )


def _conclusively_empty(host: MxHost) -> bool:
    return host.a_status in _NO_DATA and host.aaaa_status in _NO_DATA


def check_mx_hosts(ctx: Context) -> Iterator[Finding]:
    """Is each MX target a resolvable host name (not an alias, not an address)?"""
    if ctx.dns.null_mx:
        return
    for host in ctx.dns.hosts:
        if host.implicit:
            continue  # judged as a whole by check_domain_mx
        if host.ip_literal:
            yield c.to_finding(
                c.DNS_MX_NOT_HOSTNAME,
                f"The MX record of {ctx.domain} names an address, {host.name}, not a host",
                host=host.name,
                evidence=f"{ctx.domain} MX: {host.preference} {host.name}",
            )
            continue
        if host.cname_target:
            yield c.to_finding(
                c.DNS_MX_CNAME,
                f"MX host {host.name} is an alias (CNAME) of {host.cname_target}",
                host=host.name,
                evidence=f"{host.name} CNAME {host.cname_target}",
                target=host.cname_target,
            )
        for rtype, status in (("A", host.a_status), ("AAAA", host.aaaa_status)):
            if status.inconclusive:
                yield _lookup_failed(host.name, rtype, status, host=host.name)
        if host.probed and not host.addresses and _conclusively_empty(host):
            yield c.to_finding(
                c.DNS_MX_UNRESOLVABLE,
                f"MX host {host.name} is a CNAME loop: it never resolves to an address"
                if DnsStatus.CNAME_LOOP in (host.a_status, host.aaaa_status)
                else f"MX host {host.name} has no A or AAAA record",
                host=host.name,
                evidence=(
                    f"{host.name} A: {_status_text(host.a_status)}; "
                    f"AAAA: {_status_text(host.aaaa_status)}"
                ),
            )


def check_addresses(ctx: Context) -> Iterator[Finding]:
    """Is each address public, with reverse DNS that points back to it?"""
    for host, address in to_addresses(ctx):
        if not address.public:
            probed = ctx.may_probe(address)
            yield c.to_finding(
                c.ADDRESS_NOT_PUBLIC,
                f"MX host {host.name} resolves to {address.ip}, a non-public address"
                + (" (probed anyway: private addresses allowed)" if probed else ""),
                host=host.name,
                ip=address.ip,
                evidence=f"{host.name} {'AAAA' if address.family == 6 else 'A'} {address.ip}",
                # Labs probe private addresses on purpose; there it is only a note.
                severity=c.INFO if probed else None,
            )
        yield from _check_ptr(host, address)


def _check_ptr(host: MxHost, address: Address) -> Iterator[Finding]:
    status = address.ptr_status
    if status is DnsStatus.NOT_ASKED:
        return
    reverse = ipaddress.ip_address(address.ip).reverse_pointer
    if status.inconclusive:
        yield _lookup_failed(reverse, "PTR", status, host=host.name, ip=address.ip)
        return
    if status in _NO_DATA or not address.ptr_names:
        yield c.to_finding(
            c.PTR_MISSING,
            f"{address.ip} (MX host {host.name}) has no PTR record",
            host=host.name,
            ip=address.ip,
            evidence=f"{reverse} PTR: {_status_text(status)}",
        )
        return
    names = ", ".join(address.ptr_names)
    if not address.fcrdns:
        yield c.to_finding(
            c.PTR_NOT_FORWARD_CONFIRMED,
            f"The PTR of {address.ip} ({names}) does not resolve back to {address.ip}",
            host=host.name,
            ip=address.ip,
            evidence=f"{reverse} PTR {names}",
        )
    for name in address.ptr_confirmed or address.ptr_names:
        if is_generic_ptr(name, address.ip):
            yield c.to_finding(
                c.PTR_GENERIC,
                f"The PTR of {address.ip} is a generic provider name: {name}",
                host=host.name,
                ip=address.ip,
                evidence=f"{reverse} PTR {name}",
            )
            break


def _octet_forms(ip: str) -> list[str]:
    octets = ip.split(".")
    forms = []
    for order in (octets, octets[::-1]):
        forms += [sep.join(order) for sep in ("-", ".", "_")]
        forms.append("".join(f"{int(o):03d}" for o in order))
    return forms


def is_generic_ptr(name: str, ip: str) -> bool:
    """Does the PTR name look generated for an address pool (ISP, cloud default)?

    >>> is_generic_ptr("ec2-54-1-2-3.compute-1.amazonaws.com", "54.1.2.3")
    True
    >>> is_generic_ptr("xx-in-f26.1e100.net", "142.250.1.26")
    False
    """
    lowered = name.lower()
    if _GENERIC_WORD_RE.search(lowered):
        return True
    if ipaddress.ip_address(ip).version != 4:
        return False
    for form in _octet_forms(ip):
        for match in re.finditer(re.escape(form), lowered):
            before = lowered[match.start() - 1] if match.start() else ""
            after = lowered[match.end()] if match.end() < len(lowered) else ""
            if not before.isdigit() and not after.isdigit():
                return True
    return False
