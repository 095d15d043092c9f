"""Pure parsing of what a greeting says: its domain, its text, name shapes.

RFC 5321 §4.3.1 / §4.2::

    greeting = ( "220 " (Domain / address-literal) [ SP textstring ] CRLF ) /
               ( "220-" (Domain / address-literal) [ SP textstring ] CRLF
                 *( "220-" [ textstring ] CRLF ) "220" [ SP textstring ] CRLF )
"""

from __future__ import annotations

import ipaddress
import re

from bannercheck.model import Reply

# Name shapes live outside the checks package (settings needs them, not the engine);
# the checks keep importing them from here.
from bannercheck.names import is_domain as is_domain
from bannercheck.names import is_fqdn as is_fqdn
from bannercheck.names import to_name as to_name

# General-address-literal = Standardized-tag ":" 1*dcontent (%d33-90 / %d94-126)
_GENERAL_LITERAL_RE = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+")
# Words servers put where the domain belongs ("220 ESMTP ready"); never a host name.
_PROTOCOL_WORDS = frozenset({"ESMTP", "SMTP", "LMTP"})


def _first_text(reply: Reply) -> str | None:
    if reply.texts:
        return reply.texts[0]
    if reply.lines and len(reply.lines[0]) >= 4:
        return reply.lines[0][4:]
    return None


def is_address_literal(token: str) -> bool:
    """RFC 5321 §4.1.3 address literal: ``[192.0.2.1]``, ``[IPv6:2001:db8::1]``."""
    if len(token) < 3 or token[0] != "[" or token[-1] != "]":
        return False
    inner = token[1:-1]
    if inner[:5].upper() == "IPV6:":
        try:
            ipaddress.IPv6Address(inner[5:])
        except ValueError:
            return False
        return True
    try:
        ipaddress.IPv4Address(inner)
    except ValueError:
        return _GENERAL_LITERAL_RE.fullmatch(inner) is not None
    return True


def to_greeting_domain(reply: Reply) -> str | None:
    """The domain or address literal a greeting starts with, or None.

    None when the reply has no code, or its first word is missing, is not
    RFC 5321 ``Domain`` / ``address-literal`` syntax, or is a protocol word
    such as ``ESMTP``.

    >>> to_greeting_domain(Reply(220, ("220 mx.example.com ESMTP",), ("mx.example.com ESMTP",)))
    'mx.example.com'
    """
    text = _first_text(reply) if reply.code is not None else None
    if not text:
        return None
    token = text.split(" ", 1)[0]
    if is_address_literal(token):
        return token
    if is_domain(token) and token.upper() not in _PROTOCOL_WORDS:
        return token
    return None


def to_greeting_text(reply: Reply) -> str:
    """Everything the greeting says after its domain, lines joined by a space."""
    parts = list(reply.texts) if reply.texts else [line[4:] for line in reply.lines]
    if parts and to_greeting_domain(reply) is not None:
        parts[0] = parts[0].split(" ", 1)[1] if " " in parts[0] else ""
    return " ".join(p for p in parts if p)
