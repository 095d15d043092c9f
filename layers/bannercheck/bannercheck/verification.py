"""Domain ownership proof: a TXT record ``_bannercheck.<domain>`` holding a token.

A token belongs to one requester scope (a Slack workspace or an API key). It is
derived with HMAC from a deployment secret, so nothing has to be stored to issue
or check it, and one workspace's token proves nothing for another.

``resolve_verification`` is the only DNS I/O here; it follows ``BANNERCHECK_RESOLVER``
(``Settings.resolver``) like the engine does.

Example::

    token = to_token(secret, "slack:T0123")
    found = resolve_verification("example.com", settings)
    if token in found.texts: ...
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from bannercheck.model import DnsStatus
from bannercheck.settings import Settings

LABEL = "_bannercheck"
TOKEN_PREFIX = "bannercheck-verification="
# A TXT answer with more strings than this is not a verification record anyway.
MAX_TEXTS = 20


@dataclass(frozen=True)
class VerificationLookup:
    """What ``_bannercheck.<domain>`` holds; ``status`` separates "none" from "unknown"."""

    name: str
    status: DnsStatus
    texts: tuple[str, ...] = ()


def to_record_name(domain: str) -> str:
    """The TXT owner name to publish: ``_bannercheck.example.com``."""
    return f"{LABEL}.{domain.rstrip('.')}"


def to_token(secret: str, scope: str) -> str:
    """The TXT value a scope (``slack:T…`` or ``api:<key id>``) publishes. Pure.

    >>> to_token("s3cret", "api:k1").startswith(TOKEN_PREFIX)
    True
    """
    if not secret:
        raise ValueError("no verification secret is configured")
    digest = hmac.new(secret.encode(), scope.encode(), hashlib.sha256).digest()[:20]
    return TOKEN_PREFIX + base64.b32encode(digest).decode().rstrip("=").lower()


def _sync_resolver(settings: Settings) -> dns.resolver.Resolver:
    # Sync: policy runs in sync handlers.
    from bannercheck.dns import configure_resolver

    return configure_resolver(dns.resolver.Resolver, settings)


def resolve_verification(domain: str, settings: Settings) -> VerificationLookup:
    """The TXT strings at ``_bannercheck.<domain>``; DNS trouble is a status, never raised."""
    name = to_record_name(domain)
    try:
        answer = _sync_resolver(settings).resolve(
            dns.name.from_text(name), dns.rdatatype.TXT, search=False
        )
    except dns.resolver.NXDOMAIN:
        return VerificationLookup(name, DnsStatus.NXDOMAIN)
    except dns.resolver.NoAnswer:
        return VerificationLookup(name, DnsStatus.NODATA)
    except dns.resolver.NoNameservers:
        return VerificationLookup(name, DnsStatus.SERVFAIL)
    except dns.exception.Timeout:
        return VerificationLookup(name, DnsStatus.TIMEOUT)
    except dns.exception.DNSException:
        return VerificationLookup(name, DnsStatus.ERROR)
    texts = []
    for rdata in list(answer)[:MAX_TEXTS]:
        # Long TXT values arrive split into 255-byte strings: join them back.
        joined = b"".join(rdata.strings).decode("utf-8", errors="replace")
        texts.append(joined.strip())
    return VerificationLookup(name, DnsStatus.OK, tuple(texts))
