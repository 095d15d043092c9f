"""Knobs of one check: timeouts, limits and identity, never constants in code."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace

from bannercheck.names import is_fqdn, to_name
from bannercheck.netpolicy import to_networks

# The name announced when this machine has no internet name of its own (a laptop
# called "mylaptop", a cloud VM under ".internal"). It must look like a real host
# name to the servers we talk to: two or more LDH labels under a delegated TLD, so
# syntax rules (Postfix's reject_non_fqdn_helo_hostname, "HELO not FQDN" or
# "unknown TLD" tests of spam filters) treat the probe as an ordinary sender;
# is_fqdn refuses ".localdomain"/".localhost" names, and ".invalid"/".example"
# are not delegated TLDs. Yet it must not claim anybody's host: example.net is
# reserved for exactly that (RFC 2606 §3). An operator should still set
# BANNERCHECK_EHLO_NAME / --ehlo-name to the PTR name of the address the probe
# connects from; no fixed name can resolve back to it.
DEFAULT_EHLO_FALLBACK = "bannercheck-probe.example.net"
# Announced instead when the configured name belongs to the checked domain (we
# never greet a server with its own name): the first not under the target or its
# MX names. Only DNS naming MX hosts "example.net", "example.org" and "example.com"
# at once could rule out all three; the last is then used rather than raising.
NEUTRAL_EHLO_NAMES = (
    DEFAULT_EHLO_FALLBACK,
    "bannercheck-probe.example.org",
    "bannercheck-probe.example.com",
)


def default_ehlo_name(hostname: str | None = None) -> str:
    """This machine's name when it is an internet FQDN, else the fallback (no DNS lookup).

    >>> default_ehlo_name("mylaptop"), default_ehlo_name("probe1.mail.example.com")
    ('bannercheck-probe.example.net', 'probe1.mail.example.com')
    """
    name = to_name(socket.gethostname() if hostname is None else hostname)
    return name if is_fqdn(name) else DEFAULT_EHLO_FALLBACK


def is_within(name: str, owners: Iterable[str]) -> bool:
    """``name`` equals one of ``owners`` or lies under one (labels, case-insensitive).

    >>> is_within("probe.example.com", ["example.com"]), is_within("myexample.com", ["example.com"])
    (True, False)
    """
    candidate = to_name(name)
    return any(
        candidate == owner or candidate.endswith("." + owner)
        for owner in (to_name(o) for o in owners)
        if owner
    )


def to_announced_ehlo_name(configured: str, owners: Iterable[str]) -> str:
    """The name to announce: ``configured``, unless it is the target's own.

    ``owners`` are the checked domain and its MX host names. A probe that says
    EHLO with the server's own name looks like a forged or looping client
    (RFC 5321 §4.1.4 wants the client's own name), so a neutral name is used.
    """
    names = tuple(owners)
    if not is_within(configured, names):
        return configured
    return next((n for n in NEUTRAL_EHLO_NAMES if not is_within(n, names)), NEUTRAL_EHLO_NAMES[-1])


@dataclass(frozen=True)
class Settings:
    timeout_s: float = 30.0  # one overall deadline per domain
    dns_try_timeout_s: float = 2.0  # per query try (one lost datagram costs this)
    dns_lifetime_s: float = 8.0  # per question, all tries; never past the deadline
    connect_timeout_s: float = 8.0  # per TCP connect
    command_timeout_s: float = 15.0  # per reply after the greeting
    resolver: str | None = None  # "ADDR" or "ADDR:PORT" / "[v6]:PORT"
    allow_private: bool = False
    # With allow_private: only these non-public networks (CIDR); empty = any.
    private_networks: tuple[str, ...] = ()
    ehlo_name: str = DEFAULT_EHLO_FALLBACK
    smtp_port: int = 25
    max_mx_hosts: int = 10
    max_concurrency: int = 64  # sessions in flight per process
    slow_greeting_s: float = 5.0
    cert_expiry_warn_days: int = 14
    # Reply caps: a hostile server cannot exhaust memory or time.
    max_line_bytes: int = 4096
    max_reply_lines: int = 100
    max_reply_bytes: int = 65536
    max_transcript_lines: int = 400
    # Extra trust anchors (PEM file) besides the system CAs: labs and tests only.
    ca_file: str | None = None

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _env_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Settings from ``BANNERCHECK_*`` variables (the Lambda functions' config)."""
    env = os.environ if environ is None else environ
    base = Settings(ehlo_name=env.get("BANNERCHECK_EHLO_NAME") or default_ehlo_name())
    changes: dict[str, object] = {}
    if env.get("BANNERCHECK_TIMEOUT"):
        changes["timeout_s"] = float(env["BANNERCHECK_TIMEOUT"])
    if env.get("BANNERCHECK_RESOLVER"):
        changes["resolver"] = env["BANNERCHECK_RESOLVER"]
    if env.get("BANNERCHECK_SMTP_PORT"):
        changes["smtp_port"] = int(env["BANNERCHECK_SMTP_PORT"])
    changes["allow_private"] = _env_bool(env.get("BANNERCHECK_ALLOW_PRIVATE"))
    if env.get("BANNERCHECK_PRIVATE_NETWORKS"):
        networks = tuple(
            n.strip() for n in env["BANNERCHECK_PRIVATE_NETWORKS"].split(",") if n.strip()
        )
        to_networks(networks)  # a bad entry is a ValueError naming it, not a silent "any"
        changes["private_networks"] = networks
    if env.get("BANNERCHECK_CA_FILE"):  # labs and the local stack only
        changes["ca_file"] = env["BANNERCHECK_CA_FILE"]
    return replace(base, **changes)  # type: ignore[arg-type]
