"""Shapes of host names (RFC 5321 Domain, internet FQDN). Pure, and light to import."""

from __future__ import annotations

import re

# RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]; Ldh-str ends with Let-dig.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Names that are not on the internet even when they have dots.
_LOCAL_SUFFIXES = (".localdomain", ".local", ".localhost", ".lan", ".home", ".internal")


def is_domain(token: str) -> bool:
    """RFC 5321 ``Domain`` syntax (LDH labels, no trailing dot).

    >>> is_domain("mx1.example.com"), is_domain("mx_1.example.com")
    (True, False)
    """
    return (
        len(token) <= 255
        and _DOMAIN_RE.fullmatch(token) is not None
        and all(len(label) <= 63 for label in token.split("."))
    )


def is_fqdn(name: str) -> bool:
    """A name that can be a host on the internet: two or more labels, not local.

    >>> is_fqdn("mx.example.com"), is_fqdn("mail"), is_fqdn("localhost.localdomain")
    (True, False, False)
    """
    lowered = name.lower().rstrip(".")
    if "." not in lowered or not is_domain(lowered):
        return False
    if lowered.endswith(_LOCAL_SUFFIXES) or lowered.startswith("localhost."):
        return False
    # A top-level label is never all digits (RFC 3696 §2); "10.0.0.1" is an address.
    return not lowered.rsplit(".", 1)[1].isdigit()


def to_name(name: str) -> str:
    """Host names compared case-insensitively, without a trailing dot."""
    return name.lower().rstrip(".")
