"""User input -> a validated mail domain (ASCII and Unicode forms). Pure.

Unicode input is converted with IDNA 2008 and the UTS #46 mapping (the
``idna`` package), so ``Bücher.Example`` becomes ``xn--bcher-kva.example``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import idna

MAX_NAME_OCTETS = 253  # RFC 1035 §2.3.4, without the trailing dot
MAX_LABEL_OCTETS = 63
_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_PLAIN = re.compile(r"^(?!.*(?:^|\.)xn--)[A-Za-z0-9.-]+$", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class DomainError(ValueError):
    """Input that is not a domain name we can check; the message says why."""


@dataclass(frozen=True)
class Domain:
    ascii: str  # A-labels, lower case, no trailing dot
    unicode: str  # U-labels, for display

    def __str__(self) -> str:
        return self.ascii


def _reject_obvious(text: str) -> None:
    if not text:
        raise DomainError("Give a domain name, for example example.com.")
    if _SCHEME.match(text) or text.lower().startswith("www/"):
        raise DomainError(f"{text!r} is a URL; give just the domain, for example example.com.")
    if "@" in text:
        _local, _, host = text.rpartition("@")
        hint = f" (the domain is {host!r})" if host else ""
        raise DomainError(f"{text!r} is an e-mail address; give just the domain{hint}.")
    if any(ch in text for ch in "/?#:[] \t\r\n"):
        if text.startswith("[") or _is_ip(text.strip("[]")):
            raise DomainError(f"{text!r} is an IP address; give a domain name.")
        raise DomainError(f"{text!r} contains characters a domain name cannot have.")
    if _is_ip(text):
        raise DomainError(f"{text!r} is an IP address; give a domain name.")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_labels(ascii_name: str, original: str) -> None:
    if len(ascii_name) > MAX_NAME_OCTETS:
        raise DomainError(
            f"{original!r} is {len(ascii_name)} octets long; a domain name has at most 253."
        )
    labels = ascii_name.split(".")
    for label in labels:
        if not label:
            raise DomainError(f"{original!r} has an empty label (two dots in a row?).")
        if len(label) > MAX_LABEL_OCTETS:
            raise DomainError(
                f"{original!r} has a label of {len(label)} octets; a label has at most 63."
            )
        if label.startswith("-") or label.endswith("-"):
            raise DomainError(f"{original!r}: the label {label!r} starts or ends with a hyphen.")
        if not _LDH.match(label):
            raise DomainError(
                f"{original!r}: the label {label!r} has characters a host name cannot have."
            )
    if len(labels) < 2:
        raise DomainError(f"{original!r} is not a fully qualified domain name (no dot).")
    if labels[-1].isdigit():
        raise DomainError(f"{original!r} ends in a numeric label; that is no domain name.")


def to_domain(text: str) -> Domain:
    """Validate user input as a domain to check.

    >>> to_domain(" Bücher.Example. ").ascii
    'xn--bcher-kva.example'
    """
    original = text
    text = text.strip()
    _reject_obvious(text)
    if text.endswith("."):
        text = text[:-1]
        if not text or text.endswith("."):
            raise DomainError(f"{original!r} has an empty label.")
    if ".." in text or text.startswith("."):
        raise DomainError(f"{original.strip()!r} has an empty label (two dots in a row?).")
    if _PLAIN.match(text):
        # Plain LDH names without A-labels are their own IDNA form: skip the
        # (comparatively slow) IDNA round trip.
        ascii_name = text.lower()
        _check_labels(ascii_name, original.strip())
        return Domain(ascii=ascii_name, unicode=ascii_name)
    try:
        ascii_name = idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        if text.isascii():
            _check_labels(text.lower(), original.strip())
        raise DomainError(f"{original.strip()!r} is not a valid domain name: {exc}.") from None
    except UnicodeError:
        raise DomainError(f"{original.strip()!r} is not a valid domain name.") from None
    ascii_name = ascii_name.lower()
    _check_labels(ascii_name, original.strip())
    try:
        unicode_name = idna.decode(ascii_name)
    except idna.IDNAError as exc:
        raise DomainError(f"{original.strip()!r} has an invalid IDNA label: {exc}.") from None
    return Domain(ascii=ascii_name, unicode=unicode_name)
