"""Which loopback /24 the lab may use, read from the kernel's socket tables.

Reading /proc/net instead of connecting leaves no trace in the servers' logs and
connection counts.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from pathlib import Path

from tests.lab.process import LabError

_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Socket:
    proto: str  # "tcp" | "udp" (v4 and v6 alike)
    ip: str
    port: int
    listening: bool  # TCP in LISTEN state, or any bound UDP socket


def _decode_v4(hex_ip: str) -> str:
    return str(ipaddress.IPv4Address(bytes.fromhex(hex_ip)[::-1]))


def _decode_v6(hex_ip: str) -> str:
    raw = bytes.fromhex(hex_ip)
    # Four little-endian 32-bit words.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def sockets() -> list[Socket]:
    """Every TCP/UDP socket bound on this host (this network namespace)."""
    found = []
    for name, proto, decode in (
        ("tcp", "tcp", _decode_v4),
        ("udp", "udp", _decode_v4),
        ("tcp6", "tcp", _decode_v6),
        ("udp6", "udp", _decode_v6),
    ):
        try:
            lines = Path("/proc/net", name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            hex_ip, hex_port = fields[1].split(":")
            listening = proto == "udp" or fields[3] == _TCP_LISTEN
            found.append(Socket(proto, decode(hex_ip), int(hex_port, 16), listening))
    return found


def listening(ip: str, port: int, proto: str = "tcp") -> bool:
    return any(
        s.proto == proto and s.ip == ip and s.port == port and s.listening for s in sockets()
    )


def _in_net(ip: str, prefix: str) -> bool:
    return ip.startswith(prefix + ".")


def wildcard_blockers(ports: tuple[int, ...]) -> list[Socket]:
    """Listeners on 0.0.0.0 / :: that would make binding 127.A.B.x on ``ports`` fail."""
    return [s for s in sockets() if s.listening and s.port in ports and s.ip in ("0.0.0.0", "::")]


def pick_prefix(rng: random.Random | None = None, attempts: int = 50) -> str:
    """A random ``127.A.B`` whose /24 nobody uses (A in 16..250, B in 0..255)."""
    rng = rng or random.SystemRandom()
    blockers = wildcard_blockers((25, 53))
    if blockers:
        where = ", ".join(f"{s.proto} {s.ip}:{s.port}" for s in blockers)
        raise LabError(
            f"something listens on all addresses ({where}); the lab needs ports 25 and 53 "
            "on loopback: stop the system Postfix/DNS server (systemctl stop postfix knot)"
        )
    used = sockets()
    for _ in range(attempts):
        prefix = f"127.{rng.randint(16, 250)}.{rng.randint(0, 255)}"
        if not any(_in_net(s.ip, prefix) for s in used):
            return prefix
    raise LabError("no free 127.A.B.0/24 found after many tries")
