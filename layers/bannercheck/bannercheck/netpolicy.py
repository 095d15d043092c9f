"""Which addresses the probe may connect to. Pure.

The deployed service must never be turned against its own network: loopback,
RFC 1918, link-local (169.254.169.254 is the cloud metadata service), CGNAT,
unique-local, multicast, reserved and documentation ranges are refused, and
so are IPv6 forms that embed such an IPv4 address (IPv4-mapped, NAT64, 6to4).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    return None


def _is_public(addr: IPAddress) -> bool:
    if (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    ):
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.is_site_local:
            return False
        embedded = _embedded_v4(addr)
        if embedded is not None:
            return _is_public(embedded)
    return True


def is_public(ip: str) -> bool:
    """True when ``ip`` is globally routable; False for anything else or garbage.

    >>> is_public("169.254.169.254"), is_public("::ffff:127.0.0.1")
    (False, False)
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return _is_public(addr)


@functools.cache
def to_networks(specs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Parsed CIDR networks (host bits allowed); raises ValueError naming a bad entry."""
    networks: list[IPNetwork] = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{spec!r} is not a network (CIDR, e.g. 127.0.0.0/8)") from None
    return tuple(networks)


def in_networks(ip: str, specs: Sequence[str]) -> bool:
    """``ip`` (or the IPv4 address an IPv4-mapped one carries) lies in one of ``specs``."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    forms: list[IPAddress] = [addr]
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        forms.append(addr.ipv4_mapped)
    return any(
        form.version == net.version and form in net
        for form in forms
        for net in to_networks(tuple(specs))
    )


def may_connect(ip: str, allow_private: bool, private_networks: Sequence[str] = ()) -> bool:
    """The guard every connection passes, before any socket is opened.

    ``allow_private`` (labs) lets non-public addresses through; ``private_networks``,
    when given, only those in these networks: a lab on loopback then still never
    sends a packet to 10.0.0.1 or 169.254.169.254 when DNS names them.

    >>> lab = ["127.0.0.0/8"]
    >>> may_connect("127.0.0.1", True, lab), may_connect("10.0.0.1", True, lab)
    (True, False)
    """
    return is_public(ip) or allows_private(ip, allow_private, private_networks)


def allows_private(ip: str, allow_private: bool, private_networks: Sequence[str] = ()) -> bool:
    """Whether a lab's settings let the probe reach the non-public address ``ip``."""
    return allow_private and (not private_networks or in_networks(ip, private_networks))
