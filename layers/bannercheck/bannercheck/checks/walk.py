"""Walking the recorded data: every (host, address, session) a check judges."""

from __future__ import annotations

from collections.abc import Iterator

from bannercheck.checks.context import Context
from bannercheck.model import Address, MxHost, Reply, Session


def to_addresses(ctx: Context) -> Iterator[tuple[MxHost, Address]]:
    """Addresses of the probed MX hosts; none for a null-MX domain (RFC 7505)."""
    if ctx.dns.null_mx:
        return
    for host in ctx.dns.hosts:
        for address in host.addresses:
            yield host, address


def to_sessions(ctx: Context) -> Iterator[tuple[MxHost, Address, Session]]:
    """Addresses that were connected to (or tried), with their session."""
    for host, address in to_addresses(ctx):
        if address.session is not None:
            yield host, address, address.session


def to_evidence_line(lines: tuple[str, ...]) -> str | None:
    """The lines of a reply as one evidence string."""
    return " | ".join(lines) if lines else None


def is_complete_reply(reply: Reply | None) -> bool:
    """A reply with a code whose last line is final ("NNN" or "NNN text"), not cut off."""
    if reply is None or reply.code is None or not reply.lines or reply.truncated:
        return False
    last = reply.lines[-1]
    return len(last) == 3 or last[3:4] == " "


def to_welcome(greeting: Reply | None) -> Reply | None:
    """The greeting when it is a complete 220 one, else None.

    A 4xx/5xx greeting refuses the session and is judged as such alone (scope
    rules in docs/findings.md); a cut-off or oversized one may not say what the
    whole greeting would have.
    """
    if greeting is None or greeting.code != 220 or not is_complete_reply(greeting):
        return None
    return greeting
